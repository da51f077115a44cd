"""A terminal for the progress tests: what a screen shows after some output (`Screen`),
and the real command run on a pseudo-terminal (`run_on_pty`, `PtyProcess`).

`Screen` understands what the progress display may write and no more: printable
characters, `\\r`, `\\n` and erase-line (`\\x1b[K`); any other control character or
escape sequence fails the test. A line longer than the width wraps, as a terminal
wraps it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

ERASE_LINE = "\x1b[K"
_TOKENS = re.compile(r"\x1b\[K|\x1b|[\x00-\x1f\x7f]|[^\x00-\x1f\x7f\x1b]+")


class Screen:
    """The lines of a terminal `width` columns wide, written to from its first line."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.lines: list[str] = [""]
        self.row = 0
        self.column = 0
        #: the lines that wrapped (written past the last column)
        self.wrapped = 0

    def feed(self, text: str) -> Screen:
        for token in _TOKENS.findall(text):
            if token == ERASE_LINE:
                self.lines[self.row] = self.lines[self.row][: self.column]
            elif token == "\r":
                self.column = 0
            elif token == "\n":
                self.row += 1
                if self.row == len(self.lines):
                    self.lines.append("")
            elif len(token) == 1 and (token < " " or token in "\x1b\x7f"):
                raise AssertionError(f"a control character the display never writes: {token!r}")
            else:
                for char in token:
                    self._put(char)
        return self

    def _put(self, char: str) -> None:
        if self.column == self.width:  # a terminal wraps before the next character
            self.wrapped += 1
            self.column = 0
            self.row += 1
            if self.row == len(self.lines):
                self.lines.append("")
        line = self.lines[self.row].ljust(self.column)
        self.lines[self.row] = line[: self.column] + char + line[self.column + 1 :]
        self.column += 1

    def text(self) -> list[str]:
        """The lines holding something, right-trimmed (the last empty line dropped)."""
        lines = [line.rstrip() for line in self.lines]
        while lines and not lines[-1]:
            lines.pop()
        return lines


def drawn(raw: str) -> list[str]:
    """Each line the progress display drew: the text between a `\\r` and an erase-line."""
    return re.findall(r"\r([^\r\n\x1b]+)\x1b\[K", raw)


def _window(fd: int, rows: int, columns: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """Within, the processes started get SIGINT at its default, as from a terminal, even
    when this one ignores it: a shell without job control starts its background
    commands so (`pytest &` in a script), and an ignored signal stays ignored across
    `exec`, where a handler does not."""
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


class PtyProcess:
    """`python -m aggregator ARGS` with stdin, stdout and stderr on one pseudo-terminal
    of `columns` columns; `output` is everything it wrote there."""

    def __init__(
        self, args: list[str], *, cwd: Path, env: dict[str, str], columns: int = 80
    ) -> None:
        master, slave = os.openpty()
        _window(slave, 24, columns)
        self.columns = columns
        with interruptible():  # a Ctrl-C on the terminal reaches it
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "aggregator", *args],
                cwd=cwd,
                env=env,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                close_fds=True,
                start_new_session=True,  # the pty is its controlling terminal
            )
        os.close(slave)
        self.master = master
        self.data = b""

    @property
    def output(self) -> str:
        """What the process wrote, as the terminal has it: each "\n" written is "\r\n"
        there (the pty's onlcr), so `Screen` needs no more."""
        return self.data.decode("utf-8", "replace")

    def read(self, timeout: float) -> bool:
        """Read what is there within `timeout` seconds; False at the end (the process
        closed the terminal)."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: every writer is gone
            return False
        self.data += chunk
        return bool(chunk)

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            if time.monotonic() > deadline or not self.read(0.1):
                raise AssertionError(f"{text!r} never came; the terminal shows:\n{self.output}")

    def finish(self, timeout: float = 120) -> int:
        """Read to the end; the exit code."""
        deadline = time.monotonic() + timeout
        while self.read(0.1):
            if time.monotonic() > deadline:
                self.proc.kill()
                raise AssertionError(f"still running after {timeout} s:\n{self.output}")
        code = self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        os.close(self.master)
        return code

    def screen(self) -> list[str]:
        """What the terminal shows at the end."""
        return Screen(self.columns).feed(self.output).text()
