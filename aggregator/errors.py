"""The exception tree of aggregator; each error owns the exit code the CLI gives it.

AggregatorError                 exit 1: the run could not complete
 ├── ConfigError                exit 2: the config file, an option value or the layout
 │                                of folders is wrong (a missing source folder too)
 ├── OutputError                  the output folder cannot be written
 ├── ServeError                   the HTTP server cannot listen on its address
 ├── Cancelled                    the run was asked to stop before it wrote anything
 ├── lock.LockBusy                another aggregator kept the output folder locked
 └── store.StateError             the state file cannot be opened, read or written

A bad *article file* is never raised: it becomes a `model.LoadError` record in the
report and the run goes on. A usage error (an unknown option, a value argparse
refuses) exits 2 too, from argparse.
"""

from __future__ import annotations


class AggregatorError(Exception):
    """Root of every error aggregator raises on purpose."""

    exit_code = 1


class ConfigError(AggregatorError):
    """The configuration (file, CLI option or environment) is invalid: nothing was done."""

    exit_code = 2


class OutputError(AggregatorError):
    """A feed file or the output folder could not be written."""


class ServeError(AggregatorError):
    """The HTTP server could not listen on its address (in use, not allowed, unknown)."""


class Cancelled(AggregatorError):
    """The run was stopped (SIGTERM) before writing any feed; the old feeds stand."""
