"""`aggregator validate`: check article files without building.

Each file is read by the loader itself (`loader.load_all`), so a file passes here
exactly when a build would accept it, and each problem is the build's own
`path:line: reason`. Nothing else happens: no link is checked, nothing is written,
the state file is not opened.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aggregator.limits import DEFAULT_LIMITS
from aggregator.limits import Limits
from aggregator.model import LoadError
from aggregator.sources.loader import find_files
from aggregator.sources.loader import load_all


@dataclass(frozen=True, slots=True)
class Validation:
    #: article files read
    checked: int
    #: one per invalid file (or path not found), in the order the paths were given
    errors: tuple[LoadError, ...]

    @property
    def ok(self) -> bool:
        return not self.errors


def validate(
    paths: Sequence[Path], patterns: Sequence[str], limits: Limits = DEFAULT_LIMITS
) -> Validation:
    """Check the article files among `paths` under the config's `limits`: a folder is
    searched as a build searches a source folder (recursively, by `patterns`, hidden
    entries skipped); a file named on its own is checked whatever its name, as an
    editor's hook passes it."""
    files: list[Path] = []
    seen: set[Path] = set()
    errors: list[LoadError] = []
    for path in paths:
        if path.is_dir():
            found = find_files([path], patterns)
        elif path.exists():
            found = [path]
        else:
            errors.append(LoadError(str(path), 1, "no such file or folder"))
            continue
        for file in found:
            key = file.resolve()
            if key not in seen:
                seen.add(key)
                files.append(file)
    _articles, invalid = load_all(files, limits=limits)
    return Validation(len(files), tuple(errors + invalid))
