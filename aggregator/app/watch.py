"""`aggregator run --watch`: a build soon after an article file lands, besides the schedule.

- `Warm` keeps the article files of the last build and their identities (size,
  mtime_ns) in memory, and is told which paths events named (`touched`): a build
  then stats those paths only instead of walking every folder and stat-ing every
  file (`pipeline.build(find=warm.find)`). A scheduled run walks everything again
  (`rewalk`), which catches whatever events missed.
- `Watcher` puts a watchdog observer on every local source folder (recursive) and
  hands what it sees to `Warm` and to `Rebuilds`. A folder it cannot watch (object
  storage, missing, the inotify limit reached, watchdog not importable) is logged
  once with the reason and left to the schedule (one missing or removed is watched
  again within a second of being there: `check_folders`).
- `Rebuilds` is the thread that waits for events, lets a burst settle (`wait_left`)
  and calls the daemon's build: one build per burst, and exactly one more when
  events arrive while a build runs.

What counts is what a build would read: files matching the config's patterns, with
no dot in any name below the source folder (as `loader.find_paths` walks), outside
the output folder and the state files. Editor leftovers (`name~`, `#name#`, `.swp`)
update what is kept but start no build.
"""

from __future__ import annotations

import bisect
import contextlib
import fnmatch
import functools
import logging
import os
import re
import stat
import threading
import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from aggregator.clock import stamp_ns
from aggregator.config import Config
from aggregator.engine.pipeline import find_files
from aggregator.errors import ConfigError
from aggregator.model import LoadError
from aggregator.publishing.layout import real
from aggregator.sources.inputs import Found
from aggregator.sources.loader import SOURCE_MARK
from aggregator.sources.loader import find_paths
from aggregator.sources.loader import inode
from aggregator.sources.loader import listed_inodes
from aggregator.sources.loader import name_errors
from aggregator.sources.loader import sort_names
from aggregator.sources.loader import split_names
from aggregator.sources.parsecache import folder_of
from aggregator.sources.parsecache import stat_files
from aggregator.sources.remote import ENTRY_PATTERN
from aggregator.sources.remote import entry_folders

if TYPE_CHECKING:
    from watchdog.events import FileSystemEvent
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers.api import BaseObserver
    from watchdog.observers.api import ObservedWatch

log = logging.getLogger("aggregator.app.watch")

#: a burst is over after this long without an event, when no file is being written
QUIET = 0.05
#: ... and after this long, when every file it named was left whole: closed after writing,
#: or renamed into place (not created: a writer may create a file, then write it; nor
#: deleted: it may be made again)
QUIET_WHOLE = 0.02
#: ... and after this long, when some file was modified but not yet closed (a writer
#: that keeps it open, or a file system that reports no close)
QUIET_WRITING = 0.2
#: a build starts at most this long after the first event of a burst, however long it lasts
LONGEST = 0.5
#: names editors and downloaders leave beside the file they write
_LEFTOVER = re.compile(r"(~|\.sw[a-p]|\.tmp|\.part|\.crdownload)$|^#.*#$")


# -- which paths count ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rules:
    """Which paths a build reads, as `loader.find_paths` walks the source folders:
    paths written as the walk writes them (`str(source) + "/" + names`, no `./` for the
    folder `.`), files whose name matches a pattern, no name below the source starting
    with a dot."""

    #: the source folders, as the walk names them
    sources: tuple[str, ...]
    patterns: tuple[str, ...]
    #: the real output folder and state paths: what a build writes is never an input
    ignored: tuple[str, ...] = ()
    _match: Callable[[str], Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pattern = "|".join(fnmatch.translate(p) for p in self.patterns) or "(?!)"
        object.__setattr__(self, "_match", re.compile(pattern).match)

    @classmethod
    def of(cls, config: Config) -> Rules:
        ignored = [real(config.output), real(config.entries_path)]
        state = config.state_path
        if state is not None:
            ignored.append(real(state))
        return cls(
            tuple(str(s) for s in config.sources),
            tuple(config.patterns),
            tuple(str(p) for p in ignored),
        )

    def source_of(self, path: str) -> str | None:
        """The source folder `path` lies in (the first, in config order), or None."""
        for source in self.sources:
            if source == ".":
                if not os.path.isabs(path) and not path.startswith(".." + os.sep):
                    return source
            elif path.startswith(_prefix(source)):
                return source
        return None

    def below(self, path: str) -> str | None:
        """`path` relative to its source folder, or None when it is in none, is a
        source folder itself or has a name starting with a dot below it."""
        source = self.source_of(path)
        if source is None:
            return None
        rest = path if source == "." else path[len(_prefix(source)) :]
        if not rest or any(name.startswith(".") for name in rest.split(os.sep)):
            return None
        return rest

    def article(self, path: str) -> bool:
        """Whether a file at `path` is one a build reads."""
        rest = self.below(path)
        name = rest.rsplit(os.sep, 1)[-1] if rest else ""
        return bool(name) and bool(self._match(os.path.normcase(name)))

    def written(self, path: str) -> bool:
        """Whether `path` is the output folder, something in it, or a state file."""
        where = os.path.realpath(path)
        return any(where == p or where.startswith(_prefix(p)) for p in self.ignored)


def _prefix(folder: str) -> str:
    return folder if folder.endswith(os.sep) else folder + os.sep


def walk_form(source: str, path: str) -> str:
    """An event's path as the walk writes it (`./a.md` is `a.md` under the folder `.`)."""
    if source == "." and path.startswith("." + os.sep):
        return path[2:]
    return path


# -- what is kept between builds -----------------------------------------------------


class Warm:
    """The local article files of the last build and their identities, kept between
    builds (see the module docstring); `find` is a `pipeline.FindFiles`.

    `find` walks everything, as `inputs.find` does, the first time, after `rewalk`, when
    the config's sources or patterns changed, or when a source folder is another folder
    than the one walked (moved away and replaced); otherwise it stats only the paths
    `touched` since the last `find` (a folder: everything under it, walked again), the
    other names of the files they name, and the links to files not kept (see `_Names`).
    Each file whose ctime is after `since` (the last build took the identities then),
    when it was last stat'ed, is `fresh`, as `find_files` gives it (a `chmod`, a file
    renamed over another with the same size and mtime), until a build completes after
    it. A find that follows events gives when its walk began as `Found.stated`: the
    build keeps that as when it took the identities, not its own start, so that a file
    changed since the walk with no event (a network file system, a folder past the
    inotify limit) is still read by the next walk and by the command; a fresh file a
    build completed with is not fresh again until its ctime moves (`Found.completed`).
    It keeps nothing, and every build walks, for a config whose files it cannot follow
    by their paths alone: object-storage sources (read through mirrors a build syncs),
    a folder that cannot be listed, or several sources whose files could be listed
    twice (folders inside one another, a file linked from one into another). Files
    whose names are not UTF-8 are kept apart, to be reported at each build (walked
    when an event names one that is a link or has other names: see `_linked`).
    `touched` and `rewalk` may be called from any thread while a build runs.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._touched: set[str] = set()
        self._rewalk = True
        self._rules: Rules | None = None
        #: the local article files, sorted as the walk sorts them
        self._paths: list[str] = []
        #: ... and those whose names are not UTF-8 (each reported, none read)
        self._misnamed: list[str] = []
        #: ... of which those that are links or have other names (see `_linked`)
        self._linked: set[str] = set()
        self._identities: dict[str, tuple[int, int]] = {}
        #: the size and mtime of each of them, in their order (see `Found.numbers`)
        self._sizes: list[int] = []
        self._times: list[int] = []
        #: which folder each source folder was when it was walked (see `_identity`)
        self._folders: dict[str, tuple[int, int] | None] = {}
        #: the files kept that have other names among them (see `_Names`)
        self._names = _Names()
        #: the inode number of each folder of the files kept (see `find_paths`), and of
        #: some that hold none since the walk
        self._holding: dict[str, int] = {}
        #: whether the last `find` walked every folder
        self.walked = False
        #: when the last `find` began (`clock.stamp_ns`)
        self._began = 0
        #: when the walk kept began (`clock.stamp_ns`): a find that follows events took
        #: the identities of the files no event named then (`Found.stated`)
        self._stated: int | None = None

    def touched(self, paths: Iterable[str]) -> None:
        """Paths (files or folders, as the walk writes them) that may have changed."""
        with self._lock:
            self._touched.update(paths)

    def rewalk(self) -> None:
        """The next `find` walks every folder."""
        with self._lock:
            self._rewalk = True

    def find(
        self, config: Config, since: int | None = None
    ) -> tuple[Found, dict[str, tuple[int, int]]]:
        rules = Rules.of(config)
        # A file whose ctime is after this may have changed again once it was read, its
        # ctime the same (stamped from a coarse clock): kept fresh (see `_found`).
        self._began = stamp_ns()
        with self._lock:
            touched, self._touched = self._touched, set()
            walk = self._rewalk or rules != self._rules
            self._rewalk = False
        try:
            if config.remote_sources:
                self._forget()
                return find_files(config, since)
            # A source folder moved away and another put in its place (or a link to a
            # folder pointed at another) sends no event of its files: walked again.
            if (
                not walk
                and not self._replaced(rules)
                and self._follow(sorted(touched), rules, since)
            ):
                fresh = self._names.fresh(since)
                paths, identities = list(self._paths), self._identities
                folders = self._holding
                numbers = list(self._sizes), list(self._times)
                misnamed = name_errors(self._misnamed)
                return self._found(
                    config, paths, identities, misnamed, fresh, self._stated, folders, numbers
                )
            return self._walk(config, rules, since)
        except BaseException:
            self.rewalk()
            raise

    def _forget(self) -> None:
        self._rules = None
        self._stated = None
        self._paths = []
        self._misnamed = []
        self._linked = set()
        self._identities = {}
        self._sizes, self._times = [], []
        self._folders = {}
        self._names = _Names()
        self._holding = {}
        self.walked = True

    def _replaced(self, rules: Rules) -> bool:
        """Whether a source folder is another folder than the one walked, or none."""
        return any(_identity(source) != self._folders.get(source) for source in rules.sources)

    def _walk(
        self, config: Config, rules: Rules, since: int | None
    ) -> tuple[Found, dict[str, tuple[int, int]]]:
        """Every folder walked, every file stat'ed; kept when it can be followed."""
        self._forget()
        stated = stamp_ns()
        sources = list(config.sources)
        folders = {source: _identity(source) for source in rules.sources}  # before the walk
        unread: list[LoadError] = []
        holding: dict[str, int] = {}
        twice: list[str] = []
        found = find_paths(sources, config.patterns, unread, holding, twice)
        listed, misnamed = sort_names(found)
        names = _Names()
        identities = names.stat(listed, since)
        # (a folder that cannot be listed: walked at every build; a link not listed, its
        # file found first: see `_apart`)
        kept = not unread and (len(sources) == 1 or (not twice and _apart(sources, found)))
        numbers = None
        if kept:
            self._paths, self._identities, self._rules = listed, identities, rules
            self._misnamed = misnamed
            self._linked = {path for path in misnamed if _linked(path)}
            self._numbered()
            numbers = list(self._sizes), list(self._times)
            self._folders, self._names, self._stated = folders, names, stated
            self._holding = holding
            if len(sources) == 1:  # (several: no link, see `_apart`)
                names.aim(rules.sources[0], listed)
            names.complete = True  # every name found now
            listed = list(listed)
        fresh = names.fresh(since)
        errors = (*unread, *name_errors(misnamed))  # (in the order `inputs.find` gives)
        return self._found(
            config, listed, identities, errors, fresh, holding=holding, numbers=numbers
        )

    def _follow(self, touched: list[str], rules: Rules, since: int | None) -> bool:
        """Bring the files kept up to date with the paths touched (and the other names
        of the files they name); False when only a walk can (a source folder itself
        touched, a folder that cannot be listed, a link among several sources, a file
        that has other names now; one whose name is not UTF-8 that is a link or has
        other names, see `_linked`)."""
        names = self._names
        touched = names.with_mates(touched, self._paths)
        several = len(rules.sources) > 1
        walked = "\0"  # the last folder walked: what is under it is known (paths are sorted)
        gone: list[str] = []  # each goes, and every file under it
        added: list[str] = []
        misnamed: list[str] = []  # added, whose names are not UTF-8
        folders: dict[str, int] = {}  # of the files added (see `find_paths`)
        linked = self._linked
        for path in touched:
            if path in rules.sources:
                return False  # a source folder itself came or went
            if linked and any(p == path or p.startswith(_prefix(path)) for p in linked):
                return False
            if rules.source_of(path) is None or path.startswith(walked):
                continue
            gone.append(path)
            if rules.below(path) is None:
                continue
            if os.path.isdir(path):
                if not os.path.islink(path):  # the walk does not go into linked folders
                    unread: list[LoadError] = []
                    try:
                        found = find_paths([Path(path)], rules.patterns, unread, folders)
                    except ConfigError:  # gone since
                        continue
                    if unread or not _addable(found, several):
                        return False
                    good, bad = sort_names(found)
                    if any(_linked(p) for p in bad):
                        return False
                    added += good
                    misnamed += bad
                walked = _prefix(path)  # nothing under a linked folder is listed
            elif rules.article(path) and os.path.lexists(path):
                if not _addable([path], several):
                    return False
                if sort_names([path])[0]:
                    added.append(path)
                elif _linked(path):
                    return False
                else:
                    misnamed.append(path)
        # (a link whose target became a folder is no file to a walk)
        if any(os.path.isdir(path) for path in linked):
            return False
        self._change(gone, added, since)
        self._misnamed = _changed(self._misnamed, gone, misnamed)
        # A folder walked again is numbered as the walk numbers it, as its parent lists
        # it (at a mount point `stat` gives another number); it is no source.
        for name in [name for name in folders if name.startswith(SOURCE_MARK)]:
            del folders[name]
        listed = set(folders.keys() & touched)
        # A file added by its own event in a folder that held none: its number (a
        # source's, stat'ed, as the walk numbers it).
        for path in added:
            folder = folder_of(path)
            if folder not in folders and folder not in self._holding:
                if folder in rules.sources or folder == "":
                    folders[folder] = inode(folder)
                else:
                    listed.add(folder)
        folders.update(listed_inodes(listed))
        # Another mapping when one moved, never this one changed: a build compares the
        # mapping it is given with what it kept only once (`tables.moved`). A folder an
        # event names as gone goes (others that hold no file now: at the next walk).
        changed = {name: n for name, n in folders.items() if self._holding.get(name) != n}
        went = [path for path in gone if path in self._holding and path not in folders]
        if changed or went:
            holding = {**self._holding, **changed}
            for path in went:
                del holding[path]
            self._holding = holding
        if not names.complete or not names.restat(self._identities, since):
            return False  # a hard link made since the walk, a link to a folder now
        self._renumber(names.loose)
        self.walked = False
        return True

    def _numbered(self) -> None:
        """The sizes and mtimes of every file kept, looked up (after a walk, or when
        many files came at once)."""
        get, missing = self._identities.get, (-1, 0)
        found = [get(path, missing) for path in self._paths]
        self._sizes = [size for size, _ in found]
        self._times = [mtime for _, mtime in found]

    def _renumber(self, paths: Iterable[str]) -> None:
        """The sizes and mtimes of these files kept, looked up again."""
        kept, sizes, times = self._paths, self._sizes, self._times
        for path in paths:
            at = bisect.bisect_left(kept, path)
            if at < len(kept) and kept[at] == path:
                sizes[at], times[at] = self._identities.get(path, (-1, 0))

    def _change(self, gone: list[str], added: list[str], since: int | None = None) -> None:
        """Forget each path of `gone` (sorted) and every file under it, then keep the
        files `added` (none of them under another path of `gone` than its own): in
        time linear in the files kept, whatever the number touched (a checkout of
        thousands of files into a corpus of a million)."""
        paths, identities = self._paths, self._identities
        sizes, times = self._sizes, self._times
        cuts: list[tuple[int, int]] = []
        for path in gone:
            start = bisect.bisect_left(paths, path)
            if start < len(paths) and paths[start] == path:
                cuts.append((start, start + 1))
            inside = _prefix(path)
            first = bisect.bisect_left(paths, inside)
            last = bisect.bisect_left(paths, inside[:-1] + chr(ord(inside[-1]) + 1))
            if first < last:
                cuts.append((first, last))
        if cuts:
            spans: list[tuple[int, int]] = []  # apart, in order
            at = 0
            for first, last in sorted(cuts):
                first = max(first, at)
                if first >= last:
                    continue
                spans.append((first, last))
                for path in paths[first:last]:
                    identities.pop(path, None)
                    self._names.drop(path)
                at = last
            if len(spans) <= _FEW_NEW:
                # In place, from the end (a memmove each, in C): an edited file is cut
                # and added again, and the lists hold every file (the builds have
                # copies of them).
                for first, last in reversed(spans):
                    del paths[first:last], sizes[first:last], times[first:last]
            else:
                kept: list[str] = []
                kept_sizes: list[int] = []
                kept_times: list[int] = []
                at = 0
                for first, last in spans:
                    kept += paths[at:first]
                    kept_sizes += sizes[at:first]
                    kept_times += times[at:first]
                    at = last
                kept += paths[at:]
                kept_sizes += sizes[at:]
                kept_times += times[at:]
                paths, sizes, times = kept, kept_sizes, kept_times
        new = [path for path in sorted(set(added)) if not _holds(paths, path)]
        many = len(new) > _FEW_NEW
        if many:
            paths = paths + new
            paths.sort()  # two sorted runs: one merge
        else:
            for path in new:  # each in its place (a memmove each, in C)
                at = bisect.bisect_left(paths, path)
                paths.insert(at, path)
                sizes.insert(at, -1)
                times.insert(at, 0)
        self._paths, self._sizes, self._times = paths, sizes, times
        identities.update(self._names.stat(added, since))
        if many:
            self._numbered()
        else:
            self._renumber(added)

    def _found(
        self,
        config: Config,
        paths: list[str],
        identities: dict[str, tuple[int, int]],
        misnamed: Sequence[LoadError] = (),
        fresh: dict[str, int] | None = None,
        stated: int | None = None,
        holding: dict[str, int] | None = None,
        numbers: tuple[list[int], list[int]] | None = None,
    ) -> tuple[Found, dict[str, tuple[int, int]]]:
        """What `find_files` gives for the local `paths`: with the remote feeds' entries.
        The identities kept are given as they are, not copied: a build only reads them,
        and they change in the next `find` only (so are `holding`, the inode numbers of
        the folders of `paths`: see `find_paths`). The `fresh` files (and their ctimes)
        are kept as read once the build completes (`Found.completed`)."""
        given = frozenset(fresh or ())
        read = {p: c for p, c in (fresh or {}).items() if c <= self._began}
        completed = functools.partial(self._names.taken, read) if read else None
        folders = entry_folders(config)
        if folders:
            holding = dict(holding) if holding is not None else None
            entries, more = split_names(find_paths(folders, (ENTRY_PATTERN,), folders=holding))
            identities = {**identities, **stat_files(entries)}
            paths = sorted({*paths, *entries})  # (once each, as `inputs.find` lists them)
            misnamed = (*misnamed, *more)
            numbers = None  # (looked up by the build)
        found = Found(
            paths,
            tuple(misnamed),
            fresh=given,
            stated=stated,
            completed=completed,
            folders=holding,
            numbers=numbers,
        )
        return found, identities


class _Names:
    """The files kept that have other names: hard links, and symbolic links. An event
    names one name of a file (the one written; for a link, the file it points to), so
    `Warm` looks again at every other name of a file an event names (`with_mates`):
    its hard links, the links to it. A link to a file that is not kept (elsewhere,
    not an article file) is looked at again at every build (`restat`): no event may
    come; so is a link whose file went (its path may lead to a file again through a
    folder made a link, with no event), unless that file is back in the same build.
    `stat` gives the identities of files and finds their names; when it finds a link
    or a hard link that was not there when its paths were last stat'ed (one made
    since, or a link whose words changed), or a link to a folder, the names are not
    `complete` and `Warm` walks.
    """

    def __init__(self) -> None:
        #: the names kept that are symbolic links
        self._links: set[str] = set()
        #: ... of those, the links to no file kept, by `aim`: looked at at every build
        self._loose: set[str] = set()
        #: ... and the others, by the file kept they point to
        self._aimed: dict[str, set[str]] = {}
        #: (device, inode, link count) of each name kept of a file that has hard links
        self._hard: dict[str, tuple[int, int, int]] = {}
        #: the first name kept of each such file, and all of them when there are several
        self._first: dict[tuple[int, int], str] = {}
        self._shared: dict[tuple[int, int], set[str]] = {}
        #: the words of each link kept (`readlink`)
        self._words: dict[str, str] = {}
        #: what `drop` forgot since `stat` last looked (see `complete`): hard links, links
        self._dropped: dict[str, tuple[int, int, int]] = {}
        self._unlinked: dict[str, str] = {}
        self._unaimed: dict[str, set[str]] = {}
        #: every name `stat` found was there before, and no link points at a folder
        self.complete = True
        #: the ctime of each file kept whose ctime was after the `since` it was stat'ed
        #: with (see `fresh`)
        self._ctimes: dict[str, int] = {}
        #: of those, the ctimes a build that completed was given them with (`taken`)
        self._taken: dict[str, int] = {}

    def stat(self, paths: Iterable[str], since: int | None = None) -> dict[str, tuple[int, int]]:
        """`stat_files` of `paths` (a `stat` each; one more for a link), and their names;
        the ctimes after `since` (see `fresh`)."""
        identities: dict[str, tuple[int, int]] = {}
        links, hard, dropped = self._links, self._hard, self._dropped
        late = since if since is not None else 1 << 63
        ctimes = self._ctimes
        for path in paths:
            try:
                info = os.lstat(path)
                ctime = info.st_ctime_ns
                if stat.S_ISLNK(info.st_mode):
                    words = os.readlink(path)
                    links.add(path)
                    self._words[path] = words
                    if self._unlinked.get(path) != words:
                        self.complete = False  # a link made since: aimed by a walk
                    info = os.stat(path)
                    # (its own ctime tells it was pointed at another file, as in
                    # `stat_files`)
                    ctime = max(ctime, info.st_ctime_ns)
                elif path in self._unaimed:  # the links to it still point to it
                    back = self._aimed[path] = self._unaimed.pop(path)
                    self._loose -= back
            except OSError:
                continue
            if stat.S_ISDIR(info.st_mode):
                self.complete = False  # a link to a folder: a walk does not list it
            identities[path] = (info.st_size, info.st_mtime_ns)
            if ctime > late:
                ctimes[path] = ctime
            if info.st_nlink > 1:
                key = (info.st_dev, info.st_ino, info.st_nlink)
                hard[path] = key
                self._share(key[:2], path)
                if dropped.get(path) != key:
                    self.complete = False
        dropped.clear()
        self._unlinked.clear()
        self._unaimed.clear()
        return identities

    def _share(self, inode: tuple[int, int], path: str) -> None:
        first = self._first.setdefault(inode, path)
        if first != path:
            self._shared.setdefault(inode, {first}).add(path)

    def drop(self, path: str) -> None:
        """`path` is no longer kept (or is stat'ed again)."""
        self._ctimes.pop(path, None)
        self._taken.pop(path, None)
        if path in self._links:
            self._links.discard(path)
            self._unlinked[path] = self._words.pop(path, "")
        # The links to it are loose unless it is stat'ed again (its path could lead to
        # a file again with no event: a folder of the way made a link to another).
        aimed = self._aimed.pop(path, None)
        if aimed is not None:
            self._unaimed[path] = aimed
            self._loose |= aimed
        key = self._hard.pop(path, None)
        if key is None:
            return
        self._dropped[path] = key
        inode = key[:2]
        names = self._shared.get(inode)
        if names is None:
            del self._first[inode]
            return
        names.discard(path)
        self._first[inode] = next(iter(names))
        if len(names) < 2:
            del self._shared[inode]

    def aim(self, source: str, kept: list[str]) -> None:
        """Sort the links kept of the one source folder `source`: those to a file kept
        (in `kept`, sorted), by that file, and the others (`_loose`)."""
        real = _prefix(os.path.realpath(source))
        form = "" if source == "." else _prefix(source)
        for link in self._links:
            # The file its words name, when it is that file (a link out of the folders,
            # or through a link to a folder, or to another link, is loose: looked at at
            # every build). Words are joined as they are (a `realpath` costs a system
            # call per folder of the way), but for a `..`: after a linked folder, it
            # leads where the link leads, not back.
            words = self._words[link]
            try:
                if ".." in words.split(os.sep):
                    aimed = os.path.realpath(link)
                else:
                    aimed = os.path.normpath(os.path.join(os.path.dirname(link), words))
                if aimed.startswith(real):
                    aimed = form + aimed[len(real) :]
                if (
                    aimed != link
                    and aimed not in self._links
                    and _holds(kept, aimed)
                    and os.path.samefile(link, aimed)
                ):
                    self._aimed.setdefault(aimed, set()).add(link)
                    continue
            except OSError:
                pass
            self._loose.add(link)

    def with_mates(self, touched: list[str], kept: list[str]) -> list[str]:
        """The paths `touched` (sorted), with every other name of a file they name or
        hold (a folder), of those `kept` (sorted)."""
        if not self._shared and not self._aimed:
            return touched
        more = set(touched)
        hard, shared, aimed = self._hard, self._shared, self._aimed
        for path in touched:
            inside = _prefix(path)
            first = bisect.bisect_left(kept, inside)
            last = bisect.bisect_left(kept, inside[:-1] + chr(ord(inside[-1]) + 1))
            for name in (path, *kept[first:last]):
                key = hard.get(name)
                if key is not None:
                    more.update(shared.get(key[:2], ()))
                more.update(aimed.get(name, ()))
        return sorted(more)

    @property
    def loose(self) -> set[str]:
        """The links to no file kept, which `restat` looks at."""
        return self._loose

    def restat(self, identities: dict[str, tuple[int, int]], since: int | None = None) -> bool:
        """Look again at every link to no file kept (it may point out of the folders,
        where no event is heard). False when one points at a folder now (a walk does
        not list it)."""
        late = since if since is not None else 1 << 63
        for path in self._loose:
            try:
                info = os.stat(path)
            except OSError:
                identities.pop(path, None)
                continue
            if stat.S_ISDIR(info.st_mode):
                return False
            identities[path] = (info.st_size, info.st_mtime_ns)
            if info.st_ctime_ns > late:
                self._ctimes[path] = info.st_ctime_ns
        return True

    def fresh(self, since: int | None) -> dict[str, int]:
        """The files whose ctime, when last stat'ed, was after `since` (see `stat_files`),
        and those ctimes: changed since the last build in a way their size and mtime may
        not tell. One stays fresh until a build completes after it (`since` passes its
        ctime), should the build it was given to fail, or until a build given it with
        that ctime completes (`taken`: a build that follows events keeps the walk's
        `since`)."""
        if since is None or not self._ctimes:
            return {}
        ctimes = self._ctimes = {p: c for p, c in self._ctimes.items() if c > since}
        taken = self._taken = {p: c for p, c in self._taken.items() if ctimes.get(p) == c}
        return {p: c for p, c in ctimes.items() if taken.get(p) != c}

    def taken(self, given: dict[str, int]) -> None:
        """A build given these files as fresh (`fresh`) completed: they were read then."""
        self._taken.update(given)


#: files added at once up to this many are put in their places one by one (`Warm._change`)
_FEW_NEW = 64


def _addable(paths: list[str], several: bool) -> bool:
    """Whether files found can be kept as they are: no link to a file when there are
    several sources (one file could be listed twice)."""
    return not (several and any(os.path.islink(p) for p in paths))


def _linked(path: str) -> bool:
    """Whether the file `path` is a link or has other names. One whose name is not UTF-8
    is not stat'ed with the files kept (`_Names`): a change saved through it would
    change another file kept with no event of that one, and a link's target may become
    a folder (no file to a walk) with no event of it. Kept, such a file is followed only
    while no event names it, and while none of the links is to a folder."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISLNK(info.st_mode) or info.st_nlink > 1


def _changed(kept: list[str], gone: list[str], added: list[str]) -> list[str]:
    """The sorted paths `kept` less each path of `gone` and every path under it, with
    the paths `added`: what `Warm._change` does of the files, for the few whose names
    are not UTF-8."""
    if not kept and not added:
        return kept
    dropped: set[int] = set()
    for path in gone:
        at = bisect.bisect_left(kept, path)
        if at < len(kept) and kept[at] == path:
            dropped.add(at)
        inside = _prefix(path)
        first = bisect.bisect_left(kept, inside)
        last = bisect.bisect_left(kept, inside[:-1] + chr(ord(inside[-1]) + 1))
        dropped.update(range(first, last))
    left = [path for at, path in enumerate(kept) if at not in dropped]
    return sorted({*left, *added})


def _holds(paths: list[str], path: str) -> bool:
    """Whether the sorted `paths` hold `path`."""
    at = bisect.bisect_left(paths, path)
    return at < len(paths) and paths[at] == path


def _apart(sources: list[Path], listed: list[str]) -> bool:
    """Whether no file of several source folders can be listed twice (`find_paths`
    lists a file once by its real path): no folder inside another, no linked file."""
    folders = [os.path.realpath(s) for s in sources]
    for a in folders:
        for b in folders:
            if a is not b and (a == b or a.startswith(_prefix(b))):
                return False
    return not any(os.path.islink(p) for p in listed)


# -- when to build -------------------------------------------------------------------


def wait_left(first: float, last: float, writing: bool, now: float, whole: bool = False) -> float:
    """Seconds until a burst of events that began at `first` and whose latest event
    came at `last` is over (0: build now): QUIET after the last event (QUIET_WHOLE when
    every file it named is `whole`, QUIET_WRITING while some file is being written),
    never past LONGEST after the first."""
    quiet = QUIET_WRITING if writing else QUIET_WHOLE if whole else QUIET
    return max(0.0, min(last + quiet, first + LONGEST) - now)


@dataclass(frozen=True, slots=True)
class Burst:
    """The events a build is started for."""

    #: the article files and folders they named
    paths: int
    #: seconds from the first of them to the build's start (the debounce, and the wait
    #: for a build that was running)
    waited: float


class Rebuilds:
    """The thread that runs `build(burst)` after each burst of events, one build at a
    time: events that come during a build make exactly one more after it."""

    def __init__(
        self,
        build: Callable[[Burst], object],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._build = build
        self._clock = clock
        self._cond = threading.Condition()
        self._stopping = False
        #: paths seen in the burst so far; those modified and not yet closed
        self._seen: set[str] = set()
        self._writing: set[str] = set()
        self._first = 0.0
        self._last = 0.0
        #: paths created, deleted or renamed away in the burst (the writing, or the file,
        #: may follow) and not written and closed, nor moved in, since; and folders
        self._unsettled: set[str] = set()
        self._thread = threading.Thread(target=self._loop, name="aggregator-watch", daemon=True)

    def start(self) -> Rebuilds:
        self._thread.start()
        return self

    def saw(
        self,
        path: str,
        *,
        writing: bool = False,
        done: bool = False,
        whole: bool = False,
        closed: bool = False,
    ) -> None:
        """An event on an article file: `writing` a modification (the file may be
        written on), `done` a close after writing, a move or a deletion, `whole` where a
        move lands, `closed` a close after writing (whole when it was written since it
        was created or deleted in the burst: `touch` then a write later is not; see
        `QUIET_WHOLE`)."""
        with self._cond:
            now = self._clock()
            if not self._seen:
                self._first = now
            self._last = now
            self._seen.add(path)
            if writing:
                self._writing.add(path)
                self._unsettled.discard(path)
            elif done:
                written = path in self._writing
                self._writing.discard(path)
                if whole or (closed and written):
                    self._unsettled.discard(path)
                elif not closed:
                    self._unsettled.add(path)
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._seen and not self._stopping:
                    self._cond.wait()
                while not self._stopping:
                    whole = not self._unsettled
                    left = wait_left(
                        self._first, self._last, bool(self._writing), self._clock(), whole
                    )
                    if left <= 0:
                        break
                    self._cond.wait(left)
                if self._stopping:
                    return
                burst = Burst(len(self._seen), self._clock() - self._first)
                self._seen.clear()
                self._writing.clear()
                self._unsettled.clear()
            try:
                self._build(burst)
            except Exception:  # the thread must go on: the next burst builds again
                log.exception("a build for file-system events failed unexpectedly")


# -- the observer --------------------------------------------------------------------

#: the event kinds asked of the kernel: no opens nor reads (a build reads every file)
_KINDS = (
    "FileCreatedEvent",
    "FileModifiedEvent",
    "FileClosedEvent",
    "FileDeletedEvent",
    "FileMovedEvent",
    "FileAttribEvent",
    "DirAttribEvent",
    "DirCreatedEvent",
    "DirDeletedEvent",
    "DirMovedEvent",
)
#: what ends a write (of these, only a close after writing and a move leave the file whole
#: where it lands: a created file may be written next, as a downloader does, and a deleted
#: one made again, as git does around a filter)
_DONE = ("FileClosedEvent", "FileDeletedEvent", "FileMovedEvent", "FileCreatedEvent")
#: why a folder is not watched when watchdog cannot be imported (no retry helps)
_NO_WATCHDOG = "watchdog cannot be imported"
#: seconds between two looks at which folder each source folder is: one moved away (or
#: removed) and another put in its place sends no event, as the watch follows the old one
FOLDER_CHECK = 1.0
#: why a source folder that was watched is not any more
_GONE = "the folder was removed or moved"


#: watchdog's observers: an overflow of the kernel's event queue is told only here
_WATCHDOG_LOG = logging.getLogger("watchdog.observers")


class _Overflow(logging.Handler):
    """Hears watchdog say that the kernel dropped events (it sends no event for it:
    it logs a warning and sets its watches up again), and tells the watcher."""

    def __init__(self, watcher: Watcher) -> None:
        super().__init__(logging.WARNING)
        self.watcher = watcher

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            self.watcher.overflowed()


class Watcher:
    """Watchdog observers on the local source folders of a config (`watch`), telling
    `warm` what changed and `rebuilds` what to build for."""

    def __init__(self, warm: Warm, rebuilds: Rebuilds) -> None:
        self.warm = warm
        self.rebuilds = rebuilds
        self._observer: BaseObserver | None = None
        self._rules: Rules | None = None
        self._lock = threading.Lock()
        #: the folders watched, and those that are not, with the reason
        self.watched: dict[str, ObservedWatch] = {}
        self.unwatched: dict[str, str] = {}
        #: every watch scheduled (one ended with its folder too)
        self._watches: dict[str, ObservedWatch] = {}
        #: which folder each source folder was when last watched or looked at
        #: (`check_folders`)
        self._present: dict[str, tuple[int, int] | None] = {}
        self._overflow = _Overflow(self)
        self._stopped = threading.Event()
        self._looking: threading.Thread | None = None
        #: held while folders are watched again (by `check_folders` or `retry`)
        self._rewatching = threading.Lock()

    def watch(self, config: Config) -> None:
        """Watch the source folders of `config` (and no other): those it cannot are
        logged once each with the reason, and left to the schedule."""
        self.close()
        rules = Rules.of(config)
        with self._lock:
            self._rules = rules
            self.watched = {}
            self._watches = {}
            self._present = {source: _identity(source) for source in rules.sources}
            self.unwatched = {u: "object storage sends no events" for u in config.remote_sources}
        try:
            from watchdog.observers import Observer
        except ImportError as exc:
            with self._lock:
                for source in rules.sources:
                    self.unwatched[source] = f"{_NO_WATCHDOG} ({exc})"
        else:
            observer = Observer()
            observer.start()
            self._observer = observer
            _WATCHDOG_LOG.addHandler(self._overflow)
            for source in rules.sources:
                self._schedule(source)
            self._stopped = threading.Event()
            self._looking = threading.Thread(
                target=self._look, args=(self._stopped,), name="aggregator-folders", daemon=True
            )
            self._looking.start()
        with self._lock:
            unwatched = dict(self.unwatched)
            watched = list(self.watched)
        for where, reason in unwatched.items():
            _not_watching(where, reason)
        if watched:
            log.info(
                "watching %s for changes",
                ", ".join(watched),
                extra={"event": "watch", "status": "watching", "folders": watched},
            )

    def retry(self) -> None:
        """Watch again the local folders that could not be watched or were removed, then
        look at the others (`check_folders`: one replaced by another folder of the same
        name, whose events the old watch, which follows the old folder, never sees)."""
        with self._rewatching:
            with self._lock:
                again = [
                    f
                    for f in self._sources()
                    if f in self.unwatched and not self.unwatched[f].startswith(_NO_WATCHDOG)
                ]
            for folder in again:
                if self._schedule(folder):
                    log.info(
                        "watching %s for changes again",
                        folder,
                        extra={"event": "watch", "status": "watching", "folders": [folder]},
                    )
        self.check_folders()

    def overflowed(self) -> None:
        """The kernel dropped events (its queue overflowed: a checkout or a copy of many
        files at once): nothing tells which files changed, so every source folder is
        walked again by a build that starts now."""
        log.warning(
            "file-system events were lost (the event queue overflowed): "
            "every source folder is walked again",
            extra={"event": "watch", "status": "overflow"},
        )
        self.warm.rewalk()
        for source in self._sources():
            self.rebuilds.saw(source, done=True)

    def _look(self, stopped: threading.Event) -> None:
        while not stopped.wait(FOLDER_CHECK):
            try:
                self.check_folders()
            except Exception:  # the thread must go on
                log.exception("the source folders could not be looked at")

    def check_folders(self) -> None:
        """Act on each source folder that is another folder than at the last look: one
        put where another was (moved away, or removed, then made again; a link pointed
        at another folder) is watched again and walked by a build that starts now; one
        moved away or removed is no longer watched (its old watch would follow it and
        tell its files as the source's)."""
        if self._observer is None:
            return
        with self._rewatching:
            # (each `stat` outside the lock the observer's thread takes: a folder on a
            # hung network mount holds up this thread only)
            found = [(source, _identity(source)) for source in self._sources()]
            changed: list[tuple[str, tuple[int, int] | None]] = []
            with self._lock:
                for source, now in found:
                    # A folder removed, then made again, may get the inode it had: its
                    # removal was told by its watch (`_removed`).
                    back = now is not None and self.unwatched.get(source) == _GONE
                    if now != self._present.get(source) or back:
                        self._present[source] = now
                        changed.append((source, now))
            self._act(changed)

    def _act(self, changed: list[tuple[str, tuple[int, int] | None]]) -> None:
        for source, now in changed:
            if now is None:
                self._unschedule(source)
                if source in self.watched:
                    self._removed(source)
                continue
            if self._schedule(source):
                log.info(
                    "watching %s for changes again",
                    source,
                    extra={"event": "watch", "status": "watching", "folders": [source]},
                )
            self.warm.rewalk()
            self.rebuilds.saw(source, done=True)

    def close(self) -> None:
        self._stopped.set()
        looking, self._looking = self._looking, None
        if looking is not None and looking is not threading.current_thread():
            looking.join(timeout=2 * FOLDER_CHECK)  # not past a `stat` a dead mount holds
        _WATCHDOG_LOG.removeHandler(self._overflow)
        observer, self._observer = self._observer, None
        if observer is not None:
            observer.stop()
            observer.join()

    def _sources(self) -> tuple[str, ...]:
        return self._rules.sources if self._rules is not None else ()

    def _unschedule(self, source: str) -> None:
        observer = self._observer
        with self._lock:
            old = self._watches.pop(source, None)
        if old is not None and observer is not None:
            with contextlib.suppress(KeyError, OSError):
                observer.unschedule(old)

    def _schedule(self, source: str) -> bool:
        observer = self._observer
        if observer is None:
            return False
        with self._lock:
            self.watched.pop(source, None)
        self._unschedule(source)
        # A source given by a link to its folder: the folder is watched (a watch on
        # the link itself tells nothing of the files), its events told by the link.
        real = os.path.realpath(source) if os.path.islink(source) else None
        try:
            watch = observer.schedule(
                _handler(self, source, real),
                real or source,
                recursive=True,
                event_filter=_event_kinds(),
            )
        except OSError as exc:
            with self._lock:
                known = self.unwatched.get(source)
                self.unwatched[source] = _reason(exc)
            if known is not None and known != self.unwatched[source]:
                _not_watching(source, self.unwatched[source])
            return False
        with self._lock:
            self.watched[source] = self._watches[source] = watch
            self._present[source] = _identity(source)
            self.unwatched.pop(source, None)
        return True

    def seen(self, event: FileSystemEvent, source: str, real: str | None = None) -> None:
        """One event of the observer of `source` (in the observer's thread), which
        watches the folder `real` when `source` is a link to it."""
        rules = self._rules
        kind = type(event).__name__
        if rules is None or kind == "DirModifiedEvent":
            return
        for side, raw in enumerate((event.src_path, event.dest_path)):
            if not raw:
                continue
            path = walk_form(source, linked_form(source, real, os.fsdecode(raw)))
            if path in rules.sources:
                if kind in ("DirDeletedEvent", "DirMovedEvent") and path == source:
                    self._removed(source)
                continue
            if rules.below(path) is None or rules.written(path):
                continue
            if event.is_directory:
                self.warm.touched([path])
                self.rebuilds.saw(path, done=True)
                continue
            if not rules.article(path):
                continue
            self.warm.touched([path])
            if _LEFTOVER.search(os.path.basename(path)):
                continue  # kept up to date, but nothing to build for
            if kind == "FileAttribEvent":  # a chmod may make it readable, or not
                self.rebuilds.saw(path)
                continue
            writing = kind == "FileModifiedEvent"
            # A file renamed away is gone, as a deleted one is: only where it lands is whole.
            whole = kind == "FileMovedEvent" and side == 1
            closed = kind == "FileClosedEvent"
            self.rebuilds.saw(path, writing=writing, done=kind in _DONE, whole=whole, closed=closed)

    def _removed(self, source: str) -> None:
        """The folder `source` itself was removed or moved: its watch ended with it."""
        self.warm.touched([source])
        with self._lock:
            self.watched.pop(source, None)
            self.unwatched[source] = _GONE
        _not_watching(source, _GONE)


def _identity(path: str) -> tuple[int, int] | None:
    """Which folder or file is at `path` now, through links (device, inode), or None
    when none is."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _not_watching(where: str, reason: str) -> None:
    log.warning(
        "not watching %s: %s; its changes are seen by the scheduled runs",
        where,
        reason,
        extra={"event": "watch", "status": "unwatched", "folder": where, "reason": reason},
    )


def _event_kinds() -> list[type[FileSystemEvent]]:
    from watchdog import events

    kinds: list[type[FileSystemEvent]] = [getattr(events, name) for name in _KINDS]
    return kinds


def _reason(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such folder"
    if isinstance(exc, NotADirectoryError):
        return "not a folder"
    return exc.strerror or str(exc)


def linked_form(source: str, real: str | None, path: str) -> str:
    """An event's `path` in the folder `real` a link `source` points to, as under the
    link (`path` itself when there is no link)."""
    if real is None:
        return path
    if path == real:
        return source
    if path.startswith(_prefix(real)):
        return _prefix(source) + path[len(_prefix(real)) :]
    return path


def _handler(watcher: Watcher, source: str, real: str | None) -> FileSystemEventHandler:
    """What the observer of one source folder calls (watchdog is imported only when
    watching)."""
    from watchdog.events import FileSystemEventHandler

    class Handler(FileSystemEventHandler):
        def dispatch(self, event: FileSystemEvent) -> None:
            try:
                watcher.seen(event, source, real)
            except Exception:  # the observer's thread must go on
                log.exception("a file system event could not be handled")

    return Handler()
