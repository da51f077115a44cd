"""The library calls: what `import aggregator` offers, and what the command line and
the daemon call, so that there is one place for each.

`build` is the engine's run (`pipeline.build`) under the output folder's lock, with
the WebSub hub pinged for the feeds it changed: `aggregator build`, every run of
`aggregator run` and a library caller all go through it. Every outside dependency is a
parameter with a default: the clock (`now`, else `clock.utcnow()`), the HTTP session
(the link checker's and the pings'; else their own), DNS (`resolver`). Errors of the
libraries underneath leave as `errors.AggregatorError` classes, never bare.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from typing import TypeVar

from aggregator.clock import utcnow
from aggregator.config import Config
from aggregator.config import load_config as load_config
from aggregator.config import read_config
from aggregator.config import web_url
from aggregator.engine import pipeline
from aggregator.errors import ConfigError
from aggregator.errors import LeadLost
from aggregator.errors import OutputError
from aggregator.errors import StateError
from aggregator.links.articles import CheckedLinks
from aggregator.links.netguard import Resolver
from aggregator.model import BuildReport
from aggregator.model import FeedState
from aggregator.model import LoadError
from aggregator.model import LoadWarning
from aggregator.objectstore import upload
from aggregator.objectstore.mirror import shown as mirror_shown
from aggregator.progress import Progress
from aggregator.publishing.layout import Layout
from aggregator.publishing.layout import check_layout
from aggregator.publishing.lock import OutputLock
from aggregator.publishing.websub import announce_build
from aggregator.publishing.websub import pend_build
from aggregator.sources import remote
from aggregator.sources.discover import Discovered
from aggregator.sources.discover import add_to_config
from aggregator.sources.discover import discover
from aggregator.sources.loader import refuse_when_starting_as_worker
from aggregator.sources.validate import Validation
from aggregator.sources.validate import validate as validate_paths
from aggregator.sources.validate import validate_sources
from aggregator.state.interface import open_store
from aggregator.state.interface import store_exists

if TYPE_CHECKING:
    import requests

__all__ = [
    "DEFAULT_WAIT",
    "add_feed",
    "build",
    "check_links",
    "feed_states",
    "load_config",
    "validate",
]

#: how long `build` waits for another aggregator writing the same output, in seconds
DEFAULT_WAIT = 60.0


def build(
    config: Config,
    *,
    now: datetime | None = None,
    session: requests.Session | None = None,
    wait: float = DEFAULT_WAIT,
    cancel: threading.Event | None = None,
    resolver: Resolver | None = None,
    progress: Progress | None = None,
    leading: Callable[[], bool] | None = None,
    find: pipeline.FindFiles = pipeline.find_files,
    activity: bool = False,
) -> BuildReport:
    """Build the feeds of `config` once, as `aggregator build` does, and return what it
    did (bad article files are in `report.errors`, never raised).

    `find` finds the article files and their identities (see `pipeline.build`): a
    daemon that watches the source folders passes what it kept of them.

    `leading` (a daemon's `Leadership.lead`) is asked again just before a bucket
    output is published: a daemon that lost the lead during the build (its session
    gone, another daemon leading) raises `LeadLost` and publishes nothing.

    The output folder's lock is held for the run: another aggregator writing there
    makes this wait up to `wait` seconds, then raise `LockBusy`. After the run the
    configured WebSub hub is pinged for every feed whose bytes changed (a hub that
    fails is logged, and pinged again after the next run; with a bucket output, once
    the upload that publishes the feed lands, this run's or a later one's). `now` is
    the build's clock
    (the age filter, link freshness, pings; default: the current time; a given one is
    timezone-aware and between the years 1000 and 8999, else a ValueError); `session`
    sends the link checker's requests and the pings; `resolver` answers DNS for the
    link checker; `progress(phase, done, total)` follows the run (`aggregator.Progress`:
    files read, duplicate zones searched, links checked, feeds written); setting `cancel`
    stops the run with `Cancelled` before it writes any feed (or while it waits for
    the lock). With `activity`, `report.activity` counts each topic's articles and
    those published on each of the 90 days up to `now` (what the HTML report charts;
    it costs a scan of the feeds' tables, about 0.06 s at 100,000 articles).

    With an `output:` bucket URL the feeds are built into a local staging folder, then
    the files whose bytes changed are uploaded (`objectstore.upload`); with a bucket
    among the sources its articles are read through a local mirror (`objectstore.mirror`).

    Raises `ConfigError` (a missing source folder, a private file inside the output
    folder), `LockBusy`, `OutputError`, `StateError`, `StorageError` (a bucket that
    cannot be listed, read or written: what was published stays), `WorkerError` (a
    worker process ended abruptly; or this build was called by a worker as it started,
    which imports the main module: a script must build under
    `if __name__ == "__main__":`) or `Cancelled`: all `AggregatorError`s.
    """
    # A script that builds when imported, imported by a worker of its own build: this
    # build would wait for that one's lock, and that one for this worker.
    refuse_when_starting_as_worker()
    config = _checked(config, "build")
    now, taken = _now(now, "build"), time.monotonic()  # (the lock may be waited for)
    check_layout(Layout(config.output, config.sources, config.state_path, patterns=config.patterns))
    lock = OutputLock(config.output, wait=wait)
    lock.acquire(cancel=cancel)
    try:
        with _wrapped():
            # A bucket output whose objects this machine does not know (another daemon
            # published since, or the record is lost): its copy first.
            upload.pull(config)
            report = pipeline.build(
                config,
                now=now,
                taken=taken,
                resolver=resolver,
                progress=progress,
                cancel=cancel,
                session=session,
                find=find,
                activity=activity,
            )
            report = dataclasses.replace(
                report, errors=shown(config, report.errors), warnings=shown(config, report.warnings)
            )
            if config.remote_output is not None and leading is not None and not leading():
                raise LeadLost("lost the lead during the build: the new leader publishes")
            if config.remote_output is not None:
                # Pinged after the upload that lands them, even a later run's.
                pend_build(config, report, now)
            upload.publish(config)  # a bucket output: what changed, after the build
            announce_build(config, report, now, cancel, session=session)
    finally:
        lock.release()
    return report


def check_links(
    config: Config,
    *,
    now: datetime | None = None,
    session: requests.Session | None = None,
    resolver: Resolver | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> CheckedLinks:
    """Check the links a build would publish (the stale ones; fresh results come from
    the state file), store the results and return them, writing no feed: what
    `aggregator check-links` prints, and what a daemon that does not lead does to help
    the one that does. Parameters as for `build` (`cancel` stops the checks with
    `Cancelled`; the results known by then are stored)."""
    config = _checked(config, "check_links")
    now = _now(now, "check_links")
    with _wrapped():
        checked = pipeline.check_links(
            config, now=now, resolver=resolver, progress=progress, session=session, cancel=cancel
        )
    return dataclasses.replace(
        checked, errors=shown(config, checked.errors), warnings=shown(config, checked.warnings)
    )


_Named = TypeVar("_Named", LoadError, LoadWarning)


def shown(config: Config, items: Sequence[_Named]) -> tuple[_Named, ...]:
    """`items` (reports of files) as a person knows them: a mirrored file by its
    object's URL, a remote feed's entry by its feed's URL and the entry's id."""
    return remote.shown_entries(config, mirror_shown(config, items))


def feed_states(config: Config) -> tuple[FeedState, ...]:
    """What the state file knows of each remote feed of `config` (in its order), without
    fetching anything: what `aggregator feeds` prints. A feed never fetched has no
    `checked_at`; without a state file, none has."""
    config = _checked(config, "feed_states")
    with _wrapped():
        if not store_exists(config.state_location):  # asking must not create a state file
            return tuple(remote.counted(FeedState(feed.url), config) for feed in config.feeds)
        with open_store(config.state_location) as store:
            return remote.known_states(config, store)


def add_feed(
    url: str,
    config_file: str | os.PathLike[str],
    *,
    config: Config | None = None,
    session: requests.Session | None = None,
    resolver: Resolver | None = None,
) -> Discovered:
    """Find the feed of `url` (the URL itself when it is a feed, else the feed its page
    names in `<link rel="alternate">`) and add it to the `feeds:` list of the config
    file (made when missing; its text otherwise kept). Requests follow `config`'s link
    rules (the file's own when None). Raises DiscoveryError when no feed is found."""
    path = Path(config_file)
    if config is None:
        config = read_config(path).config if path.exists() else Config()
    try:
        url = web_url(url)
    except ValueError as exc:
        raise ConfigError(f"add-feed: {exc}") from None
    with _wrapped():
        found = discover(url, config, session=session, resolver=resolver)
        added = add_to_config(path, found.url)
    return dataclasses.replace(found, added=added)


def validate(
    config: Config | None = None,
    paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str] = (),
) -> Validation:
    """Check article files as a build reads them, without building: `paths` (files, or
    folders searched as source folders; one path alone is taken as one), or, when none
    is given, exactly the files a build of `config` reads (its sources, found by the
    plan every command runs: a missing source folder raises `ConfigError`, as `build`
    does). `result.ok`, or one `LoadError` per invalid file in `result.errors`."""
    config = _checked(config if config is not None else Config(), "validate")
    if isinstance(paths, str | os.PathLike):  # one path, not the characters of its name
        paths = [paths]
    if not paths:
        found = validate_sources(config)
        return dataclasses.replace(
            found, errors=shown(config, found.errors), warnings=shown(config, found.warnings)
        )
    return validate_paths([Path(p) for p in paths], config.patterns, config.limits)


def _checked(config: Config, call: str) -> Config:
    """`config`, when it is a `Config`; else TypeError naming the call and the argument,
    rather than an AttributeError from deep inside the run (`validate("aggregator.yaml")`:
    a path is not a config)."""
    if not isinstance(config, Config):
        raise TypeError(
            f"{call}: config must be an aggregator.Config (aggregator.load_config makes "
            f"one from a file), not {type(config).__name__}"
        )
    return config


#: the years a `now` given to the library may lie in: `now` less or plus the longest
#: duration a setting takes (`config.LONGEST`, 100 years) and a day stays inside the
#: years 1 to 9999 that datetime holds
_EARLIEST_NOW = datetime(1000, 1, 1, tzinfo=UTC)
_LATEST_NOW = datetime(9000, 1, 1, tzinfo=UTC)


def _now(now: datetime | None, call: str) -> datetime:
    """The time of a run: `now` in UTC, else the clock's. A `now` that is not a datetime
    is a TypeError, a naive one or one outside the years 1000 to 8999 a ValueError,
    naming the call, rather than an error from deep inside the run (comparing naive and
    aware datetimes; `now - max_age` past the year 1)."""
    if now is None:
        return utcnow()
    if not isinstance(now, datetime):
        raise TypeError(f"{call}: now must be a datetime, not {type(now).__name__}")
    if now.utcoffset() is None:
        raise ValueError(
            f"{call}: now must be timezone-aware, such as datetime.now(UTC), not {now.isoformat()}"
        )
    if not _EARLIEST_NOW <= now < _LATEST_NOW:
        raise ValueError(
            f"{call}: now must lie between the years 1000 and 8999, not {now.isoformat()}"
        )
    return now.astimezone(UTC)


@contextlib.contextmanager
def _wrapped() -> Iterator[None]:
    """Errors of the libraries underneath, as `AggregatorError`s: the engine wraps them
    where it can name what failed; what still leaks is wrapped here."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StateError(f"state file: {exc}") from exc
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        raise OutputError(f"{where}{exc.strerror or exc}") from exc
