"""Which files changed since the last build, from the paths, sizes and mtimes of both:
the same answer as comparing every file by name, whatever was added, deleted, renamed,
edited or reordered."""

from __future__ import annotations

import json
import os
import random
import time
from hashlib import sha256
from pathlib import Path

import pytest
from conftest import NOW
from conftest import write_article

from aggregator.clock import wall_ns
from aggregator.config import Config
from aggregator.engine import tables
from aggregator.engine.pipeline import build
from aggregator.engine.tables import Identities
from aggregator.engine.tables import _compare
from aggregator.state.interface import StateStore
from aggregator.state.interface import open_store
from aggregator.stories.similar import SCORING
from aggregator.version import __version__


def _by_name(
    old_paths: list[str],
    old_sizes: list[int],
    old_times: list[int],
    now: Identities,
    untold: bool = True,
) -> tuple[list[str], list[str]]:
    old = {p: (s, t) for p, s, t in zip(old_paths, old_sizes, old_times, strict=True)}
    changed = [
        path
        for path, size, mtime in zip(now.paths, now.sizes, now.times, strict=True)
        if (untold and size < 0) or old.get(path) != (size, mtime)
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
    # the files whose identity is not the old one (what a build keeps: see `DELTA`)
    changed, deleted = tables._compare_at(paths, sizes, times, now, untold=False)
    assert ([now.paths[i] for i in changed], deleted) == _by_name(
        paths, sizes, times, now, untold=False
    )


def _step(rng: random.Random, files: dict[str, tuple[int, int]], gone: list[str]) -> None:
    """Change `files` as a corpus changes between two builds: one file landing, edited or
    deleted, one deleted before coming back, one too new to tell apart, or many at once
    (a checkout)."""
    for _ in range(1 if rng.random() < 0.8 else rng.randrange(2, 400)):
        what = rng.randrange(6)
        if what == 0 or not files:  # a file landing
            files[f"src/{rng.randrange(10**6):07}.md"] = (
                rng.randrange(100, 9000),
                rng.randrange(10**18),
            )
        elif what == 1:  # deleted
            path = rng.choice(sorted(files))
            gone.append(path)
            del files[path]
        elif what == 2 and gone:  # back again
            files[gone.pop()] = (rng.randrange(100, 9000), rng.randrange(10**18))
        elif what == 3:  # too new to tell apart (then told, as the next build sees it)
            path = rng.choice(sorted(files))
            files[path] = (-1, files[path][1])
        else:  # edited
            path = rng.choice(sorted(files))
            files[path] = (files[path][0] + rng.randrange(-5, 5), files[path][1] + 1)


def _identities(files: dict[str, tuple[int, int]]) -> Identities:
    paths = sorted(files)
    sizes = [files[p][0] for p in paths]
    times = [files[p][1] for p in paths]
    return Identities(paths, sizes, times, min(sizes, default=0) >= 0)


def _read_back(store: StateStore, now: Identities) -> dict[str, tuple[int, int]]:
    last = tables._last_files(store, now)
    assert last is not None
    assert list(last.paths) == sorted(last.paths)  # in the order of the paths, as listed
    return {p: (s, t) for p, s, t in zip(last.paths, last.sizes, last.times, strict=True)}


def _as_another_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget what this process kept of the state: the next read is another process's."""
    monkeypatch.setattr(tables, "_last", None)
    monkeypatch.setattr(tables, "_kept_numbers", ("null", None))
    monkeypatch.setattr(tables, "_listed", ([], ""))


@pytest.mark.parametrize("seed", range(12))
def test_the_files_a_build_keeps_are_those_the_next_build_reads_in_any_process(
    seed: int, state_at: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a build keeps of its files is read back as they were, by the same process
    and by another, after any changes: as a change of the base (a file that changed is
    a line; the others are not written again), the base written anew only when that
    change grew past its limit."""
    rng = random.Random(seed)
    files = {
        f"src/{n:07}.md": (rng.randrange(100, 9000), rng.randrange(10**18))
        for n in range(rng.randrange(0, 3000))
    }
    gone: list[str] = []
    rebased = 0
    with open_store(state_at) as store:
        tables._keep_files(store, _identities(files))
        for _ in range(60):
            previous = dict(files)
            _step(rng, files, gone)
            now = _identities(files)
            base = store.meta(tables.FILES), store.meta(tables.PATHS)
            token, told_gone, told = json.loads(store.meta(tables.DELTA) or "")
            # what the change of the base grows to: the files gone since it and those
            # whose identity was told since
            deleted = previous.keys() - files.keys()
            changed = {p for p, told_as in files.items() if previous.get(p) != told_as}
            grown_gone = (set(told_gone) | deleted) - changed
            grown = ({row[0] for row in told} - deleted) | changed
            tables._keep_files(store, now)
            delta = json.loads(store.meta(tables.DELTA) or "")
            assert delta[0] != token  # a new token each time
            if len(grown_gone) + len(grown) > max(
                tables._DELTA_MIN, tables._DELTA_SHARE * len(files)
            ):
                rebased += 1
                assert delta[1:] == [[], []]
            else:
                assert set(delta[1]) == grown_gone
                assert {row[0]: (row[1], row[2]) for row in delta[2]} == {
                    p: files[p] for p in grown
                }
                assert (store.meta(tables.FILES), store.meta(tables.PATHS)) == base
            assert _read_back(store, now) == files
            if rng.random() < 0.3:
                _as_another_process(monkeypatch)
                assert _read_back(store, now) == files
    assert rebased < 60


def test_a_state_an_earlier_version_kept_is_read_as_its_base(tmp_path: Path) -> None:
    """A state without a change of the base (an earlier version's): its base is the last
    build's files; a base being written (a build stopped then) is no files at all."""
    files = {"src/a.md": (10, 1), "src/b.md": (20, 2)}
    with open_store(tmp_path / "state.sqlite") as store:
        tables._keep_files(store, _identities(files))
        store.delete_meta(tables.DELTA)
        files["src/c.md"] = (30, 3)
        now = _identities(files)
        assert _read_back(store, now) == {"src/a.md": (10, 1), "src/b.md": (20, 2)}
        tables._keep_files(store, now)
        assert _read_back(store, now) == files
        store.set_meta(tables.DELTA, "")
        assert tables._last_files(store, now) is None


def test_files_another_process_kept_since_are_read_from_the_state(
    state_at: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that kept the files of a build does not take them for the last build's
    once another process (a command run beside a daemon) kept its own since."""
    files = {f"src/{n:03}.md": (n, n) for n in range(50)}
    with open_store(state_at) as store:
        tables._keep_files(store, _identities(files))
        mine = (tables._last, tables._kept_numbers, tables._listed)
        _as_another_process(monkeypatch)  # another one reads, and keeps its build's
        files["src/new.md"] = (7, 7)
        del files["src/003.md"]
        files["src/010.md"] = (1, 2)
        now = _identities(files)
        assert _read_back(store, now) != files
        tables._keep_files(store, now)
        # back in the first process: it reads what the other kept
        monkeypatch.setattr(tables, "_last", mine[0])
        monkeypatch.setattr(tables, "_kept_numbers", mine[1])
        monkeypatch.setattr(tables, "_listed", mine[2])
        assert _read_back(store, now) == files
        # and keeps its next build's as a change of what it read
        files["src/011.md"] = (5, 5)
        now = _identities(files)
        monkeypatch.setattr(tables, "_last", mine[0])
        tables._keep_files(store, now)
        _as_another_process(monkeypatch)
        assert _read_back(store, now) == files


@pytest.mark.parametrize("seed", range(20))
def test_files_too_new_to_tell_apart_are_told_by_size_minus_one(seed: int) -> None:
    """Of the identities of a build's files, those of files written within the racy
    window (or that could not be read) have size -1, whichever way they come: looked
    up, or as a daemon keeps them in order."""
    rng = random.Random(seed)
    count = rng.choice([0, 1, 99, 100, 101, 10_000, rng.randrange(1, 40_000)])
    late = wall_ns() + 3600 * 10**9  # after the racy window's start, however long this takes
    files = {
        f"src/{n:06}.md": (
            rng.choice([-1, -2, 0, 5, rng.randrange(10**6)]) if rng.random() < 0.01 else 5,
            late if rng.random() < rng.choice([0, 0.0001, 0.01, 0.5]) else rng.randrange(10**18),
        )
        for n in range(count)
    }
    paths = sorted(files)
    stated = dict(files)
    if paths and rng.random() < 0.5:  # one that could not be stat'ed: none found
        unread = rng.choice(paths)
        del stated[unread]
        files[unread] = (-1, 0)
    expected = [-1 if s < 0 or t >= late else s for s, t in (files[p] for p in paths)]
    looked_up = tables.identities_of(paths, stated)
    kept = tables.identities_of(
        paths, stated, None, ([files[p][0] for p in paths], [files[p][1] for p in paths])
    )
    for known in (looked_up, kept):
        assert known.sizes == expected
        assert known.times == [files[p][1] for p in paths]
        assert known.settled == (min(expected, default=0) >= 0)


def test_a_path_listed_twice_is_not_deleted_while_listed_once() -> None:
    """Old files that list a path twice (a finder that listed it twice) and new files
    that list it once: it is not deleted; listed nowhere, it is (each time listed)."""
    old = ["a", "p", "p", "z"]
    for new, deleted in ((["a", "p", "z"], []), (["a", "z"], ["p", "p"])):
        now = Identities(new, [1] * len(new), [1] * len(new), True)
        assert _compare(old, [1] * 4, [1] * 4, now) == ([], deleted)
        assert _by_name(old, [1] * 4, [1] * 4, now) == ([], deleted)


@pytest.mark.parametrize(
    "damaged",
    ["Infinity", '["t", [], [["src/001.md", 1e400, 1]]]', "[" * 100_000, '["t", 5, []]', "5"],
)
def test_a_damaged_change_of_the_base_makes_one_cold_build(tmp_path: Path, damaged: str) -> None:
    """A state whose change of the base cannot be read (damaged by hand or by a disk):
    the build starts from an empty state, as for any state it cannot read, and the
    next is incremental again."""
    config = _edited_after(tmp_path, tables.DELTA, damaged)
    assert build(config, now=NOW).mode == "full"
    _aged(write_article(config.sources[0], "003.md", n=3, title="Three, edited"))
    assert build(config, now=NOW).mode == "incremental"


def test_a_state_the_earlier_layout_kept_is_built_cold(tmp_path: Path) -> None:
    """The earlier layout read `PATHS` and `FILES` as the last build's files: a state of
    either layout is built cold by a version of the other (its tables' form differs)."""
    config = _config(tmp_path)
    earlier = sha256(f"{__version__}\n{config.tables_key()}\n".encode()).hexdigest()
    assert tables.form(config) != earlier
    assert build(_edited_after(tmp_path, tables.FORM, earlier), now=NOW).mode == "full"


def test_a_state_kept_by_a_version_that_writes_no_build_token_is_built_cold(
    tmp_path: Path,
) -> None:
    """A version that wrote no token as each build started (`zonerows.GENERATION`, layout
    3) would leave a process's kept periods looking current after its build: the state
    of either is built cold by the other."""
    config = _config(tmp_path)
    text = f"{__version__}\n3: feeds with their headlines\n{SCORING}\n{config.tables_key()}\n"
    earlier = sha256(text.encode()).hexdigest()
    assert tables.form(config) != earlier
    assert build(_edited_after(tmp_path, tables.FORM, earlier), now=NOW).mode == "full"


def test_a_state_whose_pairs_were_scored_otherwise_is_built_cold(tmp_path: Path) -> None:
    """Pairs kept with their scores by a version that scored them otherwise (the
    weights of a period taken over the exact count of its articles) are found again:
    the state's tables are of another form, and the build is a cold one."""
    config = _config(tmp_path)
    text = f"{__version__}\n{tables.LAYOUT}\n{config.tables_key()}\n"
    earlier = sha256(text.encode()).hexdigest()
    assert tables.form(config) != earlier
    assert build(_edited_after(tmp_path, tables.FORM, earlier), now=NOW).mode == "full"


def test_a_state_of_another_form_is_built_cold_even_with_no_file_changed(
    tmp_path: Path,
) -> None:
    """With no file changed, a build repeats the last report: not when the tables are
    of another form (another layout, pairs scored otherwise), which are built again."""
    config = _config(tmp_path)
    for n in range(1, 6):
        _aged(write_article(config.sources[0], f"{n:03}.md", n=n))
    build(config, now=NOW)
    assert build(config, now=NOW).mode == "unchanged"
    with open_store(config.state_location) as store:
        store.set_meta(tables.FORM, "an earlier form")
    assert build(config, now=NOW).mode == "full"
    assert build(config, now=NOW).mode == "unchanged"


def _config(tmp_path: Path) -> Config:
    return Config(sources=(tmp_path / "src",), output=tmp_path / "out", links="off")


def _edited_after(tmp_path: Path, key: str, text: str) -> Config:
    """The config of five files built once, then a meta row of the state set to `text`
    and a file edited."""
    config = _config(tmp_path)
    for n in range(1, 6):
        _aged(write_article(config.sources[0], f"{n:03}.md", n=n))
    build(config, now=NOW)
    with open_store(config.state_location) as store:
        store.set_meta(key, text)
    _aged(write_article(config.sources[0], "002.md", n=2, title="Two, edited"))
    return config


def _aged(path: Path) -> None:
    """A file written a minute ago (out of the racy window), at another mtime each time."""
    when = time.time() - 60 - time.monotonic() % 1
    os.utime(path, (when, when))
