"""`python -m aggregator` is the `aggregator` command."""

from aggregator.app.cli import command

# Guarded: worker processes that parse files in parallel import this module under
# another name, and must not run the command again.
if __name__ == "__main__":
    raise SystemExit(command())
