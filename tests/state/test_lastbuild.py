"""The report's long lists, kept in chunks by path as builds go (`lastbuild`)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from aggregator.model import tally
from aggregator.state.codec import exclusion_from_row
from aggregator.state.lastbuild import clear_lists
from aggregator.state.lastbuild import patch_list
from aggregator.state.store import Store


def kept(store: Store, kind: str) -> list[list[Any]]:
    """The rows of a kept list, chunk after chunk."""
    return [row for _key, text in store.metas(f"last_report/{kind}/") for row in json.loads(text)]


def duplicate(path: str, copies: int, reason: str = "same-url") -> list[Any]:
    """A kept duplicate row (`codec.duplicate_row`) of `path` with this many copies."""
    return [path, reason, 1.0, [[f"{path}.copy{n}", reason, 1.0] for n in range(copies)]]


def test_a_list_in_many_chunks_is_patched_row_for_row(tmp_path: Path) -> None:
    # A flat folder of files named at random: nearly every row is a chunk of its own.
    rng = random.Random(7)
    paths = sorted(f"/corpus/{rng.randrange(16**12):012x}.md" for _ in range(3000))
    rows = [duplicate(path, n % 3 + 1) for n, path in enumerate(paths) if n % 2 == 0]
    with Store(tmp_path / "state.sqlite") as store:
        clear_lists(store, paths)
        gained, change = patch_list(store, "duplicates", set(), rows)
        assert gained == len(rows)
        assert change == {"dropped": sum(len(row[3]) for row in rows)}
        assert kept(store, "duplicates") == rows
        assert len(store.metas("last_report/duplicates/")) > 1000  # many chunks

        # The next build: some rows go, some come back changed, some are new.
        gone = {row[0] for row in rows[::3]} | {paths[1], paths[3]}
        added = [duplicate(path, 5, "similar-title") for path in sorted(gone)[::2]]
        expected = sorted(
            [row for row in rows if row[0] not in gone] + added, key=lambda row: str(row[0])
        )
        removed = [row for row in rows if row[0] in gone]
        gained, change = patch_list(store, "duplicates", gone, added)
        assert gained == len(added) - len(removed)
        dropped = 5 * len(added) - sum(len(row[3]) for row in removed)
        assert change == {"dropped": dropped}
        assert kept(store, "duplicates") == expected
        assert kept(store, "excluded") == []


def test_the_tally_of_exclusions_follows_their_codes_and_topics(tmp_path: Path) -> None:
    # An article left out of one topic's feed counts apart from one left out of all.
    paths = [f"/corpus/{n:04}.md" for n in range(40)]
    codes = ["quality", "unpublished", "dead-link", "max-age"]
    rows = [
        [path, codes[n % 4], f"reason {n}", "AI" if n % 3 == 0 else None]
        for n, path in enumerate(paths)
    ]
    with Store(tmp_path / "state.sqlite") as store:
        clear_lists(store, paths)
        gained, change = patch_list(store, "excluded", set(), rows)
        assert gained == len(rows)
        assert change == tally("excluded", [exclusion_from_row(row) for row in rows])
        assert change["quality"] == 6 and change["topic quality"] == 4

        gone = {row[0] for row in rows[:10]}
        added = [[path, "dead-link", "HTTP 404", None] for path in sorted(gone)[:3]]
        gained, change = patch_list(store, "excluded", gone, added)
        assert gained == 3 - 10
        whole = tally("excluded", [exclusion_from_row(row) for row in kept(store, "excluded")])
        before = tally("excluded", [exclusion_from_row(row) for row in rows])
        assert before + change == whole
