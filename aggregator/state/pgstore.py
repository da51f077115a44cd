"""Persistent state in a PostgreSQL database: the tables and behaviour of the SQLite
store (`store.py`), for state shared past one machine. The only module that speaks
PostgreSQL.

Connections come from a `psycopg_pool.ConnectionPool` (autocommit: each read is a
statement of its own); each write is one transaction, so a killed writer leaves
nothing half done. The schema is versioned in `aggregator_schema`: an older one is
migrated in place (`_MIGRATIONS`, one transaction under an advisory lock, so two
processes opening a fresh database do not both create it); a newer one is refused,
left alone for the program that made it. Every text column sorts and compares
bytewise (`COLLATE "C"`), as SQLite does, whatever the database's locale: a feed's
order, the meta rows by key and every ISO 8601 time compare as they do in SQLite.

Every psycopg error leaves here as a `StateError` whose message shows the URL with
its password hidden. psycopg is imported by this module only: `open_store` imports
it for a PostgreSQL URL, and the package works without the `postgresql` extra.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Collection
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Any

from aggregator.errors import ConfigError
from aggregator.errors import StateError
from aggregator.model import FeedState
from aggregator.model import LinkResult
from aggregator.state.codec import entry_digest
from aggregator.state.codec import feed_from_row
from aggregator.state.codec import feed_row
from aggregator.state.codec import iso
from aggregator.state.codec import link_from_row
from aggregator.state.codec import link_row
from aggregator.state.interface import LINK_WRITES
from aggregator.state.location import masked
from aggregator.state.location import scrubbed

try:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict
    from psycopg.conninfo import make_conninfo
    from psycopg_pool import ConnectionPool
except ImportError as missing:  # pragma: no cover - the extra is in the test deps
    raise ConfigError(
        "a postgresql:// state needs the postgresql extra: "
        "pip install 'aggregator[postgresql]' (psycopg and psycopg-pool)"
    ) from missing

log = logging.getLogger("aggregator.state.pgstore")
#: seconds to wait for a connection (to the server, or from the pool)
CONNECT_TIMEOUT = 10.0
#: connections one store may hold at once (a read that streams, and the others)
POOL_SIZE = 4
#: the advisory lock a migration holds (any number the database's other users avoid)
_MIGRATION_LOCK = 0x61676772  # "aggr"
#: the advisory lock the daemon that builds holds for its life (`Leadership`)
_LEADER_LOCK = 0x61676C64  # "agld"

#: the columns of each table, in the order of the SQLite store's (`SELECT *`, rows)
_COLUMNS = {
    "link": (
        "url", "class", "status", "reason", "final_url", "checked_at", "next_check_at",
        "failures", "broken_since",
    ),
    "parsed": ("path", "size", "mtime_ns", "head", "words", "body", "digest"),
    "simzone": ("zone", "digest", "pairs"),
    "meta": ("key", "value"),
    "ping": ("url", "since"),
    "feed": (
        "url", "title", "etag", "last_modified", "fetched_at", "checked_at", "next_fetch",
        "status", "error", "moved_to", "gone", "new", "skipped", "ttl", "max_age",
    ),
    "feed_entry": ("feed", "key", "first_seen", "text", "digest"),
}  # fmt: skip
#: the tables a build keeps for the next (engine/tables.py), and their columns
_INC_TABLES = {
    "inc_art": ("path", "period", "stamp", "digest", "story"),
    "inc_key": ("key", "path"),
    "inc_pair": ("zone", "a", "b", "score"),
    "inc_story": ("story", "survivor", "data"),
    "inc_member": ("feed", "rank", "entry", "path", "story"),
    "inc_rel": ("key", "path"),
    "inc_link": ("key", "path", "stamp", "verdict", "shown"),
}
#: `codec.link_stamp` in SQL, over the `link` row `r`
_STAMP = "r.checked_at || ' ' || r.next_check_at || ' ' || r.failures || ' ' || r.class"

# Version 1: the tables of the SQLite store (schema 7), column for column.
_SCHEMA_1 = """
CREATE TABLE link (
    url text COLLATE "C" PRIMARY KEY,     -- canonical URL (urls.canonical_url)
    class text COLLATE "C" NOT NULL,      -- ok, redirected, broken, blocked, ...
    status integer,                       -- HTTP status of the last answer, NULL when none
    reason text NOT NULL,                 -- one line: "404 Not Found", "connection refused", ...
    final_url text,                       -- where redirects ended, NULL when none
    checked_at text COLLATE "C" NOT NULL,    -- ISO 8601 UTC
    next_check_at text COLLATE "C" NOT NULL, -- ISO 8601 UTC: fresh until then
    failures integer NOT NULL,            -- consecutive checks that were not ok
    broken_since text                     -- first of the current run of broken results
);
CREATE TABLE parsed (
    path text COLLATE "C" PRIMARY KEY,    -- an article file, as found under its source folder
    size bigint NOT NULL,                 -- its size and mtime when parsed: its identity
    mtime_ns bigint NOT NULL,
    head text NOT NULL,                   -- the loader's result as JSON (codec.encode)
    words text NOT NULL,
    body text NOT NULL
);
CREATE TABLE simzone (
    zone bigint PRIMARY KEY,              -- a period or a boundary of two
    digest text NOT NULL,                 -- of the articles it was computed from
    pairs text NOT NULL                   -- JSON: [[path, path, score], ...]
);
CREATE TABLE meta (
    key text COLLATE "C" PRIMARY KEY,
    value text NOT NULL
);
CREATE TABLE inc_art (
    path text COLLATE "C" PRIMARY KEY,    -- an article file
    period bigint NOT NULL,               -- its period (similar.period_of)
    stamp text COLLATE "C" NOT NULL,      -- published_at, ISO 8601
    digest text NOT NULL,                 -- of its fingerprint
    story text COLLATE "C" NOT NULL       -- the first file of its story
);
CREATE INDEX inc_art_period ON inc_art (period);
CREATE INDEX inc_art_story ON inc_art (story);
CREATE TABLE inc_key (
    key text COLLATE "C" NOT NULL,        -- a canonical URL ...
    path text COLLATE "C" NOT NULL        -- ... of this article
);
CREATE INDEX inc_key_key ON inc_key (key);
CREATE INDEX inc_key_path ON inc_key (path);
CREATE TABLE inc_pair (
    zone bigint NOT NULL,                 -- a similar pair found in this zone
    a text COLLATE "C" NOT NULL,
    b text COLLATE "C" NOT NULL,
    score double precision NOT NULL
);
CREATE INDEX inc_pair_zone ON inc_pair (zone);
CREATE INDEX inc_pair_a ON inc_pair (a);
CREATE INDEX inc_pair_b ON inc_pair (b);
CREATE TABLE inc_story (
    story text COLLATE "C" PRIMARY KEY,   -- its first file
    survivor text COLLATE "C" NOT NULL,
    data text NOT NULL                    -- JSON: topics, kept, feeds, duplicate, exclusions
);
CREATE INDEX inc_story_survivor ON inc_story (survivor);
CREATE TABLE inc_member (
    feed text COLLATE "C" NOT NULL,       -- a topic key, '' for the all-topics feed
    rank double precision NOT NULL,       -- minus the publish time (newest first) ...
    entry text COLLATE "C" NOT NULL,      -- ... then the order of those published at once ...
    path text COLLATE "C" NOT NULL,       -- ... then the path: a feed's order
    story text COLLATE "C" NOT NULL
);
CREATE INDEX inc_member_order ON inc_member (feed, rank, entry, path);
CREATE INDEX inc_member_story ON inc_member (story);
CREATE INDEX inc_member_path ON inc_member (path);
CREATE TABLE inc_rel (
    key text COLLATE "C" NOT NULL,        -- a canonical URL of related coverage ...
    path text COLLATE "C" NOT NULL        -- ... of an article some feed shows
);
CREATE INDEX inc_rel_key ON inc_rel (key);
CREATE INDEX inc_rel_path ON inc_rel (path);
CREATE TABLE inc_link (
    key text COLLATE "C" NOT NULL,        -- a canonical URL the link step judged ...
    path text COLLATE "C" NOT NULL,       -- ... for this article (its link or an image)
    stamp text COLLATE "C" NOT NULL,      -- the stored result it was judged by (link_stamp)
    verdict text COLLATE "C" NOT NULL,    -- '' or 'excluded' / 'dropped' (report lists) ...
    shown text NOT NULL                   -- ... whose result is here (JSON), else ''
);
CREATE INDEX inc_link_key ON inc_link (key);
CREATE INDEX inc_link_path ON inc_link (path);
CREATE TABLE ping (
    url text COLLATE "C" PRIMARY KEY,     -- a feed URL the WebSub hub has not heard about yet
    since text NOT NULL                   -- ISO 8601 UTC: when it first changed unannounced
);
CREATE TABLE feed (
    url text COLLATE "C" PRIMARY KEY,     -- as the config gives it
    title text NOT NULL,
    etag text,                            -- of the last answer, sent as If-None-Match
    last_modified text,                   -- of the last answer, sent as If-Modified-Since
    fetched_at text,                      -- ISO 8601 UTC: the last document read
    checked_at text,                      -- ISO 8601 UTC: the last request
    next_fetch text,                      -- ISO 8601 UTC: not asked for before; NULL: next run
    status integer,                       -- HTTP status of the last answer
    error text,                           -- why the last fetch failed
    moved_to text,                        -- where permanent redirects lead
    gone integer NOT NULL,                -- 1 after a 410 Gone: never asked for again
    new integer NOT NULL,                 -- entry files the last fetch wrote
    skipped text NOT NULL                 -- JSON [[id, title, reason]] of entries left out
);
CREATE TABLE feed_entry (
    feed text COLLATE "C" NOT NULL,
    key text COLLATE "C" NOT NULL,        -- entries.entry_key: its file's name
    first_seen text NOT NULL,             -- ISO 8601 UTC
    PRIMARY KEY (feed, key)
);
"""
# Version 2: the report's link lists keep their order in a column of their own (SQLite
# reads it from the rowid, which PostgreSQL has not).
_SCHEMA_2 = """
ALTER TABLE inc_link ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;
"""
# Version 3: leases of the hosts link checks talk to, shared by every process of the
# state (`claim_hosts`).
_SCHEMA_3 = """
CREATE TABLE host_lease (
    host text COLLATE "C" PRIMARY KEY,    -- a host link checks and fetches send requests to
    owner text COLLATE "C" NOT NULL,      -- the checker holding it, '' when nobody does
    expires_at timestamptz NOT NULL,      -- the lease ends then unless renewed
    not_before timestamptz NOT NULL       -- no request may start at the host before then
);
"""
# Version 4: each remote feed's entries keep their article files (the entries folder
# is a copy of them), and a feed its RSS ttl and last max-age, applied after a 304
# (the SQLite store's schema 8).
_SCHEMA_4 = """
ALTER TABLE feed ADD COLUMN ttl integer;
ALTER TABLE feed ADD COLUMN max_age double precision;
ALTER TABLE feed_entry ADD COLUMN text text NOT NULL DEFAULT '';
ALTER TABLE feed_entry ADD COLUMN digest text NOT NULL DEFAULT '';
"""
# Version 5: the rows judged with no stored result, and the results by when they are
# due (`inc_due`: what an incremental build judges again, without a scan).
_SCHEMA_5 = """
CREATE INDEX inc_link_unstamped ON inc_link (key) WHERE stamp = '' AND verdict = '';
CREATE INDEX link_next_check ON link (next_check_at);
"""
# Version 6: the content digest of each parsed file (`parsed_digests`; the SQLite
# store's schema 10): '' for the rows of older versions, which match no file.
_SCHEMA_6 = """
ALTER TABLE parsed ADD COLUMN digest text NOT NULL DEFAULT '';
"""
#: the statements that bring a database from the version before each to it
_MIGRATIONS = {
    1: _SCHEMA_1, 2: _SCHEMA_2, 3: _SCHEMA_3, 4: _SCHEMA_4, 5: _SCHEMA_5, 6: _SCHEMA_6
}  # fmt: skip
SCHEMA_VERSION = max(_MIGRATIONS)


class Leadership:
    """Which of the daemons sharing a database builds and publishes: the one whose
    session holds a session-level advisory lock, on a connection of its own kept for
    the daemon's life. A daemon that is killed, or whose connection dies, loses its
    session and the lock with it, and the next daemon to try takes it (`lead`). The
    connection names this process (`application_name`), so followers can name the
    leader, and has TCP keepalives, so a leader cut off is noticed."""

    def __init__(self, url: str, *, timeout: float = CONNECT_TIMEOUT) -> None:
        self.url = url
        self.where = masked(url)
        name = f"aggregator leader {socket.gethostname()} pid {os.getpid()}"
        keepalives = {"keepalives": "1", "keepalives_idle": "10", "keepalives_interval": "5"}
        try:
            self._conninfo = _conninfo(url, timeout, application_name=name[:63], **keepalives)
        except psycopg.Error as exc:
            raise _error(self.url, "not a PostgreSQL URL", exc) from None
        self._conn: psycopg.Connection[tuple[Any, ...]] | None = None
        #: this process holds the lock (as far as it knows: `lead` makes sure)
        self.held = False
        #: how many times this process took the lock (see `term`)
        self._terms = 0

    def lead(self) -> bool:
        """Whether this daemon leads now: the lock held still (its session alive), or
        taken now that it is free. A StateError when the database cannot say."""
        if self._conn is not None and self.held:
            try:
                self._conn.execute("SELECT 1")
                return True
            except psycopg.Error as exc:  # the session died, and the lock with it
                reason = scrubbed(_short(exc), self.url)
                log.warning("%s: lost the leader's session: %s", self.where, reason)
                self._drop()
        try:
            if self._conn is None:
                self._conn = psycopg.connect(self._conninfo, autocommit=True)
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (_LEADER_LOCK,)).fetchone()
        except psycopg.Error as exc:
            self._drop()
            raise _error(self.url, "cannot reach the state to lead", exc) from None
        self.held = bool(row and row[0])
        if self.held:
            self._terms += 1
        return self.held

    def term(self) -> int:
        """Which of this process's terms as leader it is in: a new one each time it took
        the lock (after it lost its session, another may have published meanwhile)."""
        return self._terms

    def holder(self) -> str | None:
        """The name of the leader's connection (its machine and pid), when known."""
        if self._conn is None:
            return None
        try:
            row = self._conn.execute(
                "SELECT a.application_name FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND l.classid = 0 AND l.objid = %s AND l.objsubid = 1",
                (_LEADER_LOCK,),
            ).fetchone()
        except psycopg.Error:
            return None
        return str(row[0]).removeprefix("aggregator leader ") if row and row[0] else None

    def close(self) -> None:
        """Give the lead up: unlocked at once (a follower may take it as soon as it
        asks), and the session ends."""
        if self._conn is not None and self.held:
            with contextlib.suppress(psycopg.Error):
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (_LEADER_LOCK,))
        self._drop()

    def _drop(self) -> None:
        self.held = False
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None


class PgStore:
    """The state in a PostgreSQL database. Use as a context manager, or call `close()`."""

    def __init__(self, url: str, *, timeout: float = CONNECT_TIMEOUT) -> None:
        self.url = url
        #: the URL as messages show it (no password)
        self.where = masked(url)
        self.timeout = timeout
        #: the name of this process's connections, and of its host leases: a lease of
        #: a name no connection carries any more (a process killed) is anyone's
        self.owner = owner_name()
        self.links_saved = 0
        try:
            conninfo = _conninfo(url, timeout, application_name=self.owner)
        except psycopg.Error as exc:
            raise self._error("not a PostgreSQL URL", exc) from None
        with self._guard("cannot open state"), psycopg.connect(conninfo, autocommit=True) as conn:
            found = migrate(conn)
        if found > SCHEMA_VERSION:  # a newer aggregator's tables, left alone for it
            raise StateError(
                f"{self.where}: state schema {found} is newer than this program "
                f"(schema {SCHEMA_VERSION})"
            )
        self._pool: ConnectionPool[psycopg.Connection[tuple[Any, ...]]] = ConnectionPool(
            conninfo,
            kwargs={"autocommit": True},
            min_size=1,
            max_size=POOL_SIZE,
            open=False,
            timeout=timeout,
            check=ConnectionPool.check_connection,
            name="aggregator-state",
        )
        try:
            with self._guard("cannot open state"):
                self._pool.open(wait=True, timeout=timeout)
        except BaseException:
            self._pool.close()
            raise

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> PgStore:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- link results

    def link(self, url: str) -> LinkResult | None:
        row = self._one(f"SELECT {_list('link')} FROM link WHERE url = %s", (url,))
        return link_from_row(row) if row else None

    def links(self, urls: Iterable[str]) -> dict[str, LinkResult]:
        """Stored results for these canonical URLs (those never checked are absent)."""
        rows = self._select_in(f"SELECT {_list('link')} FROM link WHERE url = ANY(%s)", urls)
        return {str(row[0]): link_from_row(row) for row in rows}

    def save_links(self, results: Iterable[LinkResult]) -> None:
        """Store results, replacing earlier ones of the same URLs, in one transaction,
        which also counts itself in the meta row `LINK_WRITES`."""
        rows = [link_row(r) for r in results]
        if not rows:
            return
        with self._writing() as cursor:
            cursor.executemany(_upsert("link"), rows)
            cursor.execute(
                "INSERT INTO meta VALUES (%s, '1') ON CONFLICT (key) DO UPDATE SET value = "
                "CASE WHEN meta.value ~ '^[0-9]{1,18}$' THEN (meta.value::bigint + 1)::text "
                "ELSE '1' END",
                (LINK_WRITES,),
            )
        self.links_saved += 1

    # -- meta rows

    def meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key = %s", (key,))
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._write(_upsert("meta"), [(key, value)])

    def metas(self, prefix: str) -> list[tuple[str, str]]:
        """(key, value) of the meta rows whose key starts with `prefix`, by key."""
        rows = self._all(
            "SELECT key, value FROM meta WHERE left(key, %s) = %s ORDER BY key",
            (len(prefix), prefix),
        )
        return [(str(key), str(value)) for key, value in rows]

    def delete_metas(self, prefix: str) -> None:
        """Drop the meta rows whose key starts with `prefix`."""
        self._write("DELETE FROM meta WHERE left(key, %s) = %s", [(len(prefix), prefix)])

    def delete_meta(self, key: str) -> None:
        self._write("DELETE FROM meta WHERE key = %s", [(key,)])

    # -- the parse cache

    def parsed(self, paths: Iterable[str]) -> dict[str, tuple[tuple[int, int], str, str, str]]:
        """Cached parse results of these paths: ((size, mtime_ns), head, words, body)."""
        rows = self._select_in(
            "SELECT path, size, mtime_ns, head, words, body FROM parsed WHERE path = ANY(%s)",
            paths,
        )
        return {
            str(path): ((int(size), int(mtime_ns)), str(head), words or "", body or "")
            for path, size, mtime_ns, head, words, body in rows
        }

    def iter_parsed(
        self, *, full: bool = False, paths: Sequence[str] | None = None
    ) -> Iterator[tuple[str, tuple[int, int], str, str | None, str | None]]:
        """Every cached parse result (of `paths` only, when given), one at a time:
        (path, (size, mtime_ns), head JSON, words JSON, body JSON); words and body are
        None unless `full`. The whole cache is streamed (a server-side cursor), not
        read into memory at once."""
        columns = "path, size, mtime_ns, head" + (", words, body" if full else ", NULL, NULL")
        if paths is not None:
            chosen = self._select_in(f"SELECT {columns} FROM parsed WHERE path = ANY(%s)", paths)
            for path, size, mtime_ns, head, words, body in chosen:
                yield str(path), (int(size), int(mtime_ns)), str(head), words, body
            return
        with (
            self._guard("cannot read state"),
            self._pool.connection() as conn,
            conn.transaction(),
            conn.cursor(name="iter_parsed") as cursor,
        ):
            cursor.itersize = 1000
            cursor.execute(f"SELECT {columns} FROM parsed")
            for path, size, mtime_ns, head, words, body in cursor:
                yield str(path), (int(size), int(mtime_ns)), str(head), words, body

    def parsed_words(self, paths: Iterable[str]) -> dict[str, str]:
        """The words JSON of these paths' cached parse results (those cached)."""
        rows = self._select_in("SELECT path, words FROM parsed WHERE path = ANY(%s)", paths)
        return {str(path): str(words) for path, words in rows}

    def parsed_rows(self, paths: Iterable[str]) -> dict[str, tuple[str, str]]:
        """(head, body) JSON of these paths' cached parse results (those cached)."""
        rows = self._select_in("SELECT path, head, body FROM parsed WHERE path = ANY(%s)", paths)
        return {str(path): (str(head), str(body)) for path, head, body in rows}

    def parsed_digests(self, paths: Iterable[str]) -> dict[str, tuple[tuple[int, int], str]]:
        rows = self._select_in(
            "SELECT path, size, mtime_ns, digest FROM parsed WHERE path = ANY(%s)", paths
        )
        return {str(p): ((int(size), int(mtime)), str(digest)) for p, size, mtime, digest in rows}

    def save_parsed(self, rows: Iterable[tuple[str, int, int, str, str, str, str]]) -> None:
        self._write(_upsert("parsed"), list(rows))

    def forget_parsed(self, paths: Iterable[str]) -> None:
        self._write("DELETE FROM parsed WHERE path = %s", [(p,) for p in paths])

    def clear_parsed(self) -> None:
        self._write("DELETE FROM parsed", [()])

    # -- similar pairs, by zone

    def zone(self, zone: int) -> tuple[str, str] | None:
        """The stored (digest, pairs JSON) of one zone of similar pairs."""
        row = self._one("SELECT digest, pairs FROM simzone WHERE zone = %s", (zone,))
        return (str(row[0]), str(row[1])) if row else None

    def save_zones(self, rows: Iterable[tuple[int, str, str]], keep: Iterable[int]) -> None:
        """Store (zone, digest, pairs JSON) rows and drop the zones not in `keep`, in one
        transaction."""
        with self._writing() as cursor:
            cursor.executemany(_upsert("simzone"), list(rows))
            cursor.execute(
                "DELETE FROM simzone WHERE zone <> ALL(%s::bigint[])", (list(set(keep)),)
            )

    def zones(self) -> set[int]:
        """The zones stored."""
        return {int(zone) for (zone,) in self._all("SELECT zone FROM simzone")}

    def clear_zones(self) -> None:
        self._write("DELETE FROM simzone", [()])

    # -- the engine's tables (engine/tables.py)

    def inc_rows(
        self, table: str, column: str, keys: Iterable[object], columns: str = "*"
    ) -> list[tuple[Any, ...]]:
        """Rows of an engine table whose `column` is one of `keys`."""
        _inc_column(table, column)
        if columns == "*":  # the columns the SQLite store has (not inc_link's order)
            columns = ", ".join(_INC_TABLES[table])
        return self._select_in(f"SELECT {columns} FROM {table} WHERE {column} = ANY(%s)", keys)

    def inc_insert(self, table: str, rows: Sequence[tuple[object, ...]]) -> None:
        self._write(_insert(table), rows)

    def inc_delete(self, table: str, column: str, keys: Iterable[object]) -> None:
        _inc_column(table, column)
        wanted = list(set(keys))
        if wanted:
            self._write(f"DELETE FROM {table} WHERE {column} = ANY(%s)", [(wanted,)])

    def inc_update_story(self, rows: Sequence[tuple[str, str]]) -> None:
        """Set the story of articles: (story, path) rows."""
        self._write("UPDATE inc_art SET story = %s WHERE path = %s", rows)

    def inc_fill(self, rows: dict[str, Sequence[tuple[object, ...]]]) -> None:
        """Replace every row of these tables, in one transaction (COPY: fast, and the
        old rows stay for every reader until it commits)."""
        with self._writing() as cursor:
            for table, table_rows in rows.items():
                cursor.execute(f"DELETE FROM {table}")
                columns = ", ".join(_INC_TABLES[table])
                with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in table_rows:
                        copy.write_row(row)

    def inc_fill_steps(self, rows: dict[str, Sequence[tuple[object, ...]]]) -> Iterator[None]:
        """`inc_fill` as its last step (the server makes the indexes, in its own
        process): a first step does nothing, so that closing the steps before the end
        writes nothing, as `Store.inc_fill_steps`."""
        yield
        self.inc_fill(rows)

    def inc_top(self, feed: str, limit: int) -> list[tuple[str, str]]:
        """The first `limit` (path, story) of a feed, in its order."""
        rows = self._all(
            "SELECT path, story FROM inc_member WHERE feed = %s "
            "ORDER BY rank, entry, path LIMIT %s",
            (feed, limit),
        )
        return [(str(path), str(story)) for path, story in rows]

    def inc_feed_days(self, first: datetime, days: int) -> list[tuple[str, int, int]]:
        """Per feed and day, how many of the feed's members were published that day:
        (feed, day, members) rows, `day` counted from `first` (0 to `days - 1`, days
        of 86,400 s); the members published on no such day are counted as day -1. One
        scan of the feeds' order (`rank` is minus the publish time)."""
        start = first.timestamp()
        end = start + days * 86400
        rows = self._all(
            "SELECT feed, CASE WHEN rank > %s AND rank <= %s "
            "THEN CAST(floor((-rank - %s) / 86400) AS integer) ELSE -1 END AS day, count(*) "
            "FROM inc_member GROUP BY feed, day",
            (-end, -start, start),
        )
        return [(str(feed), int(day), int(n)) for feed, day, n in rows]

    def inc_relink(self, due: datetime | None, keys: Collection[str] | None = None) -> set[str]:
        """The articles whose link step must run again: those judged by a result that
        is no longer the stored one (a later check, `check-links`), and with `due`,
        those with a URL that has no result fresh at `due`. With `keys`, only the
        articles judged by those canonical URLs."""
        sql = (
            "SELECT DISTINCT l.path FROM inc_link l LEFT JOIN link r ON r.url = l.key "
            f"WHERE l.verdict = '' AND (l.stamp != coalesce({_STAMP}, '')"
        )
        args: list[object] = []
        if due is not None:
            sql += " OR r.url IS NULL OR r.next_check_at <= %s"
            args.append(iso(due))
        sql += ")"
        if keys is not None:
            sql += " AND l.key = ANY(%s)"
            args.append(list(dict.fromkeys(keys)))
        return {str(path) for (path,) in self._all(sql, args)}

    def inc_due(self, due: datetime) -> set[str]:
        """`inc_relink(due)` less the articles judged by a result since replaced (see
        `StateStore.inc_due`)."""
        rows = self._all(
            "SELECT l.path FROM inc_link l WHERE l.verdict = '' "
            "AND l.key IN (SELECT url FROM link WHERE next_check_at <= %s) "
            "UNION SELECT l.path FROM inc_link l WHERE l.stamp = '' AND l.verdict = '' "
            "AND NOT EXISTS (SELECT 1 FROM link r WHERE r.url = l.key)",
            (iso(due),),
        )
        return {str(path) for (path,) in rows}

    def inc_published_between(self, low: datetime, high: datetime) -> set[str]:
        """The articles published at or after `low` and before `high` (both UTC)."""
        rows = self._all(
            "SELECT path FROM inc_art WHERE stamp >= %s AND stamp < %s", (iso(low), iso(high))
        )
        return {str(path) for (path,) in rows}

    def inc_link_totals(self) -> tuple[int, list[tuple[str, int]], datetime | None]:
        """Over the URLs the link step judged: how many, how many of each class, and
        when the first of them is due."""
        rows = self._all(
            "SELECT r.class, count(*), min(r.next_check_at) FROM "
            "(SELECT DISTINCT key FROM inc_link WHERE verdict = '') AS k "
            "LEFT JOIN link r ON r.url = k.key GROUP BY r.class ORDER BY r.class"
        )
        firsts = [str(first) for klass, _, first in rows if klass is not None and first]
        return (
            sum(int(n) for _, n, _ in rows),
            [(str(k), int(n)) for k, n, _ in rows if k is not None],
            datetime.fromisoformat(min(firsts)) if firsts else None,
        )

    def inc_link_first_due(self) -> datetime | None:
        """When the first of the results the link rows name is due (None without one):
        the results in the order they are due, to the first a link row names."""
        row = self._one(
            "SELECT r.next_check_at FROM link r WHERE EXISTS (SELECT 1 FROM inc_link l "
            "WHERE l.key = r.url AND l.verdict = '') ORDER BY r.next_check_at LIMIT 1"
        )
        return datetime.fromisoformat(str(row[0])) if row else None

    def inc_link_results(self) -> dict[str, LinkResult]:
        """The stored results of the URLs the link step judged (`inc_link`)."""
        columns = ", ".join(f"r.{name}" for name in _COLUMNS["link"])
        rows = self._all(
            f"SELECT {columns} FROM (SELECT DISTINCT key FROM inc_link WHERE verdict = '') "
            "AS k JOIN link r ON r.url = k.key"
        )
        return {str(row[0]): link_from_row(row) for row in rows}

    def inc_link_verdicts(self) -> list[tuple[str, str, str]]:
        """(path, verdict, shown) of the report's link lists, by path, in the order kept."""
        rows = self._all(
            "SELECT path, verdict, shown FROM inc_link WHERE verdict != '' ORDER BY path, seq"
        )
        return [(str(p), str(v), str(j)) for p, v, j in rows]

    # -- remote feeds

    def feed_states(self) -> dict[str, FeedState]:
        """What is known of each remote feed, by URL."""
        rows = self._all(f"SELECT {_list('feed')} FROM feed ORDER BY url")
        return {str(row[0]): feed_from_row(row) for row in rows}

    def save_feed_state(self, state: FeedState) -> None:
        self._write(_upsert("feed"), [feed_row(state)])

    def forget_feeds(self, urls: Iterable[str]) -> None:
        """Drop what is known of these feeds and of their entries."""
        gone = [(url,) for url in urls]
        with self._writing() as cursor:
            cursor.executemany("DELETE FROM feed WHERE url = %s", gone)
            cursor.executemany("DELETE FROM feed_entry WHERE feed = %s", gone)

    def feed_entries(self, url: str) -> dict[str, datetime]:
        """When each entry of a feed was first seen, by key."""
        rows = self._all("SELECT key, first_seen FROM feed_entry WHERE feed = %s", (url,))
        return {str(key): datetime.fromisoformat(seen) for key, seen in rows}

    def forget_feed_entries(self, url: str, keys: Iterable[str]) -> None:
        self._write("DELETE FROM feed_entry WHERE feed = %s AND key = %s", [(url, k) for k in keys])

    def add_feed_entries(self, url: str, entries: Iterable[tuple[str, datetime]]) -> None:
        rows = [(url, key, iso(seen)) for key, seen in entries]
        self._write(
            "INSERT INTO feed_entry (feed, key, first_seen) VALUES (%s, %s, %s) "
            "ON CONFLICT DO NOTHING",
            rows,
        )

    def feed_entry_digests(self, url: str) -> dict[str, str]:
        """The digest of each kept entry's article file, by key ('' when its text is
        not kept)."""
        rows = self._all("SELECT key, digest FROM feed_entry WHERE feed = %s", (url,))
        return {str(key): str(digest) for key, digest in rows}

    def feed_entry_texts(self, url: str, keys: Iterable[str]) -> dict[str, str]:
        """The article files of these entries of a feed (those kept with a text)."""
        rows = self._all(
            "SELECT key, text FROM feed_entry WHERE feed = %s AND key = ANY(%s) AND digest != ''",
            (url, list(keys)),
        )
        return {str(key): str(text) for key, text in rows}

    def save_feed_entries(self, url: str, entries: Iterable[tuple[str, datetime, str]]) -> None:
        """Keep these entries' article files: (key, first seen, text) rows; an entry
        kept already keeps its first-seen time."""
        rows = [(url, key, iso(seen), text, entry_digest(text)) for key, seen, text in entries]
        self._write(
            _insert("feed_entry") + " ON CONFLICT (feed, key) DO UPDATE SET "
            "text = excluded.text, digest = excluded.digest",
            rows,
        )

    # -- WebSub pings

    def add_pings(self, urls: Iterable[str], now: datetime) -> None:
        """Remember feeds whose change the hub has yet to hear about."""
        rows = [(u, iso(now)) for u in urls]
        self._write(_insert("ping") + " ON CONFLICT DO NOTHING", rows)

    def pending_pings(self) -> list[str]:
        return [str(url) for (url,) in self._all("SELECT url FROM ping ORDER BY url")]

    def done_pings(self, urls: Iterable[str]) -> None:
        self._write("DELETE FROM ping WHERE url = %s", [(u,) for u in urls])

    # -- host leases: the database's clock decides, so machines' clocks need not agree

    def lease_owner(self) -> str:
        return self.owner

    def claim_hosts(self, owner: str, hosts: Iterable[str], ttl: float) -> dict[str, float]:
        """See `StateStore.claim_hosts`. A host being claimed by another process at
        this moment is skipped (`SKIP LOCKED`), not waited for."""
        wanted = sorted(set(hosts))
        if not wanted:
            return {}
        # Rows first, in their own statement and in order: two processes adding the
        # same new hosts wait for each other briefly, never in a cycle.
        self._write(
            "INSERT INTO host_lease (host, owner, expires_at, not_before) "
            "SELECT h, '', 'epoch', 'epoch' FROM unnest(%s::text[]) AS h "
            "ORDER BY h ON CONFLICT DO NOTHING",
            [(wanted,)],
        )
        with self._writing() as cursor:
            cursor.execute(
                "WITH free AS (SELECT host FROM host_lease WHERE host = ANY(%s) "
                "AND (owner IN ('', %s) OR expires_at < clock_timestamp() OR owner NOT IN "
                "(SELECT application_name FROM pg_stat_activity "
                "WHERE application_name IS NOT NULL)) "
                "ORDER BY host FOR UPDATE SKIP LOCKED) "
                "UPDATE host_lease AS l SET owner = %s, "
                "expires_at = clock_timestamp() + make_interval(secs => %s) "
                "FROM free WHERE l.host = free.host RETURNING l.host, "
                "greatest(0, extract(epoch FROM l.not_before - clock_timestamp()))",
                (wanted, owner, owner, float(ttl)),
            )
            rows = cursor.fetchall()
        return {str(host): float(wait) for host, wait in rows}

    def renew_hosts(self, owner: str, hosts: Iterable[str], ttl: float) -> set[str]:
        wanted = sorted(set(hosts))
        if not wanted:
            return set()
        with self._writing() as cursor:
            cursor.execute(
                "UPDATE host_lease SET expires_at = clock_timestamp() + make_interval(secs => %s) "
                "WHERE owner = %s AND host = ANY(%s) RETURNING host",
                (float(ttl), owner, wanted),
            )
            return {str(host) for (host,) in cursor.fetchall()}

    def release_hosts(self, owner: str, waits: Mapping[str, float]) -> None:
        rows = [(max(0.0, float(wait)), host, owner) for host, wait in sorted(waits.items())]
        self._write(
            "UPDATE host_lease SET owner = '', expires_at = 'epoch', "
            "not_before = clock_timestamp() + make_interval(secs => %s) "
            "WHERE host = %s AND owner = %s",
            rows,
        )

    # -- the plumbing

    def _one(self, sql: str, args: Sequence[object] = ()) -> tuple[Any, ...] | None:
        with self._guard("cannot read state"), self._pool.connection() as conn:
            return conn.execute(sql, args).fetchone()

    def _all(self, sql: str, args: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._guard("cannot read state"), self._pool.connection() as conn:
            return conn.execute(sql, args).fetchall()

    def _select_in(self, sql: str, keys: Iterable[object]) -> list[tuple[Any, ...]]:
        """The rows of `sql` (a query with `= ANY(%s)`) for these keys, in one query."""
        wanted = list(dict.fromkeys(keys))
        return self._all(sql, (wanted,)) if wanted else []

    def _write(self, sql: str, rows: Sequence[tuple[object, ...]]) -> None:
        if rows:
            with self._writing() as cursor:
                cursor.executemany(sql, rows)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[psycopg.Cursor[tuple[Any, ...]]]:
        """One write transaction (committed when the block ends, rolled back when it
        raises, and by the server when the process dies inside it)."""
        with (
            self._guard("cannot write state"),
            self._pool.connection() as conn,
            conn.transaction(),
            conn.cursor() as cursor,
        ):
            yield cursor

    @contextlib.contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        """Every psycopg error inside becomes a StateError."""
        try:
            yield
        except psycopg.Error as exc:
            raise self._error(what, exc) from None

    def _error(self, what: str, exc: BaseException) -> StateError:
        return _error(self.url, what, exc)


def _error(url: str, what: str, exc: BaseException) -> StateError:
    """One line, with the URL masked and the password nowhere. Not chained: the
    original message may hold the URL as given."""
    return StateError(f"{masked(url)}: {what}: {scrubbed(_short(exc), url)}")


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def owner_name() -> str:
    """A name unique to this process and store (at most 63 characters, as PostgreSQL
    keeps an `application_name`)."""
    return f"aggregator:{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _conninfo(url: str, timeout: float, **extra: str) -> str:
    """The connection string of `url`, with `extra` parameters and a connect timeout
    unless the URL gives its own."""
    if "connect_timeout" not in conninfo_to_dict(url):
        extra["connect_timeout"] = str(max(1, round(timeout)))
    return make_conninfo(url, **extra)


def migrate(conn: psycopg.Connection[Any], target: int = SCHEMA_VERSION) -> int:
    """Bring the schema of the database to `target` (the tests make older ones), in
    one transaction, and return the version found. A newer schema is left as it is."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        found = schema_version(conn)
        if found >= target:
            return found
        if found == 0:
            conn.execute("CREATE TABLE aggregator_schema (version integer NOT NULL)")
            conn.execute("INSERT INTO aggregator_schema VALUES (0)")
        for version in range(found + 1, target + 1):
            log.info("state schema: migrating to version %d", version)
            conn.execute(_MIGRATIONS[version])
        conn.execute("UPDATE aggregator_schema SET version = %s", (target,))
    return found


def schema_version(conn: psycopg.Connection[Any]) -> int:
    """The schema version of the database (0: no tables of ours yet)."""
    exists = conn.execute("SELECT to_regclass('aggregator_schema') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return 0
    row = conn.execute("SELECT max(version) FROM aggregator_schema").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _list(table: str) -> str:
    return ", ".join(_COLUMNS[table])


def _insert(table: str) -> str:
    columns = _COLUMNS.get(table) or _INC_TABLES[table]
    marks = ", ".join(["%s"] * len(columns))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


def _upsert(table: str) -> str:
    """INSERT OR REPLACE, keyed by the table's first column."""
    key, *rest = _COLUMNS[table]
    updates = ", ".join(f"{name} = excluded.{name}" for name in rest)
    return f"{_insert(table)} ON CONFLICT ({key}) DO UPDATE SET {updates}"


def _inc_column(table: str, column: str) -> None:
    if column not in _INC_TABLES.get(table, ()):
        raise ValueError(f"no column {column} in {table}")
