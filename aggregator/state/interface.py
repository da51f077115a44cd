"""The state store's interface: what every stage may ask of the state, whatever holds it.

The engine, the link step, the caches and the daemon see a `StateStore`; `Store` (the
SQLite file, `store.py`) is the default backend and `PgStore` (a PostgreSQL database,
`pgstore.py`) the other, and `open_store` picks one by where the state lives.
"""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from typing import Protocol

from aggregator.model import FeedState
from aggregator.model import LinkResult
from aggregator.state.location import is_database_url

#: the meta row that counts the `StateStore.save_links` transactions, of every process
LINK_WRITES = "link_writes"


class StateStore(Protocol):
    """Link results, the parse cache, similar pairs, the incremental tables, the last
    build and pending hub pings (see each method of `store.Store`). Every write is one
    transaction: a killed writer leaves nothing half done."""

    def close(self) -> None: ...

    def __enter__(self) -> StateStore: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

    def link(self, url: str) -> LinkResult | None: ...

    def links(self, urls: Iterable[str]) -> dict[str, LinkResult]:
        """Stored results for these canonical URLs (those never checked are absent)."""
        ...

    def save_links(self, results: Iterable[LinkResult]) -> None:
        """Store results, replacing earlier ones of the same URLs, in one transaction,
        which also adds one to the meta row `LINK_WRITES` (when there are results)."""
        ...

    #: the `save_links` transactions (with results) this object ran
    links_saved: int

    def meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def metas(self, prefix: str) -> list[tuple[str, str]]:
        """(key, value) of the meta rows whose key starts with `prefix`, by key."""
        ...

    def delete_metas(self, prefix: str) -> None:
        """Drop the meta rows whose key starts with `prefix`."""
        ...

    def delete_meta(self, key: str) -> None: ...

    def parsed(self, paths: Iterable[str]) -> dict[str, tuple[tuple[int, int], str, str, str]]:
        """Cached parse results of these paths: ((size, mtime_ns), head, words, body)."""
        ...

    def iter_parsed(
        self, *, full: bool = False, paths: Sequence[str] | None = None
    ) -> Iterator[tuple[str, tuple[int, int], str, str | None, str | None]]:
        """Every cached parse result (of `paths` only, when given); see the SQLite store."""
        ...

    def parsed_words(self, paths: Iterable[str]) -> dict[str, str]:
        """The words JSON of these paths' cached parse results (those cached)."""
        ...

    def parsed_digests(self, paths: Iterable[str]) -> dict[str, tuple[tuple[int, int], str]]:
        """The identity and content digest of these paths' cached parse results (those
        cached): ((size, mtime_ns), digest), the digest '' when not known."""
        ...

    def save_parsed(self, rows: Iterable[tuple[str, int, int, str, str, str, str]]) -> None:
        """Keep parse results: (path, size, mtime_ns, head, words, body, digest) each."""
        ...

    def clear_parsed(self) -> None: ...

    def zone(self, zone: int) -> tuple[str, str] | None:
        """The stored (digest, pairs JSON) of one zone of similar pairs."""
        ...

    def save_zones(self, rows: Iterable[tuple[int, str, str]], keep: Iterable[int]) -> None: ...

    def zones(self) -> set[int]:
        """The zones stored."""
        ...

    def clear_zones(self) -> None: ...

    def inc_rows(
        self, table: str, column: str, keys: Iterable[object], columns: str = "*"
    ) -> list[tuple[Any, ...]]:
        """Rows of an incremental-build table whose `column` is one of `keys`."""
        ...

    def inc_insert(self, table: str, rows: Sequence[tuple[object, ...]]) -> None: ...

    def inc_delete(self, table: str, column: str, keys: Iterable[object]) -> None: ...

    def inc_update_story(self, rows: Sequence[tuple[str, str]]) -> None:
        """Set the story of articles: (story, path) rows."""
        ...

    def inc_fill(self, rows: dict[str, Sequence[tuple[object, ...]]]) -> None: ...

    def inc_fill_steps(self, rows: dict[str, Sequence[tuple[object, ...]]]) -> Iterator[None]:
        """`inc_fill` in steps, taken one at a time (other work between them), in one
        transaction that the last step commits; closed before the end, nothing is
        written. Nothing else may write to the state until the steps end."""
        ...

    def inc_top(self, feed: str, limit: int) -> list[tuple[str, str]]:
        """The first `limit` (path, story) of a feed, in its order."""
        ...

    def inc_feed_days(self, first: datetime, days: int) -> list[tuple[str, int, int]]:
        """Per feed and day, how many of the feed's members were published that day:
        (feed, day, members) rows, `day` counted from `first` (0 to `days - 1`, days
        of 86,400 s); the members published on no such day are counted as day -1. One
        scan of the feeds' order (`rank` is minus the publish time)."""
        ...

    def inc_relink(self, due: datetime | None, keys: Collection[str] | None = None) -> set[str]:
        """The articles whose link step must run again: those judged by a result that
        is no longer the stored one (a later check, `check-links`), and with `due`,
        those with a URL that has no result fresh at `due`. With `keys`, only the
        articles judged by those canonical URLs."""
        ...

    def inc_due(self, due: datetime) -> set[str]:
        """`inc_relink(due)` less the articles judged by a result since replaced: those
        judged by a result not fresh at `due`, or with none stored. Through indexes
        (link results are never deleted, so a URL judged by a result still has one)."""
        ...

    def inc_link_first_due(self) -> datetime | None:
        """When the first of the results the link rows name is due (None without one)."""
        ...

    def inc_published_between(self, low: datetime, high: datetime) -> set[str]:
        """The articles published at or after `low` and before `high` (both UTC)."""
        ...

    def inc_link_totals(self) -> tuple[int, list[tuple[str, int]], datetime | None]: ...

    def feed_states(self) -> dict[str, FeedState]:
        """What is known of each remote feed, by URL."""
        ...

    def save_feed_state(self, state: FeedState) -> None: ...

    def forget_feeds(self, urls: Iterable[str]) -> None:
        """Drop what is known of these feeds and of their entries."""
        ...

    def feed_entries(self, url: str) -> dict[str, datetime]:
        """When each entry of a feed was first seen, by key."""
        ...

    def forget_feed_entries(self, url: str, keys: Iterable[str]) -> None: ...

    def add_feed_entries(self, url: str, entries: Iterable[tuple[str, datetime]]) -> None: ...

    def feed_entry_digests(self, url: str) -> dict[str, str]:
        """The digest (`codec.entry_digest`) of each kept entry's article file, by key;
        '' when its text is not kept (an entry stored by an older version)."""
        ...

    def feed_entry_texts(self, url: str, keys: Iterable[str]) -> dict[str, str]:
        """The article files of these entries of a feed (those kept with a text)."""
        ...

    def save_feed_entries(self, url: str, entries: Iterable[tuple[str, datetime, str]]) -> None:
        """Keep these entries' article files, (key, first seen, text) rows, in one
        transaction; an entry kept already keeps its first-seen time."""
        ...

    def inc_link_results(self) -> dict[str, LinkResult]:
        """The stored results of the URLs the link step judged (`inc_link`)."""
        ...

    def inc_link_verdicts(self) -> list[tuple[str, str, str]]:
        """(path, verdict, shown) of the report's link lists, by path, in the order kept."""
        ...

    def forget_parsed(self, paths: Iterable[str]) -> None: ...

    def parsed_rows(self, paths: Iterable[str]) -> dict[str, tuple[str, str]]:
        """(head, body) JSON of these paths' cached parse results (those cached)."""
        ...

    def add_pings(self, urls: Iterable[str], now: datetime) -> None:
        """Remember feeds whose change the hub has yet to hear about."""
        ...

    def pending_pings(self) -> list[str]: ...

    def done_pings(self, urls: Iterable[str]) -> None: ...

    def lease_owner(self) -> str:
        """The name this process holds leases under (`claim_hosts`): unique to it. With
        PostgreSQL, its connections carry the name, and the leases of a name no live
        connection carries (a process killed) are anyone's at once."""
        ...

    def claim_hosts(self, owner: str, hosts: Iterable[str], ttl: float) -> dict[str, float]:
        """Lease to `owner` those of `hosts` no other owner holds (a lease not renewed
        within its `ttl` seconds is anyone's): for each host leased, the seconds to wait
        before a request may start there (what its last holder left: `min_interval`, a
        Retry-After). Hosts another owner holds are absent. Processes sharing the state
        talk to a host one at a time so (`linkcheck`)."""
        ...

    def renew_hosts(self, owner: str, hosts: Iterable[str], ttl: float) -> set[str]:
        """Extend `owner`'s leases of these hosts to `ttl` seconds from now; the hosts
        still its own (one that expired and was taken by another is not)."""
        ...

    def release_hosts(self, owner: str, waits: Mapping[str, float]) -> None:
        """Give up `owner`'s leases of these hosts, each with the seconds from now before
        which no request may start there."""
        ...


class Leadership(Protocol):
    """Which of the daemons sharing a state builds and publishes (`aggregator run`)."""

    def lead(self) -> bool:
        """Whether this daemon leads now (it kept the lead, or took it now that it is
        free); a StateError when the state cannot say."""
        ...

    def term(self) -> int:
        """This daemon's term as leader: it changes each time the daemon takes the lead
        anew (another may have published since its last term)."""
        ...

    def holder(self) -> str | None:
        """Who leads, as far as the state can tell (a machine and pid), else None."""
        ...

    def close(self) -> None:
        """Give the lead up."""
        ...


class SoleLeader:
    """A SQLite state has one daemon, which always leads (the output folder's lock
    keeps its builds apart from any other writer's)."""

    def lead(self) -> bool:
        return True

    def term(self) -> int:
        return 1

    def holder(self) -> str | None:
        return None

    def close(self) -> None:
        pass


def open_leadership(where: Path | str) -> Leadership:
    """The leadership of the daemons sharing the state at `where`: for a PostgreSQL
    database an advisory lock on a connection of the daemon's own (`pgstore.
    Leadership`, which connects when first asked), for a SQLite file `SoleLeader`."""
    if is_database_url(where):
        from aggregator.state.pgstore import Leadership as PgLeadership

        return PgLeadership(str(where))
    return SoleLeader()


def store_exists(where: Path | str) -> bool:
    """Whether there is a state to read at `where` without making one: a SQLite file
    that exists, or any database (its tables are made on opening, holding nothing)."""
    return is_database_url(where) or Path(where).is_file()


def open_store(where: Path | str) -> StateStore:
    """The state store at `where`: a `postgresql://` (or `postgres://`) URL is a
    PostgreSQL database, anything else a SQLite file. psycopg is imported only for a
    URL (a ConfigError naming the `postgresql` extra when it is not installed)."""
    if is_database_url(where):
        from aggregator.state.pgstore import PgStore  # the backend, chosen here

        return PgStore(str(where))
    from aggregator.state.store import Store

    return Store(where)
