"""Remote sources: each object-store URL of `sources:` mirrored into a local folder that
the engine reads as an ordinary source folder.

A run lists the URL's prefix once (one request for an S3 prefix of up to 1,000
objects), downloads only the article objects whose tag (the ETag, else size and
last-modified) differs from the mirror's manifest, and deletes the mirror files of
objects that are gone: an unchanged bucket costs one listing. Each mirror file keeps
its object's key as its path below the mirror folder, and its mtime is the object's
last-modified time (the sub-second part drawn from the tag), so a file's identity
(size, mtime) changes exactly when its object does, and the parse cache and
incremental builds work as on local files. Reports name an object by its URL
(`shown`), never by its mirror path.

The mirrors live beside the output folder (`.<output name>-mirrors/`), one folder per
URL (`stores.folder_name`) with its manifest (`<folder>.json`) beside it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import hashlib
import os
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from typing import TypeVar

from aggregator.config import Config
from aggregator.errors import StorageError
from aggregator.model import LoadError
from aggregator.model import LoadWarning
from aggregator.objectstore.stores import folder_name
from aggregator.objectstore.stores import join
from aggregator.objectstore.stores import open_store
from aggregator.objectstore.stores import read_manifest
from aggregator.objectstore.stores import reason
from aggregator.objectstore.stores import save_manifest
from aggregator.publishing.layout import beside
from aggregator.publishing.output import write_atomic

_NS = 1_000_000_000


def mirrors_path(config: Config) -> Path:
    """The folder of every mirror of the config's remote sources."""
    return beside(config.output, "-mirrors")


def mirror_folders(config: Config) -> list[Path]:
    """The mirror folder of each remote source, in the config's order."""
    root = mirrors_path(config)
    return [root / folder_name(url) for url in config.remote_sources]


def sync_sources(config: Config) -> list[LoadError]:
    """Bring the mirror of each remote source up to date; raises StorageError when a
    store cannot be listed or read (the mirror keeps what it had)."""
    refused: list[LoadError] = []
    for url, folder in zip(config.remote_sources, mirror_folders(config), strict=True):
        refused += sync(url, folder, config)
    return refused


def sync(url: str, folder: Path, config: Config) -> list[LoadError]:
    """Mirror the article objects under `url` into `folder` (see the module's doc);
    the objects that cannot be mirrored (a key that is also the folder of others:
    `b.md` and `b.md/c.md`, which no file system holds both of), reported."""
    fs, root = open_store(url, config.storage_options, config.storage_timeout.total_seconds())
    manifest_path = folder.with_name(folder.name + ".json")
    manifest = {k: str(v) for k, v in read_manifest(manifest_path, url).items()}
    try:
        fs.invalidate_cache()  # listings cached by an earlier run (below `root` too) are stale
        listed: dict[str, dict[str, Any]] = fs.find(root, detail=True)
    except Exception as exc:  # any store's error: its own classes, OSError, ...
        raise StorageError(f"{url}: cannot list: {reason(exc)}") from exc
    match = re.compile("|".join(fnmatch.translate(p) for p in config.patterns)).match
    wanted: dict[str, tuple[str, dict[str, Any]]] = {}
    for path, info in listed.items():
        key = path[len(root) :].lstrip("/") if path.startswith(root) else ""
        if info.get("type", "file") == "file" and _is_article(key, match):
            wanted[key] = (path, info)
    folders = {key.rsplit("/", 1)[0] for key in listed_keys(listed, root) if "/" in key}
    parents = {"/".join(f.split("/")[: n + 1]) for f in folders for n in range(f.count("/") + 1)}
    refused = [
        LoadError(join(url, key), 1, "both an object and the folder of others: not read")
        for key in sorted(wanted)
        if key in parents
    ]
    for error in refused:
        del wanted[error.path[len(url) + 1 :]]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # What went first: a key may become the folder of new ones.
        for key in sorted(set(manifest) - set(wanted)):
            with contextlib.suppress(FileNotFoundError):
                (folder / key).unlink()
            _prune(folder, (folder / key).parent)
            del manifest[key]
        for key, (path, info) in sorted(wanted.items()):
            tag = _tag(info)
            target = folder / key
            if manifest.get(key) == tag and _present(target, info):
                continue
            try:
                data = fs.cat_file(path)
            except Exception as exc:
                save_manifest(manifest_path, url, manifest)
                raise StorageError(f"{join(url, key)}: cannot read: {reason(exc)}") from exc
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(target, data)
            stamp = _mtime_ns(info, tag)
            os.utime(target, ns=(stamp, stamp))
            manifest[key] = tag
        save_manifest(manifest_path, url, manifest)
        return refused
    except OSError as exc:
        where = exc.filename or folder
        raise StorageError(f"{where}: cannot write the mirror of {url}: {reason(exc)}") from exc


def listed_keys(listed: dict[str, dict[str, Any]], root: str) -> list[str]:
    """The keys below `root` of a listing."""
    return [p[len(root) :].lstrip("/") for p in listed if p.startswith(root)]


def _is_article(key: str, match: Any) -> bool:
    """A key the engine would read as an article file under a source folder: no hidden
    or empty part, no `..`, its name matching the patterns (as `loader.find_paths`)."""
    parts = key.split("/")
    if not key or any(not p or p.startswith(".") or "\\" in p or "\x00" in p for p in parts):
        return False
    return bool(match(os.path.normcase(parts[-1])))


def _tag(info: dict[str, Any]) -> str:
    """What changes when the object does: its ETag, else its size and time."""
    for name in ("ETag", "etag", "md5Hash", "content_md5"):
        value = info.get(name)
        if value:
            return str(value).strip('"')
    return f"{info.get('size')}:{_modified(info)}"


def _modified(info: dict[str, Any]) -> float | None:
    """The object's last-modified time (seconds since the epoch), as the store says it."""
    for name in ("LastModified", "last_modified", "mtime", "updated", "modified", "created"):
        value = info.get(name)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return None


def _mtime_ns(info: dict[str, Any], tag: str) -> int:
    """The mirror file's mtime: the object's whole second, and a sub-second part drawn
    from its tag, so that two versions written in one second differ."""
    seconds = int(_modified(info) or 0)
    fraction = int(hashlib.sha256(tag.encode("utf-8")).hexdigest()[:8], 16) % _NS
    return seconds * _NS + fraction


def _present(target: Path, info: dict[str, Any]) -> bool:
    """True when the mirror file is there with the object's size."""
    try:
        return target.stat().st_size == int(info.get("size") or 0)
    except OSError:
        return False


def _prune(folder: Path, parent: Path) -> None:
    """Remove the folders left empty between `parent` and `folder`."""
    while parent != folder and parent.is_relative_to(folder):
        try:
            parent.rmdir()
        except OSError:
            return
        parent = parent.parent


_Named = TypeVar("_Named", LoadError, LoadWarning)


def shown(config: Config, items: Sequence[_Named]) -> tuple[_Named, ...]:
    """`items` (reports of files) with each mirror path replaced by its object's URL."""
    if not config.remote_sources:
        return tuple(items)
    prefixes = [
        (str(folder) + os.sep, url)
        for url, folder in zip(config.remote_sources, mirror_folders(config), strict=True)
    ]
    renamed: list[_Named] = []
    for item in items:
        for prefix, url in prefixes:
            if item.path.startswith(prefix):
                key = item.path[len(prefix) :].replace(os.sep, "/")
                item = dataclasses.replace(item, path=join(url, key))
                break
        renamed.append(item)
    return tuple(renamed)
