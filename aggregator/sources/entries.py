"""What a remote feed's document holds, and the article file each of its entries becomes.

`read_feed` reads RSS 0.9x/1.0/2.0 and Atom 0.3/1.0 with feedparser (the standard
parser: it resolves relative links, decodes entities and repairs what it can of a
broken document) and JSON Feed 1.0/1.1 (a JSON document; feedparser 6 does not
read it), into one shape: `RemoteFeed` and its `Entry`s. `article_text` writes an
entry as an article file of the seed format, so that it is loaded, validated,
deduplicated, link-checked, filtered and published exactly as an editor's file is
(its excerpt is reduced to plain text by the loader, as every excerpt is).

A document that declares entities (`<!ENTITY`) is refused whole: no feed needs
them, and they are how a billion laughs document expands.

A build reads its documents with a `FeedReader`: in a worker process of its own (one
for all the feeds of a run), each within a time limit (the link checker's `deadline`)
and a memory limit (`PARSE_MEMORY` more address space than the worker had when it
started, `RLIMIT_AS`), so that a hostile document (deeply nested markup that takes
feedparser minutes and gigabytes) is refused with one line and costs the build no more
than that. A worker that overran is killed and the next document gets a new one.
"""

from __future__ import annotations

import calendar
import contextlib
import dataclasses
import hashlib
import json
import multiprocessing
import os
import re
import threading
import time
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urljoin
from urllib.parse import urlsplit

import yaml

from aggregator.config import web_url
from aggregator.errors import Cancelled
from aggregator.errors import FeedError
from aggregator.limits import DEFAULT_LIMITS
from aggregator.limits import Limits
from aggregator.model import Image
from aggregator.sources.text import clean_cut
from aggregator.sources.text import plain_text
from aggregator.stories.topics import topic_key
from aggregator.stories.urls import web_uri

_HTTP = ("http://", "https://")
#: an entry dated before this has no date (see `article_text`)
_EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
_JSON_TYPES = ("application/feed+json", "application/json")


def _entity_pattern() -> re.Pattern[bytes]:
    """`<!ENTITY` (any case) in UTF-8 and every encoding of its kind, and in UTF-16 and
    UTF-32 of either byte order: an entity declaration whatever the document's encoding."""
    forms = [b"<!ENTITY"]
    for encoding in ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"):
        parts = []
        for char in "<!ENTITY":
            cases = {char.upper().encode(encoding), char.lower().encode(encoding)}
            parts.append(b"(?:" + b"|".join(re.escape(c) for c in sorted(cases)) + b")")
        forms.append(b"".join(parts))
    return re.compile(b"|".join(forms), re.IGNORECASE)


_ENTITY = _entity_pattern()
#: the address space a feed parser's worker may take beyond what it had at its start
PARSE_MEMORY = 1024 * 1024 * 1024
#: seconds a new worker may take to start (not counted in any document's time)
_START_SECONDS = 60.0
#: how often a wait for the worker looks at the stop request
_POLL_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry of a feed, in the feed's own words."""

    #: the entry's id (guid, Atom id, JSON Feed id); its link when it has none
    id: str
    #: HTML, or plain text when `title_is_text`
    title: str
    #: absolute http(s) URL of the story; "" when the entry has none usable
    link: str
    #: HTML, or plain text when `summary_is_text`
    summary: str
    published: datetime | None
    updated: datetime | None
    categories: tuple[str, ...]
    author: str
    images: tuple[Image, ...]
    #: the title is plain text (an Atom text construct, a JSON Feed title), whose `<`
    #: and `&` are characters, not markup
    title_is_text: bool = False
    summary_is_text: bool = False


@dataclass(frozen=True, slots=True)
class RemoteFeed:
    title: str
    #: the site the feed belongs to
    link: str
    #: RSS `ttl`: minutes the feed may be cached; None when absent
    ttl: int | None
    entries: tuple[Entry, ...]
    #: "rss20", "atom10", "json11", ... (feedparser's names, and JSON Feed's)
    version: str


def read_feed(body: bytes, url: str, content_type: str | None = None) -> RemoteFeed:
    """The feed a document fetched from `url` holds; raises FeedError when it holds
    none (not a feed, or refused)."""
    marked = body.startswith(b"\xef\xbb\xbf")
    body = body.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte order mark
    head = body.lstrip()[:1]
    kind = (content_type or "").split(";")[0].strip().lower()
    if head in (b"{", b"[") or (kind in _JSON_TYPES and head != b"<"):
        return _scrubbed(_read_json(body, url))
    body, content_type = _in_utf8(body, content_type, marked)
    if _ENTITY.search(body):
        raise FeedError("declares XML entities (refused: a feed needs none)")
    if b"&#" in body:  # a character reference no character can be (feedparser fails on it)
        body = _CHAR_REF.sub(_char_ref, body)
    return _scrubbed(_read_xml(body, url, content_type))


#: what the first bytes of an XML document say of its encoding, when they say it
#: (XML 1.0 appendix F): a byte order mark, or `<?` in UTF-16 or UTF-32 without one
_SNIFFED = (
    (b"\x00\x00\xfe\xff", "utf-32-be", 4),
    (b"\xff\xfe\x00\x00", "utf-32-le", 4),
    (b"\xfe\xff", "utf-16-be", 2),
    (b"\xff\xfe", "utf-16-le", 2),
    (b"\x00\x00\x00<", "utf-32-be", 0),
    (b"<\x00\x00\x00", "utf-32-le", 0),
    (b"\x00<\x00?", "utf-16-be", 0),
    (b"<\x00?\x00", "utf-16-le", 0),
)
_CHARSET = re.compile(r";\s*charset\s*=[^;]*", re.IGNORECASE)
#: a charset of two or four bytes a character (`utf-16`, `UTF-32LE`, `ucs-2`)
_WIDE_CHARSET = re.compile(r";\s*charset\s*=\s*\"?\s*(?:utf-?(?:16|32)|ucs-?[24])", re.IGNORECASE)


def _in_utf8(body: bytes, content_type: str | None, marked: bool) -> tuple[bytes, str | None]:
    """An XML document whose first bytes name its encoding (a byte order mark, or
    UTF-16 or UTF-32 markup: `marked` when a UTF-8 mark was taken off) in UTF-8, and
    a content type that says so. Those bytes outweigh the charset of the content
    type and text/xml's US-ASCII default (RFC 7303 3.2, XML 1.0 appendix F):
    feedparser follows RFC 3023, which has the content type outweigh the bytes, and
    read a UTF-16 feed of English text served as `text/xml` (or with `charset=utf-8`)
    as US-ASCII (or UTF-8): its markup decoded with a NUL between characters, and no
    feed was found."""
    if marked:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return body, content_type  # no UTF-8 after all: feedparser's guesses
    else:
        sniffed = next(((c, n) for mark, c, n in _SNIFFED if body.startswith(mark)), None)
        if sniffed is None:
            if content_type and _WIDE_CHARSET.search(content_type):
                # UTF-16 or UTF-32 would start with a byte order mark or show in the
                # first bytes (as above): the document's own declaration tells, not a
                # server's charset that cannot be its encoding.
                return body, _CHARSET.sub("", content_type).strip()
            return body, content_type
        codec, skip = sniffed
        text = body[skip:].decode(codec, "replace")  # one bad unit costs one character
    kind = _CHARSET.sub("", content_type or "").strip() or "application/xml"
    return text.encode("utf-8"), f"{kind}; charset=utf-8"


_CHAR_REF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));")


def _char_ref(match: re.Match[bytes]) -> bytes:
    hexadecimal, decimal = match.groups()
    code = int(hexadecimal, 16) if hexadecimal else int(decimal)
    return b"&#xFFFD;" if 0xD800 <= code <= 0xDFFF or code > 0x10FFFF else match.group()


_SURROGATE = re.compile("[\ud800-\udfff]")


def _valid(text: str) -> str:
    """`text` without lone surrogates (a JSON `\\ud800`, an XML `&#xD800;`), which no
    encoding can write: each is U+FFFD, so one bad character costs no entry."""
    return text if text.isascii() else _SURROGATE.sub("\ufffd", text)


def _scrubbed(feed: RemoteFeed) -> RemoteFeed:
    """Every text of `feed` made `_valid`: all of it goes to the state store, to entry
    files and to reports."""
    entries = tuple(
        dataclasses.replace(
            entry,
            id=_valid(entry.id),
            title=_valid(entry.title),
            link=_valid(entry.link),
            summary=_valid(entry.summary),
            categories=tuple(map(_valid, entry.categories)),
            author=_valid(entry.author),
            images=tuple(
                dataclasses.replace(i, url=_valid(i.url), title=i.title and _valid(i.title))
                for i in entry.images
            ),
        )
        for entry in feed.entries
    )
    return dataclasses.replace(
        feed, title=_valid(feed.title), link=_valid(feed.link), entries=entries
    )


class FeedReader:
    """`read_feed` in a worker process (started when first needed, shared by the
    documents of a run), each document within `seconds` and `memory` bytes of address
    space more than the worker started with: a FeedError saying which limit it passed
    otherwise. Use as a context manager, or call `close()`; one thread at a time."""

    def __init__(
        self,
        seconds: float,
        memory: int = PARSE_MEMORY,
        cancel: threading.Event | None = None,
    ) -> None:
        self.seconds = seconds
        self.memory = memory
        self.cancel = cancel
        self._process: Any = None
        self._conn: Any = None
        #: the last `read` was refused for taking the whole time or memory it had
        self.costly = False

    def __enter__(self) -> FeedReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, body: bytes, url: str, content_type: str | None = None) -> RemoteFeed:
        """The feed `body` holds (see `read_feed`), read in the worker."""
        self.costly = False
        if self._process is None:
            self._start()
        try:
            self._conn.send((body, url, content_type))
        except OSError:  # it ended since the last read (killed): a fresh one reads this
            self._stop()
            self._start()
            self._conn.send((body, url, content_type))
        if not self._wait(self.seconds):
            self._stop()
            self.costly = True
            raise FeedError(f"not read within {self.seconds:g} s (refused)")
        try:
            kind, value = self._conn.recv()
        except (EOFError, OSError):
            code = self._process.exitcode if self._process is not None else None
            self._stop()
            raise FeedError(f"cannot be read: the parser stopped (exit code {code})") from None
        if kind == "ok":
            return value  # type: ignore[no-any-return]
        if kind == "memory":
            self._stop()  # a fresh worker for the next: this one's heap is in pieces
            self.costly = True
            raise FeedError(f"needs more than {_size(self.memory)} of memory to read (refused)")
        raise FeedError(str(value))

    def _start(self) -> None:
        # Started fresh, as the parse workers are (`loader.Workers`): no forkserver kept
        # beside it for the rest of the run (a daemon's: days).
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_serve,
            args=(theirs, self.memory, self.seconds),
            name="aggregator feed parser",
            daemon=True,
        )
        from aggregator.sources.loader import interrupts_held

        with interrupts_held():  # a Ctrl-C while it starts is not its to tell
            process.start()
        theirs.close()
        self._process, self._conn = process, ours
        if not self._wait(_START_SECONDS):
            self._stop()
            raise FeedError("cannot be read: the parser did not start")
        try:
            self._conn.recv()  # its "ready"
        except (EOFError, OSError):
            self._stop()
            from aggregator.sources.loader import worker_ended

            why = worker_ended(started=False)
            raise FeedError(f"cannot be read: the parser did not start: {why}") from None

    def _wait(self, seconds: float) -> bool:
        """Whether the worker said something (or ended) within `seconds`; Cancelled
        when the run is stopped meanwhile."""
        until = time.monotonic() + seconds
        while True:
            left = until - time.monotonic()
            if left <= 0:
                return False
            if self._conn.poll(min(left, _POLL_SECONDS)):
                return True
            if self.cancel is not None and self.cancel.is_set():
                self._stop()
                raise Cancelled("stopped while reading remote feeds")
            if not self._process.is_alive() and not self._conn.poll():
                return True  # it died: the read says how

    def _stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.join()
            self._conn.close()
        self._process = self._conn = None

    def close(self) -> None:
        """End the worker (at once: it holds nothing to keep)."""
        if self._process is not None:
            with contextlib.suppress(OSError):
                self._conn.send(None)
            self._process.join(timeout=1)
        self._stop()


def _serve(conn: Any, memory: int, seconds: float) -> None:
    """A feed parser's worker: reads documents sent on `conn` until it gets None, each
    within `seconds` of processor time too (`_cpu_budget`)."""
    from aggregator.sources.loader import quiet_on_interrupt

    quiet_on_interrupt()  # started with SIGINT held back (`interrupts_held`)

    import xml.sax.expatreader  # noqa: F401 - feedparser's XML parser, loaded when first used

    import feedparser  # noqa: F401 - loaded before the memory limit is set

    # Past this, a failure is taken for the limit's: C code short of memory (expat, say)
    # does not always raise MemoryError.
    full: int | None = None
    try:
        import resource

        start = _address_space()
        if start is not None:
            hard = resource.getrlimit(resource.RLIMIT_AS)[1]
            limit = start + memory
            if hard != resource.RLIM_INFINITY:
                limit = min(limit, hard)
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
            full = limit - memory // 10
    except (ImportError, ValueError, OSError):
        pass  # no limit to be had here: the time limit still holds
    conn.send("ready")
    while True:
        try:
            asked = conn.recv()
        except (EOFError, OSError):
            return
        if asked is None:
            return
        reply: tuple[str, object]
        _cpu_budget(seconds)
        try:
            reply = ("ok", read_feed(*asked))
        except MemoryError:
            reply = ("memory", None)
        except FeedError as exc:
            reply = ("error", str(exc))
        except Exception as exc:  # whatever a hostile document does to the parser
            # Measured while what failed is still held (the traceback keeps its frames).
            space = _address_space()
            if full is not None and space is not None and space >= full:
                reply = ("memory", None)
            else:
                reply = ("error", f"cannot be read: {_line(f'{type(exc).__name__}: {exc}')}")
        try:
            conn.send(reply)
        except (BrokenPipeError, EOFError, ConnectionError):
            return  # the build is gone: nobody to tell
        except MemoryError:
            _send_or_end(conn, ("memory", None))
        except Exception as exc:  # a result that cannot be sent back (pickled)
            _send_or_end(
                conn, ("error", f"cannot be read: {_line(f'{type(exc).__name__}: {exc}')}")
            )


def _cpu_budget(seconds: float) -> None:
    """At most `seconds` more of processor time for this worker, then the kernel ends it
    (SIGXCPU). The build ends a read at `seconds` of wall time itself; this ends one
    whose build was killed with no clean-up (SIGTERM, SIGKILL), which nothing else
    would: a parse can hold the interpreter for seconds at a time."""
    try:
        import resource

        usage = resource.getrusage(resource.RUSAGE_SELF)
        soft = int(usage.ru_utime + usage.ru_stime + seconds) + 1
        hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    except (ImportError, ValueError, OSError):
        pass  # no limit to be had here: the build's own deadline still holds


def _send_or_end(conn: Any, reply: tuple[str, object]) -> None:
    try:
        conn.send(reply)
    except (BrokenPipeError, EOFError, ConnectionError):
        os._exit(0)  # the build is gone


def _address_space() -> int | None:
    """This process's virtual memory size in bytes (Linux), else None."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            pages = int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


def _size(size: int) -> str:
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2)):
        if size >= scale:
            return f"{round(size / scale, 2):g} {unit}"
    return f"{size} bytes"


def _read_xml(body: bytes, url: str, content_type: str | None) -> RemoteFeed:
    import feedparser  # here: only builds with remote feeds read it

    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    parsed: Any = feedparser.parse(body, response_headers=headers, sanitize_html=True)
    if not parsed.get("version") and not parsed.entries:
        problem = parsed.get("bozo_exception")
        why = f": {_line(str(problem))}" if problem else ""
        raise FeedError(f"not an RSS, Atom or JSON feed{why}")
    feed = parsed.feed
    atom = str(parsed.get("version") or "").startswith("atom")
    entries = tuple(_xml_entry(e, url, atom) for e in parsed.entries)
    return RemoteFeed(
        title=_text(feed.get("title")),
        link=_http(feed.get("link"), url),
        ttl=_int(feed.get("ttl")),
        entries=entries,
        version=str(parsed.get("version") or "unknown"),
    )


def _xml_entry(entry: Any, base: str, atom: bool) -> Entry:
    """An entry of an RSS or Atom document (`atom`): an Atom text construct of type
    text is plain text; RSS says nothing, and its texts are taken for HTML, as readers
    take them."""
    link = _http(entry.get("link"), base)
    images: list[Image] = []
    for enclosure in entry.get("enclosures") or ():
        if str(enclosure.get("type") or "").startswith("image/"):
            images.append(Image(_http(enclosure.get("href"), base)))
    for thumb in entry.get("media_thumbnail") or ():
        images.append(
            Image(
                _http(thumb.get("url"), base), _int(thumb.get("width")), _int(thumb.get("height"))
            )
        )
    for media in entry.get("media_content") or ():
        if media.get("medium") == "image" or str(media.get("type") or "").startswith("image/"):
            images.append(
                Image(
                    _http(media.get("url"), base),
                    _int(media.get("width")),
                    _int(media.get("height")),
                )
            )
    author = entry.get("author_detail") or {}
    summary = entry.get("summary") or ""
    summary_type = (entry.get("summary_detail") or {}).get("type")
    if not summary:
        for content in entry.get("content") or ():
            summary = str(content.get("value") or "")
            if summary:
                summary_type = content.get("type")
                break
    return Entry(
        id=_text(entry.get("id")) or link,
        title=_text(entry.get("title")),
        link=link,
        summary=str(summary),
        # As dicts: feedparser's own lookup warns, and maps one date onto the other.
        published=_struct(dict.get(entry, "published_parsed")),
        updated=_struct(dict.get(entry, "updated_parsed")),
        categories=tuple(_text(t.get("term") or t.get("label")) for t in entry.get("tags") or ()),
        author=_text(author.get("name") or entry.get("author")),
        images=_unique(images),
        title_is_text=atom and (entry.get("title_detail") or {}).get("type") == "text/plain",
        summary_is_text=atom and summary_type == "text/plain",
    )


def _read_json(body: bytes, url: str) -> RemoteFeed:
    try:
        data = json.loads(body, parse_int=_json_int)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FeedError(f"not a JSON feed: {_line(str(exc))}") from None
    except RecursionError:
        raise FeedError("not a JSON feed: nested too deeply to be read (refused)") from None
    if not isinstance(data, dict):
        raise FeedError("not a JSON feed: not a JSON object")
    items = data.get("items")
    named = str(data.get("version", ""))
    if not isinstance(items, list):
        raise FeedError("not a JSON feed: items is not a list")
    if named and not named.startswith(("https://jsonfeed.org/version/", "http://jsonfeed.org/")):
        raise FeedError(f"not a JSON feed: version {_line(named)!r}")
    version = "json" + (named.rsplit("/", 1)[-1].replace(".", "") if named else "")
    feed_author = _json_author(data)
    entries = tuple(_json_entry(i, url, feed_author) for i in items if isinstance(i, dict))
    return RemoteFeed(
        title=_text(_str(data, "title")),
        link=_http(data.get("home_page_url"), url),
        ttl=None,
        entries=entries,
        version=version,
    )


def _json_entry(item: Mapping[str, Any], base: str, feed_author: str) -> Entry:
    """An item of a JSON Feed; a field of the wrong type counts as absent."""
    link = _http(item.get("url"), base) or _http(item.get("external_url"), base)
    images = [Image(_http(item.get(key), base)) for key in ("image", "banner_image")]
    for attachment in _list(item.get("attachments")):
        if isinstance(attachment, dict) and str(attachment.get("mime_type", "")).startswith(
            "image/"
        ):
            images.append(Image(_http(attachment.get("url"), base)))
    summary, key = next(
        (
            (text, key)
            for key in ("summary", "content_html", "content_text")
            if (text := _str(item, key))
        ),
        ("", ""),
    )
    return Entry(
        id=_text(item.get("id")) or link,
        title=_text(_str(item, "title")),
        link=link,
        summary=summary,
        published=_iso(item.get("date_published")),
        updated=_iso(item.get("date_modified")),
        categories=tuple(_text(t) for t in _list(item.get("tags")) if isinstance(t, str)),
        author=_json_author(item) or feed_author,
        images=_unique(images),
        title_is_text=True,  # JSON Feed's title, summary and content_text are plain text
        summary_is_text=key != "content_html",
    )


def _json_int(digits: str) -> int | Decimal:
    """A JSON integer; one written with more digits than Python turns into an int
    (`sys.get_int_max_str_digits()`, 4,300 by default) as the Decimal it is, read in
    linear time: a number where a JSON Feed wants text counts as absent, as any number
    does, and an id written as one is its digits, as a shorter one is."""
    try:
        return int(digits)
    except ValueError:
        return Decimal(digits)


def _json_author(data: Mapping[str, Any]) -> str:
    for author in [*_list(data.get("authors")), data.get("author")]:  # 1.1, then 1.0
        if isinstance(author, dict) and isinstance(author.get("name"), str):
            return _text(author["name"])
    return ""


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(data: Mapping[str, Any], key: str) -> str:
    """A string field of a JSON Feed; "" when absent or not a string."""
    value = data.get(key)
    return value if isinstance(value, str) else ""


# -- the article file ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Settings:
    """What a feed's `feeds:` entry in the config says of its entries."""

    topics: tuple[str, ...] = ()
    quality: int = 50
    published: bool = True
    title_filter: str | None = None

    @property
    def mark(self) -> str:
        """A digest of the settings, then one of the title_filter alone: the state keeps
        the mark its entries were written under (`remote._settle`)."""
        data = [list(self.topics), self.quality, self.published, self.title_filter]
        return f"{_digest(data)} {_digest(self.title_filter)}"


def _digest(data: object) -> str:
    text = json.dumps(data, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def entry_key(identity: str) -> str:
    """A short stable name for an entry (of its id): its file's name."""
    return hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:20]


def article_text(
    entry: Entry,
    feed: RemoteFeed,
    feed_url: str,
    settings: Settings,
    first_seen: datetime,
    limits: Limits = DEFAULT_LIMITS,
) -> str:
    """The article file of `entry`: the seed format, its published date the entry's
    (else its updated date, else when it was first seen: stable across runs). A date
    before 1990 or after the day it was first seen is no date (a feed's placeholder,
    a clock gone wrong): readers and validators reject such dates. What an article
    file may hold is kept, as the loader would keep it: the summary as plain text cut
    to `limits.excerpt_length`, the title (and author, topics) to `limits.title_length`,
    the first `limits.images` images and `limits.topics` topics; so an entry with a
    title and a usable link makes a file the loader takes."""
    when = next(
        (d for d in (entry.published, entry.updated) if d and _plausible(d, first_seen)),
        first_seen,
    )
    categories = _categories(entry.categories, limits)
    topics = _topics(settings, categories, limits)
    domain = (urlsplit(entry.link).hostname or urlsplit(feed_url).hostname or "").lower()
    provider = entry.author or feed.title or domain
    # Each image's URL as the loader takes it (`web_uri`: an ASCII URI, what is not
    # ASCII or a space percent-encoded), so that the file reads back as it was written
    # (YAML reads a U+0085 in a quoted string as a space); one it would not take is
    # written as it is, for the loader to say so.
    uris = ((i, web_uri(i.url) or i.url) for i in entry.images if i.url)
    usable_images = [
        dataclasses.replace(i, url=uri)
        for i, uri in uris
        if len(i.url) <= limits.url_length and len(uri) <= limits.url_length
    ]
    summary = _html(entry.summary, entry.summary_is_text)
    data: dict[str, Any] = {
        "title": _kept(shown_title(entry, limits)),
        "excerpt": _kept(clean_cut(summary, limits.excerpt_length)[0]),
        "publishedDateTime": _stamp(when),
        "webUrl": entry.link,
        "type": "article",
        "quality": settings.quality,
        "published": settings.published,
        "provider": {"name": _kept(clean_cut(provider, limits.title_length)[0]), "domain": domain},
        "topics": topics,
        "images": [_image_json(i) for i in usable_images[: limits.images]],
        "feed": {
            "url": feed_url,
            "entryId": entry.id,
            "firstSeen": _stamp(first_seen),
            **({"updated": _stamp(entry.updated)} if entry.updated else {}),
            # What `settled` makes the entry again from when the feed's settings change.
            "categories": categories,
        },
    }
    return _dumped(data)


def shown_title(entry: Entry, limits: Limits = DEFAULT_LIMITS) -> str:
    """The title of `entry` as its article shows it: plain text, cleaned and cut."""
    return clean_cut(_html(entry.title, entry.title_is_text), limits.title_length)[0]


def left_out(settings: Settings, title: str) -> bool:
    """Whether an entry whose title shows as `title` (`shown_title`) is left out by
    the feed's `title_filter`: matched against what readers would see."""
    return bool(settings.title_filter and re.search(settings.title_filter, title))


def _dumped(data: dict[str, Any]) -> str:
    text = yaml.safe_dump(
        data, allow_unicode=True, sort_keys=False, default_flow_style=False, width=1_000_000
    )
    return f"---\n{text}---\n"


def _categories(categories: Iterable[str], limits: Limits) -> list[str]:
    """An entry's own categories, cleaned and cut as the loader would (`_distinct`)."""
    return _distinct((clean_cut(c, limits.title_length)[0] for c in categories), limits)


def _distinct(categories: Iterable[str], limits: Limits) -> list[str]:
    """Categories as they are, each once as the loader tells topics apart (the first
    spelling), none empty: the first `limits.topics` (no more can be an entry's topics,
    whatever the feed's topics before them)."""
    named: dict[str, str] = {}
    for text in categories:
        if text and len(named) < limits.topics:
            named.setdefault(topic_key(text), text)
    return list(named.values())


def _topics(settings: Settings, categories: Iterable[str], limits: Limits) -> list[str]:
    """An entry's topics: the feed's, then the entry's own `categories` (as
    `_categories` gives them), each once as the loader tells them apart (the first
    spelling: an entry's `AI` and `ai` are no warning about its file)."""
    named: dict[str, str] = {}
    for topic in [*(clean_cut(t, limits.title_length)[0] for t in settings.topics), *categories]:
        if topic:
            named.setdefault(topic_key(topic), topic)
    return [_kept(t) for t in named.values()][: limits.topics]


def settled(text: str, settings: Settings, limits: Limits = DEFAULT_LIMITS) -> str | None:
    """The entry file `text` as `settings` (its feed's, changed) make it: their
    quality, published flag and topics (the feed's, then the entry's own categories;
    one written by a version that kept no categories takes the topics it had as its
    categories); None when its title matches their `title_filter`. `text` itself when
    it is no entry file this module wrote. What the limits cut stays as it was cut."""
    data = _entry_data(text)
    feed = data.get("feed") if data is not None else None
    if data is None or not isinstance(feed, dict):
        return text
    if left_out(settings, _unkept(str(data.get("title") or ""))):
        return None
    given = feed.get("categories")
    if not isinstance(given, list):
        had = data.get("topics")
        given = [_unkept(str(t)) for t in had] if isinstance(had, list) else []
    categories = _distinct([str(c) for c in given], limits)
    data["quality"] = settings.quality
    data["published"] = settings.published
    data["topics"] = _topics(settings, categories, limits)
    feed["categories"] = categories
    return _dumped(data)


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _entry_data(text: str) -> dict[str, Any] | None:
    """The front matter of an entry file this module wrote (None for another text)."""
    if not (text.startswith("---\n") and text.endswith("---\n")):
        return None
    try:
        # (libyaml's loader where there is one: every entry of a feed is read so when its
        # settings change; it reads what `_dumped` writes as PyYAML's own does)
        data = yaml.load(text[4:-4], Loader=_LOADER)
    except yaml.YAMLError:
        return None
    return data if isinstance(data, dict) else None


def _image_json(image: Image) -> dict[str, Any]:
    found: dict[str, Any] = {"url": image.url}
    if image.width:
        found["width"] = image.width
    if image.height:
        found["height"] = image.height
    return found


def usable(entry: Entry, feed_url: str, limits: Limits = DEFAULT_LIMITS) -> str | None:
    """Why `entry` cannot become an article (None when it can): it needs a title with
    some text and an absolute http(s) link an article file may have (not the feed's
    own URL, which an empty link resolves to)."""
    if not plain_text(_html(entry.title[: limits.title_length * 4], entry.title_is_text)):
        return "no title"
    if len(entry.link) > limits.url_length:
        return f"a link over the limit of {limits.url_length:,} characters (limits: url_length)"
    try:
        link = web_url(entry.link) if entry.link else ""
    except ValueError:
        link = ""
    if not link or entry.link == feed_url:
        return "no usable link (an absolute http or https URL)"
    return None


def _html(text: str, plain: bool) -> str:
    """`text` as HTML: escaped when it is `plain` text."""
    return text.replace("&", "&amp;").replace("<", "&lt;") if plain else text


def _unkept(text: str) -> str:
    """The text `_kept` wrote as `text`."""
    return text.replace("&lt;", "<").replace("&amp;", "&")


def _kept(text: str) -> str:
    """Plain text (cleaned, cut) written so that the loader, which reduces every text of
    an article file to plain text (entities decoded, tags dropped), finds it as it is:
    a text that reads `<dialog>` or `&lt;` once decoded is not reduced a second time."""
    return _html(text, True)


def _plausible(when: datetime, first_seen: datetime) -> bool:
    return _EARLIEST <= when <= first_seen + timedelta(days=1)


# -- helpers -------------------------------------------------------------------------


def _text(value: object) -> str:
    return " ".join(str(value).split()) if value else ""


def _line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 160 else text[:157] + "..."


def _http(value: object, base: str) -> str:
    """An absolute http(s) URL (`value` resolved against `base`), else ""."""
    if not isinstance(value, str) or not value.strip():
        return ""
    try:
        found = urljoin(base, value.strip())
    except ValueError:
        return ""
    return found if found.lower().startswith(_HTTP) else ""


def _int(value: object) -> int | None:
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 1_000_000 else None


def _struct(value: time.struct_time | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), UTC)
    except (OverflowError, ValueError, OSError, TypeError):
        return None


def _iso(value: object) -> datetime | None:
    """A JSON Feed date: RFC 3339 (its `t` and `z` in either case), else any form
    feedparser reads in RSS and Atom (an RFC 822 date, a leap second, ...)."""
    if not isinstance(value, str):
        return None
    try:
        found = datetime.fromisoformat(re.sub("[zZ]$", "+00:00", value.strip()).upper())
        if found.tzinfo is None:
            found = found.replace(tzinfo=UTC)
        return found.astimezone(UTC)
    except (ValueError, OverflowError):
        pass
    if len(value) > 100:
        return None  # no date is that long
    from feedparser.datetimes import _parse_date  # the date parser of RSS and Atom

    try:
        return _struct(_parse_date(value))
    except (ValueError, OverflowError, TypeError, IndexError):
        return None


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _unique(images: Iterable[Image]) -> tuple[Image, ...]:
    seen: dict[str, Image] = {}
    for image in images:
        if image.url and image.url not in seen:
            seen[image.url] = image
    return tuple(seen.values())
