"""The state store: link results survive a restart; each write is one transaction; a
corrupt SQLite file is moved aside, not trusted. The tests of the store's behaviour
run once per backend (`state_at`: a SQLite file, a PostgreSQL database)."""

from __future__ import annotations

import contextlib
import gc
import sqlite3
import threading
import time
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest

from aggregator.model import LinkResult
from aggregator.state import store as store_module
from aggregator.state.codec import link_stamp
from aggregator.state.interface import LINK_WRITES
from aggregator.state.interface import open_store
from aggregator.state.store import SCHEMA_VERSION
from aggregator.state.store import StateError
from aggregator.state.store import Store

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def result(url: str, klass: str = "ok", **changes: object) -> LinkResult:
    fields: dict[str, object] = {
        "url": url,
        "klass": klass,
        "status": 200,
        "reason": "200 OK",
        "final_url": None,
        "checked_at": T0,
        "next_check_at": T0 + timedelta(days=7),
    }
    fields.update(changes)
    return LinkResult(**fields)  # type: ignore[arg-type]


def test_results_survive_closing_and_reopening(state_at: Path | str) -> None:
    broken = result(
        "https://example.com/gone",
        "broken",
        status=404,
        reason="404 Not Found",
        failures=2,
        broken_since=T0 - timedelta(days=1),
    )
    moved = result("https://example.com/old", "redirected", final_url="https://example.com/new")
    with open_store(state_at) as store:
        store.save_links([result("https://example.com/a"), broken, moved])
    with open_store(state_at) as store:
        assert store.link("https://example.com/gone") == broken
        assert store.link("https://example.com/old") == moved
        assert store.link("https://example.com/never") is None
        found = store.links(["https://example.com/a", "https://example.com/never"])
        assert list(found) == ["https://example.com/a"]


def test_a_newer_result_replaces_the_older(state_at: Path | str) -> None:
    with open_store(state_at) as store:
        store.save_links([result("https://example.com/a")])
        later = result(
            "https://example.com/a", "timeout", status=None, checked_at=T0 + timedelta(hours=1)
        )
        store.save_links([later])
        assert store.link("https://example.com/a") == later


def test_many_urls_are_read_in_batches(state_at: Path | str) -> None:
    urls = [f"https://example.com/{n}" for n in range(1234)]
    with open_store(state_at) as store:
        store.save_links(result(u) for u in urls)
        assert set(store.links(urls)) == set(urls)


def test_a_write_that_fails_part_way_leaves_nothing_of_it(state_at: Path | str) -> None:
    """Each write is one transaction: the rows before the failing one are not kept."""
    before = [("a.md", 1, "2026-01-01T00:00:00+00:00", "d1", "a.md")]
    after = [("b.md", 1, "2026-01-02T00:00:00+00:00", "d2", "b.md")]
    same_story_twice = [("b.md", "b.md", "{}"), ("b.md", "b.md", "{}")]
    with open_store(state_at) as store:
        store.inc_fill({"inc_art": before})
        with pytest.raises(StateError, match="cannot write state"):
            store.inc_fill({"inc_art": after, "inc_story": same_story_twice})
        assert store.inc_rows("inc_art", "path", ["a.md", "b.md"]) == before
        store.inc_fill({"inc_art": after})  # and the next write goes through
        assert store.inc_rows("inc_art", "path", ["a.md", "b.md"]) == after


def test_a_fill_in_steps_is_seen_whole_at_its_last_step_and_not_at_all_when_closed(
    state_at: Path | str,
) -> None:
    """`inc_fill_steps` (a cold build's rows, written between the feeds it renders):
    a reader sees the rows of before until the last step is taken, then every new one,
    in feed order; steps closed part way leave the rows of before (and, in a SQLite
    file, every index), and the next write goes through."""
    before = [("", -1.0, "id-old", "old.md", "old.md")]
    members = [("", -float(n % 7), f"id-{n:05}", f"{n:05}.md", f"s{n:05}") for n in range(9000)]
    stories = [(f"s{n:05}", f"{n:05}.md", "{}") for n in range(9000)]
    new = {"inc_member": members, "inc_story": stories}
    old_top = [("old.md", "old.md")]
    with open_store(state_at) as store, open_store(state_at) as reader:
        store.inc_fill({"inc_member": before, "inc_story": []})
        indexes = _sqlite_indexes(state_at)
        steps = store.inc_fill_steps(new)
        # A SQLite file's first steps drop the indexes and write rows; a database's
        # first does nothing (the server does the work in the last).
        for _ in range(3 if isinstance(state_at, Path) else 1):
            next(steps)
        assert reader.inc_top("", 5) == old_top
        steps.close()
        assert store.inc_top("", 5) == reader.inc_top("", 5) == old_top
        assert _sqlite_indexes(state_at) == indexes

        taken = 0
        for _ in store.inc_fill_steps(new):
            taken += 1
            assert reader.inc_top("", 5) == old_top
        # In a SQLite file, some thousand rows a step.
        rows = len(members) + len(stories)
        assert taken >= (rows // 5000 if isinstance(state_at, Path) else 1)
        first = sorted(members, key=lambda row: (row[1], row[2], row[3]))[:4]
        assert reader.inc_top("", 4) == [(str(row[3]), str(row[4])) for row in first]
        assert reader.inc_rows("inc_story", "story", ["s00042"]) == [("s00042", "00042.md", "{}")]
        assert reader.inc_rows("inc_member", "path", ["old.md"]) == []
        assert _sqlite_indexes(state_at) == indexes
        store.inc_insert("inc_story", [("s", "s", "{}")])  # the next write goes through
        assert reader.inc_rows("inc_story", "story", ["s"]) == [("s", "s", "{}")]


def _sqlite_indexes(state_at: Path | str) -> set[tuple[str, str]] | None:
    """A SQLite state file's indexes (`_indexes`); None for a database."""
    return _indexes(state_at) if isinstance(state_at, Path) else None


def test_the_file_is_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    Store(path).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_new_file_has_large_pages_and_an_older_file_keeps_its_own(tmp_path: Path) -> None:
    new = tmp_path / "new.sqlite"
    Store(new).close()
    with sqlite3.connect(new) as db:
        assert db.execute("PRAGMA page_size").fetchone()[0] == 16384
    # A file an earlier version made, in WAL mode with 4 KB pages: opened as it is.
    old = tmp_path / "old.sqlite"
    db = sqlite3.connect(old)
    db.execute("PRAGMA page_size=4096")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE t (x)")
    db.close()
    with Store(old) as store:
        store.save_parsed([("a.md", 1, 2, '["error", "a.md", 1, "bad"]', "null", "null", "")])
        assert [row[0] for row in store.iter_parsed()] == ["a.md"]
    with sqlite3.connect(old) as db:
        assert db.execute("PRAGMA page_size").fetchone()[0] == 4096


@pytest.mark.parametrize(
    "garbage", [b"not a database at all" * 100, b"SQLite format 3\x00" + b"\xff" * 4000]
)
def test_a_corrupt_state_file_is_moved_aside_and_rebuilt(tmp_path: Path, garbage: bytes) -> None:
    path = tmp_path / "s.sqlite"
    path.write_bytes(garbage)
    with Store(path) as store:
        assert store.link("https://example.com/a") is None
        store.save_links([result("https://example.com/a")])
    assert (tmp_path / "s.sqlite.corrupt-1").read_bytes() == garbage
    with Store(path) as store:
        assert store.link("https://example.com/a") is not None


def _indexes(path: Path) -> set[tuple[str, str]]:
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        ).fetchall()
    return {(str(name), str(sql)) for name, sql in rows}


def test_a_bulk_insert_into_an_empty_table_leaves_its_indexes_as_they_were(
    tmp_path: Path,
) -> None:
    """A cold build fills empty tables: their indexes are made after the rows, and
    are the same indexes, holding every row."""
    path = tmp_path / "s.sqlite"
    rows = [(f"{n:05}.md", n % 7, "2026-01-01T00:00:00+00:00", f"d{n}", f"{n:05}.md")
            for n in range(12_000)]  # fmt: skip
    with open_store(path) as store:
        indexes = _indexes(path)
        assert ("inc_art_period", "CREATE INDEX inc_art_period ON inc_art (period)") in indexes
        store.inc_insert("inc_art", rows)
        assert _indexes(path) == indexes
        found = store.inc_rows("inc_art", "period", [3])
        assert sorted(found) == [row for row in rows if row[1] == 3]
        store.inc_update_story([("00000.md", row[0]) for row in rows])
        assert _indexes(path) == indexes
        assert len(store.inc_rows("inc_art", "story", ["00000.md"])) == len(rows)
    with sqlite3.connect(path) as db:
        plan = db.execute("EXPLAIN QUERY PLAN SELECT * FROM inc_art WHERE period = 3").fetchall()
    assert "inc_art_period" in str(plan)


def test_a_bulk_insert_that_fails_leaves_the_table_and_its_indexes(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    rows = [(f"{n:05}.md", 1, "2026-01-01T00:00:00+00:00", "d", f"{n:05}.md") for n in range(9000)]
    with open_store(path) as store:
        indexes = _indexes(path)
        with pytest.raises(StateError, match="cannot write state"):
            store.inc_insert("inc_art", [*rows, rows[0]])  # the same path twice
        assert _indexes(path) == indexes
        assert store.inc_rows("inc_art", "period", [1]) == []
        store.inc_insert("inc_art", rows)
        assert len(store.inc_rows("inc_art", "period", [1])) == len(rows)


def test_the_entries_of_remote_feeds_keep_their_article_files(state_at: Path | str) -> None:
    from aggregator.model import FeedState
    from aggregator.state.codec import entry_digest

    feed = "https://feeds.example/a.xml"
    with open_store(state_at) as store:
        store.save_feed_state(FeedState(feed, ttl=120, max_age=3600.0))
        store.add_feed_entries(feed, [("old", T0 - timedelta(days=1))])  # no text
        store.save_feed_entries(feed, [("k1", T0, "---\ntitle: One\n---\n")])
        store.save_feed_entries(feed, [("k1", T0 + timedelta(days=1), "---\ntitle: 1\n---\n")])
        store.save_feed_entries(feed, [("old", T0, "---\ntitle: Old\n---\n")])
    with open_store(state_at) as store:
        # The first-seen times stay; the texts are the last ones saved.
        assert store.feed_entries(feed) == {"k1": T0, "old": T0 - timedelta(days=1)}
        assert store.feed_entry_digests(feed) == {
            "k1": entry_digest("---\ntitle: 1\n---\n"),
            "old": entry_digest("---\ntitle: Old\n---\n"),
        }
        assert store.feed_entry_texts(feed, ["k1", "nope"]) == {"k1": "---\ntitle: 1\n---\n"}
        assert (store.feed_states()[feed].ttl, store.feed_states()[feed].max_age) == (120, 3600)
        store.forget_feeds([feed])
        assert store.feed_entry_digests(feed) == {}


def test_a_state_file_of_version_7_gains_the_entry_texts(tmp_path: Path) -> None:
    from aggregator.model import FeedState

    path = tmp_path / "s.sqlite"
    feed = "https://feeds.example/a.xml"
    db = sqlite3.connect(path)  # the remote feeds' tables as version 7 laid them out
    db.executescript(
        "CREATE TABLE feed (url TEXT PRIMARY KEY, title TEXT NOT NULL, etag TEXT, "
        "last_modified TEXT, fetched_at TEXT, checked_at TEXT, next_fetch TEXT, "
        "status INTEGER, error TEXT, moved_to TEXT, gone INTEGER NOT NULL, "
        "new INTEGER NOT NULL, skipped TEXT NOT NULL);"
        "CREATE TABLE feed_entry (feed TEXT NOT NULL, key TEXT NOT NULL, "
        "first_seen TEXT NOT NULL, PRIMARY KEY (feed, key));"
        f"INSERT INTO feed VALUES ('{feed}', 'A', '\"e\"', NULL, NULL, NULL, NULL, "
        "200, NULL, NULL, 0, 0, '[]');"
        f"INSERT INTO feed_entry VALUES ('{feed}', 'k1', '{T0.isoformat()}');"
        "PRAGMA user_version = 7;"
    )
    db.close()
    with Store(path) as store:
        assert store.feed_states()[feed].etag == '"e"'
        assert store.feed_entry_digests(feed) == {"k1": ""}
        store.save_feed_entries(feed, [("k1", T0, "text")])
        assert store.feed_entry_texts(feed, ["k1"]) == {"k1": "text"}
        store.save_feed_state(FeedState(feed, ttl=5))
        assert store.feed_states()[feed].ttl == 5
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 10
        # version 9: what an incremental build judges again is found by index
        names = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        assert {"inc_link_unstamped", "link_next_check"} <= names


def test_a_state_file_of_version_9_keeps_its_parse_cache_and_gains_digests(
    tmp_path: Path,
) -> None:
    """Version 10 keeps the content digest of each parsed file: the rows of an older
    file stay, with no digest known (''), and new rows keep theirs."""
    path = tmp_path / "s.sqlite"
    with Store(path) as store:
        store.save_parsed([("a.md", 1, 2, '["error", "a.md", 1, "bad"]', "null", "null", "d")])
    db = sqlite3.connect(path)  # the parse cache as version 9 laid it out
    db.executescript("ALTER TABLE parsed DROP COLUMN digest; PRAGMA user_version = 9;")
    db.close()
    with Store(path) as store:
        assert [row[0] for row in store.iter_parsed()] == ["a.md"]
        assert store.parsed_digests(["a.md", "b.md"]) == {"a.md": ((1, 2), "")}
        store.save_parsed([("b.md", 3, 4, '["error", "b.md", 1, "bad"]', "null", "null", "e")])
        assert store.parsed_digests(["b.md"]) == {"b.md": ((3, 4), "e")}
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_the_links_to_judge_again_are_found_by_key_and_by_index(tmp_path: Path) -> None:
    """An incremental build asks for the articles judged by a result that is due or
    missing (`inc_due`, through indexes), and after its link step for those judged by
    the URLs it judged (`inc_relink` with keys): each gives the part of the whole
    comparison (`inc_relink`) it stands for. Saving results counts the saves."""

    def result(url: str, days: int) -> LinkResult:
        return LinkResult(url, "ok", 200, "200 OK", None, T0, T0 + timedelta(days=days))

    with Store(tmp_path / "s.sqlite") as store:
        store.save_links([result("https://e.com/fresh", 7), result("https://e.com/due", 1)])
        store.save_links([result("https://e.com/replaced", 7)])
        store.save_links([])
        assert (store.meta(LINK_WRITES), store.links_saved) == ("2", 2)
        with Store(tmp_path / "s.sqlite") as other:  # another process
            other.save_links([result("https://e.com/other", 7)])
            assert other.links_saved == 1
        assert (store.meta(LINK_WRITES), store.links_saved) == ("3", 2)

        def stamp(url: str) -> str:
            stored = store.link(url)
            assert stored is not None
            return link_stamp(stored)

        store.inc_insert(
            "inc_link",
            [
                ("https://e.com/fresh", "fresh.md", stamp("https://e.com/fresh"), "", ""),
                ("https://e.com/due", "due.md", stamp("https://e.com/due"), "", ""),
                ("https://e.com/replaced", "replaced.md", "an older result", "", ""),
                ("https://e.com/none", "none.md", "", "", ""),  # judged with no result
                ("https://e.com/due", "listed.md", "", "dropped", "{}"),  # a report row
            ],
        )
        later = T0 + timedelta(days=3)
        assert store.inc_relink(later) == {"due.md", "replaced.md", "none.md"}
        assert store.inc_due(later) == {"due.md", "none.md"}  # all but the replaced
        assert store.inc_due(T0) == {"none.md"}
        assert store.inc_relink(None) == {"replaced.md"}
        assert store.inc_relink(None, ["https://e.com/replaced"]) == {"replaced.md"}
        assert store.inc_relink(None, ["https://e.com/fresh", "https://e.com/due"]) == set()
        assert store.inc_relink(later, ["https://e.com/none"]) == {"none.md"}


def _checkpointers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "state checkpoint"]


def _parsed_rows(start: int, count: int) -> list[tuple[str, int, int, str, str, str, str]]:
    body = '["x", "' + "words " * 200 + '"]'  # about 1 KB a row, as a cached parse is more
    return [
        (f"{n:06}.md", n, n, '["article"]', "null", body, "") for n in range(start, start + count)
    ]


def test_a_large_build_s_log_is_copied_into_the_file_beside_its_writes(tmp_path: Path) -> None:
    """Once a connection wrote thousands of rows, each commit is copied from the
    write-ahead log into the file by a thread of its own (the writer's commits copy
    none of it): the file holds the rows while the store is still open, a
    reader sees every one, and closing leaves no log behind."""
    path = tmp_path / "s.sqlite"
    wal = Path(f"{path}-wal")
    with Store(path) as store:
        for start in range(0, 6_000, 500):  # 6 MB in 12 transactions
            store.save_parsed(_parsed_rows(start, 500))
        assert len(_checkpointers()) == 1
        deadline = time.monotonic() + 60  # the copy runs beside: wait for it, boundedly
        while path.stat().st_size < 6_000_000 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert path.stat().st_size >= 6_000_000  # in the file itself, not only the log
        with contextlib.closing(sqlite3.connect(path)) as reader:
            assert reader.execute("SELECT count(*) FROM parsed").fetchone()[0] == 6_000
        store.save_parsed(_parsed_rows(6_000, 1))  # the store writes on as before
    assert not _checkpointers()
    assert not wal.exists()
    with contextlib.closing(sqlite3.connect(path)) as reader:
        assert reader.execute("SELECT count(*) FROM parsed").fetchone()[0] == 6_001


def test_commits_one_after_the_other_keep_the_log_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite starts the log again only at a transaction that finds all of it copied;
    with a copy always under way, the writer copies the rest itself once the log is
    long: the log file never holds much more than that."""
    monkeypatch.setattr(store_module, "_LOG_PAGES", 200)  # 3.2 MB of 16 KB pages
    path = tmp_path / "s.sqlite"
    wal = Path(f"{path}-wal")
    largest = 0
    with Store(path) as store:
        for start in range(0, 60_000, 500):  # 72 MB in 120 transactions, no pause
            store.save_parsed(_parsed_rows(start, 500))
            largest = max(largest, wal.stat().st_size)
    # The limit, and what came in while a copy found it reached (about 9 MB here): far
    # from all that was written, as when the writer did not copy the rest itself.
    assert largest < 24_000_000, largest
    with contextlib.closing(sqlite3.connect(path)) as reader:
        assert reader.execute("SELECT count(*) FROM parsed").fetchone()[0] == 60_000


def test_a_large_transaction_is_copied_by_the_thread_not_at_its_commit(tmp_path: Path) -> None:
    """However large a transaction, its commit does not copy the log into the file while
    the thread runs (a cold build's rows of feeds and stories, 150 MB at 100,000 files,
    took 0.8 s to copy at their commit, while the build waited): the thread copies
    them once it can, and closing leaves no log behind."""
    path = tmp_path / "s.sqlite"
    with Store(path) as store:
        store.save_parsed(_parsed_rows(0, 2_500))  # the thread starts
        copier = store._copier
        assert copier is not None
        with copier._copying:  # (after the copy under way) no copy can start meanwhile
            before = path.stat().st_size
            # 20 MB in one transaction: more than the 1,000 pages of log (16 MB) past
            # which SQLite's own commit copies it
            store.save_parsed(_parsed_rows(2_500, 20_000))
            assert path.stat().st_size == before  # still in the log alone
            with contextlib.closing(sqlite3.connect(path)) as reader:
                assert reader.execute("SELECT count(*) FROM parsed").fetchone()[0] == 22_500
        deadline = time.monotonic() + 60  # the copy runs beside: wait for it, boundedly
        while path.stat().st_size < before + 20_000_000 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert path.stat().st_size >= before + 20_000_000
    assert not Path(f"{path}-wal").exists()
    with contextlib.closing(sqlite3.connect(path)) as reader:
        assert reader.execute("SELECT count(*) FROM parsed").fetchone()[0] == 22_500


def test_a_thread_that_fails_while_the_writer_waits_for_its_copy_gives_back_the_checkpoints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The thread's copy fails (a full disk) while the writer waits for it, the log
    being long: the writer checkpoints as it commits again, and the log stays short
    however much is written after (it once grew with all of it: the failure was lost)."""
    in_first, go_first = threading.Event(), threading.Event()
    in_second, go_second = threading.Event(), threading.Event()
    calls: list[int] = []

    def copy(db: sqlite3.Connection) -> int:
        calls.append(1)
        if len(calls) == 1:  # a copy that finds the log long ...
            in_first.set()
            assert go_first.wait(60)
            db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            return store_module._LOG_PAGES
        in_second.set()  # ... then one that fails while the writer waits for it
        assert go_second.wait(60)
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(store_module._Checkpointer, "_copy", staticmethod(copy))
    path = tmp_path / "s.sqlite"
    wal = Path(f"{path}-wal")
    with Store(path) as store:
        store.save_parsed(_parsed_rows(0, 2_500))  # the thread starts, and copies
        assert in_first.wait(60)
        store.save_parsed(_parsed_rows(2_500, 1))  # commits during the copy: another
        go_first.set()
        assert in_second.wait(60)
        # The writer's next commit waits for that copy; it fails meanwhile.
        threading.Timer(0.3, go_second.set).start()
        store.save_parsed(_parsed_rows(2_501, 1))
        assert go_second.is_set()
        deadline = time.monotonic() + 60
        while _checkpointers() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not _checkpointers()
        largest = 0
        for start in range(10_000, 50_000, 500):  # 48 MB in 80 transactions
            store.save_parsed(_parsed_rows(start, 500))
            largest = max(largest, wal.stat().st_size)
        assert store._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1_000
        assert largest < 24_000_000, largest  # SQLite's own 1,000 pages, and a commit
    assert len(calls) == 2
    with contextlib.closing(sqlite3.connect(path)) as reader:
        assert reader.execute("SELECT count(*) FROM parsed").fetchone()[0] == 2_502 + 40_000


def test_a_store_let_go_of_without_closing_ends_its_checkpoint_thread(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    store.save_parsed(_parsed_rows(0, 2_500))
    assert len(_checkpointers()) == 1
    del store
    gc.collect()
    deadline = time.monotonic() + 60
    while _checkpointers() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not _checkpointers()


def test_the_copy_goes_to_the_file_opened_whatever_the_working_folder_becomes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, then = tmp_path / "first", tmp_path / "then"
    first.mkdir()
    then.mkdir()
    monkeypatch.chdir(first)
    with Store("state.sqlite") as store:
        monkeypatch.chdir(then)
        store.save_parsed(_parsed_rows(0, 2_500))
        deadline = time.monotonic() + 60
        while (first / "state.sqlite").stat().st_size < 2_500_000:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    assert list(then.iterdir()) == []
    with contextlib.closing(sqlite3.connect(first / "state.sqlite")) as reader:
        assert reader.execute("SELECT count(*) FROM parsed").fetchone()[0] == 2_500


def test_a_store_that_writes_little_checkpoints_as_it_commits(tmp_path: Path) -> None:
    """A daemon's build of one file, a link check: no thread for so few rows."""
    with Store(tmp_path / "s.sqlite") as store:
        store.save_parsed(_parsed_rows(0, 50))
        store.save_links([result(f"https://example.com/{n}") for n in range(50)])
        assert not _checkpointers()
