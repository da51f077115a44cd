"""The report's long lists, kept in chunks by path as builds go (`lastbuild`)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from aggregator.state.lastbuild import clear_lists
from aggregator.state.lastbuild import patch_list
from aggregator.state.store import Store


def kept(store: Store, kind: str) -> list[list[Any]]:
    """The rows of a kept list, chunk after chunk."""
    return [row for _key, text in store.metas(f"last_report/{kind}/") for row in json.loads(text)]


def test_a_list_in_many_chunks_is_patched_row_for_row(tmp_path: Path) -> None:
    # A flat folder of files named at random: nearly every row is a chunk of its own.
    rng = random.Random(7)
    paths = sorted(f"/corpus/{rng.randrange(16**12):012x}.md" for _ in range(3000))
    rows = [[path, f"kept: {n}"] for n, path in enumerate(paths) if n % 2 == 0]
    with Store(tmp_path / "state.sqlite") as store:
        clear_lists(store, paths)
        assert patch_list(store, "duplicates", set(), rows) == len(rows)
        assert kept(store, "duplicates") == rows
        assert len(store.metas("last_report/duplicates/")) > 1000  # many chunks

        # The next build: some rows go, some come back changed, some are new.
        gone = {row[0] for row in rows[::3]} | {paths[1], paths[3]}
        added = [[path, "again"] for path in sorted(gone)[::2]]
        expected = sorted(
            [row for row in rows if row[0] not in gone] + added, key=lambda row: str(row[0])
        )
        removed = len([row for row in rows if row[0] in gone])
        assert patch_list(store, "duplicates", gone, added) == len(added) - removed
        assert kept(store, "duplicates") == expected
        assert kept(store, "excluded") == []
