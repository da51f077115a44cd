"""The servers a test session starts for itself (PostgreSQL for the state tests, the S3
gateway for the object-storage ones: tests/conftest.py) end with it, even when it is
ended by SIGTERM (`timeout`, `kill`, a CI job's time limit): they are not left running
beside the next session, nor their folders in /tmp. Run as a user runs the suite:
pytest in a subprocess, with the project's conftest, on every core (pytest-xdist: the
servers are then a worker's) or in one process (`-n 0`)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pg
import pytest
from conftest import ROOT
from s3server import REQUIRE as REQUIRE_S3

#: a test that holds both servers until it is stopped, and says where they are
#: (in a file beside it: what a worker of pytest-xdist prints goes nowhere)
HOLDING = """
import json
import time
from pathlib import Path


def test_hold(pg_server, s3server):
    pid = (pg_server.root / "data" / "postmaster.pid").read_text().split()[0]
    found = {"root": str(pg_server.root), "postgres": int(pid), "weed": s3server.proc.pid}
    said = Path(__file__).with_name("servers.json")
    said.with_suffix(".part").write_text(json.dumps(found))
    said.with_suffix(".part").replace(said)
    time.sleep(3600)
"""
#: seconds the servers may take to start, and the session to end: guards, not measures
PATIENCE = 180.0


def _running(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, ended but not reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: whether it can be signalled
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


@pytest.mark.e2e
@pytest.mark.parametrize("cores", [[], ["-n", "0"]], ids=["every core", "one process"])
def test_a_session_ended_by_sigterm_stops_its_servers(tmp_path: Path, cores: list[str]) -> None:
    test = tmp_path / "test_hold.py"
    test.write_text(HOLDING)
    command = [
        sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT),
        "-p", "conftest", "-p", "no:cacheprovider", "-q", *cores, str(test),
    ]  # fmt: skip
    servers: dict[str, object] = {}
    said: list[str] = []
    with subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as session:
        try:
            _stop_holding(session, tmp_path / "servers.json", servers, said)
        finally:
            if session.poll() is None:
                session.kill()
                session.wait()
            for name in ("postgres", "weed"):  # what a failure would leave: not left
                if name in servers and _running(int(str(servers[name]))):
                    os.kill(int(str(servers[name])), signal.SIGKILL)
            if "root" in servers:
                shutil.rmtree(str(servers["root"]), ignore_errors=True)


def _stop_holding(
    session: subprocess.Popen[str], told: Path, servers: dict[str, object], said: list[str]
) -> None:
    """Wait for the session's servers (`told` names them), SIGTERM it, check that it
    stopped them."""
    assert session.stdout is not None
    deadline = time.monotonic() + PATIENCE
    while not told.exists() and session.poll() is None:
        assert time.monotonic() < deadline, "the servers never started"
        time.sleep(0.05)
    if told.exists():
        servers.update(json.loads(told.read_text()))
    else:  # it ended: no server could start here
        said.extend(session.stdout)
        session.wait(PATIENCE)
        text = "".join(said)
        required = os.environ.get(pg.REQUIRE) or os.environ.get(REQUIRE_S3)
        if "skipped" in text and not required:
            pytest.skip("no PostgreSQL or S3 server can run here:\n" + text)
        pytest.fail("the session ended before its servers started:\n" + text)
    assert _running(int(str(servers["postgres"]))) and _running(int(str(servers["weed"])))
    session.send_signal(signal.SIGTERM)
    said.extend(session.stdout)
    session.wait(PATIENCE)
    text = "".join(said)
    # Ended by the signal, as its default would have, once its fixtures ended.
    assert session.returncode == -signal.SIGTERM, text
    assert "KeyboardInterrupt: stopped by signal 15 (SIGTERM)" in text
    # Stopped by their fixtures; or, when pytest-xdist ended a worker still stopping
    # them (`os._exit` 15 s after the session was stopped, on a busy machine), by the
    # guard of that worker (tests/reaper.py), which acts as soon as the worker ends.
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline and (
        _running(int(str(servers["postgres"])))
        or _running(int(str(servers["weed"])))
        or Path(str(servers["root"])).exists()
    ):
        time.sleep(0.05)
    assert not _running(int(str(servers["postgres"]))), text
    assert not _running(int(str(servers["weed"]))), text
    assert not Path(str(servers["root"])).exists(), text
