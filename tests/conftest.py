"""Shared helpers: the project's seed files, article files written to tmp_path, the CLI."""

from __future__ import annotations

import compileall
import contextlib
import importlib.util
import ipaddress
import os
import py_compile
import signal
import socket
import socketserver
import subprocess
import sys
import threading
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from pathlib import Path
from types import FrameType
from types import ModuleType
from typing import Any

import hypothesis
import pg
import pytest
import yaml
from farm import Farm
from s3server import REQUIRE as REQUIRE_S3
from s3server import S3Server
from s3server import running

import aggregator

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
OFFLINE = Path(__file__).resolve().parent / "offline"
#: the 192 real files beside the project; absent for a user who clones the project alone
CORPUS = ROOT.parent / "shared" / "corpus" / "power-apps"
# Property tests assert properties, never speed: Hypothesis's default deadline (200 ms an
# example) fails them at random on a loaded machine, so no example has one.
hypothesis.settings.register_profile("aggregator", deadline=None)
hypothesis.settings.load_profile("aggregator")
#: a fixed clock for builds in tests
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)

#: the test being set up or run (set before its fixtures, so theirs count too)
_current: list[pytest.Item] = []


#: fixtures that start a server of their own (PostgreSQL, an S3 gateway): a test that
#: uses one is end-to-end, whatever its module says
_SERVERS = frozenset({"pg_server", "s3server"})


#: whether a SIGTERM came (see `pytest_configure`)
_terminated: list[int] = []


def pytest_configure(config: pytest.Config) -> None:
    # A session ended by SIGTERM (`timeout`, `kill`, a CI job's time limit) unwinds as
    # one stopped by Ctrl-C does: the servers it started (PostgreSQL, the S3 gateway,
    # daemons) are stopped by their fixtures, not left running with their folders; then
    # it ends by the signal, as its default would have (`pytest_unconfigure`). A second
    # SIGTERM does not cut that short. (A handler is not inherited across exec: the
    # commands the tests start keep the default.)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(number: int, frame: FrameType | None) -> None:
    if not _terminated:
        _terminated.append(number)
        raise KeyboardInterrupt(f"stopped by signal {number} (SIGTERM)")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _terminated and threading.current_thread() is threading.main_thread():
        sys.stdout.flush()  # (what a signal's end would not write)
        sys.stderr.flush()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)


def pytest_sessionstart(session: pytest.Session) -> None:
    # The tests start the `aggregator` command as a process of its own hundreds of times,
    # and builds start worker processes: where bytecode is not written
    # (PYTHONDONTWRITEBYTECODE, as on a CI machine), each would compile the modules it
    # imports again (a few tenths of a second each). The package is compiled once here,
    # as pip compiles one it installs (best effort: a folder that cannot be written is
    # left as it is). Checked against a hash of the source at each import, not its mtime
    # and size: a file saved as it is compiled would otherwise leave its old code under
    # its new mtime, taken as current by every later import.
    if sys.dont_write_bytecode:
        compileall.compile_dir(
            Path(aggregator.__file__).parent,
            quiet=2,
            invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
        )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec is not None and "postgresql" in callspec.params.values()
        if backend or _SERVERS.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


def pytest_runtest_setup(item: pytest.Item) -> None:
    _current[:] = [item]


def pytest_runtest_teardown(item: pytest.Item) -> None:
    _current[:] = [item]


def require_e2e(what: str) -> None:
    """Fail a test not marked `e2e` that starts `what`: the fast tier
    (`pytest -m "not e2e"`) must never start the real command."""
    if _current and _current[0].get_closest_marker("e2e") is None:
        pytest.fail(f"{_current[0].nodeid} starts {what}: mark it @pytest.mark.e2e")


def article_fields(**overrides: Any) -> dict[str, Any]:
    """A valid article mapping in the seed format; keyword arguments replace fields
    (a value of None removes the field)."""
    number = overrides.pop("n", 1)
    fields: dict[str, Any] = {
        "category": "news",
        "title": f"Story number {number}",
        "excerpt": f"The excerpt of story {number}.",
        "publishedDateTime": datetime(2021, 3, number % 28 + 1, 12, 0, tzinfo=UTC),
        "webUrl": f"https://news.example.com/story-{number}",
        "type": "article",
        "quality": 80,
        "heat": -1,
        "published": True,
        "provider": {"name": "Example News", "domain": "example.com"},
        "topics": ["AI"],
        "images": [
            {
                "url": f"https://img.example.com/{number}.jpg",
                "width": 800,
                "height": 450,
                "isCached": True,
            }
        ],
        "secured": "opaque-blob",
    }
    for key, value in overrides.items():
        if value is None:
            fields.pop(key, None)
        else:
            fields[key] = value
    return fields


def front_matter(fields: dict[str, Any], body: str = "") -> str:
    return "---\n" + yaml.safe_dump(fields, sort_keys=False, allow_unicode=True) + "---\n" + body


def write_article(folder: Path, name: str, **overrides: Any) -> Path:
    """Write a valid article file (see `article_fields`) and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(front_matter(article_fields(**overrides)), encoding="utf-8")
    return path


def bench_module(name: str) -> ModuleType:
    """`bench/NAME.py` as a module (the benchmarks are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def files_read(monkeypatch: pytest.MonkeyPatch, name: str) -> list[str]:
    """The names of the files `aggregator.sources.parsecache.<name>` (`load_file_digest`:
    parsed; `file_digest`: read and hashed) is called with from now on."""
    from aggregator.sources import parsecache

    seen: list[str] = []
    real = getattr(parsecache, name)

    def counted(path: str | Path, limits: Any) -> Any:
        seen.append(Path(path).name)
        return real(path, limits)

    monkeypatch.setattr(parsecache, name, counted)
    return seen


def run_cli(
    *args: str | Path,
    cwd: Path | None = None,
    hosts: dict[str, str] | None = None,
    exact: bool = False,
    wrapper: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """Run the real `aggregator` command (as `python -m aggregator`) in a subprocess
    (through the command `wrapper`, when given: `setpriv ...`).

    Tests never reach the network: a `build` runs with `--links off` unless the test
    passes `--links` itself (and then checks links on 127.0.0.x only), or asks for
    the `exact` words (no link can answer anyway). `hosts` maps names to the address
    the subprocess resolves them to, as a hosts file would (`"*"`: every other name);
    other names do not resolve.
    """
    require_e2e("the real aggregator command")
    words = [str(a) for a in args]
    if words[:1] == ["build"] and "--links" not in words and not exact:
        words += ["--links", "off"]
    # tests/offline/sitecustomize.py makes name lookups fail in the subprocess too.
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(OFFLINE), env.get("PYTHONPATH", "")) if p)
    env["AGGREGATOR_TEST_HOSTS"] = ",".join(f"{k}={v}" for k, v in (hosts or {}).items())
    return subprocess.run(
        [*wrapper, sys.executable, "-m", "aggregator", *words],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test resolves a name through the machine's DNS: tests never reach the network.

    Names other than IP literals and `localhost` fail as they do on a machine without
    network; a link check in a test process therefore sees every host as unreachable.
    """
    real = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is None or name == "localhost" or _is_ip(str(name)):
            return real(host, *args, **kwargs)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known (tests are offline)")

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]").split("%")[0])
    except ValueError:
        return False
    return True


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_cli


@pytest.fixture
def helper() -> Iterator[Any]:
    """A `loader.Helper` of its own (its process started by its first map), ended after."""
    from aggregator.sources.loader import Helper

    kept = Helper()
    try:
        yield kept
    finally:
        kept.close()


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"the power-apps corpus is not beside the project ({CORPUS} is absent)")
    return CORPUS


#: the corpora tests build feeds from: the seeds, the real power-apps files (beside the
#: project, absent for a user who cloned it) and a generated corpus of edge cases
CORPORA = ("seeds", "varied", "power-apps")


def corpus_source(name: str, tmp_path: Path) -> Path:
    """The folder of one of CORPORA (the varied one written into `tmp_path`); skips
    the test when the power-apps corpus is absent."""
    if name == "varied":
        write_varied_corpus(tmp_path / "varied")
        return tmp_path / "varied"
    source = {"seeds": SEEDS, "power-apps": CORPUS}[name]
    if not source.is_dir():
        pytest.skip(f"the {name} corpus is not beside the project ({source} is absent)")
    return source


def write_varied_corpus(folder: Path) -> int:
    """Article files that exercise the corners of the format; returns how many.

    Every one is valid: odd titles, URLs that need escaping, missing optional
    fields, symbol and non-ASCII topics, shared timestamps, offsets and videos.
    """
    same_time = datetime(2022, 2, 2, 8, 0, tzinfo=UTC)
    variants: list[dict[str, Any]] = [
        {"title": 'Q&A: "quotes", <angle> brackets & ampersands', "topics": ["C++", "AI"]},
        {"title": "Entities &amp; &eacute;t&eacute; &#8217;s", "topics": ["C#"]},
        {"title": "Mojibake: Baltimoreâ€™s bad idea", "topics": ["C"]},
        {"title": "Emoji 🚀 and RTL \u200fعربي\u200f text", "topics": ["Künstliche Intelligenz"]},
        {"title": "No image, no provider", "images": None, "provider": None},
        {
            "title": "Image URL with spaces and ünïcode",
            "images": [{"url": "https://img.example.com/a b/ü.jpg", "width": 10, "height": 10}],
        },
        {"title": "Image without extension", "images": [{"url": "https://img.example.com/p?id=1"}]},
        {"title": "Provider with a name only", "provider": {"name": "Solo"}},
        {
            "title": "Provider with a bad domain",
            "provider": {"name": "X", "domain": "not a/<domain>"},
        },
        {
            "title": "A video with only an originalUrl",
            "type": "video",
            "webUrl": None,
            "originalUrl": "https://youtube.com/watch?v=abc&t=1",
            "featuredContent": '<iframe src="https://www.youtube.com/embed/abc"></iframe>',
        },
        {"title": "Empty excerpt", "excerpt": ""},
        {"title": "Long excerpt", "excerpt": "word " * 1500},
        {
            "title": "Related stubs of every shape",
            "related": [
                {"title": "Bare stub", "webUrl": "https://other.example.com/bare"},
                {"title": "Self link", "webUrl": "https://news.example.com/story-13"},
                {
                    "title": "Full stub",
                    "webUrl": "https://other.example.com/full?a=1&b=2",
                    "publishedDateTime": "2022-01-01T00:00:00Z",
                    "provider": {"name": "Other & Sons", "domain": "other.example.com"},
                },
            ],
        },
        {"title": "Topic names at the edge", "topics": ["x" * 200, "+++", "人工知能", "ai"]},
        {"title": "Naive date", "publishedDateTime": datetime(2022, 1, 1, 10, 0)},
        {"title": "Offset date", "publishedDateTime": "2022-01-01T10:00:00+05:30"},
        {"title": "Date only", "publishedDateTime": "2022-01-03"},
        {"title": "Same time one", "publishedDateTime": same_time},
        {"title": "Same time two", "publishedDateTime": same_time},
        {"title": "No quality", "quality": None},
        {"title": "IDN host and unicode path", "webUrl": "https://bücher.example/straße?q=ä&x=%"},
        {"title": "A port", "webUrl": "https://news.example.com:8443/story"},
    ]
    for number, variant in enumerate(variants, start=1):
        fields = article_fields(n=number, **variant)
        (folder / f"{number:02}.md").parent.mkdir(parents=True, exist_ok=True)
        (folder / f"{number:02}.md").write_text(front_matter(fields), encoding="utf-8")
    return len(variants)


@contextlib.contextmanager
def answering(server: socketserver.BaseServer) -> Iterator[None]:
    """`server` answering requests on a thread of its own within the block; shut down
    and closed after it."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def farm() -> Iterator[Farm]:
    """Three real HTTP servers on 127.0.0.2-4 (tests/farm.py), closed after the test."""
    servers = Farm(hosts=3)
    yield servers
    servers.close()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[pg.Server]:
    """A PostgreSQL server of this session's own (tests/pg.py); skips when none can run."""
    with pg.server() as running:
        yield running


@pytest.fixture(scope="session")
def s3server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """An S3-compatible server of this session's own (SeaweedFS: tests/s3server.py);
    skips when none can run, fails instead with AGGREGATOR_REQUIRE_S3 set."""
    with running(tmp_path_factory.mktemp("s3server")) as server:
        if isinstance(server, str):
            if os.environ.get(REQUIRE_S3):
                pytest.fail(f"{REQUIRE_S3} is set, but {server}")
            pytest.skip(server)
        yield server


@pytest.fixture
def pg_url(pg_server: pg.Server) -> Iterator[str]:
    """The URL of a new empty database on the session's server, dropped after the test."""
    name = pg_server.create()
    yield pg_server.url(name)
    pg_server.drop(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def state_at(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a test's state lives, once per backend: a SQLite file, a PostgreSQL URL."""
    if request.param == "sqlite":
        return tmp_path / "state" / "aggregator.sqlite"
    url: str = request.getfixturevalue("pg_url")
    return url
