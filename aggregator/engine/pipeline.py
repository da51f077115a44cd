"""`build(config, now=..., output=...)`: wires the stages into one run.

sources -> load -> dedupe -> topic settings -> filters -> links -> render -> publish.
The clock (`now`), the output folder and the state store are passed in (or made
from the config); nothing here reads the time or the environment. Links are checked
only for the articles the filters would publish (`stages.judge`). A build with a
usable state is incremental (`incremental.Rebuild`); a build with none, or after a
change it cannot follow, runs every stage on every file (`_build`).

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

from aggregator.config import Config
from aggregator.engine import incremental
from aggregator.engine.stages import checks_links
from aggregator.engine.stages import judge
from aggregator.engine.stages import stop_if
from aggregator.links.articles import CheckedLinks
from aggregator.links.articles import check_article_links
from aggregator.links.netguard import Resolver
from aggregator.model import Article
from aggregator.model import BuildReport
from aggregator.publishing.output import Output
from aggregator.publishing.publish import ALL
from aggregator.publishing.publish import FeedPlan
from aggregator.publishing.publish import Publisher
from aggregator.publishing.publish import Shown
from aggregator.publishing.publish import display_names
from aggregator.publishing.publish import feed_plans
from aggregator.publishing.publish import newest_first
from aggregator.publishing.publish import publish_plans
from aggregator.publishing.publish import topic_spellings
from aggregator.rendering.feeds import Site
from aggregator.rendering.pages import Listing
from aggregator.rendering.rendercache import RenderCache
from aggregator.sources import inputs
from aggregator.sources.parsecache import stat_files
from aggregator.state.interface import StateStore
from aggregator.state.interface import open_store
from aggregator.state.lastbuild import outputs_intact
from aggregator.state.lastbuild import remember
from aggregator.state.lastbuild import replay
from aggregator.state.lastbuild import signature
from aggregator.stories.aliases import apply_topic_settings
from aggregator.stories.dedupe import find_stories
from aggregator.stories.filters import select
from aggregator.stories.paircache import StoredPairs
from aggregator.stories.topics import topic_key

if TYPE_CHECKING:
    import requests

__all__ = ["build", "check_links", "newest_first"]


def build(
    config: Config,
    *,
    now: datetime,
    output: Output | None = None,
    store: StateStore | None = None,
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
    files = inputs.find(config)  # the plan every command shares (see sources/inputs.py)
    paths, misnamed = files.paths, files.misnamed
    output.prepare()
    with contextlib.ExitStack() as stack:
        if store is None:
            store = stack.enter_context(open_store(config.state_path))
        # A misnamed file is not among `paths`: no fast path while one is there.
        identities = stat_files(paths)
        known = incremental.identities_of(paths, identities)
        digest = signature(config, known.text(), known.settled and not misnamed)
        replayed = replay(store, config, output, digest, now)
        if replayed is not None:
            return replayed  # nothing changed: the same bytes are already in place
        found = None
        if not misnamed and outputs_intact(store, output):
            found = incremental.changes(store, config, known, now)
        rendered = RenderCache(store, output, config)
        report: BuildReport | None = None
        site = Site(
            config.base_url, config.title, config.description, config.language, config.websub_hub
        )
        if found is not None:
            with output.batch():
                rebuild = incremental.Rebuild(
                    config, now, store, found, cancel, resolver, progress, session
                )
                report = rebuild.run(output, site, rendered, known)
        if report is None:
            with output.batch(), _collector_paused():  # every file lands, or none does
                report = _build(
                    config, now, output, store, rendered, site, files, identities, known,
                    resolver, progress, cancel, session,
                )  # fmt: skip
        rendered.save()  # once the files are in place: it records their size and mtime
        fresh_until = report.links.fresh_until if report.links is not None else None
        remember(store, output, digest, report, fresh_until)
        incremental.seal(store, config)
        return report


def _build(
    config: Config,
    now: datetime,
    output: Output,
    store: StateStore,
    rendered: RenderCache,
    site: Site,
    files: inputs.Found,
    identities: dict[str, tuple[int, int]],
    known: incremental.Identities,
    resolver: Resolver | None,
    progress: Callable[[int, int], None] | None,
    cancel: threading.Event | None,
    session: requests.Session | None = None,
) -> BuildReport:
    checks = checks_links(config)
    # The link check reads every published article's images: those builds load all.
    loaded = inputs.load(
        files, config.limits, store=store, light=not checks, identities=identities, cancel=cancel
    )
    articles, body, words = loaded.articles, loaded.body, loaded.words
    known.digests.update(loaded.digests)
    pairs = StoredPairs(store, config.dedupe)
    stories = find_stories(articles, config.dedupe, pairs, words)
    pairs.save()
    duplicates = stories.duplicates
    found = apply_topic_settings(stories.kept, config)
    judged = judge(found, config, now, store, resolver, progress, cancel, session)
    unique, selection = judged.survivors, judged.selection
    links = judged.links.summary if judged.links is not None else None
    stop_if(cancel)

    spellings = topic_spellings(unique)
    names = display_names(spellings)
    order = newest_first(selection.kept)
    members: dict[str, list[Article]] = {}
    for article in order:
        for topic in selection.topics[article.path]:
            members.setdefault(topic_key(topic), []).append(article)

    shown = Shown(stories.corpus_urls, body, config.link_check)
    publisher = Publisher(output, site, shown, rendered, config.limits)
    results = publisher.results
    feeds: dict[str, incremental.FeedRecord] = {}

    def write(plan: FeedPlan) -> Listing | None:
        start = len(results)
        entries = order if plan.key == ALL else members[plan.key]
        listing = publisher.publish(plan.spec, entries, plan.limit)
        feeds[plan.key] = incremental.feed_record(plan.name, results[start:], listing)
        return listing

    pages = publish_plans(publisher, feed_plans(config, names, members), write, names.values())

    report = BuildReport(
        loaded=len(articles),
        errors=loaded.errors,
        warnings=loaded.warnings,
        duplicates=tuple(duplicates),
        # By path; each article's own in the order of its topics.
        excluded=tuple(sorted(selection.excluded, key=lambda e: e.path)),
        published=len(selection.kept),
        feeds=tuple(results),
        pages=tuple(pages),
        links=links,
    )
    incremental.record(
        store, config, now, known, articles, stories, judged, spellings, feeds, shown.related
    )
    return report


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


def check_links(
    config: Config,
    *,
    now: datetime,
    store: StateStore | None = None,
    resolver: Resolver | None = None,
    progress: Callable[[int, int], None] | None = None,
    session: requests.Session | None = None,
) -> CheckedLinks:
    """Check the links a build would publish, without writing any feed."""
    loaded = inputs.plan(config)
    unique = find_stories(loaded.articles, config.dedupe).kept  # related stubs play no part
    candidates = select(apply_topic_settings(unique, config), config, now, refusals=False).kept
    with contextlib.ExitStack() as stack:
        if store is None:
            store = stack.enter_context(open_store(config.state_path))
        checked = check_article_links(
            candidates, config, now, store, resolver, progress, session=session
        )
    return dataclasses.replace(checked, errors=loaded.errors, warnings=loaded.warnings)
