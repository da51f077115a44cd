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
import gc
import threading
from collections.abc import Callable
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from aggregator import incremental
from aggregator.aliases import apply_topic_settings
from aggregator.config import Config
from aggregator.dedupe import find_stories
from aggregator.errors import Cancelled
from aggregator.feeds import Site
from aggregator.filters import select
from aggregator.lastbuild import outputs_intact
from aggregator.lastbuild import remember
from aggregator.lastbuild import replay
from aggregator.lastbuild import signature
from aggregator.links import CheckedLinks
from aggregator.links import check_article_links
from aggregator.loader import find_files
from aggregator.loader import find_paths
from aggregator.loader import load_all
from aggregator.loader import split_names
from aggregator.model import Article
from aggregator.model import BuildReport
from aggregator.model import LinkResult
from aggregator.netguard import Resolver
from aggregator.output import Output
from aggregator.pages import Listing
from aggregator.paircache import StoredPairs
from aggregator.parsecache import load_cached
from aggregator.parsecache import load_light
from aggregator.parsecache import stat_files
from aggregator.publish import Publisher
from aggregator.publish import Shown
from aggregator.publish import all_spec
from aggregator.publish import as_is
from aggregator.publish import display_names
from aggregator.publish import newest_first
from aggregator.publish import retire_orphans
from aggregator.publish import topic_spec
from aggregator.publish import topic_spellings
from aggregator.publish import write_pages
from aggregator.rendercache import RenderCache
from aggregator.slugs import topic_key
from aggregator.store import Store

if TYPE_CHECKING:
    import requests

__all__ = ["build", "check_links", "newest_first"]


def build(
    config: Config,
    *,
    now: datetime,
    output: Output | None = None,
    store: Store | None = None,
    resolver: Resolver | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
    session: requests.Session | None = None,
) -> BuildReport:
    """One run. `store` (the state file; opened from the config when None), `resolver`
    (DNS for the link check), `session` (HTTP for the link check) and `progress` are
    the seams for tests and the CLI. When `cancel` is set the run stops with
    `Cancelled` before it writes any feed. (The library's `aggregator.build` adds the
    output lock and the hub pings around this.)"""
    output = output if output is not None else Output(config.output)
    paths, misnamed = split_names(find_paths(config.sources, config.patterns))
    output.prepare()
    with contextlib.ExitStack() as stack:
        if store is None:
            store = stack.enter_context(Store(config.state_path))
        # A misnamed file is not among `paths`: no fast path while one is there.
        identities = stat_files(paths)
        known = incremental.identities_of(paths, identities)
        digest = signature(config, known.text(), known.settled and not misnamed)
        replayed = replay(store, config, output, digest, now)
        if replayed is not None:
            return replayed  # nothing changed: the same bytes are already in place
        found = None
        if not misnamed and outputs_intact(store, output):
            found = incremental.changes(store, config, known)
        rendered = RenderCache(store, output, config)
        report: BuildReport | None = None
        results: list[LinkResult] = []
        site = Site(
            config.base_url, config.title, config.description, config.language, config.websub_hub
        )
        if found is not None:
            with output.batch():
                rebuild = incremental.Rebuild(config, now, store, found, cancel)
                report = rebuild.run(output, site, rendered, known)
        if report is None:
            with output.batch(), _collector_paused():  # every file lands, or none does
                report, results = _build(
                    config, now, output, store, rendered, site, paths, identities, known,
                    resolver, progress, cancel, session,
                )  # fmt: skip
        rendered.save()  # once the files are in place: it records their size and mtime
        if misnamed:
            report = dataclasses.replace(report, errors=(*misnamed, *report.errors))
        remember(store, output, digest, report, results)
        incremental.seal(store, config)
        return report


def _build(
    config: Config,
    now: datetime,
    output: Output,
    store: Store,
    rendered: RenderCache,
    site: Site,
    paths: list[str],
    identities: dict[str, tuple[int, int]],
    known: incremental.Identities,
    resolver: Resolver | None,
    progress: Callable[[int, int], None] | None,
    cancel: threading.Event | None,
    session: requests.Session | None = None,
) -> tuple[BuildReport, list[LinkResult]]:
    checks = config.links != "off" and config.link_check.enabled
    # The link check reads every published article's images: those builds load all.
    body: Callable[[Article], Article] = as_is
    words = None
    if checks:
        articles, errors = load_cached(paths, store, cancel, config.limits)
    else:
        loaded = load_light(paths, store, cancel, config.limits, identities=identities)
        articles, errors, body, words = loaded.articles, loaded.errors, loaded.full, loaded.words
        known.digests.update(loaded.digests)
    pairs = StoredPairs(store, config.dedupe)
    stories = find_stories(articles, config.dedupe, pairs, words)
    pairs.save()
    unique = apply_topic_settings(stories.kept, config)
    duplicates = stories.duplicates
    # With links checked, the link step refuses (and reports) what needs no request.
    selection = select(unique, config, now, refusals=not checks)
    links = None
    used: list[LinkResult] = []
    if checks:
        checked = check_article_links(
            selection.kept, config, now, store, resolver, progress, cancel, session
        )
        links = checked.summary
        used = [] if links.network_down else list(checked.results.values())
        unique = [checked.replaced.get(a.path, a) for a in unique]
        selection = select(unique, config, now, checked.problems)
    _stop_if(cancel)  # from here on every file is written: the run completes

    spellings = topic_spellings(unique)
    names = display_names(spellings)
    order = newest_first(selection.kept)
    members: dict[str, list[Article]] = {}
    for article in order:
        for topic in selection.topics[article.path]:
            members.setdefault(topic_key(topic), []).append(article)

    listings: list[Listing] = []
    shown = Shown(stories.corpus_urls, body, config.link_check)
    publisher = Publisher(output, site, shown, rendered, config.limits)
    results = publisher.results
    feeds: dict[str, incremental.FeedRecord] = {}
    everything = publisher.publish(all_spec(config), order, config.limit)
    feeds[incremental.ALL] = incremental.feed_record(None, results, everything)
    for key in sorted(members, key=lambda k: (names[k].casefold(), names[k])):
        limit = config.topic_settings(names[key]).limit or config.limit
        start = len(results)
        listing = publisher.publish(topic_spec(config, names[key]), members[key], limit)
        feeds[key] = incremental.feed_record(names[key], results[start:], listing)
        if listing is not None:
            listings.append(listing)
    retire_orphans(output, site, results, names.values())  # topics no file mentions now
    pages = write_pages(output, site, everything, listings)

    report = BuildReport(
        loaded=len(articles),
        errors=tuple(errors),
        duplicates=tuple(duplicates),
        # By path; each article's own in the order of its topics.
        excluded=tuple(sorted(selection.excluded, key=lambda e: e.path)),
        published=len(selection.kept),
        feeds=tuple(results),
        pages=tuple(pages),
        links=links,
    )
    incremental.record(
        store, config, known, articles, stories, unique, selection, spellings, feeds, shown.related
    )
    return report, used


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection during a full build: each full pass walks every
    object held, and what a build holds is its articles, no garbage (at 100k files the
    passes took 1.6 s of the main process); what it leaves is collected after it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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
    session: requests.Session | None = None,
) -> CheckedLinks:
    """Check the links a build would publish, without writing any feed."""
    paths, _misnamed = split_names(find_files(config.sources, config.patterns))
    articles, _errors = load_all(paths, limits=config.limits)
    unique = find_stories(articles, config.dedupe).kept  # related stubs play no part here
    candidates = select(apply_topic_settings(unique, config), config, now, refusals=False).kept
    if store is not None:
        return check_article_links(
            candidates, config, now, store, resolver, progress, session=session
        )
    with Store(config.state_path) as opened:
        return check_article_links(
            candidates, config, now, opened, resolver, progress, session=session
        )
