"""`aggregator topics`, end to end through the real command: every topic with what a
build would keep and leave out (and why), its feed URLs, as a table and as JSON;
the same answer a build then gives; nothing written and no request sent."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from typing import ClassVar

import pytest
from conftest import ROOT
from conftest import answering
from conftest import run_cli
from conftest import write_article

from aggregator.model import LinkResult
from aggregator.state.store import Store
from aggregator.stories.urls import canonical_url

pytestmark = pytest.mark.e2e

DEAD = "https://dead.example/story"
BASE = "http://localhost:8080/"


class _Counting(BaseHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def do_HEAD(self) -> None:
        self.requests.append(self.path)
        self.send_response(200)
        self.end_headers()

    do_GET = do_HEAD

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def site_server() -> Iterator[tuple[str, list[str]]]:
    """A live article site on 127.0.0.1; its URL and the requests it received."""
    seen: list[str] = []
    handler = type("Handler", (_Counting,), {"requests": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    with answering(server):
        yield f"http://127.0.0.1:{server.server_address[1]}/live", seen


@dataclass
class Editor:
    root: Path
    live: str
    requests: list[str]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, cwd=self.root)

    def topics_json(self, *args: str) -> dict[str, Any]:
        result = self.run("topics", "--json", *args)
        assert result.returncode == 0, result.stderr
        data: dict[str, Any] = json.loads(result.stdout)
        return data


def write_corpus(root: Path, live: str) -> None:
    """Articles with one fate each; the comments say which."""
    src = root / "articles"
    write_article(src, "a.md", n=1, topics=["AI"], quality=90)  # kept
    write_article(src, "b.md", n=2, topics=["AI", "Robotics"])  # kept in both
    write_article(src, "c.md", n=3, topics=["AI", "Space"])  # AI only: Space wants 90
    write_article(src, "d.md", n=4, topics=["Space"], quality=95)  # kept
    write_article(src, "e.md", n=5, topics=["Robotics"], published=False)  # unpublished
    write_article(src, "f.md", n=6, topics=["Robotics"], quality=10)  # low quality
    write_article(src, "g.md", n=7, topics=["AI"], publishedDateTime="1990-01-01T00:00:00Z")
    # A second copy of a.md's story, filed under another topic too: dropped, and its
    # topic joins the survivor.
    write_article(
        src, "h.md", n=8, topics=["AI", "Ethics"], webUrl="https://news.example.com/story-1"
    )
    write_article(src, "i.md", n=9, topics=["Robotics"], webUrl=DEAD)  # dead link
    write_article(src, "j.md", n=10, topics=["AI"], webUrl=live)  # no stored result: stays
    write_article(src, "k.md", n=11, title=None)  # invalid: no title
    write_article(src, "l.md", n=12, topics=["Lonely"], published=False)  # a topic left empty
    (root / "aggregator.yaml").write_text(
        "sources: [articles]\noutput: site\nmax_age: 1000w\n"
        "topics:\n  Space: {min_quality: 90}\nlink_check: {allow_private: true}\n",
        encoding="utf-8",
    )


def store_dead_link(state: Path) -> None:
    broken_since = datetime(2024, 3, 1, tzinfo=UTC)
    with Store(state) as store:
        store.save_links(
            [
                LinkResult(
                    url=canonical_url(DEAD),
                    klass="broken",
                    status=404,
                    reason="404 Not Found",
                    final_url=None,
                    checked_at=datetime(2024, 3, 3, tzinfo=UTC),
                    next_check_at=datetime(2024, 3, 4, tzinfo=UTC),
                    failures=2,
                    broken_since=broken_since,
                )
            ]
        )


@pytest.fixture
def editor(tmp_path: Path, site_server: tuple[str, list[str]]) -> Editor:
    live, requests = site_server
    write_corpus(tmp_path, live)
    store_dead_link(tmp_path / ".site-state.sqlite")
    return Editor(tmp_path, live, requests)


def rows(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["topic"]: row for row in data["topics"]}


def test_topics_counts_what_each_filter_leaves_out(editor: Editor) -> None:
    data = editor.topics_json()
    topics = rows(data)
    assert list(topics) == ["AI", "Ethics", "Lonely", "Robotics", "Space"]
    kept = {name: row["kept"] for name, row in topics.items()}
    assert kept == {"AI": 4, "Ethics": 1, "Lonely": 0, "Robotics": 1, "Space": 1}
    left_out = {
        name: {k: n for k, n in row["excluded"].items() if n} for name, row in topics.items()
    }
    assert left_out == {
        "AI": {"max-age": 1, "duplicate": 1},
        "Ethics": {"duplicate": 1},
        "Lonely": {"unpublished": 1},
        "Robotics": {"unpublished": 1, "quality": 1, "dead-link": 1},
        "Space": {"quality": 1},
    }
    everything = data["all"]
    assert everything["kept"] == 5  # a, b, c, d, j
    assert {k: n for k, n in everything["excluded"].items() if n} == {
        "unpublished": 2,
        "quality": 1,
        "max-age": 1,
        "duplicate": 1,
        "dead-link": 1,
        "invalid": 1,
    }
    reasons = {(e["path"], e["code"], e["topic"]) for e in data["excluded"]}
    assert reasons == {
        ("articles/c.md", "quality", "Space"),
        ("articles/e.md", "unpublished", None),
        ("articles/f.md", "quality", None),
        ("articles/g.md", "max-age", None),
        ("articles/h.md", "duplicate", None),
        ("articles/i.md", "dead-link", None),
        ("articles/k.md", "invalid", None),
        ("articles/l.md", "unpublished", None),
    }
    assert data["links"]["mode"] == "cached"
    # Feed URLs for topics with a feed, none for a topic left empty.
    assert topics["AI"]["feeds"] == {
        "rss": f"{BASE}topics/ai.rss",
        "atom": f"{BASE}topics/ai.atom",
        "json": f"{BASE}topics/ai.json",
    }
    assert topics["Lonely"]["feeds"] == {}


def test_topics_writes_nothing_and_sends_no_request(editor: Editor) -> None:
    state = editor.root / ".site-state.sqlite"
    with Store(state) as store:
        before = store.links([canonical_url(DEAD), canonical_url(editor.live)])
    editor.topics_json()
    assert editor.requests == []
    assert not (editor.root / "site").exists()
    with Store(state) as store:
        assert store.links([canonical_url(DEAD), canonical_url(editor.live)]) == before
    # The site does answer a command that checks links: the silence above is real.
    assert editor.run("check-links").returncode == 0
    assert editor.requests


def test_topics_gives_the_answer_a_build_gives(editor: Editor) -> None:
    data = editor.topics_json()
    built = editor.run("build", "--links", "cached", "--report", "report.json")
    assert built.returncode == 0, built.stderr
    report = json.loads((editor.root / "report.json").read_text(encoding="utf-8"))
    feeds = {(f["topic"], f["format"]): f for f in report["feeds"]}
    for row in [*data["topics"], data["all"]]:
        for fmt, url in row["feeds"].items():
            feed = feeds[(row["topic"], fmt)]
            assert feed["entries"] == row["entries"] == row["kept"]
            assert url == BASE + feed["path"]
            assert (editor.root / "site" / feed["path"]).is_file()
        if not row["feeds"]:
            assert (row["topic"], "rss") not in feeds
    build_excluded = {(e["path"], e["code"], e["topic"]) for e in report["excluded"]}
    build_excluded |= {(p, "duplicate", None) for d in report["duplicates"] for p in d["dropped"]}
    build_excluded |= {(e["path"], "invalid", None) for e in report["errors"]}
    assert {(e["path"], e["code"], e["topic"]) for e in data["excluded"]} == build_excluded
    assert data["all"]["kept"] == report["counts"]["published"]


def test_topics_without_a_state_file_leaves_no_article_out_for_its_link(
    editor: Editor,
) -> None:
    state = editor.root / ".site-state.sqlite"
    state.unlink()
    data = editor.topics_json()
    assert data["links"]["mode"] == "no-state"
    assert rows(data)["Robotics"]["kept"] == 2  # the dead link is not known yet
    assert not state.exists()
    off = editor.topics_json("--links", "off")
    assert off["links"]["mode"] == "off"
    assert editor.requests == []


def test_topics_table_is_readable(editor: Editor) -> None:
    result = editor.run("topics")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = lines[0].split()
    assert header[:3] == ["topic", "kept", "newest"]
    table = {line.split()[0]: line.split() for line in lines[1:7]}
    assert set(table) == {"AI", "Ethics", "Lonely", "Robotics", "Space", "all"}
    data = editor.topics_json()
    for name, row in rows(data).items():
        cells = dict(zip(header, table[name], strict=True))
        assert int(cells["kept"]) == row["kept"]
        assert int(cells["dead"]) == row["excluded"]["dead-link"]
        assert int(cells["unpub"]) == row["excluded"]["unpublished"]
        assert cells["invalid"] == "-"
    text = result.stdout
    assert f"AI: {BASE}topics/ai.rss  {BASE}topics/ai.atom" in text
    assert "Lonely: (no feed: nothing kept)" in text
    assert "articles/i.md: dead link: 404 Not Found" in text
    assert "articles/c.md: quality 80 below 90 (topic Space only)" in text
    assert "articles/h.md: a copy of articles/a.md (same-url 1.00)" in text
    assert "articles/k.md:2: missing title" in text
    assert "links: stored results from" in text


def test_topics_help_lists_its_options(tmp_path: Path) -> None:
    result = run_cli("topics", "--help", cwd=tmp_path)
    assert result.returncode == 0
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    usage = readme[readme.index("aggregator topics [") :].split("```")[0]
    for option in ("--config", "--source", "--output", "--state", "--links", "--json"):
        assert option in result.stdout
        assert option in usage  # documented too
