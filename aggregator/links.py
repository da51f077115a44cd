"""The link-check step of a build: which URLs to check, and what the results do.

An article whose link is dead (broken twice, `confirm_after` apart) or unsafe leaves
the feeds with that reason; every other result keeps it (fail open). An image that
is dead or unsafe is left out of its entry and the article stays. Results go to the
state store, except in a run where the network was down, which changes nothing.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from aggregator import linkpolicy as lp
from aggregator.config import Config
from aggregator.filters import DEAD_LINK
from aggregator.filters import UNSAFE_LINK
from aggregator.model import Article
from aggregator.model import LinkResult
from aggregator.model import LinkSummary
from aggregator.netguard import Resolver
from aggregator.store import Store
from aggregator.urls import canonical_url


@dataclass(frozen=True, slots=True)
class CheckedLinks:
    summary: LinkSummary
    #: path -> (exclusion code, reason) for articles whose link keeps them out
    problems: dict[str, tuple[str, str]]
    #: path -> the article without its dead or unsafe images
    replaced: dict[str, Article]
    #: every result the build used, by canonical URL
    results: dict[str, LinkResult]
    #: canonical URL -> the URL as an article file gives it
    urls: dict[str, str]


def check_article_links(
    articles: Sequence[Article],
    config: Config,
    now: datetime,
    store: Store,
    resolver: Resolver | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> CheckedLinks:
    settings = config.link_check
    urls = [a.link for a in articles]
    if settings.check_images:
        urls += [image.url for a in articles for image in a.images]
    given: dict[str, str] = {}
    for url in urls:
        given.setdefault(canonical_url(url), url)
    keys = set(given)
    previous = store.links(keys)
    if config.links == "cached":
        results, requested, network_down = previous, 0, False
    else:
        from aggregator.linkcheck import LinkChecker  # here: builds without checks skip it

        checker = LinkChecker(settings, resolver=resolver, progress=progress)
        report = checker.run(urls, now=now, previous=previous, cancel=cancel)
        results, requested, network_down = report.results, report.requested, report.network_down
        if not network_down:
            store.save_links(r for k, r in results.items() if previous.get(k) != r)

    problems: dict[str, tuple[str, str]] = {}
    excluded: list[tuple[str, LinkResult]] = []
    replaced: dict[str, Article] = {}
    dropped_images: list[tuple[str, LinkResult]] = []
    for article in articles:
        result = results.get(canonical_url(article.link))
        problem = _problem(result, settings.confirm_after)
        if problem is not None and result is not None:
            problems[article.path] = problem
            excluded.append((article.path, result))
            continue
        if settings.check_images and article.images:
            kept = []
            for image in article.images:
                image_result = results.get(canonical_url(image.url))
                if _problem(image_result, settings.confirm_after) and image_result is not None:
                    dropped_images.append((article.path, image_result))
                else:
                    kept.append(image)
            if len(kept) != len(article.images):
                replaced[article.path] = dataclasses.replace(article, images=tuple(kept))
    classes = Counter(results[k].klass for k in keys if k in results)
    summary = LinkSummary(
        mode=config.links,
        checked=len(keys),
        requested=requested,
        network_down=network_down,
        classes=tuple(sorted(classes.items())),
        excluded=tuple(excluded),
        images_dropped=tuple(dropped_images),
    )
    used = {k: results[k] for k in keys if k in results}
    return CheckedLinks(summary, problems, replaced, used, given)


def _problem(result: LinkResult | None, confirm_after: timedelta) -> tuple[str, str] | None:
    if result is None:
        return None
    if result.klass == lp.UNSAFE:
        return UNSAFE_LINK, f"unsafe link: {result.reason}"
    if lp.is_dead(result, confirm_after):
        since = result.broken_since.strftime("%Y-%m-%d %H:%M") if result.broken_since else "?"
        return DEAD_LINK, f"dead link: {result.reason} (broken since {since} UTC)"
    return None
