"""The remote feeds as people and scripts see them: `aggregator feeds`, the build
summary's `sources` line, and the report's `sources` section."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from aggregator.app.progress import lines_text
from aggregator.model import FeedState


def outcome(state: FeedState) -> str:
    """What the last fetch of a feed did, in a word or two."""
    if state.checked_at is None:
        return "not fetched yet"
    if state.gone:
        return "gone"
    if state.error is not None:
        return "failed"
    if state.status == 304:
        return "not modified"
    return "fetched"


def feed_json(state: FeedState) -> dict[str, Any]:
    return {
        "url": state.url,
        "title": state.title,
        "outcome": outcome(state),
        "status": state.status,
        "error": state.error,
        "entries": state.entries,
        "new": state.new,
        "fetched_at": _iso(state.fetched_at),
        "checked_at": _iso(state.checked_at),
        "next_fetch": _iso(state.next_fetch),
        "moved_to": state.moved_to,
        "skipped": [{"id": s.id, "title": s.title, "reason": s.reason} for s in state.skipped],
        "skipped_total": state.left_out,
    }


def problem_lines(states: Sequence[FeedState]) -> list[str]:
    """One line per feed that failed or moved, as a build prints them."""
    lines: list[str] = []
    for state in states:
        if state.error is not None:
            lines.append(f"{state.url}: {state.error}")
        if state.moved_to is not None:
            lines.append(
                f"{state.url}: warning: moved permanently to {state.moved_to} (update the config)"
            )
        if state.skipped:
            first = state.skipped[0]
            more = f" and {state.left_out - 1} more" if state.left_out > 1 else ""
            lines.append(
                f"{state.url}: warning: {state.left_out} entries left out "
                f"({first.reason}: {first.title or first.id!r}{more})"
            )
    return lines


def sources_line(states: Sequence[FeedState]) -> str:
    """The build summary's line on remote feeds."""
    counts: dict[str, int] = {}
    for state in states:
        counts[outcome(state)] = counts.get(outcome(state), 0) + 1
    told = ", ".join(f"{n} {word}" for word, n in sorted(counts.items()))
    new = sum(s.new for s in states)
    kept = sum(s.entries for s in states)
    return f"remote feeds: {len(states)} ({told}); {new} entries new or changed, {kept} kept"


def render(states: Sequence[FeedState]) -> str:
    """`aggregator feeds`: one block per feed, each line `one_line`."""
    if not states:
        return "no remote feeds in the config (add one: aggregator add-feed URL)"
    blocks: list[str] = []
    for state in states:
        lines = [state.url + (f"  ({state.title})" if state.title else "")]
        lines.append(
            f"  {outcome(state)}"
            + (f", HTTP {state.status}" if state.status is not None else "")
            + f"; {state.entries} entries kept, {state.new} new or changed at the last fetch"
        )
        lines.append(
            f"  last fetched {_when(state.fetched_at)}, last asked {_when(state.checked_at)}, "
            f"next {_when(state.next_fetch) if state.next_fetch else 'at the next run'}"
            if not state.gone
            else f"  last fetched {_when(state.fetched_at)}; not asked for again (410 Gone)"
        )
        if state.error is not None:
            lines.append(f"  error: {state.error}")
        if state.moved_to is not None:
            lines.append(f"  moved permanently to {state.moved_to}")
        for skipped in state.skipped:
            lines.append(f"  left out: {skipped.title or skipped.id!r}: {skipped.reason}")
        if state.left_out > len(state.skipped):
            lines.append(f"  left out: {state.left_out - len(state.skipped)} more")
        blocks.append(lines_text(lines))
    return "\n\n".join(blocks)


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


def _when(when: datetime | None) -> str:
    return f"{when:%Y-%m-%d %H:%M:%S} UTC" if when is not None else "never"
