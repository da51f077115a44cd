"""Reader compatibility: every feed we publish (RSS, Atom, JSON Feed) is read the same
by two parsers written apart from each other, and shows its image to every kind of
reader.

The parsers: feedparser (Python; the one most Python readers use) and feedsmith
(Node.js, from the npm registry; its own XML parser and its own JSON Feed reader).
feedparser 6 does not read JSON Feed, so a JSON Feed is read on the Python side as the
JSON that the JSON Feed 1.1 checks of `feedcheck.py` passed. feedsmith is installed
into tests/readers/node_modules from the versions pinned in tests/readers/package-lock.json
by `.ci/run` (locally: `npm ci` in tests/readers); without Node.js or feedsmith the tests
skip and say why.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import asdict
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from pathlib import Path
from time import struct_time
from typing import Any

import feedparser
import pytest
from conftest import CORPORA
from conftest import NOW
from conftest import ROOT
from conftest import corpus_source
from feedcheck import json_feed_problems

from aggregator.config import Config
from aggregator.engine.pipeline import build
from aggregator.rendering.feeds import entry_id
from aggregator.sources.loader import find_files
from aggregator.sources.loader import load_all

READERS = ROOT / "tests" / "readers"
FORMATS = ("rss", "atom", "json")
IMG = re.compile(r"""<img\b[^>]*?\bsrc=["']([^"']*)["']""")
#: what an image looks like to each kind of reader
IMAGE_SOURCES = ("media_content", "media_thumbnail", "enclosure", "content_img")


@dataclass(frozen=True)
class Seen:
    """One entry as a reader shows it."""

    id: str | None
    title: str | None
    link: str | None
    #: UTC, to the second (the precision of RSS dates), as 2021-01-31T12:00:00Z
    published: str | None
    #: Atom `updated` and JSON Feed `date_modified`; None in RSS, which has no such date
    updated: str | None
    author: str | None
    tags: list[str]
    #: image URLs by where a reader finds them
    media_content: list[str]
    media_thumbnail: list[str]
    enclosure: list[str]
    content_img: list[str]
    #: JSON Feed `image`
    image: str | None


Reader = Callable[[list[Path]], dict[str, dict[str, Any]]]


@pytest.fixture(scope="session")
def feedsmith() -> Reader:
    """Read feeds with feedsmith under Node.js; the tests skip without them."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is needed for the second parser (feedsmith); `node` not on PATH")
    if not (READERS / "node_modules" / "feedsmith" / "package.json").is_file():
        pytest.skip(
            f"feedsmith is not installed in {READERS / 'node_modules'}: "
            "run `npm ci` in tests/readers (`.ci/run` does)"
        )

    def read(paths: list[Path]) -> dict[str, dict[str, Any]]:
        result = subprocess.run(
            [node, str(READERS / "read.mjs"), *map(str, paths)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        data: dict[str, dict[str, Any]] = json.loads(result.stdout)
        return data

    return read


# --- the first reading: feedparser, or the checked JSON ------------------------------


def _second(parsed: struct_time | None) -> str | None:
    return None if parsed is None else datetime(*parsed[:6], tzinfo=UTC).strftime("%FT%TZ")


def _iso_second(text: str | None) -> str | None:
    if text is None:
        return None
    return datetime.fromisoformat(text).astimezone(UTC).strftime("%FT%TZ")


def _images(content: str) -> list[str]:
    return [html.unescape(src) for src in IMG.findall(content)]


def first_reading(path: Path) -> tuple[str, list[Seen]]:
    """Title and entries of a feed: by feedparser (RSS, Atom), or from the JSON."""
    if path.suffix == ".json":
        assert json_feed_problems(path.read_bytes()) == [], path
        feed = json.loads(path.read_bytes())
        return feed["title"], [
            Seen(
                id=item["id"],
                title=item.get("title"),
                link=item.get("url"),
                published=_iso_second(item.get("date_published")),
                updated=_iso_second(item.get("date_modified")),
                author=item["authors"][0]["name"] if item.get("authors") else None,
                tags=item.get("tags", []),
                media_content=[],
                media_thumbnail=[],
                enclosure=[],
                content_img=_images(item.get("content_html", "")),
                image=item.get("image"),
            )
            for item in feed["items"]
        ]
    parsed = feedparser.parse(path.read_bytes())
    assert not parsed.bozo, (path, parsed.get("bozo_exception"))
    atom = parsed.version.startswith("atom")
    assert parsed.version == ("atom10" if atom else "rss20"), path
    return parsed.feed.title, [
        Seen(
            id=entry.id,
            title=entry.title,
            link=entry.link,
            published=_second(entry.published_parsed),
            updated=_second(entry.updated_parsed) if atom else None,
            author=entry.get("author"),
            tags=[tag.term for tag in entry.get("tags", [])],
            media_content=[media["url"] for media in entry.get("media_content", [])],
            media_thumbnail=[media["url"] for media in entry.get("media_thumbnail", [])],
            enclosure=[enclosure.href for enclosure in entry.get("enclosures", [])],
            # a reader shows the content, else the description/summary (which is where
            # RSS carries the HTML of an entry that has no excerpt)
            content_img=_images(
                entry.content[0].value if "content" in entry else entry.get("summary", "")
            ),
            image=None,
        )
        for entry in parsed.entries
    ]


# --- the corpora ---------------------------------------------------------------------


def build_corpus(tmp_path: Path, name: str) -> tuple[Path, dict[str, set[str | None]]]:
    """The feeds of a corpus (everything published), and for each entry id the first
    image of the files that tell that story (None for a file without one)."""
    source = corpus_source(name, tmp_path)
    output = tmp_path / "feeds"
    config = Config(
        sources=(source,),
        output=output,
        include_unpublished=True,
        min_quality=0,
        limit=1000,
        links="off",
    )
    build(config, now=NOW)
    images: dict[str, set[str | None]] = {}
    articles, _errors = load_all(find_files(config.sources, config.patterns), workers=1)
    for article in articles:
        image = article.images[0].url if article.images else None
        images.setdefault(entry_id(article), set()).add(image)
    return output, images


@pytest.mark.e2e
@pytest.mark.parametrize("corpus_name", CORPORA)
def test_two_parsers_read_every_feed_alike(
    tmp_path: Path, corpus_name: str, feedsmith: Reader
) -> None:
    output, _images = build_corpus(tmp_path, corpus_name)
    paths = sorted(p for ext in FORMATS for p in output.rglob(f"*.{ext}"))
    assert len(paths) >= 6
    second = feedsmith(paths)
    for path in paths:
        title, entries = first_reading(path)
        other = second[str(path)]
        assert other["format"] == path.suffix[1:], path
        assert other["title"] == title, path
        assert [Seen(**e) for e in other["entries"]] == entries, path


@pytest.mark.e2e
@pytest.mark.parametrize("corpus_name", CORPORA)
def test_every_format_holds_the_same_entries_and_every_reader_finds_the_image(
    tmp_path: Path, corpus_name: str
) -> None:
    output, images = build_corpus(tmp_path, corpus_name)
    stems = sorted(p.with_suffix("") for p in output.rglob("*.atom"))
    with_image = 0
    for stem in stems:
        readings = {ext: first_reading(stem.with_suffix(f".{ext}"))[1] for ext in FORMATS}
        rss, atom, feed = readings["rss"], readings["atom"], readings["json"]
        assert len(rss) == len(atom) == len(feed) > 0, stem
        for field in ("id", "title", "link", "published", "author", "tags"):
            values = [[asdict(entry)[field] for entry in readings[ext]] for ext in FORMATS]
            assert values[0] == values[1] == values[2], (stem, field)
        assert [e.updated for e in atom] == [e.updated for e in feed], stem
        for entry in rss + atom:
            assert entry.id in images, (stem, entry.id)
            (image,) = {
                getattr(entry, source)[0] if getattr(entry, source) else None
                for source in IMAGE_SOURCES
            }  # every source names one image, the same
            assert image in images[entry.id], (stem, entry.id, image)
            if image is not None:
                with_image += 1
                for source in IMAGE_SOURCES:
                    assert getattr(entry, source) == [image], (stem, entry.id, source)
        for item, entry in zip(feed, atom, strict=True):
            assert item.image == (entry.enclosure[0] if entry.enclosure else None), stem
            assert item.content_img == entry.content_img, stem
    assert with_image > 0  # the corpus has images, so the checks above checked some
