"""SSRF protection for the link checker: may a request be sent to this URL?

`vet` owns the decision and nothing else: it parses the URL, recognises every
numeric host form as the address it means, resolves names once, and returns either
a `Target` (the addresses the connection must go to) or a `Refusal` (no packet may
be sent). It never does HTTP. The caller must connect to one of `Target.addresses`
and must not resolve the host a second time: a second lookup can answer differently
(DNS rebinding) and undo the check. `vet_static` is the part of `vet` that needs no
lookup (scheme, URL shape, userinfo, port, localhost, numeric hosts): its refusals
hold whether or not the network answers, so they apply in every run.

`points_inside` tells whether a URL's host is this machine or a non-public address,
whatever its port and userinfo: the link checker asks it of a redirect it refused
(a captive portal sends every site to its login page on a private address).

`is_public` owns the address rules: an address is public only when it is globally
routable unicast. The verdict does not depend on the Python version: `ipaddress`'s
`is_global` changed between releases (IPv4-mapped, 6to4, multicast), so the
special-purpose ranges it misses or has changed are listed here explicitly.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote
from urllib.parse import urlsplit

from aggregator.stories.urls import idna_host
from aggregator.stories.urls import idna_too_long

#: host, port -> IP address strings; raises `socket.gaierror` when the name fails
Resolver = Callable[[str, int], Sequence[str]]
#: why a URL is refused: "unsafe" (address, port, userinfo rules), "unsupported"
#: (scheme, malformed URL), "nxdomain" (the name does not exist: a broken link, not an
#: attack) and "dns-error" (the lookup failed, maybe for now: try again later)
RefusalKind = Literal["unsafe", "unsupported", "nxdomain", "dns-error"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_DEFAULT_PORTS = {"http": 80, "https": 443}
DEFAULT_ALLOWED_PORTS = frozenset(_DEFAULT_PORTS.values())

# Characters of a URL no HTTP client sends as they are; Python's own urlsplit drops
# some of them silently, so a URL holding them could mean two hosts to two parsers.
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")
# A host name after IDNA: letters, digits, hyphen, underscore (seen in real names) and
# dots between non-empty labels. Anything else ("%31", "\\", "!") would be read
# differently by resolvers, HTTP clients and browsers, so it is refused.
_HOST_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
# A label inet_aton or the WHATWG URL parser reads as a number.
_NUMERIC_LABEL = re.compile(r"0x[0-9a-f]*|[0-9]+")
_ZONE_ID = re.compile(r"[A-Za-z0-9._~-]+")
#: the common URL: http(s), a host name already as `_ascii_host` gives it (lower-case
#: ASCII, labels of 1 to 63 characters, no trailing dot), no userinfo or port, then a
#: path, query or fragment with no space or control character; `vet_static` finds what
#: the whole reading would, without it (a test compares the two)
_PLAIN_URL = re.compile(
    r"(https?)://((?:[a-z0-9_-]{1,63}\.)*([a-z0-9_-]{1,63}))(?:[/?#][^\x00-\x20\x7f]*)?"
)
# getaddrinfo errors meaning "no such name" (EAI_NODATA is not on every platform).
_NO_SUCH_NAME = frozenset(
    code for code in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None)) if code is not None
)

_IPV4_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_IPV4_METADATA = ipaddress.IPv4Address("169.254.169.254")
_IPV4_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")
_IPV4_BROADCAST = ipaddress.IPv4Address("255.255.255.255")
_IPV4_PRIVATE = tuple(
    ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)
# Not globally routable, yet `is_global` is True for some of them on some Python
# versions (192.0.0.0/24 varies; multicast is "global" everywhere).
_IPV4_SPECIAL = tuple(
    ipaddress.IPv4Network(n)
    for n in ("192.0.0.0/24", "224.0.0.0/4", "240.0.0.0/4", "198.18.0.0/15")
)

_IPV6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_IPV6_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated ::a.b.c.d, :: and ::1
_IPV6_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_IPV6_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV6_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_IPV6_TEREDO = ipaddress.IPv6Network("2001::/32")
_IPV6_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")
_IPV6_LINK_LOCAL = ipaddress.IPv6Network("fe80::/10")
_IPV6_SITE_LOCAL = ipaddress.IPv6Network("fec0::/10")
_IPV6_MULTICAST = ipaddress.IPv6Network("ff00::/8")
# Inside 2000::/3 but not routable; `is_global` misses some on older Pythons and
# allows a few exceptions in 2001::/23 on newer ones, so the whole block is refused.
_IPV6_SPECIAL = tuple(ipaddress.IPv6Network(n) for n in ("2001::/23", "2001:db8::/32", "3fff::/20"))


@dataclass(frozen=True, slots=True)
class Target:
    """A URL that may be requested, and the only addresses the request may go to.

    `host` is the host of the URL lower-case, in IDNA ASCII form, without a trailing
    dot and, for an IPv6 literal, without brackets (a zone id, when allowed, follows
    a "%"). `addresses` are every address the host means, in resolver order.
    """

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Lookup:
    """A URL every rule that needs no DNS let through: only resolving `host` can
    decide (see `vet`). `host` is normalised as in `Target`."""

    url: str
    scheme: str
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class Refusal:
    """A URL that must not be requested: no packet is sent to it.

    `reason` is one line for a person; it never repeats credentials from the URL.
    """

    url: str
    reason: str
    kind: RefusalKind


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for `host`, IPv4 and IPv6, once each,
    in the resolver's order (which is the order the OS prefers to connect in)."""
    addresses: list[str] = []
    for _family, _type, _proto, _canonname, sockaddr in socket.getaddrinfo(host, port):
        address = str(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def is_public(ip: str) -> bool:
    """True when `ip` is a globally routable unicast address a link may point to.

    False for loopback, private, link-local, CGNAT, multicast, unspecified, broadcast,
    reserved, documentation and benchmark addresses, for IPv6 forms that embed such an
    IPv4 address (mapped, IPv4-compatible, 6to4, NAT64), for an address with a zone id
    and for a string that is not an IP address at all.
    """
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        return False
    return _non_public(address) is None


def points_inside(url: str, addresses: Sequence[str] = ()) -> bool:
    """True when `url` points into private space: its host is `localhost` or
    `*.localhost`, a numeric host (in any form) that is not public, or a name whose
    `addresses` (what a lookup gave, when one was made) are not all public. The port
    and userinfo are not looked at: a captive portal's login page at
    `http://192.168.1.1:8080/` is inside, though the port rule refuses it first.
    False for a URL too malformed to have a host."""
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return False
    authority = _split_authority(netloc.rpartition("@")[2])
    if isinstance(authority, str):
        return False
    raw_host = authority[0]
    if raw_host.startswith("["):
        verdict = _vet_ipv6_literal(url, "http", raw_host[1:-1], 80, allow_private=False)
        return isinstance(verdict, Refusal) and verdict.kind == "unsafe"
    host = _ascii_host(raw_host)
    if host is None:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    labels = host.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        number = _parse_ipv4(labels)
        return number is not None and _non_public(ipaddress.IPv4Address(number)) is not None
    return any(not is_public(address) for address in addresses)


def vet(
    url: str,
    *,
    allow_private: bool = False,
    ports: frozenset[int] = DEFAULT_ALLOWED_PORTS,
    resolver: Resolver | None = None,
) -> Target | Refusal:
    """Decide whether the link checker may send a request to `url`.

    First every rule of `vet_static` (no lookup); then a name is resolved, once, and
    refused when it resolves to any non-public address ("unsafe"), does not resolve
    ("nxdomain") or its lookup fails ("dns-error").

    `allow_private` lifts the address, port and localhost rules, for a checker that
    runs against a private network on purpose; the scheme and userinfo rules stay.
    `resolver` defaults to `system_resolver`; it is called at most once.
    """
    verdict = vet_static(url, allow_private=allow_private, ports=ports)
    if not isinstance(verdict, Lookup):
        return verdict
    return _vet_name(
        url,
        verdict.scheme,
        verdict.host,
        verdict.port,
        allow_private,
        resolver or system_resolver,
    )


def vet_static(
    url: str,
    *,
    allow_private: bool = False,
    ports: frozenset[int] = DEFAULT_ALLOWED_PORTS,
) -> Target | Refusal | Lookup:
    """The part of `vet` that needs no DNS lookup: a verdict that holds with or
    without a network, or a `Lookup` when only resolving the name can decide.

    Refused, in this order: a scheme other than http/https or a malformed URL
    ("unsupported"); userinfo, a port outside `ports`, the name `localhost` or
    `*.localhost`, a numeric host that is not a public address ("unsafe"). Numeric
    hosts (`2130706433`, `0x7f.1`, `[::ffff:7f00:1]`, ...) are read as the address
    they mean and never looked up: a public one is a `Target` at once.
    """

    plain = _plain(url, allow_private, ports)
    if plain is not None:
        return Lookup(url, *plain)
    return _vet_read(url, allow_private, ports)


def static_refusal(url: str, allow_private: bool, ports: frozenset[int]) -> Refusal | None:
    """`vet_static`'s verdict when it is a `Refusal`, else None: a common URL
    (`_PLAIN_URL`) is told allowed without making the `Lookup` nobody reads."""
    if _plain(url, allow_private, ports) is not None:
        return None
    verdict = _vet_read(url, allow_private, ports)
    return verdict if isinstance(verdict, Refusal) else None


def _plain(url: str, allow_private: bool, ports: frozenset[int]) -> tuple[str, str, int] | None:
    """The scheme, host and port of a URL `_PLAIN_URL` finds allowed; None for any other."""
    plain = _PLAIN_URL.fullmatch(url)
    if plain is None:
        return None
    scheme, host, last = plain.groups()
    port = _DEFAULT_PORTS[scheme]
    if (
        (allow_private or port in ports)
        and not _NUMERIC_LABEL.fullmatch(last)
        and last != "localhost"
        and not idna_too_long(host)
    ):
        return scheme, host, port
    return None


def _vet_read(url: str, allow_private: bool, ports: frozenset[int]) -> Target | Refusal | Lookup:
    """`vet_static` by reading the whole URL."""

    def refuse(reason: str, kind: RefusalKind = "unsafe") -> Refusal:
        return Refusal(url=url, reason=reason, kind=kind)

    if _CONTROL_OR_SPACE.search(url):
        return refuse("malformed URL: it contains spaces or control characters", "unsupported")
    try:
        parts = urlsplit(url)
    except ValueError as error:
        return refuse(f"malformed URL: {error}", "unsupported")
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        shown = f"scheme {scheme!r}" if scheme else "no scheme"
        return refuse(f"{shown} is not http or https", "unsupported")
    netloc = parts.netloc
    if not netloc:
        return refuse("malformed URL: it has no host", "unsupported")
    # Checked on the raw authority: "a@b@c" and "a\@b" are read differently by
    # different parsers, and any "@" means the URL carries credentials.
    if "@" in netloc:
        return refuse("URL carries credentials (user:password@host)")

    authority = _split_authority(netloc)
    if isinstance(authority, str):
        return refuse(f"malformed URL: {authority}", "unsupported")
    raw_host, raw_port = authority
    port = _DEFAULT_PORTS[scheme] if raw_port is None else raw_port
    if not allow_private and port not in ports:
        allowed = ", ".join(str(p) for p in sorted(ports)) or "none"
        return refuse(f"port {port} is not allowed (allowed: {allowed})")

    if raw_host.startswith("["):
        return _vet_ipv6_literal(url, scheme, raw_host[1:-1], port, allow_private)

    host = _ascii_host(raw_host)
    if host is None:
        return refuse(f"malformed host {raw_host!r}", "unsupported")
    if not allow_private and (host == "localhost" or host.endswith(".localhost")):
        return refuse(f"{host} is a localhost name, which means this machine")

    labels = host.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        # A host ending in a number is an IPv4 address to inet_aton, to getaddrinfo and
        # to browsers; if it is not a valid one it is refused rather than looked up.
        number = _parse_ipv4(labels)
        if number is None:
            return refuse(f"malformed IPv4 address {host!r}", "unsupported")
        address = ipaddress.IPv4Address(number)
        problem = None if allow_private else _non_public(address)
        if problem is not None:
            named = f"{host} means {address}," if host != str(address) else f"{host} is"
            return refuse(f"{named} {problem}")
        return Target(url, scheme, host, port, (str(address),))

    return Lookup(url, scheme, host, port)


def _split_authority(netloc: str) -> tuple[str, int | None] | str:
    """(host, port or None) of an authority without userinfo, or what is wrong with it.
    A bracketed IPv6 host keeps its brackets."""
    if netloc.startswith("["):
        end = netloc.find("]")
        if end < 0:
            return "unclosed '[' in the host"
        host, rest = netloc[: end + 1], netloc[end + 1 :]
        if rest and not rest.startswith(":"):
            return f"unexpected {rest!r} after the IPv6 address"
        raw_port = rest[1:] if rest else None
    else:
        host, colon, raw_port_text = netloc.rpartition(":")
        if not colon:
            host, raw_port = netloc, None
        else:
            raw_port = raw_port_text
    if not host or host == "[]":
        return "it has no host"
    if raw_port is None or raw_port == "":  # "host:" means the default port (RFC 3986)
        return host, None
    # isdecimal alone would accept other scripts' digits; int() would accept "+80", "8_0"
    if not (raw_port.isascii() and raw_port.isdecimal()):
        return f"port {raw_port!r} is not a number"
    port = int(raw_port)
    if not 0 < port <= 65535:
        return f"port {port} is out of range"
    return host, port


def _ascii_host(raw_host: str) -> str | None:
    """The host lower-case in IDNA ASCII form without one trailing dot, or None when it
    is not a valid host name. IDNA comes first: it maps full-width digits and dots
    (U+FF10-U+FF19, U+FF0E) to ASCII, so such a host is 127.0.0.1 to the resolver
    and must be read as a number afterwards, not looked up."""
    try:
        # The codec also refuses empty labels and labels over 63 characters, which
        # getaddrinfo would otherwise raise UnicodeError for.
        host = idna_host(raw_host).removesuffix(".")
    except UnicodeError:
        return None
    return host if _HOST_NAME.fullmatch(host) else None


def _parse_ipv4(labels: list[str]) -> int | None:
    """The address `labels` mean as inet_aton reads them: one to four numbers, each
    decimal, octal (leading 0) or hex (0x); the last fills the remaining bytes, so
    127.1 is 127.0.0.1 and 2130706433 is too. None when that reading fails."""
    if len(labels) > 4:
        return None
    numbers: list[int] = []
    for label in labels:
        if label.startswith("0x"):
            digits, base = label[2:] or "0", 16
        elif label.startswith("0") and len(label) > 1:
            digits, base = label[1:], 8
        else:
            digits, base = label, 10
        try:
            numbers.append(int(digits, base))
        except ValueError:  # "foo.1", "08"
            return None
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (4 - len(leading)):
        return None
    value = last
    for index, n in enumerate(leading):
        value += n << (8 * (3 - index))
    return value


def _vet_ipv6_literal(
    url: str, scheme: str, inside: str, port: int, allow_private: bool
) -> Target | Refusal:
    text, percent, zone = inside.partition("%")
    if percent:
        # RFC 6874 writes the "%" of a zone id as "%25"; a bare "%eth0" is read alike.
        zone = unquote("%" + zone).removeprefix("%")
        if not _ZONE_ID.fullmatch(zone):
            return Refusal(url, f"malformed IPv6 zone id {zone!r}", "unsupported")
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        return Refusal(url, f"malformed IPv6 address {inside!r}", "unsupported")
    shown = f"{_format_ipv6(address)}%{zone}" if percent else _format_ipv6(address)
    if not allow_private:
        problem = _non_public(address)
        if problem is not None:
            return Refusal(url, f"{shown} is {problem}", "unsafe")
        if percent:
            return Refusal(url, f"{shown} has a zone id, which names a local interface", "unsafe")
    host = f"{text.lower()}%{zone}" if percent else text.lower()
    return Target(url, scheme, host, port, (shown,))


def _format_ipv6(address: ipaddress.IPv6Address) -> str:
    # Python 3.13 writes an IPv4-mapped address as ::ffff:1.2.3.4, older ones as
    # ::ffff:102:304; the first, on every version, so reasons and Targets do not vary.
    if address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return str(address)


def _vet_name(
    url: str, scheme: str, host: str, port: int, allow_private: bool, resolver: Resolver
) -> Target | Refusal:
    try:
        resolved = resolver(host, port)
    except socket.gaierror as error:
        detail = error.strerror or str(error)
        if error.errno in _NO_SUCH_NAME:
            return Refusal(url, f"name does not resolve: {host} ({detail})", "nxdomain")
        if error.errno == socket.EAI_AGAIN:
            return Refusal(url, f"temporary DNS failure for {host} ({detail})", "dns-error")
        return Refusal(url, f"DNS lookup failed for {host} ({detail})", "dns-error")
    addresses = tuple(dict.fromkeys(a.strip() for a in resolved))
    if not addresses:
        return Refusal(url, f"name does not resolve: {host} (no addresses)", "nxdomain")
    for text in addresses:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            # Fail closed: an address the checks cannot read is not known to be safe.
            return Refusal(
                url, f"{host} resolves to {text!r}, which is not an IP address", "unsafe"
            )
        if allow_private:
            continue
        problem = _non_public(address)
        if problem is None and isinstance(address, ipaddress.IPv6Address) and address.scope_id:
            problem = "scoped to a local interface"
        if problem is not None:
            among = f" (one of {len(addresses)} addresses)" if len(addresses) > 1 else ""
            return Refusal(url, f"{host} resolves to {text}, {problem}{among}", "unsafe")
    return Target(url, scheme, host, port, addresses)


def _non_public(address: IPAddress) -> str | None:
    """None for a public address, else what it is ("a loopback address")."""
    if isinstance(address, ipaddress.IPv4Address):
        return _non_public_v4(address)
    return _non_public_v6(address)


def _non_public_v4(address: ipaddress.IPv4Address) -> str | None:
    if address == ipaddress.IPv4Address(0):
        return "the unspecified address"
    if address in _IPV4_THIS_NETWORK:
        return "a 'this network' address (0.0.0.0/8)"
    if address == _IPV4_BROADCAST:
        return "the broadcast address"
    if address.is_loopback:
        return "a loopback address"
    if address == _IPV4_METADATA:
        return "a link-local address (the cloud metadata service)"
    if address.is_link_local:
        return "a link-local address"
    if any(address in network for network in _IPV4_PRIVATE):
        return "a private address"
    if address in _IPV4_CGNAT:
        return "a shared (CGNAT) address"
    if address.is_multicast:
        return "a multicast address"
    if not address.is_global or any(address in network for network in _IPV4_SPECIAL):
        return "a reserved or special-purpose address"
    return None


def _non_public_v6(address: ipaddress.IPv6Address) -> str | None:
    # Compare without the zone id: `in` and `==` see it on some Python versions.
    bare = ipaddress.IPv6Address(int(address))
    if bare == ipaddress.IPv6Address(0):
        return "the unspecified address"
    if bare.is_loopback:
        return "a loopback address"
    # Forms that carry an IPv4 address are judged by it: the OS or a gateway may
    # deliver the packet to that IPv4 address.
    embedded = _embedded_ipv4(bare)
    if embedded is not None:
        form, v4 = embedded
        problem = _non_public_v4(v4)
        if form == "an IPv4-compatible address":  # deprecated (RFC 4291): never public
            return f"{form} of {v4}, {problem or 'a deprecated form'}"
        return None if problem is None else f"{form} of {v4}, {problem}"
    if bare in _IPV6_NAT64_LOCAL:
        return "a local-use NAT64 address"
    if bare in _IPV6_MULTICAST:
        return "a multicast address"
    if bare in _IPV6_LINK_LOCAL:
        return "a link-local address"
    if bare in _IPV6_SITE_LOCAL:
        return "a site-local address"
    if bare in _IPV6_UNIQUE_LOCAL:
        return "a unique local (private) address"
    if bare in _IPV6_TEREDO:
        return "a Teredo address"
    if (
        bare not in _IPV6_GLOBAL_UNICAST
        or not bare.is_global
        or any(bare in network for network in _IPV6_SPECIAL)
    ):
        return "a reserved or special-purpose address"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _IPV6_MAPPED:
        return "an IPv4-mapped address", low32
    if address in _IPV6_COMPATIBLE:
        return "an IPv4-compatible address", low32
    if address in _IPV6_NAT64:
        return "a NAT64 address", low32
    if address.sixtofour is not None:
        return "a 6to4 address", address.sixtofour
    return None
