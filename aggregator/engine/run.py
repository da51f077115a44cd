"""One build: the stages over what changed since the last build.

sources -> load -> dedupe -> topic settings -> filters -> links -> render -> publish.
Every build runs these steps on the changes `tables.changes` found (`Changes`); a
cold build is the same run on an empty state (`tables.empty`), where every file is
a change, every story is formed and every feed is written:

1. load the changed files through the parse cache (`inputs.load`, on every core
   when there are many); drop the rows of changed and deleted ones;
2. find the similar pairs again in the zones of the periods they were in or are
   now in (word weights are per period: nothing else can change);
3. form again the stories that held a changed file or an end of a changed pair, and
   those they now join (a walk over shared URLs and similar pairs);
4. choose survivors, apply topic settings, filters and the link step to those
   stories (`stages.judge`; one link step checks every due and new URL of them, so
   an outage is told from all at once), and update the tables, the topic spellings
   and the report;
5. render the feeds whose members or names changed (every feed when a topic is
   shown in another spelling: entries show their topics as their feeds are named),
   and those showing related coverage of a URL that entered or left the corpus; the
   others stay as they are.

Each step is the one code for any number of changes (`dedupe.find_stories` on the
stories formed again, `filters.select` on their survivors, `publish.Publisher` on
the feeds touched), so a build after a few changes gives the bytes and the report a
cold build gives. A step may skip work an empty state makes pointless, and says so
(`cold`): there is nothing to walk to, no kept feed to compare.
"""

from __future__ import annotations

import dataclasses
import functools
import heapq
import itertools
import json
import operator
import secrets
import threading
from collections import Counter
from collections import OrderedDict
from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Container
from collections.abc import Generator
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import cast

from aggregator.config import Config
from aggregator.engine import zonerows
from aggregator.engine.stages import Judged
from aggregator.engine.stages import checks_links
from aggregator.engine.stages import judge
from aggregator.engine.stages import stop_if
from aggregator.engine.stages import survivors
from aggregator.engine.stages import zones_told
from aggregator.engine.tables import FEEDS
from aggregator.engine.tables import FORM
from aggregator.engine.tables import LINK_COUNTS
from aggregator.engine.tables import LINK_MARK
from aggregator.engine.tables import RENDER
from aggregator.engine.tables import SPELLINGS
from aggregator.engine.tables import Changes
from aggregator.engine.tables import FeedRecord
from aggregator.engine.tables import Identities
from aggregator.engine.tables import Item
from aggregator.engine.tables import LinkMark
from aggregator.engine.tables import article_rows
from aggregator.engine.tables import current
from aggregator.engine.tables import empty
from aggregator.engine.tables import feed_record
from aggregator.engine.tables import finish
from aggregator.engine.tables import key_rows
from aggregator.engine.tables import link_rows
from aggregator.engine.tables import links_settled
from aggregator.engine.tables import member_rows
from aggregator.engine.tables import rendering
from aggregator.errors import Cancelled
from aggregator.links.articles import checked_urls
from aggregator.links.netguard import Resolver
from aggregator.model import Article
from aggregator.model import BuildReport
from aggregator.model import FeedResult
from aggregator.model import Fingerprint
from aggregator.model import LinkResult
from aggregator.model import LinkSummary
from aggregator.model import LoadError
from aggregator.model import PageResult
from aggregator.progress import Progress
from aggregator.publishing.output import Output
from aggregator.publishing.publish import ALL
from aggregator.publishing.publish import AheadFeed
from aggregator.publishing.publish import FeedPlan
from aggregator.publishing.publish import Publisher
from aggregator.publishing.publish import Shown
from aggregator.publishing.publish import display_names
from aggregator.publishing.publish import feed_plans
from aggregator.publishing.publish import publish_plans
from aggregator.rendering.feeds import FeedSpec
from aggregator.rendering.feeds import Site
from aggregator.rendering.pages import Headline
from aggregator.rendering.pages import Listing
from aggregator.rendering.rendercache import RenderCache
from aggregator.sources import inputs
from aggregator.sources.loader import NAME_NOT_UTF8
from aggregator.sources.loader import helper
from aggregator.sources.loader import load_file
from aggregator.sources.loader import map_in_processes
from aggregator.sources.loader import workers_running
from aggregator.sources.parsecache import keyed
from aggregator.sources.parsecache import load_words
from aggregator.state.codec import StoredStory
from aggregator.state.codec import decode
from aggregator.state.codec import duplicate_row
from aggregator.state.codec import exclusion_row
from aggregator.state.codec import link_from_row
from aggregator.state.codec import story_from_row
from aggregator.state.codec import story_json
from aggregator.state.codec import with_body
from aggregator.state.interface import StateStore
from aggregator.state.interface import open_store
from aggregator.state.interface import store_exists
from aggregator.state.lastbuild import clear_lists
from aggregator.state.lastbuild import forget
from aggregator.state.lastbuild import patch_list
from aggregator.state.lastbuild import patched_tally
from aggregator.state.lastbuild import report_from_json
from aggregator.stories.dedupe import find_stories
from aggregator.stories.paircache import StoredPairs
from aggregator.stories.similar import Dated
from aggregator.stories.similar import Pair
from aggregator.stories.similar import Split
from aggregator.stories.similar import SweepPart
from aggregator.stories.similar import ZoneWork
from aggregator.stories.similar import find_zone_works
from aggregator.stories.similar import find_zones
from aggregator.stories.similar import fingerprint
from aggregator.stories.similar import group_periods
from aggregator.stories.similar import period_length
from aggregator.stories.similar import period_of
from aggregator.stories.similar import sweep_parts
from aggregator.stories.similar import sweeps_kept
from aggregator.stories.similar import zone_pairs
from aggregator.stories.topics import topic_key
from aggregator.stories.urls import canonical_url

if TYPE_CHECKING:
    import requests

#: the report of a build before the first: what a cold build patches
_NO_REPORT: dict[str, Any] = {
    "loaded": 0,
    "published": 0,
    "errors": [],
    "warnings": [],
    "duplicates_count": 0,
    "duplicates_tally": {},
    "excluded_count": 0,
    "excluded_tally": {},
    "links": None,
}


#: a story formed now: its id (first path), its survivor as published, the feeds it is
#: in (None when not published), its survivor as found
_Formed = tuple[str, Article, tuple[str, ...] | None, Article]
#: zones of fewer articles than this to find again are found here, not on every core
#: (starting the processes and sending them the articles would cost more)
PARALLEL_ZONE_ARTICLES = 20_000
#: a link step that judged more URLs than this has the link rows of every URL compared
#: with their results (one scan), not those of its URLs (by key)
_FEW_KEYS = 5_000
#: files read at once to find whether a URL is still given in a checked form
_READ_AT_ONCE = 64


@dataclass(frozen=True, slots=True)
class Published:
    """What a build wrote and found, for `Run.complete` to keep and report."""

    known: Identities
    spellings: dict[str, Counter[str]]
    records: dict[str, FeedRecord]
    shown: Shown
    feeds: tuple[FeedResult, ...]
    pages: tuple[PageResult, ...]
    gone: list[str]
    #: rows of articles replaced or deleted
    replaced: int
    old: list[StoredStory]
    new: list[_Formed]
    duplicates: list[Any]
    excluded: list[Any]


class Run:
    """One build (see the module docstring)."""

    def __init__(
        self,
        config: Config,
        now: datetime,
        store: StateStore,
        found: Changes,
        files: inputs.Found,
        identities: Mapping[str, tuple[int, int]],
        cancel: threading.Event | None,
        resolver: Resolver | None = None,
        progress: Progress | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.config = config
        self.now = now
        self.store = store
        self.found = found
        #: the whole corpus, as `inputs.find` found it (its misnamed files are reported)
        self.files = files
        self.identities = identities
        self.cold = found.cold
        #: the link results saved before this build's link step (a cold build's now)
        self.links_mark = found.links or LinkMark.now(store)
        #: the last build's link counts, to carry over (see `_LinkCounts`)
        self.link_counts = _LinkCounts.kept(store, found) if checks_links(config) else None
        #: the count of link results saved that the next build may start from
        self.links_seen: int | None = None
        self.cancel = cancel
        self.resolver = resolver
        self.progress = progress
        self.session = session
        #: requests the link step sent, and whether it found the network down
        self.requested = 0
        self.network_down = False
        #: the state's token before this build and this build's (see `zonerows`)
        self.generation: tuple[str | None, str] = (None, "")
        #: the articles loaded now, by path
        self.fresh: dict[str, Article] = {}
        #: bodies of the articles loaded now that are not in the parse cache
        self.bodies: dict[str, str] = {}
        #: the files loaded now that are not articles
        self.errors: tuple[LoadError, ...] = ()
        #: content digests of the files loaded now that were written just now
        self.digests: dict[str, str] = {}
        #: files whose bytes could not be read (see `Identities.unread`): the next
        #: build reads them again and repeats no report
        self.unread: set[str] = set()
        #: each survivor of the stories formed now, as it is published
        self.published: dict[str, Article] = {}
        #: in a cold build, every similar pair (`_refresh_zones` found them all): the
        #: stories are formed from these, not from the rows read back
        self.pairs: list[Pair] | None = None
        #: in a cold build, the `inc_member` rows by feed: the feeds are rendered from
        #: these while the rows go in (`_keep_stories`)
        self.members: dict[str, list[tuple[object, ...]]] | None = None

    def publish(
        self, output: Output, site: Site, rendered: RenderCache, known: Identities
    ) -> Published:
        """Update the tables and write the feeds for the changes (in `output`'s batch:
        the files land when it ends); what `complete` makes the report of."""
        store = self.store
        store.set_meta(FORM, "")  # until every table is consistent again
        # Whose periods this process kept may be read from memory (`zonerows`).
        self.generation = (store.meta(zonerows.GENERATION), secrets.token_hex(8))
        store.set_meta(zonerows.GENERATION, self.generation[1])
        forget(store)  # and the last report, until the new one is kept
        if self.cold:
            empty(store)
            clear_lists(store, known.paths)
        kept_feeds = {
            key: FeedRecord(*value) for key, value in json.loads(store.meta(FEEDS) or "{}").items()
        }
        # Settings only rendering reads changed: every feed is rendered again.
        rerender = store.meta(RENDER) != rendering(self.config)
        # 1. load
        gone = self._load()
        # What the link step judged of the files that changed or went is no longer
        # known (nor a name known to exist, for a DNS canary: see `LinkChecker.run`).
        if self.link_counts is not None:
            self.link_counts.note(str(k) for (k,) in self._rows("inc_link", "path", gone, "key"))
        self._delete("inc_link", "path", gone)
        old_rows = {str(row[0]): row for row in self._rows("inc_art", "path", gone)}
        # Keys that enter or leave the corpus change which related coverage is shown
        # in the feeds kept as they are (none in a cold build).
        keys: set[str] = set()
        if kept_feeds:
            rows = store.inc_rows("inc_key", "path", gone, "key")
            keys = {str(k) for (k,) in rows if not str(k).startswith(LINK_MARK)}
            keys.update(k for a in self.fresh.values() for k in a.keys)
        before = {str(k) for (k,) in store.inc_rows("inc_key", "key", keys, "key")}
        replace = functools.cache(functools.partial(self._replace_articles, gone))
        if not self.cold:  # the zones read the articles' rows
            replace()
        after = {str(k) for (k,) in store.inc_rows("inc_key", "key", keys, "key")}
        # 2. similar pairs; 3. stories; 4. topic settings, filters, links
        seeds = set(self.fresh) | (self.found.rejudge - set(gone))
        # Articles judged again (age, link results): their entries may show otherwise.
        judged = set(self.found.rejudge)
        # From an empty state, the rows go in while the workers find the first zones.
        seeds |= self._refresh_zones(old_rows, replace)
        replace()
        old_stories = {str(row[4]) for row in old_rows.values()}
        while True:
            components, old_ids = self._components(seeds, old_stories)
            new, duplicates, excluded = self._stories()
            # One link step judges every due and new URL, as a cold build's does (an
            # outage is told from all of them at once). A result it replaced judges
            # other articles again: they join, and their URLs are fresh by now.
            relinked = self._relinked(set(gone))
            judged |= relinked
            more = relinked - seeds
            if not more:
                break
            seeds |= more
        old, touched, behind = self._keep_stories(old_ids, new, components, gone, judged)
        if rerender:
            touched.update(kept_feeds)
        shows = store.inc_rows("inc_rel", "key", before ^ after, "path")
        for (feed,) in store.inc_rows("inc_member", "path", [p for (p,) in shows], "feed"):
            touched.add(str(feed))
        # 5. render and publish
        kept_spellings = self._kept_spellings()
        spellings = _spellings(kept_spellings, old, [a for _, a, _, _ in new])
        names = display_names(spellings)
        was = display_names(kept_spellings)
        if any(names.get(key, name) != name for key, name in was.items()):
            # Every entry shows its topics as their feeds are named: a topic shown in
            # another spelling now changes the entries of any feed (an article shows
            # every topic it has, also those whose feed it is not in).
            touched.update(kept_feeds)
        stop_if(self.cancel)
        corpus = _Corpus(store, self.stories.corpus_urls, complete=self.cold)
        shown = Shown(corpus, self.config.link_check, names)
        publisher = Publisher(output, site, shown, rendered, self.config.limits)
        try:
            records, pages = self._publish(publisher, names, touched, kept_feeds, behind)
            for _ in behind or ():  # what the rendering left
                if self.cancel is not None and self.cancel.is_set():
                    raise Cancelled("stopped while writing the state")
        finally:
            if behind is not None:
                # Stopped part way through the fill, it is rolled back (the tables are
                # not sealed either way: the next build is cold).
                behind.close()
        return Published(
            known, spellings, records, shown, tuple(publisher.results), tuple(pages),
            gone, len(old_rows), old, new, duplicates, excluded,
        )  # fmt: skip

    def complete(self, published: Published) -> BuildReport:
        """Keep what the next build starts from, once the files are in place (a build
        stopped before this starts the next from an empty state: the tables are not
        sealed); the build's report."""
        self._save_related(published.shown)
        self.links_seen = links_settled(self.store, self.links_mark, self.judged.links is not None)
        published.known.digests.update(self.digests)
        known = published.known.unread(self.unread)
        finish(self.store, self.now, known, published.spellings, published.records)
        report = self._report(
            published.gone,
            published.replaced,
            published.old,
            published.new,
            published.duplicates,
            published.excluded,
        )
        return dataclasses.replace(report, feeds=published.feeds, pages=published.pages)

    # -- steps ---------------------------------------------------------------------

    def _load(self) -> list[str]:
        """Load the changed files (through the parse cache: on every core when there
        are many); the paths whose rows must go."""
        found = self.found
        loaded = inputs.load(
            inputs.Found(found.changed, fresh=self.files.fresh),
            self.config.limits,
            store=self.store,
            # The link step reads images: with links checked, articles come whole.
            light=not checks_links(self.config),
            identities=self.identities,
            cancel=self.cancel,
            whole=self.cold,
            progress=self.progress,
        )
        self.fresh = {a.path: a for a in loaded.articles}
        self.bodies = loaded.bodies
        self.errors = loaded.errors
        self.digests = loaded.digests
        self.unread = set(loaded.unread)
        self.store.forget_parsed(found.deleted)
        return [*found.changed, *found.deleted]

    def _delete(self, table: str, column: str, keys: Iterable[object]) -> None:
        # From an empty state there is nothing to delete (a cold build's keys are every
        # file: asking would cost a query per 500 of them).
        if not self.cold:
            self.store.inc_delete(table, column, keys)

    def _rows(
        self, table: str, column: str, keys: Iterable[object], columns: str = "*"
    ) -> list[tuple[Any, ...]]:
        return [] if self.cold else self.store.inc_rows(table, column, keys, columns)

    def _replace_articles(self, gone: list[str]) -> None:
        store = self.store
        length = period_length(self.config.dedupe.window)
        self._delete("inc_art", "path", gone)
        self._delete("inc_key", "path", gone)
        self._delete("inc_rel", "path", gone)
        fresh = self.fresh.values()
        # Each its own story until the stories are formed (`inc_update_story`).
        store.inc_insert("inc_art", article_rows(fresh, length, str))
        store.inc_insert("inc_key", key_rows(fresh, self.config.dedupe.same_url))

    def _refresh_zones(
        self, old_rows: dict[str, tuple[Any, ...]], beside: Callable[[], object]
    ) -> set[str]:
        """Find the pairs of the zones of changed periods again (`old_rows`: the `inc_art`
        rows of the files that changed or went); the paths of the pairs that appeared,
        went or changed score. `beside` is run once in this thread while the workers
        find the first zones (or first, when there are none to find)."""
        settings = self.config.dedupe
        if not settings.similar_title:
            return set()
        store = self.store
        length = period_length(settings.window)
        kept = OrderedDict[int, zonerows.Period]()
        items: list[Item] = []
        digests: dict[int, str] = {}
        if self.cold:  # every article is fresh: its row is not there yet (see `beside`)
            items = [_fresh_item(a, a.published_at, None) for a in self.fresh.values()]
            periods = group_periods(items, settings.window)
            changed = set(periods)  # (what `_moved_periods` finds, one article at a time)
        else:
            changed = _moved_periods(old_rows, self.fresh, length)
            kept = zonerows.take(self.generation[0], settings.window)
            if not changed:  # no pair can have changed
                zonerows.keep(self.generation[1], settings.window, kept)  # nor a period
                beside()
                return set()
        wanted = {p + d for p in changed for d in (-1, 0, 1)}
        if not self.cold:
            read = self._zone_periods(kept, wanted, old_rows, length)
            periods = {}
            for number in sorted(read):
                period = read[number]
                if period.items:
                    start = len(items)
                    items.extend(period.items)
                    periods[number] = list(range(start, len(items)))
                    digests[number] = period.digest
        zones = _zones_around(changed)
        present = _present(zones, periods)
        cache = StoredPairs(self.store, settings)
        limits = self.config.limits
        loaded: dict[str, Fingerprint] = {}

        def find(works: list[ZoneWork]) -> Iterable[dict[int, list[Pair]]]:
            return self._find_zones(works, beside)

        def words(some: Sequence[Dated]) -> list[Fingerprint]:
            prints = load_words(store, limits, some)
            loaded.update(zip((a.path for a in some), prints, strict=True))
            return prints

        found = zone_pairs(
            items,
            periods,
            present,
            settings.threshold,
            settings.window,
            cache,
            words,
            zones_told(self.progress, find) or find,
            digests,
        )
        if not self.cold:
            # The changed periods last: the last to go when too many are kept.
            for number in sorted(wanted, key=lambda n: (n in changed, n)):
                period = read[number]
                if any(item.path in loaded for item in period.items):
                    period.items = [_complete(item, loaded) for item in period.items]
                kept[number] = period
                kept.move_to_end(number)
            zonerows.keep(self.generation[1], settings.window, kept)
        # From an empty state every zone was found again: the others are gone.
        cache.save(within=None if self.cold else zones)
        new = {(z, a, b, s) for z, pairs in found.items() for a, b, s in pairs}
        pair_rows = sorted(new)
        if self.cold:
            self.pairs = [(a, b, s) for _zone, a, b, s in pair_rows]
        old = {tuple(row) for row in store.inc_rows("inc_pair", "zone", zones)}
        self._delete("inc_pair", "zone", zones)
        store.inc_insert("inc_pair", pair_rows)
        ends: set[str] = set()
        for _zone, a, b, _score in new ^ old:
            ends.update((str(a), str(b)))
        return ends

    def _zone_periods(
        self,
        kept: Mapping[int, zonerows.Period],
        wanted: set[int],
        old_rows: dict[str, tuple[Any, ...]],
        length: timedelta,
    ) -> dict[int, zonerows.Period]:
        """The `wanted` periods as the state now has them (this build's rows in): those
        kept by the last build of this state brought up to date with this build's
        changes, the others read."""
        gone = set(old_rows)
        moved = {int(row[1]) for row in old_rows.values()}
        added: dict[int, list[Item]] = {}
        for path, number, stamp, digest, _story in article_rows(self.fresh.values(), length, str):
            item = _fresh_item(self.fresh[str(path)], datetime.fromisoformat(str(stamp)), digest)
            added.setdefault(cast(int, number), []).append(item)
        found: dict[int, zonerows.Period] = {}
        for number in wanted:
            period = kept.get(number)
            if period is not None and (number in moved or number in added):
                period = zonerows.changed(period, gone, added.get(number, ()))
            if period is not None:
                found[number] = period
        missing = wanted - found.keys()
        if missing:
            rows: dict[int, list[Item]] = {number: [] for number in missing}
            for path, number, stamp, digest, _story in self.store.inc_rows(
                "inc_art", "period", missing
            ):
                article = self.fresh.get(path)
                if article is None:
                    item = _row_item(path, stamp, digest)
                else:
                    item = _fresh_item(article, datetime.fromisoformat(stamp), digest)
                rows[int(number)].append(item)
            found.update((number, zonerows.Period.of(items)) for number, items in rows.items())
        return found

    def _find_zones(
        self, works: list[ZoneWork], beside: Callable[[], object]
    ) -> Iterable[dict[int, list[Pair]]]:
        # The articles, each once (a part also carries the period before its first zone).
        if len({path for work in works for path in work.paths}) < PARALLEL_ZONE_ARTICLES:
            beside()
            return _found_here(works, self.cancel)
        return map_in_processes(
            find_zone_works, works, self.cancel, "finding similar stories", beside=beside
        )

    def _components(
        self, seeds: set[str], old_stories: set[str]
    ) -> tuple[dict[str, list[str]], set[str]]:
        """The stories (first path -> paths in order) holding the seeds, and the ids of
        the stories they replace."""
        if self.cold:  # every article is a seed: there is nothing to walk to
            return self._split(list(self.fresh)), set()
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
            if frontier:  # without `same_url`, only links make one story (`LINK_MARK`)
                keys = [
                    row
                    for row in store.inc_rows("inc_key", "path", frontier, "key")
                    if same_url != str(row[0]).startswith(LINK_MARK)
                ]
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
        """The nodes (in path order) by story: the stories `find_stories` makes of them."""
        self.articles = self._light(nodes)
        pairs = self._pairs(nodes)
        stories = find_stories([self.articles[p] for p in nodes], self.config.dedupe, pairs=pairs)
        self.stories = stories
        return {members[0]: list(members) for members in stories.members}

    def _pairs(self, nodes: list[str]) -> list[Pair]:
        if not self.config.dedupe.similar_title:
            return []
        inside = set(nodes)
        if self.pairs is not None:
            return [(a, b, s) for a, b, s in self.pairs if a in inside and b in inside]
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

    def _stories(self) -> tuple[list[_Formed], list[Any], list[Any]]:
        """(story, survivor as published, feeds it is in or None, survivor as found)
        per story, and the report's duplicates and exclusions of those stories, as
        JSON."""
        stories, config = self.stories, self.config
        found = survivors(stories, config)
        if checks_links(config):
            found = self._whole(found)
        self.judged: Judged = judge(
            found,
            config,
            self.now,
            self.store,
            self.resolver,
            self.progress,
            self.cancel,
            self.session,
            # The URLs of the stories kept as they are (none in a cold build).
            self.store.inc_link_results,
            None if self.cold else self._checked_elsewhere,
        )
        selection = self.judged.selection
        new = [
            (members[0], article, selection.topics.get(article.path), first)
            for members, first, article in zip(
                stories.members, found, self.judged.survivors, strict=True
            )
        ]
        self.published = {article.path: article for _, article, _, _ in new}
        duplicates = [duplicate_row(d) for d in stories.duplicates]
        excluded = [exclusion_row(e) for e in selection.excluded]
        return new, duplicates, excluded

    def _checked_elsewhere(self, keys: Collection[str]) -> set[str]:
        """Of these canonical URLs, those an article outside the stories formed again
        (a story kept as it is) gives in a form the link step checks: its link rows
        name the articles, their files the forms."""
        inside = self.articles
        givers: dict[str, set[str]] = {}
        for key, path in self.store.inc_rows("inc_link", "key", keys, "key, path"):
            if path not in inside:
                givers.setdefault(str(key), set()).add(str(path))
        return set(givers) - self._unchecked(givers)

    def _unchecked(self, givers: dict[str, set[str]]) -> set[str]:
        """The canonical URLs (of `givers`, by the articles that give them) that none of
        their articles gives in a form the link step checks: their files are read,
        through the parse cache, a few at a time, until each URL is told (a URL many
        stories show, a logo, by the first few)."""
        unsure = set(givers)
        read: set[str] = set()
        while True:
            # the next few files of the URLs not told yet
            some = sorted({p for key in unsure for p in givers[key]} - read)[:_READ_AT_ONCE]
            if not some:
                return unsure
            read.update(some)
            for article in self._stored(some).values():
                unsure.difference_update(
                    canonical_url(url) for url in checked_urls(article, self.config)
                )

    def _stored(self, paths: Sequence[str]) -> dict[str, Article]:
        """The articles of these files as the parse cache holds them, whole (read again
        when the row is gone), by path; none for a file that no longer reads as one."""
        rows = self.store.parsed_rows(paths)
        found: dict[str, Article] = {}
        for path in paths:
            loaded = decode(rows[path][0], None, rows[path][1]) if path in rows else None
            article = loaded if isinstance(loaded, Article) else self._reread(path)
            if article is not None:
                found[path] = article
        return found

    def _keep_stories(
        self,
        old_ids: set[str],
        new: list[_Formed],
        components: dict[str, list[str]],
        gone: list[str],
        judged_again: set[str],
    ) -> tuple[list[StoredStory], set[str], Generator[None, None, None] | None]:
        """Replace the rows of the stories formed again (`old_ids`) by those of the
        stories formed now (`new`); the stories replaced, the feeds whose members
        change, and, in a cold build, the writes left to do, in steps (all of them: they
        go in while the feeds render, `_publish`, which reads the members from `members`
        meanwhile), else None."""
        store = self.store
        rows = store.inc_rows("inc_story", "story", old_ids)
        old = [story_from_row(row) for row in rows]
        # A story formed again as it was (the same survivor, neither changed nor judged
        # again, with the same topics, feeds and images: only a copy's score moved, say)
        # changes no feed.
        was = {str(row[0]): (str(row[1]), str(row[2])) for row in rows}
        stories = [(s, a.path, story_json(a, p, f)) for s, a, p, f in new]
        same = (
            {
                s
                for s, path, text in stories
                if was.get(s) == (path, text)
                and path not in self.fresh
                and path not in judged_again
            }
            if was
            else set()
        )
        touched: set[str] = set()
        for story in old:
            if story.kept and story.story not in same:
                touched.update([ALL, *(topic_key(t) for t in story.feeds)])
        self._delete("inc_member", "story", old_ids)
        self._delete("inc_story", "story", old_ids)
        members: list[tuple[object, ...]] = []
        for first, article, passed, _found in new:
            members.extend(member_rows(first, article, passed))
        # (feed, rank, entry, path, story) each
        touched.update({str(row[0]) for row in members if row[4] not in same})
        # A file read now is its own story until then (`_replace_articles`): the first
        # file of each story, most of a cold build's, is so already.
        fresh = self.fresh
        story_rows = [
            (s, p) for s, paths in components.items() for p in paths if s != p or p not in fresh
        ]
        if self.cold:  # the tables are empty: filled (`inc_fill`) in steps
            fill: dict[str, Sequence[tuple[object, ...]]] = {
                "inc_member": members,
                "inc_story": stories,
            }
            if self.judged.links is not None:  # (no link counts are carried over)
                fill["inc_link"] = link_rows(self.judged.links)
            self.members = {}
            for row in members:
                self.members.setdefault(str(row[0]), []).append(row)
            update = functools.partial(store.inc_update_story, story_rows)
            return old, touched, _steps(store.inc_fill_steps(fill), update)
        store.inc_insert("inc_member", members)
        store.inc_insert("inc_story", stories)
        if self.judged.links is not None:
            judged = {s.survivor for s in old} | {a.path for _, a, _, _ in new} | set(gone)
            added = link_rows(self.judged.links)
            if self.link_counts is not None:
                self.link_counts.note(
                    str(k) for (k,) in self._rows("inc_link", "path", judged, "key")
                )
                self.link_counts.note(str(row[0]) for row in added)
            self._delete("inc_link", "path", judged)
            store.inc_insert("inc_link", added)
        store.inc_update_story(story_rows)
        return old, touched, None

    def _relinked(self, gone: set[str]) -> set[str]:
        """The articles judged by a link result the link step just replaced (none with
        links not checked, or with the network down: then nothing is stored)."""
        if self.judged.links is None:
            return set()
        summary = self.judged.links.summary
        self.requested += summary.requested
        self.network_down = self.network_down or summary.network_down
        if self.cold:
            return set()  # no link rows yet (`tables.empty`)
        # The results the link step saved are among those it judged by: the link rows
        # of other URLs name the results they did (results another process saved
        # meanwhile are found by the next build: see `tables.links_settled`).
        judged = self.judged.links.results.keys()
        keys = judged if len(judged) <= _FEW_KEYS else None
        return self.store.inc_relink(None, keys) - gone

    def _kept_spellings(self) -> dict[str, Counter[str]]:
        """The topic spellings the last build kept (`publish.topic_spellings`)."""
        data = json.loads(self.store.meta(SPELLINGS) or "{}")
        return {key: Counter(counts) for key, counts in data.items()}

    def _publish(
        self,
        publisher: Publisher,
        names: dict[str, str],
        touched: set[str],
        feeds: dict[str, FeedRecord],
        behind: Iterator[None] | None,
    ) -> tuple[dict[str, FeedRecord], list[PageResult]]:
        """Render the feeds whose members or names changed (`touched`) as
        `publish.feed_plans` plans them, keep the others as the last build left them
        (`feeds`), then the pages; the record of every feed, and the pages. The steps
        of `behind` (writes to the state), when given, are taken while the workers
        render."""
        records: dict[str, FeedRecord] = {}

        def renders(plan: FeedPlan) -> bool:
            known = feeds.get(plan.key)
            return plan.key in touched or known is None or known.name != plan.name

        def entries(plan: FeedPlan) -> list[Article] | None:
            top = tops.pop(plan.key, None)
            if top is None:
                top = self._top(plan.key, plan.limit)
            if not top and plan.key != ALL:
                return None  # no members: retired after the feeds
            return self._entries(top)

        def write(plan: FeedPlan) -> Listing | None:
            known = feeds.get(plan.key)
            if renders(plan):
                start = len(publisher.results)
                if publisher.renders_ahead(plan.spec):
                    listing = publisher.publish_ahead(plan.spec)
                else:
                    found = entries(plan)
                    if found is None:
                        return None
                    listing = publisher.publish(plan.spec, found, plan.limit)
                records[plan.key] = feed_record(plan.name, publisher.results[start:], listing)
                return listing
            assert known is not None
            records[plan.key] = known
            for topic, fmt, path, count in known.results:
                publisher.results.append(FeedResult(topic, fmt, path, count, False))
                publisher.rendered.keep(path)
            return self._listing(plan.spec, known)

        live = [k for k in names if k in touched or k in feeds]
        plans = feed_plans(self.config, names, live)
        # The feeds to render, for the workers to render side by side, each read as it
        # is handed out (a feed with no members is retired: not rendered).
        ahead: list[AheadFeed] = []
        tops: dict[str, list[tuple[str, str]]] = {}  # (for the feeds not taken)
        if workers_running():
            for plan in plans:
                if renders(plan) and (top := self._top(plan.key, plan.limit)):
                    load = functools.partial(self._entries, top)
                    ahead.append(AheadFeed(plan.spec, plan.limit, len(top), load))
                    tops[plan.key] = top
        publisher.render_ahead(ahead, self.cancel, behind)
        try:
            return records, publish_plans(publisher, plans, write, names.values(), self.progress)
        finally:
            publisher.stop_ahead()

    def _top(self, feed: str, limit: int) -> list[tuple[str, str]]:
        """The first `limit` (path, story) of a feed, in its order: as
        `StateStore.inc_top` reads them, from `members` while they go in."""
        if self.members is None:
            return self.store.inc_top(feed, limit)
        rows = heapq.nsmallest(limit, self.members.get(feed, ()), key=_FEED_ORDER)
        return [(str(row[3]), str(row[4])) for row in rows]

    def _entries(self, top: list[tuple[str, str]]) -> list[Article]:
        """The entries of a feed (path and story each, in feed order): each survivor
        as published, with its body."""
        kept = [(path, story) for path, story in top if path not in self.published]
        stories = {
            str(row[0]): story_from_row(row)
            for row in self.store.inc_rows("inc_story", "story", [s for _, s in kept])
        }
        read = self._stored([path for path, _ in kept])
        stored: dict[str, Article] = {}
        for path, story in kept:  # of a story kept as it was: as the tables say
            article = read.get(path)
            if article is None:
                continue
            known = stories[story]
            if known.topics != article.topics:
                article = dataclasses.replace(article, topics=known.topics)
            if known.images is not None:
                shown = tuple(article.images[i] for i in known.images if i < len(article.images))
                article = dataclasses.replace(article, images=shown)
            stored[path] = article
        formed = [self.published[path] for path, _ in top if path in self.published]
        whole = {a.path: a for a in self._whole(formed)}
        return [a for path, _ in top if (a := whole.get(path) or stored.get(path)) is not None]

    def _whole(self, articles: Sequence[Article]) -> list[Article]:
        """The articles with their bodies (rendering and the link step read them)."""
        wanted = [a.path for a in articles if a.light]
        rows = self.store.parsed_rows(wanted)
        whole: list[Article] = []
        for article in articles:
            if article.light:
                if article.path in self.bodies:  # parsed now, not cached
                    article = with_body(article, self.bodies[article.path])
                elif article.path in rows:
                    article = with_body(article, rows[article.path][1])
                else:  # the row is gone: read the file again
                    again = self._reread(article.path)
                    if again is None:
                        continue
                    article = dataclasses.replace(again, topics=article.topics)
            whole.append(article)
        return whole

    def _reread(self, path: str) -> Article | None:
        """The article of a file whose cached row is gone: read again (None if it no
        longer reads as an article)."""
        again = keyed(load_file(Path(path), self.config.limits))
        return again if isinstance(again, Article) else None

    def _listing(self, spec: FeedSpec, known: FeedRecord) -> Listing | None:
        """The listing (for the pages) of a feed kept as the last build left it, as the
        build that last rendered it listed it: a feed is kept only while nothing it shows
        changed (no story of it is `touched`, see `_keep_stories`), its files and its
        headlines alike."""
        if known.listing is None:
            return None
        count, updated, headlines = known.listing
        latest = tuple(Headline.from_row(row) for row in headlines)
        return Listing(spec, count, datetime.fromisoformat(updated), latest)

    def _save_related(self, shown: Shown) -> None:
        # The rows of an unchanged file stand: its related coverage is the same.
        known = {p for (p,) in self.store.inc_rows("inc_rel", "path", shown.related, "path")}
        rows = [(k, p) for p, keys in shown.related.items() if p not in known for k in set(keys)]
        self.store.inc_insert("inc_rel", rows)

    def _report(
        self,
        gone: list[str],
        dropped: int,
        old: list[StoredStory],
        new: list[_Formed],
        duplicates: list[Any],
        excluded: list[Any],
    ) -> BuildReport:
        """The last build's report with the rows of what changed replaced (the report
        before any build, for a cold one); its long lists stay in the state file."""
        store, gone_paths = self.store, set(gone)
        previous = _NO_REPORT if self.cold else self.found.previous
        report = dict(previous)
        report["loaded"] = int(previous["loaded"]) - dropped + len(self.fresh)
        report["published"] = (
            int(previous["published"])
            - sum(s.kept for s in old)
            + sum(p is not None for _, _, p, _ in new)
        )
        # Of the files of this build (not the misnamed files of the last, one of which
        # may be shown as the name of a file of this build: `bad-\\xff.md`).
        present = functools.cache(lambda: set(self.files.paths))  # (when a row asks)
        for kind, rows in (
            ("errors", [[e.path, e.line, e.reason] for e in self.errors]),
            (
                "warnings",
                [[w.path, w.line, w.reason] for a in self.fresh.values() for w in a.warnings],
            ),
        ):
            listed = [
                row for row in previous[kind] if row[0] in present() and row[2] != NAME_NOT_UTF8
            ]
            report[kind] = _patched(listed, gone_paths, rows)
        survivors = {s.survivor for s in old}
        for kind, rows in (("duplicates", duplicates), ("excluded", excluded)):
            count, tally = f"{kind}_count", f"{kind}_tally"
            gained, change = patch_list(store, kind, survivors, rows)
            report[count] = int(previous[count]) + gained
            report[tally] = patched_tally(store, kind, previous.get(tally), change)
        report["feeds"] = []
        report["pages"] = []
        links = None
        if self.judged.links is not None:
            links = _link_summary(
                store,
                self.config,
                self.requested,
                self.network_down,
                self.link_counts,
                self.links_seen,
            )
        found = report_from_json(report, store)
        return dataclasses.replace(
            found,
            # Files whose names cannot be read are found anew by each build, first.
            errors=(*self.files.misnamed, *found.errors),
            links=links,
            mode="full" if self.cold else "incremental",
            changed_files=0 if self.cold else len(gone),
        )


class _LinkCounts:
    """The report's link counts, how many canonical URLs the link rows name by class of
    their result, carried over from the last build's: when no result was saved since
    its link rows were written (`LinkMark.seen`), each row agrees with the
    result it names (its stamp ends with the class), so the counts move only with the
    rows of the URLs a build writes, noted before they change (`note`), and counted
    again after."""

    def __init__(self, store: StateStore, counts: dict[str, int]) -> None:
        self.store = store
        self.counts = counts
        #: class of each noted URL before: "" judged with no result, None not named
        self.before: dict[str, str | None] = {}

    @classmethod
    def kept(cls, store: StateStore, found: Changes) -> _LinkCounts | None:
        if found.links is None or not found.links.seen:
            return None
        try:
            seen, counts = json.loads(store.meta(LINK_COUNTS) or "null")
        except (TypeError, ValueError):
            return None
        if seen != found.links.writes:
            return None
        return cls(store, {str(k): int(n) for k, n in counts.items()})

    def note(self, keys: Iterable[str]) -> None:
        """Before the link rows of these URLs change."""
        self.before.update(self._classes([k for k in keys if k not in self.before]))

    def _classes(self, keys: Iterable[str]) -> dict[str, str | None]:
        found: dict[str, str | None] = dict.fromkeys(keys)
        for key, stamp, verdict in self.store.inc_rows(
            "inc_link", "key", found, "key, stamp, verdict"
        ):
            if verdict == "":
                found[str(key)] = str(stamp).rpartition(" ")[2]
        return found

    def now(self) -> dict[str, int] | None:
        """The counts, once the rows are written; None when they do not add up (counts
        kept by something else than a build of this version: counted anew)."""
        counts = dict(self.counts)
        for key, klass in self._classes(self.before).items():
            was = self.before[key]
            if was is not None:
                counts[was] = counts.get(was, 0) - 1
            if klass is not None:
                counts[klass] = counts.get(klass, 0) + 1
        if any(n < 0 for n in counts.values()):
            return None
        return {k: n for k, n in counts.items() if n}


def _link_summary(
    store: StateStore,
    config: Config,
    requested: int,
    down: bool,
    kept: _LinkCounts | None,
    seen: int | None,
) -> LinkSummary:
    """The report's link summary, from the tables (as `check_article_links` makes it):
    the counts carried over from the last build's when `kept`, else counted, and kept
    for the next build with the count of results `seen` (see `tables.links_settled`)."""
    carried = kept.now() if kept is not None else None
    if carried is not None:
        counts = carried
        due = store.inc_link_first_due()
    else:
        rows, by_class, due = store.inc_link_totals()
        counts = dict(by_class)
        if rows > sum(counts.values()):
            counts[""] = rows - sum(counts.values())
    if seen is not None:
        store.set_meta(LINK_COUNTS, json.dumps([seen, counts], sort_keys=True))
    checked = sum(counts.values())
    classes = sorted((k, n) for k, n in counts.items() if k)
    listed: dict[str, list[tuple[str, LinkResult]]] = {"excluded": [], "dropped": []}
    for path, verdict, shown in store.inc_link_verdicts():
        listed[verdict].append((path, link_from_row(json.loads(shown))))
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


#: the items of the zones' rows lately read, by path, date and fingerprint digest: read
#: only, never changed (see `_row_item`); at most `_ZONE_ITEMS_KEPT` (about 600 bytes
#: each), all dropped when full
_ZONE_ITEMS: dict[tuple[Any, ...], Item] = {}
_ZONE_ITEMS_KEPT = 20_000


class _Corpus:
    """The canonical URLs of the corpus (a `publish.CorpusUrls`): those of the stories
    formed now (`known`), and the others as the state file holds them; `complete` when
    `known` is all of them (a cold build)."""

    def __init__(self, store: StateStore, known: Container[str], *, complete: bool) -> None:
        self.store = store
        self.known = known
        self.complete = complete
        self.found: dict[str, bool] = {}

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        if key in self.known:
            return True
        if self.complete:
            return False
        if key not in self.found:
            self.learn([key])
        return self.found[key]

    def learn(self, keys: Iterable[str]) -> None:
        """Ask the state file at once about the keys `in` will be asked about (a query
        for each 500, not one for each: a feed's entries give hundreds)."""
        if self.complete:
            return
        unknown = {key for key in keys if key not in self.known and key not in self.found}
        if unknown:
            held = {str(k) for (k,) in self.store.inc_rows("inc_key", "key", unknown, "key")}
            for key in unknown:
                self.found[key] = key in held


def _spellings(
    kept: Mapping[str, Counter[str]], old: list[StoredStory], new: list[Article]
) -> dict[str, Counter[str]]:
    """The topic spellings `kept` by the last build, with the topics of the stories
    replaced (`old`) taken out and those of the stories formed now (`new`) put in."""
    spellings = {key: Counter(counts) for key, counts in kept.items()}
    # Counted by name first (in C: a cold build's are every article's), then by key.
    gone = Counter(itertools.chain.from_iterable(story.topics for story in old))
    came = Counter(itertools.chain.from_iterable(article.topics for article in new))
    for topic, count in gone.items():
        spellings[topic_key(topic)][topic] -= count
    for topic, count in came.items():
        spellings.setdefault(topic_key(topic), Counter())[topic] += count
    for key in list(spellings):
        counter = spellings[key]
        for name in [n for n, count in counter.items() if count <= 0]:
            del counter[name]
        if not counter:
            del spellings[key]
    return spellings


#: the order of a feed's `inc_member` rows: rank, entry, path (`StateStore.inc_top`'s)
_FEED_ORDER = operator.itemgetter(1, 2, 3)


def _steps(fill: Iterable[None], *then: Callable[[], object]) -> Generator[None, None, None]:
    """The steps of `fill`, then each of `then` a step; closed in the middle of `fill`,
    it closes it (a store's steps roll back what they began)."""
    yield from fill
    for write in then:
        yield
        write()


def _zones_around(changed: Iterable[int]) -> list[int]:
    """The zones a change in these periods moves: each period's, and the zones across it
    and each period beside it."""
    return sorted({2 * p + d for p in changed for d in (-1, 0, 1)})


def _present(zones: Iterable[int], periods: Container[int]) -> list[int]:
    """Those of `zones` whose periods hold articles (both, for a zone across two)."""
    return [z for z in zones if z // 2 in periods and (z % 2 == 0 or z // 2 + 1 in periods)]


def _found_here(
    works: list[ZoneWork], cancel: threading.Event | None
) -> Iterator[dict[int, list[Pair]]]:
    """The pairs of the zones of `works` found in this process, a large period's in two
    parts at once, one on the helper process when one is kept (`loader.keep_helper`)."""
    kept = helper()
    split: Split | None = None
    if kept is not None:

        def split(
            away: list[SweepPart], here: list[SweepPart]
        ) -> list[list[tuple[int, int, float]]]:
            parts = [*away, *here]
            return kept.map(sweep_parts, parts, cancel, "finding similar stories", len(here))

    for work in works:
        stop_if(cancel)  # (between zones: a sweep here checks nothing)
        yield find_zones(work, split)


def warm_zones(config: Config, cancel: threading.Event | None = None) -> None:
    """Find again the zones around the newest article published, keeping what their
    sweeps make (`similar.keep_sweeps`, on the helper process too) and the rows and
    words they read, the pairs found left as the state has them. A daemon does it
    after a full build, whose zones were found on the workers (nothing of them kept
    here), so that its first build after a file lands there, where new stories land,
    finds them as warm as after a build of its own. Nothing to do where sweeps are not
    kept, for a state of another form, or for zones so large that builds find them on
    the workers."""
    settings = config.dedupe
    if not settings.similar_title or not sweeps_kept():
        return
    if not store_exists(config.state_location):
        return  # (none to read: opening it would make one)
    stop_if(cancel)
    with open_store(config.state_location) as store:
        # (The token first: rows of a later build are never kept under an earlier one.)
        token = store.meta(zonerows.GENERATION)
        if not current(store, config):
            return
        newest = store.inc_top(ALL, 1)
        rows = store.inc_rows("inc_art", "path", [path for path, _ in newest], "period")
        if not rows:
            return
        period = int(rows[0][0])
        wanted = {period + d for d in (-1, 0, 1)}
        items = [
            _row_item(path, stamp, digest)
            for path, _period, stamp, digest, _story in store.inc_rows("inc_art", "period", wanted)
        ]
        periods = group_periods(items, settings.window)
        if (
            token is not None
            and store.meta(zonerows.GENERATION) == token
            and current(store, config)
        ):
            # The next build of this state reads these periods from memory.
            kept = OrderedDict[int, zonerows.Period]()
            for number in sorted(wanted, key=lambda n: (n == period, n)):  # its own last
                kept[number] = zonerows.Period.of([items[i] for i in periods.get(number, ())])
            zonerows.keep(token, settings.window, kept)
        present = _present(_zones_around([period]), periods)
        if sum(len(periods[p]) for p in wanted if p in periods) >= PARALLEL_ZONE_ARTICLES:
            return
        stop_if(cancel)
        limits = config.limits
        zone_pairs(
            items,
            periods,
            present,
            settings.threshold,
            settings.window,
            None,
            lambda some: load_words(store, limits, some),
            lambda works: _found_here(works, cancel),
        )


def _fresh_item(article: Article, when: datetime, digest: object) -> Item:
    """An article loaded now as near-duplicate detection reads it (its row's date)."""
    prints = article.fingerprint
    if prints is None:  # its words are read when its zone is found again
        text = fingerprint(article).digest if digest is None else str(digest)
        prints = Fingerprint((), (), (), (), text, complete=False)
    return Item(article.path, when, prints)


def _row_item(path: object, stamp: str, digest: object) -> Item:
    """The item of an `inc_art` row of an article not loaded now: its words are read when
    its zone is found again. Made once from the same row (a daemon reads the rows of the
    same periods again and again)."""
    key = (path, stamp, digest)
    item = _ZONE_ITEMS.get(key)
    if item is None:
        text = "" if digest is None else str(digest)  # as `article_rows` makes it
        prints = Fingerprint((), (), (), (), text, complete=False)
        if len(_ZONE_ITEMS) >= _ZONE_ITEMS_KEPT:
            _ZONE_ITEMS.clear()
        item = _ZONE_ITEMS[key] = Item(str(path), datetime.fromisoformat(stamp), prints)
    return item


def _complete(item: Item, loaded: Mapping[str, Fingerprint]) -> Item:
    """The item with the words loaded for it (when of its fingerprint)."""
    prints = loaded.get(item.path)
    if prints is None or item.fingerprint is None or prints.digest != item.fingerprint.digest:
        return item
    return Item(item.path, item.published_at, prints)


def _moved_periods(
    old_rows: dict[str, tuple[Any, ...]], fresh: dict[str, Article], length: timedelta
) -> set[int]:
    """The periods whose articles changed as near-duplicate detection reads them: one
    came, went, or has another date or other words (the digest of its fingerprint)
    than its row (`inc_art`: path, period, date, digest, story). An edit of anything
    else (quality, topics, flags, links, images) changes no pair: its zones stand."""
    changed: set[int] = set()
    for path, row in old_rows.items():
        was = (int(row[1]), str(row[2]), str(row[3]))
        article = fresh.get(path)
        if article is None:
            changed.add(was[0])
            continue
        (now,) = article_rows([article], length, str)
        if now[1:4] != was:
            changed.update((was[0], period_of(article.published_at, length)))
    changed.update(
        period_of(a.published_at, length) for path, a in fresh.items() if path not in old_rows
    )
    return changed


def _patched(rows: list[list[Any]], gone: set[str], added: list[list[Any]]) -> list[list[Any]]:
    """Report rows (path first) without those of `gone`, with `added`, by path (stable)."""
    kept = [row for row in rows if row[0] not in gone]
    kept.extend(added)
    kept.sort(key=lambda row: str(row[0]))
    return kept
