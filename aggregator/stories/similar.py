"""Near-duplicate stories: the same story under another URL and a slightly edited title.

Pure: no I/O. Two articles published within `window` of each other are one story
when their similarity score reaches `threshold`:

- titles are reduced to word sets (case folded; punctuation, possessives, a few stop
  words and plain suffixes removed; a trailing " - Provider" / " | Section" and a
  leading "UPDATE 1-" / "EXCLUSIVE:" dropped); excerpts likewise;
- words are weighted by their rarity (inverse document frequency) among the
  articles published in the same 31-day period (counted from 1970-01-01 UTC; both
  periods for a pair across a boundary), so a shared name counts for more than a
  shared "new", and what a change can alter stays within its period;
- title similarity is the weighted Jaccard index, lowered (x0.6) when both titles
  have words the other lacks: syndication adds and drops words, while a substituted
  word (another company, another verb) usually means another story;
- with both excerpts present, the score is 0.35 x title + 0.65 x excerpt, where
  excerpt similarity is the weighted overlap of the shorter excerpt (robust to one
  being cut short); a title that is the other's with words added or dropped counts
  on its own too, since outlets often write their own excerpt; without excerpts, the
  score is the title similarity;
- titles whose numbers differ ("2020 release wave 1" and "2021 release wave 2"), or
  excerpts that each give figures the other lacks, are never one story.

Candidate pairs come from a sweep in publication order with an inverted index of
title words restricted to each title's rarest words (weighted prefix filtering): a
pair that can reach the threshold always shares one of them, so no pair is missed
and no two articles further apart than `window` are compared. Results do not depend
on the order of the input. The pairs of each period and of each boundary are kept
between builds (`PairCache`) and found again only where an article changed.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections import deque
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import Protocol

from aggregator.model import Article
from aggregator.model import Fingerprint

DEFAULT_THRESHOLD = 0.75
DEFAULT_WINDOW = timedelta(days=3)
#: word weights come from the articles published in the same period of this length
PERIOD = timedelta(days=31)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SUBSTITUTION_FACTOR = 0.6
#: weight of the title in the score when both articles have an excerpt
TITLE_WEIGHT = 0.35
#: excerpts with fewer words than this are too short to compare
MIN_EXCERPT_WORDS = 5

_STOP_WORDS = frozenset(
    {"a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "in", "is"}
    | {"it", "its", "of", "on", "or", "the", "to", "was", "were", "will", "with", "this", "that"}
)
_APOSTROPHE = "\u2019"
_DASHES = "-|\u2013\u2014:"
_WORD = re.compile(r"[^\W_]+")
_SUFFIX = re.compile(rf"\s+[{_DASHES}]\s+([^{_DASHES}]+)$")
_PREFIX = re.compile(
    r"^(?:update\s*\d*|updated|exclusive|breaking|watch|video|opinion|re-?transmission)"
    r"\s*[-:|]\s*"
)


def fingerprint(article: Article) -> Fingerprint:
    """What near-duplicate detection reads of one article: its word sets, as sorted
    tuples (compact to keep and to cache; sets are made only for compared pairs)."""
    words = title_words(article.title)
    excerpt = {_stem(w) for w in _words(article.excerpt) if w not in _STOP_WORDS}
    title = tuple(sorted(words))
    excerpt_words = tuple(sorted(excerpt))
    digest = hashlib.blake2b(digest_size=8)
    digest.update("\x1f".join(title).encode("utf-8", "surrogatepass"))
    digest.update(b"\x1e")
    digest.update("\x1f".join(excerpt_words).encode("utf-8", "surrogatepass"))
    return Fingerprint(
        title=title,
        numbers=tuple(w for w in title if _has_digit(w)),
        excerpt=excerpt_words,
        excerpt_numbers=tuple(w for w in excerpt_words if _has_digit(w)),
        digest=digest.hexdigest(),
    )


def _has_digit(word: str) -> bool:
    return not word.isalpha() and any(c.isdigit() for c in word)


def title_words(title: str) -> frozenset[str]:
    text = title.casefold().replace(_APOSTROPHE, "'")
    text = _PREFIX.sub("", text)
    suffix = _SUFFIX.search(text)
    if suffix and len(suffix.group(1).split()) <= 4 and len(text[: suffix.start()].split()) >= 3:
        text = text[: suffix.start()]
    return frozenset(_stem(w) for w in _words(text) if w not in _STOP_WORDS)


def _words(text: str) -> list[str]:
    text = text.casefold().replace(_APOSTROPHE, "'").replace("'s ", " ").replace(".", "")
    return _WORD.findall(text)


def _stem(word: str) -> str:
    stem = _STEMS.get(word)
    if stem is None:
        stem = _stem_of(word)
        if len(_STEMS) < _STEMS_KEPT:  # a language's words: a bounded lot
            _STEMS[word] = stem
    return stem


_STEMS: dict[str, str] = {}
_STEMS_KEPT = 200_000


def _stem_of(word: str) -> str:
    for ending in ("ing", "ed", "es", "s"):
        if len(word) > len(ending) + 3 and word.endswith(ending) and not word[-1].isdigit():
            return word[: -len(ending)]
    return word


class Weights:
    """Inverse document frequency of words over the articles of a period: a shared
    rare word (a name, a product) says more than a shared common one ("new", "said")."""

    def __init__(self, frequency: Counter[str], documents: int) -> None:
        total = documents + 1
        self.idf = {word: math.log(1 + total / count) for word, count in frequency.items()}

    def total(self, words: Iterable[str]) -> float:
        """Summed weight of words of the fingerprints these weights were made from:
        exactly rounded, so the same in any order (sets of words iterate in an order
        that differs from process to process)."""
        return math.fsum(map(self.idf.__getitem__, words))


def _frequency(prints: Iterable[Fingerprint]) -> Counter[str]:
    frequency: Counter[str] = Counter()
    for item in prints:
        frequency.update(item.title)
        frequency.update(item.excerpt)
    return frequency


@dataclass(frozen=True, slots=True)
class _Sets:
    """One article's fingerprint as sets, made while it is within the window."""

    title: frozenset[str]
    numbers: tuple[str, ...]
    excerpt: frozenset[str]
    excerpt_numbers: frozenset[str]
    #: summed weights of the title and of the excerpt words
    title_total: float
    excerpt_total: float

    @classmethod
    def of(cls, item: Fingerprint, weight: Weights, title_total: float) -> _Sets:
        return cls(
            frozenset(item.title),
            item.numbers,
            frozenset(item.excerpt),
            frozenset(item.excerpt_numbers),
            title_total,
            weight.total(item.excerpt),
        )


def _score(a: _Sets, b: _Sets, weight: Weights, at_least: float) -> float:
    """Similarity of two articles in [0, 1], one story at the threshold and above.
    0.0 as soon as `at_least` is out of reach."""
    if a.numbers != b.numbers or not a.title or not b.title:
        return 0.0
    if a.title == b.title and a.excerpt == b.excerpt:
        return 1.0  # the same words: a copy (and the common case in a syndicated corpus)
    shared = weight.total(a.title & b.title)
    union = a.title_total + b.title_total - shared
    title = shared / union if union > 0 else 0.0
    edited = a.title <= b.title or b.title <= a.title
    if not edited:
        title *= SUBSTITUTION_FACTOR  # a substituted word says more than an added one
    if len(a.excerpt) >= MIN_EXCERPT_WORDS and len(b.excerpt) >= MIN_EXCERPT_WORDS:
        x, y = a.excerpt_numbers, b.excerpt_numbers
        if x and y and not (x <= y or y <= x):
            return 0.0  # the texts give other figures: another event
        if max(TITLE_WEIGHT * title + (1 - TITLE_WEIGHT), title) < at_least:
            return 0.0
        smaller = min(a.excerpt_total, b.excerpt_total)
        excerpt = weight.total(a.excerpt & b.excerpt) / smaller if smaller > 0 else 0.0
        combined = TITLE_WEIGHT * title + (1 - TITLE_WEIGHT) * excerpt
        # The same headline (give or take a word) in the same days is the same story
        # even when each outlet wrote its own excerpt.
        return max(combined, title) if edited else combined
    return title


def _prefix(words: Sequence[str], weight: Weights, needed: float) -> list[str]:
    """The rarest words of a title, up to where the rest weigh less than `needed`.

    Two titles whose weighted Jaccard similarity reaches the floor share a word in
    their prefixes (the rarest shared word), so probing prefixes misses no pair.
    """
    idf = weight.idf
    ordered = sorted(words, key=lambda w: (-idf.get(w, 0.0), w))
    remaining = sum(idf.get(w, 0.0) for w in ordered)
    prefix: list[str] = []
    for word in ordered:
        if remaining < needed:
            break
        prefix.append(word)
        remaining -= idf.get(word, 0.0)
    return prefix


#: a pair of articles (by path) that are one story, and their score
Pair = tuple[str, str, float]


class PairCache(Protocol):
    """Where the pairs of each zone are kept between builds (see `similar_pairs`)."""

    def get(self, zone: int, digest: str) -> list[Pair] | None: ...

    def put(self, zone: int, digest: str, pairs: list[Pair]) -> None: ...


def period_of(when: datetime, length: timedelta = PERIOD) -> int:
    """The period an article published at `when` belongs to (periods of `length`,
    counted from 1970-01-01 UTC)."""
    return (when - _EPOCH) // length


class Dated(Protocol):
    """What near-duplicate detection reads of an article besides its fingerprint."""

    @property
    def path(self) -> str: ...

    @property
    def published_at(self) -> datetime: ...

    @property
    def fingerprint(self) -> Fingerprint | None: ...


#: loads the complete fingerprints of articles held with their digest only
Words = Callable[[Sequence[Dated]], list[Fingerprint]]


def period_length(window: timedelta) -> timedelta:
    """The length of the periods word weights come from: `PERIOD`, or `window` when longer."""
    return max(PERIOD, window)


def similar_pairs(
    articles: Sequence[Article],
    threshold: float = DEFAULT_THRESHOLD,
    window: timedelta = DEFAULT_WINDOW,
    cache: PairCache | None = None,
    words: Words | None = None,
) -> list[tuple[int, int, float]]:
    """Index pairs (i, j, score), i < j, published within `window` and scoring at
    least `threshold`, sorted (see `similar_zones`)."""
    index_of = {a.path: i for i, a in enumerate(articles)}
    found: list[tuple[int, int, float]] = []
    for pairs in similar_zones(articles, threshold, window, cache, words).values():
        for a, b, value in pairs:
            i, j = index_of[a], index_of[b]
            found.append((min(i, j), max(i, j), value))
    found.sort()
    return found


def similar_zones(
    articles: Sequence[Dated],
    threshold: float = DEFAULT_THRESHOLD,
    window: timedelta = DEFAULT_WINDOW,
    cache: PairCache | None = None,
    words: Words | None = None,
    runner: Runner | None = None,
) -> dict[int, list[Pair]]:
    """The pairs of articles (by path) published within `window` and scoring at least
    `threshold`, per zone (found in parts by `runner` when given: see `zone_pairs`).

    Articles fall into periods of `PERIOD` (or `window` when longer); word weights
    come from the articles of one period, or of two neighbouring ones for a pair
    across their boundary. A zone is a period (its pairs) or a boundary (its pairs
    across): what a zone finds depends only on the articles of its periods, so with
    a `cache`, a zone whose articles are the same as last time (same paths, dates
    and fingerprints: the digest) reuses last time's pairs. Articles whose
    fingerprint holds its digest only (not `complete`) get their words from `words`,
    for the zones found again.
    """
    periods = group_periods(articles, window)
    zones = zones_of(periods)
    return zone_pairs(articles, periods, zones, threshold, window, cache, words, runner)


def group_periods(articles: Sequence[Dated], window: timedelta) -> dict[int, list[int]]:
    """The indexes of the articles of each period, by date, then path."""
    length = period_length(window)
    periods: dict[int, list[int]] = {}
    for index, article in enumerate(articles):
        periods.setdefault(period_of(article.published_at, length), []).append(index)
    for members in periods.values():
        members.sort(key=lambda i: (articles[i].published_at, articles[i].path))
    return periods


def zones_of(periods: Iterable[int]) -> list[int]:
    """The zones of these periods: each period, and each boundary of two of them."""
    known = set(periods)
    zones = [2 * p for p in known] + [2 * p + 1 for p in known if p + 1 in known]
    return sorted(zones)


def zone_pairs(
    articles: Sequence[Dated],
    periods: dict[int, list[int]],
    zones: Iterable[int],
    threshold: float,
    window: timedelta,
    cache: PairCache | None = None,
    words: Words | None = None,
    runner: Runner | None = None,
) -> dict[int, list[Pair]]:
    """The pairs of each of `zones`; `periods` holds every article (by index in
    `articles`, sorted by `group_periods`) of each period those zones lie in.

    The zones not in `cache` are found by `find_zones`, here or, through `runner`, in
    parts (`ZoneWork`s of neighbouring zones, each with the articles it reads) that
    it may hand to other processes: each zone is found from its periods alone, so the
    pairs are the same either way."""
    prints = [_print_of(a) for a in articles]
    digests: dict[int, str] = {}

    def digest_of(period: int) -> str:
        if period not in digests:
            digests[period] = _digest(articles, prints, periods[period])
        return digests[period]

    found: dict[int, list[Pair]] = {}
    todo: dict[int, str] = {}  # zone -> digest
    for zone in zones:
        period = zone // 2
        if zone % 2 == 0:
            digest = digest_of(period)
        else:
            digest = f"{digest_of(period)}{digest_of(period + 1)}"
        pairs = cache.get(zone, digest) if cache is not None else None
        if pairs is None:
            todo[zone] = digest
        else:
            found[zone] = pairs
    if not todo:
        return found
    needed = sorted({z // 2 for z in todo} | {z // 2 + 1 for z in todo if z % 2})
    partial = [i for p in needed for i in periods[p] if not prints[i].complete]
    if partial:
        if words is None:
            raise ValueError("fingerprints without their words, and no way to load them")
        for i, loaded in zip(partial, words([articles[i] for i in partial]), strict=True):
            prints[i] = loaded
    parts = _parts(sorted(todo), periods) if runner is not None else [sorted(todo)]
    works = [_work(part, articles, prints, periods, threshold, window) for part in parts]
    for zone_found in runner(works) if runner is not None else map(find_zones, works):
        found.update(zone_found)
    if cache is not None:
        for zone, digest in todo.items():
            cache.put(zone, digest, found[zone])
    return found


@dataclass(frozen=True, slots=True)
class ZoneWork:
    """Zones to find, with every article of the periods they lie in (by index in the
    lists here) : what `find_zones` reads, and all it reads."""

    zones: tuple[int, ...]
    periods: dict[int, list[int]]
    paths: list[str]
    times: list[datetime]
    prints: list[Fingerprint]
    threshold: float
    window: timedelta

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Sent to another process as plain tuples and numbers, which pickle about five
        # times faster than the dataclasses and datetimes they stand for.
        prints = [(p.title, p.numbers, p.excerpt, p.excerpt_numbers, p.digest) for p in self.prints]
        times = [(t - _EPOCH) // _MICROSECOND for t in self.times]
        fields = (self.zones, self.periods, self.paths, times, prints)
        return _zone_work, (*fields, self.threshold, self.window)


def _zone_work(
    zones: tuple[int, ...],
    periods: dict[int, list[int]],
    paths: list[str],
    times: list[int],
    prints: list[tuple[Any, ...]],
    threshold: float,
    window: timedelta,
) -> ZoneWork:
    return ZoneWork(
        zones,
        periods,
        paths,
        [_EPOCH + t * _MICROSECOND for t in times],
        [Fingerprint(*p) for p in prints],
        threshold,
        window,
    )


_MICROSECOND = timedelta(microseconds=1)

#: finds the pairs of `ZoneWork`s (on other processes, say): one result each, in order
Runner = Callable[[list[ZoneWork]], Iterable[dict[int, list[Pair]]]]

#: a part of the zones to find is about this many articles (or one zone, when more)
_PART_ARTICLES = 10_000


def _parts(zones: list[int], periods: dict[int, list[int]]) -> list[list[int]]:
    """`zones` (sorted) in runs of neighbours of about `_PART_ARTICLES` articles each."""
    parts: list[list[int]] = []
    size = 0
    for zone in zones:
        if not parts or size >= _PART_ARTICLES:
            parts.append([])
            size = 0
        parts[-1].append(zone)
        size += len(periods[zone // 2]) if zone % 2 == 0 else 0
    return parts


def _work(
    zones: list[int],
    articles: Sequence[Dated],
    prints: list[Fingerprint],
    periods: dict[int, list[int]],
    threshold: float,
    window: timedelta,
) -> ZoneWork:
    needed = sorted({z // 2 for z in zones} | {z // 2 + 1 for z in zones if z % 2})
    members = [i for p in needed for i in periods[p]]
    local = {i: n for n, i in enumerate(members)}
    return ZoneWork(
        tuple(zones),
        {p: [local[i] for i in periods[p]] for p in needed},
        [articles[i].path for i in members],
        [articles[i].published_at for i in members],
        [prints[i] for i in members],
        threshold,
        window,
    )


def find_zone_works(works: list[ZoneWork], _limits: object) -> list[dict[int, list[Pair]]]:
    """`find_zones` of each of `works`: the task a worker process runs (see
    `loader.map_in_processes`), in this light module so a worker imports little."""
    return [find_zones(work) for work in works]


def find_zones(work: ZoneWork) -> dict[int, list[Pair]]:
    """The pairs of each zone of `work`."""
    periods, times, prints, window = work.periods, work.times, work.prints, work.window
    length = period_length(window)
    counts: dict[int, Counter[str]] = {}

    def frequency(period: int) -> Counter[str]:
        if period not in counts:
            counts[period] = _frequency(prints[i] for i in periods[period])
        return counts[period]

    found: dict[int, list[Pair]] = {}
    for zone in work.zones:
        period = zone // 2
        members = periods[period]
        if zone % 2 == 0:
            weight = Weights(frequency(period), len(members))
            got = _Sweep(work, weight).pairs(members, work.threshold, window)
        else:
            following = periods[period + 1]
            weight = Weights(
                frequency(period) + frequency(period + 1), len(members) + len(following)
            )
            start = _EPOCH + (period + 1) * length
            edge = [i for i in members if times[i] >= start - window]
            edge += [i for i in following if times[i] <= start + window]
            sweep = _Sweep(work, weight)
            got = sweep.pairs(edge, work.threshold, window, across=frozenset(members))
        found[zone] = [(work.paths[i], work.paths[j], value) for i, j, value in got]
    return found


def _print_of(article: Dated) -> Fingerprint:
    if article.fingerprint is not None:
        return article.fingerprint
    if isinstance(article, Article):
        return fingerprint(article)
    raise ValueError(f"{article.path}: no fingerprint")


def _digest(articles: Sequence[Dated], prints: Sequence[Fingerprint], members: list[int]) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for i in members:
        line = f"{articles[i].path}\0{articles[i].published_at.isoformat()}\0{prints[i].digest}\n"
        digest.update(line.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


class _Sweep:
    """Candidate pairs of some articles under one set of word weights."""

    def __init__(self, work: ZoneWork, weight: Weights) -> None:
        self.work = work
        self.times = work.times
        self.prints = work.prints
        self.weight = weight
        self.totals: dict[int, float] = {}
        # Sets of the articles in the sweep's window; others are made on demand.
        self._sets: dict[int, _Sets] = {}

    def _total(self, i: int) -> float:
        found = self.totals.get(i)
        if found is None:
            found = self.totals[i] = self.weight.total(self.prints[i].title)
        return found

    def _of(self, i: int) -> _Sets:
        found = self._sets.get(i)
        if found is None:
            found = self._sets[i] = _Sets.of(self.prints[i], self.weight, self._total(i))
        return found

    def pairs(
        self,
        order: Sequence[int],
        threshold: float,
        window: timedelta,
        across: frozenset[int] | None = None,
    ) -> list[tuple[int, int, float]]:
        """Pairs among `order` (sorted by date, then path) that are one story; with
        `across`, only pairs of one article in it and one not."""
        times = self.times
        # The lowest title similarity with which a pair can still reach the threshold:
        # by its excerpt (at best 1.0, title substituted) or by its title alone.
        by_excerpt = (threshold - (1 - TITLE_WEIGHT)) / TITLE_WEIGHT / SUBSTITUTION_FACTOR
        floor = max(min(threshold, by_excerpt), 0.05)
        index: dict[str, deque[int]] = {}
        recent: deque[int] = deque()  # articles whose sets may be kept, oldest first
        found: list[tuple[int, int, float]] = []
        for i in order:
            oldest = times[i] - window
            while recent and times[recent[0]] < oldest:
                self._sets.pop(recent.popleft(), None)
            recent.append(i)
            prefix = _prefix(self.prints[i].title, self.weight, floor * self._total(i))
            candidates: set[int] = set()
            for word in prefix:
                posting = index.setdefault(word, deque())
                while posting and times[posting[0]] < oldest:
                    posting.popleft()
                candidates.update(posting)
                posting.append(i)
            if across is not None:
                side = i in across
                candidates = {j for j in candidates if (j in across) != side}
            for j in sorted(candidates):
                value = _score(self._of(i), self._of(j), self.weight, threshold)
                if value >= threshold:
                    found.append((min(i, j), max(i, j), value))
        return found
