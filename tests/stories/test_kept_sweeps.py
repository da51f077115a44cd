"""A process that keeps what its sweeps made (a daemon: `similar.keep_sweeps`) finds the
pairs a fresh sweep finds, after edits, additions and removals in the zones."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from conftest import bench_module

from aggregator.model import Article
from aggregator.sources.loader import load_all
from aggregator.stories import similar
from aggregator.stories.dedupe import with_keys
from aggregator.stories.similar import DEFAULT_THRESHOLD
from aggregator.stories.similar import DEFAULT_WINDOW
from aggregator.stories.similar import Pair
from aggregator.stories.similar import group_periods
from aggregator.stories.similar import zone_pairs
from aggregator.stories.similar import zones_of


@pytest.fixture(scope="module")
def articles(tmp_path_factory: pytest.TempPathFactory) -> list[Article]:
    """Some months of articles whose titles share common words, with syndicated copies."""
    folder = tmp_path_factory.mktemp("corpus")
    bench_module("corpus").generate(folder, 900, processes=1, common=True)
    loaded, errors = load_all(sorted(folder.rglob("*.md")), workers=1)
    assert not errors
    return [with_keys(a) for a in loaded]


@pytest.fixture
def kept() -> Iterator[None]:
    similar.keep_sweeps()
    try:
        yield
    finally:
        similar.keep_sweeps(False)


class _Zones:
    """The pairs of each zone by its articles' digest, as a build keeps them: a zone
    whose articles did not change is not swept again."""

    def __init__(self) -> None:
        self.kept: dict[tuple[int, str], list[Pair]] = {}

    def get(self, zone: int, digest: str) -> list[Pair] | None:
        return self.kept.get((zone, digest))

    def put(self, zone: int, digest: str, pairs: list[Pair]) -> None:
        self.kept[(zone, digest)] = pairs


def _pairs(articles: list[Article], zones: _Zones | None = None) -> dict[int, list[Pair]]:
    periods = group_periods(articles, DEFAULT_WINDOW)
    every = zones_of(periods)
    return zone_pairs(articles, periods, every, DEFAULT_THRESHOLD, DEFAULT_WINDOW, zones)


def _fresh(articles: list[Article]) -> dict[int, list[Pair]]:
    saved = similar._KEPT
    similar.keep_sweeps(False)
    try:
        return _pairs(articles)
    finally:
        similar._KEPT = saved


def _retitled(article: Article, title: str) -> Article:
    return with_keys(dataclasses.replace(article, title=title))


def _made_as_fresh() -> int:
    """Checks that every kept article's keys and sets are what its zone's weights make
    of it now, and returns how many were checked."""
    assert similar._KEPT
    checked = 0
    for (_zone, threshold, _window), (weight, made) in similar._KEPT.items():
        for entry in made.values():
            item = entry.item
            keys = similar._Keys.of_title(item, weight, weight.total(item.title), threshold)
            excerpt = similar._Keys.of_excerpt(item, weight, threshold)
            assert entry.keys in (None, keys)
            assert entry.excerpt_keys in (None, excerpt)
            assert entry.sets in (None, similar._Sets.of(item, keys, excerpt))
            checked += 1
    return checked


@pytest.mark.usefixtures("kept")
def test_sweeps_that_take_what_the_last_made_find_the_pairs_of_fresh_ones(
    articles: list[Article],
) -> None:
    zones = _Zones()
    first = _pairs(articles, zones)
    assert first == _fresh(articles)
    assert sum(map(len, first.values())) > 10  # the copies were found
    newest = max(range(len(articles)), key=lambda i: articles[i].published_at)
    other = articles[len(articles) // 2]
    steps: list[tuple[str, list[Article]]] = []
    now = list(articles)
    # A word added to a title, one shared by many other titles (their weights move)...
    now[newest] = _retitled(now[newest], now[newest].title + " Microsoft")
    steps.append(("a common word added", list(now)))
    # ...taken away again, a rare word in its place...
    now[newest] = _retitled(now[newest], articles[newest].title + " Zyxwvut")
    steps.append(("a rare word instead", list(now)))
    # ...the title of another article's syndicated copy: a new pair...
    now[newest] = _retitled(now[newest], other.title)
    steps.append(("another story's title", list(now)))
    # ...an edit that changes no word, a new article, an article gone.
    now[newest] = dataclasses.replace(now[newest], quality=1)
    steps.append(("no word changed", list(now)))
    now.append(dataclasses.replace(_retitled(other, other.title + " again"), path="new.md"))
    steps.append(("an article added", list(now)))
    del now[len(now) // 3]
    steps.append(("an article removed", list(now)))
    for what, state in steps:
        assert _pairs(state, zones) == _fresh(state), what
        assert _made_as_fresh() > 20, what


@pytest.mark.usefixtures("kept")
def test_a_sweep_after_an_edit_makes_again_only_what_the_moved_weights_change(
    articles: list[Article], monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []  # the fingerprints whose title keys a sweep made
    of_title = similar._Keys.of_title

    def counted(
        item: similar.Fingerprint, weight: similar.Weights, total: float, threshold: float
    ) -> object:
        made.append(item.digest)
        return of_title(item, weight, total, threshold)

    monkeypatch.setattr(similar._Keys, "of_title", staticmethod(counted))
    zones = _Zones()
    _pairs(articles, zones)
    newest = max(range(len(articles)), key=lambda i: articles[i].published_at)
    edited = list(articles)
    edited[newest] = _retitled(edited[newest], articles[newest].title + " Zyxwvut")
    unkept = _Zones()
    unkept.kept = dict(zones.kept)
    made.clear()
    kept_pairs = _pairs(edited, zones)
    taken = list(made)
    made.clear()
    similar.keep_sweeps(False)
    assert _pairs(edited, unkept) == kept_pairs
    # Both swept the edited article's zones only; the sweep that took what the last
    # made of them made again the edited article's keys and those of the articles
    # sharing a word it gained or lost (their weights moved), not the others'.
    assert edited[newest].fingerprint is not None
    assert edited[newest].fingerprint.digest in taken
    assert 0 < len(taken) < len(made) / 2
