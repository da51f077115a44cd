"""`bench/dedupe_scale.py` prints one line of figures per corpus size."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import ROOT


@pytest.mark.e2e
@pytest.mark.parametrize("common", [False, True])
def test_the_dedupe_benchmark_prints_time_scores_and_growth(common: bool) -> None:
    args = [sys.executable, str(ROOT / "bench" / "dedupe_scale.py"), "--n", "1500", "3000"]
    done = subprocess.run(
        [*args, "--runs", "1", *(["--common"] if common else [])],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    lines = done.stdout.splitlines()
    assert len(lines) == 2, done.stdout
    label = " \\(common words\\)" if common else ""
    assert re.fullmatch(
        rf"1500 articles{label}: \d+\.\d\d s, \d+\.\d pairs scored per article, \d+ pairs found",
        lines[0],
    )
    assert re.fullmatch(
        rf"3000 articles{label}: \d+\.\d\d s, \d+\.\d pairs scored per article, \d+ pairs found, "
        r"\d+\.\dx the time for 2\.0x the files",
        lines[1],
    )
