"""`bench/corpus.py` and the corpus options every benchmark takes (`bench/build.py`):
the same files for the same arguments, the default corpus as it always was, and with
`--common`, titles that name only the best-known companies."""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from pathlib import Path

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import build as bench  # bench/build.py
import corpus  # bench/corpus.py

#: the digest of the default corpus of 1,200 files, seed 2 (`_digest`): the corpus every
#: figure of the README was measured on. A change of the generator that changes it
#: makes those figures incomparable: say so where they are, then update this.
DEFAULT_1200_SEED_2 = "f602bf4944def68adffafeb1fe15e743f868718bd27526ec9d94a7b969534b24"


def _digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.md"), key=lambda p: p.relative_to(folder).as_posix()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


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


def _common_only(titles: list[str]) -> bool:
    rare = [c for c in corpus._COMPANIES if c not in corpus._COMMON and len(c) > 3]  # "Arm"
    return not _made_up(titles) and not any(c in t for t in titles for c in rare)


def test_the_default_corpus_is_the_one_the_figures_were_measured_on(tmp_path: Path) -> None:
    corpus.main([str(tmp_path / "one"), "1200", "--seed", "2", "--processes", "1"])
    corpus.generate(tmp_path / "two", 1200, seed=2, processes=2)
    assert _digest(tmp_path / "one") == _digest(tmp_path / "two") == DEFAULT_1200_SEED_2


def test_a_common_corpus_names_only_the_common_companies_and_is_the_same_each_time(
    tmp_path: Path,
) -> None:
    corpus.generate(tmp_path / "plain", 1200, seed=2, processes=1)
    corpus.main([str(tmp_path / "common"), "1200", "--seed", "2", "--common"])
    corpus.generate(tmp_path / "again", 1200, seed=2, processes=1, common=True)
    plain, common = _titles(tmp_path / "plain"), _titles(tmp_path / "common")
    assert len(plain) == len(common) == 1200
    assert len(_made_up(plain)) > 50  # the usual corpus names startups of its own
    assert not _common_only(plain)
    assert _common_only(common)
    assert sum(any(c in t for c in corpus._COMMON) for t in common) > 0.6 * len(common)
    assert _digest(tmp_path / "common") == _digest(tmp_path / "again")


def _options(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    bench.corpus_options(parser, 600)
    return parser.parse_args(list(argv))


def test_the_benchmarks_corpus_options_make_and_reuse_the_corpus_asked_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _options().n == 600 and not _options().common
    kept = tmp_path / "kept"
    folder, how = bench.prepared(_options("--common", "--keep", str(kept), "--seed", "4"), tmp_path)
    assert folder == kept.resolve()
    assert re.fullmatch(r"seed 4, titles of common words, generated in \d+\.\d s", how)
    assert len(bench.corpus_files(folder)) == 600
    assert _common_only(_titles(folder))
    # asked again: reused; asked for another corpus: refused, not mixed up
    again = bench.prepared(_options("--common", "--keep", str(kept), "--seed", "4"), tmp_path)
    assert again == (folder, "seed 4, titles of common words, reused")
    with pytest.raises(bench.BenchError, match="holds another corpus"):
        bench.prepared(_options("--keep", str(kept), "--seed", "4"), tmp_path)
    folder, how = bench.prepared(_options("--n", "700"), tmp_path)
    assert folder == tmp_path / "pristine" and how.startswith("seed 1, generated in ")
    assert len(bench.corpus_files(folder)) == 700
    assert _made_up(_titles(folder))
    capsys.readouterr()  # corpus.main printed what it wrote
