"""Incremental builds (incremental.py): a build after a few changes derives again only
what they touch, and writes the very bytes and report a full build would."""

from __future__ import annotations

import gc
import os
import random
import shutil
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest
import yaml
from conftest import NOW
from conftest import run_cli
from conftest import write_article
from farm import Farm

from aggregator.app.cli import report_json
from aggregator.config import Config
from aggregator.config import TopicSettings
from aggregator.engine.pipeline import build
from aggregator.engine.pipeline import check_links
from aggregator.errors import Cancelled
from aggregator.links.linkpolicy import Freshness
from aggregator.links.linkpolicy import LinkCheckSettings
from aggregator.model import BuildReport
from aggregator.model import counted
from aggregator.model import tally
from aggregator.state.store import Store
from aggregator.stories.urls import canonical_url

TITLES = [
    "Acme launches a farming robot in Kenya",
    "Zorent raises 40 million to build quantum chips",
    "Why hospitals are betting on speech recognition",
    "Talith AI open sources its translation model",
    "Regulators question the safety of delivery drones",
    "Inside the plan to cool data centres with seawater",
    "Banks test a new fraud detection service",
    "A startup in Lagos maps traffic with phones",
]
TOPICS = ["AI", "ai", "Robots", "C++", "Cloud", "cloud computing", "Quantum", "Drones"]
START = datetime(2021, 1, 1, 12, 0, tzinfo=UTC)
#: URLs every build refuses without a request, in several forms ({} is a number)
REFUSED = [
    "http://127.0.0.1/admin/{}",
    "http://169.254.169.254/latest/meta-data/{}.png",
    "https://news1.example.com:8443/s/{}",
    "http://[::ffff:10.0.0.1]/{}",
    "http://localhost/{}",
    "http://1.2.3.4.5/{}",
]


class Corpus:
    """Random article files and random edits of them (deterministic per seed)."""

    def __init__(
        self,
        folder: Path,
        seed: int,
        racy: float = 0.0,
        refused: float = 0.0,
        urls: Callable[[random.Random], str] | None = None,
    ) -> None:
        self.folder = folder
        self.rng = random.Random(seed)
        #: makes the URLs of articles, related stubs and images (default: example.com)
        self.urls = urls
        #: the share of URLs (links, related links, images) that every build refuses
        #: without a request (`linkpolicy.refused_offline`)
        self.refused = refused
        self.count = 0
        self.tick = 0
        #: the share of written files left with the mtime of their writing (racy for
        #: the next build), until `settle`
        self.racy = racy
        self.unsettled: set[Path] = set()

    def url(self) -> str:
        if self.refused and self.rng.random() < self.refused:
            return self.rng.choice(REFUSED).format(self.rng.randrange(400))
        if self.urls is not None:
            return self.urls(self.rng)
        return f"https://news{self.rng.randrange(3)}.example.com/s/{self.rng.randrange(400)}"

    def fields(self) -> dict[str, Any]:
        rng = self.rng
        self.count += 1
        title = rng.choice(TITLES)
        if rng.random() < 0.6:
            title = f"{title} number {self.count}"
        return {
            "n": self.count,
            "title": title,
            "excerpt": f"{title}. Reported by our desk, story {rng.randrange(50)}.",
            "publishedDateTime": START
            + timedelta(days=rng.randrange(100), hours=rng.randrange(24)),
            "webUrl": self.url(),
            "quality": rng.choice([40, 60, 80, 95, None]),
            "published": rng.random() < 0.85,
            "topics": rng.sample(TOPICS, rng.randrange(0, 3)),
            "related": [{"title": "Earlier coverage", "webUrl": self.url()}]
            if rng.random() < 0.5
            else None,
            **self.images(),
        }

    def images(self) -> dict[str, Any]:
        """With `refused`, some articles show a refused image first, then a fine one."""
        if self.urls is not None:
            if self.rng.random() < 0.8:
                return {"images": None}
            return {"images": [{"url": self.urls(self.rng)}, {"url": self.urls(self.rng)}]}
        if not self.refused or self.rng.random() >= self.refused:
            return {}
        first = self.rng.choice(REFUSED).format(self.count)
        return {"images": [{"url": first}, {"url": f"https://img.example.com/{self.count}.jpg"}]}

    def write(self, name: str, fields: dict[str, Any]) -> None:
        path = write_article(self.folder, name, **fields)
        if self.rng.random() < self.racy:
            self.unsettled.add(path)
        else:
            self.touch(path)

    def settle(self) -> None:
        """Give the files left racy an older mtime: the same bytes, another identity."""
        for path in sorted(self.unsettled):
            if path.exists():
                self.touch(path)
        self.unsettled.clear()

    def touch(self, path: Path) -> None:
        """Give a written file an mtime older than the racy window and unlike any other."""
        self.tick += 1
        when = time.time() - 600 + self.tick / 1000
        os.utime(path, (when, when))

    def files(self) -> list[Path]:
        return sorted(self.folder.rglob("*.md"))

    def create(self, count: int) -> None:
        for _ in range(count):
            self.write(f"a{self.count + 1:04}.md", self.fields())

    def edit(self) -> str:
        """One random change; what it was."""
        rng = self.rng
        files = self.files()
        path = rng.choice(files)
        other = rng.choice(files)
        kind = rng.choice(
            ["title", "delete", "same-url", "syndicated", "related", "topics", "flags", "date",
             "rename", "break", "new"]
        )  # fmt: skip
        fields = self.fields()
        if kind == "delete":
            path.unlink()
        elif kind == "rename":
            target = self.folder / "moved" / path.name
            target.parent.mkdir(exist_ok=True)
            path.rename(target)
        elif kind == "break":
            path.write_text("---\ntitle: [unclosed\n---\n", encoding="utf-8")
            self.touch(path)
        elif kind == "new":
            self.write(f"new-{self.count:04}.md", fields)
        else:
            fields.update(self.read(other) if kind in ("same-url", "syndicated") else {})
            if kind == "same-url":
                fields["title"] = f"{fields['title']} (updated)"
            elif kind == "syndicated":
                fields["webUrl"] = self.url() + "/syndicated"
            elif kind == "related":
                fields["webUrl"] = (self.read(other).get("related") or [{}])[0].get(
                    "webUrl", self.url()
                )
            elif kind == "date":
                fields["publishedDateTime"] = START + timedelta(days=rng.randrange(100))
            self.write(path.name if kind != "same-url" else f"dup-{self.count}.md", fields)
        return f"{kind} {path.name}"

    def read(self, path: Path) -> dict[str, Any]:
        import yaml

        text = path.read_text(encoding="utf-8")
        try:
            data = yaml.safe_load(text.split("---\n")[1])
        except (yaml.YAMLError, IndexError):
            return {}
        if not isinstance(data, dict):
            return {}
        wanted = ("title", "excerpt", "publishedDateTime", "webUrl", "topics", "related")
        return {k: data[k] for k in wanted if k in data}


def outputs(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def comparable(report: BuildReport) -> dict[str, Any]:
    """The report without what says which files this very run rewrote, and the lengths
    of its kept lists as they are told before the lists are read."""
    lengths = [len(report.duplicates), len(report.excluded)]
    for kind, rows in (("duplicates", report.duplicates), ("excluded", report.excluded)):
        # The counts kept with the lists are those of their rows.
        assert Counter(counted(kind, rows)) == tally(kind, tuple(rows)), kind
    data = report_json(report)
    data["lengths"] = lengths
    for item in [*data["feeds"], *data["pages"]]:
        item.pop("changed")
    for count in ("feeds_written", "feeds_unchanged", "build"):
        data["counts"].pop(count, None)
    return data


def full_build_beside(config: Config, tmp_path: Path, when: datetime) -> tuple[Path, BuildReport]:
    """A full build (no state) over a copy of the output `config` builds into."""
    folder = tmp_path / "full"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(config.output, folder)
    state = tmp_path / "full-state.sqlite"
    for stale in tmp_path.glob("full-state.sqlite*"):
        stale.unlink()
    report = build(replace(config, output=folder, state=state), now=when)
    assert report.mode == "full"
    return folder, report


@pytest.mark.e2e  # by its measured cost (seconds): kept out of the fast tier
@pytest.mark.parametrize(("seed", "racy"), [(1, 0.0), (2, 0.0), (3, 0.0), (4, 0.5)])
def test_random_edits_build_incrementally_to_the_bytes_of_a_full_build(
    tmp_path: Path, seed: int, racy: float
) -> None:
    """With `racy`, some edited files are built within the racy window (their content
    digest tells the next build whether they changed) and settled at random later."""
    corpus = Corpus(tmp_path / "src", seed, racy)
    corpus.create(160)
    config = Config(
        sources=(corpus.folder,),
        output=tmp_path / "out",
        state=tmp_path / "state.sqlite",
        links="off",
        limit=12,
    )
    assert build(config, now=NOW).mode == "full"
    for step in range(14):
        if corpus.rng.random() < 0.5:
            corpus.settle()
        done = [corpus.edit() for _ in range(1 + step % 3)]
        when = NOW + timedelta(minutes=step + 1)
        folder, full = full_build_beside(config, tmp_path, when)
        report = build(config, now=when)
        assert report.mode == "incremental", done
        assert outputs(config.output) == outputs(folder), done
        assert comparable(report) == comparable(full), done


def cold_build_beside(config: Config, tmp_path: Path, when: datetime) -> tuple[Path, BuildReport]:
    """A full build over a copy of the output and of the link results `config` has, as
    a build with no other state would make it (links on: the same link history)."""
    folder = tmp_path / "cold"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(config.output, folder)
    state = tmp_path / "cold-state.sqlite"
    for stale in tmp_path.glob("cold-state.sqlite*"):
        stale.unlink()
    assert config.state is not None
    with sqlite3.connect(config.state) as source, sqlite3.connect(state) as target:
        source.backup(target)
    with sqlite3.connect(state) as db:
        for table in ("parsed", "simzone", "meta", "inc_art", "inc_key", "inc_pair"):
            db.execute(f"DELETE FROM {table}")
        for table in ("inc_story", "inc_member", "inc_rel", "inc_link"):
            db.execute(f"DELETE FROM {table}")
    report = build(replace(config, output=folder, state=state), now=when)
    assert report.mode == "full"
    return folder, report


def stored_links(config: Config) -> dict[str, str]:
    """URL -> when its stored result is due (ISO 8601 UTC), from the state file."""
    assert config.state is not None
    with sqlite3.connect(config.state) as db:
        return dict(db.execute("SELECT url, next_check_at FROM link").fetchall())


def without_requests(report: BuildReport) -> dict[str, Any]:
    """`comparable`, less how many requests the link step sent: a cold build checks
    the due URLs of the articles it keeps, an incremental one may also check the due
    URLs of an article that an edit has just made a dropped copy."""
    data = comparable(report)
    if data.get("links"):
        data["links"].pop("requested")
    return data


#: statuses the farm's switched URLs flip between (dead after two broken checks)
SWITCHED = (200, 404, 410, 500)
#: switched URLs per host
NAMES = 100


@pytest.mark.e2e
@pytest.mark.parametrize("setting", ["two sources", "max_age", "links on", "links cached"])
def test_every_configuration_builds_incrementally_to_the_bytes_of_a_cold_build(
    tmp_path: Path, setting: str, farm: Farm
) -> None:
    """Per-topic settings and aliases with several sources, with `max_age` (the clock
    moves: articles age out between builds) and with link checks against real servers
    whose answers change (links come and go, die, and live again): each build after a
    few edits is incremental, and its files
    and report are those of a cold build at the same time with the same link history.
    With links on it requests only the URLs of changed files and those due."""

    def switched(rng: random.Random) -> str:
        host, name = rng.randrange(3), rng.randrange(NAMES)
        return farm.url(host, f"/switch/s{name}")

    checking = setting in ("links on", "links cached")
    urls = switched if checking else None
    corpus = Corpus(tmp_path / "src", 7, urls=urls)
    corpus.create(150)
    sources: tuple[Path, ...] = (corpus.folder,)
    other = None
    if setting == "two sources":
        other = Corpus(tmp_path / "more", 8)
        other.create(60)
        sources = (other.folder, corpus.folder)  # not in path order
    link_check = LinkCheckSettings(
        allow_private=True,
        min_interval=timedelta(milliseconds=1),
        timeout=timedelta(seconds=5),
        retries=0,
        confirm_after=timedelta(hours=2),
        # Broken links are due again within one to three hours (the jitter is a
        # function of the URL and time), the others some days later.
        freshness=Freshness(ok=timedelta(days=3), broken=timedelta(hours=2), jitter=0.5),
    )
    config = Config(
        sources=sources,
        output=tmp_path / "out",
        state=tmp_path / "state.sqlite",
        links={"links on": "on", "links cached": "cached"}.get(setting, "off"),
        link_check=link_check,
        max_age=timedelta(days=60) if setting == "max_age" else None,
        limit=12,
        # Per-topic settings and aliases, in every configuration.
        topics={
            "ai": TopicSettings(min_quality=90, limit=4),
            "drones": TopicSettings(skip=True),
        },
        aliases={"cloud computing": "Cloud"},
    )
    # A few links are broken from the start: checked again every few hours, they die,
    # and some live again; the others stay fresh for days.
    hot = [(host, name) for host in range(3) for name in range(0, NAMES, 12)]
    for host, name in hot:
        farm.switch(host, f"s{name}", corpus.rng.choice(SWITCHED))
    when = START + timedelta(days=70)
    if setting == "links cached":
        check_links(replace(config, links="on"), now=when)  # what the builds will use
    assert build(config, now=when).mode == "full"
    rechecked = 0
    for step in range(10):
        done = [corpus.edit() for _ in range(1 + step % 2)]
        if other is not None:
            done.append(other.edit())
        for host, name in corpus.rng.sample(hot, 2):
            farm.switch(host, f"s{name}", corpus.rng.choice(SWITCHED))
        when += timedelta(hours=1) if setting != "max_age" else timedelta(days=2)
        if setting == "links cached":  # results come from another command's checks
            check_links(replace(config, links="on"), now=when)
        folder, cold = cold_build_beside(config, tmp_path, when)
        stored = stored_links(config)
        seen = [len(farm.log(host).requests) for host in range(3)]
        report = build(config, now=when)
        assert report.mode == "incremental", done
        assert outputs(config.output) == outputs(folder), done
        assert without_requests(report) == without_requests(cold), done
        # Only URLs never checked or due were requested (by the incremental build).
        for host in range(3):
            for _method, path, _at in farm.log(host).requests[seen[host] :]:
                due = stored.get(canonical_url(farm.url(host, path)))
                assert due is None or due <= when.isoformat(), (path, done)
                rechecked += due is not None
    topics = {f.topic for f in report.feeds if f.entries}
    assert "Cloud" in topics and not topics & {"cloud computing", "Drones"}
    if setting == "max_age":
        assert any(e.code == "max-age" for e in report.excluded)
    if setting == "links on":
        assert rechecked > 0  # due results were checked again, by incremental builds
    if checking:
        assert any(e.code == "dead-link" for e in report.excluded)


@pytest.mark.e2e
@pytest.mark.parametrize("seed", [5, 6])
def test_refused_links_images_and_related_build_incrementally_to_the_bytes_of_a_full_build(
    tmp_path: Path, seed: int
) -> None:
    """Links, related links and images that every build refuses (links off here, the
    incremental kind): an article whose link is refused is left out, a refused image
    or related link leaves its entry, in full and incremental builds alike."""
    corpus = Corpus(tmp_path / "src", seed, refused=0.3)
    corpus.create(120)
    config = Config(
        sources=(corpus.folder,),
        output=tmp_path / "out",
        state=tmp_path / "state.sqlite",
        links="off",
        limit=12,
    )
    first = build(config, now=NOW)
    assert first.mode == "full"
    refused_codes = {e.code for e in first.excluded if e.code.endswith("-link")}
    assert refused_codes == {"unsafe-link", "unsupported-link"}
    for step in range(10):
        done = [corpus.edit() for _ in range(1 + step % 3)]
        when = NOW + timedelta(minutes=step + 1)
        folder, full = full_build_beside(config, tmp_path, when)
        report = build(config, now=when)
        assert report.mode == "incremental", done
        written = outputs(config.output)
        assert written == outputs(folder), done
        assert comparable(report) == comparable(full), done
        for name, data in written.items():
            for form in REFUSED:
                prefix = form.split("{}")[0].encode()
                assert prefix not in data, (name, prefix, done)
    shown = outputs(config.output)["all.json"]
    assert b"Related coverage" in shown and b"https://img.example.com/" in shown


def test_a_url_entering_the_corpus_takes_related_coverage_out_of_a_feed(tmp_path: Path) -> None:
    source = tmp_path / "src"
    corpus = Corpus(source, 0)
    stub = {"title": "Earlier coverage", "webUrl": "https://other.example.com/earlier"}
    corpus.write("a.md", {"n": 1, "topics": ["AI"], "related": [stub]})
    corpus.write("b.md", {"n": 2, "topics": ["Robots"]})
    config = Config(sources=(source,), output=tmp_path / "out", links="off")
    build(config, now=NOW)
    feed = tmp_path / "out" / "topics" / "ai.atom"
    assert b"other.example.com/earlier" in feed.read_bytes()
    # b.md (another topic) becomes the story the stub points at: it is shown on its own
    corpus.write("b.md", {"n": 2, "topics": ["Robots"], "webUrl": stub["webUrl"]})
    report = build(config, now=NOW)
    assert report.mode == "incremental"
    assert b"other.example.com/earlier" not in feed.read_bytes()
    ai = {f.path: f.changed for f in report.feeds if f.topic == "AI"}
    assert ai == {"topics/ai.rss": True, "topics/ai.atom": True, "topics/ai.json": True}


def test_a_new_copy_of_a_story_is_reported_and_its_topics_join_the_survivor(
    tmp_path: Path,
) -> None:
    source = tmp_path / "src"
    corpus = Corpus(source, 0)
    corpus.write("a.md", {"n": 1, "topics": ["AI"], "quality": 90})
    corpus.write("b.md", {"n": 2, "topics": ["Cloud"]})
    config = Config(sources=(source,), output=tmp_path / "out", links="off")
    build(config, now=NOW)
    url = "https://news.example.com/story-1"
    corpus.write("c.md", {"n": 3, "topics": ["Robots"], "webUrl": url, "quality": 50})
    report = build(config, now=NOW)
    assert report.mode == "incremental"
    [duplicate] = report.duplicates
    assert (duplicate.kept, duplicate.dropped, duplicate.reason) == (
        str(source / "a.md"),
        (str(source / "c.md"),),
        "same-url",
    )
    robots = feedparser.parse((tmp_path / "out" / "topics" / "robots.atom").read_bytes())
    assert [e.title for e in robots.entries] == ["Story number 1"]
    assert {t.term for t in robots.entries[0].tags} == {"AI", "Robots"}


def test_changes_it_cannot_follow_make_a_full_build(tmp_path: Path) -> None:
    source = tmp_path / "src"
    corpus = Corpus(source, 4)
    corpus.create(30)
    config = Config(
        sources=(source,), output=tmp_path / "out", state=tmp_path / "s.sqlite", links="off"
    )
    assert build(config, now=NOW).mode == "full"
    assert build(config, now=NOW).mode == "unchanged"
    corpus.edit()
    assert build(config, now=NOW).mode == "incremental"
    # another config
    corpus.edit()
    other = replace(config, topics={"ai": TopicSettings(min_quality=90)})
    assert build(other, now=NOW).mode == "full"
    # an output file changed by something else
    corpus.edit()
    (tmp_path / "out" / "all.atom").write_bytes(b"<feed/>")
    assert build(other, now=NOW).mode == "full"
    assert (tmp_path / "out" / "all.atom").read_bytes() != b"<feed/>"
    # a build killed while it rewrote the tables
    corpus.edit()
    with sqlite3.connect(tmp_path / "s.sqlite") as db:
        db.execute("UPDATE meta SET value = '' WHERE key = 'inc_form'")
    assert build(other, now=NOW).mode == "full"
    # a last report this version did not write
    corpus.edit()
    with sqlite3.connect(tmp_path / "s.sqlite") as db:
        db.execute("UPDATE meta SET value = '{\"loaded\": 3}' WHERE key = 'last_report'")
    assert build(other, now=NOW).mode == "full"
    # many files changed at once
    for path in corpus.files():
        corpus.touch(path)
    assert build(other, now=NOW).mode == "full"
    corpus.edit()
    assert build(other, now=NOW).mode == "incremental"


def _restored_stat(path: Path, data: bytes) -> None:
    """Write `data` (the same length as the file) over `path` and put its mtime back, as
    `cp -p`, `rsync -t` or a restored backup leave a file: only its ctime moved."""
    stat = path.stat()
    assert len(data) == stat.st_size
    path.write_bytes(data)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


@pytest.mark.parametrize("edit", [False, True], ids=["nothing else changed", "a file edited"])
def test_an_output_file_changed_to_the_same_size_and_mtime_is_written_again(
    tmp_path: Path, edit: bool
) -> None:
    source = tmp_path / "src"
    corpus = Corpus(source, 5)
    corpus.create(30)
    config = Config(
        sources=(source,), output=tmp_path / "out", state=tmp_path / "s.sqlite", links="off"
    )
    build(config, now=NOW)
    out = tmp_path / "out"
    # a topic feed, the all-topics feed and the index page, each one byte other
    changed = [next((out / "topics").glob("*.atom")), out / "all.rss", out / "index.html"]
    for path in changed:
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 1
        _restored_stat(path, bytes(data))
    if edit:
        corpus.edit()
    build(config, now=NOW)
    cold = replace(config, output=tmp_path / "cold", state=tmp_path / "cold.sqlite")
    build(cold, now=NOW)
    for path in changed:
        assert path.read_bytes() == (tmp_path / "cold" / path.relative_to(out)).read_bytes()


@pytest.mark.parametrize("ext", ["rss", "atom", "json"])
def test_a_retired_feed_cut_short_is_mended_from_the_topic_s_other_formats(
    tmp_path: Path, ext: str
) -> None:
    source = tmp_path / "src"
    write_article(source, "a.md", n=1, topics=["AI"], quality=90)
    write_article(source, "b.md", n=2, topics=["Robots"], quality=90)
    config = Config(
        sources=(source,), output=tmp_path / "out", state=tmp_path / "s.sqlite", links="off"
    )
    build(config, now=NOW)
    write_article(source, "b.md", n=2, topics=["Robots"], quality=90, published=False)
    build(config, now=NOW)  # Robots has no article left: its feeds are emptied
    path = tmp_path / "out" / "topics" / f"robots.{ext}"
    emptied = path.read_bytes()
    path.write_bytes(emptied[: len(emptied) // 2])  # a copy cut short
    build(config, now=NOW)
    mended = path.read_bytes()
    if ext == "json":
        assert mended == emptied
    else:
        # the title and date of the topic's other feeds (Atom's sub-second offset is
        # Atom's alone: the date is kept to the second)
        before, after = feedparser.parse(emptied), feedparser.parse(mended)
        assert not after.bozo and after.entries == []
        assert after.feed.title == before.feed.title == "Aggregator: Robots"
        assert after.feed.updated_parsed == before.feed.updated_parsed
    build(config, now=NOW)
    assert path.read_bytes() == mended


@pytest.mark.parametrize(
    "change",
    [
        {"title": "Another site"},
        {"base_url": "https://news.example.org/feeds/"},
        {"description": "Other words.", "language": "en-GB"},
        {"content": "excerpt", "icon": "https://example.org/i.png"},
        {"logo": "https://example.org/wide.png", "websub_hub": "https://hub.example.org/"},
        {"topics": {"ai": TopicSettings(title="Machines", description="Thinking ones.")}},
    ],
    ids=["title", "base_url", "description", "content", "logo", "topic title"],
)
def test_settings_only_rendering_reads_render_every_feed_and_form_no_story_again(
    tmp_path: Path, change: dict[str, Any]
) -> None:
    corpus = Corpus(tmp_path / "src", 5)
    corpus.create(30)
    config = Config(
        sources=(corpus.folder,), output=tmp_path / "out", state=tmp_path / "s.sqlite", links="off"
    )
    assert build(config, now=NOW).mode == "full"
    before = outputs(config.output)
    other = replace(config, **change)
    report = build(other, now=NOW)
    # The tables stand: no file is read, no story formed again; every feed is rendered.
    assert (report.mode, report.changed_files) == ("incremental", 0)
    assert outputs(other.output) != before
    folder, cold = full_build_beside(other, tmp_path, NOW)
    assert outputs(other.output) == outputs(folder)
    assert comparable(report) == comparable(cold)
    # And back: the first settings give the first bytes.
    assert build(config, now=NOW).mode == "incremental"
    assert outputs(config.output) == before


@pytest.mark.parametrize("setting", ["links off", "max_age", "links cached"])
def test_settings_that_change_no_output_rebuild_nothing(tmp_path: Path, setting: str) -> None:
    corpus = Corpus(tmp_path / "src", 4)
    corpus.create(30)
    config = Config(
        sources=(corpus.folder,),
        output=tmp_path / "out",
        links="cached" if setting == "links cached" else "off",
        # The limit falls in the middle of the corpus's dates.
        max_age=NOW - (START + timedelta(days=50)) if setting == "max_age" else None,
    )
    assert build(config, now=NOW).mode == "full"
    written = outputs(config.output)
    for schedule in ({"interval": timedelta(hours=6)}, {"cron": "*/5 * * * *"}, {"watch": True}):
        report = build(replace(config, **schedule), now=NOW)
        assert report.mode == "unchanged", schedule
        assert outputs(config.output) == written
    if config.max_age is not None:
        # Once the next article crosses the limit, that is a change; a second later,
        # with none crossing, it is not.
        dates = sorted(
            yaml.safe_load(path.read_text(encoding="utf-8").split("---")[1])["publishedDateTime"]
            for path in corpus.files()
        )
        edge = next(d for d in dates if d > NOW - config.max_age)
        later = edge + config.max_age + timedelta(seconds=1)
        assert build(config, now=later).mode == "incremental"
        assert build(config, now=later + timedelta(seconds=1)).mode == "unchanged"
    corpus.edit()
    assert build(replace(config, interval=timedelta(hours=1)), now=NOW).mode == "incremental"


def switched_corpus(tmp_path: Path, farm: Farm, seed: int, name: str) -> Config:
    """20 files whose links are nine switched URLs of the farm's first host (`name`0 to
    `name`8), checked with links on; their config."""
    corpus = Corpus(
        tmp_path / "src", seed, urls=lambda rng: farm.url(0, f"/switch/{name}{rng.randrange(9)}")
    )
    corpus.create(20)
    settings = LinkCheckSettings(
        allow_private=True,
        min_interval=timedelta(milliseconds=1),
        retries=0,
        confirm_after=timedelta(0),
        freshness=Freshness(jitter=0.0),
    )
    return Config(
        sources=(corpus.folder,),
        output=tmp_path / "out",
        state=tmp_path / "state.sqlite",
        link_check=settings,
    )


@pytest.mark.e2e
def test_a_result_stored_by_check_links_is_used_by_the_next_build(
    tmp_path: Path, farm: Farm
) -> None:
    """`aggregator check-links` stores results between builds; the next build, with no
    file changed and every link fresh, judges the articles they concern again."""
    config = switched_corpus(tmp_path, farm, 3, "s")
    assert build(config, now=NOW).mode == "full"
    assert build(config, now=NOW).mode == "unchanged"
    for name in range(9):
        farm.switch(0, f"s{name}", 404)
    later = NOW + timedelta(days=8)  # every result due: check-links asks again
    check_links(config, now=later)
    later += timedelta(days=2)  # and again: broken twice, the links are dead
    check_links(config, now=later)
    report = build(config, now=later)
    assert report.mode == "incremental"
    folder, cold = cold_build_beside(config, tmp_path, later)
    assert outputs(config.output) == outputs(folder)
    assert without_requests(report) == without_requests(cold)
    assert report.links is not None and report.links.requested == 0
    assert {e.code for e in report.excluded} >= {"dead-link"}


@pytest.mark.e2e
def test_a_build_with_nothing_changed_compares_the_link_rows_only_after_another_run_saved(
    tmp_path: Path, farm: Farm, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With links on, a build with nothing changed repeats the last report without
    comparing every link row with the result it names (at 100,000 files that took
    0.3 s), unless a run but the last build saved results since: a `check-links` that
    found a link broken makes the next build judge its articles again."""
    config = switched_corpus(tmp_path, farm, 4, "r")
    compared: list[datetime | None] = []
    relink = Store.inc_relink

    def counting(store: Store, due: datetime | None, keys: Any = None) -> set[str]:
        if keys is None:
            compared.append(due)
        return relink(store, due, keys)

    monkeypatch.setattr(Store, "inc_relink", counting)
    assert build(config, now=NOW).mode == "full"
    assert build(config, now=NOW).mode == "unchanged"
    assert compared == []
    for name in range(9):
        farm.switch(0, f"r{name}", 404)
    check_links(config, now=NOW + timedelta(days=8))  # every result due: asked again
    when = NOW + timedelta(minutes=1)
    report = build(config, now=when)
    # Compared to know it is no repeat, then by the build (also for the results due).
    assert compared == [None, when]
    assert report.mode == "incremental"
    assert report.links is not None and dict(report.links.classes).get("broken", 0) > 0


def built(tmp_path: Path, seed: int) -> tuple[Corpus, Config]:
    """20 settled files in tmp_path/src, built once into tmp_path/out."""
    corpus = Corpus(tmp_path / "src", seed)
    corpus.create(20)
    config = Config(sources=(corpus.folder,), output=tmp_path / "out", links="off")
    build(config, now=NOW)
    return corpus, config


def test_a_file_written_within_the_racy_window_is_read_again_next_time(tmp_path: Path) -> None:
    corpus, config = built(tmp_path, 5)
    path = write_article(corpus.folder, "a0001.md", n=1, title="Written just now")
    assert build(config, now=NOW).mode == "incremental"
    # Same size, same mtime, other bytes: possible within one clock tick.
    stat = path.stat()
    path.write_text(path.read_text(encoding="utf-8").replace("just now", "just won"))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    report = build(config, now=NOW)
    assert report.mode == "incremental"
    feed = feedparser.parse((tmp_path / "out" / "all.atom").read_bytes())
    assert "Written just won" in [e.title for e in feed.entries]


def test_a_file_read_within_the_racy_window_is_not_read_again_if_its_bytes_are_the_same(
    tmp_path: Path,
) -> None:
    corpus, config = built(tmp_path, 7)
    first = write_article(corpus.folder, "a0001.md", n=1, title="Written just now")
    report = build(config, now=NOW)
    assert (report.mode, report.changed_files) == ("incremental", 1)

    corpus.touch(first)  # the same bytes, an older mtime
    write_article(corpus.folder, "a0002.md", n=2, title="Written a moment later")
    report = build(config, now=NOW)
    assert (report.mode, report.changed_files) == ("incremental", 1)  # the second only
    report = build(config, now=NOW)  # the second is still within the window
    assert (report.mode, report.changed_files) == ("incremental", 0)

    folder, full = full_build_beside(config, tmp_path, NOW)
    assert outputs(config.output) == outputs(folder)
    assert comparable(report) == comparable(full)
    titles = [e.title for e in feedparser.parse((folder / "all.atom").read_bytes()).entries]
    assert {"Written just now", "Written a moment later"} <= set(titles)


@pytest.mark.e2e
def test_the_command_says_when_a_build_was_incremental(tmp_path: Path) -> None:
    source = tmp_path / "src"
    corpus = Corpus(source, 6)
    corpus.create(20)
    args = ("build", "--source", source, "--output", tmp_path / "out")
    assert "full build" in run_cli(*args).stdout
    corpus.edit()
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    assert "incremental build: 1 file changed" in result.stdout
    assert "nothing changed" in run_cli(*args).stdout


def test_a_full_build_leaves_the_garbage_collector_as_it_found_it(tmp_path: Path) -> None:
    """Collection is paused during a full build (see `loader.collector_paused`)."""
    source = tmp_path / "src"
    Corpus(source, 8).create(5)
    config = Config(sources=(source,), output=tmp_path / "out", links="off")
    assert gc.isenabled()
    report = build(config, now=NOW)
    assert report.mode == "full"
    assert gc.isenabled()
    # What the build made went to the oldest generation at once, where it stays
    # collectable (none of it frozen): no pass of the youngest walks it.
    assert gc.is_tracked(report.feeds)
    assert any(found is report.feeds for found in gc.get_objects(2))
    assert gc.get_freeze_count() == 0
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        build(replace(config, output=tmp_path / "other"), now=NOW, cancel=stop)
    assert gc.isenabled()
    gc.disable()
    try:
        build(replace(config, output=tmp_path / "third"), now=NOW)
        assert not gc.isenabled()
    finally:
        gc.enable()
