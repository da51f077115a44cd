"""`aggregator validate` and the pre-commit hook that runs it, end to end through the
real command: every broken file is named with its line and reason, good files pass,
and nothing is written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from conftest import article_fields
from conftest import front_matter
from conftest import run_cli
from conftest import write_article

from aggregator.config import DEFAULT_PATTERNS
from aggregator.sources.loader import find_files

HOOKS = ROOT / ".pre-commit-hooks.yaml"


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line of `text` that contains `needle`."""
    for number, line in enumerate(text.split("\n"), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in the file")


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return path


def broken_corpus(folder: Path) -> dict[str, tuple[int, str]]:
    """Good and broken article files; returns path -> (line, reason pattern) of each
    broken one, the line found in the file's own text."""
    write_article(folder, "good.md", n=1)
    crlf = front_matter(article_fields(n=2)).replace("\n", "\r\n")
    write(folder, "good-crlf-bom.txt", "\ufeff" + crlf)
    expected: dict[str, tuple[int, str]] = {}

    bad_yaml = front_matter(article_fields(n=3)).replace(
        "excerpt: The excerpt of story 3.\n", "excerpt: The excerpt\n  indented: wrongly\n"
    )
    write(folder, "bad-yaml.md", bad_yaml)
    expected["bad-yaml.md"] = (line_of(bad_yaml, "indented: wrongly"), r"invalid YAML: .+")

    no_title = front_matter(article_fields(n=4, title=None))
    write(folder, "no-title.md", no_title)
    expected["no-title.md"] = (line_of(no_title, "category:"), "missing title")

    bad_date = front_matter(article_fields(n=5, publishedDateTime="last Tuesday"))
    write(folder, "nested/bad-date.md", bad_date)
    expected["nested/bad-date.md"] = (
        line_of(bad_date, "publishedDateTime:"),
        "publishedDateTime: not an ISO 8601 date-time: 'last Tuesday'",
    )

    wrong_type = front_matter(article_fields(n=6, quality="very high"))
    write(folder, "wrong-type.yaml", wrong_type)
    expected["wrong-type.yaml"] = (
        line_of(wrong_type, "quality:"),
        r"quality: must be an integer.*",
    )

    latin1 = front_matter(article_fields(n=7, title="Caf\u00e9 society")).encode("latin-1")
    write(folder, "latin1.md", latin1)
    expected["latin1.md"] = (
        line_of(latin1.decode("latin-1"), "title:"),
        r"not UTF-8 text \(byte 0xe9 at offset \d+\)",
    )

    write(folder, "empty.md", "")
    expected["empty.md"] = (1, "empty file")

    # What a build does not read is not checked either.
    write(folder, ".drafts/broken.md", "not an article")
    write(folder, "notes.rst", "not an article")
    return expected


@pytest.mark.e2e
def test_validate_names_every_broken_file_with_its_line(tmp_path: Path) -> None:
    expected = broken_corpus(tmp_path / "articles")
    before = sorted(p for p in tmp_path.rglob("*"))

    result = run_cli("validate", "articles", cwd=tmp_path)

    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    *problems, summary = result.stdout.splitlines()
    # One line per broken file, in path order, each naming the file, line and reason.
    assert len(problems) == len(expected), result.stdout
    for line, (name, (number, reason)) in zip(problems, sorted(expected.items()), strict=True):
        assert re.fullmatch(rf"{re.escape(f'articles/{name}:{number}: ')}{reason}", line), line
    assert summary == f"{len(expected) + 2} article files checked: {len(expected)} with problems"
    # Nothing written: no feed, no state file, no cache.
    assert sorted(p for p in tmp_path.rglob("*")) == before


@pytest.mark.e2e
def test_validate_passes_good_files_with_a_summary(tmp_path: Path) -> None:
    for n in range(1, 4):
        write_article(tmp_path / "articles", f"{n}.md", n=n)

    result = run_cli("validate", "articles", cwd=tmp_path)

    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines() == ["3 article files checked: all valid"]
    assert result.stderr == ""
    quiet = run_cli("validate", "-q", "articles", cwd=tmp_path)
    assert (quiet.returncode, quiet.stdout) == (0, "")


@pytest.mark.e2e
def test_validate_reads_the_configured_sources_by_default(tmp_path: Path) -> None:
    write_article(tmp_path / "news", "good.md", n=1)
    bad = "---\ntitle: [\n---\n"
    write(tmp_path / "news", "bad.story", bad)
    write(tmp_path / "news", "ignored.md", "")  # not among the configured patterns
    write(tmp_path / "elsewhere", "bad.story", "")  # not a source folder
    (tmp_path / "aggregator.yaml").write_text(
        "sources: [news]\npatterns: ['*.story', 'good.md']\n", encoding="utf-8"
    )

    result = run_cli("validate", cwd=tmp_path)

    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"news/bad.story:{line_of(bad, 'title: [')}: invalid YAML: "
        "did not find expected node content (while parsing a flow node)",
        "2 article files checked: 1 with problems",
    ]


@pytest.mark.e2e
def test_validate_checks_files_named_on_the_command_line(tmp_path: Path) -> None:
    good = write_article(tmp_path, "draft.markdown", n=1)  # any name: a hook passes it
    result = run_cli("validate", good.name, "missing.md", good.name, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "missing.md:1: no such file or folder",
        "1 article file checked: 1 with problems",
    ]


@pytest.mark.e2e
def test_validate_a_link_whose_name_is_not_utf8_hides_no_file(tmp_path: Path) -> None:
    """A link whose name is not UTF-8 to a file of another folder named: the link is
    reported (its name cannot be read) and the file checked, in either order."""
    bad = "---\ntitle: [\n---\n"
    target = write(tmp_path / "more", "b.md", bad)
    (tmp_path / "src").mkdir()
    os.symlink(target, os.fsencode(tmp_path / "src") + b"/bad-\xff.md")
    expected = [
        f"more/b.md:{line_of(bad, 'title: [')}: invalid YAML: "
        "did not find expected node content (while parsing a flow node)",
        "src/bad-\\xff.md:1: file name is not UTF-8: rename the file",
    ]
    for folders in (("src", "more"), ("more", "src")):
        result = run_cli("validate", *folders, cwd=tmp_path)
        *problems, summary = result.stdout.splitlines()
        assert (result.returncode, sorted(problems)) == (1, expected)
        assert summary == "2 article files checked: 2 with problems"


@pytest.mark.e2e
def test_validate_with_a_broken_config_is_one_fatal_line(tmp_path: Path) -> None:
    (tmp_path / "aggregator.yaml").write_text("sources: 12\n", encoding="utf-8")
    result = run_cli("validate", cwd=tmp_path)
    assert result.returncode == 2  # a config error; 1 means some article file has a problem
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "aggregator.yaml" in result.stderr and "sources" in result.stderr


@pytest.mark.e2e
def test_validate_accepts_the_real_corpus(corpus: Path, tmp_path: Path) -> None:
    result = run_cli("validate", corpus, cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    count = len(find_files([corpus], DEFAULT_PATTERNS))
    assert result.stdout.splitlines() == [f"{count} article files checked: all valid"]


@pytest.mark.e2e
def test_validate_help_describes_the_command(tmp_path: Path) -> None:
    result = run_cli("validate", "--help", cwd=tmp_path)
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for word in ("PATH", "--config", "--quiet", "'path:line: reason'", "exit 1"):
        assert word in text
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "aggregator validate [--config FILE] [-q] [PATH ...]" in readme


# --- the pre-commit hook ---------------------------------------------------------------


@pytest.fixture(scope="module")
def hook() -> dict[str, str]:
    hooks = yaml.safe_load(HOOKS.read_text(encoding="utf-8"))
    assert isinstance(hooks, list) and len(hooks) == 1
    found: dict[str, str] = hooks[0]
    return found


def _installed_script(name: str) -> Path:
    script = Path(sys.executable).parent / name
    if not script.is_file():
        pytest.skip(f"the {name!r} console script is not installed beside {sys.executable}")
    return script


@pytest.mark.e2e
def test_hook_runs_the_validate_command(hook: dict[str, str], tmp_path: Path) -> None:
    assert hook["id"] == "aggregator-validate"
    assert hook["language"] == "python"  # pre-commit pip-installs this repository
    assert hook["entry"] == "aggregator validate"
    program, *words = hook["entry"].split()
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "scripts"
    ]
    assert program in scripts  # the console script the install provides
    # pre-commit runs the entry with the staged file names appended.
    good = write_article(tmp_path / "articles", "good.md", n=1)
    bad = write(tmp_path / "articles", "bad.md", "")
    command = [str(_installed_script(program)), *words]
    ok = subprocess.run([*command, str(good)], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    failed = subprocess.run(
        [*command, str(good), str(bad)], capture_output=True, text=True, check=False
    )
    assert failed.returncode == 1
    assert f"{bad}:1: empty file" in failed.stdout.splitlines()


def test_hook_file_pattern_matches_the_files_a_build_reads(
    hook: dict[str, str], tmp_path: Path
) -> None:
    names = [
        "a.md",
        "b.txt",
        "c.yaml",
        "d.yml",
        "2021/05/e.md",
        "deep/er/f.txt",
        "x.markdown",
        "y.html",
        "z.md.bak",
        "pic.png",
        ".hidden.md",
        ".git/g.md",
        "drafts/.wip/h.md",
        "aggregator.yaml",
        "README.md",
        "docs/CHANGELOG.md",
        "LICENSE.txt",
    ]
    for name in names:
        write(tmp_path, name, "x")
    read_by_build = {
        p.relative_to(tmp_path).as_posix() for p in find_files([tmp_path], DEFAULT_PATTERNS)
    }
    files, exclude = re.compile(hook["files"]), re.compile(hook["exclude"])
    matched = {name for name in names if files.search(name) and not exclude.search(name)}
    # The hook checks what a build reads, except the config file and project documents.
    assert matched <= read_by_build
    assert read_by_build - matched == {
        "aggregator.yaml",
        "README.md",
        "docs/CHANGELOG.md",
        "LICENSE.txt",
    }
    assert {"a.md", "b.txt", "c.yaml", "d.yml", "2021/05/e.md", "deep/er/f.txt"} <= matched
