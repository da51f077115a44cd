"""Loading one YAML document faster, with yaml-rs, to exactly what `yamlload.load` gives.

yaml-rs (optional: the `fast` extra) parses YAML 1.2 in Rust, several times faster than
PyYAML's C loader. PyYAML's safe loader (`yamlload`) stays the reference: `load` returns
yaml-rs's value only for a document on which the two cannot differ, and hands every other
one to `yamlload.load`, which builds it or raises exactly as before (so errors, and their
lines, are always PyYAML's). Without yaml-rs every document goes to PyYAML.

YAML 1.1 (PyYAML) and 1.2 (yaml-rs) read some text differently; a document that could
differ is found in three steps:

- before parsing, a scan of the text refuses characters PyYAML refuses or reads as line
  breaks (controls, tabs, NEL, U+2028/9, a BOM, a lone CR, surrogates); surrogate and
  `\\U` escapes; at a line start, `---` or `...` (several documents), a value with no key
  (`: x`, a null key to yaml-rs) or a deep indent (deep nesting: yaml-rs crashes the
  process on tens of thousands of levels); and where a node starts, tags (`!!binary`,
  `!foo`), anchors and aliases (PyYAML shares one object for an alias, yaml-rs copies it;
  the loader's alias limits are PyYAML's), flow collections, block scalars, directives and
  reserved characters;
- yaml-rs refuses duplicate keys (PyYAML keeps the last) and whatever it cannot parse;
- in yaml-rs's value, every string is read again as PyYAML reads a plain scalar: one it
  would type (`yes`, `1:20`, `<<`, `=`, `0o7`...) is refused, but for a date or time,
  which yaml-rs returns as text (`parse_datetime=False`) and PyYAML's own constructor
  builds, when no quoted string in the text can start like a date. A number is kept when
  the text holds no number written as PyYAML reads it otherwise (`010`, `0x1F`, `0o7`,
  `1_000`, `1e3`, `.5`, `.inf`..., an integer longer than `yamlload.MAX_INT_LENGTH`).
  Booleans and nulls are the same in both (`true`/`True`/`TRUE`..., `~`/`null`/empty);
  a key that is a list or a mapping (an error in PyYAML) is refused.

The scans look at the whole text, so they refuse more than they must (an `&amp;` after
": " in a quoted string is taken for an anchor): such a file is read by PyYAML.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from aggregator.sources import yamlload


def _import_yaml_rs() -> Callable[[str], Any] | None:
    """yaml-rs's parser with the options the fast path relies on, or None when the
    `fast` extra is not installed."""
    try:
        import yaml_rs
    except ImportError:
        return None
    error = yaml_rs.DuplicateKeyPolicy.Error

    def loads(source: str) -> Any:
        return yaml_rs.loads(source, parse_datetime=False, duplicate_key_policy=error)

    return loads


_loads = _import_yaml_rs()
#: whether yaml-rs is installed: without it, `load` is `yamlload.load`
AVAILABLE = _loads is not None


class Refused(Exception):
    """A document the fast path leaves to PyYAML; the message says why."""


def load(source: str, twice: list[yamlload.Twice] | None = None) -> Any:
    """`yamlload.load(source, twice)`: the same value or the same exception, faster
    (yaml-rs refuses a key written twice: such a text is PyYAML's, which finds them)."""
    try:
        return fast_load(source)
    except Refused:
        return yamlload.load(source, twice)


def fast_load(source: str) -> Any:
    """yaml-rs's value of `source` when it is PyYAML's; raises Refused otherwise."""
    if _loads is None:
        raise Refused("yaml-rs is not installed")
    if type(source) is not str:  # PyYAML also reads bytes and streams
        raise Refused(f"a {type(source).__name__}, not a str")
    text = "\n" + source  # every line starts after a "\n", the first one too
    _scan(text)
    try:
        data = _loads(source)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        # Not parsed, not one document or a duplicate key: PyYAML's. A panic in yaml-rs
        # comes as PyO3's PanicException, a BaseException: PyYAML's too.
        raise Refused(f"yaml-rs: {type(exc).__name__}") from None
    return _Check(text).value(data)


# --- before parsing ---------------------------------------------------------------------

#: what starts a node PyYAML reads its own way: tags, anchors, aliases, flow collections,
#: block scalars, directives and the reserved characters
_INDICATORS = "!&*[{|>%@`"
#: what the first look deletes: printable ASCII and line feeds, but a backslash and the
#: indicators; what is left is short (often empty): controls, tabs, carriage returns,
#: backslashes, indicators and the bytes of multi-byte characters, each character whole
_PLAIN_BYTES = bytes(
    byte for byte in [10, *range(0x20, 0x7F)] if chr(byte) not in _INDICATORS + "\\"
)
#: control characters (a tab among them) but the line breaks
_CONTROL = re.compile(rb"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f]")
#: UTF-8 of characters PyYAML refuses or reads as line breaks: C1 controls (NEL among
#: them), U+2028, U+2029, a BOM, U+FFFE, U+FFFF
_WIDE_BAD = re.compile(rb"\xc2[\x80-\x9f]|\xe2\x80[\xa8\xa9]|\xef(?:\xbb\xbf|\xbf[\xbe\xbf])")
_LONE_CR = re.compile(r"\r(?!\n|\Z)")
#: an escape of a surrogate, or a 32-bit one: PyYAML and yaml-rs disagree on them
_ESCAPE = re.compile(r"\\(?:U|u[dD][89a-fA-F])")
#: the longest run of spaces and block indicators a line may start with: every level of
#: block nesting takes at most two of them (as in the loader's depth bound; flow
#: collections are refused), so documents have at most 2 * 32 + 2 levels. yaml-rs
#: crashes the process on tens of thousands: a deeper document goes to PyYAML (libyaml
#: refuses 1000 levels; the loader's yaml_depth limit holds before either)
_MAX_LEAD = 32
#: the deepest nesting of a document the fast path reads: it has no flow collection, and
#: each block level takes at most two characters of a line's lead (see
#: `loader._depth_bound`)
MAX_DEPTH = 2 * _MAX_LEAD + 2
#: at a line start: a document marker (PyYAML reads one document), a value with no key
#: (PyYAML refuses it, yaml-rs reads a null key), or a deep indent
_LINE_START = re.compile(
    r"\n(?:(?P<a_document_marker>---|\.\.\.)"
    r"|(?P<a_value_with_no_key>(?> *+(?:[-?] ++)*+):(?=[ \r\n]|\Z))"
    rf"|(?P<a_deep_indent>[ ?:-]{{{_MAX_LEAD + 1}}}))"
)
#: where a node starts, as a look-behind on its first character: at a line start, or
#: after "- ", "? ", ": " and any further spaces (text is scanned with "\n" in front)
_NODE_START = r"(?:(?<=\n.)|(?<=[-?: \n] .))"
#: a number written as PyYAML does not read it where a token starts: a leading zero
#: (octal to PyYAML, decimal to yaml-rs) or a 0x/0o/0b prefix, signed or not
_LEADING_ZERO = re.compile(r"0[0-9_xXoObB](?:(?<![^ \n]0.)|(?<=[-+]0.)(?<![^ \n][-+]0.))")
#: any number yaml-rs reads as PyYAML may not where a token starts: a leading dot (.5,
#: .inf, .nan), a leading zero or prefix, an underscore, an exponent (PyYAML needs a dot
#: and a sign). It matches where `(?<![^ \n])[-+]?(?:\.|0[0-9_xXoObB]|[0-9.]*(?:_|[0-9.][eE]))`
#: does, but starts with the token's first character, so that a search skips every other
#: character at once instead of trying the pattern there (a third of the time; the
#: other form tried each of the text's characters: 80 us for a file of 6 KB). After
#: that character: a "." or "_" matches at once, "0" is followed by a prefix or digit or
#: reads on to "_" or an exponent, another digit reads on to those, a sign starts it all.
_ODD_NUMBER = re.compile(
    r"[-+._0-9](?<![^ \n].)"
    r"(?:(?<=[._])"
    r"|(?<=0)(?:[0-9_xXoObB]|[0-9.]*[_eE])"
    r"|(?<=[1-9])[0-9.]*[_eE]"
    r"|(?<=[-+])(?:\.|0[0-9_xXoObB]|[0-9.]*(?:_|[0-9.][eE])))"
)
#: a quoted string that may start like a date: a year and a dash, or an escape early on
#: (a digit or a backslash after the quote is looked at first: most quotes have neither,
#: and the look-behinds are not tried for them)
_QUOTED_DATE = {
    quote: re.compile(quote + r"(?=[0-9\\])" + _NODE_START + r"(?:[0-9]{4}-|[0-9]{0,4}\\)")
    for quote in "\"'"
}
_DIGITS = frozenset("0123456789+-")


def _scan(text: str) -> None:
    """Refuse a text with anything PyYAML reads its own way but numbers and quoted dates,
    which `_Check` looks for only when yaml-rs returns numbers or dates."""
    try:
        rare = text.encode("utf-8").translate(None, _PLAIN_BYTES)
    except UnicodeEncodeError:
        raise Refused("a surrogate") from None
    found = _LINE_START.search(text)
    if found:
        raise Refused(str(found.lastgroup).replace("_", " "))
    if not rare:
        return
    if _CONTROL.search(rare):
        raise Refused("a control character or a tab")
    if _WIDE_BAD.search(rare):
        raise Refused("a character PyYAML refuses or reads as a line break")
    if 13 in rare and _LONE_CR.search(text):
        raise Refused("a line break that is a lone CR")
    if 92 in rare and _ESCAPE.search(text):
        raise Refused("a surrogate or 32-bit escape")
    for char in _INDICATORS:
        if ord(char) in rare and _starts_a_node(text, char):
            raise Refused(f"{char!r} where a node starts")


def _starts_a_node(text: str, char: str) -> bool:
    """Whether `char` is where a node starts (`_NODE_START`); it is rare in the text, so
    each place it is found is looked at."""
    at = text.find(char)
    while at >= 0:  # at > 0: text starts with "\n"
        before = text[at - 1]
        if before == "\n" or (before == " " and text[at - 2] in "-?: \n"):
            return True
        at = text.find(char, at + 1)
    return False


def _underscored_integer(text: str) -> bool:
    """Whether a token starts with digits and an underscore (yaml-rs reads `1_000` and
    `_1` as numbers; PyYAML reads the second as a string)."""
    at = text.find("_")
    while at >= 0:
        start = at
        while text[start - 1] in _DIGITS:  # text[0] is "\n"
            start -= 1
        if text[start - 1] in " \n":
            return True
        at = text.find("_", at + 1)
    return False


def _quoted_date(text: str) -> bool:
    """Whether a quoted string where a node starts may start like a date."""
    return any(quote in text and pattern.search(text) for quote, pattern in _QUOTED_DATE.items())


# --- after parsing ----------------------------------------------------------------------

#: strings yaml-rs returns only for a quoted scalar (as plain scalars they are its null
#: and booleans, or cannot be plain at all): PyYAML reads them as strings too
_NEVER_PLAIN = frozenset(
    ["", "~", "null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE",
     "!", "&", "*"]
)  # fmt: skip
#: integers with fewer digits than PyYAML's longest (longer ones it reads as text)
_INT_BOUND = 10 ** (yamlload.MAX_INT_LENGTH - 1)
#: the longest plain scalar of each first character that PyYAML may read as another
#: type than a string (none of another first character)
_TYPED_LONGEST = yamlload.TYPED_LONGEST
_STR = yamlload.STR
_TIMESTAMP = yamlload.TIMESTAMP
#: short strings known to be strings as PyYAML reads plain scalars (keys, mostly: the
#: same few in every file), so that each is resolved once; cleared when full
_KNOWN: set[str] = set()
_KNOWN_SIZE = 4096
_KNOWN_LENGTH = 40
#: short keys that passed `_Check`'s look at a key (strings PyYAML reads as the same
#: string, which depends on the string alone), so that a mapping whose keys are all
#: among them (the same few in every file) is passed at once; cleared when full
_KEYS: set[str] = set()


class _Check:
    """Walks yaml-rs's value of one text, refuses what PyYAML reads otherwise and builds
    the dates (in place: the value is this load's own)."""

    __slots__ = ("dates", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        #: whether the plain dates can be built (None: not known yet)
        self.dates: bool | None = None

    def value(self, data: Any) -> Any:
        root = [data]
        stack: list[Any] = [root]
        integers = floats = False
        known, typed, string, passed = _KNOWN, _TYPED_LONGEST, self.string, _KEYS
        while stack:
            node = stack.pop()
            if type(node) is list:
                items: Any = enumerate(node)
            else:
                items = node.items()
                for key in () if passed.issuperset(node) else node:
                    kind = type(key)
                    if kind is str:
                        if (
                            key[:1] in typed
                            and key not in known
                            and len(key) <= typed[key[:1]]
                            and string(key) is not key
                        ):
                            raise Refused(f"a key PyYAML reads as a date: {key!r}")
                        if len(key) <= _KNOWN_LENGTH:
                            if len(passed) >= _KNOWN_SIZE:
                                passed.clear()
                            passed.add(key)
                    elif kind is int:
                        integers = True
                        if not -_INT_BOUND < key < _INT_BOUND:
                            raise Refused("an integer longer than PyYAML reads as one")
                    elif kind is float:
                        floats = True
                    elif kind is not bool and key is not None:  # a tuple or a frozenset
                        raise Refused(f"a key that is a {kind.__name__}")
            for at, item in items:
                kind = type(item)
                if kind is str:
                    if item[:1] in typed and item not in known and len(item) <= typed[item[:1]]:
                        node[at] = string(item)
                elif kind is dict or kind is list:
                    stack.append(item)
                elif kind is int:
                    integers = True
                    if not -_INT_BOUND < item < _INT_BOUND:
                        raise Refused("an integer longer than PyYAML reads as one")
                elif kind is float:
                    floats = True
                elif kind is not bool and item is not None:
                    raise Refused(f"a {kind.__name__} from yaml-rs")
        text = self.text
        if floats and _ODD_NUMBER.search(text):
            raise Refused("a number PyYAML reads otherwise")
        if integers and (
            ("0" in text and _LEADING_ZERO.search(text))
            or ("_" in text and _underscored_integer(text))
        ):
            raise Refused("an integer PyYAML reads otherwise")
        return root[0]

    def string(self, value: str) -> Any:
        """PyYAML's value of a string yaml-rs returned: the same string, or the date
        it is when written plain."""
        tag = yamlload.plain_tag(value)
        if tag == _STR or value in _NEVER_PLAIN:
            if len(value) <= _KNOWN_LENGTH:
                if len(_KNOWN) >= _KNOWN_SIZE:
                    _KNOWN.clear()
                _KNOWN.add(value)
            return value
        if tag != _TIMESTAMP:
            raise Refused(f"PyYAML reads {value!r} as {tag}")
        if self.dates is None:
            self.dates = not _quoted_date(self.text)
        if not self.dates:
            raise Refused(f"a date that may be quoted: {value!r}")
        return yamlload.timestamp(value)
