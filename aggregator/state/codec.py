"""One codec for stored rows: how a record becomes the values a row (or the JSON kept
with the last report) holds, and back. The state store and the last build's report
both use it, so a link result reads back the same from either."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from typing import cast
from typing import get_args

from aggregator.model import LinkClass
from aggregator.model import LinkResult

#: the values of a stored link result, in this order (the `link` table's columns)
LinkRow = tuple[str, str, int | None, str, str | None, str, str, int, str | None]


def iso(when: datetime) -> str:
    """A time as stored: ISO 8601 in UTC (strings of this form sort as times do)."""
    return when.astimezone(UTC).isoformat()


def link_row(result: LinkResult) -> LinkRow:
    return (
        result.url,
        result.klass,
        result.status,
        result.reason,
        result.final_url,
        iso(result.checked_at),
        iso(result.next_check_at),
        result.failures,
        iso(result.broken_since) if result.broken_since else None,
    )


def link_from_row(row: Sequence[object]) -> LinkResult:
    url, klass, status, reason, final_url, checked, next_check, failures, broken = row
    return LinkResult(
        url=str(url),
        klass=link_class(str(klass)),
        status=int(status) if isinstance(status, int) else None,
        reason=str(reason),
        final_url=str(final_url) if final_url else None,
        checked_at=datetime.fromisoformat(str(checked)),
        next_check_at=datetime.fromisoformat(str(next_check)),
        failures=int(failures) if isinstance(failures, int) else 0,
        broken_since=datetime.fromisoformat(str(broken)) if broken else None,
    )


def link_class(text: str) -> LinkClass:
    """A stored class, checked: a value no version wrote reads as `unknown` (transient:
    the URL is checked again soon)."""
    return cast(LinkClass, text) if text in _CLASSES else "unknown"


_CLASSES = frozenset(get_args(LinkClass))


def link_stamp(result: LinkResult | None) -> str:
    """What tells a stored result from a later one (the store reads it so in SQL)."""
    if result is None:
        return ""
    checked, due = iso(result.checked_at), iso(result.next_check_at)
    return f"{checked} {due} {result.failures} {result.klass}"
