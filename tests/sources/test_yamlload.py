"""The fast YAML load gives what PyYAML's safe loader gives: the same value or the same error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT
from hypothesis import assume
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from strategies import mutated_files
from strategies import yaml_values

from aggregator.sources import yamlload
from aggregator.sources.loader import _depth_bound

SEEDS = ROOT / "seeds"

# What front matter holds, and every kind of node the fast path hands to PyYAML.
DOCUMENTS = [
    "",
    "---\n...",
    "a: 1",
    "[1, 2]",
    "just a string",
    "a: '1'\nb: \"\\u00e9\\n\"\nc: |\n  two\n  lines\n",
    "{1: 2, 1.5: 3, null: 4, true: 5, 2020-01-01: 6, 2020-01-01 10:00:00: 7}",
    "a: 0x1F\nb: 1_000\nc: .inf\nd: -.nan\ne: 0o17\nf: 017\ng: 1:30\nh: yes\ni: ~\nj: Off",
    "a: 2021-02-30\nb: 2021-02-03 10:00:00+02:00\nc: 2021-02-03T10:00:00Z\nd: 99999-01-01",
    "a: &x [1, 2]\nb: *x\nc: *x",
    "a: &k key\n*k : 3",
    "a: &x [1, *x]",
    "a: &x {b: *x}",
    "&d [*d]",
    "a:\n  - &r {b: *r}",
    "<<: {a: 1}\nb: 2",
    "base: &b {x: 1, y: 2}\nderived:\n  <<: *b\n  y: 3",
    "=: 3",
    "a: =",
    "? [1]\n: 2",
    "? {a: 1}\n: 2",
    "a: !!str [1]",
    "a: !!map x",
    "a: !!seq x",
    "a: !!binary aGVsbG8=",
    "a: !!set {x, y}",
    "a: !!omap [a: 1, b: 2]",
    "a: !!pairs [a: 1, a: 2]",
    "a: !foo x",
    "a: !!python/object:os.system x",
    "a: !!int abc",
    "a: !!float x",
    "a: !!null x",
    "a: !!bool x",
    "a: !!timestamp x",
    "a: !!str 12",
    "a: !!int '12'",
    "a: 1\n---\nb: 2",
    "a: b: c",
    "a: [1, 2",
    "- - - x",
    "a: 1\na: 2",
    # values no constructor can build: the first PyYAML meets (nested items last) is the error
    "a:\n  - !!bool foo\nb: !!int bar",
    "- [!!int x]\n- !!float y",
    "a: {b: !!null x, c: [!!bool y]}\nd: !!timestamp z\ne: !!int w",
    "a: !!int",
    "a: !!int ''",
    "a: !!int +",
    "a: !!float _",
    # nesting past Python's recursion limit, which PyYAML builds without recursion
    "- " * 600 + "x",
    "[" * 600 + "]" * 600,
    "a:\n" + "".join(" " * (2 * i + 2) + f"k{i}:\n" for i in range(600)) + " " * 1202 + "v",
]


def outcome(load: Any, text: str) -> tuple[str, ...]:
    """A load's result or error, as text (recursive values compare by their repr)."""
    try:
        return ("value", repr(load(text)))
    except Exception as exc:  # the error is what is compared
        return ("error", type(exc).__name__, str(exc))


def pyyaml(text: str) -> Any:
    return yaml.load(text, Loader=yamlload.SafeLoader)  # the safe loader


@pytest.mark.parametrize("text", DOCUMENTS)
def test_a_document_loads_as_pyyaml_loads_it(text: str) -> None:
    assert outcome(yamlload.load, text) == outcome(pyyaml, text)


@pytest.mark.parametrize("seed", sorted(SEEDS.glob("*.txt")), ids=lambda p: p.name)
def test_a_seed_file_loads_as_pyyaml_loads_it(seed: Path) -> None:
    front = seed.read_text(encoding="utf-8-sig").split("\n---")[0].removeprefix("---\n")
    loaded = yamlload.load(front)
    assert isinstance(loaded, dict) and loaded["title"]
    assert loaded == pyyaml(front)


def test_an_alias_is_the_same_object_as_its_anchor() -> None:
    loaded = yamlload.load("a: &x [1]\nb: *x\nc: &m {k: *x}\nd: *m\ne: &s [*s]")
    assert loaded["a"] is loaded["b"]
    assert loaded["c"] is loaded["d"] and loaded["d"]["k"] is loaded["a"]
    assert loaded["e"][0] is loaded["e"]


@pytest.mark.e2e
@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=8), yaml_values, max_size=6))
def test_any_dumped_value_loads_as_pyyaml_loads_it(value: dict[str, Any]) -> None:
    text = yaml.dump(value, allow_unicode=True)
    assert outcome(yamlload.load, text) == outcome(pyyaml, text)


@settings(max_examples=200, deadline=None)
@given(mutated_files(0))
def test_a_damaged_file_loads_as_pyyaml_loads_it(file: Any) -> None:
    text = file.data.decode("utf-8", "replace")
    assume(_depth_bound(text) <= 100)  # the loader refuses deeper files before any load
    assert outcome(yamlload.load, text) == outcome(pyyaml, text)
