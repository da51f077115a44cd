"""The real `aggregator serve` in a subprocess, for the server's end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from conftest import OFFLINE


@dataclass
class Command:
    """`aggregator serve` running in a subprocess."""

    proc: subprocess.Popen[str]
    port: int
    lines: list[str]  # its log, as it comes
    reader: threading.Thread  # the thread reading its log


@contextlib.contextmanager
def aggregator_serve(cwd: Path, ready_within: float) -> Iterator[Command]:
    """`aggregator serve --output out` run in `cwd` on 127.0.0.1, a free port, once it
    says where it serves (within `ready_within` seconds); stopped at the end."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(OFFLINE), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.Popen(
        [sys.executable, "-m", "aggregator", "serve", "--output", "out", "--serve", "127.0.0.1:0"],
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
            found = re.search(r"serving out on http://127\.0\.0\.1:(\d+)/", line)
            if found:
                port.append(int(found.group(1)))
                ready.set()
        ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(ready_within) and port, lines
        yield Command(proc, port[0], lines, reader)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        reader.join(5)
        with contextlib.suppress(OSError):
            proc.stderr.close()
