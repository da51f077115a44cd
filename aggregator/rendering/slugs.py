"""Stable, collision-free file names for topics.

A topic is identified by its name with whitespace collapsed, compared without
case ("AI" and "ai" are one topic). A name made only of ASCII letters and digits
separated by single spaces gets the plain slug `computer-vision`. Any other name
gets a readable part (`topic` when nothing is left of it) plus `--` and a digest
of the name: `c-plus-plus--1f0c...`, `topic--d6bc...`.
Plain slugs never contain `--`, so the two kinds cannot meet, and the digest keeps
`C++`, `C#` and `C` apart. A slug depends on its own name only, so adding a topic
never renames another's feed. A slug holds lowercase ASCII letters, digits and `-`
only: it is also the id of the topic's card on the index page, whose own ids hold
`_` (`pages.TOPICS_ID`), so that none is a slug.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from aggregator.stories.topics import topic_key

_PLAIN = re.compile(r"[A-Za-z0-9]+(?: [A-Za-z0-9]+)*")
_SYMBOLS = {
    "+": "plus",
    "#": "sharp",
    "&": "and",
    "@": "at",
    "%": "percent",
    "*": "star",
    "=": "equals",
}
_MAX_READABLE = 60


def topic_slug(name: str) -> str:
    name = topic_key(name)  # one topic, one slug, whatever its spelling
    if _PLAIN.fullmatch(name) and len(name) <= _MAX_READABLE:
        return name.replace(" ", "-")
    words: list[str] = []
    current: list[str] = []
    for char in unicodedata.normalize("NFKD", name):
        if unicodedata.combining(char):
            continue
        if char.isascii() and char.isalnum():
            current.append(char.lower())
            continue
        if current:
            words.append("".join(current))
            current = []
        if char in _SYMBOLS:
            words.append(_SYMBOLS[char])
    if current:
        words.append("".join(current))
    readable = "-".join(words)[:_MAX_READABLE].strip("-")
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:10]
    return f"{readable or 'topic'}--{digest}"
