"""A process's builds keep the articles of the periods their zones read (`zonerows`): the
next build of the same state takes them from memory instead of its rows, and gives the
feeds a cold build gives; after any other build of the state it reads the rows again."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import NOW
from conftest import article_fields
from conftest import run_cli
from conftest import write_article

from aggregator.config import Config
from aggregator.engine import run
from aggregator.engine import zonerows
from aggregator.engine.pipeline import build
from aggregator.engine.run import warm_zones
from aggregator.engine.tables import Item
from aggregator.model import BuildReport
from aggregator.model import Fingerprint
from aggregator.state.store import Store
from aggregator.stories import similar
from aggregator.stories.dedupe import DedupeSettings
from aggregator.stories.similar import digest_line
from aggregator.stories.similar import group_periods
from aggregator.stories.similar import period_digest
from aggregator.stories.similar import period_length
from aggregator.stories.similar import period_of

TOPICS = ["AI", "Robots"]


def _written(path: Path, seconds: float = 30) -> Path:
    """A file written `seconds` ago (out of the racy window), as an editor's save is."""
    when = time.time() - seconds
    os.utime(path, (when, when))
    return path


def _corpus(folder: Path) -> None:
    for n in range(1, 31):
        _written(write_article(folder, f"{n:03}.md", n=n, topics=[TOPICS[n % 2]]), 60)


def _outputs(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def _period(when: datetime) -> int:
    return period_of(when, period_length(DedupeSettings().window))


def _config(source: Path, output: Path) -> Config:
    return Config(sources=(source,), output=output, links="off")


def _cold(source: Path, tmp_path: Path) -> tuple[dict[str, bytes], BuildReport]:
    """The feeds and report of a cold build of `source` (in a folder of its own)."""
    output = tmp_path / "cold"
    shutil.rmtree(output, ignore_errors=True)
    state = tmp_path / ".cold-state.sqlite"
    for leftover in tmp_path.glob(".cold-state.sqlite*"):
        leftover.unlink()
    report = build(_config(source, output), now=NOW)
    assert not state.exists() or report.mode == "full"
    return _outputs(output), report


@pytest.fixture
def period_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many periods' rows of articles each build reads from now on (`Store.inc_rows`
    on `inc_art` by period), one count a build."""
    reads: list[int] = []
    real = Store.inc_rows

    def counted(self: Store, table: str, column: str, keys: Any, *args: Any) -> Any:
        keys = list(keys)
        if (table, column) == ("inc_art", "period"):
            reads[-1] += len(set(keys))
        return real(self, table, column, keys, *args)

    monkeypatch.setattr(Store, "inc_rows", counted)
    zonerows.drop()
    return reads


def _build(target: Config, reads: list[int]) -> BuildReport:
    reads.append(0)
    report = build(target, now=NOW)
    assert report.mode == "incremental"
    return report


def test_a_process_reads_the_periods_of_its_zones_once_and_builds_what_a_cold_build_does(
    tmp_path: Path, period_reads: list[int]
) -> None:
    source = tmp_path / "src"
    _corpus(source)
    target = _config(source, tmp_path / "out")
    build(target, now=NOW)
    four = article_fields(n=4)["publishedDateTime"]
    edits: list[tuple[str, dict[str, Any] | None]] = [
        ("004.md", {"n": 4, "title": "Four, edited"}),  # its periods read
        ("004.md", {"n": 4, "title": "Four, edited again"}),  # from memory
        ("004.md", {"n": 4, "excerpt": "Another excerpt of four."}),
        ("006.md", {"n": 6, "publishedDateTime": four + timedelta(hours=1)}),
        ("004.md", {"n": 4, "quality": 30}),  # no zone to find again
        # Story 5 syndicated under another title, in the same period: a duplicate.
        ("300.md", {"n": 5, "title": "Story number 5 - Other Wire", "quality": 50,
                    "webUrl": "https://wire.example.org/five"}),
        ("003.md", None),  # deleted: its period only loses an article
        ("008.md", {"n": 8, "publishedDateTime": four + timedelta(days=200)}),  # moved away
        ("008.md", {"n": 8, "title": "Eight, far away"}),
        ("300.md", None),  # the copy deleted: story 5 alone again
    ]  # fmt: skip
    duplicates = []
    dates = {f"{n:03}.md": article_fields(n=n)["publishedDateTime"] for n in range(1, 31)}
    kept: set[int] = set()  # the periods the process knows
    expected = []  # the periods each build reads: those around a change it does not know
    for name, edit in edits:
        was, now = dates.pop(name, None), None
        if edit is None:
            (source / name).unlink()
        else:
            _written(write_article(source, name, topics=[TOPICS[0]], **edit))
            now = dates[name] = article_fields(**edit)["publishedDateTime"]
        moved = {_period(when) for when in (was, now) if when is not None}
        if edit is not None and edit.keys() <= {"n", "quality"}:
            moved = set()  # no zone to find again
        wanted = {p + d for p in moved for d in (-1, 0, 1)}
        expected.append(len(wanted - kept))
        kept |= wanted
        report = _build(target, period_reads)
        cold, cold_report = _cold(source, tmp_path)
        assert _outputs(tmp_path / "out") == cold, (name, edit)
        assert _pairs(tmp_path / ".out-state.sqlite") == _pairs(tmp_path / ".cold-state.sqlite")
        assert report.published == cold_report.published
        duplicates.append(len(report.duplicates))
    # The syndicated copy was dropped as a duplicate while it was there.
    assert duplicates[5:9] == [duplicates[4] + 1] * 4 and duplicates[9] == duplicates[4]
    # The first edit read the periods of its zones (three), the next ones none but
    # those they moved to (three more, for the article dated 200 days later).
    assert expected[:2] == [3, 0] and expected[7] == 3
    assert period_reads == expected


def _pairs(state: Path) -> list[tuple[Any, ...]]:
    """The similar pairs a state file keeps (zone, paths, score), in order."""
    with contextlib.closing(sqlite3.connect(state)) as db:
        return db.execute("SELECT zone, a, b, score FROM inc_pair ORDER BY 1, 2, 3").fetchall()


def _edited_once(tmp_path: Path, reads: list[int]) -> tuple[Path, Config, BuildReport]:
    """The corpus built cold, then story 4 edited and built by this process: the
    source folder, the config and that build's report."""
    source = tmp_path / "src"
    _corpus(source)
    target = _config(source, tmp_path / "out")
    build(target, now=NOW)
    _written(write_article(source, "004.md", n=4, topics=[TOPICS[0]], title="Four, edited"))
    return source, target, _build(target, reads)


def _syndicated_five(source: Path) -> None:
    """A copy of story 5 under another title and URL, in its period: a duplicate."""
    copy = {"title": "Story number 5 - Other Wire", "quality": 50}
    _written(write_article(source, "300.md", n=5, webUrl="https://wire.example.org/5", **copy))


@pytest.mark.e2e
def test_a_build_of_the_state_by_another_process_has_the_next_build_read_the_rows_again(
    tmp_path: Path, period_reads: list[int]
) -> None:
    """What the process kept is not the state any more once the command built it: the
    process's next build reads the periods again and finds the pair the command made."""
    source, target, first = _edited_once(tmp_path, period_reads)
    # The command (another process) adds a syndicated copy of story 5 in that period.
    _syndicated_five(source)
    done = run_cli("build", "--source", source, "--output", target.output, "--links", "off")
    assert done.returncode == 0, done.stderr
    # This process edits another article of the same period.
    _written(write_article(source, "006.md", n=6, topics=[TOPICS[0]], title="Six, edited"))
    report = _build(target, period_reads)
    cold, cold_report = _cold(source, tmp_path)
    assert _outputs(tmp_path / "out") == cold
    assert len(report.duplicates) == len(cold_report.duplicates) == len(first.duplicates) + 1
    assert period_reads == [3, 3]


def test_a_failed_build_leaves_nothing_kept_for_the_builds_after_it(
    tmp_path: Path, period_reads: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build that fails once its zones were found leaves the state to a cold build
    (which keeps no period); the build after that reads the periods again and finds
    the pair the cold build found, not what the failed build had kept."""
    source, target, first = _edited_once(tmp_path, period_reads)

    def failing(*args: Any, **kwargs: Any) -> Any:
        raise OSError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(run.Run, "_publish", failing)
        _written(write_article(source, "006.md", n=6, topics=[TOPICS[0]], title="Six, edited"))
        period_reads.append(0)
        with pytest.raises(OSError, match="disk full"):
            build(target, now=NOW)
    _syndicated_five(source)
    period_reads.append(0)
    assert build(target, now=NOW).mode == "full"
    _written(write_article(source, "004.md", n=4, topics=[TOPICS[0]], title="Four, again"))
    report = _build(target, period_reads)
    cold, cold_report = _cold(source, tmp_path)
    assert _outputs(tmp_path / "out") == cold
    assert len(report.duplicates) == len(cold_report.duplicates) == len(first.duplicates) + 1
    assert period_reads == [3, 1, 0, 3]  # the failed build read one more; a cold one none


def test_a_kept_period_reads_as_its_rows_grouped_by_date_then_path() -> None:
    """The order and digest of a period made from items in any order (an edited
    article last, the same instant in two time zones) are `group_periods`' and
    `zone_pairs`' (which sweeps by date, and finds the pairs it keeps by digest)."""
    length = period_length(DedupeSettings().window)
    start = (
        datetime(1970, 1, 1, tzinfo=UTC)
        + period_of(datetime(2021, 3, 5, tzinfo=UTC), length) * length
    )
    noon = start + timedelta(days=3, hours=12)  # (every item in the same period)
    later = noon.astimezone(timezone(timedelta(hours=2)))  # the same instant
    prints = [Fingerprint((), (), (), (), f"{n:016x}", complete=False) for n in range(5)]
    items = [
        Item("src/b.md", noon, prints[0]),
        Item("src/e.md", noon + timedelta(days=2), prints[1]),
        Item("src/a.md", later, prints[2]),
        Item("src/d.md", noon - timedelta(hours=1), prints[3]),
        Item("src/c.md", noon + timedelta(minutes=1), prints[4]),
    ]
    (members,) = group_periods(items, DedupeSettings().window).values()
    grouped = [items[i] for i in members]
    assert [item.path for item in grouped] == [
        "src/d.md",
        "src/a.md",
        "src/b.md",
        "src/c.md",
        "src/e.md",
    ]
    for order in (items, items[::-1], items[2:] + items[:2]):
        period = zonerows.Period.of(list(order))
        assert period.items == grouped
        assert period.digest == period_digest(map(digest_line, grouped))
        assert period.digest == zonerows.changed(period, {"src/c.md"}, [items[4]]).digest


def test_a_daemon_seeds_the_periods_of_the_newest_article_after_a_full_build(
    tmp_path: Path, period_reads: list[int]
) -> None:
    """After a full build the daemon finds the zones of the newest article again
    (`warm_zones`), keeping its periods: its next build there reads none, and builds what
    a cold build does."""
    source = tmp_path / "src"
    _corpus(source)
    target = _config(source, tmp_path / "out")
    similar.keep_sweeps()
    try:
        build(target, now=NOW)
        period_reads.append(0)
        warm_zones(target)
        assert period_reads == [3]  # the periods around the newest article, read once
        newest = max(range(1, 31), key=lambda n: article_fields(n=n)["publishedDateTime"])
        name = f"{newest:03}.md"
        _written(write_article(source, name, n=newest, topics=[TOPICS[0]], title="Newest, edited"))
        _build(target, period_reads)
        assert period_reads == [3, 0]
        assert _outputs(tmp_path / "out") == _cold(source, tmp_path)[0]
        assert _pairs(tmp_path / ".out-state.sqlite") == _pairs(tmp_path / ".cold-state.sqlite")
    finally:
        similar.keep_sweeps(False)


def test_the_periods_kept_hold_a_bounded_number_of_articles(
    tmp_path: Path, period_reads: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """At most `KEPT_ITEMS` articles are kept, the periods used longest ago dropped
    first (one larger than that alone too): the next build reads those again, and
    builds what a cold build does."""
    source, target, _first = _edited_once(tmp_path, period_reads)
    window = DedupeSettings().window
    kept = zonerows.take(_token(tmp_path), window)
    sizes = [len(period.items) for period in kept.values()]  # the last used last
    assert len(sizes) == 3 and sum(sizes) == 30
    monkeypatch.setattr(zonerows, "KEPT_ITEMS", sizes[-1] + sizes[-2] - 1)
    zonerows.keep(_token(tmp_path) or "", window, kept)
    assert list(kept.values()) and [len(p.items) for p in kept.values()] == sizes[2:]
    _written(write_article(source, "004.md", n=4, topics=[TOPICS[0]], title="Four, again"))
    _build(target, period_reads)
    assert period_reads == [3, 2]
    assert _outputs(tmp_path / "out") == _cold(source, tmp_path)[0]


def _token(tmp_path: Path) -> str | None:
    with Store(tmp_path / ".out-state.sqlite") as store:
        return store.meta(zonerows.GENERATION)
