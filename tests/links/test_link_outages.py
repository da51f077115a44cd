"""Verdicts that need no network always apply, and an outage is not a dead link (#15).

Real components: HTTP servers on 127.0.0.x (tests/farm.py, one with TLS), real SQLite
state files, `build()` with an injected clock and resolver, and the real `aggregator`
command. DNS is the one fake: a resolver function (tests never resolve a real name);
the subprocesses get tests/offline, where every name fails as without network.
"""

from __future__ import annotations

import json
import shutil
import socket
import ssl
import subprocess
import threading
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from conftest import NOW
from conftest import answering
from conftest import run_cli
from conftest import write_article
from farm import Farm
from farm import FarmServer

from aggregator.app.cli import summary
from aggregator.config import Config
from aggregator.engine.pipeline import build
from aggregator.engine.pipeline import check_links
from aggregator.links import linkpolicy as lp
from aggregator.links.linkcheck import LinkChecker
from aggregator.links.linkpolicy import Freshness
from aggregator.links.linkpolicy import LinkCheckSettings
from aggregator.model import BuildReport
from aggregator.model import LinkResult
from aggregator.state.store import Store
from aggregator.stories.urls import canonical_url

MS = timedelta(milliseconds=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

#: links no request may ever be sent to, in several of the forms one address takes
LOOPBACK = "http://127.0.0.1/x"
MAPPED = "http://[::ffff:127.0.0.1]/"
DECIMAL = "http://2130706433/"
METADATA_IMAGE = "http://169.254.169.254/latest/meta-data/x.png"
#: links no two clients read alike: refused as unsupported, without a lookup
FIVE_PARTS = "http://1.2.3.4.5/"
EMPTY_LABEL_IMAGE = "http://a..b/x.png"


# --- helpers -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def farm() -> Iterator[Farm]:
    servers = Farm(hosts=3)
    yield servers
    servers.close()


@pytest.fixture
def tag() -> str:
    return f"o{uuid.uuid4().hex[:10]}x"


def settings(**changes: Any) -> LinkCheckSettings:
    """Quick settings with the address rules ON (unless a test lifts them) and no TTL
    jitter, so that fresh and stale are exact."""
    values: dict[str, Any] = {
        "min_interval": 5 * MS,
        # Generous: no test here waits for a timeout, and a busy machine is slow.
        "timeout": timedelta(seconds=5),
        "deadline": timedelta(seconds=10),
        "retries": 0,
        "freshness": Freshness(jitter=0.0),
    }
    values.update(changes)
    return LinkCheckSettings(**values)


def config_for(tmp_path: Path, link_check: LinkCheckSettings, links: str = "on") -> Config:
    return Config(
        sources=(tmp_path / "articles",),
        output=tmp_path / "out",
        links=links,
        link_check=link_check,
        state=tmp_path / "state.sqlite",
    )


@dataclass
class Resolver:
    """DNS for tests: `names` resolve to their address, every other name fails with
    `errno`. Remembers every name asked, in order."""

    names: dict[str, str] = field(default_factory=dict)
    errno: int = socket.EAI_NONAME
    calls: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, host: str, port: int) -> Sequence[str]:
        with self.lock:
            self.calls.append(host)
        if host in self.names:
            return [self.names[host]]
        raise socket.gaierror(self.errno, "no answer (test resolver)")


def stored(url: str, klass: str, checked: datetime, fresh_for: timedelta) -> LinkResult:
    return LinkResult(
        url=canonical_url(url),
        klass=klass,
        status=200 if klass == lp.OK else None,
        reason="200 OK" if klass == lp.OK else "earlier",
        final_url=None,
        checked_at=checked,
        next_check_at=checked + fresh_for,
        failures=0 if klass == lp.OK else 1,
        broken_since=checked if klass == lp.BROKEN else None,
    )


def codes(report: BuildReport) -> dict[str, str]:
    """File name -> exclusion code, for articles left out of every feed."""
    return {Path(e.path).name: e.code for e in report.excluded if e.topic is None}


def rss_items(out: Path) -> dict[str, list[str]]:
    """Item link -> enclosure URLs in the all-topics RSS feed."""
    root = ElementTree.fromstring((out / "all.rss").read_bytes())
    return {
        item.findtext("link") or "": [e.get("url") or "" for e in item.findall("enclosure")]
        for item in root.iter("item")
    }


def write_refused_corpus(folder: Path, names: Sequence[str]) -> dict[str, str]:
    """Articles on `names` (links a check needs the network for), three with links no
    request may go to, one with an unsupported link, and two whose only image is
    refused without a lookup. Returns file name -> link."""
    links: dict[str, str] = {}
    for n, name in enumerate(names):
        links[f"fine{n}.md"] = f"https://{name}/story"
    links |= {"loop.md": LOOPBACK, "mapped.md": MAPPED, "decimal.md": DECIMAL}
    links["five.md"] = FIVE_PARTS
    titles = iter(
        ["Apples ripen", "Boats sail", "Clocks tick", "Drums roll", "Eagles fly", "Forests grow",
         "Geese honk", "Hills rise", "Islands drift", "Jugglers juggle"]
    )  # fmt: skip
    for n, (file, link) in enumerate(links.items()):
        write_article(folder, file, n=n * 3 + 1, title=next(titles), webUrl=link, images=None)
    write_article(
        folder,
        "metaimage.md",
        n=40,
        title="Kites soar",
        webUrl="https://kites.example/story",
        images=[{"url": METADATA_IMAGE}],
    )
    write_article(
        folder,
        "oddimage.md",
        n=43,
        title="Lamps glow",
        webUrl="https://lamps.example/story",
        images=[{"url": EMPTY_LABEL_IMAGE}],
    )
    links["metaimage.md"] = "https://kites.example/story"
    links["oddimage.md"] = "https://lamps.example/story"
    return links


REFUSED = {
    "loop.md": "unsafe-link",
    "mapped.md": "unsafe-link",
    "decimal.md": "unsafe-link",
    "five.md": "unsupported-link",
}


def assert_refusals_applied(report: BuildReport, out: Path, published: int) -> None:
    assert codes(report) == REFUSED
    assert report.published == published
    items = rss_items(out)
    assert len(items) == published
    assert items["https://kites.example/story"] == []
    assert items["https://lamps.example/story"] == []
    text = (out / "all.rss").read_text(encoding="utf-8") + (out / "all.atom").read_text(
        encoding="utf-8"
    )
    for url in (LOOPBACK, MAPPED, DECIMAL, FIVE_PARTS, METADATA_IMAGE, EMPTY_LABEL_IMAGE):
        assert url not in text
    assert report.links is not None
    dropped = {(Path(p).name, r.klass) for p, r in report.links.images_dropped}
    assert dropped == {("metaimage.md", lp.UNSAFE), ("oddimage.md", lp.UNSUPPORTED)}
    reasons = {Path(e.path).name: e.reason for e in report.excluded}
    assert reasons["loop.md"].startswith("unsafe link: 127.0.0.1 is a loopback address")
    assert reasons["five.md"].startswith("unsupported link: malformed IPv4 address")


# --- 1. refusals that need no network apply in every run --------------------------------

NAMES = ("alpha.example", "beta.example", "gamma.example")


@pytest.mark.parametrize("errno", [socket.EAI_AGAIN, socket.EAI_NONAME])
def test_with_the_network_down_refused_links_still_leave_and_the_rest_is_published(
    tmp_path: Path, errno: int
) -> None:
    links = write_refused_corpus(tmp_path / "articles", NAMES)
    # A first strike a day old: one more broken check would make that link dead.
    strike = stored(links["fine0.md"], lp.BROKEN, NOW - 25 * HOUR, HOUR)
    config = config_for(tmp_path, settings())
    resolver = Resolver(errno=errno)
    with Store(tmp_path / "state.sqlite") as store:
        store.save_links([strike])
        report = build(config, now=NOW, store=store, resolver=resolver)
        kept = store.links(canonical_url(u) for u in links.values())
        refused = store.links(canonical_url(u) for u in (LOOPBACK, METADATA_IMAGE, FIVE_PARTS))
    assert report.links is not None and report.links.network_down
    assert "the network looks down" in summary(report, config)
    assert_refusals_applied(report, tmp_path / "out", published=len(NAMES) + 2)
    # Nothing learnt from the (absent) network was stored; the refusals were.
    assert kept[canonical_url(links["fine0.md"])] == strike
    assert {k: r.klass for k, r in kept.items()} == {
        canonical_url(links["fine0.md"]): lp.BROKEN,
        canonical_url(LOOPBACK): lp.UNSAFE,
        canonical_url(MAPPED): lp.UNSAFE,
        canonical_url(DECIMAL): lp.UNSAFE,
        canonical_url(FIVE_PARTS): lp.UNSUPPORTED,
    }
    assert {r.klass for r in refused.values()} == {lp.UNSAFE, lp.UNSUPPORTED}
    # Refused URLs are never looked up: only the names were.
    assert set(resolver.calls) <= {*NAMES, "kites.example", "lamps.example"}


def test_cached_links_on_an_empty_state_file_apply_the_refusals(tmp_path: Path) -> None:
    """No lookup, no request; the refusals are stored as in any run (they need neither:
    an incremental build compares what it judged by with the state), nothing else."""
    links = write_refused_corpus(tmp_path / "articles", NAMES)
    config = config_for(tmp_path, settings(), links="cached")
    resolver = Resolver()
    with Store(tmp_path / "state.sqlite") as store:
        report = build(config, now=NOW, store=store, resolver=resolver)
        stored = store.links(canonical_url(u) for u in links.values())
        refused = {LOOPBACK: "unsafe", MAPPED: "unsafe", DECIMAL: "unsafe"}
        refused[FIVE_PARTS] = "unsupported"
        assert {k: r.klass for k, r in stored.items()} == {
            canonical_url(u): klass for u, klass in refused.items()
        }
    assert resolver.calls == []
    assert report.links is not None and report.links.requested == 0
    assert_refusals_applied(report, tmp_path / "out", published=len(NAMES) + 2)


@pytest.mark.parametrize("links", ["on", "cached"])
def test_a_stored_ok_does_not_let_a_refused_link_through(tmp_path: Path, links: str) -> None:
    """The state file is a cache, not a judge: an `ok` left by a run with
    `allow_private` (or written by anyone) does not keep a loopback link in."""
    write_article(tmp_path / "articles", "loop.md", n=1, webUrl=LOOPBACK, images=None)
    write_article(tmp_path / "articles", "five.md", n=5, webUrl=FIVE_PARTS, images=None)
    config = config_for(tmp_path, settings(), links=links)
    with Store(tmp_path / "state.sqlite") as store:
        store.save_links([stored(u, lp.OK, NOW, 7 * DAY) for u in (LOOPBACK, FIVE_PARTS)])
        report = build(config, now=NOW + HOUR, store=store, resolver=Resolver())
    assert codes(report) == {"loop.md": "unsafe-link", "five.md": "unsupported-link"}
    assert report.published == 0


def test_each_form_of_a_url_is_judged_on_its_own(tmp_path: Path) -> None:
    """Two images with one canonical URL: the form with credentials is refused, the
    other is kept, in whichever order the files give them."""
    for n, (title, image) in enumerate(
        [
            ("Apples ripen", "https://user:pw@img.example/1.jpg"),
            ("Boats sail", "https://img.example/1.jpg"),
            ("Clocks tick", "https://user:pw@img.example/1.jpg"),
        ]
    ):
        write_article(
            tmp_path / "articles",
            f"{n}.md",
            n=n * 5 + 1,
            title=title,
            webUrl=f"https://news.example/{n}",
            images=[{"url": image}],
        )
    with Store(tmp_path / "state.sqlite") as store:
        report = build(config_for(tmp_path, settings(), "cached"), now=NOW, store=store)
    items = rss_items(tmp_path / "out")
    assert items["https://news.example/0"] == []
    assert items["https://news.example/1"] == ["https://img.example/1.jpg"]
    assert items["https://news.example/2"] == []
    assert report.links is not None
    assert sorted(Path(p).name for p, _r in report.links.images_dropped) == ["0.md", "2.md"]
    assert report.published == 3


def test_a_redirect_to_an_unsupported_url_keeps_the_article(
    farm: Farm, tag: str, tmp_path: Path
) -> None:
    """Only a link that is itself refused leaves: where a site redirects the checker
    is the network's answer, and fails open."""
    url = farm.url(0, f"/redirect?to=http%3A%2F%2F1.2.3.4.5%2F&t={tag}")
    write_article(tmp_path / "articles", "a.md", n=1, webUrl=url, images=None)
    with Store(tmp_path / "state.sqlite") as store:
        report = build(config_for(tmp_path, settings(allow_private=True)), now=NOW, store=store)
        result = store.link(canonical_url(url))
    assert result is not None and result.klass == lp.UNSUPPORTED
    assert codes(report) == {}
    assert report.published == 1


# --- 1. end to end through the command ------------------------------------------------------

BUILD = ("build", "--source", "articles", "--output", "out", "--report", "report.json")


@pytest.mark.e2e
def test_the_command_without_network_applies_refusals_and_check_links_and_topics_agree(
    tmp_path: Path,
) -> None:
    """No `--allow-private-links`: it would lift the very rules under test. The
    subprocess resolves no name (tests/offline), so the network looks down."""
    write_refused_corpus(tmp_path / "articles", NAMES)
    (tmp_path / "aggregator.yaml").write_text(
        "link_check:\n  min_interval: 10ms\n  timeout: 1s\n  retries: 0\n", encoding="utf-8"
    )
    # Before any build: no state file, and the refusals already apply.
    before = run_cli("topics", "--json", "--source", "articles", "--output", "out", cwd=tmp_path)
    assert before.returncode == 0, before.stderr
    overview = json.loads(before.stdout)
    assert overview["links"]["mode"] == "no-state"
    assert {Path(e["path"]).name: e["code"] for e in overview["excluded"]} == REFUSED
    assert not (tmp_path / ".out-state.sqlite").exists()

    built = run_cli(*BUILD, "--links", "on", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    assert "the network looks down" in built.stdout
    assert f"published {len(NAMES) + 2} articles" in built.stdout
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["links"]["network_down"] is True
    build_codes = {Path(e["path"]).name: e["code"] for e in report["excluded"]}
    assert build_codes == REFUSED
    dropped = {Path(d["path"]).name: d["class"] for d in report["links"]["images_dropped"]}
    assert dropped == {"metaimage.md": "unsafe", "oddimage.md": "unsupported"}
    feed = (tmp_path / "out" / "all.rss").read_text(encoding="utf-8")
    assert METADATA_IMAGE not in feed and LOOPBACK not in feed

    # The same with the stored results only, from an empty state file.
    cached = run_cli(*BUILD, "--links", "cached", "--state", "empty.sqlite", cwd=tmp_path)
    assert cached.returncode == 0, cached.stderr
    again = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert {Path(e["path"]).name: e["code"] for e in again["excluded"]} == REFUSED
    assert [(d["path"], d["class"], d["reason"]) for d in again["links"]["images_dropped"]] == [
        (d["path"], d["class"], d["reason"]) for d in report["links"]["images_dropped"]
    ]

    # check-links shows the verdicts the build applied; topics leaves out the same files.
    checked = run_cli(
        "check-links",
        "--json",
        "--source",
        "articles",
        "--state",
        ".out-state.sqlite",
        cwd=tmp_path,
    )
    assert checked.returncode == 0, checked.stderr
    data = json.loads(checked.stdout)
    by_link = {r["link"]: r["class"] for r in data["results"]}
    assert by_link[LOOPBACK] == by_link[MAPPED] == by_link[DECIMAL] == "unsafe"
    assert by_link[METADATA_IMAGE] == "unsafe"
    assert by_link[FIVE_PARTS] == by_link[EMPTY_LABEL_IMAGE] == "unsupported"
    excluded = {(Path(e["path"]).name, e["class"]) for e in data["summary"]["excluded"]}
    assert excluded == {(Path(e["path"]).name, e["class"]) for e in report["links"]["excluded"]}
    after = run_cli("topics", "--json", "--source", "articles", "--output", "out", cwd=tmp_path)
    assert after.returncode == 0, after.stderr
    topics = json.loads(after.stdout)
    assert topics["links"]["mode"] == "cached"
    assert {Path(e["path"]).name: e["code"] for e in topics["excluded"]} == build_codes
    assert topics["all"]["kept"] == report["counts"]["published"]


# --- 2. a resolver outage is not a dead link -----------------------------------------------


def test_a_steady_daemon_whose_resolver_says_no_such_name_never_drops_an_article(
    tmp_path: Path,
) -> None:
    """Builds every 12 hours for three days, each re-checking one or two stale URLs,
    while the resolver answers NXDOMAIN for every name (the others stay fresh, so
    the "network down" rule, which needs three failing hosts, never applies).

    Before #15 each URL was `broken` on its first check and, a day later, dead."""
    count = 8
    links = [f"https://site{i}.example/story" for i in range(count)]
    titles = ["Apples", "Boats", "Clocks", "Drums", "Eagles", "Forests", "Geese", "Hills"]
    for i, (link, title) in enumerate(zip(links, titles, strict=True)):
        write_article(
            tmp_path / "articles", f"{i}.md", n=i * 3 + 1, title=f"{title} news", webUrl=link,
            images=None,
        )  # fmt: skip
    # Each stored `ok` comes due 12 hours after the one before; an unconfirmed answer is
    # checked again 40 hours on (four builds later). So each build finds one or two
    # stale URLs.
    freshness = Freshness(transient=40 * HOUR, transient_max=40 * HOUR, jitter=0.0)
    config = config_for(tmp_path, settings(confirm_after=24 * HOUR, freshness=freshness))
    cycle = 12 * HOUR
    resolver = Resolver()  # no name resolves
    with Store(tmp_path / "state.sqlite") as store:
        store.save_links(
            [stored(u, lp.OK, NOW - 7 * DAY, 7 * DAY + i * cycle - MS) for i, u in enumerate(links)]
        )
        stale_counts = []
        for n in range(7):  # 72 hours: three times confirm_after
            resolver.calls.clear()
            report = build(config, now=NOW + n * cycle, store=store, resolver=resolver)
            assert report.links is not None
            stale_counts.append(report.links.requested)
            assert report.published == count, (n, codes(report))
            assert not report.links.network_down
            # The stale names, then at most three canaries: names stored as ok.
            assert len(resolver.calls) <= report.links.requested + lp.CANARIES
        results = store.links(canonical_url(u) for u in links)
    assert set(stale_counts) <= {1, 2} and 2 in stale_counts, stale_counts
    checked = [r for r in results.values() if r.klass != lp.OK]
    assert len(checked) == 7
    for result in checked:
        assert (result.klass, result.broken_since) == (lp.UNKNOWN, None)
        assert "does not resolve" in result.reason
        assert "resolver could not be confirmed" in result.reason
        assert not lp.is_dead(result, config.link_check.confirm_after)


def test_a_name_that_does_not_resolve_while_others_do_is_dead_after_two_checks(
    farm: Farm, tag: str, tmp_path: Path
) -> None:
    port = farm.servers[0].server_address[1]
    gone = f"http://gone.example:{port}/story?t={tag}"
    fine = f"http://good.example:{port}/ok?t={tag}"
    write_article(
        tmp_path / "articles", "gone.md", n=1, title="Gone away", webUrl=gone, images=None
    )
    write_article(
        tmp_path / "articles", "fine.md", n=9, title="Still here", webUrl=fine, images=None
    )
    # `ok` fresh for an hour only: both URLs are checked in both runs.
    freshness = Freshness(ok=HOUR, jitter=0.0)
    config = config_for(tmp_path, settings(allow_private=True, freshness=freshness))
    resolver = Resolver({"good.example": "127.0.0.2"})
    with Store(tmp_path / "state.sqlite") as store:
        first = build(config, now=NOW, store=store, resolver=resolver)
        strike = store.link(canonical_url(gone))
        second = build(config, now=NOW + 25 * HOUR, store=store, resolver=resolver)
        dead = store.link(canonical_url(gone))
    assert first.published == 2
    assert strike is not None and (strike.klass, strike.broken_since) == (lp.BROKEN, NOW)
    assert codes(second) == {"gone.md": "dead-link"}
    assert dead is not None and lp.is_dead(dead, config.link_check.confirm_after)
    assert len([m for m, p, _t in farm.log(0).requests if tag in p]) == 2  # fine.md, twice


def test_a_lone_stale_name_is_confirmed_dead_by_a_canary_lookup_and_no_request(
    farm: Farm, tag: str, tmp_path: Path
) -> None:
    """The only stale URL of each run: a name known to exist (stored `ok`) is looked
    up to show the resolver works; it is only looked up, never requested."""
    port = farm.servers[1].server_address[1]
    gone = f"http://gone.example:{port}/story?t={tag}"
    fine = f"http://good.example:{port}/ok?t={tag}"
    write_article(
        tmp_path / "articles", "gone.md", n=1, title="Gone away", webUrl=gone, images=None
    )
    write_article(
        tmp_path / "articles", "fine.md", n=9, title="Still here", webUrl=fine, images=None
    )
    config = config_for(tmp_path, settings(allow_private=True))
    resolver = Resolver({"good.example": "127.0.0.3"})
    before = farm.total_requests()
    with Store(tmp_path / "state.sqlite") as store:
        store.save_links([stored(fine, lp.OK, NOW - DAY, 30 * DAY)])
        first = build(config, now=NOW, store=store, resolver=resolver)
        assert first.links is not None and first.links.requested == 1
        strike = store.link(canonical_url(gone))
        second = build(config, now=NOW + 25 * HOUR, store=store, resolver=resolver)
    assert resolver.calls == ["gone.example", "good.example"] * 2
    assert farm.total_requests() == before  # the canary sent no request
    assert strike is not None and (strike.klass, strike.broken_since) == (lp.BROKEN, NOW)
    assert first.published == 2
    assert codes(second) == {"gone.md": "dead-link"}

    # The same with a resolver that knows no name: never dead.
    (tmp_path / "state.sqlite").unlink()
    nothing = Resolver()
    with Store(tmp_path / "state.sqlite") as store:
        store.save_links([stored(fine, lp.OK, NOW - DAY, 30 * DAY)])
        for hours in (0, 25, 50):
            report = build(config, now=NOW + hours * HOUR, store=store, resolver=nothing)
            assert report.published == 2, codes(report)
    assert "good.example" in nothing.calls
    assert farm.total_requests() == before


# --- 2. the same mistake with TLS ----------------------------------------------------------


@pytest.fixture(scope="module")
def tls_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FarmServer, str]]:
    """A farm server speaking HTTPS on 127.0.0.9 for `tls.example`, with a certificate
    made here (openssl); the server and the certificate file to trust."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", "/CN=tls.example",
         "-addext", "subjectAltName=DNS:tls.example", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    server = FarmServer("127.0.0.9")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with answering(server):
        yield server, str(cert)


def run_checker(
    urls: Sequence[str], resolver: Callable[[str, int], Sequence[str]], ca_certs: str | None = None
) -> dict[str, LinkResult]:
    checker = LinkChecker(settings(allow_private=True), resolver=resolver, ca_certs=ca_certs)
    report = checker.run(urls, now=NOW, previous={})
    assert not report.network_down
    return report.results


def test_a_tls_failure_alone_is_in_doubt_and_confirmed_when_another_host_speaks_tls(
    farm: Farm, tag: str, tls_site: tuple[FarmServer, str]
) -> None:
    server, cert = tls_site
    # The farm speaks plain HTTP: a TLS handshake with it fails.
    plain = farm.url(2, f"/ok?t={tag}").replace("http://", "https://", 1)
    alone = run_checker([plain], Resolver())[canonical_url(plain)]
    assert (alone.klass, alone.broken_since) == (lp.UNKNOWN, None)
    assert "TLS failure" in alone.reason and "TLS on this network is in doubt" in alone.reason

    good = f"https://tls.example:{server.server_address[1]}/ok?t={tag}"
    results = run_checker([plain, good], Resolver({"tls.example": "127.0.0.9"}), cert)
    assert results[canonical_url(good)].klass == lp.OK
    broken = results[canonical_url(plain)]
    assert (broken.klass, broken.broken_since) == (lp.BROKEN, NOW)
    assert "TLS failure" in broken.reason


def test_every_host_failing_tls_is_a_network_down(farm: Farm, tag: str) -> None:
    """Behind a captive portal every HTTPS host fails its handshake: that is the
    network, not three dead sites, and nothing is stored."""
    urls = [farm.url(h, f"/ok?t={tag}").replace("http://", "https://", 1) for h in range(3)]
    checker = LinkChecker(settings(allow_private=True), resolver=Resolver())
    report = checker.run(urls, now=NOW, previous={})
    assert report.network_down
    assert report.results == {}


def test_check_links_gives_the_verdicts_a_build_applies(tmp_path: Path) -> None:
    write_refused_corpus(tmp_path / "articles", NAMES)
    config = config_for(tmp_path, settings())
    with Store(tmp_path / "state.sqlite") as store:
        checked = check_links(config, now=NOW, store=store, resolver=Resolver())
        report = build(config, now=NOW, store=store, resolver=Resolver())
    assert report.links is not None
    assert checked.summary.excluded == report.links.excluded
    assert checked.summary.images_dropped == report.links.images_dropped
    assert {Path(p).name: code for p, (code, _r) in checked.problems.items()} == REFUSED
