"""JSON Feed 1.1: valid by the specification, and the same feed as the Atom one beside it."""

from __future__ import annotations

import gzip
import http.client
import json
import re
import shutil
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

import pytest
from conftest import CORPORA
from conftest import NOW
from conftest import corpus_source
from conftest import write_article
from feedcheck import json_feed_problems

from aggregator import fastjson
from aggregator.app.server import FeedApp
from aggregator.app.server import Server
from aggregator.config import Config
from aggregator.engine.pipeline import build
from aggregator.fastjson import ORJSON

ATOM = "{http://www.w3.org/2005/Atom}"
MEDIA = "{http://search.yahoo.com/mrss/}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
BASE = "https://news.example.org/ai/"


def build_corpus(tmp_path: Path, name: str, **settings: Any) -> Path:
    source = corpus_source(name, tmp_path)
    output = tmp_path / "feeds"
    config = Config(
        sources=(source,),
        output=output,
        base_url=BASE,
        include_unpublished=True,
        min_quality=0,
        limit=100,
        links="off",
        **settings,
    )
    build(config, now=NOW)
    return output


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_bytes())
    return data


def json_feeds(output: Path) -> list[Path]:
    return sorted(p for p in output.rglob("*.json") if not p.name.startswith("."))


def atom_of(path: Path) -> ElementTree.Element:
    return ElementTree.parse(path.with_suffix(".atom")).getroot()


@pytest.mark.parametrize("corpus_name", CORPORA)
def test_every_json_feed_is_valid_json_feed_1_1(tmp_path: Path, corpus_name: str) -> None:
    output = build_corpus(tmp_path, corpus_name)
    feeds = json_feeds(output)
    # one per Atom feed, no more, no fewer
    assert sorted(p.with_suffix("") for p in feeds) == sorted(
        p.with_suffix("") for p in output.rglob("*.atom")
    )
    for path in feeds:
        url = BASE + path.relative_to(output).as_posix()
        assert json_feed_problems(path.read_bytes(), url) == [], path


@pytest.mark.parametrize("corpus_name", CORPORA)
def test_json_feed_holds_what_the_atom_feed_holds(tmp_path: Path, corpus_name: str) -> None:
    output = build_corpus(tmp_path, corpus_name)
    for path in json_feeds(output):
        feed, atom = load(path), atom_of(path)
        assert feed["title"] == atom.findtext(f"{ATOM}title")
        assert feed["description"] == atom.findtext(f"{ATOM}subtitle")
        assert feed["language"] == atom.get(XML_LANG) == "en"
        links = {link.get("rel"): link.get("href") for link in atom.findall(f"{ATOM}link")}
        assert feed["home_page_url"] == links["alternate"]
        assert feed["feed_url"] == links["self"].removesuffix(".atom") + ".json"
        entries = atom.findall(f"{ATOM}entry")
        assert len(feed["items"]) == len(entries) > 0
        for item, entry in zip(feed["items"], entries, strict=True):
            assert item["id"] == entry.findtext(f"{ATOM}id")
            assert item["title"] == entry.findtext(f"{ATOM}title")
            alternate = [
                link.get("href")
                for link in entry.findall(f"{ATOM}link")
                if link.get("rel", "alternate") == "alternate"  # feedgen drops rel here
            ]
            assert [item["url"]] == alternate
            # the very strings of the Atom dates, not only the same instants
            assert item["date_published"] == entry.findtext(f"{ATOM}published")
            assert item["date_modified"] == entry.findtext(f"{ATOM}updated")
            assert item["content_html"] == entry.findtext(f"{ATOM}content")
            assert item.get("summary") == entry.findtext(f"{ATOM}summary")
            assert item.get("tags", []) == [c.get("term") for c in entry.findall(f"{ATOM}category")]
            media = entry.find(f"{MEDIA}content")
            assert item.get("image") == (media.get("url") if media is not None else None)
            author = entry.find(f"{ATOM}author")
            if author is None:
                assert "authors" not in item
            else:
                expected = {"name": author.findtext(f"{ATOM}name")}
                if author.findtext(f"{ATOM}uri"):
                    expected["url"] = author.findtext(f"{ATOM}uri")
                assert item["authors"] == [expected]


def test_seed_item_fields(tmp_path: Path) -> None:
    output = build_corpus(tmp_path, "seeds")
    feed = load(output / "topics/natural-language-processing.json")
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["feed_url"] == BASE + "topics/natural-language-processing.json"
    assert feed["home_page_url"] == BASE + "#natural-language-processing"
    assert feed["authors"] == [{"name": "Aggregator", "url": BASE}]
    assert [i["title"] for i in feed["items"]] == [
        "Privacy, Civil Rights Groups Plan Facial Recognition Offensive",
        "Democrats and civil liberties groups back law banning facial recognition across the US",
    ]
    item = feed["items"][1]
    assert item["id"] == (
        "https://thenextweb.com/neural/2020/06/26/"
        "democrats-and-civil-liberties-groups-back-law-banning-facial-recognition-across-the-us"
    )
    assert item["date_published"] == "2020-06-26T12:46:00+00:00"
    assert item["date_modified"].startswith("2020-06-26T12:46:00.")
    image = "https://cdn0.tnwcdn.com/wp-content/blogs.dir/1/files/2020/06/Untitled-design-85-796x417.png"
    assert item["image"] == image
    assert f'<img src="{image}"' in item["content_html"]
    assert "Related coverage" in item["content_html"]
    assert item["summary"].startswith("New legislation that would ban police use")
    assert item["authors"] == [{"name": "The Next Web", "url": "https://thenextweb.com/"}]
    assert item["tags"] == ["Natural Language Processing", "AI", "Computer Vision"]


def test_hub_is_named_in_json_feeds(tmp_path: Path) -> None:
    output = build_corpus(tmp_path, "seeds", websub_hub="https://hub.example/")
    for path in json_feeds(output):
        assert load(path)["hubs"] == [{"type": "WebSub", "url": "https://hub.example/"}]


def test_retired_and_empty_json_feeds_stay_valid(tmp_path: Path) -> None:
    source = tmp_path / "src"
    write_article(source, "a.md", n=1, topics=["AI", "Robots"])
    config = Config(sources=(source,), output=tmp_path / "out", base_url=BASE)
    build(config, now=NOW)
    write_article(source, "a.md", n=1, topics=["AI", "Robots"], published=False)
    report = build(config, now=NOW)
    assert {(f.path, f.entries) for f in report.feeds if f.format == "json"} == {
        ("all.json", 0),
        ("topics/ai.json", 0),
        ("topics/robots.json", 0),
    }
    for name, title in (
        ("all.json", "Aggregator: all topics"),
        ("topics/robots.json", "Aggregator: Robots"),
    ):
        data = (tmp_path / "out" / name).read_bytes()
        assert json_feed_problems(data, BASE + name) == []
        assert (load(tmp_path / "out" / name)["title"], load(tmp_path / "out" / name)["items"]) == (
            title,
            [],
        )
    # a further run leaves the emptied feeds as they are, and the topic's file deleted too
    (source / "a.md").unlink()
    again = build(config, now=NOW)
    assert not any(f.changed for f in again.feeds if f.format == "json")
    assert load(tmp_path / "out/topics/robots.json")["items"] == []


def test_a_json_feed_is_the_same_bytes_with_orjson_or_without(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # orjson (the `fast` extra, which the tests install) writes the feeds when it is
    # installed; the stdlib otherwise. A user who adds or drops the extra gets the same
    # files: nothing is rewritten, no reader sees an entry change.
    assert fastjson.ORJSON is not None
    source = tmp_path / "src"
    shutil.copytree(corpus_source("seeds", tmp_path), source)
    odd = [
        'Quotes " and \\ backslashes / slashes',
        "Line\u2028and paragraph\u2029separators, \u00a0no-break space",
        "Emoji \U0001f600, CJK \u4e2d\u6587, RTL \u05e9\u05dc\u05d5\u05dd \u200f",
        "Tab\tand &amp; <b>markup</b> &#x1F600;",
    ]
    for n, title in enumerate(odd, 1):
        write_article(source, f"odd-{n}.md", n=n, title=title, excerpt=title * 3)
    written = {}
    for name in ("fast", "plain"):
        if name == "plain":
            monkeypatch.setattr(fastjson, "ORJSON", None)
        output = tmp_path / name
        config = Config(sources=(source,), output=output, base_url=BASE, links="off")
        build(config, now=NOW)
        written[name] = {p.relative_to(output): p.read_bytes() for p in json_feeds(output)}
    assert len(written["fast"]) >= 3 and written["fast"] == written["plain"]
    titles = {item["title"] for item in load(tmp_path / "fast" / "all.json")["items"]}
    assert "Emoji \U0001f600, CJK \u4e2d\u6587, RTL \u05e9\u05dc\u05d5\u05dd \u200f" in titles


def test_orjson_writes_every_character_and_nesting_as_json_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    values: list[Any] = [{}, [], {"a": []}, {"a": {}}, [[], [[]], {"x": [{"y": []}]}]]
    # every code point but the surrogates, in keys and values, 512 to a string
    for start in range(0, 0x110000, 512):
        text = "".join(chr(c) for c in range(start, start + 512) if not 0xD800 <= c <= 0xDFFF)
        values.append({"k" + text: [text, {text: ""}], "": [text[:1]]})
    fast = [fastjson.indented(v) for v in values]
    monkeypatch.setattr(fastjson, "ORJSON", None)
    plain = [fastjson.indented(v) for v in values]
    nested = b'[\n  [],\n  [\n    []\n  ],\n  {\n    "x": [\n      {\n        "y": []\n'
    assert plain[4] == nested + b"      }\n    ]\n  }\n]\n"
    for value, a, b in zip(values, fast, plain, strict=True):
        assert a == b, repr(value)[:200]
    # a lone surrogate is refused by both, as it was before
    for orjson in (None, ORJSON):
        monkeypatch.setattr(fastjson, "ORJSON", orjson)
        with pytest.raises(UnicodeEncodeError):
            fastjson.indented({"title": "lone \ud800"})


def test_the_schema_catches_what_breaks_the_specification() -> None:
    """The checks fail when they should: each broken feed is refused for its reason."""
    good: dict[str, Any] = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "T",
        "feed_url": "https://x.example/f.json",
        "items": [{"id": "1", "content_text": "a", "date_published": "2021-01-01T00:00:00Z"}],
    }

    def problems(**changes: Any) -> list[str]:
        feed = json.loads(json.dumps(good))
        item = changes.pop("item", None)
        feed.update(changes)
        if item is not None:
            feed["items"] = [item]
        return json_feed_problems(json.dumps(feed, indent=2).encode(), "https://x.example/f.json")

    assert problems() == []
    assert problems(version="https://jsonfeed.org/version/1")
    assert problems(items=None)
    assert problems(item={"content_text": "no id"})
    assert problems(item={"id": "1"})  # neither content_html nor content_text
    assert problems(item={"id": 1, "content_text": "id not a string"})
    assert problems(item={"id": "1", "content_text": "a", "date_published": "2021-01-01"})
    assert problems(item={"id": "1", "content_text": "a", "title": "<b>bold</b>"})
    assert problems(item={"id": "1", "content_text": "a", "tags": "one"})
    assert problems(authors=[{}])
    assert problems(hubs=[{"type": "WebSub"}])
    assert problems(unknown_key=1)
    assert problems(**{"_ext.with.dot": 1})
    assert problems(**{"_ext": {"about": "an extension"}}) == []
    assert problems(feed_url="https://x.example/other.json")
    assert problems(items=[{"id": "1", "content_text": "a"}, {"id": "1", "content_text": "b"}])
    assert problems(language="not a tag")


@pytest.mark.e2e
def test_json_feeds_are_served_as_feed_json_with_etag_and_gzip(tmp_path: Path) -> None:
    output = build_corpus(tmp_path, "seeds")
    server = Server(FeedApp(output), "127.0.0.1", 0).start()
    try:

        def get(headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            try:
                conn.request("GET", "/topics/ai.json", headers=headers)
                response = conn.getresponse()
                headers = {k.lower(): v for k, v in response.getheaders()}
                return response.status, headers, response.read()
            finally:
                conn.close()

        status, headers, body = get({})
        assert status == 200
        assert headers["content-type"] == "application/feed+json; charset=utf-8"
        assert body == (output / "topics/ai.json").read_bytes()
        status, _, _ = get({"If-None-Match": headers["etag"]})
        assert status == 304
        status, zipped, body = get({"Accept-Encoding": "gzip"})
        assert zipped["content-encoding"] == "gzip"
        assert gzip.decompress(body) == (output / "topics/ai.json").read_bytes()
    finally:
        server.close()


def test_opml_and_index_page_list_the_json_feeds(tmp_path: Path) -> None:
    output = build_corpus(tmp_path, "seeds")
    stems = ["all", "topics/ai", "topics/computer-vision", "topics/natural-language-processing"]
    urls = [f"{BASE}{stem}.json" for stem in stems]
    every = ElementTree.parse(output / "feeds.opml").getroot()
    folders = {o.get("text"): o for o in every.findall("body/outline")}
    assert list(folders) == ["RSS 2.0", "Atom 1.0", "JSON Feed 1.1"]
    assert [o.get("xmlUrl") for o in folders["JSON Feed 1.1"]] == urls
    assert {o.get("type") for o in folders["JSON Feed 1.1"]} == {"rss"}
    alone = ElementTree.parse(output / "json.opml").getroot()
    assert [o.get("xmlUrl") for o in alone.iter("outline")] == urls
    index = (output / "index.html").read_text(encoding="utf-8")
    head, _, body = index.partition("</head>")
    for url in urls:
        link = f'<link rel="alternate" type="application/feed+json" title="[^"]+" href="{url}">'
        assert re.search(re.escape(link).replace(re.escape('[^"]+'), '[^"]+'), head), url
    for url in urls[1:]:  # a subscribe link on every topic
        start = rf'<a href="{re.escape(url)}" type="application/feed\+json">'
        link = start + r"(<[^>]*>[^<]*</span>)?JSON Feed"
        assert re.search(link, body), url
