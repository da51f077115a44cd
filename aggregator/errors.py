"""Every error aggregator raises on purpose, in one tree.

AggregatorError                 the root: a run, a command or a library call failed
 ├── ConfigError                the config file, an override or the layout of folders is
 │                                wrong (a missing source folder, a private file inside
 │                                the output folder): nothing was done
 ├── OutputError                the output folder or a feed file cannot be written
 ├── LockBusy                   another aggregator kept the output folder locked
 ├── StateError                 the state file cannot be opened, read or written
 ├── StorageError               an object store (a bucket) cannot be listed, read or
 │                                written: the published objects stay as they were
 ├── ServeError                 the HTTP server cannot listen on its address
 ├── FeedError                  a remote feed's document is not a feed that can be read
 ├── DiscoveryError             `add-feed` found no feed at a URL
 ├── LeadLost                   a daemon lost the lead during a build: another publishes
 ├── WorkerError                a worker process of the run ended abruptly (killed, out
 │                                of memory, or a script that builds when imported)
 └── Cancelled                  the run was asked to stop before it wrote anything

Errors of the libraries underneath (sqlite3, OSError, PyYAML) are wrapped where they
leave this package, chained as `__cause__`. A bad *article file* is never raised: it
becomes a `LoadError` record in the report and the run goes on.

What a command exits with for each class is the command line's business (`cli`).
"""

from __future__ import annotations


class AggregatorError(Exception):
    """Root of every error aggregator raises on purpose."""


class ConfigError(AggregatorError):
    """The configuration (file, override or environment) is invalid: nothing was done."""


class OutputError(AggregatorError):
    """A feed file or the output folder could not be written."""


class LockBusy(AggregatorError):
    """Another aggregator kept the output folder locked for longer than we would wait."""


class StateError(AggregatorError):
    """The state file cannot be opened, read or written."""


class StorageError(AggregatorError):
    """An object store (`s3://...`) refused a listing, a read or an upload (one line:
    the object's URL and why); what was published before stays."""


class ServeError(AggregatorError):
    """The HTTP server could not listen on its address (in use, not allowed, unknown)."""


class FeedError(AggregatorError):
    """A remote feed's document is not a feed that can be read (one line: why)."""


class DiscoveryError(AggregatorError):
    """`add-feed` found no feed at a URL (one line: the URL and why)."""


class LeadLost(AggregatorError):
    """A daemon lost the lead during a build; another publishes (several daemons)."""


class WorkerError(AggregatorError):
    """A worker process of the run ended abruptly (killed, out of memory, or a script
    that runs a build when imported): the run stopped; the old feeds stand."""


class Cancelled(AggregatorError):
    """The run was stopped (SIGTERM) before writing any feed; the old feeds stand."""
