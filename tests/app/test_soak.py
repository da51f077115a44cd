"""Long runs: `aggregator run` through hundreds of short cycles over a changing corpus,
serving the feeds to a polling reader, keeps its memory, file descriptors and threads
flat.

The daemon rebuilds every 50 ms while the test edits, adds and removes article files
(each write atomic, as a deploy tool would do it) and fetches a feed now and then.
Memory (VmRSS), open descriptors and threads are read from /proc after a warm-up and
at the end (the least of ten readings each time, so a run in progress does not count);
the growth is printed and held to a tolerance. SOAK_CYCLES sets the number of cycles
(default 250); the `slow` test runs 3,000.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import OFFLINE
from conftest import article_fields
from conftest import front_matter

WARM_UP = 40
#: seconds a wait may last before the test calls the daemon hung (no measure of speed)
PATIENCE = 300.0
#: the cycles after the warm-up may go at a tenth of its measured pace, no slower
SLOWDOWN = 10
RUN_OK = re.compile(r"\brun ok\b")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not Path("/proc/self/status").exists(),
        reason="reads memory, descriptors and threads in /proc",
    ),
]


@dataclass(frozen=True)
class Usage:
    rss_kb: int
    fds: int
    threads: int


def usage(pid: int) -> Usage:
    """The least of the readings taken between runs, over up to five seconds: a run in
    progress holds the state file (three descriptors) and the lock for a moment, which
    is no leak. A run holds the lock from start to end, so a reading without it open
    is one between runs; under load runs can follow each other for a while."""
    idle: list[Usage] = []
    readings: list[Usage] = []
    for _ in range(100):
        usage, busy = reading(pid)
        readings.append(usage)
        if not busy:
            idle.append(usage)
            if len(idle) >= 10:
                break
        time.sleep(0.05)
    chosen = idle or readings
    return Usage(*(min(getattr(r, f) for r in chosen) for f in ("rss_kb", "fds", "threads")))


def reading(pid: int) -> tuple[Usage, bool]:
    """The process's usage, and whether a run holds the output lock."""
    status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    assert found, status
    targets = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            targets.append("")  # closed while we looked
    busy = any(t.endswith(".lock") for t in targets)
    usage = Usage(int(found.group(1)), len(targets), len(os.listdir(f"/proc/{pid}/task")))
    return usage, busy


def put(src: Path, name: str, number: int, edition: int) -> None:
    """Write an article file atomically (the daemon never reads half of one)."""
    fields = article_fields(
        n=number,
        title=f"Story {number}, edition {edition}",
        excerpt=f"Edition {edition} of story {number}. " * 10,
        topics=[f"Topic {number % 7}", f"Topic {edition % 5}"],
    )
    staging = src.parent / f".{name}"
    staging.write_text(front_matter(fields), encoding="utf-8")
    os.replace(staging, src / name)


def fetch(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def soak(tmp_path: Path, cycles: int) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for number in range(20):
        put(src, f"a{number:02}.md", number, 0)
    log = tmp_path / "daemon.log"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(OFFLINE), env.get("PYTHONPATH", "")) if p)
    env.pop("JOURNAL_STREAM", None)
    args = ["--source", "src", "--output", "out", "--links", "off", "--interval", "50ms"]
    with open(log, "w", encoding="utf-8") as stderr:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "aggregator", "run", *args, "--serve", "127.0.0.1:0"],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            figures = drive(daemon, log, src, cycles)
        finally:
            daemon.send_signal(signal.SIGTERM)
            code = daemon.wait(timeout=PATIENCE)  # how fast it stops: test_daemon.py
    text = log.read_text(encoding="utf-8")
    assert code == 0, text[-2000:]
    assert "run failed" not in text and "Traceback" not in text, text[-2000:]
    start, end, done, seconds = figures
    growth = (end.rss_kb - start.rss_kb) / 1024
    print(
        f"\nsoak: {done} cycles in {seconds:.0f} s; RSS {start.rss_kb / 1024:.1f} -> "
        f"{end.rss_kb / 1024:.1f} MB ({growth:+.1f} MB) from cycle {WARM_UP} on; "
        f"fds {start.fds} -> {end.fds}; threads {start.threads} -> {end.threads}"
    )
    assert end.fds <= start.fds, (start, end)
    assert end.threads <= start.threads, (start, end)
    assert growth <= max(4.0, start.rss_kb / 1024 * 0.1), (start, end)


def drive(
    daemon: subprocess.Popen[bytes], log: Path, src: Path, cycles: int
) -> tuple[Usage, Usage, int, float]:
    """Change the corpus and read a feed while the daemon runs `cycles` cycles."""

    def runs() -> int:
        return len(RUN_OK.findall(log.read_text(encoding="utf-8")))

    def port() -> int | None:
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", log.read_text(encoding="utf-8"))
        return int(found.group(1)) if found else None

    edition = 0
    start: Usage | None = None
    spawned = started = time.monotonic()
    deadline = spawned + PATIENCE  # until the warm-up has set the pace
    while (done := runs()) < cycles:
        assert daemon.poll() is None, log.read_text(encoding="utf-8")[-2000:]
        assert time.monotonic() < deadline, f"only {done} cycles in time"
        if start is None and done >= WARM_UP:
            start = usage(daemon.pid)
            started = time.monotonic()
            pace = (started - spawned) / done  # seconds a cycle, start-up included
            deadline = started + SLOWDOWN * pace * (cycles - done)
        edition += 1
        number = edition % 30
        if number < 20:
            put(src, f"a{number:02}.md", number, edition)  # an edit
        elif edition % 2:
            put(src, f"extra{number}.md", number, edition)  # a new file
        else:
            (src / f"extra{number - 1}.md").unlink(missing_ok=True)  # a removal
        served = port()
        # Once the first run has written the feeds (before it, a 404 is right).
        if served is not None and done >= 1 and edition % 5 == 0:
            assert fetch(served, "/all.atom") == 200
        time.sleep(0.1)
    assert start is not None
    return start, usage(daemon.pid), done, time.monotonic() - started


def test_the_daemon_stays_flat_over_hundreds_of_cycles(tmp_path: Path) -> None:
    soak(tmp_path, int(os.environ.get("SOAK_CYCLES", "250")))


@pytest.mark.slow
def test_the_daemon_stays_flat_over_thousands_of_cycles(tmp_path: Path) -> None:
    soak(tmp_path, 3000)
