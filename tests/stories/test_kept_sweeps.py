"""A process that keeps what its sweeps made (a daemon: `similar.keep_sweeps`) finds the
pairs a fresh sweep finds, after edits, additions and removals in the zones; and so does
one that sweeps a large period in two parts at once, one on a helper process (a daemon:
`loader.keep_helper`)."""

from __future__ import annotations

import dataclasses
import os
import pickle
import random
import re
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import bench_module
from conftest import run_cli
from conftest import write_article

from aggregator.app.daemon import Daemon
from aggregator.config import Config
from aggregator.model import Article
from aggregator.sources import loader
from aggregator.sources.loader import Helper
from aggregator.sources.loader import load_all
from aggregator.stories import similar
from aggregator.stories.dedupe import with_keys
from aggregator.stories.similar import DEFAULT_THRESHOLD
from aggregator.stories.similar import DEFAULT_WINDOW
from aggregator.stories.similar import Pair
from aggregator.stories.similar import Split
from aggregator.stories.similar import SweepPart
from aggregator.stories.similar import ZoneWork
from aggregator.stories.similar import find_zones
from aggregator.stories.similar import group_periods
from aggregator.stories.similar import sweep_parts
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


def _pairs(
    articles: list[Article], threshold: float = DEFAULT_THRESHOLD, split: Split | None = None
) -> dict[int, list[Pair]]:
    periods = group_periods(articles, DEFAULT_WINDOW)

    def runner(works: list[ZoneWork]) -> Iterator[dict[int, list[Pair]]]:
        return (find_zones(work, split) for work in works)

    zones = zones_of(periods)
    return zone_pairs(articles, periods, zones, threshold, DEFAULT_WINDOW, runner=runner)


def _fresh(articles: list[Article], threshold: float = DEFAULT_THRESHOLD) -> dict[int, list[Pair]]:
    saved, swept = similar._KEPT, dict(similar._SWEPT)
    similar.keep_sweeps(False)
    try:
        return _pairs(articles, threshold)
    finally:
        similar._KEPT = saved
        similar._SWEPT.update(swept)


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
            keys = similar._Keys.of_title(item, weight, weight.total(item.title), threshold)
            assert entry.keys in (None, keys)
            assert entry.excerpt_keys in (None, similar._Keys.of_excerpt(item, weight, threshold))
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


#: words of no other article
_RARE = "Qwertzuiop Yxcvbnm Plokijuh Mnbvcxyl Lkjhgfdsa Poiuytrewq Zxcvbnmasd Qazwsxedc"


def _with_a_new_article(articles: list[Article], words: str) -> tuple[list[Article], Article]:
    """`articles` and one more in the newest period, where the counts of articles the
    weights of its zones are taken over stay in their steps (articles of the period
    taken out first while one more would move one): with `words` "rare", words no other
    article has; with "common", the first words of the title of the newest one too."""
    kept = list(articles)
    while True:
        periods = group_periods(kept, DEFAULT_WINDOW)
        last = max(periods)
        # (the period alone, and with the one before: the zone across them)
        counts = [len(periods[last]), len(periods[last]) + len(periods.get(last - 1, []))]
        if all(similar.articles_weighed(c) == similar.articles_weighed(c + 1) for c in counts):
            break
        del kept[min(periods[last])]
    source = max(kept, key=lambda a: a.published_at)
    title = _RARE[:30] if words == "rare" else " ".join(source.title.split()[:3]) + " Qwertzuiop"
    added = dataclasses.replace(source, path="landed.md", title=title, excerpt=_RARE + ".")
    return kept, with_keys(added)


def _scores(
    found: dict[int, list[Pair]], articles: list[Article], apart: frozenset[str] = frozenset()
) -> dict[tuple[str, str], float]:
    """The score of each pair found, but those of an article with one of the words
    `apart` in its fingerprint."""
    words = {}
    for article in articles:
        assert article.fingerprint is not None
        words[article.path] = {*article.fingerprint.title, *article.fingerprint.excerpt}
    return {
        (a, b): score
        for pairs in found.values()
        for a, b, score in pairs
        if apart.isdisjoint(words[a]) and apart.isdisjoint(words[b])
    }


@pytest.mark.parametrize("words", ["rare", "common"])
def test_an_article_more_moves_the_weights_of_its_own_words_alone(
    articles: list[Article], words: str
) -> None:
    kept, added = _with_a_new_article(articles, words)
    assert added.fingerprint is not None
    apart = frozenset({*added.fingerprint.title, *added.fingerprint.excerpt})
    both = [*kept, added]
    before, after = _fresh(kept), _fresh(both)
    # The pairs of the articles with none of its words are the same, with the same
    # scores to the last bit: no story of theirs need be written again. (Those with a
    # word of it may move: its weight moves when its count crosses a step. So may one
    # whose titles differ in a word the new title makes a word that tells
    # announcements apart: not this one's.)
    same = _scores(after, both, apart)
    assert same == _scores(before, kept, apart)
    assert len(same) > 10
    if words == "rare":  # every pair
        assert same == _scores(after, both)


def _keyed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The digests of the fingerprints whose keys are made from now on (by title and by
    excerpt), in order."""
    made: list[str] = []
    of_title, of_excerpt = similar._Keys.of_title, similar._Keys.of_excerpt

    def titled(item: similar.Fingerprint, weight: similar.Weights, *rest: float) -> object:
        made.append(item.digest)
        return of_title(item, weight, *rest)

    def excerpted(item: similar.Fingerprint, weight: similar.Weights, *rest: float) -> object:
        made.append(item.digest)
        return of_excerpt(item, weight, *rest)

    monkeypatch.setattr(similar._Keys, "of_title", staticmethod(titled))
    monkeypatch.setattr(similar._Keys, "of_excerpt", staticmethod(excerpted))
    return made


@pytest.mark.usefixtures("kept")
@pytest.mark.parametrize("words", ["rare", "common"])
def test_a_sweep_after_a_new_article_makes_again_only_the_keys_its_words_move(
    articles: list[Article], monkeypatch: pytest.MonkeyPatch, words: str
) -> None:
    made = _keyed(monkeypatch)
    kept, added = _with_a_new_article(articles, words)
    _pairs(kept)
    swept = len(made)
    made.clear()
    found = _pairs([*kept, added])
    taken = list(made)
    assert found == _fresh([*kept, added])
    assert _made_as_fresh() > 100
    # The keys of the new article, and of the articles sharing its words (their weights
    # moved): not every article's, as when every weight moved with the count.
    assert added.fingerprint is not None
    if words == "rare":
        # Its pairs alone are found again (see `similar._swept_again`): the keys of the
        # articles within the window whose keys the last sweep did not need may be
        # made, to score them against it; no other article's.
        near = {
            a.fingerprint.digest
            for a in kept
            if a.fingerprint is not None
            and abs(a.published_at - added.published_at) <= DEFAULT_WINDOW
        }
        assert added.fingerprint.digest in taken
        assert set(taken) <= near | {added.fingerprint.digest}
    else:
        assert added.fingerprint.digest in taken
        assert len(taken) < swept / 4, (len(taken), swept)


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
    assert loader.helper() is None
    daemon.start()
    try:
        assert similar._KEPT is not None
        # A helper process for the parts of large sweeps, where there are cores for it.
        assert (loader.helper() is not None) == ((os.cpu_count() or 1) > 1)
    finally:
        daemon.stop()
    assert similar._KEPT is None
    assert loader.helper() is None
    assert timedelta(0) < DEFAULT_WINDOW


@pytest.mark.usefixtures("kept")
def test_sweeps_taking_turns_with_articles_landing_and_leaving_find_fresh_pairs(
    articles: list[Article],
) -> None:
    # A daemon's builds: a file lands in the last period, another, one leaves, more land
    # (each step compared with fresh sweeps; the keys kept are the fresh ones).
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


@pytest.fixture
def again(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, bool]]:
    """Each period zone to find, and whether it was found again from its last sweep
    (`_swept_again`)."""
    found_again: list[tuple[int, bool]] = []
    swept_again = similar._swept_again

    def counted(work: ZoneWork, zone: int, *rest: Any) -> Any:
        found = swept_again(work, zone, *rest)
        found_again.append((zone, found is not None))
        return found

    monkeypatch.setattr(similar, "_swept_again", counted)
    return found_again


@pytest.mark.usefixtures("kept")
@pytest.mark.parametrize("threshold", [DEFAULT_THRESHOLD, 0.5, 0.3, 0.95])
@pytest.mark.parametrize("seed", range(3))
def test_a_period_swept_again_after_a_few_changes_gives_the_pairs_of_a_fresh_sweep(
    articles: list[Article], again: list[tuple[int, bool]], threshold: float, seed: int
) -> None:
    """A daemon's builds after a few changes find again only the pairs of the articles
    changed and of those with a word whose weight moved: the pairs, their scores and
    their order are a fresh sweep's, through edits (to another article's title, to a
    copy of another's, to words of its own), new and removed articles and moved dates."""
    chosen = random.Random(seed)
    now = sorted(articles, key=lambda a: a.published_at)
    newest = now[-1].published_at
    words = [w for a in now[-200:] for w in a.title.split()]
    _pairs(now, threshold)
    for step in range(16):
        recent = [i for i, a in enumerate(now) if newest - a.published_at < timedelta(days=12)]
        at = chosen.choice(recent)
        change = step % 5
        if change == 0:  # another article's title, as a syndicated copy has
            now[at] = _retitled(now[at], now[chosen.choice(recent)].title)
        elif change == 1:  # a word swapped, added or dropped
            title = now[at].title.split()
            title[chosen.randrange(len(title))] = chosen.choice(words)
            now[at] = _retitled(now[at], " ".join(title))
        elif change == 2:  # a new article, a copy of another's with a word more
            source = now[at]
            title = f"{source.title} {chosen.choice(words)}"
            now.append(dataclasses.replace(_retitled(source, title), path=f"new-{step}.md"))
        elif change == 3:
            del now[at]
        else:  # published a few hours later
            hours = timedelta(hours=chosen.randint(1, 30))
            now[at] = dataclasses.replace(now[at], published_at=now[at].published_at + hours)
        assert _pairs(now, threshold) == _fresh(now, threshold), step
        assert _made_as_fresh() > 100, step
    # Most period zones were found again from their last sweep (a new article may move
    # the count of those the weights are taken over: then every weight, and a sweep).
    periods = [found for zone, found in again if zone % 2 == 0]
    assert sum(periods) > len(periods) / 2, again


@pytest.mark.usefixtures("kept")
@pytest.mark.parametrize("threshold", [DEFAULT_THRESHOLD, 0.7, 0.9])
@pytest.mark.parametrize("seed", range(3))
def test_a_period_found_again_by_its_words_gives_the_pairs_of_a_fresh_sweep(
    articles: list[Article],
    again: list[tuple[int, bool]],
    threshold: float,
    seed: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At thresholds where titles of one story share a word, the articles changed are
    looked up by their words among those within the window: every route by which a
    sweep finds a pair (a title cut short, a title with a subtitle or without it, a
    word swapped, an excerpt of the same words) gives a fresh sweep's pairs, through
    edits that move the weights of many articles (a number word, an excerpt word).
    (The periods here are small: most of their words move with an edit, so a period is
    found again however many pairs that takes, to check them all.)"""
    monkeypatch.setattr(similar, "_PAIRS_AGAIN", 1_000_000)
    chosen = random.Random(seed)
    now = sorted(articles, key=lambda a: a.published_at)
    newest = now[-1].published_at
    words = [w for a in now[-200:] for w in a.title.split()]
    excerpt_words = [w for a in now[-200:] for w in a.excerpt.split()]
    _pairs(now, threshold)
    for step in range(14):
        recent = [i for i, a in enumerate(now) if newest - a.published_at < timedelta(days=12)]
        at, source = chosen.choice(recent), now[chosen.choice(recent)]
        change = step % 7
        if change == 0:  # a copy of another's title cut short, as a feed cuts it
            kept = source.title.split()[: chosen.randint(4, 6)]
            title = " ".join([*kept[:-1], kept[-1][: chosen.randint(1, len(kept[-1]))]])
            now[at] = _retitled(now[at], f"{title}\u2026")
        elif change == 1:  # another's title with a subtitle
            now[at] = _retitled(now[at], f"{source.title}: {' '.join(chosen.sample(words, 3))}")
        elif change == 2:  # the head of a title with a subtitle, alone
            head = next((a.title.split(": ")[0] for a in now if ": " in a.title), source.title)
            now[at] = _retitled(now[at], head)
        elif change == 3:  # a number word: it moves the weights of the titles holding it
            now[at] = _retitled(now[at], f"{now[at].title} note {chosen.randint(1, 9)}")
        elif change == 4:  # another's excerpt with a word more
            excerpt = f"{source.excerpt} {chosen.choice(excerpt_words)}"
            now[at] = with_keys(dataclasses.replace(now[at], excerpt=excerpt))
        elif change == 5:  # a word swapped
            title = now[at].title.split()
            title[chosen.randrange(len(title))] = chosen.choice(words)
            now[at] = _retitled(now[at], " ".join(title))
        else:  # another's title and excerpt
            now[at] = with_keys(
                dataclasses.replace(now[at], title=source.title, excerpt=source.excerpt)
            )
        assert _pairs(now, threshold) == _fresh(now, threshold), step
    # The newest period's zone was found again after most edits (not swept whole).
    newest_zone = 2 * max(group_periods(now, DEFAULT_WINDOW))
    found = [found for zone, found in again if zone == newest_zone]
    assert sum(found) >= 10, found


def _with_copies(now: list[Article], chosen: random.Random) -> list[tuple[str, str]]:
    """Adds to `now` copies of some of its newest articles, published a few hours
    later, one for each way a sweep finds a pair: a title cut short, a title with a
    subtitle, the head of one alone, the same title (each without an excerpt), the
    rarest title word swapped (with the same excerpt). The paths of each article and
    its copy."""
    copies: list[tuple[str, str]] = []
    for n, at in enumerate(chosen.sample(range(len(now) - 150, len(now)), 25)):
        source = now[at]
        words = source.title.split()
        kind = n % 5
        if kind == 0:
            kept = words[: max(4, len(words) - 2)]
            title = " ".join([*kept[:-1], kept[-1][: chosen.randint(1, len(kept[-1]))]]) + "\u2026"
        elif kind == 1:
            title = f"{source.title}: a closer look"
        elif kind == 2:
            title = source.title
            source = now[at] = _retitled(source, f"{source.title}: what it means")
        elif kind == 3:
            rarest = max(words, key=len)
            title = " ".join("Zyxwvut" if w == rarest else w for w in words)
        else:
            title = source.title
        copy = dataclasses.replace(
            _retitled(source, title),
            path=f"copy-{n}.md",
            published_at=source.published_at + timedelta(hours=chosen.randint(0, 60)),
        )
        if kind != 3:  # (found by their titles alone)
            copy = with_keys(dataclasses.replace(copy, excerpt=""))
        now.append(copy)
        copies.append((source.path, copy.path))
    return copies


@pytest.mark.usefixtures("kept")
@pytest.mark.parametrize("threshold", [0.7, DEFAULT_THRESHOLD, 0.9])
@pytest.mark.parametrize("seed", range(2))
def test_the_articles_looked_up_again_find_every_pair_of_theirs_a_sweep_finds(
    articles: list[Article], again: list[tuple[int, bool]], threshold: float, seed: int
) -> None:
    """Articles published a microsecond later (no word of the period weighs otherwise)
    are the only ones looked up again: each pair of one of them with one not (a copy
    and its article, by each way a sweep finds a pair, either of them looked up) is
    found, as a fresh sweep finds it."""
    chosen = random.Random(seed)
    now = sorted(articles, key=lambda a: a.published_at)
    copies = _with_copies(now, chosen)
    paths = [a.path for a in now]
    before = _pairs(now, threshold)
    pairs = {frozenset((a, b)) for found in before.values() for a, b, _ in found}
    assert sum(frozenset(pair) in pairs for pair in copies) >= 15, threshold
    for step in range(6):
        for pair in chosen.sample(copies, 4):
            at = paths.index(chosen.choice(pair))
            now[at] = dataclasses.replace(
                now[at], published_at=now[at].published_at + timedelta(microseconds=1)
            )
        assert _pairs(now, threshold) == _fresh(now, threshold), step
    newest = 2 * max(group_periods(now, DEFAULT_WINDOW))
    assert [found for zone, found in again if zone == newest][1:] == [True] * 6


@pytest.mark.usefixtures("kept")
def test_an_edit_moving_the_weights_of_many_articles_is_found_again(
    articles: list[Article], again: list[tuple[int, bool]]
) -> None:
    """A word that many titles of the period hold, added to the newest title and taken
    off again, moves the weight of the word in all of them: their pairs are looked up
    again (more than scoring each with every article in its window would take), the
    period is not swept whole, and the pairs are a fresh sweep's."""
    now = sorted(articles, key=lambda a: a.published_at)
    periods = group_periods(now, DEFAULT_WINDOW)
    last = max(periods)
    held = Counter(w for i in periods[last] for w in set(now[i].title.lower().split()))
    newest = now[-1]
    # (a word whose count moves its weight: counts are exact below 64)
    word = max(
        (w for w, n in held.items() if n < 60 and w.isalpha() and w not in newest.title.lower()),
        key=held.__getitem__,
    )
    assert held[word] >= 20, held.most_common()
    _pairs(now)
    for step in range(6):
        title = f"{newest.title} {word}" if step % 2 == 0 else newest.title
        now[-1] = _retitled(newest, title)
        assert _pairs(now) == _fresh(now), step
    assert [found for zone, found in again if zone == 2 * last][1:] == [True] * 6


@pytest.mark.usefixtures("kept")
@pytest.mark.parametrize("threshold", [DEFAULT_THRESHOLD, 0.5])
@pytest.mark.parametrize("seed", range(2))
def test_a_boundary_found_again_after_edits_beside_it_gives_the_pairs_of_a_fresh_sweep(
    articles: list[Article],
    again: list[tuple[int, bool]],
    threshold: float,
    seed: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The zone of the boundary between two periods (pairs of one article on each side,
    within a window of it) is found again from its last sweep too, through edits of
    the articles beside it: copies of an article across the boundary, titles edited,
    an article moved to the other side, one gone. (However many pairs that takes: the
    periods here are small, most of their words move with an edit.)"""
    monkeypatch.setattr(similar, "_PAIRS_AGAIN", 1_000_000)
    chosen = random.Random(seed)
    length = similar.period_length(DEFAULT_WINDOW)
    now = sorted(articles, key=lambda a: a.published_at)
    last = similar.period_of(now[-1].published_at, length)
    boundary = similar._EPOCH + last * length
    beside = [i for i, a in enumerate(now) if abs(a.published_at - boundary) < DEFAULT_WINDOW]
    assert len(beside) > 20
    words = [w for i in beside for w in now[i].title.split()]
    _pairs(now, threshold)
    for step in range(10):
        at = chosen.choice(beside)
        change = step % 5
        if change == 0:  # a copy with a word more, on the other side of the boundary
            source = now[at]
            side = -1 if source.published_at >= boundary else 1
            when = boundary + side * timedelta(hours=chosen.randint(1, 40))
            copy = _retitled(source, f"{source.title} {chosen.choice(words)}")
            now.append(dataclasses.replace(copy, path=f"copy-{step}.md", published_at=when))
        elif change == 1:  # a word swapped
            title = now[at].title.split()
            title[chosen.randrange(len(title))] = chosen.choice(words)
            now[at] = _retitled(now[at], " ".join(title))
        elif change == 2:  # moved to the other side
            side = -1 if now[at].published_at >= boundary else 1
            when = boundary + side * timedelta(hours=chosen.randint(1, 40))
            now[at] = dataclasses.replace(now[at], published_at=when)
        elif change == 3:
            del now[at]
            beside = [i if i < at else i - 1 for i in beside if i != at]
        else:  # another's title
            now[at] = _retitled(now[at], now[chosen.choice(beside)].title)
        assert _pairs(now, threshold) == _fresh(now, threshold), step
    found = [found for zone, found in again if zone == 2 * last - 1]
    assert sum(found) >= 5, found


@pytest.mark.usefixtures("kept")
@pytest.mark.parametrize("edited", ["earlier", "later"])
def test_a_period_swept_again_finds_the_pairs_a_window_apart(
    articles: list[Article], again: list[tuple[int, bool]], edited: str
) -> None:
    """A copy published exactly a window after its article is one story with it (the
    window's ends are in it): found again when either of them is edited."""
    length = similar.period_length(DEFAULT_WINDOW)
    now = sorted(articles, key=lambda a: a.published_at)
    at = next(
        i
        for i in range(len(now) - 1, 0, -1)
        if similar.period_of(now[i].published_at, length)
        == similar.period_of(now[i].published_at + DEFAULT_WINDOW, length)
        == similar.period_of(now[-1].published_at, length)
    )
    source = now[at]
    copy = dataclasses.replace(
        source, path="copy.md", published_at=source.published_at + DEFAULT_WINDOW
    )
    now.append(copy)
    _pairs(now)
    where = at if edited == "earlier" else len(now) - 1
    now[where] = _retitled(now[where], f"{now[where].title} Zyxwvut")
    found = _pairs(now)
    assert found == _fresh(now)
    assert any({a, b} == {source.path, copy.path} for pairs in found.values() for a, b, _ in pairs)
    assert any(found for _zone, found in again)


@pytest.mark.usefixtures("kept")
def test_a_period_with_two_articles_of_one_path_is_swept_whole(
    articles: list[Article], again: list[tuple[int, bool]]
) -> None:
    """Its articles are not told apart by their paths: the zone is swept again whole,
    and gives a fresh sweep's pairs."""
    now = sorted(articles, key=lambda a: a.published_at)
    now.append(now[-2])  # (the same article twice)
    _pairs(now)
    for step in range(3):
        now[-3] = _retitled(now[-3], f"{now[-3].title} Zyxwvut{step}")
        assert _pairs(now) == _fresh(now), step
    newest = 2 * max(group_periods(now, DEFAULT_WINDOW))
    assert [found for zone, found in again if zone == newest] == [False] * 4


def _through_pickle(
    away: list[SweepPart], here: list[SweepPart]
) -> list[list[tuple[int, int, float]]]:
    """Runs the parts of sweeps as a helper and this process do: those for another
    process each sent as it would be, the others as they are."""
    return [*sweep_parts(pickle.loads(pickle.dumps(away)), None), *sweep_parts(here, None)]


@pytest.mark.parametrize("threshold", [DEFAULT_THRESHOLD, 0.95, 0.5, 0.3, 0.05])
def test_a_period_swept_in_two_parts_gives_the_pairs_of_one_sweep_in_its_order(
    corpus: list[Article],
    articles: list[Article],
    threshold: float,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every route a pair is found by (the thresholds) gives the same pairs in the same
    order: over two periods of about 450 articles and over three years of about 25 a
    period, each period of 20 or more swept in two parts, the first half of each sent
    away, every other zone of its work swept here meanwhile."""
    monkeypatch.setattr(similar, "SPLIT_ARTICLES", 20)
    sent: list[tuple[int, int]] = []  # (zone, articles probed in its two parts)
    others: list[int] = []  # zones swept whole
    sides: list[tuple[int, int]] = []  # articles each side reads, for each call

    def counted(away: list[SweepPart], here: list[SweepPart]) -> list[list[tuple[int, int, float]]]:
        for second in here:
            (first,) = [p for p in away if p.zone == second.zone]
            assert first.order[-1] < second.order[second.probed_from]
            sent.append((first.zone, len(first.order) + len(second.order) - second.probed_from))
        others.extend(p.zone for p in away if p.zone not in {p.zone for p in here})
        sides.append((sum(len(p.order) for p in away), sum(len(p.order) for p in here)))
        return _through_pickle(away, here)

    for each in (articles, corpus):
        whole = _pairs(each, threshold)
        assert _pairs(each, threshold, counted) == whole
        assert sum(map(len, whole.values())) > 10
    large = [
        (2 * period, len(members))
        for each in (articles, corpus)
        for period, members in group_periods(each, DEFAULT_WINDOW).items()
        if len(members) >= 20
    ]
    assert sorted(sent) == sorted(large)  # each large period's articles, in two parts
    assert len(large) > 20
    # every boundary, and every period too small to split, swept whole
    assert len([z for z in others if z % 2]) > 20 and any(z % 2 == 0 for z in others)
    # the two periods of the last days and their boundary: both sides read about as
    # many articles
    away, here = sides[0]
    assert abs(away - here) < (away + here) / 10, sides[0]


@pytest.mark.usefixtures("kept")
def test_sweeps_in_two_parts_on_a_helper_find_fresh_pairs_as_articles_change(
    articles: list[Article], helper: Helper, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A daemon's builds: each part keeps what it made where it ran (here, or in the
    helper process), and takes it at the next sweep of the zone."""
    monkeypatch.setattr(similar, "SPLIT_ARTICLES", 100)
    # Each zone swept whole, in parts (not found again from its last sweep: see
    # `test_a_period_swept_again_after_a_few_changes_gives_the_pairs_of_a_fresh_sweep`).
    monkeypatch.setattr(similar, "_swept_again", lambda *_args: None)
    sent: list[bool] = []

    def split(away: list[SweepPart], here: list[SweepPart]) -> list[list[tuple[int, int, float]]]:
        sent.append(helper._pipe is not None)  # started by the first: sent from then on
        return helper.map(sweep_parts, [*away, *here], None, "testing", len(here))

    by_date = sorted(articles, key=lambda a: a.published_at)
    now = list(articles)
    assert _pairs(now, split=split) == _fresh(now)
    newest = articles.index(by_date[-1])
    for step in range(8):
        if step % 4 == 3:
            now.remove(by_date[-step])
        elif step % 2:
            now[newest] = _retitled(now[newest], f"{articles[newest].title} edit {step}")
        else:
            source = by_date[-1 - step]
            now.append(
                dataclasses.replace(
                    _retitled(source, f"{source.title} update {step}"), path=f"landed-{step}.md"
                )
            )
        assert _pairs(now, split=split) == _fresh(now), step
    assert sent[0] is False and all(sent[1:]) and len(sent) > 8


def _feeds(out: Path) -> dict[str, bytes]:
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.suffix in (".rss", ".atom", ".json", ".opml", ".html")
    }


@pytest.mark.e2e
def test_a_daemons_builds_with_a_helper_write_what_cold_builds_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The builds a daemon runs on events (`Warm`), with its sweeps kept and large
    periods swept in two parts, one on its helper (every period here, at 5 articles):
    after each edit or new file, the feeds, pages and OPML of a cold build; in periods
    large enough that a new file moves the weights of its own words only (most of the
    time: `similar.in_steps`)."""
    from aggregator.app.watch import Warm
    from aggregator.clock import utcnow
    from aggregator.engine.pipeline import build
    from aggregator.engine.run import warm_zones

    monkeypatch.setattr(similar, "SPLIT_ARTICLES", 5)
    src = tmp_path / "src"
    bench_module("corpus").generate(src, 300, processes=1, common=True)
    _within_days(src, 45)  # periods of over 64 articles: their weights move in steps
    newest = max(src.rglob("*.md"), key=lambda p: p.name)  # named by date first
    original = newest.read_text(encoding="utf-8")
    title = next(line for line in original.splitlines() if line.startswith("title: "))
    config = Config(sources=(src,), output=tmp_path / "out", links="off")
    warm = Warm()
    similar.keep_sweeps()
    loader.keep_helper()
    try:
        build(config, now=utcnow(), find=warm.find)
        # As a daemon does after a full build: the newest zones found again, in part on
        # the helper (started first).
        helper = loader.helper()
        assert helper is not None
        helper.start()
        warm_zones(config)
        for step in range(5):
            changed = newest if step % 2 else newest.with_name(f"landed-{step}.md")
            # A word added to the newest title, or a new copy of it with a word changed.
            retitled = title[:-1] + (f' update {step}"' if step % 2 else f' landed {step}"')
            changed.write_text(original.replace(title, retitled), encoding="utf-8")
            warm.touched([str(changed)])
            assert build(config, now=utcnow(), find=warm.find).mode == "incremental"
            # The command's build: no sweep kept, no helper.
            cold = tmp_path / f"cold{step}"
            words = ["--links", "off", "--state", tmp_path / f"cold{step}.sqlite"]
            done = run_cli("build", "--source", src, "--output", cold, *words)
            assert done.returncode == 0, done.stderr
            assert _feeds(config.output) == _feeds(cold), step
        kept = loader.helper()
        assert kept is not None and kept._pipe is not None  # started, and sent parts
    finally:
        loader.keep_helper(False)
        similar.keep_sweeps(False)


def test_after_a_full_run_the_daemon_finds_the_newest_zones_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full build finds its zones on the workers (or keeps none of them): the daemon
    then finds the zones around the newest article again, keeping what their sweeps
    make, so that its first build after an edit there makes again only the keys whose
    words' weights moved, as later builds do (`engine.run.warm_zones`)."""
    src = tmp_path / "src"
    bench_module("corpus").generate(src, 600, processes=1, common=True)
    _within_days(src, 300)  # ten periods: more zones than sweeps keep (a cold build's)
    config = Config(sources=(src,), output=tmp_path / "out", links="off")
    daemon = Daemon(lambda: config, serve=None)
    similar.keep_sweeps()
    try:
        report = daemon.run_once()
        assert report is not None and report.mode == "full"
        assert similar._KEPT, "no zone found again"
        kept = sum(len(made) for _weights, made in similar._KEPT.values())
        assert kept > 30 and _made_as_fresh() == kept, kept  # as a sweep makes them now
        made = _keyed(monkeypatch)
        newest = max(src.rglob("*.md"), key=lambda p: p.name)  # named by date first
        text = newest.read_text(encoding="utf-8")
        title = next(line for line in text.splitlines() if line.startswith("title: "))
        newest.write_text(text.replace(title, title[:-1] + ' Zyxwvut"'), encoding="utf-8")
        report = daemon.run_once()
        assert report is not None and report.mode == "incremental"
        assert 0 < len(made) < kept / 2, (len(made), kept)
        # A daemon started again over the state: its first build is not a full one,
        # and it finds them again after it too.
        daemon.leadership.close()
        similar.keep_sweeps(False)
        similar.keep_sweeps()
        daemon = Daemon(lambda: config, serve=None)
        report = daemon.run_once()
        assert report is not None and report.mode != "full"
        assert similar._KEPT and _made_as_fresh() > 30
    finally:
        similar.keep_sweeps(False)
        daemon.leadership.close()


@pytest.mark.usefixtures("kept")
def test_finding_the_newest_zones_again_makes_no_state(tmp_path: Path) -> None:
    """Where there is no state yet (it went since the build), nothing is read or made."""
    from aggregator.engine.run import warm_zones

    config = Config(sources=(tmp_path,), output=tmp_path / "out", links="off")
    warm_zones(config)
    assert not Path(config.state_location).exists()
    assert similar._KEPT == {}


def _within_days(folder: Path, days: int) -> None:
    """The articles of the files under `folder` published within their last `days`
    days, in the same order (their related coverage's dates as they were)."""
    dated = re.compile(r"^publishedDateTime: (\S+)$", re.MULTILINE)
    files = {
        path: datetime.fromisoformat(dated.search(path.read_text(encoding="utf-8"))[1])
        for path in folder.rglob("*.md")
    }
    end, start = max(files.values()), min(files.values())
    for path, when in files.items():
        moved = end - (end - when) * days / (end - start).days
        text = path.read_text(encoding="utf-8")
        stamp = moved.strftime("%Y-%m-%dT%H:%M:%SZ")
        path.write_text(dated.sub(f"publishedDateTime: {stamp}", text, count=1), "utf-8")


def test_the_daemon_starts_its_helper_after_a_run_over_articles_enough_to_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not at the first build after an edit (which would sweep the period whole while
    the helper starts), and only for a corpus that may hold a period to split."""
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: no helper")
    monkeypatch.setattr(similar, "SPLIT_ARTICLES", 4)
    for n in range(3):
        write_article(tmp_path / "src", f"a{n}.md", n=n)
    config = Config(sources=(tmp_path / "src",), output=tmp_path / "out", links="off")
    daemon = Daemon(lambda: config, serve=None)
    loader.keep_helper()
    try:
        kept = loader.helper()
        assert kept is not None
        report = daemon.run_once()
        assert report is not None and report.loaded == 3
        assert kept._pipe is None  # three articles: no period of four to split
        write_article(tmp_path / "src", "a3.md", n=3)
        report = daemon.run_once()
        assert report is not None and report.loaded == 4
        assert kept._pipe is not None
        report = daemon.run_once()  # nothing changed: the report counts them all
        assert report is not None and report.loaded == 4
    finally:
        loader.keep_helper(False)
        daemon.leadership.close()
