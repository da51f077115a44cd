"""URL canonicalisation, shared by dedupe, link checking and entry ids.

`canonical_url` is the identity of a story's URL: entry ids are made from it, so a
change to what it does re-keys entries for every subscriber and needs a migration
note in the CHANGELOG.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import re
from urllib.parse import SplitResult
from urllib.parse import quote
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
_AMP_CACHE_SUFFIX = ".cdn.ampproject.org"
# /c/s/host/path is https, /c/host/path is http; /v/ (viewer) and /i/ (images) alike.
_AMP_CACHE_PATH = re.compile(r"^/[cvi]/(s/)?([^/].*)$")
_AMP_SEGMENTS = frozenset({"amp", "google-amp"})
_AMP_PARAMETERS = frozenset({"amp", "_amp", "amp_js_v", "usqp", "amp_gsa", "amp_tf"})
_TRACKING_PARAMETERS = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "msclkid", "yclid", "igshid", "twclid",
        "mc_cid", "mc_eid", "ref", "ref_src", "ref_url", "ocid", "cmpid", "ncid", "icid",
        "s_cid", "sr_share", "spm", "mkt_tok", "_hsenc", "_hsmi", "__twitter_impression",
        "at_medium", "at_campaign", "at_custom1", "at_custom2", "at_custom3", "at_custom4",
    }
)  # fmt: skip
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def is_web_url(url: str) -> bool:
    """True for an absolute http(s) URL whose host is a name (letters of any script,
    digits, `-`, `_`, `.`) or an IP address."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    host = parts.hostname
    if parts.scheme.lower() not in _DEFAULT_PORTS or not host:
        return False
    if ":" in host:  # an IPv6 literal
        address, percent, zone = host.partition("%")
        if percent and not _ZONE_ID.fullmatch(zone):
            return False  # RFC 6874: a zone id is ASCII (unreserved or %-escaped)
        try:
            ipaddress.IPv6Address(address)
        except ValueError:
            return False
        return True
    # The host as written: `hostname` is lower-cased by str.lower, which makes the
    # capital I with a dot (İ) an i and a combining dot, no letter.
    return _HOST_NAME.fullmatch(_written_host(parts.netloc)) is not None


def _written_host(netloc: str) -> str:
    """The host of `netloc` as written, in its own case, as `SplitResult.hostname`
    reads it (after the last "@", before the first ":"); for a name, not an IPv6
    literal."""
    return netloc.rpartition("@")[2].partition(":")[0]


_HOST_NAME = re.compile(r"[\w.-]+")
_ZONE_ID = re.compile(r"[A-Za-z0-9._~%-]+")
#: IDNA splits labels at these dots too
_LABEL_DOTS = re.compile("[.\u3002\uff0e\uff61]")
#: a host with a label longer than this is never encoded with IDNA: a label must come
#: out at most 63 characters long, and Python's punycode encoder takes time in the
#: square of the label's length (a 4,000-character one took over a second); the
#: slack is for characters IDNA maps to nothing (soft hyphens, zero-width spaces)
IDNA_LABEL_MAX = 126


def idna_too_long(host: str) -> bool:
    """True when `host` cannot be a host name IDNA encodes: longer than 4 x 253
    characters or with a label longer than IDNA_LABEL_MAX, found without encoding it."""
    if len(host) <= IDNA_LABEL_MAX:  # no label of it can be longer (most hosts)
        return False
    return len(host) > 1012 or any(len(label) > IDNA_LABEL_MAX for label in _LABEL_DOTS.split(host))


def idna_host(host: str) -> str:
    """A host name as written, in IDNA ASCII form and lower-case; UnicodeError when
    IDNA cannot encode it (`idna_too_long`, an empty label, a label over 63
    characters once encoded, a character IDNA prohibits).

    Host names are case-insensitive: Python's `idna` codec maps the letters of each
    non-ASCII label to lower case (nameprep: `Bücher` and `BÜCHER` are both
    `xn--bcher-kva`) and keeps ASCII labels as they are, so its ASCII result is
    lower-cased after (`News.例え.テスト` is `news.xn--r8jz45g.xn--zckzah`).
    """
    if idna_too_long(host):  # refused before the encoder's quadratic work
        raise UnicodeError("not a host name IDNA encodes")
    return host.encode("idna").decode("ascii").lower()


# Characters a URI may hold as they are; everything else is percent-encoded.
_URI_SAFE = "/:?#[]@!$&'()*+,;=%~-._"
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def clean_url(url: str) -> str:
    """An http(s) URL from an input file as a valid URI: surrounding space removed,
    an internationalised host in IDNA form (`idna_host`: lower-case, whatever the case
    it was written in), and spaces, quotes, angle brackets and non-ASCII characters
    elsewhere percent-encoded (existing escapes are kept)."""
    parts = urlsplit(_STRAY_PERCENT.sub("%25", url.strip()))
    netloc = parts.netloc
    userinfo, at, hostinfo = netloc.rpartition("@")
    host, colon, port = hostinfo.partition(":")
    if not host.isascii() and not host.startswith("["):  # an IPv6 literal is no name
        try:
            host = idna_host(host)
        except UnicodeError:
            host = quote(host, safe="")
        netloc = f"{userinfo}{at}{host}{colon}{port}"
    return urlunsplit(
        (
            parts.scheme,
            quote(netloc, safe=_URI_SAFE),
            quote(parts.path, safe=_URI_SAFE),
            quote(parts.query, safe=_URI_SAFE),
            quote(parts.fragment, safe=_URI_SAFE),
        )
    )


# A URL that is already a plain ASCII URI: `clean_url` keeps it as it is. Runs of
# characters are taken whole and never given back (possessive: no part can end where
# the next begins), about five times faster than one alternation per character.
_URI_CHARS = r"(?:[A-Za-z0-9_.~!$&'()*+,;=:@/-]++|%[0-9A-Fa-f]{2})"
_PLAIN_URI = re.compile(
    rf"https?://[A-Za-z0-9.-]++(?:/{_URI_CHARS}*+)?"
    rf"(?:\?(?:{_URI_CHARS}|\?++)++)?(?:#(?:{_URI_CHARS}|\?++)++)?"
)


def web_uri(url: str) -> str | None:
    """`clean_url(url)` when `url` (stripped) is a web URL (`is_web_url`), else None.
    Most URLs in files are plain ASCII URIs already: one pattern tells those, and
    they are returned as they are, without being taken apart and put together."""
    if _PLAIN_URI.fullmatch(url):
        return url
    return clean_url(url) if is_web_url(url.strip()) else None


@functools.lru_cache(maxsize=1 << 18)
def canonical_url(url: str) -> str:
    """The canonical form of an http(s) URL: one string for every form of one page.

    - scheme `https` (http and https are one page), host lower-case (a non-ASCII
      name in IDNA form, `idna_host`) without a trailing dot, `www.` or an `amp.`
      prefix; no userinfo, fragment or default port;
    - AMP forms unwrapped: AMP-cache hosts (`x-com.cdn.ampproject.org/c/s/x.com/a`),
      `/amp/` and `/google-amp/` path segments, `.amp.html` and `.amp` endings, and
      the `amp`, `_amp`, `outputType=amp`, `usqp` query parameters;
    - tracking parameters (`utm_*`, `fbclid`, `gclid`, `mc_cid`, `ref`, `ocid`, ...)
      dropped and the rest sorted;
    - percent-escapes of unreserved characters decoded, the others upper-cased;
      an empty path is "/", a trailing slash is dropped.

    Most URLs are a lower-case host and a plain path: those are put together at once
    (`_PLAIN_PAGE`), the others taken apart (`_canonical`).
    """
    plain = _PLAIN_PAGE.fullmatch(url)
    if plain is not None:
        host, path = plain.group(1, 2)
        if "amp" not in path.lower() and not host.endswith(_AMP_CACHE_SUFFIX):
            return "https://" + _without_prefix(host) + (path.rstrip("/") or "/")
    return _canonical(url)


#: an http(s) URL with a lower-case host name (no port, no userinfo, no trailing dot)
#: and a path of characters `_canonical` keeps as they are (no escape), without query
#: or fragment; each label and segment taken whole (possessive, as in `_PLAIN_URI`)
_PLAIN_PAGE = re.compile(
    r"https?://([a-z0-9-]++(?:\.[a-z0-9-]++)*+)((?:/[A-Za-z0-9._~!$&'()*+,;=:@-]*+)*+)"
)


def _without_prefix(host: str) -> str:
    for prefix in ("www.", "amp."):
        if host.startswith(prefix) and host.count(".") >= 2:
            host = host[len(prefix) :]
    return host


def _canonical(url: str) -> str:
    parts = urlsplit(url.strip())
    unwrapped = _unwrap_amp_cache(parts)
    if unwrapped is not None:
        parts = unwrapped
    host = parts.hostname or ""
    if not host.isascii() and ":" not in host:  # a name: in IDNA form, as clean_url writes it
        with contextlib.suppress(UnicodeError):
            host = idna_host(_written_host(parts.netloc))
    host = _without_prefix(host.rstrip("."))
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    scheme = parts.scheme.lower()
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    return urlunsplit(
        ("https", host, _canonical_path(parts.path), _canonical_query(parts.query), "")
    )


def _canonical_path(path: str) -> str:
    segments = [_normalise_escapes(s) for s in path.split("/")]
    kept = [s for s in segments if s.lower() not in _AMP_SEGMENTS]
    if kept and kept[-1]:
        last = kept[-1]
        lower = last.lower()
        if lower.endswith(".amp.html"):
            kept[-1] = last[: -len(".amp.html")] + ".html"
        elif lower.endswith(".amp") and len(last) > 4:
            kept[-1] = last[: -len(".amp")]
    path = "/".join(kept).rstrip("/")
    return path if path.startswith("/") else "/" + path


def _canonical_query(query: str) -> str:
    pairs = []
    for pair in query.split("&"):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        name = _normalise_escapes(key).lower()
        if name.startswith("utm_") or name in _TRACKING_PARAMETERS:
            continue
        if name in _AMP_PARAMETERS or (name == "outputtype" and value.lower() == "amp"):
            continue
        pairs.append(_normalise_escapes(pair))
    return "&".join(sorted(pairs))


def _normalise_escapes(text: str) -> str:
    return _ESCAPE.sub(_escape_replacement, text) if "%" in text else text


def _escape_replacement(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else match.group(0).upper()


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
