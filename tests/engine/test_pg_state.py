"""Builds with the state in PostgreSQL write the very bytes and report of builds with
the state in a SQLite file: a cold build and the incremental builds after edits, with
links off and with links checked against the loopback farm (tests/farm.py)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from farm import Farm
from test_rebuild import START
from test_rebuild import Corpus
from test_rebuild import comparable
from test_rebuild import outputs

from aggregator.config import Config
from aggregator.engine.pipeline import build
from aggregator.links.linkpolicy import Freshness
from aggregator.links.linkpolicy import LinkCheckSettings

SWITCHED = (200, 404, 410, 500)


@pytest.mark.e2e
@pytest.mark.parametrize("links", ["off", "on"])
def test_postgresql_state_builds_the_bytes_and_report_of_sqlite_state(
    tmp_path: Path, pg_url: str, farm: Farm, links: str
) -> None:
    def switched(rng: random.Random) -> str:
        return farm.url(rng.randrange(3), f"/switch/s{rng.randrange(40)}")

    corpus = Corpus(tmp_path / "src", 11, urls=switched if links == "on" else None)
    corpus.create(120)
    lite = Config(
        sources=(corpus.folder,),
        output=tmp_path / "lite",
        state=tmp_path / "state.sqlite",
        links="on" if links == "on" else "off",
        link_check=LinkCheckSettings(
            allow_private=True,
            min_interval=timedelta(milliseconds=1),
            timeout=timedelta(seconds=5),
            retries=0,
            confirm_after=timedelta(hours=2),
            freshness=Freshness(ok=timedelta(days=3), broken=timedelta(hours=2), jitter=0.5),
        ),
        limit=12,
    )
    pg = replace(lite, output=tmp_path / "pg", state=pg_url)
    for name in range(0, 40, 4):  # dead from the start (confirmed after two hours)
        farm.switch(name % 3, f"s{name}", 410)
    when = START + timedelta(days=70)
    modes = []
    for step in range(6):
        if step:
            done = [corpus.edit() for _ in range(1 + step % 2)]
            when += timedelta(hours=2)
            if links == "on":
                for _ in range(3):
                    farm.switch(corpus.rng.randrange(3), f"s{corpus.rng.randrange(40)}",
                                corpus.rng.choice(SWITCHED))  # fmt: skip
        else:
            done = ["cold"]
        expected = build(lite, now=when)
        report = build(pg, now=when)
        assert report.mode == expected.mode, done
        assert outputs(pg.output) == outputs(lite.output), done
        assert comparable(report) == comparable(expected), done
        modes.append(report.mode)
    assert modes[0] == "full" and set(modes[1:]) == {"incremental"}
    if links == "on":
        assert any(e.code == "dead-link" for e in report.excluded)
    # An unchanged corpus: both repeat the last report.
    assert comparable(build(pg, now=when)) == comparable(build(lite, now=when))
