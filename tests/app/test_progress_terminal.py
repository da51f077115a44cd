"""Progress as a person sees it: the real `aggregator` command on a pseudo-terminal
(tests/terminal.py) shows each phase in place and leaves only its summary on the
screen; in a pipe it writes no control character at all.

The corpus is bench/corpus.py's, a few thousand files (enough for the parse to run on
worker processes and to be drawn a few times); links are checked against a real HTTP
server on 127.0.0.1.
"""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import OFFLINE
from conftest import ROOT
from conftest import answering
from conftest import run_cli
from conftest import write_article
from terminal import PtyProcess
from terminal import Screen
from terminal import drawn
from terminal import interruptible

from aggregator.app.progress import LABELS

pytestmark = pytest.mark.e2e

sys.path.insert(0, str(ROOT / "bench"))
import corpus  # noqa: E402  (bench/corpus.py: the benchmark's generator)

#: files of the generated corpus: past loader.PARALLEL_MIN_FILES, so the parse runs on
#: worker processes and its progress comes from them
FILES = 3000
COLUMNS = 72
READ, DEDUPE, LINKS, WRITE = (LABELS[p] for p in ("read", "dedupe", "links", "write"))


def offline_env() -> dict[str, str]:
    """The environment of `run_cli`: no DNS (tests/offline), not under journald."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(OFFLINE), env.get("PYTHONPATH", "")) if p)
    env.pop("JOURNAL_STREAM", None)
    env.pop("COLUMNS", None)  # the width is the terminal's
    return env


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("corpus") / "src"
    corpus.generate(folder, FILES, seed=3, processes=1)
    return folder


class _Pages(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def linked(tmp_path: Path) -> Iterator[Path]:
    """A folder of 40 articles whose links are pages of a real server on 127.0.0.1,
    and a config that lets them be checked quickly."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    server.daemon_threads = True
    port = server.server_address[1]
    for n in range(1, 41):
        url = f"http://127.0.0.1:{port}/story/{n}"
        write_article(tmp_path / "src", f"{n:02}.md", n=n, webUrl=url, images=None)
    (tmp_path / "aggregator.yaml").write_text(
        "link_check:\n  allow_private: true\n  min_interval: 1ms\n  per_host: 8\nmax_age: 36500d\n",
        encoding="utf-8",
    )
    with answering(server):
        yield tmp_path / "src"


def on_pty(args: list[str], cwd: Path, columns: int = COLUMNS) -> tuple[int, PtyProcess]:
    shell = PtyProcess(args, cwd=cwd, env=offline_env(), columns=columns)
    return shell.finish(), shell


def labels_drawn(raw: str) -> set[str]:
    return {label for line in drawn(raw) for label in LABELS.values() if line.startswith(label)}


def no_controls(text: str) -> bool:
    return not any((c < " " and c not in "\n\t") or c == "\x1b" or c == "\x7f" for c in text)


# --- on a terminal ---------------------------------------------------------------------


def test_a_build_on_a_terminal_shows_each_phase_and_leaves_only_its_summary(
    generated: Path, tmp_path: Path
) -> None:
    build = ["build", "--source", str(generated), "--output", "out", "--links", "off"]
    # The same cold build in a pipe first: what the screen must show at the end.
    piped = run_cli(*build, cwd=tmp_path)
    assert piped.returncode == 0, piped.stderr
    summary = (piped.stderr + piped.stdout).splitlines()
    assert summary and f"loaded {FILES} articles" in piped.stdout
    for made in (tmp_path / "out", tmp_path / ".out-state.sqlite"):
        assert made.exists()
        subprocess.run(["rm", "-rf", str(made)], check=True)

    code, shell = on_pty(build, tmp_path)
    assert code == 0, shell.output
    raw = shell.output
    assert labels_drawn(raw) == {READ, DEDUPE, WRITE}
    lines = drawn(raw)
    assert any(f"/{FILES:,}" in line for line in lines if line.startswith(READ))
    assert all(len(line) < COLUMNS for line in lines)  # never as wide as the terminal
    # The bar is gone: the summary is all the screen shows (long lines wrapped).
    shown = [line[i : i + COLUMNS] for line in summary for i in range(0, len(line), COLUMNS)]
    assert Screen(COLUMNS).feed(raw).text() == shown


def test_no_progress_on_a_terminal_draws_nothing(generated: Path, tmp_path: Path) -> None:
    code, shell = on_pty(
        ["build", "--source", str(generated), "--output", "out", "--links", "off", "--no-progress"],
        tmp_path,
    )
    assert code == 0, shell.output
    assert "\x1b" not in shell.output and "\r" not in shell.output.replace("\r\n", "")
    assert f"loaded {FILES} articles" in shell.output
    assert not any(label in shell.output for label in LABELS.values())


def test_quiet_on_a_terminal_draws_nothing(linked: Path, tmp_path: Path) -> None:
    code, shell = on_pty(["build", "--source", str(linked), "--output", "out", "-q"], tmp_path)
    assert code == 0, shell.output
    assert shell.output == ""


def test_check_links_on_a_terminal_shows_the_link_checks(linked: Path, tmp_path: Path) -> None:
    code, shell = on_pty(["check-links", "--source", str(linked)], tmp_path)
    assert code == 0, shell.output
    raw = shell.output
    assert {READ, LINKS} <= labels_drawn(raw)
    assert any(line.startswith(LINKS) and "40/40" in line for line in drawn(raw))
    screen = Screen(COLUMNS).feed(raw).text()
    assert screen[0] == "links: 40 checked, 40 requested (40 ok)", screen
    assert not any(label in line for line in screen for label in LABELS.values())


def test_a_build_with_links_on_a_terminal_shows_them_too(linked: Path, tmp_path: Path) -> None:
    code, shell = on_pty(["build", "--source", str(linked), "--output", "out"], tmp_path)
    assert code == 0, shell.output
    assert labels_drawn(shell.output) >= {READ, LINKS, WRITE}
    screen = Screen(COLUMNS).feed(shell.output).text()
    assert screen[0] == "loaded 40 articles, 0 invalid files, 0 duplicates dropped", screen


def test_the_daemon_started_on_a_terminal_shows_each_run_between_its_log_lines(
    generated: Path, tmp_path: Path
) -> None:
    args = ["run", "--source", str(generated), "--output", "out", "--links", "off"]
    shell = PtyProcess([*args, "--interval", "1h"], cwd=tmp_path, env=offline_env())
    try:
        shell.wait_for(" run ok in ", timeout=120)
    finally:
        shell.proc.send_signal(signal.SIGTERM)
    assert shell.finish() == 0, shell.output
    raw = shell.output
    assert {READ, WRITE} <= labels_drawn(raw)
    screen = Screen(COLUMNS).feed(raw).text()
    # Log lines only: each on a line of its own, none with a bar in it.
    assert any(" run ok in " in line for line in screen), screen
    assert not any(label in line for line in screen for label in LABELS.values()), screen


# --- in a pipe -------------------------------------------------------------------------


@pytest.mark.parametrize("links", ["off", "on"])
def test_in_a_pipe_nothing_but_plain_lines(linked: Path, tmp_path: Path, links: str) -> None:
    done = run_cli("build", "--source", linked, "--output", "out", "--links", links, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert no_controls(done.stdout) and no_controls(done.stderr)
    assert "loaded 40 articles" in done.stdout
    if links == "on":  # the one progress line there was before
        assert done.stderr.startswith("checking links: 40/40 done after "), done.stderr
    else:
        assert done.stderr == ""


def test_progress_asked_for_in_a_pipe_is_a_plain_line_per_phase(
    linked: Path, tmp_path: Path
) -> None:
    done = run_cli(
        "build", "--source", linked, "--output", "out", "--links", "on", "--progress", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert no_controls(done.stderr)
    said = [line.split(": ")[0] for line in done.stderr.splitlines()]
    assert said == [READ, DEDUPE, LINKS, WRITE], done.stderr
    assert "reading files: 40/40 done after " in done.stderr
    quiet = run_cli("check-links", "--source", linked, "--no-progress", cwd=tmp_path)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr


def test_check_links_json_in_a_pipe_says_nothing_on_stderr(linked: Path, tmp_path: Path) -> None:
    done = run_cli("check-links", "--source", linked, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_the_daemon_in_a_pipe_writes_no_control_character(linked: Path, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "aggregator", "run", "--source", str(linked), "--output", "out"],
        cwd=tmp_path,
        env=offline_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    lines: list[str] = []
    for line in proc.stderr:
        lines.append(line)
        if " run ok in " in line:
            break
    proc.send_signal(signal.SIGTERM)
    out, rest = proc.communicate(timeout=60)
    text = "".join(lines) + rest
    assert proc.returncode == 0, text
    assert " run ok in " in text
    assert no_controls(text) and no_controls(out)
    assert not any(label in text for label in LABELS.values())


def test_ctrl_c_leaves_neither_the_bar_nor_a_traceback(generated: Path, tmp_path: Path) -> None:
    """A Ctrl-C on a terminal reaches every process of the group: the parse workers too.
    They leave it to the command, which erases its line and ends with 130."""
    shell = PtyProcess(
        ["build", "--source", str(generated), "--output", "out", "--links", "off"],
        cwd=tmp_path,
        env=offline_env(),
        columns=COLUMNS,
    )
    shell.wait_for(READ, timeout=120)  # the parse workers are at work
    os.killpg(shell.proc.pid, signal.SIGINT)  # as the terminal sends it
    assert shell.finish() == 130
    assert "Traceback" not in shell.output and "KeyboardInterrupt" not in shell.output
    screen = shell.screen()
    assert not any(line.startswith(tuple(LABELS.values())) for line in screen), screen


def _interrupted(
    args: list[str],
    cwd: Path,
    ready: Callable[[int], bool],
    number: int = signal.SIGINT,
    group: bool | None = None,
) -> tuple[int, str, str]:
    """Start `args` in a session of its own, send its group a Ctrl-C (SIGINT, as a
    terminal does) once `ready(pid)`, and wait for it: exit code, stdout, stderr. Any
    other signal `number` is sent to the command's process alone, as `kill` does, or
    to its `group` (as `timeout` does)."""
    with interruptible():
        process = subprocess.Popen(
            args,
            cwd=cwd,
            env=offline_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
    try:
        while not ready(process.pid):
            assert process.poll() is None, process.communicate()
        if group or (group is None and number == signal.SIGINT):
            os.killpg(process.pid, number)
        else:
            process.send_signal(number)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, out, err


#: the number of write(2) in /proc/PID/syscall, by machine
_WRITE = {"x86_64": 1, "aarch64": 64}


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:  # the thread ended
            continue
    return found


@pytest.mark.skipif(
    platform.machine() not in _WRITE or (os.cpu_count() or 1) < 2,
    reason="needs Linux's /proc on x86_64 or aarch64, and two cores (workers)",
)
def test_sigterm_to_the_group_while_a_worker_hands_its_results_back_ends_the_command(
    generated: Path, tmp_path: Path
) -> None:
    """`timeout` and service managers send SIGTERM to every process of the group: a
    worker killed halfway through writing its results left the command waiting for the
    rest of them forever. The workers leave the signal to the command."""
    command = ["build", "--source", str(generated), "--output", "out", "--links", "off"]
    args = [sys.executable, "-m", "aggregator", *command, "--no-progress"]
    write = str(_WRITE[platform.machine()])

    def writing(pid: int) -> bool:
        for child in _children(pid):
            try:
                if (Path(f"/proc/{child}/syscall").read_text().split() or [""])[0] == write:
                    return True
            except OSError:
                continue
        return False

    code, out, err = _interrupted(args, tmp_path, writing, signal.SIGTERM, group=True)
    assert (code, out, err) == (-signal.SIGTERM, "", "")


def _running_in(group: int) -> list[str]:
    """The processes of the session `group` that still run (the workers a command
    started; one that ended and that no parent waited for, a zombie, does not run)."""
    running = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # it ended
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ")
            running.append(f"{stat.parent.name}: {command.decode(errors='replace')}")
    return running


@pytest.mark.skipif(
    not Path("/proc/self/task").is_dir() or (os.cpu_count() or 1) < 2,
    reason="needs Linux's /proc and two cores (a build starts workers on a second core)",
)
def test_sigterm_to_the_command_alone_stops_its_workers_and_says_nothing(
    generated: Path, tmp_path: Path
) -> None:
    """`kill PID` (or `timeout`, a service manager) while the workers parse: the command
    stops them and ends by the signal, as its default does, with nothing printed (no
    warning of semaphores the dead command leaked) and no process left behind."""
    command = ["build", "--source", str(generated), "--output", "out", "--links", "off"]
    args = [sys.executable, "-m", "aggregator", *command, "--no-progress"]
    pids: list[int] = []

    def parsing(pid: int) -> bool:
        pids.append(pid)
        return _starting_worker(pid)

    started = time.monotonic()
    code, out, err = _interrupted(args, tmp_path, parsing, signal.SIGTERM)
    took = time.monotonic() - started
    assert (code, out, err) == (-signal.SIGTERM, "", "")
    # The workers are waited for; multiprocessing's resource tracker ends once its
    # pipe closes, within a small part of what the command took (measured).
    deadline = time.monotonic() + 10 * took
    while (left := _running_in(pids[0])) and time.monotonic() < deadline:
        time.sleep(took / 100)
    assert left == []
    assert not list((tmp_path / "out").rglob(".aggregator-*"))


def _quiet(err: str) -> bool:
    return not any(t in err for t in ("Traceback", "KeyboardInterrupt", "Fatal Python error"))


def _starting_worker(pid: int) -> bool:
    """Whether process `pid` has a worker process (multiprocessing's `spawn`) that is
    past Python's start, which makes a Ctrl-C raise KeyboardInterrupt (SIGINT is among
    the signals it catches: `SigCgt`), and not yet at its pool's initializer, which
    ignores it."""
    sigint = 1 << (signal.SIGINT - 1)
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except OSError:  # the thread ended
            continue
        for child in children:
            try:
                command = Path(f"/proc/{child}/cmdline").read_bytes()
                status = Path(f"/proc/{child}/status").read_text()
            except OSError:
                continue
            fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
            if b"spawn_main" in command and int(fields.get("SigCgt", "0"), 16) & sigint:
                return True
    return False


@pytest.mark.skipif(
    not Path("/proc/self/task").is_dir() or (os.cpu_count() or 1) < 2,
    reason="needs Linux's /proc and two cores (a build starts workers on a second core)",
)
def test_ctrl_c_while_a_worker_starts_leaves_no_traceback(generated: Path, tmp_path: Path) -> None:
    """A worker takes a while to start (it imports what it runs); a Ctrl-C to the group
    meanwhile must not end it with a traceback of its own."""
    command = ["build", "--source", str(generated), "--output", "out", "--links", "off"]
    args = [sys.executable, "-m", "aggregator", *command, "--no-progress"]
    code, out, err = _interrupted(args, tmp_path, _starting_worker)
    assert code == 130, (out, err)
    assert _quiet(err), err


_RSS = (
    b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Blog</title>'
    b"<link>http://127.0.0.1/</link><description>A blog</description><item><title>A post"
    b"</title><link>http://127.0.0.1/post</link><guid>http://127.0.0.1/post</guid>"
    b"<pubDate>Mon, 01 Mar 2021 12:00:00 GMT</pubDate></item></channel></rss>"
)


class _Feed(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(_RSS)))
        self.end_headers()
        self.wfile.write(_RSS)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux's /proc")
def test_ctrl_c_while_the_feed_parser_starts_leaves_no_traceback(tmp_path: Path) -> None:
    """Remote feeds are read in a process of their own: a Ctrl-C while it starts is the
    command's to tell, as for the parse workers."""
    write_article(tmp_path / "src", "01.md", n=1)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Feed)
    server.daemon_threads = True
    feed = f"http://127.0.0.1:{server.server_address[1]}/feed.xml"
    command = ["build", "--source", "src", "--output", "out", "--links", "off", "--feed", feed]
    with answering(server):
        args = [sys.executable, "-m", "aggregator", *command, "--allow-private-links"]
        code, out, err = _interrupted(args, tmp_path, _starting_worker)
    assert code == 130, (out, err)
    assert _quiet(err), err


def _importing_yaml(pid: int) -> bool:
    """Whether process `pid` has loaded PyYAML's C extension: the command is then part
    way through importing its modules (many more follow: feedgen, lxml, requests)."""
    try:
        return "/_yaml." in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


_SCRIPT = Path(sys.executable).parent / "aggregator"


@pytest.mark.skipif(
    not Path("/proc/self/maps").is_file(), reason="needs Linux's /proc to see the imports"
)
@pytest.mark.parametrize(
    "command", [[sys.executable, "-m", "aggregator"], [str(_SCRIPT)]], ids=["-m", "script"]
)
def test_ctrl_c_while_the_command_imports_leaves_no_traceback(
    tmp_path: Path, command: list[str]
) -> None:
    if not Path(command[0]).is_file():
        pytest.skip(f"no console script at {command[0]} (the package is not installed)")
    if not yaml.__with_libyaml__:
        pytest.skip("PyYAML without its C extension: no import to see the command at")
    args = [*command, "build", "--source", str(tmp_path), "--output", "out", "--links", "off"]
    code, out, err = _interrupted(args, tmp_path, _importing_yaml)
    assert code == 130, (out, err)
    assert err == "" and out == ""


def _run_module(folder: Path, name: str, text: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m NAME ARGS` for a module of `text` written in `folder`, run there."""
    (folder / f"{name}.py").write_text(text)
    env = offline_env()
    env["PYTHONPATH"] = os.pathsep.join([str(folder), env["PYTHONPATH"]])
    return subprocess.run(
        [sys.executable, "-m", name, *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


#: a `python -m` module: the real entry point (`aggregator.__main__.command`) around a
#: command whose Ctrl-C lands in code run from a string, as one does while a module that
#: defines dataclasses is imported (`dataclasses` makes their methods with `exec`)
_IN_A_STRING = """
import sys
import aggregator.app.cli as cli
from aggregator.__main__ import command

def stop():
    raise KeyboardInterrupt

def interrupted(argv=None):
    try:
        {how}("stop()", {{"stop": stop}})
    except KeyboardInterrupt:
        if sys.argv[1] == "handled":
            return 0  # a command that ends well once it took the Ctrl-C
        raise
    return 3

cli.command = interrupted
raise SystemExit(command())
"""


@pytest.mark.parametrize("how", ["exec", "eval"])
@pytest.mark.parametrize(("outcome", "expected"), [("raised", 130), ("handled", 0)])
def test_a_ctrl_c_caught_in_code_run_from_a_string_keeps_the_exit_code(
    tmp_path: Path, how: str, outcome: str, expected: int
) -> None:
    """CPython marks a KeyboardInterrupt that ends code run from a string as unhandled,
    even when it is caught, and `python -m` then ended the command by SIGINT (-2) as it
    exited: a Ctrl-C while the command imported a module of dataclasses."""
    done = _run_module(tmp_path, "in_a_string", _IN_A_STRING.format(how=how), outcome)
    assert (done.returncode, done.stdout, done.stderr) == (expected, "", "")


#: a `python -m` module: the real command (`aggregator.__main__.command`, then
#: `cli.command`) around a `main` during which a Ctrl-C lands in a finalizer, as one
#: may in a weak reference's callback while a module is imported
_IN_A_FINALIZER = """
import os, signal, sys, time
import aggregator.app.cli as cli
from aggregator.__main__ import command

class Dropped:
    def __del__(self):
        raise KeyboardInterrupt

def main(argv=None, **_):
    if sys.argv[2] == "twice":  # another Ctrl-C comes as the first is taken in again
        getsignal = signal.getsignal
        def second(number):
            signal.getsignal = getsignal
            os.kill(os.getpid(), signal.SIGINT)
            return getsignal(number)
        signal.getsignal = second
    Dropped()  # gone at once: its Ctrl-C cannot be raised where it came
    if sys.argv[2] == "usage":
        raise SystemExit(2)  # as argparse ends a command line it cannot read
    end = time.monotonic() + float(sys.argv[1])
    while time.monotonic() < end:  # the rest of the command, waiting a step at a time
        time.sleep(0.05)
    print("finished")
    return 0

cli.main = main
raise SystemExit(command())
"""


@pytest.mark.parametrize(
    ("rest", "then"),
    [("600", "-"), ("0", "-"), ("600", "twice"), ("600", "usage")],
    ids=["long", "ending", "twice", "usage"],
)
def test_a_ctrl_c_python_cannot_raise_where_it_comes_still_stops_the_command(
    tmp_path: Path, rest: str, then: str
) -> None:
    """Python cannot raise a KeyboardInterrupt in a finalizer: it wrote "Exception
    ignored in ..." with a traceback, and the command went on as if no Ctrl-C came (for
    `run` or `serve` before their handlers are set: for ever). It is taken again at
    once, also when the command ends meanwhile (`ending`, and `usage`: by argparse's
    SystemExit), or when another Ctrl-C comes as it is (`twice`)."""
    done = _run_module(tmp_path, "in_a_finalizer", _IN_A_FINALIZER, rest, then)
    assert (done.returncode, done.stderr) == (130, "")
    # Stopped where it was: a command that ends meanwhile may have finished.
    assert done.stdout in (("",) if rest != "0" else ("", "finished\n"))


def test_sigterm_erases_the_bar_and_still_ends_the_command(generated: Path, tmp_path: Path) -> None:
    shell = PtyProcess(
        ["build", "--source", str(generated), "--output", "out", "--links", "off"],
        cwd=tmp_path,
        env=offline_env(),
        columns=COLUMNS,
    )
    shell.wait_for(READ, timeout=120)
    shell.proc.send_signal(signal.SIGTERM)  # as `timeout` or `kill` sends it
    assert shell.finish() == -signal.SIGTERM
    screen = shell.screen()
    assert not any(line.startswith(tuple(LABELS.values())) for line in screen), screen


def test_a_narrow_terminal_still_shows_the_counts(generated: Path, tmp_path: Path) -> None:
    code, shell = on_pty(
        ["build", "--source", str(generated), "--output", "out", "--links", "off"],
        tmp_path,
        columns=32,
    )
    assert code == 0, shell.output
    counts = [line for line in drawn(shell.output) if line.startswith(READ.strip())]
    assert any(f"/{FILES:,}" in line for line in counts), counts
    assert all(len(line) < 32 for line in drawn(shell.output))


#: what follows the line break in the hostile names below: a report line of its own,
#: were the break written as it is
FORGED = "forged.md:1: injected"


@pytest.mark.parametrize(
    "command", ["build", "build --verbose", "validate", "topics", "check-links"]
)
def test_a_line_break_in_a_file_name_cannot_forge_a_report_line(
    tmp_path: Path, command: str
) -> None:
    """Each file reported is one line, whatever its name holds: a name with a line
    break in it is written with the break escaped (`\\n`), never as two lines."""
    source = tmp_path / "src"
    write_article(source, "fine.md", n=1)
    (source / f"bad\n{FORGED}.md").write_text("---\ntitle: [unclosed\n---\n", "utf-8")
    write_article(source, f"off\n{FORGED}-2.md", n=2, published=False)
    write_article(source, f"low\n{FORGED}-3.md", n=3, quality=1)
    words = {
        "build": ["build", "--output", "out", "--links", "off"],
        "build --verbose": ["build", "--output", "out", "--links", "off", "--verbose"],
        "validate": ["validate", str(source)],
        "topics": ["topics"],
        "check-links": ["check-links"],
    }[command]
    if command != "validate":
        words += ["--source", str(source)]
    done = run_cli(*words, cwd=tmp_path)
    out = done.stdout + done.stderr
    assert done.returncode in (0, 1), out
    lines = out.splitlines()
    assert not [line for line in lines if line.startswith(FORGED)], out
    assert any(f"bad\\n{FORGED}.md:" in line for line in lines), out  # named, escaped
    if command in ("build --verbose", "topics"):  # the articles left out are listed
        assert any(f"off\\n{FORGED}-2.md" in line for line in lines), out
        assert any(f"low\\n{FORGED}-3.md" in line for line in lines), out


@pytest.mark.parametrize("command", ["build", "validate", "topics"])
def test_a_hostile_file_name_writes_no_control_character_to_a_pipe(
    tmp_path: Path, command: str
) -> None:
    source = tmp_path / "src"
    write_article(source, "fine.md", n=1)
    bad = source / "bad-\x1b[31mred-\rcr-\u202eevil\u202c.md"
    bad.write_text("---\ntitle: [unclosed\n---\n", encoding="utf-8")
    words = {
        "build": ["build", "--output", "out", "--source", str(source)],
        "validate": ["validate", str(source)],
        "topics": ["topics", "--source", str(source)],
    }
    done = run_cli(*words[command], cwd=tmp_path)
    out = done.stdout + done.stderr
    assert "bad-" in out, out  # the file is named, its controls written out
    assert no_controls(out) and "\u202e" not in out, repr(out)
