"""`python -m aggregator` is the `aggregator` command, and `command` its console
script's entry point."""

from __future__ import annotations

import _thread
import contextlib
import signal
import sys
import threading
from collections.abc import Callable


def command() -> int:
    """The `aggregator` command (`cli.command`). It imports most of the package first:
    a Ctrl-C meanwhile ends it as one later does, with 130 and no traceback."""
    unraisable = sys.unraisablehook
    sys.unraisablehook = _LostInterrupts(unraisable)
    try:
        from aggregator.app.cli import command as run

        return run()
    except KeyboardInterrupt:
        return 130
    finally:
        sys.unraisablehook = unraisable
        _forget_caught_interrupt()


class _LostInterrupts:
    """An unraisable-exception hook for a KeyboardInterrupt Python could not raise where
    the Ctrl-C landed (in a finalizer or a weak reference's callback, as while a module
    is imported): it wrote "Exception ignored in ..." with a traceback and went on as if
    none came. The Ctrl-C is sent to the main thread again, from a thread of its own
    (the hook's caller cannot raise it), and taken as any other; any other exception
    goes to `previous`."""

    def __init__(self, previous: Callable[[sys.UnraisableHookArgs], object]) -> None:
        self.previous = previous

    def __call__(self, unraisable: sys.UnraisableHookArgs) -> None:
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            self.previous(unraisable)
        elif callable(signal.getsignal(signal.SIGINT)):
            # (Else Ctrl-Cs are ignored, a background job's: it came from a SIGTERM,
            # which `cli.command` ends the process with once it unwound.) Not a
            # `threading.Thread`, whose start waits for the thread here: the Ctrl-C
            # would land in this hook again. The thread runs once this one lets go of
            # the GIL, out of the hook by then (else it comes here again).
            _thread.start_new_thread(_interrupt_again, (threading.main_thread().ident,))


def _interrupt_again(main: int | None) -> None:
    if main is not None:
        with contextlib.suppress(OSError):  # (ended meanwhile)
            signal.pthread_kill(main, signal.SIGINT)


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
