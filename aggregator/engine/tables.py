"""What a build keeps of what it derived, and what changed since: the engine's state.

Each build (`run.Run`) keeps in the state file what its stages derived from the
corpus: each article's period, date, fingerprint digest and story (`inc_art`); the
canonical URLs of each article (`inc_key`); the similar pairs of each zone
(`inc_pair`); each story's survivor, topics and feeds (`inc_story`); each feed's
members in feed order (`inc_member`); the related coverage shown (`inc_rel`); with
links checked, the link results each survivor was judged by (`inc_link`); and in
meta rows the topic spellings, per feed its results and listing, the file
identities and the clock. The rows here are built by the functions here, whatever
the build.

The next build compares every file's identity (path, size, mtime) with the last
build's (for a file written within `RACY_SECONDS` of the last build, whose identity
cannot be trusted, its content digest): `changes` gives the files changed and
deleted, and the unchanged articles whose verdict may have changed
(`Changes.rejudge`): with `max_age`, those that crossed the age limit since the last
build's clock; with links checked, those judged by a link result that is due or was
replaced (`aggregator check-links`). When the state cannot say (none yet, a changed
config or version, a state file another version wrote, a build killed halfway,
output files changed by anything else, or more than `MAX_SHARE` of the files
changed), the build starts from an empty state (`empty`): every file is a change.
The tables are marked invalid while they are rewritten (`FORM`) and valid once the
build's report is kept (`seal`).
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import json
import os
import uuid
from collections import Counter
from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import time
from datetime import timedelta
from hashlib import sha256
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from aggregator import version
from aggregator.clock import wall_ns
from aggregator.config import Config
from aggregator.engine.stages import checks_links
from aggregator.links.articles import CheckedLinks
from aggregator.model import Activity
from aggregator.model import Article
from aggregator.model import FeedResult
from aggregator.model import Fingerprint
from aggregator.model import TopicActivity
from aggregator.publishing.publish import ALL
from aggregator.publishing.publish import feed_order
from aggregator.rendering.pages import Listing
from aggregator.sources import parsecache
from aggregator.sources.loader import SOURCE_MARK
from aggregator.sources.loader import file_digest
from aggregator.sources.parsecache import RACY_SECONDS
from aggregator.sources.parsecache import cache_form
from aggregator.sources.parsecache import folder_of
from aggregator.sources.parsecache import swapped_in
from aggregator.state.codec import link_row
from aggregator.state.codec import link_stamp
from aggregator.state.interface import LINK_WRITES
from aggregator.state.interface import StateStore
from aggregator.state.lastbuild import last_report
from aggregator.stories.dedupe import link_key
from aggregator.stories.dedupe import url_keys
from aggregator.stories.similar import SCORING
from aggregator.stories.similar import fingerprint
from aggregator.stories.similar import period_of
from aggregator.stories.topics import topic_key
from aggregator.version import __version__

if TYPE_CHECKING:
    pass

FORM = "inc_form"
#: the settings the feeds of the last build were rendered with (`rendering`)
RENDER = "inc_render"
FILES = "inc_files"
#: content digests of the files of the last build whose identity it could not trust
RACY = "inc_racy"
PATHS = "inc_paths"
PATHS_DIGEST = "inc_paths_digest"
#: the last build's files as a change of the base (`PATHS` and `FILES`, aligned):
#: JSON [token, gone, set], `gone` paths of the base that are not among them (and maybe
#: others), `set` [path, size, mtime] of each file whose identity is not the base's or
#: that is not in it; the token is new at each write. "" while a base is written; none
#: in a state an earlier version kept (its base is the last build's files). A build
#: writes the base again only when the change grows past `_DELTA_SHARE` of the files:
#: a daemon's build after a file landed writes a few lines, not the 10 MB of 100,000
#: paths and identities.
DELTA = "inc_files_delta"
SPELLINGS = "inc_spellings"
FEEDS = "inc_feeds"
#: an incremental build takes at most this share of the files as changed
MAX_SHARE = 0.05
#: the clock of the last build (`max_age` counts back from it)
CLOCK = "inc_clock"
#: when the last build took the identities of its files (`clock.stamp_ns`; see
#: `parsecache.stat_files`)
STATED = "inc_stated"
#: the inode numbers of the folders of the last build's files and of its sources' real
#: paths, as `loader.find_paths` gives them: JSON {name: number}
FOLDERS = "inc_folders"
#: `LINK_WRITES` when every link row (`inc_link`) last agreed with the result it names:
#: while the count is the same, no result was replaced since (see `links_settled`)
LINKS_SEEN = "inc_links_seen"
#: the report's link counts as the build that kept `LINKS_SEEN` left them: [that count,
#: {class: distinct URLs of the link rows}] ("" for URLs judged with no result)
LINK_COUNTS = "inc_link_counts"
#: the tables of the state file a build keeps (see the store's schema)
TABLES = ("inc_art", "inc_key", "inc_pair", "inc_story", "inc_member", "inc_rel", "inc_link")
#: the days of a report's activity chart (`activity`), the build's own the last
ACTIVITY_DAYS = 90
#: what an incremental build reads of the last report
_REPORT_KEYS = {
    "loaded", "published", "errors", "warnings", "duplicates_count", "excluded_count", "links"
}  # fmt: skip


#: the layout of the tables and meta rows a build keeps: one that reads another's is
#: a cold build (2: `PATHS` and `FILES` are the base of `DELTA`, where an earlier one
#: reads them as the last build's files; 3: a feed's record holds its headlines, where
#: 2 holds their paths; 4: every build writes a new `zonerows.GENERATION` as it starts,
#: which 3 does not: a process would take for the state's periods what it kept before
#: a build of an earlier version; 5: a feed's members published at the same time are
#: ordered by the offset of their `updated` date, where 4 orders them by entry id; 6:
#: without `same_url`, files of one link are one story, found by `LINK_MARK` keys)
LAYOUT = "6: files of one link one story whatever same_url"


def form(config: Config) -> str:
    """What the tables belong to: this version, their layout, how pairs are scored, what
    the loader makes of a file (`parsecache.FORMAT`: the rows of a file not changed since
    are of what it made before) and the settings they depend on (not those only
    rendering reads: see `rendering`)."""
    text = f"{__version__}\n{LAYOUT}\n{SCORING}\n{parsecache.FORMAT}\n{config.tables_key()}\n"
    return sha256(text.encode()).hexdigest()


def rendering(config: Config) -> str:
    """What the feeds of the last build were rendered with: when it changes, every
    feed is rendered again from the tables as they are."""
    return sha256(
        f"{__version__}\n{version.RENDERING}\n{config.render_key()}\n".encode()
    ).hexdigest()


@dataclass(frozen=True)
class Identities:
    """The size and mtime of every file of a build, in the order of `paths`; a file
    too new to tell apart from a later write in the same clock tick, or that could
    not be read, has size -1 (it counts as changed next time)."""

    paths: Sequence[str]
    sizes: list[int]
    times: list[int]
    #: no file has size -1 (see `lastbuild.signature`)
    settled: bool
    #: content digests of files of size -1, as the build read them (filled in by it)
    digests: dict[str, str] = dataclasses.field(default_factory=dict)
    #: when they were taken (`clock.stamp_ns` just before), when known
    stated: int | None = None

    @functools.cached_property
    def paths_digest(self) -> str:
        """Of the list of paths (made when asked: a build whose files are not settled
        asks for it only once its feeds are written)."""
        global _listed
        if _listed[0] != self.paths:  # a daemon's builds mostly list the same paths
            text = "\0".join(self.paths).encode("utf-8", "surrogatepass")
            _listed = (list(self.paths), sha256(text).hexdigest())
        return _listed[1]

    @functools.cached_property
    def numbers(self) -> str:
        """The sizes and mtimes, as JSON (made when asked: a build whose files are not
        settled asks for it only once its feeds are written)."""
        return json.dumps([self.sizes, self.times])

    def text(self) -> str:
        """All of it, in one text (for `lastbuild.signature`)."""
        return f"{self.paths_digest}\n{self.numbers}"

    def unread(self, paths: Collection[str]) -> Identities:
        """These identities with `paths` (files whose bytes could not be read, though
        their size and mtime could) at size -1: changed next time, whatever their size
        and mtime then (a file made readable keeps both)."""
        if not paths:
            return self
        numbers = zip(self.paths, self.sizes, strict=True)
        sizes = [-1 if path in paths else size for path, size in numbers]
        return Identities(self.paths, sizes, self.times, False, self.digests, self.stated)


def identities_of(
    paths: Sequence[str],
    identities: dict[str, tuple[int, int]],
    stated: int | None = None,
    numbers: tuple[list[int], list[int]] | None = None,
) -> Identities:
    """See `Identities` (`identities`: as `parsecache.stat_files` gives them, taken at
    `stated`; `numbers`: the sizes and mtimes of `paths` when the finder kept them, see
    `Found.numbers`, taken as they are)."""
    racy = wall_ns() - RACY_SECONDS * 1_000_000_000
    if numbers is not None:
        sizes, times = numbers
    else:
        try:  # (in C: a daemon does this for 100,000 files in each build)
            found = list(map(identities.__getitem__, paths))
        except KeyError:  # a file that could not be read
            found = [identities.get(path, (-1, 0)) for path in paths]
        sizes = list(map(itemgetter(0), found))
        times = list(map(itemgetter(1), found))
    settled = min(sizes, default=0) >= 0 and max(times, default=0) < racy
    if not settled:
        sizes = _unsettled(sizes, times, racy)
    return Identities(paths, sizes, times, settled, stated=stated)


def _unsettled(sizes: list[int], times: list[int], racy: int) -> list[int]:
    """`sizes` with -1 for each file of size below 0 or modified at or after `racy`:
    runs of files looked at as lists (in C), then the runs within a run that holds
    one, then its files (the files of a daemon's build are settled but the few just
    written)."""
    sizes = list(sizes)

    def scan(low: int, high: int, run: int) -> None:
        for start in range(low, high, run):
            end = min(start + run, high)
            if min(sizes[start:end]) >= 0 and max(times[start:end]) < racy:
                continue
            if run > 1:
                scan(start, end, run // 100)
            else:
                sizes[start] = -1

    scan(0, len(sizes), 10_000)
    return sizes


def stated(store: StateStore) -> int | None:
    """When the last build took the identities of its files (see `STATED`), if known."""
    try:
        return int(store.meta(STATED) or "")
    except ValueError:
        return None


def restamp(store: StateStore, stated: int) -> None:
    """Keep `stated` as when the identities were taken: by a build that completes
    (`finish`), or that repeats the last report after it read the files whose ctime
    moved (`parsecache.settle`): they are not read again by the next build."""
    store.set_meta(STATED, str(stated))


def kept_folders(store: StateStore) -> Mapping[str, int]:
    """The folders of the last build's files and their inode numbers (see `FOLDERS`);
    none when no build kept them (a state file of an older version)."""
    global _kept
    text = store.meta(FOLDERS) or "{}"
    if text != _kept[0]:  # (a daemon's builds read the same, of 100,000 folders maybe)
        try:
            kept = json.loads(text)
        except _DAMAGED:
            kept = {}
        _kept = (text, kept if isinstance(kept, dict) else {})
    return _kept[1]


#: the text of `FOLDERS` read or written last, and its folders
_kept: tuple[str, dict[str, int]] = ("{}", {})
#: folders found the same as the kept ones (`moved`), both as given: a daemon gives
#: the same mapping, never changed, build after build (a change makes another)
_agreed: tuple[Mapping[str, int], Mapping[str, int]] | tuple[None, None] = (None, None)


def moved(
    paths: Sequence[str],
    folders: Mapping[str, int],
    kept: Mapping[str, int],
    since: int | None,
) -> set[str]:
    """The files of `paths` in a folder swapped for another since the last build took
    the identities (`since`), as the inode numbers of folders tell (`folders` now,
    `kept` then: see `loader.find_paths`). They may be other files of the same sizes
    and mtimes, their ctimes older than the last build: they are `fresh`, read again
    (and parsed only when their bytes are others). Every file of a source one of whose
    real path's folders has another number (the source, or a folder above it, renamed
    over; a link on its path pointed elsewhere); the files of a folder below a source
    whose number moved and that was put in place since (`parsecache.swapped_in`)."""
    global _agreed
    if folders is _agreed[0] and kept is _agreed[1]:  # (found the same before)
        return set()
    other = [name for name, number in folders.items() if kept.get(name, number) != number]
    if not other and folders == kept:
        _agreed = (folders, kept)
    if not other or since is None:
        return set()
    mark = SOURCE_MARK
    sources = {name.split(mark)[1] for name in folders if name.startswith(mark)}
    swapped = {name.split(mark)[1] for name in other if name.startswith(mark)}
    where = {os.path.abspath(source or os.curdir) for source in sources}
    below = {name for name in other if not name.startswith(mark)} - swapped
    found = {path for path in paths if _under(path, swapped)} if swapped else set()
    inside = {name for name in below if swapped_in(name, where, since)}
    if inside:
        found.update(path for path in paths if folder_of(path) in inside)
    return found


def _under(path: str, sources: Collection[str]) -> bool:
    """Whether `path` is under one of these sources (as the paths write them)."""
    return any(not source or path.startswith(source + os.sep) for source in sources)


def keep_folders(store: StateStore, folders: Mapping[str, int], kept: Mapping[str, int]) -> None:
    """Keep `folders` for the next build (`kept`: as it was read), once this build looked
    at every file of the folders `moved` found."""
    global _kept, _agreed
    if not (folders is _agreed[0] and kept is _agreed[1]) and folders != kept:
        text = json.dumps(folders, ensure_ascii=False, sort_keys=True)
        store.set_meta(FOLDERS, text)
        _kept = (text, dict(folders))


#: the last list of paths `Identities.paths_digest` was made of, and its digest: a
#: daemon's next build lists the same paths, or compares with these (`changes`) without
#: parsing the JSON of 100,000 paths (the list is read, never changed)
_listed: tuple[list[str], str] = ([], sha256(b"").hexdigest())


@dataclass(frozen=True, slots=True)
class Changes:
    """What a build must derive again."""

    changed: list[str]
    deleted: list[str]
    #: unchanged articles to judge again: their age crossed `max_age` since the last
    #: build, or a link result they were judged by is due or was replaced
    rejudge: set[str] = dataclasses.field(default_factory=set)
    #: the last build's report (`lastbuild.last_report`); empty for a cold build
    previous: dict[str, Any] = dataclasses.field(default_factory=dict)
    #: no state to start from: every file is changed (see `everything`)
    cold: bool = False
    #: the link results saved (`LINK_WRITES`, and by this store: `links_saved`) when
    #: the links to judge again were found (see `LinkMark`)
    links: LinkMark | None = None


@dataclass(frozen=True, slots=True)
class LinkMark:
    """How many times link results were saved, by every process (`LINK_WRITES`) and by
    this store (`links_saved`), when a build began judging links: at its end, the
    count is this plus its own saves unless another process saved results meanwhile.
    `seen`: the count is the one the last build wrote its link rows at (`LINKS_SEEN`),
    so no result was saved since and every link row agrees with the result it names."""

    writes: int
    saved: int
    seen: bool

    @classmethod
    def now(cls, store: StateStore) -> LinkMark:
        saved = store.links_saved
        writes = _count(store.meta(LINK_WRITES))
        return cls(writes, saved, writes >= 0 and store.meta(LINKS_SEEN) == str(writes))


def _count(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return -1  # no count this version writes: never taken for the one seen


def links_settled(store: StateStore, mark: LinkMark | None, judged: bool) -> int | None:
    """Keep `LINKS_SEEN` for the next build (`_rejudge`), once the link rows are
    written: the count of results saved (returned), when the build judged links
    (`judged`) and no process but this one saved results since `mark`; else none (the
    next build compares every link row with its result, and counts them anew)."""
    if judged and mark is not None and mark.writes >= 0:
        writes = _count(store.meta(LINK_WRITES))
        if writes == mark.writes + store.links_saved - mark.saved:
            store.set_meta(LINKS_SEEN, str(writes))
            return writes
    store.delete_meta(LINKS_SEEN)
    store.delete_meta(LINK_COUNTS)
    return None


def everything(paths: Sequence[str]) -> Changes:
    """The changes of a build from an empty state: every file."""
    return Changes(list(paths), [], cold=True)


def current(store: StateStore, config: Config) -> bool:
    """Whether the tables are of this version's form (`form`): only then may a build be
    incremental (`changes`), or repeat the last report when no file changed (a version
    that scores pairs otherwise builds them again even then)."""
    return store.meta(FORM) == form(config)


def changes(
    store: StateStore,
    config: Config,
    now: Identities,
    when: datetime,
    fresh: Collection[str] = (),
) -> Changes | None:
    """The files changed and deleted since the last build (`fresh` ones too, whatever
    their size and mtime: see `parsecache.stat_files`), and the articles to judge again
    at `when`, when the tables hold it and this build can be incremental; else None."""
    if not current(store, config):
        return None
    previous = last_report(store)
    if previous is None or not previous.keys() >= _REPORT_KEYS:
        return None  # not what this version keeps
    mark = LinkMark.now(store)
    rejudge = _rejudge(store, config, when, mark.seen)
    if rejudge is None:
        return None
    if store.meta("parse_format") != cache_form(config.limits):
        return None
    try:
        last = _last_files(store, now)
    except _DAMAGED:
        return None
    if last is None:
        return None
    try:
        changed, deleted = _compare(last.paths, last.sizes, last.times, now)
        if fresh:
            changed = sorted({*changed, *fresh})
        racy: dict[str, str] = json.loads(store.meta(RACY) or "{}")
    except _DAMAGED:
        return None  # not what this version writes
    if racy:
        changed = _settled(changed, racy, now, config)
    new_paths = now.paths
    if (len(changed) + len(deleted) + len(rejudge)) > max(20, MAX_SHARE * len(new_paths)):
        return None
    return Changes(changed, deleted, rejudge, previous, links=mark)


def aged_out(store: StateStore, config: Config, when: datetime) -> set[str] | None:
    """The articles whose age crossed `max_age` (either way) between the last build's
    clock and `when`; None when that clock is unknown."""
    if config.max_age is None:
        return set()
    try:
        last = datetime.fromisoformat(store.meta(CLOCK) or "")
    except ValueError:
        return None
    # `filters.select` leaves out what was published before `when - max_age`.
    low, high = sorted((last - config.max_age, when - config.max_age))
    return store.inc_published_between(low, high)


def _rejudge(store: StateStore, config: Config, when: datetime, seen: bool) -> set[str] | None:
    """See `Changes.rejudge`; None when the last build's clock is unknown. When no
    result was saved since the last build wrote the link rows (`seen`: see `LinkMark`),
    only the results due by `when` are looked up (through an index), not every link
    row compared with its result."""
    aged = aged_out(store, config, when)
    if aged is None:
        return None
    found = set(aged)
    if checks_links(config):
        due = when if config.links == "on" else None
        if seen:
            found |= store.inc_due(due) if due is not None else set()
        else:
            found |= store.inc_relink(due)
    return found


#: files compared at once by `_compare`
_RUN = 1000


#: what reading a meta text this version did not write may raise (JSON of numbers too
#: big for an int, or nested too deep; values of other types or shapes)
_DAMAGED = (TypeError, ValueError, OverflowError, RecursionError)


#: the last `FILES` text (the base of `DELTA`) kept or read, parsed: not parsed again
#: while it is the same (read, never changed)
_kept_numbers: tuple[str, Any] = ("null", None)


def _parsed_numbers(text: str) -> Any:
    """`json.loads(text)` of a `FILES` text."""
    global _kept_numbers
    if _kept_numbers[0] != text:
        _kept_numbers = (text, json.loads(text))
    return _kept_numbers[1]


#: a `DELTA` of more entries than this share of the files (and than `_DELTA_MIN`) is
#: folded into a base written anew
_DELTA_SHARE = 1 / 64
_DELTA_MIN = 256


@dataclass(frozen=True, slots=True)
class _Files:
    """The files of the last build, their identities in the order of their paths
    (read, never changed), and how they differ from the base (see `DELTA`): the
    `DELTA` text that says so, as kept or read."""

    text: str | None
    paths: Sequence[str]
    sizes: Sequence[int]
    times: Sequence[int]
    gone: frozenset[str]
    changed: Mapping[str, tuple[int, int]]


#: the files the last build this process kept or read left: a daemon's next build
#: compares with them and writes its change of the base without reading either
_last: _Files | None = None


def _last_files(store: StateStore, now: Identities) -> _Files | None:
    """The files of the last build (`_last` when the state holds what this process
    kept or read last); None while a base is written. Raises ValueError or TypeError
    for what this version does not write."""
    global _last
    text = store.meta(DELTA)
    if text == "":
        return None
    last = _last
    if last is not None and last.text and last.text == text:
        return last
    gone, changed = _delta(text)
    old_sizes, old_times = _parsed_numbers(store.meta(FILES) or "null")
    listed = store.meta(PATHS_DIGEST)
    if listed and listed == _listed[1]:  # paths this process has the digest of
        old_paths = _listed[0]
    elif listed == now.paths_digest:
        old_paths = list(now.paths)
    else:
        old_paths = json.loads(store.meta(PATHS) or "null")
    if not (
        isinstance(old_paths, list)
        and isinstance(old_sizes, list)
        and isinstance(old_times, list)
        and len(old_paths) == len(old_sizes) == len(old_times)
    ):
        raise ValueError("not as many numbers as paths")
    paths, sizes, times = _applied(old_paths, old_sizes, old_times, gone, changed)
    _last = _Files(text, paths, sizes, times, gone, changed)
    return _last


def _delta(text: str | None) -> tuple[frozenset[str], dict[str, tuple[int, int]]]:
    """A `DELTA` text's gone paths and changed identities (none: an empty change, as an
    earlier version's state)."""
    if text is None:
        return frozenset(), {}
    _token, gone, changed = json.loads(text)
    found = {str(path): (int(size), int(mtime)) for path, size, mtime in changed}
    return frozenset(map(str, gone)), found


def _applied(
    paths: list[str],
    sizes: list[int],
    times: list[int],
    gone: frozenset[str],
    changed: Mapping[str, tuple[int, int]],
) -> tuple[list[str], list[int], list[int]]:
    """The base's files (`paths`, `sizes`, `times`) less `gone`, with the identities
    `changed` (a path not among them added, in the order of the paths: sorted)."""
    if not gone and not changed:
        return paths, sizes, times
    at = {path: i for i, path in enumerate(paths)}
    sizes, times = list(sizes), list(times)
    added: list[tuple[str, int, int]] = []
    for path, (size, mtime) in changed.items():
        i = at.get(path)
        if i is None:
            added.append((path, size, mtime))
        else:
            sizes[i], times[i] = size, mtime
    if not gone.isdisjoint(at):
        kept = [i for i, path in enumerate(paths) if path not in gone]
        paths = [paths[i] for i in kept]
        sizes = [sizes[i] for i in kept]
        times = [times[i] for i in kept]
    if len(added) > _FEW:
        rows = sorted([*zip(paths, sizes, times, strict=True), *added])
        paths = [row[0] for row in rows]
        sizes = [row[1] for row in rows]
        times = [row[2] for row in rows]
    elif added:
        paths = list(paths)
        for path, size, mtime in added:  # each in its place (a memmove each, in C)
            place = bisect.bisect_left(paths, path)
            paths.insert(place, path)
            sizes.insert(place, size)
            times.insert(place, mtime)
    return paths, sizes, times


#: at most this many files between the runs the old and new lists of paths agree on
#: are compared by name (see `_compare`)
_FEW = 64


def _common(old: Sequence[str], new: Sequence[str]) -> int:
    """How many paths the two lists start with alike: runs compared as lists (in C)."""
    shortest = min(len(old), len(new))
    for start in range(0, shortest, _RUN):
        end = min(start + _RUN, shortest)
        if old[start:end] != new[start:end]:
            return start + next(
                n
                for n, (a, b) in enumerate(zip(old[start:end], new[start:end], strict=True))
                if a != b
            )
    return shortest


def _common_tail(old: Sequence[str], new: Sequence[str], most: int) -> int:
    """How many paths the two lists end with alike, at most `most`: as `_common`."""
    alike = 0
    while alike < most:
        size = min(_RUN, most - alike)
        a = old[len(old) - alike - size : len(old) - alike]
        b = new[len(new) - alike - size : len(new) - alike]
        if a != b:
            return alike + next(
                n for n, (x, y) in enumerate(zip(a[::-1], b[::-1], strict=True)) if x != y
            )
        alike += size
    return alike


def _aligned(
    old: tuple[Sequence[int], Sequence[int], int],
    new: tuple[Sequence[int], Sequence[int], int],
    count: int,
    untold: bool,
    settled: bool,
) -> list[int]:
    """Of `count` files listed alike from an index of the old (sizes, times, index) and
    of the new, the indices in the new of those whose identity differs (or of size -1,
    with `untold`). Runs of files compared as lists (in C), only a run that differs file
    by file: one change among 100,000 files costs a hundred comparisons, not 100,000."""
    old_sizes, old_times, o = old
    new_sizes, new_times, n = new
    changed: list[int] = []
    for start in range(0, count, _RUN):
        end = min(start + _RUN, count)
        sizes = new_sizes[n + start : n + end]
        times = new_times[n + start : n + end]
        was_sizes = old_sizes[o + start : o + end]
        was_times = old_times[o + start : o + end]
        if sizes == was_sizes and times == was_times and (settled or not untold or min(sizes) >= 0):
            continue
        changed.extend(
            n + start + k
            for k, (a, b, c, d) in enumerate(zip(sizes, was_sizes, times, was_times, strict=True))
            if a != b or c != d or (untold and a < 0)
        )
    return changed


def _compare(
    old_paths: Sequence[str], old_sizes: Sequence[int], old_times: Sequence[int], now: Identities
) -> tuple[list[str], list[str]]:
    """The files of `now` changed since the old ones (a new file, another identity,
    size -1), and the old files deleted."""
    changed, deleted = _compare_at(old_paths, old_sizes, old_times, now)
    return [now.paths[i] for i in changed], deleted


def _compare_at(
    old_paths: Sequence[str],
    old_sizes: Sequence[int],
    old_times: Sequence[int],
    now: Identities,
    untold: bool = True,
) -> tuple[list[int], list[str]]:
    """`_compare`, the changed files by their index in `now`; with `untold` False, a
    file of size -1 is changed only when its identity is not the old one."""
    new_paths, new_sizes, new_times = now.paths, now.sizes, now.times
    if len(old_sizes) != len(old_paths) or len(old_times) != len(old_paths):
        raise ValueError("not as many numbers as paths")
    old = (old_sizes, old_times, 0)
    if old_paths == new_paths:
        return _aligned(old, (new_sizes, new_times, 0), len(new_paths), untold, now.settled), []
    # Files added or deleted in one place (one file landing, a folder moved out): the
    # lists agree up to it and after it. Those two runs are compared as above; only
    # what lies between is compared by name.
    head = _common(old_paths, new_paths)
    tail = _common_tail(old_paths, new_paths, min(len(old_paths), len(new_paths)) - head)
    old_end, new_end = len(old_paths) - tail, len(new_paths) - tail
    if (old_end - head) + (new_end - head) <= _FEW:
        before = old_paths[head:old_end], old_sizes[head:old_end], old_times[head:old_end]
        after = new_paths[head:new_end], new_sizes[head:new_end], new_times[head:new_end]
        told = {path: (size, mtime) for path, size, mtime in zip(*before, strict=True)}
        middle = [
            head + n
            for n, (path, size, mtime) in enumerate(zip(*after, strict=True))
            if (untold and size < 0) or told.get(path) != (size, mtime)
        ]
        present = set(after[0])
        changed = _aligned(old, (new_sizes, new_times, 0), head, untold, now.settled)
        changed += middle
        new = (new_sizes, new_times, new_end)
        changed += _aligned((old_sizes, old_times, old_end), new, tail, untold, now.settled)
        # (one listed twice in the old files is among the new ones elsewhere)
        gone = [path for path in before[0] if path not in present and path not in new_paths]
        return changed, gone
    told = {p: (s, t) for p, s, t in zip(old_paths, old_sizes, old_times, strict=True)}
    changed = [
        n
        for n, (path, size, mtime) in enumerate(zip(new_paths, new_sizes, new_times, strict=True))
        if (untold and size < 0) or told.get(path) != (size, mtime)
    ]
    present = set(new_paths)
    return changed, [path for path in old_paths if path not in present]


def _settled(
    changed: list[str], racy: dict[str, str], now: Identities, config: Config
) -> list[str]:
    """`changed` less the files the last build could not tell by their identity whose
    content is still what it read (their digests carry over to this build's)."""
    same = {
        path
        for path in changed
        if path in racy and file_digest(Path(path), config.limits) == racy[path]
    }
    for path in same:
        now.digests[path] = racy[path]  # kept for the next build, if racy now too
    return [path for path in changed if path not in same]


@dataclass(frozen=True, slots=True)
class Item:
    """An article as near-duplicate detection reads it (a `similar.Dated`)."""

    path: str
    published_at: datetime
    fingerprint: Fingerprint | None


@dataclass
class FeedRecord:
    """One feed as the last build left it."""

    name: str | None
    #: (topic, format, path, entries) per result
    results: list[list[Any]]
    #: (entries, newest date, the headlines as `pages.Headline.row` writes them), None
    #: when retired: the feed as the index page lists it, while it is kept as it is
    listing: list[Any] | None

    def json(self) -> list[Any]:
        return [self.name, self.results, self.listing]


def feed_record(
    name: str | None, results: Sequence[FeedResult], listing: Listing | None
) -> FeedRecord:
    shown = None
    if listing is not None:
        headlines = [headline.row() for headline in listing.latest]
        shown = [listing.entries, listing.updated.isoformat(), headlines]
    return FeedRecord(name, [[r.topic, r.format, r.path, r.entries] for r in results], shown)


def finish(
    store: StateStore,
    now: datetime,
    files: Identities,
    spellings: dict[str, Counter[str]],
    feeds: dict[str, FeedRecord],
) -> None:
    store.set_meta(CLOCK, now.isoformat())
    store.set_meta(SPELLINGS, json.dumps(spellings, ensure_ascii=False, sort_keys=True))
    store.set_meta(FEEDS, json.dumps({k: f.json() for k, f in feeds.items()}, ensure_ascii=False))
    _keep_files(store, files)
    if files.stated is not None:
        restamp(store, files.stated)
    # The digests of the files of size -1 (most builds read none written in the last
    # seconds; a daemon's, the few just written): each found among the paths, which are
    # sorted (one not found is read again by the next build).
    racy = {}
    paths, sizes = files.paths, files.sizes
    for path in sorted(files.digests):
        at = bisect.bisect_left(paths, path)
        if at < len(paths) and paths[at] == path and sizes[at] < 0:
            racy[path] = files.digests[path]
    store.set_meta(RACY, json.dumps(racy, ensure_ascii=False))


def _keep_files(store: StateStore, files: Identities) -> None:
    """Keep the files of this build for the next (`changes`): as a change of the base
    (`DELTA`) when the state holds the files this process kept or read last and the
    change stays small, else as a new base."""
    global _last, _kept_numbers
    token = uuid.uuid4().hex  # (no two texts alike: see `_last_files`)
    paths, sizes, times = files.paths, files.sizes, files.times
    last = _last
    if last is not None and last.text and last.text == store.meta(DELTA):
        changed, deleted = _compare_at(last.paths, last.sizes, last.times, files, untold=False)
        gone = set(last.gone).union(deleted)
        told = dict(last.changed)
        for path in deleted:
            told.pop(path, None)
        for i in changed:
            gone.discard(paths[i])
            told[paths[i]] = (sizes[i], times[i])
        if len(gone) + len(told) <= max(_DELTA_MIN, _DELTA_SHARE * len(paths)):
            text = _delta_text(token, gone, told)
            store.set_meta(DELTA, text)
            _last = _Files(text, paths, sizes, times, frozenset(gone), told)
            return
    store.set_meta(DELTA, "")  # (until the base is whole)
    if store.meta(PATHS_DIGEST) != files.paths_digest:
        store.set_meta(PATHS_DIGEST, "")
        store.set_meta(PATHS, json.dumps(list(paths), ensure_ascii=False))
        store.set_meta(PATHS_DIGEST, files.paths_digest)
    store.set_meta(FILES, files.numbers)
    _kept_numbers = (files.numbers, [sizes, times])
    text = _delta_text(token, (), {})
    store.set_meta(DELTA, text)
    _last = _Files(text, paths, sizes, times, frozenset(), {})


def _delta_text(token: str, gone: Iterable[str], changed: Mapping[str, tuple[int, int]]) -> str:
    rows = [[path, size, mtime] for path, (size, mtime) in sorted(changed.items())]
    return json.dumps([token, sorted(gone), rows], ensure_ascii=False)


def empty(store: StateStore) -> None:
    """Start from an empty state: no article, story, feed or spelling is known (the
    stage caches stay: parsed files, similar pairs, rendered feeds and link results
    are keyed on what they read)."""
    store.inc_fill({table: [] for table in TABLES})
    store.set_meta(SPELLINGS, "{}")
    store.set_meta(FEEDS, "{}")


def seal(store: StateStore, config: Config) -> None:
    """Mark the tables valid: call it once the build's report is kept."""
    store.set_meta(RENDER, rendering(config))
    store.set_meta(FORM, form(config))


def link_rows(links: CheckedLinks | None) -> list[tuple[object, ...]]:
    """The `inc_link` rows of what the link step judged (see the store's schema)."""
    if links is None:
        return []
    rows: list[tuple[object, ...]] = [
        (key, path, link_stamp(links.results.get(key)), "", "")
        for path, keys in links.keys_of.items()
        for key in keys
    ]
    summary = links.summary
    for verdict, listed in (("excluded", summary.excluded), ("dropped", summary.images_dropped)):
        rows.extend(
            (r.url, path, "", verdict, json.dumps(link_row(r), ensure_ascii=False))
            for path, r in listed
        )
    return rows


def member_rows(
    story: str, article: Article, passed: tuple[str, ...] | None
) -> list[tuple[object, ...]]:
    """The `inc_member` rows of a story's survivor: one per feed it is in (`passed`:
    its topics' feeds; None when it is not published), with its place in feed order
    (`publish.feed_order`, which `StateStore.inc_top` sorts by)."""
    if passed is None:
        return []
    rank, entry, path = feed_order(article)
    feeds = [ALL, *(topic_key(t) for t in passed)]
    return [(feed, rank, entry, path, story) for feed in feeds]


def article_rows(
    articles: Iterable[Article], length: timedelta, story_of: Callable[[str], str]
) -> list[tuple[object, ...]]:
    """The `inc_art` rows of articles (`length`: of a period, see `similar.period_of`)."""
    return [
        (
            a.path,
            period_of(a.published_at, length),
            a.published_at.isoformat(),
            (a.fingerprint or fingerprint(a)).digest,
            story_of(a.path),
        )
        for a in articles
    ]


#: starts the `inc_key` key of an article's link, where only links make one story
#: (`DedupeSettings.same_url` false); no canonical URL holds a space
LINK_MARK = "link "


def key_rows(articles: Iterable[Article], same_url: bool = True) -> list[tuple[object, ...]]:
    """The `inc_key` rows of articles: each canonical URL it is known by; without
    `same_url`, its link's too, marked (`LINK_MARK`): the key that makes one story."""
    rows: list[tuple[object, ...]] = [(k, a.path) for a in articles for k in a.keys or url_keys(a)]
    if not same_url:
        rows.extend((LINK_MARK + link_key(a), a.path) for a in articles)
    return rows


def activity(
    store: StateStore, feeds: Sequence[FeedResult], now: datetime, days: int = ACTIVITY_DAYS
) -> Activity:
    """Each feed's articles, and how many were published on each of the `days` days up
    to `now`'s (UTC), as the tables of a build hold them (`feeds`: its results, whose
    topics name the feeds). The tables are the same after a cold, an incremental and
    an unchanged build of the same inputs, and so is this."""
    last = now.astimezone(UTC).date()
    first = datetime.combine(last - timedelta(days=days - 1), time(), UTC)
    totals: Counter[str] = Counter({ALL: 0})
    per_day: dict[str, list[int]] = {}
    for feed, day, count in store.inc_feed_days(first, days):
        totals[feed] += count
        if 0 <= day < days:
            per_day.setdefault(feed, [0] * days)[day] += count
    names = {topic_key(f.topic): f.topic for f in feeds if f.topic is not None}
    found = [
        TopicActivity(
            None if key == ALL else names.get(key, key),
            total,
            tuple(per_day.get(key, [0] * days)),
        )
        for key, total in totals.items()
    ]
    found.sort(key=_activity_order)
    return Activity(last, tuple(found), days)


def _activity_order(item: TopicActivity) -> tuple[bool, int, str, str]:
    """The all-topics feed first, then by articles (most first), then by name."""
    name = item.topic or ""
    return (item.topic is not None, -item.articles, name.casefold(), name)
