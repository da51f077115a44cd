"""Typed, frozen records handed between the pipeline stages. Contains no logic."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import datetime
from typing import Any
from typing import Literal
from typing import TypeVar
from typing import overload

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Image:
    #: absolute http(s) URL of the picture
    url: str
    #: pixel size when the file says it, else None
    width: int | None = None
    height: int | None = None
    #: caption or alt text from the file
    title: str | None = None


@dataclass(frozen=True, slots=True)
class Provider:
    #: publisher's display name, e.g. "The Next Web"
    name: str
    #: publisher's domain, e.g. "thenextweb.com", or None
    domain: str | None = None


@dataclass(frozen=True, slots=True)
class RelatedStub:
    """Other coverage of the same subject, listed in an entry's content."""

    title: str
    #: the stub's link (webUrl, else originalUrl)
    link: str
    published_at: datetime | None = None
    provider: Provider | None = None


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What near-duplicate detection reads of one article (see similar.py): word
    sets as sorted tuples of unique words."""

    title: tuple[str, ...]
    #: title words with a digit
    numbers: tuple[str, ...]
    excerpt: tuple[str, ...]
    #: excerpt words with a digit
    excerpt_numbers: tuple[str, ...]
    #: a short digest of the words above: tells cached similarity results apart
    digest: str = ""
    #: False when only the digest was loaded, the word sets left empty (see
    #: `parsecache.load_words`)
    complete: bool = True
    #: the title words before a subtitle ("Title: subtitle"), when there are enough
    head: tuple[str, ...] = ()
    #: the title was cut short with an ellipsis: `title` holds the words kept
    cut: bool = False
    #: the first few title words, in order (a cut title is the start of another)
    start: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Article:
    """One article file that passed validation. Only what the feeds need is kept."""

    #: the file it came from, as found under its source folder
    path: str
    title: str
    #: plain text (entities decoded, tags removed); may be empty
    excerpt: str
    #: timezone-aware; files with naive datetimes are read as UTC
    published_at: datetime
    #: the article link: webUrl, else originalUrl
    link: str
    #: every URL the file gives for this story (link first), for dedupe
    urls: tuple[str, ...]
    #: "article", "video", ... as the file says; "article" when absent
    kind: str
    #: the editor's quality score, None when the file has none
    quality: int | None
    #: the editor's published flag; absent means False
    published: bool
    provider: Provider | None
    #: topic names, whitespace-normalised, in file order, without repeats
    topics: tuple[str, ...]
    images: tuple[Image, ...]
    related: tuple[RelatedStub, ...]
    # Derived from the fields above, so computed once when a file is parsed (in the
    # parse workers) and kept in the parse cache; empty/None means "not computed yet".
    # Neither compared nor shown: an article is its fields above.
    #: canonical forms of `urls`, without repeats: dedupe's same-URL keys
    keys: tuple[str, ...] = field(default=(), compare=False, repr=False)
    fingerprint: Fingerprint | None = field(default=None, compare=False, repr=False)
    #: what the loader repaired in the file to publish it (a dropped topic, a title cut
    #: to its limit, ...), in file order; kept in the parse cache like the fields above
    warnings: tuple[LoadWarning, ...] = field(default=(), compare=False, repr=False)
    #: loaded without its body: `excerpt`, `images` and `related` are empty whatever the
    #: file says (a build holds every article so, and reads the body back for the few it
    #: renders: `state.codec.decode`, `with_body`). The link step and rendering refuse a
    #: light article.
    light: bool = field(default=False, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class LoadError:
    """A file that could not become an Article; reported as `path:line: reason`."""

    path: str
    #: 1-based line the problem is on (1 for whole-file problems)
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


@dataclass(frozen=True, slots=True)
class LoadWarning:
    """A problem in a file that the loader repaired: the article is still published.
    Reported as `path:line: warning: reason`."""

    path: str
    #: 1-based line the problem is on (the line of its field when the item has none)
    line: int
    #: what was wrong and what was done, e.g. "topics: item 2 is empty: dropped"
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: warning: {self.reason}"


@dataclass(frozen=True, slots=True)
class DroppedCopy:
    """One dropped copy of a story and why it is one with the survivor."""

    path: str
    #: "same-url" when it shares a URL with the survivor's copies, else "similar-title"
    reason: DuplicateReason
    #: 1.0 for a shared URL, else the best text similarity that joined it
    score: float


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A story that was filed more than once; `kept` survives, `dropped` do not."""

    kept: str
    #: paths of the dropped copies, best first
    dropped: tuple[str, ...]
    #: "same-url" when every copy shares a URL with the survivor, else "similar-title"
    reason: DuplicateReason
    #: the lowest score among the copies
    score: float = 1.0
    #: reason and score per dropped copy
    copies: tuple[DroppedCopy, ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class Exclusion:
    """An article left out of a feed, and why."""

    path: str
    #: short machine-readable cause
    code: ExclusionCode
    #: one line for a person, e.g. "quality 33 below 50"
    reason: str
    #: None when the article is left out of every feed; else the one topic feed it misses
    topic: str | None = None


FeedFormat = Literal["rss", "atom", "json"]
#: why an article is left out of a feed (`Exclusion.code`)
ExclusionCode = Literal[
    "unpublished", "quality", "max-age", "dead-link", "unsafe-link", "unsupported-link"
]
#: what a link check found (`LinkResult.klass`; see `linkpolicy` for each)
LinkClass = Literal[
    "ok",
    "redirected",
    "broken",
    "blocked",
    "rate_limited",
    "timeout",
    "server_error",
    "unsafe",
    "unsupported",
    "unknown",
]
#: why copies are one story: they share a URL (any form of it), or their texts are alike
DuplicateReason = Literal["same-url", "similar-title"]
#: the (exclusion code, reason) of a link that keeps its article out of the feeds
LinkProblem = tuple[ExclusionCode, str]
#: "on" checks stale links, "cached" uses stored results only, "off" ignores links
LinksMode = Literal["on", "cached", "off"]
#: "full" (from an empty state), "incremental" (from the last build's state, see
#: `engine.run`) or "unchanged" (nothing changed: the last build's files and report stand)
BuildMode = Literal["full", "incremental", "unchanged"]
#: what an entry carries: "full" is the HTML content (image, excerpt, source link,
#: related coverage) beside the excerpt; "excerpt" is the plain-text excerpt alone
ContentMode = Literal["full", "excerpt"]


@dataclass(frozen=True, slots=True)
class FeedResult:
    #: topic name as the articles spell it; None for the all-topics feed
    topic: str | None
    format: FeedFormat
    #: POSIX path relative to the output folder
    path: str
    entries: int
    #: True when the file's bytes were (re)written by this run
    changed: bool


class Rows(Sequence[_T]):
    """A list of the report the state file keeps (see `lastbuild`), held as the JSON
    texts of its rows (lists of rows each) and made into objects when first read: a
    build whose report is not read in full does not pay for that, nor does one that
    only counts it."""

    __slots__ = ("_count", "_items", "_make", "_texts", "tally")

    def __init__(
        self,
        texts: list[str],
        make: Callable[[list[Any]], _T],
        count: int,
        tally: Mapping[str, int] | None = None,
    ) -> None:
        self._texts = texts
        self._make = make
        self._count = count
        self._items: tuple[_T, ...] | None = None
        #: what the report counts of these rows (`dropped`, `left_out`), kept with them
        #: so that counting makes no object; None when not known
        self.tally = tally

    def _all(self) -> tuple[_T, ...]:
        if self._items is None:
            make = self._make
            self._items = tuple(make(row) for text in self._texts for row in json.loads(text))
            self._texts = []
            self._count = len(self._items)
        return self._items

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> _T: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[_T, ...]: ...

    def __getitem__(self, index: int | slice) -> _T | tuple[_T, ...]:
        return self._all()[index]

    def __iter__(self) -> Iterator[_T]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (Rows, tuple, list)):
            return self._all() == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._all())


#: the key of the tally (`Rows.tally`) of duplicates: how many copies they dropped
DROPPED = "dropped"


#: what starts the tally key of an exclusion from one topic's feed (`exclusion_tally_key`)
_ONE_TOPIC = "topic "


def exclusion_tally_key(code: str, topic: str | None) -> str:
    """The key of the tally (`Rows.tally`) of exclusions an exclusion counts under: its
    code when it leaves an article out of every feed."""
    return code if topic is None else _ONE_TOPIC + code


def tally(kind: str, rows: Sequence[Any]) -> Counter[str]:
    """The tally (`Rows.tally`) of a report's duplicates or exclusions."""
    if kind == "duplicates":
        return Counter({DROPPED: sum(len(d.dropped) for d in rows)})
    return Counter(exclusion_tally_key(e.code, e.topic) for e in rows)


def counted(kind: str, rows: Sequence[Any]) -> Mapping[str, int]:
    """The tally of a report's duplicates or exclusions: the one kept with its `Rows`,
    else counted now."""
    found = rows.tally if isinstance(rows, Rows) else None
    return found if found is not None else tally(kind, rows)


def dropped(duplicates: Sequence[Duplicate]) -> int:
    """How many copies the duplicates dropped."""
    return counted("duplicates", duplicates).get(DROPPED, 0)


def left_out(excluded: Sequence[Exclusion]) -> tuple[Counter[str], int]:
    """The articles left out of every feed, by code, and how many times an article
    was left out of one topic's feed."""
    whole: Counter[str] = Counter()
    one_topic = 0
    for key, n in counted("excluded", excluded).items():
        if key.startswith(_ONE_TOPIC):
            one_topic += n
        elif n:
            whole[key] = n
    return whole, one_topic


@dataclass(frozen=True, slots=True)
class BuildReport:
    """Everything a build did, for the CLI summary and the JSON report."""

    loaded: int
    errors: Sequence[LoadError]
    duplicates: Sequence[Duplicate]
    excluded: Sequence[Exclusion]
    #: articles in the all-topics feed before the entry limit
    published: int
    feeds: tuple[FeedResult, ...]
    #: other files written or kept (index.html, OPML)
    pages: tuple[PageResult, ...] = field(default=())
    #: what the link check did; None when links are off
    links: LinkSummary | None = None
    mode: BuildMode = "full"
    #: files added, changed or deleted since the last build (incremental builds)
    changed_files: int = 0
    #: what was repaired in the files loaded (their articles are published), by path
    warnings: Sequence[LoadWarning] = field(default=())
    #: the remote feeds of the config, in its order (see `sources.remote`)
    sources: tuple[FeedState, ...] = ()
    #: articles published per topic and per day; None unless the build was asked for it
    #: (`aggregator.build(activity=True)`: the HTML report shows it)
    activity: Activity | None = None


@dataclass(frozen=True, slots=True)
class TopicActivity:
    """One feed's published articles, and how many of them were published each day."""

    #: the topic's name as its feeds spell it; None for the all-topics feed
    topic: str | None
    #: articles in the feed before the entry limit
    articles: int
    #: articles published on each day of the window (UTC), oldest first, one per day
    per_day: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Activity:
    """Articles per feed and per day over the days up to a build's own (`Activity.days`
    days ending on `last_day`, UTC): the same for a cold, an incremental and an
    unchanged build of the same inputs at the same clock."""

    #: the build's day (UTC), the last of the window
    last_day: date
    #: the all-topics feed first, then the topic feeds by articles, most first, then name
    topics: tuple[TopicActivity, ...]
    #: days in the window
    days: int = 90


@dataclass(frozen=True, slots=True)
class SkippedEntry:
    """An entry of a remote feed that became no article."""

    id: str
    title: str
    #: "no title", "no usable link ...", "title matches the feed's title_filter"
    reason: str


@dataclass(frozen=True, slots=True)
class FeedState:
    """What is known of one remote feed: kept in the state file, shown by `aggregator
    feeds` and in the build report."""

    url: str
    #: the feed's own title, from its last document
    title: str = ""
    etag: str | None = None
    last_modified: str | None = None
    #: the last time a document was read (an answer with a body)
    fetched_at: datetime | None = None
    #: the last time it was asked for (any answer, or none)
    checked_at: datetime | None = None
    #: not asked for before this (Cache-Control, `ttl`, Retry-After); None: next run
    next_fetch: datetime | None = None
    #: HTTP status of the last answer; None when there was none
    status: int | None = None
    #: why the last fetch failed (one line); None when it did not
    error: str | None = None
    #: where permanent redirects lead: asked for there from then on
    moved_to: str | None = None
    #: answered 410 Gone: never asked for again
    gone: bool = False
    #: entry files kept of it
    entries: int = 0
    #: entry files the last fetch wrote (new or changed)
    new: int = 0
    #: the entries of its last document that became no article (the first
    #: `remote.MAX_SKIPPED` of them)
    skipped: tuple[SkippedEntry, ...] = ()
    #: how many they were (more than `skipped` holds when there were more)
    skipped_total: int = 0
    #: the RSS `ttl` of its last document (minutes): applied again after a 304
    ttl: int | None = None
    #: the Cache-Control max-age (or Expires) of its last answer with one, in seconds:
    #: applied again after a 304 that says nothing of it
    max_age: float | None = None

    def replace(self, **changes: Any) -> FeedState:
        return dataclasses.replace(self, **changes)

    @property
    def left_out(self) -> int:
        """How many entries of its last document became no article: `skipped_total`, or
        the entries listed where a state made without the count has more."""
        return max(self.skipped_total, len(self.skipped))


@dataclass(frozen=True, slots=True)
class PageResult:
    """A non-feed output file (index page, OPML)."""

    path: str
    changed: bool


@dataclass(frozen=True, slots=True)
class LinkResult:
    """The outcome of checking one URL, as stored between runs."""

    #: canonical URL checked (`urls.canonical_url`)
    url: str
    klass: LinkClass
    #: HTTP status of the last answer; None when there was none
    status: int | None
    #: one line for a person: "404 Not Found", "connection refused", ...
    reason: str
    #: where redirects ended; None without redirects
    final_url: str | None
    checked_at: datetime
    #: the result is fresh, and the URL is not checked again, until then
    next_check_at: datetime
    #: consecutive checks that were not ok
    failures: int = 0
    #: start of the current run of `broken` results (the two-strike rule); None if none.
    #: Kept as it was through an answer in doubt (`linkpolicy.unconfirmed`)
    broken_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class LinkSummary:
    """The link check of one build, for the summary and the report."""

    #: "on" or "cached"
    mode: LinksMode
    #: distinct URLs (article links and images) the build needed a result for
    checked: int
    #: of those, how many were requested this run (the others were fresh in the state
    #: or refused without a request)
    requested: int
    #: nearly every host failed at the connection level: no result was stored but
    #: those of links refused without a request
    network_down: bool
    #: results per class, over the URLs checked
    classes: tuple[tuple[str, int], ...]
    #: the articles left out for their link: (path, result)
    excluded: tuple[tuple[str, LinkResult], ...]
    #: images left out of their entries: (path, result)
    images_dropped: tuple[tuple[str, LinkResult], ...] = ()
    #: when the first result the build judged by is due: no build before then needs
    #: a request (None when none is stored, or the network was down)
    fresh_until: datetime | None = None
