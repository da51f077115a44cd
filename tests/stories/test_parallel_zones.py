"""Near-duplicate zones found on other processes are the zones found here."""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from conftest import bench_module

from aggregator import build
from aggregator.config import Config
from aggregator.engine import run
from aggregator.engine import tables
from aggregator.sources.loader import load_all
from aggregator.sources.loader import map_in_processes
from aggregator.stories import similar
from aggregator.stories.similar import DEFAULT_THRESHOLD
from aggregator.stories.similar import DEFAULT_WINDOW
from aggregator.stories.similar import Pair
from aggregator.stories.similar import ZoneWork
from aggregator.stories.similar import group_periods
from aggregator.stories.similar import zone_pairs
from aggregator.stories.similar import zones_of


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated corpus of some months, with syndicated copies in it."""
    folder = tmp_path_factory.mktemp("corpus")
    bench_module("corpus").generate(folder, 1500, processes=1)
    return folder


@pytest.mark.e2e
def test_the_pairs_of_zones_found_in_parts_on_other_processes_are_the_same(
    corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    articles, errors = load_all(sorted(corpus.rglob("*.md")), workers=1)
    assert not errors
    periods = group_periods(articles, DEFAULT_WINDOW)
    zones = zones_of(periods)
    assert len(periods) > 3
    here = zone_pairs(articles, periods, zones, DEFAULT_THRESHOLD, DEFAULT_WINDOW)
    assert sum(map(len, here.values())) > 20  # the copies were found

    monkeypatch.setattr(similar, "_PART_ARTICLES", 200)  # several parts, not one
    sent: list[ZoneWork] = []

    def on_processes(works: list[ZoneWork]) -> Iterable[dict[int, list[Pair]]]:
        sent.extend(works)
        return map_in_processes(similar.find_zone_works, works, None, "finding pairs", workers=2)

    there = zone_pairs(
        articles, periods, zones, DEFAULT_THRESHOLD, DEFAULT_WINDOW, runner=on_processes
    )
    assert there == here
    assert len(sent) > 2
    # Each zone went to one part; a part carries the articles of its periods only.
    assert sorted(z for work in sent for z in work.zones) == zones
    for work in sent:
        assert len(work.paths) < len(articles)


@pytest.mark.e2e
def test_a_cold_build_that_finds_zones_on_every_core_writes_the_same_feeds(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = Config(sources=(corpus,), output=tmp_path / "here", links="off")
    here = build(dataclasses.replace(config, state=tmp_path / "here.sqlite"))
    monkeypatch.setattr(run, "PARALLEL_ZONE_ARTICLES", 0)
    monkeypatch.setattr(similar, "_PART_ARTICLES", 300)
    parts: list[int] = []

    # A function of the test module cannot be sent to a worker: count the parts here.
    real_map = run.map_in_processes

    def spy(work: object, items: list[ZoneWork], *args: object, **kw: object) -> object:
        parts.append(len(items))
        return real_map(work, items, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(run, "map_in_processes", spy)
    there = build(
        dataclasses.replace(config, output=tmp_path / "there", state=tmp_path / "there.sqlite")
    )
    assert parts and parts[0] > 2
    assert here.duplicates and there.duplicates == here.duplicates
    written = sorted(p.relative_to(tmp_path / "here") for p in (tmp_path / "here").rglob("*"))
    assert written == sorted(
        p.relative_to(tmp_path / "there") for p in (tmp_path / "there").rglob("*")
    )
    for name in written:
        if (tmp_path / "here" / name).is_file():
            assert (tmp_path / "here" / name).read_bytes() == (
                tmp_path / "there" / name
            ).read_bytes(), name
    # The state the next build starts from is the same: the articles' rows went in
    # while the workers found the zones (there), or before (here).
    for table in _TABLES:
        assert _rows(tmp_path / "here.sqlite", table) == _rows(tmp_path / "there.sqlite", table)


@pytest.mark.e2e
def test_a_cold_build_leaves_the_state_a_build_of_the_same_files_as_changes_does(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cold build finds the zones from the articles it holds while their rows go in;
    a build from a state that knew one file reads the rows of the others back, once
    written. Both leave the same state and the same feeds, zones found on the workers."""
    source = tmp_path / "src"
    shutil.copytree(corpus, source)
    files = sorted(source.rglob("*.md"))
    aside = tmp_path / "aside"
    for path in files[1:]:
        (aside / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
        path.rename(aside / path.relative_to(source))
    config = Config(sources=(source,), output=tmp_path / "inc", links="off")
    config = dataclasses.replace(config, state=tmp_path / "inc.sqlite")
    build(config)
    for path in files[1:]:
        (aside / path.relative_to(source)).rename(path)
    monkeypatch.setattr(run, "PARALLEL_ZONE_ARTICLES", 0)
    monkeypatch.setattr(similar, "_PART_ARTICLES", 300)
    monkeypatch.setattr(tables, "MAX_SHARE", 1.0)  # not built cold for the many changes
    found: list[bool] = []
    refresh = run.Run._refresh_zones

    def seen(self: run.Run, *args: Any) -> Any:
        found.append(self.cold)
        return refresh(self, *args)

    monkeypatch.setattr(run.Run, "_refresh_zones", seen)
    changed = build(config)
    cold = build(
        dataclasses.replace(config, output=tmp_path / "cold", state=tmp_path / "cold.sqlite")
    )
    assert found == [False, True]
    assert changed.duplicates and changed.duplicates == cold.duplicates
    assert _files(tmp_path / "inc") == _files(tmp_path / "cold")
    for table in _TABLES:
        assert _rows(tmp_path / "inc.sqlite", table) == _rows(tmp_path / "cold.sqlite", table)


#: the engine's tables a build leaves for the next
_TABLES = ("inc_art", "inc_key", "inc_pair", "inc_story", "inc_member", "inc_rel")


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _rows(state: Path, table: str) -> list[tuple[object, ...]]:
    with contextlib.closing(sqlite3.connect(state)) as db:
        return sorted(db.execute(f"SELECT * FROM {table}").fetchall())


@pytest.mark.parametrize("per_period", [2_800, 560, 90])
def test_the_zones_go_in_parts_of_neighbours_that_shrink_toward_the_end(per_period: int) -> None:
    """Every zone is in one part, parts are runs of neighbours, and the last parts are
    short: the process that takes the last one does not leave the other waiting for a
    part of 10,000 articles (seconds at 100,000 files)."""
    count = 36  # three years of monthly periods
    periods = {p: list(range(p * per_period, (p + 1) * per_period)) for p in range(count)}
    zones = zones_of(periods)
    parts = similar._parts(zones, periods)
    assert [zone for part in parts for zone in part] == zones
    sizes = [sum(per_period for zone in part if zone % 2 == 0) for part in parts]
    total = per_period * count
    floor = max(similar._PART_FLOOR, per_period)
    # None is over the cap by more than the period that reached it.
    assert max(sizes) < similar._PART_ARTICLES + per_period
    # Each is at most a `_PART_SHARE`th of what was left at its start (itself with it),
    # or the floor, by less than one period; so they never grow.
    for at, size in enumerate(sizes):
        left = total - sum(sizes[:at])
        assert size < max(left / similar._PART_SHARE, floor) + per_period
    assert sizes == sorted(sizes, reverse=True)
    assert sizes[-1] <= floor + per_period
    if total > 4 * similar._PART_ARTICLES:
        assert sizes[-1] < similar._PART_ARTICLES / 2 < sizes[0]


def test_zones_of_fewer_articles_than_the_bar_are_found_here_however_many_parts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each part carries the period before its first zone too: the articles counted
    against `PARALLEL_ZONE_ARTICLES` are the distinct ones, not the parts' sum."""
    when = similar._EPOCH

    def work(first: int, last: int) -> ZoneWork:
        paths = [f"{n}.md" for n in range(first, last)]
        return ZoneWork((0,), {0: list(range(len(paths)))}, paths, [when] * len(paths),
                        [], DEFAULT_THRESHOLD, DEFAULT_WINDOW)  # fmt: skip

    used: list[str] = []
    monkeypatch.setattr(run, "_found_here", lambda works, cancel: used.append("here") or [])
    monkeypatch.setattr(
        run, "map_in_processes", lambda *args, **kw: used.append("processes") or iter([])
    )
    bar = run.PARALLEL_ZONE_ARTICLES
    fake = dataclasses.make_dataclass("FakeRun", [("cancel", object)])(None)
    overlapping = [work(0, bar // 2 + 2_000), work(bar // 2 - 2_000, bar - 1)]  # sum > bar
    run.Run._find_zones(fake, overlapping, lambda: None)  # type: ignore[arg-type]
    assert used == ["here"]
    run.Run._find_zones(fake, [work(0, bar // 2), work(bar // 2, bar)], lambda: None)  # type: ignore[arg-type]
    assert used == ["here", "processes"]
