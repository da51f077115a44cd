"""The daemon's log (`aggregator.app.logs`): one line per record in either format,
whatever the record holds or whichever library made it."""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator

import pytest

from aggregator.app.logs import QUEUE_EVERY
from aggregator.app.logs import setup_logging


@pytest.fixture
def logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """`setup_logging` for one test, the logging module put back as it was after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    ours = logging.getLogger("aggregator")
    ours_level = ours.level
    queue = logging.getLogger("waitress.queue")
    try:
        yield capsys
    finally:
        logging.captureWarnings(False)
        root.handlers[:] = handlers
        root.setLevel(level)
        ours.setLevel(ours_level)
        queue.filters[:] = []


@pytest.mark.parametrize("style", ["text", "json"])
def test_a_library_warning_is_one_record(logs: pytest.CaptureFixture[str], style: str) -> None:
    """A Python warning from a library (watchdog's "Callback ... already exists") is
    logged as one line of the log's format, not Python's two raw lines."""
    setup_logging(style)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("Callback already exists for watch <Watch\nfd=3>", RuntimeWarning, 1)
    lines = logs.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    if style == "json":
        record = json.loads(lines[0])
        assert record["level"] == "warning"
        assert "Callback already exists" in record["message"]
    else:
        assert "WARNING" in lines[0] and "Callback already exists" in lines[0]
        assert "<Watch\\nfd=3>" in lines[0]  # the break escaped


def test_a_message_with_a_line_break_is_one_text_line(logs: pytest.CaptureFixture[str]) -> None:
    setup_logging("text")
    logging.getLogger("aggregator.app.daemon").warning("%s", "bad\nforged.md:1: injected")
    lines = logs.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].endswith("bad\\nforged.md:1: injected"), lines


def test_waitress_queue_depth_warnings_are_rare(logs: pytest.CaptureFixture[str]) -> None:
    """waitress warns of its task queue for every request that waits for a thread: a
    burst of readers gives one line a minute, not one per request."""
    setup_logging("text")
    queue = logging.getLogger("waitress.queue")
    start = 1_000_000.0
    for n in range(300):  # a burst within a minute, then one a minute later
        record = queue.makeRecord(
            queue.name, logging.WARNING, __file__, 1, "Task queue depth is %d", (n,), None
        )
        record.created = start + n * (QUEUE_EVERY / 600)
        queue.handle(record)
    late = queue.makeRecord(
        queue.name, logging.WARNING, __file__, 1, "Task queue depth is %d", (9,), None
    )
    late.created = start + QUEUE_EVERY + 1
    queue.handle(late)
    lines = logs.readouterr().err.splitlines()
    assert [line.split("WARNING ", 1)[1] for line in lines] == [
        "Task queue depth is 0",
        "Task queue depth is 9",
    ]


def test_watchdog_lines_the_daemon_tells_itself_are_not_repeated(
    logs: pytest.CaptureFixture[str],
) -> None:
    """An overflow of the kernel's event queue is one line (the watcher's own), and an
    emitter asked for events as the daemon stops is no error; watchdog's other records
    are logged."""
    setup_logging("text")
    inotify = logging.getLogger("watchdog.observers.inotify")
    inotify.warning("Inotify queue overflowed; reconciling recursive watches below %r", "/src")
    logging.getLogger("watchdog.observers.inotify_c").warning(
        "Inotify queue overflowed; filesystem events were lost"
    )
    inotify.error("InotifyEmitter.queue_events() called when the thread is inactive")
    inotify.warning("something else went wrong")
    lines = logs.readouterr().err.splitlines()
    assert [line.split(" ", 3)[-1] for line in lines] == ["something else went wrong"], lines
