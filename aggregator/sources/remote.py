"""Remote feeds as sources: fetch the feeds that are due, keep their entries as article files.

Each feed of the config's `feeds:` section (and each `--feed URL`) has a folder of
entry files beside the state file (`Config.entries_path`, one folder per feed),
one article file of the seed format per entry (`entries.article_text`), which every
command reads as it reads a source folder: so an entry is loaded, validated,
deduplicated (a story in a feed and in an article file is one story, the higher
quality copy wins), link-checked, filtered and published exactly as a file is.

`sync` runs before a build reads its files. It fetches the feeds that are due
through the link checker's scheduler (`LinkChecker.fetch`: the same per-host limits,
spacing and address rules as link checks) with the ETag and Last-Modified of the
last answer, so a feed that did not change costs a 304 and writes nothing. A feed is
due at every run unless its last answer said when to come back (Cache-Control
max-age, RSS `ttl`, a 429 or 503's Retry-After; at most `MAX_WAIT`). An entry file
is written only when its bytes change, so unchanged entries keep their identity and
an incremental build renders only the topics of new and changed entries. Entries
that leave a feed's window stay, published until `max_age` or the feed limit leaves
them out. A feed that fails keeps its entries; one that answers 410 Gone is not
fetched again (its entries stay); a permanent redirect is followed from then on and
reported, so that the config can be updated. The entries of a feed no longer in the
config are removed.

What a run learnt of each feed is in the state file (`StateStore.feed_states`) and
in the build report (`BuildReport.sources`): `aggregator feeds` shows it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Sequence
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aggregator.config import Config
from aggregator.config import FeedSource
from aggregator.errors import FeedError
from aggregator.model import FeedState
from aggregator.model import SkippedEntry
from aggregator.sources.entries import RemoteFeed
from aggregator.sources.entries import Settings
from aggregator.sources.entries import article_text
from aggregator.sources.entries import entry_key
from aggregator.sources.entries import read_feed
from aggregator.sources.entries import usable
from aggregator.state.interface import StateStore

if TYPE_CHECKING:
    import requests

    from aggregator.links.netguard import Resolver

#: the longest a feed's answer may put off its next fetch
MAX_WAIT = timedelta(days=1)
#: the pattern of entry files in a feed's folder
ENTRY_PATTERN = "*.md"
_SLUG = re.compile(r"[^a-z0-9]+")


def folder_name(url: str) -> str:
    """The folder of a feed's entries: its host, for people, and a digest of its URL."""
    host = _SLUG.sub("-", (urlsplit(url).hostname or "feed").lower()).strip("-")[:40]
    digest = hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{host or 'feed'}-{digest}"


def entry_folders(config: Config) -> list[Path]:
    """The folders of the entries of the config's feeds (those that exist)."""
    root = config.entries_path
    folders = [root / folder_name(feed.url) for feed in config.feeds]
    return [folder for folder in folders if folder.is_dir()]


def sync(
    config: Config,
    now: datetime,
    store: StateStore,
    *,
    session: requests.Session | None = None,
    resolver: Resolver | None = None,
    cancel: threading.Event | None = None,
) -> tuple[FeedState, ...]:
    """Fetch the config's feeds that are due and write their entries (see the module
    docstring); what is known of each feed, in config order."""
    root = config.entries_path
    _remove_others(root, config.feeds, store)
    known = store.feed_states()
    due: list[FeedSource] = []
    for feed in config.feeds:
        state = known.get(feed.url)
        if state is None or (
            not state.gone and (state.next_fetch is None or state.next_fetch <= now)
        ):
            due.append(feed)
    fetched = {}
    if due:
        from aggregator.links.fetch import FetchRequest  # here: only runs with feeds need it
        from aggregator.links.linkcheck import LinkChecker

        requests_: list[FetchRequest] = []
        for feed in due:
            state = known.get(feed.url)
            if state is None:
                requests_.append(FetchRequest(feed.url))
            else:
                where = state.moved_to or feed.url
                requests_.append(FetchRequest(where, state.etag, state.last_modified))
        checker = LinkChecker(config.link_check, resolver=resolver, session=session)
        fetched = checker.fetch(requests_, max_bytes=config.limits.source_feed_size, cancel=cancel)
    results: list[FeedState] = []
    for feed in config.feeds:
        state = known.get(feed.url) or FeedState(feed.url)
        if feed in due:
            asked = state.moved_to or feed.url
            state = _take(feed, state, fetched[asked], root, store, now)
            store.save_feed_state(state)
        results.append(counted(state, config))
    return tuple(results)


def known_states(config: Config, store: StateStore) -> tuple[FeedState, ...]:
    """What the state knows of each of the config's feeds, in its order (see `sync`)."""
    known = store.feed_states()
    return tuple(counted(known.get(f.url) or FeedState(f.url), config) for f in config.feeds)


def _take(
    feed: FeedSource, state: FeedState, answer: object, root: Path, store: StateStore, now: datetime
) -> FeedState:
    """The state of `feed` after `answer` (a `fetch.Fetched`); its entries written."""
    from aggregator.links.fetch import Fetched

    assert isinstance(answer, Fetched)
    wait = _wait(answer.max_age, answer.retry_after)
    moved = answer.moved_to if answer.moved_to and answer.moved_to != feed.url else state.moved_to
    base = state.replace(
        checked_at=now,
        status=answer.status,
        moved_to=moved,
        next_fetch=now + wait if wait else None,
    )
    if answer.status == 410:
        return base.replace(error="410 Gone: not fetched again", gone=True, new=0, skipped=())
    if answer.status == 304:
        return base.replace(error=None, new=0, skipped=())
    if answer.error is not None or answer.body is None:
        return base.replace(error=answer.error or "no document", new=0, skipped=())
    try:
        remote = read_feed(answer.body, answer.final_url, answer.content_type)
    except FeedError as exc:
        return base.replace(error=str(exc), new=0, skipped=())
    if remote.ttl is not None:
        ttl = min(timedelta(minutes=remote.ttl), MAX_WAIT)
        if base.next_fetch is None or base.next_fetch < now + ttl:
            base = base.replace(next_fetch=now + ttl)
    written, skipped = _write_entries(feed, remote, root / folder_name(feed.url), store, now)
    return base.replace(
        error=None,
        etag=answer.etag,
        last_modified=answer.last_modified,
        fetched_at=now,
        title=remote.title or state.title,
        new=written,
        skipped=tuple(skipped),
    )


def _write_entries(
    feed: FeedSource, remote: RemoteFeed, folder: Path, store: StateStore, now: datetime
) -> tuple[int, list[SkippedEntry]]:
    """Write the entry files whose bytes changed; how many, and the entries left out."""
    settings = Settings(feed.topics, feed.quality, feed.published)
    first_seen = store.feed_entries(feed.url)
    added: list[tuple[str, datetime]] = []
    skipped: list[SkippedEntry] = []
    written = 0
    folder.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    for entry in remote.entries:
        why = usable(entry)
        if why is None and feed.title_filter and re.search(feed.title_filter, entry.title):
            why = "title matches the feed's title_filter"
        if why is not None:
            skipped.append(SkippedEntry(entry.id, entry.title, why))
            continue
        key = entry_key(entry)
        if key in seen:
            continue  # the same id twice in one document: the first counts
        seen.add(key)
        when = first_seen.get(key)
        if when is None:
            when = now
            added.append((key, now))
        text = article_text(entry, remote, feed.url, settings, when).encode("utf-8")
        if _write_if_changed(folder / f"{key}.md", text):
            written += 1
    store.add_feed_entries(feed.url, added)
    return written, skipped


def _write_if_changed(path: Path, data: bytes) -> bool:
    try:
        if path.read_bytes() == data:
            return False
    except OSError:
        pass
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".entry-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return True


def _wait(max_age: float | None, retry_after: float | None) -> timedelta | None:
    seconds = max((s for s in (max_age, retry_after) if s is not None), default=None)
    if seconds is None or seconds <= 0:
        return None
    return min(timedelta(seconds=seconds), MAX_WAIT)


def counted(state: FeedState, config: Config) -> FeedState:
    """`state` with the number of entry files kept of its feed."""
    folder = config.entries_path / folder_name(state.url)
    try:
        count = sum(1 for name in os.listdir(folder) if name.endswith(".md"))
    except OSError:
        count = 0
    return state.replace(entries=count)


def _remove_others(root: Path, feeds: Sequence[FeedSource], store: StateStore) -> None:
    """Remove the entries and state of feeds no longer in the config."""
    wanted = {folder_name(feed.url) for feed in feeds}
    if root.is_dir():
        for child in root.iterdir():
            if child.is_dir() and child.name not in wanted:
                shutil.rmtree(child, ignore_errors=True)
    configured = {feed.url for feed in feeds}
    store.forget_feeds([url for url in store.feed_states() if url not in configured])
