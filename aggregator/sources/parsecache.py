"""The parse cache: a file whose identity has not changed is not parsed again (the
rows are in the form of `state.codec.encode`).

A file's identity is its path, size and modification time in nanoseconds. A file
modified within `RACY_SECONDS` of the build is parsed and cached under no identity
(`RACY_SIZE`), since a later write in the same clock tick could keep its size and
mtime (git's "racily clean" problem): its content digest tells the next build
whether it changed (see `incremental`). What is cached is the loader's result (an
Article or a LoadError) as JSON, never code: the state file is not trusted to run
anything. The cache belongs to one version of the loader and is dropped when the
format changes.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Collection
from collections.abc import Container
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from stat import S_ISLNK

from aggregator.clock import wall_ns
from aggregator.errors import Cancelled
from aggregator.limits import DEFAULT_LIMITS
from aggregator.limits import Limits
from aggregator.model import Article
from aggregator.model import Fingerprint
from aggregator.model import LoadError
from aggregator.progress import Progress
from aggregator.progress import counting
from aggregator.sources.loader import file_digest
from aggregator.sources.loader import forget_cleaned
from aggregator.sources.loader import inode
from aggregator.sources.loader import load_file
from aggregator.sources.loader import load_file_digest
from aggregator.sources.loader import map_in_chunks
from aggregator.sources.loader import read_ahead
from aggregator.sources.loader import unforeseen
from aggregator.state.codec import Encoded
from aggregator.state.codec import decode
from aggregator.state.codec import encode
from aggregator.state.codec import words_fingerprint
from aggregator.state.interface import StateStore
from aggregator.stories.dedupe import with_keys
from aggregator.stories.similar import Dated
from aggregator.stories.similar import fingerprint
from aggregator.version import __version__

#: bump when the loader's results change for the same file (the limits are added to it)
FORMAT = f"10/{__version__}"
RACY_SECONDS = 2
#: the size a file modified within RACY_SECONDS of its parse is cached with: no file
#: has it, so the row is never taken for the file by its identity
RACY_SIZE = -1
#: rows written to the state file at a time
_BATCH = 2_000
#: files a worker parses per task
_CHUNK = 250


def load_cached(
    paths: Sequence[str],
    store: StateStore,
    cancel: threading.Event | None = None,
    limits: Limits = DEFAULT_LIMITS,
    workers: int | None = None,
    identities: Mapping[str, tuple[int, int]] | None = None,
    whole: bool = True,
    progress: Progress | None = None,
    fresh: Container[str] = (),
) -> Loaded:
    """Like `loader.load_all`, parsing only the files that changed since they were cached.

    Files are parsed on `workers` processes (default: one per core) when there are
    many; each result is encoded where it is parsed, dedupe keys and fingerprint
    included, and decoded here as the cached rows are: one code path, and memory
    stays near what the articles themselves take (rows are written in batches).
    See `load_light` for `identities`, `whole` and `progress` (and `Loaded` for what else
    it tells).
    """
    return _load(paths, store, cancel, limits, workers, False, identities, whole, progress, fresh)


def load_light(
    paths: Sequence[str],
    store: StateStore,
    cancel: threading.Event | None = None,
    limits: Limits = DEFAULT_LIMITS,
    workers: int | None = None,
    identities: Mapping[str, tuple[int, int]] | None = None,
    whole: bool = True,
    progress: Progress | None = None,
    fresh: Container[str] = (),
) -> Loaded:
    """`load_cached` without what only rendering reads (excerpt, images, related
    coverage): a build holds every article but renders few, and reads their bodies back
    from the cache (`StateStore.parsed_rows`; `Loaded.bodies` holds those not cached).
    `identities` are those `stat_files` gave, when known. `whole`: `paths` are every
    file of the corpus (the rows of other files are dropped); else some of them (the
    rows of the others stay). `progress` hears the phase "read": the files taken from
    the cache at once, then those parsed, as the workers hand them back. The files
    `fresh` (see `stat_files`) are parsed, whatever the cache holds."""
    return _load(paths, store, cancel, limits, workers, True, identities, whole, progress, fresh)


def stat_files(
    paths: Iterable[str], since: int | None = None, fresh: set[str] | None = None
) -> dict[str, tuple[int, int]]:
    """(size, mtime_ns) of each file that can be read: its identity in the cache.

    `since`: when the last build took the identities (`clock.stamp_ns`). A file whose
    ctime is after it changed since in a way its size and mtime may not tell (`chmod`,
    another file of the same size and mtime renamed over it, `cp -p`): it is put in
    `fresh`, to be read again (see `settle`); a symbolic link, when its own ctime or its
    file's is (pointed at another file)."""
    identities: dict[str, tuple[int, int]] = {}
    late = since if since is not None else 1 << 63
    changed = fresh if fresh is not None else set()
    for path in paths:
        try:
            info = os.lstat(path)
            ctime = info.st_ctime_ns
            if S_ISLNK(info.st_mode):  # its file's identity; its own ctime if re-pointed
                info = os.stat(path)
                ctime = max(ctime, info.st_ctime_ns)
        except OSError:
            continue
        identities[path] = (info.st_size, info.st_mtime_ns)
        if ctime > late:
            changed.add(path)
    return identities


def folder_of(path: str) -> str:
    """The folder of a file as the walk writes it (`loader.find_paths`): its path up to
    the last separator ("" for a file of the working folder)."""
    return path.rpartition(os.sep)[0]


def folder_identities(paths: Sequence[str]) -> dict[str, int]:
    """The inode number of each folder that holds one of `paths` (by `folder_of`), a link
    to a folder followed, -1 when it cannot be stat'ed: what `loader.find_paths` gives,
    for a finder that keeps none."""
    return {name: inode(name) for name in {folder_of(path) for path in paths}}


def swapped_in(folder: str, roots: Collection[str], since: int) -> bool:
    """Whether `folder` (as the paths write it), a folder of a source whose inode number
    is another than the last build's, is another folder put in its place since `since`
    (`clock.stamp_ns`), which may hold files of the same names, sizes and mtimes as the
    one before, their ctimes older: a folder's ctime moves when it is renamed, so one
    renamed into place, or below one that was up to its source (`roots`: the sources,
    absolute), has a later ctime. A folder whose number moved by itself (some file
    systems number folders anew when they are mounted again or leave the memory) is
    not, but when a folder between it and its source changed since (a file added)."""
    path = os.path.abspath(folder or os.curdir)
    while True:
        try:
            if os.stat(path).st_ctime_ns > since:
                return True
        except OSError:  # gone since the walk: its files are read (and not found)
            return True
        parent = os.path.dirname(path)
        if path in roots or parent == path:
            return False
        path = parent


def settle(
    store: StateStore,
    fresh: Collection[str],
    identities: Mapping[str, tuple[int, int]],
    limits: Limits,
    cancel: threading.Event | None = None,
) -> frozenset[str]:
    """The files of `fresh` (see `stat_files`) that may hold other bytes than their
    cached row was parsed from. A file whose size and mtime are its row's, and whose
    content digest is too, does not (a `chmod`, `chown -R`, a `cp -a` of the same
    bytes changed its ctime only): it is read and hashed, not parsed. (A row is kept by
    the build that parsed its bytes, and a build that stops before it completes leaves
    the next one cold: the rows of a complete build's tables hold what they were built
    from.) Stops with `Cancelled` soon after `cancel` is set."""
    if not fresh or store.meta("parse_format") != cache_form(limits):
        return frozenset(fresh)
    rows = store.parsed_digests(fresh)
    still: set[str] = set()
    for done, path in enumerate(fresh):
        if done % _CHUNK == 0 and cancel is not None and cancel.is_set():
            raise Cancelled("stopped while reading article files")
        row = rows.get(path)
        if (
            row is None
            or not row[1]  # not known (an older row), or its bytes were not read
            # (a file whose size or mtime moved is changed anyway: not hashed; one
            # written just before its row was, told by its digest, is: `RACY_SIZE`)
            or (row[0] != identities.get(path) and row[0][0] != RACY_SIZE)
            or file_digest(Path(path), limits) != row[1]
        ):
            still.add(path)
    return frozenset(still)


class Loaded:
    """Articles and errors of `load_light`, and the bodies of those articles that are
    not in the cache."""

    def __init__(self) -> None:
        self.articles: list[Article] = []
        self.errors: list[LoadError] = []
        #: bodies of files parsed now and not cached (gone when their size was read)
        self.bodies: dict[str, str] = {}
        #: content digests of files parsed now that were written just now
        self.digests: dict[str, str] = {}
        #: files whose bytes could not be read (no row is kept: see `load_light`)
        self.unread: list[str] = []


#: complete fingerprints `load_words` read lately, by path and digest: a daemon's
#: builds read the words of the same few periods again and again
_WORDS: OrderedDict[tuple[str, str], Fingerprint] = OrderedDict()
#: fingerprints kept in `_WORDS` (the three periods a change reads at 100k articles
#: hold about 8,500; each fingerprint is a few hundred bytes)
WORDS_KEPT = 20_000


def load_words(store: StateStore, limits: Limits, articles: Sequence[Dated]) -> list[Fingerprint]:
    """The complete fingerprints of articles whose cached fingerprint is its digest only."""
    known = {
        a.path: words
        for a in articles
        if a.fingerprint is not None
        and (words := _WORDS.get((a.path, a.fingerprint.digest))) is not None
    }
    stored = store.parsed_words([a.path for a in articles if a.path not in known])
    found: list[Fingerprint] = []
    for article in articles:
        if article.path in known:
            found.append(known[article.path])
            continue
        text = stored.get(article.path)
        if text is not None and article.fingerprint is not None:
            digest = article.fingerprint.digest
            words = words_fingerprint(json.loads(text), digest)
            if _WORDS and len(_WORDS) >= WORDS_KEPT:
                # The oldest (a plain dict finds its first key past the holes the
                # keys deleted before it left: a scan as long as the dict each time).
                _WORDS.popitem(last=False)
            _WORDS[(article.path, digest)] = words
            found.append(words)
            continue
        again = load_file(Path(article.path), limits)  # the row is gone: read the file again
        if isinstance(again, Article):
            found.append(fingerprint(again))
        elif isinstance(article, Article):
            found.append(fingerprint(article))
        else:
            found.append(Fingerprint((), (), (), (), ""))
    return found


def _load(
    paths: Sequence[str],
    store: StateStore,
    cancel: threading.Event | None,
    limits: Limits,
    workers: int | None,
    light: bool,
    identities: Mapping[str, tuple[int, int]] | None,
    whole: bool,
    progress: Progress | None = None,
    fresh: Container[str] = (),
) -> Loaded:
    form = cache_form(limits)
    if store.meta("parse_format") != form:
        store.clear_parsed()
        store.set_meta("parse_format", form)
    keys = list(paths)
    if identities is None:
        identities = stat_files(keys)
    results: dict[str, Article | LoadError] = {}
    cached = store.iter_parsed(full=not light, paths=None if whole else keys)
    # `whole`: the rows of files not among the paths (gone), found as every row is read
    # (none in a cold build: no other read of every path)
    listed: set[str] | None = None
    gone: list[str] = []
    for key, identity, head, words, body in cached:
        if whole:
            if listed is None:
                listed = set(keys)
            if key not in listed:
                gone.append(key)
                continue
        if identities.get(key) == identity and key not in fresh:
            results[key] = decode(head, words, body)  # both None when light
    stale = [key for key in keys if key not in results]
    loaded = Loaded()
    # File times are the file system's: compare them with the real clock, not the
    # build's logical clock (`now`), which tests and replays set to other times.
    racy = wall_ns() - RACY_SECONDS * 1_000_000_000
    rows: list[tuple[str, int, int, str, str, str, str]] = []
    unknown: list[str] = []
    parsed = counting(progress, "read", len(keys), len(keys) - len(stale))
    chunks = map_in_chunks(
        parse_chunk, stale, limits, cancel, workers, _CHUNK, parsed, prepare=read_ahead
    )
    for key, (head, words, body), digest in chunks:
        # Parsed now: complete words (near-duplicate detection reads them all).
        results[key] = decode(head, words, None if light else body)
        known = identities.get(key)
        if digest is None:
            # Its bytes could not be read (permissions, I/O): no row, and it is read
            # again next time, when its size and mtime may be the same.
            loaded.unread.append(key)
        if known is None or digest is None:  # no identity to cache it under, or no
            unknown.append(key)  # bytes: its old row is stale
            if light:
                loaded.bodies[key] = body
            continue
        size = cached_size(known[0], known[1], racy)
        rows.append((key, size, known[1], head, words, body, digest))
        if size == RACY_SIZE and digest:  # not None nor NOT_READ
            loaded.digests[key] = digest
        if len(rows) >= _BATCH:
            store.save_parsed(rows)
            rows = []
    store.save_parsed(rows)
    forget_cleaned()
    store.forget_parsed(unknown + gone)
    ordered = [results[key] for key in keys]
    loaded.articles = [r for r in ordered if isinstance(r, Article)]
    loaded.errors = [r for r in ordered if isinstance(r, LoadError)]
    return loaded


def cached_size(size: int, mtime_ns: int, racy: int) -> int:
    """The size a file's row is cached under: `RACY_SIZE` for a file modified at or
    after `racy` (RACY_SECONDS before the build), kept for incremental builds, which
    tell its content by its digest, and never taken by its size and mtime."""
    return size if mtime_ns < racy else RACY_SIZE


def cache_form(limits: Limits) -> str:
    """What the cached rows belong to: this loader, these limits (a changed cap changes
    what a file loads as)."""
    return f"{FORMAT} {limits!r}"


def parse_chunk(
    paths: list[str], limits: Limits = DEFAULT_LIMITS
) -> list[tuple[str, Encoded, str | None]]:
    """Parse a batch of files (in a worker process): (path, encoded result, digest of
    the content read) each."""
    results: list[tuple[str, Encoded, str | None]] = []
    for path in paths:
        result, digest = load_file_digest(path, limits)
        results.append((path, encode(keyed(result)), digest))
    return results


def keyed(result: Article | LoadError) -> Article | LoadError:
    """A loaded file with its dedupe keys (`dedupe.with_keys`), or a report of it when
    they cannot be made: one bad file never stops a build, whatever its URLs make of
    the code that reads them. A LoadError is returned as it is."""
    if isinstance(result, LoadError):
        return result
    try:
        return with_keys(result)
    except Exception as exc:
        return unforeseen(result.path, exc)
