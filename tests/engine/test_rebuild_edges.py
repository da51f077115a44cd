"""Edge cases of incremental builds (issue 16), found in review: an incremental
build's feeds and report are a cold build's at the same time with the same link
history, and settings that change no output rebuild nothing."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from dataclasses import replace
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest
from conftest import NOW
from conftest import files_read
from conftest import run_cli
from conftest import write_article
from farm import Farm
from test_rebuild import Corpus
from test_rebuild import cold_build_beside
from test_rebuild import outputs
from test_rebuild import without_requests

from aggregator.clock import CTIME_LAG_NS
from aggregator.clock import wall_ns
from aggregator.config import Config
from aggregator.engine.pipeline import build
from aggregator.limits import Limits
from aggregator.links import linkcheck
from aggregator.links.linkpolicy import Freshness
from aggregator.links.linkpolicy import LinkCheckSettings
from aggregator.model import BuildReport
from aggregator.state.store import Store


def linked(tmp_path: Path, **settings: object) -> Config:
    link_check = LinkCheckSettings(
        allow_private=True,
        min_interval=timedelta(milliseconds=1),
        timeout=timedelta(seconds=2),
        retries=0,
        confirm_after=timedelta(hours=2),
        freshness=Freshness(ok=timedelta(days=3), broken=timedelta(hours=2), jitter=0.0),
        **settings,  # type: ignore[arg-type]
    )
    return Config(
        sources=(tmp_path / "src",),
        output=tmp_path / "out",
        state=tmp_path / "state.sqlite",
        links="on",
        link_check=link_check,
    )


def article(tmp_path: Path, name: str, n: int, url: str, **fields: object) -> None:
    fields.setdefault("images", None)
    path = write_article(tmp_path / "src", name, n=n, webUrl=url, **fields)
    old = time.time() - 3600 + n
    os.utime(path, (old, old))


def test_an_edit_whose_links_are_all_fresh_makes_no_link_checker(
    tmp_path: Path, farm: Farm, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An edit whose URLs all have fresh results asks nothing: the build makes no link
    checker (nor imports the HTTP client), and gives a cold build's feeds and report.
    A new URL makes one again."""
    config = linked(tmp_path)
    article(tmp_path, "a.md", 1, farm.url(1, "/switch/a"), images=[{"url": farm.url(2, "/i")}])
    article(tmp_path, "b.md", 2, farm.url(2, "/switch/b"))
    assert build(config, now=NOW).mode == "full"
    made: list[object] = []

    class Counted(linkcheck.LinkChecker):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            made.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(linkcheck, "LinkChecker", Counted)
    when = NOW + timedelta(minutes=5)
    article(tmp_path, "a.md", 1, farm.url(1, "/switch/a"), images=[{"url": farm.url(2, "/i")}],
            title="A, edited")  # fmt: skip
    report = as_cold(config, tmp_path, when)
    assert report.links is not None and report.links.requested == 0
    assert made == []  # nor the cold build beside it, which finds the same results fresh
    article(tmp_path, "b.md", 2, farm.url(0, "/switch/new"))
    report = build(config, now=when + timedelta(minutes=1))
    assert report.mode == "incremental"
    assert report.links is not None and report.links.requested == 1
    assert len(made) == 1


def link_table(state: Path | None) -> dict[str, tuple[object, ...]]:
    """The stored link results: URL -> class, reason, when checked and when due."""
    assert state is not None
    with sqlite3.connect(state) as db:
        rows = db.execute("SELECT url, class, reason, checked_at, next_check_at FROM link")
        return {str(row[0]): tuple(row[1:]) for row in rows}


def test_an_outage_seen_by_the_whole_link_step_is_seen_by_an_incremental_build(
    tmp_path: Path, farm: Farm
) -> None:
    """With the network down, a cold build checks the due URL and the new ones in one
    run, sees every host fail and stores nothing. The incremental build checks the
    due URL first (one host fails: no outage), then the new ones (two hosts: no
    outage): it must not store outage answers as broken results."""
    config = linked(tmp_path)
    article(tmp_path, "a.md", 1, farm.url(0, "/switch/a"))
    t0 = NOW
    assert build(config, now=t0).mode == "full"
    article(tmp_path, "b.md", 2, farm.url(1, "/switch/b"))
    article(tmp_path, "c.md", 3, farm.url(2, "/switch/c"))
    assert build(config, now=t0 + timedelta(days=2)).mode == "incremental"
    farm.close()  # every host refuses from now on
    article(tmp_path, "d.md", 4, farm.url(1, "/switch/d"))
    article(tmp_path, "e.md", 5, farm.url(2, "/switch/e"))
    when = t0 + timedelta(days=3, hours=12)  # a.md's link is due, b and c are fresh
    folder, cold = cold_build_beside(config, tmp_path, when)
    assert cold.links is not None and cold.links.network_down
    report = build(config, now=when)
    assert report.mode == "incremental"
    assert outputs(config.output) == outputs(folder)
    assert without_requests(report) == without_requests(cold)


def two_stories(
    tmp_path: Path, farm: Farm, links: str, images: tuple[str, str], **settings: object
) -> Config:
    """a.md and b.md showing one image each (`images`), built with links on, then with
    `links` (cached: the results checked stay the link results); their config."""
    config = linked(tmp_path)
    config = replace(config, link_check=replace(config.link_check, **settings))  # type: ignore[arg-type]
    article(tmp_path, "a.md", 1, farm.url(1, "/switch/a"), images=[{"url": images[0]}])
    article(tmp_path, "b.md", 2, farm.url(2, "/switch/b"), images=[{"url": images[1]}])
    assert build(config, now=NOW).mode == "full"
    if links == "cached":
        config = replace(config, links="cached")
        assert build(config, now=NOW + timedelta(minutes=1)).mode == "full"
    return config


def as_cold(config: Config, tmp_path: Path, when: datetime) -> BuildReport:
    """An incremental build at `when`, with the feeds, report and stored link results
    of a cold build beside it."""
    folder, cold = cold_build_beside(config, tmp_path, when)
    report = build(config, now=when)
    assert report.mode == "incremental"
    assert outputs(config.output) == outputs(folder)
    assert without_requests(report) == without_requests(cold)
    assert link_table(config.state) == link_table(tmp_path / "cold-state.sqlite")
    return report


@pytest.mark.parametrize("links", ["on", "cached"])
def test_a_refused_form_of_a_shared_image_url_does_not_override_its_checked_form(
    tmp_path: Path, farm: Farm, links: str
) -> None:
    """Two stories show one image, one through a URL with credentials (refused without
    a request) and one without (checked: fine). Both have one canonical URL. A cold
    build checks the fine form and keeps it in the other entry; an edit of the story
    with the refused form alone must not store that refusal for the canonical URL and
    so drop the image from the other story's entry."""
    fine = farm.url(0, "/switch/img")
    refused = fine.replace("http://", "http://user@")
    config = two_stories(tmp_path, farm, links, (refused, fine))
    article(tmp_path, "a.md", 1, farm.url(1, "/switch/a"), images=[{"url": refused}], title="A")
    as_cold(config, tmp_path, NOW + timedelta(minutes=5))
    assert "/switch/img" in (config.output / "all.rss").read_text(encoding="utf-8")
    # and the build after it agrees with a cold build too
    article(tmp_path, "c.md", 3, farm.url(1, "/switch/c"))
    as_cold(config, tmp_path, NOW + timedelta(minutes=10))


@pytest.mark.parametrize("links", ["on", "cached"])
@pytest.mark.parametrize("change", ["deleted", "image dropped"])
def test_a_refused_form_edited_as_the_checked_form_goes_is_judged_as_in_a_cold_build(
    tmp_path: Path, farm: Farm, links: str, change: str
) -> None:
    """The story that gave an image URL in the checked form goes, or drops the image, in
    the build that edits the story with the refused form (credentials in it): that form
    is the only one left, and its refusal is the URL's result, as in a cold build."""
    fine = farm.url(0, "/switch/img")
    refused = fine.replace("http://", "http://user@")
    config = two_stories(tmp_path, farm, links, (refused, fine))
    if change == "image dropped":
        article(tmp_path, "b.md", 2, farm.url(2, "/switch/b"), title="B")
    else:
        (tmp_path / "src" / "b.md").unlink()
    article(tmp_path, "a.md", 1, farm.url(1, "/switch/a"), images=[{"url": refused}], title="A")
    report = as_cold(config, tmp_path, NOW + timedelta(minutes=5))
    assert report.links is not None and dict(report.links.classes).get("unsafe") == 1


@pytest.mark.parametrize("links", ["on", "cached"])
@pytest.mark.parametrize("later", [timedelta(minutes=5), timedelta(days=2)], ids=["fresh", "due"])
def test_a_new_story_with_a_refused_form_another_story_gives_too_is_judged_as_cold(
    tmp_path: Path, farm: Farm, links: str, later: timedelta
) -> None:
    """A story lands giving an image URL in the refused form another story gives: the
    stored refusal is that of both, made again once due, as in a cold build."""
    refused = farm.url(0, "/switch/img").replace("http://", "http://user@")
    config = linked(tmp_path)
    article(tmp_path, "b.md", 2, farm.url(2, "/switch/b"), images=[{"url": refused}])
    assert build(config, now=NOW).mode == "full"
    if links == "cached":
        config = replace(config, links="cached")
        assert build(config, now=NOW + timedelta(minutes=1)).mode == "full"
    article(
        tmp_path, "a.md", 1, farm.url(1, "/switch/a"), images=[{"url": refused}],
        title="Volcano erupts in Iceland", excerpt="Lava flows toward the coast.",
    )  # fmt: skip
    as_cold(config, tmp_path, NOW + later)


@pytest.mark.parametrize("links", ["on", "cached"])
@pytest.mark.parametrize("later", [timedelta(minutes=5), timedelta(days=2)], ids=["fresh", "due"])
def test_a_refused_form_given_by_another_story_too_is_judged_as_in_a_cold_build(
    tmp_path: Path, farm: Farm, links: str, later: timedelta
) -> None:
    """Two stories give an image URL in one refused form: the other story does not
    check it, so an edit of one stores the refusal a cold build stores (made again
    once the stored one is due), not the stored one kept."""
    refused = farm.url(0, "/switch/img").replace("http://", "http://user@")
    config = two_stories(tmp_path, farm, links, (refused, refused))
    article(tmp_path, "a.md", 1, farm.url(1, "/switch/a"), images=[{"url": refused}], title="A")
    as_cold(config, tmp_path, NOW + later)


def test_a_url_refused_in_every_story_reads_no_other_story(
    tmp_path: Path, farm: Farm, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A logo with credentials in its URL, in every story: an edit of one story finds
    the stored refusal is its own, and reads none of the other stories' files to look
    for a checked form (a cost that would grow with the corpus)."""
    from aggregator.engine.run import Run

    config = linked(tmp_path)
    logo = farm.url(0, "/switch/logo").replace("http://", "http://user@")
    for n in range(1, 21):
        article(tmp_path, f"{n:02}.md", n, farm.url(1, f"/switch/{n}"), images=[{"url": logo}])
    assert build(config, now=NOW).mode == "full"
    asked: list[object] = []
    real = Run._checked_elsewhere

    def checked_elsewhere(self: Run, keys: list[str]) -> set[str]:
        asked.append(sorted(keys))
        return real(self, keys)

    monkeypatch.setattr(Run, "_checked_elsewhere", checked_elsewhere)
    article(tmp_path, "07.md", 7, farm.url(1, "/switch/7"), images=[{"url": logo}], title="E")
    report = as_cold(config, tmp_path, NOW + timedelta(minutes=5))
    assert report.links is not None and dict(report.links.classes)["unsafe"] == 1
    assert asked == []


def test_a_form_refused_for_another_reason_is_judged_as_in_a_cold_build(
    tmp_path: Path, farm: Farm
) -> None:
    """Two stories give an image URL with credentials; one is edited to give it without
    them, on a port not allowed: refused still, for that reason now, in the stored
    result as in a cold build's."""
    credentials, port = "http://user@127.0.0.2:1/img", "http://127.0.0.2:1/img"
    config = two_stories(tmp_path, farm, "on", (credentials, credentials), allow_private=False)
    article(tmp_path, "a.md", 1, farm.url(1, "/switch/a"), images=[{"url": port}], title="A")
    as_cold(config, tmp_path, NOW + timedelta(minutes=5))


def test_how_link_requests_are_sent_changes_no_output_and_rebuilds_nothing(
    tmp_path: Path,
) -> None:
    """Timeouts, pacing and the user agent decide how requests go out, not what a stored
    result means: like the schedule, they key nothing (DESIGN: settings that change no
    output key nothing)."""
    corpus = Corpus(tmp_path / "src", 4)
    corpus.create(30)
    config = Config(
        sources=(corpus.folder,),
        output=tmp_path / "out",
        state=tmp_path / "state.sqlite",
        links="off",
    )
    assert build(config, now=NOW).mode == "full"
    written = outputs(config.output)
    base = config.link_check
    for change in (
        {"timeout": timedelta(seconds=3)},
        {"user_agent": "another-agent/2"},
        {"min_interval": timedelta(seconds=5), "workers": 4, "per_host": 1, "retries": 0},
        {"deadline": timedelta(seconds=9), "retry_after_max": timedelta(minutes=1)},
    ):
        other = replace(config, link_check=replace(base, **change))  # type: ignore[arg-type]
        report = build(other, now=NOW)
        assert report.mode == "unchanged", change
        assert outputs(config.output) == written
    # What a result means still keys the build.
    stricter = replace(config, link_check=replace(base, confirm_after=timedelta(hours=1)))
    assert build(stricter, now=NOW).mode == "full"


@pytest.mark.parametrize("many", [False, True], ids=["incremental", "cold"])
def test_a_file_missing_when_stated_but_read_after_shows_the_body_read_now(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, many: bool
) -> None:
    """A save that replaces a file (git checkout, an editor writing a new file and
    renaming it) can leave it missing when the build takes every file's size and
    mtime, and there when it is read: its entry is what was read, never the new title
    with the last build's excerpt."""
    from aggregator.engine import pipeline

    source = tmp_path / "src"
    for number in range(1, 31):
        write_article(source, f"{number:03}.md", n=number)
    old = time.time() - 60
    for path in source.iterdir():
        os.utime(path, (old, old))
    config = Config(sources=(source,), output=tmp_path / "out", links="off")
    with Store(tmp_path / "state.sqlite") as store:
        build(config, now=NOW, store=store)
        write_article(source, "030.md", n=30, title="New title", excerpt="New excerpt")
        edited = range(1, 26) if many else ()  # so many that the build is cold
        for number in edited:
            write_article(source, f"{number:03}.md", n=number, title=f"Edited {number}")
        for number in (*edited, 30):
            os.utime(source / f"{number:03}.md", (old + 30, old + 30))
        real = pipeline.stat_files

        def stat_files(
            paths: list[str], since: int | None = None, fresh: set[str] | None = None
        ) -> dict[str, tuple[int, int]]:
            found = real(paths, since, fresh)
            found.pop(str(source / "030.md"), None)  # missing at that moment
            return found

        monkeypatch.setattr(pipeline, "stat_files", stat_files)
        report = build(config, now=NOW + timedelta(hours=1), store=store)
    assert report.mode == ("full" if many else "incremental")
    feed = (config.output / "all.rss").read_text(encoding="utf-8")
    assert "New title" in feed and "New excerpt" in feed
    assert "The excerpt of story 30." not in feed


def test_a_build_stopped_once_its_feeds_landed_leaves_them_and_the_next_starts_afresh(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The feeds land before the build keeps its report and file identities for the
    next: a build stopped in between (here by an error; a SIGKILL alike) has written
    the new feeds, and the next build starts from an empty state and gives the bytes
    and report a cold build gives."""
    from aggregator.engine.run import Run

    source = tmp_path / "src"
    for number in range(1, 21):
        write_article(source, f"{number:03}.md", n=number)
    state = tmp_path / "state.sqlite"
    config = Config(sources=(source,), output=tmp_path / "out", links="off", state=state)
    with Store(state) as store:
        build(config, now=NOW, store=store)
        write_article(source, "021.md", n=21, title="Landed before the bookkeeping")

        def stopped(self: Run, published: object) -> None:
            raise RuntimeError("stopped after the feeds landed")

        with monkeypatch.context() as patched:
            patched.setattr(Run, "complete", stopped)
            with pytest.raises(RuntimeError, match="stopped after the feeds landed"):
                build(config, now=NOW + timedelta(minutes=1), store=store)
        assert "Landed before the bookkeeping" in (config.output / "all.rss").read_text("utf-8")
        write_article(source, "022.md", n=22, title="Written after the stop")
        report = build(config, now=NOW + timedelta(minutes=2), store=store)
    assert report.mode == "full"  # the tables were not sealed: no incremental build
    cold_folder, cold_report = cold_build_beside(config, tmp_path, NOW + timedelta(minutes=2))
    assert outputs(config.output) == outputs(cold_folder)
    assert report.published == cold_report.published == 22


def test_a_feed_rendered_again_is_listed_anew_on_the_index_page_when_kept_after(
    tmp_path: Path,
) -> None:
    """A kept feed's latest entries (the index page's headlines) are kept in the process
    for the next build: never after the feed was rendered again with an entry retitled
    (same paths, count and date), in this process or in another."""
    source = tmp_path / "src"
    tick = [time.time() - 600]

    def write(name: str, **fields: object) -> None:
        path = write_article(source, name, **fields)
        tick[0] += 1
        os.utime(path, (tick[0], tick[0]))

    write("x.md", n=1, title="Old headline about robots", topics=["AI"])
    write("c.md", n=2, title="Cloud story one", topics=["Cloud"])
    state = tmp_path / "state.sqlite"
    config = Config(sources=(source,), output=tmp_path / "out", links="off", state=state)
    build(config, now=NOW)
    write("c.md", n=2, title="Cloud story one edited", topics=["Cloud"])
    build(config, now=NOW + timedelta(minutes=1))  # the AI feed kept: its listing too
    write("x.md", n=1, title="New headline about robots", topics=["AI"])
    build(config, now=NOW + timedelta(minutes=2))  # the AI feed rendered again
    write("c.md", n=2, title="Cloud story one edited twice", topics=["Cloud"])
    when = NOW + timedelta(minutes=3)
    assert build(config, now=when).mode == "incremental"  # the AI feed kept again
    index = (config.output / "index.html").read_text(encoding="utf-8")
    assert "New headline about robots" in index and "Old headline" not in index
    cold_folder, _ = cold_build_beside(config, tmp_path, when)
    assert outputs(config.output) == outputs(cold_folder)


def _unprivileged() -> list[str]:
    """A command prefix under which file permissions hold: none for a user other than
    root; for root, `setpriv` without the capabilities that bypass them."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: no file can be made unreadable")
    drop = "-dac_override,-dac_read_search"
    return [setpriv, "--bounding-set", drop, "--inh-caps", drop]


#: what else happens before the next build: nothing (it repeats the last report), a new
#: file (an incremental build), the output removed (a cold build with the parse cache)
THEN = ["nothing else", "another file", "output removed"]


def _built(tmp_path: Path, wrapper: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """Build articles/ into out/: the errors reported, and the links of the feed."""
    done = run_cli(
        "build",
        *("--source", "articles", "--output", "out", "--report", "report.json"),
        cwd=tmp_path,
        wrapper=wrapper,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    atom = feedparser.parse((tmp_path / "out" / "all.atom").read_bytes())
    errors = [(e["path"], e["reason"]) for e in report["errors"]]
    return errors, sorted(entry.link for entry in atom.entries)


def _then(tmp_path: Path, then: str) -> list[str]:
    """Do `then` (see THEN); the links it adds to the feed."""
    if then == "another file":
        write_article(tmp_path / "articles", "new.md", n=3)
        return ["https://news.example.com/story-3"]
    if then == "output removed":
        shutil.rmtree(tmp_path / "out")
    return []


def _aged(folder: Path) -> None:
    """Every file of `folder` last written a minute ago: told by its size and mtime."""
    old = time.time() - 60
    for path in folder.iterdir():
        os.utime(path, (old, old))


@pytest.mark.e2e
@pytest.mark.parametrize("then", THEN)
def test_a_file_made_readable_is_read_though_its_size_and_mtime_are_the_same(
    tmp_path: Path, then: str
) -> None:
    """`chmod` changes neither size nor mtime: a file that could not be read is read
    again by the next build, whether it repeats the last report (nothing else changed),
    is incremental or is cold with the parse cache of the state file."""
    wrapper = _unprivileged()
    articles = tmp_path / "articles"
    write_article(articles, "open.md", n=1)
    locked = write_article(articles, "locked.md", n=2)
    _aged(articles)
    locked.chmod(0)
    one = ["https://news.example.com/story-1"]
    both = [*one, "https://news.example.com/story-2"]
    denied = [("articles/locked.md", "cannot read file: Permission denied")]
    assert _built(tmp_path, wrapper) == (denied, one)
    identity = (locked.stat().st_size, locked.stat().st_mtime_ns)
    locked.chmod(0o644)
    assert (locked.stat().st_size, locked.stat().st_mtime_ns) == identity
    both += _then(tmp_path, then)
    assert _built(tmp_path, wrapper) == ([], sorted(both))


@pytest.mark.e2e
def test_a_folder_that_cannot_be_listed_is_reported_and_its_files_come_back(
    tmp_path: Path,
) -> None:
    wrapper = _unprivileged()
    articles = tmp_path / "articles"
    write_article(articles, "open.md", n=1)
    write_article(articles / "sub", "inside.md", n=2)
    _aged(articles)
    one = ["https://news.example.com/story-1"]
    both = [*one, "https://news.example.com/story-2"]
    assert _built(tmp_path, wrapper) == ([], both)
    (articles / "sub").chmod(0)
    refused = [("articles/sub", "cannot read folder: Permission denied")]
    assert _built(tmp_path, wrapper) == (refused, one)
    assert _built(tmp_path, wrapper) == (refused, one)  # (no report repeated over it)
    (articles / "sub").chmod(0o755)
    assert _built(tmp_path, wrapper) == ([], both)


@pytest.mark.e2e
@pytest.mark.parametrize("then", THEN)
def test_a_file_made_unreadable_is_reported_though_its_size_and_mtime_are_the_same(
    tmp_path: Path, then: str
) -> None:
    """... and a file the parse cache holds, made unreadable, is not published from it."""
    wrapper = _unprivileged()
    articles = tmp_path / "articles"
    write_article(articles, "open.md", n=1)
    locked = write_article(articles, "locked.md", n=2)
    _aged(articles)
    one = ["https://news.example.com/story-1"]
    assert _built(tmp_path, wrapper) == ([], [*one, "https://news.example.com/story-2"])
    locked.chmod(0)
    one += _then(tmp_path, then)
    denied = [("articles/locked.md", "cannot read file: Permission denied")]
    assert _built(tmp_path, wrapper) == (denied, sorted(one))


def test_a_file_changed_before_the_stamp_a_build_keeps_has_a_ctime_at_it_or_before(
    tmp_path: Path,
) -> None:
    """What a build's `since` relies on: a file changed before it is not taken as
    changed again by the next build (file times are stamped from the wall clock, or
    from a coarser clock behind it)."""
    path = tmp_path / "a.md"
    path.write_text("a", encoding="utf-8")
    for mode in [0o600, 0o644] * 200:
        path.chmod(mode)
        assert path.stat().st_ctime_ns <= wall_ns()


def _two_articles(tmp_path: Path, title: str) -> tuple[Path, Path, Config]:
    """`articles/open.md` and `articles/story.md` (titled `title`), last written a
    minute ago and before the next build's stamp; the folder, the story and a config."""
    articles = tmp_path / "articles"
    write_article(articles, "open.md", n=1)
    story = write_article(articles, "story.md", n=2, title=title)
    _aged(articles)
    time.sleep(CTIME_LAG_NS / 1e9)  # (their ctimes before the first build's stamp)
    return articles, story, Config(sources=(articles,), output=tmp_path / "out", links="off")


def _replaced(story: Path, spare: Path) -> None:
    """Another file of the same size and mtime (`spare`: a folder out of the sources)
    renamed over `story`, its title now "The new title" (was "The old title")."""
    new = write_article(spare, "new.md", n=2, title="The new title")
    before = story.stat()
    assert new.stat().st_size == before.st_size
    os.utime(new, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(new, story)


@pytest.mark.e2e
@pytest.mark.parametrize("then", THEN)
def test_a_file_replaced_by_one_of_the_same_size_and_mtime_is_read(
    tmp_path: Path, then: str
) -> None:
    """Another file renamed over it with the same size and mtime (`cp -p`, `touch -r`,
    an archive unpacked): a build reads the new one."""
    articles = tmp_path / "articles"
    write_article(articles, "open.md", n=1)
    story = write_article(articles, "story.md", n=2, title="The old title")
    _aged(articles)
    assert _built(tmp_path, [])[0] == []
    _replaced(story, tmp_path)
    _then(tmp_path, then)
    assert _built(tmp_path, [])[0] == []
    feed = (tmp_path / "out" / "all.atom").read_text(encoding="utf-8")
    assert "The new title" in feed and "The old title" not in feed


def test_the_daemon_reads_a_file_replaced_by_one_of_the_same_size_and_mtime(
    tmp_path: Path,
) -> None:
    """As the command does (above), a daemon that follows events: the event names the
    file, its size and mtime are the same; and a command build after it on the same
    state file reads it no more (it was read)."""
    from aggregator.app.watch import Warm

    _, story, config = _two_articles(tmp_path, "The old title")
    warm = Warm()
    with Store(tmp_path / "state.sqlite") as store:
        build(config, now=NOW, store=store, find=warm.find)
        _replaced(story, tmp_path)
        warm.touched([str(story)])
        assert build(config, now=NOW, store=store, find=warm.find).mode == "incremental"
        assert not warm.walked
        feed = (tmp_path / "out" / "all.atom").read_text(encoding="utf-8")
        assert "The new title" in feed and "The old title" not in feed
        assert build(config, now=NOW, store=store).mode == "unchanged"


def test_the_daemon_takes_a_file_chmodded_with_the_same_bytes_as_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `chmod` an event names: the daemon's build reads the file, finds the bytes its
    cached row was parsed from and repeats the last report, never parses it; the next
    builds events start do not read it again (though they keep when the walk began, as
    they stat only what events name), the next walk does once (its ctime is after the
    walk before), then no build does, nor the command."""
    from aggregator.app.watch import Warm

    articles, story, config = _two_articles(tmp_path, "The title")
    warm = Warm()
    hashed = files_read(monkeypatch, "file_digest")
    parsed = files_read(monkeypatch, "load_file_digest")
    with Store(tmp_path / "state.sqlite") as store:

        def built(**find: Any) -> str:
            return build(config, now=NOW, store=store, **find).mode

        first = build(config, now=NOW, store=store, find=warm.find)
        parsed.clear()
        story.chmod(0o600)
        warm.touched([str(story)])
        time.sleep(CTIME_LAG_NS / 1e9)
        again = build(config, now=NOW, store=store, find=warm.find)
        assert (again.mode, again.published, hashed) == ("unchanged", first.published, ["story.md"])
        (articles / "open.md").chmod(0o600)
        warm.touched([str(articles / "open.md")])
        time.sleep(CTIME_LAG_NS / 1e9)
        assert built(find=warm.find) == "unchanged"
        assert hashed == ["story.md", "open.md"]
        warm.rewalk()
        assert built(find=warm.find) == "unchanged"
        assert warm.walked and sorted(hashed) == ["open.md", "open.md", "story.md", "story.md"]
        hashed.clear()
        assert built(find=warm.find) == built() == "unchanged"
        assert (hashed, parsed) == ([], [])


def _after_a_build_on_events(config: Config, store: Store, warm: Any, then: str) -> BuildReport:
    """A build the daemon starts on events, which sees no change (none named), then
    what must see it: the daemon's next walk, or the command."""
    assert build(config, now=NOW, store=store, find=warm.find).mode == "unchanged"
    assert not warm.walked
    if then == "the command builds":
        return build(config, now=NOW, store=store)
    warm.rewalk()
    report = build(config, now=NOW, store=store, find=warm.find)
    assert warm.walked
    return report


@pytest.mark.parametrize("then", ["the daemon walks", "the command builds"])
def test_a_change_no_event_told_the_daemon_is_read_by_its_next_walk_or_the_command(
    tmp_path: Path, then: str
) -> None:
    """A build the daemon starts on events stats the files they name only: one replaced
    with the same size and mtime and no event (a network file system, a folder past the
    inotify limit) is not seen by it, and must not be hidden from what looks at every
    file after it: the build keeps when the daemon's walk began, not its own start."""
    from aggregator.app.watch import Warm

    articles, story, config = _two_articles(tmp_path, "The old title")
    warm = Warm()
    with Store(tmp_path / "state.sqlite") as store:
        build(config, now=NOW, store=store, find=warm.find)
        _replaced(story, tmp_path)  # no event
        (articles / "open.md").chmod(0o600)
        warm.touched([str(articles / "open.md")])
        time.sleep(CTIME_LAG_NS / 1e9)  # (the changes before the next build's stamp)
        assert _after_a_build_on_events(config, store, warm, then).mode == "incremental"
        feed = (tmp_path / "out" / "all.atom").read_text(encoding="utf-8")
        assert "The new title" in feed and "The old title" not in feed


def test_the_daemon_repeats_its_report_once_a_file_written_just_before_a_build_settles(
    tmp_path: Path,
) -> None:
    """A file written just before the build that read it (cached under no identity,
    told by its digest: `RACY_SIZE`) has a ctime after the daemon's walk until the next
    walk: its bytes, the same as its row's, let the builds events start repeat the
    last report once it has settled, as the command's do."""
    from aggregator.app.watch import Warm
    from aggregator.sources.parsecache import RACY_SECONDS

    articles = tmp_path / "articles"
    write_article(articles, "open.md", n=1)
    _aged(articles)
    time.sleep(CTIME_LAG_NS / 1e9)  # (their ctimes before the first build's stamp)
    config = Config(sources=(articles,), output=tmp_path / "out", links="off")
    warm = Warm()
    with Store(tmp_path / "state.sqlite") as store:
        build(config, now=NOW, store=store, find=warm.find)
        write_article(articles, "new.md", n=2, title="Written just now")
        warm.touched([str(articles / "new.md")])
        assert build(config, now=NOW, store=store, find=warm.find).mode == "incremental"
        time.sleep(RACY_SECONDS + CTIME_LAG_NS / 1e9)
        # (its size and mtime kept now: no longer told by its digest)
        assert build(config, now=NOW, store=store, find=warm.find).mode == "incremental"
        report = build(config, now=NOW, store=store, find=warm.find)
        assert (report.mode, report.published, warm.walked) == ("unchanged", 2, False)


@pytest.mark.parametrize("daemon", [False, True], ids=["command", "daemon"])
def test_a_link_pointed_at_another_file_of_the_same_size_and_mtime_is_read(
    tmp_path: Path, daemon: bool
) -> None:
    """An article file that is a symbolic link, pointed at another release of the file
    (`ln -sfn`, atomically): the files' size and mtime are the same, the link's ctime
    tells, to the command and to the daemon (the event names the link; its walk stats
    the link's file)."""
    from aggregator.app.watch import Warm

    articles = tmp_path / "articles"
    write_article(articles, "open.md", n=1)
    one = write_article(tmp_path / "releases", "one.txt", n=2, title="Version AAA")
    two = write_article(tmp_path / "releases", "two.txt", n=2, title="Version BBB")
    (articles / "story.md").symlink_to(one)
    _aged(articles)
    _aged(tmp_path / "releases")
    time.sleep(CTIME_LAG_NS / 1e9)  # (their ctimes before the first build's stamp)
    config = Config(sources=(articles,), output=tmp_path / "out", links="off")
    warm = Warm()
    find = {"find": warm.find} if daemon else {}
    with Store(tmp_path / "state.sqlite") as store:
        build(config, now=NOW, store=store, **find)
        assert "Version AAA" in (tmp_path / "out" / "all.atom").read_text(encoding="utf-8")
        (articles / "next.md").symlink_to(two)
        os.replace(articles / "next.md", articles / "story.md")
        warm.touched([str(articles / "next.md"), str(articles / "story.md")])
        assert build(config, now=NOW, store=store, **find).mode == "incremental"
        feed = (tmp_path / "out" / "all.atom").read_text(encoding="utf-8")
        assert "Version BBB" in feed and "Version AAA" not in feed
        assert build(config, now=NOW, store=store, **find).mode == "unchanged"


def _kept_folders(store: Store) -> dict[str, int]:
    """The folders holding article files the last build kept, and their numbers (not
    those of the folders of the sources' real paths)."""
    kept = json.loads(store.meta("inc_folders") or "")
    return {name: n for name, n in kept.items() if not name.startswith("\0")}


def _releases(tmp_path: Path, below: str, *titles: str) -> list[Path]:
    """A folder per title under `releases/`, each holding `open.md` and `story.md`
    (titled so: titles of one length) in its folder `below` ("" for itself), the same
    sizes and mtimes in each, last written a minute ago and before the next build's
    stamp."""
    folders = []
    for n, title in enumerate(titles):
        folder = tmp_path / "releases" / f"r{n}"
        write_article(folder / below, "open.md", n=1)
        write_article(folder / below, "story.md", n=2, title=title)
        _aged(folder / below)
        for name in ("open.md", "story.md"):
            first = (tmp_path / "releases" / "r0" / below / name).stat()
            assert (folder / below / name).stat().st_size == first.st_size
            os.utime(folder / below / name, ns=(first.st_atime_ns, first.st_mtime_ns))
        folders.append(folder)
    time.sleep(CTIME_LAG_NS / 1e9)  # (their ctimes before the first build's stamp)
    return folders


#: how a folder of the corpus is swapped for another release: `articles/2020` renamed
#: over (there from the start, its files in it or a folder down, or come after the
#: daemon's walk), the source a link
#: pointed at the next release (`ln -sfn`), the source a link to a folder renamed over,
#: the source itself renamed over (its files two folders down), the folder the source
#: is in renamed over (`mv site-new site`), a link above the source pointed elsewhere,
#: the source a link to a folder whose parent is renamed over, or reached through a link
#: pointed elsewhere
SWAPS = [
    "folder renamed over",
    "folder renamed over, its files below",
    "folder come since",
    "source linked",
    "source's folder renamed over",
    "source renamed over",
    "parent renamed over",
    "link above the source",
    "link into a folder renamed over",
    "link through a link",
]


@pytest.mark.parametrize("daemon", [False, True], ids=["command", "daemon"])
@pytest.mark.parametrize("swap", SWAPS)
def test_a_folder_swapped_for_one_with_files_of_the_same_sizes_and_mtimes_is_read(
    tmp_path: Path, daemon: bool, swap: str
) -> None:
    """A folder of the corpus swapped for another made before the last build (see
    `SWAPS`): each file has the same name, size and mtime and an older ctime, the
    folder tells (its inode number, and its ctime, a folder's above it or a link's);
    read by the command and by the daemon (the event names the folder, or the source
    is another folder), then by neither."""
    from aggregator.app.watch import Warm

    below = {"source renamed over": "2020/05", "folder renamed over, its files below": "05"}
    for each in SWAPS[6:]:
        below[each] = "articles"
    old, new = _releases(tmp_path, below.get(swap, ""), "Version AAA", "Version BBB")
    articles, current = tmp_path / "articles", tmp_path / "current"
    if swap == "source linked":
        articles.symlink_to(old, target_is_directory=True)
    elif swap == "source's folder renamed over":
        os.rename(old, current)
        articles.symlink_to(current, target_is_directory=True)
    elif swap == "source renamed over":
        os.rename(old, articles)
    elif swap == "parent renamed over":
        os.rename(old, tmp_path / "site")
        articles = tmp_path / "site" / "articles"
    elif swap == "link above the source":
        current.symlink_to(old, target_is_directory=True)
        articles = current / "articles"
    elif swap == "link into a folder renamed over":
        os.rename(old, tmp_path / "site")
        articles.symlink_to(tmp_path / "site" / "articles", target_is_directory=True)
    elif swap == "link through a link":
        current.symlink_to(old, target_is_directory=True)
        articles.symlink_to(current / "articles", target_is_directory=True)
    else:
        articles.mkdir()
        if swap.startswith("folder renamed over"):
            os.rename(old, articles / "2020")
    time.sleep(CTIME_LAG_NS / 1e9)  # (links and renames before the first build's stamp)
    config = Config(sources=(articles,), output=tmp_path / "out", links="off")
    warm = Warm()
    find = {"find": warm.find} if daemon else {}
    with Store(tmp_path / "state.sqlite") as store:
        build(config, now=NOW, store=store, **find)
        if swap == "folder come since":
            os.rename(old, articles / "2020")
            warm.touched([str(articles / "2020")])
            build(config, now=NOW, store=store, **find)
            assert not warm.walked
        assert "Version AAA" in (tmp_path / "out" / "all.atom").read_text(encoding="utf-8")
        if swap in ("source linked", "link above the source", "link through a link"):
            link = articles if swap == "source linked" else current
            (tmp_path / "next").symlink_to(new, target_is_directory=True)
            os.replace(tmp_path / "next", link)
        elif swap == "source's folder renamed over":
            os.rename(current, tmp_path / "aside")
            os.rename(new, current)
        elif swap in (
            "source renamed over",
            "parent renamed over",
            "link into a folder renamed over",
        ):
            top = tmp_path / ("articles" if swap == "source renamed over" else "site")
            os.rename(top, tmp_path / "aside")
            os.rename(new, top)
        else:
            os.rename(articles / "2020", tmp_path / "aside")
            os.rename(new, articles / "2020")
            warm.touched([str(articles / "2020")])
        assert build(config, now=NOW, store=store, **find).mode == "incremental"
        feed = (tmp_path / "out" / "all.atom").read_text(encoding="utf-8")
        assert "Version BBB" in feed and "Version AAA" not in feed
        assert build(config, now=NOW, store=store, **find).mode == "unchanged"
        assert build(config, now=NOW, store=store).mode == "unchanged"


@pytest.mark.parametrize("daemon", [False, True], ids=["command", "daemon"])
@pytest.mark.parametrize("way", ["into", "out of"])
def test_a_source_link_pointed_into_its_folders_folder_or_out_is_read(
    tmp_path: Path, daemon: bool, way: str
) -> None:
    """The source a link pointed at a folder inside the folder it pointed at, or back
    out (its real path one folder longer or shorter, the folders they share the same):
    `story.md` is another file of the same size and mtime, read (out: the file inside
    that had its name removed)."""
    from aggregator.app.watch import Warm

    old, new = _releases(tmp_path, "", "Version AAA", "Version BBB")
    os.rename(new, old / "inner")
    articles = tmp_path / "articles"
    first, then = (old, old / "inner") if way == "into" else (old / "inner", old)
    articles.symlink_to(first, target_is_directory=True)
    time.sleep(CTIME_LAG_NS / 1e9)  # (the link before the first build's stamp)
    config = Config(sources=(articles,), output=tmp_path / "out", links="off")
    find = {"find": Warm().find} if daemon else {}
    with Store(tmp_path / "state.sqlite") as store:
        build(config, now=NOW, store=store, **find)
        (tmp_path / "next").symlink_to(then, target_is_directory=True)
        os.replace(tmp_path / "next", articles)
        if way == "out of":  # (else the same story, by its URL, as `story.md`)
            (old / "inner" / "story.md").unlink()
        build(config, now=NOW, store=store, **find)
    feed = (tmp_path / "out" / "all.atom").read_text(encoding="utf-8")
    shown, gone = ("BBB", "AAA") if way == "into" else ("AAA", "BBB")
    assert f"Version {shown}" in feed and f"Version {gone}" not in feed


def test_a_swap_in_one_source_reads_no_file_of_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two sources, one a link pointed at the next release: its files are read again,
    not those of the other source."""
    old, new = _releases(tmp_path, "", "Version AAA", "Version BBB")
    articles, notes = tmp_path / "articles", tmp_path / "notes"
    articles.symlink_to(old, target_is_directory=True)
    write_article(notes, "note.md", n=7)
    _aged(notes)
    time.sleep(CTIME_LAG_NS / 1e9)  # (before the first build's stamp)
    config = Config(sources=(articles, notes), output=tmp_path / "out", links="off")
    hashed = files_read(monkeypatch, "file_digest")
    with Store(tmp_path / "state.sqlite") as store:
        build(config, now=NOW, store=store)
        (tmp_path / "next").symlink_to(new, target_is_directory=True)
        os.replace(tmp_path / "next", articles)
        assert build(config, now=NOW, store=store).mode == "incremental"
    assert sorted(hashed) == ["open.md", "story.md"]
    feed = (tmp_path / "out" / "all.atom").read_text(encoding="utf-8")
    assert "Version BBB" in feed and "Version AAA" not in feed


def test_a_folder_above_the_source_renamed_over_with_the_output_in_it_is_read(
    tmp_path: Path,
) -> None:
    """`mv site-new site`, the source `site/articles` and the output `site/out`: the
    folder above the source renamed over has had entries added since (the output), yet
    its number tells."""
    old, new = _releases(tmp_path, "articles", "Version AAA", "Version BBB")
    site = tmp_path / "site"
    os.rename(old, site)
    time.sleep(CTIME_LAG_NS / 1e9)  # (the rename before the first build's stamp)
    config = Config(sources=(site / "articles",), output=site / "out", links="off")
    with Store(tmp_path / "state.sqlite") as store:
        build(config, now=NOW, store=store)
        os.rename(site, tmp_path / "aside")
        os.rename(new, site)
        (site / "DEPLOYED").write_text("r1", encoding="utf-8")
        build(config, now=NOW, store=store)
    feed = (site / "out" / "all.atom").read_text(encoding="utf-8")
    assert "Version BBB" in feed and "Version AAA" not in feed


def test_a_folder_renamed_then_swapped_is_read(tmp_path: Path) -> None:
    """A folder renamed (as many folders as before, under other names), then swapped:
    the build after the rename keeps the folders under their new names."""
    old, new = _releases(tmp_path, "", "Version AAA", "Version BBB")
    articles = tmp_path / "articles"
    articles.mkdir()
    os.rename(old, articles / "2019")
    time.sleep(CTIME_LAG_NS / 1e9)  # (the rename before the first build's stamp)
    config = Config(sources=(articles,), output=tmp_path / "out", links="off")
    with Store(tmp_path / "state.sqlite") as store:
        build(config, now=NOW, store=store)
        os.rename(articles / "2019", articles / "2021")
        build(config, now=NOW, store=store)
        os.rename(articles / "2021", tmp_path / "aside")
        os.rename(new, articles / "2021")
        build(config, now=NOW, store=store)
    feed = (tmp_path / "out" / "all.atom").read_text(encoding="utf-8")
    assert "Version BBB" in feed and "Version AAA" not in feed


def test_the_daemon_numbers_the_folder_of_a_file_an_event_adds(tmp_path: Path) -> None:
    """A file an event names, added to a folder that held no article file: the daemon
    keeps that folder's number, so a swap of the folder after it is read."""
    from aggregator.app.watch import Warm

    old, new = _releases(tmp_path, "", "Version AAA", "Version BBB")
    articles = tmp_path / "articles"
    write_article(articles, "open.md", n=3)
    (articles / "2021").mkdir()
    (articles / "2021" / "notes.json").write_text("{}", encoding="utf-8")
    _aged(articles)
    time.sleep(CTIME_LAG_NS / 1e9)  # (their ctimes before the first build's stamp)
    config = Config(sources=(articles,), output=tmp_path / "out", links="off")
    warm = Warm()
    with Store(tmp_path / "state.sqlite") as store:
        build(config, now=NOW, store=store, find=warm.find)
        os.rename(old / "story.md", articles / "2021" / "story.md")
        warm.touched([str(articles / "2021" / "story.md")])
        build(config, now=NOW, store=store, find=warm.find)
        assert "Version AAA" in (tmp_path / "out" / "all.atom").read_text(encoding="utf-8")
        (new / "open.md").unlink()
        os.rename(articles / "2021", tmp_path / "aside")
        os.rename(new, articles / "2021")
        warm.touched([str(articles / "2021")])
        assert build(config, now=NOW, store=store, find=warm.find).mode == "incremental"
        assert not warm.walked
    feed = (tmp_path / "out" / "all.atom").read_text(encoding="utf-8")
    assert "Version BBB" in feed and "Version AAA" not in feed


@pytest.mark.parametrize("then", ["the daemon walks", "the command builds"])
def test_a_folder_swapped_with_no_event_is_read_by_the_daemons_next_walk_or_the_command(
    tmp_path: Path, then: str
) -> None:
    """A folder swapped where no event tells the daemon (a network file system): its
    builds on events do not see it, the next walk does, or the command."""
    from aggregator.app.watch import Warm

    old, new = _releases(tmp_path, "", "Version AAA", "Version BBB")
    articles = tmp_path / "articles"
    articles.mkdir()
    os.rename(old, articles / "2020")
    write_article(articles, "other.md", n=3)
    _aged(articles)
    time.sleep(CTIME_LAG_NS / 1e9)  # (their ctimes before the first build's stamp)
    config = Config(sources=(articles,), output=tmp_path / "out", links="off")
    warm = Warm()
    with Store(tmp_path / "state.sqlite") as store:
        build(config, now=NOW, store=store, find=warm.find)
        os.rename(articles / "2020", tmp_path / "aside")
        os.rename(new, articles / "2020")
        warm.touched([str(articles / "other.md")])  # an event of another file
        assert _after_a_build_on_events(config, store, warm, then).mode == "incremental"
    feed = (tmp_path / "out" / "all.atom").read_text(encoding="utf-8")
    assert "Version BBB" in feed and "Version AAA" not in feed


def test_a_folder_moved_away_while_a_build_reads_then_replaced_is_read(tmp_path: Path) -> None:
    """A folder moved away just after the build walked it (its files not read: their
    sizes and mtimes were the last build's), then another put in its place: the folder
    the walk listed is the one kept, so the next build tells the new one."""
    from aggregator.engine.pipeline import find_files

    old, new = _releases(tmp_path, "", "Version AAA", "Version BBB")
    articles = tmp_path / "articles"
    articles.mkdir()
    os.rename(old, articles / "2020")
    config = Config(sources=(articles,), output=tmp_path / "out", links="off")

    def moved_away(config: Config, since: int | None) -> Any:
        found = find_files(config, since)
        os.rename(articles / "2020", tmp_path / "aside")
        return found

    with Store(tmp_path / "state.sqlite") as store:
        build(config, now=NOW, store=store)
        assert build(config, now=NOW, store=store, find=moved_away).mode == "unchanged"
        os.rename(new, articles / "2020")
        build(config, now=NOW, store=store)
    feed = (tmp_path / "out" / "all.atom").read_text(encoding="utf-8")
    assert "Version BBB" in feed and "Version AAA" not in feed


def test_folders_numbered_anew_by_the_file_system_are_not_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some file systems number folders anew when mounted again or evicted from memory
    (an overlay whose layers are on two file systems, FUSE), one mounted in a source
    say: a folder below the source whose number moved and that was not put in place
    since (its ctime, and its parents' up to the source, older than the last build) has
    none of its files read."""
    (old,) = _releases(tmp_path, "2020/05", "Version AAA")
    articles = tmp_path / "articles"
    os.rename(old, articles)
    time.sleep(CTIME_LAG_NS / 1e9)  # (the rename before the first build's stamp)
    config = Config(sources=(articles,), output=tmp_path / "out", links="off")
    hashed = files_read(monkeypatch, "file_digest")
    parsed = files_read(monkeypatch, "load_file_digest")
    with Store(tmp_path / "state.sqlite") as store:
        build(config, now=NOW, store=store)
        parsed.clear()
        kept = json.loads(store.meta("inc_folders") or "")
        assert list(_kept_folders(store)) == [str(articles / "2020" / "05")]
        anew = {name: n + (not name.startswith("\0")) for name, n in kept.items()}
        store.set_meta("inc_folders", json.dumps(anew))
        assert build(config, now=NOW, store=store).mode == "unchanged"
        assert (hashed, parsed) == ([], [])
        assert json.loads(store.meta("inc_folders") or "") == kept


def test_a_folder_whose_name_is_not_utf8_is_reported_not_kept(tmp_path: Path) -> None:
    """A folder whose name is not UTF-8: its files are reported (not loaded), build
    after build, and the folder is not among those kept (the state file holds UTF-8)."""
    articles = tmp_path / "articles"
    write_article(articles, "open.md", n=1)
    bad = os.fsencode(articles) + b"/bad-\xff"
    os.mkdir(bad)
    os.rename(write_article(tmp_path / "spare", "story.md", n=2), bad + b"/story.md")
    config = Config(sources=(articles,), output=tmp_path / "out", links="off")
    with Store(tmp_path / "state.sqlite") as store:
        for _ in range(2):
            report = build(config, now=NOW, store=store)
            assert [(e.path, e.reason) for e in report.errors] == [
                (f"{articles}/bad-\\xff/story.md", "file name is not UTF-8: rename the file")
            ]
            assert report.published == 1
        assert _kept_folders(store) == {str(articles): articles.stat().st_ino}


def test_a_folder_swapped_for_a_copy_of_the_same_bytes_is_hashed_not_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy of the same bytes put in place of the folder (`cp -a`, then renamed over):
    its files are read and hashed once, none parsed, and the last report repeated; and
    a state file an older version kept (no folders known) has none of its files read."""
    old, copy = _releases(tmp_path, "", "Version AAA", "Version AAA")
    articles = tmp_path / "articles"
    articles.mkdir()
    os.rename(old, articles / "2020")
    config = Config(sources=(articles,), output=tmp_path / "out", links="off")
    hashed = files_read(monkeypatch, "file_digest")
    parsed = files_read(monkeypatch, "load_file_digest")
    with Store(tmp_path / "state.sqlite") as store:
        first = build(config, now=NOW, store=store)
        assert sorted(parsed) == ["open.md", "story.md"]
        parsed.clear()
        os.rename(articles / "2020", tmp_path / "aside")
        os.rename(copy, articles / "2020")
        again = build(config, now=NOW, store=store)
        assert (again.mode, again.published) == ("unchanged", first.published)
        assert (sorted(hashed), parsed) == (["open.md", "story.md"], [])
        hashed.clear()
        assert build(config, now=NOW, store=store).mode == "unchanged"
        store.set_meta("inc_folders", "")  # as an older version left it
        assert build(config, now=NOW, store=store).mode == "unchanged"
        assert (hashed, parsed) == ([], [])
        assert _kept_folders(store) == {str(articles / "2020"): (articles / "2020").stat().st_ino}


def test_the_daemon_reads_a_file_it_refuses_to_read_once_after_a_chmod(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file over `file_size` (its row holds no digest: its bytes are not read) that
    an event names after a `chmod`: the build reports it again, and the builds events
    start after it repeat their report, not the file's."""
    from aggregator.app.watch import Warm

    articles = tmp_path / "articles"
    write_article(articles, "open.md", n=1)
    big = write_article(articles, "big.md", n=2, excerpt="x" * 3000)
    _aged(articles)
    time.sleep(CTIME_LAG_NS / 1e9)  # (their ctimes before the first build's stamp)
    config = Config(
        sources=(articles,),
        output=tmp_path / "out",
        links="off",
        limits=Limits(file_size=2000),
    )
    warm = Warm()
    parsed = files_read(monkeypatch, "load_file_digest")
    with Store(tmp_path / "state.sqlite") as store:
        first = build(config, now=NOW, store=store, find=warm.find)
        assert [e.path for e in first.errors] == [str(big)]
        big.chmod(0o600)
        warm.touched([str(big)])
        time.sleep(CTIME_LAG_NS / 1e9)
        again = build(config, now=NOW, store=store, find=warm.find)
        assert ([str(e) for e in again.errors], parsed[-1:]) == (
            [str(e) for e in first.errors],
            ["big.md"],
        )
        parsed.clear()
        (articles / "open.md").chmod(0o600)
        warm.touched([str(articles / "open.md")])
        report = build(config, now=NOW, store=store, find=warm.find)
        assert (report.mode, parsed) == ("unchanged", [])


def test_a_file_changed_within_the_ctime_lag_before_a_build_is_read_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a build read a fresh file, the daemon does not give it again with the same
    ctime; but a ctime after the build began (less the lag of file times) may stand for
    a later change as well (stamped by a coarse clock): that file is read again."""
    from aggregator.app import watch

    _, story, config = _two_articles(tmp_path, "The title")
    warm = watch.Warm()
    hashed = files_read(monkeypatch, "file_digest")
    with Store(tmp_path / "state.sqlite") as store:
        build(config, now=NOW, store=store, find=warm.find)
        story.chmod(0o600)
        warm.touched([str(story)])
        changed = story.stat().st_ctime_ns
        with monkeypatch.context() as patched:  # the build began within the lag after it
            patched.setattr(watch, "stamp_ns", lambda: changed - 1)
            assert build(config, now=NOW, store=store, find=warm.find).mode == "unchanged"
        time.sleep(CTIME_LAG_NS / 1e9)  # (now the change is before the next build)
        assert build(config, now=NOW, store=store, find=warm.find).mode == "unchanged"
        assert hashed == ["story.md", "story.md"]
        assert build(config, now=NOW, store=store, find=warm.find).mode == "unchanged"
        assert hashed == ["story.md", "story.md"]
