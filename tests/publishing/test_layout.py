"""Nothing private inside the served folder (#15): the state file, the report, the config
file and the sources are kept out of the output folder, however the paths are written
(relative, with `..`, through symlinks, in the config file or on the command line), by
every command that writes or serves. And one output folder, one lock, one state file:
a symlink to the output folder shares them with its target.

Each case runs the real `aggregator` command in tmp_path and checks that it refused
with one line naming the key, exit 2, and wrote nothing.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path

import pytest
from conftest import run_cli
from conftest import write_article

from aggregator.config import Config
from aggregator.publishing.layout import Layout
from aggregator.publishing.layout import problems
from aggregator.publishing.lock import OutputLock
from aggregator.publishing.lock import lock_path


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """articles/ with two article files, real/ for symlink targets."""
    write_article(tmp_path / "articles", "a.md", n=1)
    write_article(tmp_path / "articles", "b.md", n=2, topics=["Robotics"])
    (tmp_path / "real").mkdir()
    return tmp_path


def refused(result: subprocess.CompletedProcess[str], where: str, *words: str) -> str:
    """Exit 2 with one line `aggregator: error: WHERE: ...` holding `words`."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"aggregator: error: {where}: "), lines[0]
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


# --- the state file and the report --------------------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("extra", "where", "words"),
    [
        (["--state", "out/state.sqlite"], "--state", ["out/state.sqlite", "state file"]),
        (["--report", "out/report.json"], "--report", ["out/report.json", "report"]),
        (["--state", "out/deep/er/state.sqlite"], "--state", ["inside the output folder out"]),
        (["--state", "out"], "--state", ["inside the output folder"]),  # the folder itself
        (["--state", "elsewhere/../out/s.sqlite"], "--state", ["s.sqlite"]),
        (["--report", "./out/./r.json"], "--report", ["r.json"]),
        (["--report", "r.json", "--state", "r.json"], "--report", ["is the state file"]),
    ],
    ids=["state", "report", "state-deep", "state-is-output", "dotdot", "dot", "report-is-state"],
)
def test_build_refuses_private_files_in_the_output_folder(
    site: Path, extra: list[str], where: str, words: list[str]
) -> None:
    (site / "elsewhere").mkdir()
    before = files(site)
    result = run_cli("build", "--source", "articles", "--output", "out", *extra, cwd=site)
    refused(result, where, *words)
    assert files(site) == before  # nothing written: no output, no state, no report


@pytest.mark.e2e
def test_an_absolute_path_to_the_same_folder_is_the_same_folder(site: Path) -> None:
    result = run_cli(
        "build", "--source", "articles", "--output", "out", "--state", site / "out" / "s.sqlite",
        cwd=site,
    )  # fmt: skip
    refused(result, "--state", "s.sqlite")


@pytest.mark.e2e
def test_symlinks_cannot_hide_the_state_file_or_the_report_in_the_output(site: Path) -> None:
    # The output is a symlink to real/feeds; the state file is named through the target,
    # through a symlinked folder, and as a symlink to a file in the output.
    (site / "out").symlink_to(site / "real")
    (site / "door").symlink_to(site / "real")
    (site / "real" / "state.sqlite").write_bytes(b"")
    (site / "state-link.sqlite").symlink_to(site / "real" / "state.sqlite")
    for state in ("real/s.sqlite", "door/s.sqlite", "state-link.sqlite"):
        result = run_cli(
            "build", "--source", "articles", "--output", "out", "--state", state, cwd=site
        )
        refused(result, "--state", state)
    result = run_cli(
        "build", "--source", "articles", "--output", "out", "--report", "door/r.json", cwd=site
    )
    refused(result, "--report", "door/r.json")
    assert sorted(os.listdir(site / "real")) == ["state.sqlite"]


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("extra", "where", "words"),
    [
        (["--state", "conf.yaml"], "--state", ["conf.yaml is the config file", "destroy"]),
        (["--report", "./conf.yaml"], "--report", ["conf.yaml is the config file", "destroy"]),
        (["--state", "articles/a.md"], "--state", ["named as an article file", "articles"]),
        (["--report", "articles/b.md"], "--report", ["named as an article file", "articles"]),
        (["--report", "articles/new.md"], "--report", ["read the report as one"]),
    ],
    ids=["state-is-config", "report-is-config", "state-is-article", "report-is-article", "new"],
)
def test_the_state_file_and_the_report_may_not_be_a_file_builds_read(
    site: Path, extra: list[str], where: str, words: list[str]
) -> None:
    # A state file there moved the file aside as a corrupt database and put its own in
    # its place; a report replaced it (and builds read a report in a source as an article).
    conf = site / "conf.yaml"
    conf.write_text("limit: 5\n", encoding="utf-8")
    before = {path: path.read_bytes() for path in site.rglob("*") if path.is_file()}
    result = run_cli(
        "build", "--config", "conf.yaml", "--source", "articles", "--output", "out", *extra,
        cwd=site,
    )  # fmt: skip
    refused(result, where, *words)
    assert {path: path.read_bytes() for path in site.rglob("*") if path.is_file()} == before


def test_a_report_beside_the_article_files_under_another_name_is_taken(tmp_path: Path) -> None:
    source = tmp_path / "articles"
    layout = Layout(tmp_path / "out", (source,), tmp_path / "s.sqlite", patterns=("*.md",))
    assert problems(dataclasses.replace(layout, report=source / "report.json")) == []
    found = problems(dataclasses.replace(layout, report=source / "deep" / "report.md"))
    assert [key for key, _ in found] == ["report"]
    found = problems(dataclasses.replace(layout, state=source / "a.md"))
    assert [key for key, _ in found] == ["state"]


@pytest.mark.e2e
def test_the_config_file_keys_are_named_with_their_line(site: Path) -> None:
    conf = site / "conf.yaml"
    conf.write_text(
        'sources: [articles]\noutput: out\nlinks: "off"\nstate: out/links.sqlite\n',
        encoding="utf-8",
    )
    result = run_cli("build", "--config", conf, cwd=site)
    refused(result, f"{conf}:4: state", "out/links.sqlite")
    # The same folder through the command line: named as an option.
    result = run_cli("build", "--config", conf, "--output", "out/..", cwd=site)
    refused(result, "--output", "contains the source folder")
    assert not (site / "out").exists()


# --- the sources ----------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("sources", "output", "words"),
    [
        (["articles"], "articles", ["is also a source folder", "unpublished"]),
        (["articles"], ".", ["contains the source folder articles"]),
        (["articles"], "articles/feeds", ["is inside the source folder articles"]),
        (["real", "articles"], "articles/../articles", ["is also a source folder"]),
        (["articles"], "articles/./sub/..", ["is also a source folder"]),
    ],
    ids=["same", "contains", "inside", "second-source", "dots"],
)
def test_the_output_may_not_be_contain_or_be_inside_a_source(
    site: Path, sources: list[str], output: str, words: list[str]
) -> None:
    before = files(site)
    result = run_cli("build", "--source", *sources, "--output", output, cwd=site)
    refused(result, "--output", *words)
    assert files(site) == before


@pytest.mark.e2e
def test_a_symlinked_source_inside_the_output_is_found(site: Path) -> None:
    (site / "real" / "articles").symlink_to(site / "articles")
    result = run_cli("build", "--source", "real/articles", "--output", "real", cwd=site)
    refused(result, "--output", "contains the source folder real/articles")
    (site / "out").symlink_to(site / "articles")  # the output is the source in disguise
    result = run_cli("build", "--source", "articles", "--output", "out", cwd=site)
    refused(result, "--output", "is also a source folder")


@pytest.mark.e2e
def test_output_in_the_config_files_folder_that_is_also_a_source(site: Path) -> None:
    """`output: .` beside the config file, which sits in a source folder."""
    conf = site / "articles" / "aggregator.yaml"
    conf.write_text("sources: [.]\noutput: .\n", encoding="utf-8")
    result = run_cli("build", cwd=site / "articles")
    refused(result, f"{Path('aggregator.yaml')}:2: output", "is also a source folder")


@pytest.mark.e2e
def test_the_config_file_may_not_be_served(site: Path) -> None:
    conf = site / "public" / "site.yaml"
    conf.parent.mkdir()
    conf.write_text("sources: [../articles]\noutput: .\nlinks: 'off'\n", encoding="utf-8")
    result = run_cli("build", "--config", conf, cwd=site)
    refused(result, f"{conf}:2: output", "holds the config file")


# --- run and serve refuse the same -----------------------------------------------------


@pytest.mark.e2e
def test_run_refuses_before_starting(site: Path) -> None:
    result = run_cli(
        "run", "--source", "articles", "--output", "out", "--state", "out/s.sqlite",
        "--serve", "127.0.0.1:0", cwd=site,
    )  # fmt: skip
    refused(result, "--state", "out/s.sqlite")
    assert not (site / "out").exists()


@pytest.mark.e2e
def test_serve_refuses_a_folder_holding_sources_or_the_state_file(site: Path) -> None:
    conf = site / "conf.yaml"
    conf.write_text("sources: [articles]\n", encoding="utf-8")
    result = run_cli("serve", "--config", conf, "--output", ".", "--serve", "127.0.0.1:0", cwd=site)
    refused(result, "--output", "contains the source folder")
    conf.write_text("sources: [articles]\noutput: out\nstate: out/s.sqlite\n", encoding="utf-8")
    result = run_cli("serve", "--config", conf, "--serve", "127.0.0.1:0", cwd=site)
    refused(result, f"{conf}:3: state", "out/s.sqlite")


# --- one output, one lock, one state file ------------------------------------------------


@pytest.mark.e2e
def test_a_symlinked_output_takes_its_targets_lock_and_state(site: Path) -> None:
    target = site / "real" / "feeds"
    (site / "out").symlink_to(target)  # dangling until the first build makes the target
    assert lock_path(site / "out") == lock_path(target)
    assert Config(output=site / "out").state_path == Config(output=target).state_path

    first = run_cli("build", "--source", "articles", "--output", "out", cwd=site)
    assert first.returncode == 0, first.stderr
    assert (target / "all.rss").is_file()
    assert sorted(p.name for p in (site / "real").iterdir()) == [
        ".feeds-state.sqlite",
        ".feeds.lock",
        "feeds",
    ]
    assert not (site / ".out.lock").exists() and not (site / ".out-state.sqlite").exists()

    # Another writer holding the target's lock holds the symlink's too.
    with OutputLock(target, wait=0):
        busy = run_cli(
            "build", "--source", "articles", "--output", "out", "--wait", "200ms", cwd=site
        )
    assert busy.returncode == 1, busy.stderr
    assert "another aggregator" in busy.stderr


@pytest.mark.e2e
def test_the_lock_and_state_of_the_working_folder_as_output_sit_beside_it(site: Path) -> None:
    public = site / "public"
    public.mkdir()
    result = run_cli("build", "--source", "../articles", "--output", ".", cwd=public)
    assert result.returncode == 0, result.stderr
    assert not [p.name for p in public.iterdir() if p.name.startswith(".")]
    assert (site / ".public-state.sqlite").is_file()
    assert (site / ".public.lock").is_file()


def test_problems_compares_real_paths(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "out")
    assert problems(Layout(tmp_path / "out", (tmp_path / "src",), tmp_path / "s.sqlite")) == []
    found = problems(Layout(tmp_path / "alias", (), tmp_path / "out" / "s.sqlite"))
    assert [key for key, _ in found] == ["state"]
    found = problems(Layout(tmp_path / "out", (tmp_path / "alias" / "src",)))
    assert [key for key, _ in found] == ["output"]
