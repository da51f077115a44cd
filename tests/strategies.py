"""Hypothesis strategies for hostile article files, shared by tests/test_fuzz.py and
bench/fuzz.py (the long campaign).

Three families of files:

- `good_articles`: files that must load and publish, whatever hostile text their
  titles, excerpts, topics and providers hold (control characters, right-to-left
  marks and overrides, characters XML cannot carry, HTML, entities, mojibake, huge
  strings). Their link is unique (`https://fuzz.example/<n>`) so a test can find
  each one in the feeds.
- `wrong_type_articles`: a valid file with one field replaced by a value of any
  YAML type; it loads or is reported, never crashes anything.
- `mutated_files`: real files (the seeds, the power-apps corpus when present)
  truncated, with bytes flipped or inserted, with deep nesting, huge strings or
  aliases spliced in.

Each strategy gives `FuzzFile(name, data, good)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
CORPUS = ROOT.parent / "shared" / "corpus" / "power-apps"

#: characters that have broken XML writers, feed readers or text handling somewhere
NASTY = (
    "\x00\x01\x08\x0b\x0c\x0e\x1f\x7f"  # C0 controls and DEL: not XML 1.0
    "\x80\x85\x9f"  # C1 controls
    "\ufffe\uffff\ufeff"  # non-characters, BOM
    "\u200e\u200f\u061c"  # left-to-right, right-to-left, Arabic letter marks
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"  # embeddings, overrides, isolates
    "\u200b\u200c\u200d\u2028\u2029"  # zero-width, joiners, line and paragraph separators
    "\u0301\u0308\u20dd"  # combining marks
    "<>&\"'`;]]>"  # markup and CDATA ends
    "\U0001f680\U0001f468\u200d\U0001f469"  # astral characters, a ZWJ sequence
    "\ud800\udfff"  # lone surrogates (YAML refuses them: the file is reported)
)
FRAGMENTS = (
    "<script>alert(1)</script>",
    "<iframe src=//evil.example></iframe>",
    "<b>bold</b> &amp; &lt;tag&gt; &#0; &#x1; &#xD800; &#1114112; &bogus;",
    "]]><![CDATA[",
    "Baltimoreâ€™s",
    "\u202egnp.exe",
    "\u0645\u0631\u062d\u0628\u0627 \u200f\u0639\u0627\u0644\u0645\u200f",  # Arabic, RLM
    "&" * 50,
    "{{ template }} ${var} %s %n",
)

_nasty_char = st.sampled_from(NASTY)
_any_char = st.characters(codec="utf-8")  # everything but surrogates


def hostile_text(min_size: int = 0, max_size: int = 80) -> st.SearchStrategy[str]:
    """Text mixing ordinary words, any Unicode, the nasty characters and fragments."""
    piece = st.one_of(
        st.text(st.one_of(_nasty_char, _any_char), max_size=8),
        st.sampled_from(FRAGMENTS),
        st.sampled_from(["news", "AI", "story", " ", "  ", "\t", "\n"]),
    )
    return st.lists(piece, min_size=min_size, max_size=max_size // 4 + 1).map("".join)


def _readable(text: str) -> str:
    """A title that cannot be reduced to nothing: a plain word in front."""
    return "Title " + text


_dates = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)
_urls = st.builds(
    lambda path, query: f"https://other.example/{path}?q={query}",
    st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=20),
    st.text(st.characters(codec="ascii", exclude_categories=("Cc",)), max_size=10),
)


@dataclass(frozen=True)
class FuzzFile:
    name: str
    data: bytes
    #: True when the file must load and be published
    good: bool
    #: the link of a good file, to find it in the feeds
    link: str | None = None

    def __repr__(self) -> str:
        # Mutated files can be megabytes: show their start and length, not all of them.
        data = self.data if len(self.data) <= 200 else self.data[:200] + b"..."
        return f"FuzzFile({self.name!r}, {len(self.data)} bytes, good={self.good}, {data!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))  # Hypothesis prints dataclasses field by field otherwise


def dump(fields: dict[str, Any], *, crlf: bool = False, bom: bool = False) -> bytes:
    text = "---\n" + yaml.safe_dump(fields, sort_keys=False, allow_unicode=True) + "---\n"
    if crlf:
        text = text.replace("\n", "\r\n")
    data = text.encode("utf-8", "surrogatepass")  # a lone surrogate is written as-is
    return (b"\xef\xbb\xbf" if bom else b"") + data


@st.composite
def article_fields(draw: st.DrawFn, number: int) -> dict[str, Any]:
    """A valid, published article in the seed format with hostile text everywhere a
    string may be; its link is https://fuzz.example/<number>."""
    fields: dict[str, Any] = {
        "title": _readable(draw(hostile_text(max_size=120))),
        "excerpt": draw(hostile_text(max_size=400)),
        "publishedDateTime": draw(
            st.one_of(_dates, _dates.map(datetime.isoformat), _dates.map(lambda d: str(d.date())))
        ),
        "webUrl": f"https://fuzz.example/{number}",
        "type": draw(st.sampled_from(["article", "video", "podcast", ""])),
        "quality": draw(st.integers(min_value=0, max_value=10**6)),
        "published": True,
        "topics": draw(
            st.lists(
                st.one_of(hostile_text(max_size=30).map(lambda t: "T " + t), st.just("AI")),
                max_size=6,
            )
        ),
    }
    if draw(st.booleans()):
        fields["provider"] = {
            "name": draw(hostile_text(max_size=30)),
            "domain": draw(st.one_of(st.just("example.com"), hostile_text(max_size=20))),
        }
    if draw(st.booleans()):
        fields["images"] = draw(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "url": _urls,
                        "width": st.integers(-5, 10**6),
                        "height": st.integers(-5, 10**6),
                        "title": hostile_text(max_size=20),
                    }
                ),
                max_size=3,
            )
        )
    if draw(st.booleans()):
        fields["related"] = draw(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "title": hostile_text(max_size=40),
                        "webUrl": _urls,
                        "publishedDateTime": st.one_of(st.none(), _dates.map(str)),
                        "provider": st.fixed_dictionaries({"name": hostile_text(max_size=10)}),
                    }
                ),
                max_size=3,
            )
        )
    if draw(st.booleans()):
        fields["featuredContent"] = draw(hostile_text(max_size=60))
    if draw(st.booleans()):
        fields["secured"] = draw(st.binary(max_size=40)).hex()
    return fields


def _without_surrogates(fields: dict[str, Any]) -> dict[str, Any]:
    """YAML refuses a lone surrogate (the file is reported), so a good file has none."""

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return value.encode("utf-8", "replace").decode("utf-8")
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        return value

    return {k: clean(v) for k, v in fields.items()}


@st.composite
def good_articles(draw: st.DrawFn, number: int) -> FuzzFile:
    fields = _without_surrogates(draw(article_fields(number)))
    data = dump(fields, crlf=draw(st.booleans()), bom=draw(st.booleans()))
    suffix = draw(st.sampled_from([".md", ".txt"]))
    return FuzzFile(f"good-{number:04}{suffix}", data, True, f"https://fuzz.example/{number}")


#: any value YAML can hold, nested a little
yaml_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.floats(allow_nan=True, allow_infinity=True),
        hostile_text(max_size=30),
        st.dates(),
        st.datetimes(timezones=st.one_of(st.none(), st.just(UTC))),
        st.binary(max_size=10),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=5), st.integers()), inner, max_size=4),
    ),
    max_leaves=12,
)
FIELDS = (
    "title",
    "excerpt",
    "publishedDateTime",
    "webUrl",
    "originalUrl",
    "ampWebUrl",
    "cdnAmpWebUrl",
    "type",
    "quality",
    "published",
    "provider",
    "topics",
    "images",
    "related",
)


@st.composite
def wrong_type_articles(draw: st.DrawFn, number: int) -> FuzzFile:
    """A valid article with one or more fields replaced by any YAML value."""
    fields = _without_surrogates(draw(article_fields(number)))
    for key in draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3, unique=True)):
        fields[key] = draw(yaml_values)
    return FuzzFile(f"typed-{number:04}.md", dump(fields), False)


def real_files() -> list[bytes]:
    """The seeds, and the power-apps corpus when it is beside the project."""
    paths = sorted(SEEDS.glob("*.txt"))
    if CORPUS.is_dir():
        paths += sorted(CORPUS.glob("*.md"))[:60]
    return [p.read_bytes() for p in paths]


_REAL = real_files()


@st.composite
def mutated_files(draw: st.DrawFn, number: int) -> FuzzFile:
    """A real article file, damaged in one to three ways."""
    data = bytearray(draw(st.sampled_from(_REAL)))
    for _ in range(draw(st.integers(1, 3))):
        how = draw(
            st.sampled_from(["truncate", "flip", "insert", "nest", "huge", "alias", "fence", "nul"])
        )
        at = draw(st.integers(0, len(data)))
        if how == "truncate":
            del data[at:]
        elif how == "flip" and data:
            index = min(at, len(data) - 1)
            data[index] = draw(st.integers(0, 255))
        elif how == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=20))
        elif how == "nest":
            depth = draw(st.integers(50, 5000))
            data[at:at] = draw(st.sampled_from([b"[", b"{a: ", b"- "])) * depth
        elif how == "huge":
            data[at:at] = draw(st.sampled_from([b"x", b"\xc3\xa9", b"&amp;", b"<b>"])) * draw(
                st.integers(1000, 300_000)
            )
        elif how == "alias":
            data[at:at] = b"\nlol: &a [x, x, x, x, x, x, x, x]\nlol2: [*a, *a, *a, *a, *a]\n"
        elif how == "fence":
            data[at:at] = b"\n---\n"
        elif how == "nul":
            data[at:at] = b"\x00"
    return FuzzFile(f"mutated-{number:04}.md", bytes(data), False)


def any_file(number: int) -> st.SearchStrategy[FuzzFile]:
    return st.one_of(good_articles(number), wrong_type_articles(number), mutated_files(number))


@st.composite
def corpora(draw: st.DrawFn, max_files: int = 12) -> list[FuzzFile]:
    """A folder's worth of files, good and bad mixed; at least one good one."""
    count = draw(st.integers(1, max_files))
    files = [draw(any_file(n)) for n in range(count)]
    files.append(draw(good_articles(count)))
    return files


def big_article(number: int, **changes: Any) -> FuzzFile:
    """A good article with some fields replaced (for the 1 MB excerpt, 10,000 topics)."""
    fields: dict[str, Any] = {
        "title": f"Big article {number}",
        "excerpt": "An excerpt.",
        "publishedDateTime": datetime(2021, 1, 1, tzinfo=UTC) + timedelta(hours=number),
        "webUrl": f"https://fuzz.example/{number}",
        "published": True,
        "quality": 100,
        "topics": ["AI"],
    }
    fields.update(changes)
    return FuzzFile(f"big-{number:04}.md", dump(fields), True, f"https://fuzz.example/{number}")
