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

For the operator's side, `config_texts` gives config files (any YAML value for any key
and nested key, huge numbers, odd strings) and `command_lines` argument lists for
every command, with values near and past every edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import fields
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from aggregator.limits import Limits

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
CORPUS = ROOT.parent / "shared" / "corpus" / "power-apps"

#: characters that have broken XML writers, feed readers or text handling somewhere
NASTY = (
    "\x00\x01\x08\x0b\x0c\x0e\x1f\x7f"  # C0 controls and DEL: not XML 1.0
    "\x80\x85\x9f"  # C1 controls
    "\ufffe\uffff\ufeff"  # non-characters, BOM
    "\ufdd0\ufdef\U0001fffe\U0010ffff"  # non-characters XML holds and HTML does not
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


# --- the config file and the command line ----------------------------------------------

#: numbers at and past every edge: C ints, 64-bit, timedelta's days, the ranges' ends
EDGES = (
    0, -1, 1, 2, 1000, 1001, 36500, 36501, 65535, 65536, 2**31, 2**63, 999_999_999,
    1_000_000_000, 1_000_000_001, 10**20, 1024**4, 1024**4 + 1,
)  # fmt: skip
huge_numbers = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40),
    st.sampled_from(EDGES),
)
_UNITS = ["", "ms", "s", "m", "h", "d", "w", " d", "x", "y"]
durations = st.builds(
    lambda number, unit: f"{number}{unit}", huge_numbers.map(abs), st.sampled_from(_UNITS)
)
sizes = st.builds(
    lambda number, unit: f"{number}{unit}",
    huge_numbers.map(abs),
    st.sampled_from(["", "B", "KB", "MB", "GB", "KiB", "MiB", "GiB", "TiB", "kb"]),
)
#: strings that have broken something somewhere: URLs, hosts, crons, tags, paths
ODD_STRINGS = (
    "", " ", "\x00", "\t", "~", "%", "-", "--", "-x", "1e999", "nan", "inf", "null", "yes",
    "http://a b/", "https://user:pw@example.org/", "https://example.org/?q=1", "https://x/#f",
    "http://[::1", "http://[::1]:8080/", "http://x:0/", "http://x:65536/", "http://x:/",
    "https://bücher.example/ä ö/", "http://999.1.1.1/", "http://-bad-.example/", "ftp://x/",
    "http://" + "a" * 64 + ".example/", "https://example.org/\x01", "//example.org/",
    "99 99 * * *", "0 0 31 2 *", "*/0 * * * *", "0 0 * * 8", "* * * *", "0-59/99999999999 * * * *",
    "en", "en-", "pt-BR", "e n", "x-private", "a" * 40, "de-DE-1996",
    "bad host:80", ":80", "[::1]:0", "[::1:80", "localhost:99999", "127.0.0.1:-1", "host:", ":",
    "..", "../..", "/", ".", "a/../b", "\u202e", "\ufffe", "\x85", "\u2028",
)  # fmt: skip
odd_strings = st.one_of(st.sampled_from(ODD_STRINGS), hostile_text(max_size=30))
#: path values that stay inside the folder they are relative to
safe_paths = st.sampled_from(
    ["src", "out", "feeds", "site", "out/state.sqlite", "out/report.json", "state.sqlite",
     "report.json", ".", "src/out", "out/src", "site/../out", "a b", "ü", "src/a.md",
     "nested/deeper/out", "link", "conf.yaml", "aggregator.yaml"]
)  # fmt: skip


#: good values of each key, section key and option, the edges of their ranges among them
#: (the longest durations, the largest counts and sizes): every use must hold them
GOOD: dict[str, tuple[Any, ...]] = {
    "sources": ("src", ["src"]),
    "patterns": ("*.md", ["*.md", "*.txt"]),
    "output": ("out", "site/feeds"),
    "base_url": ("https://example.org/news", "http://[::1]:8080/", "https://bücher.example/ä/"),
    "title": ("Fuzz", "A \u202etitle\u202c with marks \u200f and emoji \U0001f680"),
    "description": ("Lines\nand\ttabs",),
    "language": ("en", "pt-BR", "zh-Hant-TW"),
    "limit": (1, 5, 1_000_000_000),
    "min_quality": (0, -1_000_000_000, 1_000_000_000),
    "include_unpublished": (True, False),
    "max_age": ("36500d", "1ms", 3_153_600_000, "5214w"),
    "topics": ({"AI": {"title": "Bots", "limit": 1_000_000_000, "aliases": ["ML"]}},),
    "content": ("full", "excerpt"),
    "icon": ("https://example.org/icon.png?v=1",),
    "logo": ("https://example.org/logo.png#x",),
    "links": ("off", False, "cached"),
    "state": ("state.sqlite", "db/state.sqlite"),
    "interval": ("36500d", "1ms", "15m"),
    "cron": ("*/15 * * * *", "0 0 29 2 *", None),
    "same_url": (True, False),
    "similar_title": (True, False),
    "threshold": (1, 0.0001, 0.75),
    "window": ("31d", "1ms", 2_678_400),
    "enabled": (True, False),
    "workers": (1, 1000),
    "per_host": (1, 1000),
    "min_interval": ("1d", "1ms"),
    "timeout": ("1d", "1ms"),
    "deadline": ("1d", "1ms"),
    "retries": (0, 10),
    "confirm_after": ("36500d",),
    "allow_private": (True, False),
    "ports": ([1, 65535],),
    "user_agent": ("Bot/1.0 (+https://example.org/)",),
    "check_images": (True, False),
    "retry_after_max": ("1d",),
    "ttl_ok": ("36500d", "1ms"),
    "ttl_broken": ("36500d",),
    "ttl_blocked": ("36500d",),
    "ttl_transient": ("36500d", "1ms"),
    "ttl_transient_max": ("36500d",),
    "file_size": ("1TiB", 1, "2MiB"),
    "feed_size": ("1TiB", 1),
    "yaml_depth": (1, 1000),
    "yaml_nodes": (1, 1_000_000_000),
    "title_length": (2, 1_000_000_000),
    "excerpt_length": (2, 1_000_000_000),
    "url_length": (1, 1_000_000_000),
    "feed_entries": (1, 1_000_000_000),
    "hub": ("https://hub.example/",),
}


@st.composite
def _value(draw: st.DrawFn, key: str) -> Any:
    """A value for one key: often a good one (or one at the edge of its range), else
    anything YAML holds or a value near or past some edge."""
    good = GOOD.get(key, ())
    if good and draw(st.booleans()):
        return draw(st.sampled_from(good))
    return draw(st.one_of(yaml_values, huge_numbers, durations, sizes, odd_strings, safe_paths))


#: the keys of each section of the config file
SECTION_KEYS: dict[str, tuple[str, ...]] = {
    "dedupe": ("same_url", "similar_title", "threshold", "window"),
    "link_check": (
        "enabled", "workers", "per_host", "min_interval", "timeout", "deadline", "retries",
        "confirm_after", "allow_private", "ports", "user_agent", "check_images",
        "retry_after_max", "ttl_ok", "ttl_broken", "ttl_blocked", "ttl_transient",
        "ttl_transient_max",
    ),
    "limits": tuple(f.name for f in fields(Limits)),
    "websub": ("hub",),
}  # fmt: skip
TOPIC_KEYS = (
    "min_quality", "title", "description", "language", "icon", "logo", "limit", "content",
    "aliases", "skip",
)  # fmt: skip
CONFIG_KEYS = (
    "sources", "patterns", "output", "base_url", "title", "description", "language", "limit",
    "min_quality", "include_unpublished", "max_age", "topics", "content", "icon", "logo",
    "dedupe", "link_check", "links", "state", "websub", "interval", "cron", "limits",
)  # fmt: skip
_PATH_KEYS = ("sources", "output", "state")


@st.composite
def config_values(draw: st.DrawFn, key: str) -> Any:
    """A value for a top-level key: a section's keys with any values, or any value."""
    if key in _PATH_KEYS and draw(st.booleans()):
        return draw(st.one_of(safe_paths, st.lists(safe_paths, max_size=3)))
    if key in SECTION_KEYS and draw(st.integers(0, 3)):
        names = draw(st.lists(st.sampled_from(SECTION_KEYS[key]), max_size=4, unique=True))
        return {name: draw(_value(name)) for name in names}
    if key == "topics" and draw(st.integers(0, 3)):
        settings = st.lists(st.sampled_from(TOPIC_KEYS), max_size=3, unique=True).flatmap(
            lambda names: st.fixed_dictionaries({name: _value(name) for name in names})
        )
        names = st.one_of(st.sampled_from(["AI", "ai ", "Robotics", "C++"]), odd_strings)
        return draw(st.dictionaries(names, st.one_of(settings, yaml_values), max_size=3))
    return draw(_value(key))


#: values as written in a config file: flow mappings, anchors, tags, impossible dates,
#: literals no Python object holds
RAW_VALUES = (
    "{timeout: 99999999999999d}", "99999999999999999999d", "2021-02-30", "&a [*a]",
    "!!python/object/apply:os.system [id]", "[", "'", "1" + "0" * 5000,
    "{workers: 100000, per_host: 0}", "~", "|-\n  x", '"\\x00"', '"\\ud800"',
    "[[[[[[[[[[1]]]]]]]]]]", ".inf",
)  # fmt: skip


@st.composite
def config_texts(draw: st.DrawFn) -> str:
    """A config file: keys with values of any kind, dumped as YAML, or lines written by
    hand (flow mappings, anchors, tags, impossible dates, huge literals)."""
    if draw(st.integers(0, 4)) == 0:
        lines = draw(
            st.lists(
                st.builds(
                    lambda key, raw: f"{key}: {raw}",
                    st.sampled_from(CONFIG_KEYS),
                    st.one_of(st.sampled_from(RAW_VALUES), odd_strings, durations),
                ),
                min_size=1,
                max_size=4,
            )
        )
        return "\n".join(lines) + "\n"
    keys = draw(st.lists(st.sampled_from(CONFIG_KEYS), max_size=5, unique=True))
    if draw(st.integers(0, 7)) == 0:
        keys.append(draw(st.sampled_from(["colour", "Output", "1"])))
    data = {key: draw(config_values(key)) for key in keys}
    text: str = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    return text


#: each command's options that take a value, and the others
_VALUE_OPTIONS: dict[str, tuple[str, ...]] = {
    "build": ("--config", "--source", "--output", "--base-url", "--min-quality", "--limit",
              "--report", "--links", "--state", "--wait"),
    "check-links": ("--config", "--source", "--state"),
    "run": ("--config", "--source", "--output", "--base-url", "--min-quality", "--limit",
            "--links", "--state", "--interval", "--cron", "--serve", "--log-format"),
    "serve": ("--config", "--output", "--serve", "--log-format"),
    "validate": ("--config",),
    "topics": ("--config", "--source", "--output", "--state", "--base-url", "--min-quality",
               "--limit", "--links"),
}  # fmt: skip
_FLAGS: dict[str, tuple[str, ...]] = {
    "build": ("--include-unpublished", "--allow-private-links", "--strict", "-q", "-v"),
    "check-links": ("--allow-private-links", "--json"),
    "run": ("--include-unpublished", "--allow-private-links"),
    "serve": (),
    "validate": ("-q",),
    "topics": ("--include-unpublished", "--allow-private-links", "--json"),
}
COMMANDS = tuple(_VALUE_OPTIONS)


#: --serve values: good, bad and unresolvable
ADDRESSES = (
    "127.0.0.1:0", ":0", "[::1]:0", "localhost:0", "bad host:80", "x:99999", "::1",
    "1.2.3.999:80", "host_name:80", "bücher.example:80", ":", "",
)  # fmt: skip


#: good values of each option that takes one
GOOD_OPTIONS: dict[str, tuple[str, ...]] = {
    "--config": ("conf.yaml",),
    "--source": ("src",),
    "--output": ("out", "site/feeds"),
    "--report": ("report.json",),
    "--state": ("state.sqlite",),
    "--base-url": ("https://example.org/news", "http://bücher.example:8080"),
    "--min-quality": ("0", "-1000000000", "1000000000"),
    "--limit": ("1", "1000000000"),
    "--links": ("off", "cached"),
    "--log-format": ("text", "json"),
    "--serve": ("127.0.0.1:0", "[::1]:0", ":0"),
    "--interval": ("36500d", "1ms"),
    "--wait": ("1d", "1ms"),
    "--cron": ("*/15 * * * *", "0 0 29 2 *"),
}


#: options whose value is a path: only ever one inside the working folder
_PATH_OPTIONS: dict[str, st.SearchStrategy[str]] = {
    "--config": st.sampled_from(["bad.yaml", "missing.yaml", "src", ".", "out"]),
    "--source": safe_paths,
    "--output": safe_paths,
    "--report": safe_paths,
    "--state": safe_paths,
}
#: a word on its own: a flag argparse does not know, or a path inside the working
#: folder (it may extend --source, or be a PATH of validate)
_STRAY = st.one_of(
    safe_paths,
    st.sampled_from(["-x", "--bogus", "--", "-", "--source=src", "ü", "a\nb"]),
    odd_strings.filter(lambda word: not word.startswith(("/", "~")) and ".." not in word),
)


@st.composite
def _option_value(draw: st.DrawFn, option: str) -> str:
    """Often a good value (or one at the edge of its range), else an absurd one; a
    path is always one inside the working folder (`safe_paths`)."""
    if draw(st.integers(0, 3)):
        return draw(st.sampled_from(GOOD_OPTIONS[option]))
    if option in _PATH_OPTIONS:
        return draw(_PATH_OPTIONS[option])
    absurd = st.one_of(odd_strings, huge_numbers.map(str), durations)
    special: dict[str, st.SearchStrategy[str]] = {
        "--links": st.sampled_from(["on", "maybe"]),
        "--log-format": st.just("xml"),
        "--serve": st.sampled_from(ADDRESSES),
        "--cron": st.sampled_from(["99 99 * * *", "0 0 31 2 *", "* * *"]),
    }
    return draw(st.one_of(special.get(option, absurd), absurd))


@st.composite
def command_lines(draw: st.DrawFn, commands: tuple[str, ...] = COMMANDS) -> list[str]:
    """An argument list for one of `commands`: its options with values near and past
    every edge, flags, stray words; now and then no command, --help or --version.
    Every path in it stays inside the working folder: fuzzing never reads or writes
    elsewhere."""
    roll = draw(st.integers(0, 40))
    if roll == 0:
        return draw(st.sampled_from([[], ["--version"], ["--help"], ["bogus"], ["-q"]]))
    command = draw(st.sampled_from(commands))
    words = [command]
    if command == "serve" and draw(st.integers(0, 3)):  # its one required option
        words += ["--serve", draw(_option_value("--serve"))]
    options = _VALUE_OPTIONS[command]
    for _ in range(draw(st.integers(0, 5))):
        what = draw(st.integers(0, 9))
        if what < 7:
            option = draw(st.sampled_from(options))
            words += [option, draw(_option_value(option))]
        elif what < 9 and _FLAGS[command]:
            words.append(draw(st.sampled_from(_FLAGS[command])))
        else:
            words.append(draw(_STRAY))
    return words
