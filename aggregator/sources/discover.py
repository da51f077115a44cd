"""`aggregator add-feed URL`: find the feed of a web page and add it to the config file.

A URL that is a feed is taken as it is; a web page names its feeds in
`<link rel="alternate" type="application/rss+xml" href="...">` (Atom and JSON Feed
alike), and the first of them that reads as a feed is taken. Every request goes
through the link checker (`LinkChecker.fetch`): the same address rules and limits
as a build's fetches. The config file gains one item in its `feeds:` list, its
text otherwise kept as it is (comments and order included).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from aggregator.config import Config
from aggregator.config import read_config
from aggregator.config import web_url
from aggregator.errors import AggregatorError
from aggregator.errors import ConfigError
from aggregator.errors import DiscoveryError
from aggregator.errors import FeedError
from aggregator.sources.entries import read_feed

if TYPE_CHECKING:
    import requests

    from aggregator.links.netguard import Resolver

#: the types of `<link rel="alternate">` that name a feed
FEED_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "application/json",
    "application/rdf+xml",
)
_FEEDS_KEY = re.compile(r"^feeds\s*:\s*(?P<rest>.*)$")
_ITEM = re.compile(r"^(?P<indent>[ \t]*)-")


@dataclass(frozen=True, slots=True)
class Discovered:
    url: str
    title: str
    #: False when the config file listed it already
    added: bool = True


class _Alternates(HTMLParser):
    """The feeds a page names in its `<link rel="alternate">` elements, in order."""

    def __init__(self, base: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base = base
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "base":
            href = dict(attrs).get("href")
            if href:
                self.base = urljoin(self.base, href)
        if tag != "link":
            return
        values = {name: (value or "") for name, value in attrs}
        rels = values.get("rel", "").lower().split()
        kind = values.get("type", "").split(";")[0].strip().lower()
        href = values.get("href", "").strip()
        if "alternate" in rels and kind in FEED_TYPES and href:
            self.found.append(urljoin(self.base, href))


def alternates(page: bytes, base: str) -> list[str]:
    """The feed URLs a web page names, resolved against `base`, without repeats."""
    parser = _Alternates(base)
    parser.feed(page.decode("utf-8", "replace"))
    parser.close()
    found: list[str] = []
    for url in parser.found:
        try:
            url = web_url(url)
        except ValueError:
            continue
        if url not in found:
            found.append(url)
    return found


def discover(
    url: str,
    config: Config,
    *,
    session: requests.Session | None = None,
    resolver: Resolver | None = None,
) -> Discovered:
    """The feed at `url`: the URL itself when it is a feed, else the first feed its
    page names that reads as one; raises DiscoveryError."""
    from aggregator.links.fetch import FetchRequest
    from aggregator.links.linkcheck import LinkChecker

    checker = LinkChecker(config.link_check, resolver=resolver, session=session)
    limit = config.limits.source_feed_size

    def get(where: str) -> tuple[bytes, str, str | None]:
        answer = checker.fetch([FetchRequest(where)], max_bytes=limit)[where]
        if answer.error is not None or answer.body is None:
            raise DiscoveryError(f"{where}: {answer.error or 'no document'}")
        return answer.body, answer.final_url, answer.content_type

    body, final, kind = get(url)
    try:
        return Discovered(url, read_feed(body, final, kind).title)
    except FeedError:
        pass
    named = alternates(body, final)
    if not named:
        raise DiscoveryError(
            f"{url}: not a feed, and the page names none "
            '(<link rel="alternate" type="application/rss+xml" href="...">)'
        )
    problems: list[str] = []
    for candidate in named:
        try:
            body, final, kind = get(candidate)
            return Discovered(candidate, read_feed(body, final, kind).title)
        except (DiscoveryError, FeedError) as exc:
            problems.append(f"{candidate}: {exc}")
    raise DiscoveryError(f"{url}: none of the feeds the page names reads: {'; '.join(problems)}")


def add_to_config(path: Path, url: str) -> bool:
    """Add `url` to the `feeds:` list of the config file at `path` (made when it does
    not exist); False when it is there already. Raises ConfigError when the file is
    not a config this can add to (the file is then left as it was)."""
    before = path.read_text(encoding="utf-8") if path.exists() else ""
    if before:
        known = read_config(path).config.feeds
        if any(feed.url == url for feed in known):
            return False
    after = _with_feed(before, url)
    path.write_text(after, encoding="utf-8")
    try:
        added = read_config(path).config.feeds
    except AggregatorError:
        path.write_text(before, encoding="utf-8")
        raise
    if not any(feed.url == url for feed in added):
        path.write_text(before, encoding="utf-8")
        raise ConfigError(f"{path}: could not add {url} to its feeds: list; add it by hand")
    return True


def _with_feed(text: str, url: str) -> str:
    item = f"- url: {json.dumps(url)}"
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if _FEEDS_KEY.match(line)), None)
    if start is None:
        head = text if not text or text.endswith("\n") else text + "\n"
        return f"{head}feeds:\n  {item}\n"
    match = _FEEDS_KEY.match(lines[start])
    assert match is not None
    rest = match.group("rest").split("#")[0].strip()
    if rest in ("[]", "~", "null"):
        lines[start] = "feeds:"
        lines.insert(start + 1, f"  {item}")
        return "\n".join(lines) + "\n"
    if rest:
        raise ConfigError("the feeds: list is written on one line: add the feed by hand")
    end = start
    indent: str | None = None  # as the list's first item has it
    for number in range(start + 1, len(lines)):
        line = lines[number]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace() and not line.startswith("-"):
            break  # the next top-level key
        end = number
        found = _ITEM.match(line)
        if found is not None and indent is None:
            indent = found.group("indent")
    lines.insert(end + 1, f"{indent if indent is not None else '  '}{item}")
    return "\n".join(lines) + "\n"
