"""Similar pairs kept in the state file between builds (see `similar.similar_pairs`).

A zone's pairs are stored with the digest of the articles they were found among
and reused only by a build whose articles in that zone have the same digest: a
stale or half-written row is never trusted. The rows belong to one version and
one pair of dedupe settings (threshold, window): they are dropped when those
change.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from aggregator.state.interface import StateStore
from aggregator.stories.dedupe import DedupeSettings
from aggregator.stories.similar import SCORING
from aggregator.stories.similar import Pair
from aggregator.version import __version__

_FORM = "pairs_format"


class StoredPairs:
    """A `similar.PairCache` on the state file; `save()` writes what changed."""

    def __init__(self, store: StateStore, settings: DedupeSettings) -> None:
        self.store = store
        form = (
            f"2/{__version__}/{SCORING} {settings.threshold!r} {settings.window.total_seconds()!r}"
        )
        if store.meta(_FORM) != form:
            store.clear_zones()
            store.set_meta(_FORM, form)
        self.new: list[tuple[int, str, str]] = []
        self.used: set[int] = set()

    def get(self, zone: int, digest: str) -> list[Pair] | None:
        self.used.add(zone)
        row = self.store.zone(zone)
        if row is None or row[0] != digest:
            return None
        try:
            data: Any = json.loads(row[1])
            return [(str(a), str(b), float(score)) for a, b, score in data]
        except (ValueError, TypeError):
            return None  # not what this version writes: computed again

    def put(self, zone: int, digest: str, pairs: list[Pair]) -> None:
        self.used.add(zone)
        self.new.append((zone, digest, json.dumps(pairs, ensure_ascii=False)))

    def save(self, within: Iterable[int] | None = None) -> None:
        """Write the new rows; drop the zones not used (of `within`, when given)."""
        keep = self.used if within is None else self.store.zones() - set(within) | self.used
        self.store.save_zones(self.new, keep)
        self.new = []
