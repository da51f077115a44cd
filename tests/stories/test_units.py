"""Unit tests of the pure parts: topic slugs, dedupe, filters and config."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from aggregator.config import DEFAULT_BASE_URL
from aggregator.config import Config
from aggregator.config import TopicSettings
from aggregator.config import load_config
from aggregator.config import parse_duration
from aggregator.errors import ConfigError
from aggregator.model import Article
from aggregator.model import Duplicate
from aggregator.model import Exclusion
from aggregator.rendering.slugs import topic_slug
from aggregator.stories.dedupe import dedupe
from aggregator.stories.filters import select
from aggregator.stories.topics import topic_key
from aggregator.stories.urls import canonical_url

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
SLUG = re.compile(r"^[a-z0-9-]+$")


def make_article(
    path: str,
    *,
    urls: tuple[str, ...] | None = None,
    quality: int | None = 80,
    published: bool = True,
    published_at: datetime = datetime(2026, 11, 1, 12, 0, tzinfo=UTC),
    topics: tuple[str, ...] = ("AI",),
) -> Article:
    """An Article record; its link is the first of `urls` (default: one URL from the path)."""
    if urls is None:
        urls = (f"https://news.example.com/{path.removesuffix('.md')}",)
    return Article(
        path=path,
        title=f"Title of {path}",
        excerpt="",
        published_at=published_at,
        link=urls[0],
        urls=urls,
        kind="article",
        quality=quality,
        published=published,
        provider=None,
        topics=topics,
        images=(),
        related=(),
    )


# -------------------------------------------------------------------------- slugs


def test_slugs_of_c_family_differ() -> None:
    slugs = {topic_slug("C++"), topic_slug("C#"), topic_slug("C")}
    assert len(slugs) == 3
    assert all(SLUG.fullmatch(s) for s in slugs)


def test_plain_slug() -> None:
    assert topic_slug("Computer Vision") == "computer-vision"
    assert topic_slug("Computer   Vision") == "computer-vision"


@pytest.mark.parametrize(
    "names",
    [
        ("AI", "ai", " AI ", "Ai", "\tAI\n"),
        ("Computer Vision", "computer vision", "  COMPUTER  vision "),
        ("C++", "c++", " C++ "),
        ("Künstliche Intelligenz", "KÜNSTLICHE INTELLIGENZ", "künstliche  intelligenz"),
    ],
)
def test_one_topic_one_slug(names: tuple[str, ...]) -> None:
    assert len({topic_key(n) for n in names}) == 1
    assert len({topic_slug(n) for n in names}) == 1


@pytest.mark.parametrize(
    "names",
    [
        # one topic by topic_key (casefold), so one feed file whichever spelling wins
        ("Straße", "STRASSE", "strasse"),
        ("\u212aelvin", "Kelvin"),  # KELVIN SIGN casefolds to "k"
    ],
    ids=["sharp-s", "kelvin-sign"],
)
def test_one_topic_one_slug_when_casefold_differs_from_lower(names: tuple[str, ...]) -> None:
    assert len({topic_key(n) for n in names}) == 1
    assert len({topic_slug(n) for n in names}) == 1, {n: topic_slug(n) for n in names}


def test_non_ascii_names_give_distinct_url_safe_slugs() -> None:
    names = ["Künstliche Intelligenz", "人工知能", "Ωmega"]
    slugs = [topic_slug(n) for n in names]
    for slug in slugs:
        assert slug
        assert slug.isascii()
        assert SLUG.fullmatch(slug), slug
    assert len(set(slugs)) == len(names)
    assert slugs[0].startswith("kunstliche-intelligenz")


def test_slugs_are_stable() -> None:
    for name in ["C++", "人工知能", "Computer Vision", "Ωmega"]:
        assert topic_slug(name) == topic_slug(name)
    # fixed values: a slug is a feed's file name, so it must not change between releases
    assert topic_slug("Computer Vision") == "computer-vision"
    assert topic_slug("C") == "c"


def test_digest_only_slug_does_not_collide_with_a_plain_name() -> None:
    # A name with no ASCII letters gets a slug made of the digest alone, which is
    # itself a plain name: a topic called that must not share its feed file.
    cjk = "人工知能"
    slug = topic_slug(cjk)
    assert topic_key(slug) != topic_key(cjk)
    assert topic_slug(slug) != slug


topic_names = st.text(
    alphabet=st.one_of(
        st.sampled_from("abcABC xyzXYZ019+#&-_.é人Ω"),
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
    ),
    min_size=0,
    max_size=90,
)


@settings(max_examples=200, deadline=None)
@given(topic_names, topic_names)
def test_property_different_topics_have_different_slugs(a: str, b: str) -> None:
    if topic_key(a) != topic_key(b):
        assert topic_slug(a) != topic_slug(b)


@settings(max_examples=200, deadline=None)
@given(topic_names)
def test_property_slug_is_url_safe_and_short(name: str) -> None:
    slug = topic_slug(name)
    assert SLUG.fullmatch(slug), slug
    assert len(slug) <= 80
    assert topic_slug(name) == slug


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789 ", min_size=1, max_size=100))
def test_property_plain_names_and_case_variants(name: str) -> None:
    slug = topic_slug(name)
    assert SLUG.fullmatch(slug), slug
    assert len(slug) <= 80
    assert topic_slug(name.upper()) == slug
    assert topic_slug(f"  {name.title()} ") == slug


# -------------------------------------------------------------------------- dedupe


def test_dedupe_same_url_keeps_highest_quality_and_merges_topics() -> None:
    low = make_article(
        "low.md", urls=("https://example.com/story",), quality=60, topics=("AI", "Robotics")
    )
    high = make_article(
        "high.md",
        urls=("https://other.example.com/x", "HTTPS://Example.com:443/story#top"),
        quality=90,
        topics=("Cloud", "ai"),
    )
    kept, duplicates = dedupe([low, high])
    assert [a.path for a in kept] == ["high.md"]
    assert kept[0].topics == ("Cloud", "ai", "Robotics")
    assert kept[0].quality == 90
    assert duplicates == [Duplicate(kept="high.md", dropped=("low.md",), reason="same-url")]


@pytest.mark.parametrize(
    ("a_urls", "b_urls"),
    [
        # webUrl / originalUrl / ampWebUrl / cdnAmpWebUrl all land in Article.urls
        (("https://example.com/a",), ("https://mirror.example.net/a", "https://example.com/a")),
        (
            ("https://example.com/a", "https://example.com/a/amp"),
            ("https://elsewhere.example.org/z", "https://example.com/a/amp"),
        ),
        (
            ("https://example.com/a",),
            ("https://example-com.cdn.ampproject.org/c/s/example.com/a",),
        ),
        (("http://Example.com:80/a#x",), ("http://example.com/a",)),
    ],
)
def test_dedupe_any_shared_canonical_url_is_one_story(
    a_urls: tuple[str, ...], b_urls: tuple[str, ...]
) -> None:
    a = make_article("a.md", urls=a_urls)
    b = make_article("b.md", urls=b_urls)
    kept, duplicates = dedupe([a, b])
    assert len(kept) == 1
    assert len(duplicates) == 1
    assert duplicates[0].reason == "same-url"
    assert {duplicates[0].kept, *duplicates[0].dropped} == {"a.md", "b.md"}


def test_dedupe_tie_on_quality_keeps_earliest() -> None:
    url = ("https://example.com/a",)
    early = make_article(
        "z-early.md", urls=url, quality=70, published_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    late = make_article(
        "a-late.md", urls=url, quality=70, published_at=datetime(2026, 1, 2, tzinfo=UTC)
    )
    for order in ([early, late], [late, early]):
        kept, duplicates = dedupe(order)
        assert [a.path for a in kept] == ["z-early.md"]
        assert duplicates == [Duplicate("z-early.md", ("a-late.md",), "same-url")]


def test_dedupe_tie_on_quality_and_date_keeps_first_path() -> None:
    url = ("https://example.com/a",)
    b = make_article("b.md", urls=url, topics=("Beta",))
    a = make_article("a.md", urls=url, topics=("Alpha",))
    c = make_article("c.md", urls=url, topics=("Gamma",))
    kept, duplicates = dedupe([b, c, a])
    assert [x.path for x in kept] == ["a.md"]
    assert kept[0].topics == ("Alpha", "Beta", "Gamma")
    assert duplicates == [Duplicate("a.md", ("b.md", "c.md"), "same-url")]


def test_dedupe_missing_quality_loses() -> None:
    url = ("https://example.com/a",)
    none = make_article("a.md", urls=url, quality=None)
    zero = make_article("b.md", urls=url, quality=0)
    kept, _ = dedupe([none, zero])
    assert [x.path for x in kept] == ["b.md"]


def test_dedupe_transitive_chain_is_one_cluster() -> None:
    a = make_article("a.md", urls=("https://example.com/1",), quality=50, topics=("A",))
    b = make_article(
        "b.md",
        urls=("https://example.com/1", "https://example.com/2"),
        quality=60,
        topics=("B",),
    )
    c = make_article("c.md", urls=("https://example.com/2",), quality=99, topics=("C",))
    # order in which A and C are seen before the bridge B must not matter
    for order in ([a, b, c], [a, c, b], [c, a, b], [b, c, a]):
        kept, duplicates = dedupe(order)
        assert [x.path for x in kept] == ["c.md"]
        assert kept[0].topics == ("C", "B", "A")
        assert duplicates == [Duplicate("c.md", ("b.md", "a.md"), "same-url")]


def test_dedupe_distinct_urls_stay_distinct() -> None:
    articles = [
        make_article("a.md", urls=("https://example.com/a",)),
        make_article("b.md", urls=("https://example.com/A",)),  # paths are case-sensitive
        make_article("c.md", urls=("https://example.com/a?page=2",)),
        make_article("d.md", urls=("https://example.com:8443/a",)),
        make_article("e.md", urls=("http://example.org/a",)),
    ]
    kept, duplicates = dedupe(articles)
    assert kept == articles
    assert duplicates == []


def test_dedupe_single_article_with_repeated_urls() -> None:
    a = make_article("a.md", urls=("https://example.com/a", "https://EXAMPLE.com/a#x"))
    kept, duplicates = dedupe([a])
    assert kept == [a]
    assert duplicates == []


def test_dedupe_empty() -> None:
    assert dedupe([]) == ([], [])


URL_POOL = [
    "https://example.com/1",
    "HTTPS://EXAMPLE.com:443/1#frag",
    "https://example.com/2",
    "https://example-com.cdn.ampproject.org/c/s/example.com/2",
    "https://example.com/3",
    "http://example.com/3",
    "https://example.org/4",
    "https://example.org/5",
    "https://example.org/6",
]
TOPIC_POOL = ["AI", "ai", "Robotics", "C++", "Cloud", "人工知能"]
DATES = [datetime(2026, 1, d, tzinfo=UTC) for d in (1, 2, 3)]


@st.composite
def article_lists(draw: st.DrawFn) -> list[Article]:
    count = draw(st.integers(min_value=0, max_value=8))
    articles = []
    for index in range(count):
        urls = draw(st.lists(st.sampled_from(URL_POOL), min_size=1, max_size=3, unique=True))
        topics = draw(
            st.lists(st.sampled_from(TOPIC_POOL), max_size=3, unique_by=lambda t: t.casefold())
        )
        articles.append(
            make_article(
                f"{index:02d}.md",
                urls=tuple(urls),
                quality=draw(st.sampled_from([None, 40, 70, 70, 90])),
                published_at=draw(st.sampled_from(DATES)),
                topics=tuple(topics),
            )
        )
    return articles


def _outcome(
    result: tuple[list[Article], list[Duplicate]],
) -> tuple[frozenset[tuple[str, tuple[str, ...]]], frozenset[Duplicate]]:
    kept, duplicates = result
    return frozenset((a.path, a.topics) for a in kept), frozenset(duplicates)


@pytest.mark.e2e
@settings(max_examples=150, deadline=None)
@given(st.data())
def test_property_dedupe_is_independent_of_input_order(data: st.DataObject) -> None:
    articles = data.draw(article_lists())
    shuffled = data.draw(st.permutations(articles))
    assert _outcome(dedupe(shuffled)) == _outcome(dedupe(articles))


@pytest.mark.e2e
@settings(max_examples=150, deadline=None)
@given(article_lists())
def test_property_dedupe_invariants_and_idempotence(articles: list[Article]) -> None:
    kept, duplicates = dedupe(articles)
    # every input is kept or dropped, exactly once
    paths = [a.path for a in kept] + [p for d in duplicates for p in d.dropped]
    assert sorted(paths) == sorted(a.path for a in articles)
    assert {d.kept for d in duplicates} <= {a.path for a in kept}
    # no two survivors share a canonical URL
    seen: dict[str, str] = {}
    for article in kept:
        for url in {canonical_url(u) for u in article.urls}:
            assert url not in seen, (url, seen.get(url), article.path)
            seen[url] = article.path
    # the survivor is the best of its cluster and carries every topic of it
    by_path = {a.path: a for a in articles}
    for duplicate in duplicates:
        survivor = next(a for a in kept if a.path == duplicate.kept)
        original = by_path[duplicate.kept]
        assert survivor.topics[: len(original.topics)] == original.topics
        best = -1 if original.quality is None else original.quality
        for path in duplicate.dropped:
            dropped = by_path[path]
            assert (-1 if dropped.quality is None else dropped.quality) <= best
            assert {t.casefold() for t in dropped.topics} <= {t.casefold() for t in survivor.topics}
    # idempotent: dedupe of the output drops nothing
    again, more = dedupe(kept)
    assert again == kept
    assert more == []


# ------------------------------------------------------------------------- filters


def _excluded_from_all(selection_excluded: tuple[Exclusion, ...], path: str) -> list[Exclusion]:
    return [e for e in selection_excluded if e.path == path and e.topic is None]


def test_select_excludes_unpublished() -> None:
    draft = make_article("draft.md", published=False)
    live = make_article("live.md")
    selection = select([draft, live], Config(), NOW)
    assert [a.path for a in selection.kept] == ["live.md"]
    assert "draft.md" not in selection.topics
    [exclusion] = selection.excluded
    assert exclusion.path == "draft.md"
    assert exclusion.code == "unpublished"
    assert exclusion.topic is None
    assert exclusion.reason


def test_select_include_unpublished() -> None:
    draft = make_article("draft.md", published=False)
    selection = select([draft], Config(include_unpublished=True), NOW)
    assert [a.path for a in selection.kept] == ["draft.md"]
    assert selection.topics["draft.md"] == ("AI",)
    assert selection.excluded == ()


@pytest.mark.parametrize(("quality", "kept"), [(69, False), (70, True), (71, True)])
def test_select_min_quality_is_inclusive(quality: int, kept: bool) -> None:
    article = make_article("a.md", quality=quality)
    selection = select([article], Config(min_quality=70), NOW)
    assert (article in selection.kept) is kept
    if not kept:
        [exclusion] = selection.excluded
        assert exclusion.code == "quality"
        assert exclusion.topic is None
        assert "69" in exclusion.reason and "70" in exclusion.reason
    else:
        assert selection.excluded == ()


def test_select_topicless_article_uses_global_threshold() -> None:
    good = make_article("good.md", quality=50, topics=())
    bad = make_article("bad.md", quality=49, topics=())
    selection = select([good, bad], Config(min_quality=50), NOW)
    assert [a.path for a in selection.kept] == ["good.md"]
    assert selection.topics["good.md"] == ()
    assert [(e.path, e.code) for e in selection.excluded] == [("bad.md", "quality")]


def test_select_missing_quality_is_below_a_positive_threshold() -> None:
    article = make_article("a.md", quality=None)
    selection = select([article], Config(min_quality=1), NOW)
    assert selection.kept == ()
    [exclusion] = selection.excluded
    assert exclusion.code == "quality"
    assert exclusion.reason


def test_select_per_topic_threshold_excludes_from_that_topic_only() -> None:
    config = Config(min_quality=50, topics={"computer vision": TopicSettings(min_quality=90)})
    article = make_article("a.md", quality=80, topics=("Computer Vision", "AI"))
    selection = select([article], config, NOW)
    assert selection.kept == (article,)
    assert selection.topics["a.md"] == ("AI",)
    [exclusion] = selection.excluded
    assert exclusion == Exclusion("a.md", "quality", exclusion.reason, "Computer Vision")
    assert exclusion.reason
    assert "90" in exclusion.reason


def test_select_per_topic_threshold_is_inclusive_and_case_insensitive() -> None:
    config = Config(min_quality=50, topics={"computer vision": TopicSettings(min_quality=90)})
    article = make_article("a.md", quality=90, topics=("COMPUTER VISION",))
    selection = select([article], config, NOW)
    assert selection.topics["a.md"] == ("COMPUTER VISION",)
    assert selection.excluded == ()


def test_select_per_topic_threshold_can_be_lower_than_global() -> None:
    config = Config(min_quality=70, topics={"niche": TopicSettings(min_quality=30)})
    article = make_article("a.md", quality=40, topics=("Niche", "AI"))
    selection = select([article], config, NOW)
    assert selection.kept == (article,)
    assert selection.topics["a.md"] == ("Niche",)
    assert [(e.code, e.topic) for e in selection.excluded] == [("quality", "AI")]


def test_select_topic_setting_without_threshold_uses_global() -> None:
    config = Config(min_quality=60, topics={"ai": TopicSettings()})
    low = make_article("low.md", quality=59)
    ok = make_article("ok.md", quality=60)
    selection = select([low, ok], config, NOW)
    assert [a.path for a in selection.kept] == ["ok.md"]


def test_select_article_missing_every_topic_is_excluded_once_from_all() -> None:
    config = Config(min_quality=50, topics={"computer vision": TopicSettings(min_quality=90)})
    article = make_article("a.md", quality=40, topics=("Computer Vision", "AI"))
    selection = select([article], config, NOW)
    assert selection.kept == ()
    assert "a.md" not in selection.topics
    exclusions = _excluded_from_all(selection.excluded, "a.md")
    assert len(exclusions) == 1
    assert exclusions[0].code == "quality"


def test_select_max_age() -> None:
    config = Config(max_age=timedelta(days=30))
    old = make_article("old.md", published_at=NOW - timedelta(days=31))
    fresh = make_article("fresh.md", published_at=NOW - timedelta(days=29))
    edge = make_article("edge.md", published_at=NOW - timedelta(days=30))
    selection = select([old, fresh, edge], config, NOW)
    assert [a.path for a in selection.kept] == ["fresh.md", "edge.md"]
    [exclusion] = selection.excluded
    assert exclusion.path == "old.md"
    assert exclusion.code == "max-age"
    assert exclusion.topic is None
    assert exclusion.reason


def test_select_max_age_is_relative_to_now() -> None:
    config = Config(max_age=timedelta(days=7))
    article = make_article("a.md", published_at=datetime(2020, 1, 1, tzinfo=UTC))
    assert select([article], config, datetime(2020, 1, 5, tzinfo=UTC)).kept == (article,)
    later = select([article], config, datetime(2020, 1, 9, tzinfo=UTC))
    assert later.kept == ()
    assert [e.code for e in later.excluded] == ["max-age"]


def test_select_no_max_age_keeps_old_articles() -> None:
    article = make_article("a.md", published_at=datetime(1999, 1, 1, tzinfo=UTC))
    assert select([article], Config(), NOW).kept == (article,)


def test_select_every_left_out_article_has_a_reason() -> None:
    config = Config(
        min_quality=50,
        max_age=timedelta(days=30),
        topics={"robotics": TopicSettings(min_quality=85)},
    )
    articles = [
        make_article("draft.md", published=False),
        make_article("old.md", published_at=NOW - timedelta(days=40)),
        make_article("weak.md", quality=10),
        make_article("none.md", quality=None),
        make_article("topicless-weak.md", quality=10, topics=()),
        make_article("robotics-only.md", quality=80, topics=("Robotics",)),
        make_article("mixed.md", quality=80, topics=("Robotics", "AI")),
        make_article("good.md", quality=95, topics=("Robotics", "AI")),
        make_article("old-draft.md", published=False, published_at=NOW - timedelta(days=40)),
    ]
    selection = select(articles, config, NOW)
    kept = {a.path for a in selection.kept}
    assert kept == {"mixed.md", "good.md"}
    for article in articles:
        whole = _excluded_from_all(selection.excluded, article.path)
        if article.path in kept:
            assert whole == []
        else:
            assert len(whole) == 1, article.path
            assert whole[0].reason
            assert whole[0].code in {"unpublished", "quality", "max-age"}
    codes = {e.path: e.code for e in selection.excluded if e.topic is None}
    assert codes == {
        "draft.md": "unpublished",
        "old.md": "max-age",
        "weak.md": "quality",
        "none.md": "quality",
        "topicless-weak.md": "quality",
        "robotics-only.md": "quality",
        "old-draft.md": "unpublished",
    }
    per_topic = [(e.path, e.topic) for e in selection.excluded if e.topic is not None]
    assert per_topic == [("mixed.md", "Robotics")]
    assert selection.topics == {"mixed.md": ("AI",), "good.md": ("Robotics", "AI")}
    assert all(e.reason for e in selection.excluded)


# -------------------------------------------------------------------------- config

FULL_CONFIG = """\
# every key
sources:
  - articles
  - more/articles
patterns: ["*.md", "*.yaml"]
output: public/feeds
base_url: https://news.example.com/feeds
title: Example News
description: All the news.
language: de
limit: 25
min_quality: 65
include_unpublished: true
max_age: 30d
topics:
  Computer Vision:
    min_quality: 90
  AI: {}
"""


def _write(folder: Path, text: str, name: str = "aggregator.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_config_every_key(tmp_path: Path) -> None:
    path = _write(tmp_path / "site", FULL_CONFIG)
    config = load_config(path)
    folder = tmp_path / "site"
    assert config.sources == (folder / "articles", folder / "more" / "articles")
    assert config.patterns == ("*.md", "*.yaml")
    assert config.output == folder / "public" / "feeds"
    assert config.base_url == "https://news.example.com/feeds/"
    assert config.title == "Example News"
    assert config.description == "All the news."
    assert config.language == "de"
    assert config.limit == 25
    assert config.min_quality == 65
    assert config.include_unpublished is True
    assert config.max_age == timedelta(days=30)
    assert dict(config.topics) == {
        "computer vision": TopicSettings(min_quality=90),
        "ai": TopicSettings(min_quality=None),
    }
    assert config.topic_min_quality("Computer Vision") == 90
    assert config.topic_min_quality("AI") == 65
    assert config.topic_min_quality("Robotics") == 65


def test_load_config_relative_paths_resolve_against_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path / "site", "sources: articles\noutput: out\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(path)
    assert config.sources == (tmp_path / "site" / "articles",)
    assert config.output == tmp_path / "site" / "out"
    # a relative config path: still anchored at the config file's folder
    relative = load_config(Path("../site/aggregator.yaml"))
    assert [p.resolve() for p in relative.sources] == [(tmp_path / "site" / "articles").resolve()]


def test_load_config_absolute_source_kept(tmp_path: Path) -> None:
    absolute = tmp_path / "abs"
    path = _write(tmp_path / "site", f"sources: ['{absolute}']\n")
    assert load_config(path).sources == (absolute,)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://news.example.com/feeds", "https://news.example.com/feeds/"),
        ("https://news.example.com/feeds/", "https://news.example.com/feeds/"),
        ("https://news.example.com", "https://news.example.com/"),
        ("http://localhost:8080/x/y", "http://localhost:8080/x/y/"),
    ],
)
def test_base_url_gets_trailing_slash(tmp_path: Path, given: str, expected: str) -> None:
    path = _write(tmp_path, f"base_url: {given}\n")
    assert load_config(path).base_url == expected


def test_load_config_unknown_key_names_file_line_and_key(tmp_path: Path) -> None:
    path = _write(tmp_path, "title: Example\nlimit: 10\nmin_qualty: 70\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert f"{path}:3:" in message
    assert "min_qualty" in message


def test_load_config_unknown_topic_setting_names_the_setting(tmp_path: Path) -> None:
    path = _write(tmp_path, "title: Example\ntopics:\n  AI:\n    min_qualty: 70\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    assert re.search(r":\d+:", message)
    assert "min_qualty" in message


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        ("limit: ten\n", "limit", 1),
        ("title: x\nlimit: 0\n", "limit", 2),
        ("limit: true\n", "limit", 1),
        ("limit: 2.5\n", "limit", 1),
        ("min_quality: high\n", "min_quality", 1),
        ("min_quality: 5.5\n", "min_quality", 1),
        ("include_unpublished: maybe\n", "include_unpublished", 1),
        ("include_unpublished: 1\n", "include_unpublished", 1),
        ("sources: 5\n", "sources", 1),
        ("sources: []\n", "sources", 1),
        ("patterns: 7\n", "patterns", 1),
        ("output: [a, b]\n", "output", 1),
        ("title: ''\n", "title", 1),
        ("title: [a]\n", "title", 1),
        ("base_url: 42\n", "base_url", 1),
        ("base_url: ftp://example.com/\n", "base_url", 1),
        ("base_url: /feeds/\n", "base_url", 1),
        ("base_url: https://example.com/?x=1\n", "base_url", 1),
        ("max_age: ten days\n", "max_age", 1),
        ("max_age: [1d]\n", "max_age", 1),
        ("max_age: 0d\n", "max_age", 1),
        ("topics: [AI]\n", "topics", 1),
        ("title: x\ntopics:\n  AI: 70\n", "topics", 3),
        ("topics:\n  AI:\n    min_quality: lots\n", "topics", 3),
    ],
)
def test_load_config_wrong_types(tmp_path: Path, text: str, key: str, line: int) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert f"{path}:{line}:" in message
    assert key in message


def test_load_config_not_a_mapping(tmp_path: Path) -> None:
    path = _write(tmp_path, "- a\n- b\n")
    with pytest.raises(ConfigError, match=re.escape(f"{path}:1:")):
        load_config(path)


def test_load_config_invalid_yaml(tmp_path: Path) -> None:
    path = _write(tmp_path, "title: x\nlimit: [1, 2\n")
    with pytest.raises(ConfigError, match=re.escape(str(path))):
        load_config(path)


def test_load_config_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"{tmp_path / 'missing.yaml'}")):
        load_config(tmp_path / "missing.yaml")


def test_load_config_empty_file_gives_defaults(tmp_path: Path) -> None:
    assert load_config(_write(tmp_path, "")) == Config()
    assert load_config(_write(tmp_path, "# only a comment\n", "other.yaml")) == Config()


def test_load_config_none_without_file_gives_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(None)
    assert config == Config()
    assert config.base_url == DEFAULT_BASE_URL
    assert config.base_url.endswith("/")
    assert config.sources == (Path("seeds"),)
    assert config.min_quality == 50
    assert config.include_unpublished is False
    assert config.max_age is None
    assert dict(config.topics) == {}


def test_load_config_none_reads_aggregator_yaml_in_working_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path, "title: From the working folder\nsources: articles\n")
    monkeypatch.chdir(tmp_path)
    config = load_config(None)
    assert config.title == "From the working folder"
    assert [p.resolve() for p in config.sources] == [(tmp_path / "articles").resolve()]


def test_config_is_frozen_and_replaceable() -> None:
    config = replace(Config(), limit=5)
    assert config.limit == 5
    with pytest.raises(AttributeError):
        config.limit = 6  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("1h", timedelta(hours=1)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        ("3600", timedelta(hours=1)),
        (" 7d ", timedelta(days=7)),
        (45, timedelta(seconds=45)),
    ],
)
def test_parse_duration(text: str | int, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "d", "7x", "7 days", "1.5h", "-1d", "0", "0s", "1h30m", "abc", 0, -5, True]
)
def test_parse_duration_errors(text: str | int) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)
