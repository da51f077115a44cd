"""URL canonicalisation: every form of one page is one string, distinct pages stay apart."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import example
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from aggregator.stories import urls as url_forms
from aggregator.stories.urls import canonical_url
from aggregator.stories.urls import clean_url
from aggregator.stories.urls import is_web_url
from aggregator.stories.urls import web_uri

# Every form of one story that real files hold, seeds included, and the canonical form.
SAME_PAGE = [
    (
        "https://thehill.com/policy/technology/505563-dozens",
        [
            "https://thehill.com/policy/technology/505563-dozens?amp",
            "https://thehill-com.cdn.ampproject.org/c/s/thehill.com/policy/technology/505563-dozens?amp",
            "http://thehill.com/policy/technology/505563-dozens",
            "HTTPS://TheHill.COM:443/policy/technology/505563-dozens/#comments",
            "https://www.thehill.com/policy/technology/505563-dozens?utm_source=twitter&utm_medium=social",
        ],
    ),
    (
        "https://qz.com/1876072/the-lobbyists",
        [
            "https://qz.com/1876072/the-lobbyists/",
            "https://qz.com/1876072/the-lobbyists/amp/",
            "https://qz-com.cdn.ampproject.org/c/s/qz.com/1876072/the-lobbyists/amp/",
        ],
    ),
    (
        "https://bizjournals.com/boston/news/2020/07/02/easthampton.html",
        [
            "https://www.bizjournals.com/boston/news/2020/07/02/easthampton.html",
            "https://www.bizjournals.com/boston/news/2020/07/02/easthampton.amp.html",
        ],
    ),
    (
        "https://masslive.com/news/2020/07/x.html",
        [
            "https://www.masslive.com/news/2020/07/x.html?outputType=amp",
            "https://www-masslive-com.cdn.ampproject.org/c/s/www.masslive.com/news/2020/07/x.html?outputType=amp",
        ],
    ),
    ("https://watoday.com.au/national/x.html", ["https://amp.watoday.com.au/national/x.html"]),
    (
        # Hosts are case-insensitive, an internationalised one too (RFC 3986 3.2.2)
        "https://xn--bcher-kva.example/story",
        [
            "https://bücher.example/story",
            "https://Bücher.example/story",
            "https://BÜCHER.example/story",
            "https://WWW.Bücher.example./story/",
        ],
    ),
    (
        "https://news.xn--r8jz45g.xn--zckzah/story",
        ["https://News.例え.テスト/story", "https://NEWS.例え.テスト/story"],
    ),
    ("https://foxnews.com/tech/boston-bans", ["https://www.foxnews.com/tech/boston-bans.amp"]),
    (
        "https://dailymail.co.uk/sciencetech/article-8464719/Boston.html",
        ["https://www.dailymail.co.uk/sciencetech/article-8464719/amp/Boston.html"],
    ),
    (
        "https://govtech.com/security/Privacy.html",
        ["https://www.govtech.com/security/Privacy.html?AMP"],
    ),
    (
        "https://cnet.com/news/facial-recognition",
        ["https://www.cnet.com/google-amp/news/facial-recognition/"],
    ),
    ("https://cnbc.com/2020/12/10/deere.html", ["https://www.cnbc.com/amp/2020/12/10/deere.html"]),
    (
        "https://washingtonexaminer.com/news/human",
        ["https://www.washingtonexaminer.com/news/human?_amp=true"],
    ),
    (
        "https://example.com/a?a=1&b=2",
        [
            "https://example.com/a?b=2&a=1",
            "https://example.com/a?b=2&fbclid=XYZ&a=1&gclid=1&mc_cid=2&mc_eid=3&ref=rss&ocid=msn",
            "https://example.com:443/a?a=1&b=2#top",
        ],
    ),
    ("https://example.com/~user/%C3%A9", ["https://example.com/%7euser/%c3%a9"]),
    (
        "https://example.com/",
        ["https://example.com", "https://www.example.com/", "http://EXAMPLE.com:80"],
    ),
]


@pytest.mark.parametrize(("expected", "forms"), SAME_PAGE, ids=[e for e, _ in SAME_PAGE])
def test_every_form_of_a_page_has_one_canonical_url(expected: str, forms: list[str]) -> None:
    assert canonical_url(expected) == expected
    for form in forms:
        assert canonical_url(form) == expected, form


DIFFERENT_PAGES = [
    ("https://example.com/A", "https://example.com/a"),  # paths are case-sensitive
    ("https://example.com/a?id=1", "https://example.com/a?id=2"),
    ("https://example.com/a", "https://example.com:8443/a"),
    ("https://example.com/a", "https://example.org/a"),
    ("https://news.example.com/a", "https://example.com/a"),
    ("https://example.com/a%2Fb", "https://example.com/a/b"),  # an escaped slash is data
    ("https://example.com/amplifiers", "https://example.com/"),
    ("https://example.com/a?page=2", "https://example.com/a"),
]


@pytest.mark.parametrize(("a", "b"), DIFFERENT_PAGES)
def test_different_pages_stay_different(a: str, b: str) -> None:
    assert canonical_url(a) != canonical_url(b)


urls = st.builds(
    lambda scheme, host, path, query: f"{scheme}://{host}/{path}{query}",
    st.sampled_from(["http", "https", "HTTPS"]),
    st.sampled_from(
        ["example.com", "www.Example.com", "amp.news.example.org", "a.b.c.d", "WWW.Bücher.example"]
    ),
    st.text(alphabet="abcAB019-_.~%/", max_size=30),
    st.sampled_from(["", "?a=1", "?amp", "?utm_source=x&b=2&a=1", "?x=%41#frag"]),
)


@settings(max_examples=300, deadline=None)
@given(urls)
def test_canonical_url_is_idempotent(url: str) -> None:
    once = canonical_url(url)
    assert canonical_url(once) == once
    assert is_web_url(once)


# URLs as files hold them: mostly plain ASCII URIs, some with what `clean_url` changes.
written_urls = st.builds(
    lambda scheme, host, rest: f"{scheme}{host}{rest}",
    st.sampled_from(["http://", "https://", "HTTP://", "ftp://", " https://", "https:/", ""]),
    st.sampled_from(
        ["example.com", "A.b-c.org", "", "bücher.example", "BÜCHER.example", "[::1]", "x.com:8080"]
    ),
    st.lists(st.sampled_from([*"aZ9-._~/:?#@!$&'()*+,;=%[] \t\"<>é", "%41", "%zz"])).map("".join),
)


@pytest.mark.e2e
@settings(max_examples=2000, deadline=None)
@given(written_urls)
@example("https://example.com#")  # an empty query or fragment is dropped
@example("https://example.com/a?")
@example("https://example.com/a?#")
@example("http://example.com?x=1")  # a query straight after the host
@example("https://example.com/a%zz")  # a stray percent is escaped
@example("https://example.com/a%9")  # half an escape: the percent is escaped
@example("https://example.com/%41%4?q=%4#%")
@example("https://example.com/%41?q=%2F#%e9")  # whole escapes are kept
@example("https://example.com/a b")
@example("https://example.com/[x]")
@example("https://example.com:99999/")  # no such port
@example("HTTPS://example.com/")  # the scheme is lower-cased
@example("https://example.com/a\n")
def test_web_uri_is_clean_url_of_a_web_url(url: str) -> None:
    expected = clean_url(url) if is_web_url(url.strip()) else None
    assert web_uri(url) == expected


def test_clean_url_makes_a_valid_uri() -> None:
    assert clean_url(" https://bücher.example/straße?q=ä b&x=% ") == (
        "https://xn--bcher-kva.example/stra%C3%9Fe?q=%C3%A4%20b&x=%25"
    )
    assert clean_url("https://example.com/a%20b") == "https://example.com/a%20b"


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("https://Bücher.example/story", "https://xn--bcher-kva.example/story"),
        ("https://BÜCHER.example/story", "https://xn--bcher-kva.example/story"),
        ("https://News.例え.テスト/story", "https://news.xn--r8jz45g.xn--zckzah/story"),
        ("https://IMG.例え.テスト/ü.PNG", "https://img.xn--r8jz45g.xn--zckzah/%C3%BC.PNG"),
        ("http://Straße.example:8080/a?b=Ä", "http://strasse.example:8080/a?b=%C3%84"),
        ("https://İstanbul.example/haber", "https://xn--istanbul-o0e.example/haber"),
        (
            "https://Bücher.example@Bücher.example/a",
            "https://B%C3%BCcher.example@xn--bcher-kva.example/a",
        ),
    ],
)
def test_an_internationalised_host_in_any_case_is_written_in_idna_form(
    written: str, expected: str
) -> None:
    assert web_uri(written) == expected


# Internationalised host names in lower case: letters of several scripts, with a case
# and without (not `ß`: its upper case is the ASCII `SS`, kept as written)
idn_hosts = (
    st.lists(
        st.text(alphabet="abcxyzüéøæłñçάλωжя例え", min_size=1, max_size=12),
        min_size=1,
        max_size=3,
    )
    .map(lambda labels: ".".join([*labels, "example"]))
    .filter(lambda host: not host.isascii())
)


@settings(max_examples=500, deadline=None)
@given(idn_hosts, st.lists(st.booleans(), min_size=1, max_size=40))
@example("bücher.example", [True])
@example("news.例え.テスト", [True, False])
def test_a_host_written_in_any_case_is_one_url_and_one_story(
    host: str, capitals: list[bool]
) -> None:
    mixed = "".join(c.upper() if capitals[n % len(capitals)] else c for n, c in enumerate(host))
    cases = [host, host.upper(), host.title(), mixed]
    found = {web_uri(f"https://{written}/a-story") for written in cases}
    # one URL, the host in IDNA form (lower-case ASCII, no escape)
    assert found == {f"https://{host.encode('idna').decode('ascii')}/a-story"}, cases
    keys = {canonical_url(f"https://{written}/a-story") for written in cases}
    assert keys == found


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/a",
        "http://example.com",
        "HTTPS://EXAMPLE.COM/",
        "https://example.com:8443/a",
        "https://bücher.example/ein-buch",
        "https://my_host.example.com/",
        "http://192.0.2.7/a",
        "http://[2001:db8::1]:8080/a",
    ],
)
def test_is_web_url_accepts_absolute_http_urls(url: str) -> None:
    assert is_web_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(document.cookie)",
        "ftp://example.com/file.txt",
        "mailto:editor@example.com",
        "/relative/path",
        "relative/path",
        "//example.com/no-scheme",
        "https://",
        "http:///path-only",
        "https://example.com:99999/a",
        "https://example.com:port/a",
        "https://&amp;&amp;example.com/a",
        "https://exa mple.com/a",
        "https://example.com<script>/a",
        "http://[not:an:address]/a",
        "",
    ],
)
def test_is_web_url_rejects(url: str) -> None:
    assert not is_web_url(url)


# URLs near the edges of the plain form `canonical_url` puts together at once.
near_plain_urls = st.builds(
    lambda scheme, host, path, rest: f"{scheme}{host}{path}{rest}",
    st.sampled_from(["http://", "https://", "HTTPS://", "Http://", " https://"]),
    st.sampled_from(
        [
            *("example.com", "www.example.com", "www.com", "amp.www.news.org", "www.amp.x.com"),
            *(
                "Example.com",
                "a.b.c.d",
                "127.0.0.1",
                "x-com.cdn.ampproject.org",
                "xn--bcher-kva.de",
            ),
            *("example.com.", "a..b", "user@example.com", "example.com:443", "example.com:8080"),
            *("[::1]", "a_b.com", "bücher.de", "Bücher.de", "-a.com", ""),
        ]
    ),
    st.lists(
        st.sampled_from(
            [
                *("/", "/a", "/B", "//", "/amp", "/AMP", "/google-amp", "/x.amp", "/x.amp.html"),
                *("/example", "/%41", "/%7e", "/%zz", "/a b", "/é", "/:@!$&'()*+,;=", "/~-._"),
                *("/a/", "/c/s/example.com/a", "/c/s/news.org/a", "/v/b.org", "/x\t", "/x\n"),
            ]
        ),
        max_size=4,
    ).map("".join),
    st.sampled_from(["", "?", "?a=1", "?amp", "?utm_source=x", "#f", "?b=2&a=1#x", " "]),
)


@pytest.mark.e2e
@settings(max_examples=3000, deadline=None, derandomize=True)
@given(near_plain_urls)
@example("https://www.example.com/a/b/")
@example("https://example.com")
@example("http://amp.example.co.uk/news/1")
def test_the_plain_form_is_put_together_as_it_is_taken_apart(url: str) -> None:
    """`canonical_url` puts a plain URL together without taking it apart; whatever the
    URL, that gives what taking it apart gives (`_canonical`)."""
    assert canonical_url.__wrapped__(url) == url_forms._canonical(url)


def test_the_plain_form_is_the_common_one() -> None:
    # The shortcut is taken for the URLs of the seeds: it is exercised, not dead code.
    seeds = Path(__file__).resolve().parents[2] / "seeds"
    found = [
        u for p in sorted(seeds.glob("*.md")) for u in re.findall(r"https?://\S+", p.read_text())
    ]
    plain = [u for u in found if url_forms._PLAIN_PAGE.fullmatch(u)]
    assert len(plain) >= len(found) // 2, (len(plain), len(found))
    for url in found:
        assert canonical_url.__wrapped__(url) == url_forms._canonical(url), url


@pytest.mark.parametrize(
    ("host", "too_long"),
    [
        ("a" * 126, False),
        ("a" * 127, True),
        ("a" * 126 + ".com", False),
        ("b." + "a" * 127, True),
        (".".join(["a" * 60] * 16), False),  # long, of short labels
        ("\u3002".join(["a" * 127, "com"]), True),  # an ideographic full stop splits too
        (".".join(["a" * 63] * 16) + ".x", True),  # over 1,012 characters
    ],
)
def test_a_host_idna_cannot_encode_is_told_by_its_length_and_labels(
    host: str, too_long: bool
) -> None:
    assert url_forms.idna_too_long(host) is too_long
