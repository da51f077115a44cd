"""The `Config` record, its defaults, loading `aggregator.yaml`, and validation.

Relative paths in a config file are relative to the folder of that file; relative
paths given on the command line or as overrides are relative to the working
directory. The CLI applies its options (checked by argparse) on top of the file with
`dataclasses.replace`; a library caller's overrides are checked as the file's values
are (`with_overrides`).
"""

from __future__ import annotations

import ipaddress
import os
import re
import unicodedata
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Set
from dataclasses import dataclass
from dataclasses import field
from dataclasses import fields
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any
from typing import TypeVar
from urllib.parse import quote
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

import yaml

from aggregator.errors import ConfigError
from aggregator.limits import MAX_YAML_DEPTH
from aggregator.limits import Limits
from aggregator.links.linkpolicy import Freshness
from aggregator.links.linkpolicy import LinkCheckSettings
from aggregator.model import ContentMode
from aggregator.model import LinksMode
from aggregator.objectstore.stores import folder_name
from aggregator.objectstore.stores import is_url
from aggregator.objectstore.stores import store_url
from aggregator.publishing.layout import beside
from aggregator.sources import yamlload
from aggregator.sources.yamltext import Marks
from aggregator.sources.yamltext import key_text
from aggregator.sources.yamltext import kind
from aggregator.sources.yamltext import lines_at
from aggregator.state.location import is_database_url
from aggregator.state.location import looks_like_url
from aggregator.state.location import shown
from aggregator.stories.dedupe import DedupeSettings
from aggregator.stories.similar import PERIOD
from aggregator.stories.topics import topic_key
from aggregator.stories.urls import idna_host

DEFAULT_CONFIG_NAME = "aggregator.yaml"
DEFAULT_PATTERNS = ("*.md", "*.txt", "*.yaml", "*.yml")
DEFAULT_BASE_URL = "http://localhost:8080/"
DEFAULT_LIMIT = 50
DEFAULT_MIN_QUALITY = 50
#: the Cache-Control of every object uploaded to an `output:` bucket
DEFAULT_CACHE_CONTROL = "public, max-age=300"
#: how long one call to an object store may take (`storage_timeout`): a listing of a
#: large bucket is many requests, a hung store answers none
DEFAULT_STORAGE_TIMEOUT = timedelta(minutes=2)
#: where the local folders of an `output:` URL live (the staging folder and its state),
#: below the folder of the config file (or the working directory, for `--output`)
STAGING_FOLDER = ".aggregator"

# The valid ranges of settings. Each is far above any real need and inside what every
# use downstream holds, so that a mistyped value is one line naming the key, never an
# overflow deep inside a run.

#: Durations on the calendar's scale (max_age, interval, confirm_after, the link TTLs)
#: are at most 100 years: `now - max_age`, `now + ttl` (with its jitter) and the
#: scheduler's fire times stay far inside the years 1 to 9999 that datetime holds.
LONGEST = timedelta(days=36500)
#: A wait for one network step (timeout, deadline, min_interval, retry_after_max) or
#: for another writer (`build --wait`) is at most a day: socket and thread timeouts
#: hold about 292 years (`threading.TIMEOUT_MAX`), a stuck request should not.
LONGEST_WAIT = timedelta(days=1)
#: The dedupe window is at most the 31-day period word weights come from
#: (`similar.PERIOD`): a longer window stretches every period to its own length, so
#: one changed file would make each build compare a whole window of articles again,
#: and stories on one subject weeks apart are not one story anyway.
LONGEST_WINDOW = PERIOD
#: Counts (limit, the `limits:` caps) are at most a billion and min_quality lies
#: within a billion of 0: far above real needs, and a 64-bit integer for SQLite.
MAX_COUNT = 1_000_000_000
#: Sizes (`limits:` file_size, feed_size) are at most 1 TiB.
MAX_SIZE = 1024**4
#: The link checker's threads (workers) and requests in flight to one host (per_host).
MAX_WORKERS = 1000
#: The bytes of a config file read at most: tens of thousands of feeds fit, and a file
#: that never ends (`--config /dev/zero`) or a huge value is one line, not a build
#: that reads until memory runs out or parses for minutes.
MAX_CONFIG_SIZE = 4 * 1024**2


@dataclass(frozen=True, slots=True)
class TopicSettings:
    """Per-topic overrides from the `topics:` section of the config file.

    None means "as the whole site": `min_quality`, `limit`, `language`, `content`,
    `icon` and `logo` fall back to the top-level settings, `title` and
    `description` to ones made from the site title and the topic name.
    """

    #: inclusive quality threshold for this topic's feed; None means the global one
    min_quality: int | None = None
    #: the feed's title, as readers show it
    title: str | None = None
    #: the feed's description
    description: str | None = None
    #: the feed's language (RFC 5646 tag)
    language: str | None = None
    #: absolute URL of a small square image for the feed
    icon: str | None = None
    #: absolute URL of a wide image for the feed
    logo: str | None = None
    #: entries in the topic's feed, newest first
    limit: int | None = None
    #: "full" or "excerpt" (see `ContentMode`)
    content: ContentMode | None = None
    #: no feed for this topic: the name is dropped from every article's topics (the
    #: articles stay in the all-topics feed and in their other topics' feeds)
    skip: bool = False


#: the quality the entries of a remote feed get unless its `quality` says otherwise:
#: the default `min_quality`, so that they are published by default
DEFAULT_FEED_QUALITY = DEFAULT_MIN_QUALITY


@dataclass(frozen=True, slots=True)
class FeedSource:
    """One remote feed of the `feeds:` section (or a `--feed URL`)."""

    #: the feed's URL: RSS, Atom or JSON Feed
    url: str
    #: added to each entry's own categories (aliases apply, as to any topic)
    topics: tuple[str, ...] = ()
    #: the quality each entry gets
    quality: int = DEFAULT_FEED_QUALITY
    #: the published flag each entry gets
    published: bool = True
    #: a regular expression (Python `re`): entries whose title matches are left out
    title_filter: str | None = None


@dataclass(frozen=True, slots=True)
class Config:
    #: folders searched recursively for article files
    sources: tuple[Path, ...] = (Path("seeds"),)
    #: file name patterns (fnmatch) of article files
    patterns: tuple[str, ...] = DEFAULT_PATTERNS
    #: folder the feeds are written to
    output: Path = Path("feeds")
    #: public URL of the output folder; always ends with "/"
    base_url: str = DEFAULT_BASE_URL
    #: site title, used in feed titles, the index page and the OPML
    title: str = "Aggregator"
    #: site description, used in the all-topics feed
    description: str = "Curated news, one feed per topic."
    #: language of the feeds (RFC 5646 tag)
    language: str = "en"
    #: entries per feed, newest first
    limit: int = DEFAULT_LIMIT
    #: inclusive quality threshold
    min_quality: int = DEFAULT_MIN_QUALITY
    #: publish articles whose `published` flag is false or absent
    include_unpublished: bool = False
    #: leave out articles older than this, counted back from the build's clock
    max_age: timedelta | None = None
    #: per-topic settings by topic key (`slugs.topic_key`: whitespace collapsed, casefolded)
    topics: Mapping[str, TopicSettings] = field(default_factory=lambda: MappingProxyType({}))
    #: topic names merged into another topic: alias key -> the target topic's name
    aliases: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    #: what entries carry by default: "full" content or the "excerpt" only
    content: ContentMode = "full"
    #: absolute URL of a small square image for every feed that sets none
    icon: str | None = None
    #: absolute URL of a wide image for every feed that sets none
    logo: str | None = None
    dedupe: DedupeSettings = field(default_factory=DedupeSettings)
    link_check: LinkCheckSettings = field(default_factory=LinkCheckSettings)
    #: "on" checks stale links, "cached" uses stored results only, "off" ignores links
    links: LinksMode = "on"
    #: the SQLite state file, or a PostgreSQL database's `postgresql://` URL (text);
    #: None means a SQLite file beside the output folder
    state: Path | str | None = None
    #: WebSub hub to name in every feed and to ping after a run; None for none
    websub_hub: str | None = None
    #: how often `aggregator run` rebuilds, unless a cron expression is given
    interval: timedelta = timedelta(minutes=15)
    #: a five-field cron expression for `aggregator run`, instead of `interval`
    cron: str | None = None
    #: `aggregator run` also builds when files change in the source folders
    watch: bool = False
    #: `aggregator run --serve` also serves the last run's HTML build report at
    #: /report.html (default false: the report names unpublished files and paths)
    serve_report: bool = False
    #: caps on article files and feeds (the `limits:` section)
    limits: Limits = field(default_factory=Limits)
    #: remote feeds read beside the article files (the `feeds:` section)
    feeds: tuple[FeedSource, ...] = ()
    #: object-store URLs of `sources:` (`s3://bucket/prefix`), read through local mirrors
    remote_sources: tuple[str, ...] = ()
    #: the object-store URL of `output:`; `output` is then the local staging folder,
    #: uploaded to it after each build. None: `output` is what is published
    remote_output: str | None = None
    #: per fsspec protocol (`s3`, `gs`, ...), options for its filesystem (credentials, endpoint)
    storage_options: Mapping[str, Mapping[str, Any]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    #: the Cache-Control header of each object uploaded to `remote_output`
    output_cache_control: str = DEFAULT_CACHE_CONTROL
    #: how long one call to an object store (a listing, a download, an upload, its
    #: retries included) may take before the run gives it up with a StorageError
    storage_timeout: timedelta = DEFAULT_STORAGE_TIMEOUT

    @property
    def state_location(self) -> Path | str:
        """Where the state lives: a PostgreSQL URL (text, as given), or the SQLite file
        (`state_path`). Show it with `state.location.shown`: a URL may hold a password."""
        path = self.state_path
        return str(self.state) if path is None else path

    @property
    def state_path(self) -> Path | None:
        """The SQLite state file: `.<output name>-state.sqlite` beside the output folder
        unless set (beside its real path: an output reached through a symlink shares its
        target's state); None when the state is in a database (`state_location`)."""
        if is_database_url(self.state):
            return None
        if self.state is not None:
            return Path(self.state)
        return beside(self.output, "-state.sqlite")

    @property
    def entries_path(self) -> Path:
        """The folder of the entries of remote feeds, one folder per feed, beside the
        state file (`.<output name>-state-entries`): what the state keeps of them. With
        the state in a database, beside the output folder under the same name."""
        state = self.state_path
        if state is None:
            return beside(self.output, "-state-entries")
        return state.with_name(state.stem + "-entries")

    def topic_min_quality(self, topic: str) -> int:
        """The quality threshold of one topic's feed (topic names match case-insensitively)."""
        settings = self.topics.get(topic_key(topic))
        if settings is not None and settings.min_quality is not None:
            return settings.min_quality
        return self.min_quality

    def topic_settings(self, topic: str) -> TopicSettings:
        """The settings of one topic (all None when the config has none for it)."""
        return self.topics.get(topic_key(topic)) or TopicSettings()

    def output_key(self) -> str:
        """The settings a build's output depends on, as text (a cache key): all but the
        schedule (`interval`, `cron`, `watch`), what the server shows (`serve_report`),
        where the state lives and how link requests are sent (`_REQUEST_ONLY`: timeouts,
        pacing, user agent), which change no output.
        (The address served and logging are options of the command, not of the config.)"""
        return repr(self._output_settings())

    def tables_key(self) -> str:
        """The settings the engine's tables depend on (a cache key): the output settings
        but those that only rendering reads (`_RENDER_ONLY`, and a topic's title,
        description, language, icon, logo and content), so that changing the site's title
        renders every feed again and forms no story again."""
        settings = self._output_settings()
        defaults = Config()
        topics: dict[str, TopicSettings] = {}
        for name, topic in settings.topics.items():
            read = replace(topic, title=None, description=None, language=None)
            read = replace(read, icon=None, logo=None, content=None)
            if read != TopicSettings():  # a topic with only such settings: as none
                topics[name] = read
        return repr(
            replace(
                settings,
                topics=MappingProxyType(topics),
                **{name: getattr(defaults, name) for name in _RENDER_ONLY},
            )
        )

    def render_key(self) -> str:
        """The settings rendering reads (a cache key for rendered feeds): the site, the
        topics' own settings, content, images, the hub, limits and link rules. What
        decides *which* entries a feed holds (sources, filters, dedupe, links mode)
        is not here: those entries are keyed themselves."""
        return repr(
            replace(
                self._output_settings(),
                sources=(),
                patterns=(),
                feeds=(),
                min_quality=0,
                include_unpublished=False,
                max_age=None,
                aliases=MappingProxyType({}),
                dedupe=DedupeSettings(),
                links="on",
            )
        )

    def _output_settings(self) -> Config:
        """This config with the settings that change no output at their defaults."""
        return replace(
            self,
            interval=_NO_INTERVAL,
            cron=None,
            watch=False,
            serve_report=False,
            state=None,
            link_check=_link_rules(self.link_check),
            # Where the feeds are uploaded, and how, changes none of their bytes; and
            # credentials stay out of cache keys.
            remote_output=None,
            storage_options=MappingProxyType({}),
            output_cache_control=DEFAULT_CACHE_CONTROL,
            storage_timeout=DEFAULT_STORAGE_TIMEOUT,
        )


#: settings only rendering reads (see `Config.tables_key`)
_RENDER_ONLY = (
    "base_url", "title", "description", "language", "content", "icon", "logo", "websub_hub"
)  # fmt: skip
#: the `interval` every cache key sees (it changes no output)
_NO_INTERVAL = timedelta(minutes=15)
#: link check settings that say how requests are sent, not what a result means: they
#: change no output (a build uses the stored results whatever sent the requests)
_REQUEST_ONLY = (
    "workers", "per_host", "min_interval", "timeout", "deadline", "retries", "user_agent",
    "retry_after_max",
)  # fmt: skip
_DEFAULT_LINK_CHECK = LinkCheckSettings()


def _link_rules(settings: LinkCheckSettings) -> LinkCheckSettings:
    """`settings` less what a cache key must not see (`_REQUEST_ONLY`)."""
    return replace(settings, **{name: getattr(_DEFAULT_LINK_CHECK, name) for name in _REQUEST_ONLY})


_DURATION = re.compile(r"^\s*(\d+)\s*(ms|[smhdw]?)\s*$")
_UNIT_MILLISECONDS = {
    "ms": 1,
    "": 1000,
    "s": 1000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 604_800_000,
}


def parse_duration(text: str | int, longest: timedelta = LONGEST) -> timedelta:
    """`500ms`, `90s`, `15m`, `1h`, `7d`, `2w`, or a number of seconds; more than 0 and
    at most `longest`, else ValueError."""
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, int):
        milliseconds = text * 1000
    else:
        match = _DURATION.match(text)
        if not match:
            raise ValueError(f"not a duration: {text!r} (use e.g. 500ms, 90s, 15m, 1h, 7d, 2w)")
        milliseconds = int(match.group(1)) * _UNIT_MILLISECONDS[match.group(2)]
    if milliseconds <= 0:
        raise ValueError(f"a duration must be positive, got {text!r}")
    # Compared as a number first: timedelta itself overflows past 999,999,999 days.
    if milliseconds > longest // timedelta(milliseconds=1):
        raise ValueError(f"must be at most {format_duration(longest)}, got {text!r}")
    return timedelta(milliseconds=milliseconds)


def format_duration(duration: timedelta) -> str:
    """A duration as the config file writes it, in its largest whole unit: `36500d`."""
    milliseconds = duration // timedelta(milliseconds=1)
    for unit in ("d", "h", "m", "s"):
        if milliseconds % _UNIT_MILLISECONDS[unit] == 0:
            return f"{milliseconds // _UNIT_MILLISECONDS[unit]}{unit}"
    return f"{milliseconds}ms"


_SIZE = re.compile(r"^\s*(\d+)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}


def parse_size(text: str | int) -> int:
    """`512KB`, `2MiB`, `10MB`, or a number of bytes (KB = 1000 bytes, KiB = 1024)."""
    if isinstance(text, bool):
        raise ValueError(f"not a size: {text!r}")
    if isinstance(text, int):
        size = text
    else:
        match = _SIZE.match(text)
        if not match:
            raise ValueError(f"not a size: {text!r} (use e.g. 512KB, 2MiB or a number of bytes)")
        size = int(match.group(1)) * _SIZE_UNITS[(match.group(2) or "b").lower()]
    if size <= 0:
        raise ValueError(f"a size must be positive, got {text!r}")
    if size > MAX_SIZE:
        raise ValueError(f"must be at most 1TiB, got {text!r}")
    return size


def normalise_base_url(url: str) -> str:
    """The public URL of the output folder, checked, ending with "/" (see `web_url`);
    ValueError when it is not one."""
    url = web_url(url, query=False)
    return url if url.endswith("/") else url + "/"


def web_url(url: str, *, query: bool = True) -> str:
    """An absolute http(s) URL given in the config or on the command line, checked and
    written as a valid URI; ValueError naming what is wrong.

    The host must be a valid host name, an IPv4 address or a bracketed IPv6 address;
    a non-ASCII host name is written in IDNA form and other non-ASCII characters are
    percent-encoded. No space or control character, no user name or password, a port
    from 1 to 65535, and with `query=False` no query or fragment.
    """
    if any(c.isspace() or unicodedata.category(c) in ("Cc", "Cs") for c in url):
        raise ValueError(f"must not hold spaces or control characters, got {url!r}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"not a valid URL ({exc}): {url!r}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError(f"must be an absolute http(s) URL, got {url!r}")
    if "@" in parts.netloc:
        raise ValueError(f"must not hold a user name or password, got {url!r}")
    if port == 0 or (port is None and parts.netloc.endswith(":")):
        raise ValueError(f"the port must be from 1 to 65535, got {url!r}")
    if not query and ("?" in url or "#" in url):
        raise ValueError(f"must not have a query or fragment, got {url!r}")
    host_text = parts.netloc.rpartition(":")[0] if port is not None else parts.netloc
    try:
        host = check_host(host_text)
    except ValueError as exc:
        raise ValueError(f"{exc} in {url!r}") from None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return urlunsplit(
        (
            parts.scheme.lower(),
            netloc,
            _uri_part(parts.path),
            _uri_part(parts.query),
            _uri_part(parts.fragment),
        )
    )


#: characters a URI path, query or fragment holds as they are; others are escaped
_URI_SAFE = "/:@!$&'()*+,;=?%~-._"
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _uri_part(text: str) -> str:
    return quote(_STRAY_PERCENT.sub("%25", text), safe=_URI_SAFE)


_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def check_host(text: str) -> str:
    """A host as a URL or `--serve` gives it: a host name (returned lower-case, a
    non-ASCII one in IDNA form: `idna_host`), an IPv4 address, or an IPv6 address
    (bracketed or not; returned without brackets). ValueError when it is none of
    these."""
    if "%" in text:  # an IPv6 zone (fe80::1%eth0) means nothing beyond this machine
        raise ValueError(f"not a host: {text!r}")
    if text.startswith("[") or text.endswith("]"):
        if not (text.startswith("[") and text.endswith("]")):
            raise ValueError(f"not a host: {text!r}")
        try:
            return str(ipaddress.IPv6Address(text[1:-1]))
        except ValueError:
            raise ValueError(f"not an IPv6 address: {text!r}") from None
    if ":" in text:
        try:
            return str(ipaddress.IPv6Address(text))
        except ValueError:
            raise ValueError(f"not a host: {text!r}") from None
    try:
        name = text.lower() if text.isascii() else idna_host(text)
    except UnicodeError:
        raise ValueError(f"not a valid host name: {text!r}") from None
    labels = name[:-1].split(".") if name.endswith(".") else name.split(".")
    if labels[-1].isdigit():  # no top-level domain is all digits: an IPv4 address
        try:
            return str(ipaddress.IPv4Address(name))
        except ValueError:
            raise ValueError(f"not a valid IPv4 address: {text!r}") from None
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"not a valid host name: {text!r}")
    return name


@dataclass(frozen=True, slots=True)
class ConfigFile:
    """A config file as read: its settings, and where each one was set, for messages."""

    #: the settings (the defaults for what the file does not set)
    config: Config
    #: the file read; None when there was none (`./aggregator.yaml` absent)
    path: Path | None = None
    #: each key the file sets -> where, as messages name it: `aggregator.yaml:3: output`
    where: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


def load_config(path: str | os.PathLike[str] | None = None, /, **overrides: Any) -> Config:
    """Read a config file; None gives `./aggregator.yaml` when present, else the
    defaults. `overrides` go on top, as the command line's options do (see
    `with_overrides`)."""
    config = read_config(None if path is None else Path(path)).config
    return with_overrides(config, overrides) if overrides else config


def read_config(path: Path | None) -> ConfigFile:
    """`load_config`, with the file read and where each of its keys is."""
    if path is None:
        default = Path(DEFAULT_CONFIG_NAME)
        if not default.is_file():
            return ConfigFile(Config())
        path = default
    try:
        with path.open("rb") as file:
            data = file.read(MAX_CONFIG_SIZE + 1)
        if len(data) > MAX_CONFIG_SIZE:
            raise ConfigError(
                f"{path}: cannot read config: over the limit of {MAX_CONFIG_SIZE // 1024**2} MiB "
                "(is it the config file?)"
            )
        text = data.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read config: {_os_reason(exc)}") from exc
    twice: list[yamlload.Twice] = []
    try:
        data = yamlload.load(text, twice)  # the safe loader; an impossible date is text
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        if isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow
            line = text.count("\n", 0, exc.position) + 1
        raise ConfigError(f"{path}:{line}: invalid YAML: {yamlload.syntax_problem(exc)}") from exc
    except yamlload.VALUE_ERRORS as exc:
        # A typed scalar no Python object holds: `!!bool maybe`, `!!int` with no digit.
        raise ConfigError(f"{path}:1: invalid YAML value: {yamlload.value_problem(exc)}") from exc
    except RecursionError as exc:  # a document nested past the parser's stack
        raise ConfigError(f"{path}:1: invalid YAML: nested too deeply") from exc
    if twice:  # a setting given twice: which one was meant is not ours to guess
        lines = lines_at({twice[0].first, twice[0].last}, text)
        first, line = lines[twice[0].first], lines[twice[0].last]
        raise ConfigError(
            f"{path}:{line}: {_shown(twice[0].key)}: written twice (also line {first}): "
            "keep the one you mean"
        )
    if data is None:
        return ConfigFile(Config(), path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: config must be a mapping of keys, got {kind(data)}")
    config = config_from_mapping(data, base=path.parent, origin=str(path), text=text)
    marks = Marks(text)
    where = {str(k): f"{path}:{marks.key(str(k))}: {k}" for k in data}
    return ConfigFile(config, path, MappingProxyType(where))


def config_from_mapping(
    data: Mapping[str, Any], *, base: Path, origin: str, text: str = ""
) -> Config:
    """Validate a parsed config mapping; `base` anchors relative paths."""

    marks = Marks(text)

    def fail(key: object, reason: str) -> ConfigError:
        if isinstance(key, str):  # (the fast search finds it)
            return ConfigError(f"{origin}:{marks.key(key)}: {_shown(key)}: {reason}")
        line, (written,) = marks.written((key,))  # as written: `on` for true
        return ConfigError(f"{origin}:{line}: {_shown(written)}: {reason}")

    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in _KEYS:
            known = ", ".join(sorted(_KEYS))
            raise fail(key, f"unknown key (known keys: {known})")
        try:
            if key == "topics":
                values["topics"], values["aliases"] = _topics(value)
            elif key in _LOCATIONS:
                values.update(_LOCATIONS[key](value, base))
            else:
                values[_FIELDS.get(key, key)] = _KEYS[key](value, base)
        except _NestedError as exc:
            line, path = marks.written((key, *exc.path))
            named = ": ".join(_shown(k) for k in path)
            raise ConfigError(f"{origin}:{line}: {named}: {exc.reason}") from None
        except (TypeError, ValueError) as exc:
            raise fail(key, str(exc)) from None
    return Config(**values)


def with_overrides(
    config: Config, overrides: Mapping[str, Any], *, origin: str = "override"
) -> Config:
    """`config` with `overrides` on top, as the command line puts its options on a
    config file's settings. Each override is a config file key taking what the file
    takes (`output="public"`, `interval="15m"`, `link_check={"workers": 4}`) or the
    Python value itself (a `Path`, a list of them, a `timedelta`, a `LinkCheckSettings`),
    checked as the file's values are; a bad one is a ConfigError naming it
    (`override: limit: must be ...`). An override replaces the whole key (a section
    too); `interval` drops a `cron` the file set, as `--interval` does."""
    values: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in _KEYS:
            known = ", ".join(sorted(_KEYS))
            raise ConfigError(f"{origin}: {_shown(key)}: unknown key (known keys: {known})")
        try:
            record = _RECORDS.get(key)
            if record is not None and isinstance(value, record):
                values[key] = _checked_record(key, value)
            elif key == "topics":
                values["topics"], values["aliases"] = _topics(value)
            elif key in _LOCATIONS:
                values.update(_LOCATIONS[key](_as_read(value), Path()))
            else:
                values[_FIELDS.get(key, key)] = _KEYS[key](_as_read(value), Path())
        except _NestedError as exc:
            named = ": ".join(_shown(key_text(k)) for k in (key, *exc.path))
            raise ConfigError(f"{origin}: {named}: {exc.reason}") from None
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{origin}: {key}: {exc}") from None
    if "interval" in overrides and "cron" not in overrides:
        values["cron"] = None
    return replace(config, **values)


def _checked_record(key: str, record: Any) -> Any:
    """A section given as its record (`LinkCheckSettings(workers=4)`), checked as the
    file's section is: the record's fields as the file's keys, read by the section's
    own reader (a record is made without any check: `workers=0` would start no thread,
    and every link check would wait for one forever)."""
    values = {f.name: getattr(record, f.name) for f in fields(record)}
    if isinstance(record, LinkCheckSettings):
        freshness = values.pop("freshness")
        if not isinstance(freshness, Freshness):
            raise TypeError(f"freshness must be a Freshness, got {freshness!r}")
        values["ports"] = list(record.ports) if isinstance(record.ports, Set) else record.ports
        for name in ("ok", "broken", "blocked", "transient", "transient_max"):
            values[f"ttl_{name}"] = getattr(freshness, name)
        jitter = freshness.jitter
        if isinstance(jitter, bool) or not isinstance(jitter, int | float) or not 0 <= jitter < 1:
            raise ValueError(
                f"freshness: jitter must be a fraction from 0 to below 1, got {jitter!r}"
            )
        checked = _link_check(values, Path())
        return replace(checked, freshness=replace(checked.freshness, jitter=float(jitter)))
    return _KEYS[key](values, Path())


def _as_read(value: Any) -> Any:
    """A Python value as a config file gives it: paths as text, tuples as lists."""
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, tuple | list):
        return [_as_read(item) for item in value]
    return value


def _shown(key: str) -> str:
    """A key as a one-line message names it: quoted when it holds a line break or
    another character that does not print."""
    return key if key.isprintable() else repr(key)


class _NestedError(ValueError):
    """A problem with a key inside a section, named by its path below the section."""

    def __init__(self, path: tuple[object, ...], reason: str) -> None:
        super().__init__(f"{': '.join(key_text(k) for k in path)}: {reason}")
        #: the keys as YAML read them (a string, or a boolean, null, number or date)
        self.path = path
        self.reason = reason


def _paths(value: Any, base: Path) -> tuple[Path, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise TypeError("must be a folder or a non-empty list of folders")
    return tuple(base / _path_text(i) for i in items)


def _sources(value: Any, base: Path) -> dict[str, Any]:
    """`sources:`: folders, and object-store URLs (read through local mirrors)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise TypeError("must be a folder or a non-empty list of folders")
    return {
        "sources": tuple(base / _path_text(i) for i in items if not is_url(i)),
        "remote_sources": tuple(dict.fromkeys(store_url(i) for i in items if is_url(i))),
    }


def _output(value: Any, base: Path) -> dict[str, Any]:
    """`output:`: a folder, or an object-store URL built through a local staging folder
    (`.aggregator/<name of the URL>` below `base`)."""
    if isinstance(value, str) and is_url(value):
        url = store_url(value)
        return {"output": base / STAGING_FOLDER / folder_name(url), "remote_output": url}
    return {"output": _path(value, base), "remote_output": None}


def _storage_options(value: Any, _base: Path) -> Mapping[str, Mapping[str, Any]]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, dict) and all(isinstance(o, str) for o in v)
        for k, v in value.items()
    ):
        raise TypeError("must map a protocol (s3, gs, ...) to its options, such as endpoint_url")
    return MappingProxyType({k.lower(): MappingProxyType(dict(v)) for k, v in value.items()})


def _cache_control(value: Any, _base: Path) -> str:
    if not isinstance(value, str) or not value.strip() or not value.isprintable():
        raise TypeError("must be a Cache-Control header value such as 'public, max-age=300'")
    return value.strip()


def _path(value: Any, base: Path) -> Path:
    if not isinstance(value, str) or not value:
        raise TypeError("must be a folder path")
    return base / _path_text(value)


def state_location(text: str, base: Path | None = None) -> Path | str:
    """Where `--state` or `state:` puts the state: a PostgreSQL URL, kept as text, or a
    file path (relative to `base`, the config's folder, when given). ValueError for
    another URL (shown without its password)."""
    if is_database_url(text):
        return text
    if looks_like_url(text):
        raise ValueError(f"must be a file path or a postgresql:// URL, got {shown(text)!r}")
    path = Path(_path_text(text))
    return base / path if base is not None else path


def _state(value: Any, base: Path) -> Path | str:
    if not isinstance(value, str) or not value:
        raise TypeError("must be a file path or a postgresql:// URL")
    return state_location(value, base)


def _path_text(value: str) -> str:
    if not value or "\x00" in value:  # no system call takes a NUL in a path
        raise ValueError(f"must be a path, got {value!r}")
    return value


def _patterns(value: Any, _base: Path) -> tuple[str, ...]:
    items = value.split() if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise TypeError("must be a list of file name patterns such as '*.md'")
    return tuple(items)


def _text(value: Any, _base: Path) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TypeError("must be a non-empty string")
    return _plain(value.strip())


def _plain(text: str) -> str:
    """`text` unless it holds a character feeds cannot carry: XML 1.0 has no control
    characters but tab and newlines, and HTML takes no noncharacter (`_noncharacter`)."""
    for char in text:
        if char in "\t\n\r":
            continue
        if unicodedata.category(char) in ("Cc", "Cs"):
            raise ValueError(f"must not hold control characters ({char!r}), got {text!r}")
        if _noncharacter(char):
            raise ValueError(f"must not hold noncharacters ({char!r}), got {text!r}")
    return text


def _noncharacter(char: str) -> bool:
    """True for a Unicode noncharacter: U+FDD0 to U+FDEF, and the last two code points
    of every plane (U+FFFE, U+FFFF, U+1FFFE, ..., U+10FFFF); as `sources.text` removes
    them from the text of article files."""
    code = ord(char)
    return 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE


def _count(value: Any, _base: Path, most: int = MAX_COUNT) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TypeError("must be a whole number of 1 or more")
    if value > most:
        raise ValueError(f"must be at most {most:,}, got {value:,}")
    return value


def _quality(value: Any, _base: Path) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("must be a whole number")
    if abs(value) > MAX_COUNT:
        raise ValueError(f"must be from {-MAX_COUNT:,} to {MAX_COUNT:,}, got {value:,}")
    return value


def _flag(value: Any, _base: Path) -> bool:
    if not isinstance(value, bool):
        raise TypeError("must be true or false")
    return value


def _max_age(value: Any, _base: Path) -> timedelta | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        return _within(value, LONGEST)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError("must be a duration such as 30d")
    return parse_duration(value, LONGEST)


def _within(duration: timedelta, longest: timedelta) -> timedelta:
    """A duration given as a `timedelta` (an override), held to the range of text ones."""
    if duration <= timedelta(0):
        raise ValueError(f"a duration must be positive, got {format_duration(duration)}")
    if duration > longest:
        raise ValueError(f"must be at most {format_duration(longest)}")
    return duration


def _base_url(value: Any, _base: Path) -> str:
    if not isinstance(value, str):
        raise TypeError("must be a URL")
    return normalise_base_url(value)


#: settings of a topic that shape its feed, which a skipped topic does not have
_FEED_SETTINGS = ("title", "description", "language", "icon", "logo", "limit", "content")
_TOPIC_SETTINGS = ("min_quality", *_FEED_SETTINGS, "aliases", "skip")
_LANGUAGE = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*")


def _topics(value: Any) -> tuple[Mapping[str, TopicSettings], Mapping[str, str]]:
    """The `topics:` section: settings by topic key, and alias key -> target name."""
    if value is None:
        return MappingProxyType({}), MappingProxyType({})
    if not isinstance(value, dict):
        raise TypeError("must map topic names to settings, such as  AI: {min_quality: 70}")
    topics: dict[str, TopicSettings] = {}
    names: dict[str, str] = {}
    aliases: dict[str, str] = {}
    for name, settings in value.items():
        if not isinstance(name, str):
            reason = f"YAML reads this topic name as {kind(name)}: quote it to mean the text"
            raise _NestedError((name,), reason)
        if not name.strip():
            raise _NestedError((name,), "a topic name must be a non-empty string")
        try:
            _plain(name)
        except ValueError as exc:
            raise _NestedError((name,), f"a topic name {exc}") from None
        if settings is None:
            settings = {}
        if not isinstance(settings, dict):
            raise _NestedError(
                (name,), f"must map to settings such as min_quality: 70, got {kind(settings)}"
            )
        key = topic_key(name)
        if key in names:
            raise _NestedError((name,), f"the same topic as {names[key]!r}")
        names[key] = name
        topics[key], own_aliases = _topic(name, settings)
        for alias in own_aliases:
            alias_key = topic_key(alias)
            if alias_key == key:
                raise _NestedError((name, "aliases"), f"{alias!r} is the topic itself")
            if alias_key in aliases:
                raise _NestedError(
                    (name, "aliases"), f"{alias!r} is already an alias of {aliases[alias_key]!r}"
                )
            aliases[alias_key] = name.strip()
    for alias_key, target in aliases.items():
        if alias_key in names:
            # Its articles go to the target's feed, so its own settings would never apply.
            raise _NestedError(
                (names[alias_key],),
                f"is an alias of {target!r}, so it has no feed and no settings of its own",
            )
    return MappingProxyType(topics), MappingProxyType(aliases)


def _topic(name: str, settings: dict[Any, Any]) -> tuple[TopicSettings, tuple[str, ...]]:
    unknown = sorted((k for k in settings if k not in _TOPIC_SETTINGS), key=key_text)
    if unknown:
        known = ", ".join(_TOPIC_SETTINGS)
        raise _NestedError((name, unknown[0]), f"unknown setting (known: {known})")
    values: dict[str, Any] = {}
    aliases: tuple[str, ...] = ()
    for key, item in settings.items():
        try:
            if key == "aliases":
                aliases = _alias_names(item)
            else:
                values[key] = _TOPIC_PARSERS[key](item)
        except (TypeError, ValueError) as exc:
            raise _NestedError((name, key), str(exc)) from None
    if values.get("skip"):
        shaped = [k for k in _FEED_SETTINGS if k in values]
        if shaped:
            raise _NestedError(
                (name, shaped[0]), "a topic with skip: true has no feed for this to shape"
            )
    return TopicSettings(**values), aliases


def _alias_names(value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) and i.strip() for i in items):
        raise TypeError("must be a topic name or a list of topic names")
    return tuple(_plain(i) for i in items)


def _language(value: Any) -> str:
    """An RFC 5646-style tag: a language of 2 to 8 letters, then subtags (script,
    region, variants) of 1 to 8 letters or digits, at most 35 characters in all."""
    if (
        not isinstance(value, str)
        or len(value.strip()) > 35
        or not _LANGUAGE.fullmatch(value.strip())
    ):
        raise ValueError(f"must be a language tag such as en or pt-BR, got {value!r}")
    return value.strip()


def _image_url(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("must be an absolute http(s) URL of an image")
    try:
        return web_url(value.strip())
    except ValueError as exc:
        raise ValueError(f"must be an absolute http(s) URL of an image: {exc}") from None


def _content(value: Any) -> ContentMode:
    if value == "full":
        return "full"
    if value == "excerpt":
        return "excerpt"
    raise ValueError(f"must be full or excerpt, got {value!r}")


_TOPIC_PARSERS: dict[str, Any] = {
    "min_quality": lambda v: _quality(v, Path()),
    "title": lambda v: _text(v, Path()),
    "description": lambda v: _text(v, Path()),
    "language": _language,
    "icon": _image_url,
    "logo": _image_url,
    "limit": lambda v: _count(v, Path()),
    "content": _content,
    "skip": lambda v: _flag(v, Path()),
}


def _dedupe(value: Any, _base: Path) -> DedupeSettings:
    if value is None:
        return DedupeSettings()
    if not isinstance(value, dict):
        raise TypeError("must map settings such as threshold: 0.7")
    known = {"same_url", "similar_title", "threshold", "window"}
    unknown = sorted(key_text(k) for k in value if k not in known)
    if unknown:
        raise ValueError(f"unknown setting {unknown[0]!r} (known: {', '.join(sorted(known))})")
    settings = DedupeSettings()
    if "same_url" in value:
        settings = replace(settings, same_url=_flag(value["same_url"], _base))
    if "similar_title" in value:
        settings = replace(settings, similar_title=_flag(value["similar_title"], _base))
    if "threshold" in value:
        threshold = value["threshold"]
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise TypeError("threshold must be a number between 0 and 1")
        if not 0 < threshold <= 1:
            raise ValueError(f"threshold must be above 0 and at most 1, got {threshold}")
        settings = replace(settings, threshold=float(threshold))
    if "window" in value:
        window = value["window"]
        if isinstance(window, bool) or not isinstance(window, (str, int, timedelta)):
            raise TypeError("window must be a duration such as 3d")
        try:
            settings = replace(settings, window=_duration(window, LONGEST_WINDOW))
        except ValueError as exc:
            raise ValueError(f"window {exc}") from None
    return settings


def _link_check(value: Any, base: Path) -> LinkCheckSettings:
    if value is None:
        return LinkCheckSettings()
    if not isinstance(value, dict):
        raise TypeError("must map settings such as workers: 128")
    # durations -> the longest each may be
    waits = ("min_interval", "timeout", "deadline", "retry_after_max")
    durations = {key: LONGEST_WAIT for key in waits} | {"confirm_after": LONGEST}
    ttls = {"ttl_ok": "ok", "ttl_broken": "broken", "ttl_blocked": "blocked"}
    ttls |= {"ttl_transient": "transient", "ttl_transient_max": "transient_max"}
    counts = {"workers", "per_host"}
    flags = {"enabled", "allow_private", "check_images"}
    known = set(durations) | set(ttls) | counts | flags | {"retries", "user_agent", "ports"}
    unknown = sorted(key_text(k) for k in value if k not in known)
    if unknown:
        raise ValueError(f"unknown setting {unknown[0]!r} (known: {', '.join(sorted(known))})")
    changes: dict[str, Any] = {}
    freshness: dict[str, Any] = {}
    for key, item in value.items():
        try:
            if key in durations:
                changes[key] = _duration(item, durations[key])
            elif key in ttls:
                freshness[ttls[key]] = _duration(item, LONGEST)
            elif key in counts:
                changes[key] = _count(item, base, MAX_WORKERS)
            elif key in flags:
                changes[key] = _flag(item, base)
            elif key == "retries":
                if isinstance(item, bool) or not isinstance(item, int) or not 0 <= item <= 10:
                    raise TypeError("must be a whole number from 0 to 10")
                changes[key] = item
            elif key == "user_agent":
                agent = _text(item, base)
                if not all(" " <= c <= "~" for c in agent):  # an HTTP header's value
                    raise ValueError(f"must be printable ASCII, got {agent!r}")
                changes[key] = agent
            elif key == "ports":
                if not isinstance(item, list) or not all(
                    isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536 for p in item
                ):
                    raise TypeError("must be a list of port numbers")
                changes[key] = frozenset(item)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{key} {exc}") from None
    if freshness:
        changes["freshness"] = replace(Freshness(), **freshness)
    return replace(LinkCheckSettings(), **changes)


def _duration(value: Any, longest: timedelta) -> timedelta:
    if isinstance(value, timedelta):
        return _within(value, longest)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError("must be a duration such as 500ms, 2s, 15m or 24h")
    return parse_duration(value, longest)


def _limits(value: Any, _base: Path) -> Limits:
    if value is None:
        return Limits()
    if not isinstance(value, dict):
        raise TypeError("must map caps such as file_size: 2MiB")
    sizes = {"file_size", "feed_size", "yaml_size", "source_feed_size"}
    counts = {"yaml_depth", "yaml_nodes", "title_length", "excerpt_length", "topics"}
    counts |= {"url_length", "feed_entries", "images", "related"}
    known = sizes | counts
    unknown = sorted(key_text(k) for k in value if k not in known)
    if unknown:
        raise ValueError(f"unknown setting {unknown[0]!r} (known: {', '.join(sorted(known))})")
    changes: dict[str, int] = {}
    for key, item in value.items():
        try:
            if key in sizes:
                if not isinstance(item, (str, int)):
                    raise TypeError("must be a size such as 2MiB or 512KB")
                changes[key] = parse_size(item)
            else:
                changes[key] = _count(item, _base)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{key} {exc}") from None
    if changes.get("yaml_depth", 0) > MAX_YAML_DEPTH:
        raise ValueError(f"yaml_depth must be at most {MAX_YAML_DEPTH}")
    if changes.get("title_length", 2) < 2 or changes.get("excerpt_length", 2) < 2:
        raise ValueError("title_length and excerpt_length must be 2 or more (text and '…')")
    return replace(Limits(), **changes)


_FEED_KEYS = ("url", "topics", "quality", "published", "title_filter")


def _feeds(value: Any) -> tuple[FeedSource, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise TypeError("must be a list of feeds, each a URL or such as  - url: https://...")
    feeds: list[FeedSource] = []
    seen: set[str] = set()
    for number, item in enumerate(value, 1):
        where = (f"item {number}",)
        if isinstance(item, FeedSource):  # checked as the file's mapping is
            topics = list(item.topics) if isinstance(item.topics, tuple) else item.topics
            item = {f.name: getattr(item, f.name) for f in fields(item)} | {"topics": topics}
        try:
            feed = feed_source(item)
        except _NestedError as exc:  # a setting of the feed, named
            raise _NestedError(where + exc.path, exc.reason) from None
        except (TypeError, ValueError) as exc:
            raise _NestedError(where, str(exc)) from None
        if feed.url in seen:
            raise _NestedError(where, f"{feed.url} is listed twice")
        seen.add(feed.url)
        feeds.append(feed)
    return tuple(feeds)


def feed_source(item: Any) -> FeedSource:
    """One item of the `feeds:` section: a URL, or a mapping with `url` and the feed's
    settings (`--feed URL` gives the URL alone). A bad setting is a ValueError or
    TypeError whose message starts with its key (`quality: must be a whole number`)."""
    if isinstance(item, str):  # a bad URL, not a setting: its problem alone
        return FeedSource(web_url(item))
    if not isinstance(item, dict):
        raise TypeError("must be a URL or a mapping such as  url: https://...")
    unknown = sorted(key_text(k) for k in item if k not in _FEED_KEYS)
    if unknown:
        raise ValueError(f"unknown setting {unknown[0]!r} (known: {', '.join(_FEED_KEYS)})")
    url = item.get("url")
    if not isinstance(url, str):
        raise _NestedError(("url",), "must be the feed's URL")
    try:
        feed = FeedSource(web_url(url))
    except ValueError as exc:
        raise _NestedError(("url",), str(exc)) from None
    topics = item.get("topics")
    if topics is not None:
        names = [topics] if isinstance(topics, str) else topics
        if not isinstance(names, list) or not all(isinstance(t, str) and t.strip() for t in names):
            raise _NestedError(("topics",), "must be a topic name or a list of them")
        feed = replace(feed, topics=tuple(dict.fromkeys(" ".join(t.split()) for t in names)))
    if "quality" in item:
        feed = replace(feed, quality=_feed_setting(item, "quality", _quality))
    if "published" in item:
        feed = replace(feed, published=_feed_setting(item, "published", _flag))
    pattern = item.get("title_filter")
    if pattern is not None:
        if not isinstance(pattern, str) or not pattern:
            raise _NestedError(("title_filter",), "must be a regular expression")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise _NestedError(("title_filter",), f"not a regular expression: {exc}") from None
        feed = replace(feed, title_filter=pattern)
    return feed


_T = TypeVar("_T")


def _feed_setting(item: dict[Any, Any], key: str, read: Callable[[Any, Path], _T]) -> _T:
    """A feed's setting `key`, read as the top-level one is; a problem names the key."""
    try:
        return read(item[key], Path())
    except (TypeError, ValueError) as exc:
        raise _NestedError((key,), str(exc)) from None


def _websub(value: Any, _base: Path) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) - {"hub"}:
        raise TypeError("must be a mapping with a hub URL: {hub: https://hub.example/}")
    hub = value.get("hub")
    if hub is None:
        return None
    if not isinstance(hub, str):
        raise ValueError(f"hub must be an http(s) URL, got {hub!r}")
    try:
        return web_url(hub)
    except ValueError as exc:
        raise ValueError(f"hub {exc}") from None


def _interval(value: Any, _base: Path) -> timedelta:
    return _duration(value, LONGEST)


def _cron(value: Any, _base: Path) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("must be a cron expression of five fields, e.g. '*/15 * * * *'")
    return check_cron(value)


#: where `check_cron` looks for a cron expression's first fire time (no cron field
#: names a year, so an expression fires after any date or never)
_CRON_FROM = datetime(2001, 1, 1, tzinfo=UTC)


def check_cron(expression: str) -> str:
    """`expression` if APScheduler reads it as a five-field cron (in UTC) that fires;
    else ValueError. `aggregator run` reads it alike, so `build` and `run` agree."""
    if len(expression.split()) != 5:
        raise ValueError(
            f"must be a cron expression of five fields, e.g. '*/15 * * * *', got {expression!r}"
        )
    # Imported only when a cron is set: `build` starts faster without APScheduler.
    from apscheduler.triggers.cron import CronTrigger

    try:
        trigger = CronTrigger.from_crontab(expression, timezone=UTC)
        first = trigger.get_next_fire_time(None, _CRON_FROM)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise ValueError(f"not a valid cron expression: {expression!r} ({exc})") from None
    if first is None:
        raise ValueError(f"{expression!r} never fires (no such date)")
    return expression


def _links_mode(value: Any, _base: Path) -> str:
    if isinstance(value, bool):  # YAML 1.1 reads a bare on/off as true/false
        return "on" if value else "off"
    if value not in LINK_MODES:
        raise ValueError(f"must be one of {', '.join(LINK_MODES)}")
    return str(value)


_KEYS: dict[str, Callable[[Any, Path], Any]] = {
    "sources": _paths,
    "patterns": _patterns,
    "output": _path,
    "base_url": _base_url,
    "title": _text,
    "description": _text,
    "language": lambda value, _base: _language(value),
    "limit": _count,
    "min_quality": _quality,
    "include_unpublished": _flag,
    "max_age": _max_age,
    "topics": lambda value, _base: _topics(value),
    "content": lambda value, _base: _content(value),
    "icon": lambda value, _base: None if value is None else _image_url(value),
    "logo": lambda value, _base: None if value is None else _image_url(value),
    "dedupe": _dedupe,
    "link_check": _link_check,
    "links": _links_mode,
    "state": lambda value, base: None if value is None else _state(value, base),
    "websub": _websub,
    "interval": _interval,
    "cron": _cron,
    "watch": _flag,
    "serve_report": _flag,
    "limits": _limits,
    "feeds": lambda value, _base: _feeds(value),
    "storage_options": _storage_options,
    "output_cache_control": _cache_control,
    "storage_timeout": lambda value, _base: _duration(value, LONGEST_WAIT),
}
#: keys that set more than one field: a folder, or an object-store URL
_LOCATIONS: dict[str, Callable[[Any, Path], dict[str, Any]]] = {
    "sources": _sources,
    "output": _output,
}
LINK_MODES = ("on", "off", "cached")
#: sections an override may give as their record, ready made
_RECORDS: dict[str, type] = {
    "link_check": LinkCheckSettings,
    "dedupe": DedupeSettings,
    "limits": Limits,
}
#: config keys whose Config field has another name
_FIELDS = {"websub": "websub_hub"}


def _os_reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)
