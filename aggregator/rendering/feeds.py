"""Rendering feeds to bytes: RSS 2.0 and Atom 1.0 (through feedgen), and JSON Feed 1.1
(through `jsonfeed.py`, which shares this module's entry ids, dates and content).

The only module that imports feedgen, and the place its quirks are contained:
every date is set explicitly (feedgen defaults `updated`/`lastBuildDate` to now),
entries are appended in our order (feedgen prepends by default), and images,
enclosures and the author go through our own extension because feedgen drops the
`rel`/`type`/`length` of Atom entry links and only knows RSS `author` as an email.

Everything rendered is a pure function of its arguments: same input, same bytes.
All text from article files is plain text by now (see `sources/text.py`) and is escaped
here; no HTML from an input file is ever passed on.
"""

from __future__ import annotations

import functools
import hashlib
import html
import mimetypes
import posixpath
import re
import threading
import xml.etree.ElementTree as ElementTree
from collections import OrderedDict
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from email.utils import format_datetime
from email.utils import parsedate_to_datetime
from html.entities import html5
from html.entities import name2codepoint
from typing import Any
from urllib.parse import urlsplit

from feedgen.ext.base import BaseEntryExtension
from feedgen.ext.base import BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from aggregator.links.netguard import points_inside
from aggregator.model import Article
from aggregator.model import ContentMode
from aggregator.model import FeedFormat
from aggregator.model import Image
from aggregator.model import Provider
from aggregator.stories.dedupe import link_key
from aggregator.stories.urls import canonical_url
from aggregator.version import __version__

GENERATOR = "aggregator"
GENERATOR_URI = "https://pypi.org/project/aggregator/"
MEDIA_NS = "http://search.yahoo.com/mrss/"
DC_NS = "http://purl.org/dc/elements/1.1/"
ATOM_NS = "http://www.w3.org/2005/Atom"
FORMATS: tuple[FeedFormat, ...] = ("rss", "atom", "json")
MEDIA_TYPES = {
    "rss": "application/rss+xml",
    "atom": "application/atom+xml",
    "json": "application/feed+json",
}
EXTENSIONS = {"rss": ".rss", "atom": ".atom", "json": ".json"}
_HOSTNAME = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}")
_IMAGE_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """What one feed is, independent of its format."""

    #: topic name as the articles spell it; None for the all-topics feed
    topic: str | None
    #: path of the feed without its extension, relative to the output folder
    stem: str
    title: str
    description: str
    #: URL of the HTML page that this feed is the feed of
    page_url: str
    #: language of this feed (RFC 5646 tag); None means the site's
    language: str | None = None
    #: URL of a small square image for the feed (Atom icon, JSON Feed icon and favicon)
    icon: str | None = None
    #: URL of a wide image for the feed (Atom logo; with the icon, the RSS image when
    #: one of them is a format RSS takes: `rss_image`)
    logo: str | None = None
    #: "full": entries carry the HTML content; "excerpt": the excerpt only
    content: ContentMode = "full"

    def path(self, fmt: FeedFormat) -> str:
        return self.stem + EXTENSIONS[fmt]


@dataclass(frozen=True, slots=True)
class Site:
    base_url: str
    title: str
    description: str
    language: str
    #: WebSub hub every feed names with rel="hub"; None for no hub
    hub: str | None = None

    def url(self, path: str) -> str:
        return self.base_url + path


def entry_id(article: Article) -> str:
    """The Atom id / RSS guid of an article: its canonical URL. Never change the format."""
    return link_key(article)


def entry_updated(article: Article) -> datetime:
    """The Atom `updated` of an article: its publish time plus a sub-second offset
    (`entry_offset`).

    Atom readers and the W3C validator expect `updated` to differ between entries,
    but real files often share a publish time to the second. The offset (under one
    second, from a digest of the entry id) makes them differ while depending on the
    article alone, so an entry's `updated` is the same in every feed and every run
    (but where publish times a fraction of a second apart would make it rise down a
    feed: see `entry_dates`); entries published at the same time are listed by it
    (`publish.feed_order`).
    """
    return article.published_at + timedelta(microseconds=entry_offset(article))


def entry_offset(article: Article, ident: str | None = None) -> int:
    """The offset of an article's `updated` from its publish time, in microseconds
    (0 to 999,999): from a digest of its entry id (`ident`, when the caller has it)."""
    digest = hashlib.sha256((ident or entry_id(article)).encode("utf-8")).digest()
    return int.from_bytes(digest[:4]) % 1_000_000


def entry_dates(entries: Sequence[Article]) -> dict[datetime, Article]:
    """Each entry by its `updated` date, in the order given (newest first, as
    `publish.feed_order` lists them). Every format takes its dates from here, so they
    agree, and the dates fall as the entries go down the feed: an entry's date is its
    `entry_updated`, unless that is not before the date of the entry above it (entries
    published less than a second apart, the later one with the smaller offset; or two
    offsets alike), where it is one microsecond before that date. So an entry's date
    depends on the entries above it alone, and a reader that sorts the entries by date
    finds them in the feed's order."""
    updates: dict[datetime, Article] = {}
    above: datetime | None = None
    for article in entries:
        updated = entry_updated(article)
        if above is not None and updated >= above:
            updated = above - timedelta(microseconds=1)
        updates[updated] = article
        above = updated
    return updates


def render(fmt: FeedFormat, spec: FeedSpec, site: Site, entries: Sequence[Article]) -> bytes:
    """A feed of `entries` (already sorted and limited); `updated` is the newest entry.

    An entry's bytes depend on its article, its `updated` date, the format and the
    spec's content mode alone, and the document's head and end on the spec, the site
    and the newest date: while `keep_entries` is on, the entries rendered lately are
    kept, and a feed that holds them is their bytes between the head and end of a
    document of the others (a daemon's feed after a new file: one entry rendered, not
    fifty)."""
    if not entries:
        raise ValueError("render() needs entries; use render_empty() for an empty feed")
    updates = entry_dates(entries)
    kept = _ENTRIES
    if kept is None:
        return _document(fmt, spec, site, updates)
    keys = [
        (fmt, spec.content, updated, _offsets(article), article)
        for updated, article in updates.items()
    ]
    known = kept.get(keys)
    # The entries to render, by date: those not kept, and the newest (its date is the
    # document's).
    wanted = {key[2]: key for key, got in zip(keys, known, strict=True) if got is None}
    whole = len(wanted) == len(updates)
    newest = max(keys, key=lambda key: key[2])
    wanted.setdefault(newest[2], newest)
    document = _document(fmt, spec, site, {date: key[4] for date, key in wanted.items()})
    parts = _entry_parts(fmt, document, len(wanted))
    if parts is None:  # entries not told apart (none known to happen): the whole feed
        return document if whole else _document(fmt, spec, site, updates)
    head, made, end = parts
    kept.keep(zip(wanted.values(), made, strict=True))
    if whole:
        return document
    by_date = dict(zip(wanted, made, strict=True))
    bodies = [got or by_date[key[2]] for key, got in zip(keys, known, strict=True)]
    return head + _ENTRY_SEPARATORS[fmt].join(bodies) + end


def _document(
    fmt: FeedFormat, spec: FeedSpec, site: Site, updates: dict[datetime, Article]
) -> bytes:
    """The feed of these entries (by `updated` date, in order) rendered whole."""
    if fmt == "json":
        from aggregator.rendering import jsonfeed  # it builds on this module: not at the top

        return jsonfeed.render(spec, site, updates)
    generator = _feed(spec, site, max(updates), fmt)
    for updated, article in updates.items():
        _add_entry(generator, article, updated, spec.content, fmt)
    return _serialise(generator, fmt, spec)


def _entry_parts(
    fmt: FeedFormat, data: bytes, count: int
) -> tuple[bytes, list[bytes], bytes] | None:
    """A document of `count` entries cut into its head, each entry's bytes and its end
    (the document is the head, the entries joined by `_ENTRY_SEPARATORS`, and the end);
    None when it does not read as so many entries."""
    found = _ENTRY_STARTS[fmt].search(data)
    if found is None:
        return None
    start = found.end()
    ends = [match.end() for match in _ENTRY_ENDS[fmt].finditer(data, start)]
    if len(ends) != count:
        return None
    separator = _ENTRY_SEPARATORS[fmt]
    made = []
    for end in ends:
        made.append(data[start:end])
        start = end + len(separator)
    return data[: found.end()], made, data[ends[-1] :]


#: where the first entry of a document starts (after the feed-level elements, whose
#: lists a JSON Feed writes as it writes items)
_ENTRY_STARTS: dict[FeedFormat, re.Pattern[bytes]] = {
    "rss": re.compile(rb"\n(?=    <item>\n)"),
    "atom": re.compile(rb"\n(?=  <entry>\n)"),
    "json": re.compile(rb'\n  "items": \[\n'),
}
#: what comes between two entries besides their own bytes
_ENTRY_SEPARATORS: dict[FeedFormat, bytes] = {"rss": b"", "atom": b"", "json": b",\n"}


def _offsets(article: Article) -> tuple[timedelta | None, ...]:
    """The UTC offsets of an article's dates, which are written as they are given: two
    articles equal as dataclasses (their dates the same instants) may give them in
    other offsets, and render otherwise."""
    related = (r.published_at.utcoffset() if r.published_at else None for r in article.related)
    return (article.published_at.utcoffset(), *related)


#: an entry kept: its format, content mode, `updated` date, the offsets of its dates
#: (`_offsets`) and article
_EntryKey = tuple[FeedFormat, ContentMode, datetime, tuple[timedelta | None, ...], Article]


class _Kept:
    """The bytes of the entries rendered lately (see `render`), the entries used
    longest ago dropped first while they are over `budget` bytes in all or more than
    `most` (each holds its article too); none larger than `largest` (rendered again
    each time). Any thread may use it."""

    def __init__(self, budget: int, largest: int, most: int = 4_000) -> None:
        self.budget = budget
        self.largest = largest
        self.most = most
        self.entries: OrderedDict[_EntryKey, bytes] = OrderedDict()
        #: the bytes of `entries`
        self.size = 0
        self._lock = threading.Lock()

    def get(self, keys: Sequence[_EntryKey]) -> list[bytes | None]:
        """The bytes kept of each entry (None: not kept), each now the last used."""
        with self._lock:
            found = [self.entries.get(key) for key in keys]
            for key, data in zip(keys, found, strict=True):
                if data is not None:
                    self.entries.move_to_end(key)
        return found

    def keep(self, entries: Iterable[tuple[_EntryKey, bytes]]) -> None:
        with self._lock:
            for key, data in entries:
                if len(data) > self.largest:
                    continue
                old = self.entries.pop(key, None)
                if old is not None:
                    self.size -= len(old)
                self.entries[key] = data
                self.size += len(data)
                while self.size > self.budget or len(self.entries) > self.most:
                    _, dropped = self.entries.popitem(last=False)
                    self.size -= len(dropped)


#: the entries kept while `keep_entries` is on (else None): a few KB each (2.6 KB on
#: average in the benchmark's corpora), 32 MB and 12,000 entries at most: every entry of
#: about 80 feeds in three formats at the default limit, those its workers rendered in
#: a daemon's full build (8 MB held a third of the 61 feeds of a 20,000-file corpus, and
#: the next build rendered the feeds it touched whole again)
_ENTRIES: _Kept | None = None
ENTRIES_KEPT_BYTES = 32 << 20
ENTRIES_KEPT = 12_000
_ENTRIES_LOCK = threading.Lock()


def keep_entries(on: bool = True) -> None:
    """Keep, in this process, the bytes of the entries rendered lately (see `render`):
    a process that renders the same feeds again after a few changes (a daemon) renders
    only their new entries. Off by default: a build that renders each feed once would
    only pay for keeping them (about 15 to 40 us an entry)."""
    global _ENTRIES
    with _ENTRIES_LOCK:
        if not on:
            _ENTRIES = None
        elif _ENTRIES is None:
            _ENTRIES = _Kept(ENTRIES_KEPT_BYTES, 64 << 10, ENTRIES_KEPT)


def keep_rendered(spec: FeedSpec, entries: Sequence[Article], documents: Sequence[bytes]) -> None:
    """Keep the entries of a feed's documents rendered in another process (every format,
    in FORMATS order, as `render_feeds` makes them), as `render` keeps those it renders,
    while `keep_entries` is on: a daemon's next build after its full one, whose feeds
    the workers rendered, renders only the entries that changed."""
    kept = _ENTRIES
    if kept is None or not entries:
        return
    updates = entry_dates(entries)
    for fmt, document in zip(FORMATS, documents, strict=True):
        parts = _entry_parts(fmt, document, len(updates))
        if parts is not None:
            keys = [
                (fmt, spec.content, updated, _offsets(article), article)
                for updated, article in updates.items()
            ]
            kept.keep(zip(keys, parts[1], strict=True))


def render_feeds(
    feeds: list[tuple[FeedSpec, Site, list[Article] | None]], _limits: object = None
) -> list[list[bytes]]:
    """`render` of each feed in every format, in FORMATS order; no document for a feed
    without entries to render (None) (in a worker process: see
    `publish.Publisher.render_ahead`)."""
    return [
        [render(fmt, spec, site, entries) for fmt in FORMATS] if entries is not None else []
        for spec, site, entries in feeds
    ]


#: where each entry of a feed ends, per format: lxml writes one element a line (an
#: end tag inside an entry's text is escaped), and `jsonfeed` indents items by four
#: spaces, whatever is nested in them deeper
_ENTRY_ENDS: dict[FeedFormat, re.Pattern[bytes]] = {
    "rss": re.compile(rb"</item>\n"),
    "atom": re.compile(rb"</entry>\n"),
    "json": re.compile(rb"\n    }(?=,\n    {|\n  ])"),
}


def prefix_sizes(fmt: FeedFormat, data: bytes) -> list[int]:
    """The size of the feed that the first 1, 2, ... entries of the feed `data` (as
    `render` wrote it) would render to: the same bytes up to the end of the last of
    them, then the same end of the document. An entry's bytes do not depend on the
    entries after it, and a feed's date is its first entry's."""
    start = data.find(b'\n  "items": [') if fmt == "json" else 0  # feed-level lists first
    ends = [match.end() for match in _ENTRY_ENDS[fmt].finditer(data, max(start, 0))]
    if not ends:
        return []
    tail = len(data) - ends[-1]
    return [end + tail for end in ends]


def render_empty(fmt: FeedFormat, spec: FeedSpec, site: Site, updated: datetime | None) -> bytes:
    """A valid feed with no entries, for a topic that has none left. RSS and Atom keep
    `updated` as their date; a JSON Feed has no feed-level date and needs none."""
    if fmt == "json":
        from aggregator.rendering import jsonfeed  # it builds on this module: not at the top

        return jsonfeed.render(spec, site, {})
    if updated is None:
        raise ValueError(f"an empty {fmt} feed needs the date it was last updated")
    return _serialise(_feed(spec, site, updated, fmt), fmt, spec)


def read_feed_header(fmt: FeedFormat, data: bytes) -> tuple[str, datetime | None] | None:
    """Title and updated date of a feed this module wrote earlier, or None. The date
    is None only for a JSON Feed without items (the format has no feed-level date)."""
    if fmt == "json":
        from aggregator.rendering import jsonfeed  # it builds on this module: not at the top

        return jsonfeed.read_header(data)
    try:
        root = ElementTree.fromstring(data)
        if fmt == "atom":
            element = root.find(f"{{{ATOM_NS}}}title")
            title = element.text if element is not None else None
            if title and element is not None and element.get("type") == "html":
                title = html.unescape(title)  # as `_declare_html` escaped it
            text = root.findtext(f"{{{ATOM_NS}}}updated")
            when = datetime.fromisoformat(text) if text else None
        else:
            title = root.findtext("channel/title")
            title = title and open_text_value(title)
            text = root.findtext("channel/lastBuildDate")
            when = parsedate_to_datetime(text) if text else None
    except (ElementTree.ParseError, ValueError, TypeError):
        return None
    if not title or when is None or when.tzinfo is None:
        return None
    return title, when


def _feed(spec: FeedSpec, site: Site, updated: datetime, fmt: FeedFormat) -> FeedGenerator:
    generator = FeedGenerator()
    generator.register_extension("aggregator", _FeedExtension, _EntryExtension)
    self_url = {fmt: site.url(spec.path(fmt)) for fmt in FORMATS}
    generator.id(self_url["atom"])
    # Each generator renders one format: RSS text goes in as RSS wants it.
    text = open_text if fmt == "rss" else _as_is
    generator.title(text(spec.title))
    generator.subtitle(text(spec.description))
    generator.language(spec.language or site.language)
    generator.author({"name": open_text(site.title)})
    generator.generator(GENERATOR, version=__version__, uri=GENERATOR_URI)
    generator.updated(updated)
    generator.lastBuildDate(updated)
    generator.pubDate(updated)
    generator.docs("https://www.rssboard.org/rss-specification")
    # The self link is format-specific; _serialise sets it per format.
    generator.link(href=spec.page_url, rel="alternate", type="text/html")
    generator.aggregator.self_urls = self_url
    generator.aggregator.hub = site.hub
    return generator


def _serialise(generator: FeedGenerator, fmt: FeedFormat, spec: FeedSpec) -> bytes:
    generator.aggregator.format = fmt
    # feedgen ties the Atom logo to the RSS image, but they are not the same thing: the
    # Atom logo is wide (2:1) and has a square icon beside it, while RSS has only the
    # one image, for which the icon will do when there is no logo. Each generator
    # renders one format, so the images are set here for that format alone.
    if fmt == "atom":
        if spec.icon:
            generator.icon(spec.icon)
        if spec.logo:
            generator.logo(spec.logo)
        data = generator.atom_str(pretty=True, encoding="UTF-8", xml_declaration=True)
        data = _PERSON_NAMES.sub(_hex_references, data)
    else:
        image = next((url for url in (spec.logo, spec.icon) if url and rss_image(url)), None)
        if image:
            # title and link default to the channel's, as the W3C validator wants
            generator.image(url=image)
        data = _character_data(
            generator.rss_str(pretty=True, encoding="UTF-8", xml_declaration=True)
        )
    return bytes(data)


#: the extensions of the formats an RSS image may have (RSS 2.0: GIF, JPEG or PNG)
_RSS_IMAGE_EXTENSIONS = frozenset({".gif", ".jpg", ".jpeg", ".png"})


def rss_image(url: str) -> bool:
    """True when the image at `url` may be an RSS channel's image: a GIF, JPEG or PNG
    by the extension of its URL's path (in any case), or one whose path has no
    extension (nothing says what it is). An icon or logo of another format (`.ico`,
    `.svg`, `.webp`) is fine in Atom and JSON Feed, and left out of RSS."""
    extension = posixpath.splitext(urlsplit(url).path)[1].lower()
    return extension in ("", ".") or extension in _RSS_IMAGE_EXTENSIONS


def _add_entry(
    generator: FeedGenerator,
    article: Article,
    updated: datetime,
    content: ContentMode,
    fmt: FeedFormat,
) -> None:
    entry = generator.add_entry(order="append")
    entry.id(entry_id(article))
    entry.guid(entry_id(article), permalink=False)
    entry.link(href=article.link, rel="alternate")
    entry.published(article.published_at)
    entry.updated(updated)
    entry.pubDate(article.published_at)
    # Beside HTML content the summary is the excerpt, if any; alone, it is all the
    # entry's text, and there is always some (`entry_text`).
    summary = article.excerpt if content == "full" else entry_text(article)
    if fmt == "rss":
        entry.title(open_text(article.title))
        if summary:
            # An RSS description is HTML: the summary is text, so it is escaped as HTML
            # here (and as XML by the serialiser), or `&lt;img&gt;` in a file would
            # reach readers as an image.
            entry.description(_text(summary), isSummary=True)
        terms = [open_text(topic) for topic in article.topics]
    else:
        entry.title(article.title)  # Atom text constructs are plain text (type="text")
        if summary:
            entry.summary(summary)
        terms = list(article.topics)
    if content == "full":
        entry.content(content_html(article), type="html")
    if terms:
        # In one call: feedgen goes over every category given so far on each call.
        entry.category([{"term": term} for term in terms])
    extension = entry.aggregator
    extension.article = article
    extension.image = article.images[0] if article.images else None


def entry_text(article: Article) -> str:
    """The text of an entry without HTML content (`content: excerpt`): its excerpt, else
    its title (a file need not have an excerpt). Every format carries it (RSS
    `description`, Atom `summary`, JSON Feed `content_text`): an entry without any text
    is what the W3C validator warns of ("Missing textual content")."""
    return article.excerpt or article.title


#: text an HTML reader would take for markup: a tag, an end tag, a comment or
#: declaration, or a character reference
_MARKUP = re.compile(r"<[A-Za-z/!?]|&#?[A-Za-z0-9]+;")


def open_text(text: str) -> str:
    """Plain text for a field whose format leaves open whether it is text or HTML:
    RSS titles, the channel description, categories and dc:creator, OPML outlines.

    Readers differ: some show these as text, many (feedparser among them) take them
    for HTML when they look like it. So text that looks like markup is escaped as
    HTML (`<img>` reaches every reader as the characters, never as an image), and
    any other text goes as it is, so that "AT&T" stays "AT&T" in readers of both
    kinds. `open_text_value` reads it back.
    """
    return html.escape(text, quote=False) if _MARKUP.search(text) else text


def open_text_value(text: str) -> str:
    """The plain text that `open_text` turned into `text`."""
    return html.unescape(text) if _MARKUP.search(text) else text


def _as_is(text: str) -> str:
    return text


#: the RSS elements whose text the W3C validator reads as plain text, which it wants
#: to hold "&" and "<" as hexadecimal character references (the RSS Advisory Board's
#: profile: the form most readers get right)
_PLAIN_ELEMENTS = re.compile(
    rb"(?P<start><(?P<tag>title|category)>)(?P<text>[^<]*)(?P<end></(?P=tag)>)"
)
_CHANNEL_DESCRIPTION = re.compile(
    rb"(?P<start><description>)(?P<text>[^<]*)(?P<end></description>)"
)
_HEX_REFERENCES = {b"&amp;": b"&#x26;", b"&lt;": b"&#x3C;", b"&gt;": b"&#x3E;"}
_REFERENCE = re.compile(rb"&(?:amp|lt|gt);")


#: Atom person names, plain text without a type attribute: the same treatment
_PERSON_NAMES = re.compile(rb"(?P<start><name>)(?P<text>[^<]*)(?P<end></name>)")


def _hex_references(match: re.Match[bytes]) -> bytes:
    """An element matched as start, text and end with "&", "<" and ">" in its text
    written as hexadecimal character references."""
    text = _REFERENCE.sub(lambda m: _HEX_REFERENCES[m.group(0)], match["text"])
    return match["start"] + text + match["end"]


def _character_data(data: bytes) -> bytes:
    """An RSS document with "&", "<" and ">" in its plain-text elements written as
    hexadecimal character references: the same characters to an XML parser."""
    head, item, rest = data.partition(b"<item>")
    # The channel's description comes before any item; an item's is HTML.
    head = _CHANNEL_DESCRIPTION.sub(_hex_references, head, count=1)
    return _PLAIN_ELEMENTS.sub(_hex_references, head + item + rest)


def content_html(article: Article) -> str:
    """The HTML body of an entry, built only from escaped plain text and checked URLs.
    Kept for the last few articles (and the offsets of their dates, which the body
    writes): each is rendered in three formats, and in the all-topics feed and each of
    its topics' feeds."""
    return _content_html(article, _offsets(article))


@functools.lru_cache(maxsize=128)
def _content_html(article: Article, _offsets: tuple[timedelta | None, ...]) -> str:
    esc, text = html.escape, _text
    parts: list[str] = []
    if article.images:
        image = article.images[0]
        size = "".join(
            f' {name}="{value}"'
            for name, value in (("width", image.width), ("height", image.height))
            if value
        )
        parts.append(
            f'<p><a href="{esc(article.link)}"><img src="{esc(image.url)}" '
            f'alt="{esc(image.title or article.title)}"{size}></a></p>'
        )
    if article.excerpt:
        parts.append(f"<p>{text(article.excerpt)}</p>")
    verb = "Watch the video" if article.kind == "video" else "Read the full story"
    source = f" at {text(article.provider.name)}" if article.provider else ""
    parts.append(f'<p><a href="{esc(article.link)}">{verb}</a>{source}.</p>')
    own = canonical_url(article.link)
    stubs = [s for s in article.related if canonical_url(s.link) != own]
    if stubs:
        items = []
        for stub in stubs:
            details = [text(stub.provider.name)] if stub.provider else []
            if stub.published_at is not None:
                details.append(f"{stub.published_at:%Y-%m-%d}")
            suffix = f" ({', '.join(details)})" if details else ""
            items.append(f'<li><a href="{esc(stub.link)}">{text(stub.title)}</a>{suffix}</li>')
        parts.append("<p>Related coverage:</p><ul>" + "".join(items) + "</ul>")
    return "\n".join(parts)


def _text(value: str) -> str:
    return html.escape(value, quote=False)


def provider_url(provider: Provider) -> str | None:
    """The home page of a provider, when its domain is a plain host name that is not
    this machine (`localhost`, `*.localhost`): a link readers may follow."""
    if provider.domain and _HOSTNAME.fullmatch(provider.domain):
        url = f"https://{provider.domain}/"
        return None if points_inside(url) else url
    return None


def image_type(image: Image) -> str:
    """MIME type of an image from its URL's extension; JPEG when the URL does not say."""
    extension = posixpath.splitext(urlsplit(image.url).path)[1].lower()
    return _IMAGE_TYPES.get(extension) or mimetypes.types_map.get(extension, "image/jpeg")


class _FeedExtension(BaseExtension):  # type: ignore[misc]
    """Feed-level: the format-specific self link, and namespaces."""

    def __init__(self) -> None:
        self.format: FeedFormat = "rss"
        self.self_urls: dict[str, str] = {}
        self.hub: str | None = None

    def extend_ns(self) -> dict[str, str]:
        return {"media": MEDIA_NS, "dc": DC_NS}

    # feedgen builds Atom documents from un-namespaced elements under an `xmlns`
    # attribute, so elements added here must be un-namespaced too.
    def extend_atom(self, feed: Any) -> Any:
        link = etree.Element("link")
        link.set("href", self.self_urls["atom"])
        link.set("rel", "self")
        link.set("type", MEDIA_TYPES["atom"])
        # Right after the alternate link, before any entry.
        feed.insert(_after_last(feed, "link"), link)
        if self.hub:
            hub = etree.Element("link")
            hub.set("href", self.hub)
            hub.set("rel", "hub")
            feed.insert(_after_last(feed, "link"), hub)
        _declare_html(feed, ("title", "subtitle"))
        return feed

    def extend_rss(self, feed: Any) -> Any:
        channel = feed.find("channel")
        link = etree.Element(f"{{{ATOM_NS}}}link")
        link.set("href", self.self_urls["rss"])
        link.set("rel", "self")
        link.set("type", MEDIA_TYPES["rss"])
        channel.insert(3, link)  # after title, link, description
        if self.hub:  # feedgen drops rel="hub" from RSS; WebSub wants it beside rel="self"
            hub = etree.Element(f"{{{ATOM_NS}}}link")
            hub.set("href", self.hub)
            hub.set("rel", "hub")
            channel.insert(4, hub)
        return feed


class _EntryExtension(BaseEntryExtension):  # type: ignore[misc]
    """Entry-level: author, image as media:content, media:thumbnail and enclosure."""

    def __init__(self) -> None:
        self.article: Article | None = None
        self.image: Image | None = None

    def extend_atom(self, entry: Any) -> Any:
        article = self.article
        assert article is not None
        _declare_html(entry, ("title", "summary"))
        if article.provider is not None:
            author = etree.Element("author")
            # A name has no type attribute to declare: it goes as open text.
            etree.SubElement(author, "name").text = open_text(article.provider.name)
            uri = provider_url(article.provider)
            if uri:
                etree.SubElement(author, "uri").text = uri
            entry.insert(_after_last(entry, "updated"), author)
        if self.image is not None:
            link = etree.Element("link")
            link.set("rel", "enclosure")
            link.set("type", image_type(self.image))
            link.set("href", self.image.url)
            entry.insert(_after_last(entry, "link"), link)
            self._media(entry)
        return entry

    def extend_rss(self, item: Any) -> Any:
        article = self.article
        assert article is not None
        if article.provider is not None:
            creator = open_text(article.provider.name)  # an RSS element of open type
            etree.SubElement(item, f"{{{DC_NS}}}creator").text = creator
        if self.image is not None:
            enclosure = etree.SubElement(item, "enclosure")
            enclosure.set("url", self.image.url)
            # The byte size is unknown without fetching the image; 0 is the agreed "unknown".
            enclosure.set("length", "0")
            enclosure.set("type", image_type(self.image))
            self._media(item)
        return item

    def _media(self, parent: Any) -> None:
        image = self.image
        assert image is not None
        sizes = {k: str(v) for k, v in (("width", image.width), ("height", image.height)) if v}
        content = etree.SubElement(parent, f"{{{MEDIA_NS}}}content")
        content.set("url", image.url)
        content.set("medium", "image")
        content.set("type", image_type(image))
        for name, value in sizes.items():
            content.set(name, value)
        thumbnail = etree.SubElement(parent, f"{{{MEDIA_NS}}}thumbnail")
        thumbnail.set("url", image.url)
        for name, value in sizes.items():
            thumbnail.set(name, value)


def _declare_html(parent: Any, tags: tuple[str, ...]) -> None:
    """Atom text constructs among `parent`'s children (title, subtitle, summary) whose
    text an HTML reader could take for markup (`_html_like`), as `type="html"` with
    the text escaped as HTML: the text a reader shows stays the same, and no reader
    (nor the W3C validator) has to guess whether `<img ...>` or `&copy` in a
    plain-text construct is meant as markup. Other text ("AT&T") stays text."""
    for tag in tags:
        element = parent.find(tag)
        if element is not None and element.text and _html_like(element.text):
            element.text = html.escape(element.text, quote=False)
            element.set("type", "html")


#: "&" and what follows it, as far as a character reference could go
_AMPERSAND = re.compile(r"&(#?\w+)")


def _html_like(text: str) -> bool:
    """True when some of `text` could be read as markup: a tag, or an "&" that starts a
    character reference, with or without its ";" (`&copy 2024`, `&#8217`), or is
    followed by digits (`S&P500`, `5&10`: the W3C validator's reading)."""
    if _MARKUP.search(text):  # a tag, or a reference with its ";"
        return True
    return any(
        not name.isalpha() or name in name2codepoint or f"{name};" in html5
        for name in _AMPERSAND.findall(text)
    )


def _after_last(parent: Any, tag: str) -> int:
    index = 0
    for position, child in enumerate(parent):
        if child.tag == tag:
            index = position + 1
    return index


def rfc822(when: datetime) -> str:
    return format_datetime(when.astimezone(UTC))
