"""`aggregator init`: the scaffold loads as the default config and names every key.

The keys a config file may hold are read off config.py itself: its table of top-level
keys, its tables of topic and feed settings, and, for the sections that keep their
table inside the function that validates them (`link_check:`, `dedupe:`, `limits:`),
the list of known keys that function names when it refuses an unknown one. So a key
added to config.py but not to the scaffold fails `test_every_key_config_py_knows...`.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT
from conftest import SEEDS
from conftest import run_cli

from aggregator import config as config_module
from aggregator.app.scaffold import _yaml
from aggregator.app.scaffold import scaffold_text
from aggregator.app.scaffold import write_scaffold
from aggregator.config import Config
from aggregator.config import config_from_mapping
from aggregator.config import load_config
from aggregator.config import read_config
from aggregator.errors import ConfigError
from aggregator.errors import OutputError
from aggregator.sources.discover import add_to_config

#: a key no section knows
PROBE = "no-such-key"


def mapping(text: str) -> dict[str, Any]:
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def anchored(value: Any, base: Path) -> Any:
    """`value` with a relative path made relative to `base`, as a config file's are."""
    if isinstance(value, Path):
        return value if value.is_absolute() else base / value
    if isinstance(value, tuple):
        return tuple(anchored(item, base) for item in value)
    return value


def examples(text: str) -> str:
    """The scaffold with the example under each key uncommented in place of its empty
    default (`topics: {}` followed by `#   AI: ...` becomes `topics:` then `  AI: ...`)."""
    lines = text.splitlines()
    out: list[str] = []
    for number, line in enumerate(lines):
        if line.startswith("#   "):
            out.append(line[2:])
        elif number + 1 < len(lines) and lines[number + 1].startswith("#   "):
            out.append(line.split(":")[0] + ":")
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def missing(known: set[str], shown: set[str]) -> list[str]:
    """The keys config.py knows that the scaffold does not show (the scaffold showing
    one config.py does not know would fail to load: the other tests catch that)."""
    return sorted(known - shown)


def known_settings(key: str) -> set[str] | None:
    """The keys the validator of section `key` knows, as it lists them when it refuses
    an unknown one (`unknown setting 'x' (known: a, b)`); None when it lists none."""
    try:
        config_from_mapping({key: {PROBE: 1}}, base=Path(), origin="probe")
    except ConfigError as exc:
        found = re.search(r"\(known: ([^)]*)\)", str(exc))
        return set(found.group(1).split(", ")) if found else None
    return None


# --- the scaffold is the default config ----------------------------------------------


def test_the_scaffold_loads_as_the_default_config_field_by_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path.resolve() / "site"
    path = write_scaffold(folder)
    scaffold = read_config(path).config
    # No config file: the defaults, relative paths relative to the working folder.
    monkeypatch.chdir(tmp_path)
    default = load_config()
    assert not (tmp_path / "aggregator.yaml").exists()
    for field in dataclasses.fields(Config):
        ours, theirs = getattr(scaffold, field.name), getattr(default, field.name)
        assert ours == anchored(theirs, folder), field.name
    for derived in ("state_path", "entries_path"):
        ours, theirs = getattr(scaffold, derived), getattr(default, derived)
        assert ours == anchored(theirs, folder), derived


def test_every_key_config_py_knows_is_in_the_scaffold() -> None:
    text = scaffold_text()
    data = mapping(text)
    # Top level: config.py's own table of keys, which refuses any other.
    assert missing(set(config_module._KEYS), set(data)) == []
    # Sections: every key their validator knows, with a value (not only an example).
    sections = {key for key, value in data.items() if isinstance(value, dict) and value}
    assert {"link_check", "dedupe", "limits"} <= sections
    for key in sections:
        known = known_settings(key)
        if known is None:
            # `websub:` checks its one key with `set(value) - {"hub"}`, naming no list.
            assert key == "websub" and set(data[key]) == {"hub"}, key
        else:
            assert missing(known, set(data[key])) == [], key
    # Empty by default, so shown as examples: every topic setting and feed setting.
    shown = mapping(examples(text))
    topic_keys = {name for settings in shown["topics"].values() for name in settings}
    assert missing(set(config_module._TOPIC_SETTINGS), topic_keys) == []
    feed_keys = {name for item in shown["feeds"] if isinstance(item, dict) for name in item}
    assert missing(set(config_module._FEED_KEYS), feed_keys) == []


def test_the_examples_load_when_uncommented(tmp_path: Path) -> None:
    path = tmp_path / "aggregator.yaml"
    path.write_text(examples(scaffold_text()), encoding="utf-8")
    config = read_config(path).config
    nlp = config.topic_settings("Natural Language Processing")
    assert (nlp.limit, nlp.content, nlp.language) == (20, "excerpt", "en-GB")
    assert config.topic_settings("sponsored").skip
    assert config.aliases["nlp"] == "Natural Language Processing"
    assert [feed.url for feed in config.feeds] == [
        "https://blog.example.com/feed.xml",
        "https://news.example.org/atom.xml",
    ]
    assert config.feeds[1].title_filter == "(?i)sponsored"
    assert config.storage_options["s3"]["endpoint_url"] == "https://s3.example.net"


def test_every_key_has_a_one_line_comment_and_the_readme_order() -> None:
    lines = scaffold_text().splitlines()
    for number, line in enumerate(lines):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        above = lines[number - 1].lstrip()
        assert " # " in line or (above.startswith("# ") and not above.startswith("# --")), line
    # The top-level keys in the order of the README's Configuration example.
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## Configuration", 1)[1].split("```yaml\n", 1)[1].split("```")[0]
    documented = re.findall(r"^([a-z_]+):", block, re.MULTILINE)
    ours = [key for key in mapping(scaffold_text()) if key in documented]
    assert ours == [key for key in documented if key in ours]


# --- writing it --------------------------------------------------------------------


def test_init_makes_the_folder_and_never_replaces_a_file(tmp_path: Path) -> None:
    path = write_scaffold(tmp_path / "a" / "b")
    assert path == tmp_path / "a" / "b" / "aggregator.yaml"
    assert path.read_text(encoding="utf-8") == scaffold_text()
    path.write_text("title: Mine\n", encoding="utf-8")
    with pytest.raises(OutputError, match="already exists"):
        write_scaffold(tmp_path / "a" / "b")
    assert path.read_text(encoding="utf-8") == "title: Mine\n"
    # Nor a symlink to a file yet to be made: nothing is written through it.
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "aggregator.yaml").symlink_to(tmp_path / "elsewhere.yaml")
    with pytest.raises(OutputError, match="already exists"):
        write_scaffold(tmp_path / "c")
    assert not (tmp_path / "elsewhere.yaml").exists()
    # A file where the folder should be: one error naming it.
    (tmp_path / "file").write_text("", encoding="utf-8")
    with pytest.raises(OutputError, match="cannot make the folder"):
        write_scaffold(tmp_path / "file")


def test_add_feed_adds_to_the_scaffold(tmp_path: Path) -> None:
    path = write_scaffold(tmp_path)
    before = read_config(path).config
    assert add_to_config(path, "https://blog.example.com/feed.xml")
    after = read_config(path).config
    assert [feed.url for feed in after.feeds] == ["https://blog.example.com/feed.xml"]
    assert dataclasses.replace(after, feeds=()) == before


@pytest.mark.parametrize(
    "text", ["plain words", "on", "*.md", "a: b", "!!bool maybe", "!!int", "!!float _", "- x"]
)
def test_a_string_is_written_as_yaml_that_reads_back_as_it(text: str) -> None:
    assert yaml.safe_load(f"k: {_yaml(text)}") == {"k": text}
    assert yaml.safe_load(f"k: [{_yaml(text, flow=True)}]") == {"k": [text]}


# --- the real command ----------------------------------------------------------------


def tree(folder: Path) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.mark.e2e
def test_init_then_build_builds_what_a_build_without_config_builds(tmp_path: Path) -> None:
    done = run_cli("init", "site", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") == 1 and "site/aggregator.yaml" in done.stdout
    site, plain = tmp_path / "site", tmp_path / "plain"
    plain.mkdir()
    for folder in (site, plain):
        shutil.copytree(SEEDS, folder / "seeds")  # the default source, in both
    built = run_cli("build", cwd=site, exact=True)
    bare = run_cli("build", cwd=plain, exact=True)
    assert built.returncode == bare.returncode == 0, (built.stderr, bare.stderr)
    assert built.stdout == bare.stdout
    assert tree(plain / "feeds") and tree(site / "feeds") == tree(plain / "feeds")
    # What else each build made (the state file, the lock) has the same names.
    assert sorted(p.name for p in site.iterdir()) == sorted(
        [*(p.name for p in plain.iterdir()), "aggregator.yaml"]
    )


@pytest.mark.e2e
def test_init_refuses_an_existing_file_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "aggregator.yaml").write_text("title: Mine\n", encoding="utf-8")
    done = run_cli("init", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "aggregator: error: aggregator.yaml already exists: left as it is "
        "(init writes a new file only)"
    ]
    assert done.stdout == ""
    assert (tmp_path / "aggregator.yaml").read_text(encoding="utf-8") == "title: Mine\n"
