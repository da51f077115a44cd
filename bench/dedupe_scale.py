"""How near-duplicate detection grows with the corpus: the sweep over N articles.

Titles and excerpts come from `bench/corpus.py`'s generator, published evenly over its
three years, so a larger N puts more articles in each window (as a larger corpus of one
subject does). With `--common`, company names come from a list of 20 only (no made-up
names): titles share more common words within days, the case that makes candidate
generation costly. Prints, per N, the time to find every zone's pairs in this process
(fingerprints made beforehand, not counted; the cyclic garbage collector paused, as a
build's workers and a cold build's main process run), the pairs scored per article and
the pairs found.

    python bench/dedupe_scale.py [--n 20000 100000] [--common]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus

from aggregator.model import Fingerprint
from aggregator.sources.loader import collector_paused
from aggregator.stories import similar


@dataclass(frozen=True)
class _Text:
    title: str
    excerpt: str


@dataclass(frozen=True)
class _Dated:
    path: str
    published_at: datetime
    fingerprint: Fingerprint


def articles(n: int, common: bool, seed: int = 1) -> list[_Dated]:
    chunk = corpus._Chunk(seed, 0, n, common)
    rng = random.Random(seed)
    found = []
    for i in range(n):
        title = chunk._title(rng.choice(corpus.TOPICS[:44]))
        text = _Text(title, chunk._excerpt(title) or "")
        when = corpus.START + timedelta(seconds=corpus.SPAN * i / n)
        found.append(_Dated(f"{i:07}.md", when, similar.fingerprint(text)))  # type: ignore[arg-type]
    return found


def measure(n: int, common: bool, runs: int) -> tuple[float, float, int]:
    items = articles(n, common)
    scored = 0
    score = similar._score

    def counting(*args: object) -> float:
        nonlocal scored
        scored += 1
        return score(*args)  # type: ignore[arg-type]

    similar._score = counting  # type: ignore[assignment]
    times = []
    try:
        for _ in range(runs):
            scored = 0
            with collector_paused():
                start = time.perf_counter()
                zones = similar.similar_zones(items)
                times.append(time.perf_counter() - start)
    finally:
        similar._score = score
    return statistics.median(times), scored / n, sum(map(len, zones.values()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--common", action="store_true", help="titles of common words only")
    parser.add_argument("--runs", type=int, default=3, help="median of this many (default 3)")
    args = parser.parse_args(argv)
    previous: tuple[int, float] | None = None
    for n in args.n:
        seconds, per_article, pairs = measure(n, args.common, args.runs)
        growth = ""
        if previous is not None:
            growth = f", {seconds / previous[1]:.1f}x the time for {n / previous[0]:.1f}x the files"
        print(
            f"{n} articles{' (common words)' if args.common else ''}: {seconds:.2f} s, "
            f"{per_article:.1f} pairs scored per article, {pairs} pairs found{growth}"
        )
        previous = (n, seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
