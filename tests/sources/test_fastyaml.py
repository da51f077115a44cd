"""The yaml-rs path gives what PyYAML's safe loader gives, or leaves the document to it.

Every document is read both ways and compared: the value with its types (True is not
'yes', 8 is not 10, a date is not a datetime, time zones included) and the sharing of its
objects, or the same error. Through the raw functions (`fastyaml.fast_load` against
`yamlload.load`) and through the loader (`parse_article`, `load_file`, with the fast
path and without it), over the real files, generated front matter, damaged files and
fuzzed YAML full of the forms YAML 1.1 and 1.2 read differently.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import CORPUS
from conftest import SEEDS
from conftest import bench_module
from hypothesis import example
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from risky_yaml import RISKY_SCALARS
from risky_yaml import risky_documents
from strategies import mutated_files
from strategies import yaml_values

from aggregator.limits import DEFAULT_LIMITS
from aggregator.limits import Limits
from aggregator.sources import fastyaml
from aggregator.sources import patterns
from aggregator.sources import yamlload
from aggregator.sources.loader import _front_matter
from aggregator.sources.loader import load_file
from aggregator.sources.loader import parse_article

pytestmark = pytest.mark.skipif(not fastyaml.AVAILABLE, reason="yaml-rs is not installed")


# --- comparing --------------------------------------------------------------------------


def typed(value: Any, seen: dict[int, int] | None = None) -> Any:
    """`value` with every type spelled out, keys in order, and which collections are the
    same object (an alias is its anchor's object in PyYAML)."""
    seen = {} if seen is None else seen
    if isinstance(value, (dict, list)):
        if id(value) in seen:
            return ("same as", seen[id(value)])
        seen[id(value)] = len(seen)
        if isinstance(value, dict):
            return ("dict", [(typed(k, seen), typed(v, seen)) for k, v in value.items()])
        return ("list", [typed(v, seen) for v in value])
    return (type(value).__qualname__, repr(value), repr(getattr(value, "tzinfo", None)))


def outcome(load: Any, text: str) -> tuple[Any, ...]:
    try:
        return ("value", typed(load(text)))
    except Exception as exc:  # the error is what is compared
        return ("error", type(exc).__name__, str(exc))


@contextmanager
def pyyaml_only() -> Iterator[None]:
    """The loader as it is without yaml-rs installed."""
    saved = fastyaml._loads
    fastyaml._loads = None
    try:
        yield
    finally:
        fastyaml._loads = saved


def article_outcome(raw: bytes, **options: Any) -> tuple[Any, ...]:
    """What the loader makes of a file's bytes: the article and its warnings, or the
    problem reported, with its line."""
    try:
        article = parse_article(raw, "article.md", **options)
    except Exception as exc:  # the loader's _Invalid, or anything it did not foresee
        return ("problem", type(exc).__name__, str(exc), getattr(exc, "line", None))
    return ("article", article, article.warnings)


def same_as_pyyaml(text: str) -> bool:
    """Assert that `text` reads the same on both paths; whether yaml-rs's value was used."""
    expected = outcome(yamlload.load, text)
    try:
        fast = fastyaml.fast_load(text)
    except fastyaml.Refused:
        taken = False
    else:
        taken = True
        assert ("value", typed(fast)) == expected, text
    assert outcome(fastyaml.load, text) == expected, text
    return taken


def same_through_the_loader(raw: bytes, **options: Any) -> None:
    with pyyaml_only():
        expected = article_outcome(raw, **options)
    assert article_outcome(raw, **options) == expected


def front(raw: bytes) -> str:
    return _front_matter(raw.decode("utf-8-sig"), False)[0]


def real_files() -> list[Path]:
    return sorted(SEEDS.glob("*.txt")) + sorted(CORPUS.glob("*.md"))


# --- real and generated files -----------------------------------------------------------


def test_the_seed_files_take_the_fast_path() -> None:
    for path in sorted(SEEDS.glob("*.txt")):
        raw = path.read_bytes()
        assert same_as_pyyaml(front(raw)), path.name
        same_through_the_loader(raw)


def test_the_real_files_read_as_pyyaml_reads_them_mostly_on_the_fast_path() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"the power-apps corpus is not beside the project ({CORPUS} is absent)")
    paths = sorted(CORPUS.glob("*.md"))
    fast = [path.name for path in paths if same_as_pyyaml(front(path.read_bytes()))]
    assert len(paths) == 192
    # The three refused: two with an `&amp;` after ": " in a quoted string (taken for
    # an anchor) and one with a quoted string that starts like a date.
    assert len(fast) >= 185, sorted(set(p.name for p in paths) - set(fast))


@pytest.mark.parametrize("variant", ["crlf", "lf", "bom"])
def test_every_real_file_loads_as_without_yaml_rs(variant: str, tmp_path: Path) -> None:
    for path in real_files():
        raw = path.read_bytes()
        if variant == "crlf":
            raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        elif variant == "lf":
            raw = raw.replace(b"\r\n", b"\n")
        else:
            raw = b"\xef\xbb\xbf" + raw
        same_as_pyyaml(front(raw))
        same_through_the_loader(raw)
        copy = tmp_path / path.name
        copy.write_bytes(raw)
        with pyyaml_only():
            expected = load_file(copy)
        assert load_file(copy) == expected


@pytest.mark.e2e
def test_generated_front_matter_takes_the_fast_path(tmp_path: Path) -> None:
    bench_module("corpus").generate(tmp_path, 400, seed=7, processes=1)
    paths = sorted(tmp_path.rglob("*.md"))
    assert len(paths) == 400
    fast = sum(same_as_pyyaml(front(path.read_bytes())) for path in paths)
    assert fast == len(paths)
    for path in paths[:100]:
        with pyyaml_only():
            expected = load_file(path)
        assert load_file(path) == expected


# --- what is refused, and why ---------------------------------------------------------

#: documents and the reason the fast path leaves them to PyYAML (None: it reads them)
DOCUMENTS = [
    ("", None),
    ("# only a comment", None),
    ("a: 1\nb: -2\nc: +3\nd: 0\ne: 1.5\nf: -0.0\ng: 1.\nh: 1.0e+3", "a number"),
    ("a: 1\nb: -2\nc: +3\nd: 0\ne: 1.5\nf: -0.0\ng: 1.", None),
    ("a: true\nb: False\nc: TRUE\nd: ~\ne: null\nf:\ng: NULL", None),
    ("a: y\nb: n\nc: tRue\nd: nULL\ne: inf\nf: nan", None),
    ("a: yes", "'yes'"),
    ("a: No", "'No'"),
    ("a: on", "'on'"),
    ("a: OFF", "'OFF'"),
    ("a: 010", "an integer PyYAML"),
    ("a: 08", "an integer PyYAML"),
    ("a: 0o10", "an integer PyYAML"),
    ("a: 0x1F", "an integer PyYAML"),
    ("a: -0b101", "an integer PyYAML"),
    ("a: 1_000", "an integer PyYAML"),
    ("a: _1", "an integer PyYAML"),
    ("a: 1:20", "'1:20'"),
    ("a: 1e3", "a number"),
    ("a: 1.0e3", "a number"),
    ("a: -.5", "a number"),
    ("a: .inf", "a number"),
    ("a: .NaN", "a number"),
    ("a: " + "9" * 63, None),
    ("a: " + "9" * 64, "longer"),
    ("9" * 70 + ": x", "longer"),
    ("a: 2019-08-19T21:00:10Z\nb: 2019-08-19\nc: 2019-08-19 21:00:10.5 -5", None),
    ("a: 2019-02-30\nb: 2019-8-9\nc: 2019-08-19T21:00Z\nd: 2019-08-19T25:00:00Z", None),
    ('a: 2019-08-19T21:00:10Z\nb: "2019-08-19"', "may be quoted"),
    ("a: 2019-08-19T21:00:10Z\nb: '2019-08-19'", "may be quoted"),
    ('a: 2019-08-19T21:00:10Z\nb: "\\x32019-08-19"', "may be quoted"),
    ('a: "2019-08-19"', "may be quoted"),
    ('a: "yes"', "'yes'"),  # as yaml-rs reads a plain `yes`: it may have been one
    ('a: "010"', "'010'"),
    ('a: ""\nb: "null"\nc: "true"\nd: "~"\ne: "!"', None),  # plain, yaml-rs types them
    ("2019-08-19: x", "a key PyYAML reads as a date"),
    ("a: 12:30:00", "'12:30:00'"),
    ("<<: {b: 1}", "'{'"),
    ("a: <<", "'<<'"),
    ("a: =", "'='"),
    ("=: 1", "'='"),
    ("a: !!binary aGk=", "'!'"),
    ("a: !!str 12", "'!'"),
    ("a: !custom x", "'!'"),
    ("a: &x [1]\nb: *x", "'&'"),
    ("a: &x 1", "'&'"),
    ("a: *x", "'*'"),
    ("a: [1, 2]", "'['"),
    ("a: |\n  x\n", "'|'"),
    ("a: >-\n  x\n", "'>'"),
    ("%YAML 1.1\na: 1", "'%'"),
    ("a: @x", "'@'"),
    ("? [1, 2]\n: x", "value with no key"),
    ("? - 1\n  - 2\n: x", "value with no key"),
    ("? a\n: b", "value with no key"),
    (": x", "value with no key"),
    ("- : x", "value with no key"),
    ("a: 1\na: 2", "yaml-rs"),
    ("a: 1\n---\nb: 2", "document marker"),
    ("a: 1\n...\n", "document marker"),
    ("a:\tb", "a tab"),
    ("a: \x07", "control character"),
    ("a: \x85", "line break"),
    ("a: b\u2028c", "line break"),
    ("\ufeffa: 1", "line break"),
    ("a: 1\rb: 2", "lone CR"),
    ('a: "\\ud83d\\ude00"', "surrogate"),
    ('a: "\\U0001F600"', "32-bit escape"),
    ('a: "\\u00e9\\x41\\t\\/\\N\\_"', None),
    ("a:\r\n  - x\r\n  - 'it''s'\r\n", None),
    ("a: x #c\nb: x#c\nc: 'multi\n\n  line'\nd: plain\n  folded", None),
    ("a:\n" + " " * 40 + "b: 1", "deep indent"),
    ("- " * 40 + "x", "deep indent"),
    ("- " * 16 + "x", None),
    ("a: b: c", "yaml-rs"),
    ("a: 'x", "yaml-rs"),
]


@pytest.mark.parametrize(("text", "refusal"), DOCUMENTS)
def test_a_document_is_refused_when_it_could_differ(text: str, refusal: str | None) -> None:
    try:
        fastyaml.fast_load(text)
    except fastyaml.Refused as exc:
        assert refusal is not None and refusal in str(exc), exc
    else:
        assert refusal is None, f"read although {refusal}"
    same_as_pyyaml(text)
    same_through_the_loader(("---\n" + text + "\n---\n").encode("utf-8", "surrogatepass"))
    same_through_the_loader(text.encode("utf-8", "surrogatepass"), plain_yaml=True)


@pytest.mark.parametrize("scalar", RISKY_SCALARS)
@pytest.mark.parametrize("form", ["a: {}", "- {}", "{}: x", "a:\n  {}", 'a: "{}"', "a: '{}'"])
def test_a_risky_scalar_reads_as_pyyaml_reads_it(scalar: str, form: str) -> None:
    same_as_pyyaml(form.format(scalar))


def test_bytes_are_read_by_pyyaml() -> None:
    with pytest.raises(fastyaml.Refused):
        fastyaml.fast_load(b"a: 1")
    assert fastyaml.load(b"a: yes") == yamlload.load(b"a: yes") == {"a": True}


def test_an_alias_is_its_anchor_s_object() -> None:
    loaded = fastyaml.load("a: &x [1]\nb: *x\nc: &m {k: *x}\nd: *m")
    assert loaded["a"] is loaded["b"] and loaded["c"] is loaded["d"]
    assert loaded["d"]["k"] is loaded["a"]


def test_no_two_collections_are_one_object_on_the_fast_path() -> None:
    text = "a:\n  - 1\nb:\n  - 1\nc:\n  - k: v\n  - k: v\n"
    loaded = fastyaml.fast_load(text)
    assert typed(loaded) == typed(yamlload.load(text))
    assert loaded["a"] is not loaded["b"] and loaded["c"][0] is not loaded["c"][1]


def test_dates_are_pyyaml_s_dates_and_datetimes() -> None:
    text = (
        "a: 2019-08-19T21:00:10Z\nb: 2019-08-19T21:00:10+05:30\nc: 2019-08-19\n"
        "d: 2019-08-19 21:00:10\ne: 2021-02-30\nf: 2019-08-19T21:00:10.1234567-02"
    )
    loaded = fastyaml.fast_load(text)
    assert typed(loaded) == typed(yaml.load(text, Loader=yamlload.SafeLoader))
    assert loaded["e"] == "2021-02-30"  # an impossible date stays the text it is


# --- fuzzing ----------------------------------------------------------------------------


@pytest.mark.e2e
@settings(max_examples=300, deadline=None)
@given(risky_documents())
def test_fuzzed_yaml_reads_as_pyyaml_reads_it(text: str) -> None:
    same_as_pyyaml(text)


@pytest.mark.e2e
@settings(max_examples=300, deadline=None)
@given(risky_documents())
def test_fuzzed_front_matter_loads_as_without_yaml_rs(text: str) -> None:
    same_through_the_loader(("---\n" + text + "\n---\n").encode("utf-8", "surrogatepass"))


_keys = st.one_of(st.text(max_size=6), st.integers(), st.sampled_from(RISKY_SCALARS))
_values = st.recursive(
    st.one_of(yaml_values, st.sampled_from(RISKY_SCALARS)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=4)),
    max_leaves=15,
)


@settings(max_examples=400, deadline=None)
@given(
    _values,
    st.sampled_from([None, '"', "'", "|", ">"]),
    st.sampled_from([None, 8, 30]),
    st.booleans(),
    st.booleans(),
)
@pytest.mark.e2e
def test_dumped_values_read_as_pyyaml_reads_them(
    value: Any, style: str | None, width: int | None, unicode: bool, crlf: bool
) -> None:
    text = yaml.dump(
        value, default_style=style, width=width, allow_unicode=unicode, default_flow_style=False
    )
    same_as_pyyaml(text.replace("\n", "\r\n") if crlf else text)


@st.composite
def damaged_front_matter(draw: st.DrawFn) -> bytes:
    """A real file cut short, with bytes changed, or lines indented out of place."""
    paths = real_files()
    raw = bytearray(draw(st.sampled_from(paths)).read_bytes())
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["truncate", "flip", "indent", "dedent", "join", "swap"]))
        at = draw(st.integers(0, len(raw) - 1))
        if how == "truncate":
            del raw[at:]
        elif how == "flip":
            raw[at] = draw(st.sampled_from(b" \t\r\n\"':-#&*!|>{}[]?%@`\\0123456789ynx\x00\x85"))
        elif how in ("indent", "dedent", "join"):
            line = raw.rfind(b"\n", 0, at) + 1
            if how == "indent":
                raw[line:line] = b" " * draw(st.integers(1, 3))
            elif how == "dedent" and raw[line : line + 1] == b" ":
                del raw[line]
            elif how == "join" and line:
                del raw[line - 1]
        else:
            end = raw.find(b"\n", at)
            start = raw.rfind(b"\n", 0, at)
            if 0 <= start < end:
                raw[start:end] = raw[start:end][::-1]
        if not raw:
            break
    return bytes(raw)


@pytest.mark.e2e
@settings(max_examples=300, deadline=None)
@given(damaged_front_matter())
def test_damaged_files_load_as_without_yaml_rs(raw: bytes) -> None:
    same_through_the_loader(raw)
    same_as_pyyaml(raw.decode("utf-8", "replace"))


@settings(max_examples=200, deadline=None)
@given(mutated_files(0))
def test_mutated_files_load_as_without_yaml_rs(file: Any) -> None:
    same_through_the_loader(file.data)


#: the times a date may be followed by, PyYAML's forms and others
_TIMES = (
    "", "T21:00:10Z", "t21:00:10z", "T23:59:59Z", "T24:00:00Z", "T21:00:60Z", " 21:00:10",
    "T1:00:00", "T21:00Z", "T21:00:10.5", "T21:00:10.", "T21:00:10 -5", "T21:00:10+05:30",
    "T21:00:10-00:60", "T21:00:10+24", "T21:00:10.123456789+01",
)  # fmt: skip
_timestampish = st.builds(
    lambda y, m, d, rest: f"{y}-{m}-{d}{rest}",
    st.sampled_from(["2019", "0000", "9999", "0001"]),
    st.sampled_from(["08", "8", "02", "13", "00"]),
    st.sampled_from(["19", "9", "30", "31", "00"]),
    st.sampled_from(_TIMES),
)


@settings(max_examples=500, deadline=None)
@given(st.one_of(_timestampish, st.text(st.sampled_from("0123456789-:.TtZ +"), max_size=24)))
def test_a_plain_scalar_is_typed_as_pyyaml_types_it(value: str) -> None:
    loader = yamlload.SafeLoader("")
    try:
        assert yamlload.plain_tag(value) == loader.resolve(yaml.ScalarNode, value, (True, False))
    finally:
        loader.dispose()
    if yamlload.plain_tag(value) == yamlload.TIMESTAMP:
        assert typed(yamlload.timestamp(value)) == typed(yamlload.load(value))


#: `fastyaml._ODD_NUMBER` as first written: tried at every character of the text
_ODD_NUMBER_PLAIN = re.compile(r"(?<![^ \n])[-+]?(?:\.|0[0-9_xXoObB]|[0-9.]*(?:_|[0-9.][eE]))")


@settings(max_examples=3000, deadline=None)
@given(st.text(st.sampled_from(" \n-+._0123456789eExXoObBa:'\"\u00e9\u0661"), max_size=24))
@example(" 1_0")
@example("-.5")
@example("+0x1F")
@example("a 1e3")
@example("x-1e3")
@example("0e")
@example("-1.5e3")
@example("0.5e3")
@example("+1.e5")
@example("0.e")
def test_the_odd_number_pattern_finds_what_its_plain_form_finds(value: str) -> None:
    """`_ODD_NUMBER` starts with a token's first character so that a search skips the
    others; it finds an odd number in a text (which `_Check` reads with a line break in
    front) exactly when its plain form does."""
    text = "\n" + value
    assert bool(fastyaml._ODD_NUMBER.search(text)) == bool(_ODD_NUMBER_PLAIN.search(text))


def test_the_odd_number_pattern_agrees_on_every_short_text() -> None:
    """Every text of up to five characters of those the patterns tell apart (what
    random texts rarely draw: `-1.5e3`, `0.5e3`, `+1.e5` take their own branches)."""
    texts = [""]
    for _ in range(5):
        texts += [t + c for t in texts if len(t) == len(texts[-1]) for c in " -+.015eEx_"]
    assert len(texts) > 170_000
    differ = [
        t
        for t in texts
        if bool(fastyaml._ODD_NUMBER.search("\n" + t)) != bool(_ODD_NUMBER_PLAIN.search("\n" + t))
    ]
    assert differ == []


def test_a_float_takes_the_fast_path_unless_a_number_may_read_otherwise() -> None:
    assert fastyaml.fast_load("score: 0.5\ntitle: Version 2.0 of x_y\n") == {
        "score": 0.5,
        "title": "Version 2.0 of x_y",
    }
    # (the text is read whole: a word of a title that could be such a number counts too)
    odd = ("score: 0.5\nother: 1e3\n", "score: 0.5\nother: .5\n", "score: 0.5\nt: A 1_000\n")
    for text in odd:
        with pytest.raises(fastyaml.Refused):
            fastyaml.fast_load(text)
        assert fastyaml.load(text) == yaml.safe_load(text)


def test_keys_passed_before_are_passed_at_once_and_new_ones_still_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fastyaml, "_KEYS", set())
    monkeypatch.setattr(fastyaml, "_KNOWN_SIZE", 4)
    long_key = "k" * (fastyaml._KNOWN_LENGTH + 1)
    assert fastyaml.fast_load(f"title: a\nname: b\n{long_key}: c\n") == {
        "title": "a",
        "name": "b",
        long_key: "c",
    }
    assert sorted(fastyaml._KEYS) == ["name", "title"]  # a long key is not kept
    # a mapping of the keys passed, and one more that PyYAML reads as another type
    for text in ("title: a\nname: b\nyes: 1\n", "title: a\nname: b\n2020-01-01: 1\n"):
        with pytest.raises(fastyaml.Refused):
            fastyaml.fast_load(text)
        assert typed(fastyaml.load(text)) == typed(yaml.safe_load(text))
    fastyaml.fast_load("a: 1\nb: 2\nc: 3\n")
    assert len(fastyaml._KEYS) <= 4  # cleared when full


_TYPED_WORDS = ("yes", "No", "TRUE", "false", "On", "off", "null", "Null", "~", "<<", "=", "y")


@settings(max_examples=1500, deadline=None)
@given(
    st.one_of(
        st.lists(st.sampled_from([*_TYPED_WORDS, "s", "e", "\n", " ", "1", "."])).map("".join),
        st.text(st.sampled_from("yYnNtTfFoOeEsSuUlLrRaA~<=!&*\n 1."), max_size=8),
    )
)
@example("False\n")  # "$" lets a line break go at the end
@example("Nothing more")
def test_a_string_longer_than_its_first_character_types_is_a_string(value: str) -> None:
    """The fast path reads a string past `TYPED_LONGEST` of its first character as a
    string without asking the resolvers: none of them types a string that long."""
    loader = yamlload.SafeLoader("")
    try:
        tag = loader.resolve(yaml.ScalarNode, value, (True, False))
    finally:
        loader.dispose()
    longest = yamlload.TYPED_LONGEST.get(value[:1])
    if longest is None or len(value) > longest:
        assert tag == yamlload.STR
    # A bound is read only for the resolvers of words and signs, all anchored with "$".
    assert {c for c, n in yamlload.TYPED_LONGEST.items() if n < 10} >= set("yYnNtTfFoO~<=")


@pytest.mark.parametrize(
    ("pattern", "longest", "longest_matched"),
    [
        (r"^(?:yes|no)$", 4, "yes\n"),  # three characters and a line break
        (r"^(?:yes|no)", None, "yesterday"),  # a longer string may start with a match
        (r"^[0-9]+$", None, "1" * 100),  # no bound
        (r"(?m)^(?:yes|no)$", None, "no\nlonger"),  # "$" at any line break
        (r"^(?:~|null|)$", 5, "null\n"),
    ],
)
def test_the_longest_string_a_pattern_matches_is_read_from_it(
    pattern: str, longest: int | None, longest_matched: str
) -> None:
    compiled = re.compile(pattern)
    assert patterns.longest_matched(compiled) == longest
    # The bound is reached (not too small), or a string past any bound is matched.
    assert compiled.match(longest_matched)
    if longest is not None:
        assert len(longest_matched) == longest
        assert not compiled.match(longest_matched + "x")


# --- limits and the PyYAML-only path ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "limits"),
    [
        ("".join("  " * i + "k:\n" for i in range(150)) + "  " * 150 + "x", DEFAULT_LIMITS),
        ("- " * 150 + "x", DEFAULT_LIMITS),
        ("- " * 600 + "x", Limits(yaml_depth=1000)),
        ("".join("  " * i + "-\n" for i in range(600)) + "  " * 600 + "x", Limits(yaml_depth=1000)),
        # Within what the fast path reads (a lead of one space a level), under a low cap.
        ("".join(" " * i + "k:\n" for i in range(15)) + " " * 15 + "x", Limits(yaml_depth=10)),
        ("- " * 12 + "x", Limits(yaml_depth=8)),
        ("a:\n" + "".join(f"  - {i}\n" for i in range(300)), Limits(yaml_nodes=200)),
        ("a: &a [x, x, x, x]\nb: &b [*a, *a, *a, *a]\nc: [*b, *b, *b, *b]", Limits(yaml_nodes=50)),
        ("a: &a " + "x" * 1000 + "\nb: [" + "*a, " * 100 + "]", Limits(yaml_size=50_000)),
    ],
)
def test_the_limits_hold_on_both_paths(text: str, limits: Limits) -> None:
    raw = ("---\n" + text + "\n---\n").encode()
    with pyyaml_only():
        expected = article_outcome(raw, limits=limits)
    assert expected[0] == "problem"
    assert article_outcome(raw, limits=limits) == expected


def _depth(value: Any) -> int:
    """The nesting of collections of a loaded value, as the loader's limit counts it."""
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


@pytest.mark.parametrize(
    "nested",
    [
        # a mapping a level, one space further each
        lambda n: "".join(" " * i + "k:\n" for i in range(n)) + " " * n + "x: 1\n",
        # a list of a mapping a level (two levels each two spaces)
        lambda n: "".join("  " * i + "- k:\n" for i in range(n)) + "  " * n + "x: 1\n",
        # a key's list at its own column, then the same
        lambda n: "k:\n" + "".join("  " * i + "- k:\n" for i in range(n)) + "  " * n + "x: 1\n",
        # a key's list at its own column, its item a mapping one space further: two
        # levels a column, the deepest the fast path reads (65)
        lambda n: (
            "".join(" " * i + "k:\n" + " " * i + "-\n" for i in range(n)) + " " * n + "x: 1\n"
        ),
    ],
)
def test_what_the_fast_path_reads_is_nested_at_most_its_max_depth(nested: Any) -> None:
    """The loader reads a document straight through the fast path, with no look at its
    depth first, when the cap (`yaml_depth`) is at least `fastyaml.MAX_DEPTH`: the
    deepest documents of each shape the fast path reads are nested no deeper; the next
    level is refused (left to PyYAML, behind the depth look)."""
    deepest = None
    for levels in range(1, 200):
        text = nested(levels)
        try:
            value = fastyaml.fast_load(text)
        except fastyaml.Refused:
            break
        assert value == yamlload.load(text)
        deepest = _depth(value)
    assert deepest is not None and 2 < deepest <= fastyaml.MAX_DEPTH
    lead = (fastyaml.MAX_DEPTH - 2) // 2  # the longest lead of a line it reads
    compact = "- " * (lead // 2) + "x"  # two characters a level
    assert _depth(fastyaml.fast_load(compact)) == lead // 2
    with pytest.raises(fastyaml.Refused, match="deep indent"):
        fastyaml.fast_load("- " + compact)


def test_without_yaml_rs_every_file_loads_with_pyyaml() -> None:
    """The fast extra not installed: the same articles, from PyYAML alone."""
    code = (
        "import sys\n"
        "sys.modules['yaml_rs'] = None  # an import of it fails, as when it is not installed\n"
        "from pathlib import Path\n"
        "from aggregator.sources import fastyaml, loader\n"
        "assert not fastyaml.AVAILABLE\n"
        "for path in sys.argv[1:]:\n"
        "    print(repr(loader.load_file(Path(path))))\n"
    )
    paths = real_files()[:40]
    done = subprocess.run(
        [sys.executable, "-c", code, *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [repr(load_file(path)) for path in paths]


class _Panic(BaseException):
    """What PyO3 raises for a panic in Rust code (pyo3_runtime.PanicException)."""


def test_a_panic_in_yaml_rs_leaves_the_document_to_pyyaml(monkeypatch: pytest.MonkeyPatch) -> None:
    def panicking(source: str) -> Any:
        raise _Panic("called `Option::unwrap()` on a `None` value")

    monkeypatch.setattr(fastyaml, "_loads", panicking)
    source = "title: Story\nquality: 80\n"
    with pytest.raises(fastyaml.Refused, match="_Panic"):
        fastyaml.fast_load(source)
    assert fastyaml.load(source) == yamlload.load(source) == {"title": "Story", "quality": 80}
