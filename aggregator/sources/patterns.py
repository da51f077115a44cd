"""What a regular expression can match, read from its parsed form (`re`'s own parser).

The parser and its opcodes are private to `re` (`re._parser`, `re._constants`): each
function here answers None when they are not there or not as expected, and its
callers then do without what they would have skipped.
"""

from __future__ import annotations

import functools
import importlib
import re
from typing import Any

parser: Any
codes: Any
try:
    parser = importlib.import_module("re._parser")
    codes = importlib.import_module("re._constants")
except ImportError:  # pragma: no cover - Python before 3.11
    parser = codes = None


def parsed(pattern: re.Pattern[str]) -> Any | None:
    """`pattern` as `re`'s parser reads it, or None."""
    if parser is None:
        return None
    try:
        return parser.parse(pattern.pattern, pattern.flags)
    except Exception:  # another `re` than the one this reads
        return None


def longest_of(tree: Any | None) -> int | None:
    """The most characters a match of a pattern `parsed` gave can span (a look-ahead
    aside), or None when there is no bound (a repeat without one) or it cannot be read."""
    if tree is None:
        return None
    try:
        longest = int(tree.getwidth()[1])
    except Exception:  # another `re` than the one this reads
        return None
    return longest if longest < codes.MAXREPEAT else None


@functools.cache  # the resolvers of several first characters share their patterns
def longest_matched(pattern: re.Pattern[str]) -> int | None:
    """The longest string `pattern.match` accepts, for a pattern that ends with "$":
    its longest match, and a line break "$" lets it leave at the end. None when it does
    not end with "$" (a longer string may start with a match) or has no bound."""
    found = parsed(pattern)
    longest = longest_of(found)
    if found is None or longest is None or pattern.flags & re.MULTILINE:
        return None
    try:
        op, value = list(found.data)[-1]
    except Exception:  # another `re` than the one this reads
        return None
    if op is not codes.AT or value is not codes.AT_END:
        return None
    return longest + 1
