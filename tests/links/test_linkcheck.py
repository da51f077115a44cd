"""The link checker against real HTTP servers (tests/farm.py), a real SQLite state file
and the real `aggregator` command.

Every farm URL is an IP literal on 127.0.0.x with a high port, so the checks here run
with `allow_private=True` unless a test is about the SSRF rules. The only fake is an
injected `resolver=` for the DNS cases (there is no DNS in tests). Each test marks
its URLs with a unique tag (a query parameter, or the farm's `/t/<tag>/` prefix for
routes that count hits), so what a host saw can be told apart per test.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from urllib.parse import urlsplit
from xml.etree import ElementTree

import pytest
from conftest import NOW
from conftest import run_cli
from conftest import write_article
from farm import Farm
from farm import RawServer

from aggregator.app import cli
from aggregator.app.cli import summary
from aggregator.config import Config
from aggregator.engine.pipeline import build
from aggregator.errors import Cancelled
from aggregator.links import linkpolicy as lp
from aggregator.links.linkcheck import LinkChecker
from aggregator.links.linkcheck import LinkReport
from aggregator.links.linkpolicy import Freshness
from aggregator.links.linkpolicy import LinkCheckSettings
from aggregator.model import BuildReport
from aggregator.model import LinkResult
from aggregator.state.store import Store
from aggregator.stories.urls import canonical_url

MS = timedelta(milliseconds=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

FAST_CONFIG = """\
link_check:
  min_interval: 10ms
  timeout: 1s
  deadline: 3s
  retries: 1
"""


# --- fixtures and helpers ----------------------------------------------------------


@pytest.fixture(scope="module")
def farm() -> Iterator[Farm]:
    """Four hosts shared by the module; tests tell their requests apart by tag."""
    servers = Farm(hosts=4)
    yield servers
    servers.close()


@pytest.fixture
def own_farm() -> Iterator[Farm]:
    """Two fresh hosts, for tests that read `max_in_flight` or every request a host saw."""
    servers = Farm(hosts=2)
    yield servers
    servers.close()


@pytest.fixture
def tag() -> str:
    """A marker unique to the test, put in every URL it checks."""
    return f"k{uuid.uuid4().hex[:10]}x"


def fast(**changes: Any) -> LinkCheckSettings:
    """Settings that reach the farm and keep the tests quick (no retries unless asked,
    no TTL jitter so that fresh/stale is exact)."""
    values: dict[str, Any] = {
        "allow_private": True,
        "min_interval": 5 * MS,
        "timeout": 800 * MS,
        "deadline": timedelta(seconds=3),
        "retries": 0,
        "freshness": Freshness(jitter=0.0),
    }
    values.update(changes)
    return LinkCheckSettings(**values)


def check(
    urls: Sequence[str],
    settings: LinkCheckSettings | None = None,
    *,
    previous: dict[str, LinkResult] | None = None,
    resolver: Callable[[str, int], Sequence[str]] | None = None,
    now: datetime = NOW,
) -> LinkReport:
    checker = LinkChecker(settings or fast(), resolver=resolver)
    return checker.run(urls, now=now, previous=previous or {})


def result_of(report: LinkReport, url: str) -> LinkResult:
    found = report.results.get(canonical_url(url))
    assert found is not None, f"no result for {url}: {report.results}"
    return found


def seen(farm: Farm, host: int, marker: str) -> list[tuple[str, str, float]]:
    """(method, path, time) of every request `host` saw whose path holds `marker`."""
    log = farm.log(host)
    with log.lock:
        return [r for r in log.requests if marker in r[1]]


def methods(farm: Farm, host: int, marker: str) -> list[str]:
    return [method for method, _path, _time in seen(farm, host, marker)]


def with_tag(farm: Farm, host: int, path: str, tag: str) -> str:
    return farm.url(host, f"{path}{'&' if '?' in path else '?'}t={tag}")


def redirect(farm: Farm, host: int, to: str, tag: str, status: int = 301) -> str:
    return farm.url(host, f"/redirect?to={quote(to, safe='')}&status={status}&t={tag}")


def failing_resolver(errno: int, calls: list[str] | None = None) -> Callable[[str, int], list[str]]:
    def resolve(host: str, port: int) -> list[str]:
        if calls is not None:
            calls.append(host)
        raise socket.gaierror(errno, "resolver says no (test)")

    return resolve


def stored(
    url: str, klass: str, checked: datetime, fresh_for: timedelta, **more: Any
) -> LinkResult:
    """A result as an earlier run would have stored it."""
    values: dict[str, Any] = {
        "url": canonical_url(url),
        "klass": klass,
        "status": {lp.OK: 200, lp.BROKEN: 404}.get(klass),
        "reason": {lp.OK: "200 OK", lp.BROKEN: "404 Not Found"}.get(klass, "earlier"),
        "final_url": None,
        "checked_at": checked,
        "next_check_at": checked + fresh_for,
        "failures": 0 if klass == lp.OK else 1,
        "broken_since": checked if klass == lp.BROKEN else None,
    }
    values.update(more)
    return LinkResult(**values)


def config_for(tmp_path: Path, settings: LinkCheckSettings, links: str = "on") -> Config:
    return Config(
        sources=(tmp_path / "articles",),
        output=tmp_path / "out",
        links=links,
        link_check=settings,
        state=tmp_path / "state.sqlite",
    )


def excluded_codes(report: BuildReport) -> dict[str, str]:
    """File name -> exclusion code, for articles left out of every feed."""
    return {Path(e.path).name: e.code for e in report.excluded if e.topic is None}


def feed_text(tmp_path: Path, name: str = "all.rss") -> str:
    return (tmp_path / "out" / name).read_text(encoding="utf-8")


def rss_items(tmp_path: Path) -> dict[str, list[str]]:
    """Item link -> enclosure URLs in the all-topics RSS feed."""
    root = ElementTree.fromstring(feed_text(tmp_path).encode("utf-8"))
    return {
        item.findtext("link") or "": [e.get("url") or "" for e in item.findall("enclosure")]
        for item in root.iter("item")
    }


# --- one class per answer ------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "klass", "status"),
    [
        ("/ok", lp.OK, 200),
        ("/gone", lp.BROKEN, 404),
        ("/removed", lp.BROKEN, 410),
        ("/auth", lp.BLOCKED, 401),
        ("/forbidden", lp.BLOCKED, 403),
        ("/legal", lp.BLOCKED, 451),
        ("/linkedin", lp.BLOCKED, 999),
        ("/challenge", lp.BLOCKED, 403),
        # the challenge header decides, whatever the status says
        ("/cf?status=200", lp.BLOCKED, 200),
        ("/cf?status=503", lp.BLOCKED, 503),
        ("/teapot", lp.UNKNOWN, 418),
    ],
)
def test_an_answer_gets_its_class_raw_status_and_reason(
    farm: Farm, tag: str, path: str, klass: str, status: int
) -> None:
    url = with_tag(farm, 0, path, tag)
    result = result_of(check([url]), url)
    assert (result.klass, result.status) == (klass, status)
    assert result.reason.startswith(str(status)), result.reason
    assert result.final_url is None
    assert result.url == canonical_url(url)
    assert result.checked_at == NOW
    assert result.next_check_at > NOW
    assert methods(farm, 0, tag), "the farm saw no request"


@pytest.mark.parametrize("path", ["/gone", "/auth", "/forbidden", "/linkedin", "/teapot"])
def test_a_final_answer_is_not_retried(farm: Farm, tag: str, path: str) -> None:
    """Only timeouts, 5xx and resets are retried; each method is sent once otherwise."""
    url = with_tag(farm, 0, path, tag)
    check([url], fast(retries=2))
    sent = Counter(methods(farm, 0, tag))
    assert sent, "the farm saw no request"
    assert all(n == 1 for n in sent.values()), f"{path} was retried: {dict(sent)}"


def test_a_redirect_keeps_the_final_url(farm: Farm, tag: str) -> None:
    target = with_tag(farm, 1, "/ok", tag)
    url = redirect(farm, 0, target, tag)
    result = result_of(check([url]), url)
    assert (result.klass, result.status, result.final_url) == (lp.REDIRECTED, 200, target)
    assert methods(farm, 0, tag) == ["HEAD"]
    assert methods(farm, 1, tag) == ["HEAD"]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_every_redirect_status_is_followed(farm: Farm, tag: str, status: int) -> None:
    target = farm.url(0, f"/ok?t={tag}&s={status}")
    url = redirect(farm, 0, target, tag, status)
    result = result_of(check([url]), url)
    assert (result.klass, result.final_url) == (lp.REDIRECTED, target)


def test_a_name_that_does_not_resolve_while_another_resolves_is_broken(
    farm: Farm, tag: str
) -> None:
    calls: list[str] = []
    port = farm.servers[0].server_address[1]
    url = "http://nowhere.example/story"
    other = f"http://there.example:{port}/ok?t={tag}"

    def resolver(host: str, port: int) -> list[str]:
        calls.append(host)
        if host == "there.example":
            return ["127.0.0.2"]
        raise socket.gaierror(socket.EAI_NONAME, "no such name (test)")

    report = check([url, other], resolver=resolver)
    result = result_of(report, url)
    assert (result.klass, result.status, result.broken_since) == (lp.BROKEN, None, NOW)
    assert "does not resolve" in result.reason
    assert "nowhere.example" in calls
    assert not report.network_down


def test_a_name_that_does_not_resolve_when_no_name_does_is_in_doubt() -> None:
    """A resolver that says "no such name" for everything is not proof of a dead link
    (#15): with no other name to look up, the answer is transient."""
    url = "http://nowhere.example/story"
    report = check([url], resolver=failing_resolver(socket.EAI_NONAME))
    result = result_of(report, url)
    assert (result.klass, result.status, result.broken_since) == (lp.UNKNOWN, None, None)
    assert "does not resolve" in result.reason
    assert "resolver could not be confirmed" in result.reason
    assert not report.network_down


def test_a_tls_failure_is_reported(farm: Farm, tag: str) -> None:
    # The farm speaks plain HTTP: a TLS handshake with it fails. No other host spoke
    # TLS in the run, so it is in doubt (tests/test_link_outages.py has the rest).
    url = with_tag(farm, 1, "/ok", tag).replace("http://", "https://", 1)
    result = result_of(check([url]), url)
    assert (result.klass, result.status) == (lp.UNKNOWN, None)
    assert re.search("TLS|SSL", result.reason), result.reason


def test_rate_limited_is_never_stored(farm: Farm, tag: str, tmp_path: Path) -> None:
    url = farm.url(0, f"/t/{tag}/busy?after=0&times=1000")
    key = canonical_url(url)

    report = check([url], fast(retries=1))
    assert methods(farm, 0, tag), "the farm saw no request"
    assert key not in report.results, report.results.get(key)

    earlier = stored(url, lp.OK, NOW - 8 * DAY, DAY)  # stale: checked again
    report = check([url], fast(retries=1), previous={key: earlier})
    assert report.results[key] == earlier

    # Through a build: the stored first strike stays as it was.
    write_article(tmp_path / "articles", "busy.md", n=1, webUrl=url, images=None)
    strike = stored(url, lp.BROKEN, NOW - 25 * HOUR, HOUR)
    with Store(tmp_path / "state.sqlite") as store:
        store.save_links([strike])
        before = len(seen(farm, 0, tag))
        built = build(config_for(tmp_path, fast(retries=1)), now=NOW, store=store)
        assert len(seen(farm, 0, tag)) > before, "the build did not check the link"
        assert store.link(key) == strike
    assert built.published == 1


@pytest.mark.e2e
def test_a_slow_answer_is_a_timeout(farm: Farm, tag: str) -> None:
    url = farm.url(0, f"/slow?s=1.5&t={tag}")
    result = result_of(check([url], fast(timeout=300 * MS)), url)
    assert (result.klass, result.status) == (lp.TIMEOUT, None)
    assert "timed out" in result.reason


@pytest.mark.parametrize(
    ("path", "klass", "status", "retries"),
    [
        ("/error", lp.SERVER_ERROR, 500, 0),
        ("/error", lp.SERVER_ERROR, 500, 1),
        ("/unavailable", lp.SERVER_ERROR, 503, 1),
        ("/slow?s=1", lp.TIMEOUT, None, 1),
    ],
)
@pytest.mark.e2e
def test_server_errors_and_timeouts_are_retried(
    farm: Farm, tag: str, path: str, klass: str, status: int | None, retries: int
) -> None:
    url = with_tag(farm, 0, path, tag)
    result = result_of(check([url], fast(retries=retries, timeout=300 * MS)), url)
    assert (result.klass, result.status) == (klass, status)
    assert len(seen(farm, 0, tag)) == 1 + retries, seen(farm, 0, tag)


@pytest.mark.e2e
def test_a_retry_that_succeeds_is_ok(farm: Farm, tag: str) -> None:
    url = farm.url(0, f"/t/{tag}/flaky?times=1")
    result = result_of(check([url], fast(retries=1)), url)
    assert (result.klass, result.status, result.failures) == (lp.OK, 200, 0)
    assert len(seen(farm, 0, tag)) == 2


@pytest.mark.parametrize(
    ("url", "addresses"),
    [
        ("http://127.0.0.1/", None),
        ("http://localhost/", None),
        ("http://10.0.0.1/", None),
        ("http://169.254.169.254/latest/meta-data/", None),
        ("http://[::1]/", None),
        ("http://intranet.example/", ["10.1.2.3"]),
        ("http://rebind.example/", ["93.184.216.34", "127.0.0.1"]),
    ],
)
def test_a_private_address_is_unsafe(url: str, addresses: list[str] | None) -> None:
    """A name is unsafe for what it resolves to once the resolver is shown to work: a
    name known to exist (stored ok, fresh: only looked up) resolves to a public address."""
    known = "https://news.example/story"
    stored = lp.record(None, canonical_url(known), lp.OK, 200, "200 OK", None, NOW, Freshness())

    def resolver(host: str, port: int) -> list[str]:
        if host == "news.example":
            return ["93.184.216.34"]
        if addresses is None:
            raise AssertionError(f"{host} should not be looked up")
        return addresses

    report = check(
        [url, known], fast(allow_private=False), previous={stored.url: stored}, resolver=resolver
    )
    result = result_of(report, url)
    assert (result.klass, result.status) == (lp.UNSAFE, None)
    assert result.reason


def test_a_farm_url_is_unsafe_without_allow_private_and_no_request_is_sent(
    farm: Farm, tag: str
) -> None:
    before = farm.total_requests()
    url = with_tag(farm, 0, "/ok", tag)
    result = result_of(check([url], fast(allow_private=False)), url)
    assert (result.klass, result.status) == (lp.UNSAFE, None)
    assert farm.total_requests() == before


def test_credentials_in_a_url_are_unsafe_even_with_allow_private(farm: Farm, tag: str) -> None:
    before = farm.total_requests()
    url = with_tag(farm, 0, "/ok", tag).replace("http://", "http://user:secret@", 1)
    result = check([url]).results[canonical_url(url)]
    assert result.klass == lp.UNSAFE
    assert "secret" not in result.reason
    assert farm.total_requests() == before


def test_a_scheme_other_than_http_is_unsupported(farm: Farm) -> None:
    before = farm.total_requests()
    address, port = farm.servers[0].server_address[:2]
    url = f"ftp://{address}:{port}/file.txt"
    result = check([url]).results[canonical_url(url)]
    assert (result.klass, result.status) == (lp.UNSUPPORTED, None)
    assert "ftp" in result.reason
    assert farm.total_requests() == before


# --- HEAD, then GET --------------------------------------------------------------------


def test_a_refused_head_is_sent_again_as_get(farm: Farm, tag: str) -> None:
    url = with_tag(farm, 0, "/no-head", tag)
    result = result_of(check([url]), url)
    assert (result.klass, result.status) == (lp.OK, 200)
    assert methods(farm, 0, tag) == ["HEAD", "GET"]


def test_a_reset_head_is_sent_again_as_get(farm: Farm, tag: str) -> None:
    url = with_tag(farm, 0, "/reset-head", tag)
    result = result_of(check([url]), url)
    assert (result.klass, result.status) == (lp.OK, 200)
    assert methods(farm, 0, tag) == ["HEAD", "GET"]


# --- redirects -------------------------------------------------------------------------


def test_a_chain_of_three_redirects_is_followed(farm: Farm) -> None:
    url = farm.url(2, "/chain/3")
    result = result_of(check([url]), url)
    assert (result.klass, result.status) == (lp.REDIRECTED, 200)
    assert result.final_url == farm.url(2, "/ok")


def test_ten_redirects_are_followed_and_eleven_are_too_many(farm: Farm) -> None:
    ten, eleven = farm.url(2, "/chain/10"), farm.url(3, "/chain/11")
    report = check([ten, eleven])
    assert result_of(report, ten).klass == lp.REDIRECTED
    too_many = result_of(report, eleven)
    assert too_many.klass == lp.UNKNOWN
    assert "redirects" in too_many.reason


def test_a_redirect_loop_is_detected(farm: Farm) -> None:
    url = farm.url(1, "/loop-a")
    result = result_of(check([url]), url)
    assert result.klass == lp.UNKNOWN
    assert "loop" in result.reason  # found as a loop, not by running out of redirects


@pytest.mark.parametrize(
    "location", ["ok?t={tag}", "../ok?t={tag}", "/ok?t={tag}", "//{netloc}/ok?t={tag}"]
)
def test_a_relative_location_is_resolved(farm: Farm, tag: str, location: str) -> None:
    netloc = urlsplit(farm.url(0, "/")).netloc
    url = redirect(farm, 0, location.format(tag=tag, netloc=netloc), tag)
    result = result_of(check([url]), url)
    assert (result.klass, result.final_url) == (lp.REDIRECTED, farm.url(0, f"/ok?t={tag}"))


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("http://[::1", "malformed URL: Invalid IPv6 URL"),
        ("http://[zz]/", "malformed URL: 'zz' does not appear to be an IPv4 or IPv6 address"),
        ("http://\u00ff\u00ff.example/", "name does not resolve"),  # not UTF-8 on the wire
    ],
)
def test_a_redirect_to_a_location_no_parser_reads_is_one_result(
    farm: Farm, tag: str, location: str, reason: str
) -> None:
    """requests looks ahead at a redirect's Location even when not following it, and
    raised on these; the check (and the build around it) went down with it."""
    url = redirect(farm, 0, location, tag)
    ok = with_tag(farm, 1, "/ok", tag)
    report = check([url, ok], resolver=failing_resolver(socket.EAI_NONAME))
    assert reason in result_of(report, url).reason
    assert result_of(report, url).klass != lp.OK
    assert result_of(report, ok).klass == lp.OK


def test_a_redirect_to_a_private_address_sends_no_request(farm: Farm, tag: str) -> None:
    """With allow_private off no hop may reach a private address: no farm host sees
    the first request, nor the one the redirect points to."""
    before = farm.total_requests()
    url = redirect(farm, 0, with_tag(farm, 1, "/ok", tag), tag)
    result = result_of(check([url], fast(allow_private=False)), url)
    assert result.klass == lp.UNSAFE
    assert farm.total_requests() == before


def test_every_redirect_hop_is_vetted(farm: Farm, tag: str) -> None:
    calls: list[str] = []
    to_nowhere = redirect(farm, 0, "http://nowhere.example/page", tag)
    to_ftp = redirect(farm, 0, "ftp://files.example/page", f"{tag}-ftp")
    to_credentials = redirect(
        farm, 0, with_tag(farm, 1, "/ok", tag).replace("://", "://me:pw@", 1), f"{tag}-cred"
    )
    report = check(
        [to_nowhere, to_ftp, to_credentials],
        resolver=failing_resolver(socket.EAI_NONAME, calls),
    )
    # No name resolved in this run (the farm is IP literals): the answer is in doubt.
    assert "does not resolve: nowhere.example" in result_of(report, to_nowhere).reason
    assert "nowhere.example" in calls
    assert result_of(report, to_ftp).klass == lp.UNSUPPORTED
    assert result_of(report, to_credentials).klass == lp.UNSAFE
    assert seen(farm, 1, tag) == []


# --- Retry-After and the per-host limits ----------------------------------------------


@pytest.mark.e2e
def test_retry_after_is_honoured(farm: Farm, tag: str) -> None:
    url = farm.url(0, f"/t/{tag}/busy?after=1&times=1")
    result = result_of(check([url], fast(retries=1)), url)
    assert (result.klass, result.status) == (lp.OK, 200)
    times = [t for _m, _p, t in seen(farm, 0, tag)]
    assert len(times) == 2
    assert times[1] - times[0] >= 0.95, times


@pytest.mark.e2e
def test_retry_after_requeues_the_host_and_no_worker_waits(farm: Farm, tag: str) -> None:
    """One worker only: while host A waits out its Retry-After, host B is served, and
    A's other URL waits too (the whole host is left alone).

    B's six URLs take at least 0.75 s whatever the order (min_interval 150 ms), so B
    still has work when A answers 429 and all of it fits in A's one-second wait."""
    busy = farm.url(0, f"/t/{tag}/busy?after=1&times=1")
    other_a = farm.url(0, f"/ok?t={tag}-a")
    on_b = [farm.url(1, f"/ok?t={tag}&n={n}") for n in range(6)]
    settings = fast(retries=1, workers=1, per_host=1, min_interval=150 * MS)
    report = check([busy, other_a, *on_b], settings)
    assert [result_of(report, u).klass for u in (busy, other_a, *on_b)] == [lp.OK] * 8

    busy_times = [t for _m, path, t in seen(farm, 0, tag) if "/busy" in path]
    assert len(busy_times) == 2
    first, second = busy_times
    b_times = [t for _m, _p, t in seen(farm, 1, tag)]
    assert len(b_times) == 6
    assert len([t for t in b_times if first < t < second]) >= 2, (first, b_times, second)
    assert all(t < second for t in b_times), "host B waited for host A's Retry-After"
    (other_time,) = [t for _m, _p, t in seen(farm, 0, f"{tag}-a")]
    assert other_time - first >= 0.95, "host A was not left alone during its Retry-After"


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("after", "retries", "least"), [("none", 1, 0.25), ("none", 0, 0.25), ("1", 0, 0.95)]
)
def test_a_429_holds_the_host_back_with_or_without_retry_after_or_a_retry_left(
    farm: Farm, tag: str, after: str, retries: int, least: float
) -> None:
    """A 429 with no Retry-After still means "too many requests": the host gets a
    backoff (at least 0.25 s after a first 429) before any request of the run goes
    there again, this URL's retry or another URL's. A Retry-After holds the host
    that long, whether or not this URL has a retry left."""
    busy = farm.url(0, f"/t/{tag}/busy?after={after}&times=1")
    other_a = farm.url(0, f"/ok?t={tag}-a")
    on_b = farm.url(1, f"/ok?t={tag}-b")
    settings = fast(retries=retries, workers=1, per_host=1, min_interval=MS)
    report = check([busy, other_a, on_b], settings)

    busy_times = [t for _m, path, t in seen(farm, 0, tag) if "/busy" in path]
    (other_time,) = [t for _m, _p, t in seen(farm, 0, f"{tag}-a")]
    (b_time,) = [t for _m, _p, t in seen(farm, 1, f"{tag}-b")]
    first = busy_times[0]
    assert other_time - first >= least - 0.05, "host A was not held back after its 429"
    assert b_time < other_time, "host B waited for host A's wait"
    if retries:
        assert result_of(report, busy).klass == lp.OK
        assert len(busy_times) == 2
        assert busy_times[1] - first >= least - 0.05, busy_times
    else:
        assert canonical_url(busy) not in report.results  # rate-limited: never stored
        assert len(busy_times) == 1
    assert result_of(report, other_a).klass == lp.OK


@pytest.mark.e2e
def test_at_most_per_host_requests_are_in_flight(own_farm: Farm) -> None:
    urls = [own_farm.url(h, f"/hold?s=0.2&n={n}") for h in (0, 1) for n in range(8)]
    report = check(urls, fast(workers=16, per_host=2, min_interval=MS))
    assert all(r.klass == lp.OK for r in report.results.values())
    assert own_farm.log(0).max_in_flight == 2
    assert own_farm.log(1).max_in_flight == 2
    # The hosts run side by side: each one's requests start before the other's end.
    starts = {h: sorted(t for _m, _p, t in own_farm.log(h).requests) for h in (0, 1)}
    assert starts[1][0] < starts[0][-1] and starts[0][0] < starts[1][-1]


@pytest.mark.e2e
def test_min_interval_between_two_starts_on_one_host(own_farm: Farm) -> None:
    # Gaps are measured where the requests arrive, so allow for a busy machine's
    # scheduling delays: the checker keeps 0.4 s, the assertion wants 0.25 s.
    interval = 0.4
    urls = [own_farm.url(h, f"/ok?n={n}") for n in range(5) for h in (0, 1)]
    report = check(urls, fast(workers=16, per_host=2, min_interval=interval * 1000 * MS))
    assert len(report.results) == 10
    starts = {h: sorted(t for _m, _p, t in own_farm.log(h).requests) for h in (0, 1)}
    for host, times in starts.items():
        assert len(times) == 5
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert min(gaps) >= interval - 0.15, (host, gaps)
    # The second host does not wait for the first.
    assert starts[1][0] < starts[0][-1]
    assert starts[0][0] < starts[1][-1]
    # Not one host after the other: together they take less than their two spans added.
    spans = [times[-1] - times[0] for times in starts.values()]
    everything = starts[0] + starts[1]
    assert max(everything) - min(everything) < sum(spans), (starts, spans)


@pytest.mark.e2e
def test_the_deadline_counts_from_a_urls_first_request_not_its_wait_in_the_queue(
    own_farm: Farm,
) -> None:
    urls = [own_farm.url(0, f"/ok?n={n}") for n in range(6)]
    settings = fast(per_host=1, min_interval=100 * MS, deadline=300 * MS, timeout=300 * MS)
    report = check(urls, settings)
    assert [result_of(report, u).klass for u in urls] == [lp.OK] * 6
    assert len(own_farm.log(0).requests) == 6


# --- the deadline holds however slowly a server answers --------------------------------


class Drip(RawServer):
    """A raw TCP server on 127.0.0.1 that answers a request for /drip with `head` (a
    status line and headers) one byte every `every` seconds, and any other path at
    once with an empty 200, keeping the connection open. It notes every connection,
    every request line and when a client hung up in the middle of a drip."""

    def __init__(self, head: bytes, every: float) -> None:
        self.head, self.every = head, every
        self.requests: list[str] = []
        self.hangups: list[float] = []
        self.hung_up = threading.Event()
        super().__init__()

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            buffer = b""
            while True:
                conn.settimeout(30)
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(4096)
                    if not data:
                        return
                    buffer += data
                request, _, buffer = buffer.partition(b"\r\n\r\n")
                path = request.split(b" ")[1].decode()
                with self.lock:
                    self.requests.append(path)
                if not path.startswith("/drip"):
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                elif not self._drip(conn):
                    return

    def _drip(self, conn: socket.socket) -> bool:
        """Send `head` slowly; False when the client hung up before it was all sent."""
        conn.settimeout(self.every)
        for n, byte in enumerate(self.head):
            try:
                # the pause before a byte (not after the last), or the client leaving
                if n and not conn.recv(1):
                    with self.lock:
                        self.hangups.append(time.monotonic())
                    self.hung_up.set()
                    return False
            except TimeoutError:
                pass
            conn.sendall(bytes([byte]))
        return True


def dripped_head(size: int) -> bytes:
    """A 200 with no body whose status line and headers are `size` bytes long."""
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Pad: \r\n\r\n"
    return head.replace(b"X-Pad: ", b"X-Pad: " + b"a" * (size - len(head)))


@pytest.fixture
def drip_server() -> Iterator[Callable[[bytes, float], Drip]]:
    servers: list[Drip] = []

    def start(head: bytes, every: float) -> Drip:
        servers.append(Drip(head, every))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def took(call: Callable[[], object]) -> float:
    began = time.monotonic()
    call()
    return time.monotonic() - began


def link_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith("links")}


@pytest.mark.e2e
def test_an_answer_dripped_a_byte_at_a_time_ends_at_the_deadline(
    drip_server: Callable[[bytes, float], Drip],
) -> None:
    """Every byte comes well within the timeout, and all of them would take 20
    deadlines: the check ends at the deadline, and the server sees it hang up."""
    settings = fast(deadline=timedelta(seconds=1), timeout=500 * MS)
    deadline = settings.deadline.total_seconds()
    every = deadline / 20
    server = drip_server(dripped_head(int(20 * deadline / every)), every)
    overhead = took(lambda: check([server.url("/ok")], settings))
    margin = deadline / 2 + 4 * overhead
    threads = link_threads()
    began = time.monotonic()
    report = check([server.url("/drip")], settings)
    spent = time.monotonic() - began
    result = result_of(report, server.url("/drip"))
    assert (result.klass, result.status, result.reason) == (lp.TIMEOUT, None, "deadline passed")
    assert deadline <= spent < deadline + margin, (spent, overhead)
    assert server.hung_up.wait(margin), "the connection was left open"
    assert server.hangups[0] - began < deadline + margin
    assert link_threads() <= threads, "a worker is left running"
    assert server.requests == ["/ok", "/drip"]  # HEAD only: a cut is no reset, not retried


@pytest.mark.e2e
def test_a_kept_alive_connection_is_cut_at_the_deadline_too(
    drip_server: Callable[[bytes, float], Drip],
) -> None:
    """One worker sends both checks over one connection: the second, dripped, is
    cut at its deadline like one over a new connection."""
    settings = fast(deadline=timedelta(seconds=1), timeout=500 * MS, workers=1, per_host=1)
    deadline = settings.deadline.total_seconds()
    every = deadline / 20
    server = drip_server(dripped_head(int(20 * deadline / every)), every)
    overhead = took(lambda: check([server.url("/ok?first")], settings))
    margin = deadline / 2 + 4 * overhead
    urls = [server.url("/ok?second"), server.url("/drip")]
    began = time.monotonic()
    report = check(urls, settings)
    spent = time.monotonic() - began
    assert server.requests[1:] == ["/ok?second", "/drip"]
    assert server.connections == 2, "the dripped check did not reuse the connection"
    assert result_of(report, urls[0]).klass == lp.OK
    result = result_of(report, urls[1])
    assert (result.klass, result.reason) == (lp.TIMEOUT, "deadline passed")
    assert deadline <= spent < deadline + overhead + margin, (spent, overhead)
    assert server.hung_up.wait(margin)


@pytest.mark.e2e
def test_an_answer_slow_but_within_the_deadline_is_ok(
    drip_server: Callable[[bytes, float], Drip],
) -> None:
    settings = fast(deadline=timedelta(seconds=2), timeout=timedelta(seconds=1))
    head = dripped_head(100)
    server = drip_server(head, settings.deadline.total_seconds() / 4 / len(head))
    result = result_of(check([server.url("/drip")], settings), server.url("/drip"))
    assert (result.klass, result.status) == (lp.OK, 200)
    assert server.hangups == []


@pytest.mark.e2e
def test_a_stop_cuts_the_requests_in_flight(drip_server: Callable[[bytes, float], Drip]) -> None:
    """No worker is left waiting on a socket for the deadline after a stop."""
    settings = fast(deadline=timedelta(seconds=20), timeout=timedelta(seconds=10))
    deadline = settings.deadline.total_seconds()
    every = 0.05
    server = drip_server(dripped_head(int(2 * deadline / every)), every)
    stop = threading.Event()

    def stop_once_asked() -> None:
        while not server.requests:
            time.sleep(0.01)
        stop.set()

    threads = link_threads()
    stopper = threading.Thread(target=stop_once_asked, daemon=True)
    stopper.start()
    began = time.monotonic()
    with pytest.raises(Cancelled):
        LinkChecker(settings).run([server.url("/drip")], now=NOW, previous={}, cancel=stop)
    stopper.join()
    assert server.hung_up.wait(deadline / 2), "the request in flight was not cut"
    assert server.hangups[0] - began < deadline / 2
    for thread in link_threads() - threads:
        thread.join(deadline / 2)
        assert not thread.is_alive(), "a worker is left running"


# --- one check per URL -----------------------------------------------------------------


def test_each_url_is_checked_once_per_run(farm: Farm, tag: str) -> None:
    url = with_tag(farm, 2, "/ok", tag)
    forms = [url, url + "#frag", url, url + "&utm_source=feed", url.replace("http", "HTTP", 1)]
    report = check(forms)
    assert len(seen(farm, 2, tag)) == 1
    assert (report.checked, report.requested) == (1, 1)
    assert set(report.results) == {canonical_url(url)}


def test_a_url_many_articles_share_is_checked_once_per_build(
    farm: Farm, tag: str, tmp_path: Path
) -> None:
    image = farm.url(2, f"/ok?t={tag}&img=shared")
    for n, title in enumerate(["Apples ripen", "Boats sail", "Clocks tick", "Drums roll"]):
        write_article(
            tmp_path / "articles",
            f"{n}.md",
            n=n * 7 + 1,
            title=title,
            webUrl=farm.url(2, f"/ok?t={tag}&a={n}"),
            images=[{"url": image + ("#frag" if n % 2 else "")}],
        )
    with Store(tmp_path / "state.sqlite") as store:
        report = build(config_for(tmp_path, fast()), now=NOW, store=store)
    assert report.published == 4
    assert len([p for _m, p, _t in seen(farm, 2, tag) if "img=shared" in p]) == 1
    assert len(seen(farm, 2, tag)) == 5
    assert report.links is not None
    assert (report.links.checked, report.links.requested) == (5, 5)


# --- the two-strike rule through build() -----------------------------------------------


def test_a_link_is_dead_after_two_broken_checks_a_day_apart(
    farm: Farm, tag: str, tmp_path: Path
) -> None:
    gone = farm.url(0, f"/gone?t={tag}")
    fine = farm.url(0, f"/ok?t={tag}-fine")
    write_article(
        tmp_path / "articles", "dead.md", n=1, title="Gone away", webUrl=gone, images=None
    )
    write_article(
        tmp_path / "articles", "fine.md", n=9, title="Still here", webUrl=fine, images=None
    )
    config = config_for(tmp_path, fast(confirm_after=24 * HOUR))

    with Store(tmp_path / "state.sqlite") as store:
        first = build(config, now=NOW, store=store)
        assert first.published == 2, first.excluded
        strike = store.link(canonical_url(gone))
        assert strike is not None
        assert (strike.klass, strike.failures, strike.broken_since) == (lp.BROKEN, 1, NOW)
        requests_after_first = len(seen(farm, 0, tag))
        assert gone in feed_text(tmp_path)

        # An hour later the broken result is still fresh: no request, still published.
        second = build(config, now=NOW + HOUR, store=store)
        assert second.published == 2
        assert len(seen(farm, 0, tag)) == requests_after_first
        assert second.links is not None and second.links.requested == 0

        third = build(config, now=NOW + 25 * HOUR, store=store)
        assert len(seen(farm, 0, tag)) > requests_after_first
        assert third.published == 1
        assert excluded_codes(third) == {"dead.md": "dead-link"}
        assert gone not in feed_text(tmp_path)
        assert fine in feed_text(tmp_path)
        dead = store.link(canonical_url(gone))
        assert dead is not None and lp.is_dead(dead, 24 * HOUR)


def test_two_broken_checks_closer_than_confirm_after_keep_the_article(
    farm: Farm, tag: str, tmp_path: Path
) -> None:
    gone = farm.url(1, f"/gone?t={tag}")
    write_article(tmp_path / "articles", "dead.md", n=1, webUrl=gone, images=None)
    settings = fast(confirm_after=24 * HOUR, freshness=Freshness(broken=HOUR, jitter=0.0))
    config = config_for(tmp_path, settings)
    with Store(tmp_path / "state.sqlite") as store:
        assert build(config, now=NOW, store=store).published == 1
        second = build(config, now=NOW + 2 * HOUR, store=store)
        result = store.link(canonical_url(gone))
        assert result is not None and result.failures == 2
        assert second.published == 1, "two strikes two hours apart made the link dead"
        third = build(config, now=NOW + 25 * HOUR, store=store)
        assert excluded_codes(third) == {"dead.md": "dead-link"}


def test_an_ok_check_between_two_broken_ones_restarts_the_count(
    farm: Farm, tag: str, tmp_path: Path
) -> None:
    url = farm.url(2, f"/switch/{tag}")
    write_article(tmp_path / "articles", "flip.md", n=1, webUrl=url, images=None)
    freshness = Freshness(ok=HOUR, broken=HOUR, jitter=0.0)
    config = config_for(tmp_path, fast(confirm_after=24 * HOUR, freshness=freshness))
    key = canonical_url(url)

    def published(at: timedelta, status: int) -> int:
        farm.switch(2, tag, status)
        return build(config, now=NOW + at, store=store).published

    with Store(tmp_path / "state.sqlite") as store:
        assert published(timedelta(0), 404) == 1
        assert published(2 * HOUR, 200) == 1
        ok = store.link(key)
        assert ok is not None and (ok.klass, ok.failures, ok.broken_since) == (lp.OK, 0, None)
        # Broken again a day after the first strike: a new first strike, not a second.
        assert published(25 * HOUR, 404) == 1
        again = store.link(key)
        assert again is not None
        assert (again.failures, again.broken_since) == (1, NOW + 25 * HOUR)
        assert published(27 * HOUR, 404) == 1
        assert published(50 * HOUR, 404) == 0
    assert len(seen(farm, 2, tag)) >= 5


def test_an_unsafe_link_is_excluded_at_once_and_never_requested(
    farm: Farm, tag: str, tmp_path: Path
) -> None:
    url = with_tag(farm, 0, "/ok", tag)
    write_article(tmp_path / "articles", "inside.md", n=1, webUrl=url, images=None)
    before = farm.total_requests()
    with Store(tmp_path / "state.sqlite") as store:
        report = build(config_for(tmp_path, fast(allow_private=False)), now=NOW, store=store)
    assert excluded_codes(report) == {"inside.md": "unsafe-link"}
    assert report.published == 0
    assert farm.total_requests() == before


# --- a machine without network ---------------------------------------------------------


NAMES = ("a.example", "b.example", "c.example")


@pytest.mark.parametrize("errno", [socket.EAI_AGAIN, socket.EAI_NONAME])
def test_every_host_failing_means_the_network_is_down(errno: int) -> None:
    calls: list[str] = []
    urls = [f"https://{name}/story-{n}" for name in NAMES for n in (1, 2)]
    earlier = stored(urls[0], lp.BROKEN, NOW - 25 * HOUR, HOUR)
    report = check(
        urls, previous={canonical_url(urls[0]): earlier}, resolver=failing_resolver(errno, calls)
    )
    assert set(calls) == set(NAMES)
    assert report.network_down
    assert report.results == {canonical_url(urls[0]): earlier}


def test_an_internationalised_host_in_capitals_is_checked_at_its_idna_name(
    farm: Farm, tag: str, tmp_path: Path
) -> None:
    address, port = farm.servers[0].server_address[:2]
    link = f"http://Bücher.example:{port}/ok?t={tag}"
    write_article(tmp_path / "articles", "b.md", webUrl=link, images=None)
    asked: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return [str(address)]

    report = build(config_for(tmp_path, fast()), now=NOW, resolver=resolver)
    assert excluded_codes(report) == {}
    assert report.published == 1
    assert set(asked) == {"xn--bcher-kva.example"}
    assert methods(farm, 0, tag) == ["HEAD"]
    checked = f"http://xn--bcher-kva.example:{port}/ok?t={tag}"
    with Store(tmp_path / "state.sqlite") as store:
        results = store.links([canonical_url(checked)])
    assert [r.klass for r in results.values()] == [lp.OK]
    assert list(rss_items(tmp_path)) == [checked]


def test_a_few_failing_hosts_among_answering_ones_are_not_a_network_down(
    farm: Farm, tag: str
) -> None:
    names = [f"https://{name}/story" for name in NAMES]
    answering = [with_tag(farm, h, "/ok", tag) for h in range(4)]

    def resolver(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_AGAIN, "temporary failure (test)")

    report = check([*names, *answering], resolver=resolver)
    assert not report.network_down
    assert all(result_of(report, u).klass == lp.OK for u in answering)


@pytest.mark.parametrize("errno", [socket.EAI_AGAIN, socket.EAI_NONAME])
def test_a_build_without_network_changes_nothing_and_publishes_everything(
    tmp_path: Path, errno: int
) -> None:
    titles = ["Apples ripen", "Boats sail", "Clocks tick"]
    links = [f"https://{name}/story" for name in NAMES]
    for n, (title, link) in enumerate(zip(titles, links, strict=True)):
        write_article(
            tmp_path / "articles", f"{n}.md", n=n * 7 + 1, title=title, webUrl=link, images=None
        )
    # A first strike a day old: one more broken check would make the link dead.
    strike = stored(links[0], lp.BROKEN, NOW - 25 * HOUR, HOUR)
    config = config_for(tmp_path, fast())
    with Store(tmp_path / "state.sqlite") as store:
        store.save_links([strike])
        report = build(config, now=NOW, store=store, resolver=failing_resolver(errno))
        assert store.links(canonical_url(u) for u in links) == {canonical_url(links[0]): strike}
    assert report.published == 3
    assert excluded_codes(report) == {}
    assert report.links is not None and report.links.network_down
    assert "the network looks down" in summary(report, config)


def test_the_command_without_dns_reports_the_network_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # In-process, so that the offline fixture answers DNS: a subprocess would ask the
    # machine's resolver, and tests never reach the network.
    links = [f"https://{name}.invalid/story" for name in ("alpha", "beta", "gamma")]
    titles = ["Apples ripen", "Boats sail", "Clocks tick"]
    for n, (title, link) in enumerate(zip(titles, links, strict=True)):
        write_article(
            tmp_path / "articles", f"{n}.md", n=n * 7 + 1, title=title, webUrl=link, images=None
        )
    (tmp_path / "fast.yaml").write_text(FAST_CONFIG, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code = cli.main(
        [
            "build",
            "--config",
            "fast.yaml",
            "--source",
            "articles",
            "--state",
            "state.sqlite",
            "--links",
            "on",
            "--report",
            "report.json",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "the network looks down" in out
    assert "published 3 articles" in out
    data = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert data["links"]["network_down"] is True
    with Store(tmp_path / "state.sqlite") as store:
        assert store.links(canonical_url(u) for u in links) == {}


# --- the state as a cache --------------------------------------------------------------


def test_a_warm_rebuild_sends_no_request(farm: Farm, tag: str, tmp_path: Path) -> None:
    paths = ["/ok", "/gone", "/forbidden", "/teapot", "/error", "/chain/2"]
    titles = ["Apples", "Boats", "Clocks", "Drums", "Eagles", "Forests"]
    for n, (path, title) in enumerate(zip(paths, titles, strict=True)):
        link = with_tag(farm, 3, path, tag) if "chain" not in path else farm.url(3, path)
        image = farm.url(3, f"/ok?t={tag}&img={n}")
        write_article(
            tmp_path / "articles",
            f"{n}.md",
            n=n * 4 + 1,
            title=f"{title} are news",
            webUrl=link,
            images=[{"url": image}],
        )
    config = config_for(tmp_path, fast())
    with Store(tmp_path / "state.sqlite") as store:
        cold = build(config, now=NOW, store=store)
        before = farm.total_requests()
        warm = build(config, now=NOW + timedelta(minutes=1), store=store)
        assert farm.total_requests() == before
    assert cold.links is not None and warm.links is not None
    assert cold.links.requested == 12
    assert (warm.links.checked, warm.links.requested) == (12, 0)
    assert warm.links.classes == cold.links.classes
    assert warm.published == cold.published == 6


def test_cached_links_send_no_request_and_use_the_stored_results(
    farm: Farm, tag: str, tmp_path: Path
) -> None:
    dead_url = with_tag(farm, 0, "/ok", f"{tag}-dead")  # ok now, but dead in the state
    new_url = with_tag(farm, 0, "/gone", f"{tag}-new")  # never checked
    write_article(
        tmp_path / "articles", "dead.md", n=1, title="Apples", webUrl=dead_url, images=None
    )
    write_article(tmp_path / "articles", "new.md", n=9, title="Boats", webUrl=new_url, images=None)
    dead = stored(
        dead_url,
        lp.BROKEN,
        NOW - 3 * DAY,  # stale long ago: "on" would check it again
        DAY,
        failures=3,
        broken_since=NOW - 5 * DAY,
    )
    before = farm.total_requests()
    with Store(tmp_path / "state.sqlite") as store:
        store.save_links([dead])
        report = build(config_for(tmp_path, fast(), links="cached"), now=NOW, store=store)
        assert store.link(canonical_url(new_url)) is None
        assert store.link(canonical_url(dead_url)) == dead
    assert farm.total_requests() == before
    assert excluded_codes(report) == {"dead.md": "dead-link"}
    assert report.published == 1
    assert report.links is not None
    assert (report.links.mode, report.links.requested) == ("cached", 0)


# --- images ------------------------------------------------------------------------------


def test_a_dead_image_leaves_the_feed_and_its_entry_stays(
    farm: Farm, tag: str, tmp_path: Path
) -> None:
    link = with_tag(farm, 1, "/ok", tag)
    dead_image = farm.url(1, f"/gone?t={tag}&img=dead.jpg")
    fine_link = with_tag(farm, 1, "/ok", f"{tag}-2")
    fine_image = farm.url(1, f"/ok?t={tag}&img=fine.jpg")
    write_article(
        tmp_path / "articles",
        "a.md",
        n=1,
        title="Apples",
        webUrl=link,
        images=[{"url": dead_image}],
    )
    write_article(
        tmp_path / "articles",
        "b.md",
        n=9,
        title="Boats",
        webUrl=fine_link,
        images=[{"url": fine_image}],
    )
    config = config_for(tmp_path, fast(confirm_after=24 * HOUR))
    with Store(tmp_path / "state.sqlite") as store:
        first = build(config, now=NOW, store=store)
        assert first.published == 2
        assert rss_items(tmp_path)[link] == [dead_image]  # one strike: still there
        second = build(config, now=NOW + 25 * HOUR, store=store)
    assert second.published == 2
    assert excluded_codes(second) == {}
    items = rss_items(tmp_path)
    assert items[link] == []
    assert items[fine_link] == [fine_image]
    assert dead_image not in feed_text(tmp_path, "all.rss")
    assert dead_image not in feed_text(tmp_path, "all.atom")
    assert second.links is not None
    assert [(Path(p).name, r.url) for p, r in second.links.images_dropped] == [
        ("a.md", canonical_url(dead_image))
    ]


def test_images_are_not_requested_when_check_images_is_off(
    farm: Farm, tag: str, tmp_path: Path
) -> None:
    link = with_tag(farm, 1, "/ok", tag)
    image = farm.url(1, f"/gone?t={tag}&img=1.jpg")
    write_article(tmp_path / "articles", "a.md", n=1, webUrl=link, images=[{"url": image}])
    config = config_for(tmp_path, fast(check_images=False))
    with Store(tmp_path / "state.sqlite") as store:
        report = build(config, now=NOW, store=store)
        build(config, now=NOW + 25 * HOUR, store=store)
    assert [p for _m, p, _t in seen(farm, 1, tag) if "img=" in p] == []
    assert seen(farm, 1, tag), "the article link was not checked"
    assert report.links is not None and report.links.checked == 1
    assert rss_items(tmp_path)[link] == [image]


# --- the command -------------------------------------------------------------------------


def write_cli_articles(tmp_path: Path, farm: Farm, tag: str) -> dict[str, str]:
    """Five articles on two farm hosts; returns class -> link."""
    links = {
        "ok": with_tag(farm, 0, "/ok", tag),
        "broken": with_tag(farm, 0, "/gone", tag),
        "blocked": with_tag(farm, 0, "/forbidden", tag),
        "redirected": redirect(farm, 0, with_tag(farm, 0, "/ok", f"{tag}-target"), tag),
        "unknown": with_tag(farm, 1, "/teapot", tag),
    }
    titles = ["Apples ripen", "Boats sail", "Clocks tick", "Drums roll", "Eagles fly"]
    for n, (title, link) in enumerate(zip(titles, links.values(), strict=True)):
        write_article(
            tmp_path / "articles", f"{n}.md", n=n * 5 + 1, title=title, webUrl=link, images=None
        )
    (tmp_path / "fast.yaml").write_text(FAST_CONFIG, encoding="utf-8")
    return links


CHECK_LINKS = (
    "check-links",
    "--config",
    "fast.yaml",
    "--source",
    "articles",
    "--state",
    "state.sqlite",
    "--allow-private-links",
)


@pytest.mark.e2e
def test_the_command_check_links_prints_classes_hosts_and_problems(
    farm: Farm, tag: str, tmp_path: Path
) -> None:
    links = write_cli_articles(tmp_path, farm, tag)
    done = run_cli(*CHECK_LINKS, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    head = lines[0]
    assert head.startswith("links: 5 checked, 5 requested"), head
    for klass in ("ok", "broken", "blocked", "redirected", "unknown"):
        assert f"1 {klass}" in head, head

    first_host = urlsplit(links["ok"]).hostname
    second_host = urlsplit(links["unknown"]).hostname
    host_lines = {line.split(":")[0].strip(): line for line in lines if line.startswith("  ")}
    assert set(host_lines) == {first_host, second_host}, lines
    for klass in ("ok", "broken", "blocked", "redirected"):
        assert f"1 {klass}" in host_lines[first_host]
    assert "1 unknown" in host_lines[second_host]

    def line_for(url: str) -> str | None:
        where = urlsplit(url)
        needle = f"{where.netloc}{where.path}?{where.query}"
        found = [line for line in lines if needle in line]
        return found[0] if found else None

    for klass, status in (("broken", "404"), ("blocked", "403"), ("unknown", "418")):
        line = line_for(links[klass])
        assert line is not None, (klass, lines)
        assert line.startswith(f"{klass}: ") and status in line, line
        assert f"{klass}: {links[klass]}: " in line, line  # the link as the file gives it
    assert line_for(links["ok"]) is None
    assert line_for(links["redirected"]) is None

    with Store(tmp_path / "state.sqlite") as store:
        found = store.links(canonical_url(u) for u in links.values())
    assert {k: found[canonical_url(u)].klass for k, u in links.items()} == {k: k for k in links}


@pytest.mark.e2e
def test_the_command_check_links_json(farm: Farm, tag: str, tmp_path: Path) -> None:
    links = write_cli_articles(tmp_path, farm, tag)
    done = run_cli(*CHECK_LINKS, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert set(data) >= {"summary", "results"}
    assert data["summary"]["classes"] == {k: 1 for k in links}
    assert (data["summary"]["checked"], data["summary"]["requested"]) == (5, 5)
    by_url = {r["url"]: r for r in data["results"]}
    assert set(by_url) == {canonical_url(u) for u in links.values()}
    for klass, url in links.items():
        assert by_url[canonical_url(url)]["class"] == klass
    broken = by_url[canonical_url(links["broken"])]
    assert (broken["status"], broken["failures"]) == (404, 1)
    assert "404" in broken["reason"]
    redirected = by_url[canonical_url(links["redirected"])]
    assert redirected["final_url"] == with_tag(farm, 0, "/ok", f"{tag}-target")


@pytest.mark.e2e
def test_the_command_build_reports_links_and_each_excluded_articles_result(
    farm: Farm, tag: str, tmp_path: Path
) -> None:
    gone = with_tag(farm, 2, "/gone", tag)
    fine = with_tag(farm, 2, "/ok", tag)
    write_article(
        tmp_path / "articles", "dead.md", n=1, title="Gone away", webUrl=gone, images=None
    )
    write_article(
        tmp_path / "articles", "fine.md", n=9, title="Still here", webUrl=fine, images=None
    )
    # Broken results stale after 10 ms and a dead link 10 ms after its first strike:
    # two runs of the command make a dead link.
    (tmp_path / "fast.yaml").write_text(
        FAST_CONFIG + "  ttl_broken: 10ms\n  confirm_after: 10ms\n", encoding="utf-8"
    )
    args = (
        "build",
        "--config",
        "fast.yaml",
        "--source",
        "articles",
        "--state",
        "state.sqlite",
        "--output",
        "out",
        "--links",
        "on",
        "--allow-private-links",
        "--report",
        "report.json",
    )
    first = run_cli(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "published 2 articles" in first.stdout
    time.sleep(0.05)
    second = run_cli(*args, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "published 1 articles" in second.stdout
    assert "1 articles left out for their link" in second.stdout

    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    links = report["links"]
    assert links["mode"] == "on"
    assert links["classes"] == {"broken": 1, "ok": 1}
    assert (links["checked"], links["requested"]) == (2, 1)
    assert links["network_down"] is False
    (excluded,) = links["excluded"]
    assert Path(excluded["path"]).name == "dead.md"
    assert excluded["url"] == canonical_url(gone)
    assert (excluded["class"], excluded["status"], excluded["failures"]) == ("broken", 404, 2)
    assert "404" in excluded["reason"]
    assert excluded["broken_since"] is not None
    codes = {Path(e["path"]).name: e["code"] for e in report["excluded"]}
    assert codes == {"dead.md": "dead-link"}

    # --links cached: the stored results, no request.
    before = farm.total_requests()
    cached = run_cli(*[a if a != "on" else "cached" for a in args], cwd=tmp_path)
    assert cached.returncode == 0, cached.stderr
    assert farm.total_requests() == before
    assert "published 1 articles" in cached.stdout
    data = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert (data["links"]["mode"], data["links"]["requested"]) == ("cached", 0)


@pytest.mark.e2e
def test_allow_private_links_is_needed_for_the_farm(farm: Farm, tag: str, tmp_path: Path) -> None:
    write_article(
        tmp_path / "articles", "a.md", n=1, webUrl=with_tag(farm, 3, "/ok", tag), images=None
    )
    (tmp_path / "fast.yaml").write_text(FAST_CONFIG, encoding="utf-8")
    done = run_cli(
        "check-links",
        "--config",
        "fast.yaml",
        "--source",
        "articles",
        "--state",
        "state.sqlite",
        "--json",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    (result,) = json.loads(done.stdout)["results"]
    assert result["class"] == "unsafe"
    assert seen(farm, 3, tag) == []
