"""What a link check's answer means, and the fail-open rule: only twice-broken links are dead."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from aggregator.links import linkpolicy as lp
from aggregator.links.linkpolicy import Freshness

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
URL = "https://example.com/story"


@pytest.mark.parametrize(
    ("status", "headers", "klass"),
    [
        (200, {}, lp.OK),
        (204, {}, lp.OK),
        (404, {}, lp.BROKEN),
        (410, {}, lp.BROKEN),
        (401, {}, lp.BLOCKED),
        (403, {}, lp.BLOCKED),
        (451, {}, lp.BLOCKED),
        (999, {}, lp.BLOCKED),
        (503, {"CF-Mitigated": "challenge"}, lp.BLOCKED),
        (200, {"cf-mitigated": "Challenge"}, lp.BLOCKED),
        (429, {}, lp.RATE_LIMITED),
        (408, {}, lp.TIMEOUT),
        (500, {}, lp.SERVER_ERROR),
        (503, {}, lp.SERVER_ERROR),
        (400, {}, lp.UNKNOWN),
        (418, {}, lp.UNKNOWN),
    ],
)
def test_classify_status(status: int, headers: dict[str, str], klass: str) -> None:
    assert lp.classify_status(status, headers) == klass


@pytest.mark.parametrize(
    ("status", "refused"),
    [
        *[(405, True), (501, True), (400, True), (404, True), (403, True)],
        *[(401, False), (408, False), (429, False), (200, False), (500, False)],
    ],
)
def test_head_refused_means_try_get(status: int, refused: bool) -> None:
    assert lp.head_refused(status) is refused


def test_retry_after_seconds_dates_and_cap() -> None:
    cap = timedelta(minutes=5)
    assert lp.retry_after("120", NOW, cap) == timedelta(seconds=120)
    assert lp.retry_after("100000", NOW, cap) == cap
    assert lp.retry_after("Sat, 21 Nov 2026 12:01:00 GMT", NOW, cap) == timedelta(minutes=1)
    assert lp.retry_after("Sat, 21 Nov 2026 11:00:00 GMT", NOW, cap) == timedelta(0)
    assert lp.retry_after("soon", NOW, cap) is None
    assert lp.retry_after(None, NOW, cap) is None


def check(previous: lp.LinkResult | None, klass: str, when: datetime) -> lp.LinkResult:
    status = {lp.OK: 200, lp.BROKEN: 404, lp.TIMEOUT: None}.get(klass)
    return lp.record(previous, URL, klass, status, klass, None, when, Freshness())


def test_only_a_link_broken_twice_far_enough_apart_is_dead() -> None:
    confirm = timedelta(hours=24)
    first = check(None, lp.BROKEN, NOW)
    assert not lp.is_dead(first, confirm)
    soon = check(first, lp.BROKEN, NOW + timedelta(hours=1))
    assert not lp.is_dead(soon, confirm)
    later = check(soon, lp.BROKEN, NOW + timedelta(hours=25))
    assert later.broken_since == NOW
    assert lp.is_dead(later, confirm)


def test_any_other_answer_in_between_restarts_the_count() -> None:
    confirm = timedelta(hours=24)
    first = check(None, lp.BROKEN, NOW)
    for klass in (lp.OK, lp.TIMEOUT):
        between = check(first, klass, NOW + timedelta(hours=12))
        again = check(between, lp.BROKEN, NOW + timedelta(hours=30))
        assert again.broken_since == NOW + timedelta(hours=30)
        assert not lp.is_dead(again, confirm)


@pytest.mark.parametrize("klass", sorted(set(lp.CLASSES) - {lp.BROKEN}))
def test_no_other_class_is_ever_dead(klass: str) -> None:
    result = None
    for hours in (0, 48, 96):
        result = check(result, klass, NOW + timedelta(hours=hours))
    assert not lp.is_dead(result, timedelta(hours=1))


def test_ttls_ok_week_broken_day_transient_growing_with_jitter() -> None:
    ok = check(None, lp.OK, NOW)
    assert timedelta(days=6) < ok.next_check_at - NOW < timedelta(days=8)
    broken = check(None, lp.BROKEN, NOW)
    assert timedelta(hours=21) < broken.next_check_at - NOW < timedelta(hours=27)
    waits = []
    result = None
    for n in range(8):
        result = check(result, lp.TIMEOUT, NOW + timedelta(days=n))
        waits.append(result.next_check_at - result.checked_at)
    assert waits[0] < timedelta(minutes=12)
    assert waits[1] > waits[0] and waits[2] > waits[1]
    assert max(waits) <= timedelta(hours=6) * 1.1
    # jitter: two URLs checked at once do not come due at once, and it is reproducible
    other = lp.record(None, URL + "2", lp.OK, 200, "ok", None, NOW, Freshness())
    assert other.next_check_at != ok.next_check_at
    assert check(None, lp.OK, NOW) == ok


def test_freshness() -> None:
    ok = check(None, lp.OK, NOW)
    assert lp.is_fresh(ok, NOW + timedelta(days=5))
    assert not lp.is_fresh(ok, NOW + timedelta(days=9))
    assert not lp.is_fresh(None, NOW)


# --- verdicts that need no network (#15) ---------------------------------------------


@pytest.mark.parametrize(
    ("url", "klass"),
    [
        ("http://127.0.0.1/x", lp.UNSAFE),
        ("http://2130706433/", lp.UNSAFE),
        ("http://[::ffff:127.0.0.1]/", lp.UNSAFE),
        ("http://169.254.169.254/latest/meta-data/x.png", lp.UNSAFE),
        ("http://localhost/", lp.UNSAFE),
        ("https://example.com:8443/", lp.UNSAFE),
        ("http://user@example.com/", lp.UNSAFE),
        ("http://1.2.3.4.5/", lp.UNSUPPORTED),
        ("http://a..b/", lp.UNSUPPORTED),
    ],
)
def test_a_refusal_without_a_lookup_is_a_result_whatever_was_stored(url: str, klass: str) -> None:
    settings = lp.LinkCheckSettings()
    refusal = lp.refused_offline(url, settings)
    assert refusal is not None
    # A fresh `ok` stored by a run with other settings (or a tampered state file).
    stored_ok = lp.record(None, URL, lp.OK, 200, "200 OK", None, NOW, Freshness())
    result = lp.refused_result(stored_ok, URL, refusal, NOW, Freshness())
    assert (result.klass, result.status, result.checked_at) == (klass, None, NOW)
    assert result.reason == refusal.reason
    # Stored and fresh, the same refusal is kept as it is: a warm run stores nothing.
    later = NOW + timedelta(hours=1)
    assert lp.refused_result(result, URL, refusal, later, Freshness()) is result


@pytest.mark.parametrize(
    "url", ["https://example.com/story", "http://93.184.216.34/", "http://names.example:80/"]
)
def test_a_url_that_needs_a_lookup_or_a_request_is_not_refused_offline(url: str) -> None:
    assert lp.refused_offline(url, lp.LinkCheckSettings()) is None


def test_allow_private_lifts_the_address_rules_offline_too() -> None:
    settings = lp.LinkCheckSettings(allow_private=True)
    assert lp.refused_offline("http://127.0.0.1:9/x", settings) is None
    assert lp.refused_offline("http://u@127.0.0.1/", settings) is not None


def test_an_unconfirmed_broken_answer_neither_starts_nor_extends_a_streak() -> None:
    confirm = timedelta(hours=24)
    fresh = Freshness()
    doubt = lp.unconfirmed(None, URL, "name does not resolve; in doubt", NOW, fresh)
    assert (doubt.klass, doubt.broken_since, doubt.failures) == (lp.UNKNOWN, None, 1)
    assert doubt.next_check_at - NOW < timedelta(minutes=12)  # transient: soon again
    # Every day for three days: never dead, never a streak.
    result = doubt
    for day in (1, 2, 3):
        result = lp.unconfirmed(result, URL, "in doubt", NOW + timedelta(days=day), fresh)
        assert result.broken_since is None and not lp.is_dead(result, confirm)
    # A streak started by a real broken check is kept as it was, not restarted...
    first = check(None, lp.BROKEN, NOW)
    between = lp.unconfirmed(first, URL, "in doubt", NOW + timedelta(hours=25), fresh)
    assert (between.klass, between.broken_since) == (lp.UNKNOWN, NOW)
    assert not lp.is_dead(between, confirm)
    # ...so the next confirmed broken check, a day after the first, makes it dead.
    second = check(between, lp.BROKEN, NOW + timedelta(hours=26))
    assert second.broken_since == NOW and lp.is_dead(second, confirm)


def test_canary_names_are_known_good_hosts_chosen_the_same_way_each_run() -> None:
    def stored(key: str, klass: str) -> lp.LinkResult:
        return lp.record(None, key, klass, None, klass, None, NOW, Freshness())

    wanted = {
        "k1": "https://b.example/1",
        "k2": "https://b.example/2",
        "k3": "https://a.example/1",
        "k4": "https://c.example/1",
        "k5": "https://d.example/1",
        "k6": "https://broken.example/1",
        "k7": "http://93.184.216.34/",  # an IP literal: no lookup to make
        "k8": "http://localhost/",  # refused without a lookup
        "k9": "https://failed.example/1",
        "k10": "https://new.example/1",  # no stored result
    }
    previous = {
        key: stored(key, lp.BROKEN if key == "k6" else lp.REDIRECTED if key == "k4" else lp.OK)
        for key in wanted
        if key != "k10"
    }
    settings = lp.LinkCheckSettings()
    names = lp.canary_names(wanted, previous, {"failed.example"}, settings)
    assert names == [("b.example", 443), ("a.example", 443), ("c.example", 443)]
    reordered = dict(reversed(list(wanted.items())))
    assert lp.canary_names(reordered, previous, {"failed.example"}, settings) == names
    assert lp.canary_names(wanted, {}, (), settings) == []


@pytest.mark.parametrize(
    ("addresses", "allow_private", "proof"),
    [
        (["93.184.216.34"], False, True),
        (["10.0.0.1", "93.184.216.34"], False, True),  # a public address among them
        (["127.0.0.1"], False, False),  # the hosts file: `vm`, a container name
        (["10.0.0.1"], False, False),  # a resolver that answers every name so
        (["0.0.0.0"], False, False),  # a DNS filter
        (["fd00::1"], False, False),
        ([], False, False),
        (["127.0.0.1"], True, True),  # intranets and tests: private addresses are real
    ],
)
def test_only_a_public_address_proves_the_resolver_works(
    addresses: list[str], allow_private: bool, proof: bool
) -> None:
    assert lp.proves_resolver(addresses, allow_private) is proof


def test_an_answer_in_doubt_keeps_a_stored_unsafe_verdict() -> None:
    fresh = Freshness()
    unsafe = lp.record(
        None, URL, lp.UNSAFE, None, "example.com resolves to 10.0.0.5", None, NOW, fresh
    )
    later = NOW + timedelta(days=2)  # stale: checked again, and the answer is in doubt
    assert lp.unconfirmed(unsafe, URL, "in doubt", later, fresh) is unsafe


def test_ports_given_as_a_set_by_a_library_caller_are_honoured() -> None:
    settings = lp.LinkCheckSettings(ports={80, 443, 8080})  # type: ignore[arg-type]
    assert lp.refused_offline("http://example.com:8080/a", settings) is None
    refusal = lp.refused_offline("http://example.com:9000/a", settings)
    assert refusal is not None and "port" in refusal.reason
    assert lp.refused_offline("http://localhost/x", settings) is not None


@pytest.mark.parametrize(
    ("url", "ports", "allow_private", "refused"),
    [
        # A plain URL on a default port the settings do not allow is refused offline
        ("http://example.com/a", frozenset({443}), False, "port 80 is not allowed (allowed: 443)"),
        ("https://example.com/a", frozenset({8443}), False, "port 443 is not allowed"),
        # unless private links are allowed, which lifts the port rule too
        ("http://example.com/a", frozenset({443}), True, None),
        ("https://example.com/a", frozenset({443}), False, None),
    ],
)
def test_a_plain_url_is_refused_offline_by_the_ports_of_its_settings(
    url: str, ports: frozenset[int], allow_private: bool, refused: str | None
) -> None:
    settings = lp.LinkCheckSettings(ports=ports, allow_private=allow_private)
    refusal = lp.refused_offline(url, settings)
    if refused is None:
        assert refusal is None
    else:
        assert refusal is not None and refusal.reason.startswith(refused)
