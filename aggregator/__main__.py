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
    finally:
        _forget_caught_interrupt()


def _forget_caught_interrupt() -> None:
    """CPython marks a KeyboardInterrupt that ends code run from a string (an `exec` or
    `eval` of text: `dataclasses` and `namedtuple` make their methods so, as a module
    that defines them is imported) as never handled, even when a caller catches it; run
    by `python -m`, the interpreter then ends itself by SIGINT once it exits, whatever
    code it was to exit with (-2, not the command's 130: a Ctrl-C that came as such a
    module was imported). Each `exec` of a string clears that mark as it begins: one
    that does nothing, once the command has its exit code, clears it. (The console
    script is run as a file, which exits with its code without asking.)"""
    exec("pass", {})


# Guarded: worker processes that parse files in parallel import this module under
# another name, and must not run the command again.
if __name__ == "__main__":
    raise SystemExit(command())
