"""Finding article files and turning each into an `Article` or a `LoadError`.

A file is YAML front matter between `---` lines, with or without a body after it
(a `.yaml`/`.yml` file may also be plain YAML). YAML is read by PyYAML's safe
loader (the C one when installed), so no tag ever runs code, or, with the `fast`
extra, by yaml-rs where the two cannot differ (`fastyaml`). Nothing in here raises
for a bad file: every problem becomes one `LoadError(path, line, reason)`.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import fnmatch
import functools
import gc
import hashlib
import multiprocessing
import os
import re
import signal
import stat
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from collections.abc import Generator
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import wait
from concurrent.futures.process import BrokenProcessPool
from contextvars import ContextVar
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from pathlib import PurePath
from typing import Any
from typing import TypeVar

import yaml

from aggregator.errors import Cancelled
from aggregator.errors import ConfigError
from aggregator.errors import WorkerError
from aggregator.limits import DEFAULT_LIMITS
from aggregator.limits import MAX_YAML_DEPTH
from aggregator.limits import Limits
from aggregator.model import Article
from aggregator.model import Image
from aggregator.model import LoadError
from aggregator.model import LoadWarning
from aggregator.model import Provider
from aggregator.model import RelatedStub
from aggregator.sources import fastyaml
from aggregator.sources import yamlload
from aggregator.sources.text import clean_cut
from aggregator.sources.text import forget_fixes
from aggregator.sources.text import truncate
from aggregator.sources.yamltext import Marks
from aggregator.sources.yamltext import kind
from aggregator.sources.yamltext import lines_at
from aggregator.stories.urls import web_uri

_PLAIN_YAML_SUFFIXES = (".yaml", ".yml")
#: publication years accepted: far enough from year 1 and 9999 that every date
#: computation downstream (dedupe windows, max_age, sub-second entry offsets) stays
#: inside what `datetime` can hold
YEARS = range(1000, 9000)
_FENCE = re.compile(r"^---\s*$")
#: the line that ends front matter (found in the whole text: `^` is after "\n" only)
_END = re.compile(r"^(?:---|\.\.\.)[^\S\n]*$", re.MULTILINE)
#: where such a line may start (a search for it skips to each line break at once)
_END_START = re.compile(r"\n(?:---|\.\.\.)")
#: the largest quality score, either way (the config's thresholds have the same range)
MAX_QUALITY = 1_000_000_000
#: what starts a line before its content, as far as nesting goes
_LEAD = re.compile(r"\n[ ?:-]*")


class _Invalid(Exception):
    """A reason a file is not an article, raised inside this module only."""

    def __init__(self, reason: str, line: int = 1) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line


def find_files(sources: Sequence[Path], patterns: Sequence[str]) -> list[Path]:
    """Files under `sources` matching any pattern, recursively, in a stable order.

    Order: by path, whatever the order of the sources. Hidden files and folders
    (a leading dot, such as `.git`) are skipped. A file found twice through
    overlapping sources is listed once (under the first source that has it; a name
    that is not UTF-8, reported and never read, takes the place of no other).
    """
    return [Path(path) for path in find_paths(sources, patterns)]


def check_sources(sources: Sequence[Path]) -> None:
    """Raise ConfigError for a source folder that does not exist."""
    for source in sources:
        if not source.is_dir():
            raise ConfigError(f"{source}: source folder not found")


#: starts (and splits) the name under which `find_paths` gives the inode number of a folder
#: of a source's real path: no path holds it
SOURCE_MARK = "\0"


def find_paths(
    sources: Sequence[Path],
    patterns: Sequence[str],
    unread: list[LoadError] | None = None,
    folders: dict[str, int] | None = None,
    twice: list[str] | None = None,
) -> list[str]:
    """`find_files` as strings: no Path object per file, for corpora of many files.
    A folder that cannot be listed (permissions) is reported in `unread`, when given;
    a path not listed as its file was found already (`file_key`) in `twice`.
    `folders`, when given, gets the inode number of each folder that holds a file
    found, by its name as the paths write it (`parsecache.folder_of`; one whose name is
    not UTF-8 left out): as its parent lists it, a source's stat'ed (-1 when it cannot
    be), before the folder is listed; and, under `SOURCE_MARK`, the source's name,
    `SOURCE_MARK` and a depth, those of the folders of each source's real path below its
    mount point (under no depth: how many; see `tables.moved`)."""
    check_sources(sources)
    found: list[str] = []
    seen: set[str] = set()
    for source in sources:
        for path in sorted(_walk(str(source), patterns, unread, folders)):
            # Resolving every path costs a system call per file; one folder cannot
            # list a file twice, so only several sources need it.
            key = file_key(path) if len(sources) > 1 else path
            if key not in seen:
                seen.add(key)
                found.append(path)
            elif twice is not None:
                twice.append(path)
    if len(sources) > 1:
        # One order whatever the order of the sources: that of the paths, as within
        # one folder (incremental builds rely on it).
        found.sort()
    return found


def file_key(path: str) -> str:
    """What tells the files found twice (through overlapping sources, a link): the real
    path; a name that is not UTF-8 (reported, never read: see `split_names`) is told
    apart from the others, so it hides no file that can be read (a link to one, say)."""
    key = os.path.realpath(path)
    return key if path.isascii() or _utf8(path) else "\0" + key  # (no path holds it)


_P = TypeVar("_P", str, Path)
_T = TypeVar("_T")
_R = TypeVar("_R")


def split_names(paths: Sequence[_P]) -> tuple[list[_P], list[LoadError]]:
    """The files whose names are UTF-8, and an error for each of the others.

    A name that is not UTF-8 (bytes Python keeps as lone surrogates) can be neither
    printed in a UTF-8 report, log or JSON nor stored in the state file, so such a
    file is reported under a readable form of its name (`bad-\\xff.md`), not loaded.
    """
    good, misnamed = sort_names(paths)
    return good, name_errors(misnamed)


def sort_names(paths: Sequence[_P]) -> tuple[list[_P], list[_P]]:
    """The files whose names are UTF-8, and the others, each in their order (see
    `split_names`)."""
    good: list[_P] = []
    misnamed: list[_P] = []
    for path in paths:
        text = str(path)
        if text.isascii() or _utf8(text):
            good.append(path)
        else:
            misnamed.append(path)
    return good, misnamed


#: the reason given for a file whose name is not UTF-8 (see `split_names`)
NAME_NOT_UTF8 = "file name is not UTF-8: rename the file"


def name_errors(misnamed: Iterable[_P]) -> list[LoadError]:
    """The error of each file whose name is not UTF-8 (see `split_names`)."""
    return [
        LoadError(os.fsencode(str(path)).decode("utf-8", "backslashreplace"), 1, NAME_NOT_UTF8)
        for path in misnamed
    ]


def _walk(
    source: str,
    patterns: Sequence[str],
    unread: list[LoadError] | None = None,
    folders: dict[str, int] | None = None,
) -> Iterator[str]:
    """The files under `source` whose names match `patterns`, as `os.walk` finds them
    (folders and files whose names start with "." skipped, links to folders not
    followed); the inode number of each folder that holds one of them in `folders`
    (see `find_paths`)."""
    match = re.compile("|".join(fnmatch.translate(p) for p in patterns)).match
    # Paths as pathlib writes them: Path(".", "a.md") is "a.md".
    cut = 2 if source == "." else 0
    normcase = os.path.normcase

    def refused(exc: OSError) -> None:
        # One that went between the listing of its parent and its own is no error.
        if unread is not None and not isinstance(exc, FileNotFoundError):
            where = str(exc.filename or source)
            reason = f"cannot read folder: {exc.strerror or exc}"
            unread.append(LoadError(where[cut:] if where.startswith("./") else where, 1, reason))

    # Each folder with its inode number as its parent lists it (no system call); the
    # source's, stat'ed before it is listed (a link to a folder followed), and those of
    # the folders of its real path below its mount point.
    root = -1
    if folders is not None:
        root = inode(source)
        named = (source if source.endswith(os.sep) else source + os.sep)[cut:][:-1]
        if named.isascii() or _utf8(named):
            numbers = _real_path_inodes(source)
            for depth, number in enumerate(numbers):
                folders[f"{SOURCE_MARK}{named}{SOURCE_MARK}{depth}"] = number
            # (and how many: a link pointed into its folder's folder, or out of it)
            folders[f"{SOURCE_MARK}{named}{SOURCE_MARK}"] = len(numbers)
    stack: list[tuple[str, int]] = [(source, root)]
    while stack:
        folder, number = stack.pop()
        names: list[str] = []
        below: list[tuple[str, int]] = []
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    name = entry.name
                    try:
                        is_folder = entry.is_dir()
                    except OSError:
                        is_folder = False
                    if not is_folder:
                        names.append(name)
                    elif not name.startswith(".") and not entry.is_symlink():
                        below.append((entry.path, entry.inode()))
        except OSError as exc:  # as `os.walk`: nothing of a folder not listed whole
            refused(exc)
            continue
        stack.extend(reversed(below))
        # os.path.join, without a call per file
        prefix = folder if folder.endswith(os.sep) else folder + os.sep
        held = False
        for name in names:
            if not name.startswith(".") and match(normcase(name)):
                held = True
                yield (prefix + name)[cut:]
        if held and folders is not None:
            named = prefix[cut:][:-1]
            if named.isascii() or _utf8(named):  # (else its files are not loaded)
                folders[named] = number


def _real_path_inodes(source: str) -> list[int]:
    """The inode numbers of the folders of `source`'s real path (links resolved) below
    the mount point it is in, from there down. (A mount point's number may move when it
    is mounted again: the root of a container's file system has the number of its own
    folder on the host.)"""
    numbers: list[int] = []
    path = os.path.realpath(source)
    while not os.path.ismount(path):
        numbers.append(inode(path))
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return numbers[::-1]


def listed_inodes(folders: Iterable[str]) -> dict[str, int]:
    """The inode number of each folder as its parent lists it (as the walk numbers the
    folders below a source: at a mount point, not the number `stat` gives; one listing
    of each parent), -1 for one not found."""
    folders = list(folders)
    wanted: dict[str, dict[str, str]] = {}
    for folder in folders:
        parent, _, name = folder.rpartition(os.sep)
        wanted.setdefault(parent, {})[name] = folder
    numbers = dict.fromkeys(folders, -1)
    for parent, names in wanted.items():
        with contextlib.suppress(OSError), os.scandir(parent or os.curdir) as entries:
            for entry in entries:
                if entry.name in names:
                    numbers[names[entry.name]] = entry.inode()
    return numbers


def inode(folder: str) -> int:
    """A folder's inode number (a link followed; "": the working folder's), -1 when it
    cannot be stat'ed."""
    try:
        return os.stat(folder or os.curdir).st_ino
    except OSError:
        return -1


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


#: below this many files, starting worker processes costs more than it saves
PARALLEL_MIN_FILES = 2000
_CHUNK = 250


def load_all(
    paths: Iterable[Path],
    cancel: threading.Event | None = None,
    workers: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> tuple[list[Article], list[LoadError]]:
    """Load every file, in order, on `workers` cores (default: every core) when there
    are many; stops with `Cancelled` soon after `cancel` is set."""
    articles: list[Article] = []
    errors: list[LoadError] = []
    chunks = map_in_chunks(
        load_chunk, list(paths), limits, cancel, workers, _CHUNK, prepare=read_ahead
    )
    for result in chunks:
        if isinstance(result, LoadError):
            errors.append(result)
        else:
            articles.append(result)
    return articles, errors


def map_in_chunks(
    work: Callable[[list[_T], Limits], list[_R]],
    items: list[_T],
    limits: Limits,
    cancel: threading.Event | None,
    workers: int | None,
    chunk: int,
    progress: Callable[[int], None] | None = None,
    prepare: Callable[[list[_T]], object] | None = None,
) -> Iterator[_R]:
    """`work(some, limits)` over `items`, results in order: on `workers` cores
    (default: every core; `Workers`), `chunk` items a task (the last ones fewer), when
    there are PARALLEL_MIN_FILES items or more, else here one item at a time. Stops
    with `Cancelled` soon after `cancel` is set: after the item in hand, here and in
    every worker. `progress` hears how many more items are done, once the results of a
    task (`chunk` items, here too) are handed on. `prepare(some)`, when given, is run
    where a task runs before its items are (`read_ahead`: the files of a task asked
    for at once)."""
    workers = workers if workers is not None else (os.cpu_count() or 1)
    if workers > 1 and len(items) >= PARALLEL_MIN_FILES:
        yield from _in_pool(
            work, items, limits, cancel, workers, chunk, progress=progress, prepare=prepare
        )
        return
    pending = 0
    for at, item in enumerate(items):
        if cancel is not None and cancel.is_set():
            raise Cancelled("stopped while loading article files")
        if prepare is not None and at % chunk == 0:
            prepare(items[at : at + chunk])
        yield from work([item], limits)
        pending += 1
        if pending == chunk and progress is not None:
            progress(pending)
            pending = 0
    if pending and progress is not None:
        progress(pending)


def map_in_processes(
    work: Callable[[list[_T], Limits], list[_R]],
    items: list[_T],
    cancel: threading.Event | None,
    doing: str,
    workers: int | None = None,
    ready: Callable[[_T], _T] | None = None,
    beside: Callable[[], object] | None = None,
    steps: Iterator[object] | None = None,
) -> Generator[_R, None, None]:
    """`work([item], limits)` over `items` (each a large task), results in order, on
    `workers` cores (default: every core) as `map_in_chunks` runs them; here, with one
    core or one item. `doing` names the work in the `Cancelled` raised when
    `cancel` is set. `ready(item)`, when given, is the item as the task takes it, made
    in this thread as the task is handed out (each item's data is read only then: a
    few tasks' are held at once, not every item's). `beside()`, when given, is run
    once in this thread as the first tasks are handed out, before it runs any (other
    work of the build, done while the workers start on theirs). `steps`, when given,
    is other work in short steps: this thread takes the next step whenever it would
    wait for a worker's result, before it runs tasks of its own (work of the build
    the workers' tasks do not wait for); the steps left when the map ends (all of
    them without workers) are the caller's to take."""
    workers = workers if workers is not None else (os.cpu_count() or 1)
    if workers > 1 and len(items) > 1:
        yield from _in_pool(
            work, items, DEFAULT_LIMITS, cancel, workers, 1, doing,
            ready=ready, beside=beside, steps=steps,
        )  # fmt: skip
        return
    if beside is not None:
        beside()
    for item in items:
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"stopped while {doing}")
        yield from work([ready(item) if ready is not None else item], DEFAULT_LIMITS)


#: what `next` gives for steps (`map_in_processes`) that are all taken
_NO_STEP = object()
#: how often a wait for a worker's results looks at the stop request
_POLL_SECONDS = 0.1
#: in a worker process: the number of the last map asked to stop (see `Workers.map`)
_stopped_maps: Any = None


class Workers:
    """Worker processes for the parallel steps of a run (parsing files, finding the
    pairs of near-duplicate zones), started when first needed and shared by the steps
    while `sharing_workers` makes them current: a build starts its processes once.

    `count` (two or more) cores take part with `count - 1` processes: the calling
    thread runs a task itself whenever the result it waits for next is not ready
    (one process fewer to hold in memory, and its own results cross no pipe). The
    processes are started fresh (`spawn`): no forkserver is left beside them, in
    memory for the rest of the run, to fork the one or two a build starts."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._pool: ProcessPoolExecutor | None = None
        #: shared with the workers: the maps numbered up to it are to stop
        self._stopped: Any = None
        #: shared with the workers: 1 once one of them started (its main module imported)
        self._started: Any = None
        self._maps = 0

    def map(
        self,
        work: Callable[[list[_T], Limits], list[_R]],
        items: list[_T],
        limits: Limits,
        cancel: threading.Event | None,
        chunk: int,
        doing: str,
        progress: Callable[[int], None] | None = None,
        ready: Callable[[_T], _T] | None = None,
        beside: Callable[[], object] | None = None,
        steps: Iterator[object] | None = None,
        prepare: Callable[[list[_T]], object] | None = None,
    ) -> Iterator[_R]:
        """`work(some, limits)` over `items`, `chunk` items a task (the last ones fewer:
        `_parts`), results in order; `progress` hears the number of items of each task
        once its results are handed on (one call a task: nothing per item); `ready`
        makes each item of a task as the task is handed out, `beside` runs once the
        first tasks are, and the `steps` are taken while a worker's result is waited
        for (see `map_in_processes`); `prepare` runs on each task's items where it runs,
        first (see `map_in_chunks`)."""
        refuse_when_starting_as_worker()
        processes = self.count - 1
        pool = self._made_pool()
        self._maps += 1
        number = self._maps
        parts = _parts(items, chunk, self.count)
        parts.reverse()  # popped from the end, in order
        sizes: deque[int] = deque()  # of the tasks in `tasks`, in their order
        # The tasks in order, each a worker's future or the results of one run here,
        # `held` at most (and one for each worker handed a task ahead, below): a
        # consumer slower than the workers (a busy machine), or workers slower than
        # this thread (still starting), would otherwise have every task's results held
        # at once. Two tasks for each worker while more than `held` are left (one
        # waiting while it runs the other: this thread submits between its own tasks),
        # then one: a task given to a worker cannot be taken back, and the last ones,
        # large tasks among them, are shared with this thread as they come. The very
        # last is always this thread's, or the next one free; but as this thread starts
        # a task while the worker's it waits for is likely to end within half a task
        # (`ending`), each worker is handed the one after it too, the last among them:
        # else the worker would wait for this thread's task to end before it gets the
        # next (a second of the zones of 100,000 files). Not behind a worker's task
        # that runs longer than this thread's take: its end is not known (a hostile
        # file, a large zone).
        tasks: deque[Future[list[_R]] | list[_R]] = deque()
        queued = 0  # workers' tasks in `tasks`
        held = 2 * self.count
        # When each worker's task was handed out and when it ended, by its number in
        # the order handed out (never the future itself: it keeps the task's results);
        # how many were popped; the seconds this thread's tasks took, how many, and
        # how many items they held.
        sent: list[float] = []
        ended: dict[int, float] = {}
        popped = 0
        spent, runs, ran = 0.0, 0, 0

        def take() -> list[_T]:
            part = parts.pop()
            sizes.append(len(part))
            return part if ready is None else [ready(item) for item in part]

        def submit(ahead: bool = False) -> None:
            nonlocal queued
            # With `ahead`, up to two for each worker, those under way among them, and
            # one task for each worker past `held` at most (this thread's own tasks wait
            # behind the worker's it waits for: `held` may be full of them).
            due = sum(1 for t in tasks if isinstance(t, Future) and not t.done()) if ahead else 0
            while (
                (parts and due < 2 * processes and len(tasks) < held + processes)
                if ahead
                else (len(parts) > 1 and queued < processes * (1 + (len(parts) > held)))
            ):
                part = take()
                # A submit may start a worker: it starts with a Ctrl-C held back.
                with interrupts_held():
                    task = pool.submit(_work_until_stopped, work, part, limits, number, prepare)
                task.add_done_callback(functools.partial(_note_end, ended, len(sent)))
                sent.append(time.monotonic())
                tasks.append(task)
                queued += 1
                due += 1

        def ending() -> bool:
            """Whether the first worker's task not popped is likely to end within half
            of one of this thread's tasks: it has run for half to five fourths of what
            this thread's took on average, two or more of them (past that, it is a
            longer task, of a length not known). It began when handed out, or once the
            task `processes` before it ended."""
            if runs < 2:
                return False
            began = sent[popped]
            if popped >= processes:
                before = ended.get(popped - processes)
                if before is None:
                    return False
                began = max(began, before)
            mean = spent / ran * sizes[0]  # (the parts of the end are smaller)
            return mean / 2 <= time.monotonic() - began <= mean * 5 / 4

        try:
            submit()
            if beside is not None:
                beside()
            while tasks or parts:
                front = tasks[0] if tasks else None
                waiting = front is None or (isinstance(front, Future) and not front.done())
                if waiting and steps is not None:
                    # A worker's result is due (or none is, every one handed on: the next
                    # parts are handed out, the last among them): a step of the other
                    # work meanwhile, the workers handed what keeps them busy through it.
                    if cancel is not None and cancel.is_set():
                        raise Cancelled(f"stopped while {doing}")
                    submit(ahead=True)
                    if next(steps, _NO_STEP) is _NO_STEP:
                        steps = None
                    continue
                if waiting and parts and len(tasks) < held:
                    # Waiting for a worker (or for nothing): run the next task here, its
                    # results in its place among the tasks.
                    ahead = isinstance(front, Future) and ending()
                    mine: list[_R] = []
                    tasks.append(mine)
                    part = take()
                    if ahead:
                        submit(ahead=True)
                    start = time.monotonic()
                    mine.extend(_here(work, part, limits, cancel, doing, prepare))
                    spent += time.monotonic() - start
                    runs += 1
                    ran += len(part)
                    submit()
                    continue
                if isinstance(front, Future):
                    # Popped once done: a stop meanwhile leaves it to `finally`.
                    results = _result(front, cancel, doing)
                    tasks.popleft()
                    queued -= 1
                    popped += 1
                    submit()
                else:
                    assert front is not None  # else `waiting`, and run here
                    if cancel is not None and cancel.is_set():
                        raise Cancelled(f"stopped while {doing}")
                    results = front
                    tasks.popleft()
                # Each result let go of once handed on (a future keeps the list).
                del front
                results.reverse()
                while results:
                    yield results.pop()
                size = sizes.popleft()
                if progress is not None:
                    progress(size)
        except BrokenProcessPool:
            why = worker_ended(started=bool(self._started.value))
            raise WorkerError(f"stopped while {doing}: {why}") from None
        finally:
            # A no-op after the last task; cut short, the tasks left end at once (each
            # looks at `_stopped` before its first item), and none is left running
            # when the map returns. None is cancelled here: Python 3.11's pool, a
            # worker gone, fails on a cancelled task (a traceback of its own thread on
            # the screen), and its wait for it never returns. A task `close` cancelled
            # (the map closed after the pool, as an exception unwinds) never ends: not
            # waited for.
            self._stopped.value = number
            wait([task for task in tasks if isinstance(task, Future) and not task.cancelled()])

    def _made_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            # Each worker looks at this between two items, so a stop does not wait for
            # the rest of a chunk (with a hostile file, minutes): only for the item in hand.
            self._stopped = context.Value("q", 0, lock=False)
            self._started = context.Value("b", 0, lock=False)
            self._pool = ProcessPoolExecutor(
                self.count - 1,
                mp_context=context,
                initializer=_worker_started,
                # The command's workers exit as it does; a program's keep their own exit
                # (they import its main module).
                initargs=(self._stopped, self._started, _exit_registered),
            )
        return self._pool

    def start(self) -> None:
        """Start the processes now, ahead of the first map: they start (import) while
        this thread does other work."""
        refuse_when_starting_as_worker()
        if self._pool is None and self.count > 1:
            pool = self._made_pool()
            # A submit starts a process when none is idle (as a map's submits do).
            with interrupts_held():
                for _ in range(self.count - 1):
                    pool.submit(_nothing)

    @property
    def running(self) -> bool:
        """Whether the processes are started."""
        return self._pool is not None

    def close(self) -> None:
        if self._pool is not None:
            # A map still in hand (closed after the workers, as an error unwinds): its
            # tasks stop after the item in hand, as when the map itself is stopped.
            self._stopped.value = self._maps
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


_SHARED: ContextVar[Workers | None] = ContextVar("aggregator_workers", default=None)


class Helper:
    """A process kept for a long-running program's small parallel tasks (a daemon's
    build after an edit: `similar.find_zones` sweeps a large period in two parts at
    once), started on first use and ready from the next: a build does not wait for it
    to start. One build at a time has it; another runs its tasks in its own thread.
    Its tasks go down a pipe of their own, written by this thread before it runs its
    part: a pool's would wait for its threads to get a turn at the GIL meanwhile."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: multiprocessing.process.BaseProcess | None = None
        self._pipe: Connection | None = None
        self._closed = False

    def map(
        self,
        work: Callable[[list[_T], Limits], list[_R]],
        items: list[_T],
        cancel: threading.Event | None,
        doing: str,
        here: int = 1,
    ) -> list[_R]:
        """`work(some, limits)` over `items`, results in order: all but the last `here`
        (at least one) on the helper process while this thread runs those; all of them
        here while it starts (or when it cannot), when another build has it, when it
        ended (started again at the next call) or could not send its answer, and once
        closed. An error of the task is raised here. Stops with `Cancelled` when
        `cancel` is set; whatever stops this thread before the helper answers (a
        `Cancelled`, a Ctrl-C) ends the helper: no answer is ever read for a task other
        than its own."""
        if here < 1:
            raise ValueError(f"at least one item runs here, not {here}")
        if len(items) > here and self._lock.acquire(blocking=False):
            try:
                if self._pipe is None:
                    if not self._closed:
                        self._start()
                else:
                    answer = self._shared(self._pipe, work, items, here, cancel, doing)
                    if answer is not None:
                        return answer
            finally:
                self._lock.release()
        return _here(work, items, DEFAULT_LIMITS, cancel, doing)

    def _shared(
        self,
        pipe: Connection,
        work: Callable[[list[_T], Limits], list[_R]],
        items: list[_T],
        here: int,
        cancel: threading.Event | None,
        doing: str,
    ) -> list[_R] | None:
        """`map`'s results, all but the last `here` items' from the helper; None when it
        has none for them (it ended, or the task or its answer does not pickle)."""
        try:
            task = ForkingPickler.dumps((work, items[:-here]))
        except Exception:  # as `Connection.send` would raise, before a byte is sent
            return None
        try:
            pipe.send_bytes(task)
        except (OSError, ValueError):
            self._end()  # gone: started again at the next call
            return None
        except BaseException:  # a Ctrl-C in the middle of the message, say
            self._end()
            raise
        try:
            last = _here(work, items[-here:], DEFAULT_LIMITS, cancel, doing)
            try:
                while not pipe.poll(_POLL_SECONDS):
                    if cancel is not None and cancel.is_set():
                        raise Cancelled(f"stopped while {doing}")
                done, value = pipe.recv()
            except (OSError, EOFError):  # it ended (killed)
                self._end()
                return None
        except BaseException:  # its answer is nobody's
            self._end()
            raise
        if done is None:  # an answer it could not send
            return None
        if not done:
            raise value
        return [*value, *last]

    def start(self) -> None:
        """Start the helper process now, unless it runs or was closed: the first task
        that needs it will not run whole here while it starts. One that ended while it
        waited (killed) is reaped and replaced: the next task does not find it gone."""
        with self._lock:
            if self._process is not None and not self._process.is_alive():
                self._end()
            if not self._closed and self._pipe is None:
                self._start()

    def _start(self) -> None:
        """Start the helper process, or leave it stopped when it cannot be (the tasks
        run here: one process can do them all)."""
        if starting_as_worker():
            return
        context = multiprocessing.get_context("spawn")
        mine, its = context.Pipe()
        process = context.Process(target=_help, args=(its,), name="aggregator helper")
        process.daemon = True  # ended at exit, as a pool's workers are
        # A Ctrl-C held back until it ignores them (`quiet_on_interrupt`), and until
        # it is known here: one that came meanwhile ends it as this thread unwinds.
        with interrupts_held():
            try:
                process.start()
            except Exception:  # too many processes, out of memory
                mine.close()
                its.close()
                return
            its.close()
            self._process, self._pipe = process, mine
            # Ended before multiprocessing's own exit handler (run after this one),
            # which would wait for it: it ignores the SIGTERM that handler sends.
            atexit.unregister(self._at_exit)
            atexit.register(self._at_exit)

    def _end(self) -> None:
        process, pipe = self._process, self._pipe
        self._process = self._pipe = None
        if pipe is not None:
            pipe.close()  # it reads the end of the pipe, and returns
        if process is not None:
            process.join(_POLL_SECONDS)
            if process.is_alive():
                process.kill()  # in the middle of a task (it ignores SIGTERM)
                process.join()

    def close(self) -> None:
        """End the helper; the tasks of a later `map` run here."""
        with self._lock:
            self._closed = True
            self._end()
        atexit.unregister(self._at_exit)

    def _at_exit(self) -> None:
        held = self._lock.acquire(timeout=1)  # a build of a daemon thread may have it
        try:
            self._end()
        finally:
            if held:
                self._lock.release()


def _help(pipe: Connection) -> None:
    """A helper process (`Helper`): runs each task it reads, until the pipe closes."""
    quiet_on_interrupt()
    while True:
        try:
            work, items = pipe.recv()
        except (EOFError, OSError):
            return
        try:
            with collector_paused():
                answer: tuple[bool | None, Any] = (True, work(items, DEFAULT_LIMITS))
        except Exception as exc:  # raised where the task was asked for
            answer = (False, exc)
        try:
            pipe.send(answer)
        except OSError:
            return
        except Exception:  # a result or an error that does not pickle: run it there
            pipe.send((None, None))


#: the helper process kept while `keep_helper` is on (a daemon's)
_HELPER: Helper | None = None
_HELPER_LOCK = threading.Lock()


def keep_helper(on: bool = True) -> None:
    """Keep a `Helper` process in this process (off: end it), for `helper`."""
    global _HELPER
    with _HELPER_LOCK:
        if on and _HELPER is not None:
            return
        helper, _HELPER = _HELPER, (Helper() if on and (os.cpu_count() or 1) > 1 else None)
    if helper is not None:
        helper.close()


def helper() -> Helper | None:
    """The helper process kept (`keep_helper`), if any."""
    return _HELPER


def _nothing() -> None:
    """The task that starts the processes of a `Workers` (see `Workers.start`)."""


#: a `Workers` started ahead of `sharing_workers` (`start_workers_ahead`), in this thread
_AHEAD: ContextVar[Workers | None] = ContextVar("aggregator_workers_ahead", default=None)


def start_workers_ahead() -> None:
    """Start the processes the next `sharing_workers` of this thread shares, now: a
    first build whose walk found enough files to parse them on every core starts them
    before it reads its state and `stat`s every file, which their start (about half a
    second of imports) overlaps. `drop_workers_ahead` closes them when no
    `sharing_workers` took them."""
    if _AHEAD.get() is None and (os.cpu_count() or 1) > 1:
        workers = Workers(os.cpu_count() or 1)
        _AHEAD.set(workers)  # first: a Ctrl-C let through as they start leaves them known
        workers.start()


def drop_workers_ahead() -> None:
    """Close the processes `start_workers_ahead` started, unless taken."""
    workers = _AHEAD.get()
    if workers is not None:
        _AHEAD.set(None)
        workers.close()


@contextlib.contextmanager
def sharing_workers() -> Iterator[Workers]:
    """Within: the parallel steps that run on every core share one `Workers` (in this
    thread), closed at the end: those started ahead (`start_workers_ahead`), if any."""
    workers = _AHEAD.get() or Workers(os.cpu_count() or 1)  # (ahead: of the same count)
    _AHEAD.set(None)
    token = _SHARED.set(workers)
    try:
        yield workers
    finally:
        _SHARED.reset(token)
        workers.close()


def workers_running() -> bool:
    """Whether the worker processes shared here (`sharing_workers`) are started: a step
    that gains little from them (rendering feeds) runs on them only then."""
    shared = _SHARED.get()
    return shared is not None and shared.running and shared.count > 1


def _parts(items: list[_T], chunk: int, count: int) -> list[list[_T]]:
    """`items` in parts of `chunk` (the tasks of `Workers.map` on `count` processes), but
    for the last ones: once fewer items are left than two parts for each process, each
    part holds a `2 * count`th of those left (at least an eighth of `chunk`), so the
    processes end their last parts close to each other, not a whole part apart (the
    worker sat idle for most of a part, 0.3 s, at the end of the parse of 20,000 files,
    while this process read its last one)."""
    if chunk < 1:  # (parts of none would never end)
        raise ValueError(f"parts of {chunk} items")
    parts: list[list[_T]] = []
    start, end = 0, len(items)
    tail = 2 * count * chunk
    least = max(1, chunk // 8)
    while start < end:
        left = end - start
        size = chunk if left >= tail else max(least, min(chunk, left // (2 * count)))
        parts.append(items[start : start + size])
        start += size
    return parts


def _in_pool(
    work: Callable[[list[_T], Limits], list[_R]],
    items: list[_T],
    limits: Limits,
    cancel: threading.Event | None,
    workers: int,
    chunk: int,
    doing: str = "loading article files",
    progress: Callable[[int], None] | None = None,
    ready: Callable[[_T], _T] | None = None,
    beside: Callable[[], object] | None = None,
    steps: Iterator[object] | None = None,
    prepare: Callable[[list[_T]], object] | None = None,
) -> Iterator[_R]:
    shared = _SHARED.get()
    if shared is not None and shared.count == workers:
        yield from shared.map(
            work, items, limits, cancel, chunk, doing, progress, ready, beside, steps, prepare
        )
        return
    own = Workers(workers)
    try:
        yield from own.map(
            work, items, limits, cancel, chunk, doing, progress, ready, beside, steps, prepare
        )
    finally:
        own.close()


def starting_as_worker() -> bool:
    """Whether this process is a worker still starting: importing the main module of
    the process that started it, as multiprocessing does. (`_inheriting` is how
    multiprocessing itself tells that phase, to refuse starting processes in it.)"""
    return bool(getattr(multiprocessing.current_process(), "_inheriting", False))


#: what a script that runs aggregator when imported must do
GUARD = 'run it under `if __name__ == "__main__":`'


def refuse_when_starting_as_worker() -> None:
    """Raise `WorkerError` in a worker process still starting (`starting_as_worker`):
    the main module it imports runs aggregator when imported, and each worker would
    run it again (a build would wait for the lock of the build that started it)."""
    if starting_as_worker():
        raise WorkerError(
            f"aggregator was run by a worker process as it started (it imports the main "
            f"module): {GUARD}"
        )


def worker_ended(*, started: bool) -> str:
    """Why a worker process ended abruptly, as one line: killed, or, when none had
    `started`, maybe a main module that runs aggregator when imported (each worker
    imports it as it starts, as multiprocessing's do; a module run with `-m` whose name
    ends in `__main__`, or a `-c` command, is not imported)."""
    if not started:
        main = sys.modules.get("__main__")
        spec = getattr(main, "__spec__", None)
        name = getattr(spec, "name", None) if spec is not None else getattr(main, "__file__", None)
        # The `aggregator` command's own script (pip's, which runs the command's
        # `command`, or `cli`'s `command` or `main` when installed by a version before
        # it, only when run) is not to blame.
        ours = any(
            getattr(getattr(main, entry, None), "__module__", None)
            in ("aggregator.__main__", "aggregator.app.cli")
            for entry in ("command", "main")
        )
        if name and name != "__main__" and not name.endswith(".__main__") and not ours:
            return (
                f"a worker process ended as it started; if {name} runs aggregator when "
                f"imported, {GUARD}"
            )
        return "a worker process ended as it started (killed, or out of memory)"
    return "a worker process ended abruptly (killed, or out of memory)"


def _note_end(ended: dict[int, float], number: int, _task: object) -> None:
    """Keep when task `number` of a map ended (a done callback of its future)."""
    ended.setdefault(number, time.monotonic())


def _here(
    work: Callable[[list[_T], Limits], list[_R]],
    items: list[_T],
    limits: Limits,
    cancel: threading.Event | None,
    doing: str,
    prepare: Callable[[list[_T]], object] | None = None,
) -> list[_R]:
    """`work` over `items` one at a time in this process, as a worker runs a task
    (`prepare(items)` first, when given); stops with `Cancelled` when `cancel` is set,
    after the item in hand."""
    results: list[_R] = []
    if prepare is not None and not (cancel is not None and cancel.is_set()):
        prepare(items)
    with collector_paused():
        for item in items:
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"stopped while {doing}")
            results.extend(work([item], limits))
    return results


def _result(future: Future[list[_R]], cancel: threading.Event | None, doing: str) -> list[_R]:
    """What a worker's task gave, waited for while looking at `cancel`."""
    while cancel is not None:
        if cancel.is_set():
            raise Cancelled(f"stopped while {doing}")
        try:
            return future.result(timeout=_POLL_SECONDS)
        except TimeoutError:
            continue
    return future.result()


def _worker_started(stopped: Any, started: Any, quick_exit: bool) -> None:
    global _stopped_maps
    _stopped_maps = stopped
    started.value = 1
    quiet_on_interrupt()
    if quick_exit:
        no_collection_at_exit()  # the pool waits for its workers to end


def no_collection_at_exit() -> None:
    """No last pass of the cyclic garbage collector when this process exits: it would
    walk every object the process holds, all of which go with the process anyway (about
    0.45 s after a cold build of 100,000 files, 0.15 s at 20,000). `atexit` handlers
    still run, but what that pass would have freed (objects in reference cycles, and
    with them what modules hold) is left to the end of the process, finalizers not run,
    as `os._exit` leaves every object. For the `aggregator` command's process and its
    workers (`cli.command`), whose code is all aggregator's: not for a program that
    imports aggregator, nor the workers it starts."""
    global _exit_registered
    if not _exit_registered:
        _exit_registered = True
        atexit.register(gc.freeze)  # run before the last pass, which skips what is frozen


_exit_registered = False


#: the signals `interrupts_held` holds back
_HELD = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def interrupts_held() -> Iterator[None]:
    """SIGINT and SIGTERM held back in this thread within (delivered once it ends, if
    one came), and in any process started within, until it lets them in
    (`quiet_on_interrupt`): a worker takes a while to start (it imports what it runs),
    and a Ctrl-C meanwhile, which a terminal sends to every process of the group, would
    end it with a traceback; and the command, which a SIGTERM unwinds as a Ctrl-C
    (`cli.command`), cannot stop its pool while the pool starts its thread."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no signal masks
        yield
        return
    # multiprocessing's resource tracker, when it starts, lets SIGINT in again in the
    # thread that starts it: started first if it must be (a worker's start needs it).
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    held = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def quiet_on_interrupt() -> None:
    """In a worker process: a Ctrl-C or a SIGTERM is the parent's to handle (a terminal
    sends a Ctrl-C to every process of the group, `timeout` a SIGTERM); the worker goes
    on until the parent stops it, and writes no traceback of its own over the screen.
    And the worker ends soon after the process that started it is gone, however it went
    (SIGKILL runs no clean-up, and a pool's worker would wait for work forever, and keep
    its forkserver alive)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A SIGTERM to the group (`timeout`, a service manager) too: a worker killed while
    # it writes its results would leave the pool waiting for the rest of them forever.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # started with both held back: now ignored
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _HELD)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_end_with, args=(parent,), name="parent watch", daemon=True).start()


def _end_with(parent: multiprocessing.process.BaseProcess) -> None:
    parent.join()  # returns when the parent's end of the sentinel pipe closes
    os._exit(0)


def _work_until_stopped(
    work: Callable[[list[_T], Limits], list[_R]],
    items: list[_T],
    limits: Limits,
    number: int,
    prepare: Callable[[list[_T]], object] | None = None,
) -> list[_R]:
    """`work` over `items` one at a time (in a worker; `prepare(items)` first, when
    given), ending early when map `number` was asked to stop."""
    results: list[_R] = []
    if prepare is not None and not (_stopped_maps is not None and _stopped_maps.value >= number):
        prepare(items)
    with collector_paused():
        for item in items:
            if _stopped_maps is not None and _stopped_maps.value >= number:
                break  # the run is stopping: nobody reads these results
            results.extend(work([item], limits))
    return results


@contextlib.contextmanager
def collector_paused(*, promote: bool = False) -> Iterator[None]:
    """No cyclic garbage collection within: what a cold build or a worker's task makes
    is what it keeps or hands on, no garbage, and each pass walks all of it (at 100k
    files the passes took 1.6 s of a build's main process, a tenth of a zone's time in a
    worker); what cycles it leaves are collected after it. With `promote`, the objects
    made within go to the oldest generation at once (frozen, then unfrozen), so that the
    first pass after it, of the youngest, does not walk them all (0.37 s at 100k files)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if promote:
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def load_chunk(paths: list[Path], limits: Limits = DEFAULT_LIMITS) -> list[Article | LoadError]:
    """Load a batch of files (in a worker process)."""
    return [load_file(path, limits) for path in paths]


#: the digest `load_file_digest` gives a file not read for what its type or size tell
#: (not a regular file, over the size limit): its size and mtime tell the same next time
NOT_READ = ""


def load_file(path: Path, limits: Limits = DEFAULT_LIMITS) -> Article | LoadError:
    """Read one article file."""
    return _load_bytes(path, limits)[0]


def load_file_digest(
    path: str | Path, limits: Limits = DEFAULT_LIMITS
) -> tuple[Article | LoadError, str | None]:
    """Read one article file; also the `content_digest` of the bytes read: `NOT_READ`
    when its type or size kept it from being read, None when it could not be read
    (permissions, I/O: what its size and mtime do not tell)."""
    result, raw = _load_bytes(path, limits)
    if isinstance(raw, bytes):
        return result, content_digest(raw)
    return result, None if raw is _FAILED else NOT_READ


#: `_load_bytes`'s word for a file that could not be opened or read (an OSError)
_FAILED = object()


def _load_bytes(path: str | Path, limits: Limits) -> tuple[Article | LoadError, bytes | object]:
    """One article file's result, and its bytes when they could be read (else None, or
    `_FAILED` when an OSError kept them)."""
    display = os.fspath(path)
    try:
        raw = _read(path, limits.file_size)
    except OSError as exc:
        return LoadError(display, 1, f"cannot read file: {exc.strerror or exc}"), _FAILED
    except _Invalid as exc:
        return LoadError(display, exc.line, exc.reason), None
    except Exception as exc:  # (see `_parsed`)
        return unforeseen(display, exc), None
    return _parsed(raw, display, limits), raw


def load_text(text: str, path: str, limits: Limits = DEFAULT_LIMITS) -> Article | LoadError:
    """An article file's text, as if the file at `path` held it (an entry written again
    in memory: `inputs.settled`)."""
    return _parsed(text.encode("utf-8"), path, limits)


def _parsed(raw: bytes, display: str, limits: Limits) -> Article | LoadError:
    """The bytes of the article file `display` read."""
    plain_yaml = _suffix(display).lower() in _PLAIN_YAML_SUFFIXES
    try:
        return parse_article(raw, display, plain_yaml=plain_yaml, limits=limits)
    except _Invalid as exc:
        return LoadError(display, exc.line, exc.reason)
    except Exception as exc:
        # Every problem known is an _Invalid with its own words; this is one not
        # foreseen (a YAML construct PyYAML fails on in its own way): still a report.
        return unforeseen(display, exc)


def _suffix(path: str) -> str:
    """`PurePath(path).suffix`, without making a path object for each file of a build."""
    name = path.rpartition(os.sep)[2]
    if name in ("", ".", ".."):  # not a file's path as the walk writes them
        return PurePath(path).suffix
    dot = name.rfind(".")
    return name[dot:] if 0 < dot < len(name) - 1 else ""


def unforeseen(path: str, exc: Exception) -> LoadError:
    """The report of a file that failed in a way no rule here foresaw: one line, like
    every other, so that one bad file never stops a run."""
    detail = truncate(" ".join(str(exc).split()), 200)
    return LoadError(path, 1, f"cannot read as an article: {type(exc).__name__}: {detail}")


def file_digest(path: Path, limits: Limits = DEFAULT_LIMITS) -> str | None:
    """The `content_digest` of a file as `load_file` reads it; None when it cannot be read."""
    try:
        return content_digest(_read(path, limits.file_size))
    except (OSError, _Invalid):
        return None


def content_digest(raw: bytes) -> str:
    """What tells a file's content from another: for a file whose size and mtime cannot
    be trusted (written in the same clock tick as a build)."""
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


def read_ahead(paths: Sequence[str | Path]) -> None:
    """Ask the kernel to read `paths` (the files of a parse task) into memory now, all
    at once (`POSIX_FADV_WILLNEED`): read one after the other from a disk they are not
    cached from (the first build after a reboot, a corpus written long ago), each read
    waits for the one before it. Asked ahead of the parse, a cold build of 20,000 files
    not in memory took 10.6 s against 14.2 s (medians of four), of 100,000 50.0 s
    against 60.3 s. In memory, it costs 5.5 us a file (under 1% of a parse): asked
    whatever, as telling which files are there costs as much (a read that never waits
    starts reading the file it misses, and says it is there once that read is quick).
    A file that cannot be opened is left to the read that reports it; each is opened
    as `_read` opens it (a FIFO never blocks the open)."""
    if not _ADVISE:
        return
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
        except (OSError, ValueError):  # (a NUL in the name)
            continue
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
        except OSError:  # not a regular file (a FIFO), or a file system that cannot
            pass
        finally:
            os.close(fd)


#: whether this system takes advice on what to read (`os.posix_fadvise`: not macOS's)
_ADVISE = hasattr(os, "posix_fadvise")


def _read(path: str | Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes; raises _Invalid or OSError.

    Opened without blocking and checked before reading: a FIFO or a device (a
    symlink to /dev/zero) among the sources would otherwise hang or exhaust the
    build, and no more than `limit` + 1 bytes are ever read.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _Invalid("not a regular file")
        size = info.st_size
        if size > limit:
            raise _Invalid(_too_big(size, limit))
        # As much as the file holds, and one byte more to see whether it grew since
        # fstat; read from the descriptor (no file object: a third of the time for a
        # small file), until the end of the file, as a read may return less than it was
        # asked for, in parts of at most `_READ_PART` (a read allocates what it asks
        # for, and the cap can be a terabyte).
        parts: list[bytes] = []
        got = 0
        wanted = size + 1
        while got < wanted:
            part = os.read(fd, min(wanted - got, _READ_PART))
            if not part:
                break
            parts.append(part)
            got += len(part)
            if got > size:  # it grew since fstat: read on, up to the limit
                wanted = limit + 1
    finally:
        os.close(fd)
    raw = b"".join(parts)
    if len(raw) > limit:  # it grew since fstat
        raise _Invalid(_too_big(len(raw), limit))
    return raw


#: the most one read of a file asks for (an article file is some KB: one read)
_READ_PART = 1 << 20


def _too_big(size: int, limit: int) -> str:
    return f"file is {size:,} bytes, over the limit of {limit:,} (limits: file_size)"


def parse_article(
    raw: bytes, path: str, *, plain_yaml: bool = False, limits: Limits = DEFAULT_LIMITS
) -> Article:
    """Bytes of an article file to an Article; raises _Invalid."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise _Invalid(
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})", line
        ) from None
    if not text.strip():
        raise _Invalid("empty file")
    source, offset = _front_matter(text, plain_yaml)
    twice: list[yamlload.Twice] = []
    data = _parse_yaml(source, offset, limits, twice)
    return _to_article(data, path, source, offset, limits, twice)


def _front_matter(text: str, plain_yaml: bool) -> tuple[str, int]:
    """The YAML text and the number of file lines before it.

    Lines are counted at "\n" only, as editors, grep and git count them (not at
    U+2028 and the other breaks `str.splitlines` knows).
    """
    first = text.find("\n")
    if not _FENCE.match(text if first < 0 else text[:first]):
        _lone_cr(text, plain_yaml)
        if plain_yaml:
            return text, 0
        raise _Invalid("no front matter: the file must start with a '---' line")
    end = _end_line(text, first) if first >= 0 else None
    if end is not None:
        body = text[first + 1 : max(end.start() - 1, first + 1)]
        if not body.strip():
            raise _Invalid("front matter is empty", 2)
        return body, 1
    _lone_cr(text, plain_yaml)
    if plain_yaml:
        return text, 0
    raise _Invalid("front matter is not closed by a '---' line", text.rstrip().count("\n") + 1)


#: a line end that is a CR alone (classic Mac OS), which line counts and fences miss
_LONE_CR = re.compile(r"\r(?!\n)")


def _lone_cr(text: str, plain_yaml: bool) -> None:
    """Raise _Invalid at the first lone CR of `text` when its front matter is not found
    only because its lines end in lone CRs (they would be found with LF line ends).
    In a `.yaml` file only front matter closed by '---' counts: YAML reads a lone CR
    as a line break, and a document ended by '...' as the plain YAML it is."""
    cr = _LONE_CR.search(text)
    if cr is None:
        return
    lines = _LONE_CR.sub("\n", text)
    first = lines.find("\n")
    if first < 0 or not _FENCE.match(lines[:first]):
        return
    end = _end_line(lines, first)
    if end is None or (plain_yaml and not end.group().startswith("---")):
        return
    raise _Invalid(
        "line ends that are a lone CR (classic Mac OS): save the file with LF or CRLF line ends",
        text.count("\n", 0, cr.start()) + 1,
    )


def _end_line(text: str, start: int) -> re.Match[str] | None:
    """`_END.search(text, start + 1)`, where `text[start]` is a line break: only the
    lines that start "---" or "..." are matched (`_END` would be tried at every line),
    found in one search (a `str.find` for each of the two reads a text of non-ASCII
    characters twice, and slower: the searches take 2.7 us against 6.5 us for 5.5 KB)."""
    for line in _END_START.finditer(text, start):
        end = _END.match(text, line.start() + 1)
        if end is not None:
            return end
    return None


def _parse_yaml(
    source: str, offset: int, limits: Limits, twice: list[yamlload.Twice] | None = None
) -> Any:
    depth = min(limits.yaml_depth, MAX_YAML_DEPTH)
    # Each character starts at most two nodes (see `_node_bound`).
    few_nodes = 2 * len(source) + 2 <= limits.yaml_nodes
    # What the fast path reads has no alias and is nested at most `fastyaml.MAX_DEPTH`
    # deep: within these limits it is read first, and only what it refuses is looked at
    # (the look took 12 us of the 165 us a file of 5.5 KB took to read).
    direct = few_nodes and depth >= fastyaml.MAX_DEPTH
    try:
        if direct:
            try:
                return fastyaml.fast_load(source)
            except fastyaml.Refused:
                pass
        if (
            ("&" in source and "*" in source)
            or _deeper_than(source, depth)
            or (not few_nodes and _node_bound(source) > limits.yaml_nodes)
        ):
            _check_structure(source, offset, depth, limits)
        # PyYAML's safe loader (no tag runs code), or yaml-rs where it gives the same
        return yamlload.load(source, twice) if direct else fastyaml.load(source, twice)
    except yaml.constructor.ConstructorError as exc:
        line = _mark_line(exc, offset, source)
        tag = re.search(r"tag '([^']*)'", exc.problem or "")
        what = f"YAML tag {_short(tag.group(1))}" if tag else "YAML construct"
        raise _Invalid(f"unsupported {what}: only plain YAML data is read", line) from None
    except yaml.YAMLError as exc:
        detail = yamlload.syntax_problem(exc)
        raise _Invalid(f"invalid YAML: {detail}", _mark_line(exc, offset, source)) from None
    except RecursionError:
        raise _Invalid("YAML nested too deeply", offset + 1) from None
    except yamlload.VALUE_ERRORS as exc:
        # A typed scalar PyYAML cannot build, such as `!!int abc`.
        raise _Invalid(f"invalid YAML value: {yamlload.value_problem(exc)}", offset + 1) from None


def _depth_bound(source: str) -> int:
    """An upper bound of the nesting depth, cheap enough for every file: each flow level
    opens a bracket, and each block level starts further right on its line (or, for a
    sequence in a mapping, at the same column as its key: hence twice the column)."""
    deepest = max(map(len, _LEAD.findall("\n" + source))) - 1
    return 2 * deepest + source.count("[") + source.count("{") + 2


def _deeper_than(source: str, depth: int) -> bool:
    """`_depth_bound(source) > depth`, by looking for one line that starts deep enough
    (`_deep_lead`) instead of measuring every line's start."""
    brackets = source.count("[") + source.count("{")
    # 2 * deepest + brackets + 2 > depth, for the deepest lead's length
    lead = (depth - brackets - 2) // 2 + 1
    return lead <= 0 or _deep_lead(lead).search("\n" + source) is not None


@functools.lru_cache(maxsize=64)
def _deep_lead(length: int) -> re.Pattern[str]:
    """A line start of at least `length` characters of `_LEAD`."""
    return re.compile(rf"\n[ ?:-]{{{length},}}")


def _node_bound(source: str) -> int:
    """An upper bound of the nodes of a document without aliases, cheap enough for every
    file: each node starts the document or follows a line break, "-", "?", ":", ",",
    "[" or "{" (and each of those starts at most two: a collection and its first item)."""
    marks = sum(map(source.count, ("\n", "\r", ",", ":", "-", "?", "[", "{")))
    return 2 * marks + 2


def _check_structure(source: str, offset: int, max_depth: int, limits: Limits) -> None:
    """Refuse documents nested deeper than `max_depth`, with more nodes than `yaml_nodes`
    or more text than `yaml_size` once their aliases are expanded (a billion laughs,
    or one long string repeated by thousands of aliases). Reads the event stream, which
    libyaml produces without recursion, before any node is built; an alias counts what
    its anchor holds, again."""
    max_nodes, max_bytes = limits.yaml_nodes, limits.yaml_size
    sizes: dict[str, tuple[int, int]] = {}  # per anchor: nodes, bytes of text
    # per open collection: its anchor, and the nodes and bytes counted before it began
    stack: list[tuple[str | None, int, int]] = []
    nodes = size = 0  # so far, aliases expanded
    aliased = False
    try:
        for event in yaml.parse(source, Loader=yamlload.SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                stack.append((event.anchor, nodes, size))
                nodes += 1
                if len(stack) > max_depth:
                    raise _Invalid(
                        f"YAML nested deeper than {max_depth} levels (limits: yaml_depth)",
                        _mark_line(event, offset, source, "start_mark"),
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                anchor, nodes_before, size_before = stack.pop()
                if anchor:
                    sizes[anchor] = (nodes - nodes_before, size - size_before)
                continue
            elif isinstance(event, yaml.ScalarEvent):
                value = event.value
                text = len(value) if value.isascii() else _utf8_size(value)
                nodes += 1
                size += text
                if event.anchor:
                    sizes[event.anchor] = (1, text)
            elif isinstance(event, yaml.AliasEvent):
                aliased = True
                more_nodes, more_bytes = sizes.get(event.anchor or "", (1, 0))
                nodes += more_nodes
                size += more_bytes
            else:
                continue
            if nodes > max_nodes:
                raise _Invalid(
                    f"YAML aliases expand to more than {max_nodes:,} nodes (alias bomb?; "
                    "limits: yaml_nodes)"
                    if sizes or aliased
                    else f"YAML has more than {max_nodes:,} nodes (limits: yaml_nodes)",
                    _mark_line(event, offset, source, "start_mark"),
                )
            if aliased and size > max_bytes:  # without aliases, file_size bounds the text
                raise _Invalid(
                    f"YAML aliases expand to more than {max_bytes:,} bytes of text "
                    "(limits: yaml_size)",
                    _mark_line(event, offset, source, "start_mark"),
                )
    except yaml.YAMLError:
        return  # the real load reports the syntax error with its line


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _mark_line(obj: object, offset: int, source: str, attr: str = "problem_mark") -> int:
    """The file line of a YAML mark, counting "\n" only (YAML also breaks at U+2028)."""
    mark = getattr(obj, attr, None)
    if mark is None:
        return offset + 1
    return offset + source.count("\n", 0, mark.index) + 1


def forget_cleaned() -> None:
    """Let go of the texts cleaned so far (`_CLEANED`, and `text`'s fixes): a parse of
    many files fills them (several MB), in the build's own process too (it parses
    beside its workers), and what follows the parse needs none of them."""
    global _cleaned_size
    _CLEANED.clear()
    _cleaned_size = 0
    forget_fixes()


#: texts cleaned lately in this process (`clean_cut` is pure): outlet names, topics and
#: the titles and excerpts of related coverage recur from file to file (three cleanings
#: in four, on a generated corpus)
_CLEANED: dict[tuple[str, int], tuple[str, bool]] = {}
_CLEANED_KEPT = 50_000
#: only texts this long or shorter are kept (titles, names and excerpts are) ...
_CLEANED_LENGTH = 1_000
#: ... and no more than this many characters of them and of their cleaned forms
_CLEANED_SIZE = 4_000_000
_cleaned_size = 0


class _Fields:
    """Turns one file's strings into clean text and URLs, each distinct string once,
    and keeps the warnings of what it repaired on the way.

    An alias repeats its anchor's string (the very same object) wherever it is used,
    and nothing stops a file from repeating a long string by hand: cleaning each
    string once keeps the work of a file bound to its size, not to how often its
    strings are used. Every text is cut to its limit before it is cleaned
    (`text.clean_text`).
    """

    __slots__ = ("_marks", "_texts", "_urls", "limits", "offset", "source", "warnings")

    def __init__(self, limits: Limits, source: str, offset: int) -> None:
        self.limits = limits
        self.source = source
        self.offset = offset
        #: (line, reason) of each repair, in the order found
        self.warnings: list[tuple[int, str]] = []
        self._texts: dict[tuple[str, int], tuple[str, bool]] = {}
        self._urls: dict[str, str | None] = {}
        self._marks = Marks(source)

    def line_of(self, key: str, item: int | None = None) -> int:
        """The file line of a top-level key (the one read, when it is written twice), or
        of its list's item at index `item` (the key's line when there is no such item)."""
        if item is not None:
            lines = self._marks.items(key)
            if item < len(lines):
                return lines[item] + self.offset
        return self._marks.key(key) + self.offset

    def warn(self, key: str, reason: str, item: int | None = None) -> None:
        self.warnings.append((self.line_of(key, item), reason))

    def text(
        self,
        value: str,
        limit: int,
        key: str = "",
        item: int | None = None,
        part: str = "",
        limit_name: str = "title_length",
    ) -> str:
        """`value` as clean text cut to `limit`; a cut is a warning when `key` is given,
        on `_label(key, item, part)` at the line of `key` (list item `item`)."""
        found = self._texts.get((value, limit))
        if found is None:
            found = _CLEANED.get((value, limit))
            if found is None:
                found = clean_cut(value, limit)
                if len(value) <= _CLEANED_LENGTH:  # what is kept stays small
                    global _cleaned_size
                    _cleaned_size += len(value) + len(found[0])
                    if len(_CLEANED) >= _CLEANED_KEPT or _cleaned_size > _CLEANED_SIZE:
                        _CLEANED.clear()
                        _cleaned_size = len(value) + len(found[0])
                    _CLEANED[(value, limit)] = found
            self._texts[(value, limit)] = found
        if found[1] and key:
            label = _label(key, item, part)
            self.warn(key, f"{label}: cut to {limit:,} characters (limits: {limit_name})", item)
        return found[0]

    def line(self, value: str, key: str = "", item: int | None = None, part: str = "") -> str:
        """Plain text of a short field (a name, a caption), cut like a title."""
        return self.text(value, self.limits.title_length, key, item, part)

    def url(self, value: Any) -> str | None:
        """An optional URL (an image, another form of the story) as a clean URI, or None
        when it is not an http(s) URL or is over the length cap: it is left out."""
        if not isinstance(value, str):
            return None
        if value in self._urls:
            return self._urls[value]
        url = None if _too_long(value, self.limits.url_length) else web_uri(value)
        if url is not None and len(url) > self.limits.url_length:
            url = None
        self._urls[value] = url
        return url

    def url_problem(self, value: Any) -> str:
        """Why `url(value)` is None, for a warning."""
        if value is None:
            return "has no URL"
        if not isinstance(value, str):
            return f"has {kind(value)} for a URL"
        limit = self.limits.url_length
        if _too_long(value, limit) or web_uri(value) is not None:
            return f"has a URL over the limit of {limit:,} characters (limits: url_length)"
        return f"has no absolute http(s) URL: {_short(value)}"


def _label(key: str, item: int | None = None, part: str = "") -> str:
    """What a warning names: a top-level key or an item of its list, and a part of it
    (`related: item 3: title`); made only for a warning (most files have none)."""
    return f"{key}{part}" if item is None else f"{key}: item {item + 1}{part}"


def _too_long(url: str, limit: int) -> bool:
    """True when `url` is over `limit` characters before it is even cleaned: cleaning
    only adds (percent-escapes, IDNA) after removing the space around it, so it is
    refused without the work of cleaning a string of any length."""
    return len(url) > limit and len(url.strip()) > limit


#: fields that decide whether an article is syndicated: written twice with two values,
#: the file is invalid (not ours to guess which one the editor meant)
_DECIDING = ("published", "quality")
#: keys written twice told one by one in a file's warnings; the others are counted
_TWICE_TOLD = 10


def _written_twice(twice: Sequence[yamlload.Twice], fields: _Fields) -> None:
    """Raise _Invalid for a deciding field written twice with two values; a warning
    for each other key written twice (the first `_TWICE_TOLD`, then how many more)."""
    deciding = [t for t in twice if t.top and t.key in _DECIDING and not t.same]
    told = deciding[:1] or twice[:_TWICE_TOLD]
    # Lines counted in one pass over the text, however many keys there are.
    at = lines_at({i for t in told for i in (t.first, t.last)}, fields.source)
    for written in told:
        line, first = at[written.last] + fields.offset, at[written.first] + fields.offset
        if deciding:
            raise _Invalid(
                f"{written.key}: written twice with different values (lines {first} and "
                f"{line}): keep the one you mean",
                line,
            )
        fields.warnings.append(
            (line, f"{written.key}: written twice (also line {first}): this one is read")
        )
    if len(twice) > _TWICE_TOLD:
        fields.warnings.append((line, f"{len(twice) - _TWICE_TOLD:,} more keys written again"))


def _to_article(
    data: Any,
    path: str,
    source: str,
    offset: int,
    limits: Limits,
    twice: Sequence[yamlload.Twice] = (),
) -> Article:
    if not isinstance(data, dict):
        raise _Invalid(f"front matter must be a mapping of fields, not {kind(data)}", offset + 1)
    fields = _Fields(limits, source, offset)

    def invalid(key: str, reason: str) -> _Invalid:
        return _Invalid(f"{key}: {reason}", fields.line_of(key))

    if twice:
        _written_twice(twice, fields)
    title_value = data.get("title")
    if title_value is None:
        raise _Invalid("missing title", offset + 1)
    if not isinstance(title_value, str):
        raise invalid("title", f"must be a string, not {kind(title_value)}")
    title = fields.line(title_value, "title")
    if not title:
        raise invalid("title", "is empty")

    link, urls = _links(data, invalid, offset, fields)

    when = data.get("publishedDateTime")
    if when is None:
        raise _Invalid("missing publishedDateTime", offset + 1)
    published_at = _datetime(when)
    if isinstance(published_at, str):
        raise invalid("publishedDateTime", published_at)

    # Quality and the published flag decide whether the article is syndicated at all:
    # a value that cannot be read is the editor's to fix, not ours to guess.
    quality = data.get("quality")
    if quality is not None and (isinstance(quality, bool) or not isinstance(quality, int)):
        raise invalid("quality", f"must be an integer, not {kind(quality)}")
    if quality is not None and abs(quality) > MAX_QUALITY:
        raise invalid("quality", f"must be from {-MAX_QUALITY:,} to {MAX_QUALITY:,}")

    published = data.get("published", False)
    if not isinstance(published, bool):
        raise invalid("published", f"must be true or false, not {kind(published)}")

    # From here on nothing makes the file invalid: what cannot be used is left out,
    # and each repair is a warning.
    excerpt_value = data.get("excerpt")
    excerpt = ""
    if excerpt_value is not None and not isinstance(excerpt_value, str):
        fields.warn("excerpt", f"excerpt: must be a string, not {kind(excerpt_value)}: ignored")
    elif excerpt_value:
        excerpt = fields.text(
            excerpt_value, limits.excerpt_length, "excerpt", limit_name="excerpt_length"
        )

    type_ = data.get("type", "article")
    if not isinstance(type_, str):
        fields.warn("type", f"type: must be a string, not {kind(type_)}: ignored")
        type_ = "article"

    article = Article(
        path=path,
        title=title,
        excerpt=excerpt,
        published_at=published_at,
        link=link,
        urls=urls,
        kind=fields.line(type_, "type") or "article",
        quality=quality,
        published=published,
        provider=_provider(data.get("provider"), fields),
        topics=_topics(data.get("topics"), invalid, fields),
        images=_images(data.get("images"), fields),
        related=_related(data.get("related"), fields),
    )
    if fields.warnings:
        # In file order; one problem once (an alias repeats its anchor's text).
        found = sorted(dict.fromkeys(fields.warnings), key=lambda w: w[0])
        warnings = tuple(LoadWarning(path, line, reason) for line, reason in found)
        article = dataclasses.replace(article, warnings=warnings)
    return article


def _links(
    data: dict[Any, Any], invalid: Any, offset: int, fields: _Fields
) -> tuple[str, tuple[str, ...]]:
    limit = fields.limits.url_length
    link: str | None = None
    problem: _Invalid | None = None  # of webUrl, when originalUrl may still be the link
    for key in ("webUrl", "originalUrl"):
        value = data.get(key)
        if value is None:
            continue
        found: str | None = None
        # The error is made only for a URL that is not the link (it looks up the line)
        if isinstance(value, str) and _too_long(value, limit):
            size = len(value.strip())
            error = invalid(key, f"{size:,} characters, over the limit of {limit:,}")
        else:
            found = web_uri(value) if isinstance(value, str) else None
            if found is None:
                error = invalid(key, f"must be an absolute http(s) URL, got {_short(value)}")
            elif len(found) > limit:
                error = invalid(key, f"{len(found):,} characters, over the limit of {limit:,}")
                found = None
        if found is None:
            if problem is not None:
                raise problem  # neither can be the link: the first problem is the one
            problem = error
            continue
        link = found
        if problem is not None:
            fields.warnings.append((problem.line, f"{problem.reason}: originalUrl is the link"))
        break
    if link is None:
        if problem is not None:
            raise problem
        raise _Invalid("missing link: needs webUrl or originalUrl", offset + 1)
    urls = [link]
    # Other forms of the same story only serve dedupe: a bad one is left out.
    for key in ("webUrl", "originalUrl", "ampWebUrl", "cdnAmpWebUrl"):
        value = data.get(key)
        url = fields.url(value)
        if url is None:
            if value is not None and (key in ("ampWebUrl", "cdnAmpWebUrl") or problem is None):
                fields.warn(key, f"{key}: {fields.url_problem(value)}: ignored")
            continue
        if url not in urls:
            urls.append(url)
    return link, tuple(urls)


def _datetime(value: Any) -> datetime | str:
    """`value` (ISO 8601 text, or the date or date-time YAML built) in UTC, or what is
    wrong with it: not a date-time, or a year outside `YEARS` in UTC. An offset can move
    a date-time into another year in UTC (1000-01-01T00:30:00+01:00 is in year 999),
    even out of the years `datetime` holds (0001-01-01T00:00:00+14:00): the reason says
    so, whether the value was quoted or not."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return _not_a_datetime(value, text)
    if isinstance(value, datetime):
        if value.tzinfo is UTC:  # (most: a "Z" time)
            return _in_years(value)
        offset = value.utcoffset()
        if offset is None:
            return _in_years(value.replace(tzinfo=UTC))
        try:
            found = value.astimezone(UTC)
        except OverflowError:  # before year 1 or after year 9999 in UTC
            year = value.year - 1 if offset > timedelta(0) else value.year + 1
        else:
            if found.year in YEARS or found.year == value.year:
                return _in_years(found)
            year = found.year
        return (
            f"{_outside(year)} (in UTC: the offset {_offset(offset)} moves it out of year "
            f"{value.year})"
        )
    if isinstance(value, date):
        return _in_years(datetime(value.year, value.month, value.day, tzinfo=UTC))
    return f"not an ISO 8601 date-time: {_short(value)}"


def _in_years(when: datetime) -> datetime | str:
    return when if when.year in YEARS else _outside(when.year)


def _outside(year: int) -> str:
    return f"year {year} is outside {YEARS.start} to {YEARS.stop - 1}"


#: the year of an ISO 8601 date `datetime` cannot hold (year 0, which ISO 8601 has)
_YEAR_ZERO = re.compile(r"0000(?=-)")


def _not_a_datetime(value: str, text: str) -> str:
    """Why `text`, which `datetime.fromisoformat` refuses, is no date-time: its year
    when only the year is what `datetime` cannot hold (year 0)."""
    if _YEAR_ZERO.match(text):
        with contextlib.suppress(ValueError):  # year 0 is a leap year, as 2000 is
            datetime.fromisoformat("2000" + text[4:])
            return _outside(0)
    return f"not an ISO 8601 date-time: {_short(value)}"


def _offset(offset: timedelta) -> str:
    """A UTC offset as ISO 8601 writes it: +14:00, -00:30, +01:00:30."""
    sign = "-" if offset < timedelta(0) else "+"
    hours, rest = divmod(abs(offset), timedelta(hours=1))
    text = f"{sign}{hours:02d}:{str(rest)[2:]}"  # str(rest): 0:MM:SS[.ffffff]
    return text.removesuffix(":00")


def _provider(
    value: Any, fields: _Fields, key: str = "provider", item: int | None = None
) -> Provider | None:
    part = "" if item is None else ": provider"  # of a related stub: `related: item 3: provider`
    if value is None:
        return None
    if not isinstance(value, dict):
        reason = f"must be a mapping with a name, not {kind(value)}: ignored"
        fields.warn(key, f"{_label(key, item, part)}: {reason}", item)
        return None
    name, domain = value.get("name"), value.get("domain")
    domain = fields.line(domain) if isinstance(domain, str) and domain.strip() else None
    if isinstance(name, str) and name.strip():
        name = fields.line(name, key, item, f"{part}: name")
    else:
        name = None
    if not name and not domain:
        fields.warn(key, f"{_label(key, item, part)}: has no name or domain: ignored", item)
        return None
    if not name:
        fields.warn(key, f"{_label(key, item, part)}: has no name: its domain is shown", item)
    return Provider(name=name or domain or "", domain=domain)


def _topics(value: Any, invalid: Any, fields: _Fields) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        fields.warn("topics", f"topics: must be a list of strings, not {kind(value)}: ignored")
        return ()
    limit = fields.limits.topics
    if len(value) > limit:
        raise invalid("topics", f"{len(value):,} topics, over the limit of {limit}")
    topics: list[str] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(value):
        if not isinstance(item, str):
            reason = f"topics: item {index + 1} is {kind(item)}, not a name: dropped"
            fields.warn("topics", reason, index)
            continue
        name = " ".join(fields.line(item, "topics", index).split())
        if not name:
            fields.warn("topics", f"topics: item {index + 1} is empty: dropped", index)
            continue
        first = seen.get(name.casefold())
        if first is not None:
            reason = f"topics: item {index + 1} {name!r} repeats item {first + 1}: kept once"
            fields.warn("topics", reason, index)
            continue
        seen[name.casefold()] = index
        topics.append(name)
    return tuple(topics)


def _images(value: Any, fields: _Fields) -> tuple[Image, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        fields.warn("images", f"images: must be a list, not {kind(value)}: ignored")
        return ()
    limit = fields.limits.images
    images: list[Image] = []
    # Images that cannot be used are skipped, but not without end: each costs work.
    looked = min(len(value), limit * 4)
    for index, item in enumerate(value[:looked]):
        if len(images) >= limit:
            looked = index
            break  # the first ones are the article's own; the rest is never shown
        if not isinstance(item, dict):
            reason = f"{_label('images', index)} is {kind(item)}, not a mapping: dropped"
            fields.warn("images", reason, index)
            continue
        url = fields.url(item.get("url"))
        if url is None:
            problem = fields.url_problem(item.get("url"))
            fields.warn("images", f"{_label('images', index)} {problem}: dropped", index)
            continue
        title = item.get("title")
        caption = fields.line(title, "images", index, ": title") if isinstance(title, str) else ""
        images.append(
            Image(
                url=url,
                width=_dimension(item.get("width")),
                height=_dimension(item.get("height")),
                title=caption or None,
            )
        )
    if looked < len(value):
        more = len(value) - looked
        fields.warn(
            "images", f"images: {more:,} more ignored: {limit} are kept at most (limits: images)"
        )
    return tuple(images)


def _related(value: Any, fields: _Fields) -> tuple[RelatedStub, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        fields.warn("related", f"related: must be a list, not {kind(value)}: ignored")
        return ()
    limit = fields.limits.related
    stubs: list[RelatedStub] = []
    # Stubs that cannot be shown are skipped, but not without end: each costs work.
    looked = min(len(value), limit * 4)
    for index, item in enumerate(value[:looked]):
        if len(stubs) >= limit:
            looked = index
            break
        # A stub that cannot be shown is left out; the article is still good.
        if not isinstance(item, dict):
            reason = f"{_label('related', index)} is {kind(item)}, not a mapping: dropped"
            fields.warn("related", reason, index)
            continue
        if not isinstance(item.get("title"), str):
            fields.warn("related", f"{_label('related', index)} has no title: dropped", index)
            continue
        link = fields.url(item.get("webUrl")) or fields.url(item.get("originalUrl"))
        if link is None:
            reason = "has no usable link (webUrl or originalUrl): dropped"
            fields.warn("related", f"{_label('related', index)} {reason}", index)
            continue
        title = fields.line(item["title"], "related", index, ": title")
        if not title:
            fields.warn("related", f"{_label('related', index)} has an empty title: dropped", index)
            continue
        when = item.get("publishedDateTime")
        published_at = None if when is None else _datetime(when)
        if isinstance(published_at, str):
            reason = f"publishedDateTime: {published_at}: ignored"
            fields.warn("related", f"{_label('related', index)}: {reason}", index)
            published_at = None
        stubs.append(
            RelatedStub(
                title=title,
                link=link,
                published_at=published_at,
                provider=_provider(item.get("provider"), fields, "related", index),
            )
        )
    if looked < len(value):
        more = len(value) - looked
        fields.warn(
            "related", f"related: {more:,} more ignored: {limit} are kept at most (limits: related)"
        )
    return tuple(stubs)


def _dimension(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 100_000:
        return value
    return None


def _short(value: object) -> str:
    text = repr(value) if isinstance(value, str) else kind(value)
    return text if len(text) <= 60 else text[:57] + "..."
