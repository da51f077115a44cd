"""`aggregator validate`: check article files without building.

The files are found and read by the plan every command runs (`inputs`), so a file
passes here exactly when a build would accept it, and each problem is the build's own
`path:line: reason`; what a build would repair is the build's own warning. Nothing
else happens: no link is checked, nothing is written, the state file is not opened.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aggregator.config import Config
from aggregator.limits import DEFAULT_LIMITS
from aggregator.limits import Limits
from aggregator.model import LoadError
from aggregator.model import LoadWarning
from aggregator.sources import inputs


@dataclass(frozen=True, slots=True)
class Validation:
    #: article files read
    checked: int
    #: one per invalid file (or path not found), in the order the paths were given
    errors: tuple[LoadError, ...]
    #: what a build would repair in the valid files (they are valid all the same)
    warnings: tuple[LoadWarning, ...] = ()

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
    return _validation(inputs.load(inputs.find_given(paths, patterns), limits))


def validate_sources(config: Config) -> Validation:
    """Check the files a build of `config` reads: its sources, patterns and limits."""
    return _validation(inputs.plan(config))


def _validation(loaded: inputs.Inputs) -> Validation:
    return Validation(loaded.found.files, loaded.errors, loaded.warnings)
