"""ftfy's mojibake test searched in windows (`badness.is_bad`) answers as ftfy's does.

The windows are exact only for a pattern of a certain form (`badness._marks` reads it
from ftfy's own): these tests compare the two on real strings, mojibake made in every
encoding ftfy undoes, text dense with the characters the pattern looks for, and long
text whose only mojibake is at a window's edge; and check that a pattern the windows
could answer otherwise is searched whole.
"""

from __future__ import annotations

import re

import pytest
from ftfy.badness import BADNESS_RE
from ftfy.badness import MOJIBAKE_CATEGORIES
from ftfy.badness import is_bad as ftfy_is_bad
from hypothesis import example
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from aggregator.sources import badness
from tests.sources.test_text import WRITTEN
from tests.sources.test_text import _file_strings
from tests.strategies import hostile_text


def test_ftfys_pattern_is_searched_in_windows() -> None:
    # Else every excerpt is searched whole (about 15 us each): the speed this is for.
    assert badness._marks(BADNESS_RE) is not None
    assert badness.is_bad is not ftfy_is_bad
    marks, longest = badness._marks(BADNESS_RE) or (None, 0)
    assert marks is not None
    # Plain English and its curly apostrophe start no window.
    assert marks.search("Nothing here but ASCII and VMware\u2019s quotes") is None
    assert 2 <= longest <= 16


def test_windows_answer_as_ftfy_on_real_strings() -> None:
    strings = [*WRITTEN, *_file_strings()]
    made = [
        s.encode("utf-8").decode(encoding, errors="ignore")
        for s in strings
        if not s.isascii()
        for encoding in ("latin-1", "windows-1252", "macroman", "windows-1251", "windows-1253")
    ]
    bad = 0
    for value in [*strings, *made]:
        assert badness.is_bad(value) == ftfy_is_bad(value), repr(value)
        bad += ftfy_is_bad(value)
    assert bad >= len(made) // 2  # most of the mojibake made is found (in windows)


_MARKED = "".join(sorted(set("".join(MOJIBAKE_CATEGORIES.values()))))


@given(
    st.lists(
        st.one_of(
            hostile_text(max_size=40),
            st.text(
                st.one_of(
                    st.sampled_from(_MARKED),
                    st.sampled_from([*"aZ .,-\"'\n\t", "\u0412", "\u0413", "\u0432", "\u0402"]),
                    st.characters(min_codepoint=0x80, max_codepoint=0x2600),
                ),
                max_size=12,
            ),
            st.sampled_from(["x" * 30, " " * 7, "\u00c3 ", "\u00e2\u20ac\u2122", "\u0413\u045e"]),
        ),
        max_size=8,
    ).map("".join)
)
@example("\u0413\u045e\u0412\u0402\u0412\u00b7x")  # the longest alternative, whole
@example("x" * 40 + "\u00c3 ")  # a match ending the text
@example("\u00c3 " + "x" * 40)  # "^[ÃÂ][ ]": at the start only
@example("x\u00c3 ")
@settings(max_examples=4000, derandomize=True, deadline=None)
def test_windows_answer_as_ftfy_on_any_text(value: str) -> None:
    assert badness.is_bad(value) == ftfy_is_bad(value)


def test_a_match_at_a_windows_edge_is_found() -> None:
    marks, longest = badness._marks(BADNESS_RE) or (None, 0)
    assert marks is not None
    # Each two-character match of the pattern, far from anything else, at every offset
    # from the start and the end of a long text.
    pairs = [a + b for a in _MARKED for b in _MARKED if BADNESS_RE.fullmatch(a + b)]
    assert pairs
    for pair in pairs[:: max(1, len(pairs) // 40)]:
        for pad in range(longest + 2):
            for value in ("y" * pad + pair + "y" * 50, "y" * 50 + pair + "y" * pad):
                assert badness.is_bad(value), repr(value)


@pytest.mark.parametrize(
    "pattern",
    [
        r"\u00e9(?=x)",  # a look-ahead past the window
        r"(?<=x)\u00e9",  # a look-behind before it
        r"\u00e9$",  # an end anchor
        r"\u00e9\b",  # a word boundary
        r"\u00e9x*",  # no longest match
        r"\u00e9|ab",  # an alternative without a rare character
        r"(?i)\u00e9",  # case folded
        r"(?m)^\u00e9",  # "^" after any line break
    ],
)
def test_a_pattern_windows_could_answer_otherwise_is_searched_whole(pattern: str) -> None:
    assert badness.windowed(re.compile(pattern)) is None


@pytest.mark.parametrize(
    ("pattern", "value", "found"),
    [
        (r"a\u00e9b", "xxa\u00e9bxx", True),
        (r"a\u00e9b", "xxa\u00e9xb", False),
        (r"^\u00e9", "\u00e9x", True),
        (r"^\u00e9", "x\u00e9", False),
        (r"[\u00e9\u00e8].?\u00e0", "\u00e8" + "x" * 5 + "\u00e9y\u00e0", True),
    ],
)
def test_a_pattern_of_the_form_is_searched_in_windows(
    pattern: str, value: str, found: bool
) -> None:
    matches = badness.windowed(re.compile(pattern))
    assert matches is not None
    assert matches(value) is found
    assert (re.search(pattern, value) is not None) is found
