"""A throwaway PostgreSQL server for the tests, started from packages: pgserver's
binaries (PyPI) when it is installed, else the machine's `initdb` and `pg_ctl`
(Debian's `postgresql`). Each pytest session starts its own server in a fresh
temporary folder, listening on a Unix socket there only (no TCP port to collide with
a second copy of the suite), and each test gets a database of its own.

Without either, the tests that need it skip, saying why; with AGGREGATOR_REQUIRE_PG
set (CI does) they fail instead, so that CI never passes by skipping them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from reaper import guarded

#: set (to anything) to make a missing PostgreSQL a failure, not a skip
REQUIRE = "AGGREGATOR_REQUIRE_PG"
#: who runs the server when the tests run as root (PostgreSQL refuses root)
UNPRIVILEGED = "nobody"


def binaries() -> Path | None:
    """The folder of `initdb`, `pg_ctl` and `postgres`: pgserver's (found without
    importing it: its import has side effects), else the machine's; None if neither."""
    spec = importlib.util.find_spec("pgserver")
    if spec is not None and spec.origin:
        folder = Path(spec.origin).parent / "pginstall" / "bin"
        if (folder / "initdb").is_file():
            return folder
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl", path=str(Path(found).resolve().parent)):
        return Path(found).resolve().parent
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / "initdb").is_file():
            return folder
    return None


class Server:
    """A running server: `url(database)` reaches it; `create()` makes a database."""

    def __init__(self, root: Path, socket: Path) -> None:
        self.root = root
        self.socket = socket

    def url(self, database: str = "postgres", password: str | None = None) -> str:
        user = "postgres" + (f":{password}" if password else "")
        return f"postgresql://{user}@/{database}?host={self.socket}"

    def admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def create(self) -> str:
        """A new empty database; its name."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        self.admin(f"CREATE DATABASE {name}")
        return name

    def drop(self, name: str) -> None:
        self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _run(command: list[str], user: str | None) -> None:
    done = subprocess.run(
        command, user=user, capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")


def _runnable(folder: Path, user: str | None) -> bool:
    try:
        _run([str(folder / "postgres"), "--version"], user)
    except (OSError, RuntimeError, subprocess.SubprocessError):
        return False
    return True


@contextlib.contextmanager
def server() -> Iterator[Server]:
    """Start a server (skipping the test when none can be), stop and delete it after."""
    folder = binaries()
    if folder is None:
        reason = (
            "no PostgreSQL to test against: pip install pgserver (in the test extra), "
            "or apt-get install postgresql"
        )
        if os.environ.get(REQUIRE):
            pytest.fail(f"{REQUIRE} is set, but {reason}")
        pytest.skip(reason)
    user = UNPRIVILEGED if os.geteuid() == 0 else None
    # Under /tmp (short enough for a socket path, and reachable by `nobody`).
    root = Path(tempfile.mkdtemp(prefix="aggregator-pg-"))
    try:
        if user is not None:
            os.chown(root, *_ids(user))
            if not _runnable(folder, user):  # e.g. a virtualenv under /root
                folder = _copy(folder, root / "pkg")
        data = root / "data"
        _run([str(folder / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
              "--encoding=UTF8", "--no-locale", "--no-sync"], user)  # fmt: skip
        options = (
            f"-k {root} -c listen_addresses='' -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=200"
        )
        _run([str(folder / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w",
              "-t", "60", "-o", options, "start"], user)  # fmt: skip
        postmaster = int((data / "postmaster.pid").read_text().split()[0])
        # Stopped (SIGQUIT: an immediate shutdown) and deleted should this process end
        # without the lines below (reaper.py).
        with guarded([(postmaster, signal.SIGQUIT)], [root]):
            try:
                yield Server(root, root)
            finally:
                with contextlib.suppress(RuntimeError, subprocess.SubprocessError):
                    _run([str(folder / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w",
                          "stop"], user)  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _copy(folder: Path, target: Path) -> Path:
    """A copy of pgserver's install (`<site>/pgserver/pginstall/bin`) where anyone can
    run it, with the shared libraries its binaries find at `$ORIGIN/../../../pgserver.libs`."""
    install, package = folder.parent, folder.parent.parent
    shutil.copytree(install, target / package.name / install.name, symlinks=True)
    libs = package.parent / f"{package.name}.libs"
    if libs.is_dir():
        shutil.copytree(libs, target / libs.name, symlinks=True)
    return target / package.name / install.name / folder.name


def _ids(user: str) -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid
