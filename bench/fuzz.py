"""The long fuzzing campaign: the properties of tests/engine/test_fuzz.py with many random examples.

    python bench/fuzz.py                   # 2,000 examples per property (about 10,000 cases)
    python bench/fuzz.py --examples 500    # a shorter run

The suite runs the same properties with 25 derandomised examples each; this runs them
with fresh random examples (FUZZ_RANDOM) and prints Hypothesis's statistics: the number
of cases each property passed, and the failing example if one fails. Exit status is
pytest's: 0 when every case held.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=2000, help="examples per property")
    args = parser.parse_args()
    # Random examples, and a failure reported as found: shrinking a multi-megabyte
    # corpus can take longer than the campaign.
    env = dict(os.environ, FUZZ_EXAMPLES=str(args.examples), FUZZ_RANDOM="1", FUZZ_NO_SHRINK="1")
    started = time.monotonic()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(ROOT / "tests" / "engine" / "test_fuzz.py"),
            "-p",
            "no:cacheprovider",
            "-q",
            "--hypothesis-show-statistics",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.monotonic() - started
    print(done.stdout[-20_000:])
    print(done.stderr[-5_000:], file=sys.stderr)
    # "- 2000 passing, 0 failing, and 12 invalid test cases" per property and phase
    passing = [int(n) for n in re.findall(r"- (\d+) passing, \d+ failing", done.stdout)]
    failing = [int(n) for n in re.findall(r"- \d+ passing, (\d+) failing", done.stdout)]
    print(
        f"fuzz campaign: {sum(passing):,} passing cases, {sum(failing):,} failing, "
        f"in {elapsed:.0f} s (pytest exit {done.returncode})"
    )
    return done.returncode


if __name__ == "__main__":
    raise SystemExit(main())
