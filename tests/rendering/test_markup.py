"""Plain text stays plain in every format: markup smuggled into an article file as
entities (`&lt;img src=...&gt;`) reaches readers as the characters it spells, never as
an image, a link or a script, whatever field it is in and whatever the format.

Each feed is read with a real parser (feedparser for RSS and Atom, the JSON parser
for JSON Feed, html.parser for the index page and HTML-typed values, ElementTree for
OPML). A value the parser takes for HTML is parsed as HTML, and may hold only the
markup the aggregator writes itself: paragraphs, lists, links to the article and its
related coverage, and the article's own image.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import feedparser
import pytest
from conftest import NOW
from conftest import write_article
from w3c import needs_validator
from w3c import validate_folder

from aggregator.config import Config
from aggregator.engine.pipeline import build
from aggregator.model import ContentMode
from aggregator.sources.text import plain_text

ARTICLE = "https://news.example.com/story-1"
IMAGE = "https://img.example.com/1.jpg"
RELATED = "https://other.example.com/coverage"
#: the markup our own HTML (entry content, index page) is made of
OWN_TAGS = frozenset({"p", "a", "img", "ul", "li"})


def payload(field: str) -> str:
    """Markup as an article file may carry it: encoded as entities, so that it is text
    until something decodes it once too often."""
    return (
        f"{field} &lt;img src=&quot;https://tracker.example/{field}.gif&quot;&gt;"
        f"&lt;a href=&quot;javascript:alert(1)&quot;&gt;click&lt;/a&gt;"
        f"&lt;script&gt;alert(&#x27;{field}&#x27;)&lt;/script&gt;"
    )


def plain(field: str) -> str:
    """What a reader must show of `payload(field)`: the characters, as text."""
    return (
        f'{field} <img src="https://tracker.example/{field}.gif">'
        f'<a href="javascript:alert(1)">click</a>'
        f"<script>alert('{field}')</script>"
    )


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_html(value: str) -> tuple[list[tuple[str, dict[str, str | None]]], str]:
    """The elements of an HTML fragment and the text a browser would show of it."""
    parser = _Elements()
    parser.feed(value)
    parser.close()
    return parser.elements, "".join(parser.text)


def assert_only_own_markup(value: str, where: str) -> str:
    """`value`, read as HTML, holds no element the aggregator did not write: returns
    the text it shows."""
    elements, text = parse_html(value)
    for tag, attrs in elements:
        assert tag in OWN_TAGS, f"{where}: a <{tag}> element reached the reader"
        if tag == "img":
            assert attrs.get("src") == IMAGE, f"{where}: <img src={attrs.get('src')!r}>"
        if tag == "a":
            assert attrs.get("href") in (ARTICLE, RELATED), f"{where}: <a {attrs}>"
    return text


def shown(detail: Any, where: str) -> str:
    """What a reader shows of a feedparser text construct: HTML is parsed as HTML."""
    if detail.type in ("text/html", "application/xhtml+xml"):
        return assert_only_own_markup(detail.value, where)
    assert detail.type == "text/plain", f"{where}: {detail.type}"
    return str(detail.value)


def hostile_corpus(folder: Path) -> None:
    write_article(
        folder,
        "hostile.md",
        title=payload("title"),
        excerpt=payload("excerpt"),
        provider={"name": payload("provider"), "domain": "example.com"},
        topics=[payload("topic"), "AI"],
        images=[{"url": IMAGE, "width": 800, "height": 450, "title": payload("caption")}],
        related=[
            {
                "title": payload("related"),
                "webUrl": RELATED,
                "provider": {"name": payload("relatedprovider")},
            }
        ],
    )


def built(tmp_path: Path, content: ContentMode) -> Path:
    hostile_corpus(tmp_path / "src")
    output = tmp_path / "out"
    config = Config(sources=(tmp_path / "src",), output=output, content=content, links="off")
    report = build(config, now=NOW)
    assert report.errors == () and report.published == 1
    return output


def feed_files(output: Path, extension: str) -> Iterator[Path]:
    yield output / f"all.{extension}"
    yield from sorted((output / "topics").glob(f"*.{extension}"))


@pytest.mark.parametrize("content", ["full", "excerpt"])
@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_no_tag_reaches_a_feed_reader(tmp_path: Path, content: ContentMode, fmt: str) -> None:
    output = built(tmp_path, content)
    files = list(feed_files(output, fmt))
    assert len(files) == 3  # all, AI, and the topic whose name is markup
    for path in files:
        feed = feedparser.parse(path.read_bytes())
        assert not feed.bozo, (path, feed.get("bozo_exception"))
        where = f"{path.name}"
        title = shown(feed.feed.title_detail, f"{where} feed title")
        if path.parent.name == "topics" and not path.name.startswith("ai."):
            assert plain("topic") in title
        shown(feed.feed.subtitle_detail, f"{where} feed description")
        [entry] = feed.entries
        assert shown(entry.title_detail, f"{where} title") == plain("title")
        summary = shown(entry.summary_detail, f"{where} summary")
        assert plain("excerpt") in summary
        for index, part in enumerate(entry.get("content", [])):
            text = shown(part, f"{where} content {index}")
            for field in ("excerpt", "related", "relatedprovider", "provider"):
                assert plain(field) in text, (field, text)
        # A name has no type attribute in either format, nor an RSS category: taken
        # as HTML (as feedparser hands them on), they hold no tag either.
        assert assert_only_own_markup(entry.author, f"{where} author") == plain("provider")
        terms = [tag.term for tag in entry.tags]
        if fmt == "rss":
            assert [assert_only_own_markup(t, f"{where} category") for t in terms] == [
                plain("topic"),
                "AI",
            ]
        else:
            # An Atom category term is an identifier, not text to show (RFC 4287): the
            # plain text itself.
            assert terms == [plain("topic"), "AI"]


def test_no_tag_reaches_a_json_feed_reader(tmp_path: Path) -> None:
    for content in ("full", "excerpt"):
        output = built(tmp_path / content, content)  # type: ignore[arg-type]
        for path in feed_files(output, "json"):
            feed = json.loads(path.read_bytes())
            [item] = feed["items"]
            # JSON Feed's title, summary, content_text, tags and names are plain text.
            assert item["title"] == plain("title")
            assert item["summary"] == plain("excerpt")
            assert item["authors"] == [{"name": plain("provider"), "url": "https://example.com/"}]
            assert plain("topic") in item["tags"]
            if content == "full":
                text = assert_only_own_markup(item["content_html"], f"{path.name} content_html")
                for field in ("excerpt", "related", "relatedprovider", "provider"):
                    assert plain(field) in text
                assert "content_text" not in item
            else:
                assert item["content_text"] == plain("excerpt")


def test_no_tag_reaches_the_index_page_or_an_opml_reader(tmp_path: Path) -> None:
    output = built(tmp_path, "full")
    page = (output / "index.html").read_text(encoding="utf-8")
    elements, text = parse_html(page)
    for tag, attrs in elements:
        assert tag not in ("script", "iframe", "object", "embed"), (tag, attrs)
        # Text may quote a URL anywhere (in a title attribute, say); what loads or
        # follows one is src and href.
        for name in ("src", "href"):
            value = attrs.get(name) or ""
            assert "tracker.example" not in value and not value.startswith("javascript:")
        if tag == "img":
            assert attrs["src"] == IMAGE
            assert attrs["alt"] == plain("caption")
    for field in ("title", "topic", "provider"):
        assert plain(field) in text
    for name in ("feeds.opml", "rss.opml", "atom.opml", "json.opml"):
        root = ElementTree.fromstring((output / name).read_bytes())
        outlines = [o for o in root.iter("outline") if "xmlUrl" in o.attrib]
        assert outlines
        # OPML leaves open whether outline text is text or HTML: taken as HTML, it
        # holds no tag, and shows the topic's name.
        shows = [assert_only_own_markup(o.attrib["text"], name) for o in outlines]
        assert any(plain("topic") in t for t in shows)
        for outline in outlines:
            assert_only_own_markup(outline.attrib["title"], name)


def test_ordinary_text_is_not_escaped_twice_where_the_type_is_open(tmp_path: Path) -> None:
    """ "AT&T" and "3 < 4" are not markup: RSS titles and OPML carry them as they are, so
    that readers that show such fields as plain text show them right too."""
    write_article(tmp_path / "src", "a.md", title="AT&T says 3 < 4", topics=["R&D"])
    output = tmp_path / "out"
    build(Config(sources=(tmp_path / "src",), output=output, links="off"), now=NOW)
    root = ElementTree.fromstring((output / "all.rss").read_bytes())
    assert root.findtext("channel/item/title") == "AT&T says 3 < 4"
    assert root.findtext("channel/item/category") == "R&D"
    outline = [o for o in ElementTree.parse(output / "rss.opml").iter("outline")][-1]
    assert outline.attrib["text"] == "Aggregator: R&D"
    # RSS descriptions are HTML: escaped as HTML whatever they hold.
    assert feedparser.parse((output / "all.rss").read_bytes()).entries[0].title == (
        "AT&T says 3 < 4"
    )


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_a_retired_topic_keeps_its_title_as_it_was(tmp_path: Path, fmt: str) -> None:
    """A feed emptied because its topic lost its articles reads its title back from
    the file: text escaped for RSS, or declared HTML in Atom, is not escaped again on
    every build (the file would change, and be pinged to the hub, every time)."""
    source = tmp_path / "src"
    hostile_corpus(source)
    write_article(source, "other.md", n=2, title="&copy 2024 S&P500 &amp; 5&10")
    output = tmp_path / "out"
    config = Config(sources=(source,), output=output, links="off")
    build(config, now=NOW)
    [retiring] = [p for p in (output / "topics").glob(f"*.{fmt}") if p.name != f"ai.{fmt}"]
    before = feedparser.parse(retiring.read_bytes()).feed.title_detail
    write_article(source, "hostile.md", topics=["AI"])  # the markup topic loses it
    build(config, now=NOW)
    retired = retiring.read_bytes()
    after = feedparser.parse(retired)
    assert after.entries == []
    assert shown(after.feed.title_detail, "retired") == shown(before, "before")
    for number in range(3, 5):  # other changes: the retired feed stays as it is
        write_article(source, f"{number}.md", n=number)
        build(config, now=NOW)
        assert retiring.read_bytes() == retired


@needs_validator
@pytest.mark.parametrize("content", ["full", "excerpt"])
def test_w3c_validator_accepts_the_escaped_feeds(tmp_path: Path, content: ContentMode) -> None:
    output = built(tmp_path, content)
    checked, result = validate_folder(output)
    assert checked == 6
    assert result.returncode == 0, result.stdout + result.stderr


#: text with "&" that is not markup to a person, and that some readers (and the W3C
#: validator) would take for a character reference
AMPERSANDS = ("S&P500 hits a record", "&copy 2024 Acme", "5&10 store", "x &amp y", "AT&T & R&D")


@needs_validator
def test_w3c_validator_accepts_ampersands_in_every_text(tmp_path: Path) -> None:
    source = tmp_path / "src"
    for number, text in enumerate(AMPERSANDS, start=1):
        write_article(
            source,
            f"{number}.md",
            n=number,
            title=text,
            excerpt=text,
            topics=[text],
            provider={"name": text, "domain": "example.com"},
        )
    output = tmp_path / "out"
    build(Config(sources=(source,), output=output, links="off"), now=NOW)
    _checked, result = validate_folder(output)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("fmt", ["rss", "atom"])
def test_ampersands_read_as_written(tmp_path: Path, fmt: str) -> None:
    """Whatever form a format needs for them, readers show these texts as they are."""
    source = tmp_path / "src"
    for number, text in enumerate(AMPERSANDS, start=1):
        write_article(source, f"{number}.md", n=number, title=text, excerpt=text)
    output = tmp_path / "out"
    build(Config(sources=(source,), output=output, links="off"), now=NOW)
    feed = feedparser.parse((output / f"all.{fmt}").read_bytes())
    titles = {shown(e.title_detail, "title") for e in feed.entries}
    # As the files' text reads once its entities are decoded ("&copy" is "©").
    assert titles == {plain_text(text) for text in AMPERSANDS}
    assert "S&P500 hits a record" in titles and "AT&T & R&D" in titles
