"""The helper process a daemon keeps for the parts of its sweeps (`loader.Helper`)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT

from aggregator.errors import Cancelled
from aggregator.limits import Limits
from aggregator.sources import loader
from aggregator.sources.loader import Helper


def process_of(items: list[int], _limits: Limits) -> list[tuple[int, int]]:
    """Each item with the process that saw it."""
    return [(item, os.getpid()) for item in items]


def fails_there(items: list[int], _limits: Limits) -> list[int]:
    """The items, but in another process (the helper) an error."""
    if multiprocessing.parent_process() is not None:
        raise ValueError(f"no good: {items}")
    return items


def waits(items: list[float], _limits: Limits) -> list[float]:
    for seconds in items:
        time.sleep(seconds)
    return items


def _started(helper: Helper) -> int:
    """Starts `helper` (its first map runs here) and returns its process id once it
    answers."""
    assert helper.map(process_of, [1, 2], None, "testing") == [(1, os.getpid()), (2, os.getpid())]
    (_, there), (_, here) = helper.map(process_of, [3, 4], None, "testing")
    assert here == os.getpid() and there != here
    return there


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) is as good as gone.
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _gone(pid: int) -> None:
    """Waits for process `pid` to end (a minute at most: it is being ended)."""
    started = time.monotonic()
    while _alive(pid):
        assert time.monotonic() - started < 60, f"process {pid} is still running"
        time.sleep(0.01)


def test_the_first_items_run_on_the_helper_and_the_last_here_in_order(helper: Helper) -> None:
    there = _started(helper)
    found = helper.map(process_of, [5, 6, 7], None, "testing")
    assert [item for item, _ in found] == [5, 6, 7]
    assert [pid for _, pid in found] == [there, there, os.getpid()]
    # One item: nothing to share.
    assert helper.map(process_of, [8], None, "testing") == [(8, os.getpid())]


def test_the_last_items_asked_to_run_here_run_here_the_others_on_the_helper(
    helper: Helper,
) -> None:
    there = _started(helper)
    found = helper.map(process_of, [1, 2, 3, 4, 5], None, "testing", here=3)
    assert found == [(1, there), (2, there), (3, os.getpid()), (4, os.getpid()), (5, os.getpid())]
    # All of them here: nothing to share.
    found = helper.map(process_of, [6, 7], None, "testing", here=2)
    assert found == [(6, os.getpid()), (7, os.getpid())]
    with pytest.raises(ValueError, match="at least one"):
        helper.map(process_of, [8, 9], None, "testing", here=0)


def test_an_error_of_a_task_on_the_helper_is_raised_here(helper: Helper) -> None:
    there = _started(helper)
    with pytest.raises(ValueError, match=r"no good: \[1\]"):
        helper.map(fails_there, [1, 2], None, "testing")
    # The helper goes on.
    assert helper.map(process_of, [1, 2], None, "testing")[0] == (1, there)


def test_a_helper_killed_leaves_its_task_to_this_thread_and_a_new_one_starts(
    helper: Helper,
) -> None:
    there = _started(helper)
    os.kill(there, signal.SIGKILL)
    _gone(there)
    # Killed as it waits: its part is run here, and the next call starts another.
    assert helper.map(process_of, [1, 2], None, "testing") == [(1, os.getpid()), (2, os.getpid())]
    assert _started(helper) != there


def test_a_helper_killed_while_it_waits_is_reaped_and_replaced_by_start(helper: Helper) -> None:
    there = _started(helper)
    os.kill(there, signal.SIGKILL)
    # Ended and ready to be reaped (its main thread is a zombie before its others end).
    deadline = time.monotonic() + 60
    while os.waitid(os.P_PID, there, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        assert time.monotonic() < deadline, f"process {there} is still running"
        time.sleep(0.001)
    helper.start()  # as a daemon does after a build
    with pytest.raises(ChildProcessError):  # reaped: no zombie is left
        os.waitpid(there, os.WNOHANG)
    # Another is ready: the next task's first items run on it, not here.
    (_, first), (_, last) = helper.map(process_of, [1, 2], None, "testing")
    assert last == os.getpid()
    assert first not in (there, os.getpid())


def gated(items: list[str], _limits: Limits) -> list[tuple[str, int]]:
    """Each item (a path, or "" for none) once that file is there (a minute at most),
    with the process that saw it."""
    for path in items:
        deadline = time.monotonic() + 60
        while path and not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.01)
    return [(path, os.getpid()) for path in items]


def test_a_helper_killed_in_its_task_leaves_it_to_this_thread(
    helper: Helper, tmp_path: Path
) -> None:
    there = _started(helper)
    gate = tmp_path / "open"

    def kill() -> None:
        os.kill(there, signal.SIGKILL)
        gate.touch()  # (for the item run here again)

    # The helper's item waits for the gate: killed in the middle of it.
    threading.Timer(0.3, kill).start()
    assert helper.map(gated, [str(gate), ""], None, "testing") == [
        (str(gate), os.getpid()),
        ("", os.getpid()),
    ]


def test_a_stop_while_the_helper_works_ends_it_and_raises_cancelled(helper: Helper) -> None:
    there = _started(helper)
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled, match="stopped while testing"):
        helper.map(waits, [60.0, 0.0], cancel, "testing")
    assert time.monotonic() - started < 30
    _gone(there)  # ended, not left to finish a task nobody reads
    # The next call starts another: no answer of the old task is read for it.
    assert _started(helper) != there


def test_a_stop_before_this_threads_part_ends_the_helper_with_its_answer_unread(
    helper: Helper,
) -> None:
    there = _started(helper)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        helper.map(process_of, [1, 2], cancel, "testing")
    _gone(there)
    assert helper.map(process_of, [3, 4], None, "testing") == [(3, os.getpid()), (4, os.getpid())]
    (_, there), (_, here) = helper.map(process_of, [5, 6], None, "testing")
    assert (there, here) != (os.getpid(), os.getpid())


def test_another_thread_runs_its_items_itself_while_one_has_the_helper(
    helper: Helper, tmp_path: Path
) -> None:
    there = _started(helper)
    gate = tmp_path / "open"
    found: list[list[tuple[str, int]]] = []
    task = [str(gate), ""]
    busy = threading.Thread(target=lambda: found.append(helper.map(gated, task, None, "t")))
    busy.start()
    deadline = time.monotonic() + 60
    while not helper._lock.locked():  # the busy thread has the helper until the gate opens
        assert time.monotonic() < deadline, "the busy thread never took the helper"
        time.sleep(0.01)
    assert helper.map(process_of, [1, 2], None, "testing") == [(1, os.getpid()), (2, os.getpid())]
    gate.touch()
    busy.join()
    assert found == [[(str(gate), there), ("", os.getpid())]]


def test_close_ends_the_helper(helper: Helper) -> None:
    there = _started(helper)
    helper.close()
    _gone(there)


_KEPT_AT_EXIT = """
import os
from aggregator.sources import loader

def process_of(items, _limits):
    return [(item, os.getpid()) for item in items]

if __name__ == "__main__":
    loader.keep_helper()
    kept = loader.helper()
    kept.map(process_of, [1, 2], None, "testing")
    while True:
        (_, there), _ = kept.map(process_of, [1, 2], None, "testing")
        if there != os.getpid():
            break
    print(there, flush=True)
"""


@pytest.mark.e2e
def test_a_program_that_keeps_a_helper_exits_and_the_helper_with_it(tmp_path: Path) -> None:
    """The helper ignores SIGTERM (a Ctrl-C or a `timeout` is its parent's to handle),
    which multiprocessing sends its daemonic processes at exit before it waits for
    them: the helper is ended first, and the program exits."""
    script = tmp_path / "keeps.py"
    script.write_text(_KEPT_AT_EXIT, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    there = int(done.stdout)
    started = time.monotonic()
    while _alive(there):
        assert time.monotonic() - started < 60, "the helper outlived its program"
        time.sleep(0.05)


def test_keep_helper_keeps_one_and_ends_it_when_off() -> None:
    loader.keep_helper()
    try:
        kept = loader.helper()
        assert kept is not None
        loader.keep_helper()
        assert loader.helper() is kept
        there = _started(kept)
    finally:
        loader.keep_helper(False)
    assert loader.helper() is None
    _gone(there)


class Interrupted(BaseException):
    """What a signal handler raises in the middle of a wait (as a Ctrl-C does)."""


def test_an_interrupt_while_the_helper_works_ends_it_and_no_answer_is_read_twice(
    helper: Helper, tmp_path: Path
) -> None:
    """A program that goes on after an interrupt: its next task's answer is its own,
    not the one the helper was still working on."""
    there = _started(helper)

    def interrupt(_signal: int, _frame: object) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGUSR1, interrupt)
    try:
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGUSR1)).start()
        with pytest.raises(Interrupted):
            helper.map(gated, [str(tmp_path / "never"), ""], None, "testing")
    finally:
        signal.signal(signal.SIGUSR1, previous)
    _gone(there)
    assert _started(helper) != there
    assert helper.map(process_of, [7, 8], None, "testing")[0][0] == 7


def test_a_closed_helper_runs_its_tasks_here(helper: Helper) -> None:
    there = _started(helper)
    helper.close()
    for _ in range(2):  # and starts no process again
        assert helper.map(process_of, [1, 2], None, "testing") == [
            (1, os.getpid()),
            (2, os.getpid()),
        ]
    assert not _alive(there)
    assert [c for c in multiprocessing.active_children() if c.name == "aggregator helper"] == []


def test_a_helper_that_cannot_start_leaves_the_tasks_here(
    helper: Helper, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(_process: object) -> None:
        raise BlockingIOError(11, "Resource temporarily unavailable")  # fork: EAGAIN

    monkeypatch.setattr(multiprocessing.get_context("spawn").Process, "start", refused)
    for _ in range(3):
        assert helper.map(process_of, [1, 2], None, "testing") == [
            (1, os.getpid()),
            (2, os.getpid()),
        ]


def unpicklable_there(items: list[int], _limits: Limits) -> list[object]:
    """The items, but in another process (the helper) something that does not pickle."""
    if multiprocessing.parent_process() is not None:
        return [threading.Lock() for _ in items]
    return [(item, os.getpid()) for item in items]


def test_an_answer_that_does_not_pickle_is_made_here_and_the_helper_goes_on(
    helper: Helper,
) -> None:
    there = _started(helper)
    assert helper.map(unpicklable_there, [1, 2], None, "testing") == [
        (1, os.getpid()),
        (2, os.getpid()),
    ]
    assert helper.map(process_of, [3, 4], None, "testing")[0] == (3, there)


def test_a_task_that_does_not_pickle_runs_here_and_the_helper_goes_on(helper: Helper) -> None:
    there = _started(helper)
    lock = threading.Lock()  # (a lock does not pickle)
    assert helper.map(process_of, [lock, 2], None, "testing") == [
        (lock, os.getpid()),
        (2, os.getpid()),
    ]
    assert helper.map(process_of, [3, 4], None, "testing")[0] == (3, there)
