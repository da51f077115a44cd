"""Loading one YAML document with PyYAML's safe loader, built faster.

PyYAML's C loader parses and composes the node tree in C, then builds Python objects
from it in Python, through a generic constructor (a generator per collection, a
dispatch per node): for front matter that is about a third of the time a file takes
to load. `load` builds the common node kinds (mappings, sequences, strings and the
scalars the safe loader types: null, bools, numbers, dates) directly from the same
tree, with the safe loader's own functions for the typed scalars, and hands the
document to PyYAML's constructor for anything else (merge keys, other tags, a
collection used as a key), which then builds it or reports it exactly as
`yaml.load(source, Loader=SafeLoader)` does. The result is always what PyYAML gives.
"""

from __future__ import annotations

import re
import sys
from datetime import datetime
from typing import Any
from typing import NamedTuple

import yaml
from yaml.nodes import MappingNode
from yaml.nodes import Node
from yaml.nodes import ScalarNode
from yaml.nodes import SequenceNode

from aggregator.sources.patterns import longest_matched

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
#: scalar tags whose safe constructor returns the value (the others are generators
#: or need a collection node: PyYAML's constructor builds those)
_SCALARS = frozenset(
    {"tag:yaml.org,2002:null", "tag:yaml.org,2002:bool", "tag:yaml.org,2002:int",
     "tag:yaml.org,2002:float", _TIMESTAMP}
)  # fmt: skip


class SafeLoader(_BaseLoader):  # type: ignore[misc]
    """The safe loader, reading an impossible date (2021-02-30) and an integer of more
    than MAX_INT_LENGTH characters as the strings they are, so that the field they are
    in can be reported (or, where the field is not read, ignored)."""


def _timestamp(loader: Any, node: yaml.ScalarNode) -> Any:
    try:
        return yaml.constructor.SafeConstructor.construct_yaml_timestamp(loader, node)
    except (ValueError, OverflowError, AttributeError):  # `!!timestamp nope`: no match
        return loader.construct_scalar(node)


#: an integer written longer than this is read as the string it is: PyYAML builds a
#: YAML 1.1 base-60 integer (`1:2:3:...`) digit group by digit group in Python, which
#: is quadratic in its length (a 1.9 MB one took minutes), and no field holds one
MAX_INT_LENGTH = 64


def _int(loader: Any, node: yaml.ScalarNode) -> Any:
    if len(node.value) > MAX_INT_LENGTH:
        return loader.construct_scalar(node)
    return yaml.constructor.SafeConstructor.construct_yaml_int(loader, node)


SafeLoader.add_constructor(_TIMESTAMP, _timestamp)
SafeLoader.add_constructor("tag:yaml.org,2002:int", _int)

STR = _STR
TIMESTAMP = _TIMESTAMP
_IMPLICIT: dict[str | None, list[tuple[str, re.Pattern[str]]]] = SafeLoader.yaml_implicit_resolvers
#: the safe loader's implicit resolvers by the first character of a plain scalar ("" for
#: the empty one), each followed by those for any character, as `Resolver.resolve` reads
#: them
_ANY_FIRST = _IMPLICIT.get(None, [])
_RESOLVERS = {
    char: resolvers + _ANY_FIRST for char, resolvers in _IMPLICIT.items() if char is not None
}


def _longest_typed(resolvers: list[tuple[str, re.Pattern[str]]]) -> int:
    """The longest plain scalar one of `resolvers` can type (a boolean is at most five
    characters); any number when one has no bound (numbers, dates)."""
    bounds = [longest_matched(pattern) for _tag, pattern in resolvers]
    return sys.maxsize if None in bounds else max(b for b in bounds if b is not None)


#: the first characters of the plain scalars that can be something else than a string
#: (null, a boolean, a number, a date, a merge or value key; any other one is a string,
#: as the safe loader has no resolver for any first character), each with the longest
#: such scalar it may start: a longer one is a string (most titles and names start with
#: one of "yYnNtTfFoO", the booleans' and null's first letters)
TYPED_LONGEST = {char: _longest_typed(resolvers) for char, resolvers in _RESOLVERS.items()}
#: the most common timestamp, which `datetime.fromisoformat` reads as PyYAML does (hours
#: past 23 are left to PyYAML)
_UTC_SECONDS = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-9]{2}:[0-9]{2}Z")
#: builds typed scalars outside a load (it reads no stream)
_CONSTRUCTOR = yaml.constructor.SafeConstructor()


def plain_tag(value: str) -> str:
    """The tag the safe loader gives `value` written as a plain scalar: the first of its
    implicit resolvers that matches, in their order (`Resolver.resolve`)."""
    if len(value) == 20 and _UTC_SECONDS.fullmatch(value):  # no other resolver matches it
        return _TIMESTAMP
    for tag, regexp in _RESOLVERS.get(value[:1], _ANY_FIRST):
        if regexp.match(value):
            return tag
    return _STR


def timestamp(value: str) -> Any:
    """What the safe loader builds from `value`, a plain scalar `plain_tag` reads as a
    timestamp: a date, a datetime, or the string itself for an impossible date."""
    if len(value) == 20 and _UTC_SECONDS.fullmatch(value):
        try:
            return datetime.fromisoformat(value)  # its UTC is datetime.UTC, as PyYAML's
        except ValueError:
            return value
    return _timestamp(_CONSTRUCTOR, yaml.ScalarNode(_TIMESTAMP, value))


#: what PyYAML's safe constructor raises on a typed scalar it cannot build: `!!int abc`,
#: `!!bool maybe` (a KeyError), `!!float _` (an IndexError: no digit), `!!float 1e999x`
VALUE_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError)


def value_problem(error: Exception) -> str:
    """What is wrong with a typed scalar that PyYAML's constructor could not build (one
    of `VALUE_ERRORS`), on one line."""
    if isinstance(error, KeyError):  # the words `!!bool` reads are a table's keys
        return f"not a boolean: {error}"
    if isinstance(error, IndexError):  # `!!int` or `!!float` reads the first character
        return "a number tag on a value with no digit"
    return str(error).split("\n")[0] or type(error).__name__


def syntax_problem(error: yaml.YAMLError) -> str:
    """What PyYAML's parser found wrong, on one line: its problem and, when it says
    one, the context (`but found another document (expected a single document in the
    stream)`)."""
    lines = (getattr(error, "problem", None) or str(error)).splitlines()
    problem = lines[0] if lines else type(error).__name__
    context = getattr(error, "context", None)
    return f"{problem} ({context.splitlines()[0]})" if context else problem


class _Other(Exception):
    """A node `_build` leaves to PyYAML's constructor."""


class Twice(NamedTuple):
    """A key written twice in one mapping (PyYAML reads the last one, silently)."""

    key: str
    #: where the first one and the one read start (indexes in the text)
    first: int
    last: int
    #: whether the mapping is the document's own (not one nested in it)
    top: bool
    #: whether both values are the same scalar, written alike
    same: bool


def load(source: str, twice: list[Twice] | None = None) -> Any:
    """`yaml.load(source, Loader=SafeLoader)`, the same value or the same exception;
    each key written twice in a mapping added to `twice`, when given."""
    loader = SafeLoader(source)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        try:
            value = _build(node, loader, {}, twice, node)
        except Exception:
            # `_Other`, a node only PyYAML's constructor builds; or an error: a typed
            # scalar no constructor can build (`!!int abc`), which PyYAML may meet after
            # another (it builds the items of nested collections last), or nesting past
            # the recursion limit (PyYAML builds collections without recursion). Its
            # constructor gives the value, or the error it meets first, as `yaml.load`.
            if twice is not None:  # (before PyYAML merges the `<<` keys into the nodes)
                twice[:] = _written_twice(node)
            return loader.construct_document(node)
        if twice is not None:
            twice.sort(key=lambda t: t.last)
        return value
    finally:
        loader.dispose()


def _firsts(mapping: Node) -> dict[str, tuple[Node, Node]]:
    """The first key node and value node of each plain string key of `mapping`: made
    once for a mapping with a key written twice (not at each repeat: a key written
    thousands of times would make the look quadratic)."""
    firsts: dict[str, tuple[Node, Node]] = {}
    for key_node, value_node in mapping.value:
        if key_node.__class__ is ScalarNode and key_node.tag == _STR:
            firsts.setdefault(key_node.value, (key_node, value_node))
    return firsts


def _twice(first: tuple[Node, Node], key: str, last: Node, value: Node, top: bool) -> Twice:
    """The key `key`, written first as `first` (key and value nodes), written again at
    `last` (with `value`)."""
    key_node, value_node = first
    same = (
        value_node.__class__ is ScalarNode
        and value.__class__ is ScalarNode
        and (value_node.tag, value_node.value) == (value.tag, value.value)
    )
    return Twice(key, key_node.start_mark.index, last.start_mark.index, top, same)


def _written_twice(root: Node) -> list[Twice]:
    """The keys written twice in the mappings under `root` (plain string keys: a merge
    key `<<` takes the mapping's own keys over the merged ones, by design)."""
    found: list[Twice] = []
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            firsts: dict[str, tuple[Node, Node]] = {}
            for key_node, value_node in node.value:
                if key_node.__class__ is ScalarNode and key_node.tag == _STR:
                    key = key_node.value
                    first = firsts.setdefault(key, (key_node, value_node))
                    if first[0] is not key_node:
                        found.append(_twice(first, key, key_node, value_node, node is root))
                stack.append(value_node)
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)
    return sorted(found, key=lambda t: t.last)


def _build(
    node: Node, loader: Any, built: dict[int, Any], twice: list[Twice] | None, root: Node
) -> Any:
    """The value of `node`; `built` holds the collections built so far by node, so an
    alias is the same object as its anchor (and a recursive one ends), as in PyYAML.
    Each key written twice in a mapping goes to `twice` (`root`: the document's node)."""
    cls = node.__class__
    if cls is ScalarNode:
        tag = node.tag
        if tag == _STR:
            return node.value
        if tag in _SCALARS:
            return loader.yaml_constructors[tag](loader, node)
        raise _Other
    found = built.get(id(node))
    if found is not None:
        return found
    if cls is MappingNode and node.tag == _MAP:
        mapping: dict[Any, Any] = {}
        built[id(node)] = mapping
        firsts: dict[str, tuple[Node, Node]] | None = None  # (made at a first repeat)
        for key_node, value_node in node.value:
            if key_node.__class__ is ScalarNode and key_node.tag == _STR:
                key = key_node.value
                if twice is not None and key in mapping:
                    if firsts is None:
                        firsts = _firsts(node)
                    first = firsts.get(key)
                    if first is not None and first[0] is not key_node:  # (else: a date's text)
                        twice.append(_twice(first, key, key_node, value_node, node is root))
            else:  # merge (`<<`) and value (`=`) keys are PyYAML's, as are unhashable keys
                key = _build(key_node, loader, built, twice, root)
                if isinstance(key, (list, dict)):
                    raise _Other
            mapping[key] = _build(value_node, loader, built, twice, root)
        return mapping
    if cls is SequenceNode and node.tag == _SEQ:
        sequence: list[Any] = []
        built[id(node)] = sequence
        sequence.extend([_build(item, loader, built, twice, root) for item in node.value])
        return sequence
    raise _Other
