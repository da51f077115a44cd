"""Where an output folder's private files live, and the layouts that would publish them.

The output folder is published as it is (`serve`, `run --serve`, any web server or
CDN pointed at it), so it must hold nothing but what a build writes there: not the
state file or its SQLite side files (`-wal`, `-shm`, `-journal`, `.corrupt-<n>`),
which hold every article's fields and the link history; not the report; not the
config file; and no source folder, whose article files include unpublished ones.
Nor may the output be a source folder or lie inside one: a build would read what it
writes as article files. Paths are compared as the system resolves them (symlinks,
`..`, relative paths), so a symlink cannot slip one inside another.

The lock and the default state file sit beside the output folder's real path, so an
output reached through a symlink shares its target's lock and state.
"""

from __future__ import annotations

import errno
import fnmatch
import os
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aggregator.errors import ConfigError


def make_folder(path: Path) -> None:
    """Make the folder `path` and those above it, as `mkdir -p`. A file where a folder
    must be (`path` itself or one above it) is NotADirectoryError, "Not a directory":
    mkdir says "File exists" for it, which reads as if all were there."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), exc.filename) from exc


def real(path: Path) -> Path:
    """`path` as the system resolves it: absolute, symlinks followed, no `..` (the
    part that does not exist yet is taken as written)."""
    return Path(os.path.realpath(path))


def beside(output: Path, suffix: str) -> Path:
    """`.<output name><suffix>` beside the output folder's real path: its lock file,
    its default state file. Written as given when no symlink is involved (messages
    show the short relative path); the real path otherwise."""
    given = Path(os.path.normpath(output))
    resolved = real(output)
    if given.name in ("", ".", "..") or Path(os.path.abspath(given)) != resolved:
        given = resolved
    return given.parent / f".{given.name or 'feeds'}{suffix}"


@dataclass(frozen=True, slots=True)
class Layout:
    """The paths a command writes, reads or serves."""

    #: the output folder, served to anyone
    output: Path
    #: the source folders of article files
    sources: Sequence[Path] = ()
    #: the state file
    state: Path | None = None
    #: the JSON report (`build --report`)
    report: Path | None = None
    #: the config file read
    config_file: Path | None = None
    #: the file name patterns of article files in the source folders
    patterns: Sequence[str] = ()


def problems(layout: Layout) -> list[tuple[str, str]]:
    """What would put a private file inside the output folder, as (the key to blame:
    output, state or report; the reason), in that order of keys; [] when all is well."""
    output = layout.output
    served = real(output)
    found: list[tuple[str, str]] = []
    publishes = "serving it would publish the article files (unpublished ones too)"
    for source in layout.sources:
        # The folder, and its name: a symlink inside the output to a source elsewhere
        # publishes it under that name to a web server that follows symlinks.
        folder, named = real(source), real(source.parent) / source.name
        if served in (folder, named):
            reason = f"{output} is also a source folder: {publishes}"
        elif folder.is_relative_to(served) or named.is_relative_to(served):
            reason = f"{output} contains the source folder {source}: {publishes}"
        elif served.is_relative_to(folder):
            reason = (
                f"{output} is inside the source folder {source}: "
                "builds would read what they write as article files"
            )
        else:
            continue
        found.append(("output", f"{reason}; write the feeds to a folder of their own"))
    if layout.config_file is not None and _within(layout.config_file, served):
        reason = f"{output} holds the config file {layout.config_file}: serving it would publish it"
        found.append(("output", f"{reason}; keep the config file out of the output folder"))
    for key, path, what in (
        ("state", layout.state, "the state file (every article's fields, the link history)"),
        ("report", layout.report, "the report"),
    ):
        if path is not None and _within(path, served):
            reason = f"{path} is inside the output folder {output}: serving it would publish {what}"
            found.append((key, f"{reason}; keep it out of the output folder"))
    report, state = layout.report, layout.state
    if report is not None and state is not None and real(report) == real(state):
        found.append(("report", f"{report} is the state file: writing the report would destroy it"))
    writes = (("state", state, "the state file"), ("report", report, "the report"))
    for key, written, name in writes:
        refusal = _read_by_builds(written, name, layout) if written is not None else None
        if refusal is not None:
            found.append((key, f"{written} {refusal}"))
    return found


def _read_by_builds(path: Path, what: str, layout: Layout) -> str | None:
    """Why `what` (the state file, the report) may not be written at `path`, a file
    builds read: the config file, or an article file of a source folder (a state file
    would move the file aside as a corrupt database, a report would replace it, and
    builds would read either as an article); None when it is neither."""
    target = real(path)
    if layout.config_file is not None and target == real(layout.config_file):
        return f"is the config file: writing {what} there would destroy it"
    if not any(fnmatch.fnmatchcase(target.name, pattern) for pattern in layout.patterns):
        return None
    for source in layout.sources:
        folder = real(source)
        if target != folder and target.is_relative_to(folder):
            return (
                f"is named as an article file in the source folder {source}: builds would "
                f"read {what} as one (and writing it would replace the file there)"
            )
    return None


def _within(path: Path, folder: Path) -> bool:
    """True when `path`, or a file beside it such as a SQLite side file, lies in
    `folder` (`folder` itself included): through its real path, or through the real
    path of its parent (SQLite puts `-wal` and `-shm` beside the name it is given)."""
    for candidate in (real(path), real(path.parent) / path.name):
        if candidate == folder or candidate.parent.is_relative_to(folder):
            return True
    return False


def check_layout(layout: Layout, where: Mapping[str, str] | None = None) -> None:
    """ConfigError naming the key to blame (`--state`, `aggregator.yaml:4: state`, as
    `where` names each key; the bare key without it) when `layout` would put a private
    file inside the output folder."""
    found = problems(layout)
    if found:
        key, reason = found[0]
        raise ConfigError(f"{(where or {}).get(key, key)}: {reason}")
