"""Duplicate stories and the surviving article of each. Pure: no I/O.

Two articles are one story when they share any canonical URL among the URLs their
files give (webUrl, originalUrl, ampWebUrl, cdnAmpWebUrl). Sharing is transitive:
A~B and B~C make one story of A, B and C.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from aggregator.model import Article
from aggregator.model import Duplicate
from aggregator.urls import canonical_url

SAME_URL = "same-url"


def survivor_key(article: Article) -> tuple[int, object, str]:
    """Sort key whose minimum is the survivor: highest quality, then earliest, then path."""
    quality = article.quality if article.quality is not None else -1
    return (-quality, article.published_at, article.path)


def dedupe(articles: Sequence[Article]) -> tuple[list[Article], list[Duplicate]]:
    """One article per story, in the order of each story's first file, and the duplicates.

    The survivor carries the union of its cluster's topics (its own first). The
    result does not depend on the input order except for the order of the list.
    """
    parent = list(range(len(articles)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for index, article in enumerate(articles):
        for url in article.urls:
            key = canonical_url(url)
            other = owner.setdefault(key, index)
            if other != index:
                a, b = find(index), find(other)
                if a != b:
                    parent[max(a, b)] = min(a, b)

    clusters: dict[int, list[int]] = {}
    for index in range(len(articles)):
        clusters.setdefault(find(index), []).append(index)

    kept: list[tuple[int, Article]] = []
    duplicates: list[Duplicate] = []
    for members in clusters.values():
        ordered = sorted((articles[i] for i in members), key=survivor_key)
        survivor = ordered[0]
        if len(ordered) > 1:
            topics = list(survivor.topics)
            seen = {t.casefold() for t in topics}
            for duplicate in ordered[1:]:
                for topic in duplicate.topics:
                    if topic.casefold() not in seen:
                        seen.add(topic.casefold())
                        topics.append(topic)
            survivor = dataclasses.replace(survivor, topics=tuple(topics))
            duplicates.append(
                Duplicate(
                    kept=survivor.path,
                    dropped=tuple(a.path for a in ordered[1:]),
                    reason=SAME_URL,
                )
            )
        kept.append((min(members), survivor))
    kept.sort(key=lambda pair: pair[0])
    duplicates.sort(key=lambda d: d.kept)
    return [a for _, a in kept], duplicates
