"""`build(config, now=..., output=...)`: one run of the engine.

sources -> load -> dedupe -> topic settings -> filters -> links -> render -> publish.
The clock (`now`), the output folder and the state store are passed in (or made
from the config); nothing here reads the time or the environment. A build whose
inputs are all unchanged repeats the last report (`lastbuild.replay`); any other
runs the stages on what changed since the last build (`run.Run`): the files
`tables.changes` finds, or, with no state to start from, every file (a cold build).
Links are checked only for the articles the filters would publish (`stages.judge`).

A topic with no kept article gets no feed. If it had a feed before, that file is
rewritten as a valid feed with no entries, keeping its title and date, so readers
drop the old items and never get a 404 or a broken file (its "retired" state is in
the report with 0 entries; it leaves the index page and the OPML).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
import time
from collections.abc import Callable
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING
from typing import TypeAlias

from aggregator.clock import stamp_ns
from aggregator.config import Config
from aggregator.engine import tables
from aggregator.engine.run import Run
from aggregator.engine.stages import find_zones_here
from aggregator.engine.stages import formed
from aggregator.engine.stages import link_candidates
from aggregator.engine.stages import zones_told
from aggregator.links.articles import CheckedLinks
from aggregator.links.articles import check_article_links
from aggregator.links.netguard import Resolver
from aggregator.model import BuildReport
from aggregator.model import LoadError
from aggregator.progress import Progress
from aggregator.progress import links_of
from aggregator.publishing.output import Output
from aggregator.rendering.feeds import Site
from aggregator.rendering.rendercache import RenderCache
from aggregator.sources import inputs
from aggregator.sources import loader
from aggregator.sources import remote
from aggregator.sources.loader import check_sources
from aggregator.sources.loader import collector_paused
from aggregator.sources.loader import drop_workers_ahead
from aggregator.sources.loader import sharing_workers
from aggregator.sources.loader import start_workers_ahead
from aggregator.sources.parsecache import folder_identities
from aggregator.sources.parsecache import settle
from aggregator.sources.parsecache import stat_files
from aggregator.state.interface import StateStore
from aggregator.state.interface import open_store
from aggregator.state.lastbuild import outputs_intact
from aggregator.state.lastbuild import remember
from aggregator.state.lastbuild import replay
from aggregator.state.lastbuild import signature

if TYPE_CHECKING:
    import requests

__all__ = ["FindFiles", "build", "check_links", "collector_paused"]

#: how a build finds its article files and their identities (`stat_files`, given when
#: the last build took them): `find_files` (every folder walked, every file stat'ed), or
#: what a long-running process kept of them (`app.watch.Warm.find`). The identities are
#: read, never changed, by the build.
FindFiles: TypeAlias = Callable[
    [Config, int | None], tuple[inputs.Found, dict[str, tuple[int, int]]]
]


def find_files(
    config: Config, since: int | None = None
) -> tuple[inputs.Found, dict[str, tuple[int, int]]]:
    """The article files of `config` (`inputs.find`) and the identity of each (see
    `stat_files` for `since`)."""
    files = inputs.find(config)  # the plan every command shares (see sources/inputs.py)
    if since is None and len(files.paths) >= loader.PARALLEL_MIN_FILES:
        # A first build parses every file: its workers start as it reads the rest.
        start_workers_ahead()
    fresh: set[str] = set()
    identities = stat_files(files.paths, since, fresh)
    if fresh:
        files = dataclasses.replace(files, fresh=frozenset(fresh))
    return files, identities


def build(
    config: Config,
    *,
    now: datetime,
    taken: float | None = None,
    output: Output | None = None,
    store: StateStore | None = None,
    resolver: Resolver | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    session: requests.Session | None = None,
    find: FindFiles = find_files,
    activity: bool = False,
) -> BuildReport:
    """One run. `store` (the state file; opened from the config when None), `resolver`
    (DNS for the link check), `session` (HTTP for the link check) and `progress` (the
    phases of the run: `aggregator.progress`) are the seams for tests and the CLI;
    `find` finds the article files and their identities after the remote feeds are
    synced (a daemon that watches the folders passes what it kept of them:
    `app.watch.Warm`). When `cancel` is set the run stops with `Cancelled` before it
    writes any feed. With `activity`, the report also counts each feed's articles per
    day (`tables.activity`: a scan of the feeds' tables, which a build that does not
    show them skips). `taken`: when `now` was read (`time.monotonic`), which the
    waits a remote feed's answer asks for count from; default, the start of this run.
    (The library's `aggregator.build` adds the output lock and the hub pings around
    this.)"""
    taken = taken if taken is not None else time.monotonic()
    output = output if output is not None else Output(config.output)
    check_sources(config.sources)  # a config error leaves no output folder behind
    output.prepare()
    with contextlib.ExitStack() as stack:
        if store is None:
            store = stack.enter_context(open_store(config.state_location))
        stack.callback(drop_workers_ahead)  # (started by `find`, not taken: closed)
        # Remote feeds first: their entries are files among the others.
        sources = remote.sync(
            config, now, store, session=session, resolver=resolver, cancel=cancel, taken=taken
        )
        # A file changed after this has a later ctime.
        stated = stamp_ns()
        since = tables.stated(store)
        files, identities = find(config, since)
        if files.stated is not None:  # some identities were taken before (a daemon's)
            stated = min(stated, files.stated)
        # The files of a folder swapped for another since are read again (their ctimes
        # may be older than the last build, their sizes and mtimes the same).
        folders = files.folders
        if folders is None:
            folders = folder_identities(files.paths)
        kept_folders = tables.kept_folders(store)
        moved = tables.moved(files.paths, folders, kept_folders, since)
        if moved:
            files = dataclasses.replace(files, fresh=files.fresh | moved)
        # Of the files whose ctime moved, those with the bytes they were parsed from
        # are unchanged (a `chmod -R` is one read of each, not a parse).
        touched = bool(files.fresh)
        if touched:
            fresh = settle(store, files.fresh, identities, config.limits, cancel)
            files = dataclasses.replace(files, fresh=fresh)
        known = tables.identities_of(files.paths, identities, stated, files.numbers)
        # A misnamed file is not among the paths: what is reported of them is part of
        # the inputs (kept for the next build; this one repeats no report while a file
        # is `fresh`).
        digest = signature(config, lambda: _inputs_text(known, files.misnamed), known.settled)
        # An article that aged out since is a change (`max_age`), as an edit is.
        aged = tables.aged_out(store, config, now)
        replayed = None
        if aged == set() and tables.current(store, config):
            seen = tables.LinkMark.now(store).seen
            asked = None if files.fresh else digest
            replayed = replay(store, config, output, asked, now, links_seen=seen)
        if replayed is not None:
            # Nothing changed: the same bytes are already in place.
            if touched:  # every file was looked at as it was at `stated`
                tables.restamp(store, stated)
            tables.keep_folders(store, folders, kept_folders)
            if files.completed is not None:
                files.completed()
            if activity:
                replayed = _with_activity(replayed, store, now)
            return dataclasses.replace(replayed, sources=sources)
        found = None
        if outputs_intact(store, output):
            found = tables.changes(store, config, known, now, files.fresh)
        if found is None:
            found = tables.everything(files.paths)
        rendered = RenderCache(store, output, config)
        site = Site(
            config.base_url, config.title, config.description, config.language, config.websub_hub
        )
        engine = Run(
            config, now, store, found, files, identities, cancel, resolver, progress, session
        )
        # Every file lands, or none does; no garbage collection in a cold build.
        with collector_paused(promote=True) if found.cold else contextlib.nullcontext():
            with (
                output.batch(),
                sharing_workers(),  # the parse and the zones on the same processes
            ):
                published = engine.publish(output, site, rendered, known)
            # The files are in place (and served): the rest is for the next build.
            report = engine.complete(published)
            tables.keep_folders(store, folders, kept_folders)
        rendered.save()  # once the files are in place: it records their identities
        fresh_until = report.links.fresh_until if report.links is not None else None
        # A file that could not be read is read again by the next build (it may be
        # readable then with the same size and mtime): no report to repeat.
        remember(store, output, None if engine.unread else digest, report, fresh_until)
        tables.seal(store, config)
        if files.completed is not None:
            files.completed()
        if activity:
            report = _with_activity(report, store, now)
        return dataclasses.replace(report, sources=sources)


def _inputs_text(known: tables.Identities, misnamed: Sequence[LoadError]) -> str:
    """The identities of the files found and what is reported of those left out (a
    name that is not UTF-8, a folder that cannot be listed), for `signature`."""
    if not misnamed:
        return known.text()
    left_out = [[error.path, error.line, error.reason] for error in misnamed]
    return f"{known.text()}\n{json.dumps(left_out)}"


def _with_activity(report: BuildReport, store: StateStore, now: datetime) -> BuildReport:
    return dataclasses.replace(report, activity=tables.activity(store, report.feeds, now))


def check_links(
    config: Config,
    *,
    now: datetime,
    store: StateStore | None = None,
    resolver: Resolver | None = None,
    progress: Progress | None = None,
    session: requests.Session | None = None,
    cancel: threading.Event | None = None,
) -> CheckedLinks:
    """Check the links a build would publish, without writing any feed; `progress`
    hears the phases "read", "dedupe" and "links"."""
    with contextlib.ExitStack() as stack:
        if store is None:
            store = stack.enter_context(open_store(config.state_location))
        # a feed's entries as its settings in the config make them (the next build's)
        loaded = inputs.settled(inputs.plan(config, progress=progress), config, store)
        runner = zones_told(progress, find_zones_here)
        unique, _ = formed(loaded.articles, config, runner)
        candidates = link_candidates(unique, config, now)
        checked = check_article_links(
            candidates, config, now, store, resolver, links_of(progress), cancel, session=session
        )
    return dataclasses.replace(checked, errors=loaded.errors, warnings=loaded.warnings)
