"""A farm of real HTTP servers on 127.0.0.x, one per address, for link checker tests.

Each host answers by path (see `Handler.route`) and records every request it sees
and the most requests it had in flight at once, so tests can assert what a site
would have seen.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from dataclasses import field
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qs
from urllib.parse import urlsplit


@dataclass
class HostLog:
    """What one host saw."""

    requests: list[tuple[str, str, float]] = field(default_factory=list)  # method, path, time
    in_flight: int = 0
    max_in_flight: int = 0
    hits: Counter[str] = field(default_factory=Counter)  # path -> requests
    lock: threading.Lock = field(default_factory=threading.Lock)


class Handler(BaseHTTPRequestHandler):
    server: FarmServer
    protocol_version = "HTTP/1.1"
    answered = False

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self.serve("HEAD")

    def do_GET(self) -> None:
        self.serve("GET")

    def serve(self, method: str) -> None:
        log = self.server.log
        parts = urlsplit(self.path)
        with log.lock:
            log.requests.append((method, self.path, time.monotonic()))
            log.hits[parts.path] += 1
            seen = log.hits[parts.path]
            log.in_flight += 1
            log.max_in_flight = max(log.max_in_flight, log.in_flight)
        self.answered = False
        try:
            self.route(method, parts.path, parse_qs(parts.query), seen)
        finally:
            self.done()

    def done(self) -> None:
        """The request stops being in flight the moment its answer starts to leave.

        Counting it until the handler returns would overlap the client's next request,
        which may arrive on another connection as soon as the answer is read.
        """
        if not self.answered:
            self.answered = True
            with self.server.log.lock:
                self.server.log.in_flight -= 1

    def answer(self, status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
        self.done()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def route(self, method: str, path: str, query: dict[str, list[str]], seen: int) -> None:
        value = {k: v[0] for k, v in query.items()}
        simple = {
            "/ok": 200,
            "/gone": 404,
            "/removed": 410,
            "/forbidden": 403,
            "/auth": 401,
            "/legal": 451,
            "/linkedin": 999,
            "/error": 500,
            "/unavailable": 503,
            "/teapot": 418,
        }
        if path in simple:
            self.answer(simple[path], body=b"<html>page</html>")
        elif path == "/challenge":
            self.answer(403, {"cf-mitigated": "challenge"})
        elif path == "/no-head":
            self.answer(405 if method == "HEAD" else 200, body=b"<html>page</html>")
        elif path == "/busy":  # 429 with Retry-After the first `times` times
            if seen <= int(value.get("times", "1")):
                after = value.get("after", "1")  # "none": no Retry-After
                self.answer(429, {} if after == "none" else {"Retry-After": after})
            else:
                self.answer(200)
        elif path == "/flaky":  # 500 the first `times` times
            self.answer(500 if seen <= int(value.get("times", "1")) else 200)
        elif path == "/redirect":
            self.answer(int(value.get("status", "301")), {"Location": value["to"]})
        elif path.startswith("/chain/"):
            left = int(path.rsplit("/", 1)[1])
            self.answer(302, {"Location": f"/chain/{left - 1}" if left > 1 else "/ok"})
        elif path == "/loop-a":
            self.answer(302, {"Location": "/loop-b"})
        elif path == "/loop-b":
            self.answer(302, {"Location": "/loop-a"})
        elif path == "/slow":
            time.sleep(float(value.get("s", "2")))
            self.answer(200)
        elif path == "/hold":
            time.sleep(float(value.get("s", "0.2")))
            self.answer(200)
        elif path.startswith("/t/"):  # /t/<tag>/<route>: any route, hits counted per tag
            _tag, _, rest = path.removeprefix("/t/").partition("/")
            self.route(method, "/" + rest, query, seen)
        elif path == "/cf":  # a Cloudflare challenge page with any status
            self.answer(int(value.get("status", "403")), {"cf-mitigated": "challenge"})
        elif path.startswith("/switch/"):  # the status a test set with Farm.switch
            name = path.removeprefix("/switch/")
            self.answer(self.server.switches.get(name, 200), body=b"<html>page</html>")
        elif path == "/reset-head":  # resets a HEAD, answers a GET
            if method == "HEAD":
                self.reset()
            else:
                self.answer(200, body=b"<html>page</html>")
        elif path == "/reset":
            self.reset()
        else:
            self.answer(404)

    def reset(self) -> None:
        """Close the connection with a TCP reset instead of an answer."""
        self.done()
        self.connection.setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
        )
        self.close_connection = True
        self.connection.close()


class RawServer:
    """A TCP server on one loopback address, for what `http.server` cannot do (answer a
    byte at a time, read the kernel's arrival stamps): it accepts connections on a
    thread, counts them and serves each on a thread of its own (`_serve`)."""

    def __init__(self, address: str = "127.0.0.1", options: dict[int, int] | None = None) -> None:
        self.listener = socket.create_server((address, 0))
        # Socket options (SOL_SOCKET) are inherited by every connection accepted.
        for option, value in (options or {}).items():
            self.listener.setsockopt(socket.SOL_SOCKET, option, value)
        self.address, self.port = address, self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.connections = 0
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def url(self, path: str) -> str:
        return f"http://{self.address}:{self.port}{path}"

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes accept(); close() does not
        self.listener.close()
        self.acceptor.join()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        raise NotImplementedError


class FarmServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: str) -> None:
        super().__init__((address, 0), Handler)
        self.log = HostLog()
        #: /switch/<name> answers switches[name] (200 when unset)
        self.switches: dict[str, int] = {}

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that hang up (the /reset route) are expected here


class Farm:
    """Servers on 127.0.0.2, 127.0.0.3, ...: `farm.url(0, "/ok")` is a URL on the first."""

    def __init__(self, hosts: int = 3) -> None:
        self.servers = [FarmServer(f"127.0.0.{n + 2}") for n in range(hosts)]
        self.threads = [
            threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            for s in self.servers
        ]
        for thread in self.threads:
            thread.start()

    def url(self, host: int, path: str) -> str:
        address, port = self.servers[host].server_address[:2]
        return f"http://{address}:{port}{path}"

    def log(self, host: int) -> HostLog:
        return self.servers[host].log

    def switch(self, host: int, name: str, status: int) -> None:
        """Make /switch/<name> on `host` answer `status` from now on."""
        self.servers[host].switches[name] = status

    def total_requests(self) -> int:
        return sum(len(s.log.requests) for s in self.servers)

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()
