"""Rendering a feed as JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/).

The same entries as the RSS and Atom feeds, from the same helpers in `feeds.py`:
an item's `id` is the Atom id / RSS guid, `date_published` and `date_modified` are
the Atom `published` and `updated` written the same way, `image` is the image of
`media:content` and the enclosure, `content_html` is the Atom content. Pure: the
objects are built in a fixed key order (the spec's, `version` first, which some
readers sniff for) and serialised as `json.dumps(indent=2)` writes them, so the same
input gives the same bytes, with orjson or without (`fastjson.indented`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from aggregator.fastjson import indented
from aggregator.model import Article
from aggregator.rendering.feeds import FeedSpec
from aggregator.rendering.feeds import Site
from aggregator.rendering.feeds import content_html
from aggregator.rendering.feeds import entry_id
from aggregator.rendering.feeds import entry_text
from aggregator.rendering.feeds import provider_url

VERSION = "https://jsonfeed.org/version/1.1"
_COMMENT = (
    "This is a JSON Feed (https://www.jsonfeed.org/). Paste its feed_url into a feed "
    "reader that reads JSON Feed to follow it."
)


def render(spec: FeedSpec, site: Site, entries: Mapping[datetime, Article]) -> bytes:
    """A JSON Feed of `entries`: each article by its `updated` date (see
    `feeds.entry_dates`), newest first; none for an empty feed."""
    feed: dict[str, Any] = {
        "version": VERSION,
        "user_comment": _COMMENT,
        "title": spec.title,
        "home_page_url": spec.page_url,
        "feed_url": site.url(spec.path("json")),
        "description": spec.description,
    }
    if spec.icon:
        feed["icon"] = spec.icon
        feed["favicon"] = spec.icon
    feed["authors"] = [{"name": site.title, "url": site.base_url}]
    feed["language"] = spec.language or site.language
    if site.hub:
        feed["hubs"] = [{"type": "WebSub", "url": site.hub}]
    feed["items"] = [_item(article, updated, spec) for updated, article in entries.items()]
    return indented(feed)  # (it holds no number: the same bytes with orjson or without)


def _item(article: Article, updated: datetime, spec: FeedSpec) -> dict[str, Any]:
    item: dict[str, Any] = {"id": entry_id(article), "url": article.link, "title": article.title}
    if spec.content == "full":
        item["content_html"] = content_html(article)
    else:
        # An item needs content_html or content_text: the excerpt, else the title.
        item["content_text"] = entry_text(article)
    if article.excerpt:
        item["summary"] = article.excerpt
    if article.images:
        item["image"] = article.images[0].url
    item["date_published"] = article.published_at.isoformat()
    item["date_modified"] = updated.isoformat()
    if article.provider is not None:
        author = {"name": article.provider.name}
        url = provider_url(article.provider)
        if url:
            author["url"] = url
        item["authors"] = [author]
    if article.topics:
        item["tags"] = list(article.topics)
    return item


def read_header(data: bytes) -> tuple[str, datetime | None] | None:
    """Title and newest `date_modified` of a JSON Feed written earlier, or None when it
    is not one; the date is None for a feed without items."""
    try:
        feed = json.loads(data)
        if not isinstance(feed, dict) or not str(feed.get("version", "")).startswith(
            "https://jsonfeed.org/version/"
        ):
            return None
        title = feed.get("title")
        items = feed.get("items")
        if not isinstance(title, str) or not title or not isinstance(items, list):
            return None
        dates = [
            datetime.fromisoformat(item["date_modified"])
            for item in items
            if isinstance(item, dict) and isinstance(item.get("date_modified"), str)
        ]
    except (ValueError, TypeError):
        return None
    if any(when.tzinfo is None for when in dates):
        return None
    return title, max(dates, default=None)
