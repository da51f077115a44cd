"""`aggregator run --watch` for real: the command in a subprocess, its server on
127.0.0.1, files landing in tmp_path. The schedule is an hour in most tests, so that
only file-system events can explain a build (and the daemon's log says which run was
started by what); waits have deadlines that only guard against a hang (`PATIENCE`).
The helpers are test_daemon.py's."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import feedparser
import pytest
from conftest import ROOT
from conftest import article_fields
from conftest import bench_module
from conftest import front_matter
from conftest import run_cli
from conftest import write_article
from test_daemon import PATIENCE
from test_daemon import Daemon
from test_daemon import Setup
from test_daemon import add_article
from test_daemon import feed_files
from test_daemon import http_get
from test_daemon import json_lines
from test_daemon import served_entries
from test_daemon import setup  # noqa: F401  (a fixture)
from test_daemon import start  # noqa: F401  (a fixture)
from test_daemon import wait_until

pytestmark = pytest.mark.e2e

#: the schedule of the tests where only events may start a build
HOUR = 3600.0
WATCH_RUN = re.compile(r"\brun ok in [\d.]+ s \(watch: (\d+) paths?\)")
SCHEDULED_RUN = re.compile(r"\brun ok in [\d.]+ s:")


def story(number: int) -> str:
    return f"https://news.example.com/story-{number}"


def served_titles(port: int) -> dict[str, str]:
    answer = http_get(port, "/all.atom")
    parsed = feedparser.parse(answer.body)
    return {entry.link: entry.title for entry in parsed.entries}


def test_new_edited_and_deleted_files_are_served_without_the_schedule(
    setup: Setup,  # noqa: F811
    start: Callable[[list[str]], Daemon],  # noqa: F811
) -> None:
    daemon = start(setup.run_args("--watch", interval="1h"))
    port = daemon.port
    daemon.wait_runs(1, after=0)
    assert sorted(served_entries(port) or []) == [story(n) for n in (1, 2, 3)]

    mark = daemon.mark()
    landed = time.monotonic()
    add_article(setup.src, "a4.md", n=4)
    wait_until(lambda: story(4) in (served_entries(port) or []), what="the new file served")
    latency = time.monotonic() - landed
    assert latency < HOUR  # no scheduled run explains it
    daemon.wait_for(WATCH_RUN, after=mark)  # its line comes once the files are in place
    runs = daemon.run_lines(mark)
    assert all(WATCH_RUN.search(line) for line in runs), runs

    # An edited file is rendered again, in place or replaced.
    mark = daemon.mark()
    (setup.src / "a2.md").write_text(
        front_matter(article_fields(n=2, title="Story two, corrected")), encoding="utf-8"
    )
    wait_until(
        lambda: served_titles(port).get(story(2)) == "Story two, corrected",
        what="the edited title served",
    )
    add_article(setup.src, "a3.md", n=3, title="Story three, replaced")
    wait_until(
        lambda: served_titles(port).get(story(3)) == "Story three, replaced",
        what="the replaced file's title served",
    )

    # A deleted file leaves the feed.
    (setup.src / "a1.md").unlink()
    wait_until(
        lambda: sorted(served_entries(port) or []) == [story(n) for n in (2, 3, 4)],
        what="the deleted file gone from the feed",
    )
    runs = daemon.run_lines(mark)
    assert runs and all(WATCH_RUN.search(line) for line in runs), runs
    assert not [line for line in daemon.run_lines() if "run failed" in line]
    assert daemon.stop() == 0


def test_a_source_folder_moved_away_and_replaced_is_served_and_the_old_one_forgotten(
    setup: Setup,  # noqa: F811
    start: Callable[[list[str]], Daemon],  # noqa: F811
) -> None:
    """No event tells of the folder moved away, and its watch follows it: the files of
    the new folder are served without the schedule, and a write in the old one (out
    of the source now) empties no feed."""
    daemon = start(setup.run_args("--watch", interval="1h"))
    port = daemon.port
    daemon.wait_runs(1, after=0)
    old = setup.tmp / "src.old"
    os.replace(setup.src, old)
    setup.src.mkdir()
    add_article(setup.src, "a9.md", n=9)
    wait_until(lambda: served_entries(port) == [story(9)], what="the new folder's file served")
    (old / "a1.md").write_text(
        front_matter(article_fields(n=1, title="Out of the source")), encoding="utf-8"
    )
    add_article(setup.src, "a10.md", n=10)
    wait_until(
        lambda: sorted(served_entries(port) or []) == sorted([story(9), story(10)]),
        what="the second file of the new folder served",
    )
    assert "Out of the source" not in served_titles(port).values()
    assert not [line for line in daemon.run_lines() if "run failed" in line]
    assert daemon.stop() == 0


def test_a_burst_of_files_gives_one_or_two_builds(
    setup: Setup,  # noqa: F811
    start: Callable[[list[str]], Daemon],  # noqa: F811
) -> None:
    config = setup.tmp / "aggregator.yaml"
    config.write_text("watch: true\n", encoding="utf-8")
    daemon = start(
        [*setup.run_args("--log-format", "json", interval="1h"), "--config", str(config)]
    )
    port = daemon.port
    daemon.wait_runs(1, after=0)
    count = 40
    staging = setup.tmp / "staging"
    staging.mkdir()
    for number in range(10, 10 + count):
        fields = article_fields(n=number, webUrl=story(number))
        (staging / f"b{number}.md").write_text(front_matter(fields), encoding="utf-8")
    mark = daemon.mark()
    for number in range(10, 10 + count):  # each lands whole, one after the other
        os.replace(staging / f"b{number}.md", setup.src / f"b{number}.md")
    wait_until(lambda: len(served_entries(port) or []) == 3 + count, what="every new file served")
    assert daemon.stop() == 0
    records = json_lines("\n".join(daemon.lines[mark:]))
    runs = [r for r in records if r.get("event") == "run"]
    assert 1 <= len(runs) <= 2, runs
    assert all(r["status"] == "ok" and r["trigger"] == "watch" for r in runs), runs
    assert all(0 <= r["waited_s"] < HOUR for r in runs), runs
    assert sum(r["changes"] for r in runs) == count
    assert runs[-1]["published"] == 3 + count


def test_after_edits_the_daemon_serves_the_feeds_a_cold_build_writes(
    tmp_path: Path,
    start: Callable[[list[str]], Daemon],  # noqa: F811
) -> None:
    """The daemon keeps what it made of each near-duplicate zone's articles between its
    builds (`similar.keep_sweeps`): after an edit that makes a story a copy of another,
    one that takes it apart again and a new copy, its feeds are a cold build's."""
    src = tmp_path / "src"
    bench_module("corpus").generate(src, 300, processes=1, common=True)  # titles of common words
    when = datetime(2021, 12, 31, 20, 0, tzinfo=UTC)  # the corpus's newest days
    first = "Microsoft and Google open an AI chip lab in Seattle"
    told = "The two companies said on Friday they would share the cost of the lab."
    own = "Amazon said on Friday it would cut prices for its cloud storage in Europe."

    def story_file(name: str, number: int, title: str, excerpt: str, minutes: int) -> None:
        fields = article_fields(
            n=number,
            title=title,
            excerpt=excerpt,
            publishedDateTime=when + timedelta(minutes=minutes),
            webUrl=f"https://news{number}.example.com/{name}",
        )
        staged = tmp_path / f"{name}.tmp"
        staged.write_text(front_matter(fields), encoding="utf-8")
        os.replace(staged, src / "2021" / "12" / f"{name}.md")  # each lands whole

    story_file("a", 1, first, told, 0)
    story_file("b", 2, "Amazon cuts cloud storage prices in Europe", own, 30)
    out = tmp_path / "out"
    args = ["run", "--source", str(src), "--output", str(out), "--links", "off"]
    daemon = start([*args, "--interval", "1h", "--watch", "--serve", "127.0.0.1:0"])
    daemon.wait_runs(1, after=0)
    port = daemon.port
    linked = "https://news2.example.com/b"
    assert linked in (served_entries(port) or [])
    # b becomes a copy of a (a word added to its title, the same excerpt): one story...
    mark = daemon.mark()
    story_file("b", 2, first + " today", told, 30)
    wait_until(lambda: linked not in (served_entries(port) or []), what="b merged into a")
    daemon.wait_for(WATCH_RUN, after=mark)
    # ...then its own story again, with a word no other title has; then a new copy of a.
    for name, number, title, excerpt in (
        ("b", 2, "Amazon cuts cloud storage prices in Europe Zyxwvut", own),
        ("c", 3, first + " | Reuters", told),
    ):
        mark = daemon.mark()
        story_file(name, number, title, excerpt, 45)
        daemon.wait_for(WATCH_RUN, after=mark)
    assert linked in (served_entries(port) or [])
    assert "https://news3.example.com/c" not in (served_entries(port) or [])
    assert not [line for line in daemon.run_lines() if "run failed" in line]
    assert daemon.stop() == 0
    cold = tmp_path / "cold"
    done = run_cli("build", "--source", src, "--output", cold, "--state", tmp_path / "c.sqlite")
    assert done.returncode == 0, done.stderr
    served, built = feed_files(out), feed_files(cold)
    assert served.keys() == built.keys()
    assert [name for name in served if served[name] != built[name]] == []


def test_a_source_that_cannot_be_watched_is_left_to_the_schedule(
    tmp_path: Path,
    start: Callable[[list[str]], Daemon],  # noqa: F811
) -> None:
    src = tmp_path / "src"  # not there yet: nothing to watch
    args = ["run", "--source", str(src), "--output", str(tmp_path / "out"), "--links", "off"]
    interval = 1.0
    daemon = start([*args, "--interval", f"{interval:g}s", "--watch", "--serve", "127.0.0.1:0"])
    daemon.wait_for(
        rf"not watching {re.escape(str(src))}: no such folder; "
        r"its changes are seen by the scheduled runs"
    )
    daemon.wait_for(r"run failed .*source folder not found")
    port = daemon.port
    staging = tmp_path / "staging"
    write_article(staging, "a1.md", n=1)
    os.replace(staging, src)
    mark = daemon.mark()
    wait_until(lambda: served_entries(port) == [story(1)], what="the file served")
    # Watched again (the folders are looked at every second, and by each scheduled
    # run), then built.
    daemon.wait_for(SCHEDULED_RUN, after=mark)
    daemon.wait_for(rf"watching {re.escape(str(src))} for changes again")
    mark = daemon.mark()
    add_article(src, "a2.md", n=2)
    wait_until(lambda: story(2) in (served_entries(port) or []), what="the second file served")
    assert daemon.alive()
    assert daemon.stop() == 0


@pytest.mark.parametrize(
    ("new", "links"),
    [(False, "off"), (True, "off"), (True, "on")],
    ids=["edited file", "new file", "new file, links on"],
)
def test_the_watch_benchmark_prints_its_figures(tmp_path: Path, new: bool, links: str) -> None:
    args = [str(ROOT / "bench" / "watch.py"), "--n", "300", "--rounds", "2", "--links", links]
    if links == "on":
        args += ["--farm-hosts", "4"]
    result = subprocess.run(
        [sys.executable, *args, *(["--new"] if new else [])],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=PATIENCE,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert out.startswith("machine: ")
    what = r"^new files: beside .+\.md" if new else r"^edited file: .+\.md"
    assert re.search(what + r" \(the newest published file\)$", out, re.M)
    line = r"^round \d: served \d+ ms after the write; the build began \d+ ms after the first "
    rounds = re.findall(
        line + r"event and took \d+ ms(?:; (\d+) requests to the farm)?$", out, re.M
    )
    assert len(rounds) == 2
    # With links on, each new story's URLs are checked by the build that serves it.
    assert all(bool(requests) == (links == "on") for requests in rounds)
    if links == "on":
        assert all(int(requests) >= 1 for requests in rounds)
    latency = r"^latency, write to served: median \d+ ms, .*\(2 rounds, 300 files\)$"
    assert re.search(latency, out, re.M)
    assert re.search(r"^build \(from the log\): median \d+ ms", out, re.M)
    farm = r"^corpus: 300 files, .*, \d+ URLs moved onto a farm of 4 servers"
    assert bool(re.search(farm, out, re.M)) == (links == "on")
