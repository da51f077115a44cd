"""The index page and the OPML subscription lists. Pure: same input, same bytes."""

from __future__ import annotations

import html
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from aggregator.feeds import FORMATS
from aggregator.feeds import MEDIA_TYPES
from aggregator.feeds import FeedSpec
from aggregator.feeds import Site
from aggregator.feeds import rfc822
from aggregator.model import Article
from aggregator.model import FeedFormat

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


@dataclass(frozen=True, slots=True)
class Listing:
    """One feed as the index page and the OPML show it."""

    spec: FeedSpec
    entries: int
    updated: datetime
    #: the newest few entries, newest first
    latest: tuple[Article, ...]


def render_opml(
    site: Site, listings: Sequence[Listing], formats: Sequence[FeedFormat] = FORMATS
) -> bytes:
    """OPML 2.0 listing every feed; with several formats, one folder per format."""
    root = ElementTree.Element("opml", version="2.0")
    head = ElementTree.SubElement(root, "head")
    ElementTree.SubElement(head, "title").text = site.title
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
                "text": item.spec.title,
                "title": item.spec.title,
                "xmlUrl": site.url(item.spec.path(fmt)),
                "htmlUrl": item.spec.page_url,
            }
            ElementTree.SubElement(parent, "outline", attributes)
    ElementTree.indent(root)
    return bytes(ElementTree.tostring(root, encoding="UTF-8", xml_declaration=True)) + b"\n"


_STYLE = """
:root{color-scheme:light dark;--muted:#666;--line:#ddd;--accent:#0b57d0}
@media (prefers-color-scheme:dark){:root{--muted:#aaa;--line:#444;--accent:#8ab4f8}}
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;
max-width:56rem;padding:1rem}
a{color:var(--accent)}
header p,.meta{color:var(--muted)}
ul.topics{list-style:none;padding:0;margin:0}
ul.topics>li{border-top:1px solid var(--line);padding:1rem 0}
h2{font-size:1.2rem;margin:0 0 .25rem}
.subscribe a{display:inline-block;margin-right:.75rem;padding:.4rem 0}
ol.latest{padding-left:1.2rem;margin:.5rem 0}
""".strip()


def render_index(site: Site, everything: Listing | None, topics: Sequence[Listing]) -> bytes:
    """A plain page listing every feed with subscribe links and autodiscovery."""
    esc = html.escape
    head = [
        "<!DOCTYPE html>",
        f'<html lang="{esc(site.language)}">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(site.title)}</title>",
        f'<meta name="description" content="{esc(site.description)}">',
        f'<meta name="generator" content="{esc("aggregator")}">',
    ]
    for item in ([everything] if everything else []) + list(topics):
        for fmt in FORMATS:
            head.append(
                f'<link rel="alternate" type="{MEDIA_TYPES[fmt]}" '
                f'title="{esc(item.spec.title)} ({FORMAT_NAMES[fmt]})" '
                f'href="{esc(site.url(item.spec.path(fmt)))}">'
            )
    head += [f"<style>{_STYLE}</style>", "</head>", "<body>"]

    body = ["<header>", f"<h1>{esc(site.title)}</h1>", f"<p>{esc(site.description)}</p>"]
    links = []
    if everything:
        links += [_format_link(site, everything, fmt, "All topics") for fmt in FORMATS]
    links.append(f'<a href="{esc(site.url(OPML_ALL))}">OPML of every feed</a>')
    body.append(f'<p class="subscribe">{" ".join(links)}</p>')
    body.append("</header>")
    body.append("<main>")
    if topics:
        body.append('<ul class="topics">')
        for item in topics:
            body.append(_topic_item(site, item))
        body.append("</ul>")
    else:
        body.append("<p>No topic has published articles yet.</p>")
    body += ["</main>", "</body>", "</html>", ""]
    return "\n".join(head + body).encode("utf-8")


def _topic_item(site: Site, item: Listing) -> str:
    esc = html.escape
    name = item.spec.topic or item.spec.title
    anchor = item.spec.page_url.rpartition("#")[2]
    count = f"{item.entries} article{'s' if item.entries != 1 else ''}"
    lines = [
        f'<li id="{esc(anchor)}">',
        f"<h2>{esc(name)}</h2>",
        f'<p class="meta">{count}, last updated '
        f'<time datetime="{item.updated.isoformat()}">{item.updated:%Y-%m-%d}</time></p>',
        '<ol class="latest">',
    ]
    lines += [f'<li><a href="{esc(a.link)}">{esc(a.title)}</a></li>' for a in item.latest]
    lines.append("</ol>")
    links = " ".join(_format_link(site, item, fmt, name) for fmt in FORMATS)
    lines += [f'<p class="subscribe">{links}</p>', "</li>"]
    return "\n".join(lines)


def _format_link(site: Site, item: Listing, fmt: FeedFormat, label: str) -> str:
    esc = html.escape
    return (
        f'<a href="{esc(site.url(item.spec.path(fmt)))}" type="{MEDIA_TYPES[fmt]}" '
        f'aria-label="{esc(label)}: subscribe with {FORMAT_NAMES[fmt]}">{FORMAT_NAMES[fmt]}</a>'
    )
