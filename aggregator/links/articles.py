"""The link-check step of a build: which URLs to check, and what the results do.

An article whose link is dead (broken twice, `confirm_after` apart), unsafe, or
unsupported by a rule that needs no network leaves the feeds with that reason; every
other result keeps it (fail open). An image so judged is left out of its entry and
the article stays. Refusals that need no lookup or request (`linkpolicy.
refused_offline`) are decided here for every URL in every run, `on` or `cached`,
network or not, whatever the state file holds, and for every image even with
`check_images: false`. Results go to the state store, except in a run where the
network was down and in a `cached` run, which store those refusals only (and, with the
network down, the HTTP answers that did come: the sites'). The checker stores each
result as soon as it is known, and claims each host from the other processes sharing
the state (`linkcheck`), so that no URL is asked for twice. (With links off,
`filters.select` and `publish.Shown` apply the same refusals.)
"""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import TYPE_CHECKING

from aggregator.config import Config
from aggregator.links import linkpolicy as lp
from aggregator.links.netguard import Resolver
from aggregator.model import Article
from aggregator.model import LinkProblem
from aggregator.model import LinkResult
from aggregator.model import LinkSummary
from aggregator.model import LoadError
from aggregator.model import LoadWarning
from aggregator.state.interface import StateStore
from aggregator.stories.filters import DEAD_LINK
from aggregator.stories.filters import UNSAFE_LINK
from aggregator.stories.filters import UNSUPPORTED_LINK
from aggregator.stories.urls import canonical_url

if TYPE_CHECKING:
    import requests


@dataclass(frozen=True, slots=True)
class CheckedLinks:
    summary: LinkSummary
    #: path -> (exclusion code, reason) for articles whose link keeps them out
    problems: dict[str, LinkProblem]
    #: path -> the article without its dead or unsafe images
    replaced: dict[str, Article]
    #: every result the build used, by canonical URL
    results: dict[str, LinkResult]
    #: canonical URL -> the URL as an article file gives it
    urls: dict[str, str]
    #: path -> the canonical URLs judged for that article (its link, and its images
    #: when they are checked or refused), in order
    keys_of: dict[str, tuple[str, ...]]
    #: the files of the run that are not articles (`check-links` reports them as a
    #: build does: see `inputs`)
    errors: tuple[LoadError, ...] = ()
    #: what was repaired in the articles of the run
    warnings: tuple[LoadWarning, ...] = ()


def check_article_links(
    articles: Sequence[Article],
    config: Config,
    now: datetime,
    store: StateStore | None,
    resolver: Resolver | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
    session: requests.Session | None = None,
    known: Callable[[], Mapping[str, LinkResult]] | None = None,
    elsewhere: Callable[[Collection[str]], Collection[str]] | None = None,
) -> CheckedLinks:
    """The link step for `articles`. `store` None means no state file: no stored
    result, and nothing is stored (`aggregator topics` before any build). `session`
    sends the requests (see `linkcheck.LinkChecker`); `known` gives the stored
    results of the corpus's other URLs (see `LinkChecker.run`). `elsewhere` gives, of
    some canonical URLs, those that articles not in `articles` give in a form the step
    checks (`checked_urls`; an incremental build's other stories): one every form of
    which is refused here keeps its stored result, as the step over every article
    would have it, and each form refused here is judged by its own refusal."""
    settings = config.link_check
    links = [a.link for a in articles]
    images = [image.url for a in articles for image in a.images]
    # Refusals that need no network are judged on each URL as a file gives it: two
    # forms of one canonical URL can differ in what decides them (userinfo, port).
    # Images are judged so even when they are not checked: it costs no request.
    refusals = {
        u: r for u in dict.fromkeys(links + images) if (r := lp.refused_offline(u, settings))
    }
    urls = links + (images if settings.check_images else [u for u in images if u in refusals])
    given: dict[str, str] = {}
    for url in urls:
        given.setdefault(canonical_url(url), url)
    keys = set(given)
    checkable = [u for u in urls if u not in refusals]
    previous = store.links(keys) if store is not None else {}
    # A canonical URL every form of which is refused has that refusal as its result,
    # whatever was stored and whether or not the network answers; unless an article
    # outside the step gives it too (then the stored result is kept).
    wanted = {canonical_url(u) for u in checkable}
    refused_only = keys - wanted
    # Only a stored result other than this refusal can be another form's (a URL refused
    # in every story, a logo, asks nothing).
    asked = {
        key
        for key in refused_only
        if (p := previous.get(key)) is not None and not lp.says(p, refusals[given[key]])
    }
    shared = set(elsewhere(asked)) if elsewhere is not None and asked else set()
    stored = {key: previous[key] for key in shared if key in previous}
    offline = {
        key: lp.refused_result(
            previous.get(key), key, refusals[given[key]], now, settings.freshness
        )
        for key in refused_only - shared
    }
    if config.links == "cached":
        results, requested, network_down = {**previous, **offline}, 0, False
        if store is not None:
            # Refusals need no request: stored as in any run, so that what the build
            # judged by is in the state (an incremental build compares the two).
            store.save_links(r for k, r in offline.items() if previous.get(k) != r)
    else:
        fresh = {k: previous[k] for k in wanted if lp.is_fresh(previous.get(k), now)}
        if len(fresh) == len(wanted):
            # Nothing to ask (an edit's build, mostly): the checker would send nothing and
            # keep these; it is not made, nor the HTTP client it imports.
            checked, requested, network_down = fresh, 0, False
        else:
            from aggregator.links.linkcheck import LinkChecker  # builds without checks skip it

            checker = LinkChecker(settings, resolver=resolver, progress=progress, session=session)
            # With the store, the checker shares the hosts with other processes and stores
            # each result as it is known (with the network down, none in doubt).
            report = checker.run(
                checkable, now=now, previous=previous, cancel=cancel, known=known, store=store
            )
            checked, requested, network_down = report.results, report.requested, report.network_down
        results = {**checked, **stored, **offline}
        if store is not None:
            store.save_links(r for k, r in offline.items() if previous.get(k) != r)

    def verdict(url: str) -> tuple[LinkResult | None, bool]:
        """The result that decides `url`, and whether it was refused without a request."""
        key = canonical_url(url)
        refusal = refusals.get(url)
        if refusal is None:
            return results.get(key), False
        if key in offline and given[key] == url:
            return offline[key], True
        # Another form of the same canonical URL was checked: this one is refused still,
        # as of when that result was made (so the same in every build that uses it).
        since = results[key].checked_at if key in results else now
        own = lp.refused_result(None, key, refusal, since, settings.freshness)
        return own, True

    problems: dict[str, LinkProblem] = {}
    excluded: list[tuple[str, LinkResult]] = []
    replaced: dict[str, Article] = {}
    dropped_images: list[tuple[str, LinkResult]] = []
    keys_of: dict[str, tuple[str, ...]] = {}
    for article in articles:
        assert not article.light, f"{article.path}: the link step needs its images"
        judged = [article.link]
        judged += [i.url for i in article.images if settings.check_images or i.url in refusals]
        keys_of[article.path] = tuple(dict.fromkeys(map(canonical_url, judged)))
        result, refused = verdict(article.link)
        problem = _problem(result, settings.confirm_after, refused)
        if problem is not None and result is not None:
            problems[article.path] = problem
            excluded.append((article.path, result))
            continue
        if article.images:
            kept = []
            for image in article.images:
                if not settings.check_images and image.url not in refusals:
                    kept.append(image)  # not checked: only a refusal judges it
                    continue
                image_result, image_refused = verdict(image.url)
                image_problem = _problem(image_result, settings.confirm_after, image_refused)
                if image_problem is not None and image_result is not None:
                    dropped_images.append((article.path, image_result))
                else:
                    kept.append(image)
            if len(kept) != len(article.images):
                replaced[article.path] = dataclasses.replace(article, images=tuple(kept))
    classes = Counter(results[k].klass for k in keys if k in results)
    used = {k: results[k] for k in keys if k in results}
    first = min((r.next_check_at for r in used.values()), default=None)
    summary = LinkSummary(
        mode=config.links,
        checked=len(keys),
        requested=requested,
        network_down=network_down,
        classes=tuple(sorted(classes.items())),
        # By path (stable: an article's images in their order), whatever the order
        # of `articles`: an incremental build lists them so from its tables.
        excluded=tuple(sorted(excluded, key=lambda e: e[0])),
        images_dropped=tuple(sorted(dropped_images, key=lambda e: e[0])),
        fresh_until=None if network_down else first,
    )
    return CheckedLinks(summary, problems, replaced, used, given, keys_of)


def checked_urls(article: Article, config: Config) -> list[str]:
    """The URLs of `article` the link step checks with a request: its link, and its
    images when they are checked, but for those refused without one."""
    settings = config.link_check
    urls = [article.link]
    if settings.check_images:
        urls += [image.url for image in article.images]
    return [url for url in urls if not lp.refused_offline(url, settings)]


def _problem(
    result: LinkResult | None, confirm_after: timedelta, refused: bool
) -> LinkProblem | None:
    """The exclusion code and reason of a link that keeps its article out, or None.
    `refused`: the URL itself was refused without a request. Only then does
    `unsupported` count: a redirect to a URL the checker cannot follow says nothing
    certain about the page a reader opens."""
    if result is None:
        return None
    if result.klass == lp.UNSAFE:
        return UNSAFE_LINK, f"unsafe link: {result.reason}"
    if result.klass == lp.UNSUPPORTED and refused:
        return UNSUPPORTED_LINK, f"unsupported link: {result.reason}"
    if lp.is_dead(result, confirm_after):
        since = result.broken_since.strftime("%Y-%m-%d %H:%M") if result.broken_since else "?"
        return DEAD_LINK, f"dead link: {result.reason} (broken since {since} UTC)"
    return None
