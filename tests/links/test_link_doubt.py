"""An answer the local network may be to blame for is not a verdict on a site (#15).

Three holes of the "an outage is not a dead link" rule, each reproduced here:

1. A name the hosts file answers (`vm` -> 127.0.0.1) resolves while DNS is down: it
   does not show that the resolver works, for the names of the run nor as a canary.
   Only a name that resolves to a public address does.
2. A resolver that answers every name with a private address, or a captive portal
   that redirects every site to its login page on a private address, does not drop
   every article as `unsafe-link`: such an answer counts only when other names
   resolved to public addresses (for DNS) or other hosts answered without being sent
   into private space (for redirects). No request ever goes to the private address.

Real components: HTTP servers on 127.0.0.x (tests/farm.py), real SQLite state, `build()`
with an injected clock, and the real `aggregator` command. DNS is an injected
function, and the names it gives public addresses reach the farm through `Network`:
a connection to such an address goes to the farm instead (a NAT in the test process),
and a connection to any other address that is not loopback fails the test. So the
address rules stay ON (`allow_private` off) and no packet leaves this machine.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from conftest import NOW
from conftest import run_cli
from conftest import write_article
from farm import Farm

from aggregator.config import Config
from aggregator.engine.pipeline import build
from aggregator.links import linkcheck
from aggregator.links import linkpolicy as lp
from aggregator.links.linkpolicy import Freshness
from aggregator.links.linkpolicy import LinkCheckSettings
from aggregator.model import BuildReport
from aggregator.model import LinkResult
from aggregator.state.store import Store
from aggregator.stories.urls import canonical_url

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
#: public addresses the test network gives names: never reached, see `Network`
PUBLIC = "93.184.216.{}"


@pytest.fixture(scope="module")
def farm() -> Iterator[Farm]:
    servers = Farm(hosts=1)
    yield servers
    servers.close()


@pytest.fixture
def tag() -> str:
    return f"d{uuid.uuid4().hex[:10]}x"


class Network:
    """DNS and routing for one test. `sites` resolve to public addresses that lead to
    the farm; `names` resolve to the addresses given (a hosts file, an internal name);
    `everything` answers every other name (a hijacking resolver); else a name does
    not resolve. Remembers every name asked, in order."""

    def __init__(self, farm: Farm) -> None:
        self.farm_address, self.port = farm.servers[0].server_address[:2]
        self.names: dict[str, list[str]] = {}
        self.nat: dict[str, str] = {}
        self.everything: list[str] | None = None
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def site(self, name: str) -> None:
        """`name` resolves to a public address of its own, which leads to the farm."""
        address = PUBLIC.format(10 + len(self.nat))
        self.nat[address] = str(self.farm_address)
        self.names[name] = [address]

    def url(self, name: str, path: str) -> str:
        return f"http://{name}:{self.port}{path}"

    def __call__(self, host: str, port: int) -> Sequence[str]:
        with self.lock:
            self.calls.append(host)
        if host in self.names:
            return self.names[host]
        if self.everything is not None:
            return self.everything
        raise socket.gaierror(socket.EAI_NONAME, "no such name (test network)")


@pytest.fixture
def net(farm: Farm, offline: None, monkeypatch: pytest.MonkeyPatch) -> Network:
    network = Network(farm)
    lookup = socket.getaddrinfo  # conftest's: no name resolves through the machine
    connect = socket.socket.connect

    def routed(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        # The HTTP client connects to the address the checker vetted: an IP literal.
        target = network.nat.get(host.decode() if isinstance(host, bytes) else str(host))
        return lookup(target or host, port, *args, **kwargs)

    def loopback_only(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            where = ipaddress.ip_address(str(address[0]).split("%")[0])
            if not where.is_loopback:
                raise AssertionError(f"a test tried to connect to {address}")
        connect(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", routed)
    monkeypatch.setattr(socket.socket, "connect", loopback_only)
    return network


def settings(net: Network, **changes: Any) -> LinkCheckSettings:
    """The address rules ON; the farm's port allowed; no TTL jitter."""
    values: dict[str, Any] = {
        "ports": frozenset({80, 443, net.port}),
        "min_interval": timedelta(milliseconds=5),
        "timeout": timedelta(seconds=5),
        "deadline": timedelta(seconds=10),
        "retries": 0,
        "freshness": Freshness(jitter=0.0),
    }
    values.update(changes)
    return LinkCheckSettings(**values)


def config_for(tmp_path: Path, link_check: LinkCheckSettings) -> Config:
    return Config(
        sources=(tmp_path / "articles",),
        output=tmp_path / "out",
        link_check=link_check,
        state=tmp_path / "state.sqlite",
    )


TITLES = ["Apples ripen", "Boats sail", "Clocks tick", "Drums roll", "Eagles fly", "Fog lifts"]


def write_links(folder: Path, links: dict[str, str]) -> None:
    """One article per file name -> link, each on its own subject."""
    for n, (name, link) in enumerate(links.items()):
        write_article(folder, name, n=n * 3 + 1, title=TITLES[n], webUrl=link, images=None)


def codes(report: BuildReport) -> dict[str, str]:
    return {Path(e.path).name: e.code for e in report.excluded if e.topic is None}


def stored_ok(url: str, fresh_for: timedelta) -> LinkResult:
    """An `ok` checked a day ago, fresh for `fresh_for` from then."""
    checked = NOW - DAY
    return LinkResult(
        url=canonical_url(url),
        klass=lp.OK,
        status=200,
        reason="200 OK",
        final_url=None,
        checked_at=checked,
        next_check_at=checked + fresh_for,
        failures=0,
        broken_since=None,
    )


def portal(tag: str, to: str) -> str:
    """A URL on the farm that answers 302 to `to`, as a captive portal does."""
    return f"/redirect?status=302&to={quote(to, safe='')}&t={tag}"


# --- 1. a name the hosts file answers is no proof -------------------------------------------


def test_a_local_name_does_not_turn_a_resolver_outage_into_dead_links(
    net: Network, farm: Farm, tmp_path: Path
) -> None:
    """DNS answers "no such name" for everything; the hosts file maps `vm` to
    127.0.0.1. Three builds a day apart: no article is ever left out. Before, `vm`
    counted as "a name resolved": the three sites were broken on the first build and
    dead on the second, and `vm` was unsafe."""
    net.names["vm"] = ["127.0.0.1"]
    sites = {f"site{i}.md": f"https://site{i}.example/story" for i in range(3)}
    write_links(tmp_path / "articles", {**sites, "vm.md": "http://vm/admin"})
    config = config_for(tmp_path, settings(net))
    before = farm.total_requests()
    with Store(tmp_path / "state.sqlite") as store:
        for day in range(3):
            report = build(config, now=NOW + day * 25 * HOUR, store=store, resolver=net)
            assert report.published == 4, (day, codes(report))
            assert report.links is not None and not report.links.network_down
        results = store.links(canonical_url(u) for u in [*sites.values(), "http://vm/admin"])
    assert farm.total_requests() == before
    for url in sites.values():
        result = results[canonical_url(url)]
        assert (result.klass, result.broken_since) == (lp.UNKNOWN, None), result
        assert "no other name resolved to a public address" in result.reason
    vm = results[canonical_url("http://vm/admin")]
    assert vm.klass == lp.UNKNOWN
    assert "vm resolves to 127.0.0.1, a loopback address" in vm.reason
    assert "resolver could not be confirmed" in vm.reason


@pytest.mark.parametrize(
    ("canary", "dead"),
    [("127.0.0.1", False), ("10.0.0.7", False), (PUBLIC.format(99), True)],
    ids=["hosts-file", "hijacked", "public"],
)
def test_only_a_canary_that_resolves_to_a_public_address_confirms_a_missing_name(
    net: Network, farm: Farm, tmp_path: Path, canary: str, dead: bool
) -> None:
    """The only stale URL of each run is on a name that does not resolve; the name
    known to exist (stored ok, fresh) is looked up and never requested."""
    fine, gone = "https://cdn.example/story", "https://gone.example/story"
    write_links(tmp_path / "articles", {"fine.md": fine, "gone.md": gone})
    net.names["cdn.example"] = [canary]
    config = config_for(tmp_path, settings(net))
    before = farm.total_requests()
    with Store(tmp_path / "state.sqlite") as store:
        store.save_links([stored_ok(fine, 30 * DAY)])
        first = build(config, now=NOW, store=store, resolver=net)
        second = build(config, now=NOW + 25 * HOUR, store=store, resolver=net)
    assert net.calls == ["gone.example", "cdn.example"] * 2
    assert farm.total_requests() == before
    assert first.published == 2
    assert codes(second) == ({"gone.md": "dead-link"} if dead else {})


def test_a_name_that_resolves_publicly_in_the_run_confirms_a_missing_name(
    net: Network, farm: Farm, tag: str, tmp_path: Path
) -> None:
    net.site("fine.example")
    fine, gone = net.url("fine.example", f"/ok?t={tag}"), "https://gone.example/story"
    write_links(tmp_path / "articles", {"fine.md": fine, "gone.md": gone})
    # `ok` fresh for an hour only: both URLs are checked in both runs.
    config = config_for(tmp_path, settings(net, freshness=Freshness(ok=HOUR, jitter=0.0)))
    with Store(tmp_path / "state.sqlite") as store:
        first = build(config, now=NOW, store=store, resolver=net)
        second = build(config, now=NOW + 25 * HOUR, store=store, resolver=net)
    assert first.published == 2
    assert codes(second) == {"gone.md": "dead-link"}
    assert [p for _m, p, _t in farm.log(0).requests if tag in p] == [f"/ok?t={tag}"] * 2


# --- 2. a resolver that answers every name with a private address ---------------------------


@pytest.mark.parametrize("answer", ["10.0.0.1", "0.0.0.0"])
def test_a_hijacking_resolver_drops_no_article_and_nothing_waits_a_day(
    net: Network, farm: Farm, tag: str, tmp_path: Path, answer: str
) -> None:
    """Every name resolves to `answer` (a captive portal's DNS, a filter answering
    0.0.0.0), the names known to exist too. Before, every article left as
    `unsafe-link` and stayed out for a day (unsafe is fresh as long as blocked)."""
    names = [f"site{i}.example" for i in range(5)]
    links = {f"{i}.md": net.url(name, f"/ok?t={tag}") for i, name in enumerate(names)}
    write_links(tmp_path / "articles", links)
    known = {"known.md": "https://known.example/story"}
    write_article(tmp_path / "articles", "known.md", n=30, title="Known", webUrl=known["known.md"])
    config = config_for(tmp_path, settings(net, check_images=False))
    net.everything = [answer]
    before = farm.total_requests()
    with Store(tmp_path / "state.sqlite") as store:
        store.save_links([stored_ok(known["known.md"], 30 * DAY)])
        hijacked = build(config, now=NOW, store=store, resolver=net)
        during = store.links(canonical_url(u) for u in links.values())
        asked = list(net.calls)
        assert farm.total_requests() == before  # no request went anywhere
        # Two hours on, DNS answers again: every link is checked and found ok.
        net.everything = None
        for name in names:
            net.site(name)
        recovered = build(config, now=NOW + 2 * HOUR, store=store, resolver=net)
        after = store.links(canonical_url(u) for u in links.values())
    assert codes(hijacked) == {} and hijacked.published == 6
    assert "known.example" in asked  # the canary was asked, and was hijacked too
    for result in during.values():
        assert result.klass == lp.UNKNOWN, result
        assert f"resolves to {answer}" in result.reason
        assert "resolver could not be confirmed" in result.reason
        assert result.next_check_at - result.checked_at == timedelta(minutes=10)
    assert codes(recovered) == {} and recovered.published == 6
    assert {r.klass for r in after.values()} == {lp.OK}


def test_a_real_internal_name_is_unsafe_at_once_and_stays_so_while_the_network_is_in_doubt(
    net: Network, farm: Farm, tag: str, tmp_path: Path
) -> None:
    net.site("fine.example")
    net.names["intranet.example"] = ["10.0.0.5"]
    fine, inside = net.url("fine.example", f"/ok?t={tag}"), "http://intranet.example/wiki"
    write_links(tmp_path / "articles", {"fine.md": fine, "inside.md": inside})
    config = config_for(tmp_path, settings(net))
    with Store(tmp_path / "state.sqlite") as store:
        first = build(config, now=NOW, store=store, resolver=net)
        verdict = store.link(canonical_url(inside))
        # A day on (the verdict is stale): a hijacking resolver, then no DNS at all.
        net.names = {}
        net.everything = ["10.0.0.1"]
        hijacked = build(config, now=NOW + 25 * HOUR, store=store, resolver=net)
        assert store.link(canonical_url(inside)) == verdict
        net.everything = None
        outage = build(config, now=NOW + 26 * HOUR, store=store, resolver=net)
        assert store.link(canonical_url(inside)) == verdict
    assert codes(first) == {"inside.md": "unsafe-link"}
    assert verdict is not None and verdict.klass == lp.UNSAFE
    assert "intranet.example resolves to 10.0.0.5, a private address" in verdict.reason
    assert codes(hijacked) == codes(outage) == {"inside.md": "unsafe-link"}
    assert hijacked.published == outage.published == 1
    assert [p for _m, p, _t in farm.log(0).requests if tag in p] == [f"/ok?t={tag}"]


# --- 2. a captive portal that redirects every site into private space -----------------------


@pytest.mark.parametrize(
    "login", ["http://10.0.0.1:8080/login", "http://portal.example/login", "http://127.1/"]
)
def test_a_captive_portal_sending_every_site_into_private_space_drops_no_article(
    net: Network, farm: Farm, tag: str, tmp_path: Path, login: str
) -> None:
    """Every site answers 302 to the portal's login page. No request goes there (it
    is refused), and the articles stay: that is the network, not the sites. Before,
    every article left as `unsafe-link` for a day."""
    net.names["portal.example"] = ["192.168.0.1"]
    names = [f"site{i}.example" for i in range(3)]
    for name in names:
        net.site(name)
    links = {f"{i}.md": net.url(name, portal(tag, login)) for i, name in enumerate(names)}
    write_links(tmp_path / "articles", links)
    with Store(tmp_path / "state.sqlite") as store:
        report = build(config_for(tmp_path, settings(net)), now=NOW, store=store, resolver=net)
        results = store.links(canonical_url(u) for u in links.values())
    assert codes(report) == {} and report.published == 3
    for result in results.values():
        assert result.klass == lp.UNKNOWN, result
        assert "captive portal" in result.reason
        assert result.broken_since is None
    assert len([p for _m, p, _t in farm.log(0).requests if tag in p]) == 3  # the sites only


@pytest.mark.parametrize(("sent", "left_out"), [(1, True), (2, False)])
def test_a_site_redirecting_into_private_space_is_unsafe_when_most_others_are_not(
    net: Network, tag: str, tmp_path: Path, sent: int, left_out: bool
) -> None:
    """Of three sites, `sent` redirect to a private address and the others answer:
    one of three is that site's doing (`unsafe-link`); two of three is the network."""
    names = [f"site{i}.example" for i in range(3)]
    for name in names:
        net.site(name)
    paths = [portal(tag, "http://10.0.0.1/") if i < sent else f"/ok?t={tag}" for i in range(3)]
    pairs = enumerate(zip(names, paths, strict=True))
    links = {f"{i}.md": net.url(name, path) for i, (name, path) in pairs}
    write_links(tmp_path / "articles", links)
    with Store(tmp_path / "state.sqlite") as store:
        report = build(config_for(tmp_path, settings(net)), now=NOW, store=store, resolver=net)
    if left_out:
        assert codes(report) == {"0.md": "unsafe-link"}
        (exclusion,) = report.excluded
        assert "10.0.0.1 is a private address" in exclusion.reason
    else:
        assert codes(report) == {}
        assert report.links is not None
        assert dict(report.links.classes) == {lp.UNKNOWN: 2, lp.OK: 1}


# --- end to end: the command, with a hosts file and with a hijacking resolver ----------------


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("hosts", "doubt"),
    [
        ({"vm": "127.0.0.1"}, "no other name resolved to a public address"),
        ({"*": "10.0.0.1"}, "resolves to 10.0.0.1"),
    ],
    ids=["hosts-file", "hijacked"],
)
def test_the_command_leaves_no_article_out_for_what_the_network_did(
    tmp_path: Path, hosts: dict[str, str], doubt: str
) -> None:
    """The subprocess resolves only what `hosts` maps (tests/offline): the first case
    is DNS down with `vm` in the hosts file, the second a resolver that answers every
    name with a private address. Before, the first stored the sites as broken (dead a
    day later) and `vm` as unsafe, the second left every article out as unsafe."""
    links = {f"{i}.md": f"https://site{i}.example/story" for i in range(3)}
    links["vm.md"] = "http://vm/admin"
    write_links(tmp_path / "articles", links)
    (tmp_path / "aggregator.yaml").write_text(
        "link_check:\n  min_interval: 10ms\n  timeout: 2s\n  retries: 0\n", encoding="utf-8"
    )
    args = ("--source", "articles", "--state", "state.sqlite")
    built = run_cli(
        "build", *args, "--output", "out", "--links", "on", "--report", "r.json",
        cwd=tmp_path, hosts=hosts,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert "published 4 articles" in built.stdout, built.stdout
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert report["excluded"] == [] and report["links"]["network_down"] is False
    checked = run_cli("check-links", *args, "--json", cwd=tmp_path, hosts=hosts)
    assert checked.returncode == 0, checked.stderr
    results = {r["link"]: r for r in json.loads(checked.stdout)["results"]}
    assert set(results) == set(links.values())
    for result in results.values():
        assert (result["class"], result["broken_since"]) == ("unknown", None), result
        assert doubt in result["reason"]
    topics = run_cli("topics", "--json", *args, "--output", "out", cwd=tmp_path, hosts=hosts)
    assert topics.returncode == 0, topics.stderr
    assert json.loads(topics.stdout)["all"]["kept"] == 4


@pytest.mark.parametrize(
    ("hosts", "host", "other"),
    [
        (set(), "a.example", False),
        ({"a.example"}, "a.example", False),  # only the host in doubt itself
        ({"a.example", "b.example"}, "a.example", True),
        ({"b.example"}, "a.example", True),
    ],
)
def test_another_host_is_told_without_the_host_in_doubt(
    hosts: set[str], host: str, other: bool
) -> None:
    """What confirms a doubtful answer is another host (one that spoke TLS, resolved,
    answered without a redirect inside): the host in doubt itself never counts."""
    assert linkcheck._another(hosts, host) is other
    assert other == bool(hosts - {host})  # as the set difference it stands for says
