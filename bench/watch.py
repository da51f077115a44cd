"""Benchmark of `aggregator run --watch --serve`: from a file landing to the served feed
changing.

What it measures: the real daemon, `python -m aggregator run --source WORK --output
OUT --links off --interval 1h --watch --serve 127.0.0.1:0`, started in a subprocess
(from a temporary working folder, with this checkout first on PYTHONPATH) on a copy of
a generated corpus (`bench/corpus.py`, N files; generated to a temporary folder, or
kept in and reused from `--keep DIR`, which is only read). With an hour between
scheduled runs, only the file-system events explain a build.

After the daemon's first (cold) build, each round writes the newest published file in
place with a note of its own added to its original title (a new size and mtime), or
with `--new` lands a new file beside it (a new story, in the same feeds: a title with
the note, an excerpt and URLs of its own), and
polls the served `/all.atom` every `--poll` seconds with `If-None-Match` (a 304 costs
the server next to nothing) until the new title is in it: the latency is from just
before the write to the answer that holds it. The build's own time is the daemon's log
line for that run (`--log-format json`: its `duration_s`, and `trigger: watch`).
Rounds are `--pause` seconds apart, so each is one burst of its own. It prints each
round, the median, min and max of both, and how long after the first event the build
began (the debounce: the log's `waited_s`). The feed changes as soon as its file is
replaced, before the build's last bookkeeping (the render cache, the report kept for
the next build), so the latency can be shorter than the build.

With `--links on`, the daemon checks links (`--links on --allow-private-links`,
`link_check: min_interval: 1ms`) against a farm of loopback servers that answer every
URL with an empty 200 at once, as `bench/build.py` runs it: the corpus is copied with its
URLs moved onto the farm, and a landed file's URLs are on the farm too (new URLs, checked
by the build that serves them). The daemon's first build checks every URL of the corpus.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build as bench  # bench/ is not a package: bench/build.py's helpers

SERVING = re.compile(r"serving .* on http://127\.0\.0\.1:(\d+)/")
#: seconds any one wait may last before the benchmark calls the daemon hung
PATIENCE = 900.0


class Daemon:
    """The daemon's process and its log lines, read in a thread."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def mark(self) -> int:
        with self.cond:
            return len(self.lines)

    def wait_for(self, pattern: re.Pattern[str], after: int = 0) -> re.Match[str]:
        deadline = time.monotonic() + PATIENCE
        index = after
        with self.cond:
            while True:
                while index < len(self.lines):
                    found = pattern.search(self.lines[index])
                    if found:
                        return found
                    if "run failed" in self.lines[index]:
                        raise bench.BenchError(self.lines[index])
                    index += 1
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    tail = "\n".join(self.lines[-20:])
                    raise bench.BenchError(f"no line matching {pattern.pattern!r}:\n{tail}")
                self.cond.wait(0.5)

    def wait_run(self, after: int = 0) -> dict[str, Any]:
        """The first run's JSON log record (`--log-format json`) from line `after` on."""
        line = self.wait_for(re.compile(r'"event": "run"'), after).string
        record: dict[str, Any] = json.loads(line)
        if record.get("status") != "ok":
            raise bench.BenchError(f"a run failed: {record}")
        return record

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.thread.join(timeout=10)


class Poller:
    """GETs one path of the server with If-None-Match, on one kept-alive connection."""

    def __init__(self, port: int, path: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.path = path
        self.etag: str | None = None
        self.body = b""

    def get(self) -> bytes:
        headers = {"If-None-Match": self.etag} if self.etag else {}
        self.conn.request("GET", self.path, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        if response.status == 200:
            self.etag = response.getheader("ETag")
            self.body = data
        return self.body

    def close(self) -> None:
        self.conn.close()


def retitle(path: Path, original: bytes, note: bytes) -> None:
    """The file's original title with `note` added, written in place: one note at a time,
    so that the title never reaches the length a feed cuts it at (`limits.title_length`)."""
    new, count = bench._TITLE.subn(
        lambda m: b'title: "' + m.group(1) + b" (" + note + b')"' + m.group(2), original, count=1
    )
    if count != 1:
        raise bench.BenchError(f"{path}: no title line to change")
    path.write_bytes(new)


#: the top-level URLs of an article file, and its excerpt
_URL = re.compile(rb'^(webUrl|originalUrl|ampWebUrl|cdnAmpWebUrl): "[^"]*"(\r?)$', re.MULTILINE)
_EXCERPT = re.compile(rb'^excerpt: "(.*)"(\r?)$', re.MULTILINE)


def land(
    path: Path, original: bytes, note: bytes, number: int, base: str = "https://landed.example.com"
) -> Path:
    """A new story beside `path`: its file with a title, an excerpt and URLs of its own
    under `base` (so that it is no copy of another, by URL or by text), written as a new
    file. The path written."""
    new = path.with_name(f"{path.stem}-landed-{number}{path.suffix}")
    text, count = bench._TITLE.subn(
        lambda m: b'title: "Landed story: ' + note + b'"' + m.group(2), original, count=1
    )
    if count != 1:
        raise bench.BenchError(f"{path}: no title line to change")
    text = _EXCERPT.sub(
        lambda m: (
            b'excerpt: "A story that landed while the daemon watched, ' + note + b'."' + m.group(2)
        ),
        text,
        count=1,
    )
    url = f"{base}/{number}/{os.getpid()}/".encode()
    text = _URL.sub(lambda m: m.group(1) + b': "' + url + m.group(1) + b'"' + m.group(2), text)
    new.write_bytes(text)
    return new


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Time `aggregator run --watch --serve`: a file landing to the feed served."
    )
    bench.corpus_options(parser, 10_000, "generate the corpus here, or reuse it (read only)")
    parser.add_argument("--rounds", type=bench._positive, default=7, help="edits (default: 7)")
    parser.add_argument(
        "--poll", type=float, default=0.005, help="seconds between polls (default: 0.005)"
    )
    parser.add_argument(
        "--pause", type=float, default=1.0, help="seconds between rounds (default: 1)"
    )
    parser.add_argument(
        "--new",
        action="store_true",
        help="each round lands a new file (a new story) instead of editing one",
    )
    parser.add_argument(
        "--links",
        choices=["off", "on"],
        default="off",
        help="check links against a local farm (on), or not (off, the default)",
    )
    parser.add_argument(
        "--farm-hosts",
        type=bench._positive,
        default=50,
        help="servers of the link farm with --links on (default: 50, at most 253)",
    )
    args = parser.parse_args(argv)
    if args.farm_hosts > 253:
        parser.error("--farm-hosts: at most 253 (127.0.0.2 to 127.0.0.254)")

    print(bench.machine())
    temp = Path(tempfile.mkdtemp(prefix="aggregator-watch-bench-"))
    daemon: Daemon | None = None
    farm: bench.farms.Farm | None = None
    try:
        pristine, how = bench.prepared(args, temp)
        work = temp / "work"
        started = time.perf_counter()
        links = ["--links", "off"]
        base = "https://landed.example.com"
        moved = 0
        if args.links == "on":
            farm = bench.farms.Farm(args.farm_hosts, latency=0.0)
            moved = bench.corpus_on_farm(pristine, work, farm)
            (work / bench.MARKER).unlink(missing_ok=True)
            config = temp / "links.yaml"
            config.write_text(bench.LINKS_CONFIG, encoding="utf-8")
            links = ["--links", "on", "--allow-private-links", "--config", str(config)]
            base = farm.bases[0] + "/landed"
        else:
            shutil.copytree(pristine, work, ignore=shutil.ignore_patterns(bench.MARKER))
        files = bench.corpus_files(work)
        print(
            f"corpus: {len(files)} files, {how} ({pristine}), "
            f"copied in {time.perf_counter() - started:.1f} s"
            + (
                f", {moved} URLs moved onto a farm of {args.farm_hosts} servers "
                "(every URL: 200 at once), link_check min_interval 1ms"
                if farm is not None
                else ""
            )
        )
        builder = bench.Builder(temp)
        argv_ = builder.command(
            "run",
            "--source",
            str(work),
            "--output",
            str(temp / "out"),
            *links,
            "--interval",
            "1h",
            "--watch",
            "--serve",
            "127.0.0.1:0",
            "--log-format",
            "json",
        )
        print(f"measuring: {' '.join(argv_[1:])} (from {bench.ROOT})")
        daemon = Daemon(argv_, temp, builder.env)
        port = int(daemon.wait_for(SERVING).group(1))
        cold = daemon.wait_run()
        print(f"first build (cold, scheduled): {cold['duration_s']:.2f} s")
        target = bench.newest(files, bench._published)
        if args.new:
            print(f"new files: beside {target.relative_to(work)} (the newest published file)")
        else:
            print(f"edited file: {target.relative_to(work)} (the newest published file)")
        original = target.read_bytes()
        poller = Poller(port, "/all.atom")
        poller.get()
        if farm is not None:
            requests = sum(len(host["arrivals"]) for host in farm.stats())
            print(f"first build: {requests} requests to the farm")
        latencies: list[float] = []
        builds: list[float] = []
        waits: list[float] = []
        for round_ in range(1, args.rounds + 1):
            time.sleep(args.pause)
            note = f"watch bench round {round_} {os.getpid()}".encode()
            mark = daemon.mark()
            landed = time.perf_counter()
            if args.new:
                land(target, original, note, round_, base)
            else:
                retitle(target, original, note)
            while note not in poller.get():
                if time.perf_counter() - landed > PATIENCE:
                    raise bench.BenchError(f"round {round_}: the edit was never served")
                time.sleep(args.poll)
            latency = time.perf_counter() - landed
            run = daemon.wait_run(after=mark)
            if run.get("trigger") != "watch":
                raise bench.BenchError(f"round {round_}: served by a scheduled run, not a watch")
            waited = run["waited_s"]
            latencies.append(latency)
            builds.append(run["duration_s"])
            waits.append(waited)
            checked = ""
            if farm is not None:
                requests = sum(len(host["arrivals"]) for host in farm.stats())
                checked = f"; {requests} requests to the farm"
            print(
                f"round {round_}: served {latency * 1000:.0f} ms after the write; "
                f"the build began {waited * 1000:.0f} ms after the first event "
                f"and took {run['duration_s'] * 1000:.0f} ms{checked}"
            )
        poller.close()
        median, build = statistics.median(latencies), statistics.median(builds)
        print(
            f"latency, write to served: median {median * 1000:.0f} ms, "
            f"min {min(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms "
            f"({len(latencies)} rounds, {len(files)} files)"
        )
        print(
            f"build (from the log): median {build * 1000:.0f} ms, "
            f"min {min(builds) * 1000:.0f} ms, max {max(builds) * 1000:.0f} ms"
        )
        print(
            f"wait before the build: median {statistics.median(waits) * 1000:.0f} ms from the "
            "first event (the debounce); the feed is served once its file is in place, "
            "before the build's last bookkeeping"
        )
    except bench.BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if daemon is not None:
            daemon.stop()
        if farm is not None:
            farm.close()
        shutil.rmtree(temp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
