"""What a long run says of its progress: the phases, and the callback that hears them.

The engine calls `progress(phase, done, total)` as work is done: "read" as article
files are loaded (per chunk of files as workers hand them back), "dedupe" as the
zones of near-duplicate stories are searched, "links" as link checks end, "write" as
feeds are written. Each phase may be told several times in a run (a phase starts
again at 0); `total` is at least 1 (a phase with nothing to do is not told). Calls are
cheap and few (never one per file in a large run); a display throttles its drawing
itself. No I/O here: the
terminal display is `app.progress`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal
from typing import Protocol

__all__ = ["PHASES", "Phase", "Progress", "counting", "links_of"]

#: the phases of a run, in the order a build goes through them
Phase = Literal["read", "dedupe", "links", "write"]
PHASES: tuple[Phase, ...] = ("read", "dedupe", "links", "write")


class Progress(Protocol):
    """Hears the progress of a run: `done` of `total` units of `phase` (files read,
    zones searched, links checked, feeds written)."""

    def __call__(self, phase: Phase, done: int, total: int, /) -> None: ...


def links_of(progress: Progress | None) -> Callable[[int, int], None] | None:
    """The link checker's `(done, total)` callback, told as the phase "links"."""
    if progress is None:
        return None
    return lambda done, total: progress("links", done, total)


def counting(
    progress: Progress | None, phase: Phase, total: int, done: int = 0
) -> Callable[[int], None] | None:
    """A callback that adds its argument to `done` and tells `progress` (None when
    there is no `progress`, or nothing to do); `progress` hears `done` of `total` at once."""
    if progress is None or total <= 0:
        return None
    count = done
    progress(phase, count, total)

    def add(more: int) -> None:
        nonlocal count
        count += more
        progress(phase, count, total)

    return add
