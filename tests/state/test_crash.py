"""Crash safety: `aggregator build` killed with SIGKILL at random moments, many times.

Two versions of a corpus (A, and B with other titles, excerpts and newer articles, on
the same topics) are built alternately into one output folder, and each build is
killed at a random moment (half of the kills late in the run, when it writes). After
every kill each feed, the index page and the OPML lists must be there, complete, and
byte for byte either version A's or version B's (whose feeds parse), and the state
file must pass SQLite's integrity check. The count of kills that left a mix of both
versions (killed while renaming) is printed. At the end an uninterrupted build succeeds and
leaves exactly version A and no temporary file.

CRASH_KILLS sets the number of kills (default 20); the `slow` test kills 200 times.
The same campaign runs with the state in PostgreSQL (the suite's server, tests/pg.py),
10 kills: there a killed build's transaction is rolled back by the server, and the
build after the last kill must leave version A byte for byte.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import feedparser
import pg
import pytest
from conftest import OFFLINE
from conftest import article_fields
from conftest import front_matter

pytestmark = pytest.mark.e2e

TOPICS = [f"Topic {n}" for n in range(40)]
FILES = 600


def write_corpus(folder: Path, version: str) -> None:
    """FILES articles on TOPICS; version B retitles a third and adds 30 newer ones."""
    folder.mkdir(parents=True)
    template = front_matter(
        article_fields(
            n=1,
            title="TITLE",
            excerpt="EXCERPT",
            webUrl="https://crash.example.com/story-NUM",
            topics=["TOPIC1", "TOPIC2", "TOPIC3"],
            publishedDateTime="2022-DATE",
        )
    )
    count = FILES + (30 if version == "B" else 0)
    for n in range(count):
        edited = version == "B" and n % 3 == 0
        text = (
            template.replace("NUM", str(n))
            .replace("TITLE", f"Story {n} {'revised' if edited else 'first'} {n * 7919 % 1009}")
            .replace("EXCERPT", f"What happened in story {n}, version {version}. " * 4)
            .replace("TOPIC1", TOPICS[n % 40])
            .replace("TOPIC2", TOPICS[n * 7 % 40])
            .replace("TOPIC3", TOPICS[n * 13 % 40])
            .replace("DATE", f"{n // 400 % 12 + 1:02}-{n % 28 + 1:02}T{n % 24:02}:00:00Z")
        )
        (folder / f"s{n:05}.md").write_text(text, encoding="utf-8")


def command(tmp_path: Path, version: str, out: str = "out", state: str | None = None) -> list[str]:
    source = str(tmp_path / version)
    chosen = ["--state", state] if state is not None else []
    return [
        *[sys.executable, "-m", "aggregator", "build", "--source", source, "--output", out],
        *chosen,
    ]


def env() -> dict[str, str]:
    environ = dict(os.environ)
    environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(OFFLINE), environ.get("PYTHONPATH", "")) if p
    )
    return environ


def run(tmp_path: Path, version: str, out: str = "out", state: str | None = None) -> float:
    started = time.monotonic()
    done = subprocess.run(
        [*command(tmp_path, version, out, state), "--links", "off", "-q"],
        cwd=tmp_path,
        env=env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return time.monotonic() - started


def files(out: Path) -> dict[str, bytes]:
    """Every file a reader can fetch (not the hidden temporary files of a killed run)."""
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def integrity(state: Path) -> str:
    with contextlib.closing(sqlite3.connect(state)) as db:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])


def kill_builds(tmp_path: Path, kills: int, states: tuple[str, str] | None = None) -> None:
    """The campaign; `states` (the killed builds' PostgreSQL database, the reference
    builds'), or None for the SQLite files beside each output folder."""
    state, ref_state = states if states is not None else (None, None)
    write_corpus(tmp_path / "A", "A")
    write_corpus(tmp_path / "B", "B")
    # The two complete versions, from a separate output folder and state.
    run(tmp_path, "A", "ref", ref_state)
    # How long a run lasts: the shortest of the two that change a version into the
    # other, as every killed run does (the first one builds from nothing).
    duration = run(tmp_path, "B", "ref", ref_state)
    version_b = files(tmp_path / "ref")
    duration = min(duration, run(tmp_path, "A", "ref", ref_state))
    version_a = files(tmp_path / "ref")
    assert set(version_a) == set(version_b)  # same topics: the same files
    changed = {name for name in version_a if version_a[name] != version_b[name]}
    assert len(changed) > 40, "the versions must differ in many files"
    # Every file of a kill is compared byte for byte with these: parse them once.
    for version in (version_a, version_b):
        for name, data in version.items():
            if name.endswith((".rss", ".atom")):
                parsed = feedparser.parse(data)
                assert not parsed.bozo, (name, parsed.get("bozo_exception"))

    out = tmp_path / "out"
    sqlite_state = tmp_path / ".out-state.sqlite"
    run(tmp_path, "A", state=state)
    assert files(out) == version_a
    rng = random.Random(int(os.environ.get("CRASH_SEED", "7")))
    seen: Counter[str] = Counter()
    for kill in range(kills):
        version = "B" if kill % 2 == 0 else "A"
        # Half the kills anywhere in the run, half in its last 40%, where it writes.
        delay = duration * (rng.uniform(0, 0.9) if kill % 4 < 2 else rng.uniform(0.5, 0.95))
        started = time.monotonic()
        process = subprocess.Popen(
            [*command(tmp_path, version, state=state), "--links", "off", "-q"],
            cwd=tmp_path,
            env=env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own group: worker processes die with it
        )
        time.sleep(delay)
        finished = process.poll() is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        code = process.wait()
        if finished:
            # Runs are shorter now than when measured (the machine got less busy): aim
            # the next kills within the shortest run seen.
            duration = min(duration, time.monotonic() - started)
        now = files(out)
        assert set(now) == set(version_a), f"kill {kill}: files missing or extra"
        kinds = set()
        for name, data in now.items():
            if data == version_a[name] and data == version_b[name]:
                continue
            assert data in (version_a[name], version_b[name]), f"kill {kill}: {name} is broken"
            kinds.add("A" if data == version_a[name] else "B")
        seen["finished" if code == 0 else "killed, a mix" if len(kinds) > 1 else "killed"] += 1
        if state is None:
            assert integrity(sqlite_state) == "ok", f"kill {kill}"
    print(f"\n{kills} kills at random moments: {dict(seen)}")
    assert seen["killed"] + seen["killed, a mix"] >= kills // 2, seen  # most kills hit a live run
    # The next build recovers: version A exactly, nothing left over.
    run(tmp_path, "A", state=state)
    assert files(out) == version_a
    assert not list(out.rglob(".aggregator-*"))
    if state is None:
        assert integrity(sqlite_state) == "ok"
    else:
        # Then B and A again: the state the kills left builds exactly what a state
        # that never saw a kill builds.
        run(tmp_path, "B", state=state)
        assert files(out) == version_b
        run(tmp_path, "A", state=state)
        assert files(out) == version_a


def test_builds_killed_at_random_moments_never_leave_a_broken_feed(tmp_path: Path) -> None:
    kill_builds(tmp_path, int(os.environ.get("CRASH_KILLS", "20")))


@pytest.mark.slow
def test_builds_killed_200_times_never_leave_a_broken_feed(tmp_path: Path) -> None:
    kill_builds(tmp_path, 200)


def test_builds_on_postgresql_killed_at_random_moments_never_leave_a_broken_feed(
    tmp_path: Path, pg_server: pg.Server, pg_url: str
) -> None:
    reference = pg_server.create()
    try:
        kill_builds(tmp_path, 10, (pg_url, pg_server.url(reference)))
    finally:
        pg_server.drop(reference)
