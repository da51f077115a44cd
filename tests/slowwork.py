"""Work for the worker pool that takes a known time per item (tests of stopping)."""

from __future__ import annotations

import time

from aggregator.limits import Limits

#: seconds each item takes
PAUSE = 0.1


def slow(items: list[int], limits: Limits) -> list[int]:
    for _ in items:
        time.sleep(PAUSE)
    return items


#: bytes each item of `big` gives back
BIG = 1 << 20


def big(items: list[int], limits: Limits) -> list[bytes]:
    return [bytes(BIG) for _ in items]
