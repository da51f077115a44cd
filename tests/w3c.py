"""The W3C Feed Validation Service, run from a checkout of w3c/feedvalidator.

It is not on PyPI: tests that use it skip unless FEEDVALIDATOR_SRC names the `src/`
folder of a checkout (FEEDVALIDATOR_PYTHON, a Python with html5lib and rdflib, when
this one lacks them).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SOURCE = os.environ.get("FEEDVALIDATOR_SRC")

needs_validator = pytest.mark.skipif(
    not SOURCE,
    reason="set FEEDVALIDATOR_SRC to the src/ folder of a w3c/feedvalidator checkout "
    "(with html5lib and rdflib installed) to check feeds against the W3C validator",
)

_SCRIPT = (
    "import sys\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "import feedvalidator\n"
    "from feedvalidator import compatibility\n"
    "from feedvalidator.formatter.text_plain import Formatter\n"
    "bad = 0\n"
    "for path, url in zip(sys.argv[2::2], sys.argv[3::2]):\n"
    "    with open(path, 'rb') as f:\n"
    "        events = feedvalidator.validateStream(f, firstOccurrenceOnly=1, base=url)\n"
    "    out = Formatter(compatibility.AA(events['loggedEvents']))\n"
    "    if out:\n"
    "        bad += 1\n"
    "        print(path, *out, sep='\\n')\n"
    "sys.exit(1 if bad else 0)\n"
)


def validate_folder(
    folder: Path, base_url: str = "http://localhost:8080/"
) -> tuple[int, subprocess.CompletedProcess[str]]:
    """Check every RSS and Atom feed under `folder` at level AA (errors and warnings);
    the number of feeds checked, and the validator's run (exit 1 and the problems on
    stdout when any feed has one)."""
    assert SOURCE, "use @needs_validator"
    args: list[str] = []
    for path in sorted(folder.rglob("*")):
        if path.suffix in (".rss", ".atom"):
            args += [str(path), base_url + path.relative_to(folder).as_posix()]
    python = os.environ.get("FEEDVALIDATOR_PYTHON", sys.executable)
    result = subprocess.run(
        [python, "-c", _SCRIPT, SOURCE, *args], capture_output=True, text=True, check=False
    )
    return len(args) // 2, result
