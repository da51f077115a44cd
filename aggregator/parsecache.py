"""The parse cache: a file whose identity has not changed is not parsed again.

A file's identity is its path, size and modification time in nanoseconds. A file
modified within `RACY_SECONDS` of the build is parsed and not cached, since a later
write in the same clock tick could keep its size and mtime (git's "racily clean"
problem). What is cached is the loader's result (an Article or a LoadError) as
JSON, never code: the state file is not trusted to run anything. The cache belongs
to one version of the loader and is dropped when the format changes.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from aggregator import __version__
from aggregator.limits import DEFAULT_LIMITS
from aggregator.limits import Limits
from aggregator.loader import load_all
from aggregator.model import Article
from aggregator.model import Image
from aggregator.model import LoadError
from aggregator.model import Provider
from aggregator.model import RelatedStub
from aggregator.store import Store

#: bump when the loader's results change for the same file (the limits are added to it)
FORMAT = f"2/{__version__}"
RACY_SECONDS = 2
#: files parsed and written to the cache at a time
_BATCH = 20_000


def load_cached(
    paths: Sequence[Path],
    store: Store,
    cancel: threading.Event | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> tuple[list[Article], list[LoadError]]:
    """Like `loader.load_all`, parsing only the files that changed since they were cached.

    Memory stays near what the articles themselves take: cached rows are decoded as
    they are read, and new rows are written in batches.
    """
    form = f"{FORMAT} {limits!r}"  # a changed cap changes what a file loads as
    if store.meta("parse_format") != form:
        store.clear_parsed()
        store.set_meta("parse_format", form)
    keys = [str(p) for p in paths]
    identities: dict[str, tuple[int, int]] = {}
    for path, key in zip(paths, keys, strict=True):
        try:
            stat = os.stat(path)
        except OSError:
            continue
        identities[key] = (stat.st_size, stat.st_mtime_ns)
    results: dict[str, Article | LoadError] = {}
    for key, identity, text in store.iter_parsed():
        if identities.get(key) == identity:
            results[key] = decode(text)
    stale = [path for path, key in zip(paths, keys, strict=True) if key not in results]
    # File times are the file system's: compare them with the real clock, not the
    # build's logical clock (`now`), which tests and replays set to other times.
    racy = time.time_ns() - RACY_SECONDS * 1_000_000_000
    for start in range(0, len(stale), _BATCH):
        batch = stale[start : start + _BATCH]
        workers = None if len(stale) > _BATCH else 1
        articles, errors = load_all(batch, cancel, workers, limits)
        rows = []
        loaded: list[Article | LoadError] = [*articles, *errors]
        for result in loaded:
            results[result.path] = result
            known = identities.get(result.path)
            if known is not None and known[1] < racy:
                rows.append((result.path, known[0], known[1], encode(result)))
        store.save_parsed(rows)
    store.forget_parsed_except(keys)
    ordered = [results[key] for key in keys]
    return (
        [r for r in ordered if isinstance(r, Article)],
        [r for r in ordered if isinstance(r, LoadError)],
    )


def encode(result: Article | LoadError) -> str:
    if isinstance(result, LoadError):
        return json.dumps(["error", result.path, result.line, result.reason])
    a = result
    data: list[Any] = [
        "article",
        a.path,
        a.title,
        a.excerpt,
        a.published_at.isoformat(),
        a.link,
        list(a.urls),
        a.kind,
        a.quality,
        a.published,
        _provider(a.provider),
        list(a.topics),
        [[i.url, i.width, i.height, i.title] for i in a.images],
        [_stub(s) for s in a.related],
    ]
    return json.dumps(data, ensure_ascii=False)


def decode(text: str) -> Article | LoadError:
    data: list[Any] = json.loads(text)
    if data[0] == "error":
        return LoadError(data[1], data[2], data[3])
    (_, path, title, excerpt, when, link, urls, kind, quality, published, provider) = data[:11]
    topics, images, related = data[11:14]
    return Article(
        path=path,
        title=title,
        excerpt=excerpt,
        published_at=datetime.fromisoformat(when),
        link=link,
        urls=tuple(urls),
        kind=kind,
        quality=quality,
        published=published,
        provider=Provider(*provider) if provider else None,
        topics=tuple(topics),
        images=tuple(Image(*i) for i in images),
        related=tuple(
            RelatedStub(
                title=s[0],
                link=s[1],
                published_at=datetime.fromisoformat(s[2]) if s[2] else None,
                provider=Provider(*s[3]) if s[3] else None,
            )
            for s in related
        ),
    )


def _stub(stub: RelatedStub) -> list[Any]:
    when = stub.published_at.isoformat() if stub.published_at else None
    return [stub.title, stub.link, when, _provider(stub.provider)]


def _provider(provider: Provider | None) -> list[str | None] | None:
    return [provider.name, provider.domain] if provider else None
