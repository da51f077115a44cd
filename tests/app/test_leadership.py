"""Which daemon leads: a session-level advisory lock on a real PostgreSQL (tests/pg.py),
held by one connection at a time and freed when its session ends however it ends; a
SQLite state's one daemon always leads. The daemon's run asks before it builds, a
follower builds nothing, and /healthz says which it is."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import psycopg
import pytest
from conftest import NOW
from conftest import write_article

from aggregator.app.daemon import Daemon
from aggregator.config import Config
from aggregator.errors import StateError
from aggregator.state.interface import SoleLeader
from aggregator.state.interface import open_leadership
from aggregator.state.pgstore import Leadership


def test_a_sqlite_state_has_one_daemon_which_always_leads(tmp_path: Path) -> None:
    leadership = open_leadership(tmp_path / "state.sqlite")
    assert isinstance(leadership, SoleLeader)
    assert leadership.lead() and leadership.lead()


@pytest.mark.e2e
def test_one_connection_leads_at_a_time_and_a_closed_one_frees_the_lead(pg_url: str) -> None:
    first, second = Leadership(pg_url), Leadership(pg_url)
    try:
        assert first.lead()
        assert not second.lead()
        assert first.lead()  # kept, not taken twice
        assert "pid" in (second.holder() or "")
        first.close()
        assert second.lead()
        assert not first.lead()
    finally:
        first.close()
        second.close()


def test_a_leader_whose_session_dies_loses_the_lead_to_the_next(pg_url: str) -> None:
    first, second = Leadership(pg_url), Leadership(pg_url)
    try:
        assert first.lead()
        with psycopg.connect(pg_url, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT pid FROM pg_stat_activity "
                "WHERE application_name LIKE 'aggregator leader %%' "
                "AND datname = current_database() AND pg_terminate_backend(pid)"
            ).fetchall()
            assert killed
            # The server ends a session a moment after it is told to: its lock with it.
            started = time.monotonic()
            while admin.execute(
                "SELECT 1 FROM pg_stat_activity WHERE pid = ANY(%s)", ([pid for (pid,) in killed],)
            ).fetchone():
                assert time.monotonic() - started < 60
                time.sleep(0.01)
        assert second.lead()
        # The first finds its session gone, connects again, and follows.
        assert not first.lead()
        assert first.term() == 1 and second.term() == 1
        second.close()
        # Taken again on a new session: a new term (another may have published meanwhile).
        assert first.lead() and first.term() == 2
        assert first.lead() and first.term() == 2  # kept: the same term
    finally:
        first.close()
        second.close()


def test_a_database_that_cannot_be_reached_is_a_state_error_without_the_password(
    tmp_path: Path,
) -> None:
    url = f"postgresql://u:s3cret@/nothing?host={tmp_path}&connect_timeout=1"
    with pytest.raises(StateError) as caught:
        Leadership(url).lead()
    assert "s3cret" not in str(caught.value)


def test_a_follower_builds_nothing_and_says_so_in_healthz(
    tmp_path: Path, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    write_article(tmp_path / "src", "a.md", n=1)
    config = Config(sources=(tmp_path / "src",), output=tmp_path / "out", state=pg_url, links="off")
    other = Leadership(pg_url)
    try:
        assert other.lead()
        daemon = Daemon(lambda: config, clock=lambda: NOW)
        with caplog.at_level(logging.INFO, logger="aggregator.app.daemon"):
            assert daemon.run_once() is None
            assert not (tmp_path / "out" / "all.rss").exists()
            status, body = daemon.health.answer(NOW)
            assert (status, body["role"], body["status"]) == (200, "follower", "ok")
            other.close()
            assert daemon.run_once() is not None
            assert (tmp_path / "out" / "all.rss").exists()
            assert daemon.health.answer(NOW)[1]["role"] == "leader"
        messages = [r.getMessage() for r in caplog.records]
        assert any(m.startswith("follower: ") for m in messages)
        assert any(m.startswith("leader: this daemon builds") for m in messages)
        daemon.leadership.close()
    finally:
        other.close()
