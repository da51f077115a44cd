"""The daemon serves its last run's HTML build report at /report.html only when the
config says so (`serve_report: true`; off by default, since the report names files
that are not published), from memory: never a file of the output folder. A real
server on 127.0.0.1: the daemon in this process, and the real `aggregator run`."""

from __future__ import annotations

import gzip
import http.client
import time
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import replace
from pathlib import Path

import pytest
from browser import parse_html
from browser import squash
from conftest import NOW
from conftest import run_cli
from conftest import write_article
from serving import aggregator_serve

from aggregator.app.daemon import Daemon
from aggregator.config import Config
from aggregator.rendering.reportpage import CONTENT_SECURITY_POLICY

pytestmark = pytest.mark.e2e

#: seconds a wait for a run may last before the test calls the daemon hung: a guard
#: against waiting forever, never a measure of speed
PATIENCE = 300.0
HIDDEN = "draft-not-yet-published.md"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def get(port: int, path: str, method: str = "GET", **headers: str) -> Answer:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=PATIENCE)
    try:
        conn.request(method, path, headers=headers)
        response = conn.getresponse()
        body = response.read()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
    finally:
        conn.close()


def wait_until(check: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def corpus(folder: Path) -> None:
    """Two published articles, one unpublished (its path is what must stay private)
    and one invalid file."""
    write_article(folder, "a.md", n=1, publishedDateTime=NOW, topics=["AI"])
    write_article(folder, "b.md", n=2, publishedDateTime=NOW, topics=["Robots"])
    write_article(folder, HIDDEN, n=3, publishedDateTime=NOW, published=False)
    (folder / "broken.md").write_text("---\ntitle: [\n---\n", encoding="utf-8")


@pytest.fixture
def settings(tmp_path: Path) -> list[Config]:
    """The config the daemon loads (a reload reads the first item again)."""
    corpus(tmp_path / "src")
    return [Config(sources=(tmp_path / "src",), output=tmp_path / "out", links="off")]


@pytest.fixture
def daemon(settings: list[Config]) -> Iterator[Daemon]:
    """The daemon, serving on 127.0.0.1 and run once; stopped at the end."""
    running = Daemon(lambda: settings[0], serve=("127.0.0.1", 0), clock=lambda: NOW)
    running.start()
    try:
        wait_until(lambda: running.health.last_status == "ok", "the first run")
        yield running
    finally:
        running.stop()


def port_of(daemon: Daemon) -> int:
    assert daemon.server is not None
    return daemon.server.port


def test_off_by_default_the_report_is_404(daemon: Daemon) -> None:
    port = port_of(daemon)
    assert get(port, "/all.rss").status == 200
    answer = get(port, "/report.html")
    assert answer.status == 404
    assert HIDDEN.encode() not in answer.body


def test_on_it_is_the_last_runs_report_served_from_memory(
    daemon: Daemon, settings: list[Config]
) -> None:
    port = port_of(daemon)
    settings[0] = replace(settings[0], serve_report=True)
    daemon.reload()
    # Turned on: the report of the next run (the last one did not keep its report).
    assert get(port, "/report.html").status == 404
    assert daemon.run_once() is not None
    answer = get(port, "/report.html")
    assert answer.status == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"
    page = parse_html(answer.body.decode("utf-8"))
    shown = squash(page.text())
    assert f"{daemon.config.sources[0] / HIDDEN}not published" in shown
    assert "broken.md" in shown
    assert len(page.find_all("rect", "bar")) >= 1  # the run counted its topics' days
    # Gzip when asked, HEAD without a body.
    zipped = get(port, "/report.html", **{"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert gzip.decompress(zipped.body) == answer.body
    head = get(port, "/report.html", "HEAD")
    assert head.status == 200 and head.body == b""
    # Never a file: nothing in the output folder names the unpublished file.
    output = daemon.config.output
    assert not (output / "report.html").exists()
    for file in output.rglob("*"):
        if file.is_file():
            assert HIDDEN.encode() not in file.read_bytes(), file
    # Turned off again: 404 at once, before any run.
    settings[0] = replace(settings[0], serve_report=False)
    daemon.reload()
    assert get(port, "/report.html").status == 404


def test_a_new_run_serves_its_own_report(daemon: Daemon, settings: list[Config]) -> None:
    port = port_of(daemon)
    settings[0] = replace(settings[0], serve_report=True)
    daemon.reload()
    daemon.run_once()
    assert b"later.md" not in get(port, "/report.html").body
    source = settings[0].sources[0]
    (source / "later.md").write_text("", encoding="utf-8")  # an empty file: invalid
    daemon.run_once()
    assert b"src/later.md" in get(port, "/report.html").body


def test_the_real_command_serves_it_when_the_config_file_says_so(tmp_path: Path) -> None:
    corpus(tmp_path / "src")
    conf = tmp_path / "aggregator.yaml"
    for serve, status in (("", 404), ("serve_report: true\n", 200)):
        conf.write_text(f"sources: [src]\noutput: out\nlinks: off\n{serve}", encoding="utf-8")
        with aggregator_serve(tmp_path, ("run", "--config", str(conf))) as command:
            wait_until(lambda c=command: any("run ok" in line for line in c.lines), "a run")
            answer = get(command.port, "/report.html")
            assert answer.status == status, command.lines
            assert (HIDDEN.encode() in answer.body) == (status == 200)
            command.stop()


def test_a_bad_value_is_one_line_naming_the_key(tmp_path: Path) -> None:
    corpus(tmp_path / "src")
    (tmp_path / "aggregator.yaml").write_text(
        "sources: [src]\noutput: out\nserve_report: yes please\n", encoding="utf-8"
    )
    result = run_cli("build", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "aggregator: error: aggregator.yaml:3: serve_report: must be true or false"
    )
