"""Stages that `build` and `check-links` share, so that they cannot drift apart.

`judge` is the filters and the link step over survivors (the stories a build forms:
all of them in a cold build); `link_candidates` the articles whose links the link
step checks, for `build` and `check-links` alike; `zones_told` the search for
near-duplicates, told as it goes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from aggregator.config import Config
from aggregator.errors import Cancelled
from aggregator.links.articles import CheckedLinks
from aggregator.links.articles import check_article_links
from aggregator.links.netguard import Resolver
from aggregator.model import Article
from aggregator.model import LinkResult
from aggregator.progress import Progress
from aggregator.progress import counting
from aggregator.progress import links_of
from aggregator.state.interface import StateStore
from aggregator.stories.aliases import apply_topic_settings
from aggregator.stories.dedupe import Stories
from aggregator.stories.dedupe import find_stories
from aggregator.stories.filters import Selection
from aggregator.stories.filters import select
from aggregator.stories.similar import Pair
from aggregator.stories.similar import Runner
from aggregator.stories.similar import ZoneWork
from aggregator.stories.similar import find_zones

if TYPE_CHECKING:
    import requests


def stop_if(cancel: threading.Event | None) -> None:
    """The last point a build can stop at: from here on every file is written."""
    if cancel is not None and cancel.is_set():
        raise Cancelled("stopped before writing any feed")


def checks_links(config: Config) -> bool:
    """Whether builds of `config` run the link step."""
    return config.links != "off" and config.link_check.enabled


@dataclass(frozen=True, slots=True)
class Judged:
    #: each story's survivor as it is published: without the images the link step
    #: dropped (in the order of the survivors given)
    survivors: list[Article]
    selection: Selection
    #: what the link step decided; None when links are not checked
    links: CheckedLinks | None


def survivors(stories: Stories, config: Config) -> list[Article]:
    """Each story's survivor with the topic settings applied (aliases, skipped topics)."""
    return apply_topic_settings(stories.kept, config)


def formed(
    articles: Sequence[Article], config: Config, runner: Runner | None = None
) -> tuple[list[Article], Stories]:
    """The stories of `articles` (related stubs play no part) and their `survivors`:
    the front of the graph for commands that form every story (`check-links`,
    `topics`); a build forms them through its tables (`run.Run`)."""
    stories = find_stories(articles, config.dedupe, runner=runner)
    return survivors(stories, config), stories


def link_candidates(unique: Sequence[Article], config: Config, now: datetime) -> Sequence[Article]:
    """The survivors whose links the link step checks: those the filters keep (the
    link step refuses, and reports, what needs no request itself)."""
    return select(unique, config, now, refusals=False).kept


def judge(
    unique: Sequence[Article],
    config: Config,
    now: datetime,
    store: StateStore | None,
    resolver: Resolver | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    session: requests.Session | None = None,
    known: Callable[[], Mapping[str, LinkResult]] | None = None,
    elsewhere: Callable[[Collection[str]], Collection[str]] | None = None,
) -> Judged:
    """Filter survivors (topic settings applied) and check the links of those the
    filters keep; an article whose link is dead or refused is then left out with that
    reason, an image so judged leaves its entry. With links checked, `unique` must
    carry its images (the link step reads them). `store` None: no state file, so no
    stored result and nothing stored (`aggregator topics` before any build). `known`:
    the stored results of the URLs of the articles not in `unique` (see
    `LinkChecker.run`); `elsewhere`, which of some URLs those articles give in a form
    the link step checks (see `check_article_links`). `progress` hears the link checks
    as the phase "links"."""
    if not checks_links(config):
        return Judged(list(unique), select(unique, config, now), None)
    candidates = link_candidates(unique, config, now)
    checked = check_article_links(
        candidates,
        config,
        now,
        store,
        resolver,
        links_of(progress),
        cancel,
        session,
        known,
        elsewhere,
    )
    shown = [checked.replaced.get(a.path, a) for a in unique]
    return Judged(shown, select(shown, config, now, checked.problems), checked)


def zones_told(progress: Progress | None, runner: Runner) -> Runner | None:
    """`runner` (see `similar.zone_pairs`), telling `progress` the zones found as the
    phase "dedupe", a part at a time; None without `progress` (then the zones are found
    in one part, and nothing is told)."""
    if progress is None:
        return None

    def told(works: list[ZoneWork]) -> Iterator[dict[int, list[Pair]]]:
        found = counting(progress, "dedupe", sum(len(work.zones) for work in works))
        for work, pairs in zip(works, runner(works), strict=True):
            yield pairs
            if found is not None:
                found(len(work.zones))

    return told


def find_zones_here(works: list[ZoneWork]) -> Iterable[dict[int, list[Pair]]]:
    """The zones of each part, found in this process, one part after the other."""
    return map(find_zones, works)
