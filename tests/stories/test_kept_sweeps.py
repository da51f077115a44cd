"""A process that keeps what its sweeps made (a daemon: `similar.keep_sweeps`) finds the
pairs a fresh sweep finds, after edits, additions and removals in the zones."""

from __future__ import annotations

import dataclasses
import math
import random
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import bench_module
from conftest import write_article

from aggregator.app.daemon import Daemon
from aggregator.config import Config
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
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Article]:
    """Three years of articles whose titles share common words, with syndicated copies."""
    folder = tmp_path_factory.mktemp("corpus")
    bench_module("corpus").generate(folder, 900, processes=1, common=True)
    loaded, errors = load_all(sorted(folder.rglob("*.md")), workers=1)
    assert not errors
    return [with_keys(a) for a in loaded]


@pytest.fixture(scope="module")
def articles(corpus: list[Article]) -> list[Article]:
    """The corpus in its last 50 days (two periods, three zones: what a daemon finds
    again after an edit), in the same order."""
    end = max(a.published_at for a in corpus)
    start = min(a.published_at for a in corpus)
    return [
        dataclasses.replace(a, published_at=end - (end - a.published_at) * 50 / (end - start).days)
        for a in corpus
    ]


@pytest.fixture
def kept() -> Iterator[None]:
    similar.keep_sweeps()
    try:
        yield
    finally:
        similar.keep_sweeps(False)


def _pairs(articles: list[Article], threshold: float = DEFAULT_THRESHOLD) -> dict[int, list[Pair]]:
    periods = group_periods(articles, DEFAULT_WINDOW)
    return zone_pairs(articles, periods, zones_of(periods), threshold, DEFAULT_WINDOW)


def _fresh(articles: list[Article], threshold: float = DEFAULT_THRESHOLD) -> dict[int, list[Pair]]:
    saved = similar._KEPT
    similar.keep_sweeps(False)
    try:
        return _pairs(articles, threshold)
    finally:
        similar._KEPT = saved


def _retitled(article: Article, title: str) -> Article:
    return with_keys(dataclasses.replace(article, title=title))


def _sharing(articles: list[Article], first: int, second: int) -> None:
    """Gives article `second` the fingerprint digest of article `first` (their words
    differ): what a digest collision would do."""
    one, two = articles[first].fingerprint, articles[second].fingerprint
    assert one is not None and two is not None and one.title != two.title
    print_ = dataclasses.replace(two, digest=one.digest)
    articles[second] = dataclasses.replace(articles[second], fingerprint=print_)


def _made_as_fresh() -> int:
    """Checks that every kept article's keys are what its zone's weights make of it now,
    and returns how many were checked."""
    assert similar._KEPT
    checked = 0
    for (_zone, threshold, _window), (weight, made) in similar._KEPT.items():
        for entry in made.values():
            item = entry.item
            if entry.keys is not None:
                keys = similar._Keys.of_title(item, weight, weight.total(item.title), threshold)
                assert entry.keys.under(weight, lambda: weight.total(item.title)) == keys  # noqa: B023
            if entry.excerpt_keys is not None:
                keys = similar._Keys.of_excerpt(item, weight, threshold)
                assert entry.excerpt_keys.under(weight, lambda: weight.total(item.excerpt)) == keys  # noqa: B023
            checked += 1
    return checked


@pytest.mark.usefixtures("kept")
@pytest.mark.parametrize("digests", ["digests", "a digest shared"])
def test_sweeps_that_take_what_the_last_made_find_the_pairs_of_fresh_ones(
    articles: list[Article], digests: str
) -> None:
    by_date = sorted(range(len(articles)), key=lambda i: articles[i].published_at)
    newest = by_date[-1]
    shared: tuple[int, int] | None = None
    if digests == "a digest shared":
        # An article of a pair swept before another takes that one's digest: it must
        # not take what the last sweep made of the other (they are told apart by their
        # words too), or its pair is lost.
        paths = {a.path: i for i, a in enumerate(articles)}
        last = max(_pairs(articles).items())[1]
        pair = next(
            (paths[a], paths[b])
            for a, b, _score in last
            if articles[paths[a]].title != articles[paths[b]].title  # found by their keys
        )
        first_of_pair = min(pair, key=by_date.index)
        later = by_date[by_date.index(first_of_pair) + 1 :]
        paired = {paths[p] for a, b, _score in last for p in (a, b)}
        shared = (next(i for i in later if i not in paired and i != newest), first_of_pair)
        articles = list(articles)
        _sharing(articles, *shared)
    first = _pairs(articles)
    assert len(first) == 3
    assert first == _fresh(articles)
    assert sum(map(len, first.values())) > 10  # the copies were found
    other = articles[len(articles) // 2]
    steps: list[tuple[str, list[Article], float]] = []
    now = list(articles)

    def step(what: str, threshold: float = DEFAULT_THRESHOLD) -> None:
        if shared is not None:
            _sharing(now, *shared)
        steps.append((what, list(now), threshold))

    # A word added to a title, one shared by many other titles (their weights move)...
    now[newest] = _retitled(now[newest], now[newest].title + " Microsoft")
    step("a common word added")
    # ...taken away again, a rare word in its place...
    now[newest] = _retitled(now[newest], articles[newest].title + " Zyxwvut")
    step("a rare word instead")
    # ...the title of another article's syndicated copy: a new pair...
    now[newest] = _retitled(now[newest], other.title)
    step("another story's title")
    # ...an edit that changes no word, other thresholds, a new article, an article gone.
    now[newest] = dataclasses.replace(now[newest], quality=1)
    step("no word changed")
    step("a higher threshold", 0.9)
    step("a lower threshold", 0.3)
    step("the threshold back")
    now.append(dataclasses.replace(_retitled(other, other.title + " again"), path="new.md"))
    step("an article added")
    del now[len(now) // 3]
    step("an article removed")
    for what, state, threshold in steps:
        assert _pairs(state, threshold) == _fresh(state, threshold), what
        assert _made_as_fresh() > 100, what


@pytest.mark.usefixtures("kept")
def test_a_sweep_after_an_edit_makes_again_only_what_the_moved_weights_change(
    articles: list[Article], monkeypatch: pytest.MonkeyPatch
) -> None:
    made: dict[str, list[str]] = {"title": [], "excerpt": []}  # fingerprints keyed
    of_title, of_excerpt = similar._Keys.of_title, similar._Keys.of_excerpt

    def titled(item: similar.Fingerprint, weight: similar.Weights, *rest: float) -> object:
        made["title"].append(item.digest)
        return of_title(item, weight, *rest)

    def excerpted(item: similar.Fingerprint, weight: similar.Weights, *rest: float) -> object:
        made["excerpt"].append(item.digest)
        return of_excerpt(item, weight, *rest)

    monkeypatch.setattr(similar._Keys, "of_title", staticmethod(titled))
    monkeypatch.setattr(similar._Keys, "of_excerpt", staticmethod(excerpted))
    newest = max(range(len(articles)), key=lambda i: articles[i].published_at)
    edited = list(articles)
    _pairs(edited)
    edited[newest] = _retitled(edited[newest], articles[newest].title + " Zyxwvut")
    for keys in made.values():
        keys.clear()
    kept_pairs = _pairs(edited)
    taken = {part: list(keys) for part, keys in made.items()}
    for keys in made.values():
        keys.clear()
    assert _fresh(edited) == kept_pairs
    # The sweep that took what the last made made again the edited article's keys and
    # those of the articles sharing a word it gained or lost (their weights moved).
    assert edited[newest].fingerprint is not None
    assert edited[newest].fingerprint.digest in taken["title"]
    assert 0 < len(taken["title"]) < len(made["title"]) / 2
    assert len(taken["excerpt"]) < len(made["excerpt"]) / 2


@pytest.mark.usefixtures("kept")
def test_the_zones_kept_are_the_last_few_and_a_cold_build_keeps_none(
    corpus: list[Article],
) -> None:
    periods = group_periods(corpus, DEFAULT_WINDOW)
    zones = zones_of(periods)
    assert len(zones) > similar._KEPT_ZONES
    # Found all at once (a cold build): none kept, the last would push the first out.
    zone_pairs(corpus, periods, zones, DEFAULT_THRESHOLD, DEFAULT_WINDOW)
    assert similar._KEPT == {}
    # Found a few at a time (a daemon's builds, each after an edit): the last ones.
    for zone in zones:
        zone_pairs(corpus, periods, [zone], DEFAULT_THRESHOLD, DEFAULT_WINDOW)
    kept = [zone for zone, _threshold, _window in similar._KEPT]
    assert kept == zones[-similar._KEPT_ZONES :]


def test_the_daemon_keeps_its_sweeps_while_it_runs(tmp_path: Path) -> None:
    write_article(tmp_path / "src", "a.md", n=1)
    config = Config(sources=(tmp_path / "src",), output=tmp_path / "out", links="off")
    daemon = Daemon(lambda: config, serve=None)
    assert similar._KEPT is None
    daemon.start()
    try:
        assert similar._KEPT is not None
    finally:
        daemon.stop()
    assert similar._KEPT is None
    assert timedelta(0) < DEFAULT_WINDOW


def _keys_taken(
    articles: list[Article], changed: list[Article], monkeypatch: pytest.MonkeyPatch
) -> dict[str, tuple[int, int]]:
    """How many keys of each part the sweeps of `changed` made again, after sweeps of
    `articles` (the kept ones), and how many fresh sweeps of `changed` make."""
    made: dict[str, list[str]] = {"title": [], "excerpt": []}
    of_title, of_excerpt = similar._Keys.of_title, similar._Keys.of_excerpt

    def titled(item: similar.Fingerprint, weight: similar.Weights, *rest: float) -> object:
        made["title"].append(item.digest)
        return of_title(item, weight, *rest)

    def excerpted(item: similar.Fingerprint, weight: similar.Weights, *rest: float) -> object:
        made["excerpt"].append(item.digest)
        return of_excerpt(item, weight, *rest)

    monkeypatch.setattr(similar._Keys, "of_title", staticmethod(titled))
    monkeypatch.setattr(similar._Keys, "of_excerpt", staticmethod(excerpted))
    _pairs(articles)
    for keys in made.values():
        keys.clear()
    kept_pairs = _pairs(changed)
    taken = {part: len(keys) for part, keys in made.items()}
    for keys in made.values():
        keys.clear()
    assert _fresh(changed) == kept_pairs
    return {part: (taken[part], len(made[part])) for part in made}


@pytest.mark.usefixtures("kept")
def test_a_sweep_after_a_new_article_takes_the_keys_its_weights_cannot_change(
    articles: list[Article], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A new story in the last period, of words of its own (no count of another
    # article's words moves): every weight of its zones moves a little, with the number
    # of articles, and few keys can change by that much.
    newest = max(articles, key=lambda a: a.published_at)
    landed = dataclasses.replace(
        _retitled(newest, "Zyxwvut Qwerty Asdfgh Uiopjk"), path="landed.md"
    )
    landed = with_keys(dataclasses.replace(landed, excerpt="Plokij uhygtf rdeswa qazxsw edcvfr"))
    counts = _keys_taken(articles, [*articles, landed], monkeypatch)
    for part, (taken, fresh) in counts.items():
        assert 0 < taken < fresh / 10, part
    # Its words those of other articles: those made again too, the pairs a fresh sweep's.
    copy = dataclasses.replace(_retitled(newest, newest.title + " again"), path="copy.md")
    counts = _keys_taken(articles, [*articles, copy], monkeypatch)
    assert 0 < counts["title"][0] < counts["title"][1] / 2
    assert _made_as_fresh() > 100


@pytest.mark.usefixtures("kept")
def test_sweeps_taking_turns_with_articles_landing_and_leaving_find_fresh_pairs(
    articles: list[Article],
) -> None:
    # A daemon's builds: a file lands in the last period, another, one leaves, more land
    # (each step compared with fresh sweeps; the keys taken are the fresh ones).
    by_date = sorted(articles, key=lambda a: a.published_at)
    now = list(articles)
    for step in range(12):
        if step % 4 == 3:
            now.remove(by_date[-step])
        else:
            source = by_date[-1 - step]
            now.append(
                dataclasses.replace(
                    _retitled(source, f"{source.title} update {step}"), path=f"landed-{step}.md"
                )
            )
        assert _pairs(now) == _fresh(now), step
        assert _made_as_fresh() > 100, step


def _fingerprint(rng: random.Random, vocabulary: list[str], size: int) -> similar.Fingerprint:
    title = tuple(sorted(rng.sample(vocabulary, rng.randint(1, size))))
    excerpt = tuple(sorted(rng.sample(vocabulary, rng.randint(0, 3 * size))))
    return similar.Fingerprint(title, (), excerpt, (), digest=" ".join(title + excerpt))


@pytest.mark.parametrize("seed", range(4))
def test_keys_taken_under_other_weights_are_those_the_weights_make(seed: int) -> None:
    """`_Keys.under` gives keys only when they are what the other weights make: with
    random counts, numbers of articles and thresholds, and with thresholds put where a
    prefix ends, so that the move of the weights changes the prefix."""
    rng = random.Random(seed)
    vocabulary = [f"w{n}" for n in range(300)]
    taken = {"one more": 0, "many more": 0}
    moved = refused = 0
    for round_ in range(60):
        documents = rng.randint(1, 5000)
        counts = Counter({w: rng.randint(1, 2 * documents) for w in vocabulary})
        before = similar.Weights(counts, documents)
        items = [_fingerprint(rng, vocabulary, 12) for _ in range(40)]
        # Other weights: another number of articles, the counts of words of no item the
        # same or not (a word of an item whose count moved is never taken, see `_Sweep`).
        used = {w for item in items for w in (*item.title, *item.excerpt)}
        after_counts = Counter(
            {w: c if w in used else rng.randint(1, 2 * documents) for w, c in counts.items()}
        )
        shift = "one more" if round_ % 2 else "many more"
        later = documents + 1 if shift == "one more" else max(1, documents * rng.randint(0, 3))
        after = similar.Weights(after_counts, later)
        for item in items:
            thresholds = [rng.uniform(0.2, 1.0)]
            # Thresholds at the edge of a prefix under the weights before, and under
            # the weights after (a floor that one of them passes and the other misses).
            for weight in (before, after):
                values = sorted((weight.idf[w] for w in item.title), reverse=True)
                total = weight.total(item.title)
                rest = math.fsum(values[rng.randrange(len(values)) :])
                thresholds.append(rest / total * (1 + rng.choice([-1, 1]) * 1e-6))
            for n, threshold in enumerate(thresholds):
                total = before.total(item.title)
                made = similar._Keys.of_title(item, before, total, threshold)
                floors = similar._title_floors(threshold, total)
                kept = similar._Kept(
                    made, before.documents, similar._tolerance(item.title, before, *floors)
                )
                wanted = similar._Keys.of_title(item, after, after.total(item.title), threshold)
                got = kept.under(after, lambda: after.total(item.title))  # noqa: B023
                if (made.first, made.second) != (wanted.first, wanted.second):
                    moved += 1
                if got is None:
                    refused += n > 0
                    continue
                taken[shift] += n == 0
                assert (got.first, got.second, got.rarest) == (
                    wanted.first,
                    wanted.second,
                    wanted.rarest,
                )
                assert got.total == wanted.total
                # Its sum is kept for those weights, and made again for others.
                assert kept.under(after, lambda: 0.0) is got
                assert kept.under(before, lambda: before.total(item.title)) == made  # noqa: B023
            made = similar._Keys.of_excerpt(item, before, 0.75)
            floors = similar._excerpt_floors(0.75, made.total)
            tolerance = similar._tolerance(item.excerpt, before, *floors)
            got = similar._Kept(made, before.documents, tolerance).under(
                after,
                lambda: after.total(item.excerpt),  # noqa: B023
            )
            assert got is None or got == similar._Keys.of_excerpt(item, after, 0.75)
    # Words the weights were not made from, and periods past the size up to which words
    # counted as often keep their order: never taken.
    assert similar._tolerance(("w1", "unknown"), before, 0.5) == 0.0
    huge = similar.Weights(counts, similar._ORDER_KEPT + 1)
    keys = similar._Keys.of_title(items[0], huge, huge.total(items[0].title), 0.5)
    kept = similar._Kept(keys, huge.documents, math.inf)
    assert kept.under(similar.Weights(counts, huge.documents + 1), lambda: 0.0) is None
    # Prefixes that the move changed were met (and refused); with one article more, keys
    # at random thresholds are taken nearly always.
    assert moved > 100
    assert refused >= moved
    assert taken["one more"] > 0.9 * 30 * 40
    assert taken["many more"] > 0
