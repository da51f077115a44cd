"""Host leases within one process: the SQLite store's share of link checks.

Processes that share a state claim the hosts they send requests to, so that one of
them at a time talks to a host and per-host limits hold across them (see
`StateStore.claim_hosts`). A SQLite state belongs to one process (one daemon, or one
build, under the output folder's lock), so its leases live in memory: they keep two
checkers of one process apart, and carry a host's pacing from one to the next.
PostgreSQL keeps them in a table (`pgstore`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Lease:
    #: who holds the host ("" when nobody does)
    owner: str
    #: when the lease ends unless renewed (the clock's seconds)
    expires: float
    #: no request may start at the host before this (the clock's seconds)
    not_before: float


class LocalLeases:
    """Leases of hosts, in memory; `clock` gives seconds (monotonic by default)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._leases: dict[str, Lease] = {}
        self._lock = threading.Lock()

    def claim_hosts(self, owner: str, hosts: Iterable[str], ttl: float) -> dict[str, float]:
        now = self.clock()
        taken: dict[str, float] = {}
        with self._lock:
            for host in dict.fromkeys(hosts):
                lease = self._leases.get(host)
                if lease is not None and lease.owner not in ("", owner) and lease.expires > now:
                    continue
                not_before = lease.not_before if lease is not None else now
                self._leases[host] = Lease(owner, now + ttl, not_before)
                taken[host] = max(0.0, not_before - now)
        return taken

    def renew_hosts(self, owner: str, hosts: Iterable[str], ttl: float) -> set[str]:
        now = self.clock()
        kept: set[str] = set()
        with self._lock:
            for host in hosts:
                lease = self._leases.get(host)
                if lease is not None and lease.owner == owner:
                    self._leases[host] = Lease(owner, now + ttl, lease.not_before)
                    kept.add(host)
        return kept

    def release_hosts(self, owner: str, waits: Mapping[str, float]) -> None:
        now = self.clock()
        with self._lock:
            for host, wait in waits.items():
                lease = self._leases.get(host)
                if lease is not None and lease.owner == owner:
                    self._leases[host] = Lease("", now, now + max(0.0, wait))
