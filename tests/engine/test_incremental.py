"""Incremental builds: unchanged files are not parsed again, and the result is always the
same bytes as a cold build of the same corpus."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest
from conftest import NOW
from conftest import article_fields
from conftest import files_read
from conftest import run_cli
from conftest import write_article

from aggregator import version
from aggregator.clock import CTIME_LAG_NS
from aggregator.config import Config
from aggregator.engine import run
from aggregator.engine import zonerows
from aggregator.engine.pipeline import build
from aggregator.limits import Limits
from aggregator.model import Article
from aggregator.model import FeedFormat
from aggregator.publishing import publish
from aggregator.rendering import feeds
from aggregator.rendering.feeds import FeedSpec
from aggregator.rendering.feeds import Site
from aggregator.sources import loader
from aggregator.sources import parsecache
from aggregator.state.codec import decode
from aggregator.state.codec import encode
from aggregator.state.store import Store
from aggregator.stories import dedupe
from aggregator.stories.similar import period_length
from aggregator.stories.similar import period_of
from aggregator.stories.topics import topic_key

TOPICS = ["AI", "Robots", "C++", "Künstliche Intelligenz"]


def corpus(folder: Path, count: int = 30) -> None:
    for n in range(1, count + 1):
        write_article(folder, f"{n:03}.md", n=n, topics=[TOPICS[n % 4], TOPICS[(n + 1) % 4]])
    age(folder)


def age(folder: Path, seconds: float = 60) -> None:
    """Make every file older than the racy window, as files of a real corpus are."""
    when = time.time() - seconds
    for path in folder.rglob("*.md"):
        os.utime(path, (when, when))


def outputs(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def config(source: Path, output: Path) -> Config:
    return Config(sources=(source,), output=output, links="off")


def built(tmp_path: Path) -> tuple[Path, Config]:
    """`corpus` in tmp_path/src, built into tmp_path/out: the folder and the config."""
    source = tmp_path / "src"
    corpus(source)
    target = config(source, tmp_path / "out")
    build(target, now=NOW)
    return source, target


def test_incremental_result_equals_a_cold_build_after_edits_deletes_renames(
    tmp_path: Path,
) -> None:
    source = tmp_path / "src"
    corpus(source)
    build(config(source, tmp_path / "inc"), now=NOW)
    # an edit, a delete, a rename, a new file, and a file that turns invalid
    write_article(source, "005.md", n=5, title="A new title for five", topics=["Robots"])
    (source / "007.md").unlink()
    (source / "sub").mkdir()
    (source / "009.md").rename(source / "sub" / "009-renamed.md")
    write_article(source, "100.md", n=27, title="Brand new", topics=["New Topic"])
    (source / "011.md").write_text("---\ntitle: [broken\n---\n", encoding="utf-8")
    incremental = build(config(source, tmp_path / "inc"), now=NOW + timedelta(minutes=5))
    cold = build(config(source, tmp_path / "cold"), now=NOW + timedelta(minutes=5))
    assert outputs(tmp_path / "inc") == outputs(tmp_path / "cold")
    assert [str(e) for e in incremental.errors] == [str(e) for e in cold.errors]
    assert incremental.published == cold.published
    assert any("011.md" in e.path for e in incremental.errors)


def test_without_same_url_a_file_that_takes_or_leaves_a_link_rebuilds_as_a_cold_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Files of one link are one story in either mode; without `same_url`, only that.
    formed: list[set[str]] = []
    real = run.find_stories

    def spy(articles: Sequence[Article], *args: Any, **kwargs: Any) -> Any:
        formed.append({Path(a.path).name for a in articles})
        return real(articles, *args, **kwargs)

    monkeypatch.setattr(run, "find_stories", spy)
    source = tmp_path / "src"
    corpus(source)
    shared = "https://vendor.example/page"
    for n in (3, 4, 5):
        write_article(source, f"{n:03}.md", n=n, originalUrl=shared, title=f"Alone {n}")
    age(source)
    settings = dedupe.DedupeSettings(same_url=False, similar_title=False)

    def both(minutes: int) -> tuple[Any, Any]:
        """An incremental build and a cold one (a state of its own each time)."""
        when = NOW + timedelta(minutes=minutes)
        cold_output = tmp_path / f"cold{minutes}"
        formed.clear()
        made = [
            build(replace(config(source, output), dedupe=settings), now=when)
            for output in (tmp_path / "inc", cold_output)
        ]
        assert outputs(tmp_path / "inc") == outputs(cold_output)
        return made[0], made[1]

    both(0)
    steps = [
        # a new file of another's link (another form of it); an edit to one; and back
        lambda: write_article(
            source, "200.md", n=9, webUrl="https://www.news.example.com/story-3/"
        ),
        lambda: write_article(source, "006.md", n=6, webUrl="https://news.example.com/story-4"),
        lambda: write_article(source, "006.md", n=6),
        lambda: (source / "200.md").unlink(),
    ]
    found = []
    for minutes, step in enumerate(steps, start=1):
        written = step()
        if written is not None:
            _written(written)
        incremental, cold = both(minutes)
        assert incremental.mode == "incremental"
        assert [(d.kept, d.dropped, d.reason) for d in incremental.duplicates] == [
            (d.kept, d.dropped, d.reason) for d in cold.duplicates
        ]
        assert incremental.published == cold.published
        found.append([(Path(d.kept).name, Path(d.dropped[0]).name) for d in cold.duplicates])
        # The incremental build formed again only the stories of the files of its links,
        # not those of the files that share another URL with them.
        if minutes == 3:
            assert formed[0] == {"004.md", "006.md"}
    pair, other = ("003.md", "200.md"), ("004.md", "006.md")
    assert found == [[pair], [pair, other], [pair], []]


def _written(path: Path, seconds: float = 30) -> None:
    """A file written `seconds` ago (out of the racy window), as an editor's save is."""
    when = time.time() - seconds
    os.utime(path, (when, when))


@pytest.mark.e2e
def test_builds_in_a_process_and_the_command_beside_read_only_what_changed_since_either(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Builds in one process (a daemon's) keep their files as a change of those the
    first kept; the command run beside, then the process again, each read only the
    files changed since the other's build, and write the feeds a cold build writes."""
    source = tmp_path / "src"
    corpus(source)
    target = config(source, tmp_path / "inc")
    build(target, now=NOW)
    parsed = files_read(monkeypatch, "load_file_digest")
    _written(write_article(source, "005.md", n=5, title="Five, edited", topics=["Robots"]))
    _written(write_article(source, "100.md", n=31, title="A story that landed", topics=["AI"]))
    (source / "007.md").unlink()
    assert build(target, now=NOW + timedelta(minutes=1)).mode == "incremental"
    assert sorted(parsed) == ["005.md", "100.md"]
    # the command, in another process
    _written(write_article(source, "012.md", n=12, title="Twelve, edited", topics=["AI"]))
    done = run_cli("build", "--source", source, "--output", target.output, "--links", "off")
    assert done.returncode == 0, done.stderr
    assert "incremental build: 1 file changed" in done.stdout + done.stderr
    cold = config(source, tmp_path / "cold1")
    build(cold, now=NOW + timedelta(minutes=1))
    assert outputs(target.output) == outputs(cold.output)
    # this process again, after the command's build
    parsed.clear()
    _written(write_article(source, "013.md", n=13, title="Thirteen, edited", topics=["AI"]))
    (source / "100.md").unlink()
    assert build(target, now=NOW + timedelta(minutes=2)).mode == "incremental"
    assert parsed == ["013.md"]
    cold = config(source, tmp_path / "cold2")
    build(cold, now=NOW + timedelta(minutes=2))
    assert outputs(target.output) == outputs(cold.output)


def test_a_loader_that_reads_files_otherwise_rebuilds_from_an_empty_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new `parsecache.FORMAT` (the loader makes something else of the same file: a
    new warning, another canonical URL) parses every file again: the tables, which hold
    what the old loader made of the files not changed since, are built again too,
    never mixed with it, and nothing is repeated from the last report."""
    source, out = tmp_path / "src", tmp_path / "out"
    write_article(source, "a.md", n=1)
    age(source)
    assert build(config(source, out), now=NOW).mode == "full"
    assert build(config(source, out), now=NOW).mode == "unchanged"
    monkeypatch.setattr(parsecache, "FORMAT", parsecache.FORMAT + "-next")
    assert build(config(source, out), now=NOW).mode == "full"
    assert build(config(source, out), now=NOW).mode == "unchanged"


def test_a_renderer_that_writes_other_bytes_renders_every_feed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fix to the renderers between releases (`version.RENDERING`): the next build,
    no file changed, writes what a cold build writes, not what the last one rendered
    (nor does it repeat the last report)."""
    source, out = tmp_path / "src", tmp_path / "out"
    for n in range(1, 4):
        write_article(source, f"{n}.md", n=n)
    age(source)
    with monkeypatch.context() as old:  # the renderer before the fix
        old.setattr(feeds, "GENERATOR_URI", "https://old.example/")
        old.setattr(version, "RENDERING", version.RENDERING + "-before")
        build(config(source, out), now=NOW)
    assert b"https://old.example/" in (out / "all.atom").read_bytes()
    assert build(config(source, out), now=NOW).mode != "unchanged"
    cold = tmp_path / "cold"
    build(Config(sources=(source,), output=cold, links="off", state=tmp_path / "c.sqlite"), now=NOW)
    assert outputs(out) == outputs(cold)


def test_a_rebuild_reads_unchanged_files_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "src"
    corpus(source, 5)
    target = config(source, tmp_path / "out")
    build(target, now=NOW)
    parsed = files_read(monkeypatch, "load_file_digest")
    shutil.rmtree(target.output)  # every file is read again: from the cache
    assert build(target, now=NOW).mode == "full"
    assert parsed == []
    # Same size, same mtime, other bytes (`touch -r`, `cp -p`): its ctime tells.
    path = source / "002.md"
    stat = path.stat()
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("Story number 2", "Story NUMBER 2"), encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert build(target, now=NOW).mode == "incremental"
    assert parsed == ["002.md"]
    assert "Story NUMBER 2" in (tmp_path / "out/all.rss").read_text(encoding="utf-8")
    assert build(target, now=NOW).mode == "unchanged"
    # A changed mtime is a changed file.
    path.write_text(text.replace("Story number 2", "Story Number 2"), encoding="utf-8")
    os.utime(path, (time.time() - 30, time.time() - 30))
    assert build(target, now=NOW).mode == "incremental"
    assert parsed[-1] == "002.md"
    assert "Story Number 2" in (tmp_path / "out/all.rss").read_text(encoding="utf-8")


def _touch_metadata(paths: Sequence[Path]) -> None:
    """Change each file's ctime only, as `chmod -R` or `chown -R` do (and wait out the
    lag of file times, `clock.CTIME_LAG_NS`: a build that starts within it reads them
    once more)."""
    for path in paths:
        path.chmod(0o640)
        path.chmod(0o644)
    time.sleep(CTIME_LAG_NS / 1e9)


def test_files_whose_metadata_alone_changed_are_read_not_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `chmod -R` changes every file's ctime: each file is read and its digest compared
    with its cached row's, none is parsed, the last report is repeated, and the build
    after reads none of them again. A file whose bytes changed with them is parsed."""
    source = tmp_path / "src"
    corpus(source, 6)
    target = config(source, tmp_path / "out")
    first = build(target, now=NOW)
    before = outputs(target.output)
    parsed = files_read(monkeypatch, "load_file_digest")
    hashed = files_read(monkeypatch, "file_digest")
    files = sorted(source.glob("*.md"))
    _touch_metadata(files)
    again = build(target, now=NOW)
    assert (again.mode, parsed, sorted(hashed)) == ("unchanged", [], [p.name for p in files])
    assert again.published == first.published == 6
    assert outputs(target.output) == before
    hashed.clear()
    assert build(target, now=NOW).mode == "unchanged"
    assert hashed == []  # their ctimes are before the stamp the last build kept
    # Every file's ctime moves, one file's bytes with it (same size and mtime).
    path = source / "004.md"
    stat = path.stat()
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("Story number 4", "Story NUMBER 4"), encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    _touch_metadata(files)
    assert build(target, now=NOW).mode == "incremental"
    assert parsed == ["004.md"]
    assert "Story NUMBER 4" in (target.output / "all.rss").read_text(encoding="utf-8")
    # Without the output, a cold build takes every row whose bytes are the file's.
    parsed.clear()
    _touch_metadata(files)
    shutil.rmtree(target.output)
    cold = build(target, now=NOW)
    assert (cold.mode, parsed, cold.published) == ("full", [], 6)
    assert "Story NUMBER 4" in (target.output / "all.rss").read_text(encoding="utf-8")


def test_reading_the_files_whose_metadata_changed_stops_when_asked(tmp_path: Path) -> None:
    """A daemon asked to stop while a build reads the files a `chmod -R` touched (some
    seconds at 100,000 files) stops there, not after them."""
    import threading

    from aggregator.errors import Cancelled

    source = tmp_path / "src"
    corpus(source, 3)
    target = config(source, tmp_path / "out")
    build(target, now=NOW)
    paths = [str(p) for p in sorted(source.glob("*.md"))]
    stop = threading.Event()
    stop.set()
    with Store(target.state_path) as store:
        identities = parsecache.stat_files(paths)
        with pytest.raises(Cancelled, match="stopped while reading article files"):
            parsecache.settle(store, paths, identities, target.limits, stop)
        assert parsecache.settle(store, paths, identities, target.limits) == frozenset()


def test_bytes_parsed_by_a_build_that_stopped_are_built_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build that stops after it parsed a file (its row holds the new bytes) leaves
    the tables unsealed: the next build, finding the file's bytes are its row's, is
    cold and publishes them, though the file is not parsed again."""
    source = tmp_path / "src"
    corpus(source, 6)
    target = config(source, tmp_path / "out")
    build(target, now=NOW)
    path = source / "003.md"
    stat = path.stat()
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("Story number 3", "Story NUMBER 3"), encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same mtime

    def stopped(self: run.Run, *args: object) -> set[str]:
        raise RuntimeError("stopped after the files were parsed")

    with monkeypatch.context() as patched:
        patched.setattr(run.Run, "_refresh_zones", stopped)
        with pytest.raises(RuntimeError, match="stopped after the files were parsed"):
            build(target, now=NOW)
    parsed = files_read(monkeypatch, "load_file_digest")
    report = build(target, now=NOW)
    assert (report.mode, parsed) == ("full", [])
    assert "Story NUMBER 3" in (target.output / "all.rss").read_text(encoding="utf-8")


def test_a_file_written_just_now_is_not_trusted_to_the_cache(tmp_path: Path) -> None:
    source = tmp_path / "src"
    corpus(source, 3)
    path = write_article(source, "new.md", n=9, title="First version")  # mtime: now
    target = config(source, tmp_path / "out")
    build(target, now=NOW.now(NOW.tzinfo))  # the real clock: the file is seconds old
    stat = path.stat()
    path.write_text(path.read_text(encoding="utf-8").replace("First", "Other"), encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same mtime
    build(target, now=NOW.now(NOW.tzinfo))
    feed = (tmp_path / "out/all.rss").read_text(encoding="utf-8")
    assert "Other version" in feed
    # Not cached, so its excerpt and image come from this build's own parse.
    assert "The excerpt of story 9." in feed
    assert "https://img.example.com/9.jpg" in feed


def test_the_cache_holds_data_not_code(tmp_path: Path) -> None:
    source = tmp_path / "src"
    corpus(source, 3)
    target = config(source, tmp_path / "out")
    build(target, now=NOW)
    with Store(target.state_path) as store:
        rows = store.parsed([str(source / "001.md")])
    (_identity, head, words, body) = rows[str(source / "001.md")]
    # JSON (compact when orjson, the `fast` extra, writes it), read back by `json`
    assert json.loads(head)[:2] == ["article", str(source / "001.md")]
    assert json.loads(words)[0] == ["1", "number", "story"]
    assert json.loads(body)[0] == "The excerpt of story 1."
    article = decode(head, words, body)
    assert encode(article) == (head, words, body)
    assert article == parse_file(source / "001.md")
    assert article.fingerprint == dedupe.with_keys(parse_file(source / "001.md")).fingerprint


def parse_file(path: Path) -> Article:
    article = loader.load_file(path)
    assert isinstance(article, Article)
    return article


def test_a_new_cache_format_drops_the_old_cache(tmp_path: Path) -> None:
    source = tmp_path / "src"
    corpus(source, 3)
    target = config(source, tmp_path / "out")
    build(target, now=NOW)
    with Store(target.state_path) as store:
        store.set_meta("parse_format", "0/old")
        stale = '["error", "x", 1, "stale"]'
        store.save_parsed([(str(source / "001.md"), 1, 1, stale, "null", "null", "")])
    age(source, 120)  # a changed corpus, so the build is not skipped altogether
    report = build(target, now=NOW)
    assert report.errors == ()
    with Store(target.state_path) as store:
        assert store.meta("parse_format") != "0/old"


def test_a_rebuild_of_an_unchanged_corpus_repeats_the_last_report(tmp_path: Path) -> None:
    source = tmp_path / "src"
    corpus(source, 12)
    (source / "bad.md").write_text("not front matter\n", encoding="utf-8")
    age(source)
    target = config(source, tmp_path / "out")
    first = build(target, now=NOW)
    before = outputs(tmp_path / "out")
    again = build(target, now=NOW + timedelta(hours=1))
    assert outputs(tmp_path / "out") == before
    assert not any(f.changed for f in again.feeds) and not any(p.changed for p in again.pages)
    assert again.errors == first.errors and again.excluded == first.excluded
    assert again.duplicates == first.duplicates and again.published == first.published
    assert [(f.path, f.entries) for f in again.feeds] == [(f.path, f.entries) for f in first.feeds]


def test_an_edited_output_file_or_config_is_not_skipped(tmp_path: Path) -> None:
    source = tmp_path / "src"
    corpus(source, 6)
    target = config(source, tmp_path / "out")
    build(target, now=NOW)
    feed = tmp_path / "out/all.rss"
    good = feed.read_bytes()
    feed.write_bytes(b"tampered")
    report = build(target, now=NOW)
    assert feed.read_bytes() == good
    assert any(f.changed and f.path == "all.rss" for f in report.feeds)
    from dataclasses import replace

    renamed = build(replace(target, title="Another Title"), now=NOW)
    assert all(f.changed for f in renamed.feeds)


def renders_seen(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the feed files rendered from now on, as they are."""
    rendered: list[str] = []
    real_render = publish.render

    def spy(fmt: FeedFormat, spec: FeedSpec, site: Site, entries: Sequence[Article]) -> bytes:
        rendered.append(spec.path(fmt))
        return real_render(fmt, spec, site, entries)

    monkeypatch.setattr(publish, "render", spy)
    return rendered


def test_only_feeds_whose_entries_changed_are_rendered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = built(tmp_path)
    rendered = renders_seen(monkeypatch)
    # 004.md is in "AI" and "Robots" only (see corpus()).
    write_article(source, "004.md", n=4, title="Four, edited", topics=["AI", "Robots"])
    age(source)
    report = build(target, now=NOW)
    assert sorted(rendered) == [
        f"{stem}.{ext}"
        for stem in ("all", "topics/ai", "topics/robots")
        for ext in ("atom", "json", "rss")
    ]
    assert sorted(f.path for f in report.feeds if f.changed) == sorted(rendered)
    cold = build(config(source, tmp_path / "cold"), now=NOW)
    assert outputs(tmp_path / "out") == outputs(tmp_path / "cold")
    assert [(f.path, f.entries) for f in report.feeds] == [(f.path, f.entries) for f in cold.feeds]


def test_a_feed_kept_as_it_is_is_listed_by_its_record_with_what_a_cold_build_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index page lists a feed kept as it is by the headlines its record holds (the
    state keeps them with the feed): none of its articles is read again, and the page
    is the cold build's byte for byte, after an edit that changes only what a headline
    shows (an image's text) and after a new title."""
    source = tmp_path / "src"
    words = ["Lunar", "Harbour", "Quantum", "Orchard", "Glacier", "Violin", "Desert", "Copper"]
    for n, word in enumerate(words, 1):
        topic = "Space" if n % 2 else "Music"
        write_article(source, f"{n}.md", n=n, title=f"{word} {topic.lower()} news", topics=[topic])
    age(source)
    target = config(source, tmp_path / "out")
    build(target, now=NOW)
    read: list[list[str]] = []
    entries = run.Run._entries

    def reading(self: run.Run, top: list[tuple[str, str]]) -> list[Article]:
        read.append([Path(path).name for path, _ in top])
        return entries(self, top)

    monkeypatch.setattr(run.Run, "_entries", reading)
    # 8.md, the newest of "Music", shows another text for its picture, and nothing else
    # changes: "Music" and "all" are read and written, "Space" is kept and not read.
    image = {"url": "https://img.example.com/8.jpg", "width": 800, "height": 450}
    _written(write_article(source, "8.md", n=8, title="Copper music news", topics=["Music"],
                           images=[{**image, "title": "A copper horn"}]))  # fmt: skip
    report = build(target, now=NOW)
    assert sorted({f.topic or "" for f in report.feeds if f.changed}) == ["", "Music"]
    assert len(read) == 2 and all("8.md" in names for names in read), read
    # the newest of "Space" has a new title
    _written(
        write_article(source, "7.md", n=7, title="Desert space news, told again", topics=["Space"])
    )
    build(target, now=NOW)
    monkeypatch.undo()
    build(config(source, tmp_path / "cold"), now=NOW)
    assert outputs(tmp_path / "out") == outputs(tmp_path / "cold")
    page = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert page.count('<a class="headline"') == 3 * 2  # three under each topic
    assert 'alt="A copper horn"' in page and ">Desert space news, told again</a>" in page


def shown_topics(folder: Path) -> dict[str, tuple[str, dict[str, list[str]]]]:
    """Per feed file of `folder`: its title, and each entry's categories (RSS, Atom) or
    tags (JSON Feed) by entry title, as a reader gets them."""
    found: dict[str, tuple[str, dict[str, list[str]]]] = {}
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.suffix == ".json":
            feed = json.loads(path.read_bytes())
            entries = {item["title"]: item.get("tags", []) for item in feed["items"]}
            found[name] = (feed["title"], entries)
        elif path.suffix in (".rss", ".atom"):
            parsed = feedparser.parse(path.read_bytes())
            entries = {e.title: [t.term for t in e.get("tags", [])] for e in parsed.entries}
            found[name] = (parsed.feed.title, entries)
    return found


def test_entries_show_each_topic_as_its_feed_is_named_after_a_file_changes_the_spelling(
    tmp_path: Path,
) -> None:
    """`ai` and `AI` are one topic, shown in its most used spelling: the feed's title and
    every entry's categories and tags, in every feed it is in. A new file that makes
    another spelling the most used changes them in the feeds of other topics too, as a
    cold build writes them."""
    source = tmp_path / "src"
    write_article(source, "1.md", n=1, title="One", topics=["ai", "Robots"])
    write_article(source, "2.md", n=2, title="Two", topics=["AI"])
    age(source)
    target = config(source, tmp_path / "out")
    build(target, now=NOW)
    # one of each: the first in sort order
    shown = shown_topics(tmp_path / "out")
    assert {(name, title) for name, (title, _) in shown.items() if "topics/ai" in name} == {
        (f"topics/ai.{ext}", "Aggregator: AI") for ext in ("rss", "atom", "json")
    }
    for name in ("all", "topics/ai", "topics/robots"):
        for ext in ("rss", "atom", "json"):
            entries = shown[f"{name}.{ext}"][1]
            assert entries["One"] == ["AI", "Robots"], (name, ext)
            if name != "topics/robots":
                assert entries["Two"] == ["AI"], (name, ext)
    # "ai" twice now: the feed of "Robots" gets no new entry, yet "One" shows "ai"
    _written(write_article(source, "3.md", n=3, title="Three", topics=["ai"]))
    report = build(target, now=NOW)
    assert report.mode == "incremental"
    shown = shown_topics(tmp_path / "out")
    for ext in ("rss", "atom", "json"):
        assert shown[f"topics/ai.{ext}"][0] == "Aggregator: ai"
        assert shown[f"topics/robots.{ext}"][1] == {"One": ["ai", "Robots"]}
        for name in ("all", "topics/ai"):
            assert shown[f"{name}.{ext}"][1] == {
                "Three": ["ai"], "Two": ["ai"], "One": ["ai", "Robots"]
            }  # fmt: skip
    build(config(source, tmp_path / "cold"), now=NOW)
    assert outputs(tmp_path / "out") == outputs(tmp_path / "cold")


def test_a_story_formed_again_as_it_was_renders_no_feed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "src"
    corpus(source)
    # A copy of 004.md (its URL, its topics, a lower quality): dropped, 004.md kept.
    copy = dict(n=4, title="Four, syndicated", topics=["AI", "Robots"], quality=50)
    write_article(source, "004.md", n=4, topics=["AI", "Robots"])
    write_article(source, "004-copy.md", **copy)
    age(source)
    target = config(source, tmp_path / "out")
    first = build(target, now=NOW)
    assert [d.dropped for d in first.duplicates] == [(str(source / "004-copy.md"),)]
    rendered = renders_seen(monkeypatch)
    # A feed the build takes as changed is published again (rendered, or found to be
    # what its files hold already); the others are kept as the last build left them.
    published: list[str] = []
    real_publish = publish.Publisher.publish

    def publishing(
        self: publish.Publisher, spec: FeedSpec, articles: list[Article], limit: int
    ) -> publish.Listing | None:
        published.append(spec.path("rss"))
        return real_publish(self, spec, articles, limit)

    monkeypatch.setattr(publish.Publisher, "publish", publishing)
    # The copy changes, and its story is formed again: the same survivor, topics, feeds.
    edited = write_article(source, "004-copy.md", **{**copy, "quality": 40})
    when = time.time() - 60  # older than the racy window, as `age` makes every file
    os.utime(edited, (when, when))
    report = build(target, now=NOW)
    assert report.mode == "incremental" and report.changed_files == 1
    assert rendered == [] and published == []
    assert not any(f.changed for f in report.feeds)
    build(config(source, tmp_path / "cold"), now=NOW)
    assert outputs(tmp_path / "out") == outputs(tmp_path / "cold")


def zones_asked(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """The near-duplicate zones each build asks for from now on (found again, or read
    from the pairs the state keeps), one list a build that asks."""
    asked: list[list[int]] = []
    real = run.zone_pairs

    def spy(articles: Any, periods: Any, zones: Any, *args: Any) -> Any:
        asked.append(list(zones))
        return real(articles, periods, zones, *args)

    monkeypatch.setattr(run, "zone_pairs", spy)
    return asked


def zone_of(when: datetime) -> int:
    """The zone of the period an article published at `when` is in (the default window)."""
    return 2 * period_of(when, period_length(dedupe.DedupeSettings().window))


@pytest.mark.parametrize(
    "edit",
    [
        {"quality": 30},
        {"topics": ["Robots"]},
        {"published": False},
        {"webUrl": "https://elsewhere.example.org/four"},
        {"images": None},
        {"provider": {"name": "Other News", "domain": "other.example"}},
    ],
    ids=["quality", "topics", "published", "url", "images", "provider"],
)
def test_an_edit_that_leaves_the_date_and_words_finds_no_zone_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit: dict[str, Any]
) -> None:
    source, target = built(tmp_path)
    asked = zones_asked(monkeypatch)
    _written(write_article(source, "004.md", n=4, **{"topics": ["AI", "Robots"], **edit}))
    report = build(target, now=NOW)
    assert report.mode == "incremental" and report.changed_files == 1
    assert asked == []  # no similar pair can have changed
    build(config(source, tmp_path / "cold"), now=NOW)
    assert outputs(tmp_path / "out") == outputs(tmp_path / "cold")


def test_an_edit_of_the_date_or_words_finds_the_zones_of_its_periods_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = built(tmp_path)
    asked = zones_asked(monkeypatch)
    four = article_fields(n=4)["publishedDateTime"]
    later = four + timedelta(days=120)  # in another period
    edits: list[tuple[dict[str, Any], set[int]]] = [
        ({"title": "Four, edited"}, {zone_of(four)}),
        ({"excerpt": "Another excerpt of four."}, {zone_of(four)}),
        ({"publishedDateTime": four + timedelta(hours=1)}, {zone_of(four)}),
        ({"publishedDateTime": later}, {zone_of(four), zone_of(later)}),
    ]
    for edit, zones in edits:
        asked.clear()
        _written(write_article(source, "004.md", n=4, topics=["AI", "Robots"], **edit))
        assert build(target, now=NOW).mode == "incremental"
        (found,) = asked
        assert zones <= set(found), edit
        build(config(source, tmp_path / "cold"), now=NOW)
        assert outputs(tmp_path / "out") == outputs(tmp_path / "cold"), edit
        shutil.rmtree(tmp_path / "cold")
        (tmp_path / ".cold-state.sqlite").unlink()
    # A file that went, and one that came (in periods that keep other articles).
    asked.clear()
    (source / "005.md").unlink()
    _written(write_article(source, "200.md", n=9, title="Its own", webUrl="https://n.example/200"))
    assert build(target, now=NOW).mode == "incremental"
    (found,) = asked
    went, came = (article_fields(n=n)["publishedDateTime"] for n in (5, 9))
    assert {zone_of(went), zone_of(came)} <= set(found)
    build(config(source, tmp_path / "cold"), now=NOW)
    assert outputs(tmp_path / "out") == outputs(tmp_path / "cold")


def test_a_feed_edited_by_hand_is_rendered_again_though_its_entries_did_not_change(
    tmp_path: Path,
) -> None:
    source, target = built(tmp_path)
    feed = next((tmp_path / "out/topics").glob("c-plus-plus*.rss"))
    good = feed.read_bytes()
    feed.write_bytes(good.replace(b"Story number", b"Story NUMBER"))  # same size
    write_article(source, "004.md", n=4, title="Four, edited", topics=["AI", "Robots"])
    age(source)
    build(target, now=NOW)
    assert feed.read_bytes() == good


@pytest.mark.e2e
def test_parsing_on_several_processes_gives_the_same_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "src"
    corpus(source, 40)
    (source / "bad.md").write_text("---\ntitle: [broken\n---\n", encoding="utf-8")
    age(source)
    serial = build(config(source, tmp_path / "one"), now=NOW)
    monkeypatch.setattr(loader, "PARALLEL_MIN_FILES", 10)
    monkeypatch.setattr(parsecache, "_CHUNK", 7)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    parallel = build(config(source, tmp_path / "two"), now=NOW)
    assert outputs(tmp_path / "one") == outputs(tmp_path / "two")
    assert parallel.errors == serial.errors and parallel.loaded == serial.loaded == 40
    assert [str(e) for e in parallel.errors] == [
        f"{source / 'bad.md'}:2: " + serial.errors[0].reason
    ]


@pytest.mark.e2e
@pytest.mark.parametrize("feed_size", [None, 12_000])
def test_rendering_on_the_worker_processes_gives_the_same_feeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, feed_size: int | None
) -> None:
    """With the worker processes running (the parse started them), the feeds are
    rendered there, byte for byte as here. A feed over its size limit is cut here from
    the whole rendering the workers made."""
    source = tmp_path / "src"
    corpus(source, 40)
    if feed_size is not None:
        # The newest article of "AI" (n=40) is too big for any feed on its own.
        write_article(source, "040.md", n=40, topics=["AI"], excerpt="word " * 1900)
    age(source)
    limits = Limits(feed_size=feed_size) if feed_size is not None else Limits()

    def target(output: Path) -> Config:
        return replace(config(source, output), limits=limits)

    serial = build(target(tmp_path / "one"), now=NOW)
    monkeypatch.setattr(loader, "PARALLEL_MIN_FILES", 10)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(publish, "PARALLEL_ENTRIES", 1)
    here: list[tuple[str, int]] = []
    render = publish.render

    def counted(fmt: FeedFormat, spec: FeedSpec, site: Site, entries: Sequence[Article]) -> bytes:
        here.append((spec.path(fmt), len(entries)))
        return render(fmt, spec, site, entries)

    monkeypatch.setattr(publish, "render", counted)
    parallel = build(target(tmp_path / "two"), now=NOW)
    assert outputs(tmp_path / "one") == outputs(tmp_path / "two")
    assert [(f.path, f.entries) for f in parallel.feeds] == [
        (f.path, f.entries) for f in serial.feeds
    ]
    if feed_size is None:
        assert here == [], "feeds were rendered in this process"
    else:
        # Here: only the feeds cut to the limit, from fewer entries than they hold whole.
        whole = build(config(source, tmp_path / "whole"), now=NOW)
        held = {f.path: f.entries for f in whole.feeds}
        cut = {f.path: f.entries for f in parallel.feeds}
        assert here, "no feed was cut"
        for path, count in here:
            assert count < held[path] and cut[path] < held[path], (path, count, held[path])


@pytest.mark.e2e
def test_entries_the_workers_rendered_are_kept_for_a_daemons_next_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With entries kept (a daemon's `keep_entries`), the feeds the worker processes
    rendered in a full build are kept entry by entry here too: the next build after an
    edit renders the edited entry (and each feed's newest), not every entry of the feeds
    it touches; the feeds are a cold build's."""
    source = tmp_path / "src"
    corpus(source, 40)
    monkeypatch.setattr(loader, "PARALLEL_MIN_FILES", 10)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(publish, "PARALLEL_ENTRIES", 1)
    rendered: list[int] = []
    document = feeds._document

    def counted(fmt: FeedFormat, spec: FeedSpec, site: Site, updates: Any) -> bytes:
        rendered.append(len(updates))
        return document(fmt, spec, site, updates)

    monkeypatch.setattr(feeds, "_document", counted)
    feeds.keep_entries()
    try:
        target = config(source, tmp_path / "out")
        build(target, now=NOW)  # (this process renders a feed when it would wait)
        rendered.clear()
        _written(write_article(source, "004.md", n=4, topics=["AI", "Robots"], title="Four, ed"))
        assert build(target, now=NOW).mode == "incremental"
    finally:
        feeds.keep_entries(False)
    # all, AI and Robots, in three formats: the edited entry and maybe the newest
    assert len(rendered) == 9 and max(rendered) <= 2, rendered
    build(config(source, tmp_path / "cold"), now=NOW)
    assert outputs(tmp_path / "out") == outputs(tmp_path / "cold")


def test_a_cold_builds_rows_go_in_as_its_feeds_render_which_hold_the_order_the_rows_give(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cold build writes its stories' rows while the worker processes render its
    feeds, which are read from the rows in hand: none is in the state when the
    rendering starts. The feeds hold the first entries of each feed as the state gives
    them (`inc_top`), in that order (the newest share a publish time, told apart by entry
    id: their URLs in the reverse order of their files); the rows are those of a build
    without workers, and the next build of edits writes what a cold build writes."""
    source = tmp_path / "src"
    when = datetime(2021, 3, 30, 12, 0, tzinfo=UTC)  # the newest
    for n in range(1, 41):
        write_article(
            source, f"{n:03}.md", n=n, topics=[TOPICS[n % 4], TOPICS[(n + 1) % 4]],
            webUrl=f"https://news.example.com/{100 - n:03}-{n}",
            **({"publishedDateTime": when} if n <= 10 else {}),
        )  # fmt: skip
    age(source)

    def target(name: str) -> Config:
        return replace(config(source, tmp_path / name), limit=6)

    serial = build(target("one"), now=NOW)
    monkeypatch.setattr(loader, "PARALLEL_MIN_FILES", 10)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(publish, "PARALLEL_ENTRIES", 1)
    state = tmp_path / ".two-state.sqlite"
    held: list[tuple[bool, int]] = []  # steps handed to the rendering; members held then
    handing = publish.map_in_processes

    def handed(*args: Any, steps: Any = None, **kw: Any) -> Any:
        with sqlite3.connect(state) as db:
            (count,) = db.execute("SELECT count(*) FROM inc_member").fetchone()
        held.append((steps is not None, count))
        return handing(*args, steps=steps, **kw)

    monkeypatch.setattr(publish, "map_in_processes", handed)
    parallel = build(target("two"), now=NOW)
    assert held == [(True, 0)]
    assert outputs(tmp_path / "one") == outputs(tmp_path / "two")
    assert [(f.path, f.entries) for f in parallel.feeds] == [
        (f.path, f.entries) for f in serial.feeds
    ]
    rows = {}
    for name in ("one", "two"):
        with Store(tmp_path / f".{name}-state.sqlite") as store:
            tables = ["inc_member", "inc_story", "inc_art", "inc_key"]
            rows[name] = [sorted(store.inc_rows(t, "path" if t != "inc_story" else "survivor",
                                                [str(p) for p in source.glob("*.md")]))
                          for t in tables]  # fmt: skip
            for result in parallel.feeds:
                if result.format != "json":
                    continue
                document = json.loads((tmp_path / name / result.path).read_text("utf-8"))
                key = "" if result.topic is None else topic_key(result.topic)
                paths = [path for path, _story in store.inc_top(key, 6)]
                titles = [article_fields(n=int(Path(p).stem))["title"] for p in paths]
                assert [item["title"] for item in document["items"]] == titles, result.path
    assert rows["one"] == rows["two"] and all(rows["one"])
    # Edits enough to start the workers: an incremental build renders on them, with
    # no writes to take meanwhile (it made its own), as before.
    when_edited = time.time() - 60  # older than the racy window, as in `age`
    for n in range(29, 41):
        edited = write_article(source, f"{n:03}.md", n=n, title=f"Story {n} told again",
                               topics=[TOPICS[n % 4]])  # fmt: skip
        os.utime(edited, (when_edited, when_edited))
    again = build(target("two"), now=NOW)
    assert again.mode == "incremental"
    assert [steps for steps, _members in held] == [True, False] and held[1][1] > 0
    build(replace(target("cold"), state=tmp_path / "cold.sqlite"), now=NOW)
    assert outputs(tmp_path / "two") == outputs(tmp_path / "cold")


@pytest.mark.e2e
@pytest.mark.parametrize("workers", [False, True])
def test_a_cold_build_stopped_as_its_rows_go_in_leaves_none_and_the_next_build_is_cold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: bool
) -> None:
    """Asked to stop while its stories' rows go in (as the feeds render on the worker
    processes, or after them here), a cold build stops between two steps: none of the
    rows is kept (the fill is rolled back), and the next build is a cold one that
    writes what an uninterrupted build writes."""
    from aggregator.errors import Cancelled

    source = tmp_path / "src"
    corpus(source, 40)
    whole = build(config(source, tmp_path / "whole"), now=NOW)
    if workers:
        monkeypatch.setattr(loader, "PARALLEL_MIN_FILES", 10)
        monkeypatch.setattr(os, "cpu_count", lambda: 2)
        monkeypatch.setattr(publish, "PARALLEL_ENTRIES", 1)
    stop = threading.Event()
    steps = run._steps
    taken = 0

    def stopping(*parts: Any) -> Any:
        nonlocal taken
        for _ in steps(*parts):
            taken += 1
            if taken == 2:
                stop.set()
            yield

    monkeypatch.setattr(run, "_steps", stopping)
    target = config(source, tmp_path / "out")
    with pytest.raises(Cancelled):
        build(target, now=NOW, cancel=stop)
    assert taken == 2
    with Store(target.state_path) as store:
        assert store.inc_top("", 100) == []
    monkeypatch.setattr(run, "_steps", steps)
    again = build(target, now=NOW)
    assert again.mode == "full" and again.published == whole.published
    assert outputs(tmp_path / "out") == outputs(tmp_path / "whole")


@pytest.mark.e2e
def test_feeds_too_few_to_render_on_the_workers_are_prepared_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the worker processes running but fewer entries to render than make it worth
    sending them there, each feed is rendered here from what was prepared for the
    workers (its entries read and its cache keys made once), byte for byte as ever."""
    source = tmp_path / "src"
    corpus(source, 40)
    age(source)
    serial = build(config(source, tmp_path / "one"), now=NOW)
    monkeypatch.setattr(loader, "PARALLEL_MIN_FILES", 10)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(publish, "PARALLEL_ENTRIES", 1_000_000)
    prepared: list[FeedSpec] = []
    prepare = publish.Publisher._prepare

    def counted(self: publish.Publisher, spec: FeedSpec, *args: Any) -> Any:
        prepared.append(spec)
        return prepare(self, spec, *args)

    monkeypatch.setattr(publish.Publisher, "_prepare", counted)
    parallel = build(config(source, tmp_path / "two"), now=NOW)
    assert outputs(tmp_path / "one") == outputs(tmp_path / "two")
    assert [(f.path, f.entries) for f in parallel.feeds] == [
        (f.path, f.entries) for f in serial.feeds
    ]
    assert prepared and len(prepared) == len(set(prepared))


@pytest.mark.e2e
def test_feeds_rendered_on_the_workers_are_read_a_few_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each feed rendered on the worker processes has its entries read as its rendering
    is handed out: a few feeds' entries are held at once, not every feed's (25 here)."""
    source = tmp_path / "src"
    for n in range(1, 61):
        write_article(source, f"{n:03}.md", n=n, topics=[f"Topic {n % 24}", "Shared"])
    age(source)
    serial = build(config(source, tmp_path / "one"), now=NOW)
    assert len(serial.feeds) == 3 * 26
    monkeypatch.setattr(loader, "PARALLEL_MIN_FILES", 10)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(publish, "PARALLEL_ENTRIES", 1)
    read = written = most = 0
    entries = run.Run._entries
    publish_ahead = publish.Publisher.publish_ahead

    def reading(self: run.Run, top: Any) -> Any:
        nonlocal read, most
        read += 1
        most = max(most, read - written)
        return entries(self, top)

    def writing(self: publish.Publisher, spec: FeedSpec) -> Any:
        nonlocal written
        listing = publish_ahead(self, spec)
        written += 1
        return listing

    monkeypatch.setattr(run.Run, "_entries", reading)
    monkeypatch.setattr(publish.Publisher, "publish_ahead", writing)
    parallel = build(config(source, tmp_path / "two"), now=NOW)
    assert outputs(tmp_path / "one") == outputs(tmp_path / "two")
    assert [(f.path, f.entries) for f in parallel.feeds] == [
        (f.path, f.entries) for f in serial.feeds
    ]
    assert read == written == 26  # every feed rendered ahead, each read once
    # The tasks a step holds (two per core, and one the worker is handed ahead of them
    # when it is about to end its task), and the feed being written.
    assert most <= 2 * 2 + 1 + 1, most


@pytest.mark.e2e
def test_feeds_handed_to_the_workers_that_the_files_hold_already_are_not_rendered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Old articles edited (enough to start the workers): their feeds' members change,
    but not the entries shown. The feeds are handed out, found fresh and left as they
    are, rendered neither on the workers nor here, as a cold build would write them."""
    source = tmp_path / "src"
    corpus(source, 40)
    monkeypatch.setattr(loader, "PARALLEL_MIN_FILES", 10)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(publish, "PARALLEL_ENTRIES", 1)
    target = replace(config(source, tmp_path / "inc"), limit=5)
    build(target, now=NOW)
    for n in range(1, 13):  # the oldest: in no feed's first five
        write_article(source, f"{n:03}.md", n=n, title=f"Story {n} told again",
                      topics=[TOPICS[n % 4], TOPICS[(n + 1) % 4]])  # fmt: skip
    age(source)
    cold = build(replace(target, output=tmp_path / "cold", state=tmp_path / "cold.sqlite"), now=NOW)
    rendered: list[tuple[str, int]] = []
    render = publish.render

    def counted(fmt: FeedFormat, spec: FeedSpec, site: Site, entries: Sequence[Article]) -> bytes:
        rendered.append((spec.path(fmt), len(entries)))
        return render(fmt, spec, site, entries)

    # The tasks as they are handed out (to the worker, or run here): their entries.
    tasks: list[tuple[str, bool]] = []
    handing = publish.map_in_processes

    def handed(work: Any, items: Any, *args: Any, ready: Any = None, **kw: Any) -> Any:
        def seen(item: Any) -> Any:
            task = ready(item)
            tasks.append((str(task[0].path("rss")), task[2] is not None))
            return task

        return handing(work, items, *args, ready=seen, **kw)

    monkeypatch.setattr(publish, "render", counted)
    monkeypatch.setattr(publish, "map_in_processes", handed)
    report = build(target, now=NOW)
    assert outputs(tmp_path / "inc") == outputs(tmp_path / "cold")
    assert [(f.path, f.entries) for f in report.feeds] == [(f.path, f.entries) for f in cold.feeds]
    assert not any(f.changed for f in report.feeds)
    # Every feed went to the workers (the all-topics feed and the four topics'), each
    # found fresh as it was handed out: handed out with nothing to render, and not
    # rendered here either.
    assert len(tasks) == 5 and not any(due for _, due in tasks), tasks
    assert rendered == []


def test_a_rebuild_asks_the_state_about_related_coverage_once_per_feed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Related coverage that points at a story of the corpus is not shown. A rebuild
    asks the state file which of the related URLs of a feed's entries are stories of the
    corpus in one go for each feed, not once for each URL (hundreds at 100k files), and
    shows the same feeds as a cold build."""
    source = tmp_path / "src"
    for n in range(1, 31):
        related = [
            {"title": f"Coverage {n}-{k}", "webUrl": f"https://other.example/{n}/{k}"}
            for k in range(8)
        ]
        # One related story of each is in the corpus (another file's link).
        related.append(
            {"title": "In the corpus", "webUrl": f"https://news.example.com/story-{n % 30 + 1}"}
        )
        write_article(source, f"{n:03}.md", n=n, topics=[TOPICS[n % 4]], related=related)
    age(source)
    target = config(source, tmp_path / "inc")
    build(target, now=NOW)
    edited = write_article(source, "007.md", n=7, title="Story 7 told again", topics=[TOPICS[3]])
    os.utime(edited, (time.time() - 30, time.time() - 30))  # the others as they were
    # Each time the state file is asked, the number of URLs it is asked about.
    asked: list[int] = []
    learn = run._Corpus.learn

    def counted(self: Any, keys: Any) -> None:
        keys = list(keys)
        unknown = {k for k in keys if k not in self.known and k not in self.found}
        if unknown and not self.complete:
            asked.append(len(unknown))
        learn(self, keys)

    monkeypatch.setattr(run._Corpus, "learn", counted)
    report = build(target, now=NOW)
    monkeypatch.undo()
    cold = build(replace(target, output=tmp_path / "cold", state=tmp_path / "cold.sqlite"), now=NOW)
    assert outputs(tmp_path / "inc") == outputs(tmp_path / "cold")
    assert [(f.path, f.entries) for f in report.feeds] == [(f.path, f.entries) for f in cold.feeds]
    feed = (tmp_path / "inc" / "all.rss").read_text(encoding="utf-8")
    assert "https://other.example/" in feed and "In the corpus" not in feed
    # At most once per feed listed or written (five feeds, in three formats each), each
    # time about many URLs (those of a feed's entries).
    feeds = len(report.feeds) // 3
    assert 0 < len(asked) <= feeds, asked
    assert min(asked) >= 8, asked


def test_a_feed_cut_to_its_size_limit_is_kept_as_is_by_a_rebuild(tmp_path: Path) -> None:
    source = tmp_path / "src"
    corpus(source)
    # The newest article of "AI" (n=40) is too big for any feed on its own.
    write_article(source, "040.md", n=40, topics=["AI"], excerpt="word " * 1900)
    age(source)
    limits = Limits(feed_size=12_000)

    def target(output: Path) -> Config:
        return replace(config(source, output), limits=limits)

    first = build(target(tmp_path / "out"), now=NOW)
    big = next(f for f in first.feeds if f.path == "topics/ai.rss")
    write_article(source, "006.md", n=6, title="Six, edited", topics=["Robots"])
    age(source)
    again = build(target(tmp_path / "out"), now=NOW)
    assert not any(f.changed for f in again.feeds if f.path.startswith("topics/ai."))
    cold = build(target(tmp_path / "cold"), now=NOW)
    assert outputs(tmp_path / "out") == outputs(tmp_path / "cold")
    assert [(f.path, f.entries) for f in again.feeds] == [(f.path, f.entries) for f in cold.feeds]
    parsed = feedparser.parse((tmp_path / "out/topics/ai.rss").read_bytes())
    assert "Story number 40" not in [e.title for e in parsed.entries]
    assert len(parsed.entries) == big.entries > 0
    index = (tmp_path / "out/index.html").read_text(encoding="utf-8")
    assert index == (tmp_path / "cold/index.html").read_text(encoding="utf-8")


def test_a_misnamed_file_removed_leaves_no_error_behind(tmp_path: Path) -> None:
    """A file whose name is not UTF-8 is reported by each build that finds it, and by
    none after it is gone (the build after it starts from the state it left)."""
    source, output = tmp_path / "articles", tmp_path / "out"
    corpus(source, 6)
    bad = os.fsencode(source) + b"/bad-\xff-name.md"
    os.rename(source / "006.md", bad)
    settings = config(source, output)
    with Store(tmp_path / "state.sqlite") as store:
        first = build(settings, now=NOW, store=store)
        assert [e.reason for e in first.errors] == ["file name is not UTF-8: rename the file"]
        os.unlink(bad)
        after = build(settings, now=NOW, store=store)
    assert after.mode == "incremental"
    assert list(after.errors) == []
    assert after.loaded == 5
    with Store(tmp_path / "cold.sqlite") as store:
        cold = build(replace(settings, output=tmp_path / "cold"), now=NOW, store=store)
    assert (after.published, list(after.errors)) == (cold.published, list(cold.errors))


def test_a_misnamed_file_keeps_builds_incremental_and_its_error_reported(
    tmp_path: Path,
) -> None:
    """A file whose name is not UTF-8 is left out and reported by every build, and the
    builds beside it stay incremental (one edit is not a whole build again): each gives
    the bytes and the report a cold build gives; an unchanged corpus repeats the last
    report, and another misnamed file is not an unchanged corpus."""
    source, output = tmp_path / "articles", tmp_path / "out"
    corpus(source, 12)
    bad = os.fsencode(source) + b"/bad-\xff-name.md"
    os.rename(source / "012.md", bad)
    settings = config(source, output)
    reason = "file name is not UTF-8: rename the file"

    def cold(name: str) -> Any:
        with Store(tmp_path / f"{name}.sqlite") as store:
            report = build(replace(settings, output=tmp_path / name), now=NOW, store=store)
        assert outputs(output) == outputs(tmp_path / name)
        return report

    with Store(tmp_path / "state.sqlite") as store:
        first = build(settings, now=NOW, store=store)
        assert first.mode == "full"
        shown = f"{source}/bad-\\xff-name.md"  # (the name's bytes escaped)
        assert [(e.path, e.reason) for e in first.errors] == [(shown, reason)]
        _written(write_article(source, "005.md", n=5, title="Five, edited", topics=["AI"]))
        edited = build(settings, now=NOW, store=store)
        assert (edited.mode, edited.changed_files) == ("incremental", 1)
        assert [e.reason for e in edited.errors] == [reason]
        assert "Five, edited" in (output / "all.rss").read_text(encoding="utf-8")
        expected = cold("cold-1")
        assert list(edited.errors) == list(expected.errors)
        assert (edited.loaded, edited.published) == (expected.loaded, expected.published)
        again = build(settings, now=NOW, store=store)
        assert again.mode == "unchanged"
        assert list(again.errors) == list(edited.errors)
        # A second misnamed file, nothing else: reported, not the last report repeated.
        other = os.fsencode(source) + b"/other-\xfe.md"
        with open(other, "wb") as handle:
            handle.write(b"---\ntitle: x\n---\n")
        more = build(settings, now=NOW, store=store)
        assert more.mode == "incremental"
        assert sorted(e.path for e in more.errors) == [shown, f"{source}/other-\\xfe.md"]
        # Renamed to a name that can be read: an article like any other.
        os.unlink(other)
        os.rename(bad, source / "012.md")
        renamed = build(settings, now=NOW, store=store)
        assert (renamed.mode, list(renamed.errors)) == ("incremental", [])
    expected = cold("cold-2")
    assert (renamed.loaded, renamed.published) == (expected.loaded, expected.published) == (12, 12)


def test_a_misnamed_file_shown_under_the_name_of_another_is_reported_once(
    tmp_path: Path,
) -> None:
    """A file named by the bytes `bad-\\xff` and one named by the characters that show
    them: each incremental build reports the first once (never again with each build)
    and keeps what is reported of the second, as a cold build does."""
    source, output = tmp_path / "articles", tmp_path / "out"
    corpus(source, 6)
    os.rename(source / "006.md", os.fsencode(source) + b"/bad-\xff-name.md")
    shown = source / "bad-\\xff-name.md"  # (a backslash, then "xff")
    shown.write_text("---\ntitle: [unclosed\n---\n", encoding="utf-8")
    _written(shown)
    settings = config(source, output)
    with Store(tmp_path / "state.sqlite") as store:
        first = build(settings, now=NOW, store=store)
        for n in (1, 2):
            _written(write_article(source, "005.md", n=5, title=f"Five, edit {n}"))
            edited = build(settings, now=NOW, store=store)
            assert (edited.mode, edited.changed_files) == ("incremental", 1)
            assert list(edited.errors) == list(first.errors)
    with Store(tmp_path / "cold.sqlite") as store:
        cold = build(replace(settings, output=tmp_path / "cold"), now=NOW, store=store)
    assert list(edited.errors) == list(cold.errors)
    assert [(e.path, e.reason.startswith("file name")) for e in cold.errors] == [
        (str(shown), True),
        (str(shown), False),
    ]


def test_a_process_makes_the_items_of_the_zones_rows_once_and_keeps_a_bounded_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A daemon's builds find the same periods' zones again: the items of their rows are
    made by the first and taken by the next (the same objects), at most
    `_ZONE_ITEMS_KEPT` of them kept; the feeds are a cold build's either way."""
    source, target = built(tmp_path)
    monkeypatch.setattr(run, "_ZONE_ITEMS", {})
    made: list[dict[Any, Any]] = []
    for title in ["Four, edited", "Four, edited again"]:
        _written(write_article(source, "004.md", n=4, topics=["AI", "Robots"], title=title))
        assert build(target, now=NOW).mode == "incremental"
        made.append(dict(run._ZONE_ITEMS))
    first, second = made
    assert len(first) > 5  # the other articles of its periods (its own is loaded now)
    assert all(second[key] is item for key, item in first.items())
    monkeypatch.setattr(run, "_ZONE_ITEMS_KEPT", 3)
    monkeypatch.setattr(run, "_ZONE_ITEMS", {})
    zonerows.drop()  # the rows of its periods read again, not taken from the last build
    _written(write_article(source, "004.md", n=4, topics=["AI", "Robots"], title="Four, third"))
    assert build(target, now=NOW).mode == "incremental"
    assert 0 < len(run._ZONE_ITEMS) <= 3
    build(config(source, tmp_path / "cold"), now=NOW)
    assert outputs(tmp_path / "out") == outputs(tmp_path / "cold")
