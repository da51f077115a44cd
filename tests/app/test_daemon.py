"""The daemon for real: `aggregator run` (and `build`) in subprocesses, real signals,
its real waitress server on 127.0.0.1, and a local fake WebSub hub.

Each daemon's stderr is read line by line in a thread; tests wait on log lines (the
`serving ... on http://HOST:PORT/` line gives the port, one `run ok`/`run failed` line
ends each run) and on what the server answers, always with a deadline. Every process a
test starts is killed in the fixture's teardown if it is still running.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
import xml.etree.ElementTree as ElementTree
from collections import Counter
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import feedparser
import pytest
from conftest import OFFLINE
from conftest import article_fields
from conftest import front_matter
from conftest import require_e2e
from conftest import run_cli
from conftest import write_article
from farm import Farm
from s3server import ADMIN
from s3server import S3Server

from aggregator.publishing import websub
from aggregator.publishing.lock import OutputLock
from aggregator.publishing.lock import lock_path

pytestmark = pytest.mark.e2e

RUN_LINE = re.compile(r"\brun (ok|failed)\b")
CHANGED = re.compile(r"\b(\d+) of (\d+) feeds changed")
ATOM_NS = "http://www.w3.org/2005/Atom"
BASE_URL = "http://feeds.example/"
#: seconds a wait for an event (a log line, a served feed) may last before the test calls
#: the daemon hung. Only a guard against waiting forever, never a measure of speed: how
#: fast something must happen is a multiple of a duration measured in the same test.
PATIENCE = 300.0
#: a daemon must stop within this many times its own measured start-up (spawn to
#: "running every"): both are a Python process doing little, and both slow down alike
#: on a busy machine
STOP_FACTOR = 20


# --- helpers -------------------------------------------------------------------------


def offline_env() -> dict[str, str]:
    """The environment run_cli gives its subprocesses: no DNS (tests/offline)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(OFFLINE), env.get("PYTHONPATH", "")) if p)
    env.pop("JOURNAL_STREAM", None)
    return env


class Daemon:
    """One `python -m aggregator ...` subprocess whose stderr lines are collected."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        self.args = args
        require_e2e("the aggregator daemon")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aggregator", *args],
            cwd=cwd,
            env=offline_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.eof = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        self._port: int | None = None
        self.spawned = time.monotonic()
        #: seconds from spawn to "running every" (set by the `start` fixture)
        self.startup: float | None = None

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self.eof = True
            self._cond.notify_all()

    def text(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def mark(self) -> int:
        """The number of lines so far: pass it as `after` to wait for later lines."""
        with self._cond:
            return len(self.lines)

    def wait_for(
        self, pattern: str | re.Pattern[str], *, after: int = 0, timeout: float = PATIENCE
    ) -> int:
        """Index of the first line from `after` on matching `pattern`."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        with self._cond:
            index = after
            while True:
                while index < len(self.lines):
                    if regex.search(self.lines[index]):
                        return index
                    index += 1
                left = deadline - time.monotonic()
                if self.eof or left <= 0:
                    break
                self._cond.wait(min(left, 0.5))
        state = "exited" if self.eof else "still running"
        raise AssertionError(
            f"no line matching {regex.pattern!r} after line {after} within {timeout} s "
            f"(process {state}); stderr:\n{self.text()}"
        )

    def run_lines(self, after: int = 0) -> list[str]:
        with self._cond:
            return [line for line in self.lines[after:] if RUN_LINE.search(line)]

    def wait_runs(self, count: int = 1, *, after: int, timeout: float = PATIENCE) -> list[str]:
        """Wait for `count` run lines (ok or failed) after line `after`; returns them."""
        index = after
        for _ in range(count):
            index = self.wait_for(RUN_LINE, after=index, timeout=timeout) + 1
        return self.run_lines(after)[:count]

    def wait_changed_run(self, *, after: int, timeout: float = PATIENCE) -> str:
        """The first run line after `after` that says some feed changed."""
        index = after
        deadline = time.monotonic() + timeout
        while True:
            index = self.wait_for(RUN_LINE, after=index, timeout=deadline - time.monotonic())
            line = self.lines[index]
            found = CHANGED.search(line)
            if found and found.group(1) != "0":
                return line
            index += 1

    @property
    def port(self) -> int:
        if self._port is None:
            index = self.wait_for(r"serving .* on http://127\.0\.0\.1:(\d+)/")
            found = re.search(r"http://127\.0\.0\.1:(\d+)/", self.lines[index])
            assert found
            self._port = int(found.group(1))
        return self._port

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stop(self, signum: int = signal.SIGTERM, *, allowed: float = 0.0) -> int:
        """Send `signum`; the exit code, which must come within STOP_FACTOR times the
        daemon's measured start-up, plus `allowed`: a delay the daemon is documented to
        take (a hanging hub's ping timeout)."""
        assert self.startup is not None, "start-up not measured: start it with `start`"
        bound = allowed + STOP_FACTOR * self.startup
        started = time.monotonic()
        self.proc.send_signal(signum)
        try:
            code = self.proc.wait(timeout=bound)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"still running {bound:.1f} s ({allowed:g} s + {STOP_FACTOR} x its start-up "
                f"of {self.startup:.2f} s) after signal {signum}; stderr:\n{self.text()}"
            ) from None
        assert time.monotonic() - started <= bound
        self._thread.join(timeout=PATIENCE)
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self._thread.join(timeout=5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def http_get(port: int, path: str, headers: dict[str, str] | None = None) -> Answer:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=PATIENCE)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
    finally:
        conn.close()


def health(port: int) -> tuple[int, dict[str, Any]]:
    answer = http_get(port, "/healthz")
    data: dict[str, Any] = json.loads(answer.body)
    return answer.status, data


def parse(data: bytes) -> Any:
    parsed = feedparser.parse(data)
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


def wait_until(check: Callable[[], Any], *, timeout: float = PATIENCE, what: str = "") -> Any:
    """Call `check` until it returns something true; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or check}: {last!r}")


def served_entries(port: int, path: str = "/all.rss") -> list[str] | None:
    """The entry links of a served feed, or None when it is absent or does not parse."""
    answer = http_get(port, path)
    if answer.status != 200:
        return None
    parsed = feedparser.parse(answer.body)
    if parsed.bozo:
        return None
    return [entry.link for entry in parsed.entries]


def add_article(src: Path, name: str, **fields: Any) -> Path:
    """Write an article file where a running daemon cannot see it half written."""
    staging = src.parent / ".staging"
    written = write_article(staging, name, **fields)
    final = src / name
    os.replace(written, final)
    return final


def write_many(folder: Path, count: int, *, start: int = 0, topic: str = "AI") -> None:
    """`count` small distinct article files, written fast from one template."""
    folder.mkdir(parents=True, exist_ok=True)
    template = front_matter(
        article_fields(
            n=1,
            title="Bulk story NUM about WORD",
            excerpt="Bulk excerpt NUM on WORD.",
            webUrl="https://bulk.example.com/story-NUM",
            topics=[topic],
        )
    )
    for number in range(start, start + count):
        word = f"w{number * 7919 % 100_003}"
        text = template.replace("NUM", str(number)).replace("WORD", word)
        (folder / f"bulk-{number:05}.md").write_text(text, encoding="utf-8")


def feed_files(out: Path) -> dict[str, bytes]:
    """Relative path -> bytes of every feed (.rss, .atom, .json) under `out`."""
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.suffix in (".rss", ".atom", ".json") and not p.name.startswith(".")
    }


def temp_files(out: Path) -> list[Path]:
    return sorted(out.rglob(".aggregator-*.tmp"))


def assert_every_feed_parses(out: Path, *, some: bool = True) -> dict[str, bytes]:
    feeds = feed_files(out)
    assert feeds or not some, f"no feed in {out}"
    for path, data in feeds.items():
        if path.endswith(".json"):  # feedparser reads RSS and Atom only
            feed = json.loads(data)
            assert feed["version"] == "https://jsonfeed.org/version/1.1", path
            assert isinstance(feed["items"], list), path
            continue
        parsed = feedparser.parse(data)
        assert not parsed.bozo, (path, parsed.get("bozo_exception"))
    return feeds


# --- the fake WebSub hub -------------------------------------------------------------


@dataclass(frozen=True)
class Ping:
    mode: str
    url: str
    status: int  # what the hub answered


class HubHandler(BaseHTTPRequestHandler):
    server: Hub

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        fields = parse_qs(self.rfile.read(length).decode("utf-8"))
        status = self.server.status
        with self.server.lock:
            for url in fields.get("hub.url", [""]):
                mode = fields.get("hub.mode", [""])[0]
                self.server.pings.append(Ping(mode, url, status))
        body = b"ok" if status < 300 else b"hub is down"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Hub(ThreadingHTTPServer):
    """A WebSub hub on 127.0.0.1 that records every publish ping and answers `status`."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, status: int = 204, sock: socket.socket | None = None) -> None:
        if sock is None:
            super().__init__(("127.0.0.1", 0), HubHandler)
        else:  # listen on a port reserved by closed_port()
            super().__init__(sock.getsockname()[:2], HubHandler, bind_and_activate=False)
            self.socket.close()
            self.socket = sock
            self.server_activate()
        self.status = status
        self.pings: list[Ping] = []
        self.lock = threading.Lock()
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def snapshot(self) -> list[Ping]:
        with self.lock:
            return list(self.pings)

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)


def closed_port() -> socket.socket:
    """A socket bound to a free port of 127.0.0.1 that does not listen: a connection to
    it is refused, and no other process (a second test run beside this one) can take the
    port before a `Hub` listens on it (`Hub(sock=...)`)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


# --- fixtures ------------------------------------------------------------------------


@dataclass
class Setup:
    tmp: Path
    src: Path
    out: Path

    def run_args(self, *extra: str, interval: str = "1s", serve: bool = True) -> list[str]:
        args = [
            "run",
            "--source",
            str(self.src),
            "--output",
            str(self.out),
            "--links",
            "off",
            "--interval",
            interval,
        ]
        if serve:
            args += ["--serve", "127.0.0.1:0"]
        return args + list(extra)


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    src = tmp_path / "src"
    for number in range(1, 4):
        write_article(src, f"a{number}.md", n=number)
    return Setup(tmp_path, src, tmp_path / "out")


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[[list[str]], Daemon]]:
    """Start `aggregator ARGS` and wait until it is up (signals handled, scheduler on)."""
    started: list[Daemon] = []

    def start_(args: list[str]) -> Daemon:
        daemon = Daemon(args, tmp_path)
        started.append(daemon)
        daemon.wait_for(r"running every|config reloaded")
        daemon.startup = time.monotonic() - daemon.spawned
        return daemon

    yield start_
    for daemon in started:
        daemon.close()


@pytest.fixture
def hubs() -> Iterator[Callable[..., Hub]]:
    made: list[Hub] = []

    def make(status: int = 204, sock: socket.socket | None = None) -> Hub:
        hub = Hub(status, sock)
        made.append(hub)
        return hub

    yield make
    for hub in made:
        hub.close()


# --- new files, removed files --------------------------------------------------------


def test_a_new_article_appears_and_a_removed_one_disappears(
    setup: Setup, start: Callable[[list[str]], Daemon]
) -> None:
    daemon = start(setup.run_args())
    port = daemon.port
    first = wait_until(
        lambda: (links := served_entries(port)) is not None and len(links) == 3 and links,
        what="a served feed with 3 entries",
    )
    assert sorted(first) == [f"https://news.example.com/story-{n}" for n in (1, 2, 3)]

    # The second run that ends after the change started after it: it must show it
    # (the first may have listed the folder before the change).
    mark = daemon.mark()
    add_article(setup.src, "a4.md", n=4)
    daemon.wait_runs(2, after=mark)
    links = served_entries(port)
    assert links is not None and len(links) == 4
    assert "https://news.example.com/story-4" in links
    assert "https://news.example.com/story-4" in (served_entries(port, "/all.atom") or [])

    mark = daemon.mark()
    (setup.src / "a1.md").unlink()
    daemon.wait_runs(2, after=mark)
    assert sorted(served_entries(port) or []) == [
        f"https://news.example.com/story-{n}" for n in (2, 3, 4)
    ]
    assert sorted(served_entries(port, "/topics/ai.atom") or []) == [
        f"https://news.example.com/story-{n}" for n in (2, 3, 4)
    ]
    assert daemon.alive()
    assert daemon.stop() == 0
    assert temp_files(setup.out) == []


# --- a feed reader -------------------------------------------------------------------


class Reader:
    """A feed reader: conditional polls with feedparser, remembering the ids it showed."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.etag: str | None = None
        self.modified: str | None = None
        self.shown: Counter[str] = Counter()  # entry id -> times shown as new
        self.statuses: list[int] = []

    def poll(self) -> list[str]:
        """Poll once; the ids shown as new by this poll."""
        result = feedparser.parse(
            self.url,
            etag=self.etag,
            modified=self.modified,
            handlers=[urllib.request.ProxyHandler({})],
        )
        status = int(result.get("status", 0))
        self.statuses.append(status)
        assert status in (200, 304), (status, result.get("bozo_exception"))
        if status == 304:
            assert not result.entries
            return []
        assert not result.bozo, result.get("bozo_exception")
        self.etag = result.get("etag") or self.etag
        self.modified = result.get("modified") or self.modified
        new = [entry.id for entry in result.entries if entry.id not in self.shown]
        for entry_id in new:
            self.shown[entry_id] += 1
        return new


def test_a_feed_reader_sees_each_entry_once_and_gets_304_when_unchanged(
    setup: Setup, start: Callable[[list[str]], Daemon]
) -> None:
    daemon = start(setup.run_args())
    daemon.wait_runs(1, after=0)
    reader = Reader(daemon.url("/all.atom"))
    first = reader.poll()
    assert reader.statuses == [200]
    assert len(first) == 3
    assert reader.etag is not None

    for number in (4, 5):
        # Nothing changed over the next run: every poll is a 304.
        mark = daemon.mark()
        daemon.wait_runs(1, after=mark)
        assert reader.poll() == []
        assert reader.poll() == []
        assert reader.statuses[-2:] == [304, 304]
        mark = daemon.mark()
        add_article(setup.src, f"a{number}.md", n=number)
        new: list[str] = []
        # Until the second run after the change has ended (the first may have listed
        # the folder before it), a poll may still see the old feed; then it must not.
        while not new and len(daemon.run_lines(mark)) < 2:
            new = reader.poll()
            if not new:
                assert reader.statuses[-1] == 304
                time.sleep(0.2)
        if not new:
            new = reader.poll()
        # Only the new article is new to the reader: the others kept their ids.
        assert len(new) == 1, new
        assert new[0].endswith(f"story-{number}")
        assert reader.poll() == []
        assert reader.statuses[-1] == 304

    # Every id the reader holds is still in the feed: no entry came back under a new id.
    full = feedparser.parse(http_get(daemon.port, "/all.atom").body)
    assert {entry.id for entry in full.entries} == set(reader.shown)
    assert len(reader.shown) == 5
    assert reader.statuses.count(200) == 3, reader.statuses
    assert reader.statuses.count(304) >= 6
    assert daemon.stop() == 0


# --- /healthz ------------------------------------------------------------------------


def test_healthz_follows_failing_and_recovering_runs(
    setup: Setup, start: Callable[[list[str]], Daemon]
) -> None:
    daemon = start(setup.run_args())
    first = daemon.wait_runs(1, after=0)
    assert "run ok" in first[0]
    status, data = health(daemon.port)
    assert status == 200, data
    assert data["last_run_status"] == "ok"
    assert data["status"] == "ok"
    assert data["counts"]["loaded"] == 3
    assert data["counts"]["published"] == 3
    assert data["counts"]["feeds"] == 6
    assert "last_error" not in data
    assert datetime.fromisoformat(data["last_success_at"])

    # The sources folder disappears: runs fail, the daemon stays up and says why in
    # its log; /healthz, which anyone can read, says only that it fails.
    away = setup.tmp / "src-away"
    mark = daemon.mark()
    setup.src.rename(away)
    failed = daemon.wait_for(r"run failed", after=mark)
    line = daemon.lines[failed]
    assert str(setup.src) in line, line
    assert "Traceback" not in daemon.text()
    failing = http_get(daemon.port, "/healthz")
    assert failing.status == 503, failing.body
    data = json.loads(failing.body)
    assert data["status"] == "failing"
    assert data["last_run_status"] == "failed"
    assert "last_error" not in data
    assert str(setup.tmp).encode() not in failing.body  # no path of this machine
    assert b"source folder not found" not in failing.body
    assert daemon.alive()
    daemon.wait_for(r"run failed", after=failed + 1)  # and again: the daemon goes on
    assert daemon.alive()
    assert http_get(daemon.port, "/all.rss").status == 200  # the old feeds stand

    # The folder is back: the next run succeeds and the daemon is healthy again.
    mark = daemon.mark()
    away.rename(setup.src)
    daemon.wait_for(r"run ok", after=mark)
    status, data = health(daemon.port)
    assert status == 200, data
    assert data["last_run_status"] == "ok"
    assert "last_error" not in data
    assert data["counts"]["published"] == 3
    assert daemon.alive()
    assert daemon.stop() == 0


# --- SIGHUP --------------------------------------------------------------------------


def feed_title(path: Path) -> str:
    title: str = parse(path.read_bytes()).feed.title
    return title


def test_sighup_reloads_the_config_and_keeps_it_when_invalid(
    setup: Setup, start: Callable[[list[str]], Daemon]
) -> None:
    conf = setup.tmp / "conf.yaml"
    conf.write_text("title: One\n", encoding="utf-8")
    daemon = start(setup.run_args("--config", str(conf), serve=False))
    daemon.wait_runs(1, after=0)
    assert feed_title(setup.out / "all.rss") == "One: all topics"
    assert feed_title(setup.out / "topics" / "ai.atom") == "One: AI"

    mark = daemon.mark()
    conf.write_text("title: Two\n", encoding="utf-8")
    daemon.send(signal.SIGHUP)
    daemon.wait_for(r"config reloaded", after=mark)
    # topics/ai.rss is written after the all-topics feeds: wait for the run to reach it
    wait_until(
        lambda: (
            feed_title(setup.out / "all.rss") == "Two: all topics"
            and feed_title(setup.out / "topics" / "ai.rss") == "Two: AI"
        ),
        what="the new title in all.rss and topics/ai.rss",
    )
    assert feed_title(setup.out / "all.atom") == "Two: all topics"
    assert feed_title(setup.out / "topics" / "ai.rss") == "Two: AI"
    assert "Two" in (setup.out / "index.html").read_text(encoding="utf-8")

    before_broken = daemon.mark()
    for broken in ("title: [unclosed\n", "title: Three\nno_such_key: 1\n"):
        mark = daemon.mark()
        conf.write_text(broken, encoding="utf-8")
        daemon.send(signal.SIGHUP)
        index = daemon.wait_for(r"config not reloaded", after=mark)
        assert str(conf) in daemon.lines[index], daemon.lines[index]
        # Runs go on, with the old config.
        runs = daemon.wait_runs(1, after=index)
        assert all("run ok" in run for run in runs), runs
        assert daemon.alive()
        assert feed_title(setup.out / "all.rss") == "Two: all topics"
    assert "config reloaded" not in "\n".join(daemon.lines[before_broken:])
    assert daemon.stop() == 0


def test_sighup_that_changes_the_feeds_runs_at_once_and_one_that_does_not_waits(
    setup: Setup, start: Callable[[list[str]], Daemon]
) -> None:
    """An hour between runs: a reload that changes what the feeds are made of (here the
    source folders) runs now; one that changes only the schedule starts no run."""
    other = setup.tmp / "other"
    write_article(other, "o1.md", n=41, webUrl="https://news.example.com/other-41")
    conf = setup.tmp / "conf.yaml"
    conf.write_text(f"sources: [{setup.src}]\ninterval: 1h\n", encoding="utf-8")
    args = ["run", "--config", str(conf), "--output", str(setup.out), "--links", "off"]
    daemon = start([*args, "--serve", "127.0.0.1:0"])
    daemon.wait_runs(1, after=0)
    assert "https://news.example.com/other-41" not in (served_entries(daemon.port) or [])

    mark = daemon.mark()
    conf.write_text(f"sources: [{setup.src}, {other}]\ninterval: 1h\n", encoding="utf-8")
    sent = time.monotonic()
    daemon.send(signal.SIGHUP)
    daemon.wait_for(r"config reloaded", after=mark)
    daemon.wait_runs(1, after=mark)
    took = time.monotonic() - sent
    assert "https://news.example.com/other-41" in (served_entries(daemon.port) or [])

    mark = daemon.mark()
    conf.write_text(f"sources: [{setup.src}, {other}]\ninterval: 2h\n", encoding="utf-8")
    daemon.send(signal.SIGHUP)
    index = daemon.wait_for(r"config reloaded", after=mark)
    assert "7200 s" in daemon.lines[index], daemon.lines[index]
    time.sleep(5 * took)  # five times what the run after the first reload took to come
    assert daemon.stop() == 0
    assert not [line for line in daemon.lines[mark:] if " run ok " in f" {line} "]


def test_sighup_during_a_scheduled_run_runs_once_more_after_it(
    setup: Setup, start: Callable[[list[str]], Daemon]
) -> None:
    """The run in progress read the old config, and the scheduler skips a second one
    meanwhile: the new config is run right after it, not an hour later."""
    write_many(setup.src, 3000)
    conf = setup.tmp / "conf.yaml"
    conf.write_text(f"sources: [{setup.src}]\ntitle: One\n", encoding="utf-8")
    args = ["run", "--config", str(conf), "--output", str(setup.out), "--links", "off"]
    daemon = start([*args, "--interval", "1h", "--serve", "127.0.0.1:0"])
    daemon.wait_for(r"leader: this daemon builds and publishes")
    conf.write_text(f"sources: [{setup.src}]\ntitle: Two\n", encoding="utf-8")
    daemon.send(signal.SIGHUP)  # while the first run reads the files, mostly
    wait_until(lambda: served_title(daemon.port) == "Two: all topics", what="the new title served")
    assert daemon.stop() == 0


def served_title(port: int, path: str = "/all.rss") -> str | None:
    """The title of a served feed, or None when it is not there."""
    answer = http_get(port, path)
    if answer.status != 200:
        return None
    title: str = parse(answer.body).feed.title
    return title


def test_sighup_with_a_new_output_moves_the_server(
    setup: Setup, start: Callable[[list[str]], Daemon]
) -> None:
    """The server follows the output folder: from the first run that completes there,
    it serves the new folder; a reload that would publish the state file is refused,
    and the server stays where it was."""
    conf = setup.tmp / "conf.yaml"
    conf.write_text(f"sources: [{setup.src}]\noutput: out\ntitle: One\n", encoding="utf-8")
    args = ["run", "--config", str(conf), "--links", "off", "--interval", "1s"]
    daemon = start([*args, "--serve", "127.0.0.1:0"])
    daemon.wait_runs(1, after=0)
    assert served_title(daemon.port) == "One: all topics"

    mark = daemon.mark()
    conf.write_text(f"sources: [{setup.src}]\noutput: moved\ntitle: Two\n", encoding="utf-8")
    daemon.send(signal.SIGHUP)
    daemon.wait_for(r"config reloaded", after=mark)
    daemon.wait_for(r"now serving .*moved", after=mark)
    assert served_title(daemon.port) == "Two: all topics"
    assert served_title(daemon.port, "/topics/ai.atom") == "Two: AI"
    assert feed_title(setup.tmp / "moved" / "all.rss") == "Two: all topics"
    assert feed_title(setup.out / "all.rss") == "One: all topics"  # the old folder stays
    assert (setup.tmp / ".moved-state.sqlite").is_file()

    # An output that would hold the state file: refused, saying why; nothing moves.
    mark = daemon.mark()
    conf.write_text(
        f"sources: [{setup.src}]\noutput: third\nstate: third/state.sqlite\ntitle: Three\n",
        encoding="utf-8",
    )
    daemon.send(signal.SIGHUP)
    index = daemon.wait_for(r"config not reloaded", after=mark)
    assert f"{conf}:3: state: " in daemon.lines[index], daemon.lines[index]
    assert f"inside the output folder {setup.tmp / 'third'}" in daemon.lines[index]
    daemon.wait_runs(2, after=index)  # runs go on with the old config
    assert served_title(daemon.port) == "Two: all topics"
    assert not (setup.tmp / "third").exists()
    assert daemon.alive()
    assert daemon.stop() == 0
    assert "Traceback" not in daemon.text()


def test_the_longest_interval_and_ttls_are_held_by_the_daemon(
    setup: Setup, start: Callable[[list[str]], Daemon]
) -> None:
    """At the ends of their ranges: the scheduler, /healthz and the link results hold
    them, and the daemon stops as usual."""
    conf = setup.tmp / "conf.yaml"
    conf.write_text(
        "link_check: {ttl_ok: 36500d, ttl_transient: 36500d, ttl_transient_max: 36500d,"
        " confirm_after: 36500d, timeout: 1d, deadline: 1d}\nmax_age: 36500d\n",
        encoding="utf-8",
    )
    daemon = start([*setup.run_args("--config", str(conf), interval="36500d"), "--links", "on"])
    first = daemon.wait_runs(1, after=0)
    assert "run ok" in first[0], daemon.text()
    status, data = health(daemon.port)
    assert status == 200, data
    assert data["interval_s"] == 36500 * 86400
    assert daemon.stop() == 0
    assert "Traceback" not in daemon.text()


# --- stopping ------------------------------------------------------------------------


def test_sigterm_mid_run_exits_0_and_leaves_valid_feeds(
    setup: Setup, start: Callable[[list[str]], Daemon]
) -> None:
    assert run_cli("build", "--source", setup.src, "--output", setup.out).returncode == 0
    before = assert_every_feed_parses(setup.out)
    write_many(setup.src, 6000)  # a run now takes a second or more
    daemon = start(setup.run_args(interval="1h", serve=False))
    time.sleep(0.3)
    assert daemon.run_lines() == [], "the first run ended before the signal"
    assert daemon.stop(signal.SIGTERM) == 0
    assert daemon.run_lines() == [], daemon.text()  # it stopped, it did not complete
    assert "Traceback" not in daemon.text()
    after = assert_every_feed_parses(setup.out)
    assert set(after) == set(before)
    assert temp_files(setup.out) == []
    assert not list(setup.out.parent.glob(".aggregator-*.tmp"))


def test_sigterm_while_writing_leaves_valid_feeds(
    setup: Setup, start: Callable[[list[str]], Daemon]
) -> None:
    """Signals at many points of runs that write: every file stays whole, no temp files."""
    write_many(setup.src, 1500)
    for delay in (0.05, 0.4, 0.7):
        # Each run writes: the newest article changes every time.
        add_article(setup.src, f"fresh-{delay}.md", n=int(delay * 100) + 10)
        daemon = start(setup.run_args(interval="1h", serve=False))
        time.sleep(delay)
        assert daemon.stop(signal.SIGTERM) == 0, daemon.text()
        assert "Traceback" not in daemon.text()
        if setup.out.exists():
            assert_every_feed_parses(setup.out, some=False)
            assert temp_files(setup.out) == []


def test_sigterm_while_waiting_for_the_lock_exits_promptly(
    setup: Setup, start: Callable[[list[str]], Daemon]
) -> None:
    """Another writer holds the output folder: the run waits, but SIGTERM ends the wait."""
    lock = OutputLock(setup.out)
    lock.acquire()
    try:
        daemon = start(setup.run_args(interval="1h", serve=False))
        time.sleep(0.5)  # the first run is waiting for the lock now
        assert daemon.run_lines() == []
        assert daemon.stop(signal.SIGTERM) == 0
        assert feed_files(setup.out) == {}  # it never wrote beside the holder
    finally:
        lock.release()


def test_sigterm_while_the_hub_hangs_exits_promptly(
    setup: Setup, start: Callable[[list[str]], Daemon]
) -> None:
    """A hub that takes the connection and never answers must not hold up shutdown."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)  # connections complete in the backlog; nothing ever answers
        conf = websub_config(setup, f"http://127.0.0.1:{silent.getsockname()[1]}/")
        daemon = start(setup.run_args("--config", str(conf), interval="1h", serve=False))
        wait_until(lambda: len(feed_files(setup.out)) == 6, what="the feeds written")
        time.sleep(0.5)  # the run is pinging the hub now
        assert daemon.run_lines() == []
        # The ping may run to its timeout (websub.TIMEOUT), no longer.
        assert daemon.stop(signal.SIGTERM, allowed=websub.TIMEOUT) == 0
    assert_every_feed_parses(setup.out)
    assert temp_files(setup.out) == []


def test_sigint_exits_0(setup: Setup, start: Callable[[list[str]], Daemon]) -> None:
    daemon = start(setup.run_args())
    daemon.wait_runs(1, after=0)
    assert http_get(daemon.port, "/all.rss").status == 200
    assert daemon.stop(signal.SIGINT) == 0
    assert "Traceback" not in daemon.text()
    assert temp_files(setup.out) == []
    assert_every_feed_parses(setup.out)


def test_sigterm_exits_0_and_closes_the_server(
    setup: Setup, start: Callable[[list[str]], Daemon]
) -> None:
    daemon = start(setup.run_args())
    daemon.wait_runs(1, after=0)
    port = daemon.port
    assert daemon.stop(signal.SIGTERM) == 0
    assert re.search(r"\bstopped\b", daemon.text())
    assert temp_files(setup.out) == []
    with pytest.raises(OSError):
        http_get(port, "/all.rss")


# --- one writer at a time ------------------------------------------------------------


def test_build_waits_for_a_held_lock_then_gives_up_naming_the_holder(setup: Setup) -> None:
    lock = OutputLock(setup.out)
    lock.acquire()
    try:
        started = time.monotonic()
        result = run_cli(
            "build", "--source", setup.src, "--output", setup.out, "--wait", "1s", "-q"
        )
        waited = time.monotonic() - started
    finally:
        lock.release()
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert f"pid {os.getpid()}" in lines[0]
    assert str(setup.out) in lines[0]
    assert waited >= 1
    assert "Traceback" not in result.stderr
    assert feed_files(setup.out) == {}
    assert not (setup.out / "index.html").exists()

    again = run_cli("build", "--source", setup.src, "--output", setup.out, "--wait", "1s")
    assert again.returncode == 0, again.stderr
    assert len(assert_every_feed_parses(setup.out)) == 6


def test_two_builds_at_once_never_interleave(setup: Setup) -> None:
    write_many(setup.src, 3000)
    args = [sys.executable, "-m", "aggregator", "build", "--source", str(setup.src)]
    args += ["--output", str(setup.out), "--links", "off", "--wait", "60s"]
    procs = [
        subprocess.Popen(
            args,
            cwd=setup.tmp,
            env=offline_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = []
    try:
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=PATIENCE)
            outputs.append((proc.returncode, stdout, stderr))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    assert [code for code, _, _ in outputs] == [0, 0], outputs
    written = sorted(re.search(r"feeds: (\d+) written", out).group(1) for _, out, _ in outputs)  # type: ignore[union-attr]
    # One wrote every feed; the other waited, then found them complete and unchanged.
    assert written == ["0", "6"], outputs
    feeds = assert_every_feed_parses(setup.out)
    assert len(parse(feeds["all.rss"]).entries) == 50
    assert len(parse(feeds["all.atom"]).entries) == 50
    assert temp_files(setup.out) == []


def test_a_lock_left_by_a_killed_process_never_blocks(setup: Setup) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from pathlib import Path\n"
            "from aggregator.publishing.lock import OutputLock\n"
            "OutputLock(Path(sys.argv[1])).acquire()\n"
            "print('locked', flush=True)\n"
            "time.sleep(60)\n",
            str(setup.out),
        ],
        env=offline_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        assert lock_path(setup.out).read_text().strip() == str(holder.pid)
        holder.kill()
        holder.wait(timeout=10)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=10)
        if holder.stdout is not None:
            holder.stdout.close()
    assert lock_path(setup.out).exists()
    # The yardstick: the same build into a folder nobody ever locked.
    started = time.monotonic()
    result = run_cli("build", "--source", setup.src, "--output", setup.tmp / "free")
    assert result.returncode == 0, result.stderr
    baseline = time.monotonic() - started
    # Had the build waited for the lock, it would give up after the wait, and fail.
    wait = f"{math.ceil(20 * baseline)}s"
    started = time.monotonic()
    result = run_cli("build", "--source", setup.src, "--output", setup.out, "--wait", wait)
    assert result.returncode == 0, result.stderr
    took = time.monotonic() - started
    assert took < 5 * baseline, (took, baseline)
    assert_every_feed_parses(setup.out)


def test_a_lock_file_naming_a_dead_pid_never_blocks(setup: Setup) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=10)
    path = lock_path(setup.out)
    path.write_text(f"{dead.pid}\n", encoding="ascii")
    result = run_cli("build", "--source", setup.src, "--output", setup.out, "--wait", "1s")
    assert result.returncode == 0, result.stderr
    assert_every_feed_parses(setup.out)


# --- WebSub --------------------------------------------------------------------------


def websub_config(setup: Setup, hub_url: str) -> Path:
    conf = setup.tmp / "conf.yaml"
    conf.write_text(f"base_url: {BASE_URL}\nwebsub:\n  hub: {hub_url}\n", encoding="utf-8")
    return conf


def feed_links(data: bytes) -> set[tuple[str, str]]:
    """(rel, href) of every Atom link element of a feed (RSS carries them as atom:link);
    of a JSON Feed, its feed_url as "self" and its hubs as "hub"."""
    if data.startswith(b"{"):
        feed = json.loads(data)
        return {("self", feed["feed_url"])} | {("hub", h["url"]) for h in feed.get("hubs", [])}
    root = ElementTree.fromstring(data)
    return {
        (element.get("rel", ""), element.get("href", ""))
        for element in root.iter(f"{{{ATOM_NS}}}link")
    }


def urls_of(paths: Iterator[str] | set[str] | list[str]) -> set[str]:
    return {BASE_URL + path for path in paths}


def test_websub_pings_exactly_the_changed_feeds(
    setup: Setup, start: Callable[[list[str]], Daemon], hubs: Callable[..., Hub]
) -> None:
    hub = hubs()
    conf = websub_config(setup, hub.url)
    daemon = start(setup.run_args("--config", str(conf), serve=False))
    daemon.wait_runs(1, after=0)

    # The first run writes every feed and pings every one of them, once.
    feeds = feed_files(setup.out)
    assert set(feeds) == {
        f"{stem}.{ext}" for stem in ("all", "topics/ai") for ext in ("rss", "atom", "json")
    }
    pings = hub.snapshot()
    assert {p.mode for p in pings} == {"publish"}
    assert sorted(p.url for p in pings) == sorted(urls_of(set(feeds)))

    # Every feed names the hub and itself.
    for path, data in feeds.items():
        links = feed_links(data)
        assert ("hub", hub.url) in links, (path, links)
        assert ("self", BASE_URL + path) in links, (path, links)

    # Nothing changed: nothing is pinged.
    mark = daemon.mark()
    daemon.wait_runs(1, after=mark)
    assert len(hub.snapshot()) == len(pings)

    # A new article in topic Robots only: exactly the feeds whose bytes changed.
    seen = len(hub.snapshot())
    mark = daemon.mark()
    add_article(setup.src, "robot.md", n=9, topics=["Robots"], title="Robots take over")
    daemon.wait_changed_run(after=mark)
    now = feed_files(setup.out)
    changed = {path for path, data in now.items() if feeds.get(path) != data}
    assert {
        f"{stem}.{ext}" for stem in ("all", "topics/robots") for ext in ("rss", "atom", "json")
    } <= changed
    assert "topics/ai.rss" not in changed
    new_pings = hub.snapshot()[seen:]
    assert sorted(p.url for p in new_pings) == sorted(urls_of(changed))
    assert all(p.mode == "publish" for p in new_pings)
    for path, data in now.items():
        assert ("hub", hub.url) in feed_links(data), path
        assert ("self", BASE_URL + path) in feed_links(data), path

    # And after that, nothing again.
    total = len(hub.snapshot())
    mark = daemon.mark()
    daemon.wait_runs(1, after=mark)
    assert len(hub.snapshot()) == total
    assert daemon.stop() == 0


@pytest.mark.parametrize("failure", ["500", "closed port"])
def test_a_failing_hub_is_logged_and_pinged_again_when_it_works(
    failure: str,
    setup: Setup,
    start: Callable[[list[str]], Daemon],
    hubs: Callable[..., Hub],
) -> None:
    if failure == "500":
        hub: Hub | None = hubs(status=500)
        assert hub is not None
        hub_url = hub.url
    else:
        hub = None
        reserved = closed_port()
        hub_url = f"http://127.0.0.1:{reserved.getsockname()[1]}/"
    conf = websub_config(setup, hub_url)
    daemon = start(setup.run_args("--config", str(conf), serve=False))
    first = daemon.wait_runs(1, after=0)
    assert "run ok" in first[0], first

    # The hub fails: logged, and publishing goes on.
    feeds = assert_every_feed_parses(setup.out)
    refused = [line for line in daemon.lines if "will try again" in line]
    assert refused, daemon.text()
    assert any(hub_url in line for line in refused)
    if hub is not None:
        assert {p.status for p in hub.snapshot()} == {500}
        assert {p.url for p in hub.snapshot()} == urls_of(set(feeds))

    mark = daemon.mark()
    add_article(setup.src, "robot.md", n=9, topics=["Robots"], title="Robots take over")
    daemon.wait_changed_run(after=mark)
    feeds = assert_every_feed_parses(setup.out)
    assert "topics/robots.rss" in feeds
    assert "https://news.example.com/story-9" in [e.link for e in parse(feeds["all.rss"]).entries]

    # The hub works again: every feed still unannounced is pinged after the next run.
    if hub is None:
        hub = hubs(sock=reserved)
    else:
        hub.status = 204
    working = hub

    def announced() -> Counter[str]:
        return Counter(p.url for p in working.snapshot() if p.status < 300)

    wait_until(
        lambda: set(announced()) == urls_of(set(feeds)),
        what="every feed announced once the hub works",
    )
    daemon.wait_runs(1, after=daemon.mark())
    assert set(announced().values()) == {1}, announced()  # each once, then no more
    assert set(announced()) == urls_of(set(feed_files(setup.out)))
    assert daemon.alive()
    assert daemon.stop() == 0


# --- JSON logs -----------------------------------------------------------------------


def json_lines(text: str) -> list[dict[str, Any]]:
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
        assert isinstance(record, dict), line
        records.append(record)
    return records


def check_record(record: dict[str, Any]) -> None:
    assert {"time", "level", "message"} <= set(record), record
    assert datetime.fromisoformat(record["time"]).tzinfo is not None
    assert record["level"] in ("debug", "info", "warning", "error", "critical")
    assert isinstance(record["message"], str) and record["message"]


def test_json_logs_one_object_per_line(setup: Setup, start: Callable[[list[str]], Daemon]) -> None:
    daemon = start(setup.run_args("--log-format", "json"))
    daemon.wait_runs(1, after=0)
    assert http_get(daemon.port, "/all.rss").status == 200
    # A failing run logs as JSON too.
    mark = daemon.mark()
    away = setup.tmp / "src-away"
    setup.src.rename(away)
    daemon.wait_for(r'"status": "failed"', after=mark)
    mark = daemon.mark()
    away.rename(setup.src)
    daemon.wait_for(r'"status": "ok"', after=mark)
    assert daemon.stop() == 0

    records = json_lines(daemon.text())
    assert len(records) >= 5
    for record in records:
        check_record(record)
    runs = [r for r in records if r.get("event") == "run"]
    assert len(runs) >= 3
    ok = [r for r in runs if r["status"] == "ok"]
    failed = [r for r in runs if r["status"] == "failed"]
    assert ok and failed
    for record in ok:
        assert record["level"] == "info"
        assert record["loaded"] == 3
        assert record["published"] == 3
        assert record["feeds"] == 6
        assert record["invalid"] == 0
        assert "feeds_changed" in record
        assert "duration_s" in record
    assert ok[0]["feeds_changed"] == 6
    for record in failed:
        assert record["level"] == "error"
        assert str(setup.src) in record["error"]
    assert any(record["message"].startswith("serving ") for record in records)


def test_a_line_break_in_a_file_name_is_one_log_line(
    setup: Setup, start: Callable[[list[str]], Daemon]
) -> None:
    """The daemon's plain log: each record one line, a file named with a line break
    in it (an invalid file, logged as a warning) written with the break escaped."""
    forged = "forged.md:1: injected"
    (setup.src / f"bad\n{forged}.md").write_text("---\ntitle: [unclosed\n---\n", "utf-8")
    daemon = start(setup.run_args(serve=False))
    daemon.wait_runs(1, after=0)
    assert daemon.stop() == 0
    lines = daemon.text().splitlines()
    assert not [line for line in lines if line.startswith(forged)], lines
    assert [line for line in lines if "WARNING" in line and f"bad\\n{forged}.md:" in line]


def test_json_logs_stay_json_when_a_run_outlasts_the_interval(
    setup: Setup, start: Callable[[list[str]], Daemon]
) -> None:
    """A run longer than the interval skips the next one; that is logged as JSON too."""
    write_many(setup.src, 3000)  # a run takes longer than half a second
    daemon = start(setup.run_args("--log-format", "json", interval="500ms", serve=False))
    daemon.wait_runs(2, after=0)
    assert daemon.stop() == 0
    records = json_lines(daemon.text())
    for record in records:
        check_record(record)
    assert [r["status"] for r in records if r.get("event") == "run"][:2] == ["ok", "ok"]


# --- several daemons on one PostgreSQL state ------------------------------------------

#: the interval of the daemons sharing a state: a killed leader is replaced within two
SHARED_INTERVAL = 6.0


def shared_args(setup: Setup, pg_url: str, name: str, *extra: str) -> list[str]:
    """`run` for a daemon of its own machine: its own output folder, the one state."""
    return [
        "run",
        "--source",
        str(setup.src),
        "--output",
        str(setup.tmp / name),
        "--state",
        pg_url,
        "--interval",
        f"{SHARED_INTERVAL:g}s",
        "--serve",
        "127.0.0.1:0",
        *extra,
    ]


def role_of(daemon: Daemon) -> str | None:
    role = health(daemon.port)[1].get("role")
    return str(role) if role is not None else None


def test_two_daemons_one_leads_and_a_killed_leader_is_replaced_within_two_intervals(
    setup: Setup, start: Callable[[list[str]], Daemon], pg_url: str
) -> None:
    leader = start(shared_args(setup, pg_url, "out-a", "--links", "off"))
    leader.wait_for(r"leader: this daemon builds and publishes")
    follower = start(shared_args(setup, pg_url, "out-b", "--links", "off"))
    follower.wait_for(r"follower: .* leads; this daemon builds nothing")
    assert role_of(leader) == "leader"
    assert role_of(follower) == "follower"
    # Its health is its first run's, once that run is over (it takes the role first).
    follower.wait_for(r"run ok in .* as a follower")
    status, body = health(follower.port)
    assert status == 200 and body["status"] == "ok"
    wait_until(lambda: len(served_entries(leader.port) or []) == 3, what="the leader's feed")
    # The follower built nothing: its folder serves no feed.
    assert served_entries(follower.port) is None
    mark = follower.mark()

    leader.proc.kill()
    killed = time.monotonic()
    add_article(setup.src, "a4.md", n=4)
    follower.wait_for(r"leader: this daemon builds and publishes", after=mark)
    links = wait_until(
        lambda: (found := served_entries(follower.port)) and len(found) == 4 and found,
        what="the new leader's feed with the new article",
    )
    took = time.monotonic() - killed
    assert "https://news.example.com/story-4" in links
    assert took <= 2 * SHARED_INTERVAL, f"replaced after {took:.1f} s"
    assert role_of(follower) == "leader"
    assert follower.stop() == 0


def test_two_daemons_request_each_link_once_and_keep_the_per_host_limits(
    setup: Setup, start: Callable[[list[str]], Daemon], pg_url: str, tmp_path: Path
) -> None:
    from farm import Farm  # the loopback farm, as the link checker's tests use it

    # Each daemon's two workers are busy at one host (two in flight, each answer
    # taking longer than min_interval), so the leader leaves the other hosts to the
    # follower when it comes: both check links, never at the same host at once.
    hosts, per_host = 3, 2
    farm = Farm(hosts=hosts)
    try:
        for path in setup.src.iterdir():
            path.unlink()
        urls = []
        for host in range(hosts):
            for n in range(10):
                number = host * 10 + n + 1
                url = farm.url(host, f"/t/s{number}/hold?s=0.5")
                urls.append(url)
                write_article(setup.src, f"s{number}.md", n=number, webUrl=url, images=None)
        config = tmp_path / "shared.yaml"
        config.write_text(
            f"link_check:\n  per_host: {per_host}\n  workers: 2\n  min_interval: 100ms\n"
            "  allow_private: true\n",
            encoding="utf-8",
        )
        extra = ("--config", str(config), "--links", "on")
        leader = start(shared_args(setup, pg_url, "out-a", *extra))
        leader.wait_for(r"leader: this daemon builds and publishes")
        follower = start(shared_args(setup, pg_url, "out-b", *extra))
        follower.wait_for(r"follower: .* leads; .* it helps check links")
        # Two runs of each: the second of each finds every result fresh.
        leader.wait_runs(2, after=0)
        follower.wait_runs(2, after=0)
        entries = wait_until(
            lambda: (found := served_entries(leader.port)) and len(found) == len(urls) and found,
            what="the leader's feed with every article",
        )
        assert sorted(entries) == sorted(urls)
        runs = f"leader: {leader.run_lines()}; follower: {follower.run_lines()}"
        for host in range(hosts):
            log = farm.log(host)
            wanted = sorted(f"/t/s{host * 10 + n + 1}/hold" for n in range(10))
            assert sorted(log.hits) == wanted, runs
            assert set(log.hits.values()) == {1}, (log.hits, runs)  # once across both
            assert log.max_in_flight <= per_host, runs
        assert leader.stop() == 0
        assert follower.stop() == 0
    finally:
        farm.close()


def test_two_daemons_on_a_bucket_publish_what_one_cold_build_would(
    tmp_path: Path,
    pg_url: str,
    s3server: S3Server,
    farm: Farm,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The shape of the held-out check of issue 18: two daemons, each on a machine of
    its own (its own working folder, so its own staging folder and mirror), on one
    PostgreSQL state and one S3 server, articles in a bucket and feeds to a bucket,
    links answered by the loopback farm. Each URL is requested once across both; the
    leader, killed with SIGKILL, is replaced and the other publishes a new article
    within two intervals; the bucket ends as a local cold build of the same articles."""
    import s3fs

    for name, value in s3server.env().items():
        monkeypatch.setenv(name, value)  # the daemons' environment too
    fs = s3fs.S3FileSystem(
        key=ADMIN[0], secret=ADMIN[1], endpoint_url=s3server.endpoint, skip_instance_cache=True
    )
    for bucket in ("articles", "feeds"):
        if not fs.exists(bucket):
            fs.mkdir(bucket)
    run = uuid.uuid4().hex[:8]
    source, output = f"articles/d{run}", f"feeds/d{run}"

    def put_article(number: int) -> str:
        url = farm.url(number % 3, f"/t/s{number}/ok")
        fields = article_fields(n=number, webUrl=url, images=None, topics=[f"T{number % 2}"])
        fs.pipe_file(f"{source}/s{number}.md", front_matter(fields).encode("utf-8"))
        return url

    def bucket_objects() -> dict[str, bytes]:
        fs.invalidate_cache()
        return {p[len(output) + 1 :]: fs.cat_file(p) for p in fs.find(output)}

    def published_links() -> list[str]:
        fs.invalidate_cache()
        if not fs.exists(f"{output}/all.rss"):
            return []
        parsed = feedparser.parse(fs.cat_file(f"{output}/all.rss"))
        return [] if parsed.bozo else [entry.link for entry in parsed.entries]

    urls = [put_article(number) for number in range(1, 7)]
    config = tmp_path / "shared.yaml"
    config.write_text("link_check:\n  allow_private: true\n", encoding="utf-8")
    common = ["--config", str(config), "--source", f"s3://{source}", "--links", "on"]
    # The interval: three cold builds of the corpus from the bucket, as measured here
    # (links off: the farm must see each URL once, from the daemons).
    (tmp_path / "probe").mkdir()
    started = time.monotonic()
    probe = run_cli(
        "build", *common[:4], "--links", "off", "--output", "out", cwd=tmp_path / "probe"
    )
    assert probe.returncode == 0, probe.stderr
    interval = max(3, math.ceil(3 * (time.monotonic() - started)))

    machines: list[Daemon] = []
    try:

        def start_on(machine: str) -> Daemon:
            (tmp_path / machine).mkdir()
            args = [
                *["run", *common, "--output", f"s3://{output}", "--state", pg_url],
                *["--interval", f"{interval}s"],
            ]
            daemon = Daemon(args, tmp_path / machine)
            machines.append(daemon)
            daemon.wait_for(r"running every")
            daemon.startup = time.monotonic() - daemon.spawned
            return daemon

        leader = start_on("a")
        leader.wait_for(r"leader: this daemon builds and publishes")
        follower = start_on("b")
        follower.wait_for(r"follower: .* leads; .* it helps check links")
        wait_until(lambda: sorted(published_links()) == sorted(urls), what="the leader's feeds")
        mark = follower.mark()
        leader.proc.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        urls.append(put_article(7))
        wait_until(
            lambda: urls[-1] in published_links(), what="the new article, published by the other"
        )
        took = time.monotonic() - killed
        assert took <= 2 * interval, f"published {took:.1f} s after the kill ({interval} s runs)"
        follower.wait_for(r"leader: this daemon builds and publishes", after=mark)
        follower.wait_changed_run(after=mark)  # the run that published: its upload is done
        for host in range(3):
            log = farm.log(host)
            assert set(log.hits.values()) == {1}, log.hits  # each URL once across both
        assert sum(len(farm.log(host).hits) for host in range(3)) == len(urls)
        assert follower.stop() == 0
    finally:
        for daemon in machines:
            daemon.close()

    (tmp_path / "c").mkdir()
    cold = run_cli("build", *common, "--output", "local", cwd=tmp_path / "c")
    assert cold.returncode == 0, cold.stderr
    local = tmp_path / "c" / "local"
    expected = {
        p.relative_to(local).as_posix(): p.read_bytes()
        for p in sorted(local.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }
    assert {"all.rss", "topics/t0.rss", "topics/t1.rss", "index.html"} <= set(expected)
    assert bucket_objects() == expected
