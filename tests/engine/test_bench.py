"""The benchmark runs end to end: every scenario, the parse floor, and the byte check."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

pytestmark = pytest.mark.e2e

BENCH = ROOT / "bench" / "build.py"


def test_the_benchmark_prints_every_scenario_and_matches_a_fresh_build(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    result = subprocess.run(
        [sys.executable, str(BENCH), "--n", "300", "--keep", str(corpus)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"^parse floor: [\d.]+ s, \d+ files/s", out, re.MULTILINE)
    for label in (
        "cold build",
        "warm rebuild, nothing changed",
        "one file changed",
        "one new file",
        r"1% of files changed \(3 titles\)",
        "one file deleted",
        r"fresh cold build of the final corpus \(with --report\)",
    ):
        pattern = rf"^{label}: [\d.]+ s, \d+ articles/s, peak \d+ MB"
        assert re.search(pattern, out, re.MULTILINE), (label, out)
    assert re.search(r"^cold build: .*[\d.]+x the parse floor", out, re.MULTILINE)
    assert out.count("incremental vs fresh output: OK") == 2  # links off, links on
    # The second table: links on, against the farm, which answered every URL.
    assert re.search(r"^links on: \d+ URLs moved onto a farm of 50 servers", out, re.MULTILINE)
    tables = re.split(r"^\[links on\]$", out, flags=re.MULTILINE)
    assert len(tables) == 2, out
    counts = re.findall(r"^  final corpus: .*$", out, re.MULTILINE)
    assert len(counts) == 2 and counts[0] == counts[1], counts  # the same stories either way
    assert re.search(r"^  cold build +[\d.]+ +[\d.]+ +[\d.]+x$", out, re.MULTILINE), out
    # The generated corpus holds what the issue asks for: duplicates, CRLF files.
    # 300 files, one added and one deleted.
    assert re.search(r"final corpus: 300 loaded, .* [1-9]\d* duplicates dropped", out)
    files = sorted(corpus.rglob("*.md"))
    assert len(files) == 300
    assert any(b"\r\n" in f.read_bytes() for f in files)
    # A second run reuses the corpus it kept.
    again = subprocess.run(
        [sys.executable, str(BENCH), "--n", "300", "--keep", str(corpus)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "reused" in again.stdout
