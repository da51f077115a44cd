"""The output folder: safe, change-only writes of generated files.

A file is rewritten only when its bytes change, through a temporary file in the
same folder, fsync and `os.replace`, so a reader sees the old complete file or the
new complete file, never a partial one, and an unchanged file keeps its mtime.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from aggregator.errors import OutputError

_TEMP_PREFIX = ".aggregator-"
_TEMP_SUFFIX = ".tmp"
FILE_MODE = 0o644


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically; raises OSError."""
    folder = path.parent
    fd, temp = tempfile.mkstemp(prefix=_TEMP_PREFIX, suffix=_TEMP_SUFFIX, dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, FILE_MODE)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _fsync_folder(folder)


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # not every filesystem lets a folder be synced
    finally:
        os.close(fd)


class Output:
    """A folder of generated files, addressed by POSIX paths relative to it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def prepare(self) -> None:
        """Create the folder, prove it writable, and clear temp files of a killed run."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            for stale in self.root.rglob(f"{_TEMP_PREFIX}*{_TEMP_SUFFIX}"):
                stale.unlink()
            fd, probe = tempfile.mkstemp(prefix=_TEMP_PREFIX, suffix=_TEMP_SUFFIX, dir=self.root)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise OutputError(f"{self.root}: output folder not writable: {_reason(exc)}") from exc

    def read(self, relative: str) -> bytes | None:
        try:
            return (self.root / relative).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise OutputError(f"{self.root / relative}: cannot read: {_reason(exc)}") from exc

    def write(self, relative: str, data: bytes) -> bool:
        """Write when the bytes differ; True when the file was (re)written."""
        if self.read(relative) == data:
            return False
        path = self.root / relative
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, data)
        except OSError as exc:
            raise OutputError(f"{path}: cannot write: {_reason(exc)}") from exc
        return True

    def files(self, folder: str, suffix: str) -> list[str]:
        """Relative paths of the files directly in `folder` ending with `suffix`, sorted."""
        base = self.root / folder
        if not base.is_dir():
            return []
        return sorted(
            f"{folder}/{p.name}" for p in base.iterdir() if p.is_file() and p.name.endswith(suffix)
        )


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)
