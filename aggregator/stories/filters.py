"""Which articles go into which feed, and why the others do not. Pure: no I/O.

Every article left out carries an `Exclusion` with its reason. The published flag,
a dead, unsafe or unsupported link and `max_age` apply to every feed; the quality
threshold (inclusive) is per topic feed
(`topics.<name>.min_quality`, else `min_quality`). The all-topics feed holds
every article that made it into at least one topic feed, plus topic-less articles
that meet the global threshold.

A link refused without any lookup or request (`linkpolicy.refused_offline`: a
loopback or metadata address, `localhost`, userinfo, a port, a malformed URL) keeps
its article out here, in every build: with links `off` as with links checked, and in
full and incremental builds alike. Verdicts that need the network (dead, or unsafe
by what a name resolves to) come from the link check as `link_problems`.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from aggregator.config import Config
from aggregator.config import format_duration
from aggregator.links import linkpolicy as lp
from aggregator.links.linkpolicy import LinkCheckSettings
from aggregator.model import Article
from aggregator.model import Exclusion
from aggregator.model import LinkProblem

UNPUBLISHED: Final = "unpublished"
QUALITY: Final = "quality"
MAX_AGE: Final = "max-age"
DEAD_LINK: Final = "dead-link"
UNSAFE_LINK: Final = "unsafe-link"
UNSUPPORTED_LINK: Final = "unsupported-link"


@dataclass(frozen=True, slots=True)
class Selection:
    #: articles in the all-topics feed, in input order
    kept: tuple[Article, ...]
    #: for each kept article (by path), the topics whose feeds it is in
    topics: dict[str, tuple[str, ...]]
    excluded: tuple[Exclusion, ...]


def select(
    articles: Sequence[Article],
    config: Config,
    now: datetime,
    link_problems: Mapping[str, LinkProblem] | None = None,
    *,
    refusals: bool = True,
) -> Selection:
    """Which articles go into which feeds; `link_problems` maps a path to the (code,
    reason) of a link that keeps the article out (dead, unsafe or unsupported).

    `refusals`: leave out articles whose link `refused_link` refuses. False only for
    the pass that chooses what the link step checks: that step refuses those links
    itself, and reports and stores them (`links.articles.check_article_links`)."""
    link_problems = link_problems or {}
    settings = config.link_check
    kept: list[Article] = []
    topics: dict[str, tuple[str, ...]] = {}
    excluded: list[Exclusion] = []
    oldest = now - config.max_age if config.max_age is not None else None
    #: as the config file writes it: "365d"
    age_limit = format_duration(config.max_age) if config.max_age is not None else ""
    thresholds: dict[str, int] = {}  # per topic spelling: a config lookup each otherwise
    for article in articles:
        if not article.published and not config.include_unpublished:
            excluded.append(Exclusion(article.path, UNPUBLISHED, "not published"))
            continue
        problem = link_problems.get(article.path)
        if problem is None and refusals:
            problem = refused_link(article.link, settings)
        if problem is not None:
            code, reason = problem
            excluded.append(Exclusion(article.path, code, reason))
            continue
        if oldest is not None and article.published_at < oldest:
            reason = f"published {article.published_at:%Y-%m-%d}, older than max_age ({age_limit})"
            excluded.append(Exclusion(article.path, MAX_AGE, reason))
            continue
        quality = article.quality if article.quality is not None else 0
        passed: list[str] = []
        missed: list[Exclusion] = []
        for topic in article.topics:
            threshold = thresholds.get(topic)
            if threshold is None:
                threshold = thresholds[topic] = config.topic_min_quality(topic)
            if quality >= threshold:
                passed.append(topic)
            else:
                missed.append(
                    Exclusion(article.path, QUALITY, _quality_reason(article, threshold), topic)
                )
        if passed or (not article.topics and quality >= config.min_quality):
            kept.append(article)
            topics[article.path] = tuple(passed)
            excluded.extend(missed)
        else:
            threshold = min(
                (config.topic_min_quality(t) for t in article.topics), default=config.min_quality
            )
            excluded.append(Exclusion(article.path, QUALITY, _quality_reason(article, threshold)))
    return Selection(tuple(kept), topics, tuple(excluded))


def refused_link(url: str, settings: LinkCheckSettings) -> LinkProblem | None:
    """The (code, reason) that keeps an article out when its link `url` is refused
    without any lookup or request; None for a link only a check can judge. The same
    words as the link step's for the same refusal (`links.articles._problem`)."""
    refusal = lp.refused_offline(url, settings)
    if refusal is None:
        return None
    if refusal.kind == "unsafe":
        return UNSAFE_LINK, f"unsafe link: {refusal.reason}"
    return UNSUPPORTED_LINK, f"unsupported link: {refusal.reason}"


def _quality_reason(article: Article, threshold: int) -> str:
    if article.quality is None:
        return f"no quality score (threshold {threshold})"
    return f"quality {article.quality} below {threshold}"
