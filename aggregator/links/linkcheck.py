"""The link checker: the only module that talks HTTP to article sites.

One check of a URL is a short conversation: HEAD, then GET (streamed, body never
read) when HEAD is refused or the connection resets, following at most
`MAX_REDIRECTS` redirects, each hop vetted by `netguard` before any packet is sent
and connected to the very address that was vetted (no second DNS lookup). Workers
in a thread pool only send one request each and report back; the scheduler in the
calling thread decides what comes next, so that per-host limits hold exactly:
at most `per_host` requests in flight to a host, at least `min_interval` between
two of them leaving on the wire (`_Pace`), and a host that answered 429/503 with
`Retry-After` is left alone that long, one that answered 429 without it for a
backoff (its work re-queued, no worker sleeps). The
workers share one session, so a host's connections are kept alive. Timeouts, 5xx
and resets are retried `retries` times with backoff and jitter; every URL has an
overall `deadline`, and a request still going when it passes is cut there, in
whatever part it is (the answer's headers, a TLS handshake, a fetch's body): the
scheduler shuts its socket down, so a server sending a byte at a time holds a
worker no longer than that.

Some answers can be the local network's fault rather than the site's: a name that
does not resolve (a resolver that says "no such name" for everything), a name that
resolves to a non-public address (a resolver that answers every name with 10.x or
0.0.0.0), a failed TLS handshake (a captive portal or an intercepting proxy) and a
redirect into private space (a captive portal's login page). Each counts (`broken`,
`unsafe`) only when the same thing worked for another host in the run: another name
resolved to a public address (if none did, up to `linkpolicy.CANARIES` names known
to exist are looked up; DNS only, never a request), another host answered over
HTTPS, other hosts answered and most were not sent into private space. Otherwise
the answer is `linkpolicy.unconfirmed`. No request is ever sent to an address
`netguard` refused, in doubt or not. A name that does not resolve and a TLS failure
also count as connection-level failures for the "network down" rule.

Feed documents are fetched (`LinkChecker.fetch`) by the same scheduler, as
conversations of their own kind: GET only, with conditional headers, and the body of
a 2xx read within a size limit and the deadline (`fetch.read_body`). So a fetch
obeys every rule above, and per-host limits hold across link checks and fetches.

What an answer means, how long it stays fresh and when a link is dead is decided
in `linkpolicy`; this module only gathers answers.
"""

from __future__ import annotations

import contextlib
import heapq
import http.cookiejar
import itertools
import queue
import random
import socket
import threading
import time
from collections import Counter
from collections import deque
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING
from typing import Any
from urllib.parse import urljoin
from urllib.parse import urlsplit

import requests
from requests.adapters import DEFAULT_POOLBLOCK
from requests.adapters import HTTPAdapter
from requests.cookies import RequestsCookieJar
from requests.cookies import extract_cookies_to_jar
from requests.utils import default_headers
from urllib3.connection import HTTPConnection
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.connectionpool import HTTPSConnectionPool
from urllib3.exceptions import HTTPError
from urllib3.poolmanager import ProxyManager

from aggregator.clock import utcnow
from aggregator.errors import Cancelled
from aggregator.links import linkpolicy as lp
from aggregator.links.fetch import ACCEPT_ENCODING
from aggregator.links.fetch import DEFAULT_MAX_BYTES
from aggregator.links.fetch import DELTA_SECONDS_MAX
from aggregator.links.fetch import FEED_ACCEPT
from aggregator.links.fetch import BodyRefused
from aggregator.links.fetch import Fetched
from aggregator.links.fetch import FetchRequest
from aggregator.links.fetch import max_age
from aggregator.links.fetch import read_body
from aggregator.links.fetch import seconds_text
from aggregator.links.http import agent_headers
from aggregator.links.linkpolicy import LinkCheckSettings
from aggregator.links.netguard import Refusal
from aggregator.links.netguard import Resolver
from aggregator.links.netguard import Target
from aggregator.links.netguard import points_inside
from aggregator.links.netguard import system_resolver
from aggregator.links.netguard import vet
from aggregator.model import LinkClass
from aggregator.model import LinkResult
from aggregator.stories.urls import canonical_url

if TYPE_CHECKING:
    from aggregator.state.interface import StateStore

MAX_REDIRECTS = 10
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: a run where at least this share of hosts (and at least NETWORK_DOWN_HOSTS hosts)
#: failed at the connection level on every try is taken for a machine without network
NETWORK_DOWN_SHARE = 0.9
NETWORK_DOWN_HOSTS = 3
_ACCEPT = "text/html,application/xhtml+xml,*/*;q=0.8"
#: seconds a host lease lasts unless renewed: how long a crashed checker's hosts wait
LEASE_TTL = 20.0
#: seconds between two tries to claim a host another process holds
CLAIM_POLL = 0.5
#: seconds at most between a result being known and being stored, in a shared state
FLUSH_EVERY = 0.5


@dataclass(frozen=True, slots=True)
class LinkReport:
    """What a run of the checker found."""

    #: the result per canonical URL: fresh from the store, or checked now
    results: dict[str, LinkResult]
    #: URLs asked for this run (canonical), and how many were requested
    checked: int
    requested: int
    #: nearly every host failed at the connection level: nothing was stored
    network_down: bool = False


@dataclass(slots=True)
class _Answer:
    """What one request came back with: a status, or an error class."""

    status: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    #: linkpolicy class for a failure before any answer (timeout, unsafe, ...)
    failure: LinkClass | None = None
    reason: str = ""
    #: the failure was at the connection level (no DNS, no route, refused, reset)
    connection: bool = False
    #: the failure is worth another try (timeout, reset)
    retry: bool = False
    #: the connection was reset: a HEAD is tried again as GET
    reset: bool = False
    #: the request never reached the network (refused by netguard)
    vetted_out: bool = False
    #: a broken or unsafe answer the local network may be to blame for: "dns" (no
    #: such name), "tls" (the handshake failed), "private-dns" (the name resolved to a
    #: non-public address) or "redirect" (a redirect into private space); it counts
    #: only if confirmed (see the module)
    doubt: str | None = None
    #: the host name this request resolved, when it was a name that resolved to an
    #: address that shows the resolver works (`linkpolicy.proves_resolver`)
    resolved: str | None = None
    #: a fetch's 2xx: the body, decoded (a link check never reads one)
    body: bytes | None = None
    #: a fetch's 2xx whose body was all there but refused (too large, a coding that
    #: cannot be undone): its validators still name the document (not so for a body
    #: cut short by a timeout or a reset)
    refused: bool = False
    #: when the answer's headers came (`time.monotonic`); None when none came
    at: float | None = None


@dataclass(slots=True)
class _Check:
    """One URL's conversation, advanced by the scheduler."""

    key: str
    url: str
    current: str
    #: when the first request of this check (or since a Retry-After wait) was sent;
    #: the deadline counts from here, not from time spent waiting in a host's queue
    started: float | None = None
    method: str = "HEAD"
    hops: int = 0
    retries: int = 0
    waits: int = 0
    visited: set[str] = field(default_factory=set)
    connection_failures: int = 0
    answered: bool = False
    #: names looked up along the way that resolved, and hosts that answered over HTTPS:
    #: what shows the resolver and TLS work on this network
    resolved: set[str] = field(default_factory=set)
    spoke_tls: set[str] = field(default_factory=set)
    #: a feed fetch rather than a link check: GET only, the body of a 2xx read
    fetch: FetchRequest | None = None
    #: a fetch's size limit, on the wire and decoded
    max_bytes: int = DEFAULT_MAX_BYTES
    #: every redirect followed so far was permanent (301, 308)
    permanent: bool = True
    #: a request of this check was sent (or refused by netguard): it is under way
    sent: bool = False
    #: cookies the sites of this conversation set, sent on its next requests (a site
    #: that sets one and redirects to a page that wants it back); None before any
    cookies: RequestsCookieJar | None = None
    #: the host of the URL checked, wherever redirects led
    origin: str = field(init=False)
    #: `host`, and the URL it is the host of (the scheduler asks at every step)
    _host: str = field(init=False)
    _host_of: str = field(init=False)

    def __post_init__(self) -> None:
        self.origin = _host_of(self.url)
        self._host_of, self._host = self.current, _host_of(self.current)

    @property
    def host(self) -> str:
        """The host of the URL the next (or last) request goes to."""
        if self._host_of is not self.current:
            self._host_of, self._host = self.current, _host_of(self.current)
        return self._host


def _host_of(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:  # a redirect's Location no parser reads (`http://[::1`): vet refuses it
        return ""


class _Watch:
    """The deadline of one request: the sockets it talks over, shut down when the
    conversation is still going at `until` (a `time.monotonic()` time), so that no
    server holds it longer by sending its answer slowly, a byte at a time. The
    scheduler `expire`s it; the worker `finish`es it before a connection can go back
    to its pool, after which it shuts nothing down."""

    def __init__(self, until: float) -> None:
        self.until = until
        #: sends the request's head on the wire, when `min_interval` allows (`_Pace`)
        self.pace: Callable[[Callable[[], None]], None] | None = None
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.expired = False
        #: a socket of the request was shut down: whatever it answered is incomplete
        self.cut = False
        self._finished = False

    def add(self, sock: socket.socket) -> None:
        """A socket the request talks over; shut down at once when already expired."""
        with self._lock:
            if self._finished:
                return
            if self.expired:
                self.cut = True
                _shut(sock)
            else:
                self._sockets.append(sock)

    def expire(self) -> None:
        with self._lock:
            if self._finished or self.expired:
                return
            self.expired = True
            for sock in self._sockets:
                self.cut = True
                _shut(sock)
            self._sockets.clear()

    def finish(self) -> bool:
        """End the watch; True when it cut the request (its answer cannot be trusted)."""
        with self._lock:
            self._finished = True
            self._sockets.clear()
            return self.cut


def _shut(sock: socket.socket) -> None:
    """Wake whatever waits on `sock`: a read returns at once and the peer is hung up.
    The plain socket's shutdown, also for a TLS socket (whose own would drop its TLS
    state under a reader in another thread)."""
    with contextlib.suppress(OSError):  # closed already, or never connected
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


#: the watch of the request the current thread sends through a `_PinnedAdapter`
_watching = threading.local()


def _watch_socket(sock: socket.socket | None) -> None:
    watch: _Watch | None = getattr(_watching, "watch", None)
    if watch is not None and isinstance(sock, socket.socket):
        watch.add(sock)


def _send_head(conn: HTTPConnection, send: Callable[[], None]) -> None:
    """Send the head of the current thread's request over `conn` as its watch's
    `pace` says, once connected (a TCP or TLS handshake takes what it takes)."""
    watch: _Watch | None = getattr(_watching, "watch", None)
    if watch is None or watch.pace is None:
        send()
        return
    if conn.sock is None:
        conn.connect()
    watch.pace(send)


class _WatchedHTTPConnection(HTTPConnection):
    """What the checker's HTTP and HTTPS connections add: each socket is watched for the
    whole request's deadline (`_Watch`; for HTTPS, the TLS handshake too, as it comes
    after), and each request's head leaves through its host's pace (`_send_head`)."""

    #: the next `send` is a request's head (all of it: http.client sends it at once)
    _head_next = False

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch_socket(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        self._head_next = True
        try:
            super().request(*args, **kwargs)
        finally:
            self._head_next = False

    def send(self, data: Any) -> None:
        if self._head_next:
            self._head_next = False
            _send_head(self, partial(super().send, data))
        else:
            super().send(data)


class _WatchedHTTPSConnection(_WatchedHTTPConnection, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection

    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)
        _watch_socket(getattr(conn, "sock", None))  # kept alive from an earlier request
        return conn


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection

    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)
        _watch_socket(getattr(conn, "sock", None))
        return conn


_WATCHED_POOLS: dict[str, type[HTTPConnectionPool]] = {
    "http": _WatchedHTTPPool,
    "https": _WatchedHTTPSPool,
}


class _PinnedAdapter(HTTPAdapter):
    """Connects to the address netguard vetted, keeping the name for TLS and Host,
    over connections whose sockets the request's `_Watch` (`aggregator_watch` on the
    prepared request) shuts down at the deadline."""

    def init_poolmanager(
        self,
        connections: int,
        maxsize: int,
        block: bool = DEFAULT_POOLBLOCK,
        **pool_kwargs: Any,
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if type(manager) is ProxyManager:  # not SOCKS: its pools have connections of their own
            manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        _watching.watch = getattr(request, "aggregator_watch", None)
        try:
            return super().send(request, stream, timeout, verify, cert, proxies)
        finally:
            _watching.watch = None

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> Any:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        target: Target | None = getattr(request, "aggregator_target", None)
        if target is not None:
            params: dict[str, Any] = dict(host_params)
            kwargs: dict[str, Any] = dict(pool_kwargs)
            params["host"] = target.addresses[0]
            if target.scheme == "https":
                kwargs["server_hostname"] = target.host
                kwargs["assert_hostname"] = target.host
            return params, kwargs
        return host_params, pool_kwargs


@dataclass(slots=True)
class _Gate:
    """One host's turn to send (see `_Pace`)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    #: when the last request's head was out (monotonic); None before the first
    sent: float | None = None


class _Pace:
    """`min_interval` where the site sees it: between two requests to a host leaving
    on the wire. The scheduler starts a request no sooner than `min_interval` after it
    started the last one there, but what a worker does before its request leaves
    (waiting for the GIL on a busy machine, a TCP or TLS handshake that one request
    needs and the next, on a kept-alive connection, does not) could still bring two
    of them closer than that. So a request's head is sent through its host's gate: no
    sooner than `min_interval` after the last head to that host was all sent (on its
    way by then), waiting here, on the open connection, for what is left: usually
    nothing, at most what delayed the one before."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._gates: dict[str, _Gate] = {}

    def send(self, host: str, send: Callable[[], None], *, until: float) -> None:
        """Call `send` (a request's head to `host` leaving) when its turn comes, or
        at `until` (the request's deadline, when it is cut) if that is sooner."""
        with self._lock:
            gate = self._gates.get(host)
            if gate is None:
                gate = self._gates[host] = _Gate()
        with gate.lock:
            if gate.sent is not None:
                wait = min(gate.sent + self.interval, until) - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            try:
                send()
            finally:
                gate.sent = time.monotonic()


#: what a worker reports: the check, and the answer of its request or what it raised
_Report = tuple[_Check, _Answer | BaseException]


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """The cookie policy of a run's own session: it keeps none. Its jar is shared by
    every worker (one reading it while another stores into it would fail), and a jar
    that collected every site's cookies would be copied whole for each request; the
    cookies of one conversation go with it (`_Check.cookies`)."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


class _Workers:
    """Threads that each send one request at a time and report back on one queue, so
    that the scheduler wakes once per answer, whatever number is in flight (waiting
    on a future per request costs a lock on each of them at every wake). A thread is
    started when a request finds none free, `size` at most."""

    def __init__(self, size: int, work: Callable[[_Check, _Watch], _Answer]) -> None:
        self.size = size
        self._work = work
        self._tasks: queue.SimpleQueue[tuple[_Check, _Watch] | None] = queue.SimpleQueue()
        self._done: queue.SimpleQueue[_Report] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        #: requests submitted and not yet reported (read and written by the scheduler)
        self._busy = 0

    def submit(self, check: _Check, watch: _Watch) -> None:
        self._busy += 1
        if self._busy > len(self._threads) and len(self._threads) < self.size:
            thread = threading.Thread(
                target=self._serve, name=f"links_{len(self._threads)}", daemon=False
            )
            thread.start()
            self._threads.append(thread)
        self._tasks.put((check, watch))

    def reports(self, timeout: float) -> list[_Report]:
        """What the workers reported, waiting up to `timeout` seconds for the first."""
        try:
            got = [self._done.get(timeout=timeout) if timeout > 0 else self._done.get_nowait()]
        except queue.Empty:
            return []
        with contextlib.suppress(queue.Empty):
            while True:
                got.append(self._done.get_nowait())
        self._busy -= len(got)
        return got

    def close(self, *, wait: bool) -> None:
        """No more requests: those not begun are dropped, and each thread ends once its
        request in flight (if any) is over; with `wait`, after that."""
        with contextlib.suppress(queue.Empty):
            while True:
                self._tasks.get_nowait()
        for _ in self._threads:
            self._tasks.put(None)
        if wait:
            for thread in self._threads:
                thread.join()

    def _serve(self) -> None:
        while (task := self._tasks.get()) is not None:
            check, watch = task
            try:
                answer: _Answer | BaseException = self._work(check, watch)
            except BaseException as exc:  # raised again by the scheduler, in its thread
                answer = exc
            self._done.put((check, answer))


class _Claims:
    """The hosts one run holds in a state shared with other processes: claimed (see
    `StateStore.claim_hosts`) before a request goes there, renewed while held, and
    released once every check that began there is over and its result stored, with
    what the host is still owed (`min_interval`, a Retry-After). A host another
    process holds is tried again every `CLAIM_POLL` seconds; a lease lost (expired
    and taken) is claimed again before the next request. A fetch run uses this as it
    is; a link check run, `_SharedLinks`."""

    def __init__(self, store: StateStore, ttl: float) -> None:
        self.store = store
        self.ttl = ttl
        #: this run, as the leases name it
        self.owner = store.lease_owner()
        self.held: set[str] = set()
        #: hosts another process held when last tried: when to try again (monotonic)
        self.try_at: dict[str, float] = {}
        #: when a request may start at each host (monotonic), kept across claims
        self.next_start: dict[str, float] = {}
        self._renew_at = 0.0

    def claim(self, hosts: Sequence[str], clock: float) -> list[str]:
        """Claim these hosts; the ones granted."""
        granted = self.store.claim_hosts(self.owner, hosts, self.ttl)
        for host in hosts:
            if host in granted:
                self.try_at.pop(host, None)
                owed = clock + granted[host]
                self.next_start[host] = max(self.next_start.get(host, 0.0), owed)
            else:
                self.try_at[host] = clock + CLAIM_POLL
        if granted and not self.held:
            self._renew_at = clock + self.ttl / 3
        self.held |= granted.keys()
        return [host for host in hosts if host in granted]

    def renew(self, clock: float) -> float:
        """Renew the leases when due; when to next."""
        if self.held and clock >= self._renew_at:
            self.held &= self.store.renew_hosts(self.owner, self.held, self.ttl)
            self._renew_at = clock + self.ttl / 3
        return self._renew_at if self.held else clock + self.ttl / 3

    def release(self, hosts: Iterable[str]) -> None:
        """Store what is known, then give these hosts up."""
        hosts = [host for host in hosts if host in self.held]
        if not hosts:
            return
        self.flush(force=True)
        clock = time.monotonic()
        owed = {host: max(0.0, self.next_start.get(host, 0.0) - clock) for host in hosts}
        self.store.release_hosts(self.owner, owed)
        self.held -= owed.keys()

    def close(self) -> None:
        """Store what is known and give every host up (at the end, or on a stop)."""
        self.release(sorted(self.held))

    # What a link check run adds (`_SharedLinks`): nothing, for fetches.

    def taken(self, checks: Sequence[_Check]) -> set[str]:
        """The keys among `checks` (not yet sent, at a host just claimed) that need no
        request: another process stored a fresh result meanwhile."""
        return set()

    def finished(self, check: _Check, answer: _Answer) -> bool:
        """`check` is over: whether its result is settled (stored, or soon stored by
        `flush`); False keeps its host held until the end of the run."""
        return True

    def flush(self, *, force: bool = False) -> None:
        """Store the results settled since the last flush (at most every
        `FLUSH_EVERY` seconds, unless `force`)."""


class _SharedLinks(_Claims):
    """A link check run's claims: a host claimed, the stored results of its URLs are
    read again (another process may have checked them since the run began), and a
    check that got an HTTP answer has its result stored at once, so that the next
    process to claim the host finds it fresh. A check without one (a connection that
    failed, a name that did not resolve, an answer in doubt) is judged with the whole
    run (`LinkChecker.run`), and its host stays held until then."""

    def __init__(
        self,
        store: StateStore,
        ttl: float,
        checker: LinkChecker,
        now: datetime,
        previous: Mapping[str, LinkResult],
    ) -> None:
        super().__init__(store, ttl)
        self.checker = checker
        self.now = now
        #: the stored results, updated by what is read on claiming
        self.previous = dict(previous)
        #: fresh results found on claiming, by key: no request was sent for them
        self.fresh: dict[str, LinkResult] = {}
        #: results of checks settled as soon as they were over (None: nothing to store)
        self.settled: dict[str, LinkResult | None] = {}
        self._unsaved: list[LinkResult] = []
        self._flush_at = 0.0

    def taken(self, checks: Sequence[_Check]) -> set[str]:
        stored = self.store.links([check.key for check in checks])
        self.previous.update(stored)
        fresh = {key: r for key, r in stored.items() if lp.is_fresh(r, self.now)}
        self.fresh.update(fresh)
        return set(fresh)

    def finished(self, check: _Check, answer: _Answer) -> bool:
        if answer.status is None or answer.doubt is not None:
            return False
        previous = self.previous.get(check.key)
        result = self.checker._result(check, answer, previous, self.now)
        self.settled[check.key] = result
        if result is not None and result != previous:
            self._unsaved.append(result)
        return True

    def flush(self, *, force: bool = False) -> None:
        clock = time.monotonic()
        if self._unsaved and (force or clock >= self._flush_at):
            self.store.save_links(self._unsaved)
            self._unsaved = []
            self._flush_at = clock + FLUSH_EVERY


class Drain(threading.Event):
    """A stop that lets the requests in flight end (each by its deadline) and their
    results be stored before `Cancelled` is raised: nothing they learnt is lost, so
    no other process asks for those URLs again (a follower's link checks ending on
    time). A plain event as `cancel` cuts them short, as `cut` does this one (the
    daemon shutting down)."""

    def __init__(self) -> None:
        super().__init__()
        self.hard = False

    def cut(self) -> None:
        self.hard = True
        self.set()


class LinkChecker:
    """Checks URLs politely; one instance per run."""

    def __init__(
        self,
        settings: LinkCheckSettings,
        *,
        resolver: Resolver | None = None,
        progress: Callable[[int, int], None] | None = None,
        ca_certs: str | None = None,
        session: requests.Session | None = None,
        lease_ttl: float = LEASE_TTL,
    ) -> None:
        """`resolver` answers DNS (`netguard.system_resolver` by default); `ca_certs`
        is a file of the certificate authorities HTTPS is checked against, instead of
        the bundle requests ships (a seam for tests with their own TLS servers).

        `session` sends every request, from every worker, instead of a session of
        each worker's own: its headers, certificates, proxies and transport adapters
        are used as they are, except that the stock `HTTPAdapter` mounted for http://
        and https:// is replaced by one that connects to the address `netguard`
        vetted and is cut at the deadline (an adapter of the caller's own is trusted
        to connect where it is asked, and keeps its own time limits); the configured
        User-Agent and Accept go only where the session keeps requests' defaults."""
        self.settings = settings
        self.resolver = resolver
        self.progress = progress
        #: seconds a host lease lasts unless renewed, in a shared state (see `run`)
        self.lease_ttl = lease_ttl
        self.ca_certs = ca_certs
        self._random = random.Random(0)
        self.session = session
        #: headers each request adds to its session's, for a link check and a fetch
        self._headers: dict[str, str] = {}
        self._fetch_headers = {"Accept": FEED_ACCEPT, "Accept-Encoding": ACCEPT_ENCODING}
        if session is not None:
            for prefix in ("http://", "https://"):
                if type(session.adapters.get(prefix)) is HTTPAdapter:
                    session.mount(prefix, _PinnedAdapter(max_retries=0))
            self._headers = agent_headers(session, settings.user_agent, accept=_ACCEPT)
            self._fetch_headers = agent_headers(session, settings.user_agent, accept=FEED_ACCEPT)
            default_encoding = default_headers()["Accept-Encoding"]
            if session.headers.get("Accept-Encoding") in (None, default_encoding):
                self._fetch_headers["Accept-Encoding"] = ACCEPT_ENCODING

    # -- the run -------------------------------------------------------------------

    def run(
        self,
        urls: Iterable[str],
        *,
        now: datetime,
        previous: Mapping[str, LinkResult],
        cancel: threading.Event | None = None,
        known: Callable[[], Mapping[str, LinkResult]] | None = None,
        store: StateStore | None = None,
    ) -> LinkReport:
        """Check every URL whose stored result (`previous`, by canonical URL) is stale.
        `known`: the stored results of the other URLs of the corpus, read when a name
        known to exist is wanted (`lp.canary_names`), so that a run over some articles
        picks the canaries a run over all of them picks.

        With `store` the run shares the state with other processes (`_SharedLinks`):
        it claims each host before sending a request there, finds the results another
        process stored meanwhile, and stores each result as it is known (but with the
        network down: then only those of HTTP answers, which are the sites'). Without
        one it stores nothing (the caller may)."""
        wanted: dict[str, str] = {}
        for url in urls:
            wanted.setdefault(canonical_url(url), url)
        results = {k: previous[k] for k in wanted if lp.is_fresh(previous.get(k), now)}
        stale = [(k, u) for k, u in wanted.items() if k not in results]
        shared = None
        if store is not None:
            shared = _SharedLinks(store, self.lease_ttl, self, now, previous)
            previous = shared.previous  # what is read on claiming a host joins it
        try:
            answers = self._check_all([_Check(k, u, u) for k, u in stale], cancel, claims=shared)
            if shared is not None:
                results.update(shared.fresh)
            confirm = _Confirmation(self, wanted, previous, answers.values(), known)
            by_host: dict[str, list[bool]] = {}
            for check, _answer in answers.values():
                by_host.setdefault(check.host, []).append(
                    check.connection_failures > 0 and not check.answered
                )
            failed_hosts = sum(1 for fails in by_host.values() if all(fails))
            network_down = failed_hosts >= NETWORK_DOWN_HOSTS and (
                failed_hosts >= NETWORK_DOWN_SHARE * len(by_host)
            )
            judged: list[LinkResult] = []
            for key, _url in stale:
                if key not in answers:
                    continue  # fresh from another process (above)
                check, answer = answers[key]
                if shared is not None and key in shared.settled:
                    result = shared.settled[key]  # an HTTP answer: stored already
                else:
                    doubt = confirm.doubt(check, answer) if not network_down else None
                    result = self._result(check, answer, previous.get(key), now, doubt)
                    if network_down:
                        result = None
                    elif result is not None and result != previous.get(key):
                        judged.append(result)
                if result is None:
                    if key in previous:
                        results[key] = previous[key]
                    continue
                results[key] = result
            if store is not None and judged:
                store.save_links(judged)
        finally:
            if shared is not None:
                shared.close()
        return LinkReport(results, len(wanted), len(answers), network_down)

    def fetch(
        self,
        feeds: Sequence[FetchRequest],
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        cancel: threading.Event | None = None,
        store: StateStore | None = None,
    ) -> dict[str, Fetched]:
        """Fetch each feed document (by `FetchRequest.url`; the first request of a URL
        asked twice), as politely as links are checked: the same scheduler, per-host
        limits, address rules, timeouts, deadline and retries, so that link checks
        and fetches in one run share them. A 429 or 503 with a Retry-After is not
        waited for (as a link check waits): the fetch ends at once, its `retry_after`
        saying when to ask again. A body (on the wire or
        decoded) larger than `max_bytes` is refused. A failure is a `Fetched` with an
        `error`, never raised; only a stop (`cancel`) raises `Cancelled`. `progress`
        hears of each fetch done, as of each link checked. With `store`, hosts are
        claimed from other processes sharing it, as a link check run claims them."""
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, not {max_bytes}")
        wanted: dict[str, FetchRequest] = {}
        for feed in feeds:
            wanted.setdefault(feed.url, feed)
        checks = [
            _Check(url, url, url, method="GET", fetch=feed, max_bytes=max_bytes)
            for url, feed in wanted.items()
        ]
        claims = _Claims(store, self.lease_ttl) if store is not None else None
        # Each answer's waits are counted from when it came (`Fetched.after`), not
        # from the end of all fetches: the next fetch would come early by as long as
        # the others took.
        now, started = utcnow(), time.monotonic()
        try:
            answers = self._check_all(checks, cancel, "fetching feeds", claims)
        finally:
            if claims is not None:
                claims.close()
        ended = time.monotonic()
        return {
            url: _fetched(*answers[url], now, (answers[url][1].at or ended) - started)
            for url in wanted
        }

    def _result(
        self,
        check: _Check,
        answer: _Answer,
        previous: LinkResult | None,
        now: datetime,
        doubt: str | None = None,
    ) -> LinkResult | None:
        """The stored result of a finished check; None for a 429 (never stored).
        `doubt` says why a broken answer could not be confirmed (see the module)."""
        if answer.failure is not None:
            klass, status = answer.failure, None
        else:
            assert answer.status is not None
            klass, status = lp.classify_status(answer.status, answer.headers), answer.status
        if klass == lp.RATE_LIMITED:
            return None
        if klass in (lp.BROKEN, lp.UNSAFE) and doubt is not None:
            reason = f"{answer.reason}; {doubt}"
            return lp.unconfirmed(previous, check.key, reason, now, self.settings.freshness)
        final_url = None
        if klass == lp.OK and canonical_url(check.current) != check.key:
            klass, final_url = lp.REDIRECTED, check.current
        return lp.record(
            previous,
            check.key,
            klass,
            status,
            answer.reason,
            final_url,
            now,
            self.settings.freshness,
        )

    # -- scheduling ----------------------------------------------------------------

    def _check_all(
        self,
        checks: Sequence[_Check],
        cancel: threading.Event | None = None,
        doing: str = "checking links",
        claims: _Claims | None = None,
    ) -> dict[str, tuple[_Check, _Answer]]:
        """Every conversation of `checks` (link checks, fetches or both; their keys
        unique) to its end, under the per-host limits; the last answer of each by key.
        `doing` names the work in the `Cancelled` raised when `cancel` is set.

        With `claims`, a request goes only to a host the run holds. A host is claimed
        when a worker is free that no held host can use now, the hosts with the most
        work first, so that a run holds what it can use and leaves the rest to the
        other processes; checks that `claims.taken` finds done elsewhere are dropped
        (not in the answer). A host is released once no check is queued, waiting or
        in flight there and every check that began there is over and settled."""
        settings = self.settings
        done: dict[str, tuple[_Check, _Answer]] = {}
        queues: dict[str, deque[_Check]] = {}
        in_flight: Counter[str] = Counter()
        next_start: dict[str, float] = claims.next_start if claims is not None else {}
        previous_start: dict[str, float] = {}
        #: until when each host asked to be left alone (`_next`): what no refused
        #: request's unused interval gives back
        holds: dict[str, float] = {}
        timers: list[tuple[float, int, _Check]] = []
        #: checks waiting in `timers`, by host
        timed: Counter[str] = Counter()
        #: checks not over, or not settled, by the host they began at
        unsettled: Counter[str] = Counter(check.origin for check in checks)
        sequence = itertools.count()
        for check in checks:
            queues.setdefault(check.host, deque()).append(check)
        # Which hosts to look at, without going over every host at every turn (a run
        # has thousands): each heap holds hosts as they were when pushed, and a host
        # popped is looked at again as it is now. A host is pushed again when what
        # held it back changes (a request there ends, its time comes, it is claimed).
        #: (-checks queued, n, host): hosts that may start a request now, most work first
        ready: list[tuple[int, int, str]] = []
        #: (when, n, host): hosts that may start one at `when` (`min_interval`, a wait)
        later: list[tuple[float, int, str]] = []
        #: (-checks queued, n, host): hosts with work that this run does not hold
        unheld: list[tuple[int, int, str]] = []

        def offer(host: str) -> None:
            queue = queues.get(host)
            if queue:
                entry = (-len(queue), next(sequence), host)
                if claims is not None and host not in claims.held:
                    heapq.heappush(unheld, entry)
                else:
                    heapq.heappush(ready, entry)

        for host in queues:
            offer(host)
        #: the requests in flight: the deadline of each, enforced from here (see
        #: `_Watch`), by the key of its check (a check has one request at a time)
        running: dict[str, _Watch] = {}
        #: (until, sequence, key, watch) of every request sent, the soonest first
        deadlines: list[tuple[float, int, str, _Watch]] = []
        deadline = settings.deadline.total_seconds()
        interval = settings.min_interval.total_seconds()
        total = len(checks)
        skipped = 0
        if self.progress is not None and total:
            self.progress(0, total)  # the phase starts now, before the first answer

        def idle(host: str) -> bool:
            return not (host in queues or in_flight[host] or timed[host] or unsettled[host])

        session = self.session if self.session is not None else self._new_session()
        pace = _Pace(interval) if interval > 0 else None
        workers = _Workers(settings.workers, partial(self._request, session=session, pace=pace))
        try:
            while queues or running or timers:
                if cancel is not None and cancel.is_set():
                    if not isinstance(cancel, Drain) or cancel.hard:
                        raise Cancelled(f"stopped while {doing}")
                    if queues or timers:  # nothing more starts; what is in flight ends
                        dropped = [c for q in queues.values() for c in q]
                        dropped += [c for _, _, c in timers]
                        queues.clear()
                        timers.clear()
                        timed.clear()
                        for check in dropped:
                            unsettled[check.origin] -= 1
                        if claims is not None:
                            hosts = {c.origin for c in dropped} | {c.host for c in dropped}
                            claims.release(h for h in sorted(hosts) if idle(h))
                    if not running:
                        break
                clock = time.monotonic()
                while timers and timers[0][0] <= clock:
                    _, _, check = heapq.heappop(timers)
                    timed[check.host] -= 1
                    queues.setdefault(check.host, deque()).append(check)
                    offer(check.host)
                while later and later[0][0] <= clock:
                    offer(heapq.heappop(later)[2])
                wake = timers[0][0] if timers else clock + 1.0
                while deadlines:
                    until, _, key, watch = deadlines[0]
                    if running.get(key) is watch and until > clock:
                        wake = min(wake, until)
                        break
                    heapq.heappop(deadlines)
                    if running.get(key) is watch:
                        watch.expire()  # else its request is over
                if claims is not None:
                    # A host whose lease was lost is in a heap, in flight or in the
                    # timers: when next looked at, it is among the hosts to claim.
                    wake = min(wake, claims.renew(clock))
                # Hosts with the most work first, so no host is left for a slow tail.
                while ready and len(running) < settings.workers:
                    _, _, host = heapq.heappop(ready)
                    queue = queues.get(host)
                    if not queue:
                        continue  # pushed before its queue emptied
                    if claims is not None and host not in claims.held:
                        offer(host)  # among the hosts to claim
                        continue
                    if in_flight[host] >= settings.per_host:
                        continue  # offered again when a request there ends
                    start_at = next_start.get(host, 0.0)
                    if start_at > clock:
                        heapq.heappush(later, (start_at, next(sequence), host))
                        continue
                    while (
                        queue
                        and len(running) < settings.workers
                        and in_flight[host] < settings.per_host
                        and next_start.get(host, 0.0) <= clock
                    ):
                        check = queue.popleft()
                        # The time it starts, not the loop's: `clock` may be a while
                        # ago by now (the requests started before this one).
                        now = time.monotonic()
                        if check.started is None:
                            check.started = now
                        check.sent = True
                        watch = _Watch(check.started + deadline)
                        running[check.key] = watch
                        heapq.heappush(deadlines, (watch.until, next(sequence), check.key, watch))
                        workers.submit(check, watch)
                        in_flight[host] += 1
                        previous_start[host] = next_start.get(host, 0.0)
                        next_start[host] = now + interval
                    if not queue:
                        del queues[host]
                    elif in_flight[host] < settings.per_host:
                        heapq.heappush(later, (next_start.get(host, clock), next(sequence), host))
                    # else: offered again when a request there ends
                if len(running) < settings.workers and later:
                    wake = min(wake, later[0][0])
                if claims is not None and len(running) < settings.workers:
                    free = settings.workers - len(running)
                    wanted: list[str] = []
                    waiting: list[tuple[int, int, str]] = []  # held elsewhere: tried later
                    while unheld and len(wanted) < free:
                        entry = heapq.heappop(unheld)
                        host = entry[2]
                        if host not in queues or host in claims.held or host in wanted:
                            continue  # gone, claimed since, or a second entry
                        try_at = claims.try_at.get(host, 0.0)
                        if try_at > clock:
                            waiting.append(entry)
                            wake = min(wake, try_at)
                        else:
                            wanted.append(host)
                    for entry in waiting:
                        heapq.heappush(unheld, entry)
                    if wanted:
                        touched = set()
                        granted = claims.claim(wanted, clock)
                        for host in wanted:
                            if host not in granted:
                                offer(host)  # tried again at `claims.try_at`
                        for host in granted:
                            touched.add(host)
                            fresh = [c for c in queues[host] if not c.sent]
                            gone = claims.taken(fresh) if fresh else set()
                            if gone:
                                kept = [c for c in queues[host] if c.key not in gone]
                                for check in fresh:
                                    if check.key in gone:
                                        unsettled[check.origin] -= 1
                                        touched.add(check.origin)
                                skipped += len(gone)
                                if kept:
                                    queues[host] = deque(kept)
                                else:
                                    del queues[host]
                            offer(host)
                        claims.release(h for h in sorted(touched) if idle(h))
                        if self.progress is not None and skipped:
                            self.progress(len(done) + skipped, total)
                        continue  # send to the hosts just claimed at once
                if not running:
                    time.sleep(max(0.0, min(wake - time.monotonic(), 1.0)))
                    continue
                touched = set()
                for check, answer in workers.reports(max(0.0, wake - time.monotonic())):
                    running.pop(check.key).finish()
                    in_flight[check.host] -= 1
                    touched.add(check.host)
                    offer(check.host)  # a request there ended
                    if isinstance(answer, BaseException):
                        raise answer
                    if answer.vetted_out and next_start.get(check.host) is not None:
                        # No packet reached the host: its interval was not used (a wait
                        # another answer there asked for still holds).
                        next_start[check.host] = max(
                            min(next_start[check.host], previous_start.get(check.host, 0.0)),
                            holds.get(check.host, 0.0),
                        )
                    follow = self._next(check, answer, next_start, holds)
                    if follow is None:
                        done[check.key] = (check, answer)
                        if claims is None or claims.finished(check, answer):
                            unsettled[check.origin] -= 1
                            touched.add(check.origin)
                        if self.progress is not None:
                            self.progress(len(done) + skipped, total)
                    else:
                        heapq.heappush(timers, (follow, next(sequence), check))
                        timed[check.host] += 1
                if claims is not None:
                    claims.flush()
                    claims.release(h for h in sorted(touched) if idle(h))
        finally:
            # On a stop (or an error), requests in flight are cut short: no worker is
            # left waiting on a socket.
            for watch in running.values():
                watch.expire()
            workers.close(wait=not (cancel is not None and cancel.is_set()))
            if session is not self.session:
                session.close()  # its kept-alive connections
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"stopped while {doing}")  # a `Drain`, once its requests ended
        return done

    def _next(
        self,
        check: _Check,
        answer: _Answer,
        next_start: dict[str, float],
        holds: dict[str, float],
    ) -> float | None:
        """Advance `check` after `answer`: None when it is finished, else when to go on.
        A wait the host asked for (a 429, a Retry-After) is kept in `holds` too."""
        settings = self.settings
        clock = time.monotonic()
        started = check.started if check.started is not None else clock
        out_of_time = clock - started >= settings.deadline.total_seconds()
        if answer.connection:
            check.connection_failures += 1
        if answer.resolved is not None:
            check.resolved.add(answer.resolved)
        if answer.status is not None:
            check.answered = True
            if check.current[:6].lower() == "https:":
                check.spoke_tls.add(check.host)

        if answer.failure is not None:
            if answer.reset and check.method == "HEAD":
                check.method = "GET"  # a reset HEAD may be a server that cannot do HEAD
                return clock
            if answer.retry and check.retries < settings.retries and not out_of_time:
                check.retries += 1
                return clock + self._backoff(check.retries)
            return None

        status = answer.status
        assert status is not None
        if status in _REDIRECTS and answer.headers.get("location"):
            return self._redirect(check, answer, clock, out_of_time)
        if check.method == "HEAD" and lp.head_refused(status):
            check.method = "GET"
            return clock
        if status in (429, 503):
            wait = lp.retry_after(
                answer.headers.get("retry-after"), utcnow(), settings.retry_after_max
            )
            if wait is not None and check.fetch is not None:
                # A feed is not waited for inside a build: the caller asks again once
                # the wait is over (`Fetched.retry_after`, the feed's next fetch).
                return None
            seconds = wait.total_seconds() if wait is not None else None
            if seconds is None and status == 429 and check.fetch is None:
                # Too many requests, and no word of how long to wait: the host gets a
                # backoff, growing with each 429 this URL had, as long as a wait.
                seconds = self._backoff(check.waits + 1)
            if seconds is not None:
                # Leave the whole host alone that long (its other URLs wait too, and
                # do so when this one has no retry left); this URL goes back in its
                # queue.
                until = clock + seconds
                next_start[check.host] = max(next_start.get(check.host, 0.0), until)
                holds[check.host] = max(holds.get(check.host, 0.0), until)
                if check.waits < settings.retries and not out_of_time:
                    check.waits += 1
                    check.started = None  # waiting is not the site being slow
                    return until
        if 500 <= status < 600 and check.retries < settings.retries and not out_of_time:
            check.retries += 1
            return clock + self._backoff(check.retries)
        return None

    def _redirect(
        self, check: _Check, answer: _Answer, clock: float, out_of_time: bool
    ) -> float | None:
        check.visited.add(canonical_url(check.current))
        try:
            location = urljoin(check.current, answer.headers["location"])
            target = canonical_url(location) if location.startswith(("http:", "https:")) else ""
        except ValueError:  # `http://[::1`: the next hop's vetting refuses it, saying why
            location, target = answer.headers["location"], ""
        if target in check.visited:
            answer.failure, answer.reason = lp.UNKNOWN, f"redirect loop at {location}"
            return None
        if check.hops >= MAX_REDIRECTS:
            answer.failure, answer.reason = lp.UNKNOWN, f"more than {MAX_REDIRECTS} redirects"
            return None
        if out_of_time:
            answer.failure, answer.reason = lp.TIMEOUT, "deadline passed while redirected"
            return None
        check.hops += 1
        check.current = location
        if answer.status not in (301, 308):
            check.permanent = False
        if answer.status == 303:
            check.method = "GET"
        return clock

    def _backoff(self, attempt: int) -> float:
        base = 0.5 * 2.0 ** (attempt - 1)
        return base * (0.5 + self._random.random())

    # -- one request (in a worker) -------------------------------------------------

    def _new_session(self) -> requests.Session:
        """The session of one run, when the caller gave none: shared by its workers, so
        that a connection to a host is kept alive for the next request there, whichever
        worker sends it (a session per worker would rarely have one open to the host
        its next request goes to, and would open a connection per request)."""
        settings = self.settings
        session = requests.Session()
        session.trust_env = False  # no proxy or netrc from the environment
        if self.ca_certs is not None:
            session.verify = self.ca_certs
        # A pool per host a worker may be talking to, so that none in use is dropped
        # for another; in each as many connections as requests may be in flight to
        # the host (and a few more, for names that share an address).
        adapter = _PinnedAdapter(
            pool_connections=settings.workers,
            pool_maxsize=max(settings.per_host, 4),
            max_retries=0,
        )
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers["User-Agent"] = settings.user_agent
        session.headers["Accept"] = _ACCEPT
        session.cookies.set_policy(_NoCookies())
        return session

    def _request(
        self, check: _Check, watch: _Watch, *, session: requests.Session, pace: _Pace | None
    ) -> _Answer:
        settings = self.settings
        resolver = self.resolver or system_resolver
        #: what the name resolved to, when `vet` looked it up and it resolved
        looked_up: list[Sequence[str]] = []

        def resolve(host: str, port: int) -> Sequence[str]:
            addresses = resolver(host, port)
            looked_up.append(addresses)
            return addresses

        verdict = vet(
            check.current,
            allow_private=settings.allow_private,
            ports=settings.ports,
            resolver=resolve,
        )
        addresses = looked_up[0] if looked_up else ()
        if isinstance(verdict, Refusal):
            answer = _refusal(verdict)
            if verdict.kind == "unsafe" and not settings.allow_private:
                if check.hops > 0 and points_inside(check.current, addresses):
                    answer.doubt = "redirect"  # a captive portal sends every site there
                elif check.hops == 0 and addresses:
                    answer.doubt = "private-dns"  # refused for what the name resolved to
        else:
            answer = self._send(check, verdict, watch, session, pace)
        if lp.proves_resolver(addresses, settings.allow_private):
            # The resolver works, whatever vet made of the name. Named as `check.host`,
            # as the confirmation compares it (not in the IDNA form vet looked up).
            answer.resolved = check.host
        return answer

    def _send(
        self,
        check: _Check,
        verdict: Target,
        watch: _Watch,
        session: requests.Session,
        pace: _Pace | None,
    ) -> _Answer:
        """One request of `check` to the address `verdict` vetted, over in every part
        (connecting, the answer's headers, a fetch's body) by `watch.until`, and sent
        on the wire as `pace` says."""
        settings = self.settings
        started = check.started if check.started is not None else time.monotonic()
        remaining = settings.deadline.total_seconds() - (time.monotonic() - started)
        if remaining <= 0:
            return _Answer(failure=lp.TIMEOUT, reason="deadline passed")
        timeout = min(settings.timeout.total_seconds(), remaining)
        if pace is not None:
            paced = partial(pace.send, check.host, until=watch.until)
            if isinstance(_adapter(session, check.current), _PinnedAdapter):
                watch.pace = paced  # its connection sends the head so
            else:  # an adapter of the caller's, whose connections know nothing of it
                paced(lambda: None)
        headers = self._headers
        if check.fetch is not None:
            headers = {**self._fetch_headers, **_validators(check.fetch)}
        # The answer, as it came: requests looks ahead at a redirect's Location even when
        # not following it, and fails on one it cannot read (`http://[::1`, bytes that
        # are not UTF-8) after the answer is there; the answer is taken all the same,
        # and `_redirect` judges its Location.
        answered: list[requests.Response] = []
        request = requests.Request(
            check.method,
            check.current,
            headers=headers,
            cookies=check.cookies,
            hooks={"response": [lambda response, **_: answered.append(response)]},
        )
        prepared = session.prepare_request(request)
        default_port = 443 if verdict.scheme == "https" else 80
        host_header = (
            verdict.host if verdict.port == default_port else f"{verdict.host}:{verdict.port}"
        )
        if ":" in verdict.host:  # IPv6 literal
            host_header = f"[{verdict.host}]" + (
                "" if verdict.port == default_port else f":{verdict.port}"
            )
        prepared.headers["Host"] = host_header
        prepared.aggregator_target = verdict  # type: ignore[attr-defined]
        prepared.aggregator_watch = watch  # type: ignore[attr-defined]
        try:
            response = session.send(
                prepared,
                timeout=(timeout, timeout),
                allow_redirects=False,
                stream=True,
            )
        except (requests.exceptions.RequestException, HTTPError, OSError) as exc:
            # A request cut at the deadline fails however its socket's shutdown showed
            # (a reset, a TLS error, an end of stream): it is the deadline all the same.
            if watch.finish():
                return self._out_of_time(check)
            if not isinstance(exc, requests.exceptions.RequestException):
                raise
            return _failure(exc)
        except ValueError:  # UnicodeDecodeError too
            if not answered or not answered[-1].is_redirect:
                raise
            response = answered[-1]  # a redirect whose Location requests cannot read
        finally:
            # No cycle through the hook: the answer is freed (and closed) with its last
            # reference, as it always was.
            answered.clear()
        if watch.cut:
            # Cut before the answer was all there: its headers may end where the socket
            # was shut down, and look whole.
            watch.finish()
            response.close()
            return self._out_of_time(check)
        headers = {k.lower(): v for k, v in response.headers.items()}
        if "set-cookie" in headers:
            if check.cookies is None:
                check.cookies = RequestsCookieJar()
            extract_cookies_to_jar(check.cookies, prepared, response.raw)  # type: ignore[no-untyped-call]
        answer = _Answer(
            status=response.status_code,
            headers=headers,
            reason=f"{response.status_code} {response.reason or ''}".strip(),
            at=time.monotonic(),
        )
        fetched = check.fetch is not None and 200 <= response.status_code < 300
        if fetched:
            self._read(check, response, answer, started)
        # Before a connection can go back to its pool: nothing is shut down after this.
        if watch.finish():
            response.close()  # the connection was shut down
            if fetched:  # a body cut short may look whole (one read until the end)
                timed_out = self._out_of_time(check)
                answer.failure, answer.reason = timed_out.failure, timed_out.reason
                answer.body, answer.retry = None, False
        elif fetched:
            if answer.failure is None:
                response.raw.release_conn()  # read to the end: the connection can serve again
        elif check.method == "HEAD" and not response.raw.closed:
            try:
                response.raw.read(0)  # nothing to read: the connection goes back to the pool
                response.raw.release_conn()
            except (requests.exceptions.RequestException, OSError):
                response.close()
        else:
            response.close()  # a GET body is never read: the connection cannot be reused
        return answer

    def _out_of_time(self, check: _Check) -> _Answer:
        """The answer of a request cut at the deadline, in the words of its kind."""
        if check.fetch is not None:
            reason = f"did not finish within {seconds_text(self.settings.deadline)}"
        else:
            reason = "deadline passed"
        return _Answer(failure=lp.TIMEOUT, reason=reason)

    def _read(
        self, check: _Check, response: requests.Response, answer: _Answer, started: float
    ) -> None:
        """Read a fetch's body into `answer`, or make `answer` the failure to read it."""
        settings = self.settings
        try:
            answer.body = read_body(
                response.raw,
                answer.headers,
                max_bytes=check.max_bytes,
                until=started + settings.deadline.total_seconds(),
                timeout=settings.timeout.total_seconds(),
                deadline=settings.deadline,
            )
        except BodyRefused as exc:
            answer.failure = lp.TIMEOUT if exc.timeout else lp.UNKNOWN
            answer.reason, answer.retry = exc.reason, exc.retry
            answer.refused = not exc.timeout and not exc.retry
            response.close()  # the rest is never read: the connection cannot be reused


def _adapter(session: requests.Session, url: str) -> requests.adapters.BaseAdapter | None:
    """The adapter `session` sends `url` with; None when it has none (the request
    then fails as requests says)."""
    try:
        return session.get_adapter(url)
    except requests.exceptions.InvalidSchema:
        return None


def _failure(exc: requests.exceptions.RequestException) -> _Answer:
    """The answer of a request that failed with `exc` before any answer came."""
    if isinstance(exc, requests.exceptions.SSLError):
        # Connection-level too: behind a captive portal or an intercepting proxy
        # every HTTPS host fails so, and that is the network, not the sites.
        return _Answer(
            failure=lp.BROKEN,
            reason=f"TLS failure: {_short(exc)}",
            connection=True,
            doubt="tls",
        )
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return _Answer(failure=lp.TIMEOUT, reason="connect timed out", connection=True, retry=True)
    if isinstance(exc, requests.exceptions.Timeout):
        return _Answer(failure=lp.TIMEOUT, reason="read timed out", retry=True)
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = _connection_text(exc)
        refused = "refused" in text.lower() or "unreachable" in text.lower()
        return _Answer(
            failure=lp.UNKNOWN,
            reason=f"connection failed: {text}",
            connection=True,
            retry=not refused,
            reset=not refused,
        )
    return _Answer(failure=lp.UNKNOWN, reason=_short(exc))


def _validators(feed: FetchRequest) -> dict[str, str]:
    """The conditional headers of a fetch: what the caller's copy was served with.
    A value no header can carry is left out (the fetch is then unconditional) rather
    than failing the request."""
    headers = {}
    for name, value in (("If-None-Match", feed.etag), ("If-Modified-Since", feed.last_modified)):
        value = (value or "").strip()
        if value and value.isprintable() and all(ord(c) < 256 for c in value):
            headers[name] = value
    return headers


def _fetched(check: _Check, answer: _Answer, started: datetime, after: float) -> Fetched:
    """What a finished fetch gives its caller: its answer came `after` seconds past
    `started`."""
    assert check.fetch is not None
    now = started + timedelta(seconds=after)
    status, headers = answer.status, answer.headers
    got = answer.failure is None and status is not None and (200 <= status < 300 or status == 304)
    unchanged = got and status == 304
    # A document refused whole keeps its validators: the next fetch asks conditionally
    # and costs a 304 while it stays the same.
    named = got or answer.refused
    wait = None
    if answer.failure is None and status in (429, 503):
        longest = timedelta(seconds=DELTA_SECONDS_MAX)
        wait = lp.retry_after(headers.get("retry-after"), now, longest)
    return Fetched(
        url=check.url,
        status=status,
        body=answer.body if got and not unchanged else None,
        etag=(headers.get("etag") if named else None) or (check.fetch.etag if unchanged else None),
        last_modified=(headers.get("last-modified") if named else None)
        or (check.fetch.last_modified if unchanged else None),
        final_url=check.current,
        moved_to=check.current if got and check.hops and check.permanent else None,
        max_age=max_age(headers, now),
        retry_after=wait.total_seconds() if wait is not None else None,
        after=after,
        content_type=headers.get("content-type"),
        error=None if got else answer.reason or "no answer",
    )


def _refusal(refusal: Refusal) -> _Answer:
    if refusal.kind == "nxdomain":
        # connection-level too: a machine without DNS may say so for every name
        return _Answer(
            failure=lp.BROKEN,
            reason=refusal.reason,
            connection=True,
            vetted_out=True,
            doubt="dns",
        )
    if refusal.kind == "dns-error":
        return _Answer(failure=lp.UNKNOWN, reason=refusal.reason, connection=True, vetted_out=True)
    return _Answer(failure=lp.refusal_class(refusal), reason=refusal.reason, vetted_out=True)


def _another(hosts: set[str], host: str) -> bool:
    """Whether `hosts` holds a host other than `host` (without copying the set: a run's
    doubtful answers each ask, and a run has thousands of hosts)."""
    return len(hosts) > (host in hosts)


class _Confirmation:
    """Whether a run's doubtful broken or unsafe answers (see the module) are
    confirmed: by the names that resolved to public addresses, the hosts that
    answered over HTTPS and the hosts that answered without a redirect into private
    space in the run, and for DNS, when no other name resolved so, by looking up names
    known to exist (at most once per run, and only when an answer needs it)."""

    def __init__(
        self,
        checker: LinkChecker,
        wanted: Mapping[str, str],
        previous: Mapping[str, LinkResult],
        answers: Iterable[tuple[_Check, _Answer]],
        known: Callable[[], Mapping[str, LinkResult]] | None = None,
    ) -> None:
        self.checker = checker
        self.wanted = wanted
        self.previous = previous
        self.known = known
        self.resolved: set[str] = set()
        self.spoke_tls: set[str] = set()
        #: names that did not resolve to a public address in the run: no use as canaries
        self.failed: set[str] = set()
        #: hosts of the URLs checked that answered HTTP, and of those that were
        #: redirected into private space
        self.answered: set[str] = set()
        self.sent_inside: set[str] = set()
        for check, answer in answers:
            self.resolved |= check.resolved
            self.spoke_tls |= check.spoke_tls
            if answer.vetted_out and (answer.connection or answer.doubt == "private-dns"):
                self.failed.add(check.host)
            if check.answered:
                self.answered.add(check.origin)
            if answer.doubt == "redirect":
                self.sent_inside.add(check.origin)
        #: hosts that answered and were not redirected into private space
        self.answered_plainly = self.answered - self.sent_inside
        self._resolver_works: bool | None = None

    def doubt(self, check: _Check, answer: _Answer) -> str | None:
        """Why the broken or unsafe answer of `check` cannot count; None when it counts."""
        if answer.failure not in (lp.BROKEN, lp.UNSAFE) or answer.doubt is None:
            return None
        if answer.doubt == "tls":
            if _another(self.spoke_tls, check.host):
                return None
            return "no other host answered over HTTPS in this run: TLS on this network is in doubt"
        if answer.doubt == "redirect":
            if not _another(self.answered_plainly, check.origin):
                return (
                    "no other host answered in this run without a redirect into private"
                    " space: it may be the local network's (a captive portal)"
                )
            if 2 * len(self.sent_inside) > len(self.answered):
                return (
                    "most hosts that answered in this run redirected into private space:"
                    " that is the local network (a captive portal), not the site"
                )
            return None
        if _another(self.resolved, check.host):
            return None
        if self._resolver_works is None:
            self._resolver_works = self._canaries_resolve()
        if self._resolver_works:
            return None
        return (
            "no other name resolved to a public address in this run: the resolver could"
            " not be confirmed to work"
        )

    def _canaries_resolve(self) -> bool:
        settings = self.checker.settings
        resolver = self.checker.resolver or system_resolver
        wanted: Mapping[str, str] = self.wanted
        previous = self.previous
        if self.known is not None:
            others = self.known()
            wanted = {**{key: key for key in others}, **wanted}
            previous = {**others, **previous}
        for host, port in lp.canary_names(wanted, previous, self.failed, settings):
            try:
                if lp.proves_resolver(resolver(host, port), settings.allow_private):
                    return True
            except (OSError, UnicodeError):  # gaierror is an OSError
                continue
        return False


def _short(exc: BaseException | str) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 200 else text[:197] + "..."


def _connection_text(exc: BaseException) -> str:
    """What a connection that failed says: the socket's own error (`Connection refused`,
    `Network is unreachable`) when one is underneath, not the wrappers around it
    (`_WatchedHTTPPool(host=..., port=1): Max retries exceeded with url: ... (Caused by
    NewConnectionError(...`), whose cut to 200 characters lost the cause: a refused
    connection was then retried as a reset one, and said so nowhere."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        error = todo.pop(0)
        if id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, OSError) and error.strerror:
            return _short(error.strerror)
        inner = [getattr(error, "reason", None), error.__cause__, error.__context__]
        todo += [e for e in (*error.args, *inner) if isinstance(e, BaseException)]
    return _short(exc)
