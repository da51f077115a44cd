"""Turning untrusted strings from article files into clean plain text.

Titles and excerpts in real files hold HTML entities, stray tags, mojibake
(`Baltimoreâ€™s`) and, in hostile files, characters XML cannot carry. Everything
leaves here as plain text: feeds escape it on output and never pass input HTML on.
"""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from html.parser import HTMLParser

import ftfy
from ftfy.chardata import CONTROL_CHARS

from aggregator.sources.badness import is_bad

# Characters XML 1.0 cannot hold, plus lone surrogates and the noncharacters of the
# first plane (U+FDD0 to U+FDEF, U+FFFE, U+FFFF: HTML calls each noncharacter a parse
# error, the W3C validator "Invalid HTML"; no text needs one). A class of characters of
# that plane only: one with the other planes' noncharacters took eight times as long.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")
#: the characters from the first noncharacter past the first plane on, and the
#: noncharacters among them: looked for only in a text that holds such a character
_PAST_FIRST_NONCHARACTER = re.compile("[\U0001fffe-\U0010ffff]")
_OTHER_NONCHARACTERS = re.compile(
    "["
    + "".join(chr(plane << 16 | 0xFFFE) + chr(plane << 16 | 0xFFFF) for plane in range(1, 17))
    + "]"
)


def _xml_text(value: str) -> str:
    """`value` without the characters XML 1.0 cannot hold, lone surrogates and the
    noncharacters (U+FDD0 to U+FDEF, U+FFFE and U+FFFF of every plane)."""
    value = _NOT_XML.sub("", value)
    if _PAST_FIRST_NONCHARACTER.search(value):
        value = _OTHER_NONCHARACTERS.sub("", value)
    return value


# Explicit bidi embeddings, overrides and isolates: left unbalanced in a title they
# reverse the text after it in a reader's list ("Trojan Source" spoofing). The plain
# marks (U+200E, U+200F, U+061C) that right-to-left text needs are kept.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
ELLIPSIS = "\u2026"
_FTFY = ftfy.TextFixerConfig(
    unescape_html=False,
    uncurl_quotes=False,
    fix_latin_ligatures=False,
    fix_character_width=False,
    normalization="NFC",
    explain=False,
)
# Elements whose text is code or embedded content, not prose.
_SKIPPED = frozenset({"script", "style", "iframe", "object", "embed", "noscript", "template"})


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skip_depth += 1
        elif tag in ("br", "p", "div", "li"):
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED and self._skip_depth:
            self._skip_depth -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(data)


def plain_text(value: str) -> str:
    """Plain, single-line, XML-safe text from a string that may hold HTML."""
    if "<" in value:
        extractor = _TextExtractor()
        extractor.feed(_complete_markup(value))
        extractor.close()
        value = "".join(extractor.parts)
    elif "&" in value:
        value = html.unescape(value)
    value = _xml_text(value)
    if not value.isascii():
        # U+FFFD stands for what a decoder could not read (or an impossible `&#0;`):
        # no text, and the W3C validator warns of it as a bad character
        value = value.replace("\ufffd", "")
        value = _fixed(value) if len(value) <= _SHORT else _fix(value)
    return one_line(value)


def one_line(value: str) -> str:
    """`value` with each run of whitespace one space, and none at either end (`split`
    and `join`: a third of the time of a substitution, which most texts do not need)."""
    return " ".join(value.split())


def _complete_markup(value: str) -> str:
    """`value` with every "<" that does not open a complete tag, end tag, comment or
    declaration written as "&lt;": the same text once the parser decodes it.

    `html.parser` looks for the end of an unfinished tag or comment again each time
    more of the string comes in, which is quadratic: 40 KB of "<a " took 8 s. A tag
    here ends at the first ">" before the next "<"; a comment at the next "-->". Each
    "<" is decided with ends found once and kept, so this is linear in the string.
    """
    parts: list[str] = []
    size = len(value)
    last_comment_end = value.rfind("-->")
    next_close = -1  # the first ">" at or after the position looked at, or `size`
    start = 0  # what is copied as it is
    position = value.find("<")
    while position >= 0:
        after = position + 1
        following = value.find("<", after)
        following = size if following < 0 else following
        complete = None  # where the construct opened here ends, when it does
        if value.startswith("<!--", position):
            if last_comment_end >= position + 4:
                complete = value.find("-->", position + 4) + 3
        elif after < size and (
            (value[after].isascii() and value[after].isalpha())
            or value[after] in "/?"
            # a declaration; of the marked sections ("<![...") html.parser knows CDATA only
            or (value[after] == "!" and not value.startswith("<![", position))
            or value.startswith("<![CDATA[", position)
        ):
            if next_close < after:
                next_close = value.find(">", after)
                next_close = size if next_close < 0 else next_close
            if next_close < following:
                complete = next_close + 1
        if complete is None:
            parts += [value[start:position], "&lt;"]
            start = after
            position = following if following < size else -1
        else:
            position = value.find("<", complete)
    if not parts:
        return value
    parts.append(value[start:])
    return "".join(parts)


#: strings this long or shorter (names, titles) repeat across files: their fixes are kept
_SHORT = 200


def _fix(value: str) -> str:
    """Mojibake fixed (ftfy: some tens of microseconds a string), bidi controls removed."""
    if not _kept_by_ftfy(value):
        value = ftfy.fix_text(value, config=_FTFY)
    return _BIDI_CONTROLS.sub("", _xml_text(value))


#: what ftfy, as configured (`_FTFY`), changes in text that is not mojibake: C1 controls
#: (`fix_c1_controls`), line breaks other than "\n" (`fix_line_breaks`), lone
#: surrogates (`fix_surrogates`), the characters `remove_control_chars` removes (ESC
#: among them, which `remove_terminal_escapes` looks for)
_FTFY_CHANGES = re.compile(
    "[\r\u2028\u2029\x80-\x9f\ud800-\udfff"
    + "".join(re.escape(chr(c)) for c in sorted(CONTROL_CHARS))
    + "]"
)


def _kept_by_ftfy(value: str) -> bool:
    """True when `ftfy.fix_text(value, config=_FTFY)` is `value` itself, told in about
    half its time: one line (ftfy fixes line by line), not mojibake by ftfy's own
    test (`is_bad`, which its encoding fix starts with), nothing another of its fixes
    changes, already in NFC. ftfy's other fixes are off in `_FTFY`."""
    return (
        "\n" not in value
        and _FTFY_CHANGES.search(value) is None
        and unicodedata.is_normalized("NFC", value)
        and not is_bad(value)
    )


_fixed = functools.lru_cache(maxsize=8192)(_fix)


def forget_fixes() -> None:
    """Let go of the short texts fixed so far (see `loader.forget_cleaned`)."""
    _fixed.cache_clear()


#: how much longer than its limit a string may be before it is cleaned: markup and
#: entities shrink in cleaning (`&quot;` is one character), so a string is cut to this
#: many times its limit first, and the work of cleaning it never depends on how long
#: the string in the file is
RAW_FACTOR = 4
#: ... plus this, for short limits
RAW_SLACK = 256


def clean_text(value: str, limit: int) -> str:
    """`plain_text(value)` cut to `limit` characters with `truncate`, in time bounded by
    the limit: the string is cut to RAW_FACTOR times the limit before any cleaning. A
    string cut that way ends with "…" like any other text that was cut."""
    return clean_cut(value, limit)[0]


def clean_cut(value: str, limit: int) -> tuple[str, bool]:
    """`clean_text(value, limit)`, and whether the text was cut to the limit (a repair
    the loader reports)."""
    budget = limit * RAW_FACTOR + RAW_SLACK
    if len(value) <= budget:
        plain = plain_text(value)
        return truncate(plain, limit), len(plain) > limit
    text = truncate(plain_text(value[:budget]), limit)
    if not text or text.endswith(ELLIPSIS):
        return text, bool(text)
    # The cleaned start fits the limit although the string went on (markup shrank):
    # it still says that something was cut.
    return (truncate(text, len(text) - 1) if len(text) >= limit else text + ELLIPSIS), True


def truncate(text: str, limit: int) -> str:
    """`text` if it has at most `limit` characters, else its start ending with "…",
    `limit` characters in all, cut at a space when one is near the end.

    A cut never leaves a combining accent without its letter or a joiner or other
    format character dangling at the end.
    """
    if len(text) <= limit:
        return text
    end = max(limit - 1, 0)
    space = text.rfind(" ", 0, end + 1)
    if space >= end * 4 // 5:
        end = space
    # Back off until the cut is not just before an accent: the letter goes with it.
    while end > 0 and unicodedata.combining(text[end]):
        end -= 1
    cut = text[:end].rstrip()
    while cut and unicodedata.category(cut[-1]) == "Cf":
        cut = cut[:-1].rstrip()
    return cut + ELLIPSIS
