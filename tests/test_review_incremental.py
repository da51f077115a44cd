"""Adversarial review of incremental builds (issue 16): cases where an incremental
build's feeds or report differ from a cold build's at the same time with the same
link history."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import NOW
from conftest import write_article
from farm import Farm
from test_rebuild import cold_build_beside
from test_rebuild import outputs
from test_rebuild import without_requests

from aggregator.config import Config
from aggregator.engine.pipeline import build
from aggregator.links.linkpolicy import Freshness
from aggregator.links.linkpolicy import LinkCheckSettings


@pytest.fixture
def farm() -> Iterator[Farm]:
    servers = Farm(hosts=3)
    yield servers
    servers.close()


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
    path = write_article(tmp_path / "src", name, n=n, webUrl=url, images=None, **fields)
    old = time.time() - 3600 + n
    os.utime(path, (old, old))


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
