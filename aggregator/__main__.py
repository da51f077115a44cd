"""`python -m aggregator` is the `aggregator` command, and `command` its console
script's entry point."""

from __future__ import annotations

import _thread
import contextlib
import signal
import sys
import threading
import time
from collections.abc import Callable
from collections.abc import Sequence
from typing import TextIO


def command() -> int:
    """The `aggregator` command (`cli.command`). It imports most of the package first:
    a Ctrl-C meanwhile ends it as one later does, with 130 and no traceback. What it
    writes to a reader that is gone (a closed pipe) is lost, never a traceback: the
    command's own writes go on with its work (`progress.write_out`); a write from
    elsewhere to stdout or stderr so gone ends it with 141, as SIGPIPE ends other
    commands. Stdout and stderr are flushed before it returns (`_flushed`)."""
    if sys.argv[1:] == ["--version"]:
        # What argparse prints (`cli._parser`), without importing every command first:
        # a tenth of the time (tools that ask for the version ask often).
        from aggregator.version import __version__

        try:
            print(f"aggregator {__version__}")
        except BrokenPipeError:
            pass  # (lost: see above)
        except OSError as exc:  # unbuffered (PYTHONUNBUFFERED) to a full disk
            _drop(sys.stdout)
            _error(f"cannot write stdout: {exc.strerror or exc}")
            return 1
        return _flushed(0)
    lost = _LostInterrupts(sys.unraisablehook)
    sys.unraisablehook = lost
    ended: SystemExit | None = None
    gone: list[TextIO] = []
    try:
        from aggregator.app.cli import command as run

        code = run()
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        gone = _gone()
        if not gone:  # another pipe than the command's output: an error as any other
            raise
        code = _SIGPIPE_EXIT
    except SystemExit as exc:  # argparse's: a usage error, --help, --version
        ended = exc
    finally:
        while True:  # (one more Ctrl-C, sent again, at most: see `_LostInterrupts.close`)
            try:
                if lost.close():
                    code, ended = 130, None
                break
            except KeyboardInterrupt:
                code, ended = 130, None
        sys.unraisablehook = lost.previous
        _forget_caught_interrupt()
    if ended is not None:
        if _flushed(0) != 0 and ended.code in (0, None):
            return 1  # (--help to a full disk)
        raise ended
    return _flushed(code, gone)


def _error(text: str) -> None:
    """One line on stderr, when it can take it."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        sys.stderr.write(f"aggregator: error: {text}\n")
        sys.stderr.flush()


#: the exit code of a command ended by a write to a reader that is gone (128 + SIGPIPE)
_SIGPIPE_EXIT = 141


def _gone() -> list[TextIO]:
    """Stdout and stderr, those whose reader is gone: a pipe whose read end is closed
    polls as an error. Both where that cannot be told (no `poll`); never one of no
    file (a test's)."""
    numbered: dict[int, TextIO] = {}
    for stream in (sys.stdout, sys.stderr):
        try:
            numbered[stream.fileno()] = stream
        except (AttributeError, OSError, ValueError):  # (io.UnsupportedOperation)
            continue
    try:
        import select

        poll = select.poll()
    except (ImportError, AttributeError):
        return list(numbered.values())
    for number in numbered:
        poll.register(number, select.POLLOUT)
    failed = select.POLLERR | select.POLLHUP
    return [numbered[number] for number, events in poll.poll(0) if events & failed]


def _flushed(code: int, gone: Sequence[TextIO] = ()) -> int:
    """Flush stdout and stderr; the exit code. One whose reader is gone, or in `gone`
    (its failed write may have left nothing to flush), is pointed at the null device
    (`progress.drop`): nothing is left for the exit's flush to fail on. One that
    cannot be written otherwise (a full disk) is dropped too, with one line on stderr,
    and a command that had not failed fails (1), as when output it wrote before could
    not be written (`progress.output_failed`). A Ctrl-C while a flush waits (a pager
    that reads nothing) drops both: 130."""
    try:
        return _flush(code, gone)
    except KeyboardInterrupt:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                _drop(stream)
        return 130


def _flush(code: int, gone: Sequence[TextIO]) -> int:
    for name, stream in (("stdout", sys.stdout), ("stderr", sys.stderr)):
        if stream is None:  # (started with it closed: `>&-`)
            continue
        try:
            stream.flush()
            if stream not in gone:
                continue
        except BrokenPipeError:
            pass
        except OSError as exc:
            _drop(stream)
            _error(f"cannot write {name}: {exc.strerror or exc}")
            code = code or 1
            continue
        _drop(stream)
    progress = sys.modules.get("aggregator.app.progress")  # (imported by every command)
    failed = progress.output_failed() if progress is not None else None
    if failed is not None:  # what the command wrote went nowhere: it failed
        _error(failed)
        code = code or 1
    return code


def _drop(stream: TextIO) -> None:
    from aggregator.app.progress import drop  # (only then: --version imports little)

    drop(stream)


#: seconds `_LostInterrupts` waits before it sends a lost Ctrl-C again
_AGAIN_AFTER = 0.001


class _LostInterrupts:
    """An unraisable-exception hook for a KeyboardInterrupt Python could not raise where
    the Ctrl-C landed (in a finalizer or a weak reference's callback, as while a module
    is imported): it wrote "Exception ignored in ..." with a traceback and went on as if
    none came. The Ctrl-C is sent to the main thread again, from a thread of its own
    (the hook's caller cannot raise it), and taken as any other, until `close`; any
    other exception goes to `previous`."""

    def __init__(self, previous: Callable[[sys.UnraisableHookArgs], object]) -> None:
        self.previous = previous
        #: one item for each Ctrl-C lost, and for each sent again (appends: no lock in
        #: the hook, which may run while this thread holds `_lock`)
        self._lost: list[None] = []
        self._sent: list[None] = []
        self._lock = threading.Lock()
        self._closed = False

    def __call__(self, unraisable: sys.UnraisableHookArgs) -> None:
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            self.previous(unraisable)
            return
        try:
            if callable(signal.getsignal(signal.SIGINT)):
                # (Else Ctrl-Cs are ignored, a background job's: it came from a SIGTERM,
                # which `cli.command` ends the process with once `main` returns.) Not a
                # `threading.Thread`, whose start waits for the thread here: the Ctrl-C
                # would land in this hook again. The thread runs once this one lets go
                # of the GIL, out of the hook by then (else it comes here again).
                self._lost.append(None)
                _thread.start_new_thread(self._again, (threading.main_thread().ident,))
        except KeyboardInterrupt:  # one more came meanwhile, lost here as well
            self(unraisable)

    def _again(self, main: int | None) -> None:
        # Not at once: this thread runs as the main one lets go of the GIL, often to
        # block in a system call, and a signal that lands as it enters one is only
        # taken once it returns (CPython's own race: a Ctrl-C typed then waits too).
        time.sleep(_AGAIN_AFTER)
        with self._lock:
            if self._closed or main is None:
                return
            with contextlib.suppress(OSError):  # (ended meanwhile)
                signal.pthread_kill(main, signal.SIGINT)
                self._sent.append(None)

    def close(self) -> bool:
        """No Ctrl-C is sent again from now on. Whether one was lost that the command
        did not take: one not sent again yet, or one sent that lands here, in the main
        thread (which a KeyboardInterrupt may also leave before this returns)."""
        try:
            self._closed = True  # (before the lock: a Ctrl-C sent may interrupt its wait)
            with self._lock:
                pass  # a Ctrl-C being sent is sent
            if self._sent:
                time.sleep(0)  # a SIGINT sent to this thread is delivered by now
        except KeyboardInterrupt:
            return True
        return len(self._lost) > len(self._sent)


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
