"""The report's activity (`BuildReport.activity`: each feed's articles, and those
published on each of the last 90 days): counted from the engine's tables, the same
after a cold, an incremental and an unchanged build, on either state backend."""

from __future__ import annotations

import os
import time
from collections import Counter
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import NOW
from conftest import write_article

from aggregator.config import Config
from aggregator.engine.pipeline import build
from aggregator.engine.tables import ACTIVITY_DAYS
from aggregator.model import Activity
from aggregator.state.interface import open_store

#: the first day of the window of a build at NOW, at midnight UTC
FIRST = datetime.combine(NOW.date() - timedelta(days=ACTIVITY_DAYS - 1), datetime.min.time(), UTC)


def age(folder: Path) -> None:
    """Files older than the racy window, so that an unchanged build can be told."""
    when = time.time() - 60
    for path in folder.rglob("*.md"):
        os.utime(path, (when, when))


def corpus(folder: Path) -> dict[str, datetime]:
    """Articles on days inside and outside the window (and at its edges); their dates."""
    dates = {
        "first-midnight.md": FIRST,  # the window's first instant: day 0
        "before-first.md": FIRST - timedelta(seconds=1),  # not in the window
        "day-10.md": FIRST + timedelta(days=10, hours=23, minutes=59),
        "day-10-again.md": FIRST + timedelta(days=10, hours=1),
        "today.md": NOW.replace(hour=0, minute=0) + timedelta(hours=11),
        "tomorrow.md": NOW + timedelta(days=1),  # counted, but after the window
        "old.md": NOW - timedelta(days=400),
    }
    topics = {
        "first-midnight.md": ["AI", "C++"],
        "day-10.md": ["AI"],
        "day-10-again.md": ["ai", "Robots"],  # another spelling of the same topic
        "today.md": ["Robots"],
    }
    for n, (name, when) in enumerate(sorted(dates.items()), start=1):
        write_article(folder, name, n=n, publishedDateTime=when, topics=topics.get(name, ["AI"]))
    write_article(folder, "hidden.md", n=50, publishedDateTime=NOW, published=False)
    age(folder)
    return dates


def config(source: Path, output: Path, **changes: Any) -> Config:
    return Config(sources=(source,), output=output, links="off", **changes)


def test_activity_counts_each_feed_and_each_day_of_the_window(tmp_path: Path) -> None:
    source = tmp_path / "src"
    corpus(source)
    report = build(config(source, tmp_path / "out"), now=NOW, activity=True)
    found = report.activity
    assert found is not None
    assert found.last_day == NOW.date() and found.days == ACTIVITY_DAYS
    by_topic = {t.topic: t for t in found.topics}
    # The all-topics feed first; then by articles, most first.
    assert [t.topic for t in found.topics] == [None, "AI", "Robots", "C++"]
    assert by_topic[None].articles == 7  # the unpublished one is in no feed
    assert by_topic["AI"].articles == 6
    every = by_topic[None].per_day
    assert len(every) == ACTIVITY_DAYS
    assert Counter({i: n for i, n in enumerate(every) if n}) == Counter(
        {0: 1, 10: 2, ACTIVITY_DAYS - 1: 1}
    )
    assert by_topic["Robots"].per_day[10] == 1 and by_topic["Robots"].per_day[-1] == 1
    assert sum(by_topic["C++"].per_day) == by_topic["C++"].per_day[0] == 1


def test_a_build_asked_for_nothing_counts_nothing(tmp_path: Path) -> None:
    source = tmp_path / "src"
    corpus(source)
    assert build(config(source, tmp_path / "out"), now=NOW).activity is None


@pytest.mark.e2e  # several builds: over the fast tier's 0.3 s
def test_cold_incremental_and_unchanged_builds_count_alike(tmp_path: Path) -> None:
    source = tmp_path / "src"
    corpus(source)
    kept = config(source, tmp_path / "inc")
    build(kept, now=NOW, activity=True)
    # An article moves to another day and topic, one goes, one comes.
    write_article(source, "day-10.md", n=3, publishedDateTime=FIRST + timedelta(days=40),
                  topics=["Robots", "New"])  # fmt: skip
    (source / "today.md").unlink()
    write_article(source, "added.md", n=30, publishedDateTime=FIRST + timedelta(days=40))
    age(source)
    later = NOW + timedelta(minutes=5)
    incremental = build(kept, now=later, activity=True)
    assert incremental.mode == "incremental"
    unchanged = build(kept, now=later, activity=True)
    assert unchanged.mode == "unchanged"
    cold = build(config(source, tmp_path / "cold"), now=later, activity=True)
    assert cold.mode == "full"
    assert incremental.activity == unchanged.activity == cold.activity
    assert cold.activity is not None
    assert {t.topic: t.per_day[40] for t in cold.activity.topics} == {
        None: 2, "AI": 1, "Robots": 1, "New": 1, "C++": 0
    }  # fmt: skip


def test_the_window_follows_the_clock_of_an_unchanged_build(tmp_path: Path) -> None:
    source = tmp_path / "src"
    corpus(source)
    target = config(source, tmp_path / "out")
    first = build(target, now=NOW, activity=True).activity
    next_day = build(target, now=NOW + timedelta(days=1), activity=True)
    assert next_day.mode == "unchanged"
    moved = next_day.activity
    assert first is not None and moved is not None
    assert moved.last_day == first.last_day + timedelta(days=1)
    every = {t.topic: t for t in moved.topics}[None].per_day
    assert every[-1] == 1  # tomorrow's article is today's now
    assert every[-2] == 1 and every[9] == 2  # the rest, one day further back
    assert sum(every) == 4  # first-midnight left the window


@pytest.mark.e2e  # several builds: over the fast tier's 0.3 s
def test_both_backends_count_alike(tmp_path: Path, state_at: Path | str) -> None:
    source = tmp_path / "src"
    corpus(source)
    here = build(config(source, tmp_path / "a"), now=NOW, activity=True).activity
    there = build(config(source, tmp_path / "b", state=state_at), now=NOW, activity=True)
    assert there.activity == here
    with open_store(state_at) as store:
        rows = store.inc_feed_days(FIRST, ACTIVITY_DAYS)
    every = sorted((day, n) for feed, day, n in rows if feed == "")
    assert every == [(-1, 3), (0, 1), (10, 2), (ACTIVITY_DAYS - 1, 1)]
    assert isinstance(here, Activity)
