"""A guard for the servers a test process starts (PostgreSQL, the S3 gateway): when the
process ends without stopping them, however it ends, they are stopped and their folders
deleted. pytest-xdist ends a worker that has not finished 15 s after its session was
stopped (SIGTERM) with `os._exit` (execnet), fixtures or not: on a busy machine, a
worker still stopping its servers then left them running beside the next session.

The guard is a small process of its own, in a session of its own, reading a pipe from
the process it guards: the pipe closes when that process ends, whatever ends it. A
fixture that stopped its servers itself says so (`done`), and the guard does nothing.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

#: the guard: waits for the pipe to close, then signals each process (then SIGKILL
#: after `grace` seconds) and deletes the folders, unless it was told "done"
_GUARD = r"""
import json, os, shutil, signal, sys, time
spec = json.loads(sys.argv[1])
if sys.stdin.buffer.read() == b"done":
    sys.exit(0)

def running(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False

for pid, number in spec["signals"]:
    try:
        os.kill(pid, number)
    except OSError:
        continue
    ends = time.monotonic() + spec["grace"]
    while running(pid) and time.monotonic() < ends:
        time.sleep(0.05)
    if running(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
for folder in spec["remove"]:
    shutil.rmtree(folder, ignore_errors=True)
"""


class Guard:
    """What a guard does if its process ends first; `done` when it need not."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._proc = proc

    def done(self) -> None:
        """The servers were stopped: the guard ends without doing anything."""
        stdin = self._proc.stdin
        if stdin is not None and not stdin.closed:
            with contextlib.suppress(OSError):
                stdin.write(b"done")
                stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=30)


@contextlib.contextmanager
def guarded(
    signals: list[tuple[int, int]], remove: list[Path], grace: float = 10.0
) -> Iterator[Guard]:
    """A guard that, should this process end inside the block or after it without
    `Guard.done` (which leaving the block calls), sends each (pid, signal) of
    `signals` and deletes the folders of `remove`."""
    spec = {"signals": signals, "remove": [str(p) for p in remove], "grace": grace}
    proc = subprocess.Popen(
        [sys.executable, "-c", _GUARD, json.dumps(spec)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # not stopped with a signal to this process's group
    )
    guard = Guard(proc)
    try:
        yield guard
    finally:
        guard.done()
