"""aggregator: curated article files in, valid per-topic RSS, Atom and JSON feeds out.

The library's public face: every name here is in `__all__`, imported from the module
that owns it; the other modules are internal. See the README's "Library" section.

    import aggregator

    config = aggregator.load_config("aggregator.yaml", output="public", links="off")
    report = aggregator.build(config)
"""

from aggregator.config import Config
from aggregator.config import FeedSource
from aggregator.config import TopicSettings
from aggregator.errors import AggregatorError
from aggregator.errors import Cancelled
from aggregator.errors import ConfigError
from aggregator.errors import DiscoveryError
from aggregator.errors import FeedError
from aggregator.errors import LeadLost
from aggregator.errors import LockBusy
from aggregator.errors import OutputError
from aggregator.errors import ServeError
from aggregator.errors import StateError
from aggregator.library import add_feed
from aggregator.library import build
from aggregator.library import check_links
from aggregator.library import feed_states
from aggregator.library import load_config
from aggregator.library import validate
from aggregator.limits import Limits
from aggregator.links.articles import CheckedLinks
from aggregator.links.linkpolicy import Freshness
from aggregator.links.linkpolicy import LinkCheckSettings
from aggregator.links.netguard import Resolver
from aggregator.model import BuildReport
from aggregator.model import DroppedCopy
from aggregator.model import Duplicate
from aggregator.model import Exclusion
from aggregator.model import FeedResult
from aggregator.model import FeedState
from aggregator.model import LinkResult
from aggregator.model import LinkSummary
from aggregator.model import LoadError
from aggregator.model import LoadWarning
from aggregator.model import PageResult
from aggregator.model import SkippedEntry
from aggregator.sources.discover import Discovered
from aggregator.sources.validate import Validation
from aggregator.stories.dedupe import DedupeSettings
from aggregator.version import __version__

__all__ = [
    "AggregatorError",
    "BuildReport",
    "Cancelled",
    "CheckedLinks",
    "Config",
    "ConfigError",
    "DedupeSettings",
    "Discovered",
    "DiscoveryError",
    "DroppedCopy",
    "Duplicate",
    "Exclusion",
    "FeedError",
    "FeedResult",
    "FeedSource",
    "FeedState",
    "Freshness",
    "LeadLost",
    "Limits",
    "LinkCheckSettings",
    "LinkResult",
    "LinkSummary",
    "LoadError",
    "LoadWarning",
    "LockBusy",
    "OutputError",
    "PageResult",
    "Resolver",
    "ServeError",
    "SkippedEntry",
    "StateError",
    "TopicSettings",
    "Validation",
    "__version__",
    "add_feed",
    "build",
    "check_links",
    "feed_states",
    "load_config",
    "validate",
]
