"""Topic aliases and skipped topics from the config, applied to articles. Pure.

Runs before the filters, so everything after it (per-topic thresholds, feeds,
categories, the index page, OPML) sees one topic where the files spell several:
an article tagged `NLP` is tagged `Natural Language Processing` when the config
lists `NLP` among that topic's aliases. A skipped topic is dropped from every
article's topics, as if no file named it: it gets no feed, and an article left
with no topic is published in the all-topics feed when it meets `min_quality`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from aggregator.config import Config
from aggregator.model import Article
from aggregator.stories.topics import topic_key


def apply_topic_settings(articles: Sequence[Article], config: Config) -> list[Article]:
    """The articles with aliases renamed to their target topic and skipped topics dropped
    (topic order kept, repeats removed); an article with nothing to change is returned as is."""
    skipped = {key for key, settings in config.topics.items() if settings.skip}
    if not config.aliases and not skipped:
        return list(articles)
    result: list[Article] = []
    for article in articles:
        topics = rename_topics(article.topics, config, skipped)
        result.append(article if topics == article.topics else replace(article, topics=topics))
    return result


def rename_topics(
    topics: Sequence[str], config: Config, skipped: set[str] | None = None
) -> tuple[str, ...]:
    """One article's topics after aliases and skips."""
    if skipped is None:
        skipped = {key for key, settings in config.topics.items() if settings.skip}
    seen: set[str] = set()
    renamed: list[str] = []
    for topic in topics:
        name = config.aliases.get(topic_key(topic), topic)
        key = topic_key(name)
        if key in skipped or key in seen:
            continue
        seen.add(key)
        renamed.append(name)
    return tuple(renamed)
