"""`import aggregator` as a library: its public names, `load_config` with overrides,
and `build` as the CLI runs it (the output lock, the hub ping) with the clock and the
HTTP session a caller passes. The site and the hub are one real HTTP server on
127.0.0.1; the README's "Library" example is run as a user would run it."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import sys
import threading
import time
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import feedparser
import pytest
import requests
from conftest import ROOT
from conftest import SEEDS
from conftest import answering
from conftest import write_article
from requests.adapters import HTTPAdapter

import aggregator
from aggregator import DedupeSettings
from aggregator import Freshness
from aggregator import LinkCheckSettings
from aggregator.publishing.lock import OutputLock

# --- a site and a hub on 127.0.0.1 ---------------------------------------------------------


@dataclass
class Seen:
    """One request the server received."""

    method: str
    path: str
    user_agent: str
    form: dict[str, list[str]] = field(default_factory=dict)


class Handler(BaseHTTPRequestHandler):
    server: Site

    def do_HEAD(self) -> None:
        self._answer()

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        form = parse_qs(self.rfile.read(length).decode("ascii"))
        self._record(form)
        self.send_response(204)
        self.end_headers()

    def _answer(self) -> None:
        self._record({})
        if self.path.startswith("/slow"):
            time.sleep(self.server.slow)
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _record(self, form: dict[str, list[str]]) -> None:
        with self.server.lock:
            self.server.seen.append(
                Seen(self.command, self.path, self.headers.get("User-Agent", ""), form)
            )

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Site(ThreadingHTTPServer):
    """Article pages (HEAD/GET: 200; under /slow, after `slow` seconds) and a WebSub
    hub (POST /hub: 204), recording every request."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.slow = 0.0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def requests(self, method: str) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.method == method]


@pytest.fixture
def site() -> Iterator[Site]:
    server = Site()
    with answering(server):
        yield server


class Counting(HTTPAdapter):
    """A transport adapter of the caller's own: counts what it sends."""

    def __init__(self) -> None:
        super().__init__(max_retries=0)
        self.sent = 0

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        self.sent += 1
        return super().send(request, *args, **kwargs)


def own_session(agent: str = "library-test/1.0") -> tuple[requests.Session, Counting]:
    session = requests.Session()
    session.headers["User-Agent"] = agent
    adapter = Counting()
    session.mount("http://", adapter)
    return session, adapter


#: the build's clock in these tests, far from the machine's
NOW = datetime(2021, 3, 20, 12, 0, tzinfo=UTC)


def site_config(tmp_path: Path, site: Site, *, link: str = "/page", **overrides: Any) -> Any:
    """Stories 1 (published 2021-03-02), 10 (03-11) and 17 (03-18), links on `site`;
    a config that checks them (private addresses allowed), keeps ten days, and pings
    the hub on `site`."""
    for n in (1, 10, 17):
        write_article(
            tmp_path / "articles", f"{n}.md", n=n, webUrl=site.url(f"{link}/{n}"), images=None
        )
    settings: dict[str, Any] = {
        "sources": [tmp_path / "articles"],
        "output": tmp_path / "public",
        "base_url": "https://feeds.example.org/",
        "max_age": "10d",
        "link_check": {"allow_private": True},
        "websub": {"hub": site.url("/hub")},
    }
    return aggregator.load_config(None, **(settings | overrides))


# --- the public face -------------------------------------------------------------------


def test_the_public_names_are_in_all_and_import() -> None:
    wanted = {
        "build",
        "check_links",
        "load_config",
        "validate",
        "Config",
        "BuildReport",
        "FeedResult",
        "LoadError",
        "LoadWarning",
        "LinkSummary",
        "LinkResult",
        "CheckedLinks",
        "Validation",
        "AggregatorError",
        "ConfigError",
        "OutputError",
        "LockBusy",
        "StateError",
        "ServeError",
        "Cancelled",
        "Progress",
        "Phase",
        "__version__",
    }
    assert wanted <= set(aggregator.__all__)
    for name in aggregator.__all__:
        assert getattr(aggregator, name) is not None, name
    namespace: dict[str, Any] = {}
    exec("from aggregator import *", namespace)
    assert set(aggregator.__all__) <= set(namespace)


def test_each_public_name_is_its_home_module_s_and_loaded_when_first_used() -> None:
    """A worker process that parses files imports the loader, not the whole library:
    feed rendering, HTTP and the state store stay out of its memory."""
    probe = (
        "import sys, aggregator.sources.parsecache\n"
        "print(sorted(m for m in ('feedgen', 'lxml', 'requests', 'sqlite3', "
        "'aggregator.library', 'aggregator.engine.run') if m in sys.modules))"
    )
    held = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert held == "[]"
    from aggregator import config as config_module
    from aggregator import library
    from aggregator import model

    assert aggregator.build is library.build
    assert aggregator.Config is config_module.Config
    assert aggregator.BuildReport is model.BuildReport
    assert "build" in dir(aggregator)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        aggregator.nothing  # type: ignore[attr-defined]  # noqa: B018


def test_the_records_of_the_public_face_are_public() -> None:
    # What a caller reads in a report or passes in a setting is importable from here.
    seen: set[type] = set()

    def named(hint: Any) -> Iterator[type]:
        for arg in typing.get_args(hint):
            yield from named(arg)
        if isinstance(hint, type) and hint.__module__.startswith("aggregator."):
            yield hint

    records = [getattr(aggregator, n) for n in aggregator.__all__]
    todo = [r for r in records if dataclasses.is_dataclass(r)]
    while todo:
        record = todo.pop()
        seen.add(record)
        for hint in typing.get_type_hints(record).values():
            for kind in named(hint):
                if kind not in seen and dataclasses.is_dataclass(kind):
                    todo.append(kind)
    # CheckedLinks.replaced holds the engine's own article records.
    internal = {"Article", "Fingerprint", "Image", "Provider", "RelatedStub"}
    missing = {r.__name__ for r in seen} - set(aggregator.__all__) - internal
    assert not missing


def test_every_public_name_is_documented_in_the_readme_library_section() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Library\n", 1)[1].split("\n## ", 1)[0]
    missing = [n for n in aggregator.__all__ if not re.search(rf"\b{re.escape(n)}\b", section)]
    assert missing == []


def test_every_error_is_one_tree_drawn_in_errors() -> None:
    from aggregator import errors

    classes = [
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, errors.AggregatorError)
    ]
    assert len(classes) >= 10
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    tree = readme.split("**Errors.**", 1)[1].split("```", 2)[1]
    for error in classes:
        # Each one is public, drawn in the module's tree and in the README's.
        assert getattr(aggregator, error.__name__) is error
        assert error.__name__ in aggregator.__all__
        assert error.__module__ == "aggregator.errors"
        assert re.search(rf"\b{error.__name__}\b", errors.__doc__ or ""), error
        assert re.search(rf"\b{error.__name__}\b", tree), error
        assert not hasattr(error, "exit_code")  # the CLI's business
    # The old homes still give the same classes.
    from aggregator.publishing.lock import LockBusy
    from aggregator.state.store import StateError

    assert LockBusy is aggregator.LockBusy and StateError is aggregator.StateError


# --- load_config ---------------------------------------------------------------------------


def test_load_config_puts_overrides_on_the_file(tmp_path: Path) -> None:
    path = tmp_path / "aggregator.yaml"
    path.write_text("output: site\nlimit: 5\ncron: '0 * * * *'\ntitle: Mine\n", encoding="utf-8")
    config = aggregator.load_config(path)
    assert (config.output, config.limit, config.cron) == (tmp_path / "site", 5, "0 * * * *")

    config = aggregator.load_config(
        str(path), output=tmp_path / "elsewhere", links="off", interval=timedelta(hours=2)
    )
    assert config.output == tmp_path / "elsewhere"
    assert config.links == "off"
    assert (config.limit, config.title) == (5, "Mine")  # the file's, untouched
    # An interval beats the file's cron, as --interval does.
    assert (config.interval, config.cron) == (timedelta(hours=2), None)

    config = aggregator.load_config(path, sources=["a", Path("b")], max_age="30d")
    assert config.sources == (Path("a"), Path("b"))
    assert config.max_age == timedelta(days=30)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"limit": 0}, "override: limit: must be a whole number of 1 or more"),
        ({"colour": "red"}, "override: colour: unknown key"),
        ({"base_url": "ftp://x/"}, "override: base_url: "),
        ({"interval": timedelta(0)}, "override: interval: a duration must be positive"),
        ({"link_check": {"workers": "many"}}, "override: link_check: workers "),
    ],
)
def test_a_bad_override_is_a_config_error_naming_it(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(aggregator.ConfigError) as caught:
        aggregator.load_config(None, **overrides)
    assert str(caught.value).startswith(message), str(caught.value)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        # workers=0 started no thread: every link check of the build waited forever
        ({"link_check": LinkCheckSettings(workers=0)}, "override: link_check: workers "),
        ({"link_check": LinkCheckSettings(timeout=-1.0)}, "override: link_check: timeout "),  # type: ignore[arg-type]
        ({"link_check": LinkCheckSettings(ports=frozenset({0}))}, "override: link_check: ports "),
        (
            {"link_check": LinkCheckSettings(freshness=Freshness(ok=timedelta(0)))},
            "override: link_check: ttl_ok ",
        ),
        (
            {"link_check": LinkCheckSettings(freshness=Freshness(jitter=2.0))},
            "override: link_check: freshness: jitter ",
        ),
        ({"limits": aggregator.Limits(file_size=-1)}, "override: limits: file_size "),
        ({"limits": aggregator.Limits(yaml_depth=5000)}, "override: limits: yaml_depth "),
        ({"dedupe": DedupeSettings(threshold=5.0)}, "override: dedupe: threshold "),
        ({"dedupe": DedupeSettings(window=timedelta(days=99))}, "override: dedupe: window "),
        ({"feeds": [aggregator.FeedSource("ftp://x/")]}, "override: feeds: item 1: "),
        (
            {"feeds": [aggregator.FeedSource("https://x.example/", quality=10**12)]},
            "override: feeds",
        ),
    ],
)
def test_a_bad_record_override_is_a_config_error_naming_it(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(aggregator.ConfigError) as caught:
        aggregator.load_config(None, **overrides)
    assert str(caught.value).startswith(message), str(caught.value)


def test_a_good_record_override_is_taken_as_the_file_would_give_it() -> None:
    settings = LinkCheckSettings(workers=4, freshness=Freshness(ok=timedelta(days=2), jitter=0.2))
    assert aggregator.load_config(None, link_check=settings).link_check == settings
    dedupe = DedupeSettings(threshold=0.9, window=timedelta(days=2))
    assert aggregator.load_config(None, dedupe=dedupe).dedupe == dedupe
    feed = aggregator.FeedSource("https://Feeds.Example/a", topics=("AI",))
    (read,) = aggregator.load_config(None, feeds=[feed]).feeds
    assert read == aggregator.FeedSource("https://feeds.example/a", topics=("AI",))


def test_a_config_file_is_read_up_to_its_limit(tmp_path: Path) -> None:
    # Read whole before: `--config /dev/zero` read until the memory ran out, and a
    # file of a few hundred MB was parsed for minutes. The limit: 4 MiB.
    path = tmp_path / "aggregator.yaml"
    line = "# " + "x" * 1021 + "\n"
    most = 4 * 1024**2
    text = "limit: 7\n" + line * (most // len(line) - 1)
    path.write_text(text + "#" * (most - len(text)), encoding="utf-8")
    assert aggregator.load_config(path).limit == 7  # up to the limit: read
    with path.open("a", encoding="utf-8") as file:
        file.write(line)
    with pytest.raises(aggregator.ConfigError, match=r"aggregator.yaml: cannot read config: over"):
        aggregator.load_config(path)


def test_a_bad_config_file_is_a_config_error_not_a_yaml_or_os_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("output: [\n", encoding="utf-8")
    with pytest.raises(aggregator.ConfigError, match=r"broken.yaml:\d+: invalid YAML"):
        aggregator.load_config(broken)
    with pytest.raises(aggregator.ConfigError, match="cannot read config"):
        aggregator.load_config(tmp_path / "absent.yaml")


# --- build ---------------------------------------------------------------------------------


@pytest.mark.e2e
def test_build_follows_the_clock_and_session_given_and_pings_the_hub(
    tmp_path: Path, site: Site
) -> None:
    config = site_config(tmp_path, site)
    session, adapter = own_session("library-test/1.0")

    report = aggregator.build(config, now=NOW, session=session)

    # The age filter counts back from the clock given: 10 days before 2021-03-20.
    atom = feedparser.parse((tmp_path / "public" / "all.atom").read_bytes())
    assert [e.title for e in atom.entries] == ["Story number 17", "Story number 10"]
    assert [(e.path, e.code) for e in report.excluded] == [
        (str(tmp_path / "articles" / "1.md"), "max-age")
    ]
    # The feed's date is its newest entry's (to the second), not the clock's.
    assert atom.feed.updated.startswith("2021-03-18T12:00:00")

    # The links were checked with the session given: its User-Agent, its adapter.
    checked = site.requests("HEAD") + site.requests("GET")
    assert {s.path for s in checked} == {"/page/10", "/page/17"}
    assert {s.user_agent for s in checked} == {"library-test/1.0"}
    assert report.links is not None and report.links.requested == 2

    # The hub was told about every feed the build wrote, with the same session.
    pings = site.requests("POST")
    announced = {url for s in pings for url in s.form["hub.url"]}
    written = {config.base_url + f.path for f in report.feeds if f.changed}
    assert announced == written and "https://feeds.example.org/all.atom" in announced
    assert {s.path for s in pings} == {"/hub"}
    assert {s.form["hub.mode"][0] for s in pings} == {"publish"}
    assert {s.user_agent for s in pings} == {"library-test/1.0"}
    assert adapter.sent == len(checked) + len(pings)


@pytest.mark.e2e
def test_without_a_session_build_sends_the_configured_user_agent(
    tmp_path: Path, site: Site
) -> None:
    config = site_config(tmp_path, site)
    aggregator.build(config, now=NOW)
    agents = {s.user_agent for s in site.seen}
    assert agents == {config.link_check.user_agent}
    assert agents != {requests.utils.default_user_agent()}


def test_a_later_clock_ages_articles_out(tmp_path: Path, site: Site) -> None:
    config = site_config(tmp_path, site, links="off")
    aggregator.build(config, now=NOW)
    report = aggregator.build(config, now=NOW + timedelta(days=5))
    atom = feedparser.parse((tmp_path / "public" / "all.atom").read_bytes())
    assert [e.title for e in atom.entries] == ["Story number 17"]
    assert {e.code for e in report.excluded} == {"max-age"}


@pytest.mark.e2e
def test_build_waits_for_the_lock_then_raises_lock_busy(tmp_path: Path, site: Site) -> None:
    config = site_config(tmp_path, site, links="off")
    with OutputLock(config.output, wait=0):  # another writer holds the folder
        started = time.monotonic()
        with pytest.raises(aggregator.LockBusy, match="another aggregator"):
            aggregator.build(config, now=NOW, wait=0.3)
        assert time.monotonic() - started >= 0.3
    assert not (tmp_path / "public" / "all.atom").exists()
    assert site.requests("POST") == []  # nothing built, nothing announced
    aggregator.build(config, now=NOW, wait=0.3)  # released: it goes through
    assert (tmp_path / "public" / "all.atom").exists()


@pytest.mark.e2e  # another process holds the lock
def test_a_second_build_while_one_runs_is_lock_busy(tmp_path: Path, site: Site) -> None:
    config = site_config(tmp_path, site, link="/slow")
    site.slow = 1.5
    failures: list[BaseException] = []

    def first() -> None:
        try:
            aggregator.build(config, now=NOW)
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    thread = threading.Thread(target=first)
    thread.start()
    deadline = time.monotonic() + 10
    while not site.requests("HEAD") and time.monotonic() < deadline:
        time.sleep(0.02)  # the first build is checking its links: it holds the lock
    with pytest.raises(aggregator.LockBusy):
        aggregator.build(config, now=NOW, wait=0.1)
    thread.join()
    assert failures == []
    assert (tmp_path / "public" / "all.atom").exists()


@pytest.mark.e2e
def test_check_links_uses_the_session_given(tmp_path: Path, site: Site) -> None:
    config = site_config(tmp_path, site)
    session, adapter = own_session("checker-test/2.0")
    checked = aggregator.check_links(config, now=NOW, session=session)
    assert isinstance(checked, aggregator.CheckedLinks)
    assert {r.klass for r in checked.results.values()} == {"ok"}
    heads = site.requests("HEAD")
    assert {s.user_agent for s in heads} == {"checker-test/2.0"}
    assert adapter.sent == len(site.seen) == 2
    assert not (tmp_path / "public").exists()  # no feed written


def test_library_errors_are_aggregator_errors_not_bare_ones(tmp_path: Path, site: Site) -> None:
    config = site_config(tmp_path, site, links="off")
    # A missing source folder: a config error.
    gone = aggregator.load_config(None, sources=[tmp_path / "gone"], output=tmp_path / "o")
    with pytest.raises(aggregator.ConfigError, match="source folder not found"):
        aggregator.build(gone, now=NOW)
    # A state file inside the output folder would be published: refused.
    inside = aggregator.load_config(
        None, sources=[tmp_path / "articles"], output=tmp_path / "p", state=tmp_path / "p" / "s"
    )
    with pytest.raises(aggregator.ConfigError, match="state"):
        aggregator.build(inside, now=NOW)
    # A state "file" that is a folder: a state error, not sqlite3's.
    (tmp_path / "folder.sqlite").mkdir()
    bad_state = aggregator.load_config(
        None,
        sources=[tmp_path / "articles"],
        output=tmp_path / "q",
        state=tmp_path / "folder.sqlite",
        links="off",
    )
    with pytest.raises(aggregator.StateError) as state_error:
        aggregator.build(bad_state, now=NOW)
    assert state_error.value.__cause__ is not None
    # An output "folder" that is a file: an output error, not an OSError.
    (tmp_path / "file").write_text("not a folder", encoding="utf-8")
    on_file = aggregator.load_config(
        None, sources=[tmp_path / "articles"], output=tmp_path / "file", links="off"
    )
    with pytest.raises(aggregator.OutputError):
        aggregator.build(on_file, now=NOW)
    # And the good config still builds.
    assert aggregator.build(config, now=NOW).published == 2


def test_a_file_where_a_folder_must_be_is_said_so(tmp_path: Path) -> None:
    # mkdir said "File exists" for it, as if the folder were there.
    from aggregator.app.scaffold import write_scaffold

    write_article(tmp_path / "articles", "a.md")
    (tmp_path / "file").write_text("not a folder", encoding="utf-8")
    cases: list[tuple[dict[str, Any], type[aggregator.AggregatorError], str]] = [
        ({"output": tmp_path / "file"}, aggregator.OutputError, "file: output folder not"),
        ({"output": tmp_path / "file" / "out"}, aggregator.OutputError, "cannot lock"),
        ({"state": tmp_path / "file" / "s.sqlite"}, aggregator.StateError, "s.sqlite: cannot"),
    ]
    for settings, error, words in cases:
        config = aggregator.load_config(
            None, **({"sources": [tmp_path / "articles"], "links": "off"} | settings)
        )
        with pytest.raises(error) as caught:
            aggregator.build(config, now=NOW)
        assert words in str(caught.value) and str(caught.value).endswith(": Not a directory")
    with pytest.raises(aggregator.OutputError, match=r"cannot make the folder: Not a directory$"):
        write_scaffold(tmp_path / "file" / "site")


def test_validate_checks_the_configured_sources_or_the_paths_given(tmp_path: Path) -> None:
    write_article(tmp_path / "src", "good.md")
    (tmp_path / "src" / "bad.md").write_text("---\ntitle: [\n---\n", encoding="utf-8")
    config = aggregator.load_config(None, sources=[tmp_path / "src"])
    result = aggregator.validate(config)
    assert (result.checked, result.ok) == (2, False)
    assert [e.path for e in result.errors] == [str(tmp_path / "src" / "bad.md")]
    assert all(isinstance(e, aggregator.LoadError) for e in result.errors)
    assert aggregator.validate(config, [tmp_path / "src" / "good.md"]).ok


def test_validate_takes_one_path_given_alone_as_one_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A str is a sequence too: each of its characters was checked as a path of its own
    # ('s': no such file or folder, 'r': ...; an absolute path's '/': the whole disk).
    write_article(tmp_path / "src", "good.md")
    monkeypatch.chdir(tmp_path)
    config = aggregator.load_config(None)
    for path in ("src", Path("src"), "src/good.md", tmp_path / "src"):
        result = aggregator.validate(config, path)
        assert (result.checked, result.errors) == (1, ()), path


def test_a_wrong_argument_is_a_type_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "aggregator.yaml"
    path.write_text("links: 'off'\n", encoding="utf-8")
    config = aggregator.load_config(path)
    calls = [
        lambda: aggregator.validate(path),  # type: ignore[arg-type]
        lambda: aggregator.build(str(path)),  # type: ignore[arg-type]
        lambda: aggregator.check_links(None),  # type: ignore[arg-type]
        lambda: aggregator.feed_states(path),  # type: ignore[arg-type]
    ]
    for call in calls:
        with pytest.raises(TypeError, match=r"^\w+: config must be an aggregator.Config"):
            call()
    with pytest.raises(TypeError, match=r"^build: now must be a datetime, not str"):
        aggregator.build(config, now="2021-07-01")  # type: ignore[arg-type]
    assert not (tmp_path / "feeds").exists()


def test_a_now_the_run_cannot_use_is_a_value_error_naming_it(tmp_path: Path) -> None:
    # A naive `now` used to fail deep inside with "can't compare offset-naive and
    # offset-aware datetimes"; the year 1 with a max_age with an OverflowError.
    write_article(tmp_path / "src", "good.md")
    config = aggregator.load_config(
        None, sources=[tmp_path / "src"], output=tmp_path / "out", links=False
    )
    config = dataclasses.replace(config, max_age=timedelta(days=36500))
    wrong = {
        datetime(2021, 7, 1): r"now must be timezone-aware, such as datetime.now\(UTC\), "
        r"not 2021-07-01T00:00:00$",
        datetime(1, 1, 1, tzinfo=UTC): r"now must lie between the years 1000 and 8999, "
        r"not 0001-01-01T00:00:00\+00:00$",
        datetime(9999, 12, 31, 23, 59, tzinfo=UTC): r"now must lie between the years 1000 "
        r"and 8999, not 9999-12-31T23:59:00\+00:00$",
    }
    for now, message in wrong.items():
        with pytest.raises(ValueError, match=r"^build: " + message):
            aggregator.build(config, now=now)
        with pytest.raises(ValueError, match=r"^check_links: " + message):
            aggregator.check_links(config, now=now)
    assert not (tmp_path / "out").exists()
    # The edges of the range build, as does an hour in another zone: the same instant
    # in UTC makes the same bytes.
    for now in (datetime(1000, 1, 1, tzinfo=UTC), datetime(8999, 12, 31, 23, 59, tzinfo=UTC)):
        assert aggregator.build(config, now=now).errors == ()
    east = datetime(2021, 7, 1, 12, 0, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    aggregator.build(config, now=east)
    first = {p.name: p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()}
    shutil.rmtree(tmp_path / "out")
    for state in tmp_path.glob("*.sqlite*"):
        state.unlink()
    report = aggregator.build(config, now=east.astimezone(UTC))
    assert report.published == 1
    again = {p.name: p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()}
    assert again == first


def test_validate_of_a_config_reads_the_files_a_build_reads(tmp_path: Path) -> None:
    # The plan every command runs: a missing source folder is the build's ConfigError,
    # not an invalid file.
    write_article(tmp_path / "src", "good.md")
    config = aggregator.load_config(
        None, sources=[tmp_path / "src", tmp_path / "gone"], output=tmp_path / "out"
    )
    with pytest.raises(aggregator.ConfigError, match="gone"):
        aggregator.build(config, now=NOW)
    with pytest.raises(aggregator.ConfigError, match="gone"):
        aggregator.validate(config)


# --- the README's example --------------------------------------------------------------------


def readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Library\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 1, "the Library section has one Python example"
    return str(blocks[0])


@pytest.mark.e2e
def test_the_readme_library_example_runs(tmp_path: Path) -> None:
    shutil.copytree(SEEDS, tmp_path / "seeds")
    done = subprocess.run(
        [sys.executable, "-c", readme_example()],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    # The five seeds, less one below the quality threshold and the one published more
    # than 365 days before the clock given.
    assert "published 3 articles" in done.stdout, done.stdout
    assert "phases: read, dedupe, write" in done.stdout, done.stdout  # links are off
    assert "001_58eaedcd849f4619.txt: published 2020-06-26, older than max_age" in done.stdout
    atom = feedparser.parse((tmp_path / "public" / "all.atom").read_bytes())
    assert len(atom.entries) == 3 and not atom.bozo


@pytest.fixture(scope="module")
def large_seeds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A `seeds` folder of generated files, enough for a build to start worker
    processes (`loader.PARALLEL_MIN_FILES`)."""
    from aggregator.sources.loader import PARALLEL_MIN_FILES

    sys.path.insert(0, str(ROOT / "bench"))
    import corpus  # bench/corpus.py

    folder = tmp_path_factory.mktemp("large") / "seeds"
    corpus.generate(folder, PARALLEL_MIN_FILES + 500, seed=3, processes=1)
    return folder


def run_script(folder: Path, text: str) -> subprocess.CompletedProcess[str]:
    """`text` run as a script file, `python build.py`, as a user runs one."""
    (folder / "build.py").write_text(text, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "build.py"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.e2e
def test_the_readme_library_example_as_a_script_builds_a_large_corpus(
    tmp_path: Path, large_seeds: Path
) -> None:
    """Its worker processes import the script as they start: the guarded example builds
    once, in the process that ran it."""
    shutil.copytree(large_seeds, tmp_path / "seeds")
    done = run_script(tmp_path, readme_example())
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    # Built once: one summary line, not one more from each worker.
    assert len(re.findall(r"^published \d+ articles$", done.stdout, re.MULTILINE)) == 1
    atom = feedparser.parse((tmp_path / "public" / "all.atom").read_bytes())
    assert atom.entries and not atom.bozo


#: what a script that runs aggregator when imported is told to do
GUARD = 'run it under `if __name__ == "__main__":`'


def refused_in_workers(done: subprocess.CompletedProcess[str], failed: str) -> str:
    """The last line of a script that ran aggregator when imported, and failed: before it,
    one line from each worker that started (one per core but the script's), each of
    which refused to run aggregator again."""
    assert done.returncode == 1
    *workers, last = done.stderr.splitlines()
    assert workers and set(workers) == {
        f"{failed}: aggregator was run by a worker process as it started "
        f"(it imports the main module): {GUARD}"
    }, done.stderr
    return last


@pytest.mark.e2e
def test_a_script_that_builds_when_imported_stops_with_one_line_each(
    tmp_path: Path, large_seeds: Path
) -> None:
    """Unguarded, each worker would build again as it imports the script, and wait for
    the lock the script's own build holds (60 s), then fail with a traceback."""
    import os

    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: a build starts no worker process")
    shutil.copytree(large_seeds, tmp_path / "seeds")
    guarded = readme_example()
    guard = '\nif __name__ == "__main__":\n    main()\n'
    assert guard in guarded
    done = run_script(tmp_path, guarded.replace(guard, "\nmain()\n"))
    last = refused_in_workers(done, "build failed")
    assert last == (
        "build failed: stopped while loading article files: a worker process ended as it "
        f"started; if {tmp_path / 'build.py'} runs aggregator when imported, {GUARD}"
    )
    assert not (tmp_path / "public" / "all.atom").exists()  # no feed half written


@pytest.mark.e2e
def test_a_script_that_validates_when_imported_is_told_the_same(
    tmp_path: Path, large_seeds: Path
) -> None:
    """`validate` also parses on every core: the same refusal in the workers, the same
    hint to the script, not multiprocessing's traceback about its bootstrapping phase."""
    import os

    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: validating starts no worker process")
    shutil.copytree(large_seeds, tmp_path / "seeds")
    script = (
        "import aggregator\n\n"
        "try:\n"
        "    print(aggregator.validate(paths=['seeds']).ok)\n"
        "except aggregator.AggregatorError as exc:\n"
        "    raise SystemExit(f'validate failed: {exc}')\n"
    )
    last = refused_in_workers(run_script(tmp_path, script), "validate failed")
    assert last.startswith("validate failed: stopped while ") and last.endswith(
        f"a worker process ended as it started; if {tmp_path / 'build.py'} runs aggregator "
        f"when imported, {GUARD}"
    ), last


class FeedHandler(BaseHTTPRequestHandler):
    """One RSS document at any path."""

    def do_GET(self) -> None:
        body = (
            b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
            b"<link>https://example.com/</link><description>D</description><item>"
            b"<title>An entry</title><link>https://example.com/a</link></item>"
            b"</channel></rss>"
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.mark.e2e
def test_a_script_that_builds_when_imported_is_told_why_its_feeds_cannot_be_read(
    tmp_path: Path,
) -> None:
    """A remote feed is parsed in a process of its own, which imports the script too,
    whatever the number of files."""
    shutil.copytree(SEEDS, tmp_path / "seeds")
    server = ThreadingHTTPServer(("127.0.0.1", 0), FeedHandler)
    url = f"http://127.0.0.1:{server.server_address[1]}/feed.xml"
    (tmp_path / "aggregator.yaml").write_text(
        f"sources: [seeds]\noutput: public\nfeeds: [{url}]\n"
        "link_check: {allow_private: true, min_interval: 1ms}\n",
        encoding="utf-8",
    )
    script = (
        "import aggregator\n\n"
        "report = aggregator.build(aggregator.load_config(links='off'))\n"
        "for source in report.sources:\n"
        "    print(source.url, source.error)\n"
    )
    with answering(server):
        done = run_script(tmp_path, script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"{url} cannot be read: the parser did not start: a worker process ended as it "
        f"started; if {tmp_path / 'build.py'} runs aggregator when imported, "
        'run it under `if __name__ == "__main__":`'
    ]
    # The parser's own process said why before it ended (the script has no `except`:
    # multiprocessing shows that process's traceback, ending in that line).
    assert "aggregator was run by a worker process as it started" in done.stderr


@pytest.mark.e2e  # it runs the daemon
def test_the_daemon_runs_the_same_build_with_its_clock_and_session(
    tmp_path: Path, site: Site
) -> None:
    from aggregator.app.daemon import Daemon

    config = site_config(tmp_path, site)
    session, adapter = own_session("daemon-test/3.0")
    daemon = Daemon(lambda: config, clock=lambda: NOW, session=session)
    report = daemon.run_once()
    assert report is not None and report.published == 2  # aged by the daemon's clock
    assert {s.user_agent for s in site.seen} == {"daemon-test/3.0"}
    assert site.requests("POST") and adapter.sent == len(site.seen)
    status, body = daemon.health.answer()
    assert (status, body["last_run_at"], body["last_run_status"]) == (200, NOW, "ok")
    with OutputLock(config.output, wait=0):  # another writer holds the folder
        daemon.health.interval = timedelta(seconds=1)  # the daemon waits that long
        assert daemon.run_once() is None  # logged, never raised
    assert daemon.health.last_status == "failed"
    assert "another aggregator" in (daemon.health.last_error or "")


def test_the_architecture_picture_names_every_subpackage_and_its_modules() -> None:
    """The README's picture is the map a newcomer reads: every subpackage is on it, and
    every module of a subpackage is named in it or in the package's own docstring."""
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    picture = readme.split("**Architecture.**", 1)[1].split("```", 2)[1]
    package = Path(aggregator.__file__).parent
    for module in sorted(package.glob("*.py")):
        if module.name != "__init__.py":
            assert module.name in picture, module.name
    for sub in sorted(p for p in package.iterdir() if (p / "__init__.py").is_file()):
        assert f"{sub.name}/" in picture, sub.name
        doc = (sub / "__init__.py").read_text(encoding="utf-8")
        for module in sorted(sub.glob("[!_]*.py")):
            named = re.search(rf"\b{module.stem}\b", picture + doc)
            assert named, f"{sub.name}/{module.name} is on no map"
