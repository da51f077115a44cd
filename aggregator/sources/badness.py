"""ftfy's mojibake test (`ftfy.badness.is_bad`), run only near the characters it needs.

`is_bad` searches a text with `BADNESS_RE`, about forty alternatives tried at every
character: some 15 us for an excerpt of 300 characters, whether or not the text holds
anything like mojibake. Every alternative needs at least one of a few hundred
characters (accented capitals, currency and box-drawing signs, C1 controls...), and
no match is longer than a few characters. So the same answer comes from searching
only the windows around those characters, and a text without any (most English
text, curly quotes included) needs a single scan for them.

Both facts are read from ftfy's own pattern when this module is imported (with the
parser of Python's `re`): each alternative's rarest required character class, and the
longest match. When the pattern holds anything the windows could change the answer of
(a look-ahead or look-behind, an anchor but "^", a word boundary, a case-insensitive
flag, an unbounded repeat) or an alternative without such a class, `is_bad` is
ftfy's own.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ftfy.badness import BADNESS_RE
from ftfy.badness import is_bad as ftfy_is_bad

from aggregator.sources.patterns import codes as _codes
from aggregator.sources.patterns import longest_of
from aggregator.sources.patterns import parsed


def _chars(item: tuple[Any, Any]) -> frozenset[str] | None:
    """The characters one element of a pattern matches, when it is a literal or a
    plain class of literals and ranges (no negation, no category); else None."""
    op, value = item
    if op is _codes.LITERAL:
        return frozenset(chr(value))
    if op is not _codes.IN:
        return None
    found: set[str] = set()
    for member, argument in value:
        if member is _codes.LITERAL:
            found.add(chr(argument))
        elif member is _codes.RANGE:
            found.update(map(chr, range(argument[0], argument[1] + 1)))
        else:  # NEGATE, CATEGORY: too many characters to name
            return None
    return frozenset(found)


#: what may appear in the pattern without changing what a window finds
_SAFE = ("LITERAL", "NOT_LITERAL", "IN", "ANY", "BRANCH", "MAX_REPEAT", "MIN_REPEAT")


def _windows_hold(items: list[tuple[Any, Any]]) -> bool:
    """Whether nothing in `items` looks outside the text it matches: no look-around,
    no anchor but the start of the string, no word boundary, no back reference."""
    for op, value in items:
        name = str(op)
        if name == "AT":
            if value is not _codes.AT_BEGINNING_STRING and value is not _codes.AT_BEGINNING:
                return False
        elif name == "SUBPATTERN":
            if not _windows_hold(value[3]):
                return False
        elif name not in _SAFE:
            return False
        elif name in ("MAX_REPEAT", "MIN_REPEAT"):
            if not _windows_hold(value[2]):
                return False
        elif name == "BRANCH" and not all(_windows_hold(branch) for branch in value[1]):
            return False
    return True


def _marks(pattern: re.Pattern[str]) -> tuple[re.Pattern[str], int] | None:
    """A class of characters one of which every match of `pattern` holds, and the
    longest match; None when `pattern` is not of the form that makes windows exact."""
    found = parsed(pattern)
    longest = longest_of(found)
    if found is None or longest is None or pattern.flags & (re.IGNORECASE | re.MULTILINE):
        return None
    try:
        items = list(found.data)
        if not _windows_hold(items):
            return None
        branches = items[0][1][1] if len(items) == 1 and items[0][0] is _codes.BRANCH else [items]
        marks: set[str] = set()
        for branch in branches:
            # Of the elements every match of this alternative goes through (not under a
            # repeat that may take none), the one with the fewest characters, if ASCII
            # has none of them (ASCII text is common: a window at every letter is not)
            required = [_chars(item) for item in branch]
            rare: list[frozenset[str]] = [
                c for c in required if c and all(ord(ch) > 127 for ch in c)
            ]
            if not rare:
                return None
            smallest: frozenset[str] = min(rare, key=len)
            marks.update(smallest)
    except Exception:  # another `re` than the one read here: ftfy's own test
        return None
    escaped = "".join(re.escape(c) for c in sorted(marks))
    return re.compile(f"[{escaped}]"), longest


def windowed(pattern: re.Pattern[str]) -> Callable[[str], bool] | None:
    """A test of whether `pattern.search(text)` finds a match, by searching only the
    windows around the characters every match holds (`_marks`); None when the windows
    could give another answer."""
    found = _marks(pattern)
    if found is None:
        return None
    marks, longest = found
    search = pattern.search

    def matches(text: str) -> bool:
        # A match holds a mark and is at most `longest` characters long: it lies within
        # `longest - 1` characters of that mark. Windows that meet are searched as one.
        start = end = -1
        for mark in marks.finditer(text):
            at = mark.start()
            if at - longest + 1 > end:
                if end >= 0 and search(text, start, end):
                    return True
                start = max(at - longest + 1, 0)
            end = at + longest
        return end >= 0 and search(text, start, end) is not None

    return matches


#: `ftfy.badness.is_bad`: the same answer, faster on text with no mark of mojibake
is_bad: Callable[[str], bool] = windowed(BADNESS_RE) or ftfy_is_bad
