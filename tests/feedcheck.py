"""Checking a JSON Feed against JSON Feed 1.1: the JSON Schema in this folder, plus the
specification's rules that a schema cannot say. Shared by the JSON Feed and the reader
compatibility tests."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator

SCHEMA = Path(__file__).resolve().parent / "jsonfeed-1.1.schema.json"
# RFC 3339 section 5.6 date-time (Python's fromisoformat also takes forms RFC 3339 does not)
RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})",
)
# RFC 5646 language tag, in the shape the specification's examples take (en, en-US)
LANGUAGE = re.compile(r"[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*")
# anything that a reader could take for HTML markup in a plain text field
MARKUP = re.compile(r"<[A-Za-z/!?]|&[A-Za-z#][A-Za-z0-9]*;")
URL_FIELDS = ("home_page_url", "feed_url", "next_url", "icon", "favicon")
ITEM_URL_FIELDS = ("url", "external_url", "image", "banner_image")
PLAIN_FIELDS = ("title", "summary", "content_text")


@cache
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def json_feed_problems(data: bytes, feed_url: str | None = None) -> list[str]:
    """Every way `data` breaks JSON Feed 1.1; empty when it is a valid feed. With
    `feed_url`, the feed must also name that URL as its own."""
    try:
        text = data.decode("utf-8")  # the specification asks publishers for UTF-8
        feed = json.loads(text)
    except ValueError as exc:
        return [f"not UTF-8 JSON: {exc}"]
    problems = [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(top)'}: {error.message}"
        for error in validator().iter_errors(feed)
    ]
    if problems:
        return problems
    if not text.lstrip().startswith('{\n  "version"') and not text.startswith('{"version"'):
        problems.append("version is not at the very top")
    if feed_url is not None and feed.get("feed_url") != feed_url:
        problems.append(f"feed_url is {feed.get('feed_url')!r}, served at {feed_url!r}")
    if "next_url" in feed and feed["next_url"] == feed.get("feed_url"):
        problems.append("next_url is the feed_url")
    problems += _urls(feed, URL_FIELDS, "")
    problems += _language(feed, "")
    problems += _authors(feed, "")
    problems += [
        f"hubs/{n}/url: not an absolute URL"
        for n, hub in enumerate(feed.get("hubs", []))
        if not _absolute(hub["url"])
    ]
    ids: set[str] = set()
    for number, item in enumerate(feed["items"]):
        where = f"items/{number}/"
        if item["id"] in ids:
            problems.append(f"{where}id: {item['id']!r} is not unique in the feed")
        ids.add(item["id"])
        if not item["id"]:
            problems.append(f"{where}id: empty")
        problems += _urls(item, ITEM_URL_FIELDS, where)
        problems += _language(item, where)
        problems += _authors(item, where)
        for name in ("date_published", "date_modified"):
            if name in item and not RFC3339.fullmatch(item[name]):
                problems.append(f"{where}{name}: {item[name]!r} is not an RFC 3339 date-time")
        # "the only place HTML is allowed in this format is in content_html"
        for name in PLAIN_FIELDS:
            if name in item and MARKUP.search(item[name]):
                problems.append(f"{where}{name}: holds HTML: {item[name][:80]!r}")
        for tag in item.get("tags", []):
            if MARKUP.search(tag):
                problems.append(f"{where}tags: holds HTML: {tag!r}")
    for name in ("title", "description"):
        if name in feed and MARKUP.search(feed[name]):
            problems.append(f"{name}: holds HTML: {feed[name][:80]!r}")
    return problems


def _absolute(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _urls(thing: dict[str, Any], names: tuple[str, ...], where: str) -> list[str]:
    return [
        f"{where}{name}: {thing[name]!r} is not an absolute http(s) URL"
        for name in names
        if name in thing and not _absolute(thing[name])
    ]


def _language(thing: dict[str, Any], where: str) -> list[str]:
    if "language" in thing and not LANGUAGE.fullmatch(thing["language"]):
        return [f"{where}language: {thing['language']!r} is not an RFC 5646 tag"]
    return []


def _authors(thing: dict[str, Any], where: str) -> list[str]:
    problems = []
    for number, author in enumerate(thing.get("authors", [])):
        for name in ("url", "avatar"):
            if name in author and not _absolute(author[name]):
                problems.append(f"{where}authors/{number}/{name}: not an absolute URL")
    return problems
