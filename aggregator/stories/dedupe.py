"""Duplicate stories and the surviving article of each. Pure: no I/O.

Two articles are one story when they share any canonical URL among the URLs their
files give (webUrl, originalUrl, ampWebUrl, cdnAmpWebUrl), or when their titles and
excerpts say so (see `similar.py`). Both relations are transitive: A~B and B~C make
one story of A, B and C. Each story keeps one survivor (highest quality, then
earliest, then path), which carries the union of the story's topics.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Container
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from aggregator.model import Article
from aggregator.model import DroppedCopy
from aggregator.model import Duplicate
from aggregator.model import DuplicateReason
from aggregator.stories.similar import DEFAULT_THRESHOLD
from aggregator.stories.similar import DEFAULT_WINDOW
from aggregator.stories.similar import Pair
from aggregator.stories.similar import PairCache
from aggregator.stories.similar import Runner
from aggregator.stories.similar import Words
from aggregator.stories.similar import fingerprint
from aggregator.stories.similar import similar_zones
from aggregator.stories.urls import canonical_url

SAME_URL: DuplicateReason = "same-url"
SIMILAR_TITLE: DuplicateReason = "similar-title"


@dataclass(frozen=True, slots=True)
class DedupeSettings:
    """The `dedupe:` section of the config file."""

    #: one story when two files share a canonical URL
    same_url: bool = True
    #: one story when titles and excerpts are near-identical within `window`
    similar_title: bool = True
    #: similarity score (0 to 1) at which two articles are one story
    threshold: float = DEFAULT_THRESHOLD
    #: only articles published this close together can be one story by their text
    window: timedelta = DEFAULT_WINDOW


class _Components:
    """Union-find over article indexes; the root of a set is its smallest index."""

    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def copy(self) -> _Components:
        """The same sets, to join further without changing these."""
        copied = _Components(0)
        copied.parent = self.parent.copy()
        return copied

    def union(self, a: int, b: int) -> None:
        a, b = self.find(a), self.find(b)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


def url_keys(article: Article) -> tuple[str, ...]:
    """The article's URLs in canonical form, without repeats: its same-URL keys."""
    return tuple(dict.fromkeys(_canonical_once(u) for u in article.urls))


def link_key(article: Article) -> str:
    """The canonical form of the article's link: its entry id in the feeds
    (`feeds.entry_id`), which no two stories share (see `find_stories`)."""
    if article.keys and article.urls[0] == article.link:
        return article.keys[0]  # canonical_url(urls[0]), computed when the file was parsed
    return canonical_url(article.link)


#: `canonical_url` without its cache: a file's own URLs are made canonical once, when
#: it is parsed (a worker that parsed 50,000 files kept 81,000 answers in the cache,
#: 29 MB, for 14 hits)
_canonical_once = canonical_url.__wrapped__


def with_keys(article: Article) -> Article:
    """The article with its dedupe keys and fingerprint computed (done where files are
    parsed, in parallel, and cached with the parse)."""
    return dataclasses.replace(article, keys=url_keys(article), fingerprint=fingerprint(article))


def survivor_key(article: Article) -> tuple[int, object, str]:
    """Sort key whose minimum is the survivor: highest quality, then earliest, then path."""
    quality = article.quality if article.quality is not None else -1
    return (-quality, article.published_at, article.path)


@dataclass(frozen=True, slots=True)
class Stories:
    """What `find_stories` found."""

    #: one article per story, in the order of each story's first file; related
    #: stubs untouched (see `without_known_related`)
    kept: list[Article]
    duplicates: list[Duplicate]
    #: every canonical URL of every file
    corpus_urls: frozenset[str]
    #: the paths of each story's files in input order, one tuple per `kept` article
    members: list[tuple[str, ...]] = dataclasses.field(default_factory=list)
    #: the similar pairs found, per zone (see `similar.similar_zones`)
    zones: dict[int, list[Pair]] = dataclasses.field(default_factory=dict)


def dedupe(
    articles: Sequence[Article], settings: DedupeSettings | None = None
) -> tuple[list[Article], list[Duplicate]]:
    """`find_stories`, with related stubs to stories in the corpus taken out of every
    survivor (the build does that only for the entries it renders)."""
    stories = find_stories(articles, settings)
    kept = [without_known_related(a, stories.corpus_urls) for a in stories.kept]
    return kept, stories.duplicates


def related_keys(article: Article) -> tuple[str, ...]:
    """The canonical URL of each of the article's related stubs."""
    return tuple(canonical_url(s.link) for s in article.related)


def without_known_related(article: Article, corpus_urls: Container[str]) -> Article:
    """The article without related stubs that point at a story in the corpus: that
    story is shown on its own (or is this very story) and is not repeated."""
    related = tuple(s for s in article.related if canonical_url(s.link) not in corpus_urls)
    return article if related == article.related else dataclasses.replace(article, related=related)


def find_stories(
    articles: Sequence[Article],
    settings: DedupeSettings | None = None,
    cache: PairCache | None = None,
    words: Words | None = None,
    pairs: Sequence[Pair] | None = None,
    runner: Runner | None = None,
) -> Stories:
    """One article per story, in the order of each story's first file, and the duplicates.

    Each story filed more than once is one `Duplicate`: the survivor, the dropped
    copies, and per copy the reason (`same-url` when it shares a URL with the
    survivor's copies, else `similar-title`) and the score (1.0 for a shared URL).
    Related stubs that point at a story in the corpus are taken out of the
    survivors: that story is shown on its own (or is this very story) and is not
    repeated as related coverage. `cache` keeps similar pairs between builds and
    `words` loads the words of fingerprints loaded without (see
    `similar.similar_zones`). Given `pairs` (the similar pairs among `articles`, by
    path), they are not looked for; else `runner` finds the zones in parts (see
    `similar.zone_pairs`; a caller tells its progress from it).
    """
    settings = settings or DedupeSettings()
    count = len(articles)
    keys = [a.keys or url_keys(a) for a in articles]
    by_url = _Components(count)
    owner: dict[str, int] = {}  # the first file of each URL
    for index, article_keys in enumerate(keys):
        # Without `same_url`, files whose links are one are still one story: a feed
        # entry is known by its link (its id), which two entries cannot share.
        for key in article_keys if settings.same_url else (link_key(articles[index]),):
            first = owner.setdefault(key, index)
            if first != index:  # most keys are one file's: no union to make
                by_url.union(index, first)
    stories = by_url.copy()  # what shares a URL, then more
    best_score: dict[int, float] = {}
    zones: dict[int, list[Pair]] = {}
    if settings.similar_title:
        if pairs is None:
            zones = similar_zones(
                articles, settings.threshold, settings.window, cache, words, runner
            )
            pairs = [pair for found in zones.values() for pair in found]
        index_of = {a.path: i for i, a in enumerate(articles)}
        for path_a, path_b, value in pairs:
            a, b = index_of[path_a], index_of[path_b]
            stories.union(a, b)
            for end in (by_url.find(a), by_url.find(b)):
                best_score[end] = max(best_score.get(end, 0.0), value)

    # Each story's members in input order, by its root (its first member): roots come
    # in input order, so the stories do too.
    clusters: dict[int, list[int]] = {}
    parent, find = stories.parent, stories.find
    for index in range(count):
        root = index if parent[index] == index else find(index)
        found_members = clusters.get(root)
        if found_members is None:
            clusters[root] = [index]
        else:
            found_members.append(index)

    corpus_urls = frozenset(
        owner if settings.same_url else (key for article_keys in keys for key in article_keys)
    )
    kept: list[Article] = []
    members_of: list[tuple[str, ...]] = []
    duplicates: list[Duplicate] = []
    for members in clusters.values():
        if len(members) == 1:  # most stories: one file
            survivor = articles[members[0]]
            kept.append(survivor)
            members_of.append((survivor.path,))
            continue
        ordered = sorted(members, key=lambda i: survivor_key(articles[i]))
        survivor_index = ordered[0]
        survivor = articles[survivor_index]
        topics = _union_topics(articles[i] for i in ordered)
        if topics != survivor.topics:
            survivor = dataclasses.replace(survivor, topics=topics)
        copies = []
        for index in ordered[1:]:
            if by_url.find(index) == by_url.find(survivor_index):
                copies.append(DroppedCopy(articles[index].path, SAME_URL, 1.0))
            else:
                value = round(best_score.get(by_url.find(index), 0.0), 3)
                copies.append(DroppedCopy(articles[index].path, SIMILAR_TITLE, value))
        duplicates.append(
            Duplicate(
                kept=survivor.path,
                dropped=tuple(c.path for c in copies),
                reason=SAME_URL if all(c.reason == SAME_URL for c in copies) else SIMILAR_TITLE,
                score=min(c.score for c in copies),
                copies=tuple(copies),
            )
        )
        kept.append(survivor)
        members_of.append(tuple(articles[i].path for i in members))
    duplicates.sort(key=lambda d: d.kept)
    return Stories(kept, duplicates, corpus_urls, members_of, zones)


def _union_topics(ordered: Iterable[Article]) -> tuple[str, ...]:
    topics: list[str] = []
    seen: set[str] = set()
    for article in ordered:
        for topic in article.topics:
            if topic.casefold() not in seen:
                seen.add(topic.casefold())
                topics.append(topic)
    return tuple(topics)
