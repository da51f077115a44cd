"""A store that stops answering fails the run in one line once one call has taken
`storage_timeout`, instead of blocking it: a server on 127.0.0.1 that accepts every
connection and never says a word (as a stopped SeaweedFS does). Without the bound, an
upload waited forever for the server's `100 Continue`, and a listing took the socket
timeout again at every one of the retries of s3fs and botocore."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_cli
from conftest import write_article
from s3server import REQUIRE

import aggregator
from aggregator.errors import StorageError
from aggregator.objectstore import upload

#: seconds a call may block before the test calls it a hang: a guard, not a measure
GUARD = 120.0


@pytest.fixture
def hung(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The endpoint of a server that takes connections and answers nothing, set as the
    S3 endpoint of this process and of the commands it runs."""
    try:
        import s3fs  # noqa: F401
    except ImportError:
        if os.environ.get(REQUIRE):
            pytest.fail(f"{REQUIRE} is set, but s3fs is not installed")
        pytest.skip("s3fs is not installed (pip install 'aggregator[s3]')")
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.05)  # so that the thread sees `stop`: a close does not wake accept
    held: list[socket.socket] = []
    stop = threading.Event()

    def take() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            held.append(connection)  # read nothing, answer nothing, keep it open

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.getsockname()[1]}"
    environment = {
        "AWS_ACCESS_KEY_ID": "key",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    try:
        yield endpoint
    finally:
        stop.set()
        thread.join()
        server.close()
        for connection in held:
            connection.close()


def test_an_upload_to_a_store_that_never_answers_fails_after_the_timeout(
    hung: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    # Its own endpoint: fsspec keeps one filesystem per set of options, and another
    # test's may have been made with the same ones.
    config = aggregator.load_config(
        None,
        output="s3://bucket/feeds",
        storage_timeout="1s",
        storage_options={"s3": {"endpoint_url": hung}},
    )
    (config.output / "topics").mkdir(parents=True)
    (config.output / "topics" / "ai.rss").write_bytes(b"<rss/>")
    failed: list[BaseException] = []

    def publish() -> None:
        try:
            upload.publish(config)
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=publish, daemon=True)
    thread.start()
    thread.join(GUARD)
    assert not thread.is_alive(), "the upload still waits for the store"
    assert len(failed) == 1 and isinstance(failed[0], StorageError)
    assert str(failed[0]) == (
        "s3://bucket/feeds/topics/ai.rss: upload failed: no answer within 1 s "
        "(storage_timeout); the objects published before stay, retried at the next run"
    )
    assert not upload.manifest_path(config).exists()  # nothing recorded as landed


@pytest.mark.e2e
def test_a_build_from_a_store_that_never_answers_says_so_in_one_line(
    hung: str, tmp_path: Path
) -> None:
    write_article(tmp_path / "local", "a.md")
    (tmp_path / "aggregator.yaml").write_text(
        "sources: [local, 's3://bucket/articles']\nstorage_timeout: 1s\n", encoding="utf-8"
    )
    result = run_cli("build", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "aggregator: error: s3://bucket/articles: cannot list: no answer within 1 s "
        "(storage_timeout)"
    ]
    assert not list((tmp_path / "feeds").glob("**/*.*"))  # no feed written


def test_the_timeout_is_a_duration_and_the_default_is_two_minutes() -> None:
    assert aggregator.load_config(None).storage_timeout.total_seconds() == 120
    assert aggregator.load_config(None, storage_timeout="90s").storage_timeout.seconds == 90
    with pytest.raises(aggregator.ConfigError, match="storage_timeout"):
        aggregator.load_config(None, storage_timeout="soon")
    with pytest.raises(aggregator.ConfigError, match="storage_timeout"):
        aggregator.load_config(None, storage_timeout="2d")
