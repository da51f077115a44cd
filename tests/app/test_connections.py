"""One client cannot lock readers out: the server's connection rules on real sockets.

Every test starts the real `Server` (waitress) on 127.0.0.1, in process, and talks to
it over real sockets; the lock-out test is run once more against the real
`aggregator serve` command in a subprocess. A client socket binds its source address
before connecting (127.0.0.2, 127.0.0.3...) to be another client.

Timing: the deadline and send tests use a short request deadline or send window and
wait for many of it before calling a connection stuck; what they assert is a lower
bound (closed no sooner than the deadline after the moment it counts from), which a
slow machine cannot break. Only the lock-out tests compare with an upper bound, the
deadline itself: a reader kept waiting longer than that is locked out.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import http.client
import json
import os
import re
import resource
import select
import socket
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import serving
from conftest import NOW
from conftest import write_article
from serving import Command

from aggregator.app.connections import FD_HEADROOM
from aggregator.app.connections import MAINTENANCE_INTERVAL
from aggregator.app.connections import MAX_CONNECTIONS_PER_CLIENT
from aggregator.app.connections import REQUEST_DEADLINE
from aggregator.app.connections import ConnectionLimits
from aggregator.app.connections import client_key
from aggregator.app.connections import fit_to_open_files
from aggregator.app.daemon import Health
from aggregator.app.server import FeedApp
from aggregator.app.server import Server
from aggregator.config import Config
from aggregator.engine.pipeline import build

#: every test here runs the server (in this process, or the real command) on real sockets
pytestmark = pytest.mark.e2e

#: idle connections the attacking address opens in the lock-out tests
IDLE = 1000
#: the request deadline (seconds) of the deadline tests
SHORT = 1.0
#: deadlines (plus maintenance passes) a test waits before it calls a connection stuck
PATIENCE = 20
#: a deadline no test reaches: only the rule under test can close a connection
NEVER = 3600.0


# --- helpers -------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


def fetch(
    port: int, path: str, source: str = "127.0.0.1", timeout: float = REQUEST_DEADLINE
) -> Answer:
    """GET `path` on a connection from `source`; a reader waits no longer than the
    default request deadline (an answer later than that is a lock-out)."""
    conn = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=timeout, source_address=(source, 0)
    )
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
    finally:
        conn.close()


class Sockets:
    """Client sockets, every one closed at the end of the test."""

    def __init__(self) -> None:
        self.all: list[socket.socket] = []

    def connect(
        self, port: int, source: str = "127.0.0.1", *, rcvbuf: int | None = None
    ) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.all.append(sock)
        if rcvbuf is not None:  # before connecting, so the window starts small
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.bind((source, 0))
        sock.settimeout(30)
        sock.connect(("127.0.0.1", port))
        return sock

    def close(self) -> None:
        for sock in self.all:
            sock.close()


@pytest.fixture
def sockets() -> Iterator[Sockets]:
    held = Sockets()
    try:
        yield held
    finally:
        held.close()


def wait_closed(
    sock: socket.socket, patience: float, *, drip: bytes = b"", every: float = 0.0
) -> tuple[float | None, bytes]:
    """Wait for the server to close `sock` (end of stream or reset), sending `drip`
    every `every` seconds meanwhile. Returns (when it was seen closed, or None after
    `patience` seconds; the bytes received)."""
    received = b""
    end = time.monotonic() + patience
    while (left := end - time.monotonic()) > 0:
        sock.settimeout(min(every, left) if drip else left)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            if drip:
                try:
                    sock.sendall(drip)
                except (BrokenPipeError, ConnectionResetError):
                    return time.monotonic(), received
            continue
        except ConnectionResetError:
            return time.monotonic(), received
        if not data:
            return time.monotonic(), received
        received += data
    return None, received


def still_open(sock: socket.socket) -> bool:
    """True when nothing (no data, no end of stream) waits on `sock` now."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return not poller.poll(0)


def wait_until_closed(socks: list[socket.socket], count: int, patience: float) -> float | None:
    """Wait until `count` of `socks` are closed by the server (the server never writes
    to them, so anything readable is an end of stream or a reset); returns when."""
    poller = select.poll()
    for sock in socks:
        poller.register(sock, select.POLLIN)
    closed = 0
    end = time.monotonic() + patience
    while closed < count and (left := end - time.monotonic()) > 0:
        for fd, _ in poller.poll(int(left * 1000) + 1):
            poller.unregister(fd)
            closed += 1
    return time.monotonic() if closed >= count else None


def open_idle(
    sockets: Sockets, port: int, count: int, source: str = "127.0.0.1"
) -> list[socket.socket]:
    return [sockets.connect(port, source) for _ in range(count)]


def need_descriptors(count: int) -> None:
    """Raise this process's open-file soft limit to `count`, or skip the test."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= count:
        return
    if hard != resource.RLIM_INFINITY and hard < count:
        pytest.skip(f"needs {count} open files; the hard limit here is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (count, hard))


def raw_get(path: str, *, close: bool = False) -> bytes:
    extra = b"Connection: close\r\n" if close else b""
    return b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n"


class Responses:
    """Reads responses (each with a Content-Length) one after the other from a socket,
    keeping what arrives of the next one (pipelining)."""

    def __init__(self, sock: socket.socket, start: bytes = b"") -> None:
        self.sock = sock
        self.buffer = bytearray(start)  # grows in place: responses of megabytes

    def _fill(self) -> None:
        chunk = self.sock.recv(1024 * 1024)
        assert chunk, f"closed after {len(self.buffer)} bytes"
        self.buffer += chunk

    def next(self) -> tuple[bytes, bytes]:
        """(head, body) of the next response."""
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        end = self.buffer.index(b"\r\n\r\n")
        head = bytes(self.buffer[:end])
        del self.buffer[: end + 4]
        found = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        assert found, head
        length = int(found.group(1))
        while len(self.buffer) < length:
            self._fill()
        body = bytes(self.buffer[:length])
        del self.buffer[:length]
        return head, body


def read_response(sock: socket.socket) -> tuple[bytes, bytes]:
    """One response from `sock`, when nothing else was sent after its request."""
    return Responses(sock).next()


def reset(sock: socket.socket) -> bool:
    """True when the server reset `sock` (dropping what it had not read). A server
    that closes in order sends its data and an end of stream, which `sock` reads; a
    reset is a hang-up and an error at once, whatever waits unread."""
    poller = select.poll()
    poller.register(sock, 0)  # hang-ups and errors are reported whatever is asked
    return any(flags & (select.POLLHUP | select.POLLERR) for _, flags in poller.poll(0))


def wait_reset(
    socks: list[socket.socket], patience: float, count: int | None = None
) -> list[float] | None:
    """Wait until `count` (all) of `socks` are reset by the server, without reading
    from them (reading is progress); returns when each was seen reset, or None."""
    count = len(socks) if count is None else count
    poller = select.poll()
    for sock in socks:
        poller.register(sock, 0)
    seen: list[float] = []
    end = time.monotonic() + patience
    while len(seen) < count and (left := end - time.monotonic()) > 0:
        for fd, flags in poller.poll(int(left * 1000) + 1):
            if flags & (select.POLLHUP | select.POLLERR):
                poller.unregister(fd)
                seen.append(time.monotonic())
    return seen if len(seen) >= count else None


def answered(sock: socket.socket) -> bytes:
    """Wait until the server starts answering on `sock`: its status line."""
    start = b""
    while len(start) < 12:
        chunk = sock.recv(12 - len(start))
        assert chunk, "closed before answering"
        start += chunk
    return start


#: what `streaming` sends for /stream: more than waitress queues for one connection
#: (16 MiB) plus what the kernel's buffers take (a few MB)
STREAM_CHUNK = b"s" * (1024 * 1024)
STREAM_CHUNKS = 48


def streaming(feeds: FeedApp) -> Callable[..., Any]:
    """`feeds`, plus /stream: a response written in many pieces, as an application that
    produces its output as it goes does. A task thread writing it to a client that
    reads nothing waits (in waitress) until the client reads or the connection closes."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") != "/stream":
            return feeds(environ, start_response)
        length = len(STREAM_CHUNK) * STREAM_CHUNKS
        start_response("200 OK", [("Content-Length", str(length))])
        return iter([STREAM_CHUNK] * STREAM_CHUNKS)

    return app


# --- fixtures ------------------------------------------------------------------------


@dataclass
class Site:
    root: Path
    health: Health


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """A real build's output, and a health record that has seen one good run."""
    base = tmp_path_factory.mktemp("site")
    src = base / "src"
    for n in range(1, 5):
        write_article(src, f"a{n}.md", n=n)
    root = base / "out"
    build(Config(sources=(src,), output=root, links="off"), now=NOW)
    now = datetime.now(UTC)
    health = Health(started_at=now, interval=timedelta(minutes=15))
    health.last_run_at = health.last_success_at = now
    health.last_status = "ok"
    return Site(root, health)


@pytest.fixture
def serve(site: Site) -> Iterator[Callable[..., Server]]:
    """Starts servers of `site` with the given ConnectionLimits fields; closes them.
    `app` wraps the site's app (see `streaming`); `threads` is the server's."""
    servers: list[Server] = []

    def start(
        *, app: Callable[[FeedApp], Any] | None = None, threads: int = 8, **limits: float
    ) -> Server:
        feeds = FeedApp(site.root, health=site.health.answer)
        server = Server(
            app(feeds) if app else feeds,
            "127.0.0.1",
            0,
            threads=threads,
            limits=ConnectionLimits(**limits),  # type: ignore[arg-type]
        ).start()
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.close()


# --- one address cannot lock the others out ------------------------------------------


def test_a_thousand_idle_connections_from_one_address_lock_nobody_out(
    site: Site, serve: Callable[..., Server], sockets: Sockets
) -> None:
    need_descriptors(IDLE + 500)  # the idle sockets, the server's side of the cap, pytest
    server = serve()  # the defaults, as `aggregator serve` runs
    assert server.limits.per_client == MAX_CONNECTIONS_PER_CLIENT
    started = time.monotonic()
    idle = open_idle(sockets, server.port, IDLE)

    # While they are open, a reader from another address gets the feed and /healthz.
    feed = fetch(server.port, "/all.rss", source="127.0.0.2")
    assert feed.status == 200
    assert feed.body == (site.root / "all.rss").read_bytes()
    health = fetch(server.port, "/healthz", source="127.0.0.2")
    assert health.status == 200
    assert json.loads(health.body)["status"] == "ok"
    # A reader from the same address gets through too: it takes the place of one of
    # that address's idle connections.
    same = fetch(server.port, "/all.atom", source="127.0.0.1")
    assert same.status == 200
    assert same.body == (site.root / "all.atom").read_bytes()

    # The server holds no more than the cap of them: the rest were accepted and closed
    # at once (not left in the backlog), well before the deadline could close them.
    when = wait_until_closed(idle, IDLE - server.limits.per_client, server.limits.request_deadline)
    assert when is not None, "the server still holds more than its cap of one address"
    assert when - started < server.limits.request_deadline
    # Still open, they still lock nobody out.
    assert fetch(server.port, "/topics/ai.rss", source="127.0.0.3").status == 200


def test_over_its_cap_a_client_loses_its_longest_idle_connection(
    serve: Callable[..., Server], sockets: Sockets
) -> None:
    server = serve(total=100, per_client=4, request_deadline=NEVER)
    idle = open_idle(sockets, server.port, 4)
    other = sockets.connect(server.port, "127.0.0.2")  # another client: not touched
    newcomer = sockets.connect(server.port)
    newcomer.sendall(raw_get("/all.rss"))
    head, _ = read_response(newcomer)
    assert head.startswith(b"HTTP/1.1 200")
    closed, _ = wait_closed(idle[0], PATIENCE * MAINTENANCE_INTERVAL)
    assert closed is not None, "the oldest idle connection was not closed"
    assert all(still_open(sock) for sock in idle[1:])
    assert still_open(other)


def test_a_client_whose_connections_are_all_busy_gets_no_more(
    site: Site, serve: Callable[..., Server], sockets: Sockets
) -> None:
    """Busy connections (a response still being sent) are never closed for a newcomer."""
    data = os.urandom(8 * 1024 * 1024)  # more than the socket buffers hold
    (site.root / "busy.bin").write_bytes(data)
    server = serve(total=100, per_client=2, request_deadline=NEVER)
    busy = [sockets.connect(server.port, "127.0.0.3", rcvbuf=4096) for _ in range(2)]
    for sock in busy:
        sock.sendall(raw_get("/busy.bin"))
        start = b""
        while len(start) < 12:
            start += sock.recv(12 - len(start))
        assert start == b"HTTP/1.1 200"  # being answered: busy from now on
    newcomer = sockets.connect(server.port, "127.0.0.3")
    closed, received = wait_closed(newcomer, PATIENCE * MAINTENANCE_INTERVAL)
    assert closed is not None, "a third connection was kept"
    assert received == b""
    assert fetch(server.port, "/all.rss", source="127.0.0.4").status == 200
    for sock in busy:  # and the busy ones were not cut
        sock.settimeout(30)
        head, body = Responses(sock, start=b"HTTP/1.1 200").next()
        assert body == data, head


def test_at_the_total_limit_a_newcomer_takes_an_idle_connections_place(
    serve: Callable[..., Server], sockets: Sockets
) -> None:
    """Many addresses, each under its cap, fill the server: the next reader still gets in."""
    server = serve(total=12, per_client=4, request_deadline=NEVER)
    idle = [s for n in (2, 3, 4) for s in open_idle(sockets, server.port, 4, f"127.0.0.{n}")]
    # The kernel hands connections over in order: the reader comes after all twelve.
    answer = fetch(server.port, "/all.rss", source="127.0.0.9")
    assert answer.status == 200
    assert wait_until_closed(idle, 1, PATIENCE * MAINTENANCE_INTERVAL) is not None
    assert sum(still_open(sock) for sock in idle) == 11


# --- the request deadline ------------------------------------------------------------


STALLS = {
    "silent": (b"", b""),  # connects and sends nothing
    "half a head": (b"GET /all.rss HTTP/1.1\r\nHost: x\r\n", b""),
    "half a body": (
        b"GET /all.rss HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"x" * 10,
        b"",
    ),
    "a byte at a time": (b"GET /all.rss HTTP/1.1\r\nHost: x\r\nX-Slow: ", b"a"),
}


@pytest.mark.parametrize("stall", list(STALLS))
def test_a_connection_without_a_complete_request_is_closed_at_the_deadline(
    serve: Callable[..., Server], sockets: Sockets, stall: str
) -> None:
    sent, drip = STALLS[stall]
    server = serve(request_deadline=SHORT)
    opened = time.monotonic()
    sock = sockets.connect(server.port)
    sock.sendall(sent)
    # The slow sender sends a byte four times a deadline: bytes never restart it.
    closed, received = wait_closed(
        sock, PATIENCE * (SHORT + MAINTENANCE_INTERVAL), drip=drip, every=SHORT / 4
    )
    assert closed is not None, f"{stall}: still open after {PATIENCE} deadlines"
    assert closed - opened >= SHORT
    assert received == b""
    # Meanwhile, and after, others are served.
    assert fetch(server.port, "/all.rss").status == 200


def test_a_keep_alive_connection_has_a_deadline_from_the_end_of_each_response(
    site: Site, serve: Callable[..., Server], sockets: Sockets
) -> None:
    server = serve(request_deadline=SHORT)
    data = (site.root / "all.rss").read_bytes()
    sock = sockets.connect(server.port)
    opened = time.monotonic()
    # Requests one after the other for longer than a deadline: the deadline counts
    # from the end of each response, not from the opening.
    served = 0
    last_sent = opened
    while time.monotonic() - opened < 1.5 * SHORT:
        last_sent = time.monotonic()
        sock.sendall(raw_get("/all.rss"))
        head, body = read_response(sock)
        assert head.startswith(b"HTTP/1.1 200")
        assert body == data
        served += 1
    assert served > 1
    # Then idle: closed a deadline after its last response at the earliest.
    closed, received = wait_closed(sock, PATIENCE * (SHORT + MAINTENANCE_INTERVAL))
    assert closed is not None, "an idle keep-alive connection was kept"
    assert closed - last_sent >= SHORT
    assert received == b""


def test_a_complete_request_is_answered_within_a_short_deadline(
    site: Site, serve: Callable[..., Server], sockets: Sockets
) -> None:
    server = serve(request_deadline=SHORT)
    answer = fetch(server.port, "/all.atom")
    assert answer.status == 200
    assert answer.body == (site.root / "all.atom").read_bytes()
    # Two requests in one send (pipelined) are both answered.
    sock = sockets.connect(server.port)
    sock.sendall(raw_get("/all.rss") + raw_get("/healthz"))
    responses = Responses(sock)
    assert responses.next()[1] == (site.root / "all.rss").read_bytes()
    head, body = responses.next()
    assert head.startswith(b"HTTP/1.1 200")
    assert json.loads(body)["status"] == "ok"


def test_a_slow_reader_of_a_large_response_is_not_cut_by_the_deadline(
    site: Site, serve: Callable[..., Server], sockets: Sockets
) -> None:
    # Far more than the kernel's socket buffers hold (a few MB): most of it waits in
    # the server, which is sending a response all along.
    data = os.urandom(24 * 1024 * 1024)
    (site.root / "large.bin").write_bytes(data)
    server = serve(request_deadline=SHORT)
    sock = sockets.connect(server.port, rcvbuf=16 * 1024)
    started = time.monotonic()
    sock.sendall(raw_get("/large.bin", close=True))
    # Read at a pace that takes four deadlines for the whole response.
    pace = len(data) / (4 * SHORT)  # bytes per second
    received = bytearray()
    while chunk := sock.recv(64 * 1024):
        received += chunk
        time.sleep(max(0.0, started + len(received) / pace - time.monotonic()))
    took = time.monotonic() - started
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert len(body) == len(data)
    assert body == data
    assert took >= 4 * SHORT


def test_close_ends_every_open_connection(serve: Callable[..., Server], sockets: Sockets) -> None:
    server = serve(request_deadline=NEVER)
    idle = open_idle(sockets, server.port, 5)
    assert fetch(server.port, "/all.rss").status == 200
    server.close()
    assert wait_until_closed(idle, len(idle), PATIENCE * MAINTENANCE_INTERVAL) is not None
    with pytest.raises(OSError):
        fetch(server.port, "/all.rss", timeout=PATIENCE * MAINTENANCE_INTERVAL)


# --- busy connections: pipelining, the task threads, sending -------------------------


#: attacking connections in the pipelining tests: as many as the server has threads
PIPELINERS = 8
#: requests each sends in one write, then reads nothing
PIPELINED = 200
#: what each asks for: 200 of them are more than waitress queues per connection (16 MiB)
#: plus the kernel's buffers, so the old server blocked a thread on each connection
PIPELINED_BODY = os.urandom(256 * 1024)


def pipeline_attack(sockets: Sockets, site: Site, port: int, source: str) -> list[socket.socket]:
    """Connections from `source` that each send PIPELINED requests for a large file at
    once and read nothing (a tiny receive buffer), answered already when returned."""
    (site.root / "pipelined.bin").write_bytes(PIPELINED_BODY)
    attack = [sockets.connect(port, source, rcvbuf=1024) for _ in range(PIPELINERS)]
    for sock in attack:
        sock.sendall(raw_get("/pipelined.bin") * PIPELINED)
    for sock in attack:
        assert answered(sock) == b"HTTP/1.1 200"
    # waitress parses, serves and queues in a moment: give it a maintenance pass.
    time.sleep(MAINTENANCE_INTERVAL)
    return attack


def test_pipelined_requests_on_a_few_connections_lock_nobody_out(
    site: Site, serve: Callable[..., Server], sockets: Sockets
) -> None:
    """Eight connections, one address, 200 requests each in one write, nothing read."""
    server = serve()  # the defaults, as `aggregator serve` runs
    pipeline_attack(sockets, site, server.port, "127.0.0.5")
    # Another address gets /healthz and a feed, within the request deadline.
    health = fetch(server.port, "/healthz", source="127.0.0.2")
    assert health.status == 200
    assert json.loads(health.body)["status"] == "ok"
    feed = fetch(server.port, "/all.rss", source="127.0.0.2")
    assert feed.status == 200
    assert feed.body == (site.root / "all.rss").read_bytes()
    # And once more, later: nothing piles up behind the attack.
    time.sleep(MAINTENANCE_INTERVAL)
    assert (
        fetch(server.port, "/all.atom", source="127.0.0.3").body
        == (site.root / "all.atom").read_bytes()
    )


def test_pipelining_from_the_readers_own_address_costs_only_the_attacker(
    site: Site, serve: Callable[..., Server], sockets: Sockets
) -> None:
    """The same attack from the reader's own address (a NAT): the reader is served, and
    the attack's connections, which read nothing, are reset once their responses have
    stood still for a send window."""
    server = serve(send_timeout=SHORT)
    started = time.monotonic()
    attack = pipeline_attack(sockets, site, server.port, "127.0.0.6")
    feed = fetch(server.port, "/all.rss", source="127.0.0.6")
    assert feed.status == 200
    assert feed.body == (site.root / "all.rss").read_bytes()
    health = fetch(server.port, "/healthz", source="127.0.0.6")
    assert json.loads(health.body)["status"] == "ok"
    resets = wait_reset(attack, PATIENCE * (SHORT + MAINTENANCE_INTERVAL))
    assert resets is not None, "connections that read nothing were kept"
    assert min(resets) - started >= SHORT


def test_one_client_holds_at_most_its_share_of_the_task_threads(
    site: Site, serve: Callable[..., Server], sockets: Sockets
) -> None:
    """Each of one address's connections asks for a response that holds a task thread
    until the client reads (waitress waits for room to queue more): only
    `tasks_per_client` threads wait for it; the others serve everyone else."""
    server = serve(app=streaming)  # its responses stand still for less than a send window
    share = server.limits.tasks_per_client
    assert share < 8  # the server's threads
    attack = [sockets.connect(server.port, "127.0.0.7", rcvbuf=1024) for _ in range(8)]
    for sock in attack:
        sock.sendall(raw_get("/stream"))
    end = time.monotonic() + PATIENCE * MAINTENANCE_INTERVAL
    while sum(not still_open(sock) for sock in attack) < share and time.monotonic() < end:
        time.sleep(MAINTENANCE_INTERVAL / 10)
    time.sleep(MAINTENANCE_INTERVAL)  # the threads that answer them are blocked by now
    health = fetch(server.port, "/healthz", source="127.0.0.2")
    assert json.loads(health.body)["status"] == "ok"
    feed = fetch(server.port, "/all.rss", source="127.0.0.2")
    assert feed.body == (site.root / "all.rss").read_bytes()
    # Only its share is being answered; the rest of its requests wait their turn.
    assert sum(not still_open(sock) for sock in attack) == share
    for sock in attack:  # free the threads before the server stops
        sock.close()


def test_a_thread_waiting_on_an_abandoned_response_is_freed(
    site: Site, serve: Callable[..., Server], sockets: Sockets
) -> None:
    """One thread only: a client that reads nothing holds it until its response is
    abandoned (a send window without progress); then the thread serves the next."""
    server = serve(app=streaming, threads=1, send_timeout=SHORT)
    stuck = sockets.connect(server.port, "127.0.0.7", rcvbuf=1024)
    started = time.monotonic()
    stuck.sendall(raw_get("/stream"))
    assert answered(stuck) == b"HTTP/1.1 200"
    # Waits for the only thread, which waits for the stuck client...
    patience = PATIENCE * (SHORT + MAINTENANCE_INTERVAL)
    health = fetch(server.port, "/healthz", source="127.0.0.2", timeout=patience)
    # ...until the response is abandoned: the thread was freed.
    assert health.status == 200
    assert time.monotonic() - started >= SHORT
    assert reset(stuck)
    feed = fetch(server.port, "/all.rss", source="127.0.0.7")
    assert feed.body == (site.root / "all.rss").read_bytes()


def test_a_response_read_too_slowly_is_abandoned(
    site: Site, serve: Callable[..., Server], sockets: Sockets
) -> None:
    """A client that reads a little now and then: never silent long, but far below the
    minimum rate, so its response is abandoned a send window or more after it began."""
    data = os.urandom(8 * 1024 * 1024)  # more than the socket buffers hold
    (site.root / "trickled.bin").write_bytes(data)
    server = serve(send_timeout=SHORT, min_send_rate=1024 * 1024)
    sock = sockets.connect(server.port, "127.0.0.8", rcvbuf=4096)
    asked = time.monotonic()
    sock.sendall(raw_get("/trickled.bin"))
    received = 0
    end = asked + PATIENCE * (SHORT + MAINTENANCE_INTERVAL)
    closed = None
    while closed is None and time.monotonic() < end:
        try:
            chunk = sock.recv(1024)  # a kilobyte four times a window
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            closed = time.monotonic()
        received += len(chunk)
        time.sleep(SHORT / 4)
    assert closed is not None, "a response read at a few KB/s was kept"
    assert closed - asked >= SHORT
    assert received < len(data)
    # Others are served meanwhile and after.
    assert fetch(server.port, "/all.rss", source="127.0.0.8").status == 200


def test_a_slow_reader_that_keeps_up_gets_a_large_response_in_full(
    site: Site, serve: Callable[..., Server], sockets: Sockets
) -> None:
    """A reader well above the minimum rate, over many send windows: never cut."""
    data = os.urandom(24 * 1024 * 1024)
    (site.root / "paced.bin").write_bytes(data)
    window = 2 * SHORT
    windows = 3
    pace = len(data) / (windows * window)  # bytes per second
    server = serve(request_deadline=SHORT, send_timeout=window, min_send_rate=pace / 16)
    sock = sockets.connect(server.port, rcvbuf=16 * 1024)
    started = time.monotonic()
    sock.sendall(raw_get("/paced.bin", close=True))
    received = bytearray()
    while chunk := sock.recv(64 * 1024):
        received += chunk
        time.sleep(max(0.0, started + len(received) / pace - time.monotonic()))
    took = time.monotonic() - started
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert body == data
    assert took >= windows * window


def test_at_the_total_limit_the_biggest_client_loses_a_busy_connection(
    site: Site, serve: Callable[..., Server], sockets: Sockets
) -> None:
    """Busy connections from several addresses fill the server, none idle: a newcomer
    from yet another address is served, and the client holding the most pays."""
    data = os.urandom(8 * 1024 * 1024)  # more than the socket buffers hold
    (site.root / "held.bin").write_bytes(data)
    server = serve(total=6, per_client=3, send_timeout=NEVER)
    held = {
        source: [sockets.connect(server.port, source, rcvbuf=4096) for _ in range(count)]
        for source, count in (("127.0.0.3", 3), ("127.0.0.4", 2), ("127.0.0.5", 1))
    }
    for socks in held.values():
        for sock in socks:
            sock.sendall(raw_get("/held.bin"))
            assert answered(sock) == b"HTTP/1.1 200"  # busy from now on
    feed = fetch(server.port, "/all.rss", source="127.0.0.9")
    assert feed.status == 200
    assert feed.body == (site.root / "all.rss").read_bytes()
    every = [sock for socks in held.values() for sock in socks]
    assert wait_reset(every, PATIENCE * MAINTENANCE_INTERVAL, count=1) is not None
    assert sum(reset(sock) for sock in held["127.0.0.3"]) == 1
    assert not any(reset(sock) for sock in held["127.0.0.4"] + held["127.0.0.5"])


# --- binding -------------------------------------------------------------------------


def _server_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith(("waitress", "http"))}


def test_an_address_in_use_raises_oserror_and_leaves_nothing_open(tmp_path: Path) -> None:
    threads = _server_threads()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError) as raised:
            Server(FeedApp(tmp_path), "127.0.0.1", taken.getsockname()[1])
        assert raised.value.errno == errno.EADDRINUSE
    gc.collect()  # an unclosed socket would warn here (warnings are errors)
    assert _server_threads() <= threads  # none started (others may have ended)


def test_a_name_that_does_not_resolve_raises_gaierror(tmp_path: Path) -> None:
    threads = _server_threads()
    with pytest.raises(socket.gaierror):
        Server(FeedApp(tmp_path), "no-such-host.invalid", 0)
    gc.collect()
    assert _server_threads() <= threads  # none started (others may have ended)


# --- rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "client"),
    [
        (("203.0.113.7", 5000), "203.0.113.7"),
        (("2001:db8:1:2::1", 5000, 0, 0), "2001:db8:1:2::/64"),
        (("2001:db8:1:2:ffff:ffff:ffff:ffff", 1, 0, 0), "2001:db8:1:2::/64"),
        (("2001:db8:1:3::1", 5000, 0, 0), "2001:db8:1:3::/64"),
        (("::ffff:198.51.100.4", 5000, 0, 0), "198.51.100.4"),
        (("fe80::1%lo", 5000, 0, 1), "fe80::1%lo"),
        (("::1", 5000, 0, 0), "::/64"),
    ],
)
def test_a_client_is_an_ipv4_address_or_an_ipv6_64(
    address: tuple[object, ...], client: str
) -> None:
    assert client_key(address) == client


def test_limits_keep_a_reserve() -> None:
    with pytest.raises(ValueError, match="per_client"):
        ConnectionLimits(total=10, per_client=10)
    with pytest.raises(ValueError, match="per_client"):
        ConnectionLimits(per_client=0)
    with pytest.raises(ValueError, match="deadline"):
        ConnectionLimits(request_deadline=0)
    defaults = ConnectionLimits()
    assert defaults.total >= 10 * defaults.per_client
    assert defaults.request_deadline == REQUEST_DEADLINE


def test_send_and_thread_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="send_timeout"):
        ConnectionLimits(send_timeout=0)
    with pytest.raises(ValueError, match="min_send_rate"):
        ConnectionLimits(min_send_rate=-1)
    with pytest.raises(ValueError, match="tasks_per_client"):
        ConnectionLimits(tasks_per_client=0)
    defaults = ConnectionLimits()
    assert defaults.send_timeout >= defaults.request_deadline
    assert defaults.tasks_per_client <= 2  # of the server's 8 threads
    # waitress's own timeout is a backstop behind every rule here
    assert defaults.channel_timeout > max(defaults.send_timeout, defaults.request_deadline)


def test_limits_fit_the_open_file_limit() -> None:
    limits = ConnectionLimits(total=1000, per_client=64)
    assert fit_to_open_files(limits, None) == limits
    assert fit_to_open_files(limits, 1000 + FD_HEADROOM) == limits
    fitted = fit_to_open_files(limits, 256 + FD_HEADROOM)
    assert fitted.total == 256
    assert fitted.per_client == 64  # a quarter: the rest stays for other clients
    small = fit_to_open_files(limits, 100 + FD_HEADROOM)
    assert (small.total, small.per_client) == (100, 25)


# --- the real command ----------------------------------------------------------------


@contextlib.contextmanager
def aggregator_serve(site: Site) -> Iterator[Command]:
    """The real `aggregator serve` of `site`; stopped at the end."""
    with serving.aggregator_serve(site.root.parent) as command:
        yield command


def test_aggregator_serve_is_not_locked_out_by_one_address(site: Site, sockets: Sockets) -> None:
    need_descriptors(IDLE + 500)  # the idle sockets and pytest's own
    with aggregator_serve(site) as command:
        port = command.port
        started = time.monotonic()
        idle = open_idle(sockets, port, IDLE)
        feed = fetch(port, "/all.rss", source="127.0.0.2")
        assert feed.status == 200
        assert feed.body == (site.root / "all.rss").read_bytes()
        health = fetch(port, "/healthz", source="127.0.0.2")
        assert health.status == 200
        assert json.loads(health.body) == {"status": "serving"}
        assert fetch(port, "/all.atom", source="127.0.0.1").status == 200
        when = wait_until_closed(idle, IDLE - MAX_CONNECTIONS_PER_CLIENT, REQUEST_DEADLINE)
        assert when is not None and when - started < REQUEST_DEADLINE
        command.stop()
        assert any("127.0.0.1 holds 64 connections" in line for line in command.lines)


def test_aggregator_serve_is_not_locked_out_by_pipelining(site: Site, sockets: Sockets) -> None:
    with aggregator_serve(site) as command:
        pipeline_attack(sockets, site, command.port, "127.0.0.5")
        health = fetch(command.port, "/healthz", source="127.0.0.2")
        assert health.status == 200
        assert json.loads(health.body) == {"status": "serving"}
        feed = fetch(command.port, "/all.rss", source="127.0.0.2")
        assert feed.status == 200
        assert feed.body == (site.root / "all.rss").read_bytes()
        # the attacker's own address too: its attack costs only its own connections
        same = fetch(command.port, "/all.atom", source="127.0.0.5")
        assert same.body == (site.root / "all.atom").read_bytes()
        command.stop()
