"""One codec for stored rows: how a record becomes the values a row (or the JSON kept
with the last report) holds, and back. The parse cache keeps articles in the form
`encode` gives; the store and the last build's report keep link results in the form
`link_row` gives, so a record reads back the same from wherever it was kept; the
engine's stories (`story_json`), the report's duplicates and exclusions
(`duplicate_row`, `exclusion_row`) and remote feeds (`feed_row`) likewise. Data, never
code."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from sys import intern
from typing import Any
from typing import cast
from typing import get_args

from aggregator.fastjson import compact
from aggregator.model import Article
from aggregator.model import DroppedCopy
from aggregator.model import Duplicate
from aggregator.model import DuplicateReason
from aggregator.model import Exclusion
from aggregator.model import FeedState
from aggregator.model import Fingerprint
from aggregator.model import Image
from aggregator.model import LinkClass
from aggregator.model import LinkResult
from aggregator.model import LoadError
from aggregator.model import LoadWarning
from aggregator.model import Provider
from aggregator.model import RelatedStub
from aggregator.model import SkippedEntry

#: the values of a stored link result, in this order (the `link` table's columns)
LinkRow = tuple[str, str, int | None, str, str | None, str, str, int, str | None]


def iso(when: datetime) -> str:
    """A time as stored: ISO 8601 in UTC (strings of this form sort as times do)."""
    return when.astimezone(UTC).isoformat()


def entry_digest(text: str) -> str:
    """The digest of an entry's article file kept in the state (`feed_entry.digest`):
    what tells whether the copy in the entries folder is the same."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


#: the reason of the item after a feed's entries left out that says how many there were
#: in all, when more than those kept (`feed_row`)
_IN_ALL = " entries left out in all"


def _counts(item: Sequence[Any]) -> bool:
    """Whether a stored item of a feed's entries left out is their count (`feed_row`)."""
    reason = str(item[2])
    return item[:2] == ["", ""] and reason.endswith(_IN_ALL) and reason[: -len(_IN_ALL)].isdigit()


def feed_row(state: FeedState) -> tuple[object, ...]:
    """A remote feed's state as stored (the `feed` table's columns)."""
    skipped = [[s.id, s.title, s.reason] for s in state.skipped]
    if state.left_out > len(skipped) or (skipped and _counts(skipped[-1])):
        # How many there were, as one more item of the same form: a version that does
        # not know it reads it as an entry left out, and fails on nothing. (Also after
        # an entry that looks like it, which is then read as the entry it is.)
        skipped.append(["", "", f"{state.left_out}{_IN_ALL}"])
    return (
        state.url,
        state.title,
        state.etag,
        state.last_modified,
        iso(state.fetched_at) if state.fetched_at else None,
        iso(state.checked_at) if state.checked_at else None,
        iso(state.next_fetch) if state.next_fetch else None,
        state.status,
        state.error,
        state.moved_to,
        int(state.gone),
        state.new,
        json.dumps(skipped, ensure_ascii=False),
        state.ttl,
        state.max_age,
    )


def feed_from_row(row: Sequence[Any]) -> FeedState:
    url, title, etag, modified, fetched, checked, due, status, error, moved, gone, new, skipped = (
        row[:13]
    )
    ttl, max_age = row[13:15]
    entries = json.loads(skipped or "[]")
    total = len(entries)
    if entries and _counts(entries[-1]):
        entries, total = entries[:-1], int(str(entries[-1][2]).removesuffix(_IN_ALL))
    return FeedState(
        url=str(url),
        title=str(title or ""),
        etag=etag,
        last_modified=modified,
        fetched_at=datetime.fromisoformat(fetched) if fetched else None,
        checked_at=datetime.fromisoformat(checked) if checked else None,
        next_fetch=datetime.fromisoformat(due) if due else None,
        status=int(status) if status is not None else None,
        error=error,
        moved_to=moved,
        gone=bool(gone),
        new=int(new or 0),
        skipped=tuple(SkippedEntry(*item) for item in entries),
        skipped_total=max(total, len(entries)),
        ttl=int(ttl) if ttl is not None else None,
        max_age=float(max_age) if max_age is not None else None,
    )


def link_row(result: LinkResult) -> LinkRow:
    return (
        result.url,
        result.klass,
        result.status,
        result.reason,
        result.final_url,
        iso(result.checked_at),
        iso(result.next_check_at),
        result.failures,
        iso(result.broken_since) if result.broken_since else None,
    )


def link_from_row(row: Sequence[object]) -> LinkResult:
    url, klass, status, reason, final_url, checked, next_check, failures, broken = row
    return LinkResult(
        url=str(url),
        klass=link_class(str(klass)),
        status=int(status) if isinstance(status, int) else None,
        reason=str(reason),
        final_url=str(final_url) if final_url else None,
        checked_at=datetime.fromisoformat(str(checked)),
        next_check_at=datetime.fromisoformat(str(next_check)),
        failures=int(failures) if isinstance(failures, int) else 0,
        broken_since=datetime.fromisoformat(str(broken)) if broken else None,
    )


def link_class(text: str) -> LinkClass:
    """A stored class, checked: a value no version wrote reads as `unknown` (transient:
    the URL is checked again soon)."""
    return cast(LinkClass, text) if text in _CLASSES else "unknown"


_CLASSES = frozenset(get_args(LinkClass))


def link_stamp(result: LinkResult | None) -> str:
    """What tells a stored result from a later one (the store reads it so in SQL)."""
    if result is None:
        return ""
    checked, due = iso(result.checked_at), iso(result.next_check_at)
    return f"{checked} {due} {result.failures} {result.klass}"


@dataclasses.dataclass(frozen=True, slots=True)
class StoredStory:
    """A story as the engine's `inc_story` table keeps it (`story_json`)."""

    story: str
    survivor: str
    topics: tuple[str, ...]
    #: published in at least the all-topics feed
    kept: bool
    feeds: tuple[str, ...]
    #: the indexes of the images its entry shows; None for all
    images: tuple[int, ...] | None


def story_json(article: Article, passed: tuple[str, ...] | None, found: Article) -> str:
    """The story's survivor as published (`article`, in the feeds `passed`, None when
    left out) and as found (`found`): the images the link step left out of its entry
    are told by the indexes of those kept."""
    if article.images == found.images:
        return _story_text(article.topics, passed)
    data: dict[str, Any] = {
        "topics": list(article.topics),
        "kept": passed is not None,
        "feeds": list(passed or ()),
    }
    kept, left = [], list(article.images)
    for index, image in enumerate(found.images):
        if left and image == left[0]:
            kept.append(index)
            left.pop(0)
    data["images"] = kept
    return json.dumps(data, ensure_ascii=False)


def _story_text(topics: tuple[str, ...], passed: tuple[str, ...] | None) -> str:
    """`story_json` of a story whose images are all kept, as `json.dumps` writes it: of
    the names of its topics and feeds, each written once (a corpus's stories share a few
    hundred names, in more combinations than a cache of whole texts would hold)."""
    kept = "false" if passed is None else "true"
    return (
        f'{{"topics": [{", ".join(map(_json_name, topics))}], "kept": {kept}, '
        f'"feeds": [{", ".join(map(_json_name, passed or ()))}]}}'
    )


@functools.lru_cache(maxsize=4096)
def _json_name(name: str) -> str:
    return json.dumps(name, ensure_ascii=False)


def story_from_row(row: Sequence[Any]) -> StoredStory:
    """A row of `inc_story` (story, survivor, `story_json`)."""
    data = json.loads(row[2])
    images = data.get("images")
    return StoredStory(
        str(row[0]),
        str(row[1]),
        tuple(data["topics"]),
        bool(data["kept"]),
        tuple(data["feeds"]),
        tuple(images) if images is not None else None,
    )


def duplicate_row(duplicate: Duplicate) -> list[Any]:
    """A duplicate as the last build's report keeps it (the kept path first)."""
    copies = [[c.path, c.reason, c.score] for c in duplicate.copies]
    return [duplicate.kept, duplicate.reason, duplicate.score, copies]


def duplicate_from_row(row: Sequence[Any]) -> Duplicate:
    kept, reason, score, copies = row
    return Duplicate(
        kept=kept,
        dropped=tuple(c[0] for c in copies),
        reason=_duplicate_reason(reason),
        score=score,
        copies=tuple(DroppedCopy(p, _duplicate_reason(r), s) for p, r, s in copies),
    )


def _duplicate_reason(text: str) -> DuplicateReason:
    """A stored reason, checked: one no version wrote reads as the weaker evidence."""
    return cast(DuplicateReason, text) if text in _REASONS else "similar-title"


_REASONS = frozenset(get_args(DuplicateReason))


def exclusion_row(exclusion: Exclusion) -> list[Any]:
    """An exclusion as the last build's report keeps it (the path first)."""
    return [exclusion.path, exclusion.code, exclusion.reason, exclusion.topic]


def exclusion_from_row(row: Sequence[Any]) -> Exclusion:
    path, code, reason, topic = row
    return Exclusion(path, code, reason, topic)


#: a result as JSON texts: head, words, body (see `encode`)
Encoded = tuple[str, str, str]


def encode(result: Article | LoadError) -> Encoded:
    """A result as three JSON texts: the head (all a build reads of every article),
    the words of its fingerprint (read for articles of changed periods only) and the
    body (excerpt, images and related coverage: read for rendered entries only)."""
    if isinstance(result, LoadError):
        return json.dumps(["error", result.path, result.line, result.reason]), "null", "null"
    a = result
    prints = a.fingerprint
    head: list[Any] = [
        "article",
        a.path,
        a.title,
        a.published_at.isoformat(),
        a.link,
        list(a.urls),
        a.kind,
        a.quality,
        a.published,
        _provider(a.provider),
        list(a.topics),
        list(a.keys),
        prints.digest if prints else None,
        [[w.line, w.reason] for w in a.warnings],
    ]
    words = (
        [
            prints.title,
            prints.numbers,
            prints.excerpt,
            prints.excerpt_numbers,
            prints.head,
            prints.cut,
            prints.start,
        ]
        if prints
        else None
    )
    body: list[Any] = [
        a.excerpt,
        [[i.url, i.width, i.height, i.title] for i in a.images],
        [_stub(s) for s in a.related],
    ]
    return _to_json(head), _to_json(words), _to_json(body)


#: a cold build writes three for every file (13 us a file with `json`, 2 us with orjson)
_to_json = compact


def decode(head: str, words: str | None = None, body: str | None = None) -> Article | LoadError:
    """A cached result. Without `words`, the fingerprint holds its digest only (see
    `parsecache.load_words`); without `body`, the article has no excerpt, images and related
    coverage (see `with_body`). Words, topics and providers repeat across thousands of
    articles: they are shared, not copied per article."""
    data: list[Any] = json.loads(head)
    if data[0] == "error":
        return LoadError(data[1], data[2], data[3])
    (_, path, title, when, link, urls, kind, quality, published, provider) = data[:10]
    topics, keys, digest, warnings = data[10:14]
    prints = None
    if digest is not None and words is not None:
        prints = words_fingerprint(json.loads(words), digest)
    elif digest is not None:
        prints = Fingerprint((), (), (), (), digest, complete=False)
    # The link is the first URL, and most URLs are their own canonical form: one
    # string each, not two.
    same = {url: url for url in urls}
    article = Article(
        path=path,
        title=title,
        excerpt="",
        published_at=datetime.fromisoformat(when),
        link=same.get(link, link),
        urls=tuple(urls),
        kind=intern(kind),
        quality=quality,
        published=published,
        provider=_shared_provider(*provider) if provider else None,
        topics=tuple(map(intern, topics)),
        images=(),
        related=(),
        keys=tuple([same.get(key, key) for key in keys]),
        fingerprint=prints,
        warnings=tuple(LoadWarning(path, line, reason) for line, reason in warnings),
        light=True,
    )
    return with_body(article, body) if body is not None else article


def with_body(article: Article, body: str) -> Article:
    """The article with the excerpt, images and related coverage of a body JSON."""
    excerpt, images, related = json.loads(body)
    return dataclasses.replace(
        article,
        light=False,
        excerpt=excerpt,
        images=tuple(Image(*i) for i in images),
        related=tuple(
            RelatedStub(
                title=s[0],
                link=s[1],
                published_at=datetime.fromisoformat(s[2]) if s[2] else None,
                provider=_shared_provider(*s[3]) if s[3] else None,
            )
            for s in related
        ),
    )


def words_fingerprint(data: list[Any], digest: str) -> Fingerprint:
    title, numbers, excerpt, excerpt_numbers, head, cut, start = data
    return Fingerprint(
        tuple(map(intern, title)),
        tuple(map(intern, numbers)),
        tuple(map(intern, excerpt)),
        tuple(map(intern, excerpt_numbers)),
        digest,
        head=tuple(map(intern, head)),
        cut=bool(cut),
        start=tuple(map(intern, start)),
    )


@functools.lru_cache(maxsize=4096)
def _shared_provider(name: str, domain: str | None) -> Provider:
    return Provider(intern(name), intern(domain) if domain else None)


def _stub(stub: RelatedStub) -> list[Any]:
    when = stub.published_at.isoformat() if stub.published_at else None
    return [stub.title, stub.link, when, _provider(stub.provider)]


def _provider(provider: Provider | None) -> list[str | None] | None:
    return [provider.name, provider.domain] if provider else None
