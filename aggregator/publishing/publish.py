"""Writing feeds and pages: one feed per topic and format, the index page and OPML.

A topic with no kept article gets no feed. If it had a feed before, that file is
rewritten as a valid feed with no entries, keeping its title and date, so readers
drop the old items and never get a 404 or a broken file (its "retired" state is in
the report with 0 entries; it leaves the index page and the OPML).
"""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from collections.abc import Callable
from collections.abc import Container
from collections.abc import Generator
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from aggregator.config import Config
from aggregator.limits import Limits
from aggregator.limits import cap_feed
from aggregator.links import linkpolicy as lp
from aggregator.links.linkpolicy import LinkCheckSettings
from aggregator.model import Article
from aggregator.model import FeedFormat
from aggregator.model import FeedResult
from aggregator.model import PageResult
from aggregator.progress import Progress
from aggregator.progress import counting
from aggregator.publishing.output import Output
from aggregator.rendering.feeds import EXTENSIONS
from aggregator.rendering.feeds import FORMATS
from aggregator.rendering.feeds import FeedSpec
from aggregator.rendering.feeds import Site
from aggregator.rendering.feeds import entry_id
from aggregator.rendering.feeds import entry_offset
from aggregator.rendering.feeds import keep_rendered
from aggregator.rendering.feeds import prefix_sizes
from aggregator.rendering.feeds import read_feed_header
from aggregator.rendering.feeds import render
from aggregator.rendering.feeds import render_empty
from aggregator.rendering.feeds import render_feeds
from aggregator.rendering.pages import INDEX
from aggregator.rendering.pages import OPML_ALL
from aggregator.rendering.pages import OPML_PER_FORMAT
from aggregator.rendering.pages import Listing
from aggregator.rendering.pages import headline
from aggregator.rendering.pages import render_index
from aggregator.rendering.pages import render_opml
from aggregator.rendering.rendercache import RenderCache
from aggregator.rendering.slugs import topic_slug
from aggregator.sources.loader import map_in_processes
from aggregator.sources.loader import workers_running
from aggregator.stories.dedupe import related_keys
from aggregator.stories.topics import topic_key

ALL_STEM = "all"
TOPICS_FOLDER = "topics"
HEADLINES = 3
#: entries to render, in all the feeds of a build, from which they are rendered on the
#: worker processes (when the build runs them: `Publisher.render_ahead`)
PARALLEL_ENTRIES = 300


#: the key of the all-topics feed among topic keys
ALL = ""


@dataclass(frozen=True, slots=True)
class FeedPlan:
    """One feed a build writes (`feed_plans`)."""

    #: the topic key; `ALL` for the all-topics feed
    key: str
    #: the topic's display name; None for the all-topics feed
    name: str | None
    spec: FeedSpec
    #: entries at most: the feed's limit, capped by `limits.feed_entries`
    limit: int


def feed_plans(config: Config, names: dict[str, str], keys: Iterable[str]) -> list[FeedPlan]:
    """The all-topics feed, then the feed of each topic of `keys`, by display name
    (`names`: display name per topic key): the order a build writes them in."""
    cap = config.limits.feed_entries
    plans = [FeedPlan(ALL, None, all_spec(config), min(config.limit, cap))]
    for key in sorted(keys, key=lambda k: (names[k].casefold(), names[k])):
        name = names[key]
        limit = config.topic_settings(name).limit or config.limit
        plans.append(FeedPlan(key, name, topic_spec(config, name), min(limit, cap)))
    return plans


def publish_plans(
    publisher: Publisher,
    plans: Sequence[FeedPlan],
    write: Callable[[FeedPlan], Listing | None],
    names: Iterable[str],
    progress: Progress | None = None,
) -> list[PageResult]:
    """The publishing sequence of every build: each plan's feed (`write` renders it, or
    keeps what the last build wrote, and gives its listing: None for a feed with no
    entries), then the retiring of orphan topic feeds and the pages that list them.
    `progress` hears the phase "write", a feed (in every format) at a time."""
    everything: Listing | None = None
    listings: list[Listing] = []
    written = counting(progress, "write", len(plans))
    for plan in plans:
        listing = write(plan)
        if written is not None:
            written(1)
        if plan.key == ALL:
            everything = listing
        elif listing is not None:
            listings.append(listing)
    return publisher.finish(names, everything, listings)


def feed_order(article: Article) -> tuple[float, str, str]:
    """An article's place in a feed: newest first; articles published at the same time
    by their `updated` date (`feeds.entry_updated`), latest first, then by entry id;
    then by path. The second part, the place among articles published at the same
    time, is a string (the offset of `updated` counted down from 999,999, on six
    digits, then the entry id) that sorts alike in Python and in the state's tables.
    The feeds' dates follow this order (`feeds.entry_dates`)."""
    ident = entry_id(article)
    tie = f"{999_999 - entry_offset(article, ident):06d} {ident}"
    return (-article.published_at.timestamp(), tie, article.path)


class Publisher:
    """Writes the feeds of one build and collects their results."""

    def __init__(
        self, output: Output, site: Site, shown: Shown, rendered: RenderCache, limits: Limits
    ) -> None:
        self.output = output
        self.site = site
        self.shown = shown
        self.rendered = rendered
        self.limits = limits
        self.results: list[FeedResult] = []
        #: the feeds `render_ahead` hands to the workers, by spec
        self._feeds: dict[FeedSpec, AheadFeed] = {}
        #: of those, the feeds handed out (read and prepared), until published
        self._ahead: dict[FeedSpec, _Prepared] = {}
        #: the feeds handed out and their documents, as the workers hand them on
        self._pending: Iterator[tuple[FeedSpec, list[bytes]]] | None = None
        self._renders: Generator[list[bytes], None, None] | None = None

    def render_ahead(
        self,
        feeds: Sequence[AheadFeed],
        cancel: threading.Event | None = None,
        steps: Iterator[object] | None = None,
    ) -> None:
        """Render the feeds about to be published, in this order, on the worker
        processes the build runs, side by side: `publish_ahead` writes their documents
        as they are. Each feed's articles are read as its rendering is handed out, so
        a few feeds' entries are held at once, not every feed's. Only when the
        processes are running and the feeds hold PARALLEL_ENTRIES entries or more;
        else none is taken (`renders_ahead`), and `publish` renders each feed here.
        The `steps` (other work of the build) are taken while the workers render, as
        `map_in_processes` takes them: those left are the caller's."""
        if not workers_running() or sum(feed.size for feed in feeds) < PARALLEL_ENTRIES:
            return
        self._feeds = {feed.spec: feed for feed in feeds}
        site = self.site

        def ready(task: _RenderTask) -> _RenderTask:
            spec = task[0]
            feed = self._feeds[spec]
            prepared = self._ahead[spec] = self._prepare(spec, feed.load(), feed.limit)
            if prepared.fresh is not None:
                return spec, site, None  # the files hold it: nothing to render
            prepared.due = True
            return spec, site, prepared.entries

        tasks: list[_RenderTask] = [(feed.spec, site, None) for feed in feeds]
        # Taken as `publish_ahead` needs them: the feeds are written while the next render.
        self._renders = map_in_processes(
            render_feeds, tasks, cancel, "rendering feeds", ready=ready, steps=steps
        )
        self._pending = zip([feed.spec for feed in feeds], self._renders, strict=True)

    def renders_ahead(self, spec: FeedSpec) -> bool:
        """Whether `render_ahead` took the feed: `publish_ahead` writes it."""
        return spec in self._feeds

    def publish_ahead(self, spec: FeedSpec) -> Listing | None:
        """`publish` of a feed `render_ahead` took, as read when it was handed out."""
        prepared = self._ahead.get(spec)
        while self._pending is not None and (
            prepared is None or (prepared.due and prepared.documents is None)
        ):
            # The results come in order: the next is this feed's, or a feed's before it.
            found = next(self._pending, None)
            if found is None:
                self._pending = None
                break
            each, documents = found
            held = self._ahead.get(each)  # (a feed's before this one: not published yet)
            if held is not None:
                held.documents = documents
            if each == spec:
                prepared = held
        prepared = self._ahead.pop(spec, None)
        if prepared is None:  # not handed out (the rendering stopped): read here
            feed = self._feeds[spec]
            prepared = self._prepare(spec, feed.load(), feed.limit)
        return self._publish(prepared)

    def stop_ahead(self) -> None:
        """Let go of the feeds rendered ahead that were not published (the worker
        processes stop rendering them)."""
        self._feeds = {}
        self._ahead = {}
        self._pending = None
        if self._renders is not None:
            self._renders.close()  # the tasks not started are cancelled
            self._renders = None

    def _prepare(self, spec: FeedSpec, articles: list[Article], limit: int) -> _Prepared:
        chosen = articles[: min(limit, self.limits.feed_entries)]
        entries = self.shown.all(chosen)
        assert not any(a.light for a in entries), "an entry is rendered with its body"
        keys = {fmt: self.rendered.key(fmt, spec, self.site, entries) for fmt in FORMATS}
        slices = {self.rendered.fresh(spec.path(fmt), keys[fmt]) for fmt in FORMATS}
        # Every file holds what these very inputs render to: nothing to do.
        fresh = next(iter(slices)) if len(slices) == 1 else None
        return _Prepared(spec, entries, keys, fresh)

    def publish(self, spec: FeedSpec, articles: list[Article], limit: int) -> Listing | None:
        """Write one feed of the first `limit` of `articles` (newest first) in every
        format (a listing for the pages), or retire it."""
        return self._publish(self._prepare(spec, articles, limit))

    def _publish(self, prepared: _Prepared) -> Listing | None:
        output, site, rendered = self.output, self.site, self.rendered
        spec = prepared.spec
        entries: Sequence[Article] = prepared.entries
        keys, fresh = prepared.keys, prepared.fresh
        changed = dict.fromkeys(FORMATS, False)
        if fresh is not None:
            entries = entries[fresh[0] : fresh[0] + fresh[1]]
            first = fresh[0]
        else:
            whole = prepared.entries
            ahead = prepared.documents

            def documents_of(some: Sequence[Article]) -> list[bytes]:
                if ahead is not None and len(some) == len(whole):
                    keep_rendered(spec, some, ahead)  # (for a daemon's next build)
                    return ahead  # all the entries: rendered ahead
                return [render(fmt, spec, site, some) for fmt in FORMATS]

            given = entries
            entries, documents = cap_feed(entries, documents_of, self.limits, _prefix_sizes)
            # The size limit keeps a run of consecutive entries (see limits.fit_feed).
            first = given.index(entries[0]) if entries else 0
            if entries:
                for fmt, data in zip(FORMATS, documents, strict=True):
                    changed[fmt] = output.write(spec.path(fmt), data)
        if not entries:
            for fmt in FORMATS:
                if output.read(spec.path(fmt)) is not None:
                    self.results.append(retire(output, site, fmt, spec))
            return None
        for fmt in FORMATS:
            path = spec.path(fmt)
            rendered.wrote(path, keys[fmt], (first, len(entries)))
            self.results.append(FeedResult(spec.topic, fmt, path, len(entries), changed[fmt]))
        latest = tuple(headline(article) for article in entries[:HEADLINES])
        return Listing(spec, len(entries), entries[0].published_at, latest)

    def finish(
        self, names: Iterable[str], everything: Listing | None, listings: Sequence[Listing]
    ) -> list[PageResult]:
        """After the feeds: retire the topic feeds of the folder no topic of `names` has
        now, then write the index page and the OPML lists that point at the feeds."""
        retire_orphans(self.output, self.site, self.results, names)
        return write_pages(self.output, self.site, everything, listings)


@dataclass(frozen=True, slots=True)
class AheadFeed:
    """A feed `Publisher.render_ahead` may render on the workers: its spec and limit,
    how many entries it holds (at most `limit`), and how to read its articles (newest
    first, as `publish` takes them; read in the build's thread when handed out)."""

    spec: FeedSpec
    limit: int
    size: int
    load: Callable[[], list[Article]]


#: a feed to render on a worker: its spec, the site, its entries (None: none to render)
_RenderTask = tuple[FeedSpec, Site, list[Article] | None]


@dataclass(slots=True)
class _Prepared:
    """A feed about to be published: its entries as shown, the keys of their renderings
    (`RenderCache.key`), which of them the files hold when they are fresh, and the
    documents rendered ahead (None: render them when written)."""

    spec: FeedSpec
    entries: list[Article]
    keys: dict[FeedFormat, str]
    fresh: tuple[int, int] | None
    #: whether the workers render it (`render_ahead`)
    due: bool = False
    documents: list[bytes] | None = None


def _prefix_sizes(documents: Sequence[bytes]) -> list[int] | None:
    """For one feed's documents (one per format, in FORMATS order), the size of its
    largest document for each count of first entries; None when they disagree."""
    sizes = [prefix_sizes(fmt, data) for fmt, data in zip(FORMATS, documents, strict=True)]
    if len({len(each) for each in sizes}) != 1:
        return None
    return [max(each) for each in zip(*sizes, strict=True)]


class CorpusUrls(Container[str], Protocol):
    """The canonical URLs of the stories of the corpus, as `Shown` asks about them."""

    def learn(self, keys: Iterable[str]) -> None:
        """Look up these keys at once: `in` will be asked about them."""


class Shown:
    """An entry as it is shown (given with its body): its topics in the spellings their
    feeds are named by (`names`: display name per topic key, `display_names`), without
    related stubs to stories in the corpus (done for the few articles rendered, not for
    every one), and without the images and related stubs whose URL is refused without
    any lookup or request (`linkpolicy.refused_offline`: a metadata-address image, a
    loopback link), once per article. Every entry is shown through it, links checked or
    not. `related` keeps the canonical URLs of the related coverage of each article
    shown."""

    def __init__(
        self,
        corpus_urls: CorpusUrls,
        settings: LinkCheckSettings,
        names: Mapping[str, str],
    ) -> None:
        self.corpus_urls = corpus_urls
        self.settings = settings
        self.names = names
        self.done: dict[str, Article] = {}
        self.related: dict[str, tuple[str, ...]] = {}

    def all(self, articles: Sequence[Article]) -> list[Article]:
        """Each article as shown, the corpus asked about all their related coverage at
        once (`CorpusUrls.learn`)."""
        self.corpus_urls.learn(
            key for a in articles if a.path not in self.done for key in self._keys(a)
        )
        return [self(a) for a in articles]

    def _keys(self, article: Article) -> tuple[str, ...]:
        keys = self.related.get(article.path)
        if keys is None:
            keys = self.related[article.path] = related_keys(article)
        return keys

    def __call__(self, article: Article) -> Article:
        found = self.done.get(article.path)
        if found is None:
            whole = article
            keys = self._keys(whole)
            related = tuple(
                s
                for s, key in zip(whole.related, keys, strict=True)
                if key not in self.corpus_urls and self._allowed(s.link)
            )
            images = tuple(i for i in whole.images if self._allowed(i.url))
            topics = shown_topics(whole.topics, self.names)
            found = whole
            if related != whole.related or images != whole.images or topics != whole.topics:
                found = dataclasses.replace(whole, related=related, images=images, topics=topics)
            self.done[article.path] = found
        return found

    def _allowed(self, url: str) -> bool:
        return lp.refused_offline(url, self.settings) is None


def retire(output: Output, site: Site, fmt: FeedFormat, spec: FeedSpec) -> FeedResult:
    """Empty a feed whose topic has no entries left, keeping its title and date."""
    path = spec.path(fmt)
    header = _retired_header(output, fmt, spec)
    if header is None:
        # No feed of the topic we can read: leave it alone rather than guess its date.
        return FeedResult(spec.topic, fmt, path, 0, False)
    title, updated = header
    # A topic no file mentions any more is known by its old feed's title only.
    topic = spec.topic
    if topic is None and spec.stem != ALL_STEM:
        topic = title.removeprefix(f"{site.title}: ")
    empty = FeedSpec(topic, spec.stem, title, spec.description or title, spec.page_url)
    changed = output.write(path, render_empty(fmt, empty, site, updated))
    return FeedResult(topic, fmt, path, 0, changed)


def _retired_header(
    output: Output, fmt: FeedFormat, spec: FeedSpec
) -> tuple[str, datetime | None] | None:
    """The title and date a retired feed keeps: its file's, or, when that file cannot be
    read as a feed (cut short, edited, replaced by anything else), those of the topic's
    feed in another format (every format of a topic is written with the same title and
    date), so that a broken file is mended rather than left as it is."""
    for source in (fmt, *(other for other in FORMATS if other != fmt)):
        data = output.read(spec.path(source))
        header = read_feed_header(source, data) if data is not None else None
        if header is None:
            continue
        title, updated = header
        if updated is None and fmt != "json":
            continue  # an emptied JSON Feed has no date to give
        return title, updated
    return None


def retire_orphans(
    output: Output, site: Site, results: list[FeedResult], names: Iterable[str]
) -> None:
    """Retire the topic feeds in the output folder that no feed of this build wrote."""
    live = {result.path for result in results}
    slugs = {topic_slug(name): name for name in names}
    for fmt in FORMATS:
        for path in output.files(TOPICS_FOLDER, EXTENSIONS[fmt]):
            if path not in live:
                stem = path.removesuffix(EXTENSIONS[fmt])
                name = slugs.get(stem.removeprefix(f"{TOPICS_FOLDER}/"))
                orphan = FeedSpec(name, stem, stem, "", site.base_url)
                results.append(retire(output, site, fmt, orphan))


def write_pages(
    output: Output, site: Site, everything: Listing | None, listings: Sequence[Listing]
) -> list[PageResult]:
    """Write the index page and the OPML files."""
    pages = [PageResult(INDEX, output.write(INDEX, render_index(site, everything, listings)))]
    every = ([everything] if everything else []) + list(listings)
    pages.append(PageResult(OPML_ALL, output.write(OPML_ALL, render_opml(site, every))))
    for fmt, name in OPML_PER_FORMAT.items():
        pages.append(PageResult(name, output.write(name, render_opml(site, every, (fmt,)))))
    return pages


def topic_spellings(articles: Iterable[Article]) -> dict[str, Counter[str]]:
    """How often each spelling of each topic (by key) is used."""
    spellings: dict[str, Counter[str]] = {}
    for article in articles:
        for topic in article.topics:
            spellings.setdefault(topic_key(topic), Counter())[topic] += 1
    return spellings


def display_names(spellings: dict[str, Counter[str]]) -> dict[str, str]:
    """Display name per topic key: the most used spelling, then the first in sort order."""
    names: dict[str, str] = {}
    for key, counter in spellings.items():
        used = [name for name, count in counter.items() if count > 0]
        if used:
            names[key] = min(used, key=lambda name: (-counter[name], name))
    return names


def topic_names(articles: Sequence[Article]) -> dict[str, str]:
    """Display name per topic key: the most used spelling, then the first in sort order."""
    return display_names(topic_spellings(articles))


def shown_topics(topics: Sequence[str], names: Mapping[str, str]) -> tuple[str, ...]:
    """An article's topics as its entries show them (categories, JSON Feed tags): each
    in its display name (`names`, by topic key; a topic not among them as it is), in
    the article's order, once each."""
    shown = (names.get(topic_key(topic), topic) for topic in topics)
    return tuple(dict.fromkeys(shown))


def all_spec(config: Config) -> FeedSpec:
    return FeedSpec(
        topic=None,
        stem=ALL_STEM,
        title=f"{config.title}: all topics",
        description=config.description,
        page_url=config.base_url,
        icon=config.icon,
        logo=config.logo,
        content=config.content,
    )


def topic_spec(config: Config, name: str) -> FeedSpec:
    slug = topic_slug(name)
    settings = config.topic_settings(name)
    return FeedSpec(
        topic=name,
        stem=f"{TOPICS_FOLDER}/{slug}",
        title=settings.title or f"{config.title}: {name}",
        description=settings.description or f"The latest {name} news, curated by {config.title}.",
        page_url=f"{config.base_url}#{slug}",  # the topic's card on the index page
        language=settings.language,
        icon=settings.icon or config.icon,
        logo=settings.logo or config.logo,
        content=settings.content or config.content,
    )
