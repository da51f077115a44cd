"""The sweep that finds near-duplicate pairs finds exactly the pairs that comparing
every two articles within the window finds: its candidate filters lose none.

The articles are drawn from a small vocabulary, so that titles share common words
within days (the case that makes candidate generation costly), with the edits that
make pairs hard to find: many words added to a short title, an excerpt cut short,
titles cut with an ellipsis or without their subtitle, a word swapped, excerpts
absent or reworded. They straddle a period boundary, so boundary zones are checked
too."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from itertools import combinations

import pytest
from test_dedupe_real import article

from aggregator.model import Article
from aggregator.stories import similar
from aggregator.stories.similar import DEFAULT_WINDOW
from aggregator.stories.similar import PERIOD
from aggregator.stories.similar import group_periods
from aggregator.stories.similar import similar_zones
from aggregator.stories.similar import zones_of

WORDS = [
    *("power", "apps", "portal", "preview", "release", "wave", "community", "call"),
    *("teams", "data", "cloud", "model", "azure", "copilot", "studio", "canvas", "form"),
    *("flow", "connector", "update", "support", "agent", "analytics", "security"),
    *("mobile", "offline", "search", "dashboard", "developer", "environment", "solution"),
]
EXCERPT_WORDS = [
    *WORDS,
    *("customers", "can", "now", "build", "share", "manage", "apps", "faster", "with"),
    *("new", "tools", "said", "company", "available", "today", "across", "regions"),
    *("users", "admins", "makers"),
]
EXCERPT_WORDS_TEXT = "Customers can now share dashboards across regions, the company said today"
#: the start of the first period after 2021-04-01: the articles straddle it
BOUNDARY = datetime(1970, 1, 1, tzinfo=UTC) + PERIOD * (
    (datetime(2021, 4, 1, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)) // PERIOD + 1
)


def _edit_title(title: str, rng: random.Random) -> str:
    words = title.split()
    roll = rng.randrange(7)
    if roll == 0:  # many words added: a low Jaccard index, an edited title
        return " ".join(words + rng.sample(WORDS, rng.randrange(3, 8)))
    if roll == 1 and len(words) > 2:  # a word dropped
        del words[rng.randrange(len(words))]
        return " ".join(words)
    if roll == 2:  # a word swapped
        words[rng.randrange(len(words))] = rng.choice(WORDS)
        return " ".join(words)
    if roll == 3 and len(words) > 4:  # cut short
        return " ".join(words[: rng.randrange(4, len(words))]) + "\u2026"
    if roll == 4:  # a subtitle added
        return f"{title}: {' '.join(rng.sample(WORDS, 3))}"
    if roll == 5 and ":" in title:  # the subtitle dropped
        return title.split(":")[0]
    return f"{title} - Outlet"


def _edit_excerpt(excerpt: str, rng: random.Random) -> str:
    words = excerpt.split()
    roll = rng.randrange(5)
    if roll == 0 or not words:
        return excerpt
    if roll == 1:  # cut short
        return " ".join(words[: max(5, len(words) * 2 // 3)]) + "..."
    if roll == 2:  # reworded: a few words changed
        for _ in range(rng.randrange(1, 5)):
            words[rng.randrange(len(words))] = rng.choice(EXCERPT_WORDS)
        return " ".join(words)
    if roll == 3:  # the outlet's own
        return " ".join(rng.choices(EXCERPT_WORDS, k=rng.randrange(6, 25)))
    return ""


def _corpus(seed: int, size: int = 500) -> list[Article]:
    rng = random.Random(seed)
    start = BOUNDARY - timedelta(days=8)
    articles: list[Article] = []
    for n in range(size):
        when = start + timedelta(minutes=rng.randrange(16 * 24 * 60))
        if articles and rng.random() < 0.4:
            source = rng.choice(articles[-30:])
            title = _edit_title(source.title, rng)
            excerpt = _edit_excerpt(source.excerpt, rng)
            when = source.published_at + timedelta(hours=rng.randrange(-30, 30))
        else:
            title = " ".join(rng.sample(WORDS, rng.randrange(2, 9)))
            if rng.random() < 0.2:
                title += ": " + " ".join(rng.sample(WORDS, rng.randrange(3, 5)))
            excerpt = " ".join(rng.choices(EXCERPT_WORDS, k=rng.randrange(0, 30)))
        articles.append(article(n, title, excerpt, when=when))
    return articles


def _every_pair(
    articles: list[Article], threshold: float, window: timedelta
) -> dict[int, set[tuple[str, str]]]:
    """The pairs of each zone, by scoring every two articles of it within `window`."""
    prints = [similar.fingerprint(a) for a in articles]
    periods = group_periods(articles, window)
    found: dict[int, set[tuple[str, str]]] = {}
    for zone in zones_of(periods):
        period = zone // 2
        parts = [period] if zone % 2 == 0 else [period, period + 1]
        members = [i for p in parts for i in periods[p]]
        weight = similar.Weights(
            similar._frequency(prints[i] for i in members),
            len(members),
            similar.distinguishing(*(similar.slots(prints[i] for i in periods[p]) for p in parts)),
        )
        first = set(periods[period])
        pairs = found.setdefault(zone, set())
        for i, j in combinations(members, 2):
            if zone % 2 and (i in first) == (j in first):
                continue
            a, b = sorted((i, j), key=lambda k: (articles[k].published_at, articles[k].path))
            if articles[b].published_at - articles[a].published_at > window:
                continue
            if similar.pair_score(prints[b], prints[a], weight, threshold) >= threshold:
                pairs.add(tuple(sorted((articles[a].path, articles[b].path))))  # type: ignore[arg-type]
    return found


@pytest.mark.e2e
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.6, 0.75, 0.9])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_sweep_finds_every_pair_that_comparing_all_pairs_finds(
    seed: int, threshold: float
) -> None:
    articles = _corpus(seed)
    swept = similar_zones(articles, threshold, DEFAULT_WINDOW)
    expected = _every_pair(articles, threshold, DEFAULT_WINDOW)
    assert len(expected) >= 3  # two periods and their boundary
    got = {zone: {tuple(sorted(pair[:2])) for pair in pairs} for zone, pairs in swept.items()}
    missed = {zone: sorted(pairs - got.get(zone, set())) for zone, pairs in expected.items()}
    extra = {zone: sorted(pairs - expected.get(zone, set())) for zone, pairs in got.items()}
    assert {z: p for z, p in missed.items() if p} == {}
    assert {z: p for z, p in extra.items() if p} == {}
    assert sum(map(len, expected.values())) > 20  # pairs were there to find


@pytest.mark.parametrize("longer_first", [False, True])
def test_titles_with_a_word_swapped_are_one_story_whichever_excerpt_is_the_longer(
    longer_first: bool,
) -> None:
    """Titles with a word swapped share words with many others in the window: the sweep
    keeps those whose excerpts may overlap enough, checking the rarest words of each
    excerpt against the other. Here one excerpt is all in the other, whose rarest
    words are in a sentence the shorter one lacks: only the lighter one's rarest words
    tell, whether it came first or second."""
    short = "Makers can now build canvas apps offline with the new mobile player"
    long = f"{short}. Contoso and Fabrikam piloted it for weeks in Oslo and Lagos"
    first, second = (long, short) if longer_first else (short, long)
    when = datetime(2021, 4, 6, 9, tzinfo=UTC)
    title = "Power Apps mobile player {} offline canvas apps for makers"
    pair = [
        article(1, title.format("adds"), first, 0, when),
        article(2, title.format("brings"), second, 5, when),
    ]
    others = [
        article(10 + n, " ".join(random.Random(n).sample(WORDS, 6)), EXCERPT_WORDS_TEXT, n, when)
        for n in range(20)
    ]
    zones = similar_zones([*pair, *others], similar.DEFAULT_THRESHOLD, DEFAULT_WINDOW)
    found = {tuple(sorted(p[:2])) for pairs in zones.values() for p in pairs}
    assert ("001.md", "002.md") in found


def test_the_sifting_before_scoring_passes_every_pair_that_reaches_the_threshold() -> None:
    """`_may_reach` is a bound: a pair that scores the threshold passes it, at every
    threshold on a fine grid (so that pairs land next to each route's floor: an
    excerpt overlap just above `_swapped_floor` for titles with a word swapped)."""
    rng = random.Random(7)
    articles = _corpus(4, size=600)
    prints = [similar.fingerprint(a) for a in articles]
    weight = similar.Weights(similar._frequency(prints), len(prints))
    pairs = [(rng.randrange(len(prints)), rng.randrange(len(prints))) for _ in range(3000)]
    # and every copy with its source: the pairs near a floor
    pairs += [(i, j) for i in range(len(prints)) for j in range(max(0, i - 30), i)]
    checked = reached = 0
    for step in range(36, 96):
        threshold = step / 100
        if similar._excerpt_floor(threshold) <= 0:
            continue  # `_may_reach` is not asked (every article with an excerpt is)
        titled = similar._text_floor(threshold) > 0
        swapped = threshold <= similar.SUBSTITUTION_FACTOR
        sets = []
        for item in prints:
            title = similar._Keys.of_title(item, weight, weight.total(item.title), threshold)
            sets.append(
                similar._Sets.of(item, title, similar._Keys.of_excerpt(item, weight, threshold))
            )
        for i, j in pairs:
            if i == j:
                continue
            checked += 1
            if similar._score(sets[i], sets[j], weight, threshold) >= threshold:
                reached += 1
                assert similar._may_reach(sets[i], sets[j], swapped, titled), (
                    threshold,
                    articles[i].title,
                    articles[j].title,
                )
    assert reached > 1000 and checked > 10 * reached


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_what_is_learned_of_a_period_after_a_few_changes_is_what_learning_it_anew_gives(
    seed: int,
) -> None:
    """A daemon's next build learns a period's word counts and title slots from the
    last ones, taking out the articles that went and adding those that came; the
    counts and slots are those of learning the period anew, with nothing left at zero."""
    rng = random.Random(seed)
    articles = _corpus(seed, size=400)
    prints = {(a.path, p.digest): p for a in articles if (p := similar.fingerprint(a))}
    before = dict(rng.sample(sorted(prints.items()), 300))
    lone = similar.fingerprint(article(998, "zyzzyva quokka axolotl", "words no other has here"))
    before[("998.md", lone.digest)] = lone  # goes: its words are counted nowhere after
    after = {k: p for k, p in before.items() if rng.random() > 0.05 and k[0] != "998.md"}
    after.update(rng.sample(sorted(set(prints.items()) - set(before.items())), 20))  # came
    edited = similar.fingerprint(article(999, "power apps wave release preview form", "x y z"))
    path = next(iter(after))[0]
    del after[next(iter(after))]
    after[(path, edited.digest)] = edited  # a file edited: same path, other words
    known = ((similar._frequency(before.values()), similar.slots(before.values())), before)
    changed = similar._changed(known, after)
    assert changed is not None
    frequency, slots = changed
    anew = similar.slots(after.values())
    assert dict(frequency) == dict(similar._frequency(after.values()))
    assert slots.once == anew.once
    assert {k: dict(v) for k, v in slots.more.items()} == {k: dict(v) for k, v in anew.more.items()}
    assert dict(slots.titles) == dict(anew.titles)
    assert similar.distinguishing(slots) == similar.distinguishing(anew)
    # what it was learned from is as it was
    again = similar.slots(before.values())
    assert known[0][1].once == again.once and known[0][1].more == again.more
    # many changes: learned anew
    assert similar._changed(known, dict(list(prints.items())[:100])) is None


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_words_learned_of_two_periods_are_those_of_their_titles_learned_together(
    seed: int,
) -> None:
    """A boundary zone's words that tell stories apart are learned of both periods'
    slots (`distinguishing` of two) without merging every slot: they are those of
    both periods' titles learned as one. Here the slots filled in both periods, in one
    only, and more than once in either."""
    prints = [similar.fingerprint(a) for a in _corpus(seed, size=800)]
    rng = random.Random(seed)
    first = [p for p in prints if rng.random() < 0.5]
    second = [p for p in prints if p not in first]
    together = similar.distinguishing(similar.slots(prints))
    apart = similar.distinguishing(similar.slots(first), similar.slots(second))
    assert apart == together
    assert len(together) > 5  # words were learned
    # and of a period alone, as before
    assert similar.distinguishing(similar.slots(first)) <= together
    # Titles alike but for one word, one in each period: the word is learned of both.
    when = BOUNDARY - timedelta(days=1)
    mine = [
        similar.fingerprint(article(n, title, "", when=when))
        for n, title in enumerate(["quokka wombat numbat dingo", "quokka wombat numbat emu"])
    ]
    others = [
        similar.fingerprint(article(10 + n, title, "", when=when))
        for n, title in enumerate(["dingo tracks seen", "emu farm opens"])
    ]
    one, two = similar.slots([mine[0], others[0]]), similar.slots([mine[1], others[1]])
    assert similar.distinguishing(one) == similar.distinguishing(two) == frozenset()
    assert similar.distinguishing(one, two) == {"dingo", "emu"}
    assert similar.distinguishing(similar.slots([*mine, *others])) == {"dingo", "emu"}


def test_a_process_keeps_what_it_learned_of_a_few_periods_only() -> None:
    """The word counts and slots learned of each period are kept for the next build of
    a few periods (`_LEARNED_KEPT`), with the articles they were learned from, not of
    every period a cold build reads (each process would hold every fingerprint)."""
    start = BOUNDARY - 8 * PERIOD
    articles = [
        article(
            n,
            f"{WORDS[n % 30]} {WORDS[(n * 7) % 30]} {WORDS[(n * 11) % 30]} news",
            "",
            when=start + timedelta(days=n),
        )
        for n in range(8 * 31)
    ]
    similar._MEMBERS.clear()
    similar_zones(articles, 0.75, DEFAULT_WINDOW)
    assert (
        0
        < len(similar._MEMBERS)
        <= similar._LEARNED_KEPT
        < len(group_periods(articles, DEFAULT_WINDOW))
    )
    assert len(similar._LEARNED) <= similar._LEARNED_KEPT


def test_the_counts_weights_are_taken_from_move_in_small_steps() -> None:
    # Exact for small counts (an article more than the period's: `articles_weighed`)...
    assert [similar.in_steps(n) for n in range(65)] == list(range(65))
    assert [similar.articles_weighed(n) for n in range(64)] == list(range(1, 65))
    taken: Counter[int] = Counter()
    last = 0
    for count in range(1, 200_000):
        stepped = similar.in_steps(count)
        assert similar.articles_weighed(count - 1) == stepped
        # ...less than 1/32 over a larger one, never under, never back...
        assert count <= stepped < count + max(1, count / 32)
        assert stepped >= last
        last = stepped
        if 4096 < count <= 8192:
            taken[stepped] += 1
    # ...and in steps: from 4,097 to 8,192, 32 steps of 128 (1/32 to 1/64 of them).
    assert sorted(taken) == list(range(4096 + 128, 8192 + 1, 128))
    assert set(taken.values()) == {128}


def test_an_article_more_moves_a_common_words_weight_only_across_a_step() -> None:
    counts = Counter({"common": 1000, "other": 1008, "rare": 3})
    before = similar.Weights(counts, 3000)
    after = similar.Weights(counts + Counter(["common", "other", "rare", "new"]), 3001)
    assert after.idf["common"] == before.idf["common"]  # 1,001 in the step of 1,008
    assert after.idf["other"] < before.idf["other"]  # 1,009: the next step, 1,024
    assert after.idf["rare"] < before.idf["rare"]  # 4: exact
    assert after.idf["new"] > after.idf["rare"] > after.idf["other"]
