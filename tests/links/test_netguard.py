"""SSRF protection: which URLs the link checker may request, and to which addresses.

Real DNS is not available to tests, so names are resolved by injected resolvers:
plain functions with fixed answers. Numeric hosts must never reach a resolver.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from collections.abc import Sequence

import pytest

from aggregator.links.netguard import Lookup
from aggregator.links.netguard import Refusal
from aggregator.links.netguard import Target
from aggregator.links.netguard import is_public
from aggregator.links.netguard import points_inside
from aggregator.links.netguard import static_refusal
from aggregator.links.netguard import system_resolver
from aggregator.links.netguard import vet
from aggregator.links.netguard import vet_static

PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"


def answers(*addresses: str) -> Callable[[str, int], Sequence[str]]:
    """A resolver that gives `addresses` for every name."""

    def resolve(host: str, port: int) -> Sequence[str]:
        return list(addresses)

    return resolve


def failing(errno: int, message: str) -> Callable[[str, int], Sequence[str]]:
    """A resolver that fails like getaddrinfo does."""

    def resolve(host: str, port: int) -> Sequence[str]:
        raise socket.gaierror(errno, message)

    return resolve


def no_lookup(host: str, port: int) -> Sequence[str]:
    """A resolver for URLs that must be decided without DNS."""
    pytest.fail(f"resolver called for {host!r}")


def refused(result: Target | Refusal, kind: str) -> Refusal:
    assert isinstance(result, Refusal), result
    assert result.kind == kind, result
    assert "\n" not in result.reason
    return result


# --- names, resolved by a fake resolver ----------------------------------------------


def test_public_name_gives_every_address_in_resolver_order() -> None:
    calls: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> Sequence[str]:
        calls.append((host, port))
        return [PUBLIC_V6, PUBLIC_V4, PUBLIC_V6]

    url = "https://News.Example.COM./story?id=1"
    assert vet(url, resolver=resolve) == Target(
        url=url,
        scheme="https",
        host="news.example.com",
        port=443,
        addresses=(PUBLIC_V6, PUBLIC_V4),
    )
    assert calls == [("news.example.com", 443)]


@pytest.mark.parametrize(
    ("addresses", "shown"),
    [
        (["127.0.0.1"], "127.0.0.1, a loopback address"),
        (["10.1.2.3"], "10.1.2.3, a private address"),
        (["169.254.169.254"], "cloud metadata"),
        (["fd00::1"], "unique local"),
        (["::ffff:192.168.0.1"], "IPv4-mapped address of 192.168.0.1, a private address"),
        ([PUBLIC_V4, "10.0.0.5"], "10.0.0.5, a private address (one of 2 addresses)"),
        ([PUBLIC_V6, "::1"], "::1, a loopback address"),
        (["fe80::1%eth0"], "link-local"),
        (["not-an-ip"], "not an IP address"),
    ],
    ids=[
        "loopback",
        "private",
        "metadata",
        "unique-local",
        "mapped-private",
        "public-and-private",
        "public-and-loopback-v6",
        "scoped-link-local",
        "garbage-from-resolver",
    ],
)
def test_name_resolving_to_any_non_public_address_is_refused(
    addresses: list[str], shown: str
) -> None:
    refusal = refused(vet("http://intranet.example.com/", resolver=answers(*addresses)), "unsafe")
    assert shown in refusal.reason
    assert refusal.url == "http://intranet.example.com/"


@pytest.mark.parametrize(
    ("resolver", "kind", "shown"),
    [
        (failing(socket.EAI_NONAME, "Name or service not known"), "nxdomain", "does not resolve"),
        (answers(), "nxdomain", "no addresses"),
        (failing(socket.EAI_AGAIN, "Temporary failure"), "dns-error", "temporary DNS failure"),
        (failing(socket.EAI_FAIL, "Non-recoverable failure"), "dns-error", "DNS lookup failed"),
    ],
    ids=["nxdomain", "no-addresses", "eai-again", "eai-fail"],
)
def test_lookup_failures_are_not_unsafe(
    resolver: Callable[[str, int], Sequence[str]], kind: str, shown: str
) -> None:
    refusal = refused(vet("https://gone.example.com/", resolver=resolver), kind)
    assert shown in refusal.reason
    assert "gone.example.com" in refusal.reason


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost/",
        "http://LOCALHOST./admin",
        "http://api.localhost/",
        "http://a.b.localhost./",
    ],
    ids=["localhost", "localhost-trailing-dot", "sub-localhost", "deep-localhost-dot"],
)
def test_localhost_is_refused_without_lookup(url: str) -> None:
    assert "localhost" in refused(vet(url, resolver=no_lookup), "unsafe").reason


def test_internationalised_name_is_resolved_in_ascii_form() -> None:
    seen: list[str] = []

    def resolve(host: str, port: int) -> Sequence[str]:
        seen.append(host)
        return [PUBLIC_V4]

    result = vet("https://bücher.example/", resolver=resolve)
    assert isinstance(result, Target)
    assert result.host == seen[0] == "xn--bcher-kva.example"


# --- numeric hosts: the address they mean, never a lookup ------------------------------

NUMERIC_UNSAFE = {
    "dotted": "http://127.0.0.1/",
    "decimal-integer": "http://2130706433/",
    "hex-integer": "http://0x7f000001/",
    "dotted-hex": "http://0x7f.0.0.1/",
    "octal": "http://0177.0.0.1/",
    "short-two-parts": "http://127.1/",
    "short-three-parts": "http://127.0.1/",
    "mixed-bases": "http://0x7F.0.0.01/",
    "trailing-dot": "http://127.0.0.1./",
    "full-width-digits": "http://\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11/",
    "unspecified-v4": "http://0.0.0.0/",
    "zero": "http://0/",
    "private-10": "http://10.0.0.1/",
    "private-172": "http://172.16.5.4/",
    "private-192": "http://192.168.1.1/",
    "metadata": "http://169.254.169.254/latest/meta-data/",
    "metadata-decimal": "http://2852039166/",
    "cgnat": "http://100.64.0.1/",
    "multicast-v4": "http://224.0.0.1/",
    "broadcast": "http://255.255.255.255/",
    "reserved-240": "http://240.0.0.1/",
    "documentation-v4": "http://192.0.2.1/",
    "benchmark": "http://198.18.0.1/",
    "loopback-v6": "http://[::1]/",
    "unspecified-v6": "http://[::]/",
    "mapped-dotted": "http://[::ffff:127.0.0.1]/",
    "mapped-hex": "http://[::ffff:7f00:1]/",
    "mapped-metadata": "http://[::ffff:169.254.169.254]/",
    "compatible": "http://[::127.0.0.1]/",
    "compatible-public": f"http://[::{PUBLIC_V4}]/",
    "6to4-private": "http://[2002:c0a8:101::1]/",
    "6to4-loopback": "http://[2002:7f00:1::]/",
    "nat64-loopback": "http://[64:ff9b::127.0.0.1]/",
    "nat64-private-hex": "http://[64:ff9b::a00:1]/",
    "nat64-local-use": "http://[64:ff9b:1::5db8:d822]/",
    "unique-local": "http://[fd12:3456::1]/",
    "link-local-v6": "http://[fe80::1]/",
    "site-local-v6": "http://[fec0::1]/",
    "multicast-v6": "http://[ff02::1]/",
    "documentation-v6": "http://[2001:db8::1]/",
    "teredo": "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
    "zone-link-local": "http://[fe80::1%25eth0]/",
    "zone-bare-percent": "http://[fe80::1%eth0]/",
    "zone-on-public": f"http://[{PUBLIC_V6}%25eth0]/",
}


@pytest.mark.parametrize("url", NUMERIC_UNSAFE.values(), ids=NUMERIC_UNSAFE.keys())
def test_numeric_host_is_read_as_its_address_without_lookup(url: str) -> None:
    refused(vet(url, resolver=no_lookup), "unsafe")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://0x7f000001/", "0x7f000001 means 127.0.0.1, a loopback address"),
        ("http://127.1/", "127.1 means 127.0.0.1, a loopback address"),
        ("http://127.0.0.1/", "127.0.0.1 is a loopback address"),
        (
            "http://[::ffff:7f00:1]/",
            "::ffff:127.0.0.1 is an IPv4-mapped address of 127.0.0.1, a loopback address",
        ),
        (
            "http://[2002:c0a8:101::1]/",
            "2002:c0a8:101::1 is a 6to4 address of 192.168.1.1, a private address",
        ),
        ("http://[fe80::1%25eth0]/", "fe80::1%eth0 is a link-local address"),
    ],
    ids=["hex", "short", "dotted", "mapped", "6to4", "zone"],
)
def test_refusal_names_the_address_a_numeric_host_means(url: str, shown: str) -> None:
    assert refused(vet(url, resolver=no_lookup), "unsafe").reason == shown


@pytest.mark.parametrize(
    ("url", "port", "address"),
    [
        (f"http://{PUBLIC_V4}/", 80, PUBLIC_V4),
        (f"https://{PUBLIC_V4}/", 443, PUBLIC_V4),
        (f"https://[{PUBLIC_V6}]/", 443, PUBLIC_V6),
        (f"http://[{PUBLIC_V6.upper()}]:443/", 443, PUBLIC_V6),
        ("http://1572395042/", 80, PUBLIC_V4),
        ("http://0x5d.0xb8.0xd8.0x22/", 80, PUBLIC_V4),
        ("http://[::ffff:5db8:d822]/", 80, f"::ffff:{PUBLIC_V4}"),
        ("http://[2002:5db8:d822::1]/", 80, "2002:5db8:d822::1"),
        ("http://[64:ff9b::5db8:d822]/", 80, "64:ff9b::5db8:d822"),
    ],
    ids=["v4-http", "v4-https", "v6", "v6-upper-explicit-port", "decimal", "dotted-hex",
         "mapped", "6to4", "nat64"],
)  # fmt: skip
def test_public_literal_is_allowed_without_lookup(url: str, port: int, address: str) -> None:
    result = vet(url, resolver=no_lookup)
    assert isinstance(result, Target), result
    assert result.url == url
    assert result.port == port
    assert result.addresses == (address,)


@pytest.mark.parametrize(
    "url",
    [
        "http://1.2.3.4.5/",
        "http://256.0.0.1/",
        "http://127.0.0.256/",
        "http://127.16777216/",
        "http://4294967296/",
        "http://08.0.0.1/",
        "http://example.123/",
        "http://[127.0.0.1]/",
        "http://[::1/",
        "http://[::1]x/",
        "http://[v1.fe]/",
        "http://[fe80::1%25e th]/",
        "http://%31%32%37.0.0.1/",
        "http://exa mple.com/",
        "http://example.com\\.evil/",
        "http://a..b/",
        "http://" + "a" * 64 + ".com/",
    ],
    ids=["five-parts", "octet-256", "last-256", "two-part-overflow", "integer-overflow",
         "bad-octal", "numeric-tld", "bracketed-v4", "unclosed-bracket", "junk-after-bracket",
         "ipvfuture", "bad-zone", "percent-encoded-host", "space", "backslash",
         "empty-label", "long-label"],
)  # fmt: skip
def test_malformed_host_is_unsupported_without_lookup(url: str) -> None:
    refused(vet(url, resolver=no_lookup), "unsupported")


# --- scheme, userinfo, port ----------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/file",
        "file:///etc/passwd",
        "gopher://example.com:70/",
        "javascript:alert(1)",
        "//example.com/",
        "example.com/page",
        "http:///path",
        "http://:80/",
        "http://example.com:http/",
        "http://example.com:+80/",
        "http://example.com:0/",
        "http://example.com:65536/",
    ],
    ids=["ftp", "file", "gopher", "javascript", "scheme-relative", "no-scheme", "no-host",
         "port-only", "port-name", "port-plus", "port-zero", "port-too-big"],
)  # fmt: skip
@pytest.mark.parametrize("allow_private", [False, True], ids=["default", "allow-private"])
def test_unsupported_url_is_refused(url: str, allow_private: bool) -> None:
    refused(vet(url, allow_private=allow_private, resolver=no_lookup), "unsupported")


@pytest.mark.parametrize(
    "url",
    [
        "http://user:secret@example.com/",
        "http://user@example.com/",
        "http://@example.com/",
        f"http://{PUBLIC_V4}@10.0.0.1/",
        "http://example.com\\@10.0.0.1/",
    ],
    ids=["user-password", "user", "empty-userinfo", "host-lookalike", "backslash-trick"],
)
@pytest.mark.parametrize("allow_private", [False, True], ids=["default", "allow-private"])
def test_userinfo_is_refused(url: str, allow_private: bool) -> None:
    refusal = refused(vet(url, allow_private=allow_private, resolver=no_lookup), "unsafe")
    assert "secret" not in refusal.reason


@pytest.mark.parametrize(
    ("url", "port"),
    [
        ("http://example.com:8080/", 8080),
        ("https://example.com:8443/", 8443),
        ("http://example.com:22/", 22),
        (f"http://{PUBLIC_V4}:6379/", 6379),
    ],
    ids=["8080", "8443", "ssh", "literal-redis"],
)
def test_other_ports_are_refused_by_default(url: str, port: int) -> None:
    refusal = refused(vet(url, resolver=no_lookup), "unsafe")
    assert f"port {port}" in refusal.reason


@pytest.mark.parametrize(
    ("url", "port"),
    [
        ("http://example.com/", 80),
        ("http://example.com:/", 80),
        ("https://example.com:443/", 443),
        ("http://example.com:443/", 443),
        ("https://example.com:80/", 80),
    ],
    ids=["http-default", "empty-port", "https-explicit", "http-on-443", "https-on-80"],
)
def test_default_ports_are_allowed(url: str, port: int) -> None:
    result = vet(url, resolver=answers(PUBLIC_V4))
    assert isinstance(result, Target), result
    assert result.port == port


def test_extra_port_is_allowed_when_listed() -> None:
    ports = frozenset({80, 443, 8080})
    result = vet("http://example.com:8080/", ports=ports, resolver=answers(PUBLIC_V4))
    assert isinstance(result, Target), result
    assert result.port == 8080
    refused(vet("http://example.com:8081/", ports=ports, resolver=no_lookup), "unsafe")


# --- allow_private ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "addresses"),
    [
        ("http://127.0.0.1:8080/", ("127.0.0.1",)),
        ("http://0x7f.1/", ("127.0.0.1",)),
        ("http://169.254.169.254/", ("169.254.169.254",)),
        ("http://[::1]:3000/", ("::1",)),
        ("http://[fe80::1%25eth0]/", ("fe80::1%eth0",)),
        ("http://[::ffff:7f00:1]/", ("::ffff:127.0.0.1",)),
    ],
    ids=["loopback-port", "short-hex", "metadata", "v6-loopback", "zone", "mapped"],
)
def test_allow_private_lifts_address_and_port_rules_for_literals(
    url: str, addresses: tuple[str, ...]
) -> None:
    result = vet(url, allow_private=True, resolver=no_lookup)
    assert isinstance(result, Target), result
    assert result.addresses == addresses


def test_allow_private_resolves_localhost_and_private_names() -> None:
    result = vet(
        "http://localhost.:9000/", allow_private=True, resolver=answers("127.0.0.1", "::1")
    )
    assert result == Target(
        url="http://localhost.:9000/",
        scheme="http",
        host="localhost",
        port=9000,
        addresses=("127.0.0.1", "::1"),
    )
    mixed = vet(
        "https://intranet.example.com/", allow_private=True, resolver=answers("10.0.0.5", PUBLIC_V4)
    )
    assert isinstance(mixed, Target)
    assert mixed.addresses == ("10.0.0.5", PUBLIC_V4)


def test_allow_private_keeps_lookup_failures() -> None:
    resolver = failing(socket.EAI_NONAME, "Name or service not known")
    refused(vet("http://gone.internal/", allow_private=True, resolver=resolver), "nxdomain")


# --- is_public -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ip", "public"),
    [
        (PUBLIC_V4, True),
        (PUBLIC_V6, True),
        ("8.8.8.8", True),
        ("::ffff:8.8.8.8", True),
        ("127.0.0.1", False),
        ("100.64.0.1", False),
        ("224.0.0.251", False),
        ("192.0.0.9", False),
        ("::ffff:10.0.0.1", False),
        ("::8.8.8.8", False),
        ("ff02::1", False),
        ("fec0::1", False),
        ("3fff::1", False),
        ("4000::1", False),
        ("fe80::1%eth0", False),
        (f"{PUBLIC_V6}%eth0", False),
        ("example.com", False),
        ("", False),
    ],
    ids=lambda value: str(value) or "empty",
)
def test_is_public(ip: str, public: bool) -> None:
    assert is_public(ip) is public


# --- the default resolver, on literals only (no DNS in tests) ----------------------------


def test_system_resolver_reads_a_literal_once() -> None:
    # getaddrinfo gives one entry per socket type; the resolver keeps one of each address.
    assert system_resolver("127.0.0.1", 80) == ["127.0.0.1"]


def test_vet_with_the_default_resolver_decides_literals_without_dns() -> None:
    refused(vet("http://127.0.0.1/"), "unsafe")
    result = vet("http://127.0.0.1:8080/", allow_private=True)
    assert isinstance(result, Target)
    assert result.addresses == ("127.0.0.1",)


# --- the verdict without DNS (vet_static): what holds with the network down -----------

#: URLs refused with no lookup, one of each kind of rule (the tables above hold more)
STATIC_REFUSALS = {
    **NUMERIC_UNSAFE,
    "five-parts": "http://1.2.3.4.5/",
    "empty-label": "http://a..b/",
    "ftp": "ftp://example.com/file",
    "no-host": "http:///path",
    "space": "http://exa mple.com/",
    "userinfo": "http://user:secret@example.com/",
    "port": "https://example.com:8443/",
    "localhost": "http://localhost/",
    "sub-localhost": "http://a.b.LOCALHOST./",
}


@pytest.mark.parametrize("url", STATIC_REFUSALS.values(), ids=STATIC_REFUSALS.keys())
def test_vet_static_gives_every_refusal_that_needs_no_lookup(url: str) -> None:
    """The same refusal as `vet`, so a run without network can apply it."""
    static = vet_static(url)
    assert isinstance(static, Refusal), static
    assert static == vet(url, resolver=no_lookup)


@pytest.mark.parametrize(
    ("url", "host", "port"),
    [
        ("http://Example.COM./a", "example.com", 80),
        ("https://bücher.example/", "xn--bcher-kva.example", 443),
        ("http://intranet.example:8080/", "intranet.example", 8080),
    ],
    ids=["name", "idn", "port-allowed-by-allow-private"],
)
def test_vet_static_leaves_names_to_a_lookup(url: str, host: str, port: int) -> None:
    static = vet_static(url, allow_private=port not in (80, 443))
    assert static == Lookup(url, url.split(":", 1)[0], host, port)


def test_vet_static_allows_a_public_literal_as_vet_does() -> None:
    url = f"http://{PUBLIC_V4}/"
    assert vet_static(url) == vet(url, resolver=no_lookup)
    assert isinstance(vet_static(url), Target)


def test_vet_static_with_allow_private_keeps_the_scheme_and_userinfo_rules() -> None:
    assert isinstance(vet_static("http://127.0.0.1:9/", allow_private=True), Target)
    assert isinstance(vet_static("http://localhost/", allow_private=True), Lookup)
    refused(vet_static("http://u:p@127.0.0.1/", allow_private=True), "unsafe")
    refused(vet_static("http://1.2.3.4.5/", allow_private=True), "unsupported")


@pytest.mark.parametrize(
    ("url", "addresses", "inside"),
    [
        ("http://10.0.0.1/login", (), True),
        ("http://192.168.1.1:8080/login", (), True),  # the port is refused first: still inside
        ("http://user:pw@172.16.0.1/", (), True),
        ("http://127.1/", (), True),
        ("http://2130706433/", (), True),
        ("http://[::1]:8443/", (), True),
        ("http://[::ffff:10.0.0.1]/", (), True),
        ("http://localhost:3000/", (), True),
        ("http://portal.localhost/", (), True),
        ("http://portal.example/", ("192.168.0.1",), True),
        ("http://portal.example/", ("93.184.216.34", "10.0.0.1"), True),
        ("http://portal.example/", ("93.184.216.34",), False),
        ("http://portal.example/", (), False),  # not looked up: nothing known
        (f"http://{PUBLIC_V4}:8080/", (), False),
        ("http://1.2.3.4.5/", (), False),  # no host two clients read alike
        ("http://[/", (), False),
    ],
)
def test_points_inside_reads_the_host_whatever_the_port_and_userinfo(
    url: str, addresses: tuple[str, ...], inside: bool
) -> None:
    assert points_inside(url, addresses) is inside


def test_the_fast_reading_of_a_plain_url_gives_what_reading_it_whole_gives() -> None:
    """`vet_static` takes a common URL (http(s), a lower-case host name, no port) at
    once; every verdict must be the one reading the whole URL gives, for hosts and
    settings on both sides of each rule."""
    from itertools import product

    from aggregator.links.netguard import _PLAIN_URL
    from aggregator.links.netguard import _vet_read

    label = "a" * 63
    hosts = [
        *("example.com", "Example.com", "sub.example.co.uk", "_dmarc.example.org", "-a-.b"),
        *("localhost", "a.localhost", "localhost.example.com", "x.localhost.", "LOCALHOST"),
        *("127.0.0.1", "1.2.3.4", "0x7f.1", "10", "example.123", "x.0x1f", "x.0xg", "8.8.8.8"),
        *("a..b", "example.com.", ".example.com", f"{label}.com", f"{label}a.com", "é.com"),
        *(".".join([label] * 16), ".".join(["ab"] * 400), "[::1]", "[2001:db8::1]", "xn--e-9a.c"),
    ]
    tails = ["", "/", "/a/b?q=1#f", "?q", "#f", "/a b", "/a\\b", "/ü", "/\x7f", "/[x]", "\\x", ":"]
    prefixes = [
        "http://",
        "https://",
        "HTTP://",
        "ftp://",
        "//",
        "http:/",
        "https://u@",
        "http://u:p@",
    ]
    ports = ["", ":80", ":443", ":8080", ":", ":0"]
    settings = [
        (False, frozenset({80, 443})),
        (True, frozenset({80, 443})),
        (False, frozenset({443})),
    ]
    seen = plainly = 0
    for prefix, host, port, tail in product(prefixes, hosts, ports, tails):
        url = f"{prefix}{host}{port}{tail}"
        for allow_private, allowed in settings:
            fast = vet_static(url, allow_private=allow_private, ports=allowed)
            assert fast == _vet_read(url, allow_private, allowed), (url, allow_private, allowed)
            seen += isinstance(fast, Lookup)
            # What the link policy asks, without the `Lookup` of a plain URL: the same
            # refusal, and None for anything else.
            refusal = static_refusal(url, allow_private, allowed)
            assert refusal == (fast if isinstance(fast, Refusal) else None)
            plainly += refusal is None and _PLAIN_URL.fullmatch(url) is not None
    assert seen > 1000  # the fast reading was taken, not only refused
    assert plainly > 100  # and so was the shortcut of the link policy
