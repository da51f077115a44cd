"""The real `aggregator` command writing to a reader that is gone: a pipe whose read end
is closed (`aggregator build --progress 2>&1 | head -1`, a pager quit early). What it
writes there is lost; its work is not, and no traceback comes out."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import OFFLINE
from conftest import require_e2e
from conftest import write_article

pytestmark = pytest.mark.e2e


def run_closed(
    *args: str | Path, closed: str, cwd: Path, unbuffered: bool = False
) -> tuple[int, str, str]:
    """Run the command with `closed` ("stdout" or "stderr") a pipe no one reads (its
    read end closed before the command starts: every write to it fails with EPIPE):
    the exit code, and what came out on the other stream (the closed one's is "")."""
    require_e2e("the real aggregator command")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(OFFLINE), env.get("PYTHONPATH", "")) if p)
    env.pop("PYTHONUNBUFFERED", None)  # as a user runs it: stdout buffered in a pipe
    if unbuffered:  # (as many containers run it)
        env["PYTHONUNBUFFERED"] = "1"
    read, write = os.pipe()
    os.close(read)
    try:
        streams = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, closed: write}
        done = subprocess.run(
            [sys.executable, "-m", "aggregator", *map(str, args)],
            cwd=cwd,
            env=env,
            text=True,
            timeout=120,
            check=False,
            **streams,
        )
    finally:
        os.close(write)
    return done.returncode, done.stdout or "", done.stderr or ""


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    for n in range(1, 7):
        write_article(tmp_path / "src", f"{n:02}.md", n=n, images=None)
    (tmp_path / "src" / "broken.md").write_text("---\ntitle: [unclosed\n---\n", encoding="utf-8")
    return tmp_path / "src"


def build_args(corpus: Path, *more: str) -> list[str]:
    return ["build", "--source", str(corpus), "--output", "out", "--links", "off", *more]


def test_a_build_whose_progress_reader_is_gone_builds_and_keeps_its_state(
    tmp_path: Path, corpus: Path
) -> None:
    # Progress and the invalid file's line go to stderr, gone from the start.
    args = build_args(corpus, "--progress", "--strict", "--report", "report.json")
    code, out, _err = run_closed(*args, closed="stderr", cwd=tmp_path)
    assert code == 3  # --strict with an invalid file, as ever
    assert "published 6 articles" in out
    assert "full build" in out
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert [Path(e["path"]).name for e in report["errors"]] == ["broken.md"]
    assert (tmp_path / "out" / "index.html").exists()
    # The state was kept: the next build reads the one file that changed.
    write_article(corpus, "07.md", n=7, images=None)
    code, out, _err = run_closed(*build_args(corpus), closed="stderr", cwd=tmp_path)
    assert code == 0
    assert "incremental build: 1 file changed" in out


def test_a_build_whose_summary_reader_is_gone_writes_its_report_and_no_traceback(
    tmp_path: Path, corpus: Path
) -> None:
    args = build_args(corpus, "--progress", "--report", "report.json")
    code, _out, err = run_closed(*args, closed="stdout", cwd=tmp_path)
    assert code == 0
    assert "Traceback" not in err
    assert "BrokenPipe" not in err
    lines = err.splitlines()
    assert any(line.startswith(str(corpus / "broken.md")) for line in lines), err
    assert "writing feeds" in err  # the progress, on its own stream, went on
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["counts"]["published"] == 6


@pytest.mark.parametrize(
    "args",
    [
        ["topics", "--source", "src", "--json"],
        ["topics", "--source", "src"],
        ["feeds", "--json"],
        ["init", "site"],
        ["--version"],
        ["build", "--help"],
    ],
    ids=" ".join,
)
@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "unbuffered"])
def test_the_other_commands_lose_only_their_output(
    tmp_path: Path, corpus: Path, args: list[str], unbuffered: bool
) -> None:
    code, _out, err = run_closed(*args, closed="stdout", cwd=tmp_path, unbuffered=unbuffered)
    assert (code, err) == (0, "")
    if args[0] == "init":
        assert (tmp_path / "site" / "aggregator.yaml").exists()


def test_a_write_of_no_command_of_its_own_to_a_reader_that_is_gone_ends_as_sigpipe_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Whatever writes to stdout unguarded (a library's print): 128 + SIGPIPE, no traceback.
    from aggregator import __main__ as entry
    from aggregator.app import cli

    read, write = os.pipe()
    os.close(read)
    gone = os.fdopen(write, "w", encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", gone)
    errors = io.StringIO()
    monkeypatch.setattr(sys, "stderr", errors)
    monkeypatch.setattr(sys, "argv", ["aggregator", "topics"])

    def unguarded() -> int:
        print("x" * 100_000)  # (more than a buffer: written at once)
        return 0

    monkeypatch.setattr(cli, "command", unguarded)
    try:
        assert entry.command() == 141
        gone.write("more")
        gone.flush()  # the null device now: nothing raises at exit either
    finally:
        gone.close()
    assert errors.getvalue() == ""


def _command(
    *args: str | Path,
    cwd: Path,
    before: list[str] | None = None,
    unbuffered: bool = False,
    **streams: Any,
) -> subprocess.CompletedProcess[str]:
    """The command with `args` (after `before`: the interpreter and module by default)."""
    require_e2e("the real aggregator command")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(OFFLINE), env.get("PYTHONPATH", "")) if p)
    env.pop("PYTHONUNBUFFERED", None)  # as a user runs it: stdout buffered off a terminal
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    start = before if before is not None else [sys.executable, "-m", "aggregator"]
    return subprocess.run(
        [*start, *map(str, args)],
        cwd=cwd,
        env=env,
        text=True,
        timeout=120,
        check=False,
        **streams,
    )


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize(
    "args", [["--version"], ["init", "site"], ["build", "--help"]], ids=" ".join
)
@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "unbuffered"])
def test_output_to_a_full_disk_is_one_line_and_a_failure(
    tmp_path: Path, args: list[str], unbuffered: bool
) -> None:
    with open("/dev/full", "w", encoding="utf-8") as full:
        done = _command(
            *args, cwd=tmp_path, stdout=full, stderr=subprocess.PIPE, unbuffered=unbuffered
        )
    assert done.returncode == 1
    assert done.stderr == "aggregator: error: cannot write stdout: No space left on device\n"


@pytest.mark.parametrize("args", [["--version"], ["init", "site"]], ids=" ".join)
def test_a_command_started_with_stdout_closed_does_its_work(
    tmp_path: Path, args: list[str]
) -> None:
    # `aggregator init site >&-`: no stdout at all (Python's is None).
    shell = ["sh", "-c", 'exec "$@" >&-', "sh", sys.executable, "-m", "aggregator"]
    done = _command(*args, cwd=tmp_path, capture_output=True, before=shell)
    assert (done.returncode, done.stderr) == (0, "")
    if args[0] == "init":
        assert (tmp_path / "site" / "aggregator.yaml").exists()


def test_a_broken_pipe_of_something_else_is_an_error_not_a_gone_reader(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A pipe to a process that died (not stdout nor stderr): raised as any other error,
    # stdout left as it is.
    from aggregator import __main__ as entry
    from aggregator.app import cli

    read, write = os.pipe()
    out = os.fdopen(write, "w", encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.setattr(sys, "argv", ["aggregator", "topics"])

    def failing() -> int:
        print("before")
        other_read, other_write = os.pipe()
        os.close(other_read)
        try:
            os.write(other_write, b"x")
        finally:
            os.close(other_write)
        return 0

    monkeypatch.setattr(cli, "command", failing)
    try:
        with pytest.raises(BrokenPipeError):
            entry.command()
        out.write("after\n")
        out.flush()
    finally:
        out.close()
    with os.fdopen(read, encoding="utf-8") as got:
        assert got.read() == "before\nafter\n"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_progress_that_cannot_be_written_stops_the_progress_not_the_build(
    tmp_path: Path, corpus: Path
) -> None:
    args = build_args(corpus, "--progress", "--report", "report.json")
    with open("/dev/full", "w", encoding="utf-8") as full:
        done = _command(*args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=full)
    assert "published 6 articles" in done.stdout
    assert (tmp_path / "out" / "index.html").exists()
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert [Path(e["path"]).name for e in report["errors"]] == ["broken.md"]
    # The line naming the invalid file went nowhere: the command says it failed.
    assert done.returncode == 1
    (corpus / "broken.md").unlink()  # none to name: only progress was lost
    with open("/dev/full", "w", encoding="utf-8") as full:
        done = _command(*args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=full)
    assert done.returncode == 0
    assert "incremental build: 1 file changed" in done.stdout


def test_an_error_line_lost_to_a_full_stdout_is_said_on_stderr(
    tmp_path: Path, corpus: Path
) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full (Linux)")
    with open("/dev/full", "w", encoding="utf-8") as full:
        done = _command(*build_args(corpus), cwd=tmp_path, stdout=full, stderr=subprocess.PIPE)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[-1] == "aggregator: error: cannot write stdout: No space left on device"
    assert lines[0].startswith(str(corpus / "broken.md"))
    assert (tmp_path / "out" / "index.html").exists()


def test_a_build_with_stderr_closed_says_nothing_there_and_nothing_on_stdout(
    tmp_path: Path, corpus: Path
) -> None:
    # `2>&-`: the invalid file's line has nowhere to go; it never lands on stdout.
    shell = ["sh", "-c", 'exec "$@" 2>&-', "sh", sys.executable, "-m", "aggregator"]
    done = _command(*build_args(corpus), cwd=tmp_path, capture_output=True, before=shell)
    assert done.returncode == 0
    assert "broken.md" not in done.stdout
    assert done.stdout.splitlines()[0].startswith("loaded 6 articles, 1 invalid files")


def test_after_a_write_to_a_gone_reader_later_writes_are_lost_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The stream is dropped: a later write from anywhere (a library's print) raises not.
    from aggregator.app import cli

    read, write = os.pipe()
    os.close(read)
    with os.fdopen(write, "w", encoding="utf-8") as gone:
        monkeypatch.setattr(sys, "stdout", gone)
        cli.say("x" * 100_000)
        print("y" * 100_000)
        gone.flush()


class _Full(io.StringIO):
    """A stream on a full disk."""

    def write(self, text: str) -> int:
        raise OSError(28, "No space left on device")


def test_output_lost_by_one_command_does_not_fail_the_next(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # In one process (the library's user, a test): each command is judged on its own.
    from aggregator.app import cli

    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.setattr(sys, "stdout", _Full())
    assert cli.main(["init", str(tmp_path / "a")]) == 1
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert cli.main(["init", str(tmp_path / "b")]) == 0
    assert sys.stdout.getvalue().startswith("wrote ")


def test_output_in_an_encoding_that_cannot_hold_a_name_is_escaped(tmp_path: Path) -> None:
    # A title, topic or file name outside stdout's encoding: escaped, not a traceback.
    write_article(tmp_path / "in", "caf\u00e9.md", topics=["\u00c9tica \u2603"], published=True)
    (tmp_path / "in" / "b\u00e4d.md").write_text("---\ntitle: [\n---\n", encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(OFFLINE), env.get("PYTHONPATH", "")) if p)
    env["PYTHONIOENCODING"] = "ascii"
    for args in (
        ["validate", "in"],
        ["topics", "--source", "in"],
        ["topics", "--source", "in", "--json"],
    ):
        require_e2e("the real aggregator command")
        done = subprocess.run(
            [sys.executable, "-m", "aggregator", *args],
            cwd=tmp_path, env=env, capture_output=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == (1 if args[0] == "validate" else 0), done
        assert b"Traceback" not in done.stderr, done.stderr
        if "--json" in args:
            data = json.loads(done.stdout)
            assert "\u00c9tica \u2603" in [t["topic"] for t in data["topics"]]
            assert "in/b\u00e4d.md" in [e["path"] for e in data["excluded"]]
        else:
            assert b"b\\u00e4d.md:2: invalid YAML" in done.stdout, done.stdout
