"""Near-duplicate zones found on other processes are the zones found here."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

import pytest
from conftest import ROOT

from aggregator import build
from aggregator.config import Config
from aggregator.engine import run
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


def _bench_corpus() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_corpus", ROOT / "bench" / "corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated corpus of some months, with syndicated copies in it."""
    folder = tmp_path_factory.mktemp("corpus")
    _bench_corpus().generate(folder, 1500, processes=1)
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
    for table in ("inc_art", "inc_key", "inc_pair", "inc_story", "inc_member", "inc_rel"):
        assert _rows(tmp_path / "here.sqlite", table) == _rows(tmp_path / "there.sqlite", table)


def _rows(state: Path, table: str) -> list[tuple[object, ...]]:
    with contextlib.closing(sqlite3.connect(state)) as db:
        return sorted(db.execute(f"SELECT * FROM {table}").fetchall())
