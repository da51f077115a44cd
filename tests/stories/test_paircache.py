"""Similar pairs kept in the state file between builds (`stories.paircache`)."""

from __future__ import annotations

from pathlib import Path

from aggregator.state.store import Store
from aggregator.stories.dedupe import DedupeSettings
from aggregator.stories.paircache import StoredPairs
from aggregator.version import __version__


def test_a_zone_is_given_back_only_with_the_digest_it_was_kept_with(tmp_path: Path) -> None:
    settings = DedupeSettings()
    with Store(tmp_path / "state.sqlite") as store:
        first = StoredPairs(store, settings)
        assert first.get(4, "d4") is None  # an empty table
        first.put(4, "d4", [("a.md", "b.md", 0.9)])
        first.put(5, "d5", [])
        first.save()
        again = StoredPairs(store, settings)
        assert again.get(4, "d4") == [("a.md", "b.md", 0.9)]
        assert again.get(5, "d5") == []
        assert again.get(4, "other") is None  # its articles changed
        assert again.get(6, "d6") is None  # never kept
        again.put(6, "d6", [("c.md", "d.md", 0.8)])
        again.save(within=[6])  # zone 6 found again; 4 and 5 were not looked at: kept
        last = StoredPairs(store, settings)
        assert [last.get(z, f"d{z}") for z in (4, 5, 6)] == [
            [("a.md", "b.md", 0.9)],
            [],
            [("c.md", "d.md", 0.8)],
        ]
        last.save()  # only the zones used are kept
        assert store.zones() == {4, 5, 6}
        other = StoredPairs(store, DedupeSettings(threshold=0.5))
        assert other.get(4, "d4") is None  # other settings: every zone dropped
        assert store.zones() == set()


def test_zones_kept_by_a_version_that_scored_pairs_otherwise_are_dropped(
    tmp_path: Path,
) -> None:
    settings = DedupeSettings()
    with Store(tmp_path / "state.sqlite") as store:
        kept = StoredPairs(store, settings)
        kept.put(4, "d4", [("a.md", "b.md", 0.9)])
        kept.save()
        # What the version before `similar.SCORING` wrote as the pairs' form.
        earlier = f"2/{__version__} {settings.threshold!r} {settings.window.total_seconds()!r}"
        store.set_meta("pairs_format", earlier)
        assert StoredPairs(store, settings).get(4, "d4") is None
        assert store.zones() == set()
