"""The PostgreSQL state store against a real server (tests/pg.py): it answers every
question of the StateStore Protocol as the SQLite store does, migrates an older schema
in place and refuses a newer one, loses nothing to a killed writer, and never shows
the password of its URL."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import textwrap
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from aggregator.config import Config
from aggregator.config import load_config
from aggregator.config import state_location
from aggregator.engine.pipeline import build
from aggregator.errors import ConfigError
from aggregator.errors import StateError
from aggregator.model import FeedState
from aggregator.model import LinkResult
from aggregator.model import SkippedEntry
from aggregator.state import pgstore
from aggregator.state.interface import LINK_WRITES
from aggregator.state.interface import StateStore
from aggregator.state.interface import open_store
from aggregator.state.pgstore import PgStore
from aggregator.state.store import Store

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
SECRET = "pa55-w0rd:s3cret"


def link(url: str, klass: str = "ok", days: int = 7, **changes: Any) -> LinkResult:
    fields: dict[str, Any] = {
        "url": url,
        "klass": klass,
        "status": 200,
        "reason": "200 OK",
        "final_url": None,
        "checked_at": T0,
        "next_check_at": T0 + timedelta(days=days),
    }
    fields.update(changes)
    return LinkResult(**fields)


def session(store: StateStore) -> list[Any]:
    """Every method of the Protocol, with data whose order a collation could change
    (case, accents, punctuation): what each answers, in order."""
    seen: list[Any] = []
    keys = ["b", "B", "a-1", "a_1", "é", "Z", "a"]
    for n, key in enumerate(keys):
        store.set_meta(f"k:{key}", str(n))
    store.set_meta("k:B", "again")
    store.set_meta("other", "x")
    seen += [store.metas("k:"), store.meta("k:B"), store.meta("none")]
    store.delete_meta("k:a")
    store.delete_metas("k:a")
    seen += [store.metas(""), store.metas("k:")]

    links = [
        link("https://e.com/Ok"),
        link(
            "https://e.com/ok",
            "broken",
            1,
            status=404,
            reason="404",
            failures=2,
            broken_since=T0 - timedelta(hours=3),
        ),
        link("https://e.com/moved", "redirected", 2, final_url="https://e.com/new"),
    ]
    store.save_links(links)
    store.save_links([])  # nothing saved: not counted
    seen += [store.link("https://e.com/ok"), sorted(store.links(["https://e.com/Ok", "x"]))]
    seen += [store.meta(LINK_WRITES), store.links_saved]

    rows = [(f"src/{p}.md", 10 + n, 2**61 + n, f"h{n}", f"w{n}", f"b{n}", f"d{n}")
            for n, p in enumerate(["b", "A", "a"])]  # fmt: skip
    store.save_parsed(rows)
    store.save_parsed([("src/a.md", 99, 1, "h", "w", "b", "")])
    seen += [
        store.parsed(["src/a.md", "src/none.md"]),
        store.parsed_digests(["src/a.md", "src/b.md", "src/none.md"]),
        sorted(store.iter_parsed()),
        sorted(store.iter_parsed(full=True, paths=["src/b.md"])),
        store.parsed_words(["src/A.md"]),
        store.parsed_rows(["src/b.md"]),
    ]
    store.forget_parsed(["src/b.md"])
    seen.append(sorted(store.iter_parsed(full=True)))
    store.clear_parsed()
    seen.append(list(store.iter_parsed()))

    store.save_zones([(1, "d1", "[]"), (2, "d2", "[[1]]"), (3, "d3", "[]")], keep=[2, 3])
    seen += [store.zones(), store.zone(2), store.zone(1)]
    store.save_zones([], keep=[])
    store.save_zones([(9, "d9", "[]")], keep=[9])
    store.clear_zones()
    seen.append(store.zones())

    stamp = "2021-01-02T00:00:00+00:00"
    store.inc_fill(
        {
            "inc_art": [("b.md", 5, stamp, "d", "b.md"), ("a.md", 6, T0.isoformat(), "d", "a.md")],
            "inc_member": [
                ("", -2.5, "id-b", "b.md", "b.md"),
                ("", -2.5, "id-a", "c.md", "c.md"),
                ("", -2.5, "id-a", "B.md", "B.md"),
                ("", -3.0, "id-z", "z.md", "z.md"),
                ("ai", -1.0, "id", "a.md", "a.md"),
            ],
            "inc_link": [
                ("https://e.com/ok", "b.md", "old stamp", "", ""),
                ("https://e.com/Ok", "a.md", "", "", ""),
                ("https://e.com/never", "a.md", "", "", ""),
                ("https://e.com/x", "b.md", "", "dropped", '{"n": 2}'),
                ("https://e.com/y", "b.md", "", "excluded", '{"n": 1}'),
                ("https://e.com/x", "a.md", "", "excluded", '{"n": 3}'),
            ],
            "inc_pair": [(5, "a.md", "b.md", 0.1 + 0.2)],
        }
    )
    store.inc_insert("inc_key", [("https://e.com/ok", "b.md"), ("https://e.com/Ok", "a.md")])
    store.inc_insert("inc_story", [("b.md", "b.md", "{}")])
    store.inc_update_story([("a.md", "b.md")])
    store.inc_delete("inc_key", "path", ["a.md"])
    store.inc_delete("inc_key", "path", [])
    seen += [
        sorted(store.inc_rows("inc_art", "period", [5, 6])),
        sorted(store.inc_rows("inc_art", "path", ["a.md"], "path, story")),
        store.inc_rows("inc_key", "key", ["https://e.com/ok", "https://e.com/Ok"]),
        store.inc_rows("inc_pair", "zone", [5]),
        sorted(store.inc_rows("inc_link", "path", ["b.md"])),
        store.inc_top("", 3),
        store.inc_top("ai", 10),
        sorted(store.inc_feed_days(datetime.fromtimestamp(2, UTC), 1)),
        store.inc_relink(None),
        store.inc_relink(T0 + timedelta(days=3)),
        store.inc_relink(None, ["https://e.com/ok"]),
        store.inc_relink(None, ["https://e.com/never"]),
        store.inc_relink(T0, ["https://e.com/never", "https://e.com/Ok"]),
        store.inc_due(T0 + timedelta(days=3)),
        store.inc_due(T0),
        store.inc_published_between(T0 - timedelta(days=1), T0 + timedelta(days=1)),
        store.inc_link_totals(),
        store.inc_link_results(),
        store.inc_link_verdicts(),
    ]
    with pytest.raises(ValueError, match="no column"):
        store.inc_rows("inc_art", "nope", ["a"])

    feed = FeedState(
        url="https://feeds.example/b.xml",
        title="B",
        etag='"e"',
        checked_at=T0,
        next_fetch=T0 + timedelta(hours=1),
        status=200,
        new=3,
        skipped=(SkippedEntry("id", "title", "no link"),),
        ttl=60,
        max_age=1.5,
    )
    store.save_feed_state(feed)
    store.save_feed_state(FeedState(url="https://feeds.example/A.xml", gone=True))
    store.add_feed_entries(feed.url, [("k2", T0), ("k1", T0 - timedelta(days=1))])
    store.add_feed_entries(feed.url, [("k2", T0 + timedelta(days=5))])  # kept: first seen
    seen += [store.feed_states(), store.feed_entries(feed.url)]
    store.save_feed_entries(feed.url, [("k2", T0 + timedelta(days=5), "two"), ("k3", T0, "3")])
    keys = ["k1", "k2", "k3"]
    seen += [store.feed_entry_digests(feed.url), store.feed_entry_texts(feed.url, keys)]
    store.forget_feed_entries(feed.url, ["k1"])
    seen.append(store.feed_entries(feed.url))
    store.forget_feeds([feed.url])
    seen += [list(store.feed_states()), store.feed_entries(feed.url)]

    store.add_pings(["https://s/b.rss", "https://s/B.rss", "https://s/a.rss"], T0)
    store.add_pings(["https://s/a.rss"], T0 + timedelta(days=1))
    seen.append(store.pending_pings())
    store.done_pings(["https://s/B.rss"])
    seen.append(store.pending_pings())
    return seen


def test_every_method_answers_as_the_sqlite_store_does(tmp_path: Path, pg_url: str) -> None:
    with Store(tmp_path / "s.sqlite") as lite:
        expected = session(lite)
    with PgStore(pg_url) as store:
        assert session(store) == expected
    with PgStore(pg_url) as store:  # and it was all stored
        assert store.pending_pings() == ["https://s/a.rss", "https://s/b.rss"]


def test_open_store_picks_the_backend_by_where_the_state_lives(tmp_path: Path, pg_url: str) -> None:
    with open_store(pg_url) as store:
        assert isinstance(store, PgStore)
    with open_store(pg_url.replace("postgresql://", "postgres://", 1)) as store:
        assert isinstance(store, PgStore)
    with open_store(tmp_path / "s.sqlite") as store:
        assert isinstance(store, Store)


def test_saving_link_results_counts_the_saves_whatever_the_count_held(pg_url: str) -> None:
    """Each save moves the count of saves (`LINK_WRITES`), as in the SQLite store; a
    value that is no count (not written by this version) starts it again, never fails
    the save."""
    with PgStore(pg_url) as store, Store(":memory:") as lite:
        for each in (store, lite):
            each.save_links([link("https://e.com/a")])
            each.save_links([])
            assert each.meta(LINK_WRITES) == "1"
            each.set_meta(LINK_WRITES, "not a count")
            each.save_links([link("https://e.com/b")])
            assert each.meta(LINK_WRITES) == "1"
            each.save_links([link("https://e.com/c")])
            assert each.meta(LINK_WRITES) == "2"
            assert each.links_saved == 3


def test_an_older_schema_is_migrated_in_place(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert pgstore.migrate(conn, target=1) == 0
        conn.execute("INSERT INTO meta VALUES ('kept', 'yes')")
        conn.execute("INSERT INTO inc_link VALUES ('u', 'a.md', '', 'excluded', '{}')")
        conn.execute("INSERT INTO inc_link VALUES ('v', 'a.md', '', 'dropped', '[]')")
        conn.execute("INSERT INTO parsed VALUES ('a.md', 1, 2, 'h', 'w', 'b')")
        assert pgstore.schema_version(conn) == 1
    with PgStore(pg_url) as store:
        assert store.meta("kept") == "yes"
        assert store.inc_link_verdicts() == [("a.md", "excluded", "{}"), ("a.md", "dropped", "[]")]
        # version 6: the parse cache keeps each file's digest ('' for older rows)
        assert store.parsed_digests(["a.md"]) == {"a.md": ((1, 2), "")}
        store.save_parsed([("b.md", 3, 4, "h", "w", "b", "e")])
        assert store.parsed_digests(["b.md"]) == {"b.md": ((3, 4), "e")}
    with psycopg.connect(pg_url) as conn:
        assert pgstore.schema_version(conn) == pgstore.SCHEMA_VERSION == 6
        # version 5: what an incremental build judges again is found by index
        names = {row[0] for row in conn.execute("SELECT indexname FROM pg_indexes")}
        assert {"inc_link_unstamped", "link_next_check"} <= names


@pytest.mark.e2e
def test_a_newer_schema_is_refused_in_one_line_and_left_alone(pg_url: str) -> None:
    PgStore(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE aggregator_schema SET version = 99")
    with pytest.raises(StateError) as caught:
        PgStore(pg_url)
    message = str(caught.value)
    assert "state schema 99 is newer than this program" in message
    assert "\n" not in message
    with psycopg.connect(pg_url) as conn:
        assert pgstore.schema_version(conn) == 99


def test_two_stores_opening_a_fresh_database_at_once_make_one_schema(pg_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: PgStore(pg_url), range(4)))
    for store in stores:
        store.set_meta("k", "v")
        store.close()


KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from aggregator.state.pgstore import PgStore

    class Killing:
        '''Rows that kill the process half way through a write.'''
        def __len__(self):
            return 5000
        def __iter__(self):
            for n in range(5000):
                if n == 2500:
                    os.kill(os.getpid(), signal.SIGKILL)
                yield (f"new{n}.md", n, "2026-01-01T00:00:00+00:00", "d", "s")

    store = PgStore(sys.argv[1])
    store.inc_fill({"inc_story": [("s", "s", "{}")], "inc_art": Killing()})
    """
)


@pytest.mark.e2e
def test_a_killed_writer_leaves_the_previous_state(pg_url: str) -> None:
    before = [("old.md", 1, "2025-01-01T00:00:00+00:00", "d", "old.md")]
    with PgStore(pg_url) as store:
        store.inc_fill({"inc_art": before, "inc_story": []})
    done = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, pg_url], capture_output=True, timeout=60, check=False
    )
    assert done.returncode == -9, done.stderr
    with PgStore(pg_url) as store:
        assert store.inc_rows("inc_art", "period", [1, 2]) == before
        assert store.inc_rows("inc_story", "story", ["s"]) == []
        store.inc_fill({"inc_art": [], "inc_story": []})  # no lock is left behind
        assert store.inc_rows("inc_art", "period", [1]) == []


def with_password(url: str, database: str | None = None) -> str:
    head, _, rest = url.partition("@")
    db, _, query = rest.partition("?")
    return f"{head}:{SECRET.replace(':', '%3A')}@{database or db}?{query}"


def test_the_password_never_appears_in_an_error_or_a_log(
    pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    missing = with_password(pg_url, "/no_such_database")
    with pytest.raises(StateError) as caught:
        PgStore(missing)
    message = str(caught.value)
    assert "no_such_database" in message and "***" in message
    unreachable = re.sub(r"host=[^&]*", f"host={tmp_path}", with_password(pg_url))
    malformed = with_password(pg_url) + "&bad==option"
    for url in (unreachable, malformed):
        with pytest.raises(StateError) as caught:
            PgStore(url)
        message += str(caught.value)
    # And through a build (the error a user sees).
    (tmp_path / "src").mkdir()
    config = Config(sources=(tmp_path / "src",), output=tmp_path / "out", state=missing)
    with pytest.raises(StateError) as caught:
        build(config, now=T0)
    message += str(caught.value)
    for secret in (SECRET, SECRET.replace(":", "%3A"), "s3cret"):
        assert secret not in message
        assert secret not in caplog.text


def test_without_the_postgresql_extra_a_url_is_a_config_error_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.delitem(sys.modules, "aggregator.state.pgstore")
    with pytest.raises(ConfigError, match=r"aggregator\[postgresql\]"):
        open_store(f"postgresql://u:{SECRET}@/db")


def test_a_state_url_is_kept_as_text_and_changes_no_output(tmp_path: Path) -> None:
    url = f"postgresql://agg:{SECRET}@db.example:5432/feeds"
    (tmp_path / "aggregator.yaml").write_text(f"output: out\nstate: {url}\n", encoding="utf-8")
    config = load_config(tmp_path / "aggregator.yaml")
    assert config.state == url and config.state_location == url
    assert config.state_path is None
    plain = Config(output=config.output)
    assert config.entries_path == plain.entries_path  # beside the output folder
    assert config.output_key() == plain.output_key()
    assert state_location(url) == url
    assert state_location("postgres://h/db") == "postgres://h/db"
    assert state_location("s.sqlite") == Path("s.sqlite")
    with pytest.raises(ValueError, match=r"mysql://u:\*\*\*@h/db") as caught:
        state_location(f"mysql://u:{SECRET}@h/db")
    assert SECRET not in str(caught.value)


def test_topics_read_stored_results_from_the_database_and_show_its_url_masked(
    pg_url: str, tmp_path: Path
) -> None:
    from aggregator.app.overview import overview
    from aggregator.app.overview import render_text
    from aggregator.app.overview import to_json

    (tmp_path / "src").mkdir()
    state = with_password(pg_url)
    config = Config(sources=(tmp_path / "src",), output=tmp_path / "out", state=state)
    view = overview(config, T0)
    assert view.links == "cached"
    shown = render_text(view) + str(to_json(view))
    assert "postgres:***@" in shown
    assert "s3cret" not in shown
