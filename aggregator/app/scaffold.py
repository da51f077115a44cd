"""`aggregator init`: a commented `aggregator.yaml` that sets every key to its default.

The values are read off the defaults config.py loads when a key is absent: `Config()`
and its section records (`LinkCheckSettings`, `DedupeSettings`, `Limits`). Only the
comments, the grouping (the README's) and the examples shown under keys whose default
is empty live here, in `GROUPS`. tests/app/test_init.py proves that the text loads as
the default config and names every key config.py accepts, so a key added there without
a line here fails the tests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import fields
from datetime import timedelta
from pathlib import Path
from pathlib import PurePath
from typing import Any

import yaml

from aggregator.config import DEFAULT_CONFIG_NAME
from aggregator.config import Config
from aggregator.config import format_duration
from aggregator.errors import OutputError
from aggregator.links.linkpolicy import Freshness
from aggregator.publishing.layout import make_folder
from aggregator.sources import yamlload
from aggregator.version import __version__


@dataclass(frozen=True, slots=True)
class Setting:
    """One key of the file, with its comment."""

    #: the key, as the config file spells it
    key: str
    #: one line saying what it does
    comment: str
    #: a section's keys (`link_check:`), each on its own line below it
    keys: tuple[Setting, ...] = ()
    #: for a key whose default is empty: lines of YAML (and their comments) shown
    #: commented out below it, an example to uncomment
    example: tuple[tuple[str, str], ...] = ()


_TOPICS_EXAMPLE = (
    ("Natural Language Processing:", ""),
    ('  title: "AI News: language"', 'the feed\'s title (default: "<title>: <topic>")'),
    ("  description: Machines that read and write.", "the feed's description"),
    ("  language: en-GB", "the feed's language (default: language)"),
    ("  icon: https://example.org/nlp-512.png", "square image (default: icon)"),
    ("  logo: https://example.org/nlp-wide.png", "wide image (default: logo)"),
    ("  limit: 20", "entries in this feed (default: limit)"),
    ("  min_quality: 70", "quality threshold of this feed (default: min_quality)"),
    ("  content: excerpt", "full or excerpt (default: content)"),
    ("  aliases: [NLP, natural-language processing]", "other names merged into this topic"),
    ("Sponsored:", ""),
    ("  skip: true", "no feed for this topic; its articles stay in the others"),
)

_FEEDS_EXAMPLE = (
    ("- https://blog.example.com/feed.xml", "a URL alone takes the defaults below"),
    ("- url: https://news.example.org/atom.xml", "RSS, Atom or JSON Feed"),
    ("  topics: [AI]", "added to each entry's own categories"),
    ("  quality: 50", "the quality each entry gets (default: 50)"),
    ("  published: true", "the published flag each entry gets (default: true)"),
    ('  title_filter: "(?i)sponsored"', "leave out entries whose title matches this regex"),
)

#: every key of the file, grouped and ordered as the README's Configuration shows them
GROUPS: tuple[tuple[str, tuple[Setting, ...]], ...] = (
    (
        "Article files and output",
        (
            Setting("sources", "folders of article files, or bucket URLs: s3://bucket/prefix"),
            Setting("patterns", "file name patterns of article files"),
            Setting("output", "the folder the feeds are written to, or a bucket URL"),
        ),
    ),
    (
        "Object storage (README: Object storage)",
        (
            Setting("output_cache_control", "Cache-Control of each object uploaded to a bucket"),
            Setting("storage_timeout", "how long one call to a bucket may take, its retries too"),
            Setting(
                "storage_options",
                "options per fsspec protocol: credentials, endpoint",
                example=(('s3: {endpoint_url: "https://s3.example.net"}', ""),),
            ),
        ),
    ),
    (
        "The site",
        (
            Setting("base_url", "public URL of the output folder"),
            Setting("title", "site title, in feed titles, the index page and the OPML"),
            Setting("description", "site description, in the all-topics feed"),
            Setting("language", "language of the feeds (an RFC 5646 tag: en, pt-BR)"),
        ),
    ),
    (
        "What the feeds hold",
        (
            Setting("limit", "entries per feed, newest first"),
            Setting("min_quality", "keep articles with quality >= this"),
            Setting("include_unpublished", "also publish articles with published: false"),
            Setting("max_age", "leave out articles older than this, such as 30d (null: none)"),
            Setting("content", "entries carry the full content, or the excerpt only"),
            Setting("icon", "small square image of every feed: an absolute http(s) URL"),
            Setting("logo", "wide image of every feed: an absolute http(s) URL"),
        ),
    ),
    (
        "Per-topic settings (README: Per-topic settings)",
        (
            Setting(
                "topics",
                "settings by topic name (matched without case), such as:",
                example=_TOPICS_EXAMPLE,
            ),
        ),
    ),
    (
        "aggregator run (README: Running as a daemon)",
        (
            Setting("interval", "time between runs"),
            Setting("cron", "a cron expression (UTC) instead: '*/15 * * * *'"),
            Setting("watch", "also build on changes in the source folders"),
            Setting("serve_report", "serve the last build report at /report.html (private)"),
            Setting(
                "websub",
                "WebSub: a hub every feed names, pinged when feeds change",
                keys=(Setting("hub", "the hub's URL (null: none)"),),
            ),
        ),
    ),
    (
        "Remote feeds (README: Remote feeds)",
        (
            Setting(
                "feeds",
                "RSS, Atom and JSON feeds read beside the article files, such as:",
                example=_FEEDS_EXAMPLE,
            ),
        ),
    ),
    (
        "Link checking and the state (README: Link checking, PostgreSQL state)",
        (
            Setting("links", "on, cached (stored results only) or off (no request)"),
            Setting("state", "state file (null: beside the output) or postgresql:// URL"),
            Setting(
                "link_check",
                "how links are checked",
                keys=(
                    Setting("enabled", "false is links: off"),
                    Setting("workers", "threads sending requests, at most"),
                    Setting("per_host", "requests in flight to one host, at most"),
                    Setting("min_interval", "time between two requests to one host, at least"),
                    Setting("timeout", "connect and read timeout of one request"),
                    Setting("deadline", "all the requests for one URL end by then"),
                    Setting("retries", "further tries after a timeout, a 5xx or a reset"),
                    Setting("confirm_after", "broken on two checks this far apart = dead"),
                    Setting("allow_private", "lift the address and port rules"),
                    Setting("ports", "ports allowed without allow_private"),
                    Setting(
                        "user_agent",
                        "the User-Agent of requests (this version's; delete to follow upgrades)",
                    ),
                    Setting("check_images", "check image URLs too"),
                    Setting("retry_after_max", "the longest Retry-After honoured"),
                    Setting("ttl_ok", "how long an ok result stays fresh"),
                    Setting("ttl_broken", "how long a broken result stays fresh"),
                    Setting("ttl_blocked", "blocked, unsafe, unsupported results"),
                    Setting("ttl_transient", "a first transient failure; doubles each time"),
                    Setting("ttl_transient_max", "up to this"),
                ),
            ),
        ),
    ),
    (
        "Deduplication (README: Deduplication)",
        (
            Setting(
                "dedupe",
                "which copies of a story are one",
                keys=(
                    Setting(
                        "same_url",
                        "one story when files share a canonical URL; false: only their links",
                    ),
                    Setting("similar_title", "one story when titles and excerpts match"),
                    Setting("threshold", "text score, above 0 up to 1, at which two are one"),
                    Setting("window", "only files published this close can match by text"),
                ),
            ),
        ),
    ),
    (
        "Limits (README: Limits)",
        (
            Setting(
                "limits",
                "caps on article files and feeds",
                keys=(
                    Setting("file_size", "a bigger article file is reported, not loaded"),
                    Setting("yaml_depth", "nesting levels of a file's YAML (at most 1000)"),
                    Setting("yaml_nodes", "nodes a file's YAML may hold, aliases expanded"),
                    Setting("yaml_size", "text a file's YAML may hold, aliases expanded"),
                    Setting("title_length", "characters of a title; longer ones are cut"),
                    Setting("excerpt_length", "characters of an excerpt; longer ones are cut"),
                    Setting("topics", "topics per article; a file with more is reported"),
                    Setting("url_length", "characters of a URL"),
                    Setting("images", "images kept per article"),
                    Setting("related", "related stories kept per article"),
                    Setting("feed_entries", "entries in any feed, whatever limit says"),
                    Setting("feed_size", "bytes per feed file; the oldest entries are dropped"),
                    Setting("source_feed_size", "bytes of a remote feed; a bigger one is refused"),
                ),
            ),
        ),
    ),
)

_HEADER = f"""\
# {DEFAULT_CONFIG_NAME}: the settings of aggregator build, run, check-links, topics and feeds.
# Written by `aggregator init` (aggregator {__version__}) with every setting at its default:
# change what you need; a key left out keeps its default. README.md: Configuration.
# Relative paths are relative to this file's folder. Durations: 500ms, 90s, 15m, 1h, 7d,
# 2w; sizes: 512KB (1000 bytes), 2MiB (1024 * 1024 bytes).
"""
#: the column comments start at, when the line before them is short enough
_COLUMN = 36
#: a group's heading line is this wide
_WIDTH = 88
#: a key's line with its comment is at most this long, else the comment goes above it
_LONGEST = 100


def scaffold_text() -> str:
    """The text of the scaffold: every key set to its default, with its comment."""
    values = default_values()
    lines = [_HEADER.rstrip("\n")]
    for heading, settings in GROUPS:
        lines += ["", f"# -- {heading} ".ljust(_WIDTH, "-")]
        for setting in settings:
            lines += _lines(setting, values[setting.key], "")
    return "\n".join(lines) + "\n"


def default_values() -> dict[str, Any]:
    """Each key of the config file -> the value `Config()` has for it (a section's keys
    -> theirs), named as the file names them."""
    config = Config()
    values: dict[str, Any] = {f.name: getattr(config, f.name) for f in fields(Config)}
    # Fields that one key of the file sets together, or that it names otherwise.
    values["sources"] = [*values["sources"], *values.pop("remote_sources")]
    values["output"] = values.pop("remote_output") or values["output"]
    values.pop("aliases")  # given under `topics:`
    values["websub"] = {"hub": values.pop("websub_hub")}
    link_check = config.link_check
    values["link_check"] = {
        **{f.name: getattr(link_check, f.name) for f in fields(link_check)},
        **{f"ttl_{f.name}": getattr(link_check.freshness, f.name) for f in fields(Freshness)},
    }
    # Not settings of the file: the TTLs are keys of their own, the jitter is fixed.
    del values["link_check"]["freshness"], values["link_check"]["ttl_jitter"]
    for key in ("dedupe", "limits"):
        values[key] = {f.name: getattr(values[key], f.name) for f in fields(values[key])}
    return values


def write_scaffold(folder: Path) -> Path:
    """Write the scaffold to `folder/aggregator.yaml`, making `folder` when missing;
    returns its path. OutputError when a file is there already (left as it is) or the
    file cannot be written."""
    path = folder / DEFAULT_CONFIG_NAME
    text = scaffold_text()
    try:
        make_folder(folder)
    except OSError as exc:
        raise OutputError(f"{folder}: cannot make the folder: {exc.strerror or exc}") from exc
    try:
        # "x": never replaces a file, not even one made since a check would have looked.
        file = path.open("x", encoding="utf-8", newline="\n")
    except FileExistsError:
        raise OutputError(
            f"{path} already exists: left as it is (init writes a new file only)"
        ) from None
    except OSError as exc:
        raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from exc
    try:
        with file:
            file.write(text)
    except OSError as exc:
        path.unlink(missing_ok=True)  # the file is ours: no half-written config stays
        raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from exc
    return path


def _lines(setting: Setting, value: Any, indent: str) -> list[str]:
    if setting.keys:
        lines = [_commented(f"{indent}{setting.key}:", setting.comment)]
        for key in setting.keys:
            lines += _lines(key, value[key.key], indent + "  ")
        return lines
    line = f"{indent}{setting.key}: {_yaml(value, setting.key)}"
    lines = [_commented(line, setting.comment)]
    if len(lines[0]) > _LONGEST:  # the comment on a line of its own, above
        lines = [f"{indent}# {setting.comment}", line]
    for text, comment in setting.example:
        lines.append(_commented(f"# {indent}  {text}", comment))
    return lines


def _commented(line: str, comment: str) -> str:
    if not comment:
        return line
    return f"{line.ljust(_COLUMN - 1)} # {comment}"


#: the binary units sizes are written in, largest first
_SIZE_UNITS = (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024))


def _yaml(value: Any, key: str = "", *, flow: bool = False) -> str:
    """`value` as YAML that loads as what config.py reads into it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and key.endswith("_size"):  # the `limits:` sizes
        unit = next(((u, n) for u, n in _SIZE_UNITS if value % n == 0), None)
        return f"{value // unit[1]}{unit[0]}" if unit else str(value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, PurePath | str):
        return _string(str(value), flow=flow)
    if isinstance(value, Mapping):
        items = (f"{_yaml(k, flow=True)}: {_yaml(v, flow=True)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, frozenset):
        value = sorted(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_yaml(item, flow=True) for item in value) + "]"
    raise TypeError(f"{key}: no YAML form for {value!r}")


def _string(text: str, *, flow: bool) -> str:
    """`text` plain when YAML reads it back as this text, else double-quoted (a JSON
    string is a YAML one): `on` would be read as true, `*.md` as an alias."""
    plain = f"k: [{text}]" if flow else f"k: {text}"
    try:
        read = yamlload.load(plain)
    except (yaml.YAMLError, *yamlload.VALUE_ERRORS):  # `!!bool maybe` is no boolean
        read = None
    return text if read == {"k": [text] if flow else text} else json.dumps(text)
