"""One plan for every command: `build`, `validate`, `topics` and `check-links` find the
same files under the same sources and patterns, read them under the same `limits:`,
and so name the same invalid files for the same reasons and the same warnings.
Driven through the real command in a subprocess, on real files in tmp_path."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import article_fields
from conftest import front_matter
from conftest import run_cli
from conftest import write_article

CONFIG = """\
sources: [articles]
output: out
patterns: ["*.md", "*.story"]
limits:
  file_size: 2000
  title_length: 30
"""

Row = tuple[str, int, str]

#: every test drives the real command
pytestmark = pytest.mark.e2e


@pytest.fixture
def root(tmp_path: Path) -> Path:
    articles = tmp_path / "articles"
    write_article(articles, "good.md", n=1)
    write_article(articles, "other.story", n=2)  # found through the config's patterns
    write_article(articles, "ignored.txt", n=3, title=None)  # not a pattern: never read
    write_article(articles, "big.md", n=4, excerpt="x" * 3000)  # over file_size: 2000
    write_article(articles, "long-title.md", n=5, title="A title much longer than thirty")
    (articles / "no-title.md").write_text(
        front_matter(article_fields(n=6, title=None)), encoding="utf-8"
    )
    misnamed = os.path.join(os.fsencode(articles), b"bad-\xff.md")
    with open(misnamed, "wb") as handle:
        handle.write(front_matter(article_fields(n=7)).encode("utf-8"))
    (tmp_path / "aggregator.yaml").write_text(CONFIG, encoding="utf-8")
    return tmp_path


def rows(items: list[dict[str, Any]]) -> set[Row]:
    return {(item["path"], item["line"], item["reason"]) for item in items}


def printed(lines: list[str], warnings: bool) -> set[Row]:
    found: set[Row] = set()
    for line in lines:
        if not line.startswith("articles/"):
            continue  # a summary
        path, number, reason = line.split(":", 2)
        if reason.startswith(" warning: ") == warnings:
            found.add((path, int(number), reason.removeprefix(" warning: ").strip()))
    return found


def test_every_command_reports_the_same_invalid_files_and_warnings(root: Path) -> None:
    built = run_cli("build", "--links", "off", "--report", "report.json", cwd=root)
    assert built.returncode == 0, built.stderr
    report = json.loads((root / "report.json").read_text(encoding="utf-8"))
    errors, warnings = rows(report["errors"]), rows(report["warnings"])

    size = (root / "articles" / "big.md").stat().st_size
    too_big = f"file is {size:,} bytes, over the limit of 2,000 (limits: file_size)"
    assert errors == {
        ("articles/bad-\\xff.md", 1, "file name is not UTF-8: rename the file"),
        ("articles/big.md", 1, too_big),
        ("articles/no-title.md", 2, "missing title"),
    }
    assert warnings == {
        ("articles/long-title.md", 3, "title: cut to 30 characters (limits: title_length)")
    }
    assert printed(built.stderr.splitlines(), warnings=False) == errors
    assert printed(built.stderr.splitlines(), warnings=True) == warnings

    validated = run_cli("validate", cwd=root)
    assert validated.returncode == 1  # some file is invalid
    assert printed(validated.stdout.splitlines(), warnings=False) == errors
    assert printed(validated.stdout.splitlines(), warnings=True) == warnings
    assert validated.stdout.splitlines()[-1] == (
        "6 article files checked: 3 with problems (1 with warnings)"
    )

    topics = run_cli("topics", "--json", "--links", "off", cwd=root)
    assert topics.returncode == 0, topics.stderr
    view = json.loads(topics.stdout)
    assert rows([e for e in view["excluded"] if e["code"] == "invalid"]) == errors
    assert rows(view["warnings"]) == warnings
    assert view["files"] == 6
    assert view["all"]["kept"] == report["counts"]["published"] == 3

    checked = run_cli("check-links", "--json", cwd=root)
    assert checked.returncode == 0, checked.stderr
    links = json.loads(checked.stdout)
    assert rows(links["errors"]) == errors
    assert rows(links["warnings"]) == warnings


def test_topics_text_names_the_invalid_files_and_the_warnings(root: Path) -> None:
    done = run_cli("topics", "--links", "off", cwd=root)
    assert done.returncode == 0, done.stderr
    lines = [line.strip() for line in done.stdout.splitlines()]
    assert "articles/no-title.md:2: missing title" in lines
    assert "articles/bad-\\xff.md:1: file name is not UTF-8: rename the file" in lines
    assert (
        "articles/long-title.md:3: warning: title: cut to 30 characters (limits: title_length)"
        in lines
    )
