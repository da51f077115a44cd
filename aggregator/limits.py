"""Caps on what one article file and one feed may hold (the `limits:` section of the config).

The files are written by anyone with commit access and the feeds are read by people
we never see, so nothing in either is unbounded. A file over a file-level cap (size,
YAML depth, alias expansion, topics) is reported as `path:line: reason` and not
loaded; a title or excerpt over its cap is cut with an ellipsis; a feed keeps its
newest entries up to `feed_entries` and then drops its oldest until its bytes fit
`feed_size`. The defaults are far above what real files hold (a few KB, a handful of
topics) and far below what would hurt a build or a reader.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

#: YAML nesting the loader ever accepts: deeper documents could overflow the C
#: stack of the YAML composer, which no exception handler can catch.
MAX_YAML_DEPTH = 1000

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Limits:
    #: bytes; a bigger article file is reported and never read past this size
    file_size: int = 2 * 1024 * 1024
    #: nesting levels of a file's YAML (at most MAX_YAML_DEPTH)
    yaml_depth: int = 100
    #: nodes a file's YAML may hold, aliases expanded (a billion laughs stops here)
    yaml_nodes: int = 100_000
    #: bytes of text (UTF-8) a file's YAML may hold once its aliases are expanded: an
    #: alias repeats its anchor's text, so a small file could mean gigabytes of it
    yaml_size: int = 4 * 1024 * 1024
    #: characters of a title (and of topic names, captions, related titles); cut with "…"
    title_length: int = 300
    #: characters of an excerpt; cut with "…"
    excerpt_length: int = 10_000
    #: topics one article may name; a file with more is reported, not loaded
    topics: int = 100
    #: characters of a URL: a longer link is reported, a longer image or other URL ignored
    url_length: int = 4096
    #: images kept of one article (the first ones with a usable URL; the rest ignored)
    images: int = 10
    #: related stories kept of one article (the first ones that can be shown)
    related: int = 20
    #: entries in any one feed, whatever `limit` (or a topic's limit) says
    feed_entries: int = 10_000
    #: bytes of one feed file; the oldest entries are dropped until it fits
    feed_size: int = 5 * 1024 * 1024
    #: bytes of a remote feed document (on the wire and decompressed); a bigger one is
    #: refused, its entries kept as they were
    source_feed_size: int = 10 * 1024 * 1024


DEFAULT_LIMITS = Limits()


#: for documents of some entries, the size each prefix of the entries would render to
#: (the largest over the formats), from the first entry on; None when it cannot tell
Predict = Callable[[Sequence[bytes]], Sequence[int] | None]


def fit_feed(
    entries: Sequence[T],
    render: Callable[[Sequence[T]], Sequence[bytes]],
    max_bytes: int,
    predict: Predict | None = None,
) -> tuple[Sequence[T], list[bytes]]:
    """The entries (newest first) that fit `max_bytes` in every rendering, and those
    renderings. `render` gives one document per format; `predict`, when given, tells
    from the documents of all the entries what each prefix of them renders to, so the
    count that fits is found without rendering the feed again and again.

    The oldest entries are dropped until the feed fits. An entry too big to fit even
    alone is left out rather than emptying the feed: one hostile file must not take
    every other article out of it. Returns no entries (and no renderings) only when
    none fits alone.
    """
    while entries:
        count, documents = _longest_prefix(entries, render, max_bytes, predict)
        if count:
            return entries[:count], documents
        entries = entries[1:]  # the newest is too big on its own
    return entries, []


def _longest_prefix(
    entries: Sequence[T],
    render: Callable[[Sequence[T]], Sequence[bytes]],
    max_bytes: int,
    predict: Predict | None,
) -> tuple[int, list[bytes]]:
    """How many of the first entries fit, and their renderings (0 and [] for none).

    The whole list is rendered first (it nearly always fits). Otherwise the sizes
    `predict` reads off those documents give the count, which one more rendering
    confirms; without them (or should they be wrong), a binary search over the count
    (a document only grows with more entries) finds it in a few renderings.
    """
    documents = list(render(entries))
    if max(map(len, documents), default=0) <= max_bytes:
        return len(entries), documents
    high = len(entries) - 1  # the answer is in [0, high]
    sizes = predict(documents) if predict is not None else None
    if sizes is not None and len(sizes) == len(entries):
        count = sum(1 for size in sizes if size <= max_bytes)
        if count == 0:
            return 0, []
        documents = list(render(entries[:count]))
        if max(map(len, documents)) <= max_bytes:
            return count, documents
        high = count - 1
    fits: tuple[int, list[bytes]] = (0, [])
    low = 1  # `fits` holds low - 1
    while low <= high:
        middle = (low + high) // 2
        documents = list(render(entries[:middle]))
        if max(map(len, documents)) <= max_bytes:
            fits = (middle, documents)
            low = middle + 1
        else:
            high = middle - 1
    return fits


def cap_feed(
    entries: Sequence[T],
    render: Callable[[Sequence[T]], Sequence[bytes]],
    limits: Limits,
    predict: Predict | None = None,
) -> tuple[Sequence[T], list[bytes]]:
    """A feed's entries (newest first, already cut to its own `limit`) held to the
    global caps: at most `feed_entries`, then the oldest dropped until every format
    fits `feed_size` (see `fit_feed`). Returns the entries kept and their renderings."""
    entries = entries[: limits.feed_entries]
    if not entries:
        return entries, []
    return fit_feed(entries, render, limits.feed_size, predict)
