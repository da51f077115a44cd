"""Cleaning text: the shortcut past ftfy gives what ftfy gives.

`text._fix` skips `ftfy.fix_text` for text ftfy keeps as it is (`_kept_by_ftfy`). These
tests compare it with ftfy itself on real strings (the seeds, the power-apps corpus
when present), mojibake made in every encoding ftfy undoes, and generated hostile
text: whatever the shortcut says, the result is ftfy's.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import ftfy
import yaml
from ftfy.badness import MOJIBAKE_CATEGORIES
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from aggregator.sources import text
from tests.strategies import hostile_text

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus" / "power-apps"


def _by_ftfy(value: str) -> str:
    """`text._fix` as it was: ftfy every time."""
    fixed = ftfy.fix_text(value, config=text._FTFY)
    return text._BIDI_CONTROLS.sub("", text._NOT_XML.sub("", fixed))


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _file_strings() -> list[str]:
    paths = sorted((ROOT / "seeds").glob("*.md")) + sorted(CORPUS.glob("**/*.md"))
    found: list[str] = []
    for path in paths:
        head = path.read_text(encoding="utf-8-sig").split("\n---", 1)[0].removeprefix("---")
        found += _strings(yaml.safe_load(head))
    return found


#: text beyond ASCII as titles, names and excerpts hold it (the seeds are ASCII)
WRITTEN = [
    "11 things to know about VMware\u2019s coding assistant",
    "The Montr\u00e9al Ledger",
    "Caf\u00e9 na\u00efve \u2014 \u201cquoted\u201d \u2026 and more",
    "Stra\u00dfe in M\u00fcnchen: K\u00fcnstliche Intelligenz",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
    "\u4eba\u5de5\u667a\u80fd\u7684\u65b0\u95fb",
    "Emoji \U0001f680 launch, \u00a9 2026, 5\u00b0C, \u20ac10",
    "e\u0301 written apart (not NFC)",
    "Baltimore\u00e2\u20ac\u2122s mojibake",
]


def test_the_shortcut_gives_ftfys_text_on_real_strings() -> None:
    """Written strings, the seeds' and the power-apps corpus' when present."""
    strings = [*WRITTEN, *(s for s in _file_strings() if not s.isascii())]
    # Each as it is, as mojibake (the way ftfy's own tests make it), on two lines.
    made = [
        s.encode("utf-8").decode(encoding, errors="ignore")
        for s in strings
        for encoding in ("latin-1", "windows-1252", "macroman", "windows-1251", "windows-1253")
    ]
    # ftfy fixes line by line: mojibake it finds only at the start of a line.
    lines = ["1\nÃ x", "1\nÃ\xa0la carte", "2\r\nÂ x", "3\u2028Ã x"]
    kept = 0
    for value in [*strings, *made, *(s + "\n" + s for s in strings), *lines]:
        assert text._fix(value) == _by_ftfy(value), repr(value)
        kept += text._kept_by_ftfy(value)
    # Most real strings are kept as they are: the shortcut is taken.
    assert kept >= len(strings) // 2, (kept, len(strings))


_MOJIBAKE_CHARS = "".join(sorted(set("".join(MOJIBAKE_CATEGORIES.values()))))
_PIECES = st.one_of(
    hostile_text(max_size=60),
    st.text(
        st.one_of(
            st.sampled_from(_MOJIBAKE_CHARS),
            st.sampled_from(list("aeAE .,?!-'\"\u2019\u201c\u0301\u00e9\n\r\x85\u2028\x1b[0m")),
            st.characters(min_codepoint=0x80, max_codepoint=0x2FFF),
        ),
        max_size=30,
    ),
    st.text(st.characters(codec="utf-8"), max_size=20).map(
        lambda s: s.encode("utf-8").decode("windows-1252", errors="ignore")
    ),
)


@given(value=st.lists(_PIECES, min_size=1, max_size=4).map("".join))
@settings(max_examples=3000, derandomize=True)
def test_the_shortcut_gives_ftfys_text_on_any_text(value: str) -> None:
    assert text._fix(value) == _by_ftfy(value)
    if text._kept_by_ftfy(value):
        assert ftfy.fix_text(value, config=text._FTFY) == value


@given(value=st.text(st.characters(codec="utf-8"), max_size=40))
@settings(max_examples=1000, derandomize=True)
def test_what_the_shortcut_keeps_ftfy_keeps(value: str) -> None:
    # The shortcut is taken often on plain Unicode text: this exercises it.
    if text._kept_by_ftfy(value):
        assert ftfy.fix_text(value, config=text._FTFY) == value


# Every character Python (and `\s`) takes for whitespace, and some that are not.
_SPACES = "".join(c for c in map(chr, range(0x3001)) if c.isspace())


@given(value=st.text(st.sampled_from([*_SPACES, *"ab\u200b\ufeff"]), max_size=12))
@settings(max_examples=2000, derandomize=True)
def test_one_line_makes_each_run_of_whitespace_one_space(value: str) -> None:
    # As the substitution it replaces: every whitespace `\s` knows, as `split` does.
    assert text.one_line(value) == re.sub(r"\s+", " ", value).strip()
