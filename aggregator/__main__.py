"""`python -m aggregator` is the `aggregator` command, and `command` its console
script's entry point."""

from __future__ import annotations


def command() -> int:
    """The `aggregator` command (`cli.command`). It imports most of the package first:
    a Ctrl-C meanwhile ends it as one later does, with 130 and no traceback."""
    try:
        from aggregator.app.cli import command as run

        return run()
    except KeyboardInterrupt:
        return 130


# Guarded: worker processes that parse files in parallel import this module under
# another name, and must not run the command again.
if __name__ == "__main__":
    raise SystemExit(command())
