"""One writer at a time: an OS file lock beside the output folder, shared by `build` and
`run`.

The lock is `flock` on `.<output name>.lock` next to the output folder's real path
(an output reached through a symlink takes its target's lock). The kernel
drops it when its holder exits, however it exits, so a lock left by a killed
process never blocks anyone. The file holds the holder's pid, for the message a
waiting writer prints.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path
from types import TracebackType

from aggregator.errors import Cancelled
from aggregator.errors import LockBusy as LockBusy  # it lived here; errors has it now
from aggregator.errors import OutputError
from aggregator.publishing.layout import beside
from aggregator.publishing.layout import make_folder


def lock_path(output: Path) -> Path:
    return beside(output, ".lock")


class OutputLock:
    """`with OutputLock(output, wait=60):` holds the folder for one run."""

    def __init__(self, output: Path, *, wait: float = 60.0, poll: float = 0.1) -> None:
        self.path = lock_path(output)
        self.output = output
        self.wait = wait
        self.poll = poll
        self._fd: int | None = None

    def holder(self) -> str:
        try:
            pid = self.path.read_text(encoding="ascii").strip()
        except OSError:
            return "another process"
        return f"pid {pid}" if pid.isdigit() else "another process"

    def acquire(self, on_wait: object = None, cancel: threading.Event | None = None) -> None:
        """Take the lock, waiting up to `wait` seconds; `Cancelled` if `cancel` is set
        meanwhile, `LockBusy` when the wait runs out."""
        try:
            make_folder(self.path.parent)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise OutputError(f"{self.output}: cannot lock the output folder: {reason}") from exc
        deadline = time.monotonic() + self.wait
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if cancel is not None and cancel.is_set():
                    os.close(fd)
                    raise Cancelled("stopped while waiting for the output lock") from None
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise LockBusy(
                        f"{self.output}: another aggregator ({self.holder()}) is writing here; "
                        f"gave up after {self.wait:g} s"
                    ) from None
                if not told and callable(on_wait):
                    on_wait(f"waiting for another aggregator ({self.holder()}) to finish")
                    told = True
                time.sleep(self.poll)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
