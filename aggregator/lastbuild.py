"""The no-change fast path: a build whose inputs are all unchanged repeats the last report.

The inputs of a build are the program version, the whole config, and the identity
(path, size, mtime) of every article file; their digest is stored with the last
report and the identity of every file the build wrote. When a new build has the
same digest, every output file is still as written, the link results it used are
still fresh and nothing in it depends on the clock (`max_age`), its result would
be the same bytes, so it is not computed again. The report is JSON, never code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Mapping
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from aggregator import __version__
from aggregator.config import Config
from aggregator.model import BuildReport
from aggregator.model import DroppedCopy
from aggregator.model import Duplicate
from aggregator.model import Exclusion
from aggregator.model import FeedResult
from aggregator.model import LinkResult
from aggregator.model import LinkSummary
from aggregator.model import LoadError
from aggregator.model import PageResult
from aggregator.output import Output
from aggregator.parsecache import RACY_SECONDS
from aggregator.store import Store

_KEY = "last_build"


def signature(
    config: Config, paths: Sequence[str], identities: Mapping[str, tuple[int, int]]
) -> str | None:
    """The digest of a build's inputs (`identities`: size and mtime of the files that
    could be read, see `parsecache.stat_files`); None when a file is too new to be told
    apart from a later write in the same clock tick (then no build is skipped)."""
    digest = hashlib.sha256()
    digest.update(f"{__version__}\n{config!r}\n".encode())
    racy = time.time_ns() - RACY_SECONDS * 1_000_000_000
    lines: list[str] = []
    for path in paths:
        found = identities.get(path)
        if found is None:
            lines.append(f"{path}\0missing\n")
            continue
        if found[1] >= racy:
            return None
        lines.append(f"{path}\0{found[0]}\0{found[1]}\n")
    digest.update("".join(lines).encode())
    return digest.hexdigest()


def replay(
    store: Store, config: Config, output: Output, digest: str | None, now: datetime
) -> BuildReport | None:
    """The last report, every file unchanged, when this build would repeat it; else None."""
    if digest is None or config.max_age is not None or config.links == "cached":
        return None
    text = store.meta(_KEY)
    if text is None:
        return None
    try:
        data = json.loads(text)
        if data["signature"] != digest:
            return None
        fresh_until = data.get("links_fresh_until")
        checks = config.links == "on" and config.link_check.enabled
        if checks and (fresh_until is None or datetime.fromisoformat(fresh_until) <= now):
            return None  # some link is due for a check
        if not _intact(data, output):
            return None
        return dataclasses.replace(report_from_json(data["report"]), mode="unchanged")
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def outputs_intact(store: Store, output: Output) -> bool:
    """Whether every file the last build wrote still has the size and mtime it left."""
    try:
        return _intact(json.loads(store.meta(_KEY) or "null"), output)
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return False


def _intact(data: Any, output: Output) -> bool:
    for relative, (size, mtime_ns) in data["files"].items():
        stat = os.stat(output.root / relative)
        if (stat.st_size, stat.st_mtime_ns) != (size, mtime_ns):
            return False
    return True


def remember(
    store: Store,
    output: Output,
    digest: str | None,
    report: BuildReport,
    results: Sequence[LinkResult],
) -> None:
    files: dict[str, tuple[int, int]] = {}
    for relative in [f.path for f in report.feeds] + [p.path for p in report.pages]:
        try:
            stat = os.stat(output.root / relative)
        except OSError:
            continue
        files[relative] = (stat.st_size, stat.st_mtime_ns)
    fresh_until = min((r.next_check_at for r in results), default=None)
    data = {
        "signature": digest,
        "files": files,
        "links_fresh_until": fresh_until.isoformat() if fresh_until else None,
        "report": _json(report),
    }
    store.set_meta(_KEY, json.dumps(data, ensure_ascii=False))


def last_report(store: Store) -> dict[str, Any] | None:
    """The last build's report as JSON (see `report_from_json`), when readable."""
    try:
        data = json.loads(store.meta(_KEY) or "null")
        report = data["report"]
        return report if isinstance(report, dict) else None
    except (ValueError, KeyError, TypeError):
        return None


def _json(report: BuildReport) -> dict[str, Any]:
    return {
        "loaded": report.loaded,
        "errors": [[e.path, e.line, e.reason] for e in report.errors],
        "duplicates": [
            [d.kept, d.reason, d.score, [[c.path, c.reason, c.score] for c in d.copies]]
            for d in report.duplicates
        ],
        "excluded": [[e.path, e.code, e.reason, e.topic] for e in report.excluded],
        "published": report.published,
        "feeds": [[f.topic, f.format, f.path, f.entries] for f in report.feeds],
        "pages": [p.path for p in report.pages],
        "links": _links_json(report.links) if report.links else None,
    }


def _links_json(links: LinkSummary) -> dict[str, Any]:
    return {
        "mode": links.mode,
        "checked": links.checked,
        "network_down": links.network_down,
        "classes": [list(c) for c in links.classes],
        "excluded": [[p, _result_json(r)] for p, r in links.excluded],
        "images_dropped": [[p, _result_json(r)] for p, r in links.images_dropped],
    }


def _result_json(r: LinkResult) -> list[Any]:
    return [
        r.url,
        r.klass,
        r.status,
        r.reason,
        r.final_url,
        r.checked_at.isoformat(),
        r.next_check_at.isoformat(),
        r.failures,
        r.broken_since.isoformat() if r.broken_since else None,
    ]


def _result(v: list[Any]) -> LinkResult:
    return LinkResult(
        url=v[0],
        klass=v[1],
        status=v[2],
        reason=v[3],
        final_url=v[4],
        checked_at=datetime.fromisoformat(v[5]),
        next_check_at=datetime.fromisoformat(v[6]),
        failures=v[7],
        broken_since=datetime.fromisoformat(v[8]) if v[8] else None,
    )


def report_from_json(data: dict[str, Any]) -> BuildReport:
    links = data["links"]
    return BuildReport(
        loaded=data["loaded"],
        errors=tuple(LoadError(*e) for e in data["errors"]),
        duplicates=tuple(
            Duplicate(
                kept=kept,
                dropped=tuple(c[0] for c in copies),
                reason=reason,
                score=score,
                copies=tuple(DroppedCopy(*c) for c in copies),
            )
            for kept, reason, score, copies in data["duplicates"]
        ),
        excluded=tuple(
            Exclusion(path, code, reason, topic) for path, code, reason, topic in data["excluded"]
        ),
        published=data["published"],
        feeds=tuple(FeedResult(t, fmt, path, n, False) for t, fmt, path, n in data["feeds"]),
        pages=tuple(PageResult(path, False) for path in data["pages"]),
        links=LinkSummary(
            mode=links["mode"],
            checked=links["checked"],
            requested=0,
            network_down=links["network_down"],
            classes=tuple((k, n) for k, n in links["classes"]),
            excluded=tuple((p, _result(r)) for p, r in links["excluded"]),
            images_dropped=tuple((p, _result(r)) for p, r in links["images_dropped"]),
        )
        if links
        else None,
    )
