"""A process's builds keep the articles of the periods their zones read (`zonerows`): the
next build of the same state takes them from memory instead of its rows, and gives the
feeds a cold build gives; after any other build of the state it reads the rows again."""

from __future__ import annotations

import os
import shutil
import time
from datetime import datetime
from datetime import timedelta
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
from aggregator.model import BuildReport
from aggregator.state.store import Store
from aggregator.stories.dedupe import DedupeSettings
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
    edits: list[tuple[str, dict[str, Any]]] = [
        ("004.md", {"n": 4, "title": "Four, edited"}),  # its periods read
        ("004.md", {"n": 4, "title": "Four, edited again"}),  # from memory
        ("004.md", {"n": 4, "excerpt": "Another excerpt of four."}),
        ("006.md", {"n": 6, "publishedDateTime": four + timedelta(hours=1)}),
        ("004.md", {"n": 4, "quality": 30}),  # no zone to find again
        # Story 5 syndicated under another title, in the same period: a duplicate.
        ("300.md", {"n": 5, "title": "Story number 5 - Other Wire", "quality": 50,
                    "webUrl": "https://wire.example.org/five"}),
        ("008.md", {"n": 8, "publishedDateTime": four + timedelta(days=200)}),  # moved away
        ("008.md", {"n": 8, "title": "Eight, far away"}),
    ]  # fmt: skip
    duplicates = []
    dates = {f"{n:03}.md": article_fields(n=n)["publishedDateTime"] for n in range(1, 31)}
    kept: set[int] = set()  # the periods the process knows
    expected = []  # the periods each build reads: those around a change it does not know
    for name, edit in edits:
        _written(write_article(source, name, topics=[TOPICS[0]], **edit))
        was, now = (
            dates.get(name),
            edit.get("publishedDateTime", article_fields(**edit)["publishedDateTime"]),
        )
        dates[name] = now
        moved = {_period(when) for when in (was, now) if when is not None}
        if edit.keys() <= {"n", "quality"}:
            moved = set()  # no zone to find again
        wanted = {p + d for p in moved for d in (-1, 0, 1)}
        expected.append(len(wanted - kept))
        kept |= wanted
        report = _build(target, period_reads)
        cold, cold_report = _cold(source, tmp_path)
        assert _outputs(tmp_path / "out") == cold, (name, edit)
        assert report.published == cold_report.published
        duplicates.append(len(report.duplicates))
    (source / "300.md").unlink()
    (source / "012.md").unlink()
    report = _build(target, period_reads)
    assert _outputs(tmp_path / "out") == _cold(source, tmp_path)[0]
    # The syndicated copy was dropped as a duplicate while it was there.
    assert duplicates[5] == duplicates[4] + 1 and len(report.duplicates) == duplicates[4]
    # The first edit read the periods of its zones (three), the next ones none but
    # those they moved to (three more, for the article dated 200 days later).
    assert expected[:2] == [3, 0] and expected[6] == 3
    assert period_reads == [*expected, 0]


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
