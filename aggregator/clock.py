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
