"""The report's counts (copies dropped, articles left out by cause) are kept with its
long lists: the command's summary and the daemon's log read no row of those lists, and
the counts stay those of the rows through incremental builds."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import NOW
from conftest import write_article

from aggregator.app.cli import summary
from aggregator.app.daemon import _counts
from aggregator.config import Config
from aggregator.config import TopicSettings
from aggregator.engine.pipeline import build
from aggregator.model import BuildReport
from aggregator.model import Rows
from aggregator.model import dropped
from aggregator.model import left_out
from aggregator.state import lastbuild


def config_of(tmp_path: Path) -> Config:
    # Robotics asks for more quality than the site: an article of 80 is left out of
    # that one feed only.
    return Config(
        sources=(tmp_path / "src",),
        output=tmp_path / "out",
        state=tmp_path / "state.sqlite",
        links="off",
        topics={"robotics": TopicSettings(min_quality=90)},
    )


def put(tmp_path: Path, name: str, n: int, **fields: object) -> None:
    """Write an article file, dated an hour ago (settled: a build may repeat the last)."""
    path = write_article(tmp_path / "src", name, n=n, **fields)
    old = time.time() - 3600 + n
    os.utime(path, (old, old))


def corpus(tmp_path: Path) -> None:
    put(tmp_path, "a.md", 1)
    put(tmp_path, "b.md", 2, webUrl="https://news.example.com/story-1")  # a copy
    put(tmp_path, "c.md", 3, quality=10)
    put(tmp_path, "d.md", 4, published=False)
    put(tmp_path, "e.md", 5, topics=["AI", "Robotics"])


def counts(report: BuildReport) -> tuple[int, dict[str, int], int]:
    """Copies dropped, articles left out of every feed by cause, and left out of one
    topic's feed, counted from the rows themselves."""
    duplicates, excluded = tuple(report.duplicates), tuple(report.excluded)
    whole = [e for e in excluded if e.topic is None]
    by_code: dict[str, int] = {}
    for exclusion in whole:
        by_code[exclusion.code] = by_code.get(exclusion.code, 0) + 1
    return sum(len(d.dropped) for d in duplicates), by_code, len(excluded) - len(whole)


def counted_without_rows(report: BuildReport, config: Config) -> tuple[str, dict[str, object]]:
    """The summary and the daemon's counts, asserting that no row was read for them."""
    text, logged = summary(report, config), _counts(report)
    for rows in (report.duplicates, report.excluded):
        assert isinstance(rows, Rows)
        assert rows._items is None, "the counts read the rows"
    return text, logged


def cold(config: Config, tmp_path: Path) -> BuildReport:
    report = build(
        replace(config, output=tmp_path / "cold", state=tmp_path / "cold.sqlite"), now=NOW
    )
    assert report.mode == "full"
    return report


def edit(tmp_path: Path) -> None:
    """Edits that change every count: a copy no longer one, a new copy, an exclusion
    lifted, one gone with its file, a new one of each kind."""
    put(tmp_path, "b.md", 2)  # its own story now
    put(tmp_path, "f.md", 6, webUrl="https://news.example.com/story-5")  # e's copy
    put(tmp_path, "c.md", 3, quality=95)
    (tmp_path / "src" / "d.md").unlink()
    put(tmp_path, "g.md", 7, quality=20)
    put(tmp_path, "h.md", 8, topics=["AI", "Robotics"], quality=85)


def test_counts_kept_with_the_lists_are_those_of_their_rows_after_edits(tmp_path: Path) -> None:
    config = config_of(tmp_path)
    corpus(tmp_path)
    first = build(config, now=NOW)
    assert first.mode == "full"
    text, logged = counted_without_rows(first, config)
    assert "1 duplicates dropped" in text
    assert "excluded 2 articles (1 quality, 1 unpublished); 1 left out of single topics" in text
    assert (logged["duplicates"], logged["excluded"]) == (1, 2)
    assert counts(first) == (1, {"quality": 1, "unpublished": 1}, 1)

    edit(tmp_path)
    report = build(config, now=NOW)
    assert report.mode == "incremental"
    text, logged = counted_without_rows(report, config)
    expected = cold(config, tmp_path)
    assert text.splitlines()[:3] == summary(expected, config).splitlines()[:3]
    assert counts(report) == counts(expected) == (1, {"quality": 1}, 2)
    assert "excluded 1 articles (1 quality); 2 left out of single topics" in text
    assert (logged["duplicates"], logged["excluded"]) == (1, 1)
    assert dropped(report.duplicates) == 1
    assert left_out(report.excluded) == ({"quality": 1}, 2)

    # A build with nothing changed repeats the report kept, counts and all.
    again = build(config, now=NOW)
    assert again.mode == "unchanged"
    assert counted_without_rows(again, config)[0].splitlines()[:3] == text.splitlines()[:3]


def test_an_edit_patches_the_counts_without_making_objects_of_the_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The counts are patched with the rows that changed, read as they are: an edit
    among many articles left out makes no object of any row."""
    config = config_of(tmp_path)
    for n in range(1, 41):
        put(tmp_path, f"{n:02}.md", n, published=False)
    assert build(config, now=NOW).mode == "full"
    made: list[str] = []
    for kind, make in list(lastbuild._MAKE.items()):

        def counting(row: list[Any], make: Callable[[list[Any]], Any] = make) -> Any:
            made.append(str(row[0]))
            return make(row)

        monkeypatch.setitem(lastbuild._MAKE, kind, counting)
    put(tmp_path, "07.md", 7, published=False, title="Story seven, edited")
    report = build(config, now=NOW)
    assert report.mode == "incremental"
    assert made == []
    text, _logged = counted_without_rows(report, config)
    assert "excluded 40 articles (40 unpublished)" in text


def test_a_report_kept_without_counts_is_counted_from_its_rows(tmp_path: Path) -> None:
    """A state file whose report was kept without its counts (by an earlier version):
    the build that repeats it counts the rows, the next incremental build keeps the
    counts again."""
    config = config_of(tmp_path)
    corpus(tmp_path)
    assert build(config, now=NOW).mode == "full"
    assert config.state is not None
    with sqlite3.connect(config.state) as db:
        (text,) = db.execute("SELECT value FROM meta WHERE key = 'last_report'").fetchone()
        kept = json.loads(text)
        del kept["duplicates_tally"], kept["excluded_tally"]
        db.execute("UPDATE meta SET value = ? WHERE key = 'last_report'", (json.dumps(kept),))

    again = build(config, now=NOW)
    assert again.mode == "unchanged"
    assert counts(again) == (1, {"quality": 1, "unpublished": 1}, 1)
    assert "excluded 2 articles (1 quality, 1 unpublished); 1 left out of single topics" in (
        summary(again, config)
    )

    edit(tmp_path)
    report = build(config, now=NOW)
    assert report.mode == "incremental"
    text, _logged = counted_without_rows(report, config)
    assert "excluded 1 articles (1 quality); 2 left out of single topics" in text
    assert counts(report) == (1, {"quality": 1}, 2)
