"""Persistent state in one SQLite file: link check results (the parse cache and first-seen
times join later). The only module that speaks SQL.

The file is opened in WAL mode with a busy timeout, each write is one
transaction (a killed process loses at most the transaction in flight, never the
file), and a file that is not a readable SQLite database is moved aside (to
`<name>.corrupt-<n>`) and started afresh rather than trusted: everything in it can
be rebuilt, at the cost of checking links again. Corruption found later, inside a
file that opened, is handled the same way: the file is moved aside and the run
fails with a `StateError` saying so, and the next run starts afresh.

A file that is only *busy* (another process holds its lock past the busy timeout),
unreadable or made by a newer version is never moved aside: that is a `StateError`
and the file is left as it is. Every SQLite error leaves here as a `StateError`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sqlite3
import threading
import uuid
import weakref
from collections.abc import Collection
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from aggregator.errors import StateError as StateError  # it lived here; errors has it now
from aggregator.model import FeedState
from aggregator.model import LinkResult
from aggregator.publishing.layout import make_folder
from aggregator.state.codec import entry_digest
from aggregator.state.codec import feed_from_row
from aggregator.state.codec import feed_row
from aggregator.state.codec import iso
from aggregator.state.codec import link_from_row
from aggregator.state.codec import link_row
from aggregator.state.interface import LINK_WRITES
from aggregator.state.leases import LocalLeases

log = logging.getLogger("aggregator.state.store")
SCHEMA_VERSION = 10
#: the version that laid the parse cache out as now: an older file's cache is dropped
_OLD_PARSED = 5
#: columns added to tables of older versions (version 8: entry texts, ttl, max-age;
#: version 10: the content digest of a parsed file)
_ADDED_COLUMNS = {
    "feed": ("ttl INTEGER", "max_age REAL"),
    "feed_entry": ("text TEXT NOT NULL DEFAULT ''", "digest TEXT NOT NULL DEFAULT ''"),
    "parsed": ("digest TEXT NOT NULL DEFAULT ''",),
}
#: seconds to wait for another process's lock on the file
BUSY_TIMEOUT = 10.0
# Primary result codes (the low byte of extended ones) that mean "not to be trusted".
_CORRUPT_CODES = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB
_BUSY_CODES = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED
#: a write of this many rows or more into an engine table rebuilds its indexes after
#: the rows when the table held fewer (`Store._bulk`)
_BULK_ROWS = 5000
#: the rows of one step of `Store.inc_fill_steps` (some milliseconds)
_STEP_ROWS = 4000
_SCHEMA = """
CREATE TABLE IF NOT EXISTS link (
    url TEXT PRIMARY KEY,          -- canonical URL (urls.canonical_url)
    class TEXT NOT NULL,           -- ok, redirected, broken, blocked, ...
    status INTEGER,                -- HTTP status of the last answer, NULL when none
    reason TEXT NOT NULL,          -- one line: "404 Not Found", "connection refused", ...
    final_url TEXT,                -- where redirects ended, NULL when none
    checked_at TEXT NOT NULL,      -- ISO 8601 UTC
    next_check_at TEXT NOT NULL,   -- ISO 8601 UTC: fresh until then
    failures INTEGER NOT NULL,     -- consecutive checks that were not ok
    broken_since TEXT              -- first of the current run of broken results, NULL if none
);
CREATE TABLE IF NOT EXISTS parsed (
    path TEXT PRIMARY KEY,         -- an article file, as found under its source folder
    size INTEGER NOT NULL,         -- its size and mtime when parsed: its identity
    mtime_ns INTEGER NOT NULL,
    head TEXT NOT NULL,            -- the loader's result as JSON, but for ...
    words TEXT NOT NULL,           -- ... the word sets near-duplicate detection reads ...
    body TEXT NOT NULL,            -- ... and what only rendering reads (codec.encode)
    digest TEXT NOT NULL DEFAULT '' -- of the bytes parsed (loader.content_digest); '' unknown
);
CREATE TABLE IF NOT EXISTS simzone (
    zone INTEGER PRIMARY KEY,      -- a period or a boundary of two (similar.similar_pairs)
    digest TEXT NOT NULL,          -- of the articles it was computed from
    pairs TEXT NOT NULL            -- JSON: [[path, path, score], ...]
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
-- What each build starts from (engine/tables.py): the last build's articles,
-- stories and feed members, valid while meta "inc_form" says so.
CREATE TABLE IF NOT EXISTS inc_art (
    path TEXT PRIMARY KEY,         -- an article file
    period INTEGER NOT NULL,       -- its period (similar.period_of)
    stamp TEXT NOT NULL,           -- published_at, ISO 8601
    digest TEXT NOT NULL,          -- of its fingerprint
    story TEXT NOT NULL            -- the first file of its story
);
CREATE INDEX IF NOT EXISTS inc_art_period ON inc_art (period);
CREATE INDEX IF NOT EXISTS inc_art_story ON inc_art (story);
CREATE TABLE IF NOT EXISTS inc_key (
    key TEXT NOT NULL,             -- a canonical URL ...
    path TEXT NOT NULL             -- ... of this article
);
CREATE INDEX IF NOT EXISTS inc_key_key ON inc_key (key);
CREATE INDEX IF NOT EXISTS inc_key_path ON inc_key (path);
CREATE TABLE IF NOT EXISTS inc_pair (
    zone INTEGER NOT NULL,         -- a similar pair found in this zone
    a TEXT NOT NULL,
    b TEXT NOT NULL,
    score REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS inc_pair_zone ON inc_pair (zone);
CREATE INDEX IF NOT EXISTS inc_pair_a ON inc_pair (a);
CREATE INDEX IF NOT EXISTS inc_pair_b ON inc_pair (b);
CREATE TABLE IF NOT EXISTS inc_story (
    story TEXT PRIMARY KEY,        -- its first file
    survivor TEXT NOT NULL,
    data TEXT NOT NULL             -- JSON: topics, kept, feeds, duplicate, exclusions
);
CREATE INDEX IF NOT EXISTS inc_story_survivor ON inc_story (survivor);
CREATE TABLE IF NOT EXISTS inc_member (
    feed TEXT NOT NULL,            -- a topic key, "" for the all-topics feed
    rank REAL NOT NULL,            -- minus the publish time (newest first) ...
    entry TEXT NOT NULL,           -- ... then the order of those published at once ...
    path TEXT NOT NULL,            -- ... then the path: a feed's order
    story TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS inc_member_order ON inc_member (feed, rank, entry, path);
CREATE INDEX IF NOT EXISTS inc_member_story ON inc_member (story);
CREATE INDEX IF NOT EXISTS inc_member_path ON inc_member (path);
CREATE TABLE IF NOT EXISTS inc_rel (
    key TEXT NOT NULL,             -- a canonical URL of related coverage ...
    path TEXT NOT NULL             -- ... of an article some feed shows
);
CREATE INDEX IF NOT EXISTS inc_rel_key ON inc_rel (key);
CREATE INDEX IF NOT EXISTS inc_rel_path ON inc_rel (path);
CREATE TABLE IF NOT EXISTS inc_link (
    key TEXT NOT NULL,             -- a canonical URL the link step judged ...
    path TEXT NOT NULL,            -- ... for this article (its link or an image)
    stamp TEXT NOT NULL,           -- the stored result it was judged by (link_stamp)
    verdict TEXT NOT NULL,         -- '' for such a row; 'excluded' or 'dropped' for a
                                   -- row of the report's link lists, whose result ...
    shown TEXT NOT NULL            -- ... is here (JSON, state.codec.link_row), else empty
);
CREATE INDEX IF NOT EXISTS inc_link_key ON inc_link (key);
CREATE INDEX IF NOT EXISTS inc_link_path ON inc_link (path);
-- the rows judged with no stored result, and the results by when they are due
-- (`inc_due`: what an incremental build judges again, without a scan)
CREATE INDEX IF NOT EXISTS inc_link_unstamped ON inc_link (key) WHERE stamp = '' AND verdict = '';
CREATE INDEX IF NOT EXISTS link_next_check ON link (next_check_at);
CREATE TABLE IF NOT EXISTS ping (
    url TEXT PRIMARY KEY,          -- a feed URL the WebSub hub has not heard about yet
    since TEXT NOT NULL            -- ISO 8601 UTC: when it first changed unannounced
);
-- Remote feeds (sources/remote.py): what the last fetch of each learnt.
CREATE TABLE IF NOT EXISTS feed (
    url TEXT PRIMARY KEY,          -- as the config gives it
    title TEXT NOT NULL,
    etag TEXT,                     -- of the last answer, sent as If-None-Match
    last_modified TEXT,            -- of the last answer, sent as If-Modified-Since
    fetched_at TEXT,               -- ISO 8601 UTC: the last document read
    checked_at TEXT,               -- ISO 8601 UTC: the last request
    next_fetch TEXT,               -- ISO 8601 UTC: not asked for before; NULL: next run
    status INTEGER,                -- HTTP status of the last answer
    error TEXT,                    -- why the last fetch failed
    moved_to TEXT,                 -- where permanent redirects lead
    gone INTEGER NOT NULL,         -- 1 after a 410 Gone: never asked for again
    new INTEGER NOT NULL,          -- entry files the last fetch wrote
    skipped TEXT NOT NULL,         -- JSON [[id, title, reason]] of entries left out
    ttl INTEGER,                   -- RSS ttl of the last document read, minutes
    max_age REAL                   -- max-age of the last answer that gave one, seconds
);
-- Each entry of a remote feed kept: when it was first seen (its date when the feed
-- gives none), and its article file (the entries folder is a copy of these).
CREATE TABLE IF NOT EXISTS feed_entry (
    feed TEXT NOT NULL,
    key TEXT NOT NULL,             -- entries.entry_key: its file's name
    first_seen TEXT NOT NULL,      -- ISO 8601 UTC
    text TEXT NOT NULL DEFAULT '', -- the article file (entries.article_text); '' unknown
    digest TEXT NOT NULL DEFAULT '', -- entry_digest(text); '' when the text is unknown
    PRIMARY KEY (feed, key)
);
"""


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


def _corrupt(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _CORRUPT_CODES


def _busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _BUSY_CODES


class Store:
    """The state file. Use as a context manager, or call `close()`."""

    def __init__(self, path: Path | str, *, timeout: float = BUSY_TIMEOUT) -> None:
        self.path = path
        self.timeout = timeout
        self._db = self._open(path)
        #: copies the write-ahead log into the file beside the writes, once they are many
        self._copier: _Checkpointer | None = None
        #: host leases: a SQLite state has one process, so they live in memory
        self._leases = LocalLeases()
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self.links_saved = 0

    def _open(self, path: Path | str) -> sqlite3.Connection:
        try:
            return self._connect(path, self.timeout)
        except (sqlite3.Error, OSError) as exc:
            if not isinstance(exc, sqlite3.Error) or not _corrupt(exc):
                raise self._error("cannot open state file", exc) from exc
            if str(path) == ":memory:" or not Path(path).exists():
                raise self._error("cannot open state file", exc) from exc
            aside = self._move_aside()
            log.warning("%s: state file is corrupt (%s); moved aside to %s", path, exc, aside)
            try:
                return self._connect(path, self.timeout)
            except (sqlite3.Error, OSError) as again:
                raise self._error("cannot open state file", again) from again

    def _move_aside(self) -> Path:
        path = Path(self.path)
        aside = _aside(path)
        try:
            path.rename(aside)
            for suffix in ("-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        except OSError as exc:
            raise self._error("state file is corrupt and cannot be moved aside", exc) from exc
        return aside

    def _error(self, what: str, exc: BaseException) -> StateError:
        if isinstance(exc, sqlite3.Error) and _busy(exc):
            return StateError(
                f"{self.path}: state file is locked by another process "
                f"(waited {self.timeout:g} s): {exc}"
            )
        if isinstance(exc, OSError):
            return StateError(f"{self.path}: {what}: {exc.strerror or exc}")
        return StateError(f"{self.path}: {what}: {exc}")

    @contextlib.contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        """Every SQLite error inside becomes a StateError; a corrupt file found now is
        moved aside (after closing it) so that the next run starts afresh."""
        try:
            yield
        except sqlite3.Error as exc:
            if not _corrupt(exc) or str(self.path) == ":memory:":
                raise self._error(what, exc) from exc
            self.close()
            aside = self._move_aside()
            raise StateError(
                f"{self.path}: state file is corrupt ({exc}); moved aside to {aside}, "
                "the next run starts afresh"
            ) from exc

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """One write transaction, its SQLite errors as in `_guard`. The connection is in
        autocommit mode (`isolation_level=None`), where `with connection:` begins
        nothing: without BEGIN every statement would be a transaction of its own."""
        with self._guard("cannot write state"):
            with _transaction(self._db):
                yield
            if self._copier is not None:
                self._copier.written()
            elif self._db.total_changes >= _COPIER_ROWS:
                self._copier = _Checkpointer.start(self, self._db)

    @staticmethod
    def _connect(path: Path | str, timeout: float = BUSY_TIMEOUT) -> sqlite3.Connection:
        if str(path) != ":memory:":
            make_folder(Path(path).parent)
        db = sqlite3.connect(str(path), timeout=timeout, isolation_level=None)
        try:
            # For a new file: the parse cache's rows (some KB each) fit a page, and are
            # written in about half the time of chains of 4 KB pages. A file made
            # before keeps its page size.
            db.execute(f"PRAGMA page_size={PAGE_SIZE}")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                # Not corrupt: a newer aggregator's file, left alone for it.
                raise sqlite3.DatabaseError(f"state schema {version} is newer than this program")
            if version < SCHEMA_VERSION:
                _add_columns(db)
            if version < SCHEMA_VERSION or not _has_tables(db):
                # A write (only when there is something to create), in one transaction:
                # `executescript` commits what is open, so the script begins its own.
                drop = "DROP TABLE IF EXISTS parsed;" if version < _OLD_PARSED else ""
                db.executescript(
                    f"BEGIN IMMEDIATE; {drop} {_SCHEMA}; "
                    f"PRAGMA user_version={SCHEMA_VERSION}; COMMIT;"
                )
            db.execute("SELECT count(*) FROM link").fetchone()
            if str(path) != ":memory:":
                # Wait for (and prove) the write lock now, before a run writes any
                # feed: a state file another process holds fails the run up front.
                db.execute("BEGIN IMMEDIATE")
                db.execute("ROLLBACK")
        except BaseException:
            db.close()
            raise
        return db

    def close(self) -> None:
        copier, self._copier = self._copier, None
        try:
            if copier is not None:
                copier.stop()
        finally:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def link(self, url: str) -> LinkResult | None:
        with self._guard("cannot read state"):
            row = self._db.execute("SELECT * FROM link WHERE url = ?", (url,)).fetchone()
        return link_from_row(row) if row else None

    def links(self, urls: Iterable[str]) -> dict[str, LinkResult]:
        """Stored results for these canonical URLs (those never checked are absent)."""
        rows = self._select_in("SELECT * FROM link WHERE url IN ({})", urls)
        return {str(row[0]): link_from_row(row) for row in rows}

    def _select_in(
        self, sql: str, keys: Iterable[object], first: Sequence[object] = ()
    ) -> list[tuple[Any, ...]]:
        """The rows of `sql` (a query with `IN ({})`, after the parameters `first`) for
        these keys, 500 keys a query."""
        found: list[tuple[Any, ...]] = []
        wanted = list(dict.fromkeys(keys))
        with self._guard("cannot read state"):
            for start in range(0, len(wanted), 500):
                batch = wanted[start : start + 500]
                query = sql.format(",".join("?" * len(batch)))
                found.extend(self._db.execute(query, [*first, *batch]).fetchall())
        return found

    def save_links(self, results: Iterable[LinkResult]) -> None:
        """Store results, replacing earlier ones of the same URLs, in one transaction,
        which also counts itself in the meta row `LINK_WRITES`."""
        rows = [link_row(r) for r in results]
        if not rows:
            return
        with self._writing():
            self._db.executemany(
                "INSERT OR REPLACE INTO link VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
            )
            self._db.execute(
                "INSERT INTO meta VALUES (?, '1') "
                "ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
                (LINK_WRITES,),
            )
        self.links_saved += 1

    def meta(self, key: str) -> str | None:
        with self._guard("cannot read state"):
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._write("INSERT OR REPLACE INTO meta VALUES (?, ?)", [(key, value)])

    def metas(self, prefix: str) -> list[tuple[str, str]]:
        """(key, value) of the meta rows whose key starts with `prefix`, by key."""
        with self._guard("cannot read state"):
            rows = self._db.execute(
                "SELECT key, value FROM meta WHERE substr(key, 1, ?) = ? ORDER BY key",
                (len(prefix), prefix),
            ).fetchall()
        return [(str(key), str(value)) for key, value in rows]

    def delete_metas(self, prefix: str) -> None:
        """Drop the meta rows whose key starts with `prefix`."""
        self._write("DELETE FROM meta WHERE substr(key, 1, ?) = ?", [(len(prefix), prefix)])

    def delete_meta(self, key: str) -> None:
        self._write("DELETE FROM meta WHERE key = ?", [(key,)])

    def parsed(self, paths: Iterable[str]) -> dict[str, tuple[tuple[int, int], str, str, str]]:
        """Cached parse results of these paths: ((size, mtime_ns), head, words, body)."""
        wanted = set(paths)
        return {
            key: (identity, head, words or "", body or "")
            for key, identity, head, words, body in self.iter_parsed(full=True)
            if key in wanted
        }

    def iter_parsed(
        self, *, full: bool = False, paths: Sequence[str] | None = None
    ) -> Iterator[tuple[str, tuple[int, int], str, str | None, str | None]]:
        """Every cached parse result (of `paths` only, when given), one at a time:
        (path, (size, mtime_ns), head JSON, words JSON, body JSON); words and body are
        None unless `full`."""
        columns = "path, size, mtime_ns, head" + (", words, body" if full else ", NULL, NULL")
        if paths is not None:
            chosen = self._select_in(f"SELECT {columns} FROM parsed WHERE path IN ({{}})", paths)
            for path, size, mtime_ns, head, words, body in chosen:
                yield str(path), (int(size), int(mtime_ns)), str(head), words, body
            return
        with self._guard("cannot read state"):
            cursor = self._db.execute(f"SELECT {columns} FROM parsed")
            while rows := cursor.fetchmany(1000):
                for path, size, mtime_ns, head, words, body in rows:
                    yield str(path), (int(size), int(mtime_ns)), str(head), words, body

    def parsed_words(self, paths: Iterable[str]) -> dict[str, str]:
        """The words JSON of these paths' cached parse results (those cached)."""
        rows = self._select_in("SELECT path, words FROM parsed WHERE path IN ({})", paths)
        return {str(path): str(words) for path, words in rows}

    def parsed_digests(self, paths: Iterable[str]) -> dict[str, tuple[tuple[int, int], str]]:
        """The identity and content digest of these paths' cached parse results (those
        cached): ((size, mtime_ns), digest), the digest '' when not known."""
        rows = self._select_in(
            "SELECT path, size, mtime_ns, digest FROM parsed WHERE path IN ({})", paths
        )
        return {str(p): ((int(size), int(mtime)), str(digest)) for p, size, mtime, digest in rows}

    def save_parsed(self, rows: Iterable[tuple[str, int, int, str, str, str, str]]) -> None:
        # The columns named: a file a later version adds a column to stays writable.
        self._write(
            "INSERT OR REPLACE INTO parsed (path, size, mtime_ns, head, words, body, digest) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            list(rows),
        )

    def clear_parsed(self) -> None:
        self._write("DELETE FROM parsed", [()])

    def zone(self, zone: int) -> tuple[str, str] | None:
        """The stored (digest, pairs JSON) of one zone of similar pairs."""
        with self._guard("cannot read state"):
            row = self._db.execute(
                "SELECT digest, pairs FROM simzone WHERE zone = ?", (zone,)
            ).fetchone()
        return (str(row[0]), str(row[1])) if row else None

    def save_zones(self, rows: Iterable[tuple[int, str, str]], keep: Iterable[int]) -> None:
        """Store (zone, digest, pairs JSON) rows and drop the zones not in `keep`, in one
        transaction."""
        wanted = set(keep)
        with self._writing():
            self._db.executemany("INSERT OR REPLACE INTO simzone VALUES (?, ?, ?)", list(rows))
            known = [row[0] for row in self._db.execute("SELECT zone FROM simzone")]
            gone = [(zone,) for zone in known if zone not in wanted]
            self._db.executemany("DELETE FROM simzone WHERE zone = ?", gone)

    def zones(self) -> set[int]:
        """The zones stored."""
        with self._guard("cannot read state"):
            return {int(row[0]) for row in self._db.execute("SELECT zone FROM simzone")}

    def clear_zones(self) -> None:
        self._write("DELETE FROM simzone", [()])

    def inc_rows(
        self, table: str, column: str, keys: Iterable[object], columns: str = "*"
    ) -> list[tuple[Any, ...]]:
        """Rows of an engine table whose `column` is one of `keys`."""
        _inc_column(table, column)
        return self._select_in(f"SELECT {columns} FROM {table} WHERE {column} IN ({{}})", keys)

    def inc_insert(self, table: str, rows: Sequence[tuple[object, ...]]) -> None:
        marks = ", ".join("?" * len(_INC_TABLES[table]))
        self._bulk(table, f"INSERT INTO {table} VALUES ({marks})", rows)

    def inc_delete(self, table: str, column: str, keys: Iterable[object]) -> None:
        _inc_column(table, column)
        self._write(f"DELETE FROM {table} WHERE {column} = ?", [(k,) for k in set(keys)])

    def inc_update_story(self, rows: Sequence[tuple[str, str]]) -> None:
        """Set the story of articles: (story, path) rows."""
        self._bulk("inc_art", "UPDATE inc_art SET story = ? WHERE path = ?", rows)

    def inc_fill(self, rows: dict[str, Sequence[tuple[object, ...]]]) -> None:
        """Replace every row of these tables, in one transaction; the indexes are made
        after the rows (much faster than keeping them up to date row by row)."""
        for _ in self.inc_fill_steps(rows):
            pass

    def inc_fill_steps(self, rows: dict[str, Sequence[tuple[object, ...]]]) -> Iterator[None]:
        """`inc_fill` in steps of some thousand rows or one index each, taken one at a
        time (a build renders feeds between them), in one transaction: the last step
        commits it; closed before, it is rolled back. Nothing else may write to the
        state until the steps end."""
        with self._writing():
            indexes = self._db.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                "AND tbl_name IN "
                f"({', '.join('?' * len(rows))})",
                list(rows),
            ).fetchall()
            for name, _sql in indexes:
                self._db.execute(f"DROP INDEX {name}")
            for table, table_rows in rows.items():
                self._db.execute(f"DELETE FROM {table}")
                marks = ", ".join("?" * len(_INC_TABLES[table]))
                for start in range(0, len(table_rows), _STEP_ROWS):
                    yield
                    self._db.executemany(
                        f"INSERT INTO {table} VALUES ({marks})",
                        table_rows[start : start + _STEP_ROWS],
                    )
            for _name, sql in indexes:
                yield
                self._db.execute(sql)

    def inc_top(self, feed: str, limit: int) -> list[tuple[str, str]]:
        """The first `limit` (path, story) of a feed, in its order."""
        with self._guard("cannot read state"):
            rows = self._db.execute(
                "SELECT path, story FROM inc_member WHERE feed = ? "
                "ORDER BY rank, entry, path LIMIT ?",
                (feed, limit),
            ).fetchall()
        return [(str(path), str(story)) for path, story in rows]

    def inc_feed_days(self, first: datetime, days: int) -> list[tuple[str, int, int]]:
        """Per feed and day, how many of the feed's members were published that day:
        (feed, day, members) rows, `day` counted from `first` (0 to `days - 1`, days
        of 86,400 s); the members published on no such day are counted as day -1. One
        scan of the feeds' order (`rank` is minus the publish time)."""
        start = first.timestamp()
        end = start + days * 86400
        with self._guard("cannot read state"):
            rows = self._db.execute(
                "SELECT feed, CASE WHEN rank > ? AND rank <= ? "
                "THEN CAST((-rank - ?) / 86400 AS INTEGER) ELSE -1 END AS day, count(*) "
                "FROM inc_member GROUP BY feed, day",
                (-end, -start, start),
            ).fetchall()
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
        args: tuple[str, ...] = ()
        if due is not None:
            sql += " OR r.url IS NULL OR r.next_check_at <= ?"
            args = (iso(due),)
        sql += ")"
        if keys is not None:
            found = self._select_in(sql + " AND l.key IN ({})", keys, args)
            return {str(path) for (path,) in found}
        with self._guard("cannot read state"):
            rows = self._db.execute(sql, args).fetchall()
        return {str(path) for (path,) in rows}

    def inc_due(self, due: datetime) -> set[str]:
        """`inc_relink(due)` less the articles judged by a result since replaced (see
        `StateStore.inc_due`)."""
        with self._guard("cannot read state"):
            rows = self._db.execute(
                "SELECT l.path FROM inc_link l WHERE l.verdict = '' "
                "AND l.key IN (SELECT url FROM link WHERE next_check_at <= ?) "
                "UNION SELECT l.path FROM inc_link l WHERE l.stamp = '' AND l.verdict = '' "
                "AND NOT EXISTS (SELECT 1 FROM link r WHERE r.url = l.key)",
                (iso(due),),
            ).fetchall()
        return {str(path) for (path,) in rows}

    def inc_published_between(self, low: datetime, high: datetime) -> set[str]:
        """The articles published at or after `low` and before `high` (both UTC)."""
        with self._guard("cannot read state"):
            rows = self._db.execute(
                "SELECT path FROM inc_art WHERE stamp >= ? AND stamp < ?",
                (iso(low), iso(high)),
            ).fetchall()
        return {str(path) for (path,) in rows}

    def inc_link_totals(self) -> tuple[int, list[tuple[str, int]], datetime | None]:
        """Over the URLs the link step judged: how many, how many of each class, and
        when the first of them is due."""
        with self._guard("cannot read state"):
            rows = self._db.execute(
                "SELECT r.class, count(*), min(r.next_check_at) FROM "
                "(SELECT DISTINCT key FROM inc_link WHERE verdict = '') AS k "
                "LEFT JOIN link r ON r.url = k.key GROUP BY r.class ORDER BY r.class"
            ).fetchall()
        firsts = [str(first) for klass, _, first in rows if klass is not None and first]
        return (
            sum(int(n) for _, n, _ in rows),
            [(str(k), int(n)) for k, n, _ in rows if k is not None],
            datetime.fromisoformat(min(firsts)) if firsts else None,
        )

    def inc_link_first_due(self) -> datetime | None:
        """When the first of the results the link rows name is due (None without one):
        the results in the order they are due, to the first a link row names."""
        with self._guard("cannot read state"):
            row = self._db.execute(
                "SELECT r.next_check_at FROM link r WHERE EXISTS (SELECT 1 FROM inc_link l "
                "WHERE l.key = r.url AND l.verdict = '') ORDER BY r.next_check_at LIMIT 1"
            ).fetchone()
        return datetime.fromisoformat(str(row[0])) if row else None

    def inc_link_results(self) -> dict[str, LinkResult]:
        """The stored results of the URLs the link step judged (`inc_link`)."""
        with self._guard("cannot read state"):
            rows = self._db.execute(
                "SELECT r.* FROM (SELECT DISTINCT key FROM inc_link WHERE verdict = '') AS k "
                "JOIN link r ON r.url = k.key"
            ).fetchall()
        return {str(row[0]): link_from_row(row) for row in rows}

    def inc_link_verdicts(self) -> list[tuple[str, str, str]]:
        """(path, verdict, shown) of the report's link lists, by path, in the order kept."""
        with self._guard("cannot read state"):
            rows = self._db.execute(
                "SELECT path, verdict, shown FROM inc_link WHERE verdict != '' ORDER BY path, rowid"
            ).fetchall()
        return [(str(p), str(v), str(j)) for p, v, j in rows]

    def forget_parsed(self, paths: Iterable[str]) -> None:
        self._write("DELETE FROM parsed WHERE path = ?", [(p,) for p in paths])

    def parsed_rows(self, paths: Iterable[str]) -> dict[str, tuple[str, str]]:
        """(head, body) JSON of these paths' cached parse results (those cached)."""
        rows = self._select_in("SELECT path, head, body FROM parsed WHERE path IN ({})", paths)
        return {str(path): (str(head), str(body)) for path, head, body in rows}

    def feed_states(self) -> dict[str, FeedState]:
        """What is known of each remote feed, by URL."""
        with self._guard("cannot read state"):
            rows = self._db.execute("SELECT * FROM feed ORDER BY url").fetchall()
        return {str(row[0]): feed_from_row(row) for row in rows}

    def save_feed_state(self, state: FeedState) -> None:
        self._write(
            "INSERT OR REPLACE INTO feed VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [feed_row(state)],
        )

    def forget_feeds(self, urls: Iterable[str]) -> None:
        """Drop what is known of these feeds and of their entries."""
        gone = [(url,) for url in urls]
        with self._writing():
            self._db.executemany("DELETE FROM feed WHERE url = ?", gone)
            self._db.executemany("DELETE FROM feed_entry WHERE feed = ?", gone)

    def feed_entries(self, url: str) -> dict[str, datetime]:
        """When each entry of a feed was first seen, by key."""
        with self._guard("cannot read state"):
            rows = self._db.execute(
                "SELECT key, first_seen FROM feed_entry WHERE feed = ?", (url,)
            ).fetchall()
        return {str(key): datetime.fromisoformat(seen) for key, seen in rows}

    def forget_feed_entries(self, url: str, keys: Iterable[str]) -> None:
        self._write("DELETE FROM feed_entry WHERE feed = ? AND key = ?", [(url, k) for k in keys])

    def add_feed_entries(self, url: str, entries: Iterable[tuple[str, datetime]]) -> None:
        rows = [(url, key, iso(seen)) for key, seen in entries]
        self._write(
            "INSERT OR IGNORE INTO feed_entry (feed, key, first_seen) VALUES (?, ?, ?)", rows
        )

    def feed_entry_digests(self, url: str) -> dict[str, str]:
        """The digest of each kept entry's article file, by key ('' when its text is
        not kept: an entry stored by an older version)."""
        with self._guard("cannot read state"):
            rows = self._db.execute(
                "SELECT key, digest FROM feed_entry WHERE feed = ?", (url,)
            ).fetchall()
        return {str(key): str(digest) for key, digest in rows}

    def feed_entry_texts(self, url: str, keys: Iterable[str]) -> dict[str, str]:
        """The article files of these entries of a feed (those kept with a text)."""
        rows = self._select_in(
            "SELECT key, text FROM feed_entry WHERE feed = ? AND key IN ({}) AND digest != ''",
            keys,
            first=(url,),
        )
        return {str(key): str(text) for key, text in rows}

    def save_feed_entries(self, url: str, entries: Iterable[tuple[str, datetime, str]]) -> None:
        """Keep these entries' article files: (key, first seen, text) rows; an entry
        kept already keeps its first-seen time."""
        rows = [(url, key, iso(seen), text, entry_digest(text)) for key, seen, text in entries]
        self._write(
            "INSERT INTO feed_entry (feed, key, first_seen, text, digest) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (feed, key) DO UPDATE SET text = excluded.text, digest = excluded.digest",
            rows,
        )

    def add_pings(self, urls: Iterable[str], now: datetime) -> None:
        """Remember feeds whose change the hub has yet to hear about."""
        self._write("INSERT OR IGNORE INTO ping VALUES (?, ?)", [(u, iso(now)) for u in urls])

    def pending_pings(self) -> list[str]:
        with self._guard("cannot read state"):
            return [row[0] for row in self._db.execute("SELECT url FROM ping ORDER BY url")]

    def done_pings(self, urls: Iterable[str]) -> None:
        self._write("DELETE FROM ping WHERE url = ?", [(u,) for u in urls])

    # -- host leases (in memory: see leases.py)

    def lease_owner(self) -> str:
        return self._owner

    def claim_hosts(self, owner: str, hosts: Iterable[str], ttl: float) -> dict[str, float]:
        return self._leases.claim_hosts(owner, hosts, ttl)

    def renew_hosts(self, owner: str, hosts: Iterable[str], ttl: float) -> set[str]:
        return self._leases.renew_hosts(owner, hosts, ttl)

    def release_hosts(self, owner: str, waits: Mapping[str, float]) -> None:
        self._leases.release_hosts(owner, waits)

    def _write(self, sql: str, rows: Sequence[tuple[object, ...]]) -> None:
        with self._writing():
            self._db.executemany(sql, rows)

    def _bulk(self, table: str, sql: str, rows: Sequence[tuple[object, ...]]) -> None:
        """`_write` of rows into an engine table. When they are many, and the table
        holds fewer (a cold build fills empty tables), its indexes are dropped and made
        again after the rows, in the same transaction: building an index from sorted
        rows is several times faster than keeping it up to date row by row."""
        if len(rows) < _BULK_ROWS:
            self._write(sql, rows)
            return
        with self._writing():
            (held,) = self._db.execute(f"SELECT count(*) FROM {table}").fetchone()
            indexes = []
            if held < len(rows):
                indexes = self._db.execute(
                    "SELECT name, sql FROM sqlite_master "
                    "WHERE type = 'index' AND sql IS NOT NULL AND tbl_name = ?",
                    (table,),
                ).fetchall()
            for name, _sql in indexes:
                self._db.execute(f"DROP INDEX {name}")
            self._db.executemany(sql, rows)
            for _name, index_sql in indexes:
                self._db.execute(index_sql)


@contextlib.contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:  # some errors (a full disk) have rolled it back already
            db.execute("ROLLBACK")
        raise


class _Checkpointer:
    """Copies what the writes of a connection put in the write-ahead log into the state
    file (a SQLite checkpoint), in a thread of its own, with a connection of its own.

    A connection checkpoints as it commits, once the log holds 1,000 pages: in the
    middle of the build, which waits for the copy and for the disk (0.7 s of a cold
    build of 20,000 files, 4 s at 100,000, on one core that parses or renders). Here the
    copy runs beside it, each time a transaction commits (at most one at a time: those
    that commit meanwhile are copied by the next). It takes no lock a writer waits for
    (`PASSIVE`), and SQLite lets go of the GIL while it runs.

    SQLite starts the log again only at a transaction that finds all of it copied: with
    commits one after the other, a copy always under way, it would grow with all that
    is written. So once a copy finds `_LOG_PAGES` pages in it, the writer waits for the
    copy under way and copies the rest itself, at its next commit. That bounds the log:
    the writer's commits never copy it otherwise, however large a transaction (the
    rows of the feeds and stories of a cold build of 100,000 files, 150 MB, took 0.8 s
    to copy at their commit, while the build waited). Should the thread fail, the
    writer checkpoints as it commits again."""

    def __init__(self, db: sqlite3.Connection, path: str) -> None:
        #: the writer's connection: used by `written`, in the writer's thread, alone
        self._db = db
        self._path = path
        self._wake = threading.Event()
        #: held by whichever copies
        self._copying = threading.Lock()
        self._stopping = False
        #: the pages in the log at the end of the last copy
        self._pages = 0
        #: set by the thread once it stopped on an error (a flag of its own, which only
        #: the thread sets: the writer's reset of `_pages` cannot lose it)
        self._failed = False
        #: whether the writer took its own checkpoints back after that
        self._given_back = False
        self._thread = threading.Thread(target=self._run, name="state checkpoint", daemon=True)

    @classmethod
    def start(cls, store: object, db: sqlite3.Connection) -> _Checkpointer | None:
        """A checkpointer of `db` (the connection of `store`), started; None for a
        database with no file of its own."""
        rows = db.execute("PRAGMA database_list").fetchall()
        path = next((str(row[2]) for row in rows if row[1] == "main"), "")
        if not path:  # in memory: no log
            return None
        copier = cls(db, path)  # (the absolute path: a later chdir changes nothing)
        db.execute("PRAGMA wal_autocheckpoint=0")  # (the thread copies, or `written`)
        try:
            copier._thread.start()
        except RuntimeError:  # no thread to be had: the writer checkpoints as before
            db.execute(f"PRAGMA wal_autocheckpoint={_DEFAULT_CHECKPOINT_PAGES}")
            return None
        # A store let go of without `close`: the thread ends (and its connection with it).
        weakref.finalize(store, copier.halt)
        copier.written()
        return copier

    def written(self) -> None:
        """A transaction committed (called in the writer's thread): copy it."""
        if self._failed:  # the thread failed: checkpoint as before
            if not self._given_back:
                self._given_back = True
                self._db.execute(f"PRAGMA wal_autocheckpoint={_DEFAULT_CHECKPOINT_PAGES}")
        elif self._pages >= _LOG_PAGES:
            with self._copying:  # after the copy under way (which may fail: see above)
                self._pages = 0
                try:
                    self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # as SQLite's own at a commit: not the write's
                    log.debug("%s: checkpoint after a commit failed: %s", self._path, exc)
        else:
            self._wake.set()

    def halt(self) -> None:
        """Have the thread end, after the copy under way."""
        self._stopping = True
        self._wake.set()

    def stop(self) -> None:
        """`halt`, and wait for the thread to end (the last connection to close copies
        what is left)."""
        self.halt()
        if self._thread.ident is not None:
            self._thread.join()

    def _run(self) -> None:
        try:
            db = sqlite3.connect(self._path, timeout=0, isolation_level=None)
        except sqlite3.Error as exc:
            self._fail(exc)
            return
        try:
            db.execute("PRAGMA synchronous=NORMAL")
            while True:
                self._wake.wait()
                self._wake.clear()  # before the look: a `halt` now is seen at once
                if self._stopping:
                    return
                with self._copying:
                    self._pages = self._copy(db)
        except Exception as exc:  # (a full disk): whatever it is, the writer copies again
            self._fail(exc)
        finally:
            db.close()

    @staticmethod
    def _copy(db: sqlite3.Connection) -> int:
        """Copy what it can of the log into the file; the pages the log holds."""
        row = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return max(int(row[1]), 0) if row else 0

    def _fail(self, exc: Exception) -> None:
        log.debug("%s: checkpoints beside the writes stopped: %s", self._path, exc)
        self._failed = True


#: rows a connection writes before its checkpoints run beside it (`_Checkpointer`): a
#: build of some thousand files, not a daemon's build of a few
_COPIER_ROWS = 2_000
#: pages of log (32 MB of 16 KB pages) past which the writer of a `_Checkpointer` copies
#: the rest itself, so that the log starts again
_LOG_PAGES = 2_000
#: SQLite's own
_DEFAULT_CHECKPOINT_PAGES = 1_000


#: the page size of a new state file, in bytes
PAGE_SIZE = 16384


def _inc_column(table: str, column: str) -> None:
    if column not in _INC_TABLES.get(table, ()):
        raise ValueError(f"no column {column} in {table}")


def _add_columns(db: sqlite3.Connection) -> None:
    """Add the columns a file of an older version lacks (`_ADDED_COLUMNS`), in one
    transaction that looks again once it holds the lock (another process may have added
    them meanwhile). Tables not made yet are left to the schema script."""
    db.execute("BEGIN IMMEDIATE")
    try:
        for table, columns in _ADDED_COLUMNS.items():
            have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            for column in columns:
                if have and column.split()[0] not in have:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _has_tables(db: sqlite3.Connection) -> bool:
    names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    tables = {"link", "parsed", "simzone", "meta", "ping", "feed", "feed_entry", *_INC_TABLES}
    return tables <= names


def _aside(path: Path) -> Path:
    number = 1
    while (candidate := path.with_name(f"{path.name}.corrupt-{number}")).exists():
        number += 1
    return candidate
