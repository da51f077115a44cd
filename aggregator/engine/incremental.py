"""Incremental builds: a build that does work in proportion to what changed.

A full build keeps in the state file what it derived from the corpus: each
article's period, date, fingerprint digest and story; the canonical URLs of each
article; the similar pairs of each zone; each story's survivor, topics and feeds;
each feed's members in feed order; topic spellings; and per feed its results and
listing. The next build compares every file's identity (path, size, mtime) with
the last build's (for a file written within `RACY_SECONDS` of the last build, whose
identity cannot be trusted, its content digest) and, when a few files changed,
updates those tables instead of deriving everything again:

1. parse the changed files; drop the rows of changed and deleted ones;
2. find the similar pairs again in the zones of the periods they were in or are
   now in (word weights are per period: nothing else can change);
3. re-form the stories that held a changed file or an end of a changed pair, and
   those they now join (a walk over shared URLs and similar pairs);
4. choose survivors, apply topic settings and filters to those stories only, and
   update the feed members, topic spellings and the report;
5. render the feeds whose members or names changed, and those showing related
   coverage of a URL that entered or left the corpus; the others stay as they are.

Everything here is the full build's own code applied to a part of the corpus
(`dedupe.find_stories` on one story, `filters.select` on its survivor,
`publish.Publisher` on one feed), so the output is byte-identical to a full build.
Besides changed files, an incremental build judges again the unchanged articles
whose verdict may have changed (`Changes.rejudge`): with `max_age`, those that
crossed the age limit since the last build's clock; with links checked, those judged
by a link result that is due or was replaced (`aggregator check-links`). With links
on, one link step checks every due and new URL of the stories formed again, as a
cold build's does. Files are in path order with several sources too
(`loader.find_paths`). With many changes, a changed config or version, a state file
another version wrote, or output files changed by anything else, the build is a full
one. The tables are marked invalid while they are rewritten, so a build killed
halfway leaves the next one a full build.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections import Counter
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from hashlib import sha256
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from aggregator.clock import wall_ns
from aggregator.config import Config
from aggregator.engine.stages import Judged
from aggregator.engine.stages import checks_links
from aggregator.engine.stages import judge
from aggregator.engine.stages import stop_if
from aggregator.errors import Cancelled
from aggregator.links.articles import CheckedLinks
from aggregator.links.netguard import Resolver
from aggregator.model import Article
from aggregator.model import BuildReport
from aggregator.model import FeedResult
from aggregator.model import Fingerprint
from aggregator.model import LinkResult
from aggregator.model import LinkSummary
from aggregator.model import LoadError
from aggregator.model import PageResult
from aggregator.publishing.output import Output
from aggregator.publishing.publish import ALL
from aggregator.publishing.publish import HEADLINES
from aggregator.publishing.publish import FeedPlan
from aggregator.publishing.publish import Publisher
from aggregator.publishing.publish import Shown
from aggregator.publishing.publish import as_is
from aggregator.publishing.publish import display_names
from aggregator.publishing.publish import feed_plans
from aggregator.publishing.publish import publish_plans
from aggregator.rendering.feeds import FeedSpec
from aggregator.rendering.feeds import Site
from aggregator.rendering.feeds import entry_id
from aggregator.rendering.pages import Listing
from aggregator.rendering.rendercache import RenderCache
from aggregator.sources.loader import file_digest
from aggregator.sources.loader import load_file
from aggregator.sources.loader import load_file_digest
from aggregator.sources.parsecache import RACY_SECONDS
from aggregator.sources.parsecache import cache_form
from aggregator.sources.parsecache import cached_size
from aggregator.sources.parsecache import keyed
from aggregator.sources.parsecache import load_words
from aggregator.state.codec import decode
from aggregator.state.codec import encode
from aggregator.state.codec import link_stamp
from aggregator.state.codec import with_body
from aggregator.state.interface import StateStore
from aggregator.state.lastbuild import forget
from aggregator.state.lastbuild import last_report
from aggregator.state.lastbuild import patch_list
from aggregator.state.lastbuild import report_from_json
from aggregator.state.lastbuild import result_from_json
from aggregator.state.lastbuild import result_json
from aggregator.stories.aliases import apply_topic_settings
from aggregator.stories.dedupe import Stories
from aggregator.stories.dedupe import find_stories
from aggregator.stories.dedupe import url_keys
from aggregator.stories.paircache import StoredPairs
from aggregator.stories.similar import fingerprint
from aggregator.stories.similar import group_periods
from aggregator.stories.similar import period_length
from aggregator.stories.similar import period_of
from aggregator.stories.similar import zone_pairs
from aggregator.stories.topics import topic_key
from aggregator.version import __version__

if TYPE_CHECKING:
    import requests

FORM = "inc_form"
FILES = "inc_files"
#: content digests of the files of the last build whose identity it could not trust
RACY = "inc_racy"
PATHS = "inc_paths"
PATHS_DIGEST = "inc_paths_digest"
SPELLINGS = "inc_spellings"
FEEDS = "inc_feeds"
#: an incremental build takes at most this share of the files as changed
MAX_SHARE = 0.05
#: the clock of the last build (`max_age` counts back from it)
CLOCK = "inc_clock"
#: what an incremental build reads of the last report
_REPORT_KEYS = {
    "loaded", "published", "errors", "warnings", "duplicates_count", "excluded_count", "links"
}  # fmt: skip


def form(config: Config) -> str:
    """What the tables belong to: this version and this config."""
    return sha256(f"{__version__}\n{config.output_key()}\n".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Identities:
    """The size and mtime of every file of a build, in the order of `paths`; a file
    too new to tell apart from a later write in the same clock tick, or that could
    not be read, has size -1 (it counts as changed next time)."""

    paths: Sequence[str]
    sizes: list[int]
    times: list[int]
    #: no file has size -1 (see `lastbuild.signature`)
    settled: bool
    #: of the list of paths
    paths_digest: str
    #: the sizes and mtimes, as JSON
    numbers: str
    #: content digests of files of size -1, as the build read them (filled in by it)
    digests: dict[str, str] = dataclasses.field(default_factory=dict)

    def text(self) -> str:
        """All of it, in one text (for `lastbuild.signature`)."""
        return f"{self.paths_digest}\n{self.numbers}"


def identities_of(paths: Sequence[str], identities: dict[str, tuple[int, int]]) -> Identities:
    """See `Identities` (`identities`: as `parsecache.stat_files` gives them)."""
    racy = wall_ns() - RACY_SECONDS * 1_000_000_000
    found = [identities.get(path, (-1, 0)) for path in paths]
    sizes = [size for size, _ in found]
    times = [mtime for _, mtime in found]
    settled = min(sizes, default=0) >= 0 and max(times, default=0) < racy
    if not settled:
        sizes = [-1 if size < 0 or mtime >= racy else size for size, mtime in found]
    listed = sha256("\0".join(paths).encode("utf-8", "surrogatepass")).hexdigest()
    return Identities(paths, sizes, times, settled, listed, json.dumps([sizes, times]))


@dataclass(frozen=True, slots=True)
class Changes:
    changed: list[str]
    deleted: list[str]
    #: unchanged articles to judge again: their age crossed `max_age` since the last
    #: build, or a link result they were judged by is due or was replaced
    rejudge: set[str] = dataclasses.field(default_factory=set)


def changes(store: StateStore, config: Config, now: Identities, when: datetime) -> Changes | None:
    """The files changed and deleted since the last build, and the articles to judge
    again at `when`, when the tables hold it and this build can be incremental; else
    None."""
    if store.meta(FORM) != form(config):
        return None
    rejudge = _rejudge(store, config, when)
    if rejudge is None:
        return None
    if store.meta("parse_format") != cache_form(config.limits):
        return None
    try:
        old_sizes, old_times = json.loads(store.meta(FILES) or "null")
        if store.meta(PATHS_DIGEST) == now.paths_digest:
            old_paths = list(now.paths)
        else:
            old_paths = json.loads(store.meta(PATHS) or "null")
    except (TypeError, ValueError):
        return None
    try:
        changed, deleted = _compare(old_paths, old_sizes, old_times, now)
        racy: dict[str, str] = json.loads(store.meta(RACY) or "{}")
    except (TypeError, ValueError):
        return None  # not what this version writes
    if racy:
        changed = _settled(changed, racy, now, config)
    new_paths = now.paths
    if (len(changed) + len(deleted) + len(rejudge)) > max(20, MAX_SHARE * len(new_paths)):
        return None
    return Changes(changed, deleted, rejudge)


def _rejudge(store: StateStore, config: Config, when: datetime) -> set[str] | None:
    """See `Changes.rejudge`; None when the last build's clock is unknown."""
    found: set[str] = set()
    if config.max_age is not None:
        try:
            last = datetime.fromisoformat(store.meta(CLOCK) or "")
        except ValueError:
            return None
        # `filters.select` leaves out what was published before `when - max_age`.
        low, high = sorted((last - config.max_age, when - config.max_age))
        found |= store.inc_published_between(low, high)
    if checks_links(config):
        found |= store.inc_relink(when if config.links == "on" else None)
    return found


def _compare(
    old_paths: list[str], old_sizes: list[int], old_times: list[int], now: Identities
) -> tuple[list[str], list[str]]:
    new_paths, new_sizes, new_times = now.paths, now.sizes, now.times
    if old_paths == new_paths:
        changed = [
            path
            for path, a, b, c, d in zip(
                new_paths, new_sizes, old_sizes, new_times, old_times, strict=True
            )
            if a != b or c != d or a < 0
        ]
        deleted: list[str] = []
    else:
        old = {p: (s, t) for p, s, t in zip(old_paths, old_sizes, old_times, strict=True)}
        present = set(new_paths)
        changed = [
            path
            for path, size, mtime in zip(new_paths, new_sizes, new_times, strict=True)
            if size < 0 or old.get(path) != (size, mtime)
        ]
        deleted = [path for path in old_paths if path not in present]
    return changed, deleted


def _settled(
    changed: list[str], racy: dict[str, str], now: Identities, config: Config
) -> list[str]:
    """`changed` less the files the last build could not tell by their identity whose
    content is still what it read (their digests carry over to this build's)."""
    same = {
        path
        for path in changed
        if path in racy and file_digest(Path(path), config.limits) == racy[path]
    }
    for path in same:
        now.digests[path] = racy[path]  # kept for the next build, if racy now too
    return [path for path in changed if path not in same]


@dataclass(frozen=True, slots=True)
class Item:
    """An article as near-duplicate detection reads it (a `similar.Dated`)."""

    path: str
    published_at: datetime
    fingerprint: Fingerprint | None


@dataclass
class FeedRecord:
    """One feed as the last build left it."""

    name: str | None
    #: (topic, format, path, entries) per result
    results: list[list[Any]]
    #: (entries, newest date, the paths of the headlines), None when retired
    listing: list[Any] | None

    def json(self) -> list[Any]:
        return [self.name, self.results, self.listing]


def feed_record(
    name: str | None, results: Sequence[FeedResult], listing: Listing | None
) -> FeedRecord:
    shown = None
    if listing is not None:
        paths = [a.path for a in listing.latest]
        shown = [listing.entries, listing.updated.isoformat(), paths]
    return FeedRecord(name, [[r.topic, r.format, r.path, r.entries] for r in results], shown)


def record(
    store: StateStore,
    config: Config,
    now: datetime,
    files: Identities,
    articles: Sequence[Article],
    stories: Stories,
    judged: Judged,
    spellings: dict[str, Counter[str]],
    feeds: dict[str, FeedRecord],
    related: dict[str, tuple[str, ...]],
) -> None:
    """Keep what a full build derived (see the module docstring)."""
    store.set_meta(FORM, "")
    story_of: dict[str, str] = {}
    story_rows: list[tuple[object, ...]] = []
    member_rows: list[tuple[object, ...]] = []
    selection = judged.selection
    for members, first, article in zip(
        stories.members, stories.kept, judged.survivors, strict=True
    ):
        story = members[0]
        for path in members:
            story_of[path] = story
        passed = selection.topics.get(article.path)
        story_rows.append((story, article.path, _story_json(article, passed, first)))
        member_rows.extend(_member_rows(story, article, passed))
    length = period_length(config.dedupe.window)
    store.inc_fill(
        {
            "inc_art": [
                (
                    a.path,
                    period_of(a.published_at, length),
                    a.published_at.isoformat(),
                    (a.fingerprint or fingerprint(a)).digest,
                    story_of[a.path],
                )
                for a in articles
            ],
            "inc_key": [(k, a.path) for a in articles for k in a.keys or url_keys(a)],
            "inc_pair": [
                (zone, a, b, score)
                for zone, pairs in stories.zones.items()
                for a, b, score in pairs
            ],
            "inc_story": story_rows,
            "inc_member": member_rows,
            "inc_rel": [(k, p) for p, keys in related.items() for k in set(keys)],
            "inc_link": _link_rows(judged.links),
        }
    )
    _finish(store, now, files, spellings, feeds)


def _finish(
    store: StateStore,
    now: datetime,
    files: Identities,
    spellings: dict[str, Counter[str]],
    feeds: dict[str, FeedRecord],
) -> None:
    store.set_meta(CLOCK, now.isoformat())
    store.set_meta(SPELLINGS, json.dumps(spellings, ensure_ascii=False, sort_keys=True))
    store.set_meta(FEEDS, json.dumps({k: f.json() for k, f in feeds.items()}, ensure_ascii=False))
    if store.meta(PATHS_DIGEST) != files.paths_digest:
        store.set_meta(PATHS_DIGEST, "")
        store.set_meta(PATHS, json.dumps(list(files.paths), ensure_ascii=False))
        store.set_meta(PATHS_DIGEST, files.paths_digest)
    store.set_meta(FILES, files.numbers)
    racy = {
        path: files.digests[path]
        for path, size in zip(files.paths, files.sizes, strict=True)
        if size < 0 and path in files.digests
    }
    store.set_meta(RACY, json.dumps(racy, ensure_ascii=False))


def seal(store: StateStore, config: Config) -> None:
    """Mark the tables valid: call it once the build's report is kept."""
    store.set_meta(FORM, form(config))


def _story_json(article: Article, passed: tuple[str, ...] | None, found: Article) -> str:
    """The story's survivor as published (`article`) and as found (`found`): the images
    the link step left out of its entry are told by the indexes of those kept."""
    data: dict[str, Any] = {
        "topics": list(article.topics),
        "kept": passed is not None,
        "feeds": list(passed or ()),
    }
    if article.images != found.images:
        kept, left = [], list(article.images)
        for index, image in enumerate(found.images):
            if left and image == left[0]:
                kept.append(index)
                left.pop(0)
        data["images"] = kept
    return json.dumps(data, ensure_ascii=False)


def _link_rows(links: CheckedLinks | None) -> list[tuple[object, ...]]:
    """The `inc_link` rows of what the link step judged (see the store's schema)."""
    if links is None:
        return []
    rows: list[tuple[object, ...]] = [
        (key, path, link_stamp(links.results.get(key)), "", "")
        for path, keys in links.keys_of.items()
        for key in keys
    ]
    summary = links.summary
    for verdict, listed in (("excluded", summary.excluded), ("dropped", summary.images_dropped)):
        rows.extend(
            (r.url, path, "", verdict, json.dumps(result_json(r), ensure_ascii=False))
            for path, r in listed
        )
    return rows


def _link_summary(store: StateStore, config: Config, requested: int, down: bool) -> LinkSummary:
    """The report's link summary, from the tables (as `check_article_links` makes it)."""
    checked, classes, due = store.inc_link_totals()
    listed: dict[str, list[tuple[str, LinkResult]]] = {"excluded": [], "dropped": []}
    for path, verdict, shown in store.inc_link_verdicts():
        listed[verdict].append((path, result_from_json(json.loads(shown))))
    return LinkSummary(
        mode=config.links,
        checked=checked,
        requested=requested,
        network_down=down,
        classes=tuple(classes),
        excluded=tuple(listed["excluded"]),
        images_dropped=tuple(listed["dropped"]),
        fresh_until=None if down else due,
    )


def _member_rows(
    story: str, article: Article, passed: tuple[str, ...] | None
) -> list[tuple[object, ...]]:
    if passed is None:
        return []
    rank = -article.published_at.timestamp()
    entry = entry_id(article)
    feeds = [ALL, *(topic_key(t) for t in passed)]
    return [(feed, rank, entry, article.path, story) for feed in feeds]


class KnownUrls:
    """The canonical URLs of the corpus, looked up in the state file (a Container)."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.found: dict[str, bool] = {}

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        if key not in self.found:
            self.found[key] = bool(self.store.inc_rows("inc_key", "key", [key], "path"))
        return self.found[key]


@dataclass
class _Story:
    story: str
    survivor: str
    topics: tuple[str, ...]
    kept: bool
    feeds: tuple[str, ...]
    #: the indexes of the images its entry shows; None for all
    images: tuple[int, ...] | None


def _story(row: tuple[Any, ...]) -> _Story:
    data = json.loads(row[2])
    images = data.get("images")
    return _Story(
        row[0],
        row[1],
        tuple(data["topics"]),
        data["kept"],
        tuple(data["feeds"]),
        tuple(images) if images is not None else None,
    )


class Rebuild:
    """One incremental build (see the module docstring)."""

    def __init__(
        self,
        config: Config,
        now: datetime,
        store: StateStore,
        found: Changes,
        cancel: threading.Event | None,
        resolver: Resolver | None = None,
        progress: Callable[[int, int], None] | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.config = config
        self.session = session
        self.now = now
        self.store = store
        self.found = found
        self.cancel = cancel
        self.resolver = resolver
        self.progress = progress
        #: requests the link step sent, and whether it found the network down
        self.requested = 0
        self.network_down = False
        #: articles parsed now, by path
        self.fresh: dict[str, Article] = {}
        #: bodies of the articles parsed now
        self.bodies: dict[str, str] = {}
        self.errors: dict[str, LoadError] = {}
        #: content digests of the changed files, as parsed
        self.digests: dict[str, str] = {}

    def run(
        self,
        output: Output,
        site: Site,
        rendered: RenderCache,
        files: Identities,
    ) -> BuildReport | None:
        """Update the tables and the output; None when the last report is unreadable
        (then nothing was changed and the build must be a full one)."""
        config, store = self.config, self.store
        previous = last_report(store)
        if previous is None or not previous.keys() >= _REPORT_KEYS:
            return None  # not what this version keeps
        store.set_meta(FORM, "")  # until every table is consistent again
        forget(store)  # and the last report, until the new one is kept
        gone = self._parse()
        rejudge = self.found.rejudge - set(gone)
        old_rows = {str(row[0]): row for row in store.inc_rows("inc_art", "path", gone)}
        # Keys that enter or leave the corpus change which related coverage is shown.
        keys = {str(k) for (k,) in store.inc_rows("inc_key", "path", gone, "key")}
        keys.update(k for a in self.fresh.values() for k in a.keys)
        before = {str(k) for (k,) in store.inc_rows("inc_key", "key", keys, "key")}
        self._replace_articles(gone)
        after = {str(k) for (k,) in store.inc_rows("inc_key", "key", keys, "key")}
        seeds = set(self.fresh) | rejudge
        seeds |= self._refresh_zones({int(row[1]) for row in old_rows.values()})
        old_stories = {str(row[4]) for row in old_rows.values()}
        while True:
            components, old_ids = self._components(seeds, old_stories)
            new, duplicates, excluded = self._stories()
            # One link step judges every due and new URL, as a cold build's does (an
            # outage is told from all of them at once). A result it replaced judges
            # other articles again: they join, and their URLs are fresh by now.
            more = self._relinked(set(gone)) - seeds
            if not more:
                break
            seeds |= more
        old = [_story(row) for row in store.inc_rows("inc_story", "story", old_ids)]

        # Feeds whose members change.
        touched: set[str] = set()
        for story in old:
            if story.kept:
                touched.update([ALL, *(topic_key(t) for t in story.feeds)])
        store.inc_delete("inc_member", "story", old_ids)
        store.inc_delete("inc_story", "story", old_ids)
        member_rows: list[tuple[object, ...]] = []
        for first, article, passed, _found in new:
            member_rows.extend(_member_rows(first, article, passed))
        touched.update(str(row[0]) for row in member_rows)
        store.inc_insert("inc_member", member_rows)
        store.inc_insert("inc_story", [(s, a.path, _story_json(a, p, f)) for s, a, p, f in new])
        if self.judged.links is not None:
            judged = {s.survivor for s in old} | {a.path for _, a, _, _ in new} | set(gone)
            store.inc_delete("inc_link", "path", judged)
            store.inc_insert("inc_link", _link_rows(self.judged.links))
        store.inc_update_story([(s, p) for s, paths in components.items() for p in paths])
        loaded = int(previous["loaded"]) - len(old_rows) + len(self.fresh)
        shows = store.inc_rows("inc_rel", "key", before ^ after, "path")
        for (feed,) in store.inc_rows("inc_member", "path", [p for (p,) in shows], "feed"):
            touched.add(str(feed))

        spellings = self._spellings(old, [a for _, a, _, _ in new])
        names = display_names(spellings)
        feeds = {
            key: FeedRecord(*value) for key, value in json.loads(store.meta(FEEDS) or "{}").items()
        }
        stop_if(self.cancel)
        publisher = Publisher(
            output, site, Shown(KnownUrls(store), as_is, config.link_check), rendered, config.limits
        )
        records, pages = self._publish(publisher, names, touched, feeds)
        self._save_related(publisher.shown)
        files.digests.update(self.digests)
        _finish(store, self.now, files, spellings, records)
        report = dict(previous)
        report["loaded"] = loaded
        report["published"] = (
            int(previous["published"])
            - sum(s.kept for s in old)
            + sum(p is not None for _, _, p, _ in new)
        )
        survivors = {s.survivor for s in old}
        errors = [[e.path, e.line, e.reason] for e in self.errors.values()]
        report["errors"] = _patched(previous["errors"], set(gone), errors)
        warnings = [[w.path, w.line, w.reason] for a in self.fresh.values() for w in a.warnings]
        report["warnings"] = _patched(previous["warnings"], set(gone), warnings)
        for kind, rows in (("duplicates", duplicates), ("excluded", excluded)):
            count = f"{kind}_count"
            report[count] = int(previous[count]) + patch_list(store, kind, survivors, rows)
        report["feeds"] = []
        report["pages"] = []
        links = None
        if self.judged.links is not None:
            links = _link_summary(store, config, self.requested, self.network_down)
        return dataclasses.replace(
            report_from_json(report, store),
            links=links,
            feeds=tuple(publisher.results),
            pages=tuple(pages),
            mode="incremental",
            changed_files=len(gone),
        )

    # -- steps ---------------------------------------------------------------------

    def _publish(
        self,
        publisher: Publisher,
        names: dict[str, str],
        touched: set[str],
        feeds: dict[str, FeedRecord],
    ) -> tuple[dict[str, FeedRecord], list[PageResult]]:
        """Render the feeds whose members or names changed (`touched`) as a full build
        does (`publish.feed_plans`), keep the others as the last build left them
        (`feeds`), then the pages; the record of every feed, and the pages."""
        records: dict[str, FeedRecord] = {}

        def write(plan: FeedPlan) -> Listing | None:
            known = feeds.get(plan.key)
            if plan.key in touched or known is None or known.name != plan.name:
                top = self.store.inc_top(plan.key, plan.limit)
                if not top and plan.key != ALL:
                    return None  # no members: retired after the feeds, as in a full build
                start = len(publisher.results)
                listing = publisher.publish(plan.spec, self._entries(top), plan.limit)
                records[plan.key] = feed_record(plan.name, publisher.results[start:], listing)
                return listing
            records[plan.key] = known
            for topic, fmt, path, count in known.results:
                publisher.results.append(FeedResult(topic, fmt, path, count, False))
                publisher.rendered.keep(path)
            return self._listing(plan.spec, known, publisher.shown)

        live = [k for k in names if k in touched or k in feeds]
        plans = feed_plans(self.config, names, live)
        return records, publish_plans(publisher, plans, write, names.values())

    def _parse(self) -> list[str]:
        """Parse the changed files, cache them; the paths whose rows must go."""
        found, limits = self.found, self.config.limits
        racy = wall_ns() - RACY_SECONDS * 1_000_000_000
        rows: list[tuple[str, int, int, str, str, str]] = []
        for path in found.changed:
            if self.cancel is not None and self.cancel.is_set():  # after the file in hand
                raise Cancelled("stopped while loading article files")
            result, digest = load_file_digest(Path(path), limits)
            if digest is not None:
                self.digests[path] = digest
            article = keyed(result)
            if isinstance(article, LoadError):
                self.errors[path] = article
                continue
            head, words, body = encode(article)
            self.fresh[path] = article
            self.bodies[path] = body
            try:
                stat = Path(path).stat()
            except OSError:
                continue
            size = cached_size(stat.st_size, stat.st_mtime_ns, racy)
            rows.append((path, size, stat.st_mtime_ns, head, words, body))
        self.store.forget_parsed([*found.changed, *found.deleted])
        self.store.save_parsed(rows)
        return [*found.changed, *found.deleted]

    def _relinked(self, gone: set[str]) -> set[str]:
        """The articles judged by a link result the link step just replaced (none with
        links not checked, or with the network down: then nothing is stored)."""
        if self.judged.links is None:
            return set()
        summary = self.judged.links.summary
        self.requested += summary.requested
        self.network_down = self.network_down or summary.network_down
        return self.store.inc_relink(None) - gone

    def _with_images(self, articles: Sequence[Article]) -> list[Article]:
        """The articles with their bodies (the link step reads their images)."""
        wanted = [a.path for a in articles if a.path not in self.fresh]
        rows = self.store.parsed_rows(wanted)
        full: list[Article] = []
        for article in articles:
            if article.path in self.fresh:
                body = self.bodies[article.path]
            elif article.path in rows:
                body = rows[article.path][1]
            else:
                again = self._reread(article.path)
                if again is not None:
                    article = dataclasses.replace(again, topics=article.topics)
                full.append(article)
                continue
            full.append(with_body(article, body))
        return full

    def _replace_articles(self, gone: list[str]) -> None:
        store = self.store
        length = period_length(self.config.dedupe.window)
        store.inc_delete("inc_art", "path", gone)
        store.inc_delete("inc_key", "path", gone)
        store.inc_delete("inc_rel", "path", gone)
        fresh = self.fresh.values()
        store.inc_insert(
            "inc_art",
            [
                (
                    a.path,
                    period_of(a.published_at, length),
                    a.published_at.isoformat(),
                    (a.fingerprint or fingerprint(a)).digest,
                    a.path,
                )
                for a in fresh
            ],
        )
        store.inc_insert("inc_key", [(k, a.path) for a in fresh for k in a.keys])

    def _refresh_zones(self, old_periods: set[int]) -> set[str]:
        """Find the pairs of the zones of changed periods again; the paths of the pairs
        that appeared, went or changed score."""
        settings = self.config.dedupe
        if not settings.similar_title:
            return set()
        store = self.store
        length = period_length(settings.window)
        changed = old_periods | {period_of(a.published_at, length) for a in self.fresh.values()}
        wanted = {p + d for p in changed for d in (-1, 0, 1)}
        items: list[Item] = []
        for path, _period, stamp, digest, _story in store.inc_rows("inc_art", "period", wanted):
            fresh = self.fresh.get(path)
            prints = fresh.fingerprint if fresh is not None else None
            if prints is None:
                prints = Fingerprint((), (), (), (), str(digest), complete=False)
            items.append(Item(str(path), datetime.fromisoformat(stamp), prints))
        periods = group_periods(items, settings.window)
        zones = sorted({2 * p + d for p in changed for d in (-1, 0, 1)})
        present = [z for z in zones if z // 2 in periods and (z % 2 == 0 or z // 2 + 1 in periods)]
        cache = StoredPairs(self.store, settings)
        limits = self.config.limits
        found = zone_pairs(
            items,
            periods,
            present,
            settings.threshold,
            settings.window,
            cache,
            lambda some: load_words(store, limits, some),
        )
        cache.save(within=zones)
        new = {(z, a, b, s) for z, pairs in found.items() for a, b, s in pairs}
        old = {tuple(row) for row in store.inc_rows("inc_pair", "zone", zones)}
        store.inc_delete("inc_pair", "zone", zones)
        store.inc_insert("inc_pair", sorted(new))
        ends: set[str] = set()
        for _zone, a, b, _score in new ^ old:
            ends.update((str(a), str(b)))
        return ends

    def _components(
        self, seeds: set[str], old_stories: set[str]
    ) -> tuple[dict[str, list[str]], set[str]]:
        """The stories (first path -> paths in order) holding the seeds, and the ids of
        the stories they replace."""
        store = self.store
        same_url = self.config.dedupe.same_url
        similar = self.config.dedupe.similar_title
        old_ids = set(old_stories)
        asked: set[str] = set()
        nodes: set[str] = set()
        frontier = set(seeds)
        while True:
            # Every member of a story a node was in is a node: a story may split.
            rows = store.inc_rows("inc_art", "path", frontier, "path, story")
            frontier = {str(p) for p, _ in rows}  # not deleted, not now an error
            old_ids |= {str(s) for p, s in rows if p not in self.fresh}
            nodes |= frontier
            step: set[str] = set()
            if old_ids - asked:
                members = store.inc_rows("inc_art", "story", old_ids - asked, "path")
                step |= {str(p) for (p,) in members}
                asked |= old_ids
            if same_url and frontier:
                keys = store.inc_rows("inc_key", "path", frontier, "key")
                step |= {
                    str(p)
                    for (p,) in store.inc_rows("inc_key", "key", [k for (k,) in keys], "path")
                }
            if similar and frontier:
                step |= {str(b) for (b,) in store.inc_rows("inc_pair", "a", frontier, "b")}
                step |= {str(a) for (a,) in store.inc_rows("inc_pair", "b", frontier, "a")}
            frontier = step - nodes
            if not frontier:
                break
        return self._split(sorted(nodes)), old_ids

    def _split(self, nodes: list[str]) -> dict[str, list[str]]:
        """The nodes by story: the stories `find_stories` makes of them."""
        self.articles = self._light(nodes)
        pairs = self._pairs(nodes)
        stories = find_stories([self.articles[p] for p in nodes], self.config.dedupe, pairs=pairs)
        self.stories = stories
        return {members[0]: list(members) for members in stories.members}

    def _pairs(self, nodes: list[str]) -> list[tuple[str, str, float]]:
        if not self.config.dedupe.similar_title:
            return []
        inside = set(nodes)
        rows = self.store.inc_rows("inc_pair", "a", nodes, "a, b, score")
        return [(str(a), str(b), float(s)) for a, b, s in rows if b in inside]

    def _light(self, paths: Iterable[str]) -> dict[str, Article]:
        wanted = [p for p in paths if p not in self.fresh]
        found: dict[str, Article] = {p: self.fresh[p] for p in paths if p in self.fresh}
        for path, (head, _body) in self.store.parsed_rows(wanted).items():
            article = decode(head)
            if isinstance(article, Article):
                found[path] = article
        missing = [p for p in wanted if p not in found]
        for path in missing:
            again = self._reread(path)
            if again is not None:
                found[path] = again
        return found

    def _reread(self, path: str) -> Article | None:
        """The article of a file whose cached row is gone: read again (None if it no
        longer reads as an article)."""
        again = keyed(load_file(Path(path), self.config.limits))
        return again if isinstance(again, Article) else None

    def _stories(
        self,
    ) -> tuple[list[tuple[str, Article, tuple[str, ...] | None, Article]], list[Any], list[Any]]:
        """(story, survivor as published, feeds it is in or None, survivor as found)
        per story, and the report's duplicates and exclusions of those stories, as
        JSON."""
        stories, config = self.stories, self.config
        found = apply_topic_settings(stories.kept, config)
        if checks_links(config):
            found = self._with_images(found)
        self.judged = judge(
            found,
            config,
            self.now,
            self.store,
            self.resolver,
            self.progress,
            self.cancel,
            self.session,
        )
        selection = self.judged.selection
        new = [
            (members[0], article, selection.topics.get(article.path), first)
            for members, first, article in zip(
                stories.members, found, self.judged.survivors, strict=True
            )
        ]
        duplicates = [
            [d.kept, d.reason, d.score, [[c.path, c.reason, c.score] for c in d.copies]]
            for d in stories.duplicates
        ]
        excluded = [[e.path, e.code, e.reason, e.topic] for e in selection.excluded]
        return new, duplicates, excluded

    def _spellings(self, old: list[_Story], new: list[Article]) -> dict[str, Counter[str]]:
        data = json.loads(self.store.meta(SPELLINGS) or "{}")
        spellings = {key: Counter(counts) for key, counts in data.items()}
        for story in old:
            for topic in story.topics:
                spellings[topic_key(topic)][topic] -= 1
        for article in new:
            for topic in article.topics:
                spellings.setdefault(topic_key(topic), Counter())[topic] += 1
        for key in list(spellings):
            counter = spellings[key]
            for name in [n for n, count in counter.items() if count <= 0]:
                del counter[name]
            if not counter:
                del spellings[key]
        return spellings

    def _entries(self, top: list[tuple[str, str]]) -> list[Article]:
        """The entries of a feed: each survivor with its body and its story's topics."""
        stories = {
            str(row[0]): _story(row)
            for row in self.store.inc_rows("inc_story", "story", [s for _, s in top])
        }
        rows = self.store.parsed_rows([p for p, _ in top if p not in self.fresh])
        entries: list[Article] = []
        for path, story in top:
            article = self.fresh.get(path)
            if article is not None:
                article = with_body(article, self.bodies[path])
            elif path in rows:
                head, body = rows[path]
                loaded = decode(head, None, body)
                article = loaded if isinstance(loaded, Article) else None
            if article is None:
                article = self._reread(path)
                if article is None:
                    continue
            known = stories[story]
            if known.topics != article.topics:
                article = dataclasses.replace(article, topics=known.topics)
            if known.images is not None:
                shown = tuple(article.images[i] for i in known.images if i < len(article.images))
                article = dataclasses.replace(article, images=shown)
            entries.append(article)
        return entries

    def _listing(self, spec: FeedSpec, known: FeedRecord, shown: Shown) -> Listing | None:
        if known.listing is None:
            return None
        count, updated, paths = known.listing
        rows = self.store.inc_rows("inc_story", "survivor", paths, "story, survivor")
        story_of = {str(survivor): str(story) for story, survivor in rows}
        latest = self._entries([(p, story_of[p]) for p in paths if p in story_of])
        when = datetime.fromisoformat(updated)
        return Listing(spec, count, when, tuple(map(shown, latest))[:HEADLINES])

    def _save_related(self, shown: Shown) -> None:
        # The rows of an unchanged file stand: its related coverage is the same.
        known = {p for (p,) in self.store.inc_rows("inc_rel", "path", shown.related, "path")}
        rows = [(k, p) for p, keys in shown.related.items() if p not in known for k in set(keys)]
        self.store.inc_insert("inc_rel", rows)


def _patched(rows: list[list[Any]], gone: set[str], added: list[list[Any]]) -> list[list[Any]]:
    """Report rows (path first) without those of `gone`, with `added`, by path (stable)."""
    kept = [row for row in rows if row[0] not in gone]
    kept.extend(added)
    kept.sort(key=lambda row: str(row[0]))
    return kept
