"""Which files changed since the last build, from the paths, sizes and mtimes of both:
the same answer as comparing every file by name, whatever was added, deleted, renamed,
edited or reordered."""

from __future__ import annotations

import random

import pytest

from aggregator.engine.tables import Identities
from aggregator.engine.tables import _compare


def _by_name(
    old_paths: list[str], old_sizes: list[int], old_times: list[int], now: Identities
) -> tuple[list[str], list[str]]:
    old = {p: (s, t) for p, s, t in zip(old_paths, old_sizes, old_times, strict=True)}
    changed = [
        path
        for path, size, mtime in zip(now.paths, now.sizes, now.times, strict=True)
        if size < 0 or old.get(path) != (size, mtime)
    ]
    present = set(now.paths)
    return changed, [path for path in old_paths if path not in present]


@pytest.mark.parametrize("seed", range(40))
def test_changes_are_those_found_by_comparing_every_file_by_name(seed: int) -> None:
    rng = random.Random(seed)
    paths = sorted(f"src/{rng.randrange(10**6):07}.md" for _ in range(rng.randrange(1, 3000)))
    paths = sorted(set(paths))
    sizes = [rng.randrange(100, 9000) for _ in paths]
    times = [rng.randrange(10**18) for _ in paths]
    new = list(zip(paths, sizes, times, strict=True))
    for _ in range(rng.choice([rng.randrange(0, 6), rng.randrange(60, 200)])):
        what = rng.randrange(5)
        if what == 0 or not new:  # a file added
            new.append((f"src/{rng.randrange(10**6):07}x.md", 1, 2))
            new.sort()
        elif what == 1:  # deleted
            del new[rng.randrange(len(new))]
        elif what == 2:  # edited
            i = rng.randrange(len(new))
            new[i] = (new[i][0], new[i][1] + 1, new[i][2] + 1)
        elif what == 3:  # too new to tell apart
            i = rng.randrange(len(new))
            new[i] = (new[i][0], -1, new[i][2])
        else:  # listed in another order (another source first)
            i, j = rng.randrange(len(new)), rng.randrange(len(new))
            new[i], new[j] = new[j], new[i]
    settled = all(size >= 0 for _, size, _ in new)
    now = Identities(
        [p for p, _, _ in new], [s for _, s, _ in new], [t for _, _, t in new], settled
    )
    assert _compare(paths, sizes, times, now) == _by_name(paths, sizes, times, now)
