"""`aggregator topics`: what a build would publish per topic, and what it would leave
out and why, without writing anything.

The answer comes from the build's own stages (load, dedupe, filters, and the link
rule applied to results already in the state file), so it is the build's answer.
It never sends a request: with no state file, or with links off, only the links
refused without one (unsafe or unsupported, see `linkpolicy.refused_offline`) leave
articles out, as they do in every build.
Nothing is written: no feed, no page, no parse cache, no state file.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aggregator.app.progress import lines_text
from aggregator.config import Config
from aggregator.engine.stages import checks_links
from aggregator.engine.stages import formed
from aggregator.engine.stages import judge
from aggregator.model import Article
from aggregator.model import Duplicate
from aggregator.model import Exclusion
from aggregator.model import LoadError
from aggregator.model import LoadWarning
from aggregator.publishing.publish import all_spec
from aggregator.publishing.publish import topic_names
from aggregator.publishing.publish import topic_spec
from aggregator.rendering.pages import SUBSCRIBE_FORMATS
from aggregator.sources.inputs import plan
from aggregator.sources.inputs import settled
from aggregator.state.interface import StateStore
from aggregator.state.interface import open_store
from aggregator.state.interface import store_exists
from aggregator.state.location import shown
from aggregator.stories.filters import DEAD_LINK
from aggregator.stories.filters import MAX_AGE
from aggregator.stories.filters import QUALITY
from aggregator.stories.filters import UNPUBLISHED
from aggregator.stories.filters import UNSAFE_LINK
from aggregator.stories.filters import UNSUPPORTED_LINK
from aggregator.stories.filters import Selection
from aggregator.stories.topics import topic_key

DUPLICATE = "duplicate"
INVALID = "invalid"
#: every reason an article file stays out of a feed, in the order they are shown
REASONS = (
    UNPUBLISHED,
    QUALITY,
    MAX_AGE,
    DUPLICATE,
    DEAD_LINK,
    UNSAFE_LINK,
    UNSUPPORTED_LINK,
    INVALID,
)
#: a file that cannot be read has no topics: it is counted for the all-topics feed only
TOPIC_REASONS = REASONS[:-1]

#: link results used: from the state file, none (no state file yet), or not at all
#: (links off); refusals that need no request apply in all three
LINKS_CACHED = "cached"
LINKS_NO_STATE = "no-state"
LINKS_OFF = "off"


@dataclass(frozen=True, slots=True)
class FeedRow:
    """One feed (a topic's, or the all-topics one) as a build would publish it."""

    #: the topic as its feed names it; None for the all-topics feed
    topic: str | None
    #: articles that pass every filter (the feed holds the newest `entries` of them)
    kept: int
    entries: int
    #: the newest kept article's date; None when nothing is kept
    newest: datetime | None
    #: (format key, URL) of each feed; empty when the topic gets no feed
    feeds: tuple[tuple[str, str], ...]
    #: (reason, article files of this topic left out for it) for each of REASONS (the
    #: all-topics feed) or TOPIC_REASONS (a topic)
    excluded: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class Overview:
    #: article files found
    files: int
    everything: FeedRow
    #: every topic an article mentions, in the order of the index page
    topics: tuple[FeedRow, ...]
    errors: tuple[LoadError, ...]
    duplicates: tuple[Duplicate, ...]
    #: articles left out by a filter (topic set: left out of that topic's feed only)
    exclusions: tuple[Exclusion, ...]
    #: LINKS_CACHED, LINKS_NO_STATE or LINKS_OFF
    links: str
    #: where the state lives, as shown (a URL without its password)
    state: str
    #: what was repaired in the articles loaded (they are published)
    warnings: tuple[LoadWarning, ...] = ()


def overview(config: Config, now: datetime) -> Overview:
    """What `build` would publish with this config at `now`, and why not the rest."""
    # the files, limits and errors of every command; a feed's entries as its settings
    # in the config make them
    loaded = settled(plan(config), config)
    articles, errors = loaded.articles, loaded.errors
    unique, stories = formed(articles, config)  # as a build forms them
    duplicates = stories.duplicates
    links, judged_with = LINKS_OFF, config
    state: contextlib.AbstractContextManager[StateStore | None] = contextlib.nullcontext()
    if checks_links(config):
        judged_with = dataclasses.replace(config, links="cached")  # stored results, no request
        links = LINKS_NO_STATE
        # Opened only when it exists: asking must not create a state file.
        if store_exists(config.state_location):
            links, state = LINKS_CACHED, open_store(config.state_location)
    with state as store:
        judged = judge(unique, judged_with, now, store)  # the build's filters and link step
    unique, selection = judged.survivors, judged.selection
    view = summarise(
        config, loaded.found.files, articles, errors, unique, duplicates, selection, links
    )
    return dataclasses.replace(view, warnings=loaded.warnings)


def summarise(
    config: Config,
    files: int,
    articles: Sequence[Article],
    errors: Sequence[LoadError],
    unique: Sequence[Article],
    duplicates: Sequence[Duplicate],
    selection: Selection,
    links: str,
) -> Overview:
    """Count, per topic and for the all-topics feed, what is kept and what is left out."""
    names = topic_names(unique)
    members: dict[str, list[Article]] = {}
    for article in selection.kept:
        for topic in selection.topics[article.path]:
            members.setdefault(topic_key(topic), []).append(article)

    left_out: dict[str, Counter[str]] = {key: Counter() for key in names}
    survivors = {article.path: article for article in unique}
    for exclusion in selection.excluded:
        if exclusion.topic is not None:
            keys = [topic_key(exclusion.topic)]
        else:
            keys = [topic_key(t) for t in survivors[exclusion.path].topics]
        for key in keys:
            left_out[key][exclusion.code] += 1
    originals = {article.path: article for article in articles}
    for duplicate in duplicates:
        for path in duplicate.dropped:
            for topic in dict.fromkeys(topic_key(t) for t in originals[path].topics):
                left_out.setdefault(topic, Counter())[DUPLICATE] += 1

    topics = []
    for key in sorted(names, key=lambda k: (names[k].casefold(), names[k])):
        kept = members.get(key, [])
        stem = topic_spec(config, names[key]).stem
        topics.append(_row(config, names[key], stem, kept, left_out[key], TOPIC_REASONS))
    whole: Counter[str] = Counter(e.code for e in selection.excluded if e.topic is None)
    whole[DUPLICATE] = sum(len(d.dropped) for d in duplicates)
    whole[INVALID] = len(errors)
    everything = _row(config, None, all_spec(config).stem, list(selection.kept), whole, REASONS)
    return Overview(
        files=files,
        everything=everything,
        topics=tuple(topics),
        errors=tuple(errors),
        duplicates=tuple(duplicates),
        exclusions=selection.excluded,
        links=links,
        state=shown(config.state_location),
    )


def _row(
    config: Config,
    topic: str | None,
    stem: str,
    kept: list[Article],
    left_out: Counter[str],
    reasons: Sequence[str],
) -> FeedRow:
    feeds = tuple((fmt.key, config.base_url + stem + fmt.extension) for fmt in SUBSCRIBE_FORMATS)
    return FeedRow(
        topic=topic,
        kept=len(kept),
        entries=min(len(kept), config.limit),
        newest=max((a.published_at for a in kept), default=None),
        feeds=feeds if kept else (),
        excluded=tuple((reason, left_out[reason]) for reason in reasons),
    )


# --- presentation ----------------------------------------------------------------------

#: table headings of the reasons, short enough for a terminal
_HEADINGS = {
    UNPUBLISHED: "unpub",
    QUALITY: "quality",
    MAX_AGE: "too-old",
    DUPLICATE: "dup",
    DEAD_LINK: "dead",
    UNSAFE_LINK: "unsafe",
    UNSUPPORTED_LINK: "unsupp",
    INVALID: "invalid",
}
_LEGEND = [
    "left out: unpub = not published, quality = below min_quality, too-old = older than max_age,",
    "          dup = a copy of another story, dead/unsafe/unsupp(orted) = its link,",
    "          invalid = a bad file",
]
_NAME_WIDTH = 32
ALL_TOPICS = "all topics"


def render_text(view: Overview) -> str:
    """The overview as a person reads it on a terminal: a table, the feed URLs, and
    every article left out, by reason; each line `one_line`."""
    rows = [*view.topics, view.everything]
    names = [_short(row.topic or ALL_TOPICS) for row in rows]
    width = max(len(name) for name in [*names, "topic"])
    header = [f"{'topic':<{width}}", f"{'kept':>5}", f"{'newest':<10}"]
    header += [f"{_HEADINGS[reason]:>{len(_HEADINGS[reason])}}" for reason in REASONS]
    lines = ["  ".join(header).rstrip()]
    for name, row in zip(names, rows, strict=True):
        counts = dict(row.excluded)
        cells = [f"{name:<{width}}", f"{row.kept:>5}", f"{_date(row.newest):<10}"]
        cells += [f"{counts.get(reason, '-'):>{len(_HEADINGS[reason])}}" for reason in REASONS]
        lines.append("  ".join(cells).rstrip())
    lines += [*_LEGEND, "", _links_line(view), "", "feeds:"]
    for name, row in zip(names, rows, strict=True):
        urls = "  ".join(url for _, url in row.feeds) or "(no feed: nothing kept)"
        lines.append(f"  {name}: {urls}")
    lines += ["", "left out:"]
    lines += _left_out_lines(view) or ["  nothing"]
    if view.warnings:
        lines += ["", f"warnings ({len(view.warnings)}, the articles are published):"]
        lines += [f"  {warning}" for warning in view.warnings]
    return lines_text(lines)


def _left_out_lines(view: Overview) -> list[str]:
    groups: dict[str, list[str]] = {reason: [] for reason in REASONS}
    for exclusion in view.exclusions:
        where = f" (topic {exclusion.topic} only)" if exclusion.topic else ""
        groups[exclusion.code].append(f"{exclusion.path}: {exclusion.reason}{where}")
    for duplicate in view.duplicates:
        for copy in duplicate.copies:
            groups[DUPLICATE].append(
                f"{copy.path}: a copy of {duplicate.kept} ({copy.reason} {copy.score:.2f})"
            )
    groups[INVALID] = [str(error) for error in view.errors]
    lines = []
    for reason, items in groups.items():
        if items:
            lines.append(f"  {reason} ({len(items)}):")
            lines += [f"    {item}" for item in items]
    return lines


def _links_line(view: Overview) -> str:
    if view.links == LINKS_CACHED:
        return f"links: stored results from {view.state} (no request sent)"
    if view.links == LINKS_NO_STATE:
        return (
            f"links: no state file yet ({view.state}); only links refused without a request"
            " (unsafe, unsupported) leave articles out"
        )
    return (
        "links: off; only links refused without a request (unsafe, unsupported) leave articles out"
    )


def _short(name: str) -> str:
    return name if len(name) <= _NAME_WIDTH else name[: _NAME_WIDTH - 1] + "\u2026"


def _date(when: datetime | None) -> str:
    return f"{when:%Y-%m-%d}" if when is not None else "-"


def to_json(view: Overview) -> dict[str, Any]:
    """The overview for scripts (`aggregator topics --json`)."""
    excluded: list[dict[str, Any]] = [
        {"path": e.path, "line": None, "code": e.code, "reason": e.reason, "topic": e.topic}
        for e in view.exclusions
    ]
    for duplicate in view.duplicates:
        excluded += [
            {
                "path": copy.path,
                "line": None,
                "code": DUPLICATE,
                "reason": f"a copy of {duplicate.kept} ({copy.reason} {copy.score:.2f})",
                "topic": None,
            }
            for copy in duplicate.copies
        ]
    excluded += [
        {"path": e.path, "line": e.line, "code": INVALID, "reason": e.reason, "topic": None}
        for e in view.errors
    ]
    return {
        "files": view.files,
        "links": {"mode": view.links, "state": str(view.state)},
        "all": _row_json(view.everything),
        "topics": [_row_json(row) for row in view.topics],
        "excluded": excluded,
        "warnings": [{"path": w.path, "line": w.line, "reason": w.reason} for w in view.warnings],
    }


def _row_json(row: FeedRow) -> dict[str, Any]:
    return {
        "topic": row.topic,
        "kept": row.kept,
        "entries": row.entries,
        "newest": row.newest.isoformat() if row.newest is not None else None,
        "feeds": dict(row.feeds),
        "excluded": dict(row.excluded),
    }
