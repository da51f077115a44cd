"""The output folder's batch: every staged file on disk before any takes its place."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest

from aggregator.errors import OutputError
from aggregator.publishing import output as output_module
from aggregator.publishing.output import Output


def test_a_batch_syncs_every_file_before_it_renames_any(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[tuple[str, str]] = []
    fsync, replace = os.fsync, os.replace

    def synced(fd: int) -> None:
        events.append(("sync", os.readlink(f"/proc/self/fd/{fd}")))
        fsync(fd)

    def replaced(src: Any, dst: Any) -> None:
        events.append(("rename", str(src)))
        replace(src, dst)

    monkeypatch.setattr(os, "fsync", synced)
    monkeypatch.setattr(os, "replace", replaced)
    out = Output(tmp_path / "out")
    out.prepare()
    with out.batch():
        for n in range(20):
            assert out.write(f"topics/f{n}.xml", b"x" * n)
    renames = [path for kind, path in events if kind == "rename"]
    first = events.index(("rename", renames[0]))
    synced_files = {path for kind, path in events[:first] if kind == "sync"}
    assert len(renames) == 20
    assert set(renames) <= synced_files, "a file took its place before it was synced"
    assert [p.name for p in sorted((tmp_path / "out/topics").iterdir())] == sorted(
        f"f{n}.xml" for n in range(20)
    )


def test_a_sync_that_fails_leaves_every_file_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = Output(tmp_path / "out")
    out.prepare()
    assert out.write("a.xml", b"old a")
    fsync = os.fsync

    def full(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").endswith(output_module._TEMP_SUFFIX):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        fsync(fd)

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OutputError, match="No space left on device"), out.batch():
        assert out.write("a.xml", b"new a")
        assert out.write("b.xml", b"new b")
    assert (tmp_path / "out/a.xml").read_bytes() == b"old a"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.xml"]
