"""The one plan of every command: which article files a run reads, and what each became.

`build`, `run`, `check-links`, `topics` and `validate` find their files with `find`
(or `find_given`, for the paths `validate` is handed) and load them with `load`: the
same sources and patterns, the same files refused for their names, the same limits of
the config's `limits:` section, so the same files are invalid for the same reasons
and the same articles carry the same warnings, whichever command is asked. Only how
a file is read differs (from the parse cache or not), never what it becomes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from pathlib import Path

from aggregator.config import Config
from aggregator.limits import Limits
from aggregator.model import Article
from aggregator.model import LoadError
from aggregator.model import LoadWarning
from aggregator.objectstore.mirror import mirror_folders
from aggregator.objectstore.mirror import sync_sources
from aggregator.progress import Progress
from aggregator.progress import counting
from aggregator.sources.entries import settled as settled_text
from aggregator.sources.loader import file_key
from aggregator.sources.loader import find_paths
from aggregator.sources.loader import load_file
from aggregator.sources.loader import load_text
from aggregator.sources.loader import map_in_chunks
from aggregator.sources.loader import read_ahead
from aggregator.sources.loader import split_names
from aggregator.sources.parsecache import keyed
from aggregator.sources.parsecache import load_cached
from aggregator.sources.parsecache import load_light
from aggregator.sources.remote import ENTRY_PATTERN
from aggregator.sources.remote import entry_folders
from aggregator.sources.remote import unsettled
from aggregator.state.interface import StateStore
from aggregator.state.interface import open_store
from aggregator.state.interface import store_exists

#: files a worker reads per task
_CHUNK = 250


@dataclass(frozen=True, slots=True)
class Found:
    """The article files of a run, before any is read."""

    #: files to load, in the order of their sources, then of their paths
    paths: list[str]
    #: files found that cannot be loaded: their names are not UTF-8 (`loader.split_names`),
    #: a bucket's objects cannot be mirrored (`mirror.sync`), or a folder that cannot be
    #: listed (`loader.find_paths`)
    misnamed: tuple[LoadError, ...] = ()
    #: paths asked for that do not exist (`validate` only)
    missing: tuple[LoadError, ...] = ()
    #: files changed since the last build took their identities in a way their size and
    #: mtime may not tell (see `parsecache.stat_files`): read again, never from the cache
    fresh: frozenset[str] = frozenset()
    #: when the identities of files this find did not stat were taken (`clock.stamp_ns`
    #: before): a daemon's walk, which a find that follows events keeps; None when every
    #: file was stat'ed by it
    stated: int | None = None
    #: called by a build that completed (or repeated the last report) with these files:
    #: a daemon's `Warm` keeps that its `fresh` ones were read
    completed: Callable[[], object] | None = field(default=None, compare=False)
    #: the inode number of each folder of `paths` (see `loader.find_paths`; some may
    #: hold none of them now); None: stat'ed by the build (a finder that keeps none)
    folders: Mapping[str, int] | None = field(default=None, compare=False)
    #: the sizes and mtimes of `paths`, in their order, as the identities found give
    #: them ((-1, 0) for a file they have none of), when the finder keeps them (a
    #: daemon's `Warm`: 100,000 files looked up again at each build cost 25 ms); None:
    #: the build looks them up
    numbers: tuple[list[int], list[int]] | None = field(default=None, compare=False)

    @property
    def files(self) -> int:
        """Article files found, loadable or not."""
        return len(self.paths) + len(self.misnamed)


@dataclass(frozen=True, slots=True)
class Inputs:
    """What the files of a run became."""

    found: Found
    #: the files that are articles, in the order found
    articles: list[Article]
    #: one per file that is not (misnamed and missing ones first), in the order found
    errors: tuple[LoadError, ...]
    #: of a light load (`parsecache.load_light`): the bodies of articles not cached
    bodies: dict[str, str] = field(default_factory=dict)
    #: of a cached load: content digests of files parsed now that were written just now
    digests: dict[str, str] = field(default_factory=dict)
    #: of a cached load: the files whose bytes could not be read (each build reads them)
    unread: list[str] = field(default_factory=list)

    @property
    def warnings(self) -> tuple[LoadWarning, ...]:
        """What was repaired in the articles loaded, by file, in file order."""
        return tuple(w for a in self.articles for w in a.warnings)


def find(config: Config) -> Found:
    """The article files under the config's sources (`loader.find_paths`; a bucket URL
    through its local mirror, brought up to date first: `objectstore.mirror`) and the
    entries kept of its remote feeds (`remote.entry_folders`), in path order; raises
    ConfigError for a source folder that does not exist, StorageError for a bucket
    that cannot be listed or read."""
    mirrors: list[Path] = []
    refused: list[LoadError] = []
    if config.remote_sources:
        refused = sync_sources(config)
        mirrors = mirror_folders(config)
    unread: list[LoadError] = []
    holding: dict[str, int] = {}
    listed = find_paths([*config.sources, *mirrors], config.patterns, unread, holding)
    folders = entry_folders(config)
    if folders:
        # (once each: an entries folder under a source folder is walked by both)
        listed = sorted({*listed, *find_paths(folders, (ENTRY_PATTERN,), folders=holding)})
    paths, misnamed = split_names(listed)
    return Found(paths, (*refused, *unread, *misnamed), folders=holding)


def find_given(paths: Sequence[Path], patterns: Sequence[str]) -> Found:
    """The article files among `paths`, as `validate` is handed them: a folder is
    searched as a source folder is; a file named on its own is taken whatever its name
    (an editor's hook passes it); a path that does not exist is an error."""
    listed: list[str] = []
    seen: set[str] = set()
    missing: list[LoadError] = []
    unread: list[LoadError] = []
    for path in paths:
        if path.is_dir():
            found = find_paths([path], patterns, unread)
        elif path.exists():
            found = [str(path)]
        else:
            missing.append(LoadError(str(path), 1, "no such file or folder"))
            continue
        for file in found:
            key = file_key(file)
            if key not in seen:
                seen.add(key)
                listed.append(file)
    good, misnamed = split_names(listed)
    return Found(good, (*unread, *misnamed), tuple(missing))


def load(
    found: Found,
    limits: Limits,
    *,
    store: StateStore | None = None,
    light: bool = False,
    identities: Mapping[str, tuple[int, int]] | None = None,
    cancel: threading.Event | None = None,
    whole: bool = True,
    progress: Progress | None = None,
) -> Inputs:
    """Read the files found under `limits`. With `store`, through its parse cache
    (`light`: without what only rendering reads, see `parsecache.load_light`; `whole`:
    the files found are the whole corpus, else some of it, as an incremental build
    reads the files that changed); without, every file is parsed and nothing is
    written (`topics`, `validate`, `check-links`). `progress` hears the phase "read"
    (see `parsecache.load_light`)."""
    known = (*found.missing, *found.misnamed)
    if store is None:
        read = counting(progress, "read", len(found.paths))
        results = list(
            map_in_chunks(
                load_keyed, found.paths, limits, cancel, None, _CHUNK, read, prepare=read_ahead
            )
        )
        articles = [r for r in results if isinstance(r, Article)]
        errors = [r for r in results if isinstance(r, LoadError)]
        return Inputs(found, articles, (*known, *errors))
    load = load_light if light else load_cached
    loaded = load(
        found.paths,
        store,
        cancel,
        limits,
        identities=identities,
        whole=whole,
        progress=progress,
        fresh=found.fresh,
    )
    failed = (*known, *loaded.errors)
    return Inputs(found, loaded.articles, failed, loaded.bodies, loaded.digests, loaded.unread)


def load_keyed(paths: list[str], limits: Limits) -> list[Article | LoadError]:
    """Read files as the parse cache does (in a worker process): with their dedupe
    keys, or a report of a file whose keys cannot be made (`parsecache.keyed`)."""
    return [keyed(load_file(Path(path), limits)) for path in paths]


def plan(
    config: Config,
    *,
    store: StateStore | None = None,
    light: bool = False,
    progress: Progress | None = None,
) -> Inputs:
    """`find` and `load` under the config: the files of a run and what they became."""
    return load(find(config), config.limits, store=store, light=light, progress=progress)


def settled(loaded: Inputs, config: Config, store: StateStore | None = None) -> Inputs:
    """`loaded` with the entries of each remote feed whose settings changed since they
    were written (`remote.unsettled`) as the next build writes them again
    (`entries.settled`): its topics, quality and published flag; those its title_filter
    now leaves out left out: what `topics` and `check-links` show of a build to come.
    The marks are read from `store`, else from the config's state when there is one
    (none is made)."""
    if not config.feeds:
        return loaded
    # Folders told apart by their real paths: a source folder that is a link to the
    # state's folder finds the entries under another name.
    real = {
        folder: os.path.realpath(folder)
        for folder in {os.path.dirname(a.path) for a in loaded.articles}
    }
    held = set(real.values())
    if not held.intersection(os.path.realpath(f) for f in entry_folders(config)):
        return loaded
    if store is not None:
        changed = unsettled(config, store)
    elif store_exists(config.state_location):
        with open_store(config.state_location) as opened:
            changed = unsettled(config, opened)
    else:
        changed = unsettled(config, None)
    changed = {os.path.realpath(folder): settings for folder, settings in changed.items()}
    if not held.intersection(changed):
        return loaded
    articles: list[Article] = []
    errors = list(loaded.errors)
    dropped: set[str] = set()
    for article in loaded.articles:
        settings = changed.get(real[os.path.dirname(article.path)])
        if settings is None:
            articles.append(article)
            continue
        try:
            text = Path(article.path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):  # (as it was read a moment ago)
            articles.append(article)
            continue
        new = settled_text(text, settings, config.limits)
        if new is None:  # its title_filter leaves it out now: the build deletes it
            dropped.add(article.path)
            continue
        result = article if new == text else keyed(load_text(new, article.path, config.limits))
        if isinstance(result, Article):
            articles.append(result)
        else:
            errors.append(result)
    found = loaded.found
    if dropped:
        kept = [at for at, path in enumerate(found.paths) if path not in dropped]
        numbers = found.numbers
        if numbers is not None:  # (in the order of the paths)
            numbers = ([numbers[0][at] for at in kept], [numbers[1][at] for at in kept])
        found = replace(found, paths=[found.paths[at] for at in kept], numbers=numbers)
    return replace(loaded, found=found, articles=articles, errors=tuple(errors))
