"""The feed server: `FeedApp` behind a real waitress `Server` on 127.0.0.1, in process,
and the real `aggregator serve` command once in a subprocess.

Every request goes over a real socket with `http.client` (which sends the path exactly
as given, so `..` and percent-escapes reach the server untouched), or as raw bytes.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from email.utils import format_datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import feedparser
import pytest
from conftest import NOW
from conftest import write_article
from serving import aggregator_serve

from aggregator.app.daemon import Health
from aggregator.app.server import FeedApp
from aggregator.app.server import Server
from aggregator.config import Config
from aggregator.engine.pipeline import build

#: every test here runs the server (in this process, or the real command) on real sockets
pytestmark = pytest.mark.e2e

SECRET = b"TOP SECRET: never served\n"
FEED_JSON = (
    json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "Hand-written JSON feed",
            "items": [{"id": f"item-{n}", "content_text": "text " * 20} for n in range(5)],
        },
        indent=2,
    ).encode("utf-8")
    + b"\n"
)


# --- helpers -------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


def request(port: int, method: str, path: str, headers: dict[str, str] | None = None) -> Answer:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
    finally:
        conn.close()


def raw_request(port: int, data: bytes) -> bytes:
    """Send `data` as is and read the whole answer (the request asks to close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def get(port: int, path: str, **headers: str) -> Answer:
    return request(port, "GET", path, {k.replace("_", "-"): v for k, v in headers.items()})


# --- fixtures ------------------------------------------------------------------------


@dataclass
class Site:
    root: Path  # the served output folder
    outside: Path  # a folder beside it, with a secret in it
    port: int
    server: Server


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A real build's output (two topics) plus a hand-written feed.json, served.

    One server for the module (closing one takes a second); tests that change files
    change files of their own.
    """
    base = tmp_path_factory.mktemp("site")
    src = base / "src"
    for n in range(1, 7):
        write_article(src, f"a{n}.md", n=n, topics=["AI"] if n % 2 else ["AI", "Robots"])
    root = base / "out"
    build(Config(sources=(src,), output=root, links="off"), now=NOW)
    (root / "feed.json").write_bytes(FEED_JSON)
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    (base / "secret.txt").write_bytes(SECRET)
    (root / ".state.sqlite").write_bytes(SECRET)
    (root / ".hidden").mkdir()
    (root / ".hidden" / "feed.rss").write_bytes(SECRET)
    (root / "topics" / ".aggregator-abc.tmp").write_bytes(SECRET)
    # Built a while ago, as a site is when readers come (a file written in the current
    # second has no Last-Modified yet: see the tests of it below).
    built = time.time() - 60
    for file in root.rglob("*"):
        os.utime(file, (built, built))
    server = Server(FeedApp(root), "127.0.0.1", 0).start()
    try:
        yield Site(root, outside, server.port, server)
    finally:
        server.close()


# --- content types -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/all.rss", "application/rss+xml"),
        ("/all.atom", "application/atom+xml"),
        ("/topics/robots.rss", "application/rss+xml"),
        ("/topics/robots.atom", "application/atom+xml"),
        ("/feeds.opml", "text/x-opml"),
        ("/rss.opml", "text/x-opml"),
        ("/index.html", "text/html"),
        ("/feed.json", "application/feed+json"),
    ],
)
def test_content_type_per_format(site: Site, path: str, media_type: str) -> None:
    answer = get(site.port, path)
    assert answer.status == 200
    assert answer.headers["content-type"].split(";")[0].strip() == media_type
    assert answer.body == (site.root / path.lstrip("/")).read_bytes()
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_served_feeds_parse(site: Site) -> None:
    for path in ("/all.rss", "/all.atom", "/topics/ai.rss", "/topics/robots.atom"):
        parsed = feedparser.parse(get(site.port, path).body)
        assert not parsed.bozo, (path, parsed.get("bozo_exception"))
        assert parsed.entries


# --- validators and conditional requests ---------------------------------------------


def test_etag_and_last_modified_are_present(site: Site) -> None:
    answer = get(site.port, "/all.rss")
    etag = answer.headers["etag"]
    assert re.fullmatch(r'"[^"]+"', etag), etag  # a strong validator
    stamp = parsedate_to_datetime(answer.headers["last-modified"])
    assert stamp.tzinfo is not None
    assert int(stamp.timestamp()) == int((site.root / "all.rss").stat().st_mtime)
    # The same bytes give the same validator on every request.
    assert get(site.port, "/all.rss").headers["etag"] == etag


def test_if_none_match_gives_304_with_an_empty_body(site: Site) -> None:
    first = get(site.port, "/all.atom")
    again = get(site.port, "/all.atom", If_None_Match=first.headers["etag"])
    assert again.status == 304
    assert again.body == b""
    assert again.headers["etag"] == first.headers["etag"]
    # A list of tags that holds it, and a weak form of it, match too (RFC 9110 weak comparison).
    listed = get(site.port, "/all.atom", If_None_Match=f'"other", {first.headers["etag"]}')
    assert listed.status == 304
    weak = get(site.port, "/all.atom", If_None_Match="W/" + first.headers["etag"])
    assert weak.status == 304
    # Another tag does not.
    other = get(site.port, "/all.atom", If_None_Match='"not-the-tag"')
    assert other.status == 200
    assert other.body == first.body


def test_a_reader_revalidating_keeps_its_connection_across_304s(site: Site) -> None:
    """A reader polling many feeds with their validators over one keep-alive connection:
    a 304 has no body to delimit, so nothing calls for closing the connection after it
    (waitress closed it for want of a Content-Length, which a 304 must not carry), and
    the reader connected again for every unchanged feed."""
    paths = ["/all.atom", "/all.rss", "/topics/ai.rss", "/feed.json"]
    tags = {path: get(site.port, path).headers["etag"] for path in paths}
    conn = http.client.HTTPConnection("127.0.0.1", site.port, timeout=10)
    try:
        conn.connect()
        assert conn.sock is not None
        local = conn.sock.getsockname()
        statuses = []
        for path in [*paths, "/all.atom"]:
            headers = {"If-None-Match": tags[path]} if path != "/all.atom" or statuses else {}
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            assert response.read() == b"" or response.status == 200
            statuses.append(response.status)
            assert response.getheader("Connection") is None, (path, response.getheaders())
            assert not response.will_close, path
            # The same socket served it: http.client opens a new one after a close.
            assert conn.sock is not None and conn.sock.getsockname() == local, path
        assert statuses == [200, 304, 304, 304, 304]
        # A request that asks to close still closes.
        asked = {"If-None-Match": tags["/all.rss"], "Connection": "close"}
        conn.request("GET", "/all.rss", headers=asked)
        closing = conn.getresponse()
        assert closing.read() == b""
        assert (closing.status, closing.getheader("Connection")) == (304, "close")
        assert closing.will_close
    finally:
        conn.close()
    # So does one that asks for it among other options, after a 304 or a 200.
    for validator in (tags["/all.rss"], '"other"'):
        answer = raw_request(
            site.port,
            b"GET /all.rss HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Close\r\n"
            b"If-None-Match: " + validator.encode() + b"\r\n\r\n",
        )
        head = answer.partition(b"\r\n\r\n")[0].decode("latin-1").lower()
        assert "\r\nconnection: close" in head, head


def test_if_modified_since_equal_to_last_modified_gives_304(site: Site) -> None:
    first = get(site.port, "/topics/ai.rss")
    again = get(site.port, "/topics/ai.rss", If_Modified_Since=first.headers["last-modified"])
    assert again.status == 304
    assert again.body == b""
    earlier = parsedate_to_datetime(first.headers["last-modified"])
    before = format_datetime(earlier - timedelta(hours=1), usegmt=True)
    older = get(site.port, "/topics/ai.rss", If_Modified_Since=before)
    assert older.status == 200
    assert older.body == first.body


def test_a_file_of_a_second_not_over_is_told_by_its_etag_not_its_date(site: Site) -> None:
    """Two builds may write a feed within one second: a reader polling with
    If-Modified-Since would miss the second one (RFC 9110 8.8.2.2: a date within the
    second of the change is weak). While the second a file was written in lasts (here:
    a second to come), it has no Last-Modified and a date never makes it 304."""
    path = site.root / "topics" / "same-second.rss"
    source = (site.root / "all.rss").read_bytes()
    later = int(time.time()) + 3600  # (a second that has not ended)
    path.write_bytes(source)
    os.utime(path, (later, later))
    first = get(site.port, "/topics/same-second.rss")
    assert first.status == 200 and "last-modified" not in first.headers, first.headers
    replaced = path.with_name(".aggregator-replaced.tmp")  # as a build replaces it
    replaced.write_bytes(source.replace(b"Story number", b"Story numero"))
    os.utime(replaced, (later, later))  # in the same second
    os.replace(replaced, path)
    stamp = format_datetime(datetime.fromtimestamp(later, UTC), usegmt=True)
    asked = get(site.port, "/topics/same-second.rss", If_Modified_Since=stamp)
    assert asked.status == 200 and b"Story numero" in asked.body
    assert "last-modified" not in asked.headers
    # Its ETag tells the versions apart all along.
    assert asked.headers["etag"] != first.headers["etag"]
    by_tag = get(site.port, "/topics/same-second.rss", If_None_Match=asked.headers["etag"])
    assert by_tag.status == 304
    # Once its second is over, the date is the file's and tells it.
    over = int(time.time()) - 5
    os.utime(path, (over, over))
    dated = get(site.port, "/topics/same-second.rss")
    assert int(parsedate_to_datetime(dated.headers["last-modified"]).timestamp()) == over
    since = get(
        site.port, "/topics/same-second.rss", If_Modified_Since=dated.headers["last-modified"]
    )
    assert since.status == 304


def test_304_repeats_the_headers_a_200_would_send(site: Site) -> None:
    """RFC 9110 15.4.5: a 304 must carry the ETag, Cache-Control and Vary a 200 would."""
    first = get(site.port, "/all.rss", Accept_Encoding="gzip")
    assert first.headers["vary"] == "Accept-Encoding"
    again = get(site.port, "/all.rss", Accept_Encoding="gzip", If_None_Match=first.headers["etag"])
    assert again.status == 304
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["cache-control"] == first.headers["cache-control"]
    assert again.headers.get("vary") == "Accept-Encoding", again.headers


def test_a_changed_file_gets_a_new_etag_and_200(site: Site) -> None:
    path = site.root / "changing.rss"
    old = (site.root / "all.rss").read_bytes()
    path.write_bytes(old)
    first = get(site.port, "/changing.rss")
    assert first.body == old
    assert get(site.port, "/changing.rss", If_None_Match=first.headers["etag"]).status == 304
    new = old.replace(b"</channel>", b"<!-- changed --></channel>")
    assert new != old
    path.write_bytes(new)
    changed = get(site.port, "/changing.rss", If_None_Match=first.headers["etag"])
    assert changed.status == 200
    assert changed.body == new
    assert changed.headers["etag"] != first.headers["etag"]
    assert get(site.port, "/changing.rss", If_None_Match=changed.headers["etag"]).status == 304


def test_a_file_replaced_atomically_gets_a_new_etag(site: Site) -> None:
    """How a build replaces a feed: a new file renamed over the old one."""
    path = site.root / "topics" / "replaced.atom"
    path.write_bytes((site.root / "topics" / "robots.atom").read_bytes())
    first = get(site.port, "/topics/replaced.atom")
    assert first.status == 200
    temp = site.root / "topics" / ".aggregator-x.tmp"
    temp.write_bytes(first.body.replace(b"Robots", b"Robotz"))
    os.replace(temp, path)
    changed = get(site.port, "/topics/replaced.atom")
    assert changed.body == path.read_bytes()
    assert changed.headers["etag"] != first.headers["etag"]


# --- gzip and HEAD -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/all.rss", "/all.atom", "/feeds.opml", "/index.html"])
def test_gzip_when_the_client_accepts_it(site: Site, path: str) -> None:
    data = (site.root / path.lstrip("/")).read_bytes()
    assert len(data) > 1000
    zipped = get(site.port, path, Accept_Encoding="gzip, deflate")
    assert zipped.status == 200
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["vary"] == "Accept-Encoding"
    assert int(zipped.headers["content-length"]) == len(zipped.body)
    assert len(zipped.body) < len(data)
    assert gzip.decompress(zipped.body) == data
    plain = get(site.port, path)
    assert plain.status == 200
    assert "content-encoding" not in plain.headers
    assert plain.headers["vary"] == "Accept-Encoding"
    assert plain.body == data
    refused = get(site.port, path, Accept_Encoding="gzip;q=0")
    assert "content-encoding" not in refused.headers
    assert refused.body == data


@pytest.mark.parametrize(
    ("accepted", "zipped"),
    [
        ("gzip;q=0.00", False),
        ("gzip;q=0.000", False),
        ("gzip;Q=0", False),
        ("gzip ; q = 0", False),
        ("deflate, gzip;q=0., br", False),
        ("gzip;q=abc", False),
        ("gzip;q=2", False),
        ("br", False),
        ("GZIP", True),
        ("gzip;q=0.001", True),
        ("br;q=1, gzip;level=1;q=0.5", True),
    ],
)
def test_gzip_follows_the_weight_the_reader_gives_it(
    site: Site, accepted: str, zipped: bool
) -> None:
    """RFC 9110 12.4.2 and 12.5.3: a weight of 0 in any of its spellings refuses gzip."""
    answer = get(site.port, "/all.rss", Accept_Encoding=accepted)
    assert answer.status == 200
    assert ("content-encoding" in answer.headers) == zipped, answer.headers
    data = (site.root / "all.rss").read_bytes()
    assert (gzip.decompress(answer.body) if zipped else answer.body) == data


def test_head_gives_the_headers_and_no_body(site: Site) -> None:
    data = (site.root / "all.rss").read_bytes()
    got = get(site.port, "/all.rss")
    head = request(site.port, "HEAD", "/all.rss")
    assert head.status == 200
    assert head.body == b""
    assert int(head.headers["content-length"]) == len(data)
    for name in ("etag", "last-modified", "content-type", "cache-control"):
        assert head.headers[name] == got.headers[name]
    # HEAD on the raw socket: the answer ends right after the headers.
    raw = raw_request(site.port, b"HEAD /all.rss HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head_part, _, rest = raw.partition(b"\r\n\r\n")
    assert head_part.startswith(b"HTTP/1.1 200")
    assert f"Content-Length: {len(data)}".encode() in head_part
    assert rest == b""


@pytest.mark.parametrize("path", ["/nope.rss", "/../secret.txt", "/.state.sqlite", "/report.html"])
def test_head_of_a_missing_file_has_no_body_and_keeps_the_connection(site: Site, path: str) -> None:
    """RFC 9110 9.3.2: no content in an answer to HEAD, a 404 too; the next answer on
    the same connection starts right after its headers."""
    pipelined = (
        f"HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /topics/ai.rss HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    ).encode()
    raw = raw_request(site.port, pipelined)
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404"), head
    assert b"Content-Length: 14" in head  # that of the body a GET gets
    assert rest.startswith(b"HTTP/1.1 200"), rest[:80]
    assert rest.endswith((site.root / "topics" / "ai.rss").read_bytes())


# --- what may be served --------------------------------------------------------------


def test_root_serves_the_index_page(site: Site) -> None:
    answer = get(site.port, "/")
    assert answer.status == 200
    assert answer.body == (site.root / "index.html").read_bytes()
    assert answer.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("path", ["/topics/", "/topics", "/topics//"])
def test_a_folder_is_never_listed(site: Site, path: str) -> None:
    answer = get(site.port, path)
    assert answer.status == 404
    assert b"ai.rss" not in answer.body


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/../outside/secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/outside/secret.txt",
        "/topics/../../secret.txt",
        "/topics/%2e%2e/%2e%2e/secret.txt",
        "/topics/%2e%2e/%2e%2e/etc/passwd",
        "/topics/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/..%2fsecret.txt",
        "/topics%2f..%2f..%2fsecret.txt",
        "/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/..%5csecret.txt",
        "/topics%5c..%5c..%5csecret.txt",
        "/topics\\..\\..\\secret.txt",
        "/..\\secret.txt",
        "/%2e%2e%5coutside%5csecret.txt",
        "/topics/..%00/secret.txt",
        "/%c0%ae%c0%ae/secret.txt",
        "//etc/passwd",
        "/./../secret.txt",
    ],
)
def test_path_traversal_is_refused(site: Site, path: str) -> None:
    answer = get(site.port, path)
    assert answer.status in (400, 404), (path, answer.status)
    assert SECRET not in answer.body
    assert b"root:" not in answer.body


@pytest.mark.parametrize(
    "target",
    [b"/../../etc/passwd", b"/../secret.txt", b"/topics/../../secret.txt", b"/..\\secret.txt"],
)
def test_raw_request_line_with_dot_dot_is_refused(site: Site, target: bytes) -> None:
    raw = raw_request(
        site.port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    status_line = raw.split(b"\r\n", 1)[0]
    assert status_line.split()[1] in (b"400", b"404"), raw[:200]
    assert SECRET not in raw
    assert b"root:" not in raw


@pytest.mark.parametrize(
    "path",
    ["/.state.sqlite", "/.hidden/feed.rss", "/topics/.aggregator-abc.tmp", "/%2estate.sqlite"],
)
def test_hidden_files_are_not_served(site: Site, path: str) -> None:
    answer = get(site.port, path)
    assert answer.status == 404
    assert SECRET not in answer.body


def test_a_symlink_that_leads_out_is_404(site: Site) -> None:
    (site.root / "leak.txt").symlink_to(site.outside / "secret.txt")
    (site.root / "out-dir").symlink_to(site.outside, target_is_directory=True)
    (site.root / "topics" / "up.rss").symlink_to(Path("..") / ".." / "secret.txt")
    for path in ("/leak.txt", "/out-dir/secret.txt", "/topics/up.rss"):
        answer = get(site.port, path)
        assert answer.status == 404, path
        assert SECRET not in answer.body


def test_a_symlink_inside_the_folder_is_served(site: Site) -> None:
    (site.root / "latest.rss").symlink_to("all.rss")
    (site.root / "by-topic").symlink_to("topics", target_is_directory=True)
    answer = get(site.port, "/latest.rss")
    assert answer.status == 200
    assert answer.body == (site.root / "all.rss").read_bytes()
    assert answer.headers["content-type"].startswith("application/rss+xml")
    nested = get(site.port, "/by-topic/ai.atom")
    assert nested.status == 200
    assert nested.body == (site.root / "topics" / "ai.atom").read_bytes()


def test_a_missing_file_is_404(site: Site) -> None:
    assert get(site.port, "/nope.rss").status == 404
    assert get(site.port, "/topics/nope.atom").status == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_other_methods_get_405(site: Site, method: str) -> None:
    answer = request(site.port, method, "/all.rss")
    assert answer.status == 405
    assert "GET" in answer.headers["allow"]
    assert "HEAD" in answer.headers["allow"]
    assert (site.root / "all.rss").is_file()


# --- /healthz ------------------------------------------------------------------------


def test_healthz_reports_the_health_callable(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    health = Health(started_at=now, interval=timedelta(minutes=15))
    server = Server(FeedApp(tmp_path, health=health.answer), "127.0.0.1", 0).start()
    try:
        answer = get(server.port, "/healthz")
        assert answer.status == 200
        assert answer.headers["content-type"].startswith("application/json")
        assert answer.headers["cache-control"] == "no-store"
        data = json.loads(answer.body)
        assert data["last_run_status"] == "starting"
        assert data["interval_s"] == 900
        with health.lock:
            health.last_run_at = now
            health.last_status = "ok"
            health.last_success_at = now
            health.counts = {"loaded": 7, "published": 5}
        data = json.loads(get(server.port, "/healthz").body)
        assert data["status"] == "ok"
        assert data["counts"] == {"loaded": 7, "published": 5}
        assert datetime.fromisoformat(data["last_success_at"]) == now
        with health.lock:
            health.last_status = "failed"
            health.last_error = f"{tmp_path / 'src'}: source folder not found"
        failing = get(server.port, "/healthz")
        assert failing.status == 503
        data = json.loads(failing.body)
        assert data["status"] == "failing"
        assert data["last_run_status"] == "failed"
        # Anyone can read /healthz: the error text (paths of this machine) stays in the log.
        assert "last_error" not in data
        assert b"source folder not found" not in failing.body
        assert str(tmp_path).encode() not in failing.body
        head = request(server.port, "HEAD", "/healthz")
        assert head.status == 503
        assert head.body == b""
    finally:
        server.close()


def test_healthz_without_a_health_callable(site: Site) -> None:
    answer = get(site.port, "/healthz")
    assert answer.status == 200
    assert json.loads(answer.body)["status"] == "serving"


def test_healthz_passes_any_status_through(tmp_path: Path) -> None:
    app = FeedApp(tmp_path, health=lambda: (503, {"status": "failing", "why": "test"}))
    server = Server(app, "127.0.0.1", 0).start()
    try:
        answer = get(server.port, "/healthz")
        assert answer.status == 503
        assert json.loads(answer.body) == {"status": "failing", "why": "test"}
    finally:
        server.close()


# --- many readers --------------------------------------------------------------------


def test_200_concurrent_readers_polling_with_etags(site: Site) -> None:
    """200 readers at once, each from an address of its own (127.0.0.2...): one
    address may hold only a few dozen connections (see test_connections.py)."""
    readers = 200
    data = (site.root / "all.rss").read_bytes()
    start = threading.Barrier(readers)
    results: list[list[int]] = []
    errors: list[str] = []
    lock = threading.Lock()

    def reader(number: int) -> None:
        conn = http.client.HTTPConnection(
            "127.0.0.1", site.port, timeout=30, source_address=(f"127.0.0.{2 + number}", 0)
        )
        statuses = []
        try:
            start.wait(timeout=30)
            conn.request("GET", "/all.rss")
            response = conn.getresponse()
            body = response.read()
            statuses.append(response.status)
            if body != data:
                raise AssertionError("wrong body")
            etag = response.getheader("ETag") or ""
            for _ in range(3):
                conn.request("GET", "/all.rss", headers={"If-None-Match": etag})
                response = conn.getresponse()
                if response.read() != b"":
                    raise AssertionError("a 304 with a body")
                statuses.append(response.status)
        except Exception as exc:
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()
        with lock:
            results.append(statuses)

    threads = [threading.Thread(target=reader, args=(n,), daemon=True) for n in range(readers)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "readers still waiting after 60 s"
    assert errors == []
    assert len(results) == readers
    assert all(statuses == [200, 304, 304, 304] for statuses in results), results[:5]


# --- `aggregator serve` --------------------------------------------------------------


def test_serve_command_serves_and_exits_0_on_sigterm(site: Site) -> None:
    with aggregator_serve(site.root.parent) as command:
        answer = get(command.port, "/all.atom")
        assert answer.status == 200
        assert answer.body == (site.root / "all.atom").read_bytes()
        assert get(command.port, "/").status == 200
        command.stop()
