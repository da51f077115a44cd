"""Disk and state faults: a full disk, a read-only output folder, a locked or corrupt
state file. Each gives one clear line and exit 1 from the CLI with the previous feeds
untouched (same bytes, same mtimes, no temporary file left), or, for a corrupt state
file, moves it aside and rebuilds; the daemon recovers on the next cycle once the
fault is gone.

Faults are real where the test can make them (a tmpfs filled to the brim, a read-only
bind mount: both need root and mount; chmod when not root) and injected otherwise, at
the operating-system boundary, by tests/faults/sitecustomize.py in the subprocess.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import feedparser
import pytest
from conftest import OFFLINE
from conftest import ROOT
from conftest import write_article

pytestmark = pytest.mark.e2e

FAULTS = ROOT / "tests" / "faults"
CONTROL = "faults.txt"


# --- running the command with faults ----------------------------------------------


def env_for(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    paths = (str(FAULTS), str(OFFLINE), env.get("PYTHONPATH", ""))
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env["AGGREGATOR_TEST_FAULTS"] = str(tmp_path / CONTROL)
    env.pop("JOURNAL_STREAM", None)
    return env


def build(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aggregator", "build", *base_args(), *extra],
        cwd=tmp_path,
        env=env_for(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def base_args() -> list[str]:
    return ["--source", "articles", "--output", "out", "--links", "off"]


def snapshot(out: Path) -> dict[str, tuple[bytes, int]]:
    """Every file (temporary ones too) with its bytes and mtime."""
    return {
        p.relative_to(out).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != ".filler"
    }


def links(out: Path, name: str = "all.atom") -> list[str]:
    parsed = feedparser.parse((out / name).read_bytes())
    assert not parsed.bozo, parsed.get("bozo_exception")
    return [entry.link for entry in parsed.entries]


def one_error_line(done: subprocess.CompletedProcess[str], *words: str) -> str:
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("aggregator: error: "), lines
    for word in words:
        assert word in lines[0], lines
    return lines[0]


def can_mount() -> bool:
    if os.geteuid() != 0:
        return False
    probe = Path(f"/tmp/aggregator-mount-probe-{os.getpid()}")
    probe.mkdir(exist_ok=True)
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            return False
        subprocess.run(["umount", str(probe)], check=True)
        return True
    except OSError:
        return False
    finally:
        probe.rmdir()


MOUNT = can_mount()


# --- the faults ----------------------------------------------------------------------


class Disk:
    """Makes the output folder full or read-only, for real or injected."""

    def __init__(self, tmp_path: Path, how: str) -> None:
        self.tmp = tmp_path
        self.out = tmp_path / "out"
        self.how = how
        self.mounts: list[Path] = []
        self.out.mkdir()
        if how == "real-full":
            self._mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", str(self.out))

    def _mount(self, *args: str) -> None:
        subprocess.run(["mount", *args], check=True)
        self.mounts.append(self.out)

    def full(self, midway: bool = False) -> None:
        """No space left; `midway`: room for a file or two, not for a whole run."""
        if self.how == "real-full":
            filler = self.out / ".filler"
            with open(filler, "wb") as handle, contextlib.suppress(OSError):
                while True:  # until the filesystem has no block left
                    handle.write(b"\0" * 65536)
                    handle.flush()
            if midway:
                os.truncate(filler, filler.stat().st_size - 24 * 1024)
        else:
            after = " 2" if midway else ""
            (self.tmp / CONTROL).write_text(f"enospc {self.out}{after}\n", encoding="utf-8")

    def read_only(self) -> None:
        if self.how == "real-read-only":
            if os.geteuid() == 0:
                self._mount("--bind", str(self.out), str(self.out))
                subprocess.run(["mount", "-o", "remount,ro,bind", str(self.out)], check=True)
            else:
                for folder in [self.out, *[p for p in self.out.rglob("*") if p.is_dir()]]:
                    folder.chmod(0o555)
        else:
            (self.tmp / CONTROL).write_text(f"erofs {self.out}\n", encoding="utf-8")

    def heal(self) -> None:
        (self.tmp / CONTROL).unlink(missing_ok=True)
        if self.how == "real-full":
            (self.out / ".filler").unlink(missing_ok=True)
        if self.how == "real-read-only":
            if os.geteuid() == 0:
                while len(self.mounts) > (1 if self.how == "real-full" else 0):
                    subprocess.run(["umount", str(self.mounts.pop())], check=True)
            else:
                for folder in [self.out, *[p for p in self.out.rglob("*") if p.is_dir()]]:
                    folder.chmod(0o755)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.heal()
        while self.mounts:
            subprocess.run(["umount", str(self.mounts.pop())], check=False)


@pytest.fixture
def disk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Disk]:
    how: str = request.param
    if how == "real-full" and not MOUNT:
        pytest.skip("a small real filesystem needs root and mount; the injected fault runs")
    if how == "real-read-only" and os.geteuid() == 0 and not MOUNT:
        pytest.skip("root writes through chmod and cannot mount; the injected fault runs")
    made = Disk(tmp_path, how)
    yield made
    made.close()


def corpus(tmp_path: Path, count: int) -> None:
    for n in range(1, count + 1):
        write_article(tmp_path / "articles", f"a{n:02}.md", n=n, excerpt="Some text. " * 40)


# --- disk full, read-only ------------------------------------------------------------


@pytest.mark.parametrize("midway", [False, True], ids=["full", "fills-up-midway"])
@pytest.mark.parametrize("disk", ["injected", "real-full"], indirect=True)
def test_a_full_disk_leaves_the_previous_feeds_untouched(
    disk: Disk, tmp_path: Path, midway: bool
) -> None:
    corpus(tmp_path, 5)
    assert build(tmp_path).returncode == 0
    before = snapshot(disk.out)
    corpus(tmp_path, 8)  # every feed changes: three newer entries
    disk.full(midway)
    line = one_error_line(build(tmp_path), "No space left on device")
    assert snapshot(disk.out) == before, line  # same bytes, same mtimes, no temp file
    disk.heal()
    done = build(tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(links(disk.out)) == 8
    assert not list(disk.out.rglob(".aggregator-*"))


@pytest.mark.parametrize("disk", ["injected", "real-read-only"], indirect=True)
def test_a_read_only_output_folder_leaves_the_previous_feeds_untouched(
    disk: Disk, tmp_path: Path
) -> None:
    corpus(tmp_path, 3)
    assert build(tmp_path).returncode == 0
    before = snapshot(disk.out)
    corpus(tmp_path, 6)
    disk.read_only()
    line = one_error_line(build(tmp_path), "out")
    assert "Read-only file system" in line or "Permission denied" in line, line
    assert snapshot(disk.out) == before
    disk.heal()
    assert build(tmp_path).returncode == 0
    assert len(links(disk.out)) == 6


# --- the state file ------------------------------------------------------------------


def test_a_locked_state_file_is_one_clear_error_and_is_left_alone(tmp_path: Path) -> None:
    corpus(tmp_path, 3)
    assert build(tmp_path).returncode == 0
    state = tmp_path / ".out-state.sqlite"
    before = snapshot(tmp_path / "out")
    corpus(tmp_path, 5)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "db.execute('BEGIN EXCLUSIVE')\n"
            "print('locked', flush=True)\n"
            "time.sleep(60)\n",
            str(state),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        line = one_error_line(build(tmp_path), ".out-state.sqlite: state file is locked by another")
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    assert snapshot(tmp_path / "out") == before, line
    assert not list(tmp_path.glob("*.corrupt-*"))  # busy is not corrupt: nothing moved
    assert build(tmp_path).returncode == 0
    assert len(links(tmp_path / "out")) == 5


def integrity(state: Path) -> str:
    with contextlib.closing(sqlite3.connect(state)) as db:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])


def test_a_state_file_that_is_not_a_database_is_moved_aside_and_rebuilt(
    tmp_path: Path,
) -> None:
    corpus(tmp_path, 3)
    state = tmp_path / ".out-state.sqlite"
    garbage = b"this is not SQLite\n" * 300
    state.write_bytes(garbage)
    done = build(tmp_path)
    assert done.returncode == 0, done.stderr
    warning = [line for line in done.stderr.splitlines() if "corrupt" in line]
    assert len(warning) == 1 and "moved aside" in warning[0], done.stderr
    assert (tmp_path / ".out-state.sqlite.corrupt-1").read_bytes() == garbage
    assert integrity(state) == "ok"
    assert len(links(tmp_path / "out")) == 3


def corrupt_table(state: Path, table: str) -> None:
    """Overwrite the root page of one table with garbage, as a bad disk block would."""
    with contextlib.closing(sqlite3.connect(state)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,))
        page = root.fetchone()[0]
    with open(state, "r+b") as handle:
        handle.seek((page - 1) * page_size)
        handle.write(b"\xa5" * page_size)


def test_corruption_inside_the_state_file_is_one_error_then_a_fresh_start(
    tmp_path: Path,
) -> None:
    corpus(tmp_path, 3)
    old = 1_600_000_000  # old enough for the parse cache, so the state holds rows
    for path in (tmp_path / "articles").iterdir():
        os.utime(path, (old, old))
    assert build(tmp_path).returncode == 0
    state = tmp_path / ".out-state.sqlite"
    before = snapshot(tmp_path / "out")
    corrupt_table(state, "parsed")
    write_article(tmp_path / "articles", "new.md", n=9)
    line = one_error_line(build(tmp_path), "state file is corrupt", "moved aside")
    assert snapshot(tmp_path / "out") == before, line  # nothing trusted, nothing written
    assert (tmp_path / ".out-state.sqlite.corrupt-1").exists()
    done = build(tmp_path)
    assert done.returncode == 0, done.stderr
    assert integrity(state) == "ok"
    assert len(links(tmp_path / "out")) == 4


# --- the daemon recovers -------------------------------------------------------------


class Run:
    """`aggregator run` with faults, its log lines collected from a file."""

    def __init__(self, tmp_path: Path) -> None:
        self.log = tmp_path / "daemon.log"
        self.handle = open(self.log, "w", encoding="utf-8")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aggregator", "run", *base_args(), "--interval", "300ms"],
            cwd=tmp_path,
            env=env_for(tmp_path),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.handle,
        )

    def lines(self) -> list[str]:
        return self.log.read_text(encoding="utf-8").splitlines()

    def wait_for(self, word: str, after: int, timeout: float = 300) -> tuple[int, str]:
        """The first line from `after` on holding `word`; `timeout` only guards against
        waiting forever (it is no measure of speed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self.lines()
            for index in range(after, len(lines)):
                if word in lines[index]:
                    return index, lines[index]
            assert self.proc.poll() is None, "\n".join(lines)
            time.sleep(0.05)
        raise AssertionError(f"no {word!r} after line {after}:\n" + "\n".join(self.lines()))

    def close(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=300)  # a guard against a hang, as above
        self.handle.close()
        return code


@pytest.mark.parametrize(("fault", "reason"), [("full", "No space left"), ("ro", "Read-only")])
def test_the_daemon_reports_a_disk_fault_and_recovers_once_it_is_gone(
    tmp_path: Path, fault: str, reason: str
) -> None:
    corpus(tmp_path, 3)
    disk = Disk(tmp_path, "injected")
    daemon = Run(tmp_path)
    try:
        daemon.wait_for("run ok", 0)
        before = snapshot(disk.out)
        disk.full() if fault == "full" else disk.read_only()
        corpus(tmp_path, 4)
        mark = len(daemon.lines())
        index, line = daemon.wait_for("run failed", mark)
        assert reason in line and "the next run goes on" in line, line
        index, line = daemon.wait_for("run failed", index + 1)  # and again, still up
        assert snapshot(disk.out) == before
        disk.heal()
        daemon.wait_for("run ok", index + 1)
        assert len(links(disk.out)) == 4
        assert "Traceback" not in "\n".join(daemon.lines())
    finally:
        assert daemon.close() == 0
        disk.close()
