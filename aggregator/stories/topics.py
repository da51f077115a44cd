"""What makes two topic names one topic. Pure."""

from __future__ import annotations

import functools


@functools.lru_cache(maxsize=65_536)
def topic_key(name: str) -> str:
    """The identity of a topic name: whitespace collapsed, case folded ("AI" and "ai"
    are one topic; its feed's file name is `rendering.slugs.topic_slug`)."""
    return " ".join(name.split()).casefold()
