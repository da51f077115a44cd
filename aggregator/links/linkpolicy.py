"""What a link check's answer means, how long it stays fresh, and when a link is dead.

Pure: no I/O, the clock passed in. `linkcheck.py` does the talking; this module
decides. The rule that matters: fail open. Only `broken` on at least two checks at
least `confirm_after` apart makes a link dead; every other class keeps the article.
Two exceptions need no network at all and so hold in every run: a URL `netguard`
refuses before any lookup (`refused_offline`) is `unsafe` or `unsupported` at once.
And an answer the local network could be to blame for counts only when the same
thing worked for another host in the run; otherwise it is `unconfirmed`: transient,
the broken streak left as it was, a stored `unsafe` kept. Such answers are a name
that does not resolve and a failed TLS handshake (`broken`), a name that resolves to
a non-public address (`unsafe`: a resolver that answers every name with 10.x or
0.0.0.0) and a redirect into private space (`unsafe`: a captive portal). Only a
name that resolves to a public address shows that the resolver works
(`proves_resolver`): a hosts file answers for local names when DNS does not.
"""

from __future__ import annotations

import functools
import hashlib
from collections import Counter
from collections.abc import Collection
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import replace
from datetime import datetime
from datetime import timedelta
from email.utils import parsedate_to_datetime
from typing import Final

from aggregator.links.netguard import Lookup
from aggregator.links.netguard import Refusal
from aggregator.links.netguard import is_public
from aggregator.links.netguard import static_refusal
from aggregator.links.netguard import vet_static
from aggregator.model import LinkClass
from aggregator.model import LinkResult
from aggregator.version import __version__

OK: Final = "ok"
REDIRECTED: Final = "redirected"
BROKEN: Final = "broken"
BLOCKED: Final = "blocked"
RATE_LIMITED: Final = "rate_limited"
TIMEOUT: Final = "timeout"
SERVER_ERROR: Final = "server_error"
UNSAFE: Final = "unsafe"
UNSUPPORTED: Final = "unsupported"
UNKNOWN: Final = "unknown"
CLASSES = (
    OK,
    REDIRECTED,
    BROKEN,
    BLOCKED,
    RATE_LIMITED,
    TIMEOUT,
    SERVER_ERROR,
    UNSAFE,
    UNSUPPORTED,
    UNKNOWN,
)
_BLOCKING_STATUSES = frozenset({401, 403, 451, 999})
#: names known to exist that a run looks up, at most, to tell a name that does not
#: resolve from a resolver that answers "no such name" for everything
CANARIES = 3


@dataclass(frozen=True, slots=True)
class Freshness:
    """How long a result is trusted before the URL is checked again (`link_check:` TTLs)."""

    ok: timedelta = timedelta(days=7)
    broken: timedelta = timedelta(days=1)
    blocked: timedelta = timedelta(days=1)
    #: first transient failure; doubles with each further one, up to `transient_max`
    transient: timedelta = timedelta(minutes=10)
    transient_max: timedelta = timedelta(hours=6)
    #: each TTL is spread by up to this fraction either way, so checks do not bunch up
    jitter: float = 0.1


DEFAULT_USER_AGENT = (
    f"aggregator/{__version__} (feed publisher link checker; +https://pypi.org/project/aggregator/)"
)


@dataclass(frozen=True, slots=True)
class LinkCheckSettings:
    """The `link_check:` section of the config file."""

    enabled: bool = True
    #: threads sending requests, at most. A run never has more requests in flight
    #: than `per_host` times the hosts it has work for, and starts a thread only when a
    #: request finds none free, so this caps big runs and costs small ones nothing.
    #: Every thread is a request in flight: throughput is at most workers / latency
    #: (32 held 50 hosts answering in 100 ms to 320 URLs/s, a third of what `per_host`
    #: allows). 128 reaches that on a run of 64 hosts, and stays below what one
    #: process does with the GIL (about 0.5 ms of CPU a request: some 1,600 requests/s
    #: on a 2-core machine, where more threads only add contention).
    workers: int = 128
    #: requests in flight to one host at most
    per_host: int = 2
    #: time between two requests to one host at least
    min_interval: timedelta = timedelta(seconds=1)
    #: connect and read timeout of one request
    timeout: timedelta = timedelta(seconds=10)
    #: all the requests for one URL (redirects, GET after HEAD, retries, reading a
    #: fetched feed's body) end by then
    deadline: timedelta = timedelta(seconds=30)
    #: further tries after a timeout, a 5xx or a reset
    retries: int = 2
    #: a link is dead when broken on two checks at least this far apart
    confirm_after: timedelta = timedelta(hours=24)
    #: lift the address and port rules (intranets, tests)
    allow_private: bool = False
    #: ports that may be requested without allow_private
    ports: frozenset[int] = frozenset({80, 443})
    user_agent: str = DEFAULT_USER_AGENT
    #: check image URLs too; a broken image is left out of its entry
    check_images: bool = True
    #: the longest Retry-After honoured
    retry_after_max: timedelta = timedelta(minutes=10)
    freshness: Freshness = Freshness()


def classify_status(status: int, headers: Mapping[str, str] | None = None) -> LinkClass:
    """The class of a final (non-redirect) HTTP answer."""
    headers = headers or {}
    if any(k.lower() == "cf-mitigated" and v.lower() == "challenge" for k, v in headers.items()):
        return BLOCKED
    if 200 <= status < 300:
        return OK
    if status in (404, 410):
        return BROKEN
    if status in _BLOCKING_STATUSES:
        return BLOCKED
    if status == 429:
        return RATE_LIMITED
    if status == 408:
        return TIMEOUT
    if 500 <= status < 600:
        return SERVER_ERROR
    return UNKNOWN


def head_refused(status: int) -> bool:
    """True when a HEAD answer should be retried as GET: the server may not do HEAD."""
    return status in (405, 501) or (400 <= status < 500 and status not in (401, 408, 429))


def retry_after(value: str | None, now: datetime, cap: timedelta) -> timedelta | None:
    """A `Retry-After` header (seconds or an HTTP date) as a wait, at most `cap`."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        # A number too large for a timedelta (or for int()) is just a long wait.
        seconds = int(value) if len(value) <= 12 else None
        if seconds is None or seconds >= cap.total_seconds():
            return max(timedelta(0), cap)
        wait = timedelta(seconds=seconds)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        wait = when - now
    return max(timedelta(0), min(wait, cap))


def record(
    previous: LinkResult | None,
    url: str,
    klass: LinkClass,
    status: int | None,
    reason: str,
    final_url: str | None,
    now: datetime,
    freshness: Freshness,
) -> LinkResult:
    """The stored result of a check, carrying the failure count and broken streak on."""
    failures = 0 if klass in (OK, REDIRECTED) else (previous.failures if previous else 0) + 1
    broken_since = None
    if klass == BROKEN:
        was_broken = previous is not None and previous.broken_since is not None
        broken_since = previous.broken_since if was_broken and previous else now
    result = LinkResult(
        url=url,
        klass=klass,
        status=status,
        reason=reason,
        final_url=final_url,
        checked_at=now,
        next_check_at=now,
        failures=failures,
        broken_since=broken_since,
    )
    return replace(result, next_check_at=now + ttl(result, freshness))


def ttl(result: LinkResult, freshness: Freshness) -> timedelta:
    """How long `result` stays fresh, with a jitter that depends on the URL and time only."""
    if result.klass in (OK, REDIRECTED):
        base = freshness.ok
    elif result.klass == BROKEN:
        base = freshness.broken
    elif result.klass in (BLOCKED, UNSAFE, UNSUPPORTED):
        base = freshness.blocked
    else:
        # Doubled once per further failure, but never past transient_max: a long first
        # TTL doubled 30 times would overflow timedelta (999,999,999 days).
        base = freshness.transient
        for _ in range(min(max(result.failures - 1, 0), 30)):
            if base >= freshness.transient_max:
                break
            base *= 2
        base = min(base, freshness.transient_max)
    seed = f"{result.url} {result.checked_at.isoformat()}".encode()
    spread = int.from_bytes(hashlib.sha256(seed).digest()[:4]) / 2**32 * 2 - 1  # -1 .. 1
    return base * (1 + freshness.jitter * spread)


def is_fresh(result: LinkResult | None, now: datetime) -> bool:
    return result is not None and result.next_check_at > now


def is_dead(result: LinkResult | None, confirm_after: timedelta) -> bool:
    """Broken on at least two checks at least `confirm_after` apart."""
    return (
        result is not None
        and result.klass == BROKEN
        and result.broken_since is not None
        and result.failures >= 2
        and result.checked_at - result.broken_since >= confirm_after
    )


def refused_offline(url: str, settings: LinkCheckSettings) -> Refusal | None:
    """How `url` is refused without any lookup or request (scheme, shape, userinfo,
    port, localhost, a numeric host that is not public), or None. Such a refusal holds
    whether or not the network answers, so it applies in every run, whatever the
    state file says."""
    # (frozenset: the verdicts are kept by their arguments, and a library caller may
    # have given the ports as a set)
    return _refused_offline(url, settings.allow_private, frozenset(settings.ports))


@functools.lru_cache(maxsize=1 << 16)
def _refused_offline(url: str, allow_private: bool, ports: frozenset[int]) -> Refusal | None:
    # Asked for every URL of every entry each feed renders: a build that renders a few
    # feeds asks again for the same thousands of URLs.
    return static_refusal(url, allow_private, ports)


def refused_result(
    previous: LinkResult | None,
    url: str,
    refusal: Refusal,
    now: datetime,
    freshness: Freshness,
) -> LinkResult:
    """The result of a URL `refused_offline` refuses: `unsafe` or `unsupported`. The
    stored one while it is fresh and says the same, so that a warm run stores nothing."""
    if previous is not None and is_fresh(previous, now) and says(previous, refusal):
        return previous
    return record(previous, url, refusal_class(refusal), None, refusal.reason, None, now, freshness)


def refusal_class(refusal: Refusal) -> LinkClass:
    """The class of a URL refused so: `unsafe` or `unsupported`."""
    return UNSAFE if refusal.kind == "unsafe" else UNSUPPORTED


def says(result: LinkResult, refusal: Refusal) -> bool:
    """Whether `result` says what `refusal` says (its class and reason)."""
    return (result.klass, result.reason) == (refusal_class(refusal), refusal.reason)


def unconfirmed(
    previous: LinkResult | None, url: str, reason: str, now: datetime, freshness: Freshness
) -> LinkResult:
    """A `broken` or `unsafe` answer the local network may be to blame for, not the
    site (a name that does not resolve, or resolves to a non-public address, while no
    other name resolved to a public one; a failed TLS handshake while no other host
    answered over HTTPS; a redirect into private space while most hosts that answered
    were sent there too): transient, and the broken streak is neither started nor
    extended but left as it was. So a link becomes dead only from broken checks made
    while the network demonstrably worked, and an outage between two of them does not
    restart the count. A stored `unsafe` (a name found to resolve to a private
    address while the resolver was shown to work) is kept as it is: an answer in
    doubt proves nothing against it."""
    if previous is not None and previous.klass == UNSAFE:
        return previous
    result = record(previous, url, UNKNOWN, None, reason, None, now, freshness)
    return replace(result, broken_since=previous.broken_since if previous is not None else None)


def proves_resolver(addresses: Sequence[str], allow_private: bool) -> bool:
    """Whether a name that resolved to `addresses` shows the resolver works: it gave a
    public address. A name the hosts file maps to 127.0.0.1 (`vm`, a container name)
    resolves with DNS down, and a hijacking resolver answers every name with a private
    address. With `allow_private` (intranets, tests) private addresses are real sites:
    any address counts."""
    return any(allow_private or is_public(address) for address in addresses)


def canary_names(
    wanted: Mapping[str, str],
    previous: Mapping[str, LinkResult],
    exclude: Collection[str],
    settings: LinkCheckSettings,
) -> list[tuple[str, int]]:
    """(host, port) of up to `CANARIES` names known to exist, to ask the resolver
    whether it works: the hosts of `wanted` URLs (canonical URL -> URL as given) whose
    stored result is ok or redirected, the host with most such URLs first, then by
    name, so the choice is the same from run to run. Never a name in `exclude`, an
    IP literal, or a URL a rule refuses without a lookup."""
    counts: Counter[str] = Counter()
    ports: dict[str, int] = {}
    for key, url in wanted.items():
        stored = previous.get(key)
        if stored is None or stored.klass not in (OK, REDIRECTED):
            continue
        verdict = vet_static(url, allow_private=settings.allow_private, ports=settings.ports)
        if isinstance(verdict, Lookup) and verdict.host not in exclude:
            counts[verdict.host] += 1
            ports.setdefault(verdict.host, verdict.port)
    chosen = sorted(counts, key=lambda host: (-counts[host], host))[:CANARIES]
    return [(host, ports[host]) for host in chosen]
