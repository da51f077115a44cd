"""The real `aggregator serve` (or `aggregator run --serve`) in a subprocess, for the
server's end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from conftest import OFFLINE
from conftest import require_e2e

#: seconds a wait for the command (its first log line, its exit) may last before a test
#: calls it hung: a guard against waiting forever, never a measure of speed
PATIENCE = 300.0
#: SIGTERM must end the command within this many times its measured start-up (spawn to
#: its "serving" line): both are a Python process doing little, slowed alike by load
STOP_FACTOR = 20


@dataclass
class Command:
    """`aggregator serve` running in a subprocess."""

    proc: subprocess.Popen[str]
    port: int
    lines: list[str]  # its log, as it comes
    reader: threading.Thread  # the thread reading its log
    startup: float  # seconds from spawn to its "serving" line

    def stop(self) -> None:
        """SIGTERM: the command ends within STOP_FACTOR times its start-up, with 0, and
        without a traceback."""
        bound = STOP_FACTOR * self.startup
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=bound)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"still running {bound:.1f} s ({STOP_FACTOR} x its start-up of "
                f"{self.startup:.2f} s) after SIGTERM; log: {self.lines}"
            ) from None
        assert time.monotonic() - started <= bound
        assert code == 0, self.lines
        self.reader.join(PATIENCE)
        assert "Traceback" not in "\n".join(self.lines), self.lines


@contextlib.contextmanager
def aggregator_serve(
    cwd: Path, command: Sequence[str] = ("serve", "--output", "out")
) -> Iterator[Command]:
    """`aggregator serve --output out` (or another `command` that serves) run in `cwd`
    on 127.0.0.1, a free port, once it says where it serves; stopped at the end."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(OFFLINE), env.get("PYTHONPATH", "")) if p)
    require_e2e("aggregator serve")
    spawned = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "aggregator", *command, "--serve", "127.0.0.1:0"],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    lines: list[str] = []
    port: list[int] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line.rstrip("\n"))
            found = re.search(r"serving .+ on http://127\.0\.0\.1:(\d+)/", line)
            if found:
                port.append(int(found.group(1)))
                ready.set()
        ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(PATIENCE) and port, lines
        yield Command(proc, port[0], lines, reader, time.monotonic() - spawned)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=PATIENCE)
        reader.join(PATIENCE)
        with contextlib.suppress(OSError):
            proc.stderr.close()
