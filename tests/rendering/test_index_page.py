"""The index page as a person sees it: rendered by headless Chromium at phone and
desktop widths, screenshots checked for content and for thumbnails, the rendered DOM
checked against the feeds (every topic, its count and latest headlines, every
subscribe link leading to a file in the output), and the phone layout checked for
horizontal scrolling.

Chromium is Debian's `chromium` package, installed by `.ci/run` on CI (locally:
`apt-get install chromium`). When it is missing, the browser tests skip and say why
(see tests/browser.py, shared with the build report's tests).
"""

from __future__ import annotations

import html
import itertools
import json
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import feedparser
import png
import pytest
from browser import DESKTOP
from browser import PHONE
from browser import Browser
from browser import Node
from browser import browser as browser
from browser import chromium as chromium
from browser import overflow
from browser import parse_html
from browser import squash
from conftest import answering
from conftest import article_fields
from conftest import front_matter
from conftest import run_cli

from aggregator.config import Config
from aggregator.engine.pipeline import build
from aggregator.model import Article
from aggregator.rendering.feeds import FeedSpec
from aggregator.rendering.feeds import Site
from aggregator.rendering.pages import _STYLE
from aggregator.rendering.pages import SUBSCRIBE_FORMATS
from aggregator.rendering.pages import Listing
from aggregator.rendering.pages import SubscribeFormat
from aggregator.rendering.pages import headline
from aggregator.rendering.pages import render_index
from aggregator.sources.loader import parse_article

BASE_URL = "http://localhost:8080/"
#: a phone's width, and tall enough to show the first topics' thumbnails
PHONE_PAGE = (360, 2000)
#: the colour of every article picture the test serves: easy to find in a screenshot
THUMB_RGB = (255, 0, 255)
HOSTILE_TITLE = "&lt;script&gt;alert(1)&lt;/script&gt; &amp; \"quoted\" 'words'"
WIDE_TOPIC = "Supercalifragilistic" * 10  # one unbreakable word, far wider than a phone


# --- the site under test -------------------------------------------------------------


class _Pictures(BaseHTTPRequestHandler):
    body = png.solid(160, 90, THUMB_RGB)

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def pictures() -> Iterator[str]:
    """A local web server whose every path is a magenta picture; its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pictures)
    with answering(server):
        yield f"http://127.0.0.1:{server.server_address[1]}/"


@dataclass
class Built:
    out: Path
    report: dict[str, Any]
    #: topic name -> its feed as feedparser reads it (Atom)
    feeds: dict[str, Any]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, pictures: str) -> Built:
    """A real build of a corpus with many topics, pictures, hostile and long text."""
    root = tmp_path_factory.mktemp("index-site")
    source = root / "articles"
    source.mkdir()
    start = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
    plan: list[dict[str, Any]] = []
    for n in range(1, 6):
        plan.append({"topics": ["AI", "Robotics"] if n % 2 else ["AI"]})
    plan += [
        {"topics": ["C++"], "title": HOSTILE_TITLE},
        {"topics": ["C++", "Künstliche Intelligenz"], "images": None, "provider": None},
        {"topics": [WIDE_TOPIC], "title": "Pneumonoultramicroscopicsilicovolcanoconiosis" * 3},
        {"topics": ["Hidden"], "published": False},
    ]
    for n, extra in enumerate(plan, start=1):
        fields = article_fields(
            n=n,
            publishedDateTime=start + timedelta(hours=7 * n),
            images=[{"url": f"{pictures}{n}.png", "width": 1600, "height": 900}],
        )
        fields.update({k: v for k, v in extra.items() if v is not None})
        for key in [k for k, v in extra.items() if v is None]:
            fields.pop(key)
        (source / f"{n:02}.md").write_text(front_matter(fields), encoding="utf-8")
    # The pictures are on 127.0.0.1: without --allow-private-links every build (links
    # off too) leaves such an image out of its entry.
    result = run_cli(
        "build", "--source", source, "--output", "out", "--report", "r.json",
        "--allow-private-links", cwd=root,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads((root / "r.json").read_text(encoding="utf-8"))
    feeds = {}
    for item in report["feeds"]:
        if item["topic"] is not None and item["format"] == "atom" and item["entries"]:
            parsed = feedparser.parse((root / "out" / item["path"]).read_bytes())
            assert not parsed.bozo
            feeds[item["topic"]] = parsed
    return Built(root / "out", report, feeds)


@pytest.fixture(scope="module")
def dom(site: Built, browser: Browser) -> Node:
    return browser.dom(site.out / "index.html")


# --- tests ---------------------------------------------------------------------------


@pytest.mark.e2e
def test_every_topic_shows_its_count_date_and_three_latest_headlines(
    site: Built, dom: Node
) -> None:
    cards = dom.find_all("li", "topic")
    # Every topic with a feed, in the order of the feeds, and nothing else.
    assert [squash(card.find("h3").text()) for card in cards] == list(site.feeds)
    assert set(site.feeds) >= {"AI", "C++", "Robotics", WIDE_TOPIC}
    assert "Hidden" not in site.feeds
    for card, (topic, feed) in zip(cards, site.feeds.items(), strict=True):
        meta = squash(card.find("p", "meta").text())
        count = len(feed.entries)
        assert meta.startswith(f"{count} article{'s' if count != 1 else ''}, "), meta
        newest = datetime.fromisoformat(feed.entries[0].published).date().isoformat()
        assert meta.endswith(f"last updated {newest}"), meta
        shown = [(squash(a.text()), a.attrs["href"]) for a in card.find_all("a", "headline")]
        # What a feed reader shows of each title (an Atom title that looks like markup
        # is type="html", escaped).
        expected = [(_shown(e.title_detail), e.link) for e in feed.entries[:3]]
        assert shown == expected, topic
        for item, entry in zip(
            card.find("ol", "latest").find_all("li"), feed.entries, strict=False
        ):
            thumbnails = [t["url"] for t in entry.get("media_thumbnail", [])]
            images = item.find_all("img")
            assert [img.attrs["src"] for img in images] == thumbnails[:1], topic
            for img in images:
                assert img.attrs["alt"], "a thumbnail has alt text"
                assert img.attrs["loading"] == "lazy"
                assert int(img.attrs["width"]) > 0 and int(img.attrs["height"]) > 0
    assert len(dom.find_all("li", "topic")[0].find_all("a", "headline")) == 3  # AI has 5


def _shown(detail: Any) -> str:
    return html.unescape(detail.value) if detail.type == "text/html" else str(detail.value)


@pytest.mark.e2e
def test_hostile_text_is_shown_as_text(site: Built, dom: Node) -> None:
    assert dom.find_all("script") == []
    titles = [squash(a.text()) for a in dom.find_all("a", "headline")]
    assert "<script>alert(1)</script> & \"quoted\" 'words'" in titles
    raw = (site.out / "index.html").read_text(encoding="utf-8")
    assert "<script" not in raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in raw


@pytest.mark.e2e
def test_every_subscribe_link_leads_to_a_file_in_the_output(site: Built, dom: Node) -> None:
    links = [a for p in dom.find_all("p", "subscribe") for a in p.find_all("a")]
    seen: set[str] = set()
    for link in links:
        href = link.attrs["href"]
        assert href.startswith(BASE_URL), href
        path = site.out / href.removeprefix(BASE_URL)
        assert path.is_file(), f"{squash(link.text())!r} links to a missing file {href}"
        seen.add(href.removeprefix(BASE_URL))
        if link.attrs["type"] == "text/x-opml":
            assert ElementTree.parse(path).getroot().tag == "opml"
        elif link.attrs["type"] == "application/feed+json":
            feed = json.loads(path.read_bytes())
            assert feed["version"] == "https://jsonfeed.org/version/1.1", href
            assert feed["items"], href
        else:
            parsed = feedparser.parse(path.read_bytes())
            assert not parsed.bozo, href
            assert parsed.entries, href
    # One link per format for every feed with entries, and every OPML list.
    expected = {item["path"] for item in site.report["feeds"] if item["entries"]} | {
        "feeds.opml",
        "rss.opml",
        "atom.opml",
        "json.opml",
    }
    assert seen == expected
    # Feed readers find the same feeds from the page's head.
    discovered = {
        node.attrs["href"].removeprefix(BASE_URL)
        for node in dom.find_all("link")
        if node.attrs.get("rel") == "alternate"
    }
    assert discovered == expected - {"feeds.opml", "rss.opml", "atom.opml", "json.opml"}


@pytest.mark.e2e
def test_markup_is_accessible(dom: Node) -> None:
    html = dom.find("html")
    assert html.attrs["lang"] == "en"
    viewport = [m for m in dom.find_all("meta") if m.attrs.get("name") == "viewport"]
    assert viewport and "width=device-width" in viewport[0].attrs["content"]
    for landmark in ("header", "nav", "main", "footer"):
        assert len(dom.find_all(landmark)) == 1, landmark
    levels = [int(n.tag[1]) for n in dom.walk() if re.fullmatch(r"h[1-6]", n.tag)]
    assert levels[0] == 1 and levels.count(1) == 1
    assert all(b - a <= 1 for a, b in itertools.pairwise(levels)), levels
    # A link's text says where it goes even out of context: one name, one target.
    targets: dict[str, set[str]] = {}
    for link in dom.find_all("a"):
        if link.attrs.get("aria-hidden") == "true":
            assert link.attrs.get("tabindex") == "-1"  # hidden from readers, so not focusable
            continue
        name = squash(link.text())
        assert name, link.attrs
        targets.setdefault(name, set()).add(link.attrs["href"])
    ambiguous = {name: hrefs for name, hrefs in targets.items() if len(hrefs) > 1}
    assert ambiguous == {}
    ids = {node.attrs["id"] for node in dom.walk() if "id" in node.attrs}
    for link in dom.find_all("a"):
        if link.attrs["href"].startswith("#"):
            assert link.attrs["href"][1:] in ids, link.attrs["href"]
    # No script and no asset from elsewhere: styles are inline.
    assert dom.find_all("script") == []
    assert [n for n in dom.find_all("link") if n.attrs.get("rel") == "stylesheet"] == []


def _relative_luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((_relative_luminance(a), _relative_luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_text_colours_meet_wcag_aa_contrast_in_light_and_dark() -> None:
    schemes = re.findall(r":root\{([^}]*)\}", _STYLE)
    assert len(schemes) == 2, schemes  # light, and dark in its media query
    for scheme in schemes:
        colours = dict(re.findall(r"--(\w+):(#[0-9a-f]{6})", scheme))
        for text in ("fg", "muted", "accent"):
            for ground in ("bg", "card"):
                ratio = contrast(colours[text], colours[ground])
                assert ratio >= 4.5, (text, ground, ratio)
    assert ":focus-visible{outline:3px" in _STYLE


@pytest.mark.e2e
def test_screenshots_at_phone_and_desktop_width_show_the_page(
    site: Built, browser: Browser, tmp_path: Path
) -> None:
    for name, size in (("phone", PHONE_PAGE), ("desktop", DESKTOP)):
        shot = browser.screenshot(site.out / "index.html", size, tmp_path / f"{name}.png")
        assert (shot.width, shot.height) == size
        colours = shot.colours(step=2)
        _, most = colours.most_common(1)[0]
        assert len(colours) > 50, f"{name}: {len(colours)} colours: a blank page?"
        assert sum(colours.values()) - most > 0.05 * sum(colours.values()), name
        # The article pictures arrived and show as thumbnails.
        assert colours[THUMB_RGB] > 100, f"{name}: no thumbnail visible"


@pytest.mark.e2e
def test_no_horizontal_scrolling_at_phone_width(
    site: Built, browser: Browser, tmp_path: Path
) -> None:
    found = overflow(browser, site.out / "index.html", tmp_path)
    assert PHONE[0] - 20 <= found["client"] <= PHONE[0]  # less a scroll bar, if any
    assert found["scroll"] <= found["client"], found
    assert found["out"] == [], found


@pytest.mark.e2e
def test_browser_checks_catch_a_blank_page_and_a_page_too_wide(
    browser: Browser, tmp_path: Path
) -> None:
    blank = tmp_path / "blank" / "index.html"
    blank.parent.mkdir()
    blank.write_text("<!DOCTYPE html><html><body></body></html>", encoding="utf-8")
    colours = browser.screenshot(blank, PHONE, tmp_path / "blank.png").colours(step=4)
    assert len(colours) == 1
    wide = tmp_path / "wide" / "index.html"
    wide.parent.mkdir()
    wide.write_text(
        '<!DOCTYPE html><html><head><meta name="viewport" content="width=device-width">'
        "</head><body><p>" + "x" * 300 + "</p></body></html>",
        encoding="utf-8",
    )
    found = overflow(browser, wide, tmp_path)
    assert found["scroll"] > found["client"]
    assert found["out"] == ["p."]


@pytest.mark.e2e
def test_the_real_corpus_page_lists_every_topic_and_fits_a_phone(
    corpus: Path, browser: Browser, tmp_path: Path
) -> None:
    built = run_cli(
        "build", "--source", corpus, "--output", "out", "--report", "r.json", cwd=tmp_path
    )
    assert built.returncode == 0, built.stderr
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    topics = [f["topic"] for f in report["feeds"] if f["topic"] and f["entries"]]
    page = tmp_path / "out" / "index.html"
    cards = browser.dom(page).find_all("li", "topic")
    assert [squash(card.find("h3").text()) for card in cards] == list(dict.fromkeys(topics))
    for card in cards:
        assert 1 <= len(card.find_all("a", "headline")) <= 3
    found = overflow(browser, page, tmp_path)
    assert found["scroll"] <= found["client"], found
    assert found["out"] == [], found


# --- the renderer on its own ---------------------------------------------------------


def _listing(topic: str, slug: str, title: str) -> Listing:
    when = datetime(2024, 1, 2, 3, 4, tzinfo=UTC)
    spec = FeedSpec(topic, f"topics/{slug}", f"News: {topic}", "d", f"{BASE_URL}#{slug}")
    article = parse_article(
        front_matter(article_fields(title=title, publishedDateTime=when)).encode(), "a.md"
    )
    assert isinstance(article, Article)
    return Listing(spec, 1, when, (headline(article),))


def test_render_index_escapes_everything_and_is_byte_stable() -> None:
    evil = '"><script>alert(1)</script><x y="'
    site = Site(BASE_URL, f"Site {evil}", f"About {evil}", 'en"><x')
    topics = [_listing(f"Topic {evil}", "t", "&lt;/style&gt;&lt;script&gt;x()&lt;/script&gt;")]
    page = render_index(site, None, topics)
    assert page == render_index(site, None, topics)
    text = page.decode("utf-8")
    assert "<script" not in text and "<x " not in text
    tree = parse_html(text)
    assert tree.find("html").attrs["lang"] == 'en"><x'
    assert squash(tree.find("h1").text()) == f"Site {evil}"
    assert squash(tree.find("h3").text()) == f"Topic {evil}"
    assert squash(tree.find("a", "headline").text()) == "</style><script>x()</script>"
    assert [n.tag for n in tree.find_all("style")] == ["style"]


def test_subscribe_links_follow_the_list_of_formats() -> None:
    json_feed = SubscribeFormat("json", "JSON Feed", ".json", "application/feed+json")
    site = Site(BASE_URL, "S", "D", "en")
    topics = [_listing("AI", "ai", "One")]
    formats = (*SUBSCRIBE_FORMATS[:2], json_feed)
    tree = parse_html(render_index(site, None, topics, formats).decode())
    card = tree.find("li", "topic")
    links = card.find("p", "subscribe").find_all("a")
    assert [(a.attrs["href"], a.attrs["type"]) for a in links] == [
        (f"{BASE_URL}topics/ai.rss", "application/rss+xml"),
        (f"{BASE_URL}topics/ai.atom", "application/atom+xml"),
        (f"{BASE_URL}topics/ai.json", "application/feed+json"),
    ]
    assert squash(links[2].text()) == "Subscribe to AI with JSON Feed"
    alternates = [n.attrs for n in tree.find_all("link") if n.attrs.get("rel") == "alternate"]
    assert [a["type"] for a in alternates] == [
        "application/rss+xml",
        "application/atom+xml",
        "application/feed+json",
    ]


def test_every_id_is_unique_and_each_feed_links_to_its_topics_card_whatever_the_names(
    tmp_path: Path,
) -> None:
    """Topics named as the page's own sections ("Topics", "Every topic"): every id on
    the page is unique, each topic feed's link to the page (RSS and Atom `link`, JSON
    Feed `home_page_url`) leads to its topic's card, and the skip link and the topic
    list lead where they say."""
    source, output = tmp_path / "src", tmp_path / "out"
    topics = ["Topics", "Everything", "Every Topic", "Main", "Skip"]
    source.mkdir()
    for n, (first, second) in enumerate(itertools.pairwise([*topics, "AI"]), 1):
        text = front_matter(article_fields(n=n, topics=[first, second]))
        (source / f"{n}.md").write_text(text, encoding="utf-8")
    config = Config(sources=(source,), output=output, links="off")
    build(config, now=datetime(2021, 4, 1, tzinfo=UTC))
    page = parse_html((output / "index.html").read_text(encoding="utf-8"))
    ids = [node.attrs["id"] for node in page.walk() if "id" in node.attrs]
    assert len(ids) == len(set(ids)), sorted(ids)
    by_id = {node.attrs["id"]: node for node in page.walk() if "id" in node.attrs}

    def card(url: str) -> str:
        """The topic whose card the page URL `url` leads to."""
        base, _, fragment = url.partition("#")
        assert base == config.base_url, url
        node = by_id[fragment]
        assert node.tag == "li" and "topic" in node.classes(), (url, node.tag)
        return squash(node.find("h3").text())

    shown = 0
    for path in sorted((output / "topics").iterdir()):
        if path.suffix == ".json":
            feed = json.loads(path.read_bytes())
            title, link = feed["title"], feed["home_page_url"]
        else:
            parsed = feedparser.parse(path.read_bytes())
            title, link = parsed.feed.title, parsed.feed.link
        assert f"Aggregator: {card(link)}" == title, path.name
        shown += 1
    assert shown == 3 * len([*topics, "AI"])
    skip = page.find("a", "skip")
    assert squash(by_id[skip.attrs["href"].removeprefix("#")].text()) == "Topics"
    for link in page.find("nav").find_all("a"):
        assert card(config.base_url + link.attrs["href"]) == squash(link.text())
    section = page.find("section")
    assert squash(by_id[section.attrs["aria-labelledby"]].text()) == "Every topic"
