"""Warnings: a problem in an article file that the loader can repair is repaired, the
article is published, and the problem is reported as `path:line: warning: reason`
(on stderr, in the JSON report, by `validate`); only a problem that leaves nothing
publishable makes a file invalid. Real files in tmp_path, the real command, real
SQLite for the incremental and cached builds."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import NOW
from conftest import article_fields
from conftest import front_matter
from conftest import run_cli
from conftest import write_article

from aggregator.config import Config
from aggregator.engine.pipeline import build
from aggregator.limits import Limits

#: short limits, so that a title and an excerpt of a few words are cut
LIMITS = Limits(title_length=60, excerpt_length=200)
CONFIG = "limits:\n  title_length: 60\n  excerpt_length: 200\n"
LONG_TITLE = "Story number 8 " + "with many more words in its title " * 4
BAD = "javascript:alert(1)"


@dataclass(frozen=True)
class Case:
    name: str
    #: the fields of the file (see `article_fields`)
    fields: dict[str, Any]
    #: the warning's line is the first line of the file holding this
    needle: str
    reason: str

    @property
    def text(self) -> str:
        return front_matter(article_fields(**self.fields))

    @property
    def line(self) -> int:
        lines = self.text.split("\n")
        return next(n for n, line in enumerate(lines, start=1) if self.needle in line)

    @property
    def link(self) -> str:
        return f"https://news.example.com/story-{self.fields['n']}"


CASES = [
    Case("empty-topic.md", {"n": 1, "topics": ["AI", ""]}, "- ''",
         "topics: item 2 is empty: dropped"),
    Case("blank-topic.md", {"n": 2, "topics": ["AI", "   "]}, "- '   '",
         "topics: item 2 is empty: dropped"),
    Case("repeated-topic.md", {"n": 3, "topics": ["AI", "Robotics", "ai"]}, "- ai",
         "topics: item 3 'ai' repeats item 1: kept once"),
    Case("number-topic.md", {"n": 4, "topics": ["AI", 42]}, "- 42",
         "topics: item 2 is an integer, not a name: dropped"),
    Case("topics-string.md", {"n": 5, "topics": "AI"}, "topics: AI",
         "topics: must be a list of strings, not a string: ignored"),
    Case("image-bad-url.md",
         {"n": 6, "images": [{"url": BAD}, {"url": "https://img.example.com/6.jpg"}]},
         f"- url: {BAD}",
         f"images: item 1 has no absolute http(s) URL: '{BAD}': dropped"),
    Case("image-no-url.md", {"n": 7, "images": [{"width": 100}]}, "- width: 100",
         "images: item 1 has no URL: dropped"),
    Case("title-cut.md", {"n": 8, "title": LONG_TITLE}, "title:",
         "title: cut to 60 characters (limits: title_length)"),
    Case("excerpt-cut.md", {"n": 9, "excerpt": "word " * 100}, "excerpt:",
         "excerpt: cut to 200 characters (limits: excerpt_length)"),
    Case("excerpt-list.md", {"n": 10, "excerpt": ["one", "two"]}, "excerpt:",
         "excerpt: must be a string, not a list: ignored"),
    Case("type-number.md", {"n": 11, "type": 3}, "type:",
         "type: must be a string, not an integer: ignored"),
    Case("provider-string.md", {"n": 12, "provider": "Example News"}, "provider:",
         "provider: must be a mapping with a name, not a string: ignored"),
    Case("related-no-link.md", {"n": 13, "related": [{"title": "Other coverage"}]},
         "- title: Other coverage",
         "related: item 1 has no usable link (webUrl or originalUrl): dropped"),
    Case("related-string.md", {"n": 14, "related": "none"}, "related:",
         "related: must be a list, not a string: ignored"),
    Case("web-url-bad.md",
         {"n": 15, "webUrl": BAD, "originalUrl": "https://news.example.com/story-15"},
         "webUrl:",
         f"webUrl: must be an absolute http(s) URL, got '{BAD}': originalUrl is the link"),
    Case("amp-url-bad.md", {"n": 16, "ampWebUrl": "not a url"}, "ampWebUrl:",
         "ampWebUrl: has no absolute http(s) URL: 'not a url': ignored"),
    Case("provider-nameless.md", {"n": 17, "provider": {"domain": "example.com"}},
         "provider:", "provider: has no name: its domain is shown"),
    # A text cut in a list item, or in a related story's provider, is named by its item.
    Case("topic-cut.md", {"n": 21, "topics": ["AI", LONG_TITLE]}, "- 'Story number",
         "topics: item 2: cut to 60 characters (limits: title_length)"),
    Case("image-title-cut.md",
         {"n": 22, "images": [{"url": "https://img.example.com/22.jpg", "title": LONG_TITLE}]},
         "- url:", "images: item 1: title: cut to 60 characters (limits: title_length)"),
    Case("provider-name-cut.md", {"n": 23, "provider": {"name": LONG_TITLE}}, "provider:",
         "provider: name: cut to 60 characters (limits: title_length)"),
    Case("related-title-cut.md",
         {"n": 24, "related": [{"title": LONG_TITLE, "webUrl": "https://other.example/24"}]},
         "- title:", "related: item 1: title: cut to 60 characters (limits: title_length)"),
    Case("related-provider-name-cut.md",
         {"n": 25, "related": [{"title": "Other coverage", "webUrl": "https://other.example/25",
                                "provider": {"name": LONG_TITLE}}]},
         "- title:",
         "related: item 1: provider: name: cut to 60 characters (limits: title_length)"),
    Case("related-provider-nameless.md",
         {"n": 26, "related": [{"title": "Other coverage", "webUrl": "https://other.example/26",
                                "provider": {"domain": "other.example"}}]},
         "- title:", "related: item 1: provider: has no name: its domain is shown"),
]  # fmt: skip


def write_cases(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_article(folder, "clean.md", n=20)
    for case in CASES:
        (folder / case.name).write_text(case.text, encoding="utf-8")


@dataclass(frozen=True)
class Built:
    root: Path
    stderr: list[str]
    report: dict[str, Any]
    #: the links in the all-topics JSON feed
    links: list[str]
    validate: Any


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("warnings")
    write_cases(root / "articles")
    (root / "aggregator.yaml").write_text(CONFIG, encoding="utf-8")
    args = ("--config", "aggregator.yaml", "--source", "articles", "--output", "out")
    done = run_cli("build", *args, "--report", "report.json", "--strict", cwd=root)
    # --strict fails a build with an invalid file: a file with warnings is not one
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    report = json.loads((root / "report.json").read_text(encoding="utf-8"))
    feed = json.loads((root / "out" / "all.json").read_text(encoding="utf-8"))
    (root / "validate.yaml").write_text(CONFIG + "sources: [articles]\n", encoding="utf-8")
    checked = run_cli("validate", "--config", "validate.yaml", cwd=root)
    links = [item["url"] for item in feed["items"]]
    return Built(root, done.stderr.splitlines(), report, links, checked)


@pytest.mark.e2e  # the `built` fixture drives the real command
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_repaired_file_is_published_and_its_warning_names_file_line_and_reason(
    built: Built, case: Case
) -> None:
    path = f"articles/{case.name}"
    assert case.link in built.links  # the feed holds the article
    assert f"{path}:{case.line}: warning: {case.reason}" in built.stderr
    expected = {"path": path, "line": case.line, "reason": case.reason}
    assert [w for w in built.report["warnings"] if w["path"] == path] == [expected]
    assert built.report["errors"] == []


@pytest.mark.e2e
def test_the_report_counts_the_warnings_and_a_clean_file_has_none(built: Built) -> None:
    assert built.report["counts"]["warnings"] == len(CASES)
    assert built.report["counts"]["invalid"] == 0
    assert not [w for w in built.report["warnings"] if w["path"] == "articles/clean.md"]
    assert "https://news.example.com/story-20" in built.links


@pytest.mark.e2e
def test_what_a_repair_leaves_is_what_the_feed_shows(built: Built) -> None:
    feed = json.loads((built.root / "out" / "all.json").read_text(encoding="utf-8"))
    items = {item["url"]: item for item in feed["items"]}
    title = items["https://news.example.com/story-8"]["title"]
    assert len(title) <= 60 and title.endswith("\u2026")
    image = items["https://news.example.com/story-6"]["image"]
    assert image == "https://img.example.com/6.jpg"
    topics = json.loads((built.root / "out" / "topics" / "ai.json").read_text(encoding="utf-8"))
    in_ai = [item["url"] for item in topics["items"]]
    assert in_ai.count("https://news.example.com/story-3") == 1  # "AI" and "ai": once
    assert "https://news.example.com/story-1" in in_ai


@pytest.mark.e2e
def test_validate_prints_the_warnings_and_a_file_with_warnings_is_valid(built: Built) -> None:
    done = built.validate
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for case in CASES:
        assert f"articles/{case.name}:{case.line}: warning: {case.reason}" in lines
    files = len(CASES) + 1
    assert lines[-1] == f"{files} article files checked: all valid ({len(CASES)} with warnings)"


# --- the same warnings whichever way a build reads the files -----------------------------


def age(folder: Path, seconds: float = 60) -> None:
    """Make every file older than the racy window, as files of a real corpus are."""
    when = time.time() - seconds
    for path in folder.rglob("*.md"):
        os.utime(path, (when, when))


def config(source: Path, output: Path, limit: int = 50) -> Config:
    return Config(sources=(source,), output=output, links="off", limits=LIMITS, limit=limit)


def shown(report: Any) -> list[str]:
    return [str(w) for w in report.warnings]


def test_an_incremental_build_reports_the_warnings_a_full_build_does(tmp_path: Path) -> None:
    source = tmp_path / "src"
    write_cases(source)
    for n in range(30, 60):  # enough files for a few changes to be an incremental build
        write_article(source, f"plain-{n}.md", n=n)
    age(source)
    build(config(source, tmp_path / "inc"), now=NOW)
    # a warning repaired, one added, one file with warnings deleted, one with a new one
    write_article(source, "empty-topic.md", n=1, topics=["AI"])
    write_article(source, "plain-30.md", n=30, topics=["AI", "", "AI"])
    (source / "type-number.md").unlink()
    write_article(source, "new.md", n=61, images=[{"url": "ftp://img.example.com/a.jpg"}])
    later = NOW + timedelta(minutes=5)
    incremental = build(config(source, tmp_path / "inc"), now=later)
    cold = build(config(source, tmp_path / "cold"), now=later)
    assert incremental.mode == "incremental"
    assert cold.mode == "full"
    assert shown(incremental) == shown(cold)
    paths = {Path(w.path).name for w in incremental.warnings}
    assert {"plain-30.md", "new.md"} <= paths
    assert not paths & {"empty-topic.md", "type-number.md"}
    assert len(shown(cold)) == len(CASES) - 2 + 3


def test_a_build_from_the_parse_cache_or_the_last_report_reports_the_warnings(
    tmp_path: Path,
) -> None:
    source = tmp_path / "src"
    write_cases(source)
    age(source)
    first = build(config(source, tmp_path / "out"), now=NOW)
    assert len(first.warnings) == len(CASES)
    # Nothing changed: the last report stands.
    again = build(config(source, tmp_path / "out"), now=NOW)
    assert again.mode == "unchanged"
    assert shown(again) == shown(first)
    # Another feed limit: a full build, every file read from the parse cache.
    cached = build(config(source, tmp_path / "out", limit=40), now=NOW)
    assert cached.mode == "full"
    assert shown(cached) == shown(first)
