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

Candidate pairs come from a sweep in publication order with inverted indexes of the
rarest words of titles and excerpts (weighted prefix filtering), one for each route by
which a pair can reach the threshold (see `_may_reach`): such a pair always shares one
of them, so no pair is missed, and no two articles further apart than `window` are
compared. Results do not depend on the order of the input. The pairs of each period
and of each boundary are kept between builds (`PairCache`) and found again only where
an article changed.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import re
import threading
import unicodedata
from collections import Counter
from collections import defaultdict
from collections import deque
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
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
#: the starts of stop words: a title cut inside one ("... a record using t…")
_STOP_PREFIXES = frozenset(w[:n] for w in _STOP_WORDS for n in range(1, len(w) + 1))
#: what outlets put before a headline: "UPDATE 1-", "EXCLUSIVE:", "Analysis: " (case
#: folded, any number of them, each followed by "-", ":" or "|")
_PREFIX = re.compile(
    r"^(?:(?:update|updated|exclusive|breaking(?: news)?|just in|refile|rpt|repeat|corrected"
    r"|correction|re-?transmission|analysis|factbox|explainer|insight|opinion|commentary"
    r"|editorial|watch|video|photos?|podcast|live(?: updates)?|report|sources?)"
    r"\s*\d*\s*[-:|]\s*)+"
)
#: what outlets put after it: " - Outlet", " | Section" (at most `_SUFFIX_WORDS` words,
#: no digit: "| April 6, 2021" is part of the headline)
_SUFFIX = re.compile(r"\s+[-|:]\s+([^-|:\d]+)$")
_SUFFIX_WORDS = 4
#: where a subtitle starts: "Title: subtitle", "Title - subtitle", "Title | subtitle"
_SUBTITLE = re.compile(r":\s|\s[-|]\s")
#: a cut title keeps at least this many words, the last maybe cut in two (it ends in
#: `ELLIPSIS` among the title words, and matches any word it starts)
MIN_KEPT_WORDS = 4
ELLIPSIS = "\u2026"
#: a head (the title without its subtitle) has at least this many words, stop words aside
MIN_HEAD_WORDS = 3
#: a title of fewer words (stop words aside) is not one story with another by its
#: words alone (without their excerpts)
MIN_ALONE_WORDS = 4
#: quotes, dashes and spaces folded to one form each, after NFKC
_FOLD = str.maketrans(
    {
        **dict.fromkeys("\u2018\u2019\u201a\u201b\u2032\u00b4`", "'"),
        **dict.fromkeys("\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb", '"'),
        **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"),
    }
)
#: UTF-8 punctuation read as Windows-1252 ("Baltimoreâ€™s"), as feeds often serve it
_MOJIBAKE = (
    ("\u00e2\u20ac\u2122", "'"), ("\u00e2\u20ac\u02dc", "'"), ("\u00e2\u20ac\u0153", '"'),
    ("\u00e2\u20ac\u009d", '"'), ("\u00e2\u20ac\u201c", "-"), ("\u00e2\u20ac\u201d", "-"),
    ("\u00e2\u20ac\u00a6", "..."),
)  # fmt: skip
#: respellings of one name, to one form: phrases (in folded text) and single words. A
#: small documented table: outlets write "A.I." or "AI" (the dots are dropped anyway),
#: "the U.S." or "the United States", a company or its ticker.
_PHRASES = re.compile(r"\b(artificial intelligence|united states|united kingdom|european union)\b")
_PHRASE = {
    "artificial intelligence": "ai",
    "united states": "us",
    "united kingdom": "uk",
    "european union": "eu",
}
_RESPELL = {
    "msft": "microsoft", "googl": "google", "goog": "google", "alphabet": "google",
    "aapl": "apple", "amzn": "amazon", "fb": "facebook", "nvda": "nvidia", "tsla": "tesla",
    "intc": "intel", "orcl": "oracle", "adbe": "adobe", "csco": "cisco", "nflx": "netflix",
    "baba": "alibaba", "pypl": "paypal", "amd": "amd", "crm": "salesforce",
}  # fmt: skip
#: stock exchange labels of a ticker ("(NASDAQ: MSFT)"), left out
_EXCHANGES = frozenset({"nasdaq", "nyse", "lse", "tsx", "otc"})


def fingerprint(article: Article) -> Fingerprint:
    """What near-duplicate detection reads of one article: its word sets, as sorted
    tuples (compact to keep and to cache; sets are made only for compared pairs)."""
    words, head, cut, start = _title_parts(article.title)
    folded = _fold(article.excerpt)
    excerpt_text = _words(folded.casefold(), folded=True)
    if excerpt_text and _without_ellipsis(folded) is not None:
        del excerpt_text[-1]  # an excerpt cut short: its last word maybe cut in two
    excerpt = {_stem(w) for w in excerpt_text if w not in _STOP_WORDS}
    title = tuple(sorted(words))
    excerpt_words = tuple(sorted(excerpt))
    head_words = tuple(sorted(head))
    digest = hashlib.blake2b(digest_size=8)
    digest.update(f"{_FORM}\x1e{cut:d}\x1e".encode())
    digest.update("\x1f".join(title).encode("utf-8", "surrogatepass"))
    digest.update(b"\x1e")
    digest.update("\x1f".join(excerpt_words).encode("utf-8", "surrogatepass"))
    digest.update(b"\x1e")
    digest.update("\x1f".join((*head_words, "\x1e", *start)).encode("utf-8", "surrogatepass"))
    return Fingerprint(
        title=title,
        numbers=tuple(w for w in title if _has_digit(w) and not w.endswith(ELLIPSIS)),
        excerpt=excerpt_words,
        excerpt_numbers=tuple(w for w in excerpt_words if _has_digit(w)),
        digest=digest.hexdigest(),
        head=head_words,
        cut=cut,
        start=start,
    )


#: what fingerprints hold and how they are compared: in each digest, so pairs cached by
#: an earlier version are not reused
_FORM = "2"


def _has_digit(word: str) -> bool:
    return not word.isalpha() and any(c.isdigit() for c in _base(word))


def title_words(title: str) -> frozenset[str]:
    """The words of a title as near-duplicate detection compares them (see `title_parts`)."""
    return frozenset(_title_parts(title)[0])


def title_parts(title: str) -> tuple[frozenset[str], frozenset[str], bool]:
    """A title's words, those before its subtitle and whether it was cut short (see
    `_title_parts`)."""
    words, head, cut, _ = _title_parts(title)
    return words, head, cut


def _title_parts(title: str) -> tuple[frozenset[str], frozenset[str], bool, tuple[str, ...]]:
    """A title's words, those before its subtitle (empty without one, or when fewer
    than `MIN_HEAD_WORDS`), and whether it was cut short with an ellipsis.

    Case, quotes, dashes and Unicode compatibility forms are folded; an outlet's
    prefix and suffix are dropped; a word repeated counts once per time it appears
    ("apps" twice: "app" and "app_2"), so swapping one of them shows. A title cut short
    keeps its words, the last marked as maybe cut in two, when it had at least
    `MIN_KEPT_WORDS`. Last, its first `MIN_ALONE_WORDS` whole words in order."""
    text = _fold(title).casefold()
    text = _PREFIX.sub("", text)
    for _ in range(2):
        suffix = _SUFFIX.search(text)
        if not suffix or len(suffix.group(1).split()) > _SUFFIX_WORDS:
            break
        if len(text[: suffix.start()].split()) < 3:
            break
        text = text[: suffix.start()]
    cut = False
    kept = _without_ellipsis(text)
    if kept is not None:
        text = kept
        cut = True
    words = _title_sequence(text)
    stub = ""
    if cut:
        if len(text.split()) >= MIN_KEPT_WORDS and len(words) >= 2:
            stub = words.pop() + ELLIPSIS  # maybe cut in two: matched as a word's start
        else:
            cut = False
    head: list[str] = []
    subtitle = _SUBTITLE.search(text)
    if subtitle:  # found in what was kept of a cut title: the head is whole
        head = _title_sequence(text[: subtitle.start()])
    if len(head) < MIN_HEAD_WORDS or len(head) >= len(words):
        head = []
    counted = frozenset(_counted(words)) | ({stub} if stub else set())
    start = tuple(words[:MIN_ALONE_WORDS])
    return counted, frozenset(_counted(head)), cut, start


def _without_ellipsis(text: str) -> str | None:
    """`text` before the ellipsis it ends with (after NFKC, "..." or more dots, maybe
    with whitespace around): a title or excerpt cut short; None when there is none."""
    end = text.rstrip()
    return end.rstrip(".").rstrip() if end.endswith("...") else None


def _title_sequence(text: str) -> list[str]:
    found = []
    for word in _words(text, folded=True):
        word = _RESPELL.get(word, word)
        if word not in _STOP_WORDS and word not in _EXCHANGES:
            found.append(_stem(word))
    return found


def _counted(words: Iterable[str]) -> Iterator[str]:
    """Each word, and a repeated one again with its count ("app", "app_2")."""
    seen: Counter[str] = Counter()
    for word in words:
        seen[word] += 1
        yield word if seen[word] == 1 else f"{word}_{seen[word]}"


def _base(word: str) -> str:
    """A word without the count `_counted` gave it."""
    return word.partition("_")[0]


def _fold(text: str) -> str:
    if text.isascii():  # NFKC keeps ASCII as it is; of `_FOLD`, only "`" is ASCII
        return text.replace("`", "'")
    if "\u00e2\u20ac" in text:
        for bad, good in _MOJIBAKE:
            text = text.replace(bad, good)
    return unicodedata.normalize("NFKC", text).translate(_FOLD)


_POSSESSIVE = re.compile(r"'s\b")


def _words(text: str, folded: bool = False) -> list[str]:
    text = (text if folded else _fold(text).casefold()).replace(".", "")
    text = _POSSESSIVE.sub("", text)
    if "united" in text or "intelligence" in text or "union" in text:
        text = _PHRASES.sub(lambda m: _PHRASE[m.group()], text)
    return _WORD.findall(text)


_WORD = re.compile(r"[^\W_]+")


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


#: words that tell announcements apart (besides those learned, see `distinguishing`):
#: months, days, release stages, platforms. Two titles that differ in one are
#: another story unless their excerpts are near-identical.
_DISTINGUISHING_WORDS = """
    january february march april june july august september october november december
    jan feb mar apr jun jul aug sep sept oct nov dec
    monday tuesday wednesday thursday friday saturday sunday
    preview beta alpha ga availability generally rc experimental deprecated retired
    windows macos mac osx ios ipados android linux iphone ipad xbox playstation
    chromeos chromebook watchos tvos
"""
DISTINGUISHING = frozenset(_stem_of(w) for w in _DISTINGUISHING_WORDS.split())
#: excerpts whose weighted overlap reaches this are near-identical: one text, syndicated
NEAR_IDENTICAL = 0.9
#: a title cut short or without its subtitle is one story with the whole title when
#: their excerpts overlap this much (a syndicated excerpt, lightly edited or cut)
PARTIAL_EXCERPT = 0.8


def articles_weighed(documents: int) -> int:
    """The count of articles the weights of a period of `documents` articles are taken
    over: `documents` + 1, `in_steps`."""
    return in_steps(documents + 1)


def in_steps(count: int) -> int:
    """`count` rounded up to a step of 1/64 to 1/32 of it (exact up to 64): what the
    weights of a period take its counts of articles and of the articles of each word
    as (see `Weights`)."""
    step = 1 << max(0, count.bit_length() - _WEIGHT_STEP_BITS)
    return -(-count // step) * step


#: `in_steps` rounds to a step of a 2 ** (bits - 1)th of the count at most
_WEIGHT_STEP_BITS = 6
#: how pairs are scored, in the forms of what keeps pairs and their scores (the tables of
#: the state, `paircache`): those scored otherwise by an earlier version are found again
SCORING = "2: weights over counts in steps"


class Weights:
    """Inverse document frequency of words over the articles of a period: a shared
    rare word (a name, a product) says more than a shared common one ("new", "said").

    The counts it is taken from, of the period's articles and of those with each word,
    move in steps (`in_steps`): an article more or less moves the weights of its rarer
    words alone, and of a common one only when its count crosses a step. Were every
    weight to move with the count of articles, a daemon's build after a new file would
    make the keys of every article of its zones again (`keep_sweeps`) and move the
    score of every pair, whose stories it would then write again. A count is rounded up
    by less than 1/32 of it."""

    def __init__(
        self, frequency: Counter[str], documents: int, distinct: frozenset[str] = frozenset()
    ) -> None:
        total = articles_weighed(documents)
        #: what they were made from (see `SweepPart`)
        self.counts = frequency
        # (words share few counts: each count's weight is worked out once)
        by_count = {count: math.log(1 + total / in_steps(count)) for count in {*frequency.values()}}
        self.idf = {word: by_count[count] for word, count in frequency.items()}
        #: the articles they were made from
        self.documents = documents
        #: the count of articles the weights are taken over (see `articles_weighed`)
        self.weighed = total
        #: words that tell announcements apart here (see `distinguishing`)
        self.distinct = distinct | DISTINGUISHING
        self._order: dict[str, tuple[float, str]] | None = None

    @property
    def order(self) -> dict[str, tuple[float, str]]:
        """Each word's place among the others, rarest first (then by the word)."""
        if self._order is None:
            self._order = {word: (-value, word) for word, value in self.idf.items()}
        return self._order

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
class Slots:
    """Titles of a period with one word left out (a slot) and the word seen in its
    place, how often each word was seen in a slot filled more than once, and in how
    many titles each word is."""

    once: dict[tuple[str, ...], str]
    more: dict[tuple[str, ...], Counter[str]]
    titles: Counter[str]


def slots(prints: Iterable[Fingerprint]) -> Slots:
    """Each title (of at least three words, not cut) with one word left out, and the
    words seen in its place: titles alike but for one word ("April 2021 Power Apps
    Community Call", "April 2021 Power Automate Community Call") fill a slot twice."""
    once: dict[tuple[str, ...], str] = {}
    more: dict[tuple[str, ...], Counter[str]] = {}
    titles: Counter[str] = Counter()
    for item in prints:
        titles.update(item.title)
        for key, word in _slotted(item):
            _fill(once, more, key, word, 1)
    return Slots(once, more, titles)


def _slotted(item: Fingerprint) -> Iterator[tuple[tuple[str, ...], str]]:
    """The slots of a title (of at least three words, not cut) and the word in each."""
    title = item.title
    if len(title) < 3 or item.cut:
        return
    for i, word in enumerate(title):
        if word.isalpha() or not _has_digit(word):  # numbers tell stories apart anyway
            yield title[:i] + title[i + 1 :], word


def _fill(
    once: dict[tuple[str, ...], str],
    more: dict[tuple[str, ...], Counter[str]],
    key: tuple[str, ...],
    word: str,
    times: int,
) -> None:
    found = more.get(key)
    if found is not None:
        found[word] += times
        return
    first = once.pop(key, None)
    if first is None and times == 1:
        once[key] = word  # the common case: a slot filled once
        return
    found = more[key] = Counter({word: times})
    if first is not None:
        found[first] += 1


def distinguishing(*periods: Slots) -> frozenset[str]:
    """The words learned to tell stories apart in these periods: those that take turns
    in otherwise identical titles, and that are in other titles too (a typo or a
    one-off respelling is not). Syndication rewords a headline with many edits or
    none; a single word swapped in a headline otherwise the same (a product, a month,
    a platform, a stage) is what tells one announcement from the next. Depends on the
    set of titles only, not on their order; a word repeated in a title counts as
    itself ("app_2" as "app")."""
    found: set[str] = set()
    for words, titles in _taking_turns(periods):
        found.update(_base(w) for w, seen in words.items() if titles(w) > seen)
    return frozenset(found)


def _taking_turns(
    periods: Sequence[Slots],
) -> Iterator[tuple[Mapping[str, int], Callable[[str], int]]]:
    """The slots of these periods' titles filled by more than one word (each word and
    how often), with how many titles each word is in: as if the periods' titles were
    learned together, without merging every slot. A slot filled once in one period
    and in no other stays filled once: only the slots filled more than once somewhere,
    and those filled once in two periods or more, are looked at."""
    if len(periods) == 1:
        (only,) = periods
        titled = only.titles.__getitem__
        yield from ((words, titled) for words in only.more.values() if len(words) > 1)
        return

    def titles(word: str) -> int:
        return sum(period.titles[word] for period in periods)

    keys = {key for period in periods for key in period.more}
    for i, first in enumerate(periods):
        for second in periods[i + 1 :]:
            keys.update(first.once.keys() & second.once.keys())
    for key in keys:
        # A slot of one period alone is its counts as they are (most of them): only
        # those of several are added up, in counts of their own.
        words: Mapping[str, int] | None = None
        added: Counter[str] | None = None
        for period in periods:
            counted: Mapping[str, int] | None = period.more.get(key)
            if counted is None:
                word = period.once.get(key)
                if word is None:
                    continue
                counted = {word: 1}
            if words is None:
                words = counted
                continue
            if added is None:
                added = words = Counter(words)
            added.update(counted)
        if words is not None and len(words) > 1:
            yield words, titles


@dataclass(frozen=True, slots=True)
class _Sets:
    """One article's fingerprint as sets, made while it is within the window."""

    title: frozenset[str]
    numbers: frozenset[str]
    excerpt: frozenset[str]
    excerpt_numbers: frozenset[str]
    head: frozenset[str]
    cut: bool
    start: tuple[str, ...]
    #: the last word of a cut title, maybe cut in two (without `ELLIPSIS`), and the others
    stub: str
    kept: frozenset[str]
    #: summed weights of the title and of the excerpt words
    title_total: float
    excerpt_total: float
    #: the rarest title words, one of which a title reaching the threshold by its words
    #: shares; and at `_text_floor`, one of which a title reaching it with its excerpt
    #: shares when neither title is the other with words added or dropped
    title_prefix: frozenset[str]
    text_prefix: frozenset[str]
    #: the rarest excerpt words, one of which an excerpt overlapping this one enough to
    #: reach the threshold shares when this excerpt is the lighter (see `_may_reach`):
    #: at `_excerpt_floor`, and at the higher `_swapped_floor`
    excerpt_prefix: frozenset[str]
    excerpt_tight: frozenset[str]

    @classmethod
    def of(cls, item: Fingerprint, title: _Keys, excerpt: _Keys) -> _Sets:
        stub = next((w for w in item.title if w.endswith(ELLIPSIS)), "") if item.cut else ""
        words = frozenset(item.title)
        return cls(
            words,
            frozenset(item.numbers),
            frozenset(item.excerpt),
            frozenset(item.excerpt_numbers),
            frozenset(item.head),
            item.cut,
            item.start,
            stub[:-1],
            words - {stub},
            title.total,
            excerpt.total,
            frozenset(title.first),
            frozenset(title.second),
            frozenset(excerpt.first),
            frozenset(excerpt.second),
        )


@dataclass(frozen=True, slots=True)
class _Keys:
    """Words an article is indexed under in a sweep, for a threshold: the rarest of its
    title at the threshold (`_Sets.title_prefix`) and at `_text_floor`
    (`_Sets.text_prefix`), and its rarest title word; or the rarest of its excerpt at
    `_excerpt_floor` and at `_swapped_floor` (`_Sets.excerpt_prefix`,
    `_Sets.excerpt_tight`). With the title's or the excerpt's weight."""

    first: list[str]
    second: list[str]
    total: float
    rarest: str = ""

    @classmethod
    def of_title(
        cls, item: Fingerprint, weight: Weights, title_total: float, threshold: float
    ) -> _Keys:
        needed = (threshold * title_total, _text_floor(threshold) * title_total)
        ordered, (first, second) = _prefixes(item.title, weight, *needed)
        return cls(first, second, title_total, ordered[0] if ordered else "")

    @classmethod
    def of_excerpt(cls, item: Fingerprint, weight: Weights, threshold: float) -> _Keys:
        total = weight.total(item.excerpt)
        needed = (_excerpt_floor(threshold) * total, _swapped_floor(threshold) * total)
        _, (rarest, tight) = _prefixes(item.excerpt, weight, *needed)
        return cls(rarest, tight, total)


def _text_floor(threshold: float) -> float:
    """The lowest title similarity with which two titles, neither the other with words
    added or dropped, can reach `threshold` with their excerpts: with an excerpt
    similarity of 1.0 at best, and the title similarity lowered for a swapped word."""
    return (threshold - (1 - TITLE_WEIGHT)) / TITLE_WEIGHT / SUBSTITUTION_FACTOR


def _excerpt_floor(threshold: float) -> float:
    """The lowest excerpt similarity with which a pair can reach `threshold`: with a
    title similarity of 1.0 at best."""
    return (threshold - TITLE_WEIGHT) / (1 - TITLE_WEIGHT)


def _swapped_floor(threshold: float) -> float:
    """The lowest excerpt similarity with which two articles can reach `threshold` when
    neither title is the other with words added or dropped (nor part of it): their title
    similarity is lowered for a swapped word, so `SUBSTITUTION_FACTOR` at best."""
    return (threshold - TITLE_WEIGHT * SUBSTITUTION_FACTOR) / (1 - TITLE_WEIGHT)


def _may_reach(a: _Sets, b: _Sets, swapped: bool, titled: bool) -> bool:
    """Whether two articles may score the threshold their sets were made for: what
    every such pair passes, checked with a few set operations before `_score`.

    A pair reaches it (see `_score`) by the same words; by one title being part of the
    other (cut short or without its subtitle, `_part_of`); by its titles alone, when one
    is the other with words added or dropped (or, with `swapped`, when a threshold at most
    `SUBSTITUTION_FACTOR` lets titles with a word swapped reach it too) and their
    weighted Jaccard index reaches the threshold, so that they share one of the rarest
    words of each, `title_prefix`; or by its excerpts, both of `MIN_EXCERPT_WORDS` and
    overlapping by at least `_excerpt_floor` of the lighter one, so that they share
    one of its `excerpt_prefix`. When neither title is the other with words added or
    dropped, the excerpts must overlap by `_swapped_floor` (`excerpt_tight`) and, with
    `titled` (a threshold above `_text_floor`'s zero), the titles share one of the
    rarest words of each at `_text_floor` (`text_prefix`)."""
    if a.title == b.title and a.excerpt == b.excerpt:
        return True
    if (a.cut or b.cut or a.head or b.head) and (_part_of(a, b) or _part_of(b, a)):
        return True
    edited = not (a.cut or b.cut) and (a.title <= b.title or b.title <= a.title)
    if (swapped or edited) and not a.title_prefix.isdisjoint(b.title_prefix):
        return True
    if len(a.excerpt) < MIN_EXCERPT_WORDS or len(b.excerpt) < MIN_EXCERPT_WORDS:
        return False
    lighter, other = (a, b) if a.excerpt_total <= b.excerpt_total else (b, a)
    if edited:
        return not lighter.excerpt_prefix.isdisjoint(other.excerpt)
    return not lighter.excerpt_tight.isdisjoint(other.excerpt) and (
        not titled or not a.text_prefix.isdisjoint(b.text_prefix)
    )


def pair_score(a: Fingerprint, b: Fingerprint, weight: Weights, threshold: float) -> float:
    """The score of two articles under `weight`, as a sweep for `threshold` gives it
    to a pair it compares (0.0 when it is out of reach)."""
    sets = [
        _Sets.of(
            item,
            _Keys.of_title(item, weight, weight.total(item.title), threshold),
            _Keys.of_excerpt(item, weight, threshold),
        )
        for item in (a, b)
    ]
    return _score(sets[0], sets[1], weight, threshold)


def _part_of(a: _Sets, b: _Sets) -> bool:
    """Title `a` is title `b` cut short, or `b` without its subtitle: its words are all
    b's, and both start with the same words in the same order."""
    if a.start != b.start[: len(a.start)] or a.title == b.title:
        return False
    if (
        a.cut
        and a.kept <= b.title
        and (a.stub in _STOP_PREFIXES or any(w.startswith(a.stub) for w in b.title))
    ):
        return True
    return bool(b.head) and b.head == a.title


def _score(a: _Sets, b: _Sets, weight: Weights, at_least: float) -> float:
    """Similarity of two articles in [0, 1], one story at the threshold and above.
    0.0 as soon as `at_least` is out of reach."""
    if not a.title or not b.title:
        return 0.0
    if a.title == b.title and a.excerpt == b.excerpt:
        return 1.0  # the same words: a copy (and the common case in a syndicated corpus)
    part = None
    if a.cut or b.cut or a.head or b.head:
        part = (a, b) if _part_of(a, b) else (b, a) if _part_of(b, a) else None
    partial = part is not None
    if part is not None:
        title, edited = 1.0, True
        # another version, date or figure
        distinct = not part[0].numbers <= part[1].numbers
    else:
        only_a, only_b = a.title - b.title, b.title - a.title
        # A cut title that is not the start of the other says nothing by its missing
        # words: the two are compared as if a word were swapped.
        edited = (not only_a or not only_b) and not (a.cut or b.cut)
        differing = only_a | only_b
        learned = DISTINGUISHING if edited else weight.distinct
        distinct = (
            a.numbers != b.numbers
            or not differing.isdisjoint(learned)
            or any("_" in w and _base(w) in learned for w in differing)
        )
        shared = weight.total(a.title & b.title)
        union = a.title_total + b.title_total - shared
        title = shared / union if union > 0 else 0.0
        if not edited:
            title *= SUBSTITUTION_FACTOR  # a substituted word says more than an added one
    short = min(len(a.title), len(b.title))
    if len(a.excerpt) >= MIN_EXCERPT_WORDS and len(b.excerpt) >= MIN_EXCERPT_WORDS:
        x, y = a.excerpt_numbers, b.excerpt_numbers
        if x and y and not (x <= y or y <= x):
            return 0.0  # the texts give other figures: another event
        if max(TITLE_WEIGHT * title + (1 - TITLE_WEIGHT), title) < at_least:
            return 0.0
        smaller = min(a.excerpt_total, b.excerpt_total)
        excerpt = weight.total(a.excerpt & b.excerpt) / smaller if smaller > 0 else 0.0
        combined = TITLE_WEIGHT * title + (1 - TITLE_WEIGHT) * excerpt
        if distinct or partial:
            # Titles that differ in a word that tells announcements apart, or a title
            # that may be the start of more than one: one story only when the text is
            # one (syndicated), not two texts written apart.
            near = NEAR_IDENTICAL if distinct else PARTIAL_EXCERPT
            return combined if excerpt >= near else 0.0
        # The same headline (give or take a word) in the same days is the same story
        # even when each outlet wrote its own excerpt; unless it is too short to say.
        return max(combined, title) if edited and short >= MIN_ALONE_WORDS else combined
    return 0.0 if distinct or (partial and short < MIN_ALONE_WORDS) else title


def _prefixes(
    words: Sequence[str], weight: Weights, *needed: float
) -> tuple[list[str], list[list[str]]]:
    """`words`, rarest first, and for each of `needed` the rarest of them up to where the
    rest weigh less than it (a prefix).

    Two titles whose weighted Jaccard similarity reaches a floor share a word in their
    prefixes at that floor (the rarest shared word), so probing prefixes misses no pair.
    """
    idf = weight.idf
    try:
        ordered = sorted(words, key=weight.order.__getitem__)
        values = list(map(idf.__getitem__, ordered))
    except KeyError:  # words these weights were not made from weigh nothing
        ordered = sorted(words, key=lambda w: (-idf.get(w, 0.0), w))
        values = [idf.get(w, 0.0) for w in ordered]
    total = sum(values)
    found = []
    for floor in needed:
        # The sum, less what was taken, may round below a total exactly at `floor`.
        floor -= _SLACK * total
        remaining = total
        taken = 0
        for value in values:
            if remaining < floor:
                break
            remaining -= value
            taken += 1
        found.append(ordered[:taken])
    return ordered, found


#: rounding allowed for in `_prefixes`, relative to the weights it sums
_SLACK = 1e-9

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
    digests: Mapping[int, str] | None = None,
) -> dict[int, list[Pair]]:
    """The pairs of each of `zones`; `periods` holds every article (by index in
    `articles`, sorted by `group_periods`) of each period those zones lie in, and
    `digests` those of its periods whose `period_digest` the caller knows.

    The zones not in `cache` are found by `find_zones`, here or, through `runner`, in
    parts (`ZoneWork`s of neighbouring zones, each with the articles it reads) that
    it may hand to other processes: each zone is found from its periods alone, so the
    pairs are the same either way."""
    prints = [_print_of(a) for a in articles]
    known: dict[int, str] = dict(digests or {})

    def digest_of(period: int) -> str:
        if period not in known:
            known[period] = _digest(articles, prints, periods[period])
        return known[period]

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
    works = [_work(part, articles, prints, periods, threshold, window, known) for part in parts]
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
    #: of each period, the digest of its articles (see `zone_pairs`): what was learned
    #: of a period's words is kept by it (`_learned`)
    digests: dict[int, str] = field(default_factory=dict)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Sent to another process as plain tuples and numbers, which pickle about five
        # times faster than the dataclasses and datetimes they stand for.
        times = [(t - _EPOCH) // _MICROSECOND for t in self.times]
        fields = (self.zones, self.periods, self.paths, times, _plain(self.prints))
        return _zone_work, (*fields, self.threshold, self.window, self.digests)


def _plain(prints: list[Fingerprint]) -> list[tuple[Any, ...]]:
    """Fingerprints as tuples, to be sent to another process (`_unplain` there)."""
    return [
        (p.title, p.numbers, p.excerpt, p.excerpt_numbers, p.digest, p.head, p.cut, p.start)
        for p in prints
    ]


def _unplain(prints: list[tuple[Any, ...]]) -> list[Fingerprint]:
    return [
        Fingerprint(p[0], p[1], p[2], p[3], p[4], head=p[5], cut=p[6], start=p[7]) for p in prints
    ]


def _zone_work(
    zones: tuple[int, ...],
    periods: dict[int, list[int]],
    paths: list[str],
    times: list[int],
    prints: list[tuple[Any, ...]],
    threshold: float,
    window: timedelta,
    digests: dict[int, str],
) -> ZoneWork:
    return ZoneWork(
        zones,
        periods,
        paths,
        [_EPOCH + t * _MICROSECOND for t in times],
        _unplain(prints),
        threshold,
        window,
        digests,
    )


_MICROSECOND = timedelta(microseconds=1)

#: finds the pairs of `ZoneWork`s (on other processes, say): one result each, in order
Runner = Callable[[list[ZoneWork]], Iterable[dict[int, list[Pair]]]]

#: a part of the zones to find is about this many articles (or one zone, when more)
_PART_ARTICLES = 10_000
#: toward the end, a part is about this share of the articles left (see `_parts`)...
_PART_SHARE = 4
#: ... but not under this many articles (or one zone): each part reads its first
#: period again (the zone across the boundary with the part before needs it)
_PART_FLOOR = 2_000


def _parts(zones: list[int], periods: dict[int, list[int]]) -> list[list[int]]:
    """`zones` (sorted) in runs of neighbours of about `_PART_ARTICLES` articles each,
    then shorter toward the end: each about a `_PART_SHARE`th of the articles left, but
    not under `_PART_FLOOR`. The parts are found in order, on every process at once, and
    the last ones by whichever is free: when they are short, no process is left
    waiting long for another's last part (at 100,000 articles a part of 10,000 takes
    seconds)."""
    sizes = [len(periods[zone // 2]) if zone % 2 == 0 else 0 for zone in zones]
    left = sum(sizes)
    parts: list[list[int]] = []
    size = goal = 0
    for zone, articles in zip(zones, sizes, strict=True):
        if not parts or size >= goal:
            parts.append([])
            size = 0
            goal = min(_PART_ARTICLES, max(left // _PART_SHARE, _PART_FLOOR))
        parts[-1].append(zone)
        size += articles
        left -= articles
    return parts


def _work(
    zones: list[int],
    articles: Sequence[Dated],
    prints: list[Fingerprint],
    periods: dict[int, list[int]],
    threshold: float,
    window: timedelta,
    digests: dict[int, str],
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
        {p: digests[p] for p in needed if p in digests},
    )


def find_zone_works(works: list[ZoneWork], _limits: object) -> list[dict[int, list[Pair]]]:
    """`find_zones` of each of `works`: the task a worker process runs (see
    `loader.map_in_processes`), in this light module so a worker imports little."""
    return [find_zones(work) for work in works]


def find_zones(work: ZoneWork, split: Split | None = None) -> dict[int, list[Pair]]:
    """The pairs of each zone of `work`; with `split`, the zone of a period of at least
    `SPLIT_ARTICLES` articles is swept in two parts: `split` may run the first, with the
    work's other zones, on another process while this one sweeps the second (see
    `_split`)."""
    periods, times, window = work.periods, work.times, work.window
    length = period_length(window)
    counts: dict[int, Counter[str]] = {}
    learned: dict[int, Slots] = {}

    def frequency(period: int) -> Counter[str]:
        if period not in counts:
            counts[period] = _learned(work, period)[0]
        return counts[period]

    def slots_of(period: int) -> Slots:
        if period not in learned:
            learned[period] = _learned(work, period)[1]
        return learned[period]

    # Each zone's sweep: its weights, the articles it sweeps (by date), and with those
    # of a boundary, the articles of its first period (a pair has one on each side).
    sweeps: list[tuple[int, Weights, list[int], frozenset[int] | None]] = []
    for zone in work.zones:
        period = zone // 2
        members = periods[period]
        if zone % 2 == 0:
            weight = Weights(frequency(period), len(members), distinguishing(slots_of(period)))
            sweeps.append((zone, weight, members, None))
        else:
            following = periods[period + 1]
            weight = Weights(
                frequency(period) + frequency(period + 1),
                len(members) + len(following),
                distinguishing(slots_of(period), slots_of(period + 1)),
            )
            start = _EPOCH + (period + 1) * length
            edge = [i for i in members if times[i] >= start - window]
            edge += [i for i in following if times[i] <= start + window]
            sweeps.append((zone, weight, edge, frozenset(members)))
    micros = [(t - _EPOCH) // _MICROSECOND for t in times]
    kept = len(work.zones) <= _KEPT_ZONES  # else the last would push the first out
    # A period swept lately, a few of its articles changed since: their pairs alone.
    again: dict[int, list[tuple[int, int, float]]] = {}
    if kept and _KEPT is not None:
        for zone, weight, order, across in sweeps:
            found = _swept_again(work, zone, weight, order, micros, across)
            if found is not None:
                again[zone] = found
    rest = [sweep for sweep in sweeps if sweep[0] not in again]
    large = [
        zone
        for zone, _weight, order, across in rest
        if split is not None and across is None and len(order) >= SPLIT_ARTICLES
    ]
    if split is not None and large:
        got = _split(work, rest, set(large), micros, kept, split)
    else:
        got = []
        for zone, weight, order, across in rest:
            sweep = _Sweep(work, weight, micros, zone if kept else None)
            got.append(sweep.pairs(order, across=across))
            sweep.keep()
    again.update(zip([zone for zone, _weight, _order, _across in rest], got, strict=True))
    paths = work.paths
    found_zones = {
        zone: [(paths[i], paths[j], value) for i, j, value in again[zone]]
        for zone, _weight, _order, _across in sweeps
    }
    if kept and _KEPT is not None:
        for zone, weight, order, _across in sweeps:
            swept = {paths[i]: (micros[i], work.prints[i]) for i in order}
            if len(swept) == len(order):  # (articles told apart by their paths)
                key = (zone, work.threshold, work.window)
                _keep_swept(key, weight, swept, found_zones[zone])
    return found_zones


@dataclass(frozen=True, slots=True)
class _Swept:
    """A zone (a period's or a boundary's) as it was last swept (see `_swept_again`):
    its weights, its articles (by path: the time in microseconds and the fingerprint)
    and its pairs."""

    weight: Weights
    members: dict[str, tuple[int, Fingerprint]]
    pairs: list[Pair]


#: the zones swept lately (at most `_KEPT_ZONES`, by zone, threshold and window,
#: as `_KEPT`), while `keep_sweeps` is on
_SWEPT: dict[tuple[int, float, timedelta], _Swept] = {}
#: a sweep again looks at most at this many pairs an article of the zone (those of the
#: articles changed, see `_swept_again`), or sweeps it whole
_PAIRS_AGAIN = 2


def _keep_swept(
    key: tuple[int, float, timedelta],
    weight: Weights,
    members: dict[str, tuple[int, Fingerprint]],
    pairs: list[Pair],
) -> None:
    with _KEPT_LOCK:
        _SWEPT.pop(key, None)
        while len(_SWEPT) >= _KEPT_ZONES:
            del _SWEPT[next(iter(_SWEPT))]  # the zone swept longest ago
        _SWEPT[key] = _Swept(weight, members, pairs)


def _swept_again(
    work: ZoneWork,
    zone: int,
    weight: Weights,
    order: list[int],
    micros: list[int],
    across: frozenset[int] | None = None,
) -> list[tuple[int, int, float]] | None:
    """The pairs of a zone (its articles in `order`, by date; of a boundary, those of
    one article in `across` and one not) as a sweep finds them, in its order, from those
    of its last sweep (`_SWEPT`) when few of its articles changed since; None when there
    is no last sweep to start from, or many changed.

    A pair's score depends on its two articles and on the weights of their words alone
    (and on the words that tell announcements apart, the same here). So the pairs of
    the articles that stayed, none of whose words weighs otherwise now, are the last
    sweep's; those of the others (changed, new, or with a word whose weight moved) are
    found by looking each up by its words among the articles within its window, as the
    sweep would (`_touching`), or at a threshold so low that titles of one story need
    not share a word, by scoring it with every one of them; then scored as the sweep
    scores the pairs its words lead it to (it finds every pair reaching the threshold)."""
    with _KEPT_LOCK:
        last = _SWEPT.get((zone, work.threshold, work.window))
    if (
        last is None
        or last.weight.weighed != weight.weighed
        or last.weight.distinct != weight.distinct
    ):
        return None
    before, now = last.weight.idf, weight.idf
    moved = {word for word, value in now.items() if before.get(word) != value}
    moved.update(before.keys() - now.keys())
    prints, paths, members = work.prints, work.paths, last.members
    touched: list[int] = []  # positions in `order`
    for position, i in enumerate(order):
        item = prints[i]
        known = members.get(paths[i])
        if (
            known is None
            or known[0] != micros[i]
            or not (known[1] is item or known[1] == item)
            or not moved.isdisjoint(item.title)
            or not moved.isdisjoint(item.excerpt)
        ):
            touched.append(position)
    at = {paths[i]: i for i in order}
    if len(at) < len(order):
        return None  # two articles of one path: not told apart
    threshold = work.threshold
    sift = _excerpt_floor(threshold) > 0
    swapped = threshold <= SUBSTITUTION_FACTOR
    titled = _text_floor(threshold) > 0
    sweep = _Sweep(work, weight, micros, zone)
    present = {prints[i].digest for i in order}
    times = [micros[i] for i in order]
    span = work.window // _MICROSECOND
    limit = len(order) * _PAIRS_AGAIN  # (a sweep scores fewer)
    if titled:
        scored = _touching(sweep, order, touched, times, span, limit)
    else:
        scored = _within_window(prints, order, touched, times, span, limit)
    if scored is None:
        sweep.keep(present)  # (for the sweep of the whole zone, which takes it)
        return None
    if across is not None:
        scored = {(a, b) for a, b in scored if (a in across) != (b in across)}
    out = {paths[order[position]] for position in touched}
    out.update(path for path in members if path not in at)
    found = [
        (min(at[a], at[b]), max(at[a], at[b]), value)
        for a, b, value in last.pairs
        if a not in out and b not in out
    ]
    for earlier, later in scored:
        if not prints[earlier].title:
            continue
        sets, other = sweep._of(later), sweep._of(earlier)
        if sift and not _may_reach(sets, other, swapped, titled):
            continue
        value = _score(sets, other, weight, threshold)
        if value >= threshold:
            found.append((earlier, later, value))
    sweep.keep(present)
    # (a sweep finds them by the later article, then the earlier one)
    found.sort(key=lambda pair: (pair[1], pair[0]))
    return found


def _windows(positions: list[int], times: list[int], span: int) -> list[tuple[int, int]]:
    """Of each of `positions` (in a zone's `order`, whose articles' `times` those are),
    the positions of the articles within the window of it: from the first to before
    the last (its ends are in it, as in a sweep)."""
    return [
        (
            bisect.bisect_left(times, times[position] - span),
            bisect.bisect_right(times, times[position] + span),
        )
        for position in positions
    ]


def _within_window(
    prints: list[Fingerprint],
    order: list[int],
    touched: list[int],
    times: list[int],
    span: int,
    limit: int,
) -> set[tuple[int, int]] | None:
    """Each pair of an article at one of the `touched` positions of `order` and one
    within the window, as (earlier, later) articles; None when more than `limit`."""
    scored: set[tuple[int, int]] = set()
    for position, (start, end) in zip(touched, _windows(touched, times, span), strict=True):
        i = order[position]
        if not prints[i].title:
            continue  # scores nothing (see `_score`)
        scored.update((order[q], i) for q in range(start, position))
        scored.update((i, order[q]) for q in range(position + 1, end))
        if len(scored) > limit:
            return None
    return scored


def _touching(
    sweep: _Sweep,
    order: list[int],
    touched: list[int],
    times: list[int],
    span: int,
    limit: int,
) -> set[tuple[int, int]] | None:
    """The pairs a sweep of `order` (at a threshold where titles of one story share a
    word: `_text_floor` above zero) would score of an article at one of the `touched`
    positions and one within its window, as (earlier, later) articles; None when more
    than `limit`.

    A sweep finds a pair, its later article looking up the words of the earlier ones,
    when (see `_Sweep.pairs`) their titles or heads are the same or one's is the
    other's head, the rarest title word of one (of the words kept of a cut title) is in
    the other's title, or, with both excerpts, their titles share a word of their
    `text_prefix`. Each of these is the same whichever is the later: the articles
    within the windows of those touched are indexed so, and each touched one looks up
    its own."""
    windows = _windows(touched, times, span)
    indexed: set[int] = set()
    for start, end in windows:
        indexed.update(range(start, end))
    prints, idf = sweep.prints, sweep.weight.idf
    every: defaultdict[str, list[int]] = defaultdict(list)
    leads: defaultdict[str, list[int]] = defaultdict(list)
    texts: defaultdict[str, list[int]] = defaultdict(list)
    titles: defaultdict[tuple[str, ...], list[int]] = defaultdict(list)
    heads: defaultdict[tuple[str, ...], list[int]] = defaultdict(list)
    lead_of: dict[int, str] = {}
    for position in sorted(indexed):
        item = prints[order[position]]
        if not item.title:
            continue  # scores nothing (see `_score`)
        keys = sweep._keys_of(order[position])
        lead = lead_of[position] = _cut_lead(item, idf) if item.cut else keys.rarest
        leads[lead].append(position)
        for word in item.title:
            every[word].append(position)
        if len(item.excerpt) >= MIN_EXCERPT_WORDS:
            for word in keys.second:
                texts[word].append(position)
        titles[item.title].append(position)
        if item.head:
            heads[item.head].append(position)
    scored: set[tuple[int, int]] = set()
    for position, (start, end) in zip(touched, windows, strict=True):
        i = order[position]
        item = prints[i]
        if not item.title:
            continue
        found: set[int] = set(every.get(lead_of[position], ()))
        for word in item.title:
            found.update(leads.get(word, ()))
        if len(item.excerpt) >= MIN_EXCERPT_WORDS:
            for word in sweep._keys_of(i).second:
                found.update(texts.get(word, ()))
        for shape in (item.title, item.head) if item.head else (item.title,):
            found.update(titles.get(shape, ()))
            found.update(heads.get(shape, ()))
        for other in found:
            if start <= other < end and other != position:
                earlier, later = sorted((other, position))
                scored.add((order[earlier], order[later]))
        if len(scored) > limit:
            return None
    return scored


def _cut_lead(item: Fingerprint, idf: Mapping[str, float]) -> str:
    """The rarest word kept of a cut title (not the last, maybe cut in two): a cut title
    is looked up, and indexed, by it (see `_Sweep.pairs`)."""
    kept = [w for w in item.title if not w.endswith(ELLIPSIS)] or item.title
    return min(kept, key=lambda w: (-idf.get(w, 0.0), w))


#: a period of this many articles or more is swept in two parts at once, when a
#: `find_zones` is given a way to (a daemon's helper process: a new file's period,
#: about 3,000 articles at 100,000 files, is most of its build)
SPLIT_ARTICLES = 1_000


@dataclass(frozen=True, slots=True)
class SweepPart:
    """Part of the sweep of one zone (`_Sweep.pairs` over `order`, probed from
    `probed_from`; with `across`, only pairs of one article in it and one not), with
    all it reads: the fingerprints and times (in microseconds) of the articles of
    `order`, by their index in a work of `size` articles, and the zone's weights (their
    counts, articles and distinguishing words)."""

    zone: int
    order: list[int]
    probed_from: int
    prints: list[Fingerprint]
    times: list[int]
    size: int
    counts: Counter[str]
    documents: int
    distinct: frozenset[str]
    threshold: float
    window: timedelta
    #: whether the sweep keeps what it makes (`keep_sweeps`), where it runs
    keep: bool
    across: frozenset[int] | None = None
    #: the weights made of the counts, where they were made (not sent: another process
    #: makes them again)
    weight: Weights | None = field(default=None, compare=False, repr=False)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # As `ZoneWork`: plain tuples pickle about five times faster.
        return _sweep_part, (
            self.zone, self.order, self.probed_from, _plain(self.prints), self.times, self.size,
            self.counts, self.documents, self.distinct, self.threshold, self.window, self.keep,
            self.across,
        )  # fmt: skip


def _sweep_part(
    zone: int,
    order: list[int],
    probed_from: int,
    prints: list[tuple[Any, ...]],
    *rest: Any,
) -> SweepPart:
    return SweepPart(zone, order, probed_from, _unplain(prints), *rest)


#: runs the parts of sweeps, one result each, in order: those that another process may
#: run, and those to run here meanwhile (see `find_zones`)
Split = Callable[[list[SweepPart], list[SweepPart]], Iterable[list[tuple[int, int, float]]]]


def _split(
    work: ZoneWork,
    sweeps: list[tuple[int, Weights, list[int], frozenset[int] | None]],
    large: set[int],
    micros: list[int],
    kept: bool,
    split: Split,
) -> list[list[tuple[int, int, float]]]:
    """The pairs of each of `sweeps` (zone, weights, articles by date, and the first
    period's of a boundary), each as one sweep finds them, in the same order. The
    zone of a period in `large` is swept in two parts: the pairs of its first
    articles, and those of the later ones, their sweep begun a `window` before them
    (no pair is further apart), each part making its own keys. `split` may run the
    first parts and the work's other zones on another process while this one runs the
    later parts: the first parts are cut so that both sides sweep about as many
    articles (a sweep's time goes with the articles it reads)."""
    span = work.window // _MICROSECOND
    keep = kept and _KEPT is not None

    def part(
        zone: int,
        weight: Weights,
        order: list[int],
        probed_from: int = 0,
        across: frozenset[int] | None = None,
    ) -> SweepPart:
        return SweepPart(
            zone, order, probed_from, [work.prints[i] for i in order],
            [micros[i] for i in order], len(work.prints), weight.counts, weight.documents,
            weight.distinct, work.threshold, work.window, keep, across, weight,
        )  # fmt: skip

    def begin(order: list[int], middle: int) -> int:
        """Where the sweep of the articles from `middle` on begins."""
        start = micros[order[middle]] - span
        return bisect.bisect_left(order, start, hi=middle, key=micros.__getitem__)

    others = sum(len(order) for zone, _w, order, _a in sweeps if zone not in large)
    sizes = sum(len(order) for zone, _w, order, _a in sweeps if zone in large)
    away: list[SweepPart] = []
    here: list[SweepPart] = []
    firsts: dict[int, SweepPart] = {}
    for zone, weight, order, across in sweeps:
        if zone in large:
            # Half of the articles, less this period's share of the other zones', and
            # plus half of those the later part reads again.
            share = others * len(order) / sizes
            half = len(order) // 2
            again = half - begin(order, half)
            middle = min(max(round((len(order) + again - share) / 2), 1), len(order) - 1)
            firsts[zone] = part(zone, weight, order[:middle])
            start = begin(order, middle)
            here.append(part(zone, weight, order[start:], middle - start))
        else:
            away.append(part(zone, weight, order, across=across))
    away[:0] = firsts.values()
    results = iter(split(away, here))
    first_pairs = {zone: next(results) for zone in firsts}
    other_pairs = iter([next(results) for _ in range(len(away) - len(firsts))])
    return [
        [*first_pairs[zone], *next(results)] if zone in large else next(other_pairs)
        for zone, _weight, _order, _across in sweeps
    ]


def sweep_parts(parts: list[SweepPart], _limits: object) -> list[list[tuple[int, int, float]]]:
    """The pairs of each of `parts` (by the articles' indexes in their work): the task a
    helper process runs (see `find_zones`)."""
    return [_swept(part) for part in parts]


def _swept(part: SweepPart) -> list[tuple[int, int, float]]:
    if part.keep and _KEPT is None:
        keep_sweeps()  # a helper process: what it makes is kept as where it was asked
    prints: list[Any] = [None] * part.size
    times = [0] * part.size
    for i, item, when in zip(part.order, part.prints, part.times, strict=True):
        prints[i] = item
        times[i] = when
    work = ZoneWork((part.zone,), {}, [], [], prints, part.threshold, part.window)
    weight = part.weight
    if weight is None:
        weight = Weights(part.counts, part.documents, part.distinct)
    sweep = _Sweep(work, weight, times, part.zone if part.keep else None)
    found = sweep.pairs(part.order, part.across, part.probed_from)
    sweep.keep()
    return found


def _learned(work: ZoneWork, period: int) -> tuple[Counter[str], Slots]:
    """How often each word is in the articles of a period, and its titles' slots
    (`slots`): kept by the period's digest for the next zones of that period (the
    next build's, in a daemon: a change reads its period's neighbours again)."""
    digest = work.digests.get(period)
    found = _LEARNED.get(digest) if digest is not None else None
    if found is None:
        prints = {
            (work.paths[i], work.prints[i].digest): work.prints[i] for i in work.periods[period]
        }
        found = _changed(_MEMBERS.get(period), prints)
        if found is None:
            found = (_frequency(prints.values()), slots(prints.values()))
        if digest is not None:
            if len(_LEARNED) >= _LEARNED_KEPT:
                del _LEARNED[next(iter(_LEARNED))]  # the oldest
            _LEARNED[digest] = found
            _MEMBERS.pop(period, None)
            if len(_MEMBERS) >= _LEARNED_KEPT:
                del _MEMBERS[next(iter(_MEMBERS))]  # the oldest
            _MEMBERS[period] = (found, prints)
    return found


#: `_learned` of the periods read lately, by digest (each a few MB at 3,000 articles)
_LEARNED: dict[str, tuple[Counter[str], Slots]] = {}
_LEARNED_KEPT = 6
#: the last `_learned` of the periods learned lately (at most `_LEARNED_KEPT`), and the
#: articles it was learned from (by path and fingerprint digest): a daemon's next build
#: of such a period changes a few
_MEMBERS: dict[int, tuple[tuple[Counter[str], Slots], dict[tuple[str, str], Fingerprint]]] = {}
#: at most this many articles in or out of a period are learned from as changes
_FEW_CHANGED = 64


def _changed(
    known: tuple[tuple[Counter[str], Slots], dict[tuple[str, str], Fingerprint]] | None,
    prints: dict[tuple[str, str], Fingerprint],
) -> tuple[Counter[str], Slots] | None:
    """`_frequency` and `slots` of `prints`, from those `known` of other articles when
    few differ (the counts and slots are sums over the articles: those that went are
    taken out, those that came added); None when they are many."""
    if known is None:
        return None
    (frequency, learned), before = known
    gone = [item for key, item in before.items() if key not in prints]
    came = [item for key, item in prints.items() if key not in before]
    if len(gone) + len(came) > _FEW_CHANGED:
        return None
    frequency = frequency.copy()
    for item in gone:
        frequency.subtract(item.title)
        frequency.subtract(item.excerpt)
    for word in {w for item in gone for w in (*item.title, *item.excerpt)}:
        if frequency[word] <= 0:
            del frequency[word]
    for item in came:
        frequency.update(item.title)
        frequency.update(item.excerpt)
    return frequency, _slots_changed(learned, gone, came)


def _slots_changed(
    learned: Slots, gone: Sequence[Fingerprint], came: Sequence[Fingerprint]
) -> Slots:
    """`slots` of the titles `learned` was made of, less those of `gone`, plus `came`'s
    (the slots and counts of `learned` are copied when they change, never changed)."""
    once = dict(learned.once)
    more = dict(learned.more)
    titles = learned.titles.copy()
    copied: set[tuple[str, ...]] = set()

    def own(key: tuple[str, ...]) -> None:
        if key in more and key not in copied:
            more[key] = Counter(more[key])
            copied.add(key)

    for item in gone:
        titles.subtract(item.title)
        for word in item.title:
            if titles[word] <= 0:
                del titles[word]
        for key, word in _slotted(item):
            own(key)
            _unfill(once, more, key, word)
    for item in came:
        titles.update(item.title)
        for key, word in _slotted(item):
            own(key)
            _fill(once, more, key, word, 1)
    return Slots(once, more, titles)


def _unfill(
    once: dict[tuple[str, ...], str],
    more: dict[tuple[str, ...], Counter[str]],
    key: tuple[str, ...],
    word: str,
) -> None:
    """Undo one `_fill(once, more, key, word, 1)`: a slot filled once is in `once`, one
    filled more often in `more`, with how often each word filled it."""
    found = more.get(key)
    if found is None:
        del once[key]
        return
    found[word] -= 1
    if found[word] <= 0:
        del found[word]
    if sum(found.values()) == 1:
        (only,) = found
        once[key] = only
        del more[key]


def _take(
    index: dict[Any, deque[int]],
    key: Any,
    oldest: int,
    times: list[int],
    into: set[int],
) -> deque[int]:
    """The posting of `key` in `index`, without the articles older than `oldest`, after
    adding its articles to `into`."""
    posting = index.get(key)
    if posting is None:
        posting = index[key] = deque()
        return posting
    while posting and times[posting[0]] < oldest:
        posting.popleft()
    into.update(posting)
    return posting


def _print_of(article: Dated) -> Fingerprint:
    if article.fingerprint is not None:
        return article.fingerprint
    if isinstance(article, Article):
        return fingerprint(article)
    raise ValueError(f"{article.path}: no fingerprint")


def period_digest(lines: Iterable[bytes]) -> str:
    """The digest `zone_pairs` makes of a period of articles from their `digest_line`s
    (in the order of `group_periods`), for a caller that knows it before its next
    build."""
    return hashlib.blake2b(b"".join(lines), digest_size=16).hexdigest()


def digest_line(article: Dated) -> bytes:
    """What an article of a period adds to the period's digest (`period_digest`)."""
    prints = _print_of(article)
    return _line(article, prints)


def _line(article: Dated, prints: Fingerprint) -> bytes:
    line = f"{article.path}\0{article.published_at.isoformat()}\0{prints.digest}\n"
    return line.encode("utf-8", "surrogatepass")


def _digest(
    articles: Sequence[Dated], prints: Sequence[Fingerprint], members: Iterable[int]
) -> str:
    return period_digest(_line(articles[i], prints[i]) for i in members)


class _Made:
    """The keys a sweep made of one article's fingerprint, which depend on its words'
    weights alone (see `keep_sweeps`). (Not its sets: five times the memory, for a fifth
    of the time.)"""

    __slots__ = ("excerpt_keys", "item", "keys")

    def __init__(self, item: Fingerprint) -> None:
        self.item = item
        self.keys: _Keys | None = None
        self.excerpt_keys: _Keys | None = None


#: what the last sweep of some zones made of their articles, by zone (its number,
#: threshold and window): the weights it had (their words and articles) and what it made,
#: by fingerprint digest; while `keep_sweeps` is on (else None). About 1 KB an article.
_KEPT: dict[tuple[int, float, timedelta], tuple[Weights, dict[str, _Made]]] | None = None
#: the zones kept: a daemon's build on an event finds the (at most three) zones around
#: the files it names again; a work of more zones (a cold build) keeps none
_KEPT_ZONES = 6
#: held while `_KEPT` is read or changed (builds of two threads may sweep at once)
_KEPT_LOCK = threading.Lock()


def sweeps_kept() -> bool:
    """Whether `keep_sweeps` is on in this process."""
    return _KEPT is not None


def keep_sweeps(on: bool = True) -> None:
    """Keep, in this process, what the last sweep of each zone made of its articles'
    fingerprints (their keys, which depend on their words' weights alone), for the next
    sweep of the zone: a process that finds a zone again after an edit in it (a daemon)
    makes them again only for the articles with a word whose weight moved (a rarer one
    the edit or the new article added or took away, or one whose count crossed a step:
    `in_steps`); for all of them when the count of articles the weights are taken over
    crossed a step (`articles_weighed`: every weight moves).
    The pairs found are the same either way. Off by default: a build that finds each
    zone once would only keep them."""
    global _KEPT
    with _KEPT_LOCK:
        _KEPT = {} if on else None
        _SWEPT.clear()


class _Sweep:
    """Candidate pairs of some articles under one set of word weights."""

    def __init__(
        self, work: ZoneWork, weight: Weights, times: list[int], zone: int | None = None
    ) -> None:
        self.work = work
        #: in microseconds since the epoch: compared far more often than datetimes are
        self.times = times
        self.prints = work.prints
        self.weight = weight
        self.threshold = work.threshold
        self.totals: dict[int, float] = {}
        # Sets and keys of the articles in the sweep's window; others are made on demand.
        self._sets: dict[int, _Sets] = {}
        self._keys: dict[int, _Keys] = {}
        self._excerpt_keys: dict[int, _Keys] = {}
        # The excerpts of the articles since `_excerpts_from` (by every word, and by the
        # rarest), indexed from the first time they are needed (see `_by_excerpt`).
        self._excerpts_from: int | None = None
        self._excerpts: defaultdict[str, deque[int]] = defaultdict(deque)
        self._rare_excerpts: defaultdict[str, deque[int]] = defaultdict(deque)
        # What the last sweep of this zone made that this one may take (`keep_sweeps`):
        # for the articles with none of the words whose weights moved since; and what
        # this one makes, kept for the next.
        self._zone = None if zone is None else (zone, work.threshold, work.window)
        self._last: dict[str, _Made] = {}
        self._moved: frozenset[str] | set[str] = frozenset()
        self._made: dict[int, _Made] = {}
        kept = None
        with _KEPT_LOCK:
            self._kept = _KEPT if self._zone is not None else None
            if self._kept is not None and self._zone is not None:
                kept = self._kept.pop(self._zone, None)
        if kept is not None and kept[0].weighed == weight.weighed:
            before, now = kept[0].idf, weight.idf
            moved = {word for word, value in now.items() if before.get(word) != value}
            self._moved = moved | (before.keys() - now.keys())
            self._last = kept[1]

    def keep(self, present: set[str] | None = None) -> None:
        """Keep what this sweep made for the next sweep of its zone (`keep_sweeps`);
        with the fingerprint digests of the articles `present` in the zone, also what
        the last sweep made of those this one did not look at (`_swept_again`), none
        of whose words weighs otherwise now."""
        kept = self._kept
        if kept is None or self._zone is None:
            return
        made = {made.item.digest: made for made in self._made.values()}
        if present is not None:
            moved = self._moved
            made = {
                **{
                    digest: entry
                    for digest, entry in self._last.items()
                    if digest in present
                    and moved.isdisjoint(entry.item.title)
                    and moved.isdisjoint(entry.item.excerpt)
                },
                **made,
            }
        with _KEPT_LOCK:
            while len(kept) >= _KEPT_ZONES:
                del kept[next(iter(kept))]  # the zone kept longest ago
            kept[self._zone] = (self.weight, made)

    def _made_of(self, i: int) -> _Made | None:
        """What this sweep makes of article `i` (None when nothing is kept), begun with
        what the last sweep of the zone made of the same fingerprint when none of its
        words weighs otherwise now."""
        if self._kept is None:
            return None
        made = self._made.get(i)
        if made is None:
            item = self.prints[i]
            made = self._last.get(item.digest)
            moved = self._moved
            if (
                made is None
                or not (made.item is item or made.item == item)
                or not moved.isdisjoint(item.title)
                or not moved.isdisjoint(item.excerpt)
            ):
                made = _Made(item)
            self._made[i] = made
        return made

    def _total(self, i: int) -> float:
        found = self.totals.get(i)
        if found is None:
            found = self.totals[i] = self.weight.total(self.prints[i].title)
        return found

    def _keys_of(self, i: int) -> _Keys:
        found = self._keys.get(i)
        if found is None:
            made = self._made_of(i)
            found = made.keys if made is not None else None
            if found is None:
                found = _Keys.of_title(self.prints[i], self.weight, self._total(i), self.threshold)
                if made is not None:
                    made.keys = found
            self._keys[i] = found
        return found

    def _excerpt_keys_of(self, i: int) -> _Keys:
        found = self._excerpt_keys.get(i)
        if found is None:
            made = self._made_of(i)
            found = made.excerpt_keys if made is not None else None
            if found is None:
                found = _Keys.of_excerpt(self.prints[i], self.weight, self.threshold)
                if made is not None:
                    made.excerpt_keys = found
            self._excerpt_keys[i] = found
        return found

    def _of(self, i: int) -> _Sets:
        found = self._sets.get(i)
        if found is None:
            found = self._sets[i] = _Sets.of(
                self.prints[i], self._keys_of(i), self._excerpt_keys_of(i)
            )
        return found

    def _index_excerpt(self, i: int) -> None:
        """Index the excerpt of article `i` for `_by_excerpt`."""
        for word in self._excerpt_keys_of(i).second:
            self._rare_excerpts[word].append(i)
        for word in self.prints[i].excerpt:
            self._excerpts[word].append(i)

    def _by_excerpt(self, i: int, oldest: int, recent: Iterable[int]) -> set[int]:
        """The articles since `oldest` whose excerpts share one of the rarest words of
        article `i`'s at `_swapped_floor`, or whose rarest excerpt words are in `i`'s:
        the lighter excerpt of a pair overlapping that much shares one of its rarest
        words with the other. The first call indexes the excerpts of the articles in
        `recent` (the window)."""
        if self._excerpts_from is None:
            self._excerpts_from = i
            for j in recent:
                if j != i and len(self.prints[j].excerpt) >= MIN_EXCERPT_WORDS:
                    self._index_excerpt(j)
        found: set[int] = set()
        times = self.times
        excerpts, rare_excerpts = self._excerpts, self._rare_excerpts
        for word in self._excerpt_keys_of(i).second:
            if word in excerpts:
                _take(excerpts, word, oldest, times, found)
        for word in self.prints[i].excerpt:
            if word in rare_excerpts:
                _take(rare_excerpts, word, oldest, times, found)
        return found

    def _overlapping(self, i: int, others: set[int]) -> set[int]:
        """Those of `others` whose excerpts may overlap article `i`'s by `_swapped_floor`
        of the lighter one: one has a word of the other's `excerpt_tight` (as
        `_may_reach` asks of titles with a word swapped). Titles of common words share
        a word at `_text_floor` with many in the window; two set operations each set
        most of them aside."""
        sets, made, of = self._of(i), self._sets, self._of
        tight, excerpt = sets.excerpt_tight, sets.excerpt
        return {
            j
            for j in others
            if not tight.isdisjoint((other := made.get(j) or of(j)).excerpt)
            or not other.excerpt_tight.isdisjoint(excerpt)
        }

    def pairs(
        self, order: Sequence[int], across: frozenset[int] | None = None, probed_from: int = 0
    ) -> list[tuple[int, int, float]]:
        """Pairs among `order` (sorted by date, then path) that are one story; with
        `across`, only pairs of one article in it and one not. The articles before
        `probed_from` in `order` are only indexed: the pairs found are those of a later
        one (the earlier ones' among themselves are another sweep's, see `_split`)."""
        times = self.times
        threshold = self.threshold
        span = self.work.window // _MICROSECOND
        weight = self.weight
        # A pair reaches the threshold by one of these routes (see `_may_reach`), each
        # with its own index of the words of the articles in the window:
        # - one title part of the other (cut short or without its subtitle): by whole
        #   titles and heads, and a cut title by its rarest word among every word of
        #   the others;
        # - one title the other with words added or dropped, whatever their similarity
        #   (alone or with their excerpts): the shorter one's rarest word is in the
        #   other, so by the rarest word of each title among every word of the others;
        # - titles with a word swapped, with their excerpts: by the rarest title words
        #   at `_text_floor`, kept when one excerpt has a word of the other's rarest at
        #   `_swapped_floor` (`_overlapping`); at a threshold so low that titles need
        #   not share a word, by the rarest excerpt words of the one at `_swapped_floor`
        #   and every excerpt word of the other (`_by_excerpt`), or every article with
        #   an excerpt, at one so low that excerpts with no word in common reach it;
        # - at a threshold so low that titles with a word swapped reach it by their
        #   words alone (`swapped`): by the rarest title words at the threshold.
        every: defaultdict[str, deque[int]] = defaultdict(deque)  # every title word
        rarest: dict[str, deque[int]] = {}  # the rarest word of each whole title
        cuts: dict[str, deque[int]] = {}  # the rarest kept word of each cut title
        by_title: dict[tuple[str, ...], deque[int]] = {}
        by_head: dict[tuple[str, ...], deque[int]] = {}
        titles: dict[str, deque[int]] = {}
        titled = _text_floor(threshold) > 0
        texts: dict[str, deque[int]] = {}
        # With `_excerpt_floor` above zero, `_may_reach` sifts (`_swapped_floor` is
        # higher still) and excerpts are indexed.
        sift = _excerpt_floor(threshold) > 0
        with_excerpt: deque[int] = deque()
        swapped = threshold <= SUBSTITUTION_FACTOR
        recent: deque[int] = deque()  # articles whose sets may be kept, oldest first
        found: list[tuple[int, int, float]] = []
        idf = weight.idf
        for position, i in enumerate(order):
            probed = position >= probed_from
            oldest = times[i] - span
            while recent and times[recent[0]] < oldest:
                gone = recent.popleft()
                self._sets.pop(gone, None)
                self._keys.pop(gone, None)
                self._excerpt_keys.pop(gone, None)
            recent.append(i)
            item = self.prints[i]
            if not item.title:
                continue  # scores nothing (see `_score`)
            keys = self._keys_of(i)
            candidates: set[int] = set()
            if swapped:
                for word in keys.first:
                    _take(titles, word, oldest, times, candidates).append(i)
            if len(item.excerpt) >= MIN_EXCERPT_WORDS:
                if titled:
                    by_words: set[int] = set()
                    for word in keys.second:
                        _take(texts, word, oldest, times, by_words).append(i)
                    if by_words and sift and probed:
                        by_words = self._overlapping(i, by_words)
                    candidates |= by_words
                elif sift:
                    candidates |= self._by_excerpt(i, oldest, recent)
                else:
                    while with_excerpt and times[with_excerpt[0]] < oldest:
                        with_excerpt.popleft()
                    candidates.update(with_excerpt)
                    with_excerpt.append(i)
                if self._excerpts_from is not None:
                    self._index_excerpt(i)
            _take(by_head, item.title, oldest, times, candidates)
            _take(by_title, item.title, oldest, times, candidates).append(i)
            if item.head:
                _take(by_title, item.head, oldest, times, candidates)
                _take(by_head, item.head, oldest, times, candidates).append(i)
            for word in item.title:
                if word in rarest:
                    _take(rarest, word, oldest, times, candidates)
                if word in cuts:
                    _take(cuts, word, oldest, times, candidates)
            if item.cut:
                first = _cut_lead(item, idf)
                _take(every, first, oldest, times, candidates)
                cuts.setdefault(first, deque()).append(i)
            else:
                _take(every, keys.rarest, oldest, times, candidates)
                rarest.setdefault(keys.rarest, deque()).append(i)
            for word in item.title:
                every[word].append(i)
            if not probed:
                continue
            candidates.discard(i)
            if across is not None:
                side = i in across
                candidates = {j for j in candidates if (j in across) != side}
            if not candidates:
                continue
            sets = self._of(i)
            for j in sorted(candidates):
                other = self._of(j)
                if sift and not _may_reach(sets, other, swapped, titled):
                    continue
                value = _score(sets, other, weight, threshold)
                if value >= threshold:
                    found.append((min(i, j), max(i, j), value))
        return found
