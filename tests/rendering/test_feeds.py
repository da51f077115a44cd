"""The feeds a subscriber gets: which entries, in which order, with what in them."""

from __future__ import annotations

import dataclasses
import html
import itertools
import json
import os
import random
import re
import time
import xml.etree.ElementTree as ElementTree
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from email.utils import parsedate_to_datetime
from pathlib import Path

import feedparser
import pytest
from conftest import CORPORA
from conftest import NOW
from conftest import SEEDS
from conftest import corpus_source
from conftest import write_article
from conftest import write_varied_corpus
from w3c import needs_validator
from w3c import validate_folder

from aggregator.config import Config
from aggregator.config import load_config
from aggregator.engine.pipeline import build
from aggregator.links.linkpolicy import LinkCheckSettings
from aggregator.model import Article
from aggregator.model import FeedFormat
from aggregator.publishing.output import Output
from aggregator.publishing.publish import feed_order
from aggregator.rendering import feeds
from aggregator.rendering.feeds import FORMATS
from aggregator.rendering.feeds import FeedSpec
from aggregator.rendering.feeds import Site
from aggregator.rendering.feeds import entry_dates
from aggregator.rendering.feeds import entry_updated
from aggregator.sources.loader import load_file
from aggregator.stories.dedupe import with_keys

SEED_TITLES = {
    "000": "Dozens of advocacy groups push for Congress to ban facial recognition technology",
    "001": "Democrats and civil liberties groups back law banning facial recognition across the US",
    "002": "Privacy, Civil Rights Groups Plan Facial Recognition Offensive",
    "003": "Civil rights groups ask Biden administration to oppose facial recognition",
    "004": "Human and civil rights groups call for ban on police facial recognition technology",
}


def seed_build(tmp_path: Path, **settings: object) -> Path:
    output = tmp_path / "feeds"
    config = Config(sources=(SEEDS,), output=output, **settings)  # type: ignore[arg-type]
    build(config, now=NOW)
    return output


def titles(path: Path) -> list[str]:
    parsed = feedparser.parse(path.read_bytes())
    assert not parsed.bozo, parsed.get("bozo_exception")
    return [entry.title for entry in parsed.entries]


@pytest.mark.parametrize("ext", ["rss", "atom"])
def test_seed_feeds_with_everything_included(tmp_path: Path, ext: str) -> None:
    feeds = seed_build(tmp_path, include_unpublished=True, min_quality=0)
    newest_first = [SEED_TITLES[n] for n in ("004", "003", "002", "000", "001")]
    assert titles(feeds / "topics" / f"ai.{ext}") == newest_first
    assert titles(feeds / "topics" / f"computer-vision.{ext}") == newest_first
    assert titles(feeds / "topics" / f"natural-language-processing.{ext}") == [
        SEED_TITLES["002"],
        SEED_TITLES["001"],
    ]
    assert titles(feeds / f"all.{ext}") == newest_first


def test_seed_feeds_with_defaults_publish_only_seed_001(tmp_path: Path) -> None:
    feeds = seed_build(tmp_path)
    for name in (
        "all",
        "topics/ai",
        "topics/computer-vision",
        "topics/natural-language-processing",
    ):
        for ext in ("rss", "atom"):
            assert titles(feeds / f"{name}.{ext}") == [SEED_TITLES["001"]], name


def test_seed_entry_fields(tmp_path: Path) -> None:
    feeds = seed_build(tmp_path, include_unpublished=True, min_quality=0)
    seed = load_file(next(SEEDS.glob("001_*")))
    assert isinstance(seed, Article)
    for ext in ("rss", "atom"):
        parsed = feedparser.parse(
            (feeds / f"topics/natural-language-processing.{ext}").read_bytes()
        )
        entry = next(e for e in parsed.entries if e.title == SEED_TITLES["001"])
        assert entry.link == seed.link
        # the id is the canonical URL: https, no www., no trailing slash
        assert entry.id == (
            "https://thenextweb.com/neural/2020/06/26/"
            "democrats-and-civil-liberties-groups-back-law-banning-facial-recognition-across-the-us"
        )
        assert datetime(*entry.published_parsed[:6], tzinfo=UTC) == datetime(
            2020, 6, 26, 12, 46, tzinfo=UTC
        )
        assert entry.summary.startswith("New legislation that would ban police use")
        assert {t.term for t in entry.tags} == {
            "Natural Language Processing",
            "AI",
            "Computer Vision",
        }
        assert entry.author == "The Next Web"
        image = "https://cdn0.tnwcdn.com/wp-content/blogs.dir/1/files/2020/06/Untitled-design-85-796x417.png"
        assert [(e.href, e.type) for e in entry.enclosures] == [(image, "image/png")]
        assert entry.media_thumbnail[0]["url"] == image
        assert entry.media_content[0]["url"] == image
        content = entry.content[0].value
        assert re.search(f'<img [^>]*src="{re.escape(image)}"', content)
        assert "The Next Web" in content
        assert "Related coverage" in content
        assert "Boston bans police from using facial recognition technology" in content
        assert (
            'href="https://www.foxnews.com/tech/boston-bans-police-facial-recognition-technology"'
            in content
        )


def test_feed_metadata(tmp_path: Path) -> None:
    feeds = seed_build(
        tmp_path, include_unpublished=True, min_quality=0, base_url="https://news.example.org/ai/"
    )
    rss = feedparser.parse((feeds / "topics/computer-vision.rss").read_bytes())
    atom = feedparser.parse((feeds / "topics/computer-vision.atom").read_bytes())
    for parsed, ext, mime in (
        (rss, "rss", "application/rss+xml"),
        (atom, "atom", "application/atom+xml"),
    ):
        feed = parsed.feed
        assert feed.title == "Aggregator: Computer Vision"
        assert feed.language == "en"
        self_links = [link.href for link in feed.links if link.rel == "self"]
        assert self_links == [f"https://news.example.org/ai/topics/computer-vision.{ext}"]
        assert [link.type for link in feed.links if link.rel == "self"] == [mime]
        assert feed.link == "https://news.example.org/ai/#computer-vision"
        assert "aggregator" in feed.generator
        # updated = the newest entry (seed 004), never the build time
        assert feed.updated_parsed[:5] == (2021, 6, 3, 21, 51)
    assert atom.feed.id == "https://news.example.org/ai/topics/computer-vision.atom"


def test_entry_updated_is_the_article_date_and_unique(tmp_path: Path) -> None:
    source = tmp_path / "src"
    same = datetime(2021, 5, 1, 9, 30, tzinfo=UTC)
    for n in range(1, 6):
        write_article(source, f"{n}.md", n=n, publishedDateTime=same)
    config = Config(sources=(source,), output=tmp_path / "out")
    build(config, now=NOW)
    parsed = feedparser.parse((tmp_path / "out/all.atom").read_bytes())
    updated = [e.updated for e in parsed.entries]
    assert len(set(updated)) == 5
    for entry in parsed.entries:
        assert entry.published_parsed[:6] == (2021, 5, 1, 9, 30, 0)
        assert entry.updated_parsed[:5] == (2021, 5, 1, 9, 30)


def test_entry_updated_depends_on_the_article_only() -> None:
    article = load_file(next(SEEDS.glob("001_*")))
    assert isinstance(article, Article)
    assert entry_updated(article) == entry_updated(article)
    assert 0 <= (entry_updated(article) - article.published_at).total_seconds() < 1


def listed_dates(path: Path) -> tuple[datetime | None, list[tuple[str, datetime, datetime]]]:
    """A feed's date (none in a JSON Feed) and, in the order the feed lists them, each
    entry's id, published and updated dates as written (RSS: the publish date twice,
    to the second, and `lastBuildDate`)."""
    data = path.read_bytes()
    if path.suffix == ".json":
        items = json.loads(data)["items"]
        return None, [
            (i["id"], *map(datetime.fromisoformat, (i["date_published"], i["date_modified"])))
            for i in items
        ]
    root = ElementTree.fromstring(data)
    if path.suffix == ".atom":
        atom = "{http://www.w3.org/2005/Atom}"
        dates = [
            (e.findtext(f"{atom}id"), e.findtext(f"{atom}published"), e.findtext(f"{atom}updated"))
            for e in root.iter(f"{atom}entry")
        ]
        updated = datetime.fromisoformat(root.findtext(f"{atom}updated") or "")
        return updated, [
            (str(id_), datetime.fromisoformat(str(p)), datetime.fromisoformat(str(u)))
            for id_, p, u in dates
        ]
    items = [(i.findtext("guid"), i.findtext("pubDate")) for i in root.iter("item")]
    built = parsedate_to_datetime(root.findtext("channel/lastBuildDate") or "")
    return built, [
        (str(g), parsedate_to_datetime(str(d)), parsedate_to_datetime(str(d))) for g, d in items
    ]


def test_entries_published_at_once_are_listed_in_the_order_of_their_written_dates(
    tmp_path: Path,
) -> None:
    """Files alike but for their URL and title, published in the same second, and others
    published fractions of a second apart: in every feed and format, the entries are
    listed newest first by the dates the feed writes (Atom `updated`, JSON Feed
    `date_modified`, which fall down the feed; the published dates never rise), alike
    in every format, with the feed's date the first entry's; an incremental build after
    one more lands in the same second and another goes writes the cold build's bytes."""
    source = tmp_path / "src"
    same = datetime(2021, 2, 8, tzinfo=UTC)

    def write(name: str, when: datetime) -> None:
        write_article(
            source, f"{name}.md", n=1, title=f"Story {name}",
            webUrl=f"https://news.example.com/{name}", publishedDateTime=when,
            topics=["AI", "Robots"] if name in "aceg" else ["AI"],
        )  # fmt: skip

    for name in "abcd":
        write(name, same)
    for n, name in enumerate("efghijkl", 1):  # a microsecond apart, a second later
        write(name, same + timedelta(seconds=1, microseconds=n))
    aged = time.time() - 60  # older than the racy window, as a real corpus's files are
    for path in source.iterdir():
        os.utime(path, (aged, aged))

    def check(folder: Path) -> None:
        for stem in ("all", "topics/ai", "topics/robots"):
            atom_updated, atom = listed_dates(folder / f"{stem}.atom")
            rss_updated, rss = listed_dates(folder / f"{stem}.rss")
            _, jsonfeed = listed_dates(folder / f"{stem}.json")
            assert atom == jsonfeed, stem
            assert [e[:2] for e in rss] == [(i, p.replace(microsecond=0)) for i, p, _ in atom]
            published = [p for _, p, _ in atom]
            assert published == sorted(published, reverse=True), stem
            dates = [u for _, _, u in atom]
            assert all(a > b for a, b in itertools.pairwise(dates)), (stem, atom)
            assert atom_updated == dates[0]
            assert rss_updated == dates[0].replace(microsecond=0)

    config = Config(sources=(source,), output=tmp_path / "out", links="off", limit=10)
    build(config, now=NOW)
    check(tmp_path / "out")
    ties = [e for e in listed_dates(tmp_path / "out/all.json")[1] if e[1] == same]
    assert len(ties) == 2  # the limit cuts through the four published at once
    write("m", same)
    (source / "b.md").unlink()
    os.utime(source / "m.md", (aged, aged))
    assert build(config, now=NOW).mode == "incremental"
    check(tmp_path / "out")
    build(dataclasses.replace(config, output=tmp_path / "cold"), now=NOW)
    written = {
        p.relative_to(tmp_path / "out"): p.read_bytes() for p in (tmp_path / "out").rglob("*.*")
    }
    cold = {
        p.relative_to(tmp_path / "cold"): p.read_bytes() for p in (tmp_path / "cold").rglob("*.*")
    }
    assert written == cold


def test_limit_keeps_the_newest(tmp_path: Path) -> None:
    source = tmp_path / "src"
    for n in range(1, 11):
        write_article(source, f"{n:02}.md", n=n)
    build(Config(sources=(source,), output=tmp_path / "out", limit=3), now=NOW)
    assert titles(tmp_path / "out/topics/ai.rss") == [
        "Story number 10",
        "Story number 9",
        "Story number 8",
    ]


HOSTILE = '<script>alert("x")</script><img src=x onerror="alert(1)"><style>p{}</style>Real words'


def test_html_from_input_never_reaches_a_reader(tmp_path: Path) -> None:
    source = tmp_path / "src"
    write_article(
        source,
        "hostile.md",
        title='Title <iframe src="https://evil.example/"></iframe> here',
        excerpt=HOSTILE,
        featuredContent='<iframe src="https://evil.example/embed" onload="alert(2)"></iframe>',
        related=[
            {
                "title": "<script>bad()</script>Other story",
                "webUrl": "https://other.example.com/a",
                "publishedDateTime": datetime(2021, 1, 1, tzinfo=UTC),
            },
            {"title": "Not a web link", "webUrl": "javascript:alert(3)"},
        ],
    )
    build(Config(sources=(source,), output=tmp_path / "out"), now=NOW)
    for name in ("all.rss", "all.atom", "topics/ai.rss", "topics/ai.atom"):
        parsed = feedparser.parse((tmp_path / "out" / name).read_bytes())
        assert not parsed.bozo
        (entry,) = parsed.entries
        # feedparser sanitises too, so check the raw decoded HTML of the file.
        raw = html.unescape((tmp_path / "out" / name).read_text(encoding="utf-8")).lower()
        for bad in ("<script", "<iframe", "<style", "onerror", "onload", "javascript:"):
            assert bad not in raw, (name, bad)
        assert "Real words" in entry.summary
        assert entry.title == "Title here"
        assert "Other story" in entry.content[0].value


ATOM = "{http://www.w3.org/2005/Atom}"


def test_an_excerpt_only_entry_without_an_excerpt_has_its_title_as_text(
    tmp_path: Path,
) -> None:
    # The excerpt is optional: an entry of `content: excerpt` without one would carry no
    # text at all (the W3C validator: "Missing textual content").
    source = tmp_path / "src"
    write_article(source, "bare.md", n=1, title="A story told in its title", excerpt=None)
    write_article(source, "told.md", n=2, title="Another story", excerpt="What happened.")
    output = tmp_path / "out"
    build(Config(sources=(source,), output=output, content="excerpt"), now=NOW)
    for name in ("all", "topics/ai"):
        atom = ElementTree.parse(output / f"{name}.atom").getroot()
        summaries = {
            e.findtext(f"{ATOM}title"): e.findtext(f"{ATOM}summary")
            for e in atom.iter(f"{ATOM}entry")
        }
        assert summaries == {
            "Another story": "What happened.",
            "A story told in its title": "A story told in its title",
        }, name
        assert not list(atom.iter(f"{ATOM}content")), name
        rss = ElementTree.parse(output / f"{name}.rss").getroot()
        descriptions = {i.findtext("title"): i.findtext("description") for i in rss.iter("item")}
        assert descriptions == {
            "Another story": "What happened.",
            "A story told in its title": "A story told in its title",
        }, name
        items = json.loads((output / f"{name}.json").read_bytes())["items"]
        assert {i["title"]: i["content_text"] for i in items} == summaries, name


def test_an_rss_image_is_a_gif_jpeg_or_png(tmp_path: Path) -> None:
    # RSS 2.0: the channel image is a GIF, JPEG or PNG (the W3C validator: "Image not
    # in required format"); Atom and JSON Feed take any.
    source = tmp_path / "src"
    write_article(source, "a.md", topics=["AI", "Robots", "Chips", "Space"])
    (tmp_path / "aggregator.yaml").write_text(
        "sources: [src]\n"
        "output: out\n"
        "icon: https://example.org/favicon.ico\n"
        "logo: https://example.org/wide.SVG\n"
        "topics:\n"
        "  Robots:\n"
        "    logo: https://example.org/robots.webp?v=2\n"
        "    icon: https://example.org/robots.PNG\n"
        "  Chips:\n"
        "    logo: https://example.org/chips.Jpeg\n"
        "  Space:\n"
        "    logo: https://example.org/space/logo\n",
        encoding="utf-8",
    )
    build(load_config(tmp_path / "aggregator.yaml"), now=NOW)
    output = tmp_path / "out"
    expected = {
        "all": None,
        "topics/ai": None,
        "topics/robots": "https://example.org/robots.PNG",
        "topics/chips": "https://example.org/chips.Jpeg",
        "topics/space": "https://example.org/space/logo",
    }
    for name, image in expected.items():
        channel = ElementTree.parse(output / f"{name}.rss").getroot().find("channel")
        assert channel is not None
        assert channel.findtext("image/url") == image, name
        assert len(channel.findall("image")) == (image is not None), name
    # The icon and logo stay where the format takes any image.
    atom = ElementTree.parse(output / "topics/ai.atom").getroot()
    assert atom.findtext(f"{ATOM}icon") == "https://example.org/favicon.ico"
    assert atom.findtext(f"{ATOM}logo") == "https://example.org/wide.SVG"
    robots = ElementTree.parse(output / "topics/robots.atom").getroot()
    assert robots.findtext(f"{ATOM}logo") == "https://example.org/robots.webp?v=2"
    assert json.loads((output / "all.json").read_bytes())["icon"] == (
        "https://example.org/favicon.ico"
    )


#: Unicode noncharacters of each kind: HTML takes none (the W3C validator: "Invalid
#: HTML"; html5lib: "invalid-codepoint"), XML 1.0 none of the U+FFFE and U+FFFF
NONCHARACTERS = "\ufdd0\ufdef\ufffe\uffff\U0001fffe\U0001ffff\U0008fffe\U0010fffe\U0010ffff"


def noncharacters(text: str) -> list[str]:
    """The noncharacters in `text`."""
    return [c for c in text if 0xFDD0 <= ord(c) <= 0xFDEF or ord(c) & 0xFFFE == 0xFFFE]


def test_no_noncharacter_reaches_a_feed_or_the_index_page(tmp_path: Path) -> None:
    def marked(text: str) -> str:
        return text.replace(" ", f" {NONCHARACTERS}", 1) + NONCHARACTERS

    source = tmp_path / "src"
    write_article(
        source,
        "a.md",
        title=marked("Noncharacters in a title"),
        excerpt=marked("And in an excerpt."),
        provider={"name": marked("Odd News"), "domain": "odd.example.com"},
        topics=[marked("Odd topic"), "AI"],
        images=[{"url": "https://img.example.com/1.jpg", "title": marked("A caption")}],
        related=[
            {
                "title": marked("Related story"),
                "webUrl": "https://other.example.com/a",
                "provider": {"name": marked("Other News"), "domain": "other.example.com"},
            }
        ],
    )
    output = tmp_path / "out"
    build(Config(sources=(source,), output=output, include_unpublished=True), now=NOW)
    names = ["index.html", "feeds.opml"]
    names += [p.relative_to(output).as_posix() for p in output.glob("*/*.*")]
    names += [p.name for p in output.glob("*.rss")] + [p.name for p in output.glob("*.atom")]
    names += [p.name for p in output.glob("*.json")]
    assert {"all.rss", "all.atom", "all.json"} <= set(names), names
    assert len([n for n in names if n.startswith("topics/")]) == 6, names  # 2 topics
    for name in names:
        text = (output / name).read_text(encoding="utf-8")
        assert not noncharacters(text), name
    # Each text is there without them.
    atom = (output / "all.atom").read_text(encoding="utf-8")
    for shown in (
        "Noncharacters in a title",
        "And in an excerpt.",
        "Odd News",
        "Odd topic",
        "A caption",
        "Related story",
        "Other News",
    ):
        assert shown in atom, shown
    assert "Noncharacters in a title" in (output / "index.html").read_text(encoding="utf-8")


def test_topics_with_symbols_and_non_ascii_get_separate_feeds(tmp_path: Path) -> None:
    source = tmp_path / "src"
    names = ["C++", "C#", "C", "Künstliche Intelligenz", "人工知能"]
    for n, topic in enumerate(names, start=1):
        write_article(source, f"{n}.md", n=n, topics=[topic])
    build(Config(sources=(source,), output=tmp_path / "out"), now=NOW)
    rss = sorted((tmp_path / "out/topics").glob("*.rss"))
    assert len(rss) == len(names)
    seen = {feedparser.parse(p.read_bytes()).feed.title for p in rss}
    assert seen == {f"Aggregator: {name}" for name in names}
    for path in rss:
        (entry,) = feedparser.parse(path.read_bytes()).entries
        assert entry.tags[0].term in names


def test_same_input_same_bytes_and_no_rewrite(tmp_path: Path) -> None:
    output = seed_build(tmp_path, include_unpublished=True, min_quality=0)
    first = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in output.rglob("*") if p.is_file()}
    report = build(
        Config(sources=(SEEDS,), output=output, include_unpublished=True, min_quality=0),
        now=datetime(2030, 1, 1, tzinfo=UTC),  # a different clock changes nothing
    )
    assert not any(f.changed for f in report.feeds)
    assert not any(p.changed for p in report.pages)
    second = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in output.rglob("*") if p.is_file()}
    assert first == second


def test_fields_no_feed_shows_change_nothing(tmp_path: Path) -> None:
    source = tmp_path / "src"
    path = write_article(source, "a.md", secured="one", heat=5)
    config = Config(sources=(source,), output=tmp_path / "out")
    build(config, now=NOW)
    before = {p: p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()}
    path.write_text(
        path.read_text().replace("secured: one", "secured: two").replace("heat: 5", "heat: 9")
    )
    report = build(config, now=NOW)
    assert not any(f.changed for f in report.feeds)
    after = {p: p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()}
    assert before == after


def test_topic_that_loses_its_articles_keeps_a_valid_empty_feed(tmp_path: Path) -> None:
    source = tmp_path / "src"
    write_article(source, "a.md", n=1, topics=["AI", "Robots"])
    write_article(source, "b.md", n=2, topics=["AI"])
    config = Config(sources=(source,), output=tmp_path / "out")
    build(config, now=NOW)
    robots = tmp_path / "out/topics/robots.atom"
    old_updated = feedparser.parse(robots.read_bytes()).feed.updated
    write_article(source, "a.md", n=1, topics=["AI"], published=False)
    report = build(config, now=NOW)
    for ext in ("rss", "atom"):
        parsed = feedparser.parse((tmp_path / f"out/topics/robots.{ext}").read_bytes())
        assert not parsed.bozo
        assert parsed.entries == []
        assert parsed.feed.title == "Aggregator: Robots"
    retired_json = json.loads((tmp_path / "out/topics/robots.json").read_bytes())
    assert (retired_json["title"], retired_json["items"]) == ("Aggregator: Robots", [])
    assert feedparser.parse(robots.read_bytes()).feed.updated == old_updated
    assert {(f.path, f.entries) for f in report.feeds if "robots" in f.path} == {
        ("topics/robots.rss", 0),
        ("topics/robots.atom", 0),
        ("topics/robots.json", 0),
    }
    index = (tmp_path / "out/index.html").read_text()
    assert "robots.rss" not in index
    assert "robots.rss" not in (tmp_path / "out/feeds.opml").read_text()
    # and the file deleted altogether: the feed stays valid and empty too
    (source / "a.md").unlink()
    build(config, now=NOW)
    assert feedparser.parse(robots.read_bytes()).entries == []


def test_index_and_opml_list_every_feed(tmp_path: Path) -> None:
    feeds = seed_build(tmp_path, include_unpublished=True, min_quality=0)
    index = (feeds / "index.html").read_text(encoding="utf-8")
    opml = (feeds / "feeds.opml").read_text(encoding="utf-8")
    for stem in (
        "all",
        "topics/ai",
        "topics/computer-vision",
        "topics/natural-language-processing",
    ):
        for ext, mime in (("rss", "application/rss+xml"), ("atom", "application/atom+xml")):
            url = f"http://localhost:8080/{stem}.{ext}"
            assert f'<link rel="alternate" type="{mime}"' in index
            assert f'href="{url}"' in index
            assert f'xmlUrl="{url}"' in opml
    assert (feeds / "rss.opml").read_text().count("xmlUrl=") == 4
    assert (feeds / "atom.opml").read_text().count("xmlUrl=") == 4


def test_unwritable_output_leaves_nothing_half_written(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    output = Output(blocker / "feeds")
    from aggregator.errors import OutputError

    with pytest.raises(OutputError, match="not writable"):
        build(Config(sources=(SEEDS,), output=blocker / "feeds"), now=NOW, output=output)


@needs_validator
@pytest.mark.parametrize("corpus_name", CORPORA)
def test_w3c_validator_finds_no_errors_and_no_warnings(tmp_path: Path, corpus_name: str) -> None:
    source = corpus_source(corpus_name, tmp_path)
    output = tmp_path / "feeds"
    build(
        Config(sources=(source,), output=output, include_unpublished=True, min_quality=0), now=NOW
    )
    _checked, result = validate_folder(output)
    assert result.returncode == 0, result.stdout + result.stderr


def test_all_topics_feed_empties_when_nothing_is_published_any_more(tmp_path: Path) -> None:
    source = tmp_path / "src"
    write_article(source, "a.md")
    config = Config(sources=(source,), output=tmp_path / "out")
    build(config, now=NOW)
    write_article(source, "a.md", published=False)
    report = build(config, now=NOW)
    assert {(f.topic, f.path, f.entries) for f in report.feeds} == {
        (None, "all.rss", 0),
        (None, "all.atom", 0),
        (None, "all.json", 0),
        ("AI", "topics/ai.rss", 0),
        ("AI", "topics/ai.atom", 0),
        ("AI", "topics/ai.json", 0),
    }
    for name in ("all.rss", "all.atom"):
        parsed = feedparser.parse((tmp_path / "out" / name).read_bytes())
        assert not parsed.bozo
        assert parsed.entries == []
    assert "No topic has published articles yet." in (tmp_path / "out/index.html").read_text()


def test_varied_corpus_is_read_alike_in_both_formats(tmp_path: Path) -> None:
    count = write_varied_corpus(tmp_path / "src")
    # The corpus has a link on port 8443, which every build refuses (links off too)
    # unless the port is allowed.
    config = Config(
        sources=(tmp_path / "src",),
        output=tmp_path / "out",
        min_quality=0,
        limit=100,
        links="off",
        link_check=LinkCheckSettings(ports=frozenset({80, 443, 8443})),
    )
    report = build(config, now=NOW)
    assert report.errors == ()
    rss = feedparser.parse((tmp_path / "out/all.rss").read_bytes())
    atom = feedparser.parse((tmp_path / "out/all.atom").read_bytes())
    assert not rss.bozo and not atom.bozo
    assert len(rss.entries) == len(atom.entries) == count
    assert [e.id for e in rss.entries] == [e.id for e in atom.entries]
    assert [e.link for e in rss.entries] == [e.link for e in atom.entries]
    assert [e.title for e in rss.entries] == [e.title for e in atom.entries]
    titles = {e.title for e in rss.entries}
    # anything shaped like a tag is markup and dropped: titles are plain text
    assert 'Q&A: "quotes", brackets & ampersands' in titles
    assert "Entities & été \u2019s" in titles
    assert "Mojibake: Baltimore\u2019s bad idea" in titles
    links = {e.link for e in rss.entries}
    assert "https://xn--bcher-kva.example/stra%C3%9Fe?q=%C3%A4&x=%25" in links
    assert "https://youtube.com/watch?v=abc&t=1" in links
    images = [enc.href for e in rss.entries for enc in e.get("enclosures", [])]
    assert "https://img.example.com/a%20b/%C3%BC.jpg" in images


def documents_rendered(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many entries each document rendered whole from now on holds (`feeds.render`
    renders those it does not keep)."""
    whole = feeds._document
    rendered: list[int] = []

    def counted(
        fmt: FeedFormat, spec: FeedSpec, site: Site, updates: dict[datetime, Article]
    ) -> bytes:
        rendered.append(len(updates))
        return whole(fmt, spec, site, updates)

    monkeypatch.setattr(feeds, "_document", counted)
    return rendered


def test_a_feed_of_entries_rendered_before_has_the_bytes_of_one_rendered_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Feeds of overlapping entries in turn (entries newer, older and between those
    rendered before, shared publish times, both content modes, every format, with and
    without feed images): each has the bytes of the same feed rendered whole, whatever
    was rendered before it, though most of its entries are not rendered again."""
    source = tmp_path / "src"
    write_varied_corpus(source)
    same = datetime(2022, 3, 1, 8, 0, tzinfo=UTC)  # updated dates a microsecond apart
    for n in range(6):
        write_article(source, f"same-{n}.md", n=100 + n, publishedDateTime=same)
    loaded = [load_file(p) for p in sorted(source.glob("*.md")) + sorted(SEEDS.glob("*.txt"))]
    articles = [with_keys(a) for a in loaded if isinstance(a, Article)]
    assert len(articles) > 20
    site = Site("https://feeds.example.com/", "Site", "About", "en")
    specs = [
        FeedSpec(None, "all", "All", "Every topic", "https://feeds.example.com/"),
        FeedSpec(
            "AI", "topics/ai", "AI", "On AI", "https://feeds.example.com/#ai", content="excerpt"
        ),
        FeedSpec(
            "C++", "topics/c", "C & C++ <news>", "On C", "https://feeds.example.com/#c",
            icon="https://feeds.example.com/icon.png", logo="https://feeds.example.com/logo.png",
        ),
    ]  # fmt: skip
    whole = feeds._document
    rendered = documents_rendered(monkeypatch)
    monkeypatch.setattr(feeds, "_ENTRIES", feeds._Kept(8 << 20, 64 << 10))
    chosen = random.Random(19)
    asked = 0
    for _ in range(60):
        entries = chosen.sample(articles, chosen.randint(1, len(articles)))
        entries.sort(key=feed_order)
        spec = chosen.choice(specs)
        for fmt in FORMATS:
            data = feeds.render(fmt, spec, site, entries)
            assert data == whole(fmt, spec, site, entry_dates(entries)), (fmt, spec.stem)
            asked += len(entries)
    assert sum(rendered) < asked / 3


def test_an_article_given_at_the_same_instants_in_another_offset_renders_its_own_dates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Articles equal as values (their dates the same instants) but for the offsets of
    their dates, which the feeds write as given (its own date, or the related stories'
    dates in its body): each renders its own, behind a newer entry, whichever was
    rendered first (entries and content bodies are kept between renders)."""
    loaded = load_file(next(SEEDS.glob("001_*")))
    assert isinstance(loaded, Article) and any(r.published_at for r in loaded.related)
    article = with_keys(loaded)
    newer = with_keys(dataclasses.replace(article, path="newer.md", title="Newer"))
    newer = dataclasses.replace(newer, published_at=article.published_at + timedelta(days=1))
    east = timezone(timedelta(hours=2))
    own = dataclasses.replace(article, published_at=article.published_at.astimezone(east))
    related = dataclasses.replace(
        article,
        related=tuple(
            dataclasses.replace(r, published_at=r.published_at.astimezone(east))
            if r.published_at
            else r
            for r in article.related
        ),
    )
    site = Site("https://feeds.example.com/", "Site", "About", "en")
    spec = FeedSpec(None, "all", "All", "Every topic", "https://feeds.example.com/")
    monkeypatch.setattr(feeds, "_ENTRIES", feeds._Kept(8 << 20, 64 << 10))
    for shifted in (own, related):
        assert shifted == article
        for fmt in FORMATS:
            feeds._content_html.cache_clear()
            first = feeds.render(fmt, spec, site, [newer, article])
            second = feeds.render(fmt, spec, site, [newer, shifted])
            assert first == feeds._document(fmt, spec, site, entry_dates([newer, article]))
            assert second == feeds._document(fmt, spec, site, entry_dates([newer, shifted]))
            # (the related stories' dates are in the body of full content: not in JSON's
            # summary, but in every format's content)
            assert second != first, (fmt, shifted is own)


def test_the_entries_kept_between_renders_stay_within_their_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Entries are kept up to a budget of bytes and a number, the ones used longest ago
    dropped first, and an entry too large to keep is rendered again: the feeds are the
    same."""
    source = tmp_path / "src"
    write_varied_corpus(source)
    write_article(source, "long.md", n=200, excerpt="word " * 3000)
    loaded = [load_file(p) for p in sorted(source.glob("*.md"))]
    articles = [with_keys(a) for a in loaded if isinstance(a, Article)]
    articles.sort(key=feed_order)
    site = Site("https://feeds.example.com/", "Site", "About", "en")
    spec = FeedSpec(None, "all", "All", "Every topic", "https://feeds.example.com/")
    kept = feeds._Kept(12_000, 10_000, most=9)
    monkeypatch.setattr(feeds, "_ENTRIES", kept)
    (long,) = [a for a in articles if a.path.endswith("long.md")]
    others = [a for a in articles if a is not long]
    for start in range(len(others)):
        entries = sorted([long, *others[start : start + 4 + start % 7]], key=feed_order)
        for fmt in FORMATS:
            data = feeds.render(fmt, spec, site, entries)
            assert data == feeds._document(fmt, spec, site, entry_dates(entries))
            assert sum(map(len, kept.entries.values())) == kept.size <= 12_000
            assert len(kept.entries) <= 9
            assert kept.entries and max(map(len, kept.entries.values())) <= 10_000
    for fmt in FORMATS:  # the long entry was never kept
        assert len(feeds._document(fmt, spec, site, entry_dates([long]))) > 15_000


def test_entries_are_kept_only_in_a_process_that_asks(monkeypatch: pytest.MonkeyPatch) -> None:
    """A build renders each feed once: nothing is kept unless the process asks (a daemon
    does), and then a feed rendered again renders only what it has not rendered."""
    articles = [with_keys(a) for a in map(load_file, sorted(SEEDS.glob("*.txt")))]
    articles = sorted((a for a in articles if isinstance(a, Article)), key=feed_order)
    site = Site("https://feeds.example.com/", "Site", "About", "en")
    spec = FeedSpec(None, "all", "All", "Every topic", "https://feeds.example.com/")
    whole = feeds._document
    rendered = documents_rendered(monkeypatch)
    monkeypatch.setattr(feeds, "_ENTRIES", None)
    for _ in range(2):
        feeds.render("atom", spec, site, articles)
    assert rendered == [len(articles)] * 2 and feeds._ENTRIES is None
    rendered.clear()
    feeds.keep_entries()
    for _ in range(2):
        data = feeds.render("atom", spec, site, articles)
    assert rendered == [len(articles), 1]  # the second time, the newest for the head
    assert data == whole("atom", spec, site, entry_dates(articles))
    feeds.keep_entries(False)
    assert feeds._ENTRIES is None


def test_entries_of_documents_rendered_elsewhere_are_kept_as_if_rendered_here(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The documents of a feed a worker process rendered (entries not kept there) are
    kept entry by entry here (`keep_rendered`): rendering the feed again here renders
    only its newest entry, an edited one too, and gives the bytes of a whole rendering."""
    articles = [with_keys(a) for a in map(load_file, sorted(SEEDS.glob("*.txt")))]
    articles = sorted((a for a in articles if isinstance(a, Article)), key=feed_order)
    site = Site("https://feeds.example.com/", "Site", "About", "en")
    spec = FeedSpec(None, "all", "All", "Every topic", "https://feeds.example.com/")
    whole = feeds._document
    monkeypatch.setattr(feeds, "_ENTRIES", None)
    (documents,) = feeds.render_feeds([(spec, site, articles)])  # as on a worker
    rendered = documents_rendered(monkeypatch)
    feeds.keep_entries()
    try:
        feeds.keep_rendered(spec, articles, documents)
        for fmt, document in zip(FORMATS, documents, strict=True):
            assert feeds.render(fmt, spec, site, articles) == document
        assert rendered == [1, 1, 1]  # the newest of each format, for the head
        rendered.clear()
        edited = [*articles[:-1], dataclasses.replace(articles[-1], title="Edited")]
        for fmt in FORMATS:
            data = feeds.render(fmt, spec, site, edited)
            assert data == whole(fmt, spec, site, entry_dates(edited))
        assert max(rendered) <= 2 and len(rendered) == 3
    finally:
        feeds.keep_entries(False)
