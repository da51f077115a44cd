"""Feed documents fetched by the link checker: what a caller asks for (`FetchRequest`),
what it gets back (`Fetched`), and what only a fetch does with an answer: read its
body within a size and a time limit with gzip or deflate undone (`read_body`), and
tell how long the document stays fresh (`max_age`).

`LinkChecker.fetch` sends the requests, through the scheduler of link checks and so
under the same per-host limits, address rules, timeouts and retries; this module
holds no scheduling and opens no connection.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from email.utils import parsedate_to_datetime
from http.client import HTTPException
from typing import TYPE_CHECKING
from typing import Final

from urllib3.exceptions import HTTPError
from urllib3.exceptions import ReadTimeoutError

if TYPE_CHECKING:
    from urllib3.response import BaseHTTPResponse

FEED_ACCEPT: Final = (
    "application/rss+xml, application/atom+xml, application/feed+json,"
    " application/json;q=0.9, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
)
#: the only codings `read_body` undoes
ACCEPT_ENCODING: Final = "gzip, deflate"
DEFAULT_MAX_BYTES: Final = 10 * 1024 * 1024
#: RFC 9111 1.2.2: a number of seconds too large to hold is taken as this one
DELTA_SECONDS_MAX: Final = 2147483648
#: the most read from the connection at once
_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """One feed document to fetch, with the validators of the copy the caller holds."""

    url: str
    #: sent as If-None-Match
    etag: str | None = None
    #: sent as If-Modified-Since
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class Fetched:
    """What a fetch came back with. A failure is data here, never raised."""

    #: as requested (`FetchRequest.url`)
    url: str
    #: the final HTTP status after redirects; None when nothing answered
    status: int | None
    #: the body of a 2xx, gzip or deflate undone; None otherwise (a 304 included)
    body: bytes | None
    #: the validators of the answer (of a 2xx or 304, and of a 2xx whose body was
    #: refused for its size or coding); a 304 without them repeats the request's
    etag: str | None
    last_modified: str | None
    #: where the document came from, after redirects (the last URL asked on a failure)
    final_url: str
    #: `final_url` when every redirect on the way was permanent (301, 308) and the
    #: document was got there (2xx or 304); else None
    moved_to: str | None
    #: seconds the answer stays fresh: Cache-Control max-age (s-maxage ignored), else
    #: Expires; 0 for no-store and no-cache; None when the answer says nothing
    max_age: float | None
    #: seconds from the Retry-After of a final 429 or 503; None when absent
    retry_after: float | None
    #: seconds from the start of the fetching to this answer, which `max_age` and
    #: `retry_after` count from (to the fetching's end when nothing answered)
    after: float
    content_type: str | None
    #: one line for a person when the fetch failed, else None (a 304 is no failure)
    error: str | None

    @property
    def ok(self) -> bool:
        """The document was got, or is unchanged (304)."""
        return self.error is None


class BodyRefused(Exception):
    """The body of an answer could not be read within the limits, or not decoded."""

    def __init__(self, reason: str, *, retry: bool = False, timeout: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        #: worth another try (a read that timed out, a connection that broke)
        self.retry = retry
        #: the failure is a timeout (of a read or of the whole fetch)
        self.timeout = timeout


def size_text(size: int) -> str:
    """`10485760` as "10 MB", `1536` as "1.5 KB"."""
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size >= scale:
            return f"{round(size / scale, 2):g} {unit}"
    return f"{size} bytes"


def seconds_text(span: timedelta) -> str:
    """`timedelta(seconds=30)` as "30 s"."""
    return f"{round(span.total_seconds(), 3):g} s"


def read_body(
    raw: BaseHTTPResponse,
    headers: Mapping[str, str],
    *,
    max_bytes: int,
    until: float,
    timeout: float,
    deadline: timedelta,
) -> bytes:
    """The body of the answer `raw` (streamed, not read yet; `headers` lower-cased),
    with its Content-Encoding undone. Refused (`BodyRefused`) as soon as the bytes on
    the wire or the decoded ones pass `max_bytes`, so that a gzip bomb or an endless
    stream costs at most that much, and when it is not all there by `until` (a
    `time.monotonic()` time: the fetch's `deadline`). Each read waits `timeout` at
    most."""
    decoder = _decoder(headers.get("content-encoding", ""), max_bytes)
    length = headers.get("content-length", "").strip()
    if length.isascii() and length.isdigit() and (len(length) > 15 or int(length) > max_bytes):
        raise BodyRefused(f"larger than {size_text(max_bytes)}")
    # read1 returns what one read of the socket got, so the deadline is looked at
    # between reads however slowly bytes come; urllib3 before 2.3 has only read.
    read = getattr(raw, "read1", None) or raw.read
    wire = 0
    parts: list[bytes] = []
    size = 0
    while True:
        left = until - time.monotonic()
        if left <= 0:
            raise BodyRefused(f"did not finish within {seconds_text(deadline)}", timeout=True)
        _read_timeout(raw, min(timeout, left))
        try:
            data: bytes = read(_CHUNK, decode_content=False)
        except (ReadTimeoutError, TimeoutError) as exc:
            if time.monotonic() >= until:
                raise BodyRefused(
                    f"did not finish within {seconds_text(deadline)}", timeout=True
                ) from exc
            raise BodyRefused("read timed out", retry=True, timeout=True) from exc
        except (HTTPError, HTTPException, OSError) as exc:
            raise BodyRefused(f"connection failed: {_short(exc)}", retry=True) from exc
        if not data:
            break
        wire += len(data)
        if wire > max_bytes:
            raise BodyRefused(f"larger than {size_text(max_bytes)}")
        part = decoder.feed(data, max_bytes - size)
        size += len(part)
        parts.append(part)
    parts.append(decoder.finish(max_bytes - size))
    return b"".join(parts)


def max_age(headers: Mapping[str, str], now: datetime) -> float | None:
    """How many seconds an answer (`headers` lower-cased) stays fresh: Cache-Control
    max-age, else Expires less Date (or `now`); 0 for no-store and no-cache, and for an
    Expires that is not a date (RFC 9111: it means "already expired"); None when the
    answer says nothing. A max-age that is not a number is left out."""
    directives: dict[str, str | None] = {}
    for item in headers.get("cache-control", "").split(","):
        name, equals, value = item.partition("=")
        name = name.strip().lower()
        if name and name not in directives:
            directives[name] = value.strip().strip('"').strip() if equals else None
    if "no-store" in directives or directives.get("no-cache", "") is None:
        return 0.0
    seconds = directives.get("max-age")
    if seconds is not None and seconds.isascii() and seconds.isdigit():
        digits = seconds.lstrip("0") or "0"
        return float(DELTA_SECONDS_MAX if len(digits) > 10 else min(int(digits), DELTA_SECONDS_MAX))
    expires = headers.get("expires")
    if expires is None:
        return None
    until = _http_date(expires)
    if until is None:
        return 0.0
    since = _http_date(headers.get("date", "")) or now
    return min(max((until - since).total_seconds(), 0.0), float(DELTA_SECONDS_MAX))


def _http_date(value: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _read_timeout(raw: BaseHTTPResponse, seconds: float) -> None:
    """Let the next read of `raw` wait `seconds` at most: the fetch's deadline may be
    nearer than the timeout the request was sent with."""
    sock = getattr(raw.connection, "sock", None)
    if sock is not None:
        sock.settimeout(max(seconds, 0.001))


# -- Content-Encoding ---------------------------------------------------------------


class _Identity:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes

    def feed(self, data: bytes, room: int) -> bytes:
        if len(data) > room:  # the count of bytes on the wire refuses first
            raise BodyRefused(f"larger than {size_text(self.max_bytes)}")
        return data

    def finish(self, room: int) -> bytes:
        return b""


class _Inflate:
    """gzip (one member or more) or deflate (with the zlib wrapper it should have, or
    raw as some servers send it), producing at most the room left, so a small stream
    that inflates to gigabytes is stopped after `max_bytes`."""

    def __init__(self, coding: str, max_bytes: int) -> None:
        self.coding = coding
        self.max_bytes = max_bytes
        self._z: zlib._Decompress | None = None
        self._pending = b""
        self._fed = False
        if coding == "gzip":
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def feed(self, data: bytes, room: int) -> bytes:
        self._fed = self._fed or bool(data)
        if self._z is None:  # deflate: the first two bytes tell which kind
            data = self._pending + data
            if len(data) < 2:
                self._pending = data
                return b""
            zlib_header = data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self._z = zlib.decompressobj(zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS)
        out: list[bytes] = []
        try:
            while data:
                part = self._z.decompress(data, room + 1)  # never 0: that means no limit
                room -= len(part)
                if room < 0:
                    raise self._too_large()
                out.append(part)
                data = self._z.unconsumed_tail
                if self._z.eof:
                    data = self._z.unused_data
                    if self.coding != "gzip" or not data.strip(b"\0"):
                        break  # trailing padding is left alone
                    self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)  # another member
        except zlib.error as exc:
            raise self._bad(exc) from exc
        return b"".join(out)

    def finish(self, room: int) -> bytes:
        if not self._fed:
            return b""  # no body at all: nothing was encoded
        if self._z is None:
            raise BodyRefused(f"bad {self.coding} stream: it ends early")
        try:
            tail = self._z.flush()
        except zlib.error as exc:
            raise self._bad(exc) from exc
        if len(tail) > room:
            raise self._too_large()
        if not self._z.eof:
            raise BodyRefused(f"bad {self.coding} stream: it ends early")
        return tail

    def _bad(self, exc: zlib.error) -> BodyRefused:
        # "Error -3 while decompressing data: incorrect header check": the last part says it
        return BodyRefused(f"bad {self.coding} stream: {str(exc).rsplit(': ', 1)[-1]}")

    def _too_large(self) -> BodyRefused:
        return BodyRefused(f"larger than {size_text(self.max_bytes)} once decompressed")


def _decoder(content_encoding: str, max_bytes: int) -> _Identity | _Inflate:
    codings = [c.strip().lower() for c in content_encoding.split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        return _Identity(max_bytes)
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
        return _Inflate("deflate" if codings[0] == "deflate" else "gzip", max_bytes)
    raise BodyRefused(f"unsupported Content-Encoding: {_short(content_encoding)}")


def _short(exc: BaseException | str) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 200 else text[:197] + "..."
