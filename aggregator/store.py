"""Persistent state in one SQLite file: link check results (the parse cache and first-seen
times join later). The only module that speaks SQL.

The file is opened in WAL mode with a busy timeout, each write is its own
transaction, and a file that is not a readable SQLite database is moved aside (to
`<name>.corrupt-<n>`) and started afresh rather than trusted: everything in it can
be rebuilt, at the cost of checking links again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from pathlib import Path
from types import TracebackType

from aggregator.errors import AggregatorError
from aggregator.model import LinkResult

SCHEMA_VERSION = 2
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
    result TEXT NOT NULL           -- the loader's result as JSON (parsecache.encode)
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ping (
    url TEXT PRIMARY KEY,          -- a feed URL the WebSub hub has not heard about yet
    since TEXT NOT NULL            -- ISO 8601 UTC: when it first changed unannounced
);
"""


class StateError(AggregatorError):
    """The state file cannot be opened or written."""


class Store:
    """The state file. Use as a context manager, or call `close()`."""

    def __init__(self, path: Path | str) -> None:
        self.path = path
        self._db = self._open(path)

    def _open(self, path: Path | str) -> sqlite3.Connection:
        try:
            return self._connect(path)
        except sqlite3.DatabaseError as exc:
            if str(path) == ":memory:" or not Path(path).exists():
                raise StateError(f"{path}: cannot open state file: {exc}") from exc
            aside = _aside(Path(path))
            Path(path).rename(aside)
            for suffix in ("-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            try:
                return self._connect(path)
            except sqlite3.DatabaseError as again:
                raise StateError(f"{path}: cannot open state file: {again}") from again

    @staticmethod
    def _connect(path: Path | str) -> sqlite3.Connection:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(str(path), timeout=10, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise sqlite3.DatabaseError(f"state schema {version} is newer than this program")
            with db:
                db.executescript(_SCHEMA)
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.execute("SELECT count(*) FROM link").fetchone()
        except BaseException:
            db.close()
            raise
        return db

    def close(self) -> None:
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
        row = self._db.execute("SELECT * FROM link WHERE url = ?", (url,)).fetchone()
        return _result(row) if row else None

    def links(self, urls: Iterable[str]) -> dict[str, LinkResult]:
        """Stored results for these canonical URLs (those never checked are absent)."""
        found: dict[str, LinkResult] = {}
        batch: list[str] = []
        for url in urls:
            batch.append(url)
            if len(batch) == 500:
                found.update(self._batch(batch))
                batch = []
        found.update(self._batch(batch))
        return found

    def _batch(self, urls: list[str]) -> Iterator[tuple[str, LinkResult]]:
        if not urls:
            return
        marks = ",".join("?" * len(urls))
        for row in self._db.execute(f"SELECT * FROM link WHERE url IN ({marks})", urls):
            yield row[0], _result(row)

    def save_links(self, results: Iterable[LinkResult]) -> None:
        """Store results, replacing earlier ones of the same URLs, in one transaction."""
        rows = [
            (
                r.url,
                r.klass,
                r.status,
                r.reason,
                r.final_url,
                _iso(r.checked_at),
                _iso(r.next_check_at),
                r.failures,
                _iso(r.broken_since) if r.broken_since else None,
            )
            for r in results
        ]
        try:
            with self._db:
                self._db.executemany(
                    "INSERT OR REPLACE INTO link VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
                )
        except sqlite3.Error as exc:
            raise StateError(f"{self.path}: cannot write state: {exc}") from exc

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._write("INSERT OR REPLACE INTO meta VALUES (?, ?)", [(key, value)])

    def parsed(self, paths: Iterable[str]) -> dict[str, tuple[tuple[int, int], str]]:
        """Cached parse results of these paths: ((size, mtime_ns), result JSON)."""
        wanted = set(paths)
        return {
            key: (identity, text) for key, identity, text in self.iter_parsed() if key in wanted
        }

    def iter_parsed(self) -> Iterator[tuple[str, tuple[int, int], str]]:
        """Every cached parse result, one at a time: (path, (size, mtime_ns), JSON)."""
        for path, size, mtime_ns, result in self._db.execute("SELECT * FROM parsed"):
            yield str(path), (int(size), int(mtime_ns)), str(result)

    def save_parsed(self, rows: Iterable[tuple[str, int, int, str]]) -> None:
        self._write("INSERT OR REPLACE INTO parsed VALUES (?, ?, ?, ?)", list(rows))

    def forget_parsed_except(self, paths: Iterable[str]) -> None:
        """Drop the cached results of files that are gone."""
        keep = set(paths)
        gone = [(p,) for (p,) in self._db.execute("SELECT path FROM parsed") if p not in keep]
        if gone:
            self._write("DELETE FROM parsed WHERE path = ?", gone)

    def clear_parsed(self) -> None:
        self._write("DELETE FROM parsed", [()])

    def add_pings(self, urls: Iterable[str], now: datetime) -> None:
        """Remember feeds whose change the hub has yet to hear about."""
        self._write("INSERT OR IGNORE INTO ping VALUES (?, ?)", [(u, _iso(now)) for u in urls])

    def pending_pings(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT url FROM ping ORDER BY url")]

    def done_pings(self, urls: Iterable[str]) -> None:
        self._write("DELETE FROM ping WHERE url = ?", [(u,) for u in urls])

    def _write(self, sql: str, rows: Sequence[tuple[object, ...]]) -> None:
        try:
            with self._db:
                self._db.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise StateError(f"{self.path}: cannot write state: {exc}") from exc


def _result(row: tuple[object, ...]) -> LinkResult:
    url, klass, status, reason, final_url, checked, next_check, failures, broken = row
    return LinkResult(
        url=str(url),
        klass=str(klass),
        status=int(status) if isinstance(status, int) else None,
        reason=str(reason),
        final_url=str(final_url) if final_url else None,
        checked_at=_time(str(checked)),
        next_check_at=_time(str(next_check)),
        failures=int(failures) if isinstance(failures, int) else 0,
        broken_since=_time(str(broken)) if broken else None,
    )


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat()


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _aside(path: Path) -> Path:
    number = 1
    while (candidate := path.with_name(f"{path.name}.corrupt-{number}")).exists():
        number += 1
    return candidate
