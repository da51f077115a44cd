"""The no-change fast path: a build whose inputs are all unchanged repeats the last report.

The inputs of a build are the program version, the config less the settings that
change no output (`Config.output_key`: not the schedule), and the identity
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
from collections import Counter
from collections.abc import Callable
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from aggregator import version
from aggregator.config import Config
from aggregator.model import DROPPED
from aggregator.model import BuildReport
from aggregator.model import FeedResult
from aggregator.model import LinkSummary
from aggregator.model import LoadError
from aggregator.model import LoadWarning
from aggregator.model import PageResult
from aggregator.model import Rows
from aggregator.model import counted
from aggregator.model import exclusion_tally_key
from aggregator.model import tally
from aggregator.publishing.output import Output
from aggregator.publishing.output import output_identity
from aggregator.state.codec import duplicate_from_row
from aggregator.state.codec import exclusion_from_row
from aggregator.state.codec import link_from_row
from aggregator.state.codec import link_row
from aggregator.state.interface import StateStore
from aggregator.version import __version__

_KEY = "last_build"
_REPORT = "last_report"
_LENGTH = "last_report_chunk_length"
#: the long lists of a report are kept in chunks of paths that start alike: as long
#: as the start all paths share and this many characters more
_SPREAD = 6


def signature(config: Config, identities: Callable[[], str], settled: bool) -> str | None:
    """The digest of a build's inputs (`identities`: gives the JSON of every file's size
    and mtime, see `tables.Identities.text`, asked only when of use); None when some
    file is not `settled`: too new to be told apart from a later write in the same
    clock tick, or unreadable (then no build is skipped)."""
    if not settled:
        return None
    return hashlib.sha256(
        f"{__version__}\n{version.RENDERING}\n{config.output_key()}\n{identities()}".encode()
    ).hexdigest()


def replay(
    store: StateStore,
    config: Config,
    output: Output,
    digest: str | None,
    now: datetime,
    links_seen: bool = False,
) -> BuildReport | None:
    """The last report, every file unchanged, when this build would repeat it; else None.
    (With `max_age`, the caller asks first whether an article aged out since.)
    `links_seen`: no link result was saved since the last build wrote its link rows
    (`tables.LinkMark.seen`), so none it used was replaced."""
    if digest is None:
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
        stored = config.links in ("on", "cached") and config.link_check.enabled
        if stored and not links_seen and store.inc_relink(None):
            return None  # a result it used was replaced (`aggregator check-links`)
        report = last_report(store)
        if report is None or not _intact(data, output):
            return None
        return dataclasses.replace(report_from_json(report, store), mode="unchanged")
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def outputs_intact(store: StateStore, output: Output) -> bool:
    """Whether every file the last build wrote still has the identity it left
    (`output_identity`)."""
    try:
        return _intact(json.loads(store.meta(_KEY) or "null"), output)
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return False


def _intact(data: Any, output: Output) -> bool:
    for relative, identity in data["files"].items():
        if list(output_identity(os.stat(output.root / relative))) != identity:
            return False
    return True


def remember(
    store: StateStore,
    output: Output,
    digest: str | None,
    report: BuildReport,
    fresh_until: datetime | None,
) -> None:
    """Keep `report` for the next build with the digest of its inputs; `fresh_until`:
    when the first link result it used is due (None: some is, or none is stored).
    Its long lists are kept as the build goes (`clear_lists`, `patch_list`)."""
    files: dict[str, tuple[int, int, int]] = {}
    for relative in [f.path for f in report.feeds] + [p.path for p in report.pages]:
        try:
            stat = os.stat(output.root / relative)
        except OSError:
            continue
        files[relative] = output_identity(stat)
    data = {
        "signature": digest,
        "files": files,
        "links_fresh_until": fresh_until.isoformat() if fresh_until else None,
    }
    forget(store)  # the report first: a half-kept pair is never trusted
    store.set_meta(_REPORT, json.dumps(_json(report), ensure_ascii=False))
    store.set_meta(_KEY, json.dumps(data, ensure_ascii=False))


def forget(store: StateStore) -> None:
    """No build repeats the last report until `remember` keeps another."""
    store.set_meta(_KEY, "")


def clear_lists(store: StateStore, paths: Sequence[str]) -> None:
    """Empty the report's long lists (duplicates, exclusions: rows by path) for a
    corpus of `paths`. They are kept in chunks of the rows whose paths start alike (as
    long as the start all paths share and `_SPREAD` characters more), so that a build
    that changes a few rows rewrites a few chunks (`patch_list`)."""
    # A start in characters, not folders: chunks must follow the order of paths.
    length = len(os.path.commonprefix(list(paths))) + _SPREAD if paths else 0  # noqa: RUF071
    store.delete_metas(f"{_REPORT}/")
    store.set_meta(_LENGTH, str(length))


def patch_list(
    store: StateStore, kind: str, gone: set[str], added: list[list[Any]]
) -> tuple[int, Counter[str]]:
    """Replace the rows of paths in `gone` with `added` in the kept `kind` list (see
    `clear_lists`), rewriting only the chunks they are in; how many rows it gained, and
    how its tally (`model.tally`) changed."""
    length = int(store.meta(_LENGTH) or "0")
    removed: list[list[Any]] = []
    new: dict[str, list[list[Any]]] = {}
    for row in added:
        new.setdefault(row[0][:length], []).append(row)
    for prefix in {p[:length] for p in gone} | new.keys():
        key = _chunk(kind, prefix)
        rows: list[list[Any]] = json.loads(store.meta(key) or "[]")
        kept = [row for row in rows if row[0] not in gone]
        removed.extend(row for row in rows if row[0] in gone)
        kept.extend(new.get(prefix, ()))
        kept.sort(key=lambda row: str(row[0]))
        if kept:
            store.set_meta(key, json.dumps(kept, ensure_ascii=False))
        else:
            store.delete_meta(key)
    change = _row_tally(kind, added)
    change.subtract(_row_tally(kind, removed))
    return len(added) - len(removed), change


def _row_tally(kind: str, rows: Sequence[list[Any]]) -> Counter[str]:
    """`model.tally` of kept rows (`codec.duplicate_row`, `codec.exclusion_row`), read
    from the rows: a cold build keeps tens of thousands, each an object otherwise."""
    if kind == "duplicates":
        return Counter({DROPPED: sum(len(copies) for _kept, _reason, _score, copies in rows)})
    return Counter(exclusion_tally_key(code, topic) for _path, code, _reason, topic in rows)


def patched_tally(
    store: StateStore, kind: str, previous: dict[str, int] | None, change: Counter[str]
) -> dict[str, int]:
    """The tally of the kept `kind` list after `patch_list`: the last one with its
    `change`, or (for a report kept without one) counted over the whole list."""
    if previous is None:
        return dict(tally(kind, _rows(store, kind, 0)))
    found = Counter(previous)
    found.update(change)
    return {key: n for key, n in sorted(found.items()) if n}


def _chunk(kind: str, prefix: str) -> str:
    return f"{_REPORT}/{kind}/{prefix}"


def last_report(store: StateStore) -> dict[str, Any] | None:
    """The last build's report as JSON (see `report_from_json`), when readable."""
    try:
        report = json.loads(store.meta(_REPORT) or "null")
    except ValueError:
        return None
    return report if isinstance(report, dict) else None


def _json(report: BuildReport) -> dict[str, Any]:
    return {
        "loaded": report.loaded,
        "errors": [[e.path, e.line, e.reason] for e in report.errors],
        "warnings": [[w.path, w.line, w.reason] for w in report.warnings],
        "duplicates_count": len(report.duplicates),
        "duplicates_tally": dict(counted("duplicates", report.duplicates)),
        "excluded_count": len(report.excluded),
        "excluded_tally": dict(counted("excluded", report.excluded)),
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
        "excluded": [[p, list(link_row(r))] for p, r in links.excluded],
        "images_dropped": [[p, list(link_row(r))] for p, r in links.images_dropped],
    }


def _rows(
    store: StateStore, kind: str, count: int, counts: dict[str, int] | None = None
) -> Rows[Any]:
    """A kept list of `count` rows and its tally (`counts`, when kept), its texts read
    now (the state file may be closed or changed by the time the report is read), made
    into objects when first used."""
    texts = [text for _key, text in store.metas(f"{_REPORT}/{kind}/")]
    return Rows(texts, _MAKE[kind], count, counts)


#: how the rows of each kept list are made into objects
_MAKE: dict[str, Callable[[list[Any]], Any]] = {
    "duplicates": duplicate_from_row,
    "excluded": exclusion_from_row,
}


def report_from_json(data: dict[str, Any], store: StateStore) -> BuildReport:
    """The report kept by `remember`; its long lists are read when first used."""
    links = data["links"]
    return BuildReport(
        loaded=data["loaded"],
        errors=tuple(LoadError(*e) for e in data["errors"]),
        warnings=tuple(LoadWarning(*w) for w in data["warnings"]),
        duplicates=_rows(
            store, "duplicates", data["duplicates_count"], data.get("duplicates_tally")
        ),
        excluded=_rows(store, "excluded", data["excluded_count"], data.get("excluded_tally")),
        published=data["published"],
        feeds=tuple(FeedResult(t, fmt, path, n, False) for t, fmt, path, n in data["feeds"]),
        pages=tuple(PageResult(path, False) for path in data["pages"]),
        links=LinkSummary(
            mode=links["mode"],
            checked=links["checked"],
            requested=0,
            network_down=links["network_down"],
            classes=tuple((k, n) for k, n in links["classes"]),
            excluded=tuple((p, link_from_row(r)) for p, r in links["excluded"]),
            images_dropped=tuple((p, link_from_row(r)) for p, r in links["images_dropped"]),
        )
        if links
        else None,
    )
