"""`app.watch` in process: what is kept between builds (`Warm`) against a full walk, when
a burst of events is over, one build per burst, and the real watchdog observer on
folders in tmp_path. The daemon with `--watch` for real is in test_watch_daemon.py."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from aggregator.app.watch import LONGEST
from aggregator.app.watch import QUIET
from aggregator.app.watch import QUIET_WHOLE
from aggregator.app.watch import QUIET_WRITING
from aggregator.app.watch import Burst
from aggregator.app.watch import Rebuilds
from aggregator.app.watch import Rules
from aggregator.app.watch import Warm
from aggregator.app.watch import Watcher
from aggregator.app.watch import wait_left
from aggregator.config import Config
from aggregator.config import load_config
from aggregator.engine.pipeline import find_files
from aggregator.errors import ConfigError
from aggregator.sources.inputs import Found

#: a guard against waiting forever, never a measure of speed
PATIENCE = 300.0


def config_of(root: Path, *sources: str) -> Config:
    return Config(sources=tuple(root / s for s in sources or ("src",)), output=root / "out")


def same_as_a_walk(warm: Warm, config: Config) -> Found:
    """What `warm` gives is what walking every folder and stat-ing every file gives."""
    found, identities = warm.find(config)
    walked, stated = find_files(config)
    assert found.paths == walked.paths
    assert found.misnamed == walked.misnamed
    assert {p: identities.get(p) for p in found.paths} == {p: stated.get(p) for p in walked.paths}
    # ... and the sizes and mtimes it keeps in their order, as the build takes them
    # (none when it keeps nothing: several sources a link joins, say)
    if found.numbers is not None:
        sizes, times = found.numbers
        told = list(zip(sizes, times, strict=True))
        assert told == [stated.get(p, (-1, 0)) for p in walked.paths]
    return found


# --- when a burst is over ------------------------------------------------------------


def test_a_burst_is_over_after_a_quiet_moment_and_never_later_than_longest() -> None:
    assert wait_left(10.0, 10.0, False, 10.0) == pytest.approx(QUIET)
    assert wait_left(10.0, 10.0, True, 10.0) == pytest.approx(QUIET_WRITING)
    assert wait_left(10.0, 10.0, False, 10.0 + QUIET) == 0.0
    # events keep coming: the build waits for them, up to LONGEST after the first
    assert wait_left(10.0, 10.0 + LONGEST - 0.01, False, 10.0 + LONGEST - 0.01) == pytest.approx(
        0.01
    )
    assert wait_left(10.0, 10.0 + LONGEST, True, 10.0 + LONGEST) == 0.0


def test_a_burst_is_over_sooner_when_its_last_event_left_a_file_whole() -> None:
    assert QUIET_WHOLE < QUIET < QUIET_WRITING
    assert wait_left(10.0, 10.0, False, 10.0, whole=True) == pytest.approx(QUIET_WHOLE)
    assert wait_left(10.0, 10.0, False, 10.0 + QUIET_WHOLE, whole=True) == 0.0
    # a file still open for writing is waited for, whatever the last event was
    assert wait_left(10.0, 10.0, True, 10.0, whole=True) == pytest.approx(QUIET_WRITING)


class Clocked:
    """Rebuilds on a clock that moves when told, and when their builds began."""

    def __init__(self) -> None:
        self.now = 0.0
        self.builds: list[float] = []
        self.built = threading.Event()
        self.rebuilds = Rebuilds(self._build, clock=lambda: self.now).start()

    def _build(self, burst: Burst) -> None:
        self.builds.append(self.now)
        self.built.set()

    def not_over_at(self, when: float) -> None:
        """The clock at `when`: the thread looks again, and the burst is not over."""
        self.now = when
        time.sleep(QUIET)
        assert self.builds == []

    def over_at(self, when: float) -> None:
        """The clock at `when`: the burst is over, one build began."""
        self.now = when
        assert self.built.wait(PATIENCE)
        assert self.builds == [when]


@pytest.fixture
def clocked() -> Iterator[Clocked]:
    found = Clocked()
    yield found
    found.rebuilds.stop()


def test_a_file_created_then_written_a_moment_later_is_built_once_written(
    clocked: Clocked,
) -> None:
    """A writer that creates a file and writes it a moment later (a downloader after
    the headers): the creation alone leaves the burst open past QUIET_WHOLE, so no build
    reads the empty file; the close after writing ends it after QUIET_WHOLE."""
    rebuilds = clocked.rebuilds
    rebuilds.saw("src/a.md", done=True)  # created, empty
    clocked.not_over_at((QUIET_WHOLE + QUIET) / 2)
    rebuilds.saw("src/a.md", writing=True)
    rebuilds.saw("src/a.md", done=True, closed=True)  # closed after writing
    clocked.over_at(clocked.now + QUIET_WHOLE)


def test_a_file_created_and_closed_empty_is_not_whole_until_written(clocked: Clocked) -> None:
    """`touch` (created, closed, nothing written), then the writing a moment later: the
    close alone leaves the burst open past QUIET_WHOLE."""
    rebuilds = clocked.rebuilds
    rebuilds.saw("src/a.md", done=True)  # created
    rebuilds.saw("src/a.md", done=True, closed=True)  # closed, nothing written
    clocked.not_over_at((QUIET_WHOLE + QUIET) / 2)
    rebuilds.saw("src/a.md", writing=True)
    rebuilds.saw("src/a.md", done=True, closed=True)
    clocked.over_at(clocked.now + QUIET_WHOLE)


def test_a_file_closed_without_a_write_is_as_it_was(clocked: Clocked) -> None:
    """A file opened for writing and closed unwritten (`touch` of an existing file) is
    whole: the burst is over after QUIET_WHOLE."""
    clocked.rebuilds.saw("src/a.md", done=True, closed=True)
    clocked.over_at(QUIET_WHOLE)


@pytest.mark.parametrize("first", ["created", "deleted"])
def test_another_file_closed_meanwhile_does_not_end_the_burst_sooner(
    clocked: Clocked, first: str
) -> None:
    """A file created and not yet written (or deleted, to be made again) keeps the
    burst open for QUIET, whatever other file is closed after it (parallel downloads,
    a checkout); once it is whole too, QUIET_WHOLE after the last event ends it."""
    rebuilds = clocked.rebuilds
    rebuilds.saw("src/a.md", done=True)  # created, or deleted
    clocked.now = 0.001
    rebuilds.saw("src/b.md", writing=True)
    rebuilds.saw("src/b.md", done=True, closed=True)  # another file, whole
    clocked.not_over_at(0.001 + (QUIET_WHOLE + QUIET) / 2)
    if first == "deleted":
        rebuilds.saw("src/a.md", done=True)  # made again
    rebuilds.saw("src/a.md", writing=True)
    rebuilds.saw("src/a.md", done=True, closed=True)  # written and closed
    clocked.over_at(clocked.now + QUIET_WHOLE)


def test_a_burst_gives_one_build_and_events_during_a_build_exactly_one_more() -> None:
    builds: list[int] = []
    started = threading.Event()
    release = threading.Event()
    second = threading.Event()

    def build(burst: Burst) -> None:
        builds.append(burst.paths)
        if len(builds) == 1:
            started.set()
            assert release.wait(PATIENCE)
        else:
            second.set()

    rebuilds = Rebuilds(build).start()
    try:
        rebuilds.saw("src/first.md", done=True)
        assert started.wait(PATIENCE)
        # The first build runs: everything seen now waits for it, then goes in one build.
        for number in range(50):
            rebuilds.saw(f"src/{number}.md", writing=True)
            rebuilds.saw(f"src/{number}.md", done=True)
        release.set()
        assert second.wait(PATIENCE)
    finally:
        rebuilds.stop()
    assert builds == [1, 50]


# --- what is kept between builds -----------------------------------------------------

NAMES = (
    "a.md",
    "b.md",
    "c.txt",
    "notes.pdf",
    ".hidden.md",
    "a.md~",
    "sub/d.md",
    "sub/deep/e.md",
    "sub/.dot/f.md",
    ".dotdir/g.md",
    "other/h.md",
    # names that are not UTF-8 (the bytes 0xff and 0xfe): reported, never read
    "bad-\udcff.md",
    "sub/deep/\udcfe.md",
    "\udcfe-dir/j.md",
)
FOLDERS = ("sub", "sub/deep", "other", ".dotdir", "\udcfe-dir")
OPS = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(NAMES), st.integers(1, 3)),
    st.tuples(st.just("delete"), st.sampled_from(NAMES), st.just(0)),
    st.tuples(st.just("rmtree"), st.sampled_from(FOLDERS), st.just(0)),
    st.tuples(st.just("move"), st.sampled_from(FOLDERS), st.sampled_from(("x", "sub/y"))),
)
#: ... and links to files among them (written through, made before their target, left
#: dangling, moved with a folder)
LINKS = st.one_of(
    OPS,
    st.tuples(
        st.sampled_from(("symlink", "hardlink", "relink")),
        st.sampled_from(NAMES),
        st.sampled_from(NAMES),
    ),
)


def _read(name: str) -> bool:
    """Whether a build reads the file `name` of NAMES."""
    parts = name.split("/")
    return name.endswith(".md") and name.isprintable() and not any(p[:1] == "." for p in parts)


def _heard(name: str) -> bool:
    """Whether an event of the file `name` of NAMES is heard (one not read included)."""
    return name.endswith(".md") and not any(p[:1] == "." for p in name.split("/"))


def _made(src: Path, path: Path) -> list[str]:
    """Make the folders of `path` under `src`; the paths events would name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return [str(src / f) for f in reversed(path.relative_to(src).parents) if f.parts]


def apply(src: Path, op: tuple[str, str, object]) -> list[str]:
    """Do `op` under `src`; the paths a watcher's events would name."""
    kind, name, arg = op
    path = src / name
    if kind == "write":
        # Through a link: the kernel names the file written, not the link.
        path = Path(os.path.realpath(path))
        if not path.is_relative_to(os.path.realpath(src)):
            return []  # a link out of the folders: no event can tell it
        path = src / path.relative_to(os.path.realpath(src))
        folders = _made(src, path)
        try:
            path.write_text("---\ntitle: x\n---\n" + "y" * int(str(arg)) * 7, encoding="utf-8")
        except OSError:  # a loop of links
            return []
        return [*folders, str(path)]
    if kind == "relink":  # `ln -sfn`: a new link renamed over the old one
        if not path.is_symlink():
            return []
        new = path.with_name(".new-link")
        new.symlink_to(os.path.relpath(src / str(arg), path.parent))
        os.replace(new, path)
        return [str(path)]
    if kind in ("symlink", "hardlink"):
        target = src / str(arg)
        if os.path.lexists(path) or (kind == "hardlink" and not target.is_file()):
            return []
        if kind == "hardlink" and not (_heard(name) and _heard(str(arg))):
            return []  # written under a name no event is heard of, it changes unheard
        folders = _made(src, path)
        if kind == "symlink":
            path.symlink_to(os.path.relpath(target, path.parent))
        else:
            os.link(target, path)
        return [*folders, str(path)]
    if kind == "delete":
        path.unlink(missing_ok=True)
        return [str(path)]
    if kind == "rmtree":  # an event for each file and folder removed, as inotify gives
        inside = [str(p) for p in path.rglob("*")] if path.is_dir() else []
        shutil.rmtree(path, ignore_errors=True)
        return [*inside, str(path)]
    target = src / str(arg)
    if not path.is_dir() or target.exists() or target.is_relative_to(path):
        return []
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, target)
    return [str(path), str(target)]


@pytest.mark.e2e
@settings(max_examples=100)
@given(st.lists(st.lists(OPS, min_size=1, max_size=8), min_size=1, max_size=6))
def test_what_is_kept_is_what_a_walk_finds_after_any_changes(
    bursts: list[list[tuple[str, str, object]]],
) -> None:
    """Changes one at a time or many before a build (the paths touched are followed
    together): what is kept is what a walk finds."""
    with tempfile.TemporaryDirectory() as folder:
        warm, config = followed(Path(folder), bursts, walks=False)
        warm.rewalk()
        same_as_a_walk(warm, config)
        assert warm.walked


def followed(
    root: Path, bursts: list[list[tuple[str, str, object]]], walks: bool | None = None
) -> tuple[Warm, Config]:
    """Each burst done in `root`/src and told to a `Warm`, which keeps what a walk finds
    after each; whether each burst `walks` (None: either)."""
    src = root / "src"
    src.mkdir()
    config = config_of(root)
    warm = Warm()
    same_as_a_walk(warm, config)
    assert warm.walked
    for burst in bursts:
        warm.touched([path for op in burst for path in apply(src, op)])
        assert same_as_a_walk(warm, config).numbers is not None  # one source: kept
        assert walks is None or warm.walked == walks
    return warm, config


#: changes among files with other names, a burst each, and whether the last walks
LINKED = {
    "a file written, a link to it kept": (
        [[("write", "b.md", 1), ("symlink", "a.md", "b.md")], [("write", "b.md", 2)]],
        False,
    ),
    "a link pointed at another file (`ln -sfn`)": (
        [
            [("write", "b.md", 1), ("write", "other/h.md", 1), ("symlink", "a.md", "b.md")],
            [("relink", "a.md", "other/h.md")],
            [("write", "other/h.md", 2)],
        ],
        False,
    ),
    "a file written, its hard link kept": (
        [[("write", "a.md", 1), ("hardlink", "b.md", "a.md")], [("write", "a.md", 2)]],
        False,
    ),
    "a hard link made since the walk": (
        [[("write", "a.md", 1)], [("hardlink", "b.md", "a.md")]],
        True,
    ),
    "a file written through its hard link whose name is not UTF-8": (
        [
            [("write", "a.md", 1), ("hardlink", "bad-\udcff.md", "a.md")],
            [("write", "bad-\udcff.md", 2)],
        ],
        True,
    ),
    "a file whose name is not UTF-8 written, its hard link kept": (
        [
            [("write", "\udcfe-dir/j.md", 1), ("hardlink", "sub/d.md", "\udcfe-dir/j.md")],
            [("write", "\udcfe-dir/j.md", 2)],
        ],
        True,
    ),
    "a file written, its hard link whose name is not UTF-8 kept": (
        [
            [("write", "a.md", 1), ("hardlink", "sub/deep/\udcfe.md", "a.md")],
            [("write", "a.md", 2)],
        ],
        False,
    ),
    "a folder moved, a link to a file in it kept": (
        [
            [("write", "sub/d.md", 1), ("symlink", "a.md", "sub/d.md")],
            [("move", "sub", "x")],
        ],
        False,
    ),
}


@pytest.mark.e2e
@pytest.mark.parametrize("case", LINKED)
def test_what_is_kept_is_what_a_walk_finds_for_each_change_of_a_linked_file(
    tmp_path: Path, case: str
) -> None:
    bursts, walks = LINKED[case]
    warm, _ = followed(tmp_path, bursts)
    assert warm.walked == walks


class Kept:
    """A `Warm` of the folder `src` under `root`, checked against a walk at each step."""

    def __init__(self, root: Path) -> None:
        self.config = config_of(root)
        self.warm = Warm()
        self.check()

    def check(self, *touched: Path) -> None:
        """The paths events named since are `touched`: what is kept is what a walk finds."""
        self.warm.touched([str(path) for path in touched])
        same_as_a_walk(self.warm, self.config)


@pytest.mark.e2e
def test_files_whose_names_are_not_utf8_are_followed_and_reported_without_a_walk(
    tmp_path: Path,
) -> None:
    """A daemon beside a file it cannot name keeps following events (one file saved is
    no walk of every folder) and reports that file at every build, as a walk would."""
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.md").write_text("a", encoding="utf-8")
    bad = Path(os.fsdecode(os.fsencode(src) + b"/bad-\xff.md"))
    bad.write_text("not read", encoding="utf-8")
    kept = Kept(tmp_path)
    shown = f"{src}/bad-\\xff.md"
    (src / "a.md").write_text("a, saved", encoding="utf-8")
    kept.check(src / "a.md")
    assert not kept.warm.walked
    found, _ = kept.warm.find(kept.config)
    assert [(e.path, e.reason) for e in found.misnamed] == [
        (shown, "file name is not UTF-8: rename the file")
    ]
    # Another in a new folder, then the first renamed to a name that can be read.
    other = Path(os.fsdecode(os.fsencode(src) + b"/sub/\xfe/c.md"))
    other.parent.mkdir()
    other.write_text("c", encoding="utf-8")
    kept.check(other.parent, other)
    assert not kept.warm.walked
    assert len(kept.warm.find(kept.config)[0].misnamed) == 2
    bad.rename(src / "b.md")
    kept.check(bad, src / "b.md")
    assert not kept.warm.walked
    found, _ = kept.warm.find(kept.config)
    assert found.paths == [str(src / "a.md"), str(src / "b.md")]
    assert [e.path for e in found.misnamed] == [f"{src}/sub/\\xfe/c.md"]
    shutil.rmtree(src / "sub")
    kept.check(other, other.parent, src / "sub")
    assert not kept.warm.walked
    assert kept.warm.find(kept.config)[0].misnamed == ()


def _bytes_path(base: Path, name: bytes) -> Path:
    return Path(os.fsdecode(os.fsencode(base) + b"/" + name))


def _through_and_removed(src: Path) -> list[Path]:
    """A change saved through a hard link whose name is not UTF-8, the link removed."""
    bad = _bytes_path(src, b"bad-\xff.md")
    _write(bad, 50)
    bad.unlink()
    return [bad]


def _through_and_moved_out(src: Path) -> list[Path]:
    bad = _bytes_path(src, b"bad-\xff.md")
    _write(bad, 50)
    os.rename(bad, src.parent / "elsewhere.md")
    return [bad]


def _through_and_replaced(src: Path) -> list[Path]:
    bad, new = _bytes_path(src, b"bad-\xff.md"), _bytes_path(src, b"bad-\xff.md~")
    _write(bad, 50)
    _write(new, 3)
    os.replace(new, bad)  # a file of its own now
    return [bad, new]


def _folder_through_and_removed(src: Path) -> list[Path]:
    folder = _bytes_path(src, b"\xfe-dir")
    _write(folder / "j.md", 50)
    shutil.rmtree(folder)
    return [folder / "j.md", folder]


def _target_made_a_folder(src: Path) -> list[Path]:
    (src / "a.md").unlink()
    (src / "a.md").mkdir()  # the link leads to a folder: no file to a walk
    return [src / "a.md"]


def _outside_target_made_a_folder(src: Path) -> list[Path]:
    outside = src.parent / "outside.md"
    outside.unlink()
    outside.mkdir()  # no event: out of the folders
    _write(src / "c.md", 2)
    return [src / "c.md"]


#: changes of a file whose name is not UTF-8 and that is a link or has another name, as
#: made before the daemon's walk (a hard link of `a.md`, a link to `a.md`, or a link out
#: of the folders), and as made since
MISNAMED_MATES = {
    "written through, removed": ("hard", _through_and_removed),
    "written through, moved out": ("hard", _through_and_moved_out),
    "written through, replaced by a file": ("hard", _through_and_replaced),
    "written through in a folder, the folder removed": (
        "hard in folder",
        _folder_through_and_removed,
    ),
    "the target made a folder": ("link", _target_made_a_folder),
    "the target out of the folders made a folder": ("link out", _outside_target_made_a_folder),
}


@pytest.mark.e2e
@pytest.mark.parametrize("case", MISNAMED_MATES)
def test_a_file_whose_name_is_not_utf8_with_other_names_is_walked_when_it_may_have_changed(
    tmp_path: Path, case: str
) -> None:
    """Such a name is not stat'ed with the files kept: a change saved through it, or a
    link's target become a folder, is seen by a walk, as the command sees it."""
    src = tmp_path / "src"
    _write(src / "a.md", 1)
    made, change = MISNAMED_MATES[case]
    if made == "hard":
        os.link(src / "a.md", _bytes_path(src, b"bad-\xff.md"))
    elif made == "hard in folder":
        _bytes_path(src, b"\xfe-dir").mkdir()
        os.link(src / "a.md", _bytes_path(src, b"\xfe-dir/j.md"))
    elif made == "link":
        _bytes_path(src, b"bad-\xff.md").symlink_to("a.md")
    else:
        _write(tmp_path / "outside.md", 1)
        _bytes_path(src, b"bad-\xff.md").symlink_to(tmp_path / "outside.md")
    kept = Kept(tmp_path)
    kept.check(*change(src))
    assert kept.warm.walked


@pytest.mark.e2e
def test_a_link_out_of_the_folders_to_a_file_that_becomes_a_folder_is_walked(
    tmp_path: Path,
) -> None:
    src, outside = tmp_path / "src", tmp_path / "outside"
    src.mkdir()
    outside.mkdir()
    (outside / "t.md").write_text("t", encoding="utf-8")
    (src / "l.md").symlink_to(outside / "t.md")
    (src / "x.md").write_text("x", encoding="utf-8")
    kept = Kept(tmp_path)
    (outside / "t.md").write_text("t, longer", encoding="utf-8")  # no event
    (src / "x.md").write_text("x, longer", encoding="utf-8")
    kept.check(src / "x.md")
    assert not kept.warm.walked
    (outside / "t.md").unlink()
    (outside / "t.md").mkdir()  # a walk does not list the link now
    kept.check(src / "x.md")
    assert kept.warm.walked


def _write(path: Path, size: int = 1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("---\ntitle: x\n---\n" + "y" * size, encoding="utf-8")


@pytest.mark.e2e
def test_a_link_whose_file_went_is_followed_when_a_folder_link_leads_to_one_again(
    tmp_path: Path,
) -> None:
    """`sub` removed (the link `a.md -> sub/b.md` leads nowhere), then made a link to
    another folder that holds a `b.md`: no event names `sub/b.md` (a walk does not go
    into a linked folder), and the link leads to a file again."""
    src = tmp_path / "src"
    _write(src / "sub" / "b.md")
    (src / "a.md").symlink_to("sub/b.md")
    _write(src / "x.md")
    _write(tmp_path / "elsewhere" / "b.md", 3)
    kept = Kept(tmp_path)
    shutil.rmtree(src / "sub")
    kept.check(src / "sub" / "b.md", src / "sub")
    (src / "sub").symlink_to(tmp_path / "elsewhere")
    _write(src / "x.md", 9)
    kept.check(src / "x.md")  # the link `sub` is no article: not told
    _write(tmp_path / "elsewhere" / "b.md", 40)
    kept.check(src / "x.md")


@pytest.mark.e2e
def test_a_link_to_a_file_of_a_folder_swapped_for_another_is_followed(tmp_path: Path) -> None:
    """`sub` (holding `b.md`, which `a.md` links to) moved out and another `sub` holding
    another `b.md` moved in, one event naming `sub`."""
    src = tmp_path / "src"
    _write(src / "sub" / "b.md")
    (src / "a.md").symlink_to("sub/b.md")
    _write(tmp_path / "new" / "b.md", 30)
    kept = Kept(tmp_path)
    os.rename(src / "sub", tmp_path / "old")
    os.rename(tmp_path / "new", src / "sub")
    kept.check(src / "sub")


@pytest.mark.e2e
def test_a_link_whose_way_goes_back_after_a_linked_folder_is_followed(tmp_path: Path) -> None:
    """`a.md -> d/../b.md` with `d -> x/y` leads to `x/b.md`, not `b.md` (here a hard
    link of it, until an editor saves `x/b.md` as a new file)."""
    src = tmp_path / "src"
    _write(src / "b.md")
    (src / "x" / "y").mkdir(parents=True)
    os.link(src / "b.md", src / "x" / "b.md")
    (src / "d").symlink_to("x/y")
    (src / "a.md").symlink_to("d/../b.md")
    kept = Kept(tmp_path)
    _write(src / "x" / "b.md.tmp", 6)
    os.replace(src / "x" / "b.md.tmp", src / "x" / "b.md")
    kept.check(src / "x" / "b.md")
    _write(src / "x" / "b.md", 60)
    kept.check(src / "x" / "b.md")


@pytest.mark.e2e
def test_files_under_a_folder_replaced_by_a_link_are_not_kept(tmp_path: Path) -> None:
    """`rm -rf sub; ln -s ../elsewhere sub` in one burst: the walk does not go into the
    linked folder, so `sub/b.md` is listed no more, though it is there through it."""
    src = tmp_path / "src"
    _write(src / "sub" / "b.md")
    _write(src / "x.md")
    _write(tmp_path / "elsewhere" / "b.md", 3)
    kept = Kept(tmp_path)
    shutil.rmtree(src / "sub")
    (src / "sub").symlink_to(tmp_path / "elsewhere")
    kept.check(src / "sub" / "b.md", src / "sub")


@pytest.mark.e2e
def test_a_folder_of_links_swapped_for_one_with_links_of_the_same_names(tmp_path: Path) -> None:
    """`sub/a.md -> ../b.md` moved out and a `sub` moved in whose `a.md -> ../c.md`, one
    event naming `sub`: the new link is not taken for the old one."""
    src = tmp_path / "src"
    _write(src / "b.md")
    _write(src / "c.md")
    _write(src / "sub" / "keep.md")
    (src / "sub" / "a.md").symlink_to("../b.md")
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "a.md").symlink_to("../c.md")
    kept = Kept(tmp_path)
    os.rename(src / "sub", tmp_path / "old")
    os.rename(tmp_path / "new", src / "sub")
    kept.check(src / "sub")
    _write(src / "c.md", 50)
    kept.check(src / "c.md")


@pytest.mark.e2e
@settings(max_examples=200)
@given(st.lists(st.lists(LINKS, min_size=1, max_size=8), min_size=1, max_size=6))
def test_what_is_kept_is_what_a_walk_finds_with_links_among_the_files(
    bursts: list[list[tuple[str, str, object]]],
) -> None:
    """A file with other names (a symbolic link to it, hard links) changes under each
    of them, though the events name one: what is kept is still what a walk finds."""
    with tempfile.TemporaryDirectory() as folder:
        followed(Path(folder), bursts)


def _changed_after(path: Path, since: int) -> None:
    """`chmod` `path` (size and mtime stay) until its ctime is after `since` (the file
    system's clock ticks)."""
    while path.stat().st_ctime_ns <= since:
        path.chmod(0o600 if path.stat().st_mode & 0o044 else 0o644)
        time.sleep(0.001)


def test_files_changed_since_the_last_build_are_fresh_until_a_build_passes_them(
    tmp_path: Path,
) -> None:
    """A file whose ctime is after `since` is `fresh` as `find_files` gives it, whether
    the walk or an event finds it (a `chmod`: its size and mtime stay), until `since`
    passes its ctime: a build completed after it (one that failed does not)."""
    src = tmp_path / "src"
    _write(src / "a.md")
    _write(src / "b.md")
    config = config_of(tmp_path)
    since = (src / "a.md").stat().st_ctime_ns
    _changed_after(src / "b.md", since)
    warm = Warm()
    kept, identities = warm.find(config, since)
    assert (kept, identities) == find_files(config, since)
    assert kept.fresh == {str(src / "b.md")}
    warm.touched([str(src / "a.md")])  # the build given b.md failed: `since` is as it was
    assert warm.find(config, since)[0].fresh == {str(src / "b.md")}
    later = (src / "b.md").stat().st_ctime_ns
    assert not warm.find(config, later)[0].fresh
    _changed_after(src / "a.md", later)
    warm.touched([str(src / "a.md")])
    kept, _ = warm.find(config, later)
    assert not warm.walked
    assert kept.fresh == {str(src / "a.md")}


def test_a_checkout_of_thousands_of_files_is_followed_as_a_walk_finds_it(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for n in range(3000):
        (src / f"{n % 30:02}").mkdir(parents=True, exist_ok=True)
        (src / f"{n % 30:02}" / f"{n:05}.md").write_text("---\ntitle: x\n---\n")
    config = config_of(tmp_path)
    warm = Warm()
    same_as_a_walk(warm, config)
    touched: list[str] = []
    for n in range(0, 3000, 3):  # a third edited, a third deleted, a new folder of 2,000
        path = src / f"{n % 30:02}" / f"{n:05}.md"
        path.write_text("---\ntitle: edited\n---\n")
        gone = src / f"{(n + 1) % 30:02}" / f"{n + 1:05}.md"
        gone.unlink()
        touched += [str(path), str(gone)]
    (src / "new").mkdir()
    for n in range(2000):
        (src / "new" / f"{n:05}.md").write_text("---\ntitle: new\n---\n")
    touched.append(str(src / "new"))
    touched += [str(src / "new" / f"{n:05}.md") for n in range(0, 2000, 7)]
    # A folder removed, named with one file of the middle of it (events come as they may).
    middle = sorted((src / "08").iterdir())[20]
    shutil.rmtree(src / "08")
    touched += [str(src / "08"), str(middle)]
    warm.touched(touched)
    same_as_a_walk(warm, config)
    assert not warm.walked


@pytest.mark.parametrize("deleted", [5, 100])
def test_files_deleted_few_or_many_and_a_few_edited_keep_their_sizes_in_order(
    tmp_path: Path, deleted: int
) -> None:
    """Files deleted here and there (each cut from what is kept: in place when few, the
    lists made again when many) and a few edited: the sizes and mtimes kept stay with
    their files, as a walk finds them."""
    src = tmp_path / "src"
    for n in range(300):
        _write(src / f"{n % 3}" / f"{n:03}.md", size=n + 1)
    config = config_of(tmp_path)
    warm = Warm()
    same_as_a_walk(warm, config)
    touched = []
    for n in range(1, 300, 300 // deleted)[:deleted]:
        path = src / f"{n % 3}" / f"{n:03}.md"
        path.unlink()
        touched.append(str(path))
    for n in (0, 150, 299):  # (none of them deleted)
        path = src / f"{n % 3}" / f"{n:03}.md"
        _write(path, size=1000 + n)
        touched.append(str(path))
    warm.touched(touched)
    found = same_as_a_walk(warm, config)
    assert found.numbers is not None and not warm.walked
    assert len(found.paths) == 300 - deleted


def test_a_walk_when_the_sources_change_or_a_source_folder_goes(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "more").mkdir()
    (tmp_path / "src" / "a.md").write_text("a", encoding="utf-8")
    (tmp_path / "more" / "b.md").write_text("b", encoding="utf-8")
    warm = Warm()
    same_as_a_walk(warm, config_of(tmp_path))
    same_as_a_walk(warm, config_of(tmp_path, "src", "more"))
    assert warm.walked  # other sources: walked
    same_as_a_walk(warm, config_of(tmp_path, "src", "more"))
    assert not warm.walked
    shutil.rmtree(tmp_path / "more")
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "c.md").write_text("c", encoding="utf-8")
    warm.touched([str(tmp_path / "more")])
    same_as_a_walk(warm, config_of(tmp_path, "src", "more"))
    assert warm.walked


def test_a_file_linked_from_one_source_into_another_is_listed_once(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "b.md").write_text("b", encoding="utf-8")
    config = config_of(tmp_path, "src", "more")
    warm = Warm()
    same_as_a_walk(warm, config)
    (tmp_path / "src" / "link.md").symlink_to(tmp_path / "more" / "b.md")
    warm.touched([str(tmp_path / "src" / "link.md")])
    same_as_a_walk(warm, config)
    assert warm.walked
    (tmp_path / "more" / "b.md").write_text("b, longer", encoding="utf-8")
    warm.touched([str(tmp_path / "more" / "b.md")])
    same_as_a_walk(warm, config)


def test_a_link_listed_after_its_own_file_among_several_sources_is_walked(
    tmp_path: Path,
) -> None:
    """Several sources list a file once, by the first of its names: a link listed after
    its file is no path kept, yet a walk lists it once the file goes (a dangling link)."""
    src = tmp_path / "src"
    _write(src / "a.md")
    (tmp_path / "more").mkdir()
    (src / "b.md").symlink_to("a.md")
    config = config_of(tmp_path, "src", "more")
    warm = Warm()
    assert same_as_a_walk(warm, config).paths == [str(src / "a.md")]
    (src / "a.md").unlink()
    warm.touched([str(src / "a.md")])
    assert same_as_a_walk(warm, config).paths == [str(src / "b.md")]
    assert warm.walked


def test_a_file_linked_into_another_source_under_a_name_not_utf8_is_walked(
    tmp_path: Path,
) -> None:
    """A link whose name is not UTF-8 lists a file of another source too (it is listed
    once, by its real path): several sources such a link joins are walked."""
    (tmp_path / "src").mkdir()
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "b.md").write_text("b", encoding="utf-8")
    link = Path(os.fsdecode(os.fsencode(tmp_path) + b"/src/bad-\xff.md"))
    link.symlink_to(tmp_path / "more" / "b.md")
    config = config_of(tmp_path, "src", "more")
    warm = Warm()
    same_as_a_walk(warm, config)
    link.unlink()
    warm.touched([str(link)])
    same_as_a_walk(warm, config)
    assert warm.walked


def test_the_output_folder_and_state_file_inside_a_source_are_never_inputs(
    tmp_path: Path,
) -> None:
    config = Config(sources=(tmp_path,), output=tmp_path / "feeds", state=tmp_path / "st.md")
    rules = Rules.of(config)
    assert rules.article(str(tmp_path / "a.md"))
    assert rules.written(str(tmp_path / "feeds" / "ai.json"))
    assert rules.written(str(tmp_path / "st.md"))
    assert not rules.written(str(tmp_path / "a.md"))
    assert not rules.article(str(tmp_path / ".a.md.swp"))
    assert not rules.article(str(tmp_path / "a.pdf"))


# --- the observer --------------------------------------------------------------------


class Recorder:
    """A `Rebuilds` whose builds compare what is kept with a full walk."""

    def __init__(self, warm: Warm, config: Config) -> None:
        self.warm = warm
        self.config = config
        self.builds: list[int] = []
        #: the files of the last build
        self.files: list[str] = []
        self.cond = threading.Condition()
        self.rebuilds = Rebuilds(self.build).start()
        self.failure: BaseException | None = None

    def build(self, burst: Burst) -> None:
        try:
            same_as_a_walk(self.warm, self.config)
        except BaseException as exc:
            self.failure = exc
        with self.cond:
            self.builds.append(burst.paths)
            self.files = self.warm.find(self.config)[0].paths
            self.cond.notify_all()

    def wait(self, count: int) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.builds) >= count, PATIENCE), self.builds
        if self.failure is not None:
            raise self.failure

    def wait_file(self, path: Path) -> None:
        """Until a build has `path` among its files."""
        with self.cond:
            assert self.cond.wait_for(lambda: str(path) in self.files, PATIENCE), self.files
        if self.failure is not None:
            raise self.failure


@contextlib.contextmanager
def watching(config: Config) -> Iterator[tuple[Watcher, Recorder]]:
    """The real observer on the source folders of `config`, its builds recorded."""
    warm = Warm()
    warm.find(config)
    recorder = Recorder(warm, config)
    watcher = Watcher(warm, recorder.rebuilds)
    watcher.watch(config)
    try:
        yield watcher, recorder
    finally:
        watcher.close()
        recorder.rebuilds.stop()


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[Path, Watcher, Recorder]]:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.md").write_text("a", encoding="utf-8")
    with watching(config_of(tmp_path)) as (watcher, recorder):
        yield src, watcher, recorder


@pytest.mark.e2e
def test_events_keep_what_is_kept_as_a_walk_finds_it(
    watched: tuple[Path, Watcher, Recorder],
) -> None:
    src, watcher, recorder = watched
    assert list(watcher.watched) == [str(src)]
    (src / "b.md").write_text("b", encoding="utf-8")
    recorder.wait(1)
    (src / "a.md").write_text("a, longer now", encoding="utf-8")
    recorder.wait(2)
    staging = src.parent / "staging" / "deep"
    staging.mkdir(parents=True)
    (staging / "c.md").write_text("c", encoding="utf-8")
    os.replace(staging.parent, src / "moved-in")  # a folder of files lands at once
    recorder.wait(3)
    os.replace(src / "moved-in", src / "renamed")
    recorder.wait(4)
    shutil.rmtree(src / "renamed")
    recorder.wait(5)
    (src / "b.md").unlink()
    recorder.wait(6)


class Seen(Rebuilds):
    """Rebuilds that keep what the observer told them of each event, and build nothing."""

    def __init__(self) -> None:
        super().__init__(lambda burst: None)
        self.events: list[tuple[str, str]] = []  # name, how

    def saw(self, path: str, **told: bool) -> None:  # type: ignore[override]
        how = next((k for k in ("writing", "whole", "closed") if told.get(k)), "other")
        self.events.append((os.path.basename(path), how))

    def of(self, name: str) -> list[str]:
        return [how for seen, how in list(self.events) if seen == name]


@pytest.mark.e2e
def test_only_a_close_after_writing_or_a_rename_leaves_a_file_whole(tmp_path: Path) -> None:
    """What the real observer tells of each event: a file created and not yet written
    is not whole (nor is one deleted, which may be made again), a close after writing or
    a rename into place leaves it whole."""
    src = tmp_path / "src"
    src.mkdir()
    config = config_of(tmp_path)
    seen = Seen()
    watcher = Watcher(Warm(), seen)
    watcher.watch(config)
    try:
        with open(src / "b.md", "w", encoding="utf-8") as handle:
            wait_for(lambda: bool(seen.of("b.md")))
            assert seen.of("b.md") == ["other"]  # created: not whole
            handle.write("---\ntitle: b\n---\n")
            handle.flush()
            wait_for(lambda: "writing" in seen.of("b.md"))  # written on
        wait_for(lambda: seen.of("b.md")[-1] == "closed")  # closed after writing
        (src / ".c.md.part").write_text("---\ntitle: c\n---\n", encoding="utf-8")
        os.replace(src / ".c.md.part", src / "c.md")
        wait_for(lambda: "whole" in seen.of("c.md"))  # renamed into place: whole
        count = len(seen.of("b.md"))
        (src / "b.md").unlink()
        wait_for(lambda: len(seen.of("b.md")) > count)
        assert seen.of("b.md")[count:] == ["other"]  # deleted: not whole
        os.replace(src / "c.md", src / "d.md")
        wait_for(lambda: bool(seen.of("d.md")))
        assert seen.of("c.md")[-1] == "other"  # renamed away: gone, as if deleted
        assert seen.of("d.md") == ["whole"]  # where it lands: whole
    finally:
        watcher.close()


def test_files_a_build_does_not_read_start_no_build(
    watched: tuple[Path, Watcher, Recorder],
) -> None:
    src, _watcher, recorder = watched
    (src / ".a.md.swp").write_text("swap", encoding="utf-8")
    (src / "a.md~").write_text("backup", encoding="utf-8")
    (src / "notes.pdf").write_text("pdf", encoding="utf-8")
    (src / ".git").mkdir()
    (src / ".git" / "x.md").write_text("x", encoding="utf-8")
    # The first build after these is for this file alone.
    (src / "z.md").write_text("z", encoding="utf-8")
    recorder.wait(1)
    assert recorder.builds == [1]


@pytest.mark.e2e
def test_a_chmod_starts_a_build(watched: tuple[Path, Watcher, Recorder]) -> None:
    """Neither size nor mtime changes, but a file that could not be read may be readable
    now (the build reads it again: see test_rebuild_edges.py)."""
    src, _watcher, recorder = watched
    (src / "a.md").chmod(0o600)
    recorder.wait(1)


@pytest.mark.e2e
def test_a_chmod_of_a_folder_starts_a_build(tmp_path: Path) -> None:
    """Its files may be listed now, or no more."""
    src = tmp_path / "src"
    _write(src / "sub" / "a.md")
    with watching(config_of(tmp_path)) as (_, recorder):
        (src / "sub").chmod(0o700)
        recorder.wait(1)


def test_a_folder_that_cannot_be_watched_is_logged_with_the_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "src").mkdir()
    config = config_of(tmp_path, "src", "missing")
    warm = Warm()
    rebuilds = Rebuilds(lambda burst: None).start()
    watcher = Watcher(warm, rebuilds)
    try:
        with caplog.at_level(logging.INFO, logger="aggregator"):
            watcher.watch(config)
        missing = str(tmp_path / "missing")
        assert watcher.unwatched == {missing: "no such folder"}
        assert list(watcher.watched) == [str(tmp_path / "src")]
        assert (
            f"not watching {missing}: no such folder; its changes are seen by the scheduled runs"
            in caplog.messages
        )
        (tmp_path / "missing").mkdir()
        with caplog.at_level(logging.INFO, logger="aggregator"):
            watcher.retry()
        assert watcher.unwatched == {}
        assert f"watching {missing} for changes again" in caplog.messages
    finally:
        watcher.close()
        rebuilds.stop()


def test_without_watchdog_every_folder_is_left_to_the_schedule(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing real can stand for a machine without watchdog: the import is made to fail.
    monkeypatch.setitem(sys.modules, "watchdog.observers", None)
    (tmp_path / "src").mkdir()
    config = Config(
        sources=(tmp_path / "src",), output=tmp_path / "out", remote_sources=("s3://b/p",)
    )
    rebuilds = Rebuilds(lambda burst: None).start()
    watcher = Watcher(Warm(), rebuilds)
    try:
        with caplog.at_level(logging.INFO, logger="aggregator"):
            watcher.watch(config)
    finally:
        watcher.close()
        rebuilds.stop()
    assert watcher.watched == {}
    assert watcher.unwatched["s3://b/p"] == "object storage sends no events"
    assert watcher.unwatched[str(tmp_path / "src")].startswith("watchdog cannot be imported")
    assert len([m for m in caplog.messages if m.startswith("not watching")]) == 2


def test_a_source_folder_removed_or_replaced_is_watched_again_by_the_next_retry(
    watched: tuple[Path, Watcher, Recorder],
) -> None:
    src, watcher, recorder = watched
    shutil.rmtree(src)
    src.mkdir()
    wait_for(lambda: str(src) in watcher.unwatched)
    assert watcher.unwatched[str(src)] == "the folder was removed or moved"
    watcher.retry()  # as each scheduled run does, before it walks every folder
    recorder.warm.rewalk()
    assert list(watcher.watched) == [str(src)]
    (src / "n.md").write_text("n", encoding="utf-8")
    recorder.wait_file(src / "n.md")
    # Moved away and replaced: the old watch follows the old folder, and says nothing.
    os.replace(src, src.parent / "old")
    src.mkdir()
    watcher.retry()
    recorder.warm.rewalk()
    (src / "m.md").write_text("m", encoding="utf-8")
    recorder.wait_file(src / "m.md")


def test_a_build_walks_again_when_a_source_folder_is_another_folder_now(
    tmp_path: Path,
) -> None:
    """Moved away and replaced: no event names the files of either folder, or only the
    old one's (its watch follows it), so the files kept are not followed but walked."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a.md", "b.md"):
        (src / name).write_text(name, encoding="utf-8")
    config = config_of(tmp_path)
    warm = Warm()
    warm.find(config)
    os.replace(src, tmp_path / "old")
    src.mkdir()
    (src / "c.md").write_text("c", encoding="utf-8")
    warm.touched([str(src / "a.md")])  # an event of the old folder, told by its old path
    same_as_a_walk(warm, config)
    assert warm.walked


@pytest.mark.e2e
def test_a_source_folder_moved_away_and_replaced_is_watched_and_walked_at_once(
    watched: tuple[Path, Watcher, Recorder],
) -> None:
    """No scheduled run needed: the folders are looked at every FOLDER_CHECK seconds."""
    src, watcher, recorder = watched
    old = src.parent / "old"
    os.replace(src, old)
    src.mkdir()
    (src / "m.md").write_text("m", encoding="utf-8")
    recorder.wait_file(src / "m.md")  # and each build lists what a walk lists
    builds = len(recorder.builds)
    (old / "a.md").write_text("the old folder, out of the source now", encoding="utf-8")
    (src / "n.md").write_text("n", encoding="utf-8")
    recorder.wait_file(src / "n.md")
    assert len(recorder.builds) > builds  # each a walk's files (`Recorder.build`)
    # Removed, then made again where it was.
    shutil.rmtree(src)
    wait_for(lambda: str(src) in watcher.unwatched)
    src.mkdir()
    (src / "o.md").write_text("o", encoding="utf-8")
    recorder.wait_file(src / "o.md")
    wait_for(lambda: list(watcher.watched) == [str(src)])
    (src / "p.md").write_text("p", encoding="utf-8")  # heard by the new watch
    recorder.wait_file(src / "p.md")


@pytest.mark.e2e
def test_a_source_folder_given_by_a_link_is_watched_and_followed_when_the_link_moves(
    tmp_path: Path,
) -> None:
    """The folder the link points to is watched (a watch on the link itself hears
    nothing), its files told by the link's path, as the walk lists them; the link
    pointed at another folder (a deployment switching folders) is walked at once."""
    first, second = tmp_path / "v1", tmp_path / "v2"
    first.mkdir()
    second.mkdir()
    (first / "a.md").write_text("a", encoding="utf-8")
    (second / "b.md").write_text("b", encoding="utf-8")
    src = tmp_path / "src"
    src.symlink_to(first, target_is_directory=True)
    with watching(config_of(tmp_path)) as (watcher, recorder):
        assert list(watcher.watched) == [str(src)]
        (first / "c.md").write_text("c", encoding="utf-8")
        recorder.wait_file(src / "c.md")
        switch = tmp_path / "switch"
        switch.symlink_to(second, target_is_directory=True)
        os.replace(switch, src)  # as `ln -sfn v2 src` does
        recorder.wait_file(src / "b.md")
        assert str(src / "a.md") not in recorder.files
        (second / "d.md").write_text("d", encoding="utf-8")
        recorder.wait_file(src / "d.md")


@pytest.mark.e2e
def test_a_file_with_other_names_is_looked_at_again_under_each(tmp_path: Path) -> None:
    """An event names one name of a file written (here `a.md`): its link and hard link
    in the folders change too, and a link to a file elsewhere (no event at all) is
    looked at again by the next build. Each build lists what a walk lists."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.md").write_text("a", encoding="utf-8")
    (src / "alias.md").symlink_to("a.md")
    os.link(src / "a.md", src / "hard.md")
    elsewhere = tmp_path / "elsewhere.md"
    elsewhere.write_text("e", encoding="utf-8")
    (src / "out.md").symlink_to(elsewhere)
    with watching(config_of(tmp_path)) as (_, recorder):
        with (src / "alias.md").open("a", encoding="utf-8") as file:
            file.write(", longer now")  # through the link: the event names a.md
        recorder.wait(1)
        elsewhere.write_text("elsewhere, longer now", encoding="utf-8")
        os.link(src / "a.md", src / "sub-hard.md")  # a name the walk did not find
        recorder.wait_file(src / "sub-hard.md")
        with (src / "hard.md").open("a", encoding="utf-8") as file:
            file.write(", and longer")
        (src / "b.md").write_text("b", encoding="utf-8")
        recorder.wait_file(src / "b.md")


def wait_for(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + PATIENCE
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_watch_is_a_config_key_that_changes_no_output(tmp_path: Path) -> None:
    path = tmp_path / "aggregator.yaml"
    path.write_text("watch: true\n", encoding="utf-8")
    config = load_config(path)
    assert config.watch
    assert config.output_key() == dataclasses.replace(config, watch=False).output_key()
    path.write_text("watch: often\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="watch: must be true or false"):
        load_config(path)


def test_events_the_kernel_dropped_start_a_build_that_walks_every_folder(
    watched: tuple[Path, Watcher, Recorder], caplog: pytest.LogCaptureFixture
) -> None:
    """watchdog tells an overflow of the kernel's event queue only in its log."""
    src, watcher, recorder = watched
    assert watcher._observer is not None
    watcher._observer.unschedule_all()  # the events of what follows are lost
    (src / "lost.md").write_text("written while the events were lost", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        logging.getLogger("watchdog.observers.inotify_c").warning(
            "Inotify queue overflowed; filesystem events were lost"
        )
    recorder.wait_file(src / "lost.md")
    assert "every source folder is walked again" in caplog.text
