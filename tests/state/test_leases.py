"""Host leases behind the StateStore Protocol, on both backends (a SQLite file, whose
leases live in the process, and a real PostgreSQL database, whose leases every process
of the state shares): one owner at a time holds a host, a renewed lease stays its own,
a released host carries what it is still owed, and a lease not renewed (its holder
crashed) is anyone's once it expires."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from aggregator.state.interface import open_store
from aggregator.state.pgstore import PgStore

#: a lease no test outlives: only an explicit expiry ends it
LONG = 600.0


@contextlib.contextmanager
def alive(state_at: Path | str, *owners: str) -> Iterator[None]:
    """Owners that are live processes: with PostgreSQL, a connection named after each
    (a lease of a name no connection carries is anyone's: its process is gone)."""
    if not isinstance(state_at, str):
        yield
        return
    connections = [psycopg.connect(state_at, application_name=o) for o in owners]
    try:
        yield
    finally:
        for connection in connections:
            connection.close()


def test_a_host_is_held_by_one_owner_at_a_time(state_at: Path | str) -> None:
    with open_store(state_at) as store, alive(state_at, "a", "b"):
        assert store.claim_hosts("a", ["h1", "h2"], LONG) == {"h1": 0.0, "h2": 0.0}
        assert store.claim_hosts("b", ["h2", "h3"], LONG) == {"h3": 0.0}
        # Claiming again what one holds keeps it.
        assert set(store.claim_hosts("a", ["h1"], LONG)) == {"h1"}
        assert store.renew_hosts("a", ["h1", "h2", "h3"], LONG) == {"h1", "h2"}
        assert store.renew_hosts("b", ["h1", "h3"], LONG) == {"h3"}
        store.release_hosts("a", {"h2": 0.0})
        assert set(store.claim_hosts("b", ["h1", "h2"], LONG)) == {"h2"}
        # Releasing what another holds does nothing.
        store.release_hosts("a", {"h3": 0.0})
        assert store.claim_hosts("a", ["h3"], LONG) == {}


def test_a_released_host_carries_the_wait_it_is_owed(state_at: Path | str) -> None:
    with open_store(state_at) as store, alive(state_at, "a", "b"):
        store.claim_hosts("a", ["h"], LONG)
        released = time.monotonic()
        store.release_hosts("a", {"h": 30.0})
        owed = store.claim_hosts("b", ["h"], LONG)["h"]
        waited = time.monotonic() - released
        assert 30.0 - waited - 0.5 <= owed <= 30.0
        # A host released with nothing owed may be asked at once.
        store.release_hosts("b", {"h": 0.0})
        assert store.claim_hosts("a", ["h"], LONG) == {"h": 0.0}


@pytest.mark.e2e
def test_a_lease_not_renewed_expires_and_its_host_is_taken_over(state_at: Path | str) -> None:
    # "crashed" is alive as far as the database knows (a machine cut off): its lease
    # ends by expiring.
    with open_store(state_at) as store, alive(state_at, "crashed", "alive", "other"):
        ttl = 0.2
        claimed = time.monotonic()
        assert set(store.claim_hosts("crashed", ["h", "kept"], ttl)) == {"h", "kept"}
        assert set(store.claim_hosts("alive", ["kept"], LONG)) <= {"kept"}
        while not store.claim_hosts("other", ["h"], LONG):
            assert time.monotonic() - claimed < 300, "the lease never expired"
            time.sleep(0.02)
        assert time.monotonic() - claimed >= ttl
        # The crashed owner has lost it: renewing says so.
        assert "h" not in store.renew_hosts("crashed", ["h"], LONG)


def test_leases_are_shared_by_every_store_of_a_database(pg_url: str) -> None:
    with PgStore(pg_url) as one, PgStore(pg_url) as two, alive(pg_url, "a", "b"):
        assert set(one.claim_hosts("a", ["h1", "h2"], LONG)) == {"h1", "h2"}
        assert set(two.claim_hosts("b", ["h1", "h2", "h3"], LONG)) == {"h3"}
        one.release_hosts("a", {"h1": 0.0})
        assert set(two.claim_hosts("b", ["h1"], LONG)) == {"h1"}


def test_a_host_being_claimed_elsewhere_is_skipped_not_waited_for(pg_url: str) -> None:
    with PgStore(pg_url) as store, alive(pg_url, "a", "b"):
        store.claim_hosts("a", ["busy", "free"], LONG)
        store.release_hosts("a", {"busy": 0.0, "free": 0.0})
        with psycopg.connect(pg_url) as other:
            # Another process in the middle of claiming `busy`: its row is locked.
            other.execute("SELECT host FROM host_lease WHERE host = 'busy' FOR UPDATE")
            done = threading.Event()
            got: dict[str, float] = {}

            def claim() -> None:
                got.update(store.claim_hosts("b", ["busy", "free"], LONG))
                done.set()

            thread = threading.Thread(target=claim, daemon=True)
            thread.start()
            assert done.wait(300), "the claim waited for the locked row"
            other.rollback()
        thread.join()
        assert set(got) == {"free"}
        assert set(store.claim_hosts("b", ["busy"], LONG)) == {"busy"}


def test_two_processes_claiming_the_same_new_hosts_each_get_their_own(pg_url: str) -> None:
    hosts = [f"h{n:03}" for n in range(200)]
    stores = [PgStore(pg_url) for _ in range(4)]
    got: dict[int, set[str]] = {}
    try:
        threads = [
            threading.Thread(
                target=lambda n=n: got.__setitem__(
                    n, set(stores[n].claim_hosts(stores[n].lease_owner(), hosts, LONG))
                )
            )
            for n in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
    finally:
        for store in stores:
            store.close()
    claimed = [host for n in got for host in got[n]]
    assert len(got) == 4
    assert sorted(claimed) == hosts  # each host once, none lost


@pytest.mark.parametrize("wait", [-5.0, 0.0])
def test_nothing_negative_is_owed(state_at: Path | str, wait: float) -> None:
    with open_store(state_at) as store:
        store.claim_hosts("a", ["h"], LONG)
        store.release_hosts("a", {"h": wait})
        assert store.claim_hosts("b", ["h"], LONG) == {"h": 0.0}


def test_the_leases_of_a_process_that_is_gone_are_free_at_once(pg_url: str) -> None:
    """A killed process's connections end, and its leases with them: no wait for them
    to expire (a killed leader's hosts go to the next at once)."""
    with PgStore(pg_url) as survivor:
        gone = PgStore(pg_url)
        assert set(gone.claim_hosts(gone.lease_owner(), ["h"], LONG)) == {"h"}
        assert survivor.claim_hosts(survivor.lease_owner(), ["h"], LONG) == {}
        gone.close()  # as its process's end closes them
        # The server ends the session a moment after the client hangs up; from then on
        # the host is free, long before its lease would expire.
        with psycopg.connect(pg_url, autocommit=True) as db:
            started = time.monotonic()
            while db.execute(
                "SELECT 1 FROM pg_stat_activity WHERE application_name = %s", (gone.lease_owner(),)
            ).fetchone():
                assert time.monotonic() - started < LONG / 10
                time.sleep(0.01)
        assert set(survivor.claim_hosts(survivor.lease_owner(), ["h"], LONG)) == {"h"}
