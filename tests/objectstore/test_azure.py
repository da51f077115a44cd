"""A bucket output on Azure Blob Storage (`output: az://container/prefix`, through adlfs):
each object gets its Content-Type and Cache-Control as on S3. The storage account is a
real HTTP server on 127.0.0.1 that answers the Blob service's calls a build makes (an
empty listing, then one Put Blob per object) and records the headers of each: what
the Azure SDK under adlfs sends, not a mock of it."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from urllib.parse import urlsplit

import pytest
from conftest import NOW
from conftest import answering
from conftest import write_article

import aggregator

pytest.importorskip("adlfs", reason="adlfs is not installed: pip install 'aggregator[azure]'")

#: the well-known development account of the Azure storage emulator (a public value)
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

EMPTY_LISTING = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<EnumerationResults ServiceEndpoint="http://127.0.0.1/" ContainerName="site">'
    "<Blobs /><NextMarker /></EnumerationResults>"
)


class Account(ThreadingHTTPServer):
    """Blob service calls of one account: listings answered empty, Put Blob recorded."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), AccountHandler)
        self.put: dict[str, dict[str, str]] = {}
        self.lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{ACCOUNT}"


class AccountHandler(BaseHTTPRequestHandler):
    server: Account
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = EMPTY_LISTING.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-ms-version", "2021-08-06")
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.send_response(404)  # no such blob yet
        self.send_header("Content-Length", "0")
        self.send_header("x-ms-error-code", "BlobNotFound")
        self.send_header("x-ms-version", "2021-08-06")
        self.end_headers()

    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        path = unquote(urlsplit(self.path).path)
        with self.server.lock:
            self.server.put[path] = {k.lower(): v for k, v in self.headers.items()}
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.send_header("ETag", '"0x8D000000000000"')
        self.send_header("Last-Modified", "Sat, 21 Nov 2026 12:00:00 GMT")
        self.send_header("x-ms-version", "2021-08-06")
        self.send_header("x-ms-request-server-encrypted", "true")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def account() -> Iterator[Account]:
    server = Account()
    with answering(server):
        yield server


@pytest.mark.e2e
def test_objects_on_azure_get_their_content_type_and_cache_control(
    account: Account, tmp_path: Path
) -> None:
    os.chdir(tmp_path)
    write_article(tmp_path / "corpus", "a.md", topics=["AI"])
    connection = (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
        f"BlobEndpoint={account.endpoint};"
    )
    config = aggregator.load_config(
        None,
        links="off",
        sources=[str(tmp_path / "corpus")],
        output="az://site/feeds",
        output_cache_control="public, max-age=60",
        storage_options={"az": {"connection_string": connection}},
    )
    aggregator.build(config, now=NOW)
    put = account.put
    prefix = f"/{ACCOUNT}/site/feeds/"
    kinds = {
        "all.rss": "application/rss+xml; charset=utf-8",
        "topics/ai.atom": "application/atom+xml; charset=utf-8",
        "all.json": "application/feed+json; charset=utf-8",
        "feeds.opml": "text/x-opml; charset=utf-8",
        "index.html": "text/html; charset=utf-8",
    }
    for key, kind in kinds.items():
        headers = put[prefix + key]
        assert headers["x-ms-blob-content-type"] == kind, key
        assert headers["x-ms-blob-cache-control"] == "public, max-age=60", key
