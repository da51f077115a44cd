"""Serving the output folder to feed readers: a small WSGI app behind waitress.

waitress does the HTTP; this module decides what a path may serve and how: the
right Content-Type per format, strong `ETag` (a digest of the bytes) and
`Last-Modified`, `304` for `If-None-Match` / `If-Modified-Since`, gzip when the
client asks, `HEAD`, and `/healthz`. It never lists a folder and never serves a
file outside the output folder (no `..`, no hidden files, no symlink that leads
out), so a reader can only get what the build published.

`/report.html` is the server's own too: the daemon's last build report (an HTML page
held in memory, never a file of the output folder) when its config serves it
(`serve_report`), else 404.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import logging
import resource
import threading
import time
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.utils import formatdate
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.task import ThreadedTaskDispatcher

from aggregator.app.connections import FD_HEADROOM
from aggregator.app.connections import MAINTENANCE_INTERVAL
from aggregator.app.connections import MAX_REQUEST_BODY
from aggregator.app.connections import MAX_REQUEST_HEAD
from aggregator.app.connections import ConnectionLimits
from aggregator.app.connections import fit_to_open_files
from aggregator.app.connections import open_listeners

CONTENT_TYPES = {
    ".rss": "application/rss+xml; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
    ".json": "application/feed+json; charset=utf-8",
    ".opml": "text/x-opml; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
}
_COMPRESSIBLE = (".rss", ".atom", ".json", ".opml", ".html", ".xml", ".css", ".txt", ".svg")
CACHE_CONTROL = "public, max-age=60"
log = logging.getLogger("aggregator.app.server")

#: the health endpoint's answer: (HTTP status, JSON body)
Health = Callable[[], tuple[int, dict[str, Any]]]
#: the build report page to serve at REPORT_PATH; None when there is none to serve
ReportPage = Callable[[], bytes | None]
REPORT_PATH = "/report.html"
#: the report names unpublished files: kept out of caches, search engines and referrers
#: (and allowed nothing but its inline styles: `reportpage.CONTENT_SECURITY_POLICY`)
_REPORT_HEADERS = [
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Robots-Tag", "noindex, nofollow"),
]
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


@dataclass(frozen=True, slots=True)
class _Entry:
    data: bytes
    etag: str
    mtime: float
    gzipped: bytes | None


class FeedApp:
    """The WSGI application. `health` is called for `/healthz`, `report` for
    `/report.html` (404 without one, or when it returns None)."""

    def __init__(
        self, root: Path, health: Health | None = None, report: ReportPage | None = None
    ) -> None:
        self.root = root
        self.health = health
        self.report = report
        self._cache: dict[tuple[str, int, int, int], _Entry] = {}
        self._lock = threading.Lock()
        #: the report page last served, and its gzipped bytes
        self._report_gzipped: tuple[bytes, bytes] | None = None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            allow = [("Allow", "GET, HEAD")]
            return _plain(start_response, "405 Method Not Allowed", method, allow)
        path = _wsgi_path(environ.get("PATH_INFO", "/"))
        if path == "/healthz":
            return self._health(start_response, method)
        if path == REPORT_PATH:
            return self._report(environ, start_response, method)
        file = self._resolve(path)
        if file is None:
            return _plain(start_response, "404 Not Found", method)
        try:
            entry = self._entry(file)
        except OSError:
            return _plain(start_response, "404 Not Found", method)
        # The gzip and plain representations are different bytes: each has its own ETag.
        gzipped = entry.gzipped is not None and _accepts_gzip(environ)
        etag = entry.etag[:-1] + '-gzip"' if gzipped else entry.etag
        # Headers a 304 repeats (RFC 9110 15.4.5), then the ones only a 200 has.
        headers = [("ETag", etag), ("Cache-Control", CACHE_CONTROL)]
        # A date tells versions apart by the second: not while the second the file was
        # written in lasts, when another version may land in it (RFC 9110 8.8.2.2). A
        # reader then polls by ETag, or asks for the whole feed again.
        dated = int(entry.mtime) < int(time.time())
        if dated:
            headers.insert(1, ("Last-Modified", formatdate(entry.mtime, usegmt=True)))
        if entry.gzipped is not None:
            headers.append(("Vary", "Accept-Encoding"))
        if _not_modified(environ, etag, entry.mtime if dated else None):
            return _plain(start_response, "304 Not Modified", method, headers)
        body = entry.gzipped if gzipped and entry.gzipped is not None else entry.data
        headers += [
            ("Content-Type", CONTENT_TYPES.get(file.suffix.lower(), "application/octet-stream")),
            ("X-Content-Type-Options", "nosniff"),
            ("Content-Length", str(len(body))),
        ]
        if gzipped:
            headers.append(("Content-Encoding", "gzip"))
        start_response("200 OK", headers)
        return [b""] if method == "HEAD" else [body]

    def _health(self, start_response: StartResponse, method: str) -> Iterable[bytes]:
        status, data = self.health() if self.health else (200, {"status": "serving"})
        body = (json.dumps(data, indent=2, default=_json_value) + "\n").encode("utf-8")
        reason = {200: "OK", 503: "Service Unavailable"}.get(status, "Unknown")
        start_response(
            f"{status} {reason}",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
            ],
        )
        return [b""] if method == "HEAD" else [body]

    def _report(
        self, environ: dict[str, Any], start_response: StartResponse, method: str
    ) -> Iterable[bytes]:
        page = self.report() if self.report is not None else None
        if page is None:
            return _plain(start_response, "404 Not Found", method)
        # Here, not at the top: `aggregator serve`, which has no report, does without it.
        from aggregator.rendering.reportpage import CONTENT_SECURITY_POLICY

        headers = [*_REPORT_HEADERS, ("Content-Security-Policy", CONTENT_SECURITY_POLICY)]
        body = page
        if _accepts_gzip(environ):
            with self._lock:
                known = self._report_gzipped
            if known is None or known[0] is not page:
                known = (page, gzip.compress(page, compresslevel=6, mtime=0))
                with self._lock:
                    self._report_gzipped = known
            body = known[1]
            headers.append(("Content-Encoding", "gzip"))
        headers += [("Vary", "Accept-Encoding"), ("Content-Length", str(len(body)))]
        start_response("200 OK", headers)
        return [b""] if method == "HEAD" else [body]

    def _resolve(self, path: str) -> Path | None:
        """The file a URL path names, or None when it may not be served."""
        if "\x00" in path or "\\" in path:
            return None
        parts = [p for p in path.split("/") if p]
        if any(p in (".", "..") or p.startswith(".") for p in parts):
            return None
        if not parts:
            parts = ["index.html"]
        root = self.root.resolve()
        candidate = root.joinpath(*parts)
        try:
            real = candidate.resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if not real.is_relative_to(root) or not real.is_file():
            return None  # a folder (never listed) or a symlink that leads out
        return real

    def _entry(self, file: Path) -> _Entry:
        stat = file.stat()
        # (The inode too: a build replaces a file with a new one, which a coarse clock
        # can give the same mtime, and an edit can give the same size.)
        key = (str(file), stat.st_ino, stat.st_mtime_ns, stat.st_size)
        with self._lock:
            entry = self._cache.get(key)
        if entry is not None:
            return entry
        data = file.read_bytes()
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        gzipped = None
        if file.suffix.lower() in _COMPRESSIBLE and len(data) > 256:
            gzipped = gzip.compress(data, compresslevel=6, mtime=0)
        entry = _Entry(data, etag, stat.st_mtime, gzipped)
        with self._lock:
            # Old versions of a file are dropped as soon as a new one is read.
            for old in [k for k in self._cache if k[0] == key[0]]:
                del self._cache[old]
            self._cache[key] = entry
        return entry


def _json_value(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _wsgi_path(value: str) -> str:
    # PEP 3333: PATH_INFO is bytes decoded as latin-1; the URL itself was UTF-8.
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return "\x00"


def _not_modified(environ: dict[str, Any], etag: str, mtime: float | None) -> bool:
    """Whether the reader's copy is the file's: by its ETag, or by its date (`mtime`,
    None when a date cannot tell: see `Last-Modified` above)."""
    match = environ.get("HTTP_IF_NONE_MATCH")
    if match is not None:
        tags = {t.strip().removeprefix("W/") for t in match.split(",")}
        return "*" in tags or etag in tags
    since = environ.get("HTTP_IF_MODIFIED_SINCE")
    if since and mtime is not None:
        try:
            when = parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
        return int(mtime) <= when.timestamp()
    return False


def _accepts_gzip(environ: dict[str, Any]) -> bool:
    """Whether the reader's Accept-Encoding names gzip with a weight above 0 (RFC 9110
    12.4.2: `q=0`, `0.`, `0.000`, `Q=0` all refuse it; a weight that is no number too)."""
    for item in environ.get("HTTP_ACCEPT_ENCODING", "").split(","):
        name, *params = item.split(";")
        if name.strip().lower() == "gzip":
            return _weight(params) > 0
    return False


def _weight(params: Iterable[str]) -> float:
    """The `q` of an Accept-Encoding item's parameters: 1 without one, 0 when it is not
    a weight (`q=abc`, `q=2`, `q=nan`)."""
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "q":
            try:
                weight = float(value.strip())
            except ValueError:
                return 0.0
            return weight if 0 <= weight <= 1 else 0.0
    return 1.0


def _plain(
    start_response: StartResponse,
    status: str,
    method: str,
    headers: list[tuple[str, str]] | None = None,
) -> Iterable[bytes]:
    """A short answer: the status as its text (no body for a 304, nor for HEAD, which
    gets the headers a GET would, RFC 9110 9.3.2)."""
    body = b"" if status.startswith("304") else (status + "\n").encode("ascii")
    extra = list(headers or [])
    if not status.startswith("304"):
        extra += [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
    start_response(status, extra)
    return [b""] if method == "HEAD" else [body]


class Server:
    """waitress serving `app` on host:port in a thread of its own; `close()` stops it.

    Connections follow `limits` (see `aggregator.app.connections`): a cap per client, a
    reserve for the others, a deadline for each request. Raises OSError when the
    address does not resolve or cannot be bound.
    """

    def __init__(
        self,
        app: FeedApp,
        host: str,
        port: int,
        *,
        threads: int = 8,
        limits: ConnectionLimits | None = None,
    ) -> None:
        wanted = limits or ConnectionLimits()
        self.limits = fit_to_open_files(wanted, _open_file_limit(wanted.total + FD_HEADROOM))
        if self.limits != wanted:
            log.warning(
                "open-file limit too low for %d connections: holding at most %d (%d per "
                "client); raise it (ulimit -n, systemd LimitNOFILE=) to hold more",
                wanted.total,
                self.limits.total,
                self.limits.per_client,
            )
        adj = Adjustments(
            threads=threads,
            connection_limit=self.limits.total,
            cleanup_interval=MAINTENANCE_INTERVAL,
            channel_timeout=self.limits.channel_timeout,
            max_request_header_size=MAX_REQUEST_HEAD,
            max_request_body_size=MAX_REQUEST_BODY,
            # poll(), not select(): select() cannot watch a descriptor numbered 1024 or
            # more, and its ValueError would end the loop.
            asyncore_use_poll=True,
            ident="aggregator",
            clear_untrusted_proxy_headers=True,
        )
        self._map: dict[int, Any] = {}
        self._dispatcher = ThreadedTaskDispatcher()
        try:
            self._listeners = open_listeners(
                app,
                host,
                port,
                map=self._map,
                dispatcher=self._dispatcher,
                adj=adj,
                limits=self.limits,
            )
        except BaseException:
            _close_all(self._map)  # every socket and pipe opened so far is in the map
            raise
        # Threads only once bound: a failed bind leaves none behind.
        self._dispatcher.set_thread_count(threads)
        self.host = host
        self.port = self._listeners[0].port
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="http", daemon=True)

    def _run(self) -> None:
        try:
            while self._map and not self._stopping.is_set():
                wasyncore.poll2(MAINTENANCE_INTERVAL, self._map)
        except Exception:  # a bug: say so rather than stop serving in silence
            log.exception("the HTTP server stopped")
        finally:
            # Here, in the loop's own thread: no other thread closes a socket it polls.
            _close_all(self._map)

    def start(self) -> Server:
        self._thread.start()
        return self

    def close(self) -> None:
        # Let answers being written finish first (the loop still sends them), so no
        # thread writes to a closed socket; then end the loop, which closes everything.
        self._dispatcher.shutdown(cancel_pending=True, timeout=5)
        self._stopping.set()
        if self._thread.is_alive():
            with contextlib.suppress(OSError):  # the loop ended and closed it already
                self._listeners[0].pull_trigger()
            self._thread.join(timeout=5)
        elif self._thread.ident is None:
            _close_all(self._map)  # never started


def _open_file_limit(wanted: int) -> int | None:
    """The descriptors this process may open, raised towards `wanted` where allowed.

    systemd's advice for LimitNOFILE: a program that needs more than the soft limit and
    does not use select() raises it itself, up to the hard limit.
    """
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except OSError:  # a system-call filter that refuses it with an error: keep the limits
        return None
    if soft == resource.RLIM_INFINITY:
        return None
    if soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(hard, wanted)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
    return soft


def _close_all(map: dict[int, Any]) -> None:
    for dispatcher in list(map.values()):
        with contextlib.suppress(OSError):
            if isinstance(dispatcher, HTTPChannel):
                dispatcher.handle_close()  # also closes its buffers (temporary files)
            else:
                dispatcher.close()
    map.clear()


def parse_address(value: str) -> tuple[str, int]:
    """`HOST:PORT` (or `[v6]:PORT`, or `:PORT` for every address)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"not HOST:PORT: {value!r}")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)
