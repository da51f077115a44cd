"""Progress of a long run, as a person at a terminal sees it (`aggregator.progress`
is what the engine tells; this is how it is shown).

On a terminal (`Bar`): one line, drawn in place with a carriage return and erase-line
(`\\r`, `\\x1b[K`), at most ten times a second (a new phase at once), cut to the
terminal's width so that it never wraps, and erased when the run ends, fails or is
interrupted: what stays on the screen is the summary. It shows the phase, a bar, the
counts, the percentage and, once a phase has run for a second, the time left at the
rate so far. Log lines written while it is shown (`Handler`) erase it first and draw
it again after.

Off a terminal (`Lines`): never a control character, only plain lines, and few of them:
one when a phase ends and one every PLAIN_EVERY seconds while it runs, for the phases
asked for (`checking links` by default, as ever; every phase with `--progress`).

Hand-written rather than a library: tqdm, rich or enlighten would each bring a
dependency for what is one line of text and a little arithmetic here, and each would
still need the rules around it (plain lines in pipes, the log lines of the daemon,
the phases of the engine).
"""

from __future__ import annotations

import codecs
import contextlib
import logging
import math
import os
import shutil
import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Iterable
from collections.abc import Iterator
from types import FrameType
from typing import TextIO

from aggregator.progress import PHASES
from aggregator.progress import Phase
from aggregator.progress import Progress

#: what each phase is called on the screen
LABELS: dict[Phase, str] = {
    "read": "reading files",
    "dedupe": "finding duplicates",
    "links": "checking links",
    "write": "writing feeds",
}
_LABEL_WIDTH = max(map(len, LABELS.values()))
#: seconds between two redraws of the bar, at least (a new phase is drawn at once)
REDRAW_SECONDS = 0.1
#: the time left is shown once a phase has run this many seconds
ETA_AFTER_SECONDS = 1.0
#: off a terminal: a line every this many seconds while a phase runs
PLAIN_EVERY = 10.0
#: the widest bar, in characters
BAR_WIDTH = 30
#: the room kept after the counts for the time left ("  ~12 min 30 s left")
_ETA_ROOM = 19
#: the phases told off a terminal unless every one is asked for (as before phases)
ONLY_LINKS: tuple[Phase, ...] = ("links",)
#: back to the start of the line, and erase it
ERASE = "\r\x1b[K"


def is_terminal(stream: TextIO) -> bool:
    """Whether `stream` is a terminal that understands `\\r` and erase-line (a `dumb`
    one, such as Emacs' shell buffer, does not)."""
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError):  # closed, or no file behind it
        return False
    return terminal and os.environ.get("TERM") != "dumb"


class Display:
    """Shows the progress of runs: call it as a `Progress` within `showing()`."""

    def __call__(self, phase: Phase, done: int, total: int, /) -> None:
        raise NotImplementedError

    @contextlib.contextmanager
    def showing(self) -> Iterator[Progress]:
        """One run: its progress is shown within, and nothing of it is left after
        (whether the run ends, fails or is interrupted)."""
        self.reset()
        try:
            yield self
        finally:
            self.reset()

    def reset(self) -> None:
        """Forget the run; erase what is drawn."""


class Bar(Display):
    """The progress line on a terminal (see the module docstring)."""

    def __init__(
        self,
        stream: TextIO,
        *,
        columns: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`columns`: the terminal's width (default: asked of the terminal at each
        draw, so a resized window is followed); `clock` gives seconds."""
        self.stream = stream
        self.columns = columns
        self.clock = clock
        # Held while a line is drawn or erased, and by `Handler` around a log line:
        # the run's thread draws, other threads log.
        self._lock = threading.RLock()
        self._phase: Phase | None = None
        #: when the phase started, and what was done by then (the rate counts from it)
        self._started = 0.0
        self._base = 0
        self._done = 0
        self._drawn_at = -math.inf
        #: the line on the screen ("" when none)
        self._shown = ""
        self._broken = False

    def __call__(self, phase: Phase, done: int, total: int, /) -> None:
        now = self.clock()
        with self._lock:
            fresh = phase != self._phase or done < self._done
            if fresh:
                self._phase, self._started, self._base = phase, now, done
            self._done = done
            # A new phase, and the end of one, are drawn at once; the rest as time allows.
            if not fresh and done < total and now - self._drawn_at < REDRAW_SECONDS:
                return
            self._draw(self.line(phase, done, total, now - self._started, done - self._base))
            self._drawn_at = now

    def line(self, phase: Phase, done: int, total: int, elapsed: float, moved: int) -> str:
        """The line for `done` of `total` of `phase`, `elapsed` seconds and `moved`
        units since it started, cut to the width."""
        width = self.width()
        label = LABELS[phase].ljust(_LABEL_WIDTH)
        if total <= 0:
            return f"{label}  ..."[:width]
        done = min(done, total)
        # The counts as wide as they grow, and room kept for the time left: the bar
        # keeps its length through the phase.
        counts = f"{done:,}/{total:,}".rjust(2 * len(f"{total:,}") + 1)
        text = f"{counts}  {100 * done // total:3d}%"
        room = width - len(label) - len(text) - _ETA_ROOM - 6  # spaces and brackets
        if room >= 10:
            size = min(room, BAR_WIDTH)
            filled = size * done // total
            text = f"[{'#' * filled}{'-' * (size - filled)}]  {text}"
        left = ""
        if elapsed >= ETA_AFTER_SECONDS and moved > 0 and done < total:
            left = f"  ~{duration(elapsed * (total - done) / moved)} left"
        line = f"{label}  {text}{left}"
        if len(line) > width:  # a narrow terminal: the counts before the padding
            line = f"{LABELS[phase]}: {done:,}/{total:,} {100 * done // total}%{left}"
        return line[:width]

    def width(self) -> int:
        """Characters a line may hold: one less than the terminal's columns, so that
        writing the last one never wraps."""
        columns = self.columns
        if columns is None:
            try:
                columns = os.get_terminal_size(self.stream.fileno()).columns
            except (AttributeError, ValueError, OSError):
                columns = 0
            if columns <= 0:  # no size set (a fresh pseudo-terminal says 0): COLUMNS or 80
                columns = shutil.get_terminal_size().columns
        return max(1, columns - 1)

    def reset(self) -> None:
        with self._lock:
            self._phase = None
            self._done = 0
            self._drawn_at = -math.inf
            if self._shown:
                self._write(ERASE)
            self._shown = ""

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Within: the line is erased (anything written goes where it stood); after:
        drawn again. For log lines (`Handler`)."""
        with self._lock:
            shown = self._shown
            if shown:
                self._write(ERASE)
                self._shown = ""
            try:
                yield
            finally:
                if shown:
                    self._draw(shown)

    def _draw(self, line: str) -> None:
        if line != self._shown:
            # Known as shown before it is: a Ctrl-C landing just after the write (the
            # first line drawn, say) still finds a line to erase.
            self._shown = line
            self._write(f"\r{line}\x1b[K")

    def _write(self, text: str) -> None:
        if self._broken:
            return
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # the terminal is gone: the run goes on
            self._broken = True


class Lines(Display):
    """Progress off a terminal: plain lines, no control character (see the module
    docstring)."""

    def __init__(
        self,
        write: Callable[[str], None],
        phases: Collection[Phase] = PHASES,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.write = write
        self.phases = phases
        self.clock = clock
        self._phase: Phase | None = None
        self._done = 0
        self._started = 0.0
        self._said = 0.0
        self._ended = False

    def __call__(self, phase: Phase, done: int, total: int, /) -> None:
        if phase not in self.phases or total <= 0:
            return
        now = self.clock()
        if phase != self._phase or done < self._done:
            self._phase, self._started, self._said, self._ended = phase, now, now, False
        self._done = done
        ended = done >= total
        if (ended and not self._ended) or (not ended and now - self._said >= PLAIN_EVERY):
            self._said = now
            self._ended = ended
            self.write(f"{LABELS[phase]}: {done}/{total} done after {now - self._started:.0f} s")

    def reset(self) -> None:
        self._phase = None
        self._done = 0


class Handler(logging.StreamHandler[TextIO]):
    """A log handler writing to the terminal the bar is drawn on: each record erases
    the bar first and draws it again after, so the two never share a line."""

    def __init__(self, stream: TextIO, bar: Bar | None) -> None:
        super().__init__(stream)
        self.bar = bar

    def emit(self, record: logging.LogRecord) -> None:
        if self.bar is None:
            super().emit(record)
            return
        with self.bar.paused():
            super().emit(record)


def choose(
    stream: TextIO,
    asked: bool | None,
    *,
    plain: Collection[Phase] = ONLY_LINKS,
    write: Callable[[str], None] | None = None,
) -> Display | None:
    """The display for a command whose progress goes to `stream`: `asked` is
    `--progress` (True), `--no-progress` (False) or neither (None). On a terminal, the
    bar unless refused. Off one, never a control character: plain lines of the `plain`
    phases, or of every phase when asked (`write` writes each: default a line on
    `stream`); None when there is nothing to show."""
    if asked is False:
        return None
    if is_terminal(stream):
        return Bar(stream)
    phases = PHASES if asked else tuple(plain)
    if not phases:
        return None

    def line(text: str) -> None:
        write_out(stream, text + "\n", flush=True, needed=False)

    return Lines(write or line, phases)


def one_line(text: str) -> str:
    """`text` with every character that does not print escaped (line breaks, controls,
    bidi overrides): one line on a terminal or in a log, whatever a path, name, title
    or reason in it holds (a file named "a\\nb.md:1: x" cannot forge a report line)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def lines_text(lines: Iterable[str]) -> str:
    """Lines as one text for a terminal, each `one_line` (see `cli.say`)."""
    return "\n".join(map(one_line, lines))


def write_out(
    stream: TextIO | None, text: str, *, flush: bool = False, needed: bool = True
) -> None:
    """Write `text` to `stream` (then flush it, with `flush`). When its reader is gone
    (a closed pipe: `aggregator build --progress 2>&1 | head -1`), the command goes on
    with its work: the stream is pointed at the null device (`drop`) and what is
    written to it from then on is lost, never raised. When it cannot be written
    otherwise (a full disk), the command goes on too, the stream dropped so, but what
    is `needed` (not progress: the run goes on without it, as `Bar` does) and lost
    so, then or later, fails the command at its end (`output_failed`). No stream
    (None: the command was started with the descriptor closed, `>&-`): nothing."""
    if stream is None:
        return
    failure = _unwritable.get(stream)
    if failure is not None:
        if needed:
            _lost.append(failure)
        return
    try:
        stream.write(text)
        if flush:
            stream.flush()
    except UnicodeEncodeError:
        # An encoding that cannot hold a character of a name or a title
        # (PYTHONIOENCODING=ascii, a Latin-1 locale): escaped (`\u00e9`), not a traceback.
        encoding = getattr(stream, "encoding", None) or "utf-8"
        text = text.encode(encoding, _ESCAPE).decode(encoding)
        write_out(stream, text, flush=flush, needed=needed)
    except BrokenPipeError:
        drop(stream)
    except OSError as exc:
        failure = _unwritable.setdefault(stream, f"cannot write {_name(stream)}: {_reason(exc)}")
        drop(stream)
        if needed:
            _lost.append(failure)


def _escaped(error: UnicodeError) -> tuple[str, int]:
    """The characters an encoding cannot hold as `\\uXXXX` escapes (a pair of them past
    U+FFFF): read as the character in a line of text, and valid in JSON, where such
    characters are only ever inside strings (`topics --json`)."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    escapes: list[str] = []
    for char in error.object[error.start : error.end]:
        code = ord(char)
        if code > 0xFFFF:
            code -= 0x10000
            escapes.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            escapes.append(f"\\u{code:04x}")
    return "".join(escapes), error.end


_ESCAPE = "aggregator.escape"
codecs.register_error(_ESCAPE, _escaped)


def output_fresh() -> None:
    """Forget what output could not be written: a command begins (`cli.main`)."""
    _lost.clear()
    _unwritable.clear()


def output_failed() -> str | None:
    """Why `needed` output of the command could not be written (`write_out`), if any
    could not: the first reason, as the command's last line says it."""
    return _lost[0] if _lost else None


#: the reasons `needed` output was lost since `output_fresh`
_lost: list[str] = []
#: the streams that could not be written (not for a reader gone), each dropped, and why
_unwritable: weakref.WeakKeyDictionary[TextIO, str] = weakref.WeakKeyDictionary()


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _name(stream: TextIO) -> str:
    for name in ("stdout", "stderr"):
        if stream is getattr(sys, name, None) or stream is getattr(sys, f"__{name}__", None):
            return name
    return str(getattr(stream, "name", "output"))


def drop(stream: TextIO) -> None:
    """Point `stream`'s file at the null device: its reader is gone. What it held
    unwritten, and what comes after, go there, so that no later write or flush (nor
    the one at exit) raises. A stream of no file (a test's) is left as it is, and so
    is one where the null device cannot be opened."""
    try:
        number = stream.fileno()
        null = os.open(os.devnull, os.O_WRONLY)
    except (OSError, ValueError):  # (io.UnsupportedOperation is both)
        return
    try:
        os.dup2(null, number)
    except OSError:
        pass
    finally:
        os.close(null)


@contextlib.contextmanager
def showing(display: Display | None) -> Iterator[Progress | None]:
    """`display.showing()`, or None without one. While a bar is shown, warnings logged
    through the root logger's last resort (no handler set: `build`, `check-links`)
    come out as they would, on lines of their own."""
    if display is None:
        yield None
        return
    root = logging.getLogger()
    added: Handler | None = None
    if isinstance(display, Bar) and not root.handlers:
        added = Handler(display.stream, display)
        added.setLevel(logging.WARNING)  # as `logging.lastResort`
        root.addHandler(added)
    try:
        with display.showing() as progress, _erased_on_sigterm(display):
            yield progress
    finally:
        if added is not None:
            root.removeHandler(added)


@contextlib.contextmanager
def _erased_on_sigterm(display: Display) -> Iterator[None]:
    """Within, a SIGTERM (`timeout`, `kill`) erases the bar, then does what it did
    before: the handler that was set, else its default (the process ends by it)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread sets handlers
        return
    previous = signal.getsignal(signal.SIGTERM)

    def erase(number: int, frame: FrameType | None) -> None:
        display.reset()
        if callable(previous):
            previous(number, frame)
        elif previous != signal.SIG_IGN:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), number)

    signal.signal(signal.SIGTERM, erase)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def duration(seconds: float) -> str:
    """`seconds` for a person: 8 s, 2 min 5 s, 1 h 20 min."""
    whole = max(1, math.ceil(seconds))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"
