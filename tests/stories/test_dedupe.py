"""Deduplication an editor can trust: measured on a labelled corpus, and on the seeds."""

from __future__ import annotations

import os
import random
import re
import shutil
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from itertools import combinations
from pathlib import Path
from typing import Any

import feedparser
import pytest
from conftest import NOW
from conftest import SEEDS
from conftest import run_cli
from conftest import write_article
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from labelled import Labelled
from labelled import build_labelled_corpus

from aggregator.config import Config
from aggregator.engine.pipeline import build
from aggregator.model import Article
from aggregator.model import Duplicate
from aggregator.rendering import feeds
from aggregator.sources.loader import find_files
from aggregator.sources.loader import load_all
from aggregator.stories import similar
from aggregator.stories.dedupe import DedupeSettings
from aggregator.stories.dedupe import dedupe
from aggregator.stories.similar import PERIOD
from aggregator.stories.similar import Pair
from aggregator.stories.similar import period_of
from aggregator.stories.similar import similar_pairs


def load(folder: Path) -> list[Article]:
    articles, errors = load_all(find_files([folder], ["*.md", "*.txt"]))
    assert errors == []
    return articles


def predicted_pairs(duplicates: list[Duplicate]) -> set[frozenset[str]]:
    pairs: set[frozenset[str]] = set()
    for duplicate in duplicates:
        pairs |= {frozenset(p) for p in combinations([duplicate.kept, *duplicate.dropped], 2)}
    return pairs


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Labelled, list[Article]]:
    folder = tmp_path_factory.mktemp("labelled")
    truth = build_labelled_corpus(folder, stories=1500, seed=2026)
    return truth, load(folder)


@pytest.mark.e2e  # by its measured cost (seconds): kept out of the fast tier
def test_precision_and_recall_on_a_labelled_corpus(
    labelled: tuple[Labelled, list[Article]], capsys: pytest.CaptureFixture[str]
) -> None:
    truth, articles = labelled
    _, duplicates = dedupe(articles)
    predicted = predicted_pairs(duplicates)
    expected = truth.truth_pairs()
    hits = len(predicted & expected)
    precision = hits / len(predicted)
    recall = hits / len(expected)
    with capsys.disabled():
        print(
            f"\ndedupe on {truth.files} labelled files, {len(expected)} duplicate pairs: "
            f"precision {precision:.4f}, recall {recall:.4f}"
        )
    assert precision >= 0.99
    assert recall >= 0.95


@pytest.mark.e2e  # by its measured cost (seconds): kept out of the fast tier
def test_no_feed_holds_two_entries_for_one_story(
    labelled: tuple[Labelled, list[Article]], tmp_path: Path
) -> None:
    truth, articles = labelled
    source = Path(articles[0].path).parent
    config = Config(sources=(source,), output=tmp_path / "out", min_quality=0, limit=100_000)
    build(config, now=NOW)
    links = {e.link for e in feedparser.parse((tmp_path / "out/all.rss").read_bytes()).entries}
    by_path = {a.path: a for a in articles}
    shown = [sum(by_path[p].link in links for p in group) for group in truth.groups]
    assert all(count >= 1 for count in shown)  # every story is shown...
    assert sum(count > 1 for count in shown) <= len(shown) * 0.02  # ...once, but for rare misses


@pytest.mark.e2e
def test_result_is_the_same_for_any_file_order(labelled: tuple[Labelled, list[Article]]) -> None:
    _, articles = labelled
    sample = articles[:600]
    kept, duplicates = dedupe(sample)
    for seed in (1, 2):
        shuffled = list(sample)
        random.Random(seed).shuffle(shuffled)
        kept_again, duplicates_again = dedupe(shuffled)
        assert sorted((a.path, a.topics) for a in kept_again) == sorted(
            (a.path, a.topics) for a in kept
        )
        assert duplicates_again == duplicates
        assert [d.copies for d in duplicates_again] == [d.copies for d in duplicates]


def test_dedupe_is_idempotent(labelled: tuple[Labelled, list[Article]]) -> None:
    _, articles = labelled
    kept, _ = dedupe(articles[:600])
    again, duplicates = dedupe(kept)
    assert duplicates == []
    assert again == kept


@pytest.mark.e2e
def test_duplicates_report_reason_and_score(labelled: tuple[Labelled, list[Article]]) -> None:
    _, articles = labelled
    _, duplicates = dedupe(articles)
    reasons = {copy.reason for d in duplicates for copy in d.copies}
    assert reasons == {"same-url", "similar-title"}
    for duplicate in duplicates:
        assert duplicate.dropped == tuple(c.path for c in duplicate.copies)
        for copy in duplicate.copies:
            if copy.reason == "same-url":
                assert copy.score == 1.0
            else:
                assert 0.75 <= copy.score <= 1.0


@pytest.fixture
def seeds_and_syndicated_copy(tmp_path: Path) -> Path:
    """The seeds plus the syndicated copy of seed 003 its related list names."""
    folder = tmp_path / "seeds"
    shutil.copytree(SEEDS, folder)
    write_article(
        folder,
        "nation.md",
        title="Civil rights groups ask Biden administration to oppose facial recognition software",
        excerpt="Civil rights groups are pushing the Biden administration to take a stand against "
        "facial recognition technology, saying the rapidly spreading software poses",
        publishedDateTime="2021-02-18T00:55:00Z",
        webUrl="https://www.nationthailand.com/edandtech/30402761",
        quality=35,
        topics=["Computer Vision", "Surveillance"],
    )
    return folder


def test_a_syndicated_copy_with_an_edited_title_is_one_story(
    seeds_and_syndicated_copy: Path,
) -> None:
    kept, duplicates = dedupe(load(seeds_and_syndicated_copy))
    assert len(kept) == 5
    (duplicate,) = duplicates
    assert Path(duplicate.kept).name.startswith("003_")
    assert [Path(p).name for p in duplicate.dropped] == ["nation.md"]
    assert duplicate.reason == "similar-title"
    survivor = next(a for a in kept if a.path == duplicate.kept)
    assert survivor.topics == ("Computer Vision", "AI", "Surveillance")


def test_distinct_stories_on_one_subject_months_apart_stay_two(
    seeds_and_syndicated_copy: Path,
) -> None:
    kept, _ = dedupe(load(seeds_and_syndicated_copy))
    names = {Path(a.path).name[:3] for a in kept}
    assert {"003", "004"} <= names


def test_window_setting_limits_text_matches(seeds_and_syndicated_copy: Path) -> None:
    articles = load(seeds_and_syndicated_copy)
    narrow = DedupeSettings(window=timedelta(hours=1))  # the copy came 1.5 hours later
    assert dedupe(articles, narrow)[1] == []
    assert len(dedupe(articles, DedupeSettings(window=timedelta(hours=2)))[1]) == 1


def test_each_method_can_be_switched_off(tmp_path: Path) -> None:
    # a and b share their original URL (in another form), a and c their text
    write_article(
        tmp_path, "a.md", n=1, webUrl="https://a.example/s", originalUrl="https://example.com/story"
    )
    write_article(
        tmp_path,
        "b.md",
        n=2,
        webUrl="https://b.example/s",
        originalUrl="https://www.example.com/story/?utm_source=x",
    )
    write_article(tmp_path, "c.md", n=1, webUrl="https://other.example.org/copy")
    articles = load(tmp_path)
    assert len(dedupe(articles)[0]) == 1
    same_url_only = dedupe(articles, DedupeSettings(similar_title=False))
    assert sorted(Path(a.path).name for a in same_url_only[0]) == ["a.md", "c.md"]
    text_only = dedupe(articles, DedupeSettings(same_url=False))
    assert sorted(Path(a.path).name for a in text_only[0]) == ["a.md", "b.md"]
    assert len(dedupe(articles, DedupeSettings(same_url=False, similar_title=False))[0]) == 3


def test_files_of_one_link_are_one_story_even_without_same_url(tmp_path: Path) -> None:
    # A feed entry is known by its link (its id): two entries cannot share one. Without
    # `same_url`, the other URLs files share (a page all of them cite) make no story.
    write_article(tmp_path, "a.md", n=1, webUrl="https://example.com/story", quality=70)
    write_article(tmp_path, "b.md", n=2, webUrl="https://www.example.com/story/?utm_source=x")
    shared = "https://vendor.example/announcement"
    write_article(tmp_path, "c.md", n=3, webUrl="https://c.example/3", originalUrl=shared)
    write_article(tmp_path, "d.md", n=4, webUrl="https://d.example/4", originalUrl=shared)
    settings = DedupeSettings(same_url=False, similar_title=False)
    kept, duplicates = dedupe(load(tmp_path), settings)
    assert sorted(Path(a.path).name for a in kept) == ["b.md", "c.md", "d.md"]
    assert [
        (Path(d.kept).name, [Path(p).name for p in d.dropped], d.reason) for d in duplicates
    ] == [("b.md", ["a.md"], "same-url")]
    assert len({feeds.entry_id(a) for a in kept}) == 3


@pytest.mark.parametrize("same_url", [True, False])
def test_no_feed_holds_two_entries_of_one_id(tmp_path: Path, same_url: bool) -> None:
    source = tmp_path / "src"
    for n, link in enumerate(["https://example.com/x", "https://EXAMPLE.com/x#top"] * 2):
        write_article(source, f"{n}.md", n=n + 1, webUrl=link, title=f"Unlike headline {n}")
    settings = DedupeSettings(same_url=same_url, similar_title=False)
    report = build(
        Config(sources=(source,), output=tmp_path / "out", links="off", dedupe=settings),
        now=NOW,
    )
    assert report.published == 1
    for path in (tmp_path / "out").rglob("*.atom"):
        ids = [e.id for e in feedparser.parse(path.read_bytes()).entries]
        assert len(ids) == len(set(ids)), path


def test_related_stubs_to_stories_in_the_corpus_are_not_repeated(tmp_path: Path) -> None:
    write_article(
        tmp_path,
        "a.md",
        n=1,
        related=[
            {
                "title": "Story two, as covered elsewhere",
                "webUrl": "https://news.example.com/story-2/",
            },
            {"title": "Its own AMP page", "webUrl": "https://news.example.com/story-1/amp/"},
            {"title": "Coverage not in the corpus", "webUrl": "https://elsewhere.example.net/x"},
        ],
    )
    write_article(
        tmp_path, "b.md", n=2, title="A different story entirely", excerpt="Nothing alike."
    )
    build(Config(sources=(tmp_path,), output=tmp_path / "out"), now=NOW)
    parsed = feedparser.parse((tmp_path / "out/all.atom").read_bytes())
    content = next(e for e in parsed.entries if e.title == "Story number 1").content[0].value
    assert "Coverage not in the corpus" in content
    assert "Story two, as covered elsewhere" not in content
    assert "Its own AMP page" not in content


@pytest.mark.parametrize("same_url", [True, False])
def test_related_stubs_to_the_corpus_go_whether_or_not_urls_make_one_story(
    tmp_path: Path, same_url: bool
) -> None:
    # Which URLs are stories of the corpus does not depend on URLs making one story.
    write_article(
        tmp_path,
        "a.md",
        n=1,
        related=[
            {"title": "Story two elsewhere", "webUrl": "https://www.news.example.com/story-2"},
            {"title": "Not in the corpus", "webUrl": "https://elsewhere.example.net/x"},
        ],
    )
    write_article(tmp_path, "b.md", n=2, title="A different story entirely", excerpt="No.")
    kept, _ = dedupe(load(tmp_path), DedupeSettings(same_url=same_url))
    first = next(a for a in kept if Path(a.path).name == "a.md")
    assert [stub.title for stub in first.related] == ["Not in the corpus"]


@pytest.mark.e2e
def test_dedupe_settings_from_the_config_file_reach_the_build(tmp_path: Path) -> None:
    source = tmp_path / "articles"
    write_article(source, "a.md", n=1, webUrl="https://example.com/one")
    write_article(source, "b.md", n=1, webUrl="https://example.org/copy-of-one")
    (tmp_path / "aggregator.yaml").write_text(
        "sources: [articles]\noutput: out\ndedupe:\n  similar_title: false\n", encoding="utf-8"
    )
    result = run_cli("build", "--report", "r.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "0 duplicates" in result.stdout
    (tmp_path / "aggregator.yaml").write_text(
        "sources: [articles]\noutput: out\ndedupe:\n  threshold: 0.9\n  window: 1d\n",
        encoding="utf-8",
    )
    result = run_cli("build", cwd=tmp_path)
    assert "1 duplicates" in result.stdout
    (tmp_path / "aggregator.yaml").write_text("dedupe:\n  threshold: 2\n", encoding="utf-8")
    result = run_cli("build", cwd=tmp_path)
    assert result.returncode == 2  # a config error
    assert "aggregator.yaml:1: dedupe: threshold must be above 0 and at most 1" in result.stderr


class _Cache:
    """A `similar.PairCache` in memory that records the zones it had to be given."""

    def __init__(self) -> None:
        self.rows: dict[int, tuple[str, list[Pair]]] = {}
        self.computed: list[int] = []

    def get(self, zone: int, digest: str) -> list[Pair] | None:
        row = self.rows.get(zone)
        return row[1] if row is not None and row[0] == digest else None

    def put(self, zone: int, digest: str, pairs: list[Pair]) -> None:
        self.computed.append(zone)
        self.rows[zone] = (digest, pairs)


@pytest.mark.e2e
def test_similar_pairs_are_found_again_only_in_the_period_of_a_changed_article(
    labelled: tuple[Labelled, list[Article]],
) -> None:
    _, articles = labelled
    periods = {period_of(a.published_at) for a in articles}
    assert len(periods) >= 3  # the corpus spans several periods
    cache = _Cache()
    first = similar_pairs(articles, cache=cache)
    assert first == similar_pairs(articles)
    assert len(cache.computed) >= len(periods)
    # A story re-filed under another title, and an article removed.
    index = next(i for i, (a, b, _) in enumerate(first) if b == a + 1)
    edited = replace(articles[first[index][0]], title="Entirely other words here", fingerprint=None)
    changed = [edited if a.path == edited.path else a for a in articles]
    del changed[-1]
    cache.computed.clear()
    again = similar_pairs(changed, cache=cache)
    assert again == similar_pairs(changed)
    assert again != first
    touched = {period_of(edited.published_at), period_of(articles[-1].published_at)}
    allowed = {zone for p in touched for zone in (2 * p - 1, 2 * p, 2 * p + 1)}
    assert cache.computed and set(cache.computed) <= allowed
    assert len(cache.computed) < len(periods)


def test_copies_on_both_sides_of_a_period_boundary_are_one_story(tmp_path: Path) -> None:
    boundary = datetime(1970, 1, 1, tzinfo=UTC) + 700 * PERIOD
    for name, when in (("a.md", boundary - timedelta(hours=1)), ("b.md", boundary)):
        write_article(
            tmp_path,
            name,
            n=1,
            publishedDateTime=when,
            webUrl=f"https://example.com/{name}",
        )
    write_article(
        tmp_path,
        "c.md",
        n=1,
        publishedDateTime=boundary + timedelta(days=10),
        webUrl="https://example.com/much-later",
    )
    articles = load(tmp_path)
    assert period_of(articles[0].published_at) + 1 == period_of(articles[1].published_at)
    kept, duplicates = dedupe(articles)
    assert [Path(a.path).name for a in kept] == ["a.md", "c.md"]
    assert [Path(p).name for d in duplicates for p in d.dropped] == ["b.md"]


def test_a_rebuild_finds_similar_pairs_only_in_the_changed_period(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "src"
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for n in range(40):  # 40 files, two a week: several periods
        when = start + timedelta(days=3.5 * n)
        write_article(source, f"{n:03}.md", n=n, publishedDateTime=when)
    config = Config(sources=(source,), output=tmp_path / "out", links="off")
    first = build(config, now=NOW)
    swept: list[list[str]] = []
    original = similar._Sweep.pairs

    def spy(self: similar._Sweep, order: Sequence[int], *args: Any, **kwargs: Any) -> Any:
        swept.append([self.work.paths[i] for i in order])
        return original(self, order, *args, **kwargs)

    monkeypatch.setattr(similar._Sweep, "pairs", spy)
    assert first.duplicates == ()
    # A copy of file 10 under another name, in the same days.
    copy = (source / "010.md").read_text(encoding="utf-8").replace("story-10", "copy-of-10")
    (source / "copy.md").write_text(copy, encoding="utf-8")
    os.utime(source / "copy.md", (time.time() - 60, time.time() - 60))
    changed = build(config, now=NOW + timedelta(minutes=2))
    period = period_of(start + timedelta(days=35))
    swept_paths = {Path(p).name for order in swept for p in order}
    assert "copy.md" in swept_paths
    assert len(swept_paths) < 20
    assert all(
        period_of(a.published_at) in (period - 1, period, period + 1)
        for a in load(source)
        if Path(a.path).name in swept_paths
    )
    assert [Path(p).name for d in changed.duplicates for p in d.dropped] == ["copy.md"]
    cold = build(replace(config, output=tmp_path / "cold", state=tmp_path / "cold.db"), now=NOW)
    assert cold.duplicates == changed.duplicates


@given(
    st.lists(
        st.sampled_from(
            [*"ab A.'`-\"", "\u2019", "\u201c", "\u2014", "\ufb01", "\u00e2\u20ac\u2122"]
        )
    ).map("".join)
)
@settings(max_examples=1000, derandomize=True)
def test_titles_fold_to_one_form_of_quotes_dashes_and_compatibility_characters(
    text: str,
) -> None:
    # An ASCII text is not normalised or translated (nothing would change but "`").
    expected = text
    for bad, good in similar._MOJIBAKE:
        expected = expected.replace(bad, good)
    expected = unicodedata.normalize("NFKC", expected).translate(similar._FOLD)
    assert similar._fold(text) == expected


@given(
    st.lists(st.sampled_from([" ", ".", "a", "\n", "\t", "\u00a0", "\u2003", "\u2026"])).map(
        "".join
    )
)
@settings(max_examples=2000, derandomize=True)
def test_a_text_cut_short_is_told_by_the_ellipsis_it_ends_with(text: str) -> None:
    # What the pattern of an ellipsis at the end finds: the text before it, or nothing.
    found = re.search(r"\s*\.\.\.+\s*$", text)
    assert similar._without_ellipsis(text) == (None if found is None else text[: found.start()])


def _excerpt_words(excerpt: str) -> tuple[str, ...]:
    article = Article(
        path="a.md",
        title="A title of several words",
        excerpt=excerpt,
        published_at=NOW,
        link="https://example.com/a",
        urls=("https://example.com/a",),
        kind="article",
        quality=50,
        published=True,
        provider=None,
        topics=(),
        images=(),
        related=(),
    )
    return similar.fingerprint(article).excerpt


def test_an_excerpt_is_compared_by_its_folded_words_and_cut_short_without_its_last() -> None:
    # Case and compatibility forms do not tell two excerpts apart.
    whole = _excerpt_words("Apple launches new phones in Berlin")
    assert whole == _excerpt_words("APPLE Launches NEW Phones in \uff22erlin")
    assert "berlin" in whole
    # An excerpt cut short ("...", "\u2026", which NFKC makes "...") may end in half a
    # word: that word is left out, and only then.
    for cut in ("Apple launches new phones in Ber...", "Apple launches new phones in Ber\u2026"):
        assert _excerpt_words(cut) == tuple(sorted(set(whole) - {"berlin"}))
