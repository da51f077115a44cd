"""Publishing the output folder to object storage (`output: s3://bucket/prefix`).

The engine builds into a local staging folder as it does for any output (byte-stable,
change-only writes); after each build `publish` uploads to the store only the files
whose bytes differ from what was last uploaded there, as its manifest
(`.<output name>-uploaded.json` beside the staging folder: sha256 per key) records.
An unchanged build therefore sends nothing.

Order, so that a reader never follows a link to an object that is not there yet:
topic feeds, then the all-topics feeds, then the index page, then the OPML lists
(which point at the feeds); files no longer in the staging folder are deleted last.
Each object carries its Content-Type and the configured Cache-Control.

What is in the store may not be what this machine last uploaded (another daemon led
meanwhile, or the manifest is lost): then `pull` first makes the staging folder and
the manifest what the store holds, so that the build that follows compares with
that (and retires the topic feeds only the store still has).

The first upload that fails stops the publishing: the objects already in the store
keep serving (the old index and OPML still point at feeds that exist), the manifest
records only what landed, and a `StorageError` says which object failed; the next
run uploads what is still missing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aggregator.config import Config
from aggregator.errors import StorageError
from aggregator.objectstore.stores import join
from aggregator.objectstore.stores import open_store
from aggregator.objectstore.stores import protocol
from aggregator.objectstore.stores import read_manifest
from aggregator.objectstore.stores import reason
from aggregator.objectstore.stores import save_manifest
from aggregator.publishing.layout import beside
from aggregator.publishing.output import write_atomic

#: the media type of each kind of file a build writes, by extension
CONTENT_TYPES: Mapping[str, str] = {
    ".rss": "application/rss+xml; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
    ".json": "application/feed+json; charset=utf-8",
    ".opml": "text/x-opml; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
DEFAULT_CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class Published:
    """What one `publish` did."""

    #: keys uploaded, in the order they landed
    uploaded: tuple[str, ...] = ()
    #: keys deleted from the store
    deleted: tuple[str, ...] = ()


def manifest_path(config: Config) -> Path:
    """Where the record of what was last uploaded lives: beside the staging folder."""
    return beside(config.output, "-uploaded.json")


def content_type(key: str) -> str:
    """The Content-Type an object of this name is served with."""
    return CONTENT_TYPES.get(os.path.splitext(key)[1].lower(), DEFAULT_CONTENT_TYPE)


def rank(key: str) -> tuple[int, str]:
    """Upload order: topic feeds, all-topics feeds, anything else, index page, OPML."""
    if key.startswith("topics/"):
        return (0, key)
    if key.startswith("all."):
        return (1, key)
    if key.endswith(".opml"):
        return (4, key)
    if key == "index.html":
        return (3, key)
    return (2, key)


def forget(config: Config) -> None:
    """Take nothing in the store for known any more: the next build pulls it first
    (a daemon that becomes leader: another may have published since its last upload)."""
    with contextlib.suppress(OSError):
        manifest_path(config).unlink()


def pull(config: Config) -> bool:
    """When the manifest does not say what the store holds (missing, lost, of another
    URL), make the staging folder a copy of the store's objects and the manifest
    their record; whether it pulled. One listing, and a download of every object."""
    url = config.remote_output
    if url is None or read_manifest(manifest_path(config), url):
        return False
    fs, root = open_store(url, config.storage_options, config.storage_timeout.total_seconds())
    try:
        found = sorted(str(k) for k in fs.find(root, withdirs=False))
    except FileNotFoundError:
        found = []
    except Exception as exc:
        raise StorageError(f"{url}: cannot list: {reason(exc)}") from exc
    staging = config.output
    manifest: dict[str, dict[str, Any]] = {}
    keys: set[str] = set()
    for name in found:
        key = name[len(root) :].lstrip("/")
        if not key or any(part.startswith(".") or part == ".." for part in key.split("/")):
            continue
        try:
            data = fs.cat_file(name)
        except Exception as exc:
            raise StorageError(f"{join(url, key)}: cannot read: {reason(exc)}") from exc
        target = staging / key
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data)
        stat = target.stat()
        manifest[key] = {
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
        }
        keys.add(key)
    for key, file in list(_staged(staging)):
        if key not in keys:
            file.unlink()  # not in the store: the build writes it again if it is wanted
    save_manifest(manifest_path(config), url, manifest)
    return True


def publish(config: Config) -> Published:
    """Upload what changed in the staging folder `config.output` to
    `config.remote_output`, then delete what left it (see the module's doc)."""
    url = config.remote_output
    if url is None:
        return Published()
    path = manifest_path(config)
    manifest = {k: v for k, v in read_manifest(path, url).items() if isinstance(v, dict)}
    local = dict(_staged(config.output))
    cache = config.output_cache_control
    changed = sorted(
        (
            k
            for k, file in local.items()
            if manifest.get(k, {}).get("sha256") != _digest(file, manifest.get(k))
            # headers of another config: the object is put again with the new ones
            or manifest.get(k, {}).get("cache_control", cache) != cache
        ),
        key=rank,
    )
    gone = sorted(set(manifest) - set(local), key=rank)
    if not changed and not gone:
        return Published()
    fs, root = open_store(url, config.storage_options, config.storage_timeout.total_seconds())
    uploaded: list[str] = []
    deleted: list[str] = []
    try:
        for key in changed:
            data = local[key].read_bytes()
            sha = hashlib.sha256(data).hexdigest()
            try:
                fs.pipe_file(f"{root}/{key}", data, **_headers(url, key, config))
            except Exception as exc:  # any store's error: its own classes, OSError, ...
                raise StorageError(
                    f"{join(url, key)}: upload failed: {reason(exc)}; "
                    "the objects published before stay, retried at the next run"
                ) from exc
            stat = local[key].stat()
            manifest[key] = {
                "sha256": sha,
                "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns,
                "cache_control": cache,
            }
            uploaded.append(key)
        for key in gone:
            try:
                fs.rm_file(f"{root}/{key}")
            except FileNotFoundError:
                pass
            except Exception as exc:
                raise StorageError(
                    f"{join(url, key)}: delete failed: {reason(exc)}; retried at the next run"
                ) from exc
            del manifest[key]
            deleted.append(key)
    finally:
        if uploaded or deleted:
            _save_manifest(path, url, manifest)
    return Published(tuple(uploaded), tuple(deleted))


def _headers(url: str, key: str, config: Config) -> dict[str, Any]:
    """The keyword arguments that give an object its Content-Type and Cache-Control, as
    the protocol's filesystem takes them (none for a protocol not known here)."""
    kind, cache = content_type(key), config.output_cache_control
    name = protocol(url)
    if name in ("s3", "s3a"):
        return {"ContentType": kind, "CacheControl": cache}
    if name in ("gs", "gcs"):
        return {"content_type": kind, "fixed_key_metadata": {"cache_control": cache}}
    if name in ("az", "abfs", "abfss"):
        # adlfs hands `content_settings` to the Azure SDK's upload_blob (the blob's
        # x-ms-blob-content-type and x-ms-blob-cache-control); the SDK comes with adlfs.
        from azure.storage.blob import ContentSettings

        return {"content_settings": ContentSettings(content_type=kind, cache_control=cache)}
    return {}


def _staged(root: Path) -> Iterator[tuple[str, Path]]:
    """(key, file) of every file a build left in the staging folder (no hidden file:
    a build's temporary files start with a dot)."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                file = Path(folder, name)
                yield file.relative_to(root).as_posix(), file


def _digest(file: Path, known: Mapping[str, Any] | None) -> str:
    """The file's sha256 (taken from the manifest when its size and mtime are those it
    was uploaded with: a build rewrites a file only when its bytes change)."""
    stat = file.stat()
    if known is not None and (known.get("size"), known.get("mtime_ns")) == (
        stat.st_size,
        stat.st_mtime_ns,
    ):
        return str(known.get("sha256"))
    return hashlib.sha256(file.read_bytes()).hexdigest()


def _save_manifest(path: Path, url: str, manifest: dict[str, dict[str, Any]]) -> None:
    with contextlib.suppress(OSError):  # lost: the next run uploads those files again
        save_manifest(path, url, manifest)
