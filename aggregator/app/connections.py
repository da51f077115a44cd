"""Who may hold a connection to the built-in HTTP server, and for how long.

waitress on its own accepts connections until its total `connection_limit`, then
stops accepting: later clients wait in the kernel's backlog behind the rest. An idle
connection stays open until `channel_timeout` of silence, and every byte restarts
that clock. A connection with requests pending is never timed out, every request
pipelined in one packet is parsed and queued at once, and a task thread waits, for as
long as the client likes, for room to queue more of a response. So one client holding
a thousand idle sockets, sending a byte every 20 s, or pipelining hundreds of requests
on a few connections and reading nothing, locks every reader out, `/healthz` included.

This module subclasses waitress's listener (`TcpWSGIServer`) and channel
(`HTTPChannel`) to add these rules, decided when a connection is accepted, when a
request arrives, or in waitress's maintenance pass:

- **Per client.** One client (an IPv4 address; an IPv6 /64, since one host commonly
  holds a whole /64) holds at most `per_client` connections. A connection over that
  closes the client's own connection that has waited longest for a request, so a
  reader behind the same address (NAT) still gets through; when all of them are busy
  the newcomer is closed at once.
- **Reserve.** `total` is far above `per_client`, so other clients find room. If it
  is reached all the same (many addresses), the client holding the most loses the
  connection that has waited longest, or, when none of them waits, its slowest busy
  one. Either way every connection is accepted at once, never left in the backlog,
  where it would sit in front of every later client.
- **Request deadline.** A connection must deliver a complete request within
  `request_deadline` seconds of opening or of the end of its previous response
  (keep-alive). Bytes that arrive do not restart it, so a slow or half-sent request
  is closed on time.
- **One request at a time.** A channel parses one request ahead, not every request a
  packet holds: the rest waits unparsed (and nothing more is read) until the response
  has been handed to the kernel. Pipelining gets a client nothing a client sending one
  request after another would not get.
- **Threads.** At most `tasks_per_client` of one client's requests are with the task
  threads at once (`aggregator.app.taskgate`); its others wait their turn.
- **Sending.** A response being sent must keep moving: in every `send_timeout` seconds
  at least `min_send_rate` bytes a second of it (and at least one byte) must go out,
  or it is abandoned: the connection is reset and a task thread waiting to queue more
  of it is woken and freed.

Connections are closed by shutting their socket down, so that the loop sees the
hang-up and closes them on its next pass even when a client that reads nothing keeps
the kernel's send buffer full (waitress would wait for a write event that never comes).

Everything here runs in the server's loop thread (accepting, parsing, the maintenance
pass, closing), except `Channel.service` and `Channel.write_soon`, which run in a task
thread.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
import math
import socket
import struct
import threading
import time
from dataclasses import dataclass
from dataclasses import replace
from typing import Any
from typing import cast

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher
from waitress.task import WSGITask

from aggregator.app.taskgate import TaskGate
from aggregator.clock import wall_ns

log = logging.getLogger("aggregator.app.server")

#: open connections in all; lowered to fit the process's open-file limit
MAX_CONNECTIONS = 1000
#: open connections one client (an IPv4 address, an IPv6 /64) may hold
MAX_CONNECTIONS_PER_CLIENT = 64
#: seconds a connection has to deliver a complete request, from opening or from the
#: end of its previous response
REQUEST_DEADLINE = 10.0
#: seconds between maintenance passes (waitress counts whole seconds); the deadline
#: is enforced to within this
MAINTENANCE_INTERVAL = 1
#: seconds of sending in which a response must make progress (see MIN_SEND_RATE)
SEND_TIMEOUT = 3 * REQUEST_DEADLINE
#: bytes per second a response must average over each SEND_TIMEOUT while it is sent;
#: far below any real network, far above a client reading a few bytes now and then
MIN_SEND_RATE = 1024
#: requests of one client with the task threads at once (the server runs 8 threads)
TASKS_PER_CLIENT = 2
#: bytes of request line and headers; feed readers send a few hundred
MAX_REQUEST_HEAD = 64 * 1024
#: bytes of request body: GET and HEAD need none; kept below waitress's 512 KiB
#: `inbuf_overflow`, so no request ever spills to a temporary file
MAX_REQUEST_BODY = 64 * 1024
#: descriptors left to the rest of the process (state file, output files, link checks)
FD_HEADROOM = 256


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """How many connections the server holds, per client and in all, and for how long."""

    #: open connections in all (the reserve is what one client cannot take)
    total: int = MAX_CONNECTIONS
    #: open connections per client address (IPv6: per /64)
    per_client: int = MAX_CONNECTIONS_PER_CLIENT
    #: seconds to deliver a complete request (from opening, or the end of the last response)
    request_deadline: float = REQUEST_DEADLINE
    #: seconds in which a response being sent must move at least `min_send_rate` bytes
    #: a second (and at least one byte), or is abandoned
    send_timeout: float = SEND_TIMEOUT
    #: bytes per second a response being sent must average over each `send_timeout`
    min_send_rate: float = MIN_SEND_RATE
    #: requests of one client with the task threads at once; its others wait
    tasks_per_client: int = TASKS_PER_CLIENT

    def __post_init__(self) -> None:
        if self.per_client < 1:
            raise ValueError(f"per_client must be at least 1, not {self.per_client}")
        if self.total <= self.per_client:
            raise ValueError(
                f"total ({self.total}) must be above per_client ({self.per_client}): "
                "what one client cannot take is the room left for the others"
            )
        if not self.request_deadline > 0:
            raise ValueError(f"request_deadline must be positive, not {self.request_deadline}")
        if not self.send_timeout > 0:
            raise ValueError(f"send_timeout must be positive, not {self.send_timeout}")
        if not self.min_send_rate >= 0:
            raise ValueError(f"min_send_rate must be 0 or more, not {self.min_send_rate}")
        if self.tasks_per_client < 1:
            raise ValueError(f"tasks_per_client must be at least 1, not {self.tasks_per_client}")

    @property
    def channel_timeout(self) -> int:
        """waitress's own inactivity timeout: only a backstop, the rules above act first."""
        return 2 * math.ceil(max(self.request_deadline, self.send_timeout))


def fit_to_open_files(limits: ConnectionLimits, open_files: int | None) -> ConnectionLimits:
    """`limits` lowered, when needed, so connections leave FD_HEADROOM descriptors free.

    Out of descriptors, accept() fails for everyone and so do the build's own files.
    `open_files` None means no limit.
    """
    if open_files is None or limits.total <= open_files - FD_HEADROOM:
        return limits
    total = max(2, open_files - FD_HEADROOM)
    # Keep the reserve: one client may still take only a small part of what is left.
    return replace(limits, total=total, per_client=min(limits.per_client, max(1, total // 4)))


def client_key(addr: Any) -> str:
    """The client a peer address counts against: the IPv4 address, or the IPv6 /64.

    An IPv4-mapped IPv6 address (a dual-stack socket) is its IPv4 address; a link-local
    IPv6 address is itself (its /64 is the whole link).
    """
    host = addr[0] if isinstance(addr, tuple) and addr else addr
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return str(host)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        if not ip.is_link_local:
            return f"{ipaddress.IPv6Address(int(ip) >> 64 << 64)}/64"
    return str(ip)


class _Task(WSGITask):
    """waitress's task, but a response that has no body (a 304, a 204) to an HTTP/1.1
    request keeps its connection: waitress closes it for want of a Content-Length,
    which such a response must not carry and does not need (its headers end it: RFC
    9112 6.3), so a reader revalidating its feeds connected again for each unchanged
    one. A request whose Connection header lists `close` among other options
    (`keep-alive, close`) is closed after any response: waitress looks for `close`
    alone. HTTP/1.0 is as waitress has it."""

    def _asks_to_close(self) -> bool:
        header = cast(Any, self.request).headers.get("CONNECTION", "")
        return "close" in (option.strip().lower() for option in header.split(","))

    def build_response_header(self) -> bytes:
        if self.version == "1.1" and self._asks_to_close():
            self.set_close_on_finish()
        return super().build_response_header()

    def set_close_on_finish(self) -> None:
        if (
            self.version == "1.1"
            and not self.has_body
            and not self.wrote_header
            and not self._asks_to_close()
        ):
            return
        super().set_close_on_finish()


class Channel(HTTPChannel):
    """A waitress channel that knows its client, since when it waits for a request, and
    how its response is moving; it parses one request at a time."""

    task_class = _Task

    def __init__(
        self,
        server: BaseWSGIServer,
        sock: socket.socket,
        addr: Any,
        adj: Adjustments,
        map: dict[int, Any] | None = None,
    ) -> None:
        listener = cast(Listener, server)
        self.guard = listener.guard
        self.gate = listener.gate
        self.client = client_key(addr)
        # When it began waiting for a complete request: its opening, then the end of
        # each response. None while a request is served or its response is sent.
        self.waiting_since: float | None = time.monotonic()
        # Bytes received after a complete request, not parsed yet (pipelining).
        self.held = b""
        # Bytes handed to the kernel so far, and where the send window began (the
        # time, and `sent` then); None while nothing waits to be sent.
        self.sent = 0
        self.window: tuple[float, int] | None = None
        super().__init__(server, sock, addr, adj, map)

    def add_channel(self, map: Any = None) -> None:
        super().add_channel(map)
        self.guard.add(self)

    def del_channel(self, map: Any = None) -> None:
        super().del_channel(map)
        self.guard.remove(self)
        self.gate.forget(self)

    def received(self, data: bytes) -> bool:
        """waitress's `received`, except that a complete request stops the parsing.

        waitress parses every request in what one recv() returns (8 KiB: some 200
        pipelined GETs) and queues them all; the task then writes their responses one
        after the other whether the client reads or not. Here the rest waits in `held`,
        and no more is read, until the response has been handed to the kernel
        (`readable` then parses the next one).
        """
        with cast(Any, self).requests_lock:  # (missing from the stubs)
            if self.will_close or self.close_when_flushed:
                return False
            data = self.held + data
            self.held = b""
            requests = cast(list[Any], self.requests)
            while data:
                if requests:
                    self.held = data
                    break
                if self.request is None:
                    self.request = self.parser_class(self.adj)
                consumed = self.request.received(data)
                if (
                    self.request.expect_continue
                    and self.request.headers_finished
                    and not self.sent_continue
                ):
                    self.send_continue()
                if self.request.completed:
                    self.sent_continue = False
                    if not self.request.empty:
                        requests.append(self.request)
                        self.server.add_task(cast(Any, self))
                    self.request = None
                data = data[consumed:]
        if self.requests:
            self.waiting_since = None  # a complete request: the deadline is met
        return True

    def readable(self) -> bool:
        # The loop asks every channel before each poll: the moment to go on with a
        # pipelined request, once the previous response has left.
        if self.held and self.connected and not self.busy(held=False) and not self.to_close():
            self.received(b"")
        return bool(super().readable()) and not self.held

    def service(self) -> None:
        try:
            super().service()
        finally:
            self.gate.done(self)
        # The response is written. With nothing left to send, the deadline for the
        # next request starts now; while bytes still wait for a slow reader, it starts
        # at the maintenance pass that finds them sent.
        self.waiting_since = None if self.busy() else time.monotonic()

    def write_soon(self, data: bytes) -> int:
        if data and not self.total_outbufs_len:
            # The client has everything so far: the send window starts afresh.
            self.window = (time.monotonic(), self.sent)
        return super().write_soon(data)

    def send(self, data: bytes, do_close: bool = True) -> int:
        sent = super().send(data, do_close)
        self.sent += sent
        return sent

    def waiting(self) -> bool:
        """Open, and waiting for a complete request (nothing being served or sent)."""
        return self.waiting_since is not None and not self.busy() and not self.to_close()

    def busy(self, *, held: bool = True) -> bool:
        """A request being served or waiting for a thread, or a response being sent."""
        return bool(self.requests or self.total_outbufs_len or (held and self.held))

    def to_close(self) -> bool:
        return bool(self.will_close or self.close_when_flushed)

    def send_rate(self, now: float) -> float:
        """Bytes a second of the response being sent in its current window (infinite
        while nothing waits to be sent)."""
        if self.window is None or not self.total_outbufs_len:
            return math.inf
        start, mark = self.window
        return (self.sent - mark) / max(now - start, MAINTENANCE_INTERVAL)

    def check_send(self, now: float, limits: ConnectionLimits) -> bool:
        """False when the response being sent moved too little in its last window."""
        if not self.total_outbufs_len:
            self.window = None
            return True
        if self.window is None:
            self.window = (now, self.sent)
            return True
        start, mark = self.window
        if now - start < limits.send_timeout:
            return True
        if self.sent - mark < max(1.0, limits.min_send_rate * (now - start)):
            return False
        self.window = (now, self.sent)
        return True

    def close_soon(self, *, abort: bool = False) -> None:
        """Have the loop close it on its next pass, whatever the client reads.

        shutdown() makes the socket report a hang-up, so the loop closes it even when
        the kernel's send buffer is full and no write event would come. Bytes already
        with the kernel are still delivered, unless `abort`: then they are dropped and
        the connection is reset. Closing wakes a task thread waiting for room to queue
        more of a response (waitress's `handle_close` notifies it).
        """
        self.will_close = True
        sock = self.socket
        if sock is None:
            return
        with contextlib.suppress(OSError):  # gone already
            if abort:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RDWR)


class Guard:
    """The connections open on a server's listeners, by client."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        # insertion-ordered sets: the connections each client holds
        self.clients: dict[str, dict[Channel, None]] = {}
        self.count = 0
        self._capped: set[str] = set()  # clients told about in the log
        self._full = False
        # The loop thread does nearly everything here, but waitress may close a channel
        # from a task thread (a failed `100 Continue`), which removes it.
        self._lock = threading.RLock()

    def add(self, channel: Channel) -> None:
        with self._lock:
            self.clients.setdefault(channel.client, {})[channel] = None
            self.count += 1

    def remove(self, channel: Channel) -> None:
        with self._lock:
            self._remove(channel)

    def _remove(self, channel: Channel) -> None:
        held = self.clients.get(channel.client)
        if held is None or channel not in held:
            return  # closed already, or evicted and now really closing
        del held[channel]
        self.count -= 1
        if not held:
            del self.clients[channel.client]
            self._capped.discard(channel.client)
        if self._full and self.count < self.limits.total * 9 // 10:
            self._full = False

    def make_room(self, client: str) -> bool:
        """May a new connection from `client` open? Closes a waiting one to make room."""
        with self._lock:
            return self._make_room(client)

    def _make_room(self, client: str) -> bool:
        held = self.clients.get(client, {})
        if len(held) >= self.limits.per_client:
            victim = _longest_waiting(held)
            if client not in self._capped:
                self._capped.add(client)
                log.warning(
                    "%s holds %d connections, the most one client may: %s",
                    client,
                    len(held),
                    "closing its longest idle ones for new ones"
                    if victim
                    else "refusing new ones while all are busy",
                )
            if victim is None:
                return False
            self._evict(victim)
        if self.count >= self.limits.total:
            victim = self._victim_anywhere()
            if not self._full:
                self._full = True
                log.warning(
                    "%d connections open, the most the server holds: closing the longest "
                    "idle ones of the clients holding the most, or their slowest busy ones",
                    self.count,
                )
            if victim is None:
                return False  # nothing open at all: a limit of 0, which is refused
            self._evict(victim)
        return True

    def _victim_anywhere(self) -> Channel | None:
        """The connection closed to make room: the longest idle one of the clients
        holding the most, or, when none is idle, the slowest busy one of the client
        holding the most. So a newcomer always finds room."""
        ranked = sorted(self.clients.values(), key=lambda held: -len(held))
        for held in ranked:
            victim = _longest_waiting(held)
            if victim is not None:
                return victim
        if not ranked:
            return None
        now = time.monotonic()
        return min(ranked[0], key=lambda channel: channel.send_rate(now))

    def _evict(self, victim: Channel) -> None:
        # Closed by the loop on its next pass, not here: its descriptor number could be
        # reused by the connection accepted now while this pass of the loop still holds
        # events for the old one. A busy one is reset: what it has not read is dropped.
        victim.close_soon(abort=victim.busy())
        self._remove(victim)


_OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


def _longest_waiting(held: dict[Channel, None]) -> Channel | None:
    waiting = [c for c in held if c.waiting()]
    return min(waiting, key=lambda c: cast(float, c.waiting_since)) if waiting else None


class Listener(TcpWSGIServer):
    """waitress's TCP listener, with the per-client cap, the reserve, the deadline, the
    send rule and the gate to the task threads."""

    channel_class = Channel

    def __init__(
        self,
        application: Any,
        map: dict[int, Any],
        *,
        guard: Guard,
        gate: TaskGate,
        dispatcher: ThreadedTaskDispatcher,
        adj: Adjustments,
        sockinfo: tuple[int, int, int, Any],
    ) -> None:
        self.guard = guard
        self.gate = gate
        self._next_pass = 0.0
        self._paused_until = 0.0
        super().__init__(application, map, dispatcher=dispatcher, adj=adj, sockinfo=sockinfo)
        # (the stubs lack the attributes waitress sets at run time)
        self.port = int(cast(Any, self).effective_port)

    def readable(self) -> bool:
        # waitress runs its maintenance from here: the loop asks every pass, and a pass
        # waits at most `asyncore_loop_timeout` (1 s) for events.
        now = time.monotonic()
        if now >= self._next_pass:
            self._next_pass = now + self.adj.cleanup_interval
            self.maintenance(wall_ns() / 1e9)  # waitress times idle channels by time.time()
        # Unlike waitress, keep accepting at the total limit: handle_accept makes room
        # or closes the newcomer, so nobody queues in the backlog behind connections
        # that will not be accepted.
        return bool(self.accepting) and now >= self._paused_until

    def maintenance(self, now: float) -> None:
        super().maintenance(now)  # type: ignore[arg-type]  # waitress passes time.time()
        limits = self.guard.limits
        mono = time.monotonic()
        for channel in list(cast(dict[int, Channel], self.active_channels).values()):
            if channel.will_close:
                # Closing already (waitress's own timeout, a failed send, a rule
                # below): make sure a full send buffer does not keep it open.
                channel.close_soon()
            elif not channel.check_send(mono, limits):
                log.debug(
                    "%s reads too slowly: abandoning its response (%d bytes unsent)",
                    channel.client,
                    channel.total_outbufs_len,
                )
                channel.close_soon(abort=True)
            elif channel.busy():
                channel.waiting_since = None
            elif channel.waiting_since is None:
                channel.waiting_since = mono  # its response was sent since the last pass
            elif mono - channel.waiting_since >= limits.request_deadline:
                channel.close_soon()

    def add_task(self, task: Any) -> None:
        # waitress calls this for a channel with a request to serve
        self.gate.submit(cast(Channel, task))

    def handle_accept(self) -> None:
        try:
            pair = self.accept()
        except OSError as exc:
            if exc.errno in _OUT_OF_RESOURCES:
                # accept() would fail again at once and the loop would spin: wait for
                # the next pass (closed connections free descriptors and memory).
                self._paused_until = time.monotonic() + MAINTENANCE_INTERVAL
                log.warning("accept() failed, pausing for a moment: %s", exc)
            else:  # one connection's trouble (reset, refused by a firewall)
                log.debug("accept() failed: %s", exc)
            return
        if pair is None:
            return
        conn, addr = pair
        if not self.guard.make_room(client_key(addr)):
            conn.close()
            return
        try:
            self.set_socket_options(conn)
            self.channel_class(self, conn, self.fix_addr(addr), self.adj, map=cast(Any, self)._map)
        except OSError:  # gone already: nothing to serve
            conn.close()

    def handle_error(self) -> None:
        # waitress's default closes the dispatcher: for a listener that would end all
        # serving over one bad connection. Log it and keep listening.
        log.exception("error while accepting a connection")
        self._paused_until = time.monotonic() + MAINTENANCE_INTERVAL


def open_listeners(
    application: Any,
    host: str,
    port: int,
    *,
    map: dict[int, Any],
    dispatcher: ThreadedTaskDispatcher,
    adj: Adjustments,
    limits: ConnectionLimits,
) -> list[Listener]:
    """Listeners bound to every address `host` names, on one port, sharing one guard.

    Raises OSError (`socket.gaierror` for a name that does not resolve, `EADDRINUSE`...)
    when one cannot be bound; whatever was opened stays in `map` for the caller to close.
    """
    guard = Guard(limits)
    gate = TaskGate(dispatcher, limits.tasks_per_client)
    seen: set[tuple[str, int]] = set()
    listeners: list[Listener] = []
    for family, socktype, proto, _, sockaddr in socket.getaddrinfo(
        host or None,
        port,
        socket.AF_UNSPEC,
        socket.SOCK_STREAM,
        socket.IPPROTO_TCP,
        socket.AI_PASSIVE,
    ):
        address = str(sockaddr[0]).split("%", 1)[0]
        if (address, int(sockaddr[1])) in seen:
            continue  # getaddrinfo may answer the same address twice
        seen.add((address, int(sockaddr[1])))
        if port == 0 and listeners:
            # Port 0 picks a free port: every address of the name gets the first one's.
            sockaddr = (sockaddr[0], listeners[0].port, *sockaddr[2:])
        listeners.append(
            Listener(
                application,
                map,
                guard=guard,
                gate=gate,
                dispatcher=dispatcher,
                adj=adj,
                sockinfo=(family, socktype, proto, sockaddr),
            )
        )
    return listeners
