"""Small helpers for reporting on YAML documents: where a key is, what a value is."""

from __future__ import annotations

import re
from datetime import date
from datetime import datetime

import yaml
from yaml.nodes import MappingNode
from yaml.nodes import ScalarNode
from yaml.nodes import SequenceNode

from aggregator.sources import yamlload

_KINDS: dict[type, str] = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "a mapping",
    datetime: "a date-time",
    date: "a date",
}


def line_of_key(source: str, key: str) -> int:
    """1-based line of a top-level key, written plain or quoted; 1 when not found."""
    match = re.search(rf"""^(["']?){re.escape(key)}\1\s*:""", source, re.MULTILINE)
    return source.count("\n", 0, match.start()) + 1 if match else 1


def kind(value: object) -> str:
    """What a YAML value is, for an error message: "a list", "null", ..."""
    if value is None:
        return "null"
    return _KINDS.get(type(value), type(value).__name__)


def line_of_path(source: str, path: tuple[str, ...]) -> int:
    """1-based line of a nested key (`("topics", "AI", "limit")`) in block-style YAML:
    each key is looked for, indented, after its parent; the deepest one found wins."""
    match = re.search(rf"""^(["']?){re.escape(path[0])}\1\s*:""", source, re.MULTILINE)
    if match is None:
        return 1
    position = match.start()
    for key in path[1:]:
        found = re.compile(rf"""^[ \t]+(["']?){re.escape(key)}\1[ \t]*:""", re.MULTILINE).search(
            source, match.end()
        )
        if found is None:
            break
        match = found
        position = found.start()
    return source.count("\n", 0, position) + 1


_ITEM = re.compile(r"^([ \t]*)-(?:[ \t]|$)")


def lines_of_items(source: str, key: str) -> list[int]:
    """1-based lines of the items of a top-level key's block sequence, in order (the
    item at index i is on the i-th line); [] when the key is not found or its list is
    written in flow style (`[a, b]`): then the key's own line is the place to look."""
    match = re.search(rf"""^(["']?){re.escape(key)}\1\s*:[ \t]*(#.*)?$""", source, re.MULTILINE)
    if match is None:
        return []
    first = source.count("\n", 0, match.start()) + 2
    found: list[int] = []
    indent: str | None = None
    for number, line in enumerate(source[match.end() :].split("\n")[1:], start=first):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        item = _ITEM.match(line)
        if indent is None:
            if item is None:
                return []
            indent = item.group(1)
        if item is not None and item.group(1) == indent:
            found.append(number)
        elif len(line) - len(line.lstrip(" \t")) <= len(indent):
            break  # the next key: the list ended
    return found


class Marks:
    """Where a YAML text's top-level keys, and the items of their lists, are, as
    PyYAML's parser finds them (a key in a flow mapping, after a multi-line string
    that holds a line looking like it, written twice: the one read), in file lines
    counted at "\\n". The text is parsed at the first question only (a file with a
    problem asks; most never do), once; where PyYAML cannot tell (a key a merge key
    brings, a text it does not read), the lines come from a search of the text
    (`line_of_key`, `lines_of_items`)."""

    __slots__ = ("_block", "_found", "_root", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        #: each key's index in the text and its list items' (None until asked)
        self._found: dict[str, tuple[int, list[int]]] | None = None
        self._root: yaml.Node | None = None
        #: whether the document is a block mapping without explicit keys (None: not
        #: looked at yet): then a key found once by a search is the key
        self._block: bool | None = None

    def path(self, path: tuple[str, ...]) -> int:
        """1-based line of a nested key (`("topics", "AI", "limit")`), where "item N"
        is the N-th item of a list (`("feeds", "item 2", "quality")`): the deepest of
        them found (the top-level key's line when none is; 1 without it)."""
        return self.written(path)[0]

    def written(self, path: tuple[object, ...]) -> tuple[int, tuple[str, ...]]:
        """The line of `path` (as `path` gives it) and the path as the text writes it.
        A key of `path` is a string, or the value of a key YAML reads as another type
        (False for `No`, None for `~`), found as written; one not found is named by
        `key_text`."""
        self._marks()
        node, line = self._root, 0
        shown = [key_text(key) for key in path]
        for depth, key in enumerate(path):
            if isinstance(node, SequenceNode):
                number = key[5:] if isinstance(key, str) and key.startswith("item ") else ""
                if not (number.isdigit() and 1 <= int(number) <= len(node.value)):
                    break
                node = node.value[int(number) - 1]
                line = self._line(node.start_mark.index)
                continue
            if not isinstance(node, MappingNode):
                break
            found = None
            for key_node, value_node in node.value:  # the last of a key written twice
                if isinstance(key_node, ScalarNode) and _is_key(key_node, key):
                    found = (key_node, value_node)
            if found is None:
                break
            line, node = self._line(found[0].start_mark.index), found[1]  # (a few keys)
            shown[depth] = found[0].value or shown[depth]  # (an empty null: `null`)
        return line or line_of_path(self.source, tuple(shown)), tuple(shown)

    def key(self, key: str) -> int:
        """1-based line of a top-level key; 1 when it cannot be found."""
        line = self._searched(key)
        if line is not None:
            return line
        found = self._marks().get(key)
        if found is None:
            return line_of_key(self.source, key)
        return found[0]

    def items(self, key: str) -> list[int]:
        """1-based lines of the items of a top-level key's list, in order ([] when its
        value is no list)."""
        if self._searched(key) is not None:
            lines = lines_of_items(self.source, key)
            if lines:  # (else a flow list, its items maybe on lines of their own)
                return lines
        found = self._marks().get(key)
        if found is None:
            return lines_of_items(self.source, key)
        return found[1]

    def _searched(self, key: str) -> int | None:
        """The line of `key` by a search of the text, when that cannot be another line
        (what most files with a problem need, without a second parse): the key found at
        the start of one line only, in a block mapping without explicit keys. Else
        None: the parser's marks tell (`_marks`)."""
        if self._found is not None:
            return None
        source = self._source_block()
        if source is None:
            return None
        found = _key_starts(source, key)
        if len(found) != 1:
            return None
        return source.count("\n", 0, found[0]) + 1

    def _source_block(self) -> str | None:
        """The text, when it is a block mapping without explicit keys (no line starts
        a flow collection or an explicit key); else None."""
        if self._block is None:
            source = self.source
            self._block = not (
                source.startswith(_FLOW_OR_EXPLICIT)
                or any("\n" + lead in source for lead in _FLOW_OR_EXPLICIT)
            )
        return self.source if self._block else None

    def _line(self, index: int) -> int:
        return self.source.count("\n", 0, index) + 1

    def _marks(self) -> dict[str, tuple[int, list[int]]]:
        if self._found is None:
            self._found = {}
            try:  # (read already, within the limits: composing it builds no value)
                node = yaml.compose(self.source, Loader=yamlload.SafeLoader)
            except (yaml.YAMLError, RecursionError, ValueError):
                return self._found
            self._root = node
            if not isinstance(node, MappingNode):
                return self._found
            indexes: dict[str, tuple[int, list[int]]] = {}
            for key_node, value_node in node.value:  # the last of a key written twice
                if isinstance(key_node, ScalarNode) and key_node.tag == yamlload.STR:
                    items = value_node.value if isinstance(value_node, SequenceNode) else []
                    indexes[key_node.value] = (
                        key_node.start_mark.index,
                        [item.start_mark.index for item in items],
                    )
            # Lines counted in one pass over the text, however many items there are.
            lines = lines_at(
                {i for key, items in indexes.values() for i in (key, *items)}, self.source
            )
            self._found = {
                key: (lines[at], [lines[i] for i in items]) for key, (at, items) in indexes.items()
            }
        return self._found


def key_text(key: object) -> str:
    """A mapping key PyYAML read, named as YAML writes its value: `null`, `true` and
    `false` for the keys it reads as None and booleans (not Python's `None`, `True`)."""
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def _is_key(node: ScalarNode, key: object) -> bool:
    """Whether the scalar `node` is the key `key`: a string as written (quoted or not;
    not a plain `No`, a boolean), another value as YAML reads the node (of its type:
    `1` is not True)."""
    if isinstance(key, str):
        return node.value == key and node.tag == yamlload.STR
    if node.tag == yamlload.STR:
        return False
    try:
        value = yamlload.SafeLoader("").construct_object(node, deep=True)
    except (yaml.YAMLError, *yamlload.VALUE_ERRORS):
        return False
    return type(value) is type(key) and bool(value == key)


#: what starts a line of a top-level flow collection or an explicit key, where a key
#: need not start a line
_FLOW_OR_EXPLICIT = ("{", "[", "?")


def _key_starts(source: str, key: str) -> list[int]:
    """Where lines that start with `key` (plain or quoted) and a colon start: found
    with `str.find` (a pattern tried at every line would read the whole text at its
    own pace), each checked with the pattern of `line_of_key`."""
    pattern = re.compile(rf"""(["']?){re.escape(key)}\1\s*:""")
    found: list[int] = []
    for lead in (key, f'"{key}', f"'{key}"):
        if source.startswith(lead) and pattern.match(source, 0):
            found.append(0)
        at = source.find("\n" + lead)
        while at >= 0:
            if pattern.match(source, at + 1):
                found.append(at + 1)
            at = source.find("\n" + lead, at + 1)
    return found


def lines_at(indexes: set[int], text: str) -> dict[int, int]:
    """The 1-based line (counted at "\\n") of each of `indexes` in `text`."""
    lines: dict[int, int] = {}
    line, start = 1, 0
    for index in sorted(indexes):
        line += text.count("\n", start, index)
        lines[index] = line
        start = index
    return lines
