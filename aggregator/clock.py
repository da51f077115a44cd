"""The one place aggregator reads the time of day.

`utcnow` is the default clock: every `now` and `clock` parameter of the library
(`build`, `check_links`, the daemon's runs and its /healthz answer) falls back to it,
and a caller or a test passes its own instead; nothing else calls `datetime.now`.
`wall_ns` is the real clock for comparing with times others recorded by it (file
modification times, waitress's idle timers), which a logical `now` set to another
time would get wrong. Monotonic timers for timeouts and pacing (`time.monotonic`) are
not the time of day and are read where they are used.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC
from datetime import datetime

#: a clock: returns the current time, timezone-aware in UTC
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current time in UTC: the default clock."""
    return datetime.now(UTC)


def wall_ns() -> int:
    """The real time of day in nanoseconds since the epoch, as file times count it."""
    return time.time_ns()


#: how far behind the wall clock a file's ctime may be stamped: file systems take it
#: from a coarse clock that lags by up to a tick (1 to 10 ms)
CTIME_LAG_NS = 20_000_000


def stamp_ns() -> int:
    """When to say files were looked at, taken before they are: the wall clock less
    `CTIME_LAG_NS`, so that a file changed after this returns (its ctime stamped by a
    clock a tick behind) still has a later ctime. A file changed just before is taken
    as changed once more (see `parsecache.settle`: read and hashed)."""
    return time.time_ns() - CTIME_LAG_NS
