"""Remote feeds as sources: fetched politely from real loopback servers, their entries
published beside article files, deduplicated with them, kept when a feed fails."""

from __future__ import annotations

import contextlib
import gzip
import html
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import feedparser
import pytest
import yaml
from conftest import NOW
from conftest import write_article
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree
from w3c import needs_validator
from w3c import validate_folder

from aggregator.app.feedlist import feed_json
from aggregator.app.feedlist import problem_lines
from aggregator.app.feedlist import render as render_feeds
from aggregator.app.overview import overview
from aggregator.app.overview import to_json
from aggregator.app.watch import Warm
from aggregator.config import Config
from aggregator.config import FeedSource
from aggregator.config import config_from_mapping
from aggregator.engine.pipeline import build
from aggregator.engine.pipeline import check_links
from aggregator.errors import FeedError
from aggregator.library import feed_states
from aggregator.limits import DEFAULT_LIMITS
from aggregator.limits import Limits
from aggregator.links.linkpolicy import LinkCheckSettings
from aggregator.model import BuildReport
from aggregator.model import FeedState
from aggregator.model import Image
from aggregator.sources import inputs
from aggregator.sources import yamlload
from aggregator.sources.discover import _with_feed
from aggregator.sources.discover import alternates
from aggregator.sources.discover import discover
from aggregator.sources.entries import Entry
from aggregator.sources.entries import FeedReader
from aggregator.sources.entries import RemoteFeed
from aggregator.sources.entries import Settings
from aggregator.sources.entries import article_text
from aggregator.sources.entries import left_out
from aggregator.sources.entries import read_feed
from aggregator.sources.entries import settled
from aggregator.sources.entries import shown_title
from aggregator.sources.remote import MAX_SKIPPED
from aggregator.sources.remote import folder_name
from aggregator.stories.urls import web_uri

XML = etree.XMLParser(resolve_entities=False, no_network=True)
#: words for titles no two of which are alike
WORDS = [
    "harbour",
    "glacier",
    "orchard",
    "violin",
    "meadow",
    "lantern",
    "copper",
    "falcon",
    "tundra",
    "biscuit",
    "quarry",
    "saddle",
    "thimble",
    "walnut",
    "ember",
    "canyon",
    "parcel",
    "mosaic",
    "pylon",
    "rudder",
    "sketch",
    "turnip",
    "velvet",
    "yonder",
    "zephyr",
    "anchor",
    "bramble",
    "cobalt",
    "dingo",
    "easel",
    "fjord",
    "gravel",
    "hazel",
    "igloo",
    "jigsaw",
    "kelp",
]


@dataclass
class Doc:
    body: bytes
    status: int = 200
    content_type: str = "application/rss+xml"
    etag: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    gzip: bool = False
    #: seconds the server takes before it answers
    delay: float = 0.0


class FeedServer:
    """A real HTTP server on 127.0.0.1 serving documents by path; every request is
    logged with its headers. An ETag (or a Last-Modified) makes it answer a matching
    If-None-Match (or If-Modified-Since) with 304."""

    def __init__(self) -> None:
        self.docs: dict[str, Doc] = {}
        self.log: list[tuple[str, dict[str, str]]] = []
        #: when each request came, by path (the real clock)
        self.arrived: dict[str, list[datetime]] = {}
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                with server.lock:
                    server.log.append((self.path, headers))
                    server.arrived.setdefault(self.path, []).append(datetime.now(UTC))
                doc = server.docs.get(self.path)
                if doc is not None and doc.delay:
                    time.sleep(doc.delay)
                if doc is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                modified = doc.headers.get("Last-Modified")
                if (doc.etag is not None and headers.get("if-none-match") == doc.etag) or (
                    modified is not None and headers.get("if-modified-since") == modified
                ):
                    self.send_response(304)
                    self.send_header("ETag", doc.etag)
                    self.end_headers()
                    return
                body = gzip.compress(doc.body) if doc.gzip else doc.body
                self.send_response(doc.status)
                self.send_header("Content-Type", doc.content_type)
                self.send_header("Content-Length", str(len(body)))
                if doc.gzip:
                    self.send_header("Content-Encoding", "gzip")
                if doc.etag is not None:
                    self.send_header("ETag", doc.etag)
                for name, value in doc.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def requests(self, path: str) -> list[dict[str, str]]:
        with self.lock:
            return [headers for p, headers in self.log if p == path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    found = FeedServer()
    try:
        yield found
    finally:
        found.close()


def rss(*items: dict[str, str], title: str = "A blog", ttl: str | None = None) -> bytes:
    parts = []
    for item in items:
        fields = "".join(
            f"<{name}>{value}</{name}>" for name, value in item.items() if name != "raw"
        )
        parts.append(f"<item>{fields}{item.get('raw', '')}</item>")
    extra = f"<ttl>{ttl}</ttl>" if ttl else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
        'xmlns:media="http://search.yahoo.com/mrss/"><channel>'
        f"<title>{title}</title><link>https://blog.example/</link>{extra}"
        + "".join(parts)
        + "</channel></rss>"
    ).encode()


def item(n: int, **more: str) -> dict[str, str]:
    when = NOW - timedelta(days=n)
    found = {
        "title": f"Blog story {n}",
        "link": f"https://blog.example/story-{n}",
        "guid": f"urn:blog:{n}",
        "description": f"&lt;p&gt;What happened in &lt;b&gt;story {n}&lt;/b&gt;.&lt;/p&gt;",
        "pubDate": format_datetime(when, usegmt=True),
        "category": "AI",
    }
    found.update(more)
    return found


def config_for(tmp_path: Path, *feeds: FeedSource, **more: object) -> Config:
    source = tmp_path / "articles"
    source.mkdir(exist_ok=True)
    return Config(
        sources=(source,),
        output=tmp_path / "out",
        links="off",
        feeds=feeds,
        link_check=LinkCheckSettings(allow_private=True, min_interval=timedelta(0), retries=0),
        **more,  # type: ignore[arg-type]
    )


def entries(out: Path, name: str = "all.atom") -> list[tuple[str, str]]:
    parsed = feedparser.parse((out / name).read_bytes())
    assert not parsed.bozo, parsed.get("bozo_exception")
    return [(e.title, e.link) for e in parsed.entries]


def age(folder: Path) -> None:
    """Make every file older than the racy window, as between two scheduled runs."""
    when = time.time() - 60
    for path in folder.rglob("*.md"):
        os.utime(path, (when, when))


def timed_build(config: Config, now: datetime) -> tuple[BuildReport, timedelta]:
    """`build(config, now=now)` and how long it took (the real clock)."""
    started = time.monotonic()
    report = build(config, now=now)
    return report, timedelta(seconds=time.monotonic() - started)


def after_waits(
    states: tuple[FeedState, ...], since: datetime, waits: list[timedelta], took: timedelta
) -> bool:
    """Whether each state's next fetch is its wait after its answer came: after `since`
    (the build's `now`) by the wait, and by no more than the build `took` besides."""
    return len(states) == len(waits) and all(
        s.next_fetch is not None and since + w <= s.next_fetch <= since + w + took
        for s, w in zip(states, waits, strict=True)
    )


def only(report: BuildReport) -> FeedState:
    assert len(report.sources) == 1, report.sources
    return report.sources[0]


@pytest.mark.e2e
def test_entries_of_a_feed_are_published_with_the_articles(
    server: FeedServer, tmp_path: Path
) -> None:
    server.docs["/feed.xml"] = Doc(rss(item(1), item(3, category="Robots")), etag='"v1"')
    config = config_for(tmp_path, FeedSource(server.url("/feed.xml"), topics=("News",)))
    write_article(
        tmp_path / "articles",
        "own.md",
        n=2,
        title="An editor's own story",
        publishedDateTime=NOW - timedelta(days=2),
    )
    report = build(config, now=NOW)
    assert entries(config.output) == [
        ("Blog story 1", "https://blog.example/story-1"),
        ("An editor's own story", "https://news.example.com/story-2"),
        ("Blog story 3", "https://blog.example/story-3"),
    ]
    state = only(report)
    assert (state.status, state.error, state.entries, state.new) == (200, None, 2, 2)
    # The feed's topics and each entry's categories; its summary as plain text.
    news = entries(config.output, "topics/news.atom")
    assert [t for t, _ in news] == ["Blog story 1", "Blog story 3"]
    assert [t for t, _ in entries(config.output, "topics/robots.atom")] == ["Blog story 3"]
    first = json.loads((config.output / "all.json").read_text())["items"][0]
    assert first["summary"] == "What happened in story 1."


@pytest.mark.e2e
def test_no_noncharacter_of_a_feed_reaches_the_published_feeds(
    server: FeedServer, tmp_path: Path
) -> None:
    # Unicode noncharacters XML may hold, and HTML may not: the W3C validator finds
    # "Invalid HTML" in the feeds and the index page that carry one on.
    odd = "\ufdd0\ufdef\U0001fffe\U0010ffff"
    document = rss(
        item(1, title=f"Blog{odd} story", description=f"What{odd} happened.", category=f"AI{odd}"),
        title=f"A{odd} blog",
    )
    server.docs["/feed.xml"] = Doc(document)
    config = config_for(tmp_path, FeedSource(server.url("/feed.xml")))
    build(config, now=NOW)
    written = [p for p in config.output.rglob("*") if p.is_file()]
    assert len(written) > 5, written
    for path in written:
        text = path.read_text(encoding="utf-8")
        assert not [c for c in text if 0xFDD0 <= ord(c) <= 0xFDEF or ord(c) & 0xFFFE == 0xFFFE], (
            path
        )
    published = json.loads((config.output / "all.json").read_text())["items"][0]
    assert (published["title"], published["summary"], published["tags"]) == (
        "Blog story",
        "What happened.",
        ["AI"],
    )
    assert published["authors"][0]["name"] == "A blog"


@pytest.mark.e2e
def test_an_entry_link_with_an_internationalised_host_in_capitals_is_published(
    server: FeedServer, tmp_path: Path
) -> None:
    image = '<media:content url="https://IMG.例え.テスト/ü.PNG" medium="image"/>'
    server.docs["/feed.xml"] = Doc(
        rss(
            item(1, link="https://Bücher.example/story", raw=image),
            item(2, link="https://News.例え.テスト/story"),
        )
    )
    config = config_for(tmp_path, FeedSource(server.url("/feed.xml")))
    report = build(config, now=NOW)
    assert report.excluded == ()
    assert entries(config.output) == [
        ("Blog story 1", "https://xn--bcher-kva.example/story"),
        ("Blog story 2", "https://news.xn--r8jz45g.xn--zckzah/story"),
    ]
    first = json.loads((config.output / "all.json").read_text())["items"][0]
    assert first["image"] == "https://img.xn--r8jz45g.xn--zckzah/%C3%BC.PNG"


@pytest.mark.e2e
def test_a_second_run_sends_conditional_requests_and_rewrites_nothing(
    server: FeedServer, tmp_path: Path
) -> None:
    server.docs["/feed.xml"] = Doc(rss(item(1), item(2)), etag='"v1"')
    server.docs["/atom.xml"] = Doc(
        b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        b"<title>Atom site</title><id>urn:a</id><updated>2026-11-20T00:00:00Z</updated>"
        b'<entry><title>Atom story</title><link href="https://atom.example/1"/><id>urn:a:1</id>'
        b"<updated>2026-11-20T00:00:00Z</updated><summary>Atom summary</summary></entry></feed>",
        content_type="application/atom+xml",
        headers={"Last-Modified": "Fri, 20 Nov 2026 00:00:00 GMT"},
    )
    config = config_for(
        tmp_path, FeedSource(server.url("/feed.xml")), FeedSource(server.url("/atom.xml"))
    )
    first = build(config, now=NOW)
    assert [s.new for s in first.sources] == [2, 1]
    age(config.entries_path)  # minutes pass between two runs
    before = {p: p.stat().st_mtime_ns for p in config.output.rglob("*") if p.is_file()}
    second = build(config, now=NOW + timedelta(minutes=5))
    assert server.requests("/feed.xml")[-1].get("if-none-match") == '"v1"'
    assert server.requests("/atom.xml")[-1].get("if-modified-since") == (
        "Fri, 20 Nov 2026 00:00:00 GMT"
    )
    assert [s.status for s in second.sources] == [304, 304]
    assert all(s.new == 0 and s.error is None for s in second.sources)
    # Entry files written by the first run were too new to trust their mtime: the
    # second run reads their digests, finds them unchanged and writes nothing.
    assert second.changed_files == 0
    after = {p: p.stat().st_mtime_ns for p in config.output.rglob("*") if p.is_file()}
    assert after == before
    third = build(config, now=NOW + timedelta(minutes=10))
    assert third.mode == "unchanged" and [s.status for s in third.sources] == [304, 304]


@pytest.mark.e2e
def test_a_story_in_a_feed_and_in_a_file_is_one_story_the_better_copy_kept(
    server: FeedServer, tmp_path: Path
) -> None:
    shared = "https://news.example.com/story-7"
    server.docs["/feed.xml"] = Doc(rss(item(7, link=shared, title="Syndicated copy")))
    config = config_for(tmp_path, FeedSource(server.url("/feed.xml"), quality=60))
    write_article(tmp_path / "articles", "own.md", n=7, title="The editor's copy", quality=80)
    report = build(config, now=NOW)
    assert entries(config.output) == [("The editor's copy", shared)]
    assert len(report.duplicates) == 1 and report.duplicates[0].kept.endswith("own.md")


@pytest.mark.e2e
def test_hostile_and_broken_feeds_are_one_line_each_and_the_rest_publishes(
    server: FeedServer, tmp_path: Path
) -> None:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa">'
        + b"".join(
            b"<!ENTITY " + bytes([98 + i]) + b' "' + (b"&" + bytes([97 + i]) + b";") * 10 + b'">'
            for i in range(9)
        )
        + b']><rss version="2.0"><channel><title>&j;</title></channel></rss>'
    )
    server.docs["/good.xml"] = Doc(rss(item(1)))
    server.docs["/html"] = Doc(b"<html><body>Not a feed</body></html>", content_type="text/html")
    server.docs["/laughs.xml"] = Doc(laughs)
    server.docs["/big.xml"] = Doc(rss(item(2)) + b" " * (2 * 1024 * 1024))
    server.docs["/bomb.xml"] = Doc(b"<rss>" + b" " * (8 * 1024 * 1024) + b"</rss>", gzip=True)
    server.docs["/gone.xml"] = Doc(b"", status=410)
    server.docs["/broken.json"] = Doc(
        b'{"version": "https://jsonfeed.org/version/1.1", "items": 3}'
    )
    paths = ["/good.xml", "/html", "/laughs.xml", "/big.xml", "/bomb.xml", "/gone.xml"]
    paths += ["/missing.xml", "/broken.json"]
    config = config_for(tmp_path, *(FeedSource(server.url(p)) for p in paths))
    config = replace(config, limits=replace(config.limits, source_feed_size=1024 * 1024))
    report = build(config, now=NOW)
    errors = {s.url.rsplit("/", 1)[-1]: s.error for s in report.sources}
    assert errors["good.xml"] is None
    for name in ("html", "laughs.xml", "big.xml", "bomb.xml", "gone.xml", "missing.xml"):
        assert errors[name] is not None and "\n" not in errors[name], (name, errors[name])
    assert errors["broken.json"] is not None
    assert "entities" in str(errors["laughs.xml"])
    assert "410" in str(errors["gone.xml"]) and "404" in str(errors["missing.xml"])
    assert entries(config.output) == [("Blog story 1", "https://blog.example/story-1")]
    for path in config.output.rglob("*.atom"):
        etree.fromstring(path.read_bytes(), XML)


@pytest.mark.e2e
def test_a_feed_redirected_to_a_location_no_parser_reads_is_one_line(
    server: FeedServer, tmp_path: Path
) -> None:
    """Such a redirect once stopped the whole build with a traceback (requests reads
    the Location of an answer it is not asked to follow)."""
    server.docs["/good.xml"] = Doc(rss(item(1)))
    server.docs["/bad-v6"] = Doc(b"", status=302, headers={"Location": "http://[::1"})
    server.docs["/bad-bytes"] = Doc(b"", status=301, headers={"Location": "http://\xff.example/"})
    paths = ["/bad-v6", "/bad-bytes", "/good.xml"]
    config = config_for(tmp_path, *(FeedSource(server.url(p)) for p in paths))
    report = build(config, now=NOW)
    errors = [s.error for s in report.sources]
    assert errors[0] == "malformed URL: Invalid IPv6 URL"
    assert errors[1] is not None and "\n" not in errors[1]
    assert errors[2] is None
    assert entries(config.output) == [("Blog story 1", "https://blog.example/story-1")]


@pytest.mark.e2e
def test_a_title_or_summary_that_reads_as_markup_is_published_as_it_reads(
    server: FeedServer, tmp_path: Path
) -> None:
    """An entry's text was reduced to plain text twice (once when its entry file was
    written, again when the file was loaded), and a text type's `<` and `&` taken for
    markup: `Using the <dialog> element` was published as `Using the element`."""
    atom = (
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title><id>urn:a</id>'
        "<updated>2026-11-30T00:00:00Z</updated>"
        + "".join(
            f'<entry><title type="{kind}">{title}</title><id>urn:a:{n}</id>'
            f'<link href="https://a.example/{n}"/><updated>2026-11-30T10:00:00Z</updated>'
            f'<summary type="{kind}">{summary}</summary></entry>'
            for n, (kind, title, summary) in enumerate(
                [
                    ("html", "Why &amp;lt;dialog&amp;gt; helps", "The &amp;lt;b&amp;gt; tag"),
                    ("text", "Mending &lt;canvas&gt; in Firefox", "Keep &amp;lt; as it is"),
                ]
            )
        )
        + "</feed>"
    ).encode()
    server.docs["/a.atom"] = Doc(atom, content_type="application/atom+xml")
    jsonfeed = {
        "version": "https://jsonfeed.org/version/1.1",
        "items": [
            {
                "id": "j",
                "url": "https://j.example/1",
                "title": "Tracking <iframe> loads & more",
                "summary": "A <b> summary",
                "date_published": "2026-11-30T10:00:00Z",
            }
        ],
    }
    server.docs["/j.json"] = Doc(json.dumps(jsonfeed).encode(), content_type="application/json")
    # RSS says nothing of its titles' kind: taken for HTML, as readers take them
    server.docs["/r.xml"] = Doc(rss(item(1, title="Why &amp;lt;b&amp;gt; is bold")))
    paths = ["/a.atom", "/j.json", "/r.xml"]
    config = config_for(tmp_path, *(FeedSource(server.url(p)) for p in paths))
    report = build(config, now=NOW)
    assert [s.error for s in report.sources] == [None, None, None]
    published = json.loads((config.output / "all.json").read_bytes())
    found = {item["url"]: (item["title"], item["summary"]) for item in published["items"]}
    assert found == {
        "https://a.example/0": ("Why <dialog> helps", "The <b> tag"),
        "https://a.example/1": ("Mending <canvas> in Firefox", "Keep &lt; as it is"),
        "https://j.example/1": ("Tracking <iframe> loads & more", "A <b> summary"),
        "https://blog.example/story-1": ("Why <b> is bold", "What happened in story 1."),
    }
    atom_feed = feedparser.parse((config.output / "all.atom").read_bytes())
    shown = {
        e.link: html.unescape(e.title) if e.title_detail.type == "text/html" else e.title
        for e in atom_feed.entries
    }
    assert shown == {url: title for url, (title, _) in found.items()}


@pytest.mark.e2e
def test_a_304_to_a_request_that_named_no_copy_is_a_failure_said_in_one_line(
    server: FeedServer, tmp_path: Path
) -> None:
    """A server that answers 304 to a request with no If-None-Match or
    If-Modified-Since sends no document: the feed was taken for one that had not
    changed, and published nothing, with no word, run after run."""
    server.docs["/304.xml"] = Doc(b"", status=304, etag='"x"')
    server.docs["/good.xml"] = Doc(rss(item(1)))
    config = config_for(
        tmp_path, FeedSource(server.url("/304.xml")), FeedSource(server.url("/good.xml"))
    )
    for _ in range(2):
        report = build(config, now=NOW)
        failed, good = report.sources
        assert failed.error == "304 Not Modified to a request that named no copy"
        assert good.error is None
        assert problem_lines(report.sources) == [f"{server.url('/304.xml')}: {failed.error}"]
        assert entries(config.output) == [("Blog story 1", "https://blog.example/story-1")]
    assert [r.get("if-none-match") for r in server.requests("/304.xml")] == [None, None]


@pytest.mark.e2e
def test_a_feed_that_fails_keeps_its_entries_and_old_entries_stay(
    server: FeedServer, tmp_path: Path
) -> None:
    server.docs["/feed.xml"] = Doc(rss(item(1), item(2)))
    config = config_for(tmp_path, FeedSource(server.url("/feed.xml")))
    build(config, now=NOW)
    # The window moves on: story 2 leaves the document, story 0 arrives.
    server.docs["/feed.xml"] = Doc(rss(item(0), item(1)))
    moved = build(config, now=NOW + timedelta(hours=1))
    assert only(moved).new == 1
    titles = [t for t, _ in entries(config.output)]
    assert titles == ["Blog story 0", "Blog story 1", "Blog story 2"]
    server.docs["/feed.xml"] = Doc(b"oops", status=500)
    failed = build(config, now=NOW + timedelta(hours=2))
    assert only(failed).error is not None and only(failed).entries == 3
    assert [t for t, _ in entries(config.output)] == titles


@pytest.mark.e2e
def test_an_entry_without_a_date_keeps_the_time_it_was_first_seen(
    server: FeedServer, tmp_path: Path
) -> None:
    undated = item(1)
    del undated["pubDate"]
    server.docs["/feed.xml"] = Doc(rss(undated))
    config = config_for(tmp_path, FeedSource(server.url("/feed.xml")))
    build(config, now=NOW)
    later = NOW + timedelta(days=3)
    server.docs["/feed.xml"] = Doc(rss({**undated, "description": "Told again."}))
    report = build(config, now=later)
    assert only(report).new == 1  # the entry changed, and was written again
    parsed = feedparser.parse((config.output / "all.atom").read_bytes())
    assert parsed.entries[0].summary == "Told again."
    assert parsed.entries[0].published_parsed[:5] == NOW.timetuple()[:5]


@pytest.mark.e2e
def test_title_filter_leaves_entries_out_and_says_so(server: FeedServer, tmp_path: Path) -> None:
    server.docs["/feed.xml"] = Doc(
        rss(
            item(1),
            item(2, title="Sponsored: buy things"),
            item(3, link="ftp://x/"),
            item(4, link="https://blog.example/" + "x" * 20_000),
            # matched as readers see the title: markup dropped, entities decoded
            item(5, title="&lt;b&gt;Sponsored&lt;/b&gt; &amp;amp; more"),
        )
    )
    feed = FeedSource(server.url("/feed.xml"), title_filter=r"(?i)^sponsored\b")
    config = config_for(tmp_path, feed)
    report = build(config, now=NOW)
    assert entries(config.output) == [("Blog story 1", "https://blog.example/story-1")]
    reasons = {s.title: s.reason for s in only(report).skipped}
    assert reasons == {
        "Sponsored: buy things": "title matches the feed's title_filter",
        "<b>Sponsored</b> &amp; more": "title matches the feed's title_filter",
        "Blog story 3": "no usable link (an absolute http or https URL)",
        "Blog story 4": "a link over the limit of 4,096 characters (limits: url_length)",
    }


@pytest.mark.e2e
def test_gone_feeds_are_not_asked_again_and_moved_feeds_are_followed(
    server: FeedServer, tmp_path: Path
) -> None:
    server.docs["/gone.xml"] = Doc(b"", status=410)
    server.docs["/old.xml"] = Doc(b"", status=301, headers={"Location": "/new.xml"})
    server.docs["/new.xml"] = Doc(rss(item(1)))
    config = config_for(
        tmp_path, FeedSource(server.url("/gone.xml")), FeedSource(server.url("/old.xml"))
    )
    first = build(config, now=NOW)
    gone, moved = first.sources
    assert gone.gone and moved.moved_to == server.url("/new.xml")
    build(config, now=NOW + timedelta(hours=1))
    assert len(server.requests("/gone.xml")) == 1
    assert len(server.requests("/old.xml")) == 1  # asked at its new address since
    assert len(server.requests("/new.xml")) == 2


@pytest.mark.e2e
def test_a_move_taken_back_by_the_site_is_forgotten(server: FeedServer, tmp_path: Path) -> None:
    """A feed moved permanently, whose new address later redirects permanently back to
    the configured one, was still said to have moved there ("update the config")
    at every run, and asked for there first."""
    server.docs["/old.xml"] = Doc(b"", status=308, headers={"Location": "/new.xml"})
    server.docs["/new.xml"] = Doc(rss(item(1)))
    config = config_for(tmp_path, FeedSource(server.url("/old.xml")))
    assert only(build(config, now=NOW)).moved_to == server.url("/new.xml")
    server.docs["/new.xml"] = Doc(b"", status=308, headers={"Location": "/old.xml"})
    server.docs["/old.xml"] = Doc(rss(item(1)))
    back = build(config, now=NOW + timedelta(hours=1))
    assert only(back).moved_to is None and only(back).error is None
    assert problem_lines(back.sources) == []
    build(config, now=NOW + timedelta(hours=2))
    # the third run asks the configured URL, not the new one first
    assert [len(server.requests(p)) for p in ("/old.xml", "/new.xml")] == [3, 2]
    assert entries(config.output) == [("Blog story 1", "https://blog.example/story-1")]


@pytest.mark.e2e
def test_cache_control_and_ttl_put_off_the_next_fetch(server: FeedServer, tmp_path: Path) -> None:
    server.docs["/cached.xml"] = Doc(rss(item(1)), headers={"Cache-Control": "max-age=3600"})
    server.docs["/ttl.xml"] = Doc(rss(item(2), ttl="120"))
    config = config_for(
        tmp_path, FeedSource(server.url("/cached.xml")), FeedSource(server.url("/ttl.xml"))
    )
    first, took = timed_build(config, NOW)
    assert after_waits(first.sources, NOW, [timedelta(hours=1), timedelta(minutes=120)], took)
    build(config, now=NOW + timedelta(minutes=30))
    assert len(server.requests("/cached.xml")) == len(server.requests("/ttl.xml")) == 1
    build(config, now=NOW + timedelta(minutes=90))
    assert len(server.requests("/cached.xml")) == 2 and len(server.requests("/ttl.xml")) == 1


@pytest.mark.e2e
def test_json_feeds_and_gzip_are_read(server: FeedServer, tmp_path: Path) -> None:
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "J",
        "items": [
            {
                "id": "j1",
                "url": "https://json.example/1",
                "title": "JSON story",
                "content_html": "<p>Body</p>",
                "date_published": NOW.isoformat(),
                "tags": ["Robots"],
                "authors": [{"name": "Ann"}],
                "image": "https://json.example/1.png",
            }
        ],
    }
    server.docs["/feed.json"] = Doc(
        json.dumps(document).encode(), content_type="application/feed+json", gzip=True
    )
    config = config_for(tmp_path, FeedSource(server.url("/feed.json")))
    report = build(config, now=NOW)
    assert only(report).error is None
    data = json.loads((config.output / "topics" / "robots.json").read_text())
    assert [i["title"] for i in data["items"]] == ["JSON story"]
    assert data["items"][0]["authors"][0]["name"] == "Ann"


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("2026-11-30t10:00:00z", "2026-11-30T10:00:00+00:00"),  # RFC 3339 allows either case
        ("2026-11-30T10:00:00z", "2026-11-30T10:00:00+00:00"),
        ("2026-11-30T10:00:60Z", "2026-11-30T10:01:00+00:00"),  # a leap second
        ("Mon, 30 Nov 2026 10:00:00 GMT", "2026-11-30T10:00:00+00:00"),  # RSS's form
        ("2026-11-30T10:00:00.25+05:30", "2026-11-30T04:30:00.250000+00:00"),
        ("not a date", None),
        ("Mon, 30 Nov 2026 10:00:00 GMT" + " x" * 60, None),  # too long to be a date
    ],
)
def test_a_json_feed_date_is_read_as_dates_of_rss_and_atom_are(
    written: str, meant: str | None
) -> None:
    """A date the JSON Feed reader did not know (lower-case `z`, a leap second, an
    RFC 822 date) made the entry dated when first seen: the publish date lost."""
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "items": [
            {"id": "1", "url": "https://j.example/1", "title": "T", "date_published": written}
        ],
    }
    [entry] = read_feed(json.dumps(document).encode(), "https://j.example/feed.json").entries
    assert (entry.published.isoformat() if entry.published else None) == meant


@pytest.mark.e2e
def test_a_json_number_too_long_for_python_costs_no_other_entry(
    server: FeedServer, tmp_path: Path
) -> None:
    """An integer of more digits than Python turns into an int (4,300) is read: an id
    written as one is its digits, a title is absent (the entry is left out and says so),
    and every other entry is published."""
    digits = "1" * 5_000
    items = [
        f'{{"id": {digits}, "title": "Numbered", "url": "https://json.example/1"}}',
        f'{{"id": "j2", "title": {digits}, "url": "https://json.example/2"}}',
        f'{{"id": "j3", "title": "Dated", "url": "https://json.example/3",'
        f' "date_published": {digits}}}',
    ]
    version = '"version": "https://jsonfeed.org/version/1.1"'
    document = f'{{{version}, "items": [{",".join(items)}]}}'
    server.docs["/feed.json"] = Doc(document.encode(), content_type="application/feed+json")
    config = config_for(tmp_path, FeedSource(server.url("/feed.json")))

    report = build(config, now=NOW)

    assert problem_lines(report.sources) == [
        f"{server.url('/feed.json')}: warning: 1 entries left out (no title: 'j2')"
    ]
    assert sorted(entries(config.output)) == [
        ("Dated", "https://json.example/3"),
        ("Numbered", "https://json.example/1"),
    ]


@pytest.mark.e2e
def test_a_json_feed_holding_a_number_too_long_for_python_is_discovered(
    server: FeedServer, tmp_path: Path
) -> None:
    item = f'{{"id": {"1" * 5_000}, "title": "Numbered", "url": "https://json.example/1"}}'
    document = f'{{"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": [{item}]}}'
    server.docs["/feed.json"] = Doc(document.encode(), content_type="application/feed+json")

    found = discover(server.url("/feed.json"), config_for(tmp_path))

    assert (found.url, found.title) == (server.url("/feed.json"), "J")


def test_a_json_document_nested_too_deeply_is_refused_in_one_line() -> None:
    with pytest.raises(FeedError) as refused:
        read_feed(b"[" * 100_000, "https://json.example/feed.json")
    assert str(refused.value) == "not a JSON feed: nested too deeply to be read (refused)"


@pytest.mark.e2e
def test_a_feed_left_out_of_the_config_takes_its_entries_with_it(
    server: FeedServer, tmp_path: Path
) -> None:
    server.docs["/feed.xml"] = Doc(rss(item(1)))
    config = config_for(tmp_path, FeedSource(server.url("/feed.xml")))
    write_article(tmp_path / "articles", "own.md", n=2)
    build(config, now=NOW)
    build(replace(config, feeds=()), now=NOW)
    assert [t for t, _ in entries(config.output)] == ["Story number 2"]
    assert not any(config.entries_path.iterdir())


def test_the_feeds_section_of_the_config(tmp_path: Path) -> None:
    text = (
        "feeds:\n"
        "  - https://a.example/feed.xml\n"
        "  - url: https://b.example/atom\n"
        "    topics: [AI, Robots]\n"
        "    quality: 60\n"
        "    published: false\n"
        '    title_filter: "(?i)sponsored"\n'
    )
    import yaml

    config = config_from_mapping(yaml.safe_load(text), base=tmp_path, origin="c.yaml", text=text)
    assert config.feeds == (
        FeedSource("https://a.example/feed.xml"),
        FeedSource("https://b.example/atom", ("AI", "Robots"), 60, False, "(?i)sponsored"),
    )
    for bad, reason in (
        ("feeds:\n  - ftp://x/\n", "http"),
        ("feeds:\n  - url: https://a.example/\n    title_filter: '('\n", "regular expression"),
        ("feeds:\n  - url: https://a.example/\n    colour: red\n", "unknown setting"),
        ("feeds:\n  - https://a.example/\n  - https://a.example/\n", "twice"),
    ):
        with pytest.raises(Exception, match=reason):
            config_from_mapping(yaml.safe_load(bad), base=tmp_path, origin="c.yaml", text=bad)


def test_a_page_names_its_feeds_and_the_config_gains_one_item() -> None:
    page = (
        b'<html><head><link rel="stylesheet" href="/s.css">'
        b'<link rel="alternate" type="application/atom+xml" href="/atom.xml" title="Atom">'
        b'<link rel="alternate" type="application/rss+xml" href="https://cdn.example/rss">'
        b"</head><body></body></html>"
    )
    assert alternates(page, "https://site.example/blog/") == [
        "https://site.example/atom.xml",
        "https://cdn.example/rss",
    ]
    text = (
        "# my site\ntitle: Mine  # shown in feeds\nfeeds:\n    - url: https://a.example/x\n"
        "\nlimit: 20\n"
    )
    after = _with_feed(text, "https://b.example/y")
    assert after == (
        "# my site\ntitle: Mine  # shown in feeds\nfeeds:\n    - url: https://a.example/x\n"
        '    - url: "https://b.example/y"\n\nlimit: 20\n'
    )
    assert _with_feed("", "https://b.example/y") == 'feeds:\n  - url: "https://b.example/y"\n'
    assert _with_feed("feeds: []\n", "https://b.example/y") == (
        'feeds:\n  - url: "https://b.example/y"\n'
    )


@pytest.mark.e2e
def test_the_command_line_builds_lists_and_adds_feeds(
    server: FeedServer, tmp_path: Path, cli: Any
) -> None:
    server.docs["/feed.xml"] = Doc(rss(item(1)), etag='"v1"')
    server.docs["/bad.xml"] = Doc(b"<html>nope</html>", content_type="text/html")
    server.docs["/page"] = Doc(
        b'<html><head><link rel="alternate" type="application/rss+xml" href="/feed.xml">'
        b"</head></html>",
        content_type="text/html",
    )
    (tmp_path / "articles").mkdir()
    common = ["--source", "articles", "--output", "out", "--allow-private-links"]
    feeds = ["--feed", server.url("/feed.xml"), "--feed", server.url("/bad.xml")]
    done = cli("build", *common, *feeds, "--report", "r.json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    bad = [line for line in done.stderr.splitlines() if "/bad.xml" in line]
    assert len(bad) == 1 and bad[0].startswith(server.url("/bad.xml") + ": "), done.stderr
    assert "remote feeds: 2" in done.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    assert [s["outcome"] for s in report["sources"]] == ["fetched", "failed"]
    listed = cli("feeds", *common, *feeds, "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)["feeds"]
    assert [(f["url"], f["entries"], f["status"]) for f in data] == [
        (server.url("/feed.xml"), 1, 200),
        (server.url("/bad.xml"), 0, 200),
    ]
    config = tmp_path / "aggregator.yaml"
    config.write_text("# the site\ntitle: Mine\n", encoding="utf-8")
    added = cli("add-feed", server.url("/page"), "--allow-private-links", cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    assert config.read_text(encoding="utf-8") == (
        f'# the site\ntitle: Mine\nfeeds:\n  - url: "{server.url("/feed.xml")}"\n'
    )
    again = cli("add-feed", server.url("/feed.xml"), "--allow-private-links", cwd=tmp_path)
    assert again.returncode == 0 and "already" in again.stdout
    none = cli("add-feed", server.url("/bad.xml"), "--allow-private-links", cwd=tmp_path)
    assert none.returncode == 1 and none.stderr.count("\n") == 1, none.stderr


@needs_validator
def test_feeds_made_of_remote_entries_pass_the_w3c_validator(
    server: FeedServer, tmp_path: Path
) -> None:
    odd = item(
        4,
        title="Quotes &amp; &lt;tags&gt; in a &quot;title&quot; \u2014 caf\u00e9",
        description="&lt;script&gt;alert(1)&lt;/script&gt;&lt;p&gt;Text &amp;amp; more",
        raw='<media:thumbnail url="https://blog.example/t.jpg" width="120" height="80"/>'
        '<enclosure url="https://blog.example/e.png" type="image/png" length="10"/>',
    )
    server.docs["/feed.xml"] = Doc(rss(item(1), odd, item(5, link="/relative/5")))
    server.docs["/feed.json"] = Doc(
        json.dumps(
            {
                "version": "https://jsonfeed.org/version/1",
                "title": "J",
                "author": {"name": "Old style"},
                "items": [{"id": "1", "url": "https://json.example/1", "title": "JSON 1.0"}],
            }
        ).encode(),
        content_type="application/json",
    )
    config = config_for(
        tmp_path, FeedSource(server.url("/feed.xml")), FeedSource(server.url("/feed.json"))
    )
    report = build(config, now=NOW)
    assert [s.error for s in report.sources] == [None, None]
    assert len(entries(config.output)) == 4
    checked, result = validate_folder(config.output)
    assert checked >= 4 and result.returncode == 0, result.stdout


@pytest.mark.e2e
def test_a_new_entry_rebuilds_only_the_feeds_of_its_topics(
    server: FeedServer, tmp_path: Path
) -> None:
    server.docs["/feed.xml"] = Doc(rss(item(2), item(3, category="Robots")))
    config = config_for(tmp_path, FeedSource(server.url("/feed.xml")))
    build(config, now=NOW)
    age(config.entries_path)
    build(config, now=NOW + timedelta(minutes=1))  # the entries' mtimes are settled now
    server.docs["/feed.xml"] = Doc(
        rss(item(1, category="Robots"), item(2), item(3, category="Robots"))
    )
    report = build(config, now=NOW + timedelta(minutes=2))
    assert report.mode == "incremental" and report.changed_files == 1
    written = {f.path for f in report.feeds if f.changed}
    assert written == {
        f"{name}.{ext}" for name in ("all", "topics/robots") for ext in ("rss", "atom", "json")
    }


@pytest.mark.parametrize(
    ("document", "version"),
    [
        (
            b'<?xml version="1.0"?><rss version="0.91"><channel><title>Old</title>'
            b"<link>https://old.example/</link><description>d</description><language>en</language>"
            b"<item><title>RSS 0.91 story</title><link>https://old.example/1</link></item>"
            b"</channel></rss>",
            "rss091u",
        ),
        (
            b'<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
            b' xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
            b'<channel rdf:about="https://rdf.example/"><title>RDF</title>'
            b"<link>https://rdf.example/</link><description>d</description></channel>"
            b'<item rdf:about="https://rdf.example/1"><title>RSS 1.0 story</title>'
            b"<link>https://rdf.example/1</link><dc:date>2026-11-01T10:00:00Z</dc:date>"
            b"<dc:subject>AI</dc:subject></item></rdf:RDF>",
            "rss10",
        ),
        (
            b'<?xml version="1.0"?><feed version="0.3" xmlns="http://purl.org/atom/ns#">'
            b'<title>Atom 0.3</title><link rel="alternate" href="https://a03.example/"/>'
            b"<modified>2026-11-01T10:00:00Z</modified><entry><title>Atom 0.3 story</title>"
            b'<link rel="alternate" href="https://a03.example/1"/><id>urn:a03:1</id>'
            b"<issued>2026-11-01T10:00:00Z</issued><modified>2026-11-01T10:00:00Z</modified>"
            b"</entry></feed>",
            "atom03",
        ),
    ],
)
def test_older_formats_are_read(document: bytes, version: str) -> None:
    feed = read_feed(document, "https://x.example/feed")
    assert feed.version == version
    [entry] = feed.entries
    assert entry.title.endswith("story") and entry.link.endswith("/1")


def odd_feeds(server: FeedServer) -> list[str]:
    """Documents real feeds send that are odd but not hostile: each publishes what it
    can; the paths served."""
    long_link = "https://blog.example/" + "x" * 5000
    server.docs["/dates.xml"] = Doc(
        rss(
            item(1, pubDate="Thu, 01 Jan 1970 00:00:00 +0000", title="Epoch dated"),
            item(2, pubDate="Tue, 01 Jan 2099 00:00:00 +0000", title="Future dated"),
            item(
                3,
                title="Many topics",
                raw="".join(f"<category>T{n}</category>" for n in range(200)),
            ),
            item(4, title="Empty categories", raw="<category></category><category> </category>"),
            item(5, link=long_link, title="Too long a link"),
            item(6, link="http://blog.example:99999/", title="Bad port"),
            item(7, title="<![CDATA[<img src='https://blog.example/i.png'>]]>"),
            item(8, link="http://", title="Empty link"),
            item(9, guid="same", title="Same guid A", link="https://blog.example/a"),
            item(10, guid="same", title="Same guid B", link="https://blog.example/b"),
        )
    )
    odd_json = {
        "title": 5,
        "items": [
            3,
            "text",
            {
                "id": 1,
                "url": "https://json.example/1",
                "title": "Odd JSON",
                "attachments": 5,
                "tags": "AI",
                "authors": [{"name": 7}, "x"],
                "author": {"name": "Old author"},
                "date_published": "0001-01-01T00:00:00+01:00",
            },
        ],
    }
    server.docs["/odd.json"] = Doc(
        b"\xef\xbb\xbf" + json.dumps(odd_json).encode(), content_type="text/plain"
    )
    server.docs["/rss-as-json"] = Doc(rss(item(11)), content_type="application/json")
    server.docs["/old.json"] = Doc(
        json.dumps(
            {
                "version": "http://jsonfeed.org/version/1",
                "items": [{"id": "o", "url": "https://json.example/o", "title": "Version 1 JSON"}],
            }
        ).encode(),
        content_type="application/feed+json",
    )
    return ["/dates.xml", "/odd.json", "/rss-as-json", "/old.json"]


@pytest.mark.e2e
def test_odd_documents_publish_what_they_can_and_never_stop_a_build(
    server: FeedServer, tmp_path: Path
) -> None:
    config = config_for(tmp_path, *(FeedSource(server.url(p)) for p in odd_feeds(server)))
    report = build(config, now=NOW)
    assert [s.error for s in report.sources] == [None] * 4
    assert list(report.errors) == []  # nothing an entry file then fails on
    published = {title for title, _ in entries(config.output)}
    assert published == {
        "Epoch dated", "Future dated", "Many topics", "Empty categories", "Same guid A",
        "Same guid B", "Odd JSON", "Blog story 11", "Version 1 JSON",
    }  # fmt: skip
    parsed = feedparser.parse((config.output / "all.atom").read_bytes())
    dated = {e.title: e.published_parsed[:3] for e in parsed.entries}
    # A date before 1990 or after the day an entry was first seen is no date.
    assert dated["Epoch dated"] == dated["Future dated"] == dated["Odd JSON"] == NOW.timetuple()[:3]
    skipped = {s.title: s.reason for s in report.sources[0].skipped}
    no_link = "no usable link (an absolute http or https URL)"
    assert skipped == {
        "Too long a link": "a link over the limit of 4,096 characters (limits: url_length)",
        "Bad port": no_link,
        "Empty link": no_link,  # not the feed's own URL, which feedparser makes of it
        "<img src='https://blog.example/i.png'>": "no title",
    }
    many = next(e for e in parsed.entries if e.title == "Many topics")
    assert len(many.tags) == config.limits.topics


@pytest.mark.e2e
def test_every_entry_left_out_is_counted_beyond_those_listed(
    server: FeedServer, tmp_path: Path
) -> None:
    """A document with more entries left out than are listed (`MAX_SKIPPED`) says how
    many there were: in the build's line, `aggregator feeds`, the report, and after a
    304 (the count is kept in the state with the first entries)."""
    left_out = MAX_SKIPPED + 150
    bad = [item(n, link="", guid=f"urn:blog:{n}") for n in range(3, 3 + left_out)]
    server.docs["/many.xml"] = Doc(rss(item(1), item(2), *bad), etag='"v1"')
    config = config_for(tmp_path, FeedSource(server.url("/many.xml")))
    for _ in range(2):  # fetched, then answered 304
        report = build(config, now=NOW)
        state = only(report)
        assert len(state.skipped) == MAX_SKIPPED
        assert state.skipped_total == left_out
        (line,) = problem_lines(report.sources)
        assert f": warning: {left_out} entries left out (" in line, line
        assert {title for title, _ in entries(config.output)} == {"Blog story 1", "Blog story 2"}
    asked = server.requests("/many.xml")
    assert [a.get("if-none-match") for a in asked] == [None, '"v1"']  # the second: a 304
    (kept,) = feed_states(config)
    assert (len(kept.skipped), kept.skipped_total) == (MAX_SKIPPED, left_out)
    assert feed_json(kept)["skipped_total"] == left_out
    assert f"left out: {left_out - MAX_SKIPPED} more" in render_feeds([kept])


@needs_validator
def test_odd_documents_still_give_valid_feeds(server: FeedServer, tmp_path: Path) -> None:
    config = config_for(tmp_path, *(FeedSource(server.url(p)) for p in odd_feeds(server)))
    build(config, now=NOW)
    checked, result = validate_folder(config.output)
    assert checked and result.returncode == 0, result.stdout


@pytest.mark.e2e
def test_a_refused_document_is_asked_for_conditionally_and_stays_refused(
    server: FeedServer, tmp_path: Path
) -> None:
    server.docs["/page"] = Doc(b"<html>not a feed</html>", content_type="text/html", etag='"p"')
    config = config_for(tmp_path, FeedSource(server.url("/page")))
    first = build(config, now=NOW)
    second = build(config, now=NOW + timedelta(hours=1))
    assert server.requests("/page")[-1].get("if-none-match") == '"p"'
    assert only(first).error == only(second).error is not None
    assert only(second).status == 304


@pytest.mark.e2e
def test_entries_lost_on_disk_are_made_again_from_the_state(
    server: FeedServer, tmp_path: Path
) -> None:
    # The state keeps each entry's article file: the folder is only a copy of them.
    server.docs["/feed.xml"] = Doc(
        rss(item(1)), etag='"v1"', headers={"Cache-Control": "max-age=3600"}
    )
    config = config_for(tmp_path, FeedSource(server.url("/feed.xml")))
    build(config, now=NOW)
    shutil.rmtree(config.entries_path)
    again = build(config, now=NOW + timedelta(minutes=30))
    assert len(server.requests("/feed.xml")) == 1  # not due yet, and not asked for
    assert only(again).entries == 1
    assert [t for t, _ in entries(config.output)] == ["Blog story 1"]


@pytest.mark.e2e
def test_daemons_sharing_a_state_publish_the_entries_it_keeps(
    server: FeedServer, tmp_path: Path, state_at: Path | str
) -> None:
    feed = FeedSource(server.url("/feed.xml"))
    first = config_for(tmp_path, feed, state=state_at)
    second = replace(first, output=tmp_path / "second")  # another daemon's output
    server.docs["/feed.xml"] = Doc(rss(item(1)), etag='"v1"')
    build(first, now=NOW)
    build(second, now=NOW + timedelta(minutes=1))
    stale = tmp_path / "stale"  # what the second daemon's folder holds from then on
    shutil.copytree(second.entries_path, stale)
    write_article(next(stale.iterdir()), "0123456789abcdef0123.md", n=9, title="Not kept")
    server.docs["/feed.xml"] = Doc(rss(item(1), item(2)), etag='"v2"')
    build(first, now=NOW + timedelta(minutes=10))
    server.docs["/feed.xml"] = Doc(rss(item(2), item(3)), etag='"v3"')  # story 1 leaves
    build(first, now=NOW + timedelta(minutes=20))
    # The first daemon stops; the second leads, its folder as it left it.
    shutil.rmtree(second.entries_path)
    shutil.copytree(stale, second.entries_path)
    report = build(second, now=NOW + timedelta(minutes=30))
    assert server.requests("/feed.xml")[-1].get("if-none-match") == '"v3"'
    assert (only(report).status, only(report).entries) == (304, 3)
    assert entries(second.output) == entries(first.output)
    assert [t for t, _ in entries(second.output)] == [
        "Blog story 1",
        "Blog story 2",
        "Blog story 3",
    ]


@pytest.mark.e2e
def test_entries_that_left_the_feed_long_ago_are_removed(
    server: FeedServer, tmp_path: Path
) -> None:
    config = config_for(tmp_path, FeedSource(server.url("/feed.xml")), max_age=timedelta(days=7))
    for day in range(12):  # a feed of one entry a day, each with an id of its own
        when = format_datetime(NOW + timedelta(days=day), usegmt=True)
        news = {
            "guid": f"urn:{day}",
            "pubDate": when,
            "link": f"https://blog.example/day-{day}",
            "title": f"{WORDS[day]} {WORDS[day + 12]} {WORDS[day + 24]}",
        }
        server.docs["/feed.xml"] = Doc(rss(item(0, **news)))
        report = build(config, now=NOW + timedelta(days=day))
    # Kept: those first seen within max_age and a day; published: within max_age.
    assert only(report).entries == 9
    assert len(entries(config.output)) == 8


@pytest.mark.e2e
def test_a_document_the_parser_chokes_on_is_refused_in_time_and_the_rest_publish(
    server: FeedServer, tmp_path: Path
) -> None:
    # Markup nested three million deep: feedparser takes minutes and gigabytes on it.
    nested = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title><item>'
        b"<title>t</title><link>https://e.example/1</link><x>"
        + b"<a>" * (3 * 1024 * 1024)
        + b"</x></item></channel></rss>"
    )
    server.docs["/nested.xml"] = Doc(nested)
    server.docs["/good.xml"] = Doc(rss(item(1)))
    config = config_for(
        tmp_path, FeedSource(server.url("/nested.xml")), FeedSource(server.url("/good.xml"))
    )
    settings = replace(config.link_check, deadline=timedelta(seconds=3))
    report, took = timed_build(replace(config, link_check=settings), NOW)
    nested_state, good = report.sources
    assert nested_state.error == "not read within 3 s (refused)"
    assert good.error is None
    assert entries(config.output) == [("Blog story 1", "https://blog.example/story-1")]
    # Not fetched and parsed again at every run: an hour later, at the earliest.
    assert after_waits((nested_state,), NOW, [timedelta(hours=1)], took)
    asked = len(server.requests("/nested.xml"))
    again = build(replace(config, link_check=settings), now=NOW + timedelta(minutes=30))
    assert len(server.requests("/nested.xml")) == asked
    assert again.sources[0].error == "not read within 3 s (refused)"


@pytest.mark.e2e
def test_a_document_that_needs_too_much_memory_is_refused_and_the_next_is_read() -> None:
    from aggregator.errors import FeedError

    many = rss(*(item(n % 30, guid=f"urn:{n}") for n in range(20_000)))
    with FeedReader(120, memory=20 * 1024 * 1024) as reader:
        with pytest.raises(FeedError, match=r"^needs more than 20 MB of memory to read"):
            reader.read(many, "https://blog.example/feed")
        assert len(reader.read(rss(item(1)), "https://blog.example/feed").entries) == 1


@pytest.mark.e2e
def test_a_parser_that_ended_between_two_documents_is_started_again_for_the_next() -> None:
    # Killed while idle (out of memory, by hand): the next document is not its fault.
    with FeedReader(120) as reader:
        assert len(reader.read(rss(item(1)), "https://blog.example/feed").entries) == 1
        process = reader._process
        process.kill()
        process.join()
        assert len(reader.read(rss(item(2)), "https://blog.example/feed").entries) == 1
        assert reader._process is not process


@pytest.mark.e2e
def test_a_feed_asking_to_wait_is_not_waited_for_but_asked_again_later(
    server: FeedServer, tmp_path: Path, cli: Any
) -> None:
    server.docs["/busy.xml"] = Doc(b"", status=429, headers={"Retry-After": "600"})
    server.docs["/good.xml"] = Doc(rss(item(1)))
    feeds = (FeedSource(server.url("/busy.xml")), FeedSource(server.url("/good.xml")))
    config = config_for(tmp_path, *feeds)
    # Retries as by default: a link check would wait out the Retry-After twice.
    config = replace(config, link_check=replace(config.link_check, retries=2))
    report, took = timed_build(config, NOW)
    busy, good = report.sources
    assert len(server.requests("/busy.xml")) == 1
    assert (busy.status, good.error) == (429, None)
    assert after_waits((busy,), NOW, [timedelta(minutes=10)], took)
    common = ["--source", "articles", "--output", "out", "--allow-private-links"]
    urls = [arg for feed in feeds for arg in ("--feed", feed.url)]
    listed = cli("feeds", *common, *urls, "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    shown = json.loads(listed.stdout)["feeds"][0]
    assert busy.next_fetch is not None
    assert (shown["status"], shown["next_fetch"]) == (429, busy.next_fetch.isoformat())
    build(config, now=NOW + timedelta(minutes=5))
    assert len(server.requests("/busy.xml")) == 1  # not before the wait is over
    build(config, now=NOW + timedelta(minutes=11))
    assert len(server.requests("/busy.xml")) == 2


@pytest.mark.e2e
def test_a_retry_after_date_is_not_asked_before_it_however_long_the_fetching_took(
    server: FeedServer, tmp_path: Path
) -> None:
    # A slow feed first: the busy one is answered a while after the build started.
    # The wait used to be counted from the end of all fetches and added to the build's
    # start, so the next fetch came early by as long as the fetching took.
    delay = 1.5
    server.docs["/slow.xml"] = Doc(rss(item(1)), delay=delay)
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=10)
    server.docs["/busy.xml"] = Doc(
        b"", status=503, headers={"Retry-After": format_datetime(until, usegmt=True)}
    )
    server.docs["/expires.xml"] = Doc(
        rss(item(2)), headers={"Expires": format_datetime(until, usegmt=True)}
    )
    config = config_for(
        tmp_path,
        FeedSource(server.url("/slow.xml")),
        FeedSource(server.url("/busy.xml")),
        FeedSource(server.url("/expires.xml")),
    )
    config = replace(config, link_check=replace(config.link_check, per_host=1))
    started = datetime.now(UTC)
    report = build(config, now=started)
    _, busy, expires = report.sources
    assert (busy.status, expires.status) == (503, 200)
    # The fetching started at most this long after the build did (the first request
    # arrived then); the next fetch is the date, early by no more than that (and late
    # by less than the second an HTTP Date header leaves out, for the Expires).
    before_fetching = server.arrived["/slow.xml"][0] - started
    assert server.arrived["/busy.xml"][0] - started >= timedelta(seconds=delay)
    for state in (busy, expires):
        assert state.next_fetch is not None
        assert until - before_fetching <= state.next_fetch < until + timedelta(seconds=1), state


@pytest.mark.e2e
def test_a_feeds_wait_counts_from_its_answer_when_the_build_waited_for_the_lock(
    server: FeedServer, tmp_path: Path
) -> None:
    # The build takes its `now`, then waits for another writer of its output: the
    # waits the feed asks for count from its answer, not from that `now`.
    from aggregator.library import build as build_with_lock
    from aggregator.publishing.lock import OutputLock

    hold = 3.0
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=10)
    server.docs["/busy.xml"] = Doc(
        b"", status=429, headers={"Retry-After": format_datetime(until, usegmt=True)}
    )
    server.docs["/cached.xml"] = Doc(rss(item(1)), headers={"Cache-Control": "max-age=600"})
    config = config_for(
        tmp_path, FeedSource(server.url("/busy.xml")), FeedSource(server.url("/cached.xml"))
    )
    config.output.mkdir(parents=True)
    locked, release = threading.Event(), threading.Event()

    def writer() -> None:
        with OutputLock(config.output, wait=0):
            locked.set()
            release.wait(30)

    other = threading.Thread(target=writer)
    other.start()
    try:
        assert locked.wait(30)
        threading.Timer(hold, release.set).start()
        started = datetime.now(UTC)
        report = build_with_lock(config, now=started, wait=60)
    finally:
        release.set()
        other.join()
    busy, cached = report.sources
    asked = server.arrived["/cached.xml"][0]
    assert asked - started >= timedelta(seconds=hold)
    assert busy.next_fetch is not None and cached.next_fetch is not None
    # The date itself (early by the moments between reading the clock and asking the
    # time: well under the wait for the lock, which it used to be early by).
    assert until - timedelta(seconds=hold / 2) < busy.next_fetch <= until + timedelta(seconds=1)
    # The max-age from its answer, not from the build's start.
    assert cached.next_fetch >= asked + timedelta(seconds=600) - timedelta(seconds=hold / 2)
    assert cached.next_fetch <= server.arrived["/cached.xml"][0] + timedelta(seconds=601)


@pytest.mark.e2e
def test_ttl_and_max_age_hold_after_a_304_too(server: FeedServer, tmp_path: Path) -> None:
    server.docs["/ttl.xml"] = Doc(rss(item(1), ttl="120"), etag='"t"')
    server.docs["/cached.xml"] = Doc(
        rss(item(2)), etag='"c"', headers={"Cache-Control": "max-age=3600"}
    )
    config = config_for(
        tmp_path, FeedSource(server.url("/ttl.xml")), FeedSource(server.url("/cached.xml"))
    )
    build(config, now=NOW)
    later = NOW + timedelta(minutes=121)
    # The 304s carry the ETag only: the ttl is in the body, the max-age was not repeated.
    second, took = timed_build(config, later)
    assert [s.status for s in second.sources] == [304, 304]
    assert after_waits(second.sources, later, [timedelta(minutes=120), timedelta(hours=1)], took)
    build(config, now=later + timedelta(minutes=30))
    assert len(server.requests("/ttl.xml")) == len(server.requests("/cached.xml")) == 2


@pytest.mark.e2e
def test_documents_refused_whole_are_asked_for_conditionally(
    server: FeedServer, tmp_path: Path
) -> None:
    modified = {"Last-Modified": "Fri, 20 Nov 2026 00:00:00 GMT"}
    server.docs["/big.xml"] = Doc(rss(item(1)) + b" " * (2 * 1024 * 1024), etag='"big"')
    server.docs["/bomb.xml"] = Doc(b"<rss>" + b" " * (8 * 1024 * 1024) + b"</rss>", gzip=True)
    server.docs["/bomb.xml"].headers.update(modified)
    server.docs["/badgz.xml"] = Doc(b"not gzip", etag='"bad"')
    server.docs["/badgz.xml"].headers["Content-Encoding"] = "gzip"
    paths = ["/big.xml", "/bomb.xml", "/badgz.xml"]
    config = config_for(tmp_path, *(FeedSource(server.url(p)) for p in paths))
    config = replace(config, limits=replace(config.limits, source_feed_size=1024 * 1024))
    first = build(config, now=NOW)
    second = build(config, now=NOW + timedelta(minutes=5))
    asked = [server.requests(p)[-1] for p in paths]
    assert [h.get("if-none-match") for h in asked] == ['"big"', None, '"bad"']
    assert asked[1].get("if-modified-since") == modified["Last-Modified"]
    assert [s.status for s in second.sources] == [304, 304, 304]
    # The refusal stands while the document stays the same.
    assert [s.error for s in second.sources] == [s.error for s in first.sources]
    assert all(s.error for s in second.sources)


@pytest.mark.e2e
def test_an_oversized_entry_is_cut_as_the_loader_would_and_published(
    server: FeedServer, tmp_path: Path
) -> None:
    images = "".join(f'<media:thumbnail url="https://blog.example/{n}.jpg"/>' for n in range(30))
    huge = item(
        1,
        title="Long " * 400,
        description="&lt;p&gt;" + "Words and more words. " * 150_000 + "&lt;/p&gt;",
        raw=images + '<enclosure url="http://blog.example:99999/x.png" type="image/png"/>',
    )
    server.docs["/feed.xml"] = Doc(rss(huge, item(2)))
    config = config_for(tmp_path, FeedSource(server.url("/feed.xml")))
    from aggregator.library import build as build_with_lock

    report = build_with_lock(config, now=NOW)  # as the command reports it
    assert only(report).error is None and list(report.errors) == []
    items = json.loads((config.output / "all.json").read_text())["items"]
    assert len(items) == 2
    first = items[0]
    assert first["title"].startswith("Long Long") and len(first["title"]) <= 300
    assert len(first["summary"]) <= config.limits.excerpt_length
    assert first["summary"].startswith("Words and more words.")
    # Nothing is said of a hidden entry file: what is about an entry names its feed.
    assert all(".md" not in str(w) for w in report.warnings)
    assert all(w.path == server.url("/feed.xml") for w in report.warnings)
    assert report.warnings and all(
        w.reason.startswith("entry urn:blog:1: ") for w in report.warnings
    )


@pytest.mark.parametrize(
    "content_type",
    [
        "text/xml; charset=utf-16",
        "application/rss+xml; charset=UTF-32LE",
        'text/xml; charset="ucs-2"',
    ],
)
@pytest.mark.parametrize(
    ("declaration", "encoding"),
    [("", "utf-8"), (' encoding="utf-8"', "utf-8"), (' encoding="iso-8859-1"', "iso-8859-1")],
)
def test_a_two_or_four_byte_charset_the_first_bytes_deny_gives_way_to_the_document(
    content_type: str, declaration: str, encoding: str
) -> None:
    """A UTF-16 or UTF-32 document starts with a byte order mark or shows in its first
    bytes (`<` then NULs): a server's charset saying so of one that does not was taken,
    and a document declaring no encoding (UTF-8) was refused as not well-formed."""
    document = (
        f'<?xml version="1.0"{declaration}?><rss version="2.0"><channel><title>B</title>'
        "<item><title>Zürich café</title><link>https://e.example/1</link></item>"
        "</channel></rss>"
    ).encode(encoding)
    feed = read_feed(document, "https://e.example/feed", content_type)
    assert [e.title for e in feed.entries] == ["Zürich café"]


@pytest.mark.parametrize("titles", [["Plain English title"], ["Zürich, 日本語 and ☃"]])
@pytest.mark.parametrize(
    "content_type",
    [None, "text/xml", "application/rss+xml; charset=utf-8", "text/xml; charset=iso-8859-1"],
)
@pytest.mark.parametrize(
    ("encoding", "mark"),
    [
        ("utf-16", b""),  # Python's codec writes the byte order mark
        ("utf-16-be", b"\xfe\xff"),
        ("utf-16-le", b""),  # no mark: its markup tells
        ("utf-32", b""),
        ("utf-8", b"\xef\xbb\xbf"),
    ],
)
def test_a_document_whose_first_bytes_name_its_encoding_is_read_in_it(
    encoding: str, mark: bytes, content_type: str | None, titles: list[str]
) -> None:
    """The byte order mark (or UTF-16 or UTF-32 markup) outweighs a charset the server
    sends and text/xml's US-ASCII default (RFC 7303): a UTF-16 feed of English titles
    served as text/xml was read as US-ASCII, NULs between its characters, and refused."""
    declared = encoding.removesuffix("-be").removesuffix("-le")
    if encoding == "utf-8":
        declared = "iso-8859-1"  # a wrong declaration: the mark outweighs it too
    document = mark + (
        f'<?xml version="1.0" encoding="{declared}"?><rss version="2.0"><channel><title>B</title>'
        + "".join(
            f"<item><title>{t}</title><link>https://e.example/{n}</link></item>"
            for n, t in enumerate(titles)
        )
        + "</channel></rss>"
    ).encode(encoding)
    feed = read_feed(document, "https://e.example/feed", content_type)
    assert [e.title for e in feed.entries] == titles


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_a_billion_laughs_in_utf_16_or_32_is_refused(encoding: str) -> None:
    declared = encoding.split("-be")[0]
    laughs = (
        f'<?xml version="1.0" encoding="{declared}"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa">'
        + "".join(f'<!ENTITY {chr(98 + i)} "' + f"&{chr(97 + i)};" * 10 + '">' for i in range(9))
        + ']><rss version="2.0"><channel><title>&j;</title><item><title>&j;</title>'
        "<link>https://e.example/1</link></item></channel></rss>"
    ).encode(encoding)
    with pytest.raises(FeedError, match=r"^declares XML entities \(refused: a feed needs none\)$"):
        read_feed(laughs, "https://e.example/feed")


@pytest.mark.e2e
def test_the_commands_say_what_they_know_of_each_feed(
    server: FeedServer, tmp_path: Path, cli: Any
) -> None:
    """`topics` and `check-links` fetch nothing: a feed no build fetched yet is one
    warning line; a moved feed is one warning line of the build; `aggregator feeds`
    prints each feed's block."""
    server.docs["/feed.xml"] = Doc(rss(item(1)), etag='"v1"')
    server.docs["/old.xml"] = Doc(b"", status=301, headers={"Location": "/feed2.xml"})
    server.docs["/feed2.xml"] = Doc(rss(item(2)))
    (tmp_path / "articles").mkdir()
    common = ["--source", "articles", "--output", "out", "--allow-private-links"]
    feeds = ["--feed", server.url("/feed.xml"), "--feed", server.url("/old.xml")]
    for command in ("topics", "check-links"):
        before = cli(command, *common[:2], *feeds, cwd=tmp_path)
        assert before.returncode == 0, before.stderr
        told = [line for line in before.stderr.splitlines() if "not fetched yet" in line]
        assert [line.split(": ")[2] for line in told] == [
            server.url("/feed.xml"),
            server.url("/old.xml"),
        ], before.stderr
        assert not server.requests("/feed.xml")  # nothing fetched
    built = cli("build", *common, *feeds, cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    moved = [line for line in built.stderr.splitlines() if "moved permanently" in line]
    assert moved == [
        f"{server.url('/old.xml')}: warning: moved permanently to {server.url('/feed2.xml')} "
        "(update the config)"
    ]
    after = cli("topics", *common[:4], *feeds, cwd=tmp_path)
    assert "not fetched yet" not in after.stderr
    listed = cli("feeds", *common, *feeds, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    blocks = listed.stdout.strip().split("\n\n")
    assert [block.splitlines()[0].split()[0] for block in blocks] == [
        server.url("/feed.xml"),
        server.url("/old.xml"),
    ]
    assert "1 entries kept" in blocks[0] and "HTTP 200" in blocks[0]
    assert f"moved permanently to {server.url('/feed2.xml')}" in blocks[1]


@pytest.mark.e2e
def test_the_daemon_fetches_the_feeds_given_on_its_command_line(
    server: FeedServer, tmp_path: Path
) -> None:
    from conftest import OFFLINE
    from conftest import require_e2e

    require_e2e("the real aggregator daemon")
    server.docs["/feed.xml"] = Doc(rss(item(1), item(2)))
    (tmp_path / "articles").mkdir()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(OFFLINE), env.get("PYTHONPATH", "")) if p)
    words = ["run", "--source", "articles", "--output", "out", "--allow-private-links"]
    words += ["--feed", server.url("/feed.xml"), "--interval", "1h", "--links", "off"]
    log = tmp_path / "daemon.log"
    with log.open("w", encoding="utf-8") as errors:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "aggregator", *words],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
    published = tmp_path / "out" / "all.atom"
    try:
        started = time.monotonic()
        while not published.exists() or len(entries(tmp_path / "out")) < 2:
            assert daemon.poll() is None, log.read_text(encoding="utf-8")
            assert time.monotonic() - started < 120, "no feed published"
            time.sleep(0.05)
    finally:
        daemon.terminate()
        daemon.wait(60)
    assert daemon.returncode == 0
    assert len(server.requests("/feed.xml")) == 1


def test_a_lone_surrogate_costs_one_character_not_the_feed_or_the_build(
    server: FeedServer, tmp_path: Path
) -> None:
    """JSON lets `\\ud800` through and XML has `&#xD800;`: no encoding can write either.
    Each becomes U+FFFD; the entries are published and the build goes on."""
    server.docs["/feed.json"] = Doc(
        json.dumps(
            {
                "version": "https://jsonfeed.org/version/1.1",
                "title": "Feed \ud800",
                "items": [
                    {"id": "\udfff", "title": "Good \ud800 title", "url": server.url("/a")},
                    {"id": "2", "url": server.url("/b")},  # no title, its id a surrogate below
                ],
            }
        ).encode("utf-8"),
        content_type="application/feed+json",
    )
    server.docs["/feed.xml"] = Doc(
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>T &#xD800; &#55296;</title>'
        b"<item><title>XML &#xDFFF; story &#x1F600;</title><link>"
        + server.url("/c").encode()
        + b"</link><guid>g&#xD800;</guid></item></channel></rss>"
    )
    config = config_for(
        tmp_path, FeedSource(server.url("/feed.json")), FeedSource(server.url("/feed.xml"))
    )
    report = build(config, now=NOW)
    assert [s.error for s in report.sources] == [None, None]
    titles = {title for title, _ in entries(config.output)}
    # The character is gone (the text cleaner drops U+FFFD), the rest is published.
    assert {"Good title", "XML story \U0001f600"} <= titles
    assert build(config, now=NOW + timedelta(hours=1)).sources[0].error is None


def test_read_feed_leaves_no_lone_surrogate_in_any_text() -> None:
    document = json.dumps(
        {
            "version": "https://jsonfeed.org/version/1",
            "title": "\ud800",
            "home_page_url": "https://e.example/\udc00",
            "items": [
                {
                    "id": "\udfff",
                    "title": "t\ud800",
                    "url": "https://e.example/1",
                    "summary": "s\ud800",
                    "tags": ["x\ud800"],
                    "author": {"name": "a\ud800"},
                    "image": "https://e.example/i\ud800.png",
                }
            ],
        }
    ).encode()
    feed = read_feed(document, "https://e.example/feed.json")
    texts = [feed.title, feed.link]
    for entry in feed.entries:
        texts += [entry.id, entry.title, entry.link, entry.summary, entry.author]
        texts += [*entry.categories, *(i.url for i in entry.images)]
    for text in texts:
        text.encode("utf-8")  # no lone surrogate left to refuse it
    assert feed.entries[0].title == "t\ufffd"


_ORPHAN = """
import os, signal, sys, threading
from aggregator.sources.entries import FeedReader

def main():
    body = b"<rss version='2.0'><channel>" + b"<a>" * int(sys.argv[2]) + b"</channel></rss>"
    reader = FeedReader(float(sys.argv[1]))
    reader._start()
    print(reader._process.pid, flush=True)
    # Killed as SIGKILL kills a build, before its deadline: no clean-up runs.
    threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGKILL)).start()
    reader.read(body, "https://e.example/feed.xml")

if __name__ == "__main__":
    main()
"""


@pytest.mark.e2e
def test_a_parser_whose_build_was_killed_ends_within_its_time(tmp_path: Path) -> None:
    """Nothing cleans up after a build killed with SIGKILL: the parser, busy with a slow
    document, ends with the build, or by its own processor-time budget (the build's
    deadline), not when the document is done."""
    from conftest import require_e2e

    require_e2e("a parser worker of its own")
    script = tmp_path / "orphan.py"
    script.write_text(_ORPHAN, encoding="utf-8")

    def outlived(seconds: float) -> float:
        """How long the parser of a build killed half a second in lives on."""
        said = tmp_path / "pid"
        with said.open("w", encoding="ascii") as out:
            # Not a pipe: the parser would hold it open, and `run` wait for it.
            subprocess.run(
                [sys.executable, str(script), str(seconds), "600000"],
                stdout=out,
                stderr=subprocess.DEVNULL,
                timeout=300,
                check=False,
            )
        killed = time.monotonic()
        pid = int(said.read_text(encoding="ascii").split()[0])
        while Path(f"/proc/{pid}").exists() and _state(pid) != "Z":
            assert time.monotonic() - killed < 240, "the parser never ended"
            time.sleep(0.05)
        return time.monotonic() - killed

    body = b"<rss version='2.0'><channel>" + b"<a>" * 600_000 + b"</channel></rss>"
    started = time.monotonic()
    with FeedReader(3600.0) as reader:  # the whole parse, as long as it takes here and now
        reader.read(body, "https://e.example/feed.xml")
    whole = time.monotonic() - started
    assert whole > 4, "the document should take seconds to parse"
    # Ended with its build (or by its processor-time budget, where the parse holds the
    # interpreter): well before the document would be done.
    assert outlived(3600.0) < whole / 2
    assert outlived(2.0) < whole / 2


def _state(pid: int) -> str:
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return ""
    return next((line.split()[1] for line in status.splitlines() if line.startswith("State:")), "")


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("  entryId: urn:blog:7", "urn:blog:7"),
        # an id no YAML constructor builds (an entry file edited by hand): the file's name
        ("  entryId: !!bool maybe", "7"),
        ("  entryId: !!int", "7"),
        ("  entryId: [unclosed", "7"),
        ("  entryId: !!timestamp nope", "nope"),
        ("  entryId: " + "[" * 2000 + "]" * 2000, "7"),
    ],
)
def test_a_report_of_an_entry_file_names_its_feed_and_entry(
    tmp_path: Path, line: str, named: str
) -> None:
    from aggregator.model import LoadError
    from aggregator.sources.remote import folder_name
    from aggregator.sources.remote import shown_entries

    url = "https://blog.example/feed.xml"
    config = config_for(tmp_path, FeedSource(url))
    path = config.entries_path / folder_name(url) / "7.md"
    path.parent.mkdir(parents=True)
    path.write_text(f"---\ntitle: [broken\nfeed:\n{line}\n---\n", encoding="utf-8")
    (shown,) = shown_entries(config, [LoadError(str(path), 2, "invalid YAML: x")])
    assert str(shown) == f"{url}:1: entry {named}: invalid YAML: x"


def test_entries_kept_inside_a_source_folder_are_listed_once(tmp_path: Path) -> None:
    """The state file (so the feeds' entries) inside a source folder: an entry is one
    file of the build, listed once by the command's walk and by the daemon's."""
    url = "https://news.example.com/feed.xml"
    config = config_for(
        tmp_path, FeedSource(url), state=tmp_path / "articles" / "state" / "state.sqlite"
    )
    entry = config.entries_path / folder_name(url) / "entry.md"
    entry.parent.mkdir(parents=True)
    entry.write_text("---\ntitle: x\n---\n", encoding="utf-8")
    write_article(config.sources[0], "own.md")
    found = inputs.find(config)
    assert sorted(Path(p).name for p in found.paths) == ["entry.md", "own.md"]
    kept, identities = Warm().find(config)
    assert kept.paths == found.paths
    assert set(identities) >= set(found.paths)


@pytest.mark.e2e
def test_categories_that_differ_in_case_alone_are_one_topic_and_no_warning(
    server: FeedServer, tmp_path: Path
) -> None:
    """The entry file kept both `AI` and `ai`, and every build then warned of the
    entry's topics, which no one but the feed's site can mend."""
    server.docs["/feed.xml"] = Doc(
        rss(item(1, raw="<category>ai</category><category>A  I</category><category> AI</category>"))
    )
    config = config_for(tmp_path, FeedSource(server.url("/feed.xml"), topics=("Ai",)))
    report = build(config, now=NOW)
    assert list(report.warnings) == []
    parsed = feedparser.parse((config.output / "all.atom").read_bytes())
    assert [t.term for t in parsed.entries[0].tags] == ["Ai", "A I"]


def _published(out: Path) -> dict[str, list[str]]:
    """The titles in each feed of `out` (Atom), by feed path; feeds with none left out."""
    found: dict[str, list[str]] = {}
    for path in sorted(out.rglob("*.atom")):
        titles = [title for title, _link in entries(out, str(path.relative_to(out)))]
        if titles:
            found[str(path.relative_to(out))] = titles
    return found


@pytest.mark.e2e
def test_a_feeds_settings_changed_in_the_config_apply_to_its_kept_entries_at_once(
    server: FeedServer, tmp_path: Path
) -> None:
    """The config's topics, quality, published flag and title_filter of a feed hold
    for every entry kept of it from the next build on, while the feed is not due (its
    max-age) or would answer 304 (no new document to write them from): what a first
    build with the new settings publishes. The feed is not asked for sooner than its
    max-age said; then whole, so that the entries a title_filter left out come back
    once it is dropped, though the document did not change."""
    path = "/settings.xml"
    server.docs[path] = Doc(
        rss(
            item(1),
            item(2, title="Sponsored: a deal", category="ai"),
            item(3, category="Robots &amp; more"),
        ),
        etag='"v1"',
        headers={"Cache-Control": "max-age=3600"},
    )
    url = server.url(path)
    config = config_for(tmp_path, FeedSource(url, topics=("News",), quality=60))
    build(config, now=NOW)
    all_three = ["Blog story 1", "Sponsored: a deal", "Blog story 3"]
    assert _published(config.output)["topics/news.atom"] == all_three

    def switched(when: timedelta, **settings: Any) -> dict[str, list[str]]:
        """What a build `when` after the first publishes with these settings."""
        changed = replace(config, feeds=(FeedSource(url, **settings),))
        build(changed, now=NOW + when)
        return _published(changed.output)

    # Not due: nothing asked, the kept entries written again.
    tech = switched(timedelta(minutes=10), topics=("Tech",), title_filter="(?i)sponsored")
    assert len(server.requests(path)) == 1
    robots = next(name for name in tech if name.startswith("topics/robots-and-more"))
    assert tech == {
        "all.atom": ["Blog story 1", "Blog story 3"],
        "topics/ai.atom": ["Blog story 1"],
        robots: ["Blog story 3"],
        "topics/tech.atom": ["Blog story 1", "Blog story 3"],
    }, tech
    # The entry's own categories after the feed's topics, written as the feed wrote them.
    texts = [p.read_text(encoding="utf-8") for p in tmp_path.rglob("*.md")]
    assert sum("topics:\n- Tech\n- Robots &amp; more\n" in text for text in texts) == 1, texts
    # Not published, or of too low a quality: none published; then all that are kept.
    assert switched(timedelta(minutes=20), topics=("Tech",), published=False) == {}
    assert switched(timedelta(minutes=30), topics=("Tech",), quality=10) == {}
    held = switched(timedelta(minutes=40), topics=("Tech",), quality=90)
    assert held["all.atom"] == ["Blog story 1", "Blog story 3"], held
    assert len(server.requests(path)) == 1
    # Due (the max-age is over): asked for whole, though the ETag is the one it has.
    final = switched(timedelta(hours=2), topics=("Tech",))
    asked = server.requests(path)
    assert len(asked) == 2 and "if-none-match" not in asked[1], asked
    assert final["all.atom"] == all_three, final
    fresh = replace(
        config, output=tmp_path / "fresh" / "out", feeds=(FeedSource(url, topics=("Tech",)),)
    )
    build(fresh, now=NOW + timedelta(hours=2))
    assert final == _published(fresh.output)
    # Nothing changed since: asked for with its ETag again, at its max-age.
    switched(timedelta(hours=4), topics=("Tech",))
    asked = server.requests(path)
    assert len(asked) == 4 and asked[3].get("if-none-match") == '"v1"', asked
    # Other topics (the title_filter as it was): no entry can come back, none is asked.
    assert switched(timedelta(hours=4, minutes=10), topics=("Other",))["topics/other.atom"]
    switched(timedelta(hours=6), topics=("Other",))
    asked = server.requests(path)
    assert len(asked) == 5 and asked[4].get("if-none-match") == '"v1"', asked


@pytest.mark.e2e
@pytest.mark.parametrize("linked", [False, True], ids=["plain", "found through a link too"])
def test_topics_and_check_links_show_a_feeds_new_settings_before_the_build_writes_them(
    server: FeedServer, tmp_path: Path, linked: bool
) -> None:
    """`aggregator topics` and `check-links` read the kept entries of a feed whose
    settings changed as the next build will write them: they showed the old topics,
    quality and published flag, and the entries the new title_filter leaves out, until
    a build wrote the entries again. Also when a source folder is a link to the state's
    folder, so that the entries are found under another name too."""
    path = "/preview.xml"
    links = {n: server.url(f"/story-{n}") for n in (1, 2, 3)}
    server.docs[path] = Doc(
        rss(
            item(1, link=links[1]),
            item(2, link=links[2], title="Sponsored: a deal"),
            item(3, link=links[3], category="Robots"),
        ),
        etag='"v1"',
        headers={"Cache-Control": "max-age=3600"},
    )
    url = server.url(path)
    config = config_for(tmp_path, FeedSource(url, topics=("News",)))
    if linked:
        (tmp_path / "real").mkdir()
        (tmp_path / "data").symlink_to(tmp_path / "real")
        sources = (*config.sources, tmp_path / "data")
        config = replace(config, sources=sources, state=tmp_path / "real" / "state.sqlite")
    build(config, now=NOW)
    if linked:
        assert list((tmp_path / "real" / "state-entries").rglob("*.md"))
    later = NOW + timedelta(minutes=10)  # the feed is not due: no request

    def shown(settings: FeedSource) -> tuple[dict[str, Any], list[str]]:
        """What `topics --json` shows and the links `check-links` checks."""
        changed = replace(config, feeds=(settings,))
        view = to_json(overview(changed, later))
        checked = check_links(replace(changed, links="on"), now=later)
        return view, sorted(checked.urls.get(k, k) for k in checked.results)

    old = shown(FeedSource(url, topics=("News",)))
    assert sorted(old[1]) == sorted(links.values())
    for settings in (
        FeedSource(url, topics=("Tech",), title_filter="(?i)sponsored"),
        FeedSource(url, topics=("Tech",), published=False),
        FeedSource(url, topics=("Tech",), quality=10),
    ):
        before = shown(settings)
        assert before != old, settings
        build(replace(config, feeds=(settings,)), now=later)
        assert shown(settings) == before, settings
    asked = server.requests(path)
    assert len(asked) == 1, asked
    filtered = FeedSource(url, topics=("Tech",), title_filter="(?i)sponsored")
    view, checked = shown(filtered)  # (the entry left out is gone from the folder now)
    assert [t["topic"] for t in view["topics"]] == ["AI", "Robots", "Tech"], view["topics"]
    assert checked == sorted([links[1], links[3]])


@pytest.mark.e2e
@pytest.mark.parametrize("stopped", [False, True], ids=["once", "stopped as it rewrote them"])
def test_entries_a_title_filter_left_out_come_back_when_it_is_dropped(
    server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stopped: bool
) -> None:
    """Every entry of the document left out by a filter, none kept: the filter dropped,
    the document (which did not change: it would answer 304) is asked for whole when
    the feed is next due. So too when the build that took the new settings was stopped
    once it had written the entries again, before it could note the settings."""
    path = "/sponsored.xml"
    document = rss(item(1, title="Sponsored 1"), item(2, title="Sponsored 2"))
    server.docs[path] = Doc(document, etag='"v1"', headers={"Cache-Control": "max-age=3600"})
    url = server.url(path)
    config = config_for(tmp_path, FeedSource(url, title_filter="Sponsored"))
    build(config, now=NOW)
    assert _published(config.output) == {}
    dropped = replace(config, feeds=(FeedSource(url),))
    if stopped:
        from aggregator.sources.remote import SETTINGS_KEY
        from aggregator.state.store import Store

        noted = Store.set_meta

        def stop(store: Store, key: str, value: str) -> None:
            if key.startswith(SETTINGS_KEY):
                raise KeyboardInterrupt("stopped")
            noted(store, key, value)

        with monkeypatch.context() as patch:
            patch.setattr(Store, "set_meta", stop)
            with pytest.raises(KeyboardInterrupt):
                build(dropped, now=NOW + timedelta(minutes=10))
    build(dropped, now=NOW + timedelta(minutes=20))
    assert len(server.requests(path)) == 1  # not due yet
    build(dropped, now=NOW + timedelta(hours=2))
    asked = server.requests(path)
    assert len(asked) == 2 and "if-none-match" not in asked[1], asked
    assert _published(config.output)["all.atom"] == ["Sponsored 1", "Sponsored 2"]


@pytest.mark.e2e
def test_a_build_stopped_as_it_wrote_the_entries_again_leaves_it_to_the_next(
    server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped between leaving out the entries a new filter matches and writing the
    others again under the new topics: the next build does what is left. A feed no
    longer in the config leaves no note of its settings behind."""
    from aggregator.sources.remote import SETTINGS_KEY
    from aggregator.state.store import Store

    path = "/stopped.xml"
    document = rss(item(1), item(2, title="Sponsored 2"))
    server.docs[path] = Doc(document, etag='"v1"', headers={"Cache-Control": "max-age=3600"})
    server.docs["/other.xml"] = Doc(rss(item(3)))
    url, other = server.url(path), server.url("/other.xml")
    config = config_for(tmp_path, FeedSource(url), FeedSource(other))
    build(config, now=NOW)
    later = replace(config, feeds=(FeedSource(url, topics=("Tech",), title_filter="Sponsored"),))

    def stop(*args: object) -> None:
        raise KeyboardInterrupt("stopped")

    with monkeypatch.context() as patch:
        patch.setattr(Store, "save_feed_entries", stop)
        with pytest.raises(KeyboardInterrupt):
            build(later, now=NOW + timedelta(minutes=10))
    build(later, now=NOW + timedelta(minutes=20))
    assert _published(later.output) == {
        "all.atom": ["Blog story 1"],
        "topics/ai.atom": ["Blog story 1"],
        "topics/tech.atom": ["Blog story 1"],
    }
    assert len(server.requests(path)) == 1
    with contextlib.closing(Store(later.state_path)) as store:
        assert [key for key, _mark in store.metas(SETTINGS_KEY)] == [f"{SETTINGS_KEY}{url}\n"]


#: pieces of categories and titles: markup, entities, mojibake that cleaning repairs,
#: spaces, combining and bidi marks, a replacement character
_PIECES = [
    *"aAbB &<>;é",
    "&amp;",
    "<b>",
    "AI",
    "ai",
    "  ",
    "\u0301",
    "ï¿½",
    "Ã",
    "Â",
    "\u202e",
    "\ufffd",
]
_TEXT = st.lists(st.sampled_from(_PIECES), max_size=8).map("".join)
_SETTINGS = st.builds(
    Settings,
    topics=st.lists(_TEXT, max_size=4).map(tuple),
    quality=st.integers(0, 100),
    published=st.booleans(),
    title_filter=st.sampled_from([None, "(?i)deal", "^a", "\ufffd", "<", "&", "zzz"]),
)


#: image URLs as feeds give them: a space, a U+0085 (YAML reads it back as a space in a
#: quoted string), a line separator, a letter that is not ASCII, a plain one
_IMAGE_URLS = [
    "https://i.example/a b.png",
    "https://i.example/a\x85b.png",
    "https://i.example/a\u2028b.png",
    "https://i.example/é.png",
    "https://i.example/a.png",
]


@given(
    categories=st.lists(_TEXT, max_size=14).map(tuple),
    title=_TEXT.map(lambda text: text + " deal"),
    images=st.lists(st.sampled_from(_IMAGE_URLS), max_size=3).map(
        lambda urls: tuple(Image(url) for url in urls)
    ),
    before=_SETTINGS,
    after=_SETTINGS,
    limits=st.sampled_from([DEFAULT_LIMITS, replace(DEFAULT_LIMITS, topics=3, title_length=5)]),
)
def test_an_entry_written_again_under_other_settings_is_what_they_write(
    categories: tuple[str, ...],
    title: str,
    images: tuple[Image, ...],
    before: Settings,
    after: Settings,
    limits: Limits,
) -> None:
    """An entry file written under a feed's settings, then written again under others
    when the config changes them (`settled`), is the file the others write from the
    entry itself, or none when the others' title_filter leaves the entry out (as it
    leaves the entry out of a document); and written again under the same, it is the
    same file."""
    entry = Entry(
        "urn:e:1",
        title,
        "https://blog.example/1",
        "<p>What happened.</p>",
        NOW,
        None,
        categories,
        "",
        images,
    )
    feed = RemoteFeed("A blog", "https://blog.example/", None, (entry,), "rss20")
    url = "https://blog.example/feed.xml"
    text = article_text(entry, feed, url, before, NOW, limits)
    # Its images read back (as the loader reads the file) as their URLs' URI forms.
    written = yamlload.load(text[4:-4])["images"]
    assert [image["url"] for image in written] == [web_uri(image.url) for image in images]
    if left_out(before, shown_title(entry, limits)):
        assert settled(text, before, limits) is None
    else:
        assert settled(text, before, limits) == text
    again = settled(text, after, limits)
    if left_out(after, shown_title(entry, limits)):
        assert again is None
    else:
        assert again == article_text(entry, feed, url, after, NOW, limits)


def test_an_entry_written_before_categories_were_kept_keeps_its_topics() -> None:
    """An entry file of an older version (no `feed: categories`, no mark) written
    again: its topics, as they were, after the feed's new ones."""
    entry = Entry(
        "urn:e:1", "A story", "https://blog.example/1", "", NOW, None, ("R&D", "AI"), "", ()
    )
    feed = RemoteFeed("A blog", "https://blog.example/", None, (entry,), "rss20")
    text = article_text(entry, feed, "https://blog.example/f", Settings(("News",)), NOW)
    old = text.replace("  categories:\n  - R&D\n  - AI\n", "")
    assert old != text
    again = settled(old, Settings(("Tech", "ai"), quality=70))
    assert again is not None
    data = yaml.safe_load(again.strip("-\n"))
    assert data["topics"] == ["Tech", "ai", "News", "R&amp;D"]
    assert data["quality"] == 70
    assert data["feed"]["categories"] == ["News", "R&D", "AI"]
