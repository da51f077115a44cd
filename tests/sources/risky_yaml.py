"""Hypothesis strategies for YAML where YAML 1.1 (PyYAML) and 1.2 (yaml-rs) part ways:
the scalars each reads its own way, written plain, quoted, escaped or folded over lines,
in block mappings and sequences with comments, odd indentation and line breaks, and now
and then an anchor, a tag, a flow collection, a block scalar or a document marker."""

from __future__ import annotations

from hypothesis import strategies as st

#: scalars typed differently by YAML 1.1 and 1.2, or by PyYAML and yaml-rs, or alike
RISKY_SCALARS = (
    # booleans and nulls
    "yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF", "y", "Y",
    "n", "N", "true", "True", "TRUE", "tRue", "false", "False", "FALSE", "null", "Null",
    "NULL", "nULL", "~", "",
    # integers
    "0", "-0", "+0", "00", "007", "010", "08", "0o10", "0O10", "0o", "0x1F", "0X1F", "0x_1",
    "0b101", "0B101", "0b", "1_000", "_1", "1__0", "1_", "+12", "-12", "12", "1:20",
    "190:20:30", "1:60", "-1:30", "9" * 18, "9" * 19, "9" * 62, "9" * 63, "9" * 64, "9" * 65,
    "-" + "9" * 63, "+" + "9" * 63, "1" + "0" * 70,
    # floats
    "1.5", "1.", "0.", ".5", "-.5", "+.5", "-1.5", "+1.5", "1e3", "1E3", "1.0e3", "1.0e+3",
    "1.0E-3", "1.e5", "1e_5", "1.5_5", "1_0.5", "0.1e-3", "-0.0", "10.000",
    ".inf", "-.inf", "+.inf", ".Inf", ".INF", ".iNf", ".nan", ".NaN", ".NAN", "-.nan", ".nAn",
    "inf", "nan", "NaN", "Infinity", "1.5.5", "1:30.5",
    # dates and times
    "2019-08-19T21:00:10Z", "2019-08-19", "2019-08-19 21:00:10", "2019-08-19t21:00:10z",
    "2001-12-14 21:59:43.10 -5", "2019-08-19T21:00:10+02:00", "2019-08-19T21:00:10-05",
    "2019-08-19T21:00:10.123456789Z", "2019-08-19T21:00:10.Z", "2019-08-19T21:00Z",
    "2019-08-19T21:00:10 Z", "2019-8-9", "2019-8-9T1:00:00", "2019-02-30",
    "2019-02-30T01:00:00Z", "2019-08-19T24:00:00Z", "2019-08-19T23:60:00Z",
    "2019-08-19T21:00:10+24", "2019-08-19T21:00:10+00:60", "0000-01-01", "12:30:00",
    "12:30:00.5", "2019-08-19T21:00:60Z", "99999-01-01",
    # keys and indicators PyYAML knows
    "<<", "=", "!", "&", "*", "-", "?", ":", "#", "%", "@", "`", "|", ">", ",", "[", "]", "{", "}",
    # ordinary strings
    "news", "video", "Power Apps", "C++", "C#", "a: b", "a #b", "a#b", "x y", "2019 release",
    "https://example.org/a_b?x=1&y=2", "&amp;", "Q&A", "*bold*", "e",
)  # fmt: skip
KEYS = ("title", "type", "quality", "published", "a", "b", "topics", "url", "n", "yes", "1")
#: escapes in a double-quoted string, with what they stand for
ESCAPES = (
    "\\x32", "\\u0032", "\\x2d", "\\t", "\\n", "\\\\", '\\"', "\\/", "\\N", "\\_", "\\L",
    "\\P", "\\e", "\\a", "\\0", "\\ ", "\\ud800", "\\udfff", "\\ud83d\\ude00", "\\U0001F600",
    "\\U00110000", "\\x85", "\\u2028", "\\z", "\\x", "\\u12", "\\x07",
)  # fmt: skip
#: characters that are not plain text to one of the parsers
ODD_CHARS = (
    "\t", "\r", "\x00", "\x07", "\x1b", "\x7f", "\x85", "\x9f", "\xa0", "\u2028", "\u2029",
    "\ufeff", "\ufffe", "\uffff", "\u200b", "\xe9", "\u2019", "\U0001f680", "\ue000",
)  # fmt: skip


#: constructs PyYAML reads its own way, spliced into documents now and then
SPLICED = (
    "a: &x [1, 2]", "b: *x", "c: !!str 12", "d: !!binary aGk=", "e: !foo x",
    "f: {a: 1, b: [2, 3]}", "g: |\n  2019-01-01\n", "h: >-\n  x\n\n  y", "---", "...",
    "--- # doc", "%YAML 1.1", "<<: {m: 1}", "? [1, 2]\n: x", "? - a\n  - b\n: c",
    "i: *undefined", "j: &a 1\nk: &a 2", "l: !!python/object/apply:os.system [id]",
    "m: !!set {a, b}", "n: !!timestamp 2019-01-01", "o: !!int '12'",
)  # fmt: skip


def _double(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _single(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@st.composite
def scalars(draw: st.DrawFn, indent: int) -> str:
    """One scalar as written after a key or a dash: plain, quoted, escaped, folded over
    lines, with a comment."""
    value = draw(
        st.one_of(
            st.sampled_from(RISKY_SCALARS),
            st.text(st.sampled_from("0123456789-+.:_eExXoTZ "), min_size=1, max_size=12),
            st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=10),
            st.lists(st.sampled_from(RISKY_SCALARS), min_size=2, max_size=3).map(" ".join),
        )
    )
    style = draw(st.sampled_from(["plain"] * 4 + ["double", "single", "escaped", "folded"]))
    if style == "double":
        text = _double(value)
    elif style == "single":
        text = _single(value)
    elif style == "escaped":
        at = draw(st.integers(0, len(value)))
        text = _double(value[:at])[:-1] + draw(st.sampled_from(ESCAPES)) + _double(value[at:])[1:]
    elif style == "folded":
        quote = draw(st.sampled_from(["", '"', "'"]))
        pad = " " * (indent + draw(st.integers(0, 3)))
        second = draw(st.sampled_from(RISKY_SCALARS))
        text = f"{quote}{value}\n{pad}{second}{quote}"
    else:
        text = value
    if draw(st.integers(0, 9)) == 0:
        text += draw(st.sampled_from([" # note", "#x", "  # 010"]))
    return text


@st.composite
def blocks(draw: st.DrawFn, indent: int = 0, depth: int = 0) -> list[str]:
    """The lines of a block mapping or sequence at `indent`."""
    lines: list[str] = []
    pad = " " * indent
    sequence = draw(st.integers(0, 3)) == 0
    for _ in range(draw(st.integers(1, 4))):
        if sequence:
            head = pad + "- "
        else:
            key = draw(st.one_of(st.sampled_from(KEYS), st.sampled_from(RISKY_SCALARS)))
            key = draw(st.sampled_from([key, _double(key), _single(key)]))
            head = f"{pad}{key}:" + (" " if draw(st.integers(0, 5)) else "")
        if depth < 3 and draw(st.integers(0, 3)) == 0:
            lines.append(head.rstrip())
            lines += draw(blocks(indent + draw(st.sampled_from([2, 2, 4, 1, 0])), depth + 1))
        else:
            lines.append(head + draw(scalars(indent + 2)))
        if draw(st.integers(0, 7)) == 0:
            lines.append(draw(st.sampled_from(["", "# comment", pad + "# c", "   "])))
    return lines


@st.composite
def risky_documents(draw: st.DrawFn) -> str:
    """A YAML document of risky scalars, sometimes damaged or with a construct PyYAML
    reads its own way spliced in."""
    lines = draw(blocks())
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(SPLICED)))
    text = "\n".join(lines) + draw(st.sampled_from(["", "\n", "\n\n"]))
    damage = draw(st.integers(0, 9))
    if damage == 1 and text:
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(ODD_CHARS)) + text[at:]
    elif damage == 2:
        text = text.replace("\n", "\r\n")
    elif damage == 3 and text:
        at = draw(st.integers(0, len(text) - 1))
        text = text[:at] + text[at + 1 :]
    elif damage == 4:
        text = text.replace("\n", "\n" + " " * draw(st.integers(1, 3)), 1)
    return text
