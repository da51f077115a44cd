"""The articles of the periods near-duplicate detection last read, kept in memory from
one build to the next in the same process (a daemon's), so that a build after a file
landed does not read the rows of its periods again, sort them and hash them.

What is kept belongs to one state as one build left it: every build writes a new token
(`GENERATION`) as it starts, and what is kept is used only by the next build of a state
whose token is the one it was kept under, i.e. when no other build (another process,
another daemon on the same database, one that failed) wrote the state since. That build
takes what is kept (nobody else can use it while it builds), brings the periods it
changed up to date and keeps them again under its own token.
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from aggregator.engine.tables import Item
from aggregator.stories.similar import digest_line
from aggregator.stories.similar import period_digest

#: the meta key of the token a build writes as it starts (see the module docstring)
GENERATION = "inc_generation"
#: periods kept at most (the most lately used): a daemon's builds land where new
#: stories land, in the newest few
KEPT_PERIODS = 8
#: articles kept at most in all (about 1 KB each with their words): the periods used
#: longest ago go first, and a period larger than this alone is not kept
KEPT_ITEMS = 30_000


@dataclass(slots=True)
class Period:
    """One period's articles as the zones read them: by date, then path (the order of
    `similar.group_periods`), what each adds to the period's digest and the digest
    `similar.zone_pairs` would make of them."""

    items: list[Item]
    lines: list[bytes]
    digest: str

    @classmethod
    def of(cls, items: list[Item]) -> Period:
        items.sort(key=_order)
        lines = [digest_line(item) for item in items]
        return cls(items, lines, period_digest(lines) if items else "")


def _order(item: Item) -> tuple[object, str]:
    return (item.published_at, item.path)


#: token, window, periods (the most lately used last)
_KEPT: tuple[str, timedelta, OrderedDict[int, Period]] | None = None
_LOCK = threading.Lock()


def take(token: str | None, window: timedelta) -> OrderedDict[int, Period]:
    """The periods kept under `token` for this window (none when another token), no
    longer kept for anyone else."""
    global _KEPT
    with _LOCK:
        kept, _KEPT = _KEPT, None
    if kept is None or token is None or kept[0] != token or kept[1] != window:
        return OrderedDict()
    return kept[2]


def keep(token: str, window: timedelta, periods: OrderedDict[int, Period]) -> None:
    """Keep `periods` for the next build of the state whose token is `token`."""
    global _KEPT
    count = sum(len(period.items) for period in periods.values())
    while periods and (len(periods) > KEPT_PERIODS or count > KEPT_ITEMS):
        count -= len(periods.popitem(last=False)[1].items)
    with _LOCK:
        _KEPT = (token, window, periods)


def drop() -> None:
    """Keep nothing (what a test starts from)."""
    global _KEPT
    with _LOCK:
        _KEPT = None


def changed(period: Period, gone: set[str], added: Iterable[Item]) -> Period:
    """`period` without the articles of `gone` paths, with `added` (each put in its
    place: the lines of the others are not made again)."""
    kept = [at for at, item in enumerate(period.items) if item.path not in gone]
    items = [period.items[at] for at in kept]
    lines = [period.lines[at] for at in kept]
    for item in added:
        at = bisect.bisect(items, _order(item), key=_order)
        items.insert(at, item)
        lines.insert(at, digest_line(item))
    return Period(items, lines, period_digest(lines) if items else "")
