"""Sources and output in object storage, against a real S3-compatible server (SeaweedFS,
started by the session: see tests/s3server.py). Requests are counted as s3fs sends
them (its debug log names every call), never mocked."""

from __future__ import annotations

import itertools
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from conftest import NOW
from conftest import ROOT
from conftest import answering
from conftest import run_cli
from conftest import write_article
from s3server import ADMIN
from s3server import READER
from s3server import S3Server

import aggregator
from aggregator.config import Config
from aggregator.errors import ConfigError
from aggregator.errors import StorageError
from aggregator.objectstore.upload import rank

_names = itertools.count()


class Calls(logging.Handler):
    """The S3 calls s3fs made: (operation, bucket/key), in order."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith("CALL:") and isinstance(record.args, tuple):
            method, _, kwargs = record.args
            where = f"{kwargs.get('Bucket', '')}/{kwargs.get('Key', kwargs.get('Prefix', ''))}"
            self.seen.append((str(method), where))

    def of(self, method: str) -> list[str]:
        return [where for name, where in self.seen if name == method]


#: the buckets of the session: each test works below a prefix of its own (a bucket is a
#: SeaweedFS collection, which takes volumes of its own: a bucket per test runs out)
BUCKETS = ("articles", "feeds")


@dataclass
class Store:
    """The server as a test sees it: an admin filesystem, a fresh prefix per call."""

    server: S3Server
    fs: Any

    def bucket(self, stem: str) -> str:
        """A fresh place in the `stem` bucket: `stem/t<n>`."""
        return f"{stem}/t{next(_names)}"

    def objects(self, prefix: str) -> dict[str, bytes]:
        """key below `prefix` -> bytes, of every object there."""
        self.fs.invalidate_cache()
        found = self.fs.find(prefix)
        return {path[len(prefix) + 1 :]: self.fs.cat_file(path) for path in found}

    def head(self, path: str) -> dict[str, Any]:
        bucket, key = path.split("/", 1)
        return dict(self.fs.call_s3("head_object", Bucket=bucket, Key=key))


@pytest.fixture
def store(s3server: S3Server, monkeypatch: pytest.MonkeyPatch) -> Store:
    import s3fs

    for name, value in s3server.env().items():
        monkeypatch.setenv(name, value)
    fs = s3fs.S3FileSystem(
        key=ADMIN[0], secret=ADMIN[1], endpoint_url=s3server.endpoint, skip_instance_cache=True
    )
    for bucket in BUCKETS:
        if not fs.exists(bucket):
            fs.mkdir(bucket)
    return Store(s3server, fs)


@pytest.fixture
def calls() -> Iterator[Calls]:
    handler = Calls()
    logger = logging.getLogger("s3fs")
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _write_corpus(folder: Path) -> None:
    for n in range(1, 7):
        topics = ["AI"] if n % 2 else ["Robots"]
        write_article(folder / ("ai" if n % 2 else "robots"), f"story-{n}.md", n=n, topics=topics)


def _upload(store: Store, folder: Path, prefix: str) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            store.fs.pipe_file(f"{prefix}/{path.relative_to(folder).as_posix()}", path.read_bytes())


def _config(**settings: Any) -> Config:
    return aggregator.load_config(None, links="off", **settings)


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


@pytest.fixture
def published(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Config, str, str]:
    """A corpus in a bucket, built once to another bucket: (config, source, output)."""
    monkeypatch.chdir(tmp_path)  # the staging folder is made below the working directory
    source = f"{store.bucket('articles')}/in"
    output = store.bucket("feeds")
    _write_corpus(tmp_path / "corpus")
    _upload(store, tmp_path / "corpus", source)
    config = _config(sources=[f"s3://{source}"], output=f"s3://{output}")
    aggregator.build(config, now=NOW)
    return config, source, output


@pytest.mark.e2e
def test_a_bucket_build_equals_a_local_build_byte_for_byte(
    store: Store, tmp_path: Path, published: tuple[Config, str, str]
) -> None:
    _, _source, output = published
    local = _config(sources=[str(tmp_path / "corpus")], output=str(tmp_path / "local"))
    aggregator.build(local, now=NOW)
    expected = _files(tmp_path / "local")
    assert "topics/robots.rss" in expected and "index.html" in expected
    assert store.objects(output) == expected
    kinds = {
        "all.rss": "application/rss+xml; charset=utf-8",
        "topics/ai.atom": "application/atom+xml; charset=utf-8",
        "topics/robots.json": "application/feed+json; charset=utf-8",
        "feeds.opml": "text/x-opml; charset=utf-8",
        "index.html": "text/html; charset=utf-8",
    }
    for key, kind in kinds.items():
        head = store.head(f"{output}/{key}")
        assert (head["ContentType"], head["CacheControl"]) == (kind, "public, max-age=300")


def test_the_cache_control_is_configurable(store: Store, tmp_path: Path) -> None:
    os.chdir(tmp_path)
    source, output = f"{store.bucket('articles')}/in", store.bucket("feeds")
    write_article(tmp_path / "corpus", "a.md")
    _upload(store, tmp_path / "corpus", source)
    config = _config(
        sources=[f"s3://{source}"],
        output=f"s3://{output}",
        output_cache_control="public, max-age=60, stale-while-revalidate=600",
    )
    aggregator.build(config, now=NOW)
    head = store.head(f"{output}/all.json")
    assert head["CacheControl"] == "public, max-age=60, stale-while-revalidate=600"
    # A new setting reaches the objects already there, their bytes unchanged.
    aggregator.build(replace(config, output_cache_control="no-store"), now=NOW)
    assert store.head(f"{output}/all.json")["CacheControl"] == "no-store"
    assert store.head(f"{output}/index.html")["CacheControl"] == "no-store"


@pytest.mark.e2e
def test_an_unchanged_bucket_costs_one_listing_and_no_upload(
    store: Store, published: tuple[Config, str, str], calls: Calls
) -> None:
    config, source, _output = published
    aggregator.build(config, now=NOW)
    assert [name for name, _ in calls.seen] == ["list_objects_v2"]
    assert calls.of("list_objects_v2") == [f"{source}/"]


@pytest.mark.e2e
def test_one_changed_article_downloads_it_and_uploads_only_the_feeds_it_changed(
    store: Store, tmp_path: Path, published: tuple[Config, str, str], calls: Calls
) -> None:
    config, source, output = published
    before = store.objects(output)
    write_article(tmp_path / "corpus" / "ai", "story-3.md", n=3, title="A new title", topics=["AI"])
    _upload(store, tmp_path / "corpus", source)
    calls.seen.clear()
    report = aggregator.build(config, now=NOW)
    assert calls.of("get_object") == [f"{source}/ai/story-3.md"]
    uploaded = [where.split("/", 2)[2] for where in calls.of("put_object")]
    after = store.objects(output)
    changed = {key for key in after if after[key] != before[key]}
    assert set(uploaded) == changed
    assert {"topics/ai.rss", "all.rss"} <= changed
    assert not any(key.startswith("topics/robots") for key in uploaded)
    assert uploaded == sorted(uploaded, key=rank)  # topic feeds, all, index, OPML
    assert report.errors == ()


def test_uploads_land_topic_feeds_first_then_all_then_index_and_opml(
    store: Store, tmp_path: Path, calls: Calls
) -> None:
    os.chdir(tmp_path)
    source, output = f"{store.bucket('articles')}/in", store.bucket("feeds")
    _write_corpus(tmp_path / "corpus")
    _upload(store, tmp_path / "corpus", source)
    calls.seen.clear()
    aggregator.build(_config(sources=[f"s3://{source}"], output=f"s3://{output}"), now=NOW)
    keys = [where.split("/", 2)[2] for where in calls.of("put_object")]
    formats = ("atom", "json", "rss")
    assert keys[:6] == [f"topics/{t}.{f}" for t in ("ai", "robots") for f in formats]
    assert keys[6:9] == ["all.atom", "all.json", "all.rss"]
    assert keys[9] == "index.html"
    assert sorted(keys[10:]) == ["atom.opml", "feeds.opml", "json.opml", "rss.opml"]


@pytest.mark.e2e
def test_a_deleted_object_leaves_the_feeds(
    store: Store, published: tuple[Config, str, str], calls: Calls
) -> None:
    config, source, output = published
    store.fs.rm_file(f"{source}/robots/story-2.md")
    aggregator.build(config, now=NOW)
    assert calls.of("get_object") == []
    feed = store.objects(output)["topics/robots.json"].decode()
    assert "story-2" not in feed and "story-4" in feed


@pytest.mark.e2e
def test_a_bucket_that_refuses_writes_keeps_the_old_feeds_and_the_next_run_retries(
    store: Store, tmp_path: Path, published: tuple[Config, str, str]
) -> None:
    config, source, output = published
    before = store.objects(output)
    write_article(tmp_path / "corpus" / "ai", "story-5.md", n=5, title="Changed", topics=["AI"])
    _upload(store, tmp_path / "corpus", source)
    read_only = aggregator.load_config(
        None,
        links="off",
        sources=[f"s3://{source}"],
        output=f"s3://{output}",
        storage_options={"s3": {"key": READER[0], "secret": READER[1]}},
    )
    with pytest.raises(StorageError) as refused:
        aggregator.build(read_only, now=NOW)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"s3://{output}/topics/ai.")
    assert "upload failed" in message and "retried at the next run" in message
    assert store.objects(output) == before  # the old feeds still serve
    aggregator.build(config, now=NOW)  # writable again: what failed lands now
    after = store.objects(output)
    assert after != before
    assert after == _files(config.output)
    assert b"Changed" in after["topics/ai.rss"]


class Hub(ThreadingHTTPServer):
    """A WebSub hub on 127.0.0.1: answers 204 to every POST, recording its `hub.url`."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), HubHandler)
        self.told: list[str] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hub"

    def heard(self) -> list[str]:
        with self.lock:
            told, self.told = self.told, []
        return told


class HubHandler(BaseHTTPRequestHandler):
    server: Hub

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        form = parse_qs(self.rfile.read(length).decode("ascii"))
        with self.server.lock:
            self.server.told += form.get("hub.url", [])
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def hub() -> Iterator[Hub]:
    server = Hub()
    with answering(server):
        yield server


@pytest.mark.e2e
def test_feeds_whose_upload_failed_are_announced_after_the_upload_that_lands_them(
    store: Store, tmp_path: Path, hub: Hub
) -> None:
    os.chdir(tmp_path)
    source, output = f"{store.bucket('articles')}/in", store.bucket("feeds")
    _write_corpus(tmp_path / "corpus")
    _upload(store, tmp_path / "corpus", source)
    settings: dict[str, Any] = {
        "sources": [f"s3://{source}"],
        "output": f"s3://{output}",
        "base_url": "https://feeds.example.org/",
        "websub": {"hub": hub.url},
    }
    config = _config(**settings)
    aggregator.build(config, now=NOW)
    assert "https://feeds.example.org/all.rss" in hub.heard()
    write_article(tmp_path / "corpus" / "ai", "story-5.md", n=5, title="Changed", topics=["AI"])
    _upload(store, tmp_path / "corpus", source)
    read_only = _config(**settings, storage_options={"s3": {"key": READER[0], "secret": READER[1]}})
    with pytest.raises(StorageError):
        aggregator.build(read_only, now=NOW)
    assert hub.heard() == []  # nothing new is served: the hub hears nothing
    with pytest.raises(StorageError):
        aggregator.build(read_only, now=NOW)  # still refused: still nothing
    assert hub.heard() == []
    report = aggregator.build(config, now=NOW)  # writable again: the feeds land
    assert not any(f.changed for f in report.feeds)  # this build changed nothing more
    announced = hub.heard()
    assert {
        "https://feeds.example.org/topics/ai.rss",
        "https://feeds.example.org/all.atom",
    } <= set(announced)
    assert not any("robots" in url for url in announced)  # unchanged: not announced
    assert b"Changed" in store.objects(output)["topics/ai.rss"]
    aggregator.build(config, now=NOW)
    assert hub.heard() == []  # announced once


def test_an_invalid_article_in_a_bucket_is_reported_by_its_url(
    store: Store, published: tuple[Config, str, str]
) -> None:
    config, source, _output = published
    store.fs.pipe_file(f"{source}/ai/broken.md", b"---\ntitle: no link\n---\n")
    report = aggregator.build(config, now=NOW)
    assert [str(e).split(":", 2)[:2] for e in report.errors] == [["s3", f"//{source}/ai/broken.md"]]
    assert str(report.errors[0]).startswith(f"s3://{source}/ai/broken.md:")
    checked = aggregator.validate(config)
    assert [e.path for e in checked.errors] == [f"s3://{source}/ai/broken.md"]


def test_a_missing_bucket_is_one_storage_error(store: Store, tmp_path: Path) -> None:
    os.chdir(tmp_path)
    config = _config(sources=["s3://no-such-bucket-here/in"], output="feeds")
    with pytest.raises(StorageError, match=r"^s3://no-such-bucket-here/in: cannot list: "):
        aggregator.build(config, now=NOW)


def test_config_reads_bucket_urls_beside_folders(tmp_path: Path) -> None:
    (tmp_path / "aggregator.yaml").write_text(
        "sources: [articles, 's3://bucket/in/']\n"
        "output: s3://site/feeds\n"
        "storage_options: {s3: {endpoint_url: 'http://127.0.0.1:9000'}}\n",
        encoding="utf-8",
    )
    config = aggregator.load_config(tmp_path / "aggregator.yaml")
    assert config.sources == (tmp_path / "articles",)
    assert config.remote_sources == ("s3://bucket/in",)
    assert config.remote_output == "s3://site/feeds"
    assert config.output.parent == tmp_path / ".aggregator"
    assert config.storage_options["s3"]["endpoint_url"] == "http://127.0.0.1:9000"
    # Credentials and the upload's target are no part of what the feeds' bytes depend on.
    assert "9000" not in config.output_key()
    with pytest.raises(ConfigError, match="storage_options"):
        aggregator.load_config(None, storage_options={"s3": "key"})
    with pytest.raises(ConfigError, match="names no bucket"):
        aggregator.load_config(None, output="s3://")


def test_local_folders_need_no_fsspec(tmp_path: Path) -> None:
    """A config of local folders builds with fsspec and s3fs absent."""
    write_article(tmp_path / "seeds", "a.md")
    script = (
        "import sys; sys.modules['fsspec'] = None; sys.modules['s3fs'] = None\n"
        "import aggregator\n"
        "from datetime import datetime, UTC\n"
        "report = aggregator.build(aggregator.load_config(None, links='off'),"
        " now=datetime(2026, 11, 21, tzinfo=UTC))\n"
        "assert report.loaded == 1, report\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "feeds" / "all.rss").is_file()


@pytest.mark.e2e
def test_the_command_builds_bucket_to_bucket_and_says_a_refused_upload_in_one_line(
    store: Store, tmp_path: Path
) -> None:
    source, output = f"{store.bucket('articles')}/in", store.bucket("feeds")
    _write_corpus(tmp_path / "corpus")
    _upload(store, tmp_path / "corpus", source)
    done = run_cli(
        "build", "--source", f"s3://{source}", "--output", f"s3://{output}", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert store.objects(output) == _files(next((tmp_path / ".aggregator").glob("s3-*")))
    write_article(tmp_path / "corpus" / "ai", "story-1.md", n=1, title="Changed", topics=["AI"])
    _upload(store, tmp_path / "corpus", source)
    (tmp_path / "aggregator.yaml").write_text(
        f"sources: s3://{source}\noutput: s3://{output}\n"
        f"storage_options: {{s3: {{key: {READER[0]}, secret: {READER[1]}}}}}\n",
        encoding="utf-8",
    )
    refused = run_cli("build", cwd=tmp_path)
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"aggregator: error: s3://{output}/topics/ai.")
    assert refused.stderr.count("\n") == 1, refused.stderr


@pytest.mark.e2e
def test_machines_taking_turns_leave_the_bucket_as_one_machine_would(
    store: Store, tmp_path: Path
) -> None:
    """Machine A publishes, machine B (its own staging folder and state) publishes a
    new topic, then A leads again (its record of the bucket forgotten, as a daemon that
    becomes leader does) and the story goes: the bucket ends as one folder built through
    the same three corpora ends, the topic B added retired, not left with its story."""
    from aggregator.objectstore import upload

    output = store.bucket("feeds")
    corpus = tmp_path / "corpus"
    _write_corpus(corpus)
    bucket = _config(sources=[str(corpus)], output=f"s3://{output}")
    # Each machine's staging folder (and the state beside it) is its own.
    machines = [replace(bucket, output=tmp_path / name / "staging") for name in ("a", "b")]
    local = _config(sources=[str(corpus)], output=str(tmp_path / "local"))
    space = write_article(corpus, "space.md", n=9, topics=["Space"])
    space.unlink()
    steps = [
        (machines[0], None),
        (machines[1], lambda: write_article(corpus, "space.md", n=9, topics=["Space"])),
        (machines[0], space.unlink),
    ]
    for number, (machine, change) in enumerate(steps):
        if change is not None:
            change()
        when = NOW + timedelta(minutes=number)
        if number == 2:
            upload.forget(machine)  # A becomes leader again
        aggregator.build(machine, now=when)
        aggregator.build(local, now=when)
    expected = _files(tmp_path / "local")
    assert "topics/space.rss" in expected  # retired: a valid feed with no entries
    assert store.objects(output) == expected


def test_a_store_url_with_credentials_is_refused_without_showing_them() -> None:
    with pytest.raises(ConfigError) as caught:
        _config(output="s3://key:s3cret@bucket/feeds")
    assert "s3cret" not in str(caught.value) and "user name or password" in str(caught.value)


@pytest.mark.e2e
def test_a_daemon_that_lost_the_lead_publishes_nothing(
    store: Store, tmp_path: Path, published: tuple[Config, str, str]
) -> None:
    config, source, output = published
    before = store.objects(output)
    write_article(tmp_path / "more", "late.md", n=9, topics=["AI"])
    _upload(store, tmp_path / "more", source)
    with pytest.raises(aggregator.LeadLost):
        aggregator.build(config, now=NOW, leading=lambda: False)
    assert store.objects(output) == before
    aggregator.build(config, now=NOW, leading=lambda: True)  # leading again: it lands
    assert store.objects(output) != before


@pytest.mark.e2e
def test_an_object_that_is_also_a_folder_is_reported_and_the_rest_published(
    store: Store, tmp_path: Path
) -> None:
    os.chdir(tmp_path)
    source, output = f"{store.bucket('articles')}/in", store.bucket("feeds")
    write_article(tmp_path / "corpus", "a.md", n=1)
    write_article(tmp_path / "corpus" / "b.md", "c.md", n=2)  # the key b.md/c.md
    _upload(store, tmp_path / "corpus", source)
    store.fs.pipe_file(f"{source}/b.md", (tmp_path / "corpus" / "a.md").read_bytes())
    config = _config(sources=[f"s3://{source}"], output=f"s3://{output}")
    report = aggregator.build(config, now=NOW)
    assert [(e.path, e.reason) for e in report.errors] == [
        (f"s3://{source}/b.md", "both an object and the folder of others: not read")
    ]
    assert report.published == 2  # a.md and b.md/c.md


@pytest.mark.e2e
def test_a_follower_keeps_its_mirror_of_the_sources_so_it_leads_warm(
    store: Store, tmp_path: Path, pg_url: str, calls: Calls
) -> None:
    """With links off a follower reads no source for a link check: it still syncs its
    mirror each run, so that its first build as leader downloads nothing."""
    from aggregator.app.daemon import Daemon
    from aggregator.objectstore.mirror import mirror_folders
    from aggregator.state.pgstore import Leadership

    os.chdir(tmp_path)
    source, output = f"{store.bucket('articles')}/in", store.bucket("feeds")
    _write_corpus(tmp_path / "corpus")
    _upload(store, tmp_path / "corpus", source)
    config = _config(sources=[f"s3://{source}"], output=f"s3://{output}", state=pg_url)
    [mirror] = mirror_folders(config)
    other = Leadership(pg_url)
    daemon = Daemon(lambda: config, clock=lambda: NOW)
    try:
        assert other.lead()
        assert daemon.run_once() is None  # a follower: builds nothing
        assert len(_files(mirror)) == 6
        write_article(tmp_path / "late", "late.md", n=9, topics=["AI"])
        _upload(store, tmp_path / "late", source)
        calls.seen.clear()
        assert daemon.run_once() is None
        assert calls.of("get_object") == [f"{source}/late.md"]  # the new object only
        assert "late.md" in _files(mirror)
        other.close()  # the leader is gone: this daemon leads
        calls.seen.clear()
        report = daemon.run_once()
        assert report is not None and report.published == 7
        assert [w for w in calls.of("get_object") if w.startswith(source)] == []
        assert b"late" in store.objects(output)["topics/ai.rss"]
    finally:
        daemon.leadership.close()
        other.close()


@pytest.mark.e2e
def test_a_leader_that_lost_its_session_starts_its_next_term_from_the_bucket(
    store: Store, tmp_path: Path, pg_url: str
) -> None:
    """A leader whose session died, while another published, takes the lead again on a
    new session: it must not trust its own record of what it uploaded (the bucket has
    moved on), or feeds the other published stay in the bucket for good."""
    import psycopg

    from aggregator.app.daemon import Daemon

    source, output = f"{store.bucket('articles')}/in", store.bucket("feeds")
    _write_corpus(tmp_path / "corpus")
    _upload(store, tmp_path / "corpus", source)
    settings = {"sources": [f"s3://{source}"], "output": f"s3://{output}", "state": pg_url}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    os.chdir(tmp_path / "a")
    config = _config(**settings)
    daemon = Daemon(lambda: config, clock=lambda: NOW)
    try:
        assert daemon.run_once() is not None  # it leads and publishes
        # Its session dies (a network cut, a database restart) ...
        with psycopg.connect(pg_url, autocommit=True) as db:
            killed = db.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name LIKE "
                "'aggregator leader %%' AND pg_terminate_backend(pid)"
            ).fetchall()
            assert killed
            while db.execute(
                "SELECT 1 FROM pg_stat_activity WHERE pid = ANY(%s)", ([p for (p,) in killed],)
            ).fetchone():
                time.sleep(0.01)
        # ... and meanwhile another machine publishes a new article, since taken back.
        write_article(tmp_path / "late", "late.md", n=9, topics=["AI"], title="A late story")
        _upload(store, tmp_path / "late", source)
        os.chdir(tmp_path / "b")
        assert aggregator.build(_config(**settings), now=NOW).published == 7
        assert b"A late story" in store.objects(output)["all.atom"]
        store.fs.rm_file(f"{source}/late.md")
        os.chdir(tmp_path / "a")
        report = daemon.run_once()  # the lead taken again, on a new session
        assert report is not None
        assert b"A late story" not in store.objects(output)["all.atom"]
        cold = tmp_path / "cold"
        aggregator.build(_config(sources=[str(tmp_path / "corpus")], output=str(cold)), now=NOW)
        assert store.objects(output)["all.atom"] == (cold / "all.atom").read_bytes()
    finally:
        daemon.leadership.close()
