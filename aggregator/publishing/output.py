"""The output folder: safe, change-only writes of generated files.

A file is rewritten only when its bytes change, through a temporary file in the
same folder, fsync and `os.replace`, so a reader sees the old complete file or the
new complete file, never a partial one, and an unchanged file keeps its mtime.

Inside `with output.batch():` a run's writes are staged: every changed file is
written to its temporary file, all are synced (side by side), and only when all of
them are on disk are they renamed into place (then each folder is synced). A disk that fills
up, or any other write error, therefore leaves every previous file untouched and
no temporary file behind. A process killed while renaming leaves each file old or
new and complete; temporary files of a killed run are cleared by the next
`prepare()`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aggregator.errors import OutputError
from aggregator.publishing.layout import make_folder

_TEMP_PREFIX = ".aggregator-"
_TEMP_SUFFIX = ".tmp"
FILE_MODE = 0o644


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically; raises OSError."""
    temp = _write_temp(path, data)
    try:
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _fsync_folder(path.parent)


def _write_temp(path: Path, data: bytes, sync: bool = True) -> Path:
    """`data` in a temporary file beside `path`, synced unless `sync` is False (a batch
    syncs its files together: `_sync_all`); raises OSError, leaving none."""
    fd, temp = tempfile.mkstemp(prefix=_TEMP_PREFIX, suffix=_TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if sync:
                os.fsync(handle.fileno())
        os.chmod(temp, FILE_MODE)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return Path(temp)


#: files synced at once at the end of a batch: a file system commits the syncs that
#: wait together in one go (188 feeds: about half the time of one after another)
_SYNCS = 8


def _sync_all(root: Path, staged: dict[str, Path]) -> None:
    """Sync every staged file to disk (before any is renamed into place); raises
    OutputError naming the first that failed."""

    def sync(item: tuple[str, Path]) -> None:
        relative, temp = item
        try:
            fd = os.open(temp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise OutputError(f"{root / relative}: cannot write: {_reason(exc)}") from exc

    if staged:
        with ThreadPoolExecutor(min(_SYNCS, len(staged)), thread_name_prefix="sync") as pool:
            list(pool.map(sync, staged.items()))  # the first error, in order, is raised


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


def output_identity(stat: os.stat_result) -> tuple[int, int, int]:
    """What tells a file a build left from one changed since by anything else: its
    size, mtime and ctime. An edit that keeps the size and puts the mtime back (`cp -p`,
    `rsync -t`, `touch -r`, a backup restored) still moves the ctime, which no program
    can set (a `chmod` moves it too: the file is then taken as changed, and written
    again only where its bytes differ)."""
    return stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns


class Output:
    """A folder of generated files, addressed by POSIX paths relative to it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        #: relative path -> its staged temporary file, inside `batch()`
        self._staged: dict[str, Path] | None = None

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Stage every write inside; rename them all into place at the end, or, when
        the block raises, drop them all and leave every file as it was."""
        if self._staged is not None:
            yield  # already batching: the outer batch commits
            return
        self._staged = {}
        try:
            yield
            self._commit(self._staged)
        finally:
            for temp in self._staged.values():
                with contextlib.suppress(OSError):
                    os.unlink(temp)
            self._staged = None

    def _commit(self, staged: dict[str, Path]) -> None:
        _sync_all(self.root, staged)
        folders: set[Path] = set()
        for relative in list(staged):
            path = self.root / relative
            try:
                os.replace(staged[relative], path)
            except OSError as exc:
                raise OutputError(f"{path}: cannot write: {_reason(exc)}") from exc
            del staged[relative]
            folders.add(path.parent)
        for folder in sorted(folders):
            _fsync_folder(folder)

    def prepare(self) -> None:
        """Create the folder, prove it writable, and clear temp files of a killed run."""
        try:
            # The real path: a symlinked output whose target does not exist yet is made.
            make_folder(Path(os.path.realpath(self.root)))
            for stale in self.root.rglob(f"{_TEMP_PREFIX}*{_TEMP_SUFFIX}"):
                stale.unlink()
            fd, probe = tempfile.mkstemp(prefix=_TEMP_PREFIX, suffix=_TEMP_SUFFIX, dir=self.root)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise OutputError(f"{self.root}: output folder not writable: {_reason(exc)}") from exc

    def read(self, relative: str) -> bytes | None:
        """The file's bytes (as staged, inside a batch), or None when there is none."""
        staged = self._staged.get(relative) if self._staged is not None else None
        try:
            return (staged or self.root / relative).read_bytes()
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
            if self._staged is None:
                write_atomic(path, data)
            else:
                old = self._staged.pop(relative, None)
                if old is not None:
                    os.unlink(old)
                self._staged[relative] = _write_temp(path, data, sync=False)
        except OSError as exc:
            raise OutputError(f"{path}: cannot write: {_reason(exc)}") from exc
        return True

    def files(self, folder: str, suffix: str) -> list[str]:
        """Relative paths of the files directly in `folder` ending with `suffix`, sorted."""
        base = self.root / folder
        if not base.is_dir():
            return []
        # (`scandir`: the kind of each entry comes with its name, no `stat` per file:
        # a daemon's build lists the topic feeds in every format)
        with os.scandir(base) as entries:
            names = [e.name for e in entries if e.name.endswith(suffix) and e.is_file()]
        return sorted(f"{folder}/{name}" for name in names)


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)
