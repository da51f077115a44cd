"""What a running daemon keeps between builds is frozen (`gc.freeze`) after each, so
the collection after a build started by events walks only what was made since; a
scheduled build walks everything, and a stopped daemon leaves nothing frozen."""

from __future__ import annotations

import gc
import time
import weakref
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import write_article

from aggregator.app.daemon import Daemon
from aggregator.app.watch import Burst
from aggregator.config import Config

HOUR = timedelta(hours=1)
#: seconds the first build may take
PATIENCE = 120.0


class _Node:
    """An object in a cycle of its own: only a collection frees it."""

    def __init__(self) -> None:
        self.itself = self


def _first_build(daemon: Daemon) -> None:
    """Waits for the daemon's first build, scheduled at its start, and its collection."""
    deadline = time.monotonic() + PATIENCE
    while daemon.health.last_status != "ok" and time.monotonic() < deadline:
        time.sleep(0.01)
    with daemon._building:  # (the first build is over, its collection too)
        pass


def test_a_cycle_dropped_between_watched_builds_is_freed_by_the_next_scheduled_one(
    tmp_path: Path,
) -> None:
    write_article(tmp_path / "src", "a.md", n=1)
    config = Config(
        sources=(tmp_path / "src",), output=tmp_path / "out", links="off", interval=HOUR
    )
    daemon = Daemon(lambda: config, serve=None)
    daemon.start()  # (its first build, scheduled, runs at once; the next in an hour)
    try:
        _first_build(daemon)
        assert gc.get_freeze_count() > 0  # what the daemon keeps
        kept = _Node()
        dropped = weakref.ref(kept)
        write_article(tmp_path / "src", "b.md", n=2)
        assert daemon.run_watched(Burst(1, 0.0)) is not None  # (freezes `kept`)
        assert gc.isenabled()
        del kept
        write_article(tmp_path / "src", "c.md", n=3)
        assert daemon.run_watched(Burst(1, 0.0)) is not None
        gc.collect()  # (young objects only: the frozen are not walked)
        assert dropped() is not None
        assert daemon.run_once() is not None
        assert dropped() is None
    finally:
        daemon.stop()
    assert gc.get_freeze_count() == 0


def test_a_daemon_not_started_freezes_nothing(tmp_path: Path) -> None:
    """A daemon's runs called as a library's (`run_once`) collect and freeze nothing:
    the caller's objects stay the collector's."""
    write_article(tmp_path / "src", "a.md", n=1)
    config = Config(sources=(tmp_path / "src",), output=tmp_path / "out", links="off")
    daemon = Daemon(lambda: config, serve=None)
    kept = _Node()
    dropped = weakref.ref(kept)
    assert daemon.run_once() is not None
    assert gc.get_freeze_count() == 0
    del kept
    gc.collect()
    assert dropped() is None


def test_a_daemon_that_stops_leading_leaves_nothing_frozen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A follower builds nothing (the leader does), so it collects nothing after
    builds: what it froze as the leader is the collector's again."""
    write_article(tmp_path / "src", "a.md", n=1)
    config = Config(
        sources=(tmp_path / "src",), output=tmp_path / "out", links="off", interval=HOUR
    )
    daemon = Daemon(lambda: config, serve=None)
    daemon.start()
    try:
        _first_build(daemon)
        kept = _Node()
        dropped = weakref.ref(kept)
        assert daemon.run_watched(Burst(1, 0.0)) is not None  # (freezes `kept`)
        assert gc.isenabled() and gc.get_freeze_count() > 0
        del kept
        monkeypatch.setattr(daemon.leadership, "lead", lambda: False)  # another leads
        assert daemon.run_once() is None
        assert daemon.health.role == "follower"
        assert gc.get_freeze_count() == 0
        gc.collect()
        assert dropped() is None
    finally:
        daemon.stop()
