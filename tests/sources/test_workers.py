"""The worker processes of a run: one pool for its parallel steps."""

from __future__ import annotations

import dataclasses
import gc
import itertools
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aggregator.errors import Cancelled
from aggregator.errors import WorkerError
from aggregator.limits import DEFAULT_LIMITS
from aggregator.limits import Limits
from aggregator.sources import loader
from aggregator.sources.loader import PARALLEL_MIN_FILES
from aggregator.sources.loader import map_in_chunks
from aggregator.sources.loader import map_in_processes
from aggregator.sources.loader import sharing_workers


def process_of(items: list[int], _limits: Limits) -> list[tuple[int, int]]:
    """Each item with the process that saw it (runs in a worker)."""
    return [(item, os.getpid()) for item in items]


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc to find the processes")
def test_the_steps_of_a_run_share_its_worker_processes() -> None:
    items = list(range(4000))
    with sharing_workers() as workers:
        first = list(map_in_chunks(process_of, items, DEFAULT_LIMITS, None, None, 250))
        # The run's processes once the first step is over (each imports what its work
        # needs as it starts, so one may have done none of the first step's tasks).
        pool = _workers()
        second = list(map_in_processes(process_of, [1, 2, 3, 4], None, "testing"))
    assert [item for item, _ in first] == items  # in order
    assert [item for item, _ in second] == [1, 2, 3, 4]
    here = os.getpid()
    parse = {pid for _, pid in first}
    # This process takes part: it ran tasks while the worker started.
    assert here in parse
    assert len(pool) == workers.count - 1
    assert parse - {here} <= pool
    assert {pid for _, pid in second} - {here} <= pool  # no new process for the second step
    assert len(parse | {pid for _, pid in second}) <= workers.count
    # Outside, each step starts (and stops) processes of its own.
    third = list(map_in_processes(process_of, [1, 2], None, "testing"))
    assert not {pid for _, pid in third} & (parse - {here})


def test_items_are_made_ready_as_their_tasks_are_handed_out() -> None:
    """`ready` makes each item in this thread as its task is handed out, in order and
    once: a few ahead of the results handed on, not every item at the start."""
    made: list[int] = []
    here = threading.get_ident()

    def ready(item: int) -> int:
        assert threading.get_ident() == here
        made.append(item)
        return item * 10

    got: list[int] = []
    most = 0
    with sharing_workers() as workers:
        for item, _pid in map_in_processes(process_of, list(range(40)), None, "x", ready=ready):
            got.append(item)
            most = max(most, len(made) - len(got))
    assert got == [item * 10 for item in range(40)]
    assert made == list(range(40))
    # At most the tasks a step holds (two per core, and one a worker is handed ahead of
    # them when it is about to end its task) are made ahead of the results.
    assert most <= 2 * workers.count + workers.count - 1, most


def mark(items: list[str], _limits: Limits) -> list[int]:
    """Create each item's file (runs in a worker): its task has started."""
    for item in items:
        Path(item).touch()
    return [os.getpid() for _ in items]


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs a worker process")
def test_work_beside_runs_once_here_while_a_worker_runs_the_first_task(tmp_path: Path) -> None:
    items = [str(tmp_path / f"{n}") for n in range(6)]
    calls: list[int] = []

    def beside() -> None:
        calls.append(threading.get_ident())
        deadline = time.monotonic() + 60
        while not Path(items[0]).exists():  # the first task is a worker's, under way
            assert time.monotonic() < deadline, "no worker ran the first task meanwhile"
            time.sleep(0.01)

    with sharing_workers():
        pids = list(map_in_processes(mark, items, None, "x", beside=beside))
    assert calls == [threading.get_ident()]
    assert pids[0] != os.getpid()
    assert all(Path(item).exists() for item in items)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs a worker process")
def test_steps_are_taken_here_while_a_worker_runs_and_those_left_are_the_callers() -> None:
    """Other work in steps (a cold build's state writes, while its feeds render): this
    thread takes the next step whenever a worker's result is due, and runs no task of
    its own while steps are left; the results come in order; the steps left when the
    map ends stay for the caller. Steps that end first leave the tasks as ever."""
    here = threading.get_ident()
    taken: list[int] = []

    def steps(count: int | None) -> Iterator[None]:
        for n in itertools.count() if count is None else range(count):
            assert threading.get_ident() == here
            taken.append(n)
            time.sleep(0.002)  # a few thousand rows written, say
            yield

    def slowly(results: Iterator[tuple[float, int]]) -> list[tuple[float, int]]:
        """The results taken by a consumer slower than the worker (one writing files,
        or on a busy machine): every result is in by the time it asks for the next."""
        got = []
        for result in results:
            got.append(result)
            time.sleep(0.25)
        return got

    endless = steps(None)
    with sharing_workers():
        for take in (list, slowly):
            taken.clear()
            results = map_in_processes(sleepy, [0.2, 0.1, 0.1, 0.1], None, "x", steps=endless)
            done = take(results)
            assert [item for item, _ in done] == [0.2, 0.1, 0.1, 0.1]
            assert os.getpid() not in {pid for _, pid in done}, "a task ran here, steps left"
            assert taken, "no step was taken while the worker ran"
        count = taken[-1] + 1
        next(endless)  # the caller's: the next one
        assert taken[-1] == count

        taken.clear()
        done = list(map_in_processes(sleepy, [0.2, 0.1, 0.1, 0.1], None, "x", steps=steps(3)))
        assert [item for item, _ in done] == [0.2, 0.1, 0.1, 0.1]
        assert taken == [0, 1, 2]
    # Without worker processes, no step is taken: all are the caller's.
    taken.clear()
    alone = steps(2)
    done = list(map_in_processes(sleepy, [0.0, 0.0], None, "x", workers=1, steps=alone))
    assert [pid for _, pid in done] == [os.getpid()] * 2
    assert taken == []
    assert len(list(alone)) == 2


def sleepy(items: list[float], _limits: Limits) -> list[tuple[float, int]]:
    """Each item with the process that saw it, after sleeping that many seconds."""
    time.sleep(items[0])
    return [(items[0], os.getpid())]


def test_large_tasks_run_on_every_core_the_calling_process_among_them() -> None:
    """Three large tasks (periods' near-duplicate zones, say) on two cores: the first in
    the worker, the others here meanwhile, none queued behind the worker's."""
    workers = loader.Workers(2)
    try:
        done = list(workers.map(sleepy, [0.4, 0.2, 0.2], DEFAULT_LIMITS, None, 1, "testing"))
    finally:
        workers.close()
    assert [item for item, _ in done] == [0.4, 0.2, 0.2]  # in order
    worker, *here = (pid for _, pid in done)
    assert here == [os.getpid()] * 2 and worker != os.getpid()


def test_a_worker_about_to_end_its_task_is_handed_the_next_before_this_process_starts_one() -> None:
    """Six tasks of 1.2 s but the third (0.6 s), on two cores, the first two handed to
    the worker at once: this process runs the third, then the fourth. As it then starts
    the fifth, the worker is halfway through the second, so the worker is handed the
    sixth at once, behind it. (Before, the worker got a task only between this
    process's own: it sat idle while this process ran the sixth.)"""
    workers = loader.Workers(2)
    try:
        # The worker started (the first of two tasks is a worker's).
        list(workers.map(sleepy, [0.0, 0.0], DEFAULT_LIMITS, None, 1, "starting"))
        times = [1.2, 1.2, 0.6, 1.2, 1.2, 1.2]
        done = list(workers.map(sleepy, times, DEFAULT_LIMITS, None, 1, "testing"))
    finally:
        workers.close()
    assert [item for item, _ in done] == times  # in order
    ran = ["here" if pid == os.getpid() else "worker" for _, pid in done]
    assert ran == ["worker", "worker", "here", "here", "here", "worker"]


def test_no_task_is_handed_ahead_to_a_worker_whose_task_runs_longer_than_these() -> None:
    """A long first task on the worker, two short ones here, then a long one: as this
    process starts the second short one, it has run one task of its own (too few to
    tell a worker's task's length by); as it starts the last, the worker's task has run
    longer than its own take, for a time not known. So the last is not queued behind
    the worker's task: it runs here (else the map would take 2.5 s, not 1.5 s)."""
    workers = loader.Workers(2)
    try:
        list(workers.map(sleepy, [0.0, 0.0], DEFAULT_LIMITS, None, 1, "starting"))
        times = [1.5, 0.1, 0.1, 1.0]
        done = list(workers.map(sleepy, times, DEFAULT_LIMITS, None, 1, "testing"))
    finally:
        workers.close()
    ran = ["here" if pid == os.getpid() else "worker" for _, pid in done]
    assert ran == ["worker", "here", "here", "here"]


def stuck_in_a_worker(items: list[int], _limits: Limits) -> list[tuple[int, bool, float]]:
    """Each item, whether a worker ran it, and when it was done; a worker's first item
    takes a second (a hostile file, say)."""
    worker = multiprocessing.parent_process() is not None
    if worker and items[0] == 0:
        time.sleep(1.0)
    return [(items[0], worker, time.monotonic())]


def test_a_stuck_worker_leaves_this_thread_few_tasks_ahead_of_it() -> None:
    """The results of the tasks run here wait for the worker's, in order: while a worker
    is stuck, only `count` of them are run ahead, not every task."""
    workers = loader.Workers(2)
    try:
        done = list(workers.map(stuck_in_a_worker, list(range(12)), DEFAULT_LIMITS, None, 1, "t"))
    finally:
        workers.close()
    assert [item for item, _, _ in done] == list(range(12))
    first = done[0]
    assert first[1]  # the worker's
    ahead = [item for item, worker, when in done if not worker and when < first[2]]
    assert len(ahead) == workers.count, done


def marked(items: list[str], _limits: Limits) -> list[str]:
    """Each item, a file: "taken" as a worker takes it, "done" a second later."""
    if multiprocessing.parent_process() is not None:
        Path(items[0]).write_text("taken", encoding="utf-8")
        time.sleep(1.0)
        Path(items[0]).write_text("done", encoding="utf-8")
    return items


def test_a_step_stopped_returns_once_its_workers_task_in_hand_is_over(tmp_path: Path) -> None:
    """A stop while this thread waits for a worker's task: the step returns only once
    that task is over, so no worker is busy with it when the next step starts."""
    cancel = threading.Event()
    marks = [str(tmp_path / f"{n}.done") for n in range(3)]

    def stop_once_taken() -> None:  # however long the worker takes to start
        while not Path(marks[0]).exists():
            time.sleep(0.01)
        cancel.set()

    workers = loader.Workers(2)
    try:
        threading.Thread(target=stop_once_taken, daemon=True).start()
        with pytest.raises(Cancelled):
            list(workers.map(marked, marks, DEFAULT_LIMITS, cancel, 1, "testing"))
        assert Path(marks[0]).read_text(encoding="utf-8") == "done"
    finally:
        workers.close()


#: the stop request of `counted`'s step
STOP = threading.Event()


def counted(items: list[int], _limits: Limits) -> list[int]:
    """Each item; the run is asked to stop after item 2 (run here)."""
    if items[0] == 2:
        STOP.set()
    return items


def test_tasks_run_here_stop_after_the_item_in_hand() -> None:
    STOP.clear()
    with pytest.raises(Cancelled, match="stopped while testing"):
        loader._here(counted, [0, 1, 2, 3, 4], DEFAULT_LIMITS, STOP, "testing")
    STOP.clear()
    assert loader._here(counted, [0, 1], DEFAULT_LIMITS, STOP, "testing") == [0, 1]


@pytest.mark.parametrize(
    ("spec", "file", "said"),
    [
        (None, "/home/me/build.py", "; if /home/me/build.py runs aggregator when imported, "),
        ("newsroom.build", "/x/newsroom/build.py", "; if newsroom.build runs aggregator when "),
        ("newsroom.__main__", "/x/newsroom/__main__.py", " (killed, or out of memory)"),
        (None, None, " (killed, or out of memory)"),  # python -c
        ("aggregator", "/venv/bin/aggregator", " (killed, or out of memory)"),  # the command
        ("aggregator.app.cli", "/venv/bin/aggregator", " (killed, or out of memory)"),  # before
    ],
)
def test_a_worker_that_ended_as_it_started_names_the_main_module_it_imports(
    monkeypatch: pytest.MonkeyPatch, spec: str | None, file: str | None, said: str
) -> None:
    import importlib.machinery
    import types

    main = types.ModuleType("__main__")
    main.__spec__ = importlib.machinery.ModuleSpec(spec, None) if spec else None
    if file is not None:
        main.__file__ = file
    if spec == "aggregator":
        # pip's script for the command: the command's entry point, run only when run
        from aggregator.__main__ import command

        main.__spec__ = None
        main.command = command  # type: ignore[attr-defined]
    if spec == "aggregator.app.cli":  # the script an earlier version installed
        from aggregator.app.cli import command as earlier

        main.__spec__ = None
        main.command = earlier  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "__main__", main)
    assert loader.worker_ended(started=False).startswith(
        "a worker process ended as it started" + said
    )
    # Once a worker had started, its main module was imported: it was killed.
    assert loader.worker_ended(started=True) == (
        "a worker process ended abruptly (killed, or out of memory)"
    )


@pytest.mark.e2e
def run_script(script: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a Python script, in its folder, in a process that imports this aggregator."""
    from conftest import ROOT

    return subprocess.run(
        [sys.executable, str(script), *args],
        cwd=script.parent,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_a_step_left_as_its_workers_close_ends(tmp_path: Path) -> None:
    """A Ctrl-C (any exception) while the build works on a step's result: the workers
    are closed as it unwinds (`sharing_workers`), their waiting tasks cancelled, before
    the step's map is, and the map waited for ever for a task that would never run."""
    script = tmp_path / "left.py"
    script.write_text(
        "import time\n"
        "from aggregator.sources.loader import DEFAULT_LIMITS, Workers\n"
        "def quick(items, limits):\n"
        "    time.sleep(0.01)\n"
        "    return list(items)\n"
        "if __name__ == '__main__':\n"
        "    workers = Workers(4)  # tasks waiting in the pool besides those it runs\n"
        "    try:\n"
        "        step = workers.map(quick, list(range(40)), DEFAULT_LIMITS, None, 1, 'testing')\n"
        "        next(step)\n"
        "        raise KeyboardInterrupt\n"
        "    except KeyboardInterrupt:\n"
        "        workers.close()  # the step is still held, by this frame\n"
        "        del step\n"
        "    print('ended')\n",
        encoding="utf-8",
    )
    done = run_script(script, timeout=60)  # about a second: a hang is a failure
    assert done.returncode == 0 and done.stdout == "ended\n", done.stderr
    assert "Traceback" not in done.stderr, done.stderr


def test_workers_closed_under_a_step_stop_after_the_item_in_hand(tmp_path: Path) -> None:
    """Closed as an error unwinds, before the step's map is: the task a worker runs
    stops after the item in hand, as when the map is stopped, not after its whole part
    (a part of the parse is 250 files)."""
    script = tmp_path / "stop.py"
    script.write_text(
        "import sys, time\n"
        "from aggregator.sources.loader import DEFAULT_LIMITS, Workers\n"
        "def slow(items, limits):\n"
        "    for item in items:\n"
        "        with open(sys.argv[1], 'a') as done:\n"
        "            done.write(f'{item}\\n')\n"
        "        time.sleep(0.2 if item < 20 else 0)  # the worker's parts are slow\n"
        "    return list(items)\n"
        "if __name__ == '__main__':\n"
        "    workers = Workers(2)\n"
        "    try:\n"
        "        step = workers.map(slow, list(range(60)), DEFAULT_LIMITS, None, 10, 'testing')\n"
        "        next(step)\n"
        "        raise KeyboardInterrupt\n"
        "    except KeyboardInterrupt:\n"
        "        workers.close()\n"
        "        del step\n"
        "    print('ended')\n",
        encoding="utf-8",
    )
    log = tmp_path / "items"
    done = run_script(script, str(log), timeout=60)
    assert done.returncode == 0 and done.stdout == "ended\n", done.stderr
    items = [int(line) for line in log.read_text().split()]
    # Parts of ten: the first two go to the worker, the others are run here at once
    # while it works. The first part's results are handed on as the worker begins the
    # second part: of it, the item in hand at most (a busy machine may take two of its
    # items' time to hand the results on and close), not the whole part.
    assert set(range(10)) <= set(items), items
    second = [item for item in items if item // 10 == 1]
    assert len(second) <= 3, items


def test_a_step_cut_short_as_its_worker_dies_starting_ends(tmp_path: Path) -> None:
    """Python 3.11's pool never marks a cancelled task done once its worker is gone:
    the step waited for it for ever. Its worker ends as it starts (killed while the
    main module is imported), and the step is stopped meanwhile."""

    script = tmp_path / "cut.py"
    script.write_text(
        "import os, sys, threading, time\n"
        "if __name__ == '__mp_main__':\n"
        "    time.sleep(1.5)\n"
        "    os._exit(1)\n"
        "from aggregator.errors import Cancelled\n"
        "from aggregator.limits import DEFAULT_LIMITS\n"
        "from aggregator.sources import loader\n"
        "def work(items, _limits):\n"
        "    return items\n"
        "if __name__ == '__main__':\n"
        "    workers = loader.Workers(2)\n"
        "    cancel = threading.Event()\n"
        "    threading.Timer(0.5, cancel.set).start()\n"
        "    try:\n"
        "        list(workers.map(work, list(range(40)), DEFAULT_LIMITS, cancel, 1, 'testing'))\n"
        "    except Cancelled as exc:\n"
        "        print(exc)\n"
        "    workers.close()\n"
        "    print('closed')\n",
        encoding="utf-8",
    )
    done = run_script(script)
    assert done.stdout.splitlines() == ["stopped while testing", "closed"], done.stderr
    # Nothing else: no traceback of the pool's own thread (a cancelled task, its worker
    # gone, failed it).
    assert "Traceback" not in done.stderr, done.stderr


_CYCLES = """\
import gc, os, sys
gc.disable()  # (here and in the worker) no pass but the last, at exit
from aggregator.sources import loader

class Cycle:
    def __del__(self):
        os.write(2, f"collected in {'a worker' if __name__ != '__main__' else 'main'}\\n".encode())

def leave(items, _limits):
    cycle = Cycle()
    cycle.me = cycle  # unreachable once this returns: only a pass of the collector frees it
    return items

if __name__ == "__main__":
    from aggregator.app import cli
    if sys.argv[1] == "command":  # as the command's process runs it
        cli.command(["init", sys.argv[2]])
    elif sys.argv[1] == "main":  # as a program calls it
        cli.main(["init", sys.argv[2]])
    workers = loader.Workers(2)
    assert [i for i in workers.map(leave, [1, 2, 3, 4], loader.DEFAULT_LIMITS, None, 1, "x")]
    workers.close()
    leave([], None)
    print("done")
"""


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs a worker process")
def test_the_command_and_its_workers_leave_their_objects_to_their_exit(tmp_path: Path) -> None:
    """At exit, the command's process and its workers make no last pass of the garbage
    collector over every object they hold (about 0.45 s after a cold build of 100,000
    files): an unreachable cycle is left to the end of the process. A program that
    imports aggregator, or calls the command's `main`, keeps its own last pass, and so
    do the workers it starts (they import its main module)."""
    script = tmp_path / "cycles.py"
    script.write_text(_CYCLES, encoding="utf-8")

    def run(how: str) -> subprocess.CompletedProcess[str]:
        return run_script(script, how, str(tmp_path / how))

    command = run("command")
    assert command.stdout.endswith("done\n"), command.stderr
    assert "collected" not in command.stderr, command.stderr
    for how in ("main", "library"):
        program = run(how)
        assert program.stdout.endswith("done\n"), program.stderr
        # Collected in both (one task at least is the worker's).
        lines = set(program.stderr.splitlines())
        assert lines == {"collected in main", "collected in a worker"}, program.stderr


def dies_in_a_worker(items: list[int], _limits: Limits) -> list[int]:
    """Each item, but a worker process running it ends abruptly (as when killed)."""
    if multiprocessing.parent_process() is not None:
        os._exit(9)
    return items


def test_a_worker_that_ends_abruptly_stops_the_step_with_one_line() -> None:
    with sharing_workers(), pytest.raises(WorkerError) as raised:
        list(map_in_chunks(dies_in_a_worker, list(range(4000)), DEFAULT_LIMITS, None, 2, 250))
    # The worker had started (it ran its task): it was killed, whatever the main module.
    assert str(raised.value) == (
        "stopped while loading article files: "
        "a worker process ended abruptly (killed, or out of memory)"
    )
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def collecting(items: list[int], _limits: Limits) -> list[tuple[int, bool]]:
    """Each item with whether the cyclic garbage collector runs (in a worker)."""
    return [(item, gc.isenabled()) for item in items]


def test_a_workers_task_runs_without_the_cyclic_collector_and_restores_it() -> None:
    with sharing_workers():
        during = list(map_in_processes(collecting, [1, 2, 3], None, "testing"))
    assert during == [(1, False), (2, False), (3, False)]
    # After a task the collector is as it was (run here, where it is on).
    assert gc.isenabled()
    assert loader._work_until_stopped(collecting, [4], DEFAULT_LIMITS, 1) == [(4, False)]
    assert gc.isenabled()
    gc.disable()
    try:
        loader._work_until_stopped(collecting, [5], DEFAULT_LIMITS, 1)
        assert not gc.isenabled()  # not turned on by the task
    finally:
        gc.enable()


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


def _children() -> dict[int, list[int]]:
    """Each live process's children (zombies aside), from /proc."""
    found: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text(encoding="ascii", errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            found.setdefault(int(fields[1]), []).append(int(entry))
    return found


def _workers() -> set[int]:
    """The live worker processes this process started."""
    return {child for child in _children().get(os.getpid(), []) if b"spawn_main" in _cmdline(child)}


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""  # ended meanwhile


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.e2e
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc to find the processes")
def test_a_build_killed_with_sigkill_leaves_no_worker_behind(tmp_path: Path) -> None:
    """SIGKILL runs no clean-up: the parse workers end by themselves once the build
    is gone, instead of waiting for work forever."""
    from conftest import OFFLINE
    from conftest import ROOT
    from conftest import require_e2e

    require_e2e("the real aggregator command")
    sys.path.insert(0, str(ROOT / "bench"))
    import corpus  # bench/corpus.py: files as heavy as real ones, so the parse takes a while

    corpus.generate(tmp_path / "src", 2 * PARALLEL_MIN_FILES, seed=5, processes=1)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(OFFLINE), env.get("PYTHONPATH", "")) if p)
    words = ["build", "--links", "off", "-q", "--source", "src", "--output", "out"]
    build = subprocess.Popen(
        [sys.executable, "-m", "aggregator", *words],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    started = time.monotonic()
    workers: list[int] = []
    while not workers:  # the build's worker processes: the parse is on
        assert build.poll() is None, "the build ended before its workers started"
        assert time.monotonic() - started < 120, "no worker started"
        children = _children().get(build.pid, [])
        workers = [c for c in children if b"spawn_main" in _cmdline(c)]
        time.sleep(0.01)
    took = time.monotonic() - started
    build.kill()
    build.wait()
    killed = time.monotonic()
    while left := [w for w in workers if _alive(w)]:
        # As long again as the build took to start its workers, and a margin.
        assert time.monotonic() - killed < 10 + took, f"still running: {left}"
        time.sleep(0.05)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs a worker process")
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc to find the processes")
def test_workers_started_ahead_are_those_the_run_shares_then_closed() -> None:
    loader.start_workers_ahead()
    try:
        ahead = _workers()
        assert len(ahead) == (os.cpu_count() or 1) - 1  # started before any step asked
        with sharing_workers():
            seen = list(
                map_in_chunks(process_of, list(range(4000)), DEFAULT_LIMITS, None, None, 250)
            )
            assert _workers() == ahead  # no other process
    finally:
        loader.drop_workers_ahead()  # (when the run did not take them)
    assert {pid for _, pid in seen} - {os.getpid()} <= ahead
    assert not _workers()


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs a worker process")
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc to find the processes")
def test_workers_started_ahead_that_no_run_took_are_closed() -> None:
    loader.start_workers_ahead()
    try:
        assert len(_workers()) == (os.cpu_count() or 1) - 1
    finally:
        loader.drop_workers_ahead()
    assert not _workers()
    with sharing_workers():  # a later run starts its own when a step needs them
        assert not _workers()


@pytest.mark.e2e
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs a worker process")
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc to find the processes")
def test_a_first_build_of_many_files_starts_its_workers_before_it_stats_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Their start (imports) overlaps the `stat` of every file and the state's reads; a
    later build, which parses the changes only, and a first build of few files start
    none ahead."""
    from conftest import bench_module

    from aggregator import build
    from aggregator.config import Config
    from aggregator.engine import pipeline

    bench_module("corpus").generate(tmp_path / "src", 60, seed=3, processes=1)
    monkeypatch.setattr(loader, "PARALLEL_MIN_FILES", 50)
    started: list[int] = []
    stat_files = pipeline.stat_files

    def stats(*args: object) -> object:
        started.append(len(_workers()))
        return stat_files(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "stat_files", stats)
    config = Config(sources=(tmp_path / "src",), output=tmp_path / "out", links="off")
    config = dataclasses.replace(config, state=tmp_path / "state.sqlite")
    first = build(config)
    assert first.loaded == 60 and not first.errors
    (tmp_path / "src" / "new.md").write_bytes(next((tmp_path / "src").rglob("*.md")).read_bytes())
    build(config)
    assert started == [(os.cpu_count() or 1) - 1, 0]
    assert not _workers()
    monkeypatch.setattr(loader, "PARALLEL_MIN_FILES", 100)
    started.clear()
    build(dataclasses.replace(config, output=tmp_path / "out2", state=tmp_path / "two.sqlite"))
    assert started == [0]


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc to find the processes")
def test_workers_started_ahead_are_as_many_as_their_count_says() -> None:
    """A pool of the `spawn` kind starts a process at a submit that finds none idle: one
    task each, not one in all (a machine of more cores than this one's)."""
    workers = loader.Workers(4)
    try:
        workers.start()
        assert len(_workers()) == 3
    finally:
        workers.close()
    assert not _workers()


def test_the_last_tasks_of_a_step_shrink_so_the_processes_end_together() -> None:
    """Tasks of 250 items while two for each process are left, then smaller ones, each
    a fourth of what is left on two processes (an eighth of a task at least): the
    worker no longer waits most of a task's time for this process's last one. Every
    item is seen once, in order, and progress hears each task's items."""
    items = list(range(5000))
    heard: list[int] = []
    workers = loader.Workers(2)
    try:
        done = list(workers.map(process_of, items, DEFAULT_LIMITS, None, 250, "t", heard.append))
    finally:
        workers.close()
    assert [item for item, _ in done] == items
    assert sum(heard) == len(items)
    full = (len(items) - 1000) // 250 + 1  # the last of them leaves fewer than 1,000
    assert heard[:full] == [250] * full
    tail = heard[full:]
    assert tail[:5] == [187, 140, 105, 79, 59]  # a fourth of what is left
    assert all(size >= 31 for size in tail[:-1]) and tail == sorted(tail, reverse=True)
    assert sum(tail) == len(items) - 250 * full


def test_a_step_of_fewer_items_than_a_task_is_one_task() -> None:
    heard: list[int] = []
    workers = loader.Workers(2)
    try:
        done = list(
            workers.map(process_of, list(range(7)), DEFAULT_LIMITS, None, 250, "t", heard.append)
        )
    finally:
        workers.close()
    assert [item for item, _ in done] == list(range(7)) and heard == [7]


def test_parts_of_no_items_each_are_refused() -> None:
    with pytest.raises(ValueError, match="parts of 0 items"):
        loader._parts(list(range(10)), 0, 2)


#: in each process: the items `prepared` was given (a worker keeps its own)
_PREPARED: set[int] = set()


def prepared(items: list[int]) -> None:
    _PREPARED.update(items)


def seen_prepared(items: list[int], _limits: Limits) -> list[tuple[int, int, bool]]:
    """Each item, the process that ran it, and whether `prepared` had it there first."""
    return [(item, os.getpid(), item in _PREPARED) for item in items]


@pytest.mark.parametrize("count", [PARALLEL_MIN_FILES // 2, 4 * PARALLEL_MIN_FILES])
def test_each_task_is_prepared_where_it_runs_before_its_items(count: int) -> None:
    # (`read_ahead` asks for a task's files so: in the process that reads them.)
    _PREPARED.clear()
    items = list(range(count))
    results = list(
        map_in_chunks(seen_prepared, items, DEFAULT_LIMITS, None, 2, 250, prepare=prepared)
    )
    assert [item for item, _pid, _first in results] == items
    assert all(first for _item, _pid, first in results)
    if count >= PARALLEL_MIN_FILES:  # some ran on the worker, prepared there
        assert {pid for _item, pid, _first in results} - {os.getpid()}


def test_a_stopped_map_prepares_nothing_more() -> None:
    # (Reading ahead a task's files after the stop would only delay the stop.)
    _PREPARED.clear()
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        list(map_in_chunks(seen_prepared, [1, 2], DEFAULT_LIMITS, cancel, 1, 2, prepare=prepared))
    with pytest.raises(Cancelled):
        loader._here(seen_prepared, [4, 5], DEFAULT_LIMITS, cancel, "testing", prepared)
    assert not _PREPARED
