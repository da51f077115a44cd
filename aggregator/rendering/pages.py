"""The index page and the OPML subscription lists. Pure: same input, same bytes."""

from __future__ import annotations

import html
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from aggregator.model import Article
from aggregator.model import FeedFormat
from aggregator.rendering.feeds import FORMATS
from aggregator.rendering.feeds import FeedSpec
from aggregator.rendering.feeds import Site
from aggregator.rendering.feeds import open_text
from aggregator.rendering.feeds import rfc822

FORMAT_NAMES = {"rss": "RSS 2.0", "atom": "Atom 1.0", "json": "JSON Feed 1.1"}
OPML_ALL = "feeds.opml"
OPML_PER_FORMAT: dict[FeedFormat, str] = {
    "rss": "rss.opml",
    "atom": "atom.opml",
    "json": "json.opml",
}
#: OPML 2.0 `version` of an outline; OPML names none for JSON Feed, so it has none
_OPML_VERSIONS: dict[FeedFormat, str] = {"rss": "RSS2", "atom": "ATOM"}
INDEX = "index.html"
#: the ids of the index page's own sections: each holds "_", which no topic's slug
#: holds (`slugs.topic_slug`), so that no topic's card, whose id is its slug (the
#: fragment its feeds link to), shares one, whatever the topics are called
EVERYTHING_ID = "every_topic"
TOPICS_ID = "topic_list"


@dataclass(frozen=True, slots=True)
class Headline:
    """An entry as the index page shows it under its feed: all it reads of the article
    (kept with the feed in the state file, see `engine.tables.FeedRecord`, so that a
    feed kept as it is is listed without its articles)."""

    title: str
    link: str
    published_at: datetime
    #: the provider's name
    source: str | None
    #: the picture beside it: its URL and its text (the image's title, else the title)
    image: tuple[str, str] | None

    def row(self) -> list[str | None]:
        """As JSON keeps it (`from_row` reads it back)."""
        url, text = self.image or (None, None)
        return [self.title, self.link, self.published_at.isoformat(), self.source, url, text]

    @classmethod
    def from_row(cls, row: Sequence[str | None]) -> Headline:
        title, link, when, source, url, text = row
        assert title is not None and link is not None and when is not None
        image = (url, text) if url is not None and text is not None else None
        return cls(title, link, datetime.fromisoformat(when), source, image)


def headline(article: Article) -> Headline:
    """The headline of an article as published (with the images it shows)."""
    image = None
    if article.images:
        first = article.images[0]
        image = (first.url, first.title or article.title)
    source = article.provider.name if article.provider else None
    return Headline(article.title, article.link, article.published_at, source, image)


@dataclass(frozen=True, slots=True)
class Listing:
    """One feed as the index page and the OPML show it."""

    spec: FeedSpec
    entries: int
    updated: datetime
    #: the newest few entries, newest first
    latest: tuple[Headline, ...]


def render_opml(
    site: Site, listings: Sequence[Listing], formats: Sequence[FeedFormat] = FORMATS
) -> bytes:
    """OPML 2.0 listing every feed; with several formats, one folder per format."""
    root = ElementTree.Element("opml", version="2.0")
    head = ElementTree.SubElement(root, "head")
    # Outline text is shown as text by some readers and as HTML by others: open_text.
    ElementTree.SubElement(head, "title").text = open_text(site.title)
    newest = max((item.updated for item in listings), default=None)
    if newest is not None:
        ElementTree.SubElement(head, "dateModified").text = rfc822(newest)
    ElementTree.SubElement(head, "docs").text = "http://opml.org/spec2.opml"
    body = ElementTree.SubElement(root, "body")
    for fmt in formats:
        parent = body
        if len(formats) > 1:
            name = FORMAT_NAMES[fmt]
            parent = ElementTree.SubElement(body, "outline", text=name, title=name)
        for item in listings:
            # type="rss" is OPML's "a feed to subscribe to", whatever its format:
            # readers import JSON Feeds from such outlines too.
            attributes = {"type": "rss"}
            if fmt in _OPML_VERSIONS:
                attributes["version"] = _OPML_VERSIONS[fmt]
            attributes |= {
                "text": open_text(item.spec.title),
                "title": open_text(item.spec.title),
                "xmlUrl": site.url(item.spec.path(fmt)),
                "htmlUrl": item.spec.page_url,
            }
            ElementTree.SubElement(parent, "outline", attributes)
    ElementTree.indent(root)
    return bytes(ElementTree.tostring(root, encoding="UTF-8", xml_declaration=True)) + b"\n"


@dataclass(frozen=True, slots=True)
class SubscribeFormat:
    """A format every feed is published in, as the index page offers it: one subscribe
    link per feed and one `<link rel="alternate">` for feed-reader autodiscovery."""

    #: the format's name in OPML_PER_FORMAT ("rss"), whose list the page links to
    key: str
    #: what a person reads on the link, e.g. "RSS 2.0"
    label: str
    #: the feed file's extension after its stem, e.g. ".rss"
    extension: str
    #: the feed's media type, for `type` attributes
    media_type: str


#: the formats the index page offers, in the order it lists them
SUBSCRIBE_FORMATS: tuple[SubscribeFormat, ...] = (
    SubscribeFormat("rss", "RSS 2.0", ".rss", "application/rss+xml"),
    SubscribeFormat("atom", "Atom 1.0", ".atom", "application/atom+xml"),
    SubscribeFormat("json", "JSON Feed 1.1", ".json", "application/feed+json"),
)
OPML_TYPE = "text/x-opml"
#: the thumbnail box in CSS pixels (16:9); the img's width/height attributes say the
#: same, so the page does not shift as pictures arrive
THUMB_WIDTH = 112
THUMB_HEIGHT = 63

# Inline only (no external asset). Colours meet WCAG AA contrast in both schemes:
# text 16:1, muted text 7:1, links 6:1 (light); 15:1, 9:1, 8:1 (dark).
#: the colour schemes (light, and dark when the system prefers it) and the rules every
#: page shares: the index page and the HTML build report (`reportpage`)
BASE_STYLE = """
:root{color-scheme:light dark;--fg:#1a1a1a;--bg:#ffffff;--muted:#595959;--line:#d0d0d0;
--card:#f7f7f8;--accent:#0b57d0}
@media (prefers-color-scheme:dark){:root{--fg:#ececec;--bg:#121212;--muted:#b3b3b3;
--line:#3c3c3c;--card:#1d1d1f;--accent:#8ab4f8}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);overflow-wrap:anywhere;
font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
.page{max-width:72rem;margin:0 auto;padding:1rem}
a{color:var(--accent)}
a:focus-visible{outline:3px solid var(--accent);outline-offset:2px;border-radius:2px}
.skip{position:absolute;left:-10000px;top:.5rem;background:var(--bg);padding:.5rem 1rem}
.skip:focus{left:.5rem}
.vh{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%);
white-space:nowrap}
h1{font-size:2rem;line-height:1.2;margin:.5rem 0}
h2{font-size:1.35rem;margin:1.5rem 0 .5rem}
h3{font-size:1.15rem;margin:0 0 .25rem}
""".strip()
_STYLE = (
    BASE_STYLE
    + "\n"
    + f"""
.lead,.meta,.source,footer{{color:var(--muted)}}
.lead{{font-size:1.1rem;margin:0 0 1rem}}
.toc{{display:flex;flex-wrap:wrap;gap:.25rem .5rem;list-style:none;padding:0;margin:0}}
.toc a{{display:inline-block;padding:.35rem .1rem}}
.subscribe{{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem;margin:.75rem 0 0}}
.subscribe a{{display:inline-block;min-height:2.75rem;padding:.6rem .9rem;line-height:1.5;
border:1px solid var(--line);border-radius:1.5rem;background:var(--bg);text-decoration:none;
font-weight:600}}
.subscribe a:hover{{text-decoration:underline}}
.topics{{display:grid;gap:1rem;grid-template-columns:repeat(auto-fill,minmax(min(100%,22rem),1fr));
list-style:none;padding:0;margin:0}}
.topic{{min-width:0;background:var(--card);border:1px solid var(--line);border-radius:.75rem;
padding:1rem}}
.meta{{margin:0 0 .75rem;font-size:.95rem}}
.latest{{list-style:none;padding:0;margin:0}}
.latest li{{display:grid;grid-template-columns:{THUMB_WIDTH}px minmax(0,1fr);gap:.1rem .75rem;
padding:.5rem 0;border-top:1px solid var(--line)}}
.latest li.text{{grid-template-columns:minmax(0,1fr)}}
.thumb{{grid-row:span 2;display:block;width:{THUMB_WIDTH}px;height:{THUMB_HEIGHT}px;
overflow:hidden;border-radius:.35rem;background:var(--line)}}
.thumb img{{display:block;width:100%;height:100%;object-fit:cover;font-size:.75rem;
line-height:1.2;color:var(--muted)}}
.headline{{font-weight:600}}
.source{{font-size:.875rem}}
footer{{border-top:1px solid var(--line);margin-top:2rem;padding-top:1rem;font-size:.9rem}}
""".strip()
)


def render_index(
    site: Site,
    everything: Listing | None,
    topics: Sequence[Listing],
    formats: Sequence[SubscribeFormat] = SUBSCRIBE_FORMATS,
) -> bytes:
    """The page a person opens: every topic with its entry count, last update, latest
    headlines and subscribe links, plus autodiscovery links for feed readers.

    No script and no external asset; every text from an article file is escaped.
    """
    esc = html.escape
    head = [
        "<!DOCTYPE html>",
        f'<html lang="{esc(site.language)}">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(site.title)}</title>",
        f'<meta name="description" content="{esc(site.description)}">',
        '<meta name="generator" content="aggregator">',
    ]
    for item in ([everything] if everything else []) + list(topics):
        for fmt in formats:
            head.append(
                f'<link rel="alternate" type="{esc(fmt.media_type)}" '
                f'title="{esc(item.spec.title)} ({esc(fmt.label)})" '
                f'href="{esc(_feed_url(site, item, fmt))}">'
            )
    head += [f"<style>\n{_STYLE}\n</style>", "</head>", "<body>"]

    body = [
        f'<a class="skip" href="#{TOPICS_ID}">Skip to the topics</a>',
        '<div class="page">',
        "<header>",
        f"<h1>{esc(site.title)}</h1>",
        f'<p class="lead">{esc(site.description)}</p>',
        "</header>",
    ]
    if topics:
        body += ['<nav aria-label="Topics">', '<ul class="toc">']
        body += [
            f'<li><a href="#{esc(_anchor(item))}">{esc(_name(item))}</a></li>' for item in topics
        ]
        body += ["</ul>", "</nav>"]
    body.append("<main>")
    body += _everything_section(site, everything, formats)
    body.append(f'<h2 id="{TOPICS_ID}">Topics</h2>')
    if topics:
        body.append('<ul class="topics">')
        body += [_topic_item(site, item, formats) for item in topics]
        body.append("</ul>")
    else:
        body.append("<p>No topic has published articles yet.</p>")
    body += [
        "</main>",
        "<footer>",
        "<p>To subscribe, open a feed link in your feed reader, or copy its address into it."
        " Feed readers also find every feed from this page's address.</p>",
        "</footer>",
        "</div>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(head + body).encode("utf-8")


def _everything_section(
    site: Site, everything: Listing | None, formats: Sequence[SubscribeFormat]
) -> list[str]:
    esc = html.escape
    lines = [
        f'<section aria-labelledby="{EVERYTHING_ID}">',
        f'<h2 id="{EVERYTHING_ID}">Every topic</h2>',
    ]
    if everything is not None:
        lines.append(f'<p class="meta">{_count_and_date(everything)}</p>')
        links = [_subscribe_link(site, everything, fmt, "every topic") for fmt in formats]
        lines.append(_subscribe_row(links))
    labels = {fmt.key: fmt.label for fmt in formats}
    opml = [f'<a href="{esc(site.url(OPML_ALL))}" type="{OPML_TYPE}">All feeds as OPML</a>']
    opml += [
        f'<a href="{esc(site.url(name))}" type="{OPML_TYPE}">'
        f"All {esc(labels[key])} feeds as OPML</a>"
        for key, name in OPML_PER_FORMAT.items()
        if key in labels
    ]
    lines += [
        "<p>Subscribe to every topic at once: import one of these lists into your feed reader.</p>",
        _subscribe_row(opml),
        "</section>",
    ]
    return lines


def _topic_item(site: Site, item: Listing, formats: Sequence[SubscribeFormat]) -> str:
    esc = html.escape
    name = _name(item)
    lines = [
        f'<li class="topic" id="{esc(_anchor(item))}">',
        f"<h3>{esc(name)}</h3>",
        f'<p class="meta">{_count_and_date(item)}</p>',
        f'<ol class="latest" aria-label="Latest in {esc(name)}">',
    ]
    lines += [_headline(headline) for headline in item.latest]
    lines.append("</ol>")
    lines.append(_subscribe_row([_subscribe_link(site, item, fmt, name) for fmt in formats]))
    lines.append("</li>")
    return "\n".join(lines)


def _headline(item: Headline) -> str:
    esc = html.escape
    link = esc(item.link)
    parts = []
    if item.image is not None:
        url, text = item.image
        # The picture links to the story too, but only for the mouse: the headline
        # beside it is the one link screen readers and the keyboard meet.
        parts.append(
            f'<a class="thumb" href="{link}" tabindex="-1" aria-hidden="true">'
            f'<img src="{esc(url)}" alt="{esc(text)}" '
            f'width="{THUMB_WIDTH}" height="{THUMB_HEIGHT}" loading="lazy" decoding="async"></a>'
        )
    parts.append(f'<a class="headline" href="{link}">{esc(item.title)}</a>')
    source = [esc(item.source)] if item.source is not None else []
    source.append(_time(item.published_at))
    parts.append(f'<span class="source">{", ".join(source)}</span>')
    css = "" if item.image is not None else ' class="text"'
    return f"<li{css}>{''.join(parts)}</li>"


def _subscribe_row(links: Sequence[str]) -> str:
    return f'<p class="subscribe">{" ".join(links)}</p>'


def _subscribe_link(site: Site, item: Listing, fmt: SubscribeFormat, what: str) -> str:
    # The visible text is the format; the hidden words make the link's name say what
    # it subscribes to when it is read out of context (a screen reader's link list).
    esc = html.escape
    return (
        f'<a href="{esc(_feed_url(site, item, fmt))}" type="{esc(fmt.media_type)}">'
        f'<span class="vh">Subscribe to {esc(what)} with </span>{esc(fmt.label)}</a>'
    )


def _feed_url(site: Site, item: Listing, fmt: SubscribeFormat) -> str:
    return site.url(item.spec.stem + fmt.extension)


def _count_and_date(item: Listing) -> str:
    count = f"{item.entries} article{'s' if item.entries != 1 else ''}"
    return f"{count}, last updated {_time(item.updated)}"


def _time(when: datetime) -> str:
    return f'<time datetime="{when.isoformat()}">{when:%Y-%m-%d}</time>'


def _name(item: Listing) -> str:
    return item.spec.topic or item.spec.title


def _anchor(item: Listing) -> str:
    """The fragment of the topic's page URL (its slug), which its feeds link to."""
    return item.spec.page_url.rpartition("#")[2]
