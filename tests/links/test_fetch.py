"""Fetching feed documents with the link checker (`LinkChecker.fetch`), against real
HTTP servers on 127.0.0.x (tests/farm.py, with the feed routes below added).

As in test_linkcheck.py, farm URLs are IP literals with high ports, so fetches run
with `allow_private=True` unless a test is about the address rules, each test marks
its URLs with a unique tag, and the only fake is an injected resolver. Times are
measured where the requests arrive and derived from the settings under test.
"""

from __future__ import annotations

import contextlib
import gzip
import itertools
import socket
import threading
import time
import tracemalloc
import uuid
import zlib
from collections.abc import Iterator
from datetime import timedelta
from email.utils import format_datetime
from functools import cache
from typing import Any
from urllib.parse import quote
from urllib.parse import urlsplit

import pytest
import requests
from conftest import NOW
from farm import Farm
from farm import Handler

from aggregator.errors import Cancelled
from aggregator.links import linkpolicy as lp
from aggregator.links.fetch import ACCEPT_ENCODING
from aggregator.links.fetch import FEED_ACCEPT
from aggregator.links.fetch import Fetched
from aggregator.links.fetch import FetchRequest
from aggregator.links.fetch import max_age
from aggregator.links.linkcheck import LinkChecker
from aggregator.links.linkcheck import _Check
from aggregator.links.linkpolicy import LinkCheckSettings
from aggregator.links.netguard import Refusal
from aggregator.links.netguard import vet
from aggregator.stories.urls import canonical_url

MS = timedelta(milliseconds=1)
MB = 1024 * 1024
FEED = (
    b"""<?xml version="1.0"?>
<rss version="2.0"><channel><title>Test feed</title><link>http://example.com/</link>
<description>A feed</description><item><title>One</title><link>http://example.com/1</link>
</item></channel></rss>
"""
    * 20
)
ETAG = '"v1"'
LAST_MODIFIED = "Sat, 21 Nov 2026 10:00:00 GMT"

#: request headers the feed routes saw, by path with its query
SEEN_HEADERS: dict[str, list[dict[str, str]]] = {}
_SEEN_LOCK = threading.Lock()


@cache
def bomb() -> bytes:
    """50 MB of zeros, gzipped (about 50 KB), built without holding the 50 MB."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(MB)
    return b"".join([*(packer.compress(zeros) for _ in range(50)), packer.flush()])


def encoded(body: bytes, coding: str) -> bytes:
    if coding in ("gzip", "x-gzip"):
        return gzip.compress(body)
    if coding == "deflate":
        return zlib.compress(body)
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)  # raw deflate, as some servers send
    return packer.compress(body) + packer.flush()


class FeedHandler(Handler):
    """The farm's routes, and the feed routes of these tests."""

    def serve(self, method: str) -> None:
        self.fixed_date: str | None = None  # one connection may serve several requests
        with _SEEN_LOCK:
            SEEN_HEADERS.setdefault(self.path, []).append(dict(self.headers.items()))
        super().serve(method)

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The Date header: a test's own when it gives one (for Expires - Date).
        return self.fixed_date or super().date_time_string(timestamp)

    def route(self, method: str, path: str, query: dict[str, list[str]], seen: int) -> None:
        value = {k: v[0] for k, v in query.items()}
        if path == "/feed":  # a feed with validators; a conditional request gets a 304
            validators = {"ETag": ETAG, "Last-Modified": LAST_MODIFIED}
            if (
                self.headers.get("If-None-Match") == ETAG
                or self.headers.get("If-Modified-Since") == LAST_MODIFIED
            ):
                self.answer(304, {} if "bare" in value else validators)
            else:
                self.answer(200, {"Content-Type": "application/rss+xml", **validators}, FEED)
        elif path == "/encoded":  # the feed in a Content-Encoding; `corrupt` breaks it
            coding = value.get("coding", "gzip")
            body = encoded(FEED, coding)
            if "corrupt" in value:
                body = body[:20] + b"\xff" * 20 + body[40:]
            header = "deflate" if coding == "raw-deflate" else coding
            self.answer(200, {"Content-Encoding": header}, body)
        elif path == "/bomb":
            self.answer(200, {"Content-Encoding": "gzip"}, bomb())
        elif path == "/claims":  # says it is `n` bytes long, then sends nothing
            self.headers_only({"Content-Length": value["n"]})
            self.wait_for_hangup()
        elif path == "/short":  # says it is `n` bytes long, sends 10 and hangs up
            self.headers_only({"Content-Length": value["n"], "ETag": ETAG})
            self.wfile.write(b"x" * 10)
        elif path == "/endless":  # a chunked body that never ends
            self.headers_only({"Transfer-Encoding": "chunked"})
            chunk = b"%x\r\n%s\r\n" % (64 * 1024, b"x" * 64 * 1024)
            self.keep_writing(lambda: chunk, every=0.0, limit=float(value.get("limit", "60")))
        elif path == "/drip":  # a byte every `every` seconds, for `limit` seconds at most
            self.headers_only({"Content-Length": str(MB)})
            self.keep_writing(
                lambda: b"x", every=float(value["every"]), limit=float(value["limit"])
            )
        elif path == "/slowhead":  # the feed, its status line and headers a byte every `every` s
            self.drip_head(float(value["every"]), int(value.get("pad", "0")))
        elif path == "/cached":  # the freshness headers a test asks for
            self.fixed_date = value.get("date")
            wanted = {"Cache-Control": value.get("cc"), "Expires": value.get("exp")}
            self.answer(200, {k: v for k, v in wanted.items() if v is not None}, FEED)
        else:
            super().route(method, path, query, seen)

    def headers_only(self, headers: dict[str, str]) -> None:
        self.send_response(200)
        for name, header in headers.items():
            self.send_header(name, header)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True

    def drip_head(self, every: float, pad: int) -> None:
        """Send the status line and headers (with `pad` bytes of padding) a byte at a
        time, `every` seconds apart, then the feed at once; until the client hangs up."""
        head = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
            b"Content-Length: %d\r\nX-Pad: %s\r\n\r\n" % (len(FEED), b"a" * pad)
        )
        self.close_connection = True
        with contextlib.suppress(OSError):  # the client hung up
            for byte in head:
                self.wfile.write(bytes([byte]))
                time.sleep(every)
            self.wfile.write(FEED)

    def keep_writing(self, data: Any, *, every: float, limit: float) -> None:
        """Write `data()` until the client hangs up, or for `limit` seconds."""
        end = time.monotonic() + limit
        try:
            while time.monotonic() < end:
                self.wfile.write(data())
                self.wfile.flush()
                time.sleep(every)
        except OSError:
            pass  # the client hung up, as it should

    def wait_for_hangup(self) -> None:
        self.connection.settimeout(60)
        with contextlib.suppress(OSError):
            self.connection.recv(1)


def feed_farm(hosts: int) -> Farm:
    farm = Farm(hosts=hosts)
    for server in farm.servers:
        server.RequestHandlerClass = FeedHandler
    return farm


@pytest.fixture(scope="module")
def farm() -> Iterator[Farm]:
    servers = feed_farm(2)
    yield servers
    servers.close()


@pytest.fixture
def own_farm() -> Iterator[Farm]:
    """A fresh host, for tests that read `max_in_flight` or every request it saw."""
    servers = feed_farm(1)
    yield servers
    servers.close()


@pytest.fixture
def tag() -> str:
    return f"f{uuid.uuid4().hex[:10]}x"


def fast(**changes: Any) -> LinkCheckSettings:
    values: dict[str, Any] = {
        "allow_private": True,
        "min_interval": 5 * MS,
        "timeout": timedelta(seconds=2),
        "deadline": timedelta(seconds=5),
        "retries": 0,
    }
    values.update(changes)
    return LinkCheckSettings(**values)


def fetch_one(
    url: str,
    settings: LinkCheckSettings | None = None,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    max_bytes: int = 10 * MB,
    **checker: Any,
) -> Fetched:
    fetched = LinkChecker(settings or fast(), **checker).fetch(
        [FetchRequest(url, etag, last_modified)], max_bytes=max_bytes
    )
    assert list(fetched) == [url]
    return fetched[url]


def tagged(farm: Farm, host: int, path: str, tag: str) -> str:
    return farm.url(host, f"{path}{'&' if '?' in path else '?'}t={tag}")


def headers_seen(url: str) -> list[dict[str, str]]:
    parts = urlsplit(url)
    with _SEEN_LOCK:
        return SEEN_HEADERS.get(f"{parts.path}?{parts.query}", [])


def requests_seen(farm: Farm, host: int, marker: str) -> list[tuple[str, str, float]]:
    log = farm.log(host)
    with log.lock:
        return [r for r in log.requests if marker in r[1]]


def redirect(farm: Farm, to: str, status: int) -> str:
    return farm.url(0, f"/redirect?to={quote(to, safe='')}&status={status}")


# --- a document, then a 304 ---------------------------------------------------------


def test_a_feed_comes_with_its_validators_and_a_second_fetch_is_conditional(
    farm: Farm, tag: str
) -> None:
    url = tagged(farm, 0, "/feed", tag)
    first = fetch_one(url)
    assert (first.status, first.body, first.error) == (200, FEED, None)
    assert (first.etag, first.last_modified) == (ETAG, LAST_MODIFIED)
    assert (first.final_url, first.moved_to) == (url, None)
    assert first.content_type == "application/rss+xml"

    second = fetch_one(url, etag=first.etag, last_modified=first.last_modified)
    assert (second.status, second.body, second.error) == (304, None, None)
    assert (second.etag, second.last_modified) == (ETAG, LAST_MODIFIED)

    sent = headers_seen(url)
    assert [h.get("If-None-Match") for h in sent] == [None, ETAG]
    assert [h.get("If-Modified-Since") for h in sent] == [None, LAST_MODIFIED]
    assert [method for method, _path, _time in requests_seen(farm, 0, tag)] == ["GET", "GET"]
    assert all(h["Accept"] == FEED_ACCEPT for h in sent)
    assert all(h["Accept-Encoding"] == ACCEPT_ENCODING for h in sent)
    assert all(h["User-Agent"] == lp.DEFAULT_USER_AGENT for h in sent)


def test_a_304_without_validators_repeats_the_requests(farm: Farm, tag: str) -> None:
    url = tagged(farm, 0, "/feed?bare=1", tag)
    unchanged = fetch_one(url, etag=ETAG, last_modified=LAST_MODIFIED)
    assert (unchanged.status, unchanged.error) == (304, None)
    assert (unchanged.etag, unchanged.last_modified) == (ETAG, LAST_MODIFIED)


def test_validators_no_header_can_carry_are_left_out(farm: Farm, tag: str) -> None:
    url = tagged(farm, 0, "/feed", tag)
    fetched = fetch_one(url, etag='"v1"\r\nX-Injected: 1', last_modified="Sat, 21 Nov 2026 ☃")
    assert (fetched.status, fetched.body) == (200, FEED)
    (sent,) = headers_seen(url)
    assert not {"If-None-Match", "If-Modified-Since", "X-Injected"} & set(sent)


def test_a_callers_session_keeps_its_own_headers(farm: Farm, tag: str) -> None:
    session = requests.Session()
    session.trust_env = False
    session.headers["User-Agent"] = "Mine/1.0"
    url = tagged(farm, 0, "/feed", tag)
    fetched = fetch_one(url, session=session)
    assert fetched.body == FEED
    (sent,) = headers_seen(url)
    assert (sent["User-Agent"], sent["Accept"]) == ("Mine/1.0", FEED_ACCEPT)
    assert sent["Accept-Encoding"] == ACCEPT_ENCODING


# --- bodies: encodings and limits ---------------------------------------------------


@pytest.mark.parametrize("coding", ["gzip", "x-gzip", "deflate", "raw-deflate"])
def test_a_compressed_body_is_decoded(farm: Farm, tag: str, coding: str) -> None:
    fetched = fetch_one(tagged(farm, 0, f"/encoded?coding={coding}", tag))
    assert (fetched.status, fetched.body, fetched.error) == (200, FEED, None)


def test_a_broken_gzip_stream_is_refused(farm: Farm, tag: str) -> None:
    fetched = fetch_one(tagged(farm, 0, "/encoded?coding=gzip&corrupt=1", tag))
    assert (fetched.status, fetched.body) == (200, None)
    assert fetched.error is not None and fetched.error.startswith("bad gzip stream: ")


def test_a_gzip_bomb_is_refused_once_it_passes_the_limit(farm: Farm, tag: str) -> None:
    """50 MB of zeros in 50 KB: refused when the decoded bytes pass max_bytes (1 MB),
    never holding much more than that."""
    bomb()  # built before the measure
    tracemalloc.start()
    try:
        fetched = fetch_one(tagged(farm, 0, "/bomb", tag), max_bytes=MB)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (fetched.status, fetched.body) == (200, None)
    assert fetched.error == "larger than 1 MB once decompressed"
    assert peak < 8 * MB, f"{peak / MB:.1f} MB held while decoding"


def test_a_content_length_over_the_limit_is_refused_before_reading(farm: Farm, tag: str) -> None:
    """The server sends no body at all: anything but the length would wait for it."""
    fetched = fetch_one(tagged(farm, 0, f"/claims?n={2 * MB}", tag), max_bytes=MB)
    assert (fetched.status, fetched.body, fetched.error) == (200, None, "larger than 1 MB")


def test_an_endless_stream_is_refused_by_its_size(farm: Farm, tag: str) -> None:
    settings = fast(deadline=timedelta(seconds=30), timeout=timedelta(seconds=10))
    fetched = fetch_one(tagged(farm, 0, "/endless", tag), settings, max_bytes=MB)
    assert (fetched.status, fetched.body, fetched.error) == (200, None, "larger than 1 MB")


@pytest.mark.e2e
def test_a_slow_drip_is_refused_at_the_deadline(farm: Farm, tag: str) -> None:
    """A byte every twentieth of the deadline keeps every read under the timeout, and
    would go on for 20 deadlines: the fetch ends at the deadline."""
    settings = fast(deadline=timedelta(seconds=1), timeout=timedelta(milliseconds=500))
    deadline = settings.deadline.total_seconds()
    url = tagged(farm, 0, f"/drip?every={deadline / 20}&limit={20 * deadline}", tag)
    began = time.monotonic()
    fetched = fetch_one(url, settings)
    took = time.monotonic() - began
    assert (fetched.status, fetched.body) == (200, None)
    assert fetched.error == "did not finish within 1 s"
    assert deadline <= took < 10 * deadline


@pytest.mark.e2e
def test_a_stall_before_the_deadline_ends_at_the_deadline_not_a_timeout_later(
    farm: Farm, tag: str
) -> None:
    """One byte, then nothing for longer than the timeout: the read waits only as long
    as the deadline leaves."""
    settings = fast(deadline=timedelta(seconds=1), timeout=timedelta(seconds=5))
    deadline = settings.deadline.total_seconds()
    url = tagged(farm, 0, f"/drip?every={20 * deadline}&limit={20 * deadline}", tag)
    began = time.monotonic()
    fetched = fetch_one(url, settings)
    took = time.monotonic() - began
    assert (fetched.status, fetched.error) == (200, "did not finish within 1 s")
    assert deadline <= took < settings.timeout.total_seconds()


def fetch_took(url: str, settings: LinkCheckSettings) -> tuple[Fetched, float]:
    began = time.monotonic()
    fetched = fetch_one(url, settings)
    return fetched, time.monotonic() - began


@pytest.mark.e2e
def test_headers_dripped_a_byte_at_a_time_end_at_the_deadline(farm: Farm, tag: str) -> None:
    """Every byte of the status line and headers comes well within the timeout, and all
    of them would take 20 deadlines: the fetch ends at the deadline, with no answer."""
    settings = fast(deadline=timedelta(seconds=1), timeout=timedelta(milliseconds=500))
    deadline = settings.deadline.total_seconds()
    every = deadline / 20
    _, overhead = fetch_took(tagged(farm, 1, "/feed", tag), settings)
    margin = deadline / 2 + 4 * overhead
    url = tagged(farm, 0, f"/slowhead?every={every}&pad={int(20 * deadline / every)}", tag)
    threads = {t for t in threading.enumerate() if t.name.startswith("links")}
    fetched, took = fetch_took(url, settings)
    assert (fetched.status, fetched.body) == (None, None)
    assert fetched.error == "did not finish within 1 s"
    assert deadline <= took < deadline + margin, (took, overhead)
    assert {t for t in threading.enumerate() if t.name.startswith("links")} <= threads


@pytest.mark.e2e
def test_a_feed_dripped_within_the_deadline_is_fetched(farm: Farm, tag: str) -> None:
    """Slow, a byte at a time, but all there by a quarter of the deadline: no failure."""
    settings = fast(deadline=timedelta(seconds=2), timeout=timedelta(seconds=1))
    every = settings.deadline.total_seconds() / 4 / 100  # the head is under 100 bytes
    fetched = fetch_one(tagged(farm, 0, f"/slowhead?every={every}", tag), settings)
    assert (fetched.status, fetched.body, fetched.error) == (200, FEED, None)


@pytest.mark.e2e
def test_a_fetch_dripped_among_link_checks_ends_at_the_deadline(farm: Farm, tag: str) -> None:
    """Link checks and fetches in one run each end at their own deadline."""
    settings = fast(deadline=timedelta(seconds=1), timeout=timedelta(milliseconds=500))
    deadline = settings.deadline.total_seconds()
    every = deadline / 20
    _, overhead = fetch_took(tagged(farm, 1, "/feed", tag), settings)
    margin = deadline / 2 + 4 * overhead
    slow = f"/slowhead?every={every}&pad={int(20 * deadline / every)}"
    feed, link = tagged(farm, 0, slow + "&feed", tag), tagged(farm, 1, slow + "&link", tag)
    checks = [
        _Check(feed, feed, feed, method="GET", fetch=FetchRequest(feed)),
        _Check(canonical_url(link), link, link),
    ]
    began = time.monotonic()
    answers = LinkChecker(settings)._check_all(checks)
    took = time.monotonic() - began
    assert answers[feed][1].reason == "did not finish within 1 s"
    assert answers[canonical_url(link)][1].reason == "deadline passed"
    assert all(a.failure == lp.TIMEOUT and a.status is None for _, a in answers.values())
    assert deadline <= took < deadline + margin, (took, overhead)


def test_a_body_cut_short_is_a_connection_failure(farm: Farm, tag: str) -> None:
    fetched = fetch_one(tagged(farm, 0, "/short?n=1000", tag))
    assert (fetched.status, fetched.body) == (200, None)
    assert fetched.error is not None and fetched.error.startswith("connection failed: ")


def test_a_refused_connection_says_so_and_is_not_retried() -> None:
    # The reason was requests' wrapper text cut to 200 characters, which cut off the
    # socket's own "Connection refused": the checker then took the refusal for a reset
    # and retried it, with backoff.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = f"http://127.0.0.1:{port}/{'long/' * 20}feed.xml"
    fetched = fetch_one(url, fast(retries=2))
    assert fetched.error == "connection failed: Connection refused"
    settings = fast(retries=2)
    answers = LinkChecker(settings)._check_all([_Check(canonical_url(url), url, url)])
    (answer,) = (a for _, a in answers.values())
    assert (answer.reason, answer.retry, answer.reset) == (fetched.error, False, False)


@pytest.mark.e2e
def test_a_slow_answer_times_out(farm: Farm, tag: str) -> None:
    settings = fast(timeout=timedelta(milliseconds=300))
    fetched = fetch_one(tagged(farm, 0, "/slow?s=1.5", tag), settings)
    assert (fetched.status, fetched.body, fetched.error) == (None, None, "read timed out")


def test_a_body_refused_whole_keeps_its_validators_and_one_cut_short_does_not(
    farm: Farm, tag: str
) -> None:
    refused = fetch_one(tagged(farm, 0, "/feed", tag), max_bytes=100)
    assert refused.error is not None and refused.error.startswith("larger than")
    assert (refused.body, refused.etag, refused.last_modified) == (None, ETAG, LAST_MODIFIED)
    cut = fetch_one(tagged(farm, 0, "/short?n=100", tag), fast(retries=0))
    assert cut.error is not None and cut.error.startswith("connection failed")
    assert (cut.status, cut.etag) == (200, None)  # not all there: nothing to name


# --- statuses, retries, Retry-After ---------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status", "error"),
    [("/removed", 410, "410 Gone"), ("/gone", 404, "404 Not Found"), ("/error", 500, "500")],
)
def test_a_failed_answer_is_one_line(
    farm: Farm, tag: str, path: str, status: int, error: str
) -> None:
    fetched = fetch_one(tagged(farm, 0, path, tag))
    assert (fetched.status, fetched.body) == (status, None)
    assert fetched.error is not None and fetched.error.startswith(error)
    assert fetched.retry_after is None


@pytest.mark.e2e
def test_a_server_error_is_retried(farm: Farm, tag: str) -> None:
    url = farm.url(0, f"/t/{tag}/flaky?times=1")
    fetched = fetch_one(url, fast(retries=1))
    assert (fetched.status, fetched.error) == (200, None)
    assert len(requests_seen(farm, 0, tag)) == 2


def test_retry_after_is_not_waited_out_but_returned_at_once(farm: Farm, tag: str) -> None:
    url = farm.url(0, f"/t/{tag}/busy?after=600&times=99")
    fetched = fetch_one(url, fast(retries=2))
    assert (fetched.status, fetched.body) == (429, None)
    assert fetched.retry_after == 600.0  # the caller's next fetch: not inside this one
    assert fetched.error == "429 Too Many Requests"
    assert len(requests_seen(farm, 0, tag)) == 1


def test_a_retry_after_too_long_to_hold_is_no_crash(farm: Farm, tag: str) -> None:
    after = "9" * 40
    url = farm.url(0, f"/t/{tag}/busy?after={after}&times=99")
    fetched = fetch_one(url)
    assert (fetched.status, fetched.retry_after) == (429, 2147483648.0)
    # A link check waits it out, capped at retry_after_max, and stores nothing.
    settings = fast(retries=1, retry_after_max=50 * MS)
    report = LinkChecker(settings).run([url], now=NOW, previous={})
    assert canonical_url(url) not in report.results


# --- redirects ------------------------------------------------------------------------


def test_permanent_redirects_all_the_way_give_moved_to(farm: Farm, tag: str) -> None:
    feed = tagged(farm, 1, "/feed", tag)
    url = redirect(farm, redirect(farm, feed, 308), 301)
    fetched = fetch_one(url)
    assert (fetched.status, fetched.body, fetched.error) == (200, FEED, None)
    assert (fetched.url, fetched.final_url, fetched.moved_to) == (url, feed, feed)


@pytest.mark.parametrize("temporary", [302, 307])
def test_one_temporary_redirect_gives_no_moved_to(farm: Farm, tag: str, temporary: int) -> None:
    feed = tagged(farm, 1, "/feed", tag)
    url = redirect(farm, redirect(farm, redirect(farm, feed, 308), temporary), 301)
    fetched = fetch_one(url)
    assert (fetched.status, fetched.final_url, fetched.moved_to) == (200, feed, None)


def test_a_permanent_redirect_to_a_failure_gives_no_moved_to(farm: Farm, tag: str) -> None:
    gone = tagged(farm, 1, "/removed", tag)
    fetched = fetch_one(redirect(farm, gone, 301))
    assert (fetched.status, fetched.error, fetched.moved_to) == (410, "410 Gone", None)


def test_redirect_loops_and_long_chains_are_refused(farm: Farm) -> None:
    loop, chain = farm.url(0, "/loop-a"), farm.url(1, "/chain/11")
    fetched = LinkChecker(fast()).fetch([FetchRequest(loop), FetchRequest(chain)])
    assert fetched[loop].error == f"redirect loop at {farm.url(0, '/loop-a')}"
    assert fetched[chain].error == "more than 10 redirects"


# --- address rules --------------------------------------------------------------------


def test_a_url_that_cannot_be_fetched_is_refused_without_a_request(farm: Farm) -> None:
    before = farm.total_requests()
    urls = ["ftp://127.0.0.2/feed.xml", "not a url", "http://user:pw@127.0.0.2/feed"]
    fetched = LinkChecker(fast()).fetch([FetchRequest(url) for url in urls])
    assert all(f.status is None and f.error for f in fetched.values()), fetched
    assert farm.total_requests() == before


def test_a_stop_raises_cancelled(farm: Farm, tag: str) -> None:
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled, match="fetching feeds"):
        LinkChecker(fast()).fetch([FetchRequest(tagged(farm, 0, "/feed", tag))], cancel=stop)


def test_a_private_address_is_refused_and_never_connected_to(farm: Farm) -> None:
    address, port = farm.servers[0].server_address[:2]
    url = f"http://feeds.example:{port}/feed"
    settings = fast(allow_private=False, ports=frozenset({port}))

    def resolver(host: str, port: int) -> list[str]:
        assert host == "feeds.example"
        return [str(address)]

    refusal = vet(url, ports=settings.ports, resolver=resolver)
    assert isinstance(refusal, Refusal) and refusal.kind == "unsafe"
    before = farm.total_requests()
    fetched = fetch_one(url, settings, resolver=resolver)
    assert (fetched.status, fetched.body, fetched.error) == (None, None, refusal.reason)
    assert farm.total_requests() == before


# --- freshness ------------------------------------------------------------------------


def test_cache_control_and_expires_come_back_as_max_age(farm: Farm, tag: str) -> None:
    date = NOW
    expires = format_datetime(date + timedelta(minutes=10), usegmt=True)
    cases = {
        "cc=max-age%3D300": 300.0,
        "cc=s-maxage%3D60%2C%20max-age%3D120": 120.0,
        "cc=no-store": 0.0,
        f"cc=no-cache&exp={quote(expires)}": 0.0,
        f"exp={quote(expires)}&date={quote(format_datetime(date, usegmt=True))}": 600.0,
        "exp=0": 0.0,
        "x=1": None,
    }
    urls = {tagged(farm, 0, f"/cached?{query}", tag): want for query, want in cases.items()}
    fetched = LinkChecker(fast()).fetch([FetchRequest(url) for url in urls])
    assert {url: f.max_age for url, f in fetched.items()} == urls


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"cache-control": "max-age=60"}, 60.0),
        ({"cache-control": 'public, max-age="30"'}, 30.0),
        ({"cache-control": "MAX-AGE=45, must-revalidate"}, 45.0),
        ({"cache-control": "s-maxage=5"}, None),
        ({"cache-control": 'no-cache="set-cookie", max-age=9'}, 9.0),
        ({"cache-control": "no-store, max-age=9"}, 0.0),
        ({"cache-control": "max-age=" + "9" * 400}, 2147483648.0),
        ({"cache-control": "max-age=soon", "expires": "Sat, 21 Nov 2026 12:05:00 GMT"}, 300.0),
        ({"expires": "Sat, 21 Nov 2026 11:00:00 GMT"}, 0.0),
        ({"expires": "-1"}, 0.0),
        ({}, None),
    ],
)
def test_max_age_reads_cache_control_then_expires(
    headers: dict[str, str], seconds: float | None
) -> None:
    assert max_age(headers, NOW) == seconds


# --- politeness: the link checker's scheduler ----------------------------------------


@pytest.mark.e2e
def test_per_host_is_never_exceeded_across_many_feeds(own_farm: Farm) -> None:
    urls = [own_farm.url(0, f"/hold?s=0.2&n={n}") for n in range(8)]
    fetched = LinkChecker(fast(workers=16, per_host=2, min_interval=MS)).fetch(
        [FetchRequest(url) for url in urls]
    )
    assert [fetched[url].status for url in urls] == [200] * 8
    assert own_farm.log(0).max_in_flight <= 2


@pytest.mark.e2e
def test_min_interval_holds_between_feeds_on_one_host(own_farm: Farm) -> None:
    # Measured where the requests arrive: a busy machine delays some arrivals, so
    # the assertion wants half the interval the checker keeps.
    interval = timedelta(milliseconds=400)
    urls = [own_farm.url(0, f"/feed?n={n}") for n in range(5)]
    LinkChecker(fast(workers=16, per_host=2, min_interval=interval)).fetch(
        [FetchRequest(url) for url in urls]
    )
    starts = sorted(t for _m, _p, t in own_farm.log(0).requests)
    assert len(starts) == 5
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= interval.total_seconds() / 2, gaps


@pytest.mark.e2e
def test_link_checks_and_fetches_share_the_per_host_limits(own_farm: Farm) -> None:
    """Mixed in one run of the scheduler, both kinds count against one host's limits."""
    interval = timedelta(milliseconds=150)
    checker = LinkChecker(fast(workers=16, per_host=2, min_interval=interval))
    checks = []
    for n in range(4):
        page = own_farm.url(0, f"/hold?s=0.3&page={n}")
        feed = own_farm.url(0, f"/hold?s=0.3&feed={n}")
        checks.append(_Check(canonical_url(page), page, page))
        checks.append(_Check(feed, feed, feed, method="GET", fetch=FetchRequest(feed)))
    answers = checker._check_all(checks)
    assert {answer.status for _check, answer in answers.values()} == {200}
    log = own_farm.log(0)
    assert log.max_in_flight <= 2
    assert {m for m, _p, _t in log.requests} == {"HEAD", "GET"}
    starts = sorted(t for _m, _p, t in log.requests)
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= interval.total_seconds() / 2, gaps
