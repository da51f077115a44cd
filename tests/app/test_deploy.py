"""The documented deployment stays true to the program."""

from __future__ import annotations

import configparser
import json
import os
import resource
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import OFFLINE
from conftest import ROOT

from aggregator.app.cli import _parser
from aggregator.app.connections import FD_HEADROOM
from aggregator.app.connections import MAX_CONNECTIONS

UNIT = ROOT / "deploy" / "aggregator.service"


def _service() -> configparser.SectionProxy:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(UNIT, encoding="utf-8")
    return unit["Service"]


def _all_values(key: str) -> list[str]:
    """Every value of a key the unit sets more than once (the parser keeps the last)."""
    lines = UNIT.read_text(encoding="utf-8").splitlines()
    return [line.split("=", 1)[1] for line in lines if line.startswith(key + "=")]


def test_the_systemd_unit_runs_a_command_the_cli_accepts() -> None:
    service = _service()
    command = shlex.split(service["ExecStart"])
    assert command[0].endswith("/aggregator")
    args = _parser().parse_args(command[1:])
    assert args.command == "run"
    assert args.serve == ("127.0.0.1", 8080)
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["KillSignal"] == "SIGTERM"
    for option in ("NoNewPrivileges", "ProtectSystem", "PrivateTmp", "ProtectHome"):
        assert option in service


def test_the_unit_gives_the_server_its_descriptors_and_never_kills_it_for_setrlimit() -> None:
    """The unit refuses setrlimit (`~@resources`): it gives the descriptors the server's
    connections need from the start, so the server has no reason to call it, and a
    refused call fails with an error (handled) rather than killing the daemon."""
    service = _service()
    assert int(service["LimitNOFILE"]) >= MAX_CONNECTIONS + FD_HEADROOM
    denied = [v for v in _all_values("SystemCallFilter") if v.startswith("~")]
    if any("@resources" in value.split() for value in denied):
        assert service["SystemCallErrorNumber"] == "EPERM"


#: a server started under an open-file limit (soft and hard, as systemd's LimitNOFILE=
#: sets both) reports whether it called setrlimit and how many connections it holds
_UNDER_LIMIT = """
import json, resource, sys
from pathlib import Path
resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]), int(sys.argv[2])))
calls = []
sys.addaudithook(lambda event, args: calls.append(args) if event == "resource.setrlimit" else None)
from aggregator.app.server import FeedApp, Server
server = Server(FeedApp(Path(sys.argv[3])), "127.0.0.1", 0)
server.close()
print(json.dumps({"setrlimit": len(calls), "total": server.limits.total}))
"""


def _start_under(soft: int, hard: int, folder: str) -> dict[str, int]:
    pythonpath = os.environ.get("PYTHONPATH", "")
    done = subprocess.run(
        [sys.executable, "-c", _UNDER_LIMIT, str(soft), str(hard), folder],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in (str(OFFLINE), pythonpath) if p),
        },
        check=True,
    )
    result: dict[str, int] = json.loads(done.stdout)
    return result


@pytest.mark.e2e
def test_under_the_units_open_file_limit_the_server_never_calls_setrlimit(tmp_path: Path) -> None:
    limit = int(_service()["LimitNOFILE"])
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < limit:
        pytest.skip(f"the hard open-file limit here ({hard}) is below the unit's ({limit})")
    under_unit = _start_under(limit, limit, str(tmp_path))
    assert under_unit == {"setrlimit": 0, "total": MAX_CONNECTIONS}
    # Below what it needs, it does raise its limit: the check above can see the call.
    below = _start_under(256, limit, str(tmp_path))
    assert below == {"setrlimit": 1, "total": MAX_CONNECTIONS}
