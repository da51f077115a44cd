"""The documented deployment stays true to the program."""

from __future__ import annotations

import configparser
import shlex

from conftest import ROOT

from aggregator.cli import _parser


def test_the_systemd_unit_runs_a_command_the_cli_accepts() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(ROOT / "deploy" / "aggregator.service", encoding="utf-8")
    command = shlex.split(unit["Service"]["ExecStart"])
    assert command[0].endswith("/aggregator")
    args = _parser().parse_args(command[1:])
    assert args.command == "run"
    assert args.serve == ("127.0.0.1", 8080)
    assert unit["Service"]["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert unit["Service"]["KillSignal"] == "SIGTERM"
    for option in ("NoNewPrivileges", "ProtectSystem", "PrivateTmp", "ProtectHome"):
        assert option in unit["Service"]
