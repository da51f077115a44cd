"""The worker processes of a run: one pool for its parallel steps."""

from __future__ import annotations

import os
import threading

import pytest

from aggregator.errors import Cancelled
from aggregator.limits import DEFAULT_LIMITS
from aggregator.limits import Limits
from aggregator.sources.loader import map_in_chunks
from aggregator.sources.loader import map_in_processes
from aggregator.sources.loader import sharing_workers


def process_of(items: list[int], _limits: Limits) -> list[tuple[int, int]]:
    """Each item with the process that saw it (runs in a worker)."""
    return [(item, os.getpid()) for item in items]


def test_the_steps_of_a_run_share_its_worker_processes() -> None:
    items = list(range(4000))
    with sharing_workers() as workers:
        first = list(map_in_chunks(process_of, items, DEFAULT_LIMITS, None, None, 250))
        second = list(map_in_processes(process_of, [1, 2, 3, 4], None, "testing"))
    assert [item for item, _ in first] == items  # in order
    assert [item for item, _ in second] == [1, 2, 3, 4]
    parse = {pid for _, pid in first}
    assert os.getpid() not in parse
    assert {pid for _, pid in second} <= parse  # no new process for the second step
    assert len(parse) <= workers.count
    # Outside, each step starts (and stops) processes of its own.
    third = list(map_in_processes(process_of, [1, 2], None, "testing"))
    assert not {pid for _, pid in third} & parse


def test_a_step_cut_short_leaves_the_shared_workers_to_the_next() -> None:
    cancel = threading.Event()
    items = list(range(4000))
    with sharing_workers():
        with pytest.raises(Cancelled, match="stopped while loading"):
            for n, _ in enumerate(
                map_in_chunks(process_of, items, DEFAULT_LIMITS, cancel, None, 50)
            ):
                if n == 100:
                    cancel.set()
        again = list(map_in_chunks(process_of, items, DEFAULT_LIMITS, None, None, 250))
    assert [item for item, _ in again] == items
