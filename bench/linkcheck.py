"""Throughput benchmark of the link checker against a local farm of slow HTTP servers.

What it measures: how many links per second the real `aggregator.links.linkcheck.LinkChecker`
checks when every site answers after a fixed latency, against the best a checker with
the same limits could do; whether the per-host limits held as the sites saw them; and,
with `--linkchecker PATH`, how long LinkChecker (https://linkchecker.github.io/, run as
a separate program, never imported) takes over the same URLs on the same farm.

The farm runs in a process of its own, on one thread and one selector (so that it
takes no GIL from the checker measured, and no request of its own waits for a
thread): H HTTP/1.1 servers (ephemeral ports), one per loopback address 127.0.0.2,
127.0.0.3, ..., each answering every HEAD and GET with an empty 200 `--latency` ms
after it came in. Each notes when every request arrived, as the kernel stamped its
first bytes (`SO_TIMESTAMPNS`, Linux; elsewhere when the farm read them): the time
the checker sent it, whatever else ran on the machine then, so that the gaps between
two requests to a host are exact. It also notes the most requests it had in flight
at once (received, not yet answered: counted out before a byte of the answer leaves)
and the connections it accepted. A page on 127.0.0.1 links every URL, for
LinkChecker; it is not part of the farm's figures.

The checker is run with `allow_private=True` (the farm is on loopback) and the default
settings otherwise, except those given (`--workers`, `--per-host`) and each
`--min-interval` in turn, over H*N distinct URLs, `--runs` times each. For each it
prints the medians of the wall time, the checker's CPU time and the links per second,
the ideal throughput and the measured share of it:

    ideal = min(workers / latency, hosts * min(per_host / latency, 1 / min_interval))

(with a min_interval of 0 the last term is unbounded; the first request to a host
needs no wait, so a run with a min_interval can come out slightly above 1.0), then
what the sites saw over all the runs: the most requests in flight at one host, the
shortest and the median gap between two request arrivals at one host, and the
connections opened (a checker that keeps connections alive opens about `per_host` a
host). LinkChecker runs as `linkchecker --check-extern -r 1 --no-status -o none PAGE`
(its own defaults otherwise: 10 threads), as often, in a virtualenv of its own (it is
GPL: run, never imported): `python -m venv /tmp/lc && /tmp/lc/bin/pip install
linkchecker`, then `--linkchecker /tmp/lc/bin/linkchecker`.

`--scheduler U H` measures the scheduler alone instead, on many more hosts than loopback
has addresses: U URLs spread over H host names (`https://hN.example/...`), each request
answered at once in place of the network (`LinkChecker._request` replaced, nothing sent),
with the settings above; it prints the wall and CPU time of the run, best of `--runs`.

Run it from the project root with the dev virtualenv:

    python bench/linkcheck.py [--hosts H] [--urls-per-host N] [--latency MS]
        [--workers W] [--per-host P] [--min-interval MS [MS ...]] [--runs R]
        [--linkchecker PATH]

The defaults are the farm of issue 19: 50 hosts, 40 URLs each (2,000 URLs), 100 ms,
min intervals 0, 100 and 250 ms, 3 runs each: about a minute (LinkChecker's runs take
about 25 s each). Exit status 1 when a host saw more than `per_host` requests in
flight at once, or two requests closer than `min_interval` (less `--slack` ms, for a
farm without the kernel's stamps), else 0.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import html
import itertools
import math
import multiprocessing
import multiprocessing.process
import os
import platform
import selectors
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from aggregator.links import linkcheck
from aggregator.links.linkcheck import LinkChecker
from aggregator.links.linkpolicy import LinkCheckSettings

_PAGE = "/links.html"


# --- the farm (in its own process) ---------------------------------------------------

#: Linux's SO_TIMESTAMPNS (and SCM_TIMESTAMPNS), which Python's socket may not name
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TIMESPEC = struct.Struct("@ll")
_OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n"
_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


@dataclass
class HostStats:
    """What one host of the farm saw."""

    #: when each request's first bytes reached the machine, in ns: the kernel's
    #: stamp where there is one (Linux), else when the farm read them
    arrivals: list[int] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    connections: int = 0

    def take(self) -> dict[str, Any]:
        """What was seen since the last call, and start again."""
        seen = {
            "arrivals": self.arrivals,
            "max_in_flight": self.max_in_flight,
            "connections": self.connections,
        }
        self.arrivals, self.max_in_flight, self.connections = [], 0, 0
        return seen


@dataclass
class _Client:
    """One connection to the farm: its host (None: the page server), what it sent
    that is not a whole request yet, and the stamp of that part's first bytes."""

    sock: socket.socket
    host: HostStats | None
    buffer: bytes = b""
    stamp: int = 0


class _FarmLoop:
    """Every server of the farm in one thread, on one selector: nothing waits for a
    thread of its own, and the time a request arrived is the kernel's stamp on its
    first bytes (`SO_TIMESTAMPNS`), whatever the farm was doing then. An answer is
    sent `latency` after its request came in; until then the request is in flight."""

    def __init__(self, hosts: int, latency: float, control: Connection) -> None:
        self.latency = latency
        self.control = control
        self.page = b""
        self.selector = selectors.DefaultSelector()
        self.stats = [HostStats() for _ in range(hosts)]
        #: (when, sequence, client, closing): answers due, the soonest first
        self.due: list[tuple[float, int, _Client, bool]] = []
        self.sequence = itertools.count()
        self.listeners = [self._listen(f"127.0.0.{n + 2}", s) for n, s in enumerate(self.stats)]
        self.page_listener = self._listen("127.0.0.1", None)
        self.selector.register(control, selectors.EVENT_READ, "control")

    def _listen(self, address: str, host: HostStats | None) -> socket.socket:
        listener = socket.create_server((address, 0), backlog=256)
        with contextlib.suppress(OSError):  # not Linux: the farm's own clock then
            listener.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)  # inherited
        listener.setblocking(False)
        self.selector.register(listener, selectors.EVENT_READ, host)
        return listener

    def run(self) -> None:
        self.control.send(
            (
                [listener.getsockname()[:2] for listener in self.listeners],
                self.page_listener.getsockname()[1],
            )
        )
        while True:
            timeout = max(0.0, self.due[0][0] - time.monotonic()) if self.due else None
            for key, _events in self.selector.select(timeout):
                if key.data == "control":
                    if not self._control():
                        self._close_all()
                        return
                elif isinstance(key.data, _Client):
                    self._read(key.data)
                else:
                    self._accept(key.fileobj, key.data)  # type: ignore[arg-type]
            now = time.monotonic()
            while self.due and self.due[0][0] <= now:
                _when, _n, client, closing = heapq.heappop(self.due)
                assert client.host is not None
                client.host.in_flight -= 1  # before a byte of the answer leaves
                self._answer(client, _OK % 0, closing)

    def _close_all(self) -> None:
        for key in list(self.selector.get_map().values()):
            if key.data != "control":
                self.selector.unregister(key.fileobj)
                key.fileobj.close()  # type: ignore[union-attr]
        self.selector.close()

    def _control(self) -> bool:
        message = self.control.recv()
        if message == "stats":
            self.control.send([host.take() for host in self.stats])
        elif isinstance(message, tuple) and message[0] == "page":
            self.page = message[1].encode("utf-8")
            self.control.send(None)
        else:
            return False
        return True

    def _accept(self, listener: socket.socket, host: HostStats | None) -> None:
        with contextlib.suppress(BlockingIOError):
            while True:
                sock, _ = listener.accept()
                sock.setblocking(False)
                if host is not None:
                    host.connections += 1
                self.selector.register(sock, selectors.EVENT_READ, _Client(sock, host))

    def _read(self, client: _Client) -> None:
        try:
            data, ancillary, _flags, _address = client.sock.recvmsg(
                65536, socket.CMSG_SPACE(_TIMESPEC.size)
            )
        except BlockingIOError:
            return
        except OSError:
            data, ancillary = b"", []
        if not data:
            self._close(client)
            return
        if not client.buffer:  # the first bytes of a request
            client.stamp = time.time_ns()
            for level, kind, value in ancillary:
                if (level, kind) == (socket.SOL_SOCKET, _SO_TIMESTAMPNS):
                    seconds, nanoseconds = _TIMESPEC.unpack(value[: _TIMESPEC.size])
                    client.stamp = seconds * 1_000_000_000 + nanoseconds
        client.buffer += data
        while b"\r\n\r\n" in client.buffer:
            head, _, client.buffer = client.buffer.partition(b"\r\n\r\n")
            self._request(client, head)

    def _request(self, client: _Client, head: bytes) -> None:
        lines = head.split(b"\r\n")
        method, path, version = [*lines[0].split(b" "), b"", b""][:3]
        closing = version == b"HTTP/1.0"
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"connection":
                closing = value.strip().lower() == b"close"
        host = client.host
        if host is None or path == b"/robots.txt":  # LinkChecker asks for it
            body = self.page if host is None and path == _PAGE.encode() else None
            answer = _NOT_FOUND if body is None else _OK % len(body)
            self._answer(client, answer + (body or b"") * (method != b"HEAD"), closing)
            return
        host.arrivals.append(client.stamp)
        host.in_flight += 1
        host.max_in_flight = max(host.max_in_flight, host.in_flight)
        when = time.monotonic() + self.latency
        heapq.heappush(self.due, (when, next(self.sequence), client, closing))

    def _answer(self, client: _Client, data: bytes, closing: bool) -> None:
        try:
            client.sock.setblocking(True)  # small answers; a page once a run
            client.sock.sendall(data)
            client.sock.setblocking(False)
        except OSError:
            closing = True  # the client left
        if closing:
            self._close(client)

    def _close(self, client: _Client) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(client.sock)
        client.sock.close()


def _serve_farm(control: Connection, hosts: int, latency: float) -> None:
    """The farm process: start the servers, say where they are, answer the parent's
    requests ("stats", ("page", html), "stop") until told to stop."""
    _FarmLoop(hosts, latency, control).run()


class Farm:
    """The farm, seen from the benchmark: in a process of its own (`process=True`, as
    this benchmark runs it), or on a thread of this one (`bench/build.py`, which
    counts every process it has a child of the build's)."""

    def __init__(self, hosts: int, latency: float, *, process: bool = False) -> None:
        self._conn, child = multiprocessing.Pipe()
        self._runner: threading.Thread | multiprocessing.process.BaseProcess
        if process:
            context = multiprocessing.get_context("spawn")
            self._runner = context.Process(
                target=_serve_farm, args=(child, hosts, latency), name="farm", daemon=True
            )
        else:
            self._runner = threading.Thread(
                target=_serve_farm, args=(child, hosts, latency), name="farm", daemon=True
            )
        self._runner.start()
        addresses, self.page_port = self._conn.recv()
        self.bases = [f"http://{address}:{port}" for address, port in addresses]
        # The kernel stamps what arrives a moment after the first socket asks.
        address, port = addresses[0]
        for _ in range(3):
            with socket.create_connection((address, port)) as probe:
                probe.sendall(b"GET /robots.txt HTTP/1.0\r\n\r\n")
                probe.recv(1024)
            time.sleep(0.01)

    def urls(self, per_host: int) -> list[str]:
        """`per_host` distinct URLs on every host, interleaved host by host."""
        return [f"{base}/article/{n}" for n in range(per_host) for base in self.bases]

    def page(self, urls: list[str]) -> str:
        """A page that links every URL of `urls`; its own URL."""
        links = "\n".join(f'<a href="{html.escape(u)}">{n}</a>' for n, u in enumerate(urls))
        self._conn.send(("page", f"<!doctype html><title>links</title>\n{links}\n"))
        self._conn.recv()
        return f"http://127.0.0.1:{self.page_port}{_PAGE}"

    def stats(self) -> list[dict[str, Any]]:
        """What each host saw since the last call."""
        self._conn.send("stats")
        seen: list[dict[str, Any]] = self._conn.recv()
        return seen

    def close(self) -> None:
        self._conn.send("stop")
        self._runner.join(timeout=10)
        runner = self._runner
        if isinstance(runner, multiprocessing.process.BaseProcess) and runner.is_alive():
            runner.kill()


# --- measuring -----------------------------------------------------------------------


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
class Seen:
    """What the farm saw over one run."""

    requests: int
    max_in_flight: int
    connections: int
    #: gaps between two consecutive request arrivals at one host, in seconds
    gaps: list[float]

    @classmethod
    def of(cls, stats: list[dict[str, Any]]) -> Seen:
        gaps = []
        for host in stats:
            times = sorted(host["arrivals"])
            gaps += [(b - a) / 1e9 for a, b in itertools.pairwise(times)]
        return cls(
            requests=sum(len(h["arrivals"]) for h in stats),
            max_in_flight=max((h["max_in_flight"] for h in stats), default=0),
            connections=sum(h["connections"] for h in stats),
            gaps=gaps,
        )


@dataclass(frozen=True)
class Outcome:
    urls: int
    classes: Counter[str]
    wall: float
    cpu: float
    seen: Seen

    @property
    def rate(self) -> float:
        return self.urls / self.wall if self.wall > 0 else math.inf


def measure(config: Config, farm: Farm) -> Outcome:
    """Run the checker once over the farm."""
    urls = farm.urls(config.urls_per_host)
    settings = LinkCheckSettings(
        workers=config.workers,
        per_host=config.per_host,
        min_interval=timedelta(seconds=config.min_interval),
        allow_private=True,
    )
    farm.stats()  # forget what an earlier run left
    checker = LinkChecker(settings)
    cpu_start = time.process_time()
    wall_start = time.perf_counter()
    report = checker.run(urls, now=datetime.now(UTC), previous={})
    wall = time.perf_counter() - wall_start
    cpu = time.process_time() - cpu_start
    return Outcome(
        urls=len(urls),
        classes=Counter(result.klass for result in report.results.values()),
        wall=wall,
        cpu=cpu,
        seen=Seen.of(farm.stats()),
    )


def measure_linkchecker(path: str, urls: list[str], farm: Farm) -> tuple[float, Seen, int]:
    """Run LinkChecker once over a page of `urls` served by the farm, with its
    defaults (external links checked, one level deep): wall time, what the farm saw,
    exit status."""
    page = farm.page(urls)
    farm.stats()
    command = [path, "--check-extern", "-r", "1", "--no-status", "-o", "none", page]
    began = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    wall = time.perf_counter() - began
    if done.returncode not in (0, 1):
        sys.stderr.write(done.stderr.decode(errors="replace"))
    return wall, Seen.of(farm.stats()), done.returncode


def _rate(value: float) -> str:
    return "unbounded" if math.isinf(value) else f"{value:.1f}/s"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def report(config: Config, outcomes: list[Outcome], slack: float) -> bool:
    """Print the runs of one config; True when the per-host limits held."""
    ideal = config.ideal()
    rate = statistics.median(o.rate for o in outcomes)
    ratio = "n/a" if math.isinf(ideal) else f"{rate / ideal:.2f}"
    max_in_flight = max(o.seen.max_in_flight for o in outcomes)
    gaps = [gap for o in outcomes for gap in o.seen.gaps]
    shortest = min(gaps, default=math.inf)
    # Nanoseconds of the checker's clock, converted to seconds: allow for that only.
    short = shortest < (config.min_interval - slack) * (1 - 1e-9)
    held = max_in_flight <= config.per_host and not short
    classes = Counter[str]()
    for outcome in outcomes:
        classes.update(outcome.classes)
    print(f"config: {config.describe()}")
    print(
        f"  {len(outcomes)} runs of {outcomes[0].urls} urls"
        f" ({', '.join(f'{k} {n}' for k, n in sorted(classes.items()))} in all),"
        f" requests seen by the farm {sum(o.seen.requests for o in outcomes)}"
    )
    print(
        f"  median wall {statistics.median(o.wall for o in outcomes):.2f} s,"
        f" checker cpu {statistics.median(o.cpu for o in outcomes):.2f} s"
        f" ({statistics.median(o.cpu for o in outcomes) * 1000 / outcomes[0].urls:.2f} ms a url)"
    )
    print(
        f"  ideal {_rate(ideal)}, measured {_rate(rate)} (median;"
        f" runs {', '.join(f'{o.rate:.0f}' for o in outcomes)}), ratio {ratio}"
    )
    print(
        f"  max in flight at one host {max_in_flight} (limit {config.per_host}): "
        + ("ok" if max_in_flight <= config.per_host else "EXCEEDED")
    )
    if gaps:
        print(
            f"  gap between two arrivals at one host: shortest {_ms(shortest)},"
            f" median {_ms(statistics.median(gaps))} (min_interval"
            f" {_ms(config.min_interval)})" + (": TOO SHORT" if short else "")
        )
    print(
        f"  connections opened {statistics.median(o.seen.connections for o in outcomes):g}"
        f" a run (median) for {config.hosts} hosts"
    )
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
    defaults = LinkCheckSettings()
    parser = argparse.ArgumentParser(
        description="Links per second of the link checker against a local farm of slow hosts."
    )
    parser.add_argument("--hosts", type=_positive, default=50, help="servers (at most 253)")
    parser.add_argument("--urls-per-host", type=_positive, default=40)
    parser.add_argument("--latency", type=_milliseconds, default=0.1, help="ms per answer")
    parser.add_argument("--workers", type=_positive, default=defaults.workers)
    parser.add_argument("--per-host", type=_positive, default=defaults.per_host)
    parser.add_argument(
        "--min-interval",
        type=_milliseconds,
        nargs="+",
        default=[0.0, 0.1, 0.25],
        metavar="MS",
        help="one config per value (default: 0 100 250)",
    )
    parser.add_argument("--runs", type=_positive, default=3, help="runs per config")
    parser.add_argument(
        "--slack",
        type=_milliseconds,
        default=0.0,
        metavar="MS",
        help="how much shorter than min_interval a gap may look (default 0)",
    )
    parser.add_argument(
        "--scheduler",
        type=_positive,
        nargs=2,
        metavar=("U", "H"),
        help="measure the scheduler alone: U URLs on H hosts, answered at once",
    )
    parser.add_argument(
        "--linkchecker",
        metavar="PATH",
        help="the linkchecker program (in a virtualenv of its own): run it too, as often",
    )
    args = parser.parse_args(argv)
    if args.hosts > 253:
        parser.error("--hosts: at most 253 (127.0.0.2 to 127.0.0.254)")
    if args.linkchecker is not None and not Path(args.linkchecker).exists():
        parser.error(f"--linkchecker: no such file: {args.linkchecker}")

    print(
        f"machine: {os.cpu_count()} CPUs ({_cpu_model()}), {platform.platform()},"
        f" {platform.python_implementation()} {platform.python_version()}"
    )
    if args.scheduler is not None:
        urls, hosts = args.scheduler
        for interval in args.min_interval:
            wall, cpu = measure_scheduler(
                urls, hosts, args.workers, args.per_host, interval, args.runs
            )
            print(
                f"scheduler: {urls} urls on {hosts} hosts, workers {args.workers}, per_host"
                f" {args.per_host}, min_interval {_ms(interval)}: wall {wall:.2f} s,"
                f" cpu {cpu:.2f} s (best of {args.runs})"
            )
        return 0
    all_held = True
    farm = Farm(args.hosts, args.latency, process=True)
    try:
        rates = {}
        for interval in args.min_interval:
            config = Config(
                hosts=args.hosts,
                urls_per_host=args.urls_per_host,
                latency=args.latency,
                workers=args.workers,
                per_host=args.per_host,
                min_interval=interval,
            )
            outcomes = [measure(config, farm) for _ in range(args.runs)]
            rates[interval] = statistics.median(o.rate for o in outcomes)
            all_held = report(config, outcomes, args.slack) and all_held
        if args.linkchecker is not None:
            urls = farm.urls(args.urls_per_host)
            runs = [measure_linkchecker(args.linkchecker, urls, farm) for _ in range(args.runs)]
            wall = statistics.median(w for w, _s, _r in runs)
            print(f"linkchecker: {args.linkchecker} (its defaults), {len(urls)} urls")
            print(
                f"  median wall {wall:.2f} s, {len(urls) / wall:.1f} urls/s;"
                f" requests seen by the farm {runs[0][1].requests} a run;"
                f" max in flight at one host {max(s.max_in_flight for _w, s, _r in runs)};"
                f" exit status {', '.join(str(r) for _w, _s, r in runs)}"
            )
            for interval, rate in rates.items():
                print(
                    f"  aggregator at min_interval {_ms(interval)}:"
                    f" {rate / (len(urls) / wall):.1f}x LinkChecker's throughput"
                )
    finally:
        farm.close()
    return 0 if all_held else 1


def measure_scheduler(
    urls: int, hosts: int, workers: int, per_host: int, interval: float, runs: int
) -> tuple[float, float]:
    """Best wall and CPU time of checking `urls` URLs on `hosts` names with every
    request answered at once (no network): the scheduler's own cost."""

    def answer(self: Any, check: Any, watch: Any, *, session: Any, pace: Any) -> Any:
        return linkcheck._Answer(status=200)

    linkcheck.LinkChecker._request = answer  # type: ignore[method-assign]
    settings = LinkCheckSettings(
        workers=workers, per_host=per_host, min_interval=timedelta(seconds=interval)
    )
    best = (float("inf"), float("inf"))
    for _ in range(runs):
        checks = [
            linkcheck._Check(u, u, u)
            for u in (f"https://h{n % hosts}.example/{n}" for n in range(urls))
        ]
        checker = linkcheck.LinkChecker(settings)
        start, cpu = time.perf_counter(), time.process_time()
        checker._check_all(checks)
        best = min(best, (time.perf_counter() - start, time.process_time() - cpu))
    return best


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
