"""Throughput benchmark of the link checker against a local farm of slow HTTP servers.

What it measures: how many links per second the real `aggregator.links.linkcheck.LinkChecker`
checks when every site answers after a fixed latency, against the best a checker with
the same limits could do, and whether the per-host limit held as seen by the sites.

It starts H real HTTP servers (`ThreadingHTTPServer`, daemon threads, ephemeral
ports), one per loopback address 127.0.0.2, 127.0.0.3, ..., each answering every HEAD
and GET with an empty 200 after sleeping `--latency` ms and counting the requests it
has in flight (received, not yet answered). The checker is run with
`allow_private=True` (the farm is on loopback) over H*N distinct URLs, once per
`--min-interval` value (a fresh farm each time). For each run it prints the URLs, the
wall and CPU time, the links per second, the most requests any host had in flight at
once, and the ideal throughput and the measured share of it:

    ideal = min(workers / latency, hosts * min(per_host / latency, 1 / min_interval))

(with a min_interval of 0 the last term is unbounded). Because the first request to
a host needs no wait, a run with a min_interval can come out slightly above 1.0.

Run it from the project root with the dev virtualenv:

    python bench/linkcheck.py [--hosts H] [--urls-per-host N] [--latency MS]
        [--workers W] [--per-host P] [--min-interval MS [MS ...]]

The defaults (50 hosts, 20 URLs each, 100 ms, 32 workers, 2 per host, min intervals 0
and 1000 ms) finish in about 30 s. Exit status 1 when any host saw more than
`per_host` requests in flight at once (a correctness failure), else 0.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer

from aggregator.links.linkcheck import LinkChecker
from aggregator.links.linkpolicy import LinkCheckSettings

#: how often an idle server looks for a shutdown request
_POLL_INTERVAL = 0.2


@dataclass
class HostStats:
    """What one host of the farm saw."""

    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    #: the shortest time between two request arrivals, in seconds
    min_gap: float = math.inf
    last_arrival: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def arrive(self) -> None:
        now = time.monotonic()
        with self.lock:
            self.requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self.last_arrival is not None:
                self.min_gap = min(self.min_gap, now - self.last_arrival)
            self.last_arrival = now

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1


class _Handler(BaseHTTPRequestHandler):
    server: _SlowServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_HEAD(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def _serve(self) -> None:
        stats = self.server.stats
        stats.arrive()
        try:
            time.sleep(self.server.latency)
        finally:
            # Counted out before a byte of the answer is sent: the client cannot have
            # the answer (and start its next request) while this one is still counted,
            # so the count never exceeds what the client really had in flight.
            stats.leave()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", "0")
        self.end_headers()


class _SlowServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: str, latency: float) -> None:
        super().__init__((address, 0), _Handler)
        self.latency = latency
        self.stats = HostStats()

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hangs up mid-answer is no concern of the benchmark


class Farm:
    """`hosts` servers on 127.0.0.2, 127.0.0.3, ..., each answering after `latency` s."""

    def __init__(self, hosts: int, latency: float) -> None:
        self.servers = [_SlowServer(f"127.0.0.{n + 2}", latency) for n in range(hosts)]
        self.threads = [
            threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": _POLL_INTERVAL},
                name=f"farm-{n}",
                daemon=True,
            )
            for n, server in enumerate(self.servers)
        ]
        for thread in self.threads:
            thread.start()

    def urls(self, per_host: int) -> list[str]:
        """`per_host` distinct URLs on every host, interleaved host by host."""
        bases = []
        for server in self.servers:
            address, port = server.server_address[:2]
            bases.append(f"http://{address!s}:{port}")
        return [f"{base}/article/{n}" for n in range(per_host) for base in bases]

    def stats(self) -> list[HostStats]:
        return [server.stats for server in self.servers]

    def close(self) -> None:
        # shutdown() waits for serve_forever to notice; ask all servers at once.
        stoppers = [threading.Thread(target=server.shutdown) for server in self.servers]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()
        for server in self.servers:
            server.server_close()


@dataclass(frozen=True)
class Config:
    hosts: int
    urls_per_host: int
    latency: float  # seconds
    workers: int
    per_host: int
    min_interval: float  # seconds

    def ideal(self) -> float:
        """The best throughput the limits allow, in links per second (may be inf)."""
        per_worker = math.inf if self.latency <= 0 else 1.0 / self.latency
        per_host = self.per_host * per_worker
        if self.min_interval > 0:
            per_host = min(per_host, 1.0 / self.min_interval)
        return min(self.workers * per_worker, self.hosts * per_host)

    def describe(self) -> str:
        return (
            f"hosts {self.hosts}, urls/host {self.urls_per_host}, "
            f"latency {self.latency * 1000:g} ms, workers {self.workers}, "
            f"per_host {self.per_host}, min_interval {self.min_interval * 1000:g} ms"
        )


@dataclass(frozen=True)
class Outcome:
    urls: int
    classes: Counter[str]
    wall: float
    cpu: float
    requests: int
    max_in_flight: int
    min_gap: float

    @property
    def rate(self) -> float:
        return self.urls / self.wall if self.wall > 0 else math.inf


def measure(config: Config) -> Outcome:
    """Run the checker once over a fresh farm."""
    farm = Farm(config.hosts, config.latency)
    try:
        urls = farm.urls(config.urls_per_host)
        settings = LinkCheckSettings(
            workers=config.workers,
            per_host=config.per_host,
            min_interval=timedelta(seconds=config.min_interval),
            allow_private=True,
        )
        checker = LinkChecker(settings)
        cpu_start = time.process_time()
        wall_start = time.perf_counter()
        report = checker.run(urls, now=datetime.now(UTC), previous={})
        wall = time.perf_counter() - wall_start
        cpu = time.process_time() - cpu_start
        stats = farm.stats()
    finally:
        farm.close()
    return Outcome(
        urls=len(urls),
        classes=Counter(result.klass for result in report.results.values()),
        wall=wall,
        cpu=cpu,
        requests=sum(s.requests for s in stats),
        max_in_flight=max((s.max_in_flight for s in stats), default=0),
        min_gap=min((s.min_gap for s in stats), default=math.inf),
    )


def _rate(value: float) -> str:
    return "unbounded" if math.isinf(value) else f"{value:.1f}/s"


def report(config: Config, outcome: Outcome) -> bool:
    """Print one run; True when the per-host limit held."""
    ideal = config.ideal()
    ratio = "n/a" if math.isinf(ideal) else f"{outcome.rate / ideal:.2f}"
    held = outcome.max_in_flight <= config.per_host
    classes = ", ".join(f"{k} {n}" for k, n in sorted(outcome.classes.items()))
    gap = "n/a" if math.isinf(outcome.min_gap) else f"{outcome.min_gap * 1000:.1f} ms"
    print(f"config: {config.describe()}")
    print(f"  urls {outcome.urls} ({classes}), requests seen by the farm {outcome.requests}")
    print(
        f"  wall {outcome.wall:.2f} s, cpu {outcome.cpu:.2f} s "
        f"({outcome.cpu / outcome.wall:.0%} of one core, checker and farm together)"
    )
    print(f"  ideal {_rate(ideal)}, measured {_rate(outcome.rate)}, ratio {ratio}")
    print(
        f"  max in flight at one host {outcome.max_in_flight} (limit {config.per_host}): "
        + ("ok" if held else "EXCEEDED")
    )
    print(f"  shortest gap between two request arrivals at one host {gap}")
    return held


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return value


def _milliseconds(text: str) -> float:
    value = float(text)
    if value < 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text} is not a duration in ms")
    return value / 1000.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Links per second of the link checker against a local farm of slow hosts."
    )
    parser.add_argument("--hosts", type=_positive, default=50, help="servers (at most 253)")
    parser.add_argument("--urls-per-host", type=_positive, default=20)
    parser.add_argument("--latency", type=_milliseconds, default=0.1, help="ms per answer")
    parser.add_argument("--workers", type=_positive, default=32)
    parser.add_argument("--per-host", type=_positive, default=2)
    parser.add_argument(
        "--min-interval",
        type=_milliseconds,
        nargs="+",
        default=[0.0, 1.0],
        metavar="MS",
        help="one run per value (default: 0 1000)",
    )
    args = parser.parse_args(argv)
    if args.hosts > 253:
        parser.error("--hosts: at most 253 (127.0.0.2 to 127.0.0.254)")

    print(
        f"machine: {os.cpu_count()} CPUs, {platform.platform()}, "
        f"{platform.python_implementation()} {platform.python_version()}"
    )
    all_held = True
    for interval in args.min_interval:
        config = Config(
            hosts=args.hosts,
            urls_per_host=args.urls_per_host,
            latency=args.latency,
            workers=args.workers,
            per_host=args.per_host,
            min_interval=interval,
        )
        all_held = report(config, measure(config)) and all_held
    return 0 if all_held else 1


if __name__ == "__main__":
    sys.exit(main())
