"""Loaded by `aggregator` subprocesses of tests/test_faults.py (their PYTHONPATH starts
with this folder): disk faults injected at the operating-system boundary, for machines
where a test cannot mount a small or read-only filesystem (not root).

AGGREGATOR_TEST_FAULTS names a control file, read on every call so that a test can
turn a fault on and off while a daemon runs. Each line is `KIND FOLDER`:

- `enospc FOLDER [N]`: syncing a file under FOLDER fails with ENOSPC, as a full disk
  does (on many filesystems a full disk shows first at fsync, with delayed
  allocation); with N, the first N syncs succeed (a disk that fills up mid-run);
- `erofs FOLDER`: creating, writing, renaming or removing anything under FOLDER fails
  with EROFS, as on a read-only mount.

It also keeps name lookups offline, like tests/offline/sitecustomize.py.
"""

from __future__ import annotations

import errno
import os
import runpy
from pathlib import Path
from typing import Any

runpy.run_path(str(Path(__file__).resolve().parent.parent / "offline" / "sitecustomize.py"))

_CONTROL = os.environ.get("AGGREGATOR_TEST_FAULTS")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


_synced = 0


def _faults() -> list[tuple[str, str, int]]:
    if not _CONTROL:
        return []
    try:
        text = Path(_CONTROL).read_text(encoding="utf-8")
    except OSError:
        return []
    found = []
    for line in text.splitlines():
        kind, _, rest = line.strip().partition(" ")
        folder, _, after = rest.partition(" ")
        if kind and folder:
            found.append((kind, os.path.realpath(folder), int(after or 0)))
    return found


def _under(path: Any, folder: str) -> bool:
    try:
        real = os.path.realpath(os.fsdecode(path))
    except (TypeError, ValueError):
        return False
    return real == folder or real.startswith(folder + os.sep)


def _check(kind: str, *paths: Any) -> None:
    global _synced
    for fault, folder, after in _faults():
        if fault == kind and any(_under(p, folder) for p in paths):
            if kind == "enospc" and _synced < after:
                _synced += 1
                continue
            code = errno.ENOSPC if kind == "enospc" else errno.EROFS
            raise OSError(code, os.strerror(code), os.fsdecode(paths[0]))


_fsync = os.fsync
_open = os.open
_replace = os.replace
_rename = os.rename
_unlink = os.unlink
_mkdir = os.mkdir
_chmod = os.chmod


def fsync(fd: Any) -> None:
    number = fd if isinstance(fd, int) else fd.fileno()
    try:
        where = os.readlink(f"/proc/self/fd/{number}")
    except OSError:
        where = ""
    if where:
        _check("enospc", where)
    _fsync(fd)


def open_(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
    if flags & _WRITE_FLAGS:
        _check("erofs", path)
    return _open(path, flags, *args, **kwargs)


def replace(src: Any, dst: Any, **kwargs: Any) -> None:
    _check("erofs", dst, src)
    _replace(src, dst, **kwargs)


def rename(src: Any, dst: Any, **kwargs: Any) -> None:
    _check("erofs", dst, src)
    _rename(src, dst, **kwargs)


def unlink(path: Any, **kwargs: Any) -> None:
    _check("erofs", path)
    _unlink(path, **kwargs)


def mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
    _check("erofs", path)
    _mkdir(path, *args, **kwargs)


def chmod(path: Any, *args: Any, **kwargs: Any) -> None:
    _check("erofs", path)
    _chmod(path, *args, **kwargs)


if _CONTROL:
    os.fsync = fsync
    os.open = open_
    os.replace = replace
    os.rename = rename
    os.unlink = unlink
    os.mkdir = mkdir
    os.chmod = chmod
