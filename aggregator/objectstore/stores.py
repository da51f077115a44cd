"""Object-store URLs (`s3://bucket/prefix`): telling them from paths, naming the local
folders that stand for them, and opening their fsspec filesystems.

fsspec is imported only when a store is opened, so a config of local folders needs
neither fsspec nor s3fs. Credentials and endpoints come from each store's own
environment (for S3: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, ...)
or from the config's `storage_options:`, per protocol, passed to the filesystem as given.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from aggregator.errors import ConfigError
from aggregator.errors import StorageError
from aggregator.publishing.output import write_atomic

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

#: `protocol://...`: a URL, not a path (a path holds no `://`)
_URL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
#: what a folder name keeps of a URL: letters, digits, `-`, `_` and `.`
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def is_url(text: str) -> bool:
    """True when `text` names an object store (`s3://bucket/prefix`), not a local path."""
    return _URL.match(text) is not None


def protocol(url: str) -> str:
    """The URL's protocol, lower case: `s3` for `s3://bucket/prefix`."""
    found = _URL.match(url)
    if found is None:
        raise ValueError(f"not a URL: {url!r}")
    return found.group(1).lower()


def store_url(text: str) -> str:
    """`text` as a store URL, checked: a protocol, then a bucket (or host); no trailing "/"."""
    if "\x00" in text or not text.isprintable():
        raise ValueError(f"must be a URL such as s3://bucket/prefix, got {text!r}")
    rest = text[len(protocol(text)) + 3 :].strip("/")
    if not rest:
        raise ValueError(f"names no bucket: {text!r}")
    if "@" in rest.split("/", 1)[0]:
        # It would be shown in every report and name local folders: credentials go in
        # the store's environment or `storage_options:`.
        raise ValueError(
            "must not hold a user name or password (give credentials in the store's "
            "environment or in storage_options)"
        )
    return f"{protocol(text)}://{rest}"


def folder_name(url: str) -> str:
    """A local folder name that stands for `url`: readable, and unique (a digest of the
    whole URL ends it, so `s3://a-b/c` and `s3://a/b-c` never share a folder)."""
    readable = _UNSAFE.sub("-", url.replace("://", "-")).strip("-.")[:60]
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:10]
    return f"{readable}--{digest}"


def join(url: str, key: str) -> str:
    """The URL of the object `key` under `url`, as reports name it."""
    return f"{url}/{key}"


class Store:
    """The fsspec filesystem of a store, each call given up after `timeout` seconds
    where the filesystem can give it up (fsspec's asynchronous ones: s3fs, gcsfs,
    adlfs): a store that stops answering fails the run in one line instead of blocking
    it. The socket timeouts of s3fs do not cover an upload waiting for the server's
    `100 Continue`, and s3fs and botocore retry a timed-out request many times over."""

    def __init__(self, fs: AbstractFileSystem, timeout: float) -> None:
        self.fs = fs
        self.timeout = timeout

    def find(self, path: str, **options: Any) -> Any:
        return self._call("find", path, **options)

    def cat_file(self, path: str) -> bytes:
        return bytes(self._call("cat_file", path))

    def pipe_file(self, path: str, data: bytes, **options: Any) -> None:
        self._call("pipe_file", path, data, **options)

    def rm_file(self, path: str) -> None:
        self._call("rm_file", path)

    def invalidate_cache(self) -> None:
        self.fs.invalidate_cache()

    def _call(self, name: str, *args: Any, **options: Any) -> Any:
        from fsspec.exceptions import FSTimeoutError

        if getattr(self.fs, "async_impl", False):
            options["timeout"] = self.timeout  # fsspec's `sync`: the whole call, retries too
        try:
            return getattr(self.fs, name)(*args, **options)
        except FSTimeoutError:
            raise StoreTimeout(f"no answer within {self.timeout:g} s (storage_timeout)") from None


class StoreTimeout(Exception):
    """A store call given up after `Store.timeout` seconds."""


def open_store(
    url: str, options: Mapping[str, Mapping[str, Any]], timeout: float
) -> tuple[Store, str]:
    """The filesystem of `url` (fsspec's, with `options[protocol]`), each call given up
    after `timeout` seconds (`Store`), and the URL's path in it (`bucket/prefix`, no
    trailing "/"). Raises ConfigError when fsspec, or the package of the protocol (s3fs
    for s3://), is not installed."""
    try:
        import fsspec.core
    except ImportError:
        raise ConfigError(
            f"{url}: object storage needs fsspec: pip install 'aggregator[s3]'"
        ) from None
    try:
        fs, path = fsspec.core.url_to_fs(url, **dict(options.get(protocol(url), {})))
    except ImportError as exc:
        raise ConfigError(f"{url}: {exc}") from None
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{url}: cannot open: {exc}") from None
    except Exception as exc:  # a store that cannot be reached: its own error classes
        raise StorageError(f"{url}: cannot open: {reason(exc)}") from exc
    return Store(fs, timeout), str(path).rstrip("/")


def reason(exc: BaseException) -> str:
    """One line saying why a store refused: its own message, else the error's class."""
    text = (getattr(exc, "strerror", None) or str(exc)).strip()
    line = text.splitlines()[0].rstrip(".") if text else ""
    return line or type(exc).__name__


def read_manifest(path: Path, url: str) -> dict[str, Any]:
    """What a manifest (of a mirror, or of what landed in an output store) holds per
    key: empty when missing, unreadable or of another URL (everything is then done
    again)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("url") != url:
        return {}
    objects = data.get("objects")
    return {str(k): v for k, v in objects.items()} if isinstance(objects, dict) else {}


def save_manifest(path: Path, url: str, manifest: Mapping[str, Any]) -> None:
    text = json.dumps({"url": url, "objects": manifest}, sort_keys=True, indent=0)
    write_atomic(path, text.encode("utf-8"))
