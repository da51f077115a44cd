"""Small helpers for reporting on YAML documents: where a key is, what a value is."""

from __future__ import annotations

import re
from datetime import date
from datetime import datetime

_KINDS: dict[type, str] = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "a mapping",
    datetime: "a date-time",
    date: "a date",
}


def line_of_key(source: str, key: str) -> int:
    """1-based line of a top-level key, written plain or quoted; 1 when not found."""
    match = re.search(rf"""^(["']?){re.escape(key)}\1\s*:""", source, re.MULTILINE)
    return source.count("\n", 0, match.start()) + 1 if match else 1


def kind(value: object) -> str:
    """What a YAML value is, for an error message: "a list", "null", ..."""
    if value is None:
        return "null"
    return _KINDS.get(type(value), type(value).__name__)


def line_of_path(source: str, path: tuple[str, ...]) -> int:
    """1-based line of a nested key (`("topics", "AI", "limit")`) in block-style YAML:
    each key is looked for, indented, after its parent; the deepest one found wins."""
    match = re.search(rf"""^(["']?){re.escape(path[0])}\1\s*:""", source, re.MULTILINE)
    if match is None:
        return 1
    position = match.start()
    for key in path[1:]:
        found = re.compile(rf"""^[ \t]+(["']?){re.escape(key)}\1[ \t]*:""", re.MULTILINE).search(
            source, match.end()
        )
        if found is None:
            break
        match = found
        position = found.start()
    return source.count("\n", 0, position) + 1


_ITEM = re.compile(r"^([ \t]*)-(?:[ \t]|$)")


def lines_of_items(source: str, key: str) -> list[int]:
    """1-based lines of the items of a top-level key's block sequence, in order (the
    item at index i is on the i-th line); [] when the key is not found or its list is
    written in flow style (`[a, b]`): then the key's own line is the place to look."""
    match = re.search(rf"""^(["']?){re.escape(key)}\1\s*:[ \t]*(#.*)?$""", source, re.MULTILINE)
    if match is None:
        return []
    first = source.count("\n", 0, match.start()) + 2
    found: list[int] = []
    indent: str | None = None
    for number, line in enumerate(source[match.end() :].split("\n")[1:], start=first):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        item = _ITEM.match(line)
        if indent is None:
            if item is None:
                return []
            indent = item.group(1)
        if item is not None and item.group(1) == indent:
            found.append(number)
        elif len(line) - len(line.lstrip(" \t")) <= len(indent):
            break  # the next key: the list ended
    return found
