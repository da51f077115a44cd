"""End-to-end tests of the `aggregator` command, run for real in a subprocess.

Every test builds its own article files under tmp_path and runs `python -m aggregator`
(or the installed console script) with the working directory set to tmp_path, so the
paths in messages and reports are the short relative ones (`articles/a.md`).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import feedparser
import pytest
import yaml
from conftest import NOW
from conftest import article_fields
from conftest import corpus_source
from conftest import front_matter
from conftest import run_cli
from conftest import write_article

from aggregator import __version__
from aggregator.app.cli import main

pytestmark = pytest.mark.e2e

AMP_FORM = "https://news-example-com.cdn.ampproject.org/c/s/news.example.com/story-1"
STORY_1 = "https://news.example.com/story-1"


# --- helpers -------------------------------------------------------------------------


def build(cwd: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return run_cli("build", *args, cwd=cwd)


def load_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def snapshot(folder: Path) -> dict[str, tuple[bytes, int, int]]:
    """Relative path -> (bytes, mtime_ns, inode) of every file under `folder`."""
    result = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            stat = path.stat()
            result[path.relative_to(folder).as_posix()] = (
                path.read_bytes(),
                stat.st_mtime_ns,
                stat.st_ino,
            )
    return result


def parse_feed(path: Path) -> Any:
    parsed = feedparser.parse(path.read_bytes())
    assert not parsed.bozo, f"{path}: {parsed.get('bozo_exception')}"
    return parsed


def states(text: str, word: str, number: int) -> bool:
    """True when `text` puts `number` right before or after `word` (plurals allowed)."""
    pattern = rf"\b{number}\s+{word}\w*|\b{word}\w*\s+{number}\b"
    return re.search(pattern, text) is not None


def assert_fatal(result: subprocess.CompletedProcess[str], *mentions: str, code: int = 1) -> None:
    """Exit `code` (1: the run failed; 2: a config error) with one line naming `mentions`."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("aggregator: error: "), lines[0]
    for mention in mentions:
        assert mention in lines[0], (mention, lines[0])


def line_of(path: Path, key: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, start=1) if line.startswith(f"{key}:"))


def write_mixed_corpus(root: Path) -> dict[str, Any]:
    """Five loadable articles (one duplicate, one unpublished, one low quality) and
    two invalid files, under root/articles."""
    articles = root / "articles"
    write_article(articles, "a.md", n=1, quality=80, topics=["AI"])
    # Same story as a.md through its AMP-cache URL, lower quality: dropped.
    write_article(articles, "b.md", n=2, webUrl=AMP_FORM, quality=60, topics=["Robotics", "ai"])
    write_article(articles, "c.md", n=3, quality=90, topics=["Robotics"])
    write_article(articles, "d.md", n=4, published=False, topics=["AI"])
    write_article(articles, "e.md", n=5, quality=20, topics=["AI"])
    bad = articles / "bad.md"
    bad.write_text(front_matter(article_fields(n=6, quality="high")), encoding="utf-8")
    (articles / "notes.md").write_text("Just some notes, no front matter.\n", encoding="utf-8")
    return {"bad_line": line_of(bad, "quality")}


def write_clean_corpus(root: Path) -> None:
    articles = root / "articles"
    write_article(articles, "a.md", n=1, topics=["AI"])
    write_article(articles, "c.md", n=3, topics=["Robotics"])


# --- version, help, console script ---------------------------------------------------


def test_version_prints_the_package_version(tmp_path: Path) -> None:
    result = run_cli("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"aggregator {__version__}\n"
    # ... as the parser of the commands prints it, which `--version` alone skips
    imports = run_cli("--version", wrapper=["env", "PYTHONPROFILEIMPORTTIME=1"]).stderr
    assert "aggregator.version" in imports
    assert "aggregator.app.cli" not in imports
    with pytest.raises(SystemExit) as ended, contextlib.redirect_stdout(io.StringIO()) as out:
        main(["--version"])
    assert (ended.value.code, out.getvalue()) == (0, result.stdout)


def test_build_help_lists_every_option(tmp_path: Path) -> None:
    result = run_cli("build", "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for option in (
        "--config",
        "--source",
        "--output",
        "--base-url",
        "--min-quality",
        "--include-unpublished",
        "--limit",
        "--report",
        "--strict",
        "-q",
        "-v",
    ):
        assert option in result.stdout
    assert not (tmp_path / "feeds").exists()


def _console_script() -> str | None:
    beside = Path(sys.executable).parent / "aggregator"
    if beside.is_file():
        return str(beside)
    return shutil.which("aggregator")


def test_installed_console_script_builds(tmp_path: Path) -> None:
    script = _console_script()
    if script is None:
        pytest.skip("the aggregator console script is not installed")
    write_clean_corpus(tmp_path)
    result = subprocess.run(
        [script, "build", "--source", "articles", "--output", "out", "-q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert len(parse_feed(tmp_path / "out" / "all.rss").entries) == 2


# --- usage errors: exit 2 ------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["build", "--bogus"], id="unknown-option"),
        pytest.param(["build", "--limit", "0"], id="limit-zero"),
        pytest.param(["build", "--min-quality", "abc"], id="min-quality-not-a-number"),
        pytest.param(["build", "--base-url", "ftp://x"], id="base-url-not-http"),
        pytest.param([], id="no-command"),
    ],
)
def test_usage_errors_exit_2_and_write_nothing(tmp_path: Path, args: list[str]) -> None:
    write_clean_corpus(tmp_path)
    (tmp_path / "seeds").mkdir()
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "usage" in result.stderr.lower()
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "feeds").exists()


# --- config errors: exit 2, and failed runs: exit 1, one line ------------------------


def _bad_yaml(root: Path) -> tuple[list[str], list[str]]:
    (root / "conf.yaml").write_text("sources: [articles\noutput: out\n", encoding="utf-8")
    return ["--config", "conf.yaml"], ["conf.yaml", "YAML"]


def _unknown_key(root: Path) -> tuple[list[str], list[str]]:
    (root / "conf.yaml").write_text("sources: articles\ncolour: blue\n", encoding="utf-8")
    return ["--config", "conf.yaml"], ["conf.yaml:2", "colour"]


def _wrong_type(root: Path) -> tuple[list[str], list[str]]:
    (root / "conf.yaml").write_text("sources: articles\nlimit: many\n", encoding="utf-8")
    return ["--config", "conf.yaml"], ["conf.yaml:2", "limit"]


def _missing_config(root: Path) -> tuple[list[str], list[str]]:
    return ["--config", "nope.yaml"], ["nope.yaml"]


def _config_is_a_folder(root: Path) -> tuple[list[str], list[str]]:
    (root / "conf.yaml").mkdir()
    return ["--config", "conf.yaml"], ["conf.yaml"]


def _bad_default_config(root: Path) -> tuple[list[str], list[str]]:
    (root / "aggregator.yaml").write_text("min_quality: high\n", encoding="utf-8")
    return [], ["aggregator.yaml:1", "min_quality"]


def _missing_source(root: Path) -> tuple[list[str], list[str]]:
    return ["--source", "articles", "--source", "missing"], ["missing"]


def _output_under_a_file(root: Path) -> tuple[list[str], list[str]]:
    (root / "blocker").write_text("a regular file\n", encoding="utf-8")
    return ["--source", "articles", "--output", "blocker/out"], ["blocker"]


def _report_under_a_file(root: Path) -> tuple[list[str], list[str]]:
    (root / "blocker").write_text("a regular file\n", encoding="utf-8")
    return ["--source", "articles", "--report", "blocker/report.json"], ["blocker"]


@pytest.mark.parametrize(
    "setup",
    [
        _bad_yaml,
        _unknown_key,
        _wrong_type,
        _missing_config,
        _config_is_a_folder,
        _bad_default_config,
        _missing_source,
    ],
    ids=lambda f: f.__name__.strip("_").replace("_", "-"),
)
def test_config_errors_exit_2_with_one_line(
    tmp_path: Path, setup: Callable[[Path], tuple[list[str], list[str]]]
) -> None:
    write_clean_corpus(tmp_path)
    args, mentions = setup(tmp_path)
    result = build(tmp_path, *args)
    assert_fatal(result, *mentions, code=2)
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "feeds").exists()


@pytest.mark.parametrize(
    "setup",
    [_output_under_a_file, _report_under_a_file],
    ids=lambda f: f.__name__.strip("_").replace("_", "-"),
)
def test_failed_runs_exit_1_with_one_line(
    tmp_path: Path, setup: Callable[[Path], tuple[list[str], list[str]]]
) -> None:
    write_clean_corpus(tmp_path)
    args, mentions = setup(tmp_path)
    result = build(tmp_path, *args)
    assert_fatal(result, *mentions, code=1)


# --- a mixed corpus: summary, report, stderr, verbosity ------------------------------


@dataclass
class MixedRun:
    root: Path
    bad_line: int
    plain: subprocess.CompletedProcess[str]
    verbose: subprocess.CompletedProcess[str]
    report: dict[str, Any]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> MixedRun:
    root = tmp_path_factory.mktemp("mixed")
    info = write_mixed_corpus(root)
    plain = build(root, "--source", "articles", "--output", "out", "--report", "report.json")
    verbose = build(root, "--source", "articles", "--output", "out-v", "-v")
    return MixedRun(root, info["bad_line"], plain, verbose, load_json(root / "report.json"))


def test_invalid_files_are_warnings_one_stderr_line_each(mixed: MixedRun) -> None:
    assert mixed.plain.returncode == 0, mixed.plain.stderr
    lines = mixed.plain.stderr.splitlines()
    assert "Traceback" not in mixed.plain.stderr
    assert len(lines) == 2, lines
    bad = next(line for line in lines if line.startswith("articles/bad.md:"))
    notes = next(line for line in lines if line.startswith("articles/notes.md:"))
    assert bad.startswith(f"articles/bad.md:{mixed.bad_line}: ")
    assert "quality" in bad.split(": ", 1)[1]
    assert re.fullmatch(r"articles/notes\.md:1: \S.*", notes)


def test_summary_states_counts_per_stage(mixed: MixedRun) -> None:
    out = mixed.plain.stdout
    assert states(out, "loaded", 5)
    assert states(out, "invalid", 2)
    assert states(out, "duplicate", 1)
    assert states(out, "quality", 1)
    assert states(out, "unpublished", 1)
    assert states(out, "published", 2)
    assert states(out, "written", 9)
    assert states(out, "unchanged", 0)
    # Without -v the individual duplicates and exclusions are not listed.
    assert "articles/b.md" not in out
    assert "articles/d.md" not in out


def test_verbose_lists_duplicates_and_exclusions(mixed: MixedRun) -> None:
    assert mixed.verbose.returncode == 0, mixed.verbose.stderr
    lines = mixed.verbose.stdout.splitlines()
    dup = [line for line in lines if "articles/b.md" in line]
    assert len(dup) == 1
    assert "duplicate" in dup[0]
    assert "articles/a.md" in dup[0]
    assert "same-url" in dup[0]
    for path in ("articles/d.md", "articles/e.md"):
        listed = [line for line in lines if path in line]
        assert len(listed) == 1, (path, lines)
        assert "exclu" in listed[0]
    assert any("articles/e.md" in line and "20" in line for line in lines)


def test_report_errors_duplicates_exclusions(mixed: MixedRun) -> None:
    report = mixed.report
    errors = sorted(report["errors"], key=lambda e: e["path"])
    assert [(e["path"], e["line"]) for e in errors] == [
        ("articles/bad.md", mixed.bad_line),
        ("articles/notes.md", 1),
    ]
    assert all(isinstance(e["reason"], str) and e["reason"] for e in errors)
    assert "quality" in errors[0]["reason"]

    assert report["duplicates"] == [
        {
            "kept": "articles/a.md",
            "dropped": ["articles/b.md"],
            "reason": "same-url",
            "score": 1.0,
            "copies": [{"path": "articles/b.md", "reason": "same-url", "score": 1.0}],
        }
    ]

    excluded = {e["path"]: e for e in report["excluded"]}
    assert set(excluded) == {"articles/d.md", "articles/e.md"}
    assert excluded["articles/e.md"]["reason"]
    assert "20" in excluded["articles/e.md"]["reason"]
    assert excluded["articles/d.md"]["reason"]


def test_report_feeds_and_counts(mixed: MixedRun) -> None:
    report = mixed.report
    feeds = sorted(report["feeds"], key=lambda f: f["path"])
    assert feeds == [
        {"topic": None, "format": "atom", "path": "all.atom", "entries": 2, "changed": True},
        {"topic": None, "format": "json", "path": "all.json", "entries": 2, "changed": True},
        {"topic": None, "format": "rss", "path": "all.rss", "entries": 2, "changed": True},
        {"topic": "AI", "format": "atom", "path": "topics/ai.atom", "entries": 1, "changed": True},
        {"topic": "AI", "format": "json", "path": "topics/ai.json", "entries": 1, "changed": True},
        {"topic": "AI", "format": "rss", "path": "topics/ai.rss", "entries": 1, "changed": True},
        {
            "topic": "Robotics",
            "format": "atom",
            "path": "topics/robotics.atom",
            "entries": 2,
            "changed": True,
        },
        {
            "topic": "Robotics",
            "format": "json",
            "path": "topics/robotics.json",
            "entries": 2,
            "changed": True,
        },
        {
            "topic": "Robotics",
            "format": "rss",
            "path": "topics/robotics.rss",
            "entries": 2,
            "changed": True,
        },
    ]
    for feed in feeds:
        assert (mixed.root / "out" / feed["path"]).is_file()
    counts = report["counts"]
    assert counts["loaded"] == 5
    assert counts["invalid"] == 2
    assert counts["duplicates"] == 1
    assert counts["excluded"] == {"quality": 1, "unpublished": 1}
    assert counts["published"] == 2
    assert counts["feeds_written"] == 9
    assert counts["feeds_unchanged"] == 0


def test_an_internationalised_host_in_capitals_is_published_in_idna_form(
    tmp_path: Path,
) -> None:
    articles = tmp_path / "articles"
    image = {"url": "https://IMG.例え.テスト/ü.PNG", "width": 800, "height": 450}
    write_article(
        articles, "b.md", n=1, webUrl="https://Bücher.example/story", images=[image], quality=90
    )
    # The same story under the all-lower-case spelling of its host: one story
    write_article(articles, "c.md", n=2, webUrl="https://bücher.example/story", quality=50)
    write_article(articles, "d.md", n=3, webUrl="https://News.例え.テスト/story")
    result = build(
        tmp_path,
        *("--source", "articles", "--output", "out", "--report", "report.json"),
        *("--base-url", "https://Nachrichten.BÜCHER.example/feeds"),
    )
    assert result.returncode == 0, result.stderr
    assert "unsupported link" not in result.stdout + result.stderr

    report = load_json(tmp_path / "report.json")
    assert report["excluded"] == []
    assert [(d["kept"], d["dropped"], d["reason"]) for d in report["duplicates"]] == [
        ("articles/b.md", ["articles/c.md"], "same-url")
    ]
    feed = load_json(tmp_path / "out" / "all.json")
    items = {item["url"]: item for item in feed["items"]}
    assert set(items) == {
        "https://xn--bcher-kva.example/story",
        "https://news.xn--r8jz45g.xn--zckzah/story",
    }
    assert items["https://xn--bcher-kva.example/story"]["image"] == (
        "https://img.xn--r8jz45g.xn--zckzah/%C3%BC.PNG"
    )
    assert feed["feed_url"] == "https://nachrichten.xn--bcher-kva.example/feeds/all.json"
    atom = parse_feed(tmp_path / "out" / "all.atom")
    assert sorted(entry.link for entry in atom.entries) == sorted(items)


def test_kept_duplicate_carries_the_union_of_topics(mixed: MixedRun) -> None:
    out = mixed.root / "out"
    for name in ("all.rss", "all.atom"):
        feed = parse_feed(out / name)
        links = sorted(entry.link for entry in feed.entries)
        assert links == [STORY_1, "https://news.example.com/story-3"]
        kept = next(entry for entry in feed.entries if entry.link == STORY_1)
        assert kept.title == "Story number 1"  # a.md (quality 80), not b.md (60)
        assert sorted(tag.term for tag in kept.tags) == ["AI", "Robotics"]
    robotics = parse_feed(out / "topics" / "robotics.atom")
    assert sorted(entry.link for entry in robotics.entries) == [
        STORY_1,
        "https://news.example.com/story-3",
    ]
    for path in out.rglob("*"):
        if path.is_file():
            assert "Story number 2" not in path.read_text(encoding="utf-8")
            assert "cdn.ampproject.org" not in path.read_text(encoding="utf-8")


# --- strict, quiet, several sources --------------------------------------------------


def test_strict_exits_3_when_a_file_is_invalid(tmp_path: Path) -> None:
    write_mixed_corpus(tmp_path)
    result = build(tmp_path, "--source", "articles", "--output", "out", "--strict")
    assert result.returncode == 3, (result.stdout, result.stderr)
    assert len(result.stderr.splitlines()) == 2
    assert "Traceback" not in result.stderr
    # The run still completed.
    assert len(parse_feed(tmp_path / "out" / "all.rss").entries) == 2


def test_strict_exits_0_when_all_files_are_valid_with_several_sources(tmp_path: Path) -> None:
    write_article(tmp_path / "one", "a.md", n=1, topics=["AI"])
    write_article(tmp_path / "two", "b.md", n=2, topics=["AI"])
    write_article(tmp_path / "three", "c.md", n=3, topics=["AI"])
    result = build(
        tmp_path,
        "--source",
        "one",
        "two",
        "--source",
        "three",
        "--output",
        "out",
        "--strict",
        "--report",
        "report.json",
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    report = load_json(tmp_path / "report.json")
    assert report["counts"]["loaded"] == 3
    assert report["errors"] == []


def test_quiet_prints_nothing_for_a_clean_run(tmp_path: Path) -> None:
    write_clean_corpus(tmp_path)
    result = build(tmp_path, "--source", "articles", "--output", "out", "-q")
    assert result.returncode == 0
    assert result.stdout == ""
    assert result.stderr == ""
    assert (tmp_path / "out" / "all.atom").is_file()


# --- config file ---------------------------------------------------------------------


def test_default_config_in_working_folder_and_cli_overrides_it(tmp_path: Path) -> None:
    articles = tmp_path / "articles"
    write_article(articles, "a.md", n=1, quality=80, topics=["AI"])
    write_article(articles, "b.md", n=2, quality=80, topics=["AI"])
    write_article(articles, "c.md", n=3, quality=80, topics=["AI"], published=False)
    (tmp_path / "aggregator.yaml").write_text(
        yaml.safe_dump(
            {
                "sources": ["articles"],
                "output": "site",
                "min_quality": 90,
                "base_url": "https://file.example/",
                "limit": 50,
                "include_unpublished": False,
            }
        ),
        encoding="utf-8",
    )
    first = build(tmp_path, "--report", "first.json")
    assert first.returncode == 0, first.stderr
    report = load_json(tmp_path / "first.json")
    assert report["counts"]["loaded"] == 3
    assert report["counts"]["published"] == 0
    assert report["counts"]["excluded"] == {"quality": 2, "unpublished": 1}
    assert (tmp_path / "site").is_dir()
    assert not (tmp_path / "feeds").exists()

    second = build(
        tmp_path,
        "--min-quality",
        "10",
        "--include-unpublished",
        "--limit",
        "2",
        "--base-url",
        "https://cli.example/news",
        "--report",
        "second.json",
    )
    assert second.returncode == 0, second.stderr
    report = load_json(tmp_path / "second.json")
    assert report["counts"]["published"] == 3
    assert report["excluded"] == []
    atom = parse_feed(tmp_path / "site" / "all.atom")
    assert len(atom.entries) == 2  # --limit 2
    self_links = [link.href for link in atom.feed.links if link.rel == "self"]
    assert self_links == ["https://cli.example/news/all.atom"]
    assert "file.example" not in (tmp_path / "site" / "index.html").read_text(encoding="utf-8")


def test_relative_paths_in_config_are_relative_to_its_folder(tmp_path: Path) -> None:
    write_clean_corpus(tmp_path)
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "site.yaml").write_text(
        "sources: ../articles\noutput: public\n", encoding="utf-8"
    )
    work = tmp_path / "work"
    work.mkdir()
    result = build(work, "--config", "../conf/site.yaml", "--report", "report.json")
    assert result.returncode == 0, result.stderr
    assert len(parse_feed(tmp_path / "conf" / "public" / "all.rss").entries) == 2
    assert not (work / "public").exists()
    assert not (work / "feeds").exists()
    # A relative path on the command line is relative to the working folder.
    assert load_json(work / "report.json")["counts"]["published"] == 2


# --- stable output -------------------------------------------------------------------


def test_identical_builds_are_byte_identical_and_rewrite_nothing(tmp_path: Path) -> None:
    write_mixed_corpus(tmp_path)
    args = ("--source", "articles", "--base-url", "https://example.org/")
    first = build(tmp_path, *args, "--output", "out", "--report", "r1.json")
    assert first.returncode == 0, first.stderr
    before = snapshot(tmp_path / "out")
    assert "index.html" in before

    second = build(tmp_path, *args, "--output", "out", "--report", "r2.json")
    assert second.returncode == 0, second.stderr
    assert snapshot(tmp_path / "out") == before  # same bytes, mtimes and inodes
    report = load_json(tmp_path / "r2.json")
    assert report["feeds"]
    assert all(feed["changed"] is False for feed in report["feeds"])
    assert all(page["changed"] is False for page in report["pages"])
    assert report["counts"]["feeds_written"] == 0
    assert states(second.stdout, "written", 0)
    assert states(second.stdout, "unchanged", len(report["feeds"]))

    third = build(tmp_path, *args, "--output", "again")
    assert third.returncode == 0, third.stderr
    fresh = {path: data for path, (data, _, _) in snapshot(tmp_path / "again").items()}
    assert fresh == {path: data for path, (data, _, _) in before.items()}


def test_secured_and_heat_do_not_change_any_output(tmp_path: Path) -> None:
    write_clean_corpus(tmp_path)
    args = ("--source", "articles", "--output", "out")
    first = build(tmp_path, *args)
    assert first.returncode == 0, first.stderr
    before = snapshot(tmp_path / "out")
    write_article(tmp_path / "articles", "a.md", n=1, topics=["AI"], secured="other", heat=97)
    second = build(tmp_path, *args, "--report", "report.json")
    assert second.returncode == 0, second.stderr
    assert snapshot(tmp_path / "out") == before
    report = load_json(tmp_path / "report.json")
    assert not any(feed["changed"] for feed in report["feeds"])
    assert not any(page["changed"] for page in report["pages"])


# --- topics that lose all their articles ---------------------------------------------


@dataclass
class RetiredRun:
    out: Path
    index_before: str
    report: dict[str, Any]
    again: dict[str, Any]


@pytest.fixture(scope="module")
def retired(tmp_path_factory: pytest.TempPathFactory) -> RetiredRun:
    root = tmp_path_factory.mktemp("retired")
    articles = root / "articles"
    write_article(articles, "a.md", n=1, topics=["AI"])
    write_article(articles, "r.md", n=2, topics=["Robotics"])
    write_article(articles, "s.md", n=3, topics=["Space"])
    args = ("--source", "articles", "--output", "out")
    first = build(root, *args)
    assert first.returncode == 0, first.stderr
    index_before = (root / "out" / "index.html").read_text(encoding="utf-8")
    # Robotics loses its only article to the quality threshold; Space's file is deleted.
    write_article(articles, "r.md", n=2, topics=["Robotics"], quality=10)
    (articles / "s.md").unlink()
    second = build(root, *args, "--report", "second.json")
    assert second.returncode == 0, second.stderr
    third = build(root, *args, "--report", "third.json")
    assert third.returncode == 0, third.stderr
    return RetiredRun(
        root / "out", index_before, load_json(root / "second.json"), load_json(root / "third.json")
    )


def test_retired_topic_feeds_stay_valid_and_empty(retired: RetiredRun) -> None:
    for topic, slug in (("Robotics", "robotics"), ("Space", "space")):
        for ext in ("rss", "atom"):
            feed = parse_feed(retired.out / "topics" / f"{slug}.{ext}")
            assert feed.entries == []
            assert feed.version == ("rss20" if ext == "rss" else "atom10")
            assert topic in feed.feed.title
    assert len(parse_feed(retired.out / "all.atom").entries) == 1


def test_retired_topics_leave_the_index_page(retired: RetiredRun) -> None:
    assert "topics/robotics.rss" in retired.index_before
    assert "topics/space.rss" in retired.index_before
    index = (retired.out / "index.html").read_text(encoding="utf-8")
    assert "topics/ai.rss" in index
    for slug in ("robotics", "space"):
        assert f"topics/{slug}." not in index
        assert f'id="{slug}"' not in index
    opml = (retired.out / "feeds.opml").read_text(encoding="utf-8")
    assert "topics/ai.atom" in opml
    assert "robotics" not in opml
    assert "space" not in opml


def test_report_shows_retired_feeds_with_zero_entries(retired: RetiredRun) -> None:
    feeds = {feed["path"]: feed for feed in retired.report["feeds"]}
    for slug in ("robotics", "space"):
        for ext in ("rss", "atom"):
            feed = feeds[f"topics/{slug}.{ext}"]
            assert feed["entries"] == 0
            assert feed["changed"] is True
            assert feed["format"] == ext
    assert feeds["topics/robotics.rss"]["topic"] == "Robotics"


def test_report_gives_topic_null_only_to_the_all_topics_feed(retired: RetiredRun) -> None:
    # Includes the feeds of Space, whose only article file was deleted.
    for feed in retired.report["feeds"]:
        assert (feed["topic"] is None) == feed["path"].startswith("all."), feed


def test_build_after_retirement_rewrites_nothing(retired: RetiredRun) -> None:
    assert retired.again["counts"]["feeds_written"] == 0
    assert not any(page["changed"] for page in retired.again["pages"])
    paths = {feed["path"] for feed in retired.report["feeds"]}
    assert {feed["path"] for feed in retired.again["feeds"]} == paths


# --- the real corpus, when it is beside the project -----------------------------------


def test_real_corpus_builds_valid_feeds(tmp_path: Path, corpus: Path) -> None:
    result = build(tmp_path, "--source", corpus, "--output", "out", "--report", "report.json")
    assert result.returncode == 0, result.stderr
    report = load_json(tmp_path / "report.json")
    assert report["counts"]["published"] > 0
    for feed in report["feeds"]:
        if feed["format"] == "json":  # feedparser reads RSS and Atom only
            items = load_json(tmp_path / "out" / feed["path"])["items"]
            assert len(items) == feed["entries"]
            continue
        parsed = parse_feed(tmp_path / "out" / feed["path"])
        assert len(parsed.entries) == feed["entries"]


def test_a_json_report_holds_the_same_values_with_orjson_or_without(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # orjson (the `fast` extra, which the tests install) writes the JSON report, indented
    # as `json.dumps(indent=2)` indents it; without it the stdlib writes the same values.
    from aggregator import fastjson
    from aggregator.app.cli import report_file
    from aggregator.config import Config
    from aggregator.engine.pipeline import build as build_feeds

    source = corpus_source("varied", tmp_path)
    # a copy under the same URL, another under a title a word longer, a low one
    write_article(source, "copy.md", n=40, title="Robots learn to sort parcels")
    write_article(source, "same-url.md", n=41, webUrl="https://news.example.com/story-40")
    write_article(source, "retitled.md", n=42, title="Robots learn to sort parcels fast")
    write_article(source, "low.md", n=43, quality=5)
    config = Config(sources=(source,), output=tmp_path / "out", links="off")
    report = build_feeds(config, now=NOW)
    assert fastjson.ORJSON is not None
    fast = report_file(tmp_path / "report.json", report, config)
    monkeypatch.setattr(fastjson, "ORJSON", None)
    plain = report_file(tmp_path / "report.json", report, config)
    assert fast.startswith(b'{\n  "') and fast.endswith(b"\n}\n")
    assert json.loads(fast) == json.loads(plain)
    data = json.loads(fast)
    (story,) = data["duplicates"]  # a float among the values: the similar title's score
    assert len(story["dropped"]) == 2 and isinstance(story["score"], float)
    assert data["excluded"] and data["feeds"]
