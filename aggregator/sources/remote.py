"""Remote feeds as sources: fetch the feeds that are due, keep their entries as article files.

Each entry of a feed of the config's `feeds:` section (and of each `--feed URL`) is
kept in the state store as an article file of the seed format (`entries.article_text`,
`StateStore.save_feed_entries`), and copied to a folder of entry files beside the state
file (`Config.entries_path`, one folder per feed), which every command reads as it reads
a source folder: so an entry is loaded, validated, deduplicated (a story in a feed and
in an article file is one story, the higher quality copy wins), link-checked, filtered
and published exactly as a file is.

`sync` runs before a build reads its files. It first makes each feed's folder a copy of
what the state keeps (`restore`: daemons sharing a PostgreSQL state each have a folder
of their own, stale when one takes the lead from another). Then it fetches the feeds
that are due through the link checker's scheduler (`LinkChecker.fetch`: the same
per-host limits, spacing and address rules as link checks) with the ETag and
Last-Modified of the last answer, so a feed that did not change costs a 304 and writes
nothing. A feed is due at every run unless its last answer said when to come back
(Cache-Control max-age, RSS `ttl`, a 429 or 503's Retry-After; at most `MAX_WAIT`). An
entry file is written only when its bytes change, so unchanged entries keep their
identity and an incremental build renders only the topics of new and changed entries.
Entries that leave a feed's window stay, published until `max_age` or the feed limit
leaves them out. A feed that fails keeps its entries; one that answers 410 Gone is not
fetched again (its entries stay); a permanent redirect is followed from then on and
reported, so that the config can be updated. The entries of a feed no longer in the
config are removed.

What a run learnt of each feed is in the state file (`StateStore.feed_states`) and
in the build report (`BuildReport.sources`): `aggregator feeds` shows it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from typing import TypeVar
from urllib.parse import urlsplit

import yaml

from aggregator.config import Config
from aggregator.config import FeedSource
from aggregator.errors import Cancelled
from aggregator.errors import FeedError
from aggregator.model import FeedState
from aggregator.model import LoadError
from aggregator.model import LoadWarning
from aggregator.model import SkippedEntry
from aggregator.sources import yamlload
from aggregator.sources.entries import Entry
from aggregator.sources.entries import FeedReader
from aggregator.sources.entries import RemoteFeed
from aggregator.sources.entries import Settings
from aggregator.sources.entries import article_text
from aggregator.sources.entries import entry_key
from aggregator.sources.entries import left_out
from aggregator.sources.entries import settled
from aggregator.sources.entries import shown_title
from aggregator.sources.entries import usable
from aggregator.state.codec import entry_digest
from aggregator.state.interface import StateStore

if TYPE_CHECKING:
    import requests

    from aggregator.links.fetch import Fetched
    from aggregator.links.netguard import Resolver

#: the longest a feed's answer may put off its next fetch
MAX_WAIT = timedelta(days=1)
#: how long a document refused for the parser's time or memory waits to be asked again
COSTLY_WAIT = timedelta(hours=1)
#: entries left out of one document that the state keeps (with their reasons)
MAX_SKIPPED = 100
#: the meta rows (`_settings_key`) of the settings (`Settings.mark`) the state's entries
#: of each feed were written under: when the config's differ, they are written again
SETTINGS_KEY = "feed settings "
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
    taken: float | None = None,
) -> tuple[FeedState, ...]:
    """Fetch the config's feeds that are due and write their entries (see the module
    docstring); what is known of each feed, in config order. `taken`: when `now` was
    read (`time.monotonic`; default: now), which the waits the answers ask for count
    from."""
    taken = taken if taken is not None else time.monotonic()
    root = config.entries_path
    known, marks = _remove_others(root, config.feeds, store)
    lost: set[str] = set()
    due: list[FeedSource] = []
    #: the feeds asked for with no validator: a 304 to them holds no document
    unconditional: set[str] = set()
    for feed in config.feeds:
        state = known.get(feed.url)
        # The folder is a copy of the entries the state keeps (another daemon sharing
        # the state may have fetched since): made the same first. Entries the state
        # keeps no text of (an older version wrote them) that this machine does not
        # hold either are asked for again in full, whatever the last answer said of
        # the next fetch.
        whole = restore(root / folder_name(feed.url), feed.url, store)
        settings = _settings(feed)
        was = marks.get(_settings_key(feed.url))
        if was != settings.mark:
            filtered = was is None or was.split(" ")[-1] != settings.mark.split(" ")[-1]
            if filtered and state is not None and (state.etag or state.last_modified):
                # Entries its title_filter left out before may be in the document the
                # server has: asked for whole when it is next due (not sooner).
                state = known[feed.url] = state.replace(etag=None, last_modified=None)
                store.save_feed_state(state)
            _settle(feed, settings, root / folder_name(feed.url), store, config, now, cancel)
            store.set_meta(_settings_key(feed.url), settings.mark)  # all done: last
        if not whole and state is not None and state.fetched_at is not None:
            lost.add(feed.url)
        if state is None or (
            not state.gone and (feed.url in lost or (state.next_fetch or now) <= now)
        ):
            due.append(feed)
    fetched = {}
    lead = 0.0
    if due:
        from aggregator.links.fetch import FetchRequest  # here: only runs with feeds need it
        from aggregator.links.linkcheck import LinkChecker

        requests_: list[FetchRequest] = []
        for feed in due:
            state = known.get(feed.url)
            where = state.moved_to or feed.url if state is not None else feed.url
            if state is None or feed.url in lost:
                requests_.append(FetchRequest(where))  # its entries are gone: ask for all
            else:
                requests_.append(FetchRequest(where, state.etag, state.last_modified))
            if requests_[-1].etag is None and requests_[-1].last_modified is None:
                unconditional.add(feed.url)
        checker = LinkChecker(config.link_check, resolver=resolver, session=session)
        lead = time.monotonic() - taken  # the answers' `after` count from here
        fetched = checker.fetch(
            requests_, max_bytes=config.limits.source_feed_size, cancel=cancel, store=store
        )
    results: list[FeedState] = []
    seconds = config.link_check.deadline.total_seconds()
    with FeedReader(seconds, cancel=cancel) as reader:
        for feed in config.feeds:
            state = known.get(feed.url) or FeedState(feed.url)
            if feed in due:
                asked = state.moved_to or feed.url
                answer = fetched[asked]
                if answer.status == 304 and feed.url in unconditional:
                    answer = dataclasses.replace(
                        answer, error="304 Not Modified to a request that named no copy"
                    )
                # The waits the answer asks for count from when it came, as the
                # server counts them.
                answered = now + timedelta(seconds=lead + answer.after)
                state = _take(feed, state, answer, config, store, now, answered, reader)
                store.save_feed_state(state)
            results.append(counted(state, config))
    return tuple(results)


def known_states(config: Config, store: StateStore) -> tuple[FeedState, ...]:
    """What the state knows of each of the config's feeds, in its order (see `sync`)."""
    known = store.feed_states()
    return tuple(counted(known.get(f.url) or FeedState(f.url), config) for f in config.feeds)


def _take(
    feed: FeedSource,
    state: FeedState,
    answer: Fetched,
    config: Config,
    store: StateStore,
    now: datetime,
    answered: datetime,
    reader: FeedReader,
) -> FeedState:
    """The state of `feed` after `answer` (its document read by `reader`, `answered`
    the time it came, which the waits it asks for count from); its entries
    written."""
    # A 304 that says nothing of how long it stays fresh is as fresh as the document it
    # stands for was; its RSS ttl (in the body a 304 has not) holds for it too.
    fresh = answer.max_age
    if answer.status == 304 and fresh is None:
        fresh = state.max_age
    wait = _wait(fresh, answer.retry_after)
    # Permanent redirects back to the configured URL undo a move (the site took it back).
    moved = state.moved_to
    if answer.moved_to:
        moved = None if answer.moved_to == feed.url else answer.moved_to
    base = state.replace(
        checked_at=now,
        status=answer.status,
        moved_to=moved,
        next_fetch=answered + wait if wait else None,
        new=0,
    )
    if answer.status == 410:
        return base.replace(
            error="410 Gone: not fetched again", gone=True, skipped=(), skipped_total=0
        )
    if answer.status == 304 and answer.error is None:
        # the document the last fetch read, and what was made of it
        return _with_ttl(base.replace(max_age=fresh), state.ttl, answered)
    if answer.error is not None or answer.body is None:
        failed = base.replace(error=answer.error or "no document", skipped=(), skipped_total=0)
        if answer.status != 304 and (answer.etag is not None or answer.last_modified is not None):
            # A document refused whole (too large, a bad gzip stream): a second run
            # asks conditionally, and its 304 keeps the refusal.
            failed = failed.replace(etag=answer.etag, last_modified=answer.last_modified)
        return failed
    # What the server says of this document: a second run asks conditionally, even
    # for a document refused (its 304 keeps the refusal).
    base = base.replace(
        etag=answer.etag, last_modified=answer.last_modified, max_age=answer.max_age, ttl=None
    )
    try:
        remote = reader.read(answer.body, answer.final_url, answer.content_type)
    except FeedError as exc:
        refused = base.replace(error=str(exc), skipped=(), skipped_total=0)
        if reader.costly and refused.next_fetch is None:
            # A document that took all the parser's time or memory is not fetched and
            # parsed again at every run (nor is a 304 parsed: it keeps the refusal).
            refused = refused.replace(next_fetch=answered + COSTLY_WAIT)
        return refused
    base = _with_ttl(base.replace(ttl=remote.ttl), remote.ttl, answered)
    folder = config.entries_path / folder_name(feed.url)
    written, skipped = _write_entries(feed, remote, folder, store, now, config)
    return base.replace(
        error=None,
        fetched_at=now,
        title=remote.title or state.title,
        new=written,
        skipped=tuple(skipped[:MAX_SKIPPED]),
        skipped_total=len(skipped),
    )


def _write_entries(
    feed: FeedSource,
    remote: RemoteFeed,
    folder: Path,
    store: StateStore,
    now: datetime,
    config: Config,
) -> tuple[int, list[SkippedEntry]]:
    """Write the entry files whose bytes changed (the first-seen times of new ones
    kept first), prune those that left the feed long ago; how many were written, and
    the entries left out."""
    limits = config.limits
    settings = _settings(feed)
    first_seen = store.feed_entries(feed.url)
    digests = store.feed_entry_digests(feed.url)
    skipped: list[SkippedEntry] = []
    chosen: dict[str, Entry] = {}
    cap = limits.feed_entries
    for entry in remote.entries:
        why = usable(entry, feed.url, limits)
        if why is None and left_out(settings, shown_title(entry, limits)):
            why = "title matches the feed's title_filter"
        if why is None and len(chosen) >= cap:
            why = f"beyond the first {cap} entries of the document (limits: feed_entries)"
        if why is not None:
            skipped.append(SkippedEntry(entry.id, entry.title, why))
            continue
        # Two entries of one document with one id (some feeds give all the same
        # guid) are told apart by their links.
        key = entry_key(entry.id)
        if key in chosen:
            key = entry_key(f"{entry.id}\n{entry.link}")
            if key in chosen:
                skipped.append(SkippedEntry(entry.id, entry.title, "repeats an earlier entry"))
                continue
        chosen[key] = entry
    texts: dict[str, str] = {}
    changed: list[tuple[str, datetime, str]] = []
    for key, entry in chosen.items():
        seen = first_seen.setdefault(key, now)
        texts[key] = article_text(entry, remote, feed.url, settings, seen, limits)
        if digests.get(key) != entry_digest(texts[key]):
            changed.append((key, seen, texts[key]))
    store.save_feed_entries(feed.url, changed)  # before the files: what they copy
    folder.mkdir(parents=True, exist_ok=True)
    for key, text in texts.items():
        _write_if_changed(folder / f"{key}.md", text.encode("utf-8"))
    _prune(feed, folder, store, set(chosen), first_seen, now, config)
    return len(changed), skipped


def unsettled(config: Config, store: StateStore | None) -> dict[str, Settings]:
    """The entry folders (by path) of the config's feeds whose entries were written
    under other settings than the config's, each with the config's settings: the next
    build writes them again (`sync`), and a command that shows that build before it
    (`topics`, `check-links`) reads them as that build will (`validate` checks the
    files as they are). Every feed's folder when
    there is no state (`store` None)."""
    marks = dict(store.metas(SETTINGS_KEY)) if store is not None else {}
    root = config.entries_path
    found: dict[str, Settings] = {}
    for feed in config.feeds:
        settings = _settings(feed)
        if marks.get(_settings_key(feed.url)) != settings.mark:
            found[str(root / folder_name(feed.url))] = settings
    return found


def _settings(feed: FeedSource) -> Settings:
    return Settings(feed.topics, feed.quality, feed.published, feed.title_filter)


def _settings_key(url: str) -> str:
    """The meta row of a feed's settings: its URL then a line's end, which no URL holds
    (so that no key is the start of another's: `delete_metas` takes a prefix)."""
    return f"{SETTINGS_KEY}{url}\n"


def _settle(
    feed: FeedSource,
    settings: Settings,
    folder: Path,
    store: StateStore,
    config: Config,
    now: datetime,
    cancel: threading.Event | None,
) -> None:
    """Write the entries the state keeps of `feed` again as the config's settings of
    it make them (its topics, quality, published flag, title_filter): the feed may
    answer 304 for days, and entries that left its document are never in one again.
    The state's copies first (those the filter now leaves out forgotten, then the
    others saved), then the files, as `restore` would."""
    keys = sorted(key for key, digest in store.feed_entry_digests(feed.url).items() if digest)
    first_seen = store.feed_entries(feed.url)
    changed: list[tuple[str, datetime, str]] = []
    dropped: list[str] = []
    for key, text in store.feed_entry_texts(feed.url, keys).items():
        if cancel is not None and cancel.is_set():  # (done again by the next run)
            raise Cancelled("stopped while writing a feed's entries again")
        new = settled(text, settings, config.limits)
        if new is None:
            dropped.append(key)
        elif new != text:
            changed.append((key, first_seen.get(key, now), new))  # (a kept one keeps its own)
    store.forget_feed_entries(feed.url, dropped)
    store.save_feed_entries(feed.url, changed)
    for key in dropped:
        (folder / f"{key}.md").unlink(missing_ok=True)
    if changed:
        folder.mkdir(parents=True, exist_ok=True)
    for key, _seen, text in changed:
        _write_if_changed(folder / f"{key}.md", text.encode("utf-8"))


def restore(folder: Path, url: str, store: StateStore) -> bool:
    """Make `folder` a copy of the entries of the feed at `url` the state keeps: write
    the files that differ from the state's text, delete those it no longer keeps (an
    entry kept without a text, by an older version, is left as it is). Whether the
    folder holds every entry kept (False when some have no text and no file)."""
    digests = store.feed_entry_digests(url)
    try:
        names = os.listdir(folder)
    except OSError:
        names = []
    local = {name[:-3] for name in names if name.endswith(".md")}
    for key in local - digests.keys():
        (folder / f"{key}.md").unlink(missing_ok=True)
    stale = [
        key for key, digest in digests.items() if digest and not _same(folder / f"{key}.md", digest)
    ]
    if stale:
        folder.mkdir(parents=True, exist_ok=True)
        for key, text in store.feed_entry_texts(url, stale).items():
            _write_if_changed(folder / f"{key}.md", text.encode("utf-8"))
    return all(digest or key in local for key, digest in digests.items())


def _same(path: Path, digest: str) -> bool:
    try:
        data = path.read_bytes()
    except OSError:
        return False
    return entry_digest(data.decode("utf-8", "surrogateescape")) == digest


def _prune(
    feed: FeedSource,
    folder: Path,
    store: StateStore,
    current: set[str],
    first_seen: dict[str, datetime],
    now: datetime,
    config: Config,
) -> None:
    """Remove the entries that left the feed and can no longer be published: first seen
    before `max_age` (and a day: a date is never later than that), or beyond the newest
    `limits.feed_entries` of the feed."""
    kept = sorted(
        (key for key in first_seen if key not in current),
        key=lambda k: first_seen[k],
        reverse=True,
    )
    room = max(0, config.limits.feed_entries - len(current))
    gone = kept[room:]
    if config.max_age is not None:
        oldest = now - config.max_age - timedelta(days=1)
        gone += [key for key in kept[:room] if first_seen[key] < oldest]
    for key in gone:
        (folder / f"{key}.md").unlink(missing_ok=True)
    store.forget_feed_entries(feed.url, gone)


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


def _with_ttl(state: FeedState, ttl: int | None, now: datetime) -> FeedState:
    """`state` not fetched again before an RSS `ttl` (minutes) from `now` is over."""
    if ttl is None:
        return state
    wait = min(timedelta(minutes=ttl), MAX_WAIT)
    if state.next_fetch is None or state.next_fetch < now + wait:
        return state.replace(next_fetch=now + wait)
    return state


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


def _remove_others(
    root: Path, feeds: Sequence[FeedSource], store: StateStore
) -> tuple[dict[str, FeedState], dict[str, str]]:
    """Remove the entries, state and settings' marks of feeds no longer in the config;
    what the state knows of the others, and their marks (by `_settings_key`)."""
    wanted = {folder_name(feed.url) for feed in feeds}
    if root.is_dir():
        for child in root.iterdir():
            if child.is_dir() and child.name not in wanted:
                shutil.rmtree(child, ignore_errors=True)
    configured = {feed.url for feed in feeds}
    known = store.feed_states()
    store.forget_feeds([url for url in known if url not in configured])
    marks = dict(store.metas(SETTINGS_KEY))
    for key in marks.keys() - {_settings_key(url) for url in configured}:
        store.delete_metas(key)
    return {url: state for url, state in known.items() if url in configured}, marks


_Named = TypeVar("_Named", LoadError, LoadWarning)


def shown_entries(config: Config, items: Sequence[_Named]) -> tuple[_Named, ...]:
    """`items` (reports of files) with each about an entry file told by its feed's URL
    and the entry's id (`URL:1: entry ID: reason`), not by the hidden file's path."""
    if not config.feeds:
        return tuple(items)
    root = str(config.entries_path) + os.sep
    feeds = {folder_name(feed.url): feed.url for feed in config.feeds}
    renamed: list[_Named] = []
    for item in items:
        if item.path.startswith(root):
            folder, _, name = item.path[len(root) :].partition(os.sep)
            url = feeds.get(folder)
            if url is not None:
                entry = _entry_id(Path(item.path)) or name.removesuffix(".md")
                item = dataclasses.replace(
                    item, path=url, line=1, reason=f"entry {entry}: {item.reason}"
                )
        renamed.append(item)
    return tuple(renamed)


def _entry_id(path: Path) -> str | None:
    """The feed's id of the entry in `path` (its `feed: entryId`), when it says."""
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            head = handle.read(64 * 1024)
    except OSError:
        return None
    found = re.search(r"^  entryId: (.*)$", head, re.MULTILINE)
    if found is None:
        return None
    try:
        value = yamlload.load(found.group(1))
    except (yaml.YAMLError, RecursionError, *yamlload.VALUE_ERRORS):  # written by hand, say
        return None
    return str(value) if value is not None else None
