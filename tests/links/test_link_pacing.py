"""The link checker's pace, as the sites see it: `per_host` reached and never exceeded
with the default number of workers, `min_interval` between two requests to a host on
the wire (not more, and not much less), connections kept alive, worker threads
started only as requests need them.

Times a server notes are late by however long its thread waited for its turn, which
on a busy machine (another copy of the suite beside this one) is anything from
nothing to many milliseconds: too coarse to tell `min_interval` kept from nearly
kept. So the gaps between requests are taken from `Stamped`, a server that reads the
time the kernel stamped on each request's first bytes as they reached the machine.
Bounds that depend on how fast this machine is right now (how much longer than
`min_interval` a gap may be, how long a held answer must be for the requests to a
whole farm to overlap) are derived from a check timed in the same test, never fixed.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import statistics
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
from conftest import NOW
from farm import Farm
from farm import RawServer

from aggregator.links import linkcheck
from aggregator.links import linkpolicy as lp
from aggregator.links.linkcheck import LinkChecker
from aggregator.links.linkpolicy import Freshness
from aggregator.links.linkpolicy import LinkCheckSettings
from aggregator.state.store import Store

MS = timedelta(milliseconds=1)
#: Linux's SO_TIMESTAMPNS (and SCM_TIMESTAMPNS), which Python's socket may not name
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TIMESPEC = struct.Struct("@ll")

pytestmark = pytest.mark.skipif(
    sys.platform != "linux", reason="kernel receive timestamps (SO_TIMESTAMPNS) are Linux's"
)


class Stamped(RawServer):
    """A raw HTTP/1.1 server on one 127.0.0.x address that notes, for every request,
    the time the kernel stamped on its first bytes when they reached the machine
    (`SO_TIMESTAMPNS`, in ns of the wall clock): the moment the client sent them,
    whatever this server's threads were doing then. It answers every request with an
    empty 200 (after `?hold=` seconds), keeps connections alive and counts them. A
    path `/cookie-gate/...` is answered with a cookie and a redirect to itself + `/in`,
    which answers 403 unless the cookie comes back."""

    def __init__(self, address: str) -> None:
        #: (stamp in ns or None, path, cookie header or None) of every request, in
        #: the order they came
        self.arrivals: list[tuple[int | None, str, str | None]] = []
        super().__init__(address, {SO_TIMESTAMPNS: 1})

    def stamps(self, marker: str) -> list[int]:
        """The stamps of the requests whose path holds `marker`, in order."""
        with self.lock:
            found = [stamp for stamp, path, _cookie in self.arrivals if marker in path]
        assert all(stamp is not None for stamp in found), "a request was not stamped"
        return sorted(stamp for stamp in found if stamp is not None)

    def cookies(self, marker: str) -> list[str | None]:
        """The cookies sent with the requests whose path holds `marker`, in order."""
        with self.lock:
            return [cookie for _stamp, path, cookie in self.arrivals if marker in path]

    def ready(self) -> None:
        """Wait until the kernel stamps what arrives (it starts doing so a moment
        after the first socket asks)."""
        for n in itertools.count():
            marker = f"/probe-{n}"
            with socket.create_connection((self.address, self.port)) as probe:
                probe.sendall(f"GET {marker} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                probe.recv(1024)
            with self.lock:
                if any(stamp is not None for stamp, path, _ in self.arrivals if path == marker):
                    return
            assert n < 100, "the kernel does not stamp what arrives on this machine"
            time.sleep(0.01)

    def _serve(self, conn: socket.socket) -> None:
        space = socket.CMSG_SPACE(_TIMESPEC.size)
        with conn, contextlib.suppress(OSError):
            buffer, stamp = b"", None
            while True:
                while b"\r\n\r\n" not in buffer:
                    data, ancillary, _flags, _address = conn.recvmsg(65536, space)
                    if not data:
                        return
                    if not buffer:  # the first bytes of a request
                        stamp = None
                        for level, kind, value in ancillary:
                            if (level, kind) == (socket.SOL_SOCKET, SO_TIMESTAMPNS):
                                seconds, nanoseconds = _TIMESPEC.unpack(value[: _TIMESPEC.size])
                                stamp = seconds * 1_000_000_000 + nanoseconds
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                cookie = next(
                    (
                        v.strip()
                        for k, _, v in map(str.partition, lines[1:], ":" * len(lines))
                        if k.lower() == "cookie"
                    ),
                    None,
                )
                with self.lock:
                    self.arrivals.append((stamp, path, cookie))
                if "hold=" in path:
                    time.sleep(float(path.rpartition("hold=")[2]))
                if path.startswith("/cookie-gate") and not path.endswith("/in"):
                    conn.sendall(
                        b"HTTP/1.1 302 Found\r\nSet-Cookie: seen=1; Path=/\r\n"
                        b"Location: " + f"{path}/in".encode() + b"\r\nContent-Length: 0\r\n\r\n"
                    )
                elif path.startswith("/cookie-gate") and cookie != "seen=1":
                    conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                else:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")


@pytest.fixture
def stamped() -> Iterator[Callable[[int], list[Stamped]]]:
    """`stamped(n)`: n fresh servers, on 127.0.0.201, 127.0.0.202, ..."""
    servers: list[Stamped] = []

    def start(hosts: int) -> list[Stamped]:
        started = [Stamped(f"127.0.0.{201 + n}") for n in range(hosts)]
        servers.extend(started)
        for server in started:
            server.ready()
        return started

    yield start
    for server in servers:
        server.close()


def settings(**changes: Any) -> LinkCheckSettings:
    """The defaults (workers and per_host among them), but for the farm's addresses,
    no retries and no TTL jitter."""
    values: dict[str, Any] = {
        "allow_private": True,
        "retries": 0,
        "freshness": Freshness(jitter=0.0),
    }
    values.update(changes)
    return LinkCheckSettings(**values)


def took(call: Callable[[], object]) -> float:
    began = time.monotonic()
    call()
    return time.monotonic() - began


def check(urls: list[str], given: LinkCheckSettings, **kwargs: Any) -> dict[str, str]:
    """The class of every URL after one run."""
    report = LinkChecker(given, **kwargs).run(urls, now=NOW, previous={})
    assert report.checked == len(urls)
    return {key: result.klass for key, result in report.results.items()}


def round_trip(server: Stamped, given: LinkCheckSettings) -> float:
    """How long one check of one URL takes on this machine now, start to end."""
    return took(lambda: check([server.url("/timing")], given))


@contextlib.contextmanager
def wake_ups(step: float) -> Iterator[list[float]]:
    """How late a thread that waits `step` seconds wakes, over and over while the
    block runs: the delays this machine adds right now to a timed wait (the
    checker's scheduler waits so for a host's next turn, and its worker for a
    thread to run it)."""
    late: list[float] = []
    stop = threading.Event()

    def wait() -> None:
        while True:
            began = time.monotonic()
            if stop.wait(step):
                return
            late.append(time.monotonic() - began - step)

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    try:
        yield late
    finally:
        stop.set()
        waiter.join()


def overlap(spans: list[tuple[float, float]]) -> int:
    """The most of `spans` (start, end) that hold one instant."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    most = now = 0
    for _time, step in edges:
        now += step
        most = max(most, now)
    return most


# --- min_interval, on the wire ----------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize("interval_ms", [40, 100])
def test_two_requests_to_a_host_leave_min_interval_apart_and_not_much_more(
    stamped: Callable[[int], list[Stamped]], interval_ms: int
) -> None:
    """Answers come at once, so `min_interval` alone sets the pace: every gap on the
    wire is at least `min_interval`, whatever delayed the request before it, and the
    typical gap is not longer by more than this machine delays things now: a whole
    check of one URL, or two late wake-ups (the scheduler's, then a worker's)."""
    servers = stamped(3)
    given = settings(min_interval=interval_ms * MS)
    interval = given.min_interval.total_seconds()
    spare = round_trip(servers[0], given)
    urls = [server.url(f"/page?n={n}") for n in range(8) for server in servers]
    with wake_ups(interval / 4) as late:
        assert set(check(urls, given).values()) == {lp.OK}
    spare = max(spare, round_trip(servers[0], given), 2 * max(late, default=0.0))
    for server in servers:
        stamps = server.stamps("/page")
        assert len(stamps) == 8
        gaps = [(b - a) / 1e9 for a, b in itertools.pairwise(stamps)]
        # The stamps are nanoseconds of the clock the checker reads: only their
        # conversion to seconds is allowed for.
        assert min(gaps) >= interval * (1 - 1e-9), (server.address, gaps)
        assert statistics.median(gaps) <= interval + spare, (server.address, gaps, spare)


@pytest.mark.e2e
def test_min_interval_holds_between_link_checks_and_fetches_on_the_wire(
    stamped: Callable[[int], list[Stamped]],
) -> None:
    """A feed fetch and a link check to one host share its pace."""
    from aggregator.links.fetch import FetchRequest
    from aggregator.links.linkcheck import _Check
    from aggregator.stories.urls import canonical_url

    (server,) = stamped(1)
    given = settings(min_interval=50 * MS)
    checks = []
    for n in range(4):
        page, feed = server.url(f"/mixed/page/{n}"), server.url(f"/mixed/feed/{n}")
        checks.append(_Check(canonical_url(page), page, page))
        checks.append(_Check(feed, feed, feed, method="GET", fetch=FetchRequest(feed)))
    answers = LinkChecker(given)._check_all(checks)
    assert {answer.status for _check, answer in answers.values()} == {200}
    stamps = server.stamps("/mixed/")
    assert len(stamps) == 8
    gaps = [(b - a) / 1e9 for a, b in itertools.pairwise(stamps)]
    assert min(gaps) >= given.min_interval.total_seconds() * (1 - 1e-9), gaps


@pytest.mark.e2e
def test_when_min_interval_is_shorter_than_an_answer_per_host_is_reached(
    stamped: Callable[[int], list[Stamped]],
) -> None:
    """Each answer takes four intervals: a host has two requests in flight at once
    (its `per_host`), started one interval apart, and never three. The interval is
    one check's time at least, so that the second request is sent well before the
    first is answered even when the checker wakes late."""
    (server,) = stamped(1)
    spare = round_trip(server, settings(min_interval=MS))
    given = settings(min_interval=max(30, round(1000 * spare)) * MS)
    interval = given.min_interval.total_seconds()
    urls = [server.url(f"/held/{n}?hold={4 * interval}") for n in range(8)]
    assert set(check(urls, given).values()) == {lp.OK}
    stamps = server.stamps("/held/")
    assert len(stamps) == 8
    gaps = [(b - a) / 1e9 for a, b in itertools.pairwise(stamps)]
    assert min(gaps) >= interval * (1 - 1e-9), gaps
    # Sent while the one before was still held: two in flight.
    assert min(gaps) < 4 * interval, gaps
    # Never a third: the request after next waits for an answer (4 intervals) at least.
    pairs = [(c - a) / 1e9 for a, c in zip(stamps, stamps[2:], strict=False)]
    assert min(pairs) >= 4 * interval, pairs


# --- per_host and the default workers ---------------------------------------------------


@pytest.fixture
def wide_farm() -> Iterator[Farm]:
    """More hosts than 32 workers could keep busy at `per_host` 2."""
    servers = Farm(hosts=24)
    yield servers
    servers.close()


@pytest.mark.e2e
def test_with_the_default_workers_every_host_reaches_per_host_and_never_exceeds_it(
    wide_farm: Farm,
) -> None:
    """24 hosts, 2 requests in flight at each: 48 at once, more than the 32 workers
    of old. Every host sees exactly `per_host` at its busiest."""
    given = settings(min_interval=MS)
    hosts = len(wide_farm.servers)
    assert given.workers >= hosts * given.per_host
    # Each answer is held long enough for every host's first two requests to be sent
    # before the first answer: many times what a whole check takes here and now.
    hold = max(0.3, 20 * took(lambda: check([wide_farm.url(0, "/ok?timing")], given)))
    urls = [wide_farm.url(h, f"/hold?s={hold:.3f}&n={n}") for n in range(4) for h in range(hosts)]
    assert set(check(urls, given).values()) == {lp.OK}
    assert [wide_farm.log(h).max_in_flight for h in range(hosts)] == [given.per_host] * hosts
    # Each request is in flight from its arrival for `hold` at least: at some instant
    # every host had both of its requests in flight.
    spans = [
        (arrived, arrived + hold)
        for h in range(hosts)
        for _method, path, arrived in wide_farm.log(h).requests
        if path.startswith("/hold")
    ]
    assert len(spans) == len(urls)
    assert overlap(spans) == hosts * given.per_host


def test_worker_threads_start_only_as_requests_need_them(
    stamped: Callable[[int], list[Stamped]],
) -> None:
    """Two hosts at `per_host` 2 need four threads, whatever `workers` allows; once
    the run is over none is left."""
    servers = stamped(2)
    given = settings(min_interval=MS)
    assert given.workers > 4
    seen: list[int] = []

    def threads() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name.startswith("links")}

    before = threads()

    def progress(_done: int, _total: int) -> None:
        seen.append(len(threads() - before))

    urls = [server.url(f"/few/{n}?hold=0.02") for n in range(6) for server in servers]
    assert set(check(urls, given, progress=progress).values()) == {lp.OK}
    assert 0 < max(seen) <= len(servers) * given.per_host, seen
    assert threads() <= before


def test_connections_are_kept_alive_from_one_request_to_the_next(
    stamped: Callable[[int], list[Stamped]],
) -> None:
    """Twelve URLs on each of two hosts, whichever worker sends them: one connection
    per request in flight at a host, no more (plus the probe's)."""
    servers = stamped(2)
    given = settings(min_interval=MS)
    urls = [server.url(f"/alive/{n}") for n in range(12) for server in servers]
    assert set(check(urls, given).values()) == {lp.OK}
    for server in servers:
        assert len(server.stamps("/alive/")) == 12
        assert server.connections <= given.per_host + 1, server.connections


def test_a_cookie_set_on_the_way_goes_with_that_url_only(
    stamped: Callable[[int], list[Stamped]],
) -> None:
    """A site that sets a cookie and redirects to a page that wants it back: the
    cookie goes with the rest of that URL's conversation, and with no other URL's
    (each check starts without cookies)."""
    (server,) = stamped(1)
    given = settings(min_interval=MS)
    urls = [server.url(f"/cookie-gate/{n}") for n in range(3)]
    report = LinkChecker(given).run(urls, now=NOW, previous={})
    assert {(r.klass, r.status) for r in report.results.values()} == {(lp.REDIRECTED, 200)}
    for n in range(3):
        assert server.cookies(f"/cookie-gate/{n}") == [None, "seen=1"]


@pytest.mark.e2e
def test_a_callers_session_is_paced_too(
    stamped: Callable[[int], list[Stamped]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session of the caller's: its stock adapter is replaced by the checker's, whose
    connections send each head when the host's turn comes, exactly as with the
    checker's own session. An adapter of the caller's own connects as it likes, so
    the checker can only wait its turn before handing the request over: the turns it
    hands requests over at are min_interval apart, and every request reaches the
    site. (How far apart they then arrive is the caller's adapter's doing: a first
    request that opens its connection arrives later after its turn than the next,
    by however long this machine takes to connect right now.)"""
    server, other = stamped(2)
    given = settings(min_interval=40 * MS)
    interval = given.min_interval.total_seconds()
    turns: dict[str, list[float]] = {}
    pace_send = linkcheck._Pace.send

    def noted(pace: linkcheck._Pace, host: str, send: Callable[[], None], *, until: float) -> None:
        def sending() -> None:
            turns.setdefault(host, []).append(time.monotonic())
            send()

        pace_send(pace, host, sending, until=until)

    monkeypatch.setattr(linkcheck._Pace, "send", noted)

    class Own(requests.adapters.HTTPAdapter):
        pass

    for host, adapter in ((server, None), (other, Own())):
        session = requests.Session()
        session.trust_env = False
        if adapter is not None:
            session.mount("http://", adapter)
        turns.clear()
        urls = [host.url(f"/caller/{n}") for n in range(6)]
        assert set(check(urls, given, session=session).values()) == {lp.OK}
        stamps = host.stamps("/caller/")
        assert len(stamps) == 6
        [turned] = turns.values()  # one host's
        handed = [b - a for a, b in itertools.pairwise(turned)]
        assert len(handed) == 5
        assert min(handed) >= interval * (1 - 1e-9), handed
        if adapter is None:
            gaps = [(b - a) / 1e9 for a, b in itertools.pairwise(stamps)]
            assert min(gaps) >= interval * (1 - 1e-9), gaps


class _CountedHeaps:
    """`heapq` as the scheduler uses it, counting the pushes and pops."""

    def __init__(self) -> None:
        self.operations = 0

    def heappush(self, heap: list[Any], item: Any) -> None:
        self.operations += 1
        heapq.heappush(heap, item)

    def heappop(self, heap: list[Any]) -> Any:
        self.operations += 1
        return heapq.heappop(heap)


@pytest.mark.parametrize("claimed", [False, True])
def test_the_scheduler_looks_at_each_host_a_few_times_whatever_the_hosts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, claimed: bool
) -> None:
    """Thousands of hosts: the scheduler's work per URL stays bounded (it once sorted
    and visited every host with work at each turn: 10.6 s of its own for 40,000 URLs
    on 20,000 hosts), the hosts with most work start first, and `per_host` holds."""
    heaps = _CountedHeaps()
    monkeypatch.setattr(linkcheck, "heapq", heaps)
    lock = threading.Lock()
    in_flight: Counter[str] = Counter()
    most: Counter[str] = Counter()
    order: list[str] = []

    def answer(self: Any, check: Any, watch: Any, *, session: Any, pace: Any) -> Any:
        with lock:
            in_flight[check.host] += 1
            most[check.host] = max(most[check.host], in_flight[check.host])
            order.append(check.host)
        time.sleep(0.0005)
        with lock:
            in_flight[check.host] -= 1
        return linkcheck._Answer(status=200)

    monkeypatch.setattr(linkcheck.LinkChecker, "_request", answer)
    # 3,000 hosts of one URL each, and one host of 40 listed last.
    urls = [f"https://h{n}.example/a" for n in range(3000)]
    urls += [f"https://big.example/{n}" for n in range(40)]
    settings = LinkCheckSettings(min_interval=timedelta(0), workers=16, per_host=2)
    checker = LinkChecker(settings)
    checks = [linkcheck._Check(u, u, u) for u in urls]
    if claimed:
        with Store(tmp_path / "state.sqlite") as store:
            claims = linkcheck._Claims(store, ttl=60.0)
            done = checker._check_all(checks, claims=claims)
            claims.close()
    else:
        done = checker._check_all(checks)
    assert sorted(done) == sorted(urls)
    assert len(order) == len(urls)
    assert max(most.values()) <= 2
    assert "big.example" in order[:16], "the host with most work did not start first"
    assert heaps.operations <= 12 * len(urls), heaps.operations


@pytest.mark.parametrize("after", ["1", None])
def test_a_refused_request_does_not_cut_short_the_wait_its_host_asked_for(
    monkeypatch: pytest.MonkeyPatch, after: str | None
) -> None:
    """A 429 holds the host (for its Retry-After, or a backoff without one); a request
    to the same host refused before it was sent (a port not allowed) gives back its
    own unused interval, never that wait."""
    starts: list[tuple[float, str]] = []

    def answer(self: Any, check: Any, watch: Any, *, session: Any, pace: Any) -> Any:
        starts.append((time.monotonic(), check.current))
        if "busy" in check.current:
            return linkcheck._Answer(status=429, headers={"retry-after": after} if after else {})
        if ":8443" in check.current:
            time.sleep(0.05)  # refused after the 429 came back
            return linkcheck._Answer(failure=lp.UNSUPPORTED, reason="port", vetted_out=True)
        return linkcheck._Answer(status=200)

    monkeypatch.setattr(linkcheck.LinkChecker, "_request", answer)
    settings = LinkCheckSettings(workers=2, per_host=2, min_interval=timedelta(0), retries=0)
    urls = ["https://a.example/busy", "https://a.example:8443/x", "https://a.example/later"]
    begun = time.monotonic()
    LinkChecker(settings)._check_all([linkcheck._Check(u, u, u) for u in urls])
    (later,) = [t for t, url in starts if url.endswith("/later")]
    least = 1.0 if after else 0.25  # a first 429's backoff is at least 0.25 s
    assert later - begun >= least, (later - begun, starts)


def test_a_host_whose_lease_was_lost_is_claimed_again_and_its_work_done(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """A lease lost on renewal (expired and taken by another process meanwhile) leaves
    the host's queued checks to be claimed again, not forgotten."""

    def answer(self: Any, check: Any, watch: Any, *, session: Any, pace: Any) -> Any:
        time.sleep(0.02)
        return linkcheck._Answer(status=200)

    monkeypatch.setattr(linkcheck.LinkChecker, "_request", answer)
    urls = [f"https://a.example/{n}" for n in range(20)] + ["https://b.example/"]
    settings = LinkCheckSettings(workers=4, per_host=1, min_interval=timedelta(0))
    with Store(tmp_path / "state.sqlite") as store:
        renew = store.renew_hosts
        dropped: list[str] = []

        def renew_losing_a(owner: str, hosts: Any, ttl: float) -> set[str]:
            kept = renew(owner, hosts, ttl)
            if not dropped and "a.example" in kept:
                dropped.append("a.example")
                store.release_hosts(owner, {"a.example": 0.0})  # gone to nobody, say
                kept.discard("a.example")
            return kept

        monkeypatch.setattr(store, "renew_hosts", renew_losing_a)
        claims = linkcheck._Claims(store, ttl=0.15)
        done = LinkChecker(settings)._check_all(
            [linkcheck._Check(u, u, u) for u in urls], claims=claims
        )
        claims.close()
    assert dropped == ["a.example"]
    assert sorted(done) == sorted(urls)
