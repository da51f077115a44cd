"""aggregator: curated article files in, valid per-topic RSS, Atom and JSON feeds out.

The library's public face: every name here is in `__all__`, taken from the module that
owns it when first used, so that a process that needs one part (a worker that parses
files, say) does not import and hold all the others; the other modules are internal.
See the README's "Library" section.

    import aggregator

    config = aggregator.load_config("aggregator.yaml", output="public", links="off")
    report = aggregator.build(config)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING
from typing import Any

from aggregator.version import __version__ as __version__

if TYPE_CHECKING:
    from aggregator.config import Config as Config
    from aggregator.config import FeedSource as FeedSource
    from aggregator.config import TopicSettings as TopicSettings
    from aggregator.errors import AggregatorError as AggregatorError
    from aggregator.errors import Cancelled as Cancelled
    from aggregator.errors import ConfigError as ConfigError
    from aggregator.errors import DiscoveryError as DiscoveryError
    from aggregator.errors import FeedError as FeedError
    from aggregator.errors import LeadLost as LeadLost
    from aggregator.errors import LockBusy as LockBusy
    from aggregator.errors import OutputError as OutputError
    from aggregator.errors import ServeError as ServeError
    from aggregator.errors import StateError as StateError
    from aggregator.errors import StorageError as StorageError
    from aggregator.errors import WorkerError as WorkerError
    from aggregator.library import add_feed as add_feed
    from aggregator.library import build as build
    from aggregator.library import check_links as check_links
    from aggregator.library import feed_states as feed_states
    from aggregator.library import load_config as load_config
    from aggregator.library import validate as validate
    from aggregator.limits import Limits as Limits
    from aggregator.links.articles import CheckedLinks as CheckedLinks
    from aggregator.links.linkpolicy import Freshness as Freshness
    from aggregator.links.linkpolicy import LinkCheckSettings as LinkCheckSettings
    from aggregator.links.netguard import Resolver as Resolver
    from aggregator.model import Activity as Activity
    from aggregator.model import BuildReport as BuildReport
    from aggregator.model import DroppedCopy as DroppedCopy
    from aggregator.model import Duplicate as Duplicate
    from aggregator.model import Exclusion as Exclusion
    from aggregator.model import FeedResult as FeedResult
    from aggregator.model import FeedState as FeedState
    from aggregator.model import LinkResult as LinkResult
    from aggregator.model import LinkSummary as LinkSummary
    from aggregator.model import LoadError as LoadError
    from aggregator.model import LoadWarning as LoadWarning
    from aggregator.model import PageResult as PageResult
    from aggregator.model import SkippedEntry as SkippedEntry
    from aggregator.model import TopicActivity as TopicActivity
    from aggregator.progress import Phase as Phase
    from aggregator.progress import Progress as Progress
    from aggregator.rendering.reportpage import render_report as render_report
    from aggregator.sources.discover import Discovered as Discovered
    from aggregator.sources.validate import Validation as Validation
    from aggregator.stories.dedupe import DedupeSettings as DedupeSettings

#: where each public name lives
_HOMES = {
    "Config": "aggregator.config",
    "FeedSource": "aggregator.config",
    "TopicSettings": "aggregator.config",
    "AggregatorError": "aggregator.errors",
    "Cancelled": "aggregator.errors",
    "ConfigError": "aggregator.errors",
    "DiscoveryError": "aggregator.errors",
    "FeedError": "aggregator.errors",
    "LeadLost": "aggregator.errors",
    "LockBusy": "aggregator.errors",
    "OutputError": "aggregator.errors",
    "ServeError": "aggregator.errors",
    "StateError": "aggregator.errors",
    "StorageError": "aggregator.errors",
    "WorkerError": "aggregator.errors",
    "add_feed": "aggregator.library",
    "build": "aggregator.library",
    "check_links": "aggregator.library",
    "feed_states": "aggregator.library",
    "load_config": "aggregator.library",
    "validate": "aggregator.library",
    "Limits": "aggregator.limits",
    "CheckedLinks": "aggregator.links.articles",
    "Freshness": "aggregator.links.linkpolicy",
    "LinkCheckSettings": "aggregator.links.linkpolicy",
    "Resolver": "aggregator.links.netguard",
    "Activity": "aggregator.model",
    "BuildReport": "aggregator.model",
    "DroppedCopy": "aggregator.model",
    "Duplicate": "aggregator.model",
    "Exclusion": "aggregator.model",
    "FeedResult": "aggregator.model",
    "FeedState": "aggregator.model",
    "LinkResult": "aggregator.model",
    "LinkSummary": "aggregator.model",
    "LoadError": "aggregator.model",
    "LoadWarning": "aggregator.model",
    "PageResult": "aggregator.model",
    "SkippedEntry": "aggregator.model",
    "TopicActivity": "aggregator.model",
    "render_report": "aggregator.rendering.reportpage",
    "Phase": "aggregator.progress",
    "Progress": "aggregator.progress",
    "Discovered": "aggregator.sources.discover",
    "Validation": "aggregator.sources.validate",
    "DedupeSettings": "aggregator.stories.dedupe",
}

__all__ = sorted([*_HOMES, "__version__"])


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'aggregator' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # found once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
