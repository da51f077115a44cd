"""The `Config` record, its defaults, loading `aggregator.yaml`, and validation.

Relative paths in a config file are relative to the folder of that file; relative
paths given on the command line are relative to the working directory. The CLI
applies its options on top of the file with `dataclasses.replace`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import yaml

from aggregator.dedupe import DedupeSettings
from aggregator.errors import ConfigError
from aggregator.yamltext import kind
from aggregator.yamltext import line_of_key

DEFAULT_CONFIG_NAME = "aggregator.yaml"
DEFAULT_PATTERNS = ("*.md", "*.txt", "*.yaml", "*.yml")
DEFAULT_BASE_URL = "http://localhost:8080/"
DEFAULT_LIMIT = 50
DEFAULT_MIN_QUALITY = 50


@dataclass(frozen=True, slots=True)
class TopicSettings:
    """Per-topic overrides from the `topics:` section of the config file."""

    #: inclusive quality threshold for this topic's feed; None means the global one
    min_quality: int | None = None


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
    topics: Mapping[str, TopicSettings] = field(default_factory=lambda: MappingProxyType({}))
    dedupe: DedupeSettings = field(default_factory=DedupeSettings)

    def topic_min_quality(self, topic: str) -> int:
        """The quality threshold of one topic's feed (topic names match case-insensitively)."""
        settings = self.topics.get(topic.casefold())
        if settings is not None and settings.min_quality is not None:
            return settings.min_quality
        return self.min_quality


_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str | int) -> timedelta:
    """`90s`, `15m`, `1h`, `7d`, `2w`, or a number of seconds."""
    if isinstance(text, bool):
        raise ValueError(f"not a duration: {text!r}")
    if isinstance(text, int):
        seconds = text
    else:
        match = _DURATION.match(text)
        if not match:
            raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 15m, 1h, 7d, 2w)")
        seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"a duration must be positive, got {text!r}")
    return timedelta(seconds=seconds)


def normalise_base_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"base_url must be an absolute http(s) URL, got {url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"base_url must not have a query or fragment, got {url!r}")
    return url if url.endswith("/") else url + "/"


def load_config(path: Path | None) -> Config:
    """Read a config file; None gives `./aggregator.yaml` when present, else the defaults."""
    if path is None:
        default = Path(DEFAULT_CONFIG_NAME)
        if not default.is_file():
            return Config()
        path = default
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config: {_os_reason(exc)}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}:{line}: invalid YAML: {problem}") from exc
    if data is None:
        return Config()
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: config must be a mapping of keys, got {kind(data)}")
    return config_from_mapping(data, base=path.parent, origin=str(path), text=text)


def config_from_mapping(
    data: Mapping[str, Any], *, base: Path, origin: str, text: str = ""
) -> Config:
    """Validate a parsed config mapping; `base` anchors relative paths."""

    def fail(key: str, reason: str) -> ConfigError:
        return ConfigError(f"{origin}:{line_of_key(text, key)}: {key}: {reason}")

    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in _KEYS:
            known = ", ".join(sorted(_KEYS))
            raise fail(str(key), f"unknown key (known keys: {known})")
        try:
            values[key] = _KEYS[key](value, base)
        except (TypeError, ValueError) as exc:
            raise fail(key, str(exc)) from None
    return Config(**values)


def _paths(value: Any, base: Path) -> tuple[Path, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise TypeError("must be a folder or a non-empty list of folders")
    return tuple(base / i for i in items)


def _path(value: Any, base: Path) -> Path:
    if not isinstance(value, str) or not value:
        raise TypeError("must be a folder path")
    return base / value


def _patterns(value: Any, _base: Path) -> tuple[str, ...]:
    items = value.split() if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise TypeError("must be a list of file name patterns such as '*.md'")
    return tuple(items)


def _text(value: Any, _base: Path) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TypeError("must be a non-empty string")
    return value.strip()


def _count(value: Any, _base: Path) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TypeError("must be a whole number of 1 or more")
    return value


def _quality(value: Any, _base: Path) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("must be a whole number")
    return value


def _flag(value: Any, _base: Path) -> bool:
    if not isinstance(value, bool):
        raise TypeError("must be true or false")
    return value


def _max_age(value: Any, _base: Path) -> timedelta | None:
    if value is None:
        return None
    if not isinstance(value, (str, int)):
        raise TypeError("must be a duration such as 30d")
    return parse_duration(value)


def _base_url(value: Any, _base: Path) -> str:
    if not isinstance(value, str):
        raise TypeError("must be a URL")
    return normalise_base_url(value)


def _topics(value: Any, _base: Path) -> Mapping[str, TopicSettings]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, dict):
        raise TypeError("must map topic names to settings")
    topics: dict[str, TopicSettings] = {}
    for name, settings in value.items():
        if not isinstance(name, str) or not isinstance(settings, dict):
            raise TypeError(f"{name!r} must map to settings such as min_quality: 70")
        unknown = set(settings) - {"min_quality"}
        if unknown:
            raise ValueError(f"{name!r}: unknown setting {sorted(unknown)[0]!r}")
        min_quality = settings.get("min_quality")
        if min_quality is not None:
            min_quality = _quality(min_quality, _base)
        topics[" ".join(name.split()).casefold()] = TopicSettings(min_quality=min_quality)
    return MappingProxyType(topics)


def _dedupe(value: Any, _base: Path) -> DedupeSettings:
    if value is None:
        return DedupeSettings()
    if not isinstance(value, dict):
        raise TypeError("must map settings such as threshold: 0.7")
    known = {"same_url", "similar_title", "threshold", "window"}
    unknown = sorted(str(k) for k in value if k not in known)
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
        window = _max_age(value["window"], _base)
        if window is None:
            raise TypeError("window must be a duration such as 3d")
        settings = replace(settings, window=window)
    return settings


_KEYS = {
    "sources": _paths,
    "patterns": _patterns,
    "output": _path,
    "base_url": _base_url,
    "title": _text,
    "description": _text,
    "language": _text,
    "limit": _count,
    "min_quality": _quality,
    "include_unpublished": _flag,
    "max_age": _max_age,
    "topics": _topics,
    "dedupe": _dedupe,
}


def _os_reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)
