"""Which connections get waitress's task threads: at most a few of one client's at once.

waitress hands every connection with a complete request to its task threads (8) in
arrival order. A thread stays with a connection while the application runs and while
it waits for room to queue more of a large response, so one client whose many
connections each hold a request could keep every thread, and every other reader waits.

`TaskGate` stands between the channels and waitress's dispatcher: one client's channels
beyond `per_client` wait in a queue of their own, and each goes to the threads when one
of that client's earlier ones is done. Other clients never wait behind them.
"""

from __future__ import annotations

import threading
from typing import Protocol

from waitress.task import ThreadedTaskDispatcher


class Task(Protocol):
    """A waitress channel as the gate sees it."""

    #: the client it counts against (see `aggregator.app.connections.client_key`)
    client: str

    def service(self) -> None: ...

    def cancel(self) -> None: ...


class TaskGate:
    """Hands tasks to `dispatcher`, at most `per_client` of one client's at a time.

    `submit` comes from waitress (a channel with a request to serve), `done` from the
    end of each task's `service()`, `forget` when a channel closes. Thread-safe.
    """

    def __init__(self, dispatcher: ThreadedTaskDispatcher, per_client: int) -> None:
        self._dispatcher = dispatcher
        self._per_client = per_client
        self._lock = threading.Lock()
        # tasks handed to the dispatcher and not done (queued there, or being served)
        self._handed: dict[Task, None] = {}
        self._running: dict[str, int] = {}  # how many of them each client has
        # each client's tasks waiting for one of its places, in arrival order
        self._waiting: dict[str, dict[Task, None]] = {}

    def submit(self, task: Task) -> None:
        with self._lock:
            # A task resubmitted from its own service() (its next request) queues behind
            # the client's others: `done` hands the first in line on.
            if task in self._handed or self._running.get(task.client, 0) >= self._per_client:
                self._waiting.setdefault(task.client, {})[task] = None
            else:
                self._hand(task)

    def done(self, task: Task) -> None:
        with self._lock:
            if task not in self._handed:
                return  # not handed on by this gate
            del self._handed[task]
            client = task.client
            left = self._running[client] - 1
            if left:
                self._running[client] = left
            else:
                del self._running[client]
            waiting = self._waiting.get(client)
            if waiting:
                following = next(iter(waiting))
                del waiting[following]
                if not waiting:
                    del self._waiting[client]
                self._hand(following)

    def forget(self, task: Task) -> None:
        """Drop a closed task that waits for a place (one handed on finishes as usual)."""
        with self._lock:
            waiting = self._waiting.get(task.client)
            if waiting is not None and task in waiting:
                del waiting[task]
                if not waiting:
                    del self._waiting[task.client]

    def _hand(self, task: Task) -> None:
        self._handed[task] = None
        self._running[task.client] = self._running.get(task.client, 0) + 1
        self._dispatcher.add_task(task)  # type: ignore[arg-type]  # waitress types it as its Task
