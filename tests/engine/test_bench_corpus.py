"""`bench/corpus.py`: the same files for the same arguments, and with `common`, titles
that name only the most common companies."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import corpus  # bench/corpus.py


def _titles(folder: Path) -> list[str]:
    found = []
    for path in sorted(folder.rglob("*.md")):
        line = next(x for x in path.read_text("utf-8").splitlines() if x.startswith("title: "))
        found.append(line.removeprefix("title: ").strip('"'))
    return found


def _made_up(titles: list[str]) -> set[str]:
    """The made-up company names among the titles' words (a syllable of each list)."""
    first, second = "|".join(corpus._SYLLABLES_A), "|".join(corpus._SYLLABLES_B)
    name = re.compile(rf"\b(?:{first})(?:{second})\b")
    return {found for title in titles for found in name.findall(title)}


def test_a_common_corpus_names_only_the_common_companies_and_is_the_same_each_time(
    tmp_path: Path,
) -> None:
    corpus.generate(tmp_path / "plain", 1200, seed=2, processes=1)
    corpus.generate(tmp_path / "common", 1200, seed=2, processes=1, common=True)
    corpus.generate(tmp_path / "again", 1200, seed=2, processes=2, common=True)
    plain, common = _titles(tmp_path / "plain"), _titles(tmp_path / "common")
    assert len(plain) == len(common) == 1200
    assert len(_made_up(plain)) > 50  # the usual corpus names startups of its own
    assert not _made_up(common)
    rare = [c for c in corpus._COMPANIES if c not in corpus._COMMON]
    assert any(c in t for t in plain for c in rare)
    assert not any(c in t for t in common for c in rare if len(c) > 3)  # "Arm" is a word
    assert sum(any(c in t for c in corpus._COMMON) for t in common) > 0.6 * len(common)
    # the same bytes, however many processes write them
    files = sorted(p.relative_to(tmp_path / "common") for p in (tmp_path / "common").rglob("*"))
    again = sorted(p.relative_to(tmp_path / "again") for p in (tmp_path / "again").rglob("*"))
    assert files == again
    assert all(
        (tmp_path / "common" / f).read_bytes() == (tmp_path / "again" / f).read_bytes()
        for f in files
        if (tmp_path / "common" / f).is_file()
    )
