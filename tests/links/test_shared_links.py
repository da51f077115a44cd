"""Link checks shared by processes on one state (a real PostgreSQL, tests/pg.py) against
the loopback farm (tests/farm.py): each URL is requested once across the checkers,
per-host limits hold across them (measured where the requests arrive), a result is
stored as soon as it is known, a result stored meanwhile by another is used rather
than asked for again, and a crashed claimant's hosts are taken over when its lease
expires."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import NOW
from farm import Farm

from aggregator.errors import Cancelled
from aggregator.links.linkcheck import Drain
from aggregator.links.linkcheck import LinkChecker
from aggregator.links.linkcheck import LinkReport
from aggregator.links.linkpolicy import Freshness
from aggregator.links.linkpolicy import LinkCheckSettings
from aggregator.model import LinkResult
from aggregator.state.interface import open_store
from aggregator.state.pgstore import PgStore
from aggregator.stories.urls import canonical_url

#: a guard against waiting forever, never a measure of speed
PATIENCE = 300.0


@pytest.fixture
def own_farm() -> Iterator[Farm]:
    """Two fresh hosts: every request each saw is this test's."""
    servers = Farm(hosts=2)
    yield servers
    servers.close()


def settings(**changes: Any) -> LinkCheckSettings:
    values: dict[str, Any] = {
        "allow_private": True,
        "min_interval": timedelta(milliseconds=5),
        "timeout": timedelta(seconds=30),
        "deadline": timedelta(seconds=60),
        "retries": 0,
        "freshness": Freshness(jitter=0.0),
    }
    values.update(changes)
    return LinkCheckSettings(**values)


def wait_until(check: Any, what: str) -> Any:
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.e2e
def test_two_checkers_request_each_url_once_and_keep_the_per_host_limits(
    own_farm: Farm, pg_url: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    interval = 0.3
    urls = [own_farm.url(h, f"/t/{tag}-{h}-{n}/hold?s=0.1") for h in (0, 1) for n in range(6)]
    config = settings(workers=1, per_host=1, min_interval=timedelta(seconds=interval))
    reports: list[LinkReport] = []
    start = threading.Barrier(2)

    def checker() -> None:
        with PgStore(pg_url) as store:
            start.wait()
            report = LinkChecker(config).run(urls, now=NOW, previous={}, store=store)
            reports.append(report)

    threads = [threading.Thread(target=checker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(PATIENCE)
    assert len(reports) == 2
    for report in reports:
        assert {canonical_url(u) for u in urls} == set(report.results)
        assert {r.klass for r in report.results.values()} == {"ok"}
    assert sum(r.requested for r in reports) == len(urls)
    for host in (0, 1):
        log = own_farm.log(host)
        assert set(log.hits.values()) == {1}, log.hits  # each URL once (HEAD answered)
        assert log.max_in_flight == 1
        times = sorted(t for _m, _p, t in log.requests)
        gaps = [b - a for a, b in itertools.pairwise(times)]
        # Measured where requests arrive: allow for a busy machine's delays.
        assert min(gaps) >= interval - 0.15, (host, gaps)
    with PgStore(pg_url) as store:
        assert set(store.links(canonical_url(u) for u in urls)) == {canonical_url(u) for u in urls}


def test_a_result_stored_meanwhile_by_another_is_used_not_asked_for(
    own_farm: Farm, state_at: Path | str
) -> None:
    done, left = own_farm.url(0, "/t/done/ok"), own_farm.url(0, "/t/left/ok")
    stored = LinkResult(
        url=canonical_url(done),
        klass="ok",
        status=200,
        reason="200 OK",
        final_url=None,
        checked_at=NOW,
        next_check_at=NOW + timedelta(days=7),
    )
    with open_store(state_at) as store:
        store.save_links([stored])
        # `previous` was read before the other process stored its result.
        report = LinkChecker(settings()).run([done, left], now=NOW, previous={}, store=store)
        assert report.results[canonical_url(done)] == stored
        assert report.requested == 1
        assert store.link(canonical_url(left)) is not None
    assert own_farm.log(0).hits == {"/t/left/ok": 1}


@pytest.mark.e2e
def test_a_result_is_stored_as_soon_as_it_is_known(own_farm: Farm, pg_url: str) -> None:
    quick, slow = own_farm.url(0, "/ok"), own_farm.url(1, f"/slow?s={PATIENCE}")
    cancel = threading.Event()
    raised: list[BaseException] = []

    def checker() -> None:
        with PgStore(pg_url) as store:
            try:
                LinkChecker(settings()).run(
                    [quick, slow], now=NOW, previous={}, cancel=cancel, store=store
                )
            except Cancelled as exc:
                raised.append(exc)

    thread = threading.Thread(target=checker)
    thread.start()
    with PgStore(pg_url) as other:
        found = wait_until(lambda: other.link(canonical_url(quick)), "the quick result stored")
        assert found.klass == "ok"
        assert thread.is_alive()  # the run is not over: the slow URL is still asked
        cancel.set()
        thread.join(PATIENCE)
        # A stop gives the hosts up: another process may claim them at once.
        assert set(other.claim_hosts("next", ["127.0.0.2", "127.0.0.3"], 60.0)) == {
            "127.0.0.2",
            "127.0.0.3",
        }
    assert raised


@pytest.mark.e2e
def test_a_drained_run_lets_its_requests_end_and_stores_them(own_farm: Farm, pg_url: str) -> None:
    """A follower's help ends with a `Drain`: the request in flight ends and its result
    is stored (so no other process asks for it again); nothing more is sent; the hosts
    are given up."""
    first = own_farm.url(0, "/t/first/hold?s=1")
    queued = [own_farm.url(0, f"/t/queued{n}/ok") for n in range(3)]
    drain = Drain()
    raised: list[BaseException] = []

    def checker() -> None:
        with PgStore(pg_url) as store:
            try:
                LinkChecker(settings(per_host=1, workers=1)).run(
                    [first, *queued], now=NOW, previous={}, cancel=drain, store=store
                )
            except Cancelled as exc:
                raised.append(exc)

    thread = threading.Thread(target=checker)
    thread.start()
    wait_until(lambda: own_farm.log(0).hits.get("/t/first/hold"), "the first request sent")
    drain.set()
    thread.join(PATIENCE)
    assert raised and not thread.is_alive()
    with PgStore(pg_url) as other:
        assert other.link(canonical_url(first)) is not None  # stored, not lost
        assert all(other.link(canonical_url(u)) is None for u in queued)
        assert set(other.claim_hosts("next", ["127.0.0.2"], 60.0)) == {"127.0.0.2"}
    assert set(own_farm.log(0).hits) == {"/t/first/hold"}  # nothing more was sent


CRASHING = textwrap.dedent(
    """
    import sys
    from datetime import timedelta
    from aggregator.links.linkcheck import LinkChecker
    from aggregator.links.linkpolicy import LinkCheckSettings
    from aggregator.state.pgstore import PgStore
    from conftest import NOW

    settings = LinkCheckSettings(allow_private=True, retries=0, per_host=1,
                                 timeout=timedelta(seconds=600), deadline=timedelta(seconds=600))
    with PgStore(sys.argv[1]) as store:
        LinkChecker(settings, lease_ttl=float(sys.argv[2])).run(
            sys.argv[3:], now=NOW, previous={}, store=store)
    """
)


@pytest.mark.e2e
def test_a_crashed_claimants_hosts_are_taken_over_once_its_session_is_gone(
    own_farm: Farm, pg_url: str, tmp_path: Path
) -> None:
    """A claimant killed mid-request: its connections end with it, and its leases are
    anyone's then, long before they would expire."""
    ttl = PATIENCE
    held = [own_farm.url(0, f"/t/held-{n}/hold?s={PATIENCE}") for n in range(2)]
    script = tmp_path / "crashing.py"
    script.write_text(CRASHING, encoding="utf-8")
    tests = Path(__file__).resolve().parent.parent
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tests), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen([sys.executable, str(script), pg_url, str(ttl), *held], env=env)
    try:
        wait_until(lambda: own_farm.log(0).requests, "the claimant's first request")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(PATIENCE)
    killed = time.monotonic()
    with PgStore(pg_url) as store:
        quick = [own_farm.url(0, f"/t/after-{n}/ok") for n in range(3)]
        report = LinkChecker(settings()).run(quick, now=NOW, previous={}, store=store)
    assert {r.klass for r in report.results.values()} == {"ok"}
    assert len(report.results) == 3
    after = [t for _m, path, t in own_farm.log(0).requests if path.startswith("/t/after-")]
    assert len(after) == 3 and min(after) > killed
    assert time.monotonic() - killed < ttl / 2  # not by the lease expiring
