"""Logging for the daemon: plain lines that suit journald, or JSON for log shippers."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC
from datetime import datetime

from aggregator.app.progress import Bar
from aggregator.app.progress import Handler
from aggregator.app.progress import one_line

#: the attributes every LogRecord has; anything else came in `extra=` and is a field
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                data[key] = value
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """Plain lines: the message `one_line` (a path or title with a line break in it
    cannot forge a line of its own in the log); a traceback, when one is logged,
    follows on its own lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        message = record.message
        record.message = one_line(message)
        try:
            return super().formatMessage(record)
        finally:
            record.message = message


def setup_logging(style: str = "text", *, verbose: bool = False, bar: Bar | None = None) -> None:
    """Log to stderr. Under systemd (JOURNAL_STREAM set) journald stamps the time, so
    plain lines carry only the level and the message. With `bar` (the progress drawn on
    the terminal), each line erases it first and draws it again after."""
    handler = Handler(sys.stderr, bar)
    if style == "json":
        handler.setFormatter(JsonFormatter())
    elif os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(TextFormatter("%(levelname)s %(message)s"))
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(message)s"))
    # On the root logger, so that the libraries' records (APScheduler, waitress) come
    # out in the same format; theirs from WARNING up, ours from INFO (DEBUG if verbose).
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("aggregator").setLevel(logging.DEBUG if verbose else logging.INFO)
    handler.addFilter(_told_otherwise)
    # A library's Python warning (watchdog's, say) is a record too: one line, or one
    # JSON object, not the two raw lines Python writes of it.
    logging.captureWarnings(True)
    # waitress says "Task queue depth is N" for every request that waits for a thread:
    # hundreds of lines under an ordinary burst of readers. Once a minute is enough.
    queue = logging.getLogger("waitress.queue")
    queue.filters[:] = [_Seldom(QUEUE_EVERY)]


#: what watchdog's observers log that the daemon tells its own way, or that is no
#: news: an overflow of the kernel's event queue (the watcher logs one line of its own,
#: `watch.Watcher.overflowed`) and an emitter asked for events as it stops
_WATCHDOG_TOLD = ("queue overflowed", "called when the thread is inactive")


def _told_otherwise(record: logging.LogRecord) -> bool:
    """False for watchdog's records of `_WATCHDOG_TOLD` (the others are logged)."""
    if not record.name.startswith("watchdog.observers"):
        return True
    message = record.getMessage()
    return not any(told in message for told in _WATCHDOG_TOLD)


#: the least time between two of waitress's "Task queue depth" warnings, in seconds
QUEUE_EVERY = 60.0


class _Seldom(logging.Filter):
    """Lets a record through at most once every `every` seconds (the others dropped)."""

    def __init__(self, every: float) -> None:
        super().__init__()
        self.every = every
        self.last: float | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if self.last is not None and record.created - self.last < self.every:
            return False
        self.last = record.created
        return True
