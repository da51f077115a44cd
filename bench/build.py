"""Benchmark of `aggregator build` on a generated corpus: cold, warm and incremental runs.

What it measures: the real command, `python -m aggregator build --source CORPUS
--output OUT --state STATE --links off -q`, run in a subprocess (from a temporary
working folder, with this checkout first on PYTHONPATH and PYTHONHASHSEED=0), so it
times whatever the `aggregator` package beside this file does now, start-up and
imports included. The checkout's modules are compiled to bytecode first and may be
compiled again as they change (`PYTHONDONTWRITEBYTECODE` is dropped from the command's
environment), as `pip install` leaves an installed package: with the variable set, as
some shells and containers do, every command compiled every module it imports again
(about 0.12 s a start on the project's machine, in each worker too). The corpus comes
from `bench/corpus.py` (N files of about 5 KB, ~5% exact and ~3% near duplicates, 30%
CRLF), written to a temporary folder, or kept in and reused from `--keep DIR`; the runs
work on a copy of it, which they change.

Every scenario runs twice, printing one table each: with links off, and with links on
(`--links on --allow-private-links`) against a farm of loopback HTTP servers on
127.0.0.2, 127.0.0.3, ... (`bench/linkcheck.py`'s, here answering every URL with an
empty 200 at once). For the second table the corpus is copied with every URL moved onto
the farm: `https://www.host/path` becomes `http://127.0.0.K:PORT/host/path`, the
server K chosen by the host, with the `www.`/`amp.` prefixes and AMP-cache forms
(`x.cdn.ampproject.org/c/s/host/path`) folded in the same way, so URLs that name one page
still name one page, and the duplicates found are the same (the final counts printed
for both tables show it). The link check runs with `min_interval: 1ms`: the farm is
ours, so the figures are the build's own cost, not a politeness delay towards real
sites. Only cold builds send requests (the results are stored in the state file, fresh
for days). A last table gives each scenario's wall time with links off and on.

Scenarios, in order, on one output folder and one state file:

1. cold build: empty output folder, no state file;
2. warm rebuild: nothing changed;
3. one file changed: the title of the newest published file rewritten;
4. one new file: a copy of that file as another story (its own title and URLs);
5. 1% of the files changed: their titles rewritten;
6. one file deleted (a recent published file of common topics only, so no topic
   loses its last article);

then a fresh cold build of the final corpus into a second output folder, with its
own state file and `--report`, whose files must be byte-identical to the
incremental output (it prints OK, or the differing files and exits 1). A feed the
incremental build keeps empty because its topic lost every article (README: "A
topic that loses all its articles") is the one expected difference, and is listed
as such. Each changed file gets a new size and mtime, so any cache keyed on either
sees the change.

For each run it prints the wall time, articles per second (files in the corpus /
wall time), the CPU time of the build's processes (user + system) and how many
output files were added, rewritten or removed, and:

- peak: the largest peak RSS of any one process of the build, exact (the max, not
  the sum): `ru_maxrss` of the `wait4()` of the build, which covers every process
  it waited for. Processes the build does not wait for itself (a multiprocessing
  forkserver and the workers it forks) are orphaned when it exits; this benchmark
  makes itself a child subreaper (`prctl(PR_SET_CHILD_SUBREAPER)`), so they are
  reparented to it, and takes the max over their `wait4()` too (and adds their
  CPU time). When the build ran more than one process, it also prints the sum of
  every process's own peak RSS (`VmHWM` from /proc, polled every 20 ms over the
  process tree): an upper bound of the memory the tree used at once, since the
  peaks need not coincide and pages shared after fork count in every process.

The parse floor is the time one process takes to find every file, read it, cut the
front matter at its `---` lines and load it with PyYAML's C loader
(`yaml.load(text, Loader=yaml.CSafeLoader)`): what any build must at least do
without a cache. The cold build is also given as a multiple of it. Files are in the
page cache (just written), so neither time includes disk reads.

Run it from the project root with the dev virtualenv:

    python bench/build.py [--n 10000] [--seed 1] [--keep DIR] [--workers W [W ...]]
        [--links off|on|both] [--farm-hosts H]

`--workers` runs every scenario once per value, passing `--workers W` to the build
(only when the build has that option); the fresh builds of the different values
must then be identical too. Exit status 0 when every output matched, 1 on a
difference or a failed build, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import compileall
import ctypes
import hashlib
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import corpus  # noqa: E402 - bench/ is not a package
import linkcheck as farms  # noqa: E402 - bench/linkcheck.py: its farm answers every URL

#: the link check settings of the links-on runs: no politeness delay towards our own farm
LINKS_CONFIG = "link_check:\n  min_interval: 1ms\n"
#: a URL in an article file: scheme, host (with any port), the rest up to a quote or space
_URL = re.compile(rb"https?://([^/\"\s?#]+)([^\"\s]*)")
_AMP_CACHE = b".cdn.ampproject.org"

HASH_SEED = "0"
#: how often the process tree's memory is read
POLL = 0.02
MARKER = ".bench-corpus"
PR_SET_CHILD_SUBREAPER = 36
#: how long to wait for processes the build left behind
ORPHAN_TIMEOUT = 30.0
#: a file whose topics are all among these is safe to delete (they have many articles)
COMMON_TOPICS = frozenset(t.casefold() for t in corpus.TOPICS[:10])
_TITLE = re.compile(rb'^title: "(.*)"(\r?)$', re.MULTILINE)
MB = 1024 * 1024


class BenchError(Exception):
    """A failed build or a corpus we cannot use: printed, exit 1."""


@dataclass(frozen=True)
class Run:
    """One build, as measured from outside."""

    wall: float
    cpu: float
    #: bytes: the largest peak RSS of one process (ru_maxrss of wait4)
    peak: int
    #: bytes: the sum of every process's own peak RSS (VmHWM, polled)
    peak_sum: int
    processes: int
    changed: int
    articles: int

    def line(self, label: str, floor: float | None = None) -> str:
        rate = self.articles / self.wall if self.wall > 0 else float("inf")
        text = f"{label}: {self.wall:.2f} s, {rate:.0f} articles/s, peak {self.peak / MB:.0f} MB"
        if self.processes > 1:
            text += (
                f" (largest of {self.processes} processes; their peaks sum to "
                f"{self.peak_sum / MB:.0f} MB)"
            )
        if floor:
            text += f", {self.wall / floor:.1f}x the parse floor"
        return text + f" (cpu {self.cpu:.2f} s, {self.changed} output files written or removed)"


# -- measuring one build --------------------------------------------------------------


class TreeMemory:
    """Polls the peak RSS (VmHWM) of a process and all its descendants."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peaks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="tree-memory", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(POLL):
                return

    def sample(self) -> None:
        pending = [self.pid]
        while pending:
            pid = pending.pop()
            hwm = _hwm(pid)
            if hwm is not None:  # None: gone, or a zombie with no memory left
                self.peaks[pid] = max(self.peaks.get(pid, 0), hwm)
            pending.extend(_children(pid))


def _hwm(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", "rb") as handle:
            for line in handle:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children", "rb") as handle:
                found.extend(int(child) for child in handle.read().split())
        except (OSError, ValueError):
            continue
    return found


def become_subreaper() -> bool:
    """Have orphaned descendants (a forkserver and its workers, say) reparented to
    this process instead of init, so that it can wait for them and read their usage."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _reap_orphans(timeout: float = ORPHAN_TIMEOUT) -> list[Any]:
    """Wait for the build's descendants it left behind; the rusage of each.

    This process starts no other children while a build runs, so every child
    found here came from the build."""
    usages: list[Any] = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            pid, _, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return usages
        if pid:
            usages.append(usage)
        elif time.monotonic() > deadline:
            print(f"  warning: build processes still alive {timeout:.0f} s after it exited")
            return usages
        else:
            time.sleep(0.005)


def _snapshot(folder: Path) -> dict[str, tuple[int, int, int]]:
    """(inode, mtime, size) of every file: a replaced or rewritten file differs."""
    result: dict[str, tuple[int, int, int]] = {}
    for path in folder.rglob("*") if folder.is_dir() else ():
        if path.is_file():
            stat = path.stat()
            result[path.relative_to(folder).as_posix()] = (
                stat.st_ino,
                stat.st_mtime_ns,
                stat.st_size,
            )
    return result


class Builder:
    """Runs `python -m aggregator build` the same way every time."""

    def __init__(
        self, workdir: Path, extra: Sequence[str] = (), links: Sequence[str] = ("--links", "off")
    ) -> None:
        self.workdir = workdir
        self.extra = list(extra)
        self.links = list(links)
        self.env = dict(os.environ)
        self.env["PYTHONHASHSEED"] = HASH_SEED
        # The modules' bytecode, as an installed package has it (see the docstring).
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        compileall.compile_dir(ROOT / "aggregator", quiet=1)
        path = self.env.get("PYTHONPATH")
        self.env["PYTHONPATH"] = str(ROOT) + (os.pathsep + path if path else "")

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "aggregator", *args]

    def run(
        self,
        source: Path,
        output: Path,
        state: Path,
        articles: int,
        more: Sequence[str] = (),
    ) -> Run:
        argv = self.command(
            "build",
            "--source",
            str(source),
            "--output",
            str(output),
            "--state",
            str(state),
            *self.links,
            "-q",
            *self.extra,
            *more,
        )
        return measure(argv, self.workdir, self.env, output, articles)


def measure(
    argv: Sequence[str], cwd: Path, env: dict[str, str], output: Path, articles: int
) -> Run:
    """Run `argv` to its end and measure it from outside: wall time, CPU time and peak
    memory of its whole process tree, and the files it added, rewrote or removed under
    `output`. A failure raises BenchError with what the command said."""
    before = _snapshot(output)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err)
        memory = TreeMemory(process.pid)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        memory.stop()
        process.returncode = os.waitstatus_to_exitcode(status)
        peak, cpu = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
        for usage in _reap_orphans():
            peak = max(peak, usage.ru_maxrss)
            cpu += usage.ru_utime + usage.ru_stime
        err.seek(0)
        said = err.read().decode("utf-8", "replace")
        out.seek(0)
        said += out.read().decode("utf-8", "replace")
    if process.returncode != 0:
        raise BenchError(
            f"the build failed with exit status {process.returncode}:\n"
            f"  {' '.join(argv)}\n{_tail(said)}"
        )
    if said.strip():
        print(f"  the build printed:\n{_tail(said)}")
    after = _snapshot(output)
    changed = sum(1 for key in before.keys() | after.keys() if before.get(key) != after.get(key))
    peak *= 1024  # ru_maxrss is in kilobytes on Linux
    return Run(
        wall=wall,
        cpu=cpu,
        peak=peak,
        peak_sum=max(sum(memory.peaks.values()), peak),
        processes=max(len(memory.peaks), 1),
        changed=changed,
        articles=articles,
    )


def _tail(text: str, lines: int = 15) -> str:
    kept = text.rstrip().splitlines()
    more = f"    ... ({len(kept) - lines} lines before)\n" if len(kept) > lines else ""
    return more + "\n".join(f"    {line}" for line in kept[-lines:])


# -- the corpus -----------------------------------------------------------------------


def corpus_files(folder: Path) -> list[Path]:
    """The article files of a generated corpus, oldest first (names start with the date)."""
    return sorted(
        (p for p in folder.rglob("*.md") if not p.name.startswith(".")),
        key=lambda p: p.relative_to(folder).as_posix(),
    )


def _generator_version() -> str:
    return hashlib.sha256(Path(corpus.__file__).read_bytes()).hexdigest()[:16]


def prepare_corpus(
    folder: Path, n: int, seed: int, common: bool = False
) -> tuple[float | None, bool]:
    """Generate the corpus in `folder`, or reuse the one there; (seconds, reused).
    `common`: titles of common words only (`corpus.generate`)."""
    kind = " common" if common else ""
    wanted = f"n={n} seed={seed}{kind} generator={_generator_version()}\n"
    marker = folder / MARKER
    if marker.is_file():
        if marker.read_text() != wanted:
            raise BenchError(
                f"{folder} holds another corpus ({marker.read_text().strip()}; wanted "
                f"{wanted.strip()}): give --keep an empty or new folder"
            )
        return None, True
    if folder.exists() and any(folder.iterdir()):
        raise BenchError(f"{folder} is not empty and holds no generated corpus")
    started = time.perf_counter()
    corpus.generate(folder, n, seed, common=common)
    elapsed = time.perf_counter() - started
    marker.write_text(wanted)
    return elapsed, False


#: what `--common` asks of the generated corpus (`corpus.generate`), and why
COMMON_HELP = (
    f"{corpus.COMMON_HELP}, as in a corpus on one subject (near-duplicate detection weighs "
    "the most candidates)"
)


def corpus_options(
    parser: argparse.ArgumentParser,
    default_n: int,
    keep_help: str = "generate the corpus here, or reuse it",
) -> None:
    """The options of the generated corpus every benchmark takes: --n, --seed, --common,
    --keep (`prepared` makes or finds the corpus they ask for)."""
    parser.add_argument(
        "--n", type=_positive, default=default_n, help=f"files (default: {default_n})"
    )
    parser.add_argument("--seed", type=int, default=1, help="corpus seed (default: 1)")
    parser.add_argument("--common", action="store_true", help=COMMON_HELP)
    parser.add_argument("--keep", type=Path, metavar="DIR", help=keep_help)


def prepared(args: argparse.Namespace, temp: Path) -> tuple[Path, str]:
    """The corpus `corpus_options` asked for, generated in `--keep` (or under `temp`)
    or reused from there: its folder, and what it is and how it came, for the output
    ("seed 1, titles of common words, generated in 1.1 s")."""
    pristine = args.keep.resolve() if args.keep else temp / "pristine"
    generated, reused = prepare_corpus(pristine, args.n, args.seed, args.common)
    how = "reused" if reused else f"generated in {generated:.1f} s"
    kind = ", titles of common words" if args.common else ""
    return pristine, f"seed {args.seed}{kind}, {how}"


def parse_floor(folder: Path) -> tuple[float, int]:
    """Seconds to find, read and YAML-load the front matter of every file; files."""
    started = time.perf_counter()
    count = 0
    for path in corpus_files(folder):
        text = path.read_bytes().decode("utf-8")
        lines = text.split("\n")
        end = next(i for i in range(1, len(lines)) if lines[i].rstrip() == "---")
        yaml.load("\n".join(lines[1:end]), Loader=yaml.CSafeLoader)
        count += 1
    return time.perf_counter() - started, count


def front_matter(path: Path) -> dict[str, Any]:
    text = path.read_bytes().decode("utf-8")
    lines = text.split("\n")
    end = next(i for i in range(1, len(lines)) if lines[i].rstrip() == "---")
    data = yaml.load("\n".join(lines[1:end]), Loader=yaml.CSafeLoader)
    return data if isinstance(data, dict) else {}


def newest(files: Sequence[Path], wanted: Callable[[dict[str, Any]], bool]) -> Path:
    for path in reversed(files):
        if wanted(front_matter(path)):
            return path
    raise BenchError("no file in the corpus fits the scenario")


def _published(data: dict[str, Any]) -> bool:
    quality = data.get("quality")
    return data.get("published") is True and isinstance(quality, int) and quality >= 60


#: the title and excerpt of the story `another_story` makes: words no other file has
_ANOTHER = (
    b"Harbour dredging contract for the northern quay goes to a local firm",
    b"The port authority chose a local firm to dredge the northern quay this winter, "
    b"after three bids and a public consultation on the silt it will move.",
)


def another_story(data: bytes) -> bytes:
    """A file's bytes as another story: its own title, excerpt and URLs."""
    title, excerpt = _ANOTHER
    data, titles = _TITLE.subn(lambda m: b'title: "' + title + b'"' + m.group(2), data, count=1)
    data, excerpts = re.subn(
        rb'^excerpt: "[^"\n]*"', b'excerpt: "' + excerpt + b'"', data, count=1, flags=re.MULTILINE
    )
    data, urls = re.subn(
        rb'^((?:webUrl|originalUrl|ampWebUrl): "[^"]*?)"', rb'\1-new"', data, flags=re.MULTILINE
    )
    if not (titles and excerpts and urls):
        raise BenchError("no title, excerpt or URL to change in the file copied")
    return data


def retitle(path: Path, note: bytes) -> None:
    """Add `note` to the title: the file gets a new size and a new mtime."""
    data = path.read_bytes()
    new, count = _TITLE.subn(
        lambda m: b'title: "' + m.group(1) + b" (" + note + b')"' + m.group(2), data, count=1
    )
    if count != 1:
        raise BenchError(f"{path}: no title line to change")
    before = path.stat().st_mtime_ns
    path.write_bytes(new)
    stat = path.stat()
    if stat.st_mtime_ns == before:  # a coarse clock: make the change visible anyway
        os.utime(path, ns=(stat.st_atime_ns, before + 1_000_000_000))


def on_farm(data: bytes, bases: Sequence[bytes]) -> bytes:
    """`data` with every http(s) URL moved onto the farm (see the module docstring)."""

    def move(match: re.Match[bytes]) -> bytes:
        host, rest = match.group(1).lower(), match.group(2)
        if host.endswith(_AMP_CACHE) and rest.startswith(b"/c/s/"):
            host, _, path = rest.removeprefix(b"/c/s/").partition(b"/")
            rest = b"/" + path
        for prefix in (b"www.", b"amp."):
            host = host.removeprefix(prefix)
        return bases[zlib.crc32(host) % len(bases)] + b"/" + host + rest

    return _URL.sub(move, data)


def corpus_on_farm(pristine: Path, target: Path, farm: farms.Farm) -> int:
    """Copy the corpus to `target` with its URLs on `farm`; the number of URLs moved."""
    bases = [base.encode() for base in farm.urls(1)]
    bases = [base.rsplit(b"/article/", 1)[0] for base in bases]
    moved = 0
    for path in pristine.rglob("*"):
        copy = target / path.relative_to(pristine)
        if path.is_dir():
            copy.mkdir(parents=True, exist_ok=True)
            continue
        copy.parent.mkdir(parents=True, exist_ok=True)
        data = path.read_bytes()
        if path.suffix == ".md":
            moved += len(_URL.findall(data))
            data = on_farm(data, bases)
        copy.write_bytes(data)
        shutil.copystat(path, copy)
    return moved


# -- comparing outputs ----------------------------------------------------------------


def compare(incremental: Path, fresh: Path) -> tuple[list[str], list[str]]:
    """(differences, expected differences: feeds kept empty for retired topics)."""
    a, b = _snapshot(incremental), _snapshot(fresh)
    differences: list[str] = []
    retired: list[str] = []
    for name in sorted(a.keys() | b.keys()):
        if name not in b:
            data = (incremental / name).read_bytes()
            if name.startswith("topics/") and b"<item>" not in data and b"<entry>" not in data:
                retired.append(name)
            else:
                differences.append(f"{name} (only in {incremental})")
        elif name not in a:
            differences.append(f"{name} (only in {fresh})")
        elif (incremental / name).read_bytes() != (fresh / name).read_bytes():
            differences.append(f"{name} (bytes differ)")
    return differences, retired


# -- the benchmark --------------------------------------------------------------------


def machine() -> str:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    cpus = f"{os.cpu_count()} CPUs" + (
        f" ({usable} usable)" if usable and usable != os.cpu_count() else ""
    )
    memory = ""
    try:
        with open("/proc/meminfo") as handle:
            total = int(handle.readline().split()[1])
        memory = f", {total / 1024 / 1024:.0f} GB RAM"
    except (OSError, ValueError, IndexError):
        pass
    libyaml = yaml.__with_libyaml__
    return (
        f"machine: {cpus}{memory}, {platform.platform()}, "
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"PyYAML {yaml.__version__} ({'with' if libyaml else 'without'} libyaml)"
    )


def scenarios(
    builder: Builder, pristine: Path, work: Path, seed: int, floor: float
) -> tuple[Path, bool, list[tuple[str, Run]]]:
    """Run every scenario in `work`; (the fresh output, whether it matched, each run)."""
    source = work / "corpus"
    shutil.copytree(pristine, source)
    output, state = work / "feeds", work / "state.sqlite"
    files = corpus_files(source)
    count = len(files)
    runs: list[tuple[str, Run]] = []

    def record(label: str, run: Run) -> Run:
        runs.append((label, run))
        return run

    print(record("cold build", builder.run(source, output, state, count)).line("cold build", floor))
    run = record("warm rebuild", builder.run(source, output, state, count))
    print(run.line("warm rebuild, nothing changed"))

    target = newest(files, _published)
    retitle(target, b"updated")
    run = record("one file changed", builder.run(source, output, state, count))
    print(run.line("one file changed"))
    print(f"  changed: {target.relative_to(source)}")

    added = target.with_name(f"new-{target.name}")
    added.write_bytes(another_story(target.read_bytes()))
    files.append(added)
    count += 1
    run = record("one new file", builder.run(source, output, state, count))
    print(run.line("one new file"))
    print(f"  added: {added.relative_to(source)}")

    gone = newest(
        [p for p in files if p not in (target, added)],
        lambda d: (
            _published(d)
            and bool(d.get("topics"))
            and all(str(t).casefold() in COMMON_TOPICS for t in d.get("topics") or ())
        ),
    )
    others = [p for p in files if p not in (target, gone)]
    chosen = sorted(random.Random(seed).sample(others, max(1, count // 100)))
    for path in chosen:
        retitle(path, b"corrected")
    run = record("1% of files changed", builder.run(source, output, state, count))
    print(run.line(f"1% of files changed ({len(chosen)} titles)"))

    gone.unlink()
    count -= 1
    run = record("one file deleted", builder.run(source, output, state, count))
    print(run.line("one file deleted"))
    print(f"  deleted: {gone.relative_to(source)}")

    fresh, report = work / "fresh", work / "report.json"
    run = builder.run(source, fresh, work / "fresh.sqlite", count, ("--report", str(report)))
    record("fresh cold build", run)
    print(run.line("fresh cold build of the final corpus (with --report)", floor))
    print(_counts(report))
    differences, retired = compare(output, fresh)
    for name in retired:
        print(f"  expected: {name} (a retired topic's feed, kept empty by the incremental build)")
    if differences:
        print(f"incremental vs fresh output: {len(differences)} files DIFFER:")
        for name in differences:
            print(f"  {name}")
        return fresh, False, runs
    print(f"incremental vs fresh output: OK, {len(_snapshot(fresh))} files byte-identical")
    return fresh, True, runs


def summary(tables: dict[str, list[tuple[str, Run]]]) -> None:
    """Each scenario's wall time in every table, and links on as a multiple of off."""
    names = list(tables)
    print("wall time (s) by scenario: " + ", ".join(names))
    width = max(len(name) for name in names) + 2
    header = f"  {'scenario':<22}" + "".join(f"{name:>{width}}" for name in names)
    both = "links off" in names and "links on" in names
    print(header + ("  on/off" if both else ""))
    first = tables[names[0]]
    for index, (label, _) in enumerate(first):
        walls = {name: tables[name][index][1].wall for name in names}
        line = f"  {label:<22}" + "".join(f"{walls[name]:>{width}.2f}" for name in names)
        if both:
            line += f"  {walls['links on'] / walls['links off']:>5.2f}x"
        print(line)


def _counts(report: Path) -> str:
    data = json.loads(report.read_text(encoding="utf-8"))
    counts = data.get("counts", {})
    reasons: dict[str, int] = {}
    for story in data.get("duplicates", []):
        for copy in story.get("copies", []):
            reasons[copy.get("reason", "?")] = reasons.get(copy.get("reason", "?"), 0) + 1
    by_reason = ", ".join(f"{n} {r}" for r, n in sorted(reasons.items()))
    excluded = ", ".join(f"{n} {r}" for r, n in sorted(counts.get("excluded", {}).items()))
    return (
        f"  final corpus: {counts.get('loaded')} loaded, {counts.get('invalid')} invalid, "
        f"{counts.get('duplicates')} duplicates dropped ({by_reason or 'none'}), "
        f"excluded {excluded or 'none'}, {counts.get('published')} published, "
        f"{len(data.get('feeds', []))} feeds"
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Time `aggregator build` on a generated corpus: cold, warm, incremental."
    )
    corpus_options(parser, 10_000)
    parser.add_argument(
        "--links",
        choices=("off", "on", "both"),
        default="both",
        help="run the scenarios with links off, on (against a local farm), or both (default)",
    )
    parser.add_argument(
        "--farm-hosts",
        type=_positive,
        default=50,
        help="servers of the link farm, on 127.0.0.2 and up (default: 50, at most 253)",
    )
    parser.add_argument(
        "--workers",
        nargs="+",
        metavar="W",
        help="run every scenario once per value, passing --workers W to the build",
    )
    args = parser.parse_args(argv)
    if args.farm_hosts > 253:
        parser.error("--farm-hosts: at most 253 (127.0.0.2 to 127.0.0.254)")

    print(machine())
    temp = Path(tempfile.mkdtemp(prefix="aggregator-bench-"))
    try:
        builder = Builder(temp)
        if args.workers:
            help_text = subprocess.run(
                builder.command("build", "--help"),
                cwd=temp,
                env=builder.env,
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            if "--workers" not in help_text:
                print("error: this `aggregator build` has no --workers option", file=sys.stderr)
                return 2
        pristine, how = prepared(args, temp)
        files = corpus_files(pristine)
        size = sum(p.stat().st_size for p in files)
        print(f"corpus: {len(files)} files, {size / 1e6:.1f} MB, {how} ({pristine})")
        print(
            f"measuring: python -m aggregator from {ROOT} ({sys.executable}, "
            f"PYTHONHASHSEED={HASH_SEED}, -q)"
        )
        started = time.perf_counter()
        subprocess.run(
            builder.command("--version"), cwd=temp, env=builder.env, capture_output=True, check=True
        )
        print(f"start-up: {time.perf_counter() - started:.2f} s (python -m aggregator --version)")
        floor, parsed = parse_floor(pristine)
        print(
            f"parse floor: {floor:.2f} s, {parsed / floor:.0f} files/s (read + cut + "
            "yaml.load CSafeLoader of every file, one process)"
        )
        exact = become_subreaper()
        print(
            "peak = the largest peak RSS of any one process of the build (ru_maxrss from "
            "wait4 of the build"
            + (" and of the processes it left behind" if exact else "")
            + "); with more processes, also the sum of their own peaks (VmHWM, polled)"
        )
        ok = True
        fresh_outputs: list[tuple[str, Path]] = []
        tables: dict[str, list[tuple[str, Run]]] = {}
        modes = ["off", "on"] if args.links == "both" else [args.links]
        farm = farms.Farm(args.farm_hosts, latency=0.0) if "on" in modes else None
        try:
            for mode in modes:
                source, links = pristine, ["--links", "off"]
                if mode == "on":
                    assert farm is not None
                    source = temp / "pristine-on-farm"
                    started = time.perf_counter()
                    moved = corpus_on_farm(pristine, source, farm)
                    config = temp / "links.yaml"
                    config.write_text(LINKS_CONFIG, encoding="utf-8")
                    links = ["--links", "on", "--allow-private-links", "--config", str(config)]
                    print(
                        f"links on: {moved} URLs moved onto a farm of {args.farm_hosts} "
                        f"servers on 127.0.0.2-{args.farm_hosts + 1} (every URL: 200 at once) "
                        f"in {time.perf_counter() - started:.1f} s; "
                        f"{' '.join(links[:3])}, link_check min_interval 1ms"
                    )
                for workers in args.workers or [None]:
                    label = f"--workers {workers}" if workers is not None else "default workers"
                    table = f"links {mode}" + (f", {label}" if workers is not None else "")
                    print(f"[{table}]")
                    extra = ("--workers", workers) if workers is not None else ()
                    work = temp / f"run-{len(fresh_outputs)}"
                    work.mkdir()
                    builder = Builder(temp, extra, links)
                    fresh, matched, runs = scenarios(builder, source, work, args.seed, floor)
                    ok = ok and matched
                    tables[table] = runs
                    if mode == modes[0]:  # outputs of one corpus: the farm's differs
                        fresh_outputs.append((label, fresh))
        finally:
            if farm is not None:
                farm.close()
        if len(tables) > 1:
            summary(tables)
        first_label, first = fresh_outputs[0]
        for label, other in fresh_outputs[1:]:
            differences, _ = compare(first, other)
            if differences:
                ok = False
                print(f"{label} vs {first_label}: {len(differences)} files DIFFER:")
                for name in differences:
                    print(f"  {name}")
            else:
                print(f"{label} vs {first_label}: OK, byte-identical")
        return 0 if ok else 1
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
