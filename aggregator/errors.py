"""The exception tree of aggregator; each error owns the exit code the CLI gives it.

AggregatorError                 exit 1: the run could not complete
 ├── ConfigError                  the config file or an option value is wrong
 ├── OutputError                  the output folder cannot be written
 └── Cancelled                    the run was asked to stop before it wrote anything

A bad *article file* is never raised: it becomes a `model.LoadError` record in the
report and the run goes on.
"""

from __future__ import annotations


class AggregatorError(Exception):
    """Root of every error aggregator raises on purpose."""

    exit_code = 1


class ConfigError(AggregatorError):
    """The configuration (file, CLI option or environment) is invalid."""


class OutputError(AggregatorError):
    """A feed file or the output folder could not be written."""


class Cancelled(AggregatorError):
    """The run was stopped (SIGTERM) before writing any feed; the old feeds stand."""
