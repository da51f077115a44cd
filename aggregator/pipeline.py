"""`build(config, now=..., output=...)`: wires the stages into one run.

sources -> load -> dedupe -> check links -> filter -> write feeds. The clock (`now`),
the output folder and the state store are passed in (or made from the config);
nothing here reads the time or the environment. Links are checked only for the
articles the filters would publish.

A topic with no kept article gets no feed. If it had a feed before, that file is
rewritten as a valid feed with no entries, keeping its title and date, so readers
drop the old items and never get a 404 or a broken file (its "retired" state is in
the report with 0 entries; it leaves the index page and the OPML).
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections import Counter
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence
from datetime import datetime

from aggregator.aliases import apply_topic_settings
from aggregator.config import Config
from aggregator.dedupe import find_stories
from aggregator.dedupe import without_known_related
from aggregator.errors import Cancelled
from aggregator.feeds import EXTENSIONS
from aggregator.feeds import FORMATS
from aggregator.feeds import FeedSpec
from aggregator.feeds import Site
from aggregator.feeds import entry_id
from aggregator.feeds import read_feed_header
from aggregator.feeds import render
from aggregator.feeds import render_empty
from aggregator.filters import select
from aggregator.lastbuild import remember
from aggregator.lastbuild import replay
from aggregator.lastbuild import signature
from aggregator.limits import Limits
from aggregator.limits import cap_feed
from aggregator.links import CheckedLinks
from aggregator.links import check_article_links
from aggregator.loader import find_files
from aggregator.loader import find_paths
from aggregator.loader import load_all
from aggregator.loader import split_names
from aggregator.model import Article
from aggregator.model import BuildReport
from aggregator.model import FeedFormat
from aggregator.model import FeedResult
from aggregator.model import LinkResult
from aggregator.model import PageResult
from aggregator.netguard import Resolver
from aggregator.output import Output
from aggregator.pages import INDEX
from aggregator.pages import OPML_ALL
from aggregator.pages import OPML_PER_FORMAT
from aggregator.pages import Listing
from aggregator.pages import render_index
from aggregator.pages import render_opml
from aggregator.paircache import StoredPairs
from aggregator.parsecache import load_cached
from aggregator.parsecache import load_light
from aggregator.parsecache import stat_files
from aggregator.rendercache import RenderCache
from aggregator.slugs import topic_key
from aggregator.slugs import topic_slug
from aggregator.store import Store

ALL_STEM = "all"
TOPICS_FOLDER = "topics"
HEADLINES = 3


def build(
    config: Config,
    *,
    now: datetime,
    output: Output | None = None,
    store: Store | None = None,
    resolver: Resolver | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> BuildReport:
    """One run. `store` (the state file; opened from the config when None), `resolver`
    (DNS for the link check) and `progress` are the seams for tests and the CLI. When
    `cancel` is set the run stops with `Cancelled` before it writes any feed."""
    output = output if output is not None else Output(config.output)
    paths, misnamed = split_names(find_paths(config.sources, config.patterns))
    output.prepare()
    with contextlib.ExitStack() as stack:
        if store is None:
            store = stack.enter_context(Store(config.state_path))
        # A misnamed file is not among `paths`: no fast path while one is there.
        identities = stat_files(paths)
        digest = signature(config, paths, identities) if not misnamed else None
        replayed = replay(store, config, output, digest, now)
        if replayed is not None:
            return replayed  # nothing changed: the same bytes are already in place
        rendered = RenderCache(store, output, config)
        with output.batch():  # every file lands, or none does
            report, results = _build(
                config, now, output, store, rendered, paths, identities, resolver, progress, cancel
            )
        rendered.save()  # once the files are in place: it records their size and mtime
        if misnamed:
            report = dataclasses.replace(report, errors=(*misnamed, *report.errors))
        remember(store, output, digest, report, results)
        return report


def _build(
    config: Config,
    now: datetime,
    output: Output,
    store: Store,
    rendered: RenderCache,
    paths: list[str],
    identities: dict[str, tuple[int, int]],
    resolver: Resolver | None,
    progress: Callable[[int, int], None] | None,
    cancel: threading.Event | None,
) -> tuple[BuildReport, list[LinkResult]]:
    checks = config.links != "off" and config.link_check.enabled
    # The link check reads every published article's images: those builds load all.
    body: Callable[[Article], Article] = _as_is
    words = None
    if checks:
        articles, errors = load_cached(paths, store, cancel, config.limits)
    else:
        loaded = load_light(paths, store, cancel, config.limits, identities=identities)
        articles, errors, body, words = loaded.articles, loaded.errors, loaded.full, loaded.words
    pairs = StoredPairs(store, config.dedupe)
    stories = find_stories(articles, config.dedupe, pairs, words)
    pairs.save()
    unique = apply_topic_settings(stories.kept, config)
    duplicates = stories.duplicates
    selection = select(unique, config, now)
    links = None
    used: list[LinkResult] = []
    if checks:
        checked = check_article_links(
            selection.kept, config, now, store, resolver, progress, cancel
        )
        links = checked.summary
        used = [] if links.network_down else list(checked.results.values())
        unique = [checked.replaced.get(a.path, a) for a in unique]
        selection = select(unique, config, now, checked.problems)
    _stop_if(cancel)  # from here on every file is written: the run completes
    site = Site(
        config.base_url, config.title, config.description, config.language, config.websub_hub
    )

    names = topic_names(unique)
    order = newest_first(selection.kept)
    members: dict[str, list[Article]] = {}
    for article in order:
        for topic in selection.topics[article.path]:
            members.setdefault(topic_key(topic), []).append(article)

    listings: list[Listing] = []
    shown = _Shown(stories.corpus_urls, body)
    publisher = _Publisher(output, site, shown, rendered, config.limits)
    results = publisher.results
    everything = publisher.publish(all_spec(config), order, config.limit)
    for key in sorted(members, key=lambda k: (names[k].casefold(), names[k])):
        limit = config.topic_settings(names[key]).limit or config.limit
        listing = publisher.publish(topic_spec(config, names[key]), members[key], limit)
        if listing is not None:
            listings.append(listing)
    # Feeds of topics no file mentions any more.
    live = {result.path for result in results}
    slugs = {topic_slug(name): name for name in names.values()}
    for fmt in FORMATS:
        for path in output.files(TOPICS_FOLDER, EXTENSIONS[fmt]):
            if path not in live:
                stem = path.removesuffix(EXTENSIONS[fmt])
                name = slugs.get(stem.removeprefix(f"{TOPICS_FOLDER}/"))
                orphan = FeedSpec(name, stem, stem, "", site.base_url)
                results.append(_retire(output, site, fmt, orphan))

    pages = [
        PageResult(INDEX, output.write(INDEX, render_index(site, everything, listings))),
    ]
    every = ([everything] if everything else []) + listings
    pages.append(PageResult(OPML_ALL, output.write(OPML_ALL, render_opml(site, every))))
    for fmt, name in OPML_PER_FORMAT.items():
        pages.append(PageResult(name, output.write(name, render_opml(site, every, (fmt,)))))

    report = BuildReport(
        loaded=len(articles),
        errors=tuple(errors),
        duplicates=tuple(duplicates),
        excluded=selection.excluded,
        published=len(selection.kept),
        feeds=tuple(results),
        pages=tuple(pages),
        links=links,
    )
    return report, used


def _stop_if(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("stopped before writing any feed")


def check_links(
    config: Config,
    *,
    now: datetime,
    store: Store | None = None,
    resolver: Resolver | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CheckedLinks:
    """Check the links a build would publish, without writing any feed."""
    paths, _misnamed = split_names(find_files(config.sources, config.patterns))
    articles, _errors = load_all(paths, limits=config.limits)
    unique = find_stories(articles, config.dedupe).kept  # related stubs play no part here
    candidates = select(apply_topic_settings(unique, config), config, now).kept
    if store is not None:
        return check_article_links(candidates, config, now, store, resolver, progress)
    with Store(config.state_path) as opened:
        return check_article_links(candidates, config, now, opened, resolver, progress)


def newest_first(articles: Iterable[Article]) -> list[Article]:
    """The articles, newest first; ties broken by entry id so the order is stable."""
    return sorted(articles, key=lambda a: (-a.published_at.timestamp(), entry_id(a)))


class _Publisher:
    """Writes the feeds of one build and collects their results."""

    def __init__(
        self, output: Output, site: Site, shown: _Shown, rendered: RenderCache, limits: Limits
    ) -> None:
        self.output = output
        self.site = site
        self.shown = shown
        self.rendered = rendered
        self.limits = limits
        self.results: list[FeedResult] = []

    def publish(self, spec: FeedSpec, articles: list[Article], limit: int) -> Listing | None:
        """Write one feed of the first `limit` of `articles` (newest first) in every
        format (a listing for the pages), or retire it."""
        output, site, rendered = self.output, self.site, self.rendered
        chosen = articles[: min(limit, self.limits.feed_entries)]
        entries: Sequence[Article] = [self.shown(a) for a in chosen]
        keys = {fmt: rendered.key(fmt, spec, site, entries) for fmt in FORMATS}
        slices = {rendered.fresh(spec.path(fmt), keys[fmt]) for fmt in FORMATS}
        changed = dict.fromkeys(FORMATS, False)
        fresh = next(iter(slices)) if len(slices) == 1 else None
        if fresh is not None:
            # Every file holds what these very inputs render to: nothing to do.
            entries = entries[fresh[0] : fresh[0] + fresh[1]]
            first = fresh[0]
        else:

            def documents_of(some: Sequence[Article]) -> list[bytes]:
                return [render(fmt, spec, site, some) for fmt in FORMATS]

            given = entries
            entries, documents = cap_feed(entries, documents_of, self.limits)
            # The size limit keeps a run of consecutive entries (see limits.fit_feed).
            first = given.index(entries[0]) if entries else 0
            if entries:
                for fmt, data in zip(FORMATS, documents, strict=True):
                    changed[fmt] = output.write(spec.path(fmt), data)
        if not entries:
            for fmt in FORMATS:
                if output.read(spec.path(fmt)) is not None:
                    self.results.append(_retire(output, site, fmt, spec))
            return None
        for fmt in FORMATS:
            path = spec.path(fmt)
            rendered.wrote(path, keys[fmt], (first, len(entries)))
            self.results.append(FeedResult(spec.topic, fmt, path, len(entries), changed[fmt]))
        return Listing(spec, len(entries), entries[0].published_at, tuple(entries[:HEADLINES]))


class _Shown:
    """An entry as it is shown: with its body (`body`: articles may be loaded without
    it), without related stubs to stories in the corpus (done for the few articles
    rendered, not for every one), once per article."""

    def __init__(self, corpus_urls: frozenset[str], body: Callable[[Article], Article]) -> None:
        self.corpus_urls = corpus_urls
        self.body = body
        self.done: dict[str, Article] = {}

    def __call__(self, article: Article) -> Article:
        found = self.done.get(article.path)
        if found is None:
            found = without_known_related(self.body(article), self.corpus_urls)
            self.done[article.path] = found
        return found


def _as_is(article: Article) -> Article:
    return article


def _retire(output: Output, site: Site, fmt: FeedFormat, spec: FeedSpec) -> FeedResult:
    """Empty a feed whose topic has no entries left, keeping its title and date."""
    path = spec.path(fmt)
    old = output.read(path)
    header = read_feed_header(fmt, old) if old is not None else None
    if header is None:
        # Not a feed we can read: leave it alone rather than guess its date.
        return FeedResult(spec.topic, fmt, path, 0, False)
    title, updated = header
    # A topic no file mentions any more is known by its old feed's title only.
    topic = spec.topic
    if topic is None and spec.stem != ALL_STEM:
        topic = title.removeprefix(f"{site.title}: ")
    empty = FeedSpec(topic, spec.stem, title, spec.description or title, spec.page_url)
    changed = output.write(path, render_empty(fmt, empty, site, updated))
    return FeedResult(topic, fmt, path, 0, changed)


def topic_names(articles: Sequence[Article]) -> dict[str, str]:
    """Display name per topic key: the most used spelling, then the first in sort order."""
    spellings: dict[str, Counter[str]] = {}
    for article in articles:
        for topic in article.topics:
            spellings.setdefault(topic_key(topic), Counter())[topic] += 1
    return {
        key: min(counter, key=lambda name: (-counter[name], name))
        for key, counter in spellings.items()
    }


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
        page_url=f"{config.base_url}#{slug}",
        language=settings.language,
        icon=settings.icon or config.icon,
        logo=settings.logo or config.logo,
        content=settings.content or config.content,
    )
