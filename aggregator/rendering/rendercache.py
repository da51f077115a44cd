"""Feeds whose entries did not change are not rendered again.

A feed's key is a digest of everything its bytes come from: the aggregator's
version, the settings rendering reads (`Config.render_key`), the format, the feed's
spec and site, and every entry (all of its fields). After a build, the key of each
feed written is kept in the state file with the identity the file then had (its
size, mtime and ctime: `output.output_identity`). The next build skips rendering a
feed when its key is the same and its file still has that identity (a file edited or
replaced by anything else, even to the same size and mtime, is rendered and written
again). Rendering is a pure function of those inputs, so a skipped feed
holds the bytes a cold build would write.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence

from aggregator import version
from aggregator.config import Config
from aggregator.model import Article
from aggregator.model import FeedFormat
from aggregator.publishing.output import Output
from aggregator.publishing.output import output_identity
from aggregator.rendering.feeds import FeedSpec
from aggregator.rendering.feeds import Site
from aggregator.state.interface import StateStore
from aggregator.version import __version__

_META = "rendered"
#: a kept feed's row: key, first entry, count, and the file's `output_identity`
_ROW = 6


class RenderCache:
    """The keys of the feeds the last build wrote, and of those this build writes."""

    def __init__(self, store: StateStore, output: Output, config: Config) -> None:
        self.store = store
        self.output = output
        self.salt = f"{__version__}\n{version.RENDERING}\n{config.render_key()}\n"
        try:
            old = json.loads(store.meta(_META) or "{}")
        except ValueError:
            old = {}
        self.old: dict[str, list[object]] = old if isinstance(old, dict) else {}
        self.new: dict[str, tuple[str, tuple[int, int]]] = {}
        self.entries: dict[str, str] = {}  # entry digest per article path

    def key(self, fmt: FeedFormat, spec: FeedSpec, site: Site, entries: Sequence[Article]) -> str:
        digest = hashlib.sha256(f"{self.salt}{fmt}\n{spec!r}\n{site!r}\n".encode())
        for article in entries:
            found = self.entries.get(article.path)
            if found is None:
                found = hashlib.sha256(repr(article).encode()).hexdigest()
                self.entries[article.path] = found
            digest.update(found.encode())
        return digest.hexdigest()

    def fresh(self, path: str, key: str) -> tuple[int, int] | None:
        """Which of the entries given `path` holds (first index, count) when it is
        what the last build rendered for this key; else None."""
        known = self.old.get(path)
        if not isinstance(known, list) or len(known) != _ROW or known[0] != key:
            return None
        stat = self._stat(path)
        first, count = known[1], known[2]
        if stat is None or list(stat) != known[3:] or not isinstance(first, int):
            return None
        return (first, count) if isinstance(count, int) else None

    def wrote(self, path: str, key: str, kept: tuple[int, int]) -> None:
        """`path` holds, or is about to hold, the rendering of `key`: the `kept`
        (first index, count) of the entries given, fewer when the feed was cut to its
        size limit."""
        self.new[path] = (key, kept)

    def keep(self, path: str) -> None:
        """`path` still holds what the last build rendered (an incremental build did not
        look at its feed)."""
        known = self.old.get(path)
        if isinstance(known, list) and len(known) == _ROW:
            key, first, count = known[:3]
            if isinstance(key, str) and isinstance(first, int) and isinstance(count, int):
                self.new[path] = (key, (first, count))

    def save(self) -> None:
        """Keep the keys with the identity each file has now: call it once the
        build's files are in place, so a file that never got there is not recorded."""
        kept: dict[str, list[object]] = {}
        for path, (key, (first, count)) in sorted(self.new.items()):
            stat = self._stat(path)
            if stat is not None:
                kept[path] = [key, first, count, *stat]
        self.store.set_meta(_META, json.dumps(kept, sort_keys=True))

    def _stat(self, path: str) -> tuple[int, int, int] | None:
        try:
            stat = os.stat(self.output.root / path)
        except OSError:
            return None
        return output_identity(stat)
