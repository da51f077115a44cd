"""URL canonicalisation, shared by dedupe, link checking and entry ids.

`canonical_url` is the identity of a story's URL: entry ids are made from it, so a
change to what it does re-keys entries for every subscriber and needs a migration
note in the CHANGELOG.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult
from urllib.parse import quote
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
_AMP_CACHE_SUFFIX = ".cdn.ampproject.org"
# /c/s/host/path is https, /c/host/path is http; /v/ (viewer) and /i/ (images) alike.
_AMP_CACHE_PATH = re.compile(r"^/[cvi]/(s/)?([^/].*)$")


def is_web_url(url: str) -> bool:
    """True for an absolute http(s) URL with a host."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return parts.scheme.lower() in _DEFAULT_PORTS and bool(parts.hostname)


# Characters a URI may hold as they are; everything else is percent-encoded.
_URI_SAFE = "/:?#[]@!$&'()*+,;=%~-._"
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def clean_url(url: str) -> str:
    """An http(s) URL from an input file as a valid URI: surrounding space removed,
    an internationalised host in IDNA form, and spaces, quotes, angle brackets and
    non-ASCII characters elsewhere percent-encoded (existing escapes are kept)."""
    parts = urlsplit(_STRAY_PERCENT.sub("%25", url.strip()))
    netloc = parts.netloc
    host = parts.hostname or ""
    if not host.isascii():
        try:
            ascii_host = host.encode("idna").decode("ascii")
        except UnicodeError:
            ascii_host = quote(host, safe="")
        netloc = netloc.replace(host, ascii_host) if host in netloc else netloc
    return urlunsplit(
        (
            parts.scheme,
            quote(netloc, safe=_URI_SAFE),
            quote(parts.path, safe=_URI_SAFE),
            quote(parts.query, safe=_URI_SAFE),
            quote(parts.fragment, safe=_URI_SAFE),
        )
    )


def canonical_url(url: str) -> str:
    """The canonical form of an http(s) URL.

    Lower-cases scheme and host, drops the fragment, the default port and any
    userinfo, gives an empty path as "/", and unwraps AMP-cache URLs
    (`https://example-com.cdn.ampproject.org/c/s/example.com/a` is
    `https://example.com/a`). Anything else in the URL is kept as written.
    """
    parts = urlsplit(url.strip())
    unwrapped = _unwrap_amp_cache(parts)
    if unwrapped is not None:
        parts = unwrapped
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def _unwrap_amp_cache(parts: SplitResult) -> SplitResult | None:
    host = (parts.hostname or "").lower()
    if not host.endswith(_AMP_CACHE_SUFFIX):
        return None
    match = _AMP_CACHE_PATH.match(parts.path)
    if match is None:
        return None
    scheme = "https" if match.group(1) else "http"
    inner = urlsplit(f"{scheme}://{match.group(2)}")
    if not inner.hostname:
        return None
    return inner._replace(query=parts.query)
