"""Fuzzing the loader and the whole build with generated and damaged article files, and
the command line and the config file with absurd values.

Invariants, whatever the files hold: nothing raises; every file is either loaded or
reported once with its path and a one-line reason; every good file is published (or
merged into a published duplicate); every feed written is well-formed XML that
feedparser reads without complaint, and the OPML lists are well-formed too.

The suite runs a modest, derandomised number of examples (FUZZ_EXAMPLES, default 25
per property) so it stays fast; `python bench/fuzz.py` runs the long campaign.
"""

from __future__ import annotations

import contextlib
import html
import io
import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest
from conftest import NOW
from conftest import run_cli
from conftest import write_article
from hypothesis import HealthCheck
from hypothesis import Phase
from hypothesis import assume
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from lxml import etree
from strategies import FuzzFile
from strategies import big_article
from strategies import command_lines
from strategies import config_texts
from strategies import corpora
from strategies import good_articles
from strategies import mutated_files
from strategies import wrong_type_articles

from aggregator.app.cli import exit_code
from aggregator.app.cli import main
from aggregator.config import Config
from aggregator.config import load_config
from aggregator.engine.pipeline import build
from aggregator.errors import ConfigError
from aggregator.model import Article
from aggregator.model import BuildReport
from aggregator.model import LoadError

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
SUITE = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("FUZZ_RANDOM") is None,  # the suite is repeatable
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    # A long campaign may report the first failure as found rather than shrink it.
    phases=[p for p in Phase if p != Phase.shrink or not os.environ.get("FUZZ_NO_SHRINK")],
)
XML = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


# --- checks shared by every property -------------------------------------------------


def check_error(error: LoadError, files: dict[str, FuzzFile]) -> None:
    """A reported file: its own path, a line in the file, one line of reason."""
    assert error.path in files, error
    assert error.line >= 1
    assert error.reason.strip() and "\n" not in error.reason, error
    assert "Traceback" not in error.reason


#: U+FDD0 to U+FDEF, and the last two code points of every plane
NONCHARACTER = re.compile(
    "[\ufdd0-\ufdef"
    + "".join(chr(p << 16 | 0xFFFE) + chr(p << 16 | 0xFFFF) for p in range(17))
    + "]"
)


def check_output(out: Path) -> dict[str, Any]:
    """Every feed parses strictly as XML and without complaint in feedparser; no file
    holds a Unicode noncharacter (invalid in HTML)."""
    feeds: dict[str, Any] = {}
    for path in sorted(out.rglob("*")):
        if path.name.startswith(".") or not path.is_file():
            continue
        data = path.read_bytes()
        assert NONCHARACTER.search(data.decode("utf-8")) is None, path
        if path.suffix in (".rss", ".atom", ".opml"):
            etree.fromstring(data, XML)  # raises on anything not well-formed
        if path.suffix in (".rss", ".atom"):
            parsed = feedparser.parse(data)
            assert not parsed.bozo, (path, parsed.get("bozo_exception"))
            feeds[path.relative_to(out).as_posix()] = parsed
    assert "all.rss" in feeds and "all.atom" in feeds
    return feeds


def build_folder(folder: Path, out: Path) -> BuildReport:
    config = Config(
        sources=(folder,),
        output=out,
        links="off",
        min_quality=0,
        include_unpublished=True,
        limit=10_000,
        state=folder.parent / "state.sqlite",
    )
    return build(config, now=NOW)


def check_corpus(files: Sequence[FuzzFile], root: Path) -> BuildReport:
    """Write `files`, build them, and hold the build to every invariant."""
    folder = root / "articles"
    folder.mkdir()
    by_path = {}
    for file in files:
        (folder / file.name).write_bytes(file.data)
        by_path[str(folder / file.name)] = file
    out = root / "out"
    report = build_folder(folder, out)
    for error in report.errors:
        check_error(error, by_path)
    assert len({e.path for e in report.errors}) == len(report.errors)  # each file once
    assert report.loaded + len(report.errors) == len(files)
    feeds = check_output(out)
    published = {entry.link for entry in feeds["all.atom"].entries}
    # Ids, not links: feedparser unescapes an RSS <link> once more than XML does, so a
    # URL holding a literal "&amp;" reads differently there (our XML is right).
    ids = {entry.id for entry in feeds["all.atom"].entries}
    assert ids == {entry.id for entry in feeds["all.rss"].entries}
    merged = {path for d in report.duplicates for path in d.dropped}
    for path, file in by_path.items():
        if file.good:
            assert path not in {e.path for e in report.errors}, report.errors
            assert file.link in published or path in merged, (file.name, sorted(published))
    assert len(feeds["all.atom"].entries) == report.published
    return report


# --- the loader alone ----------------------------------------------------------------


def load(data: bytes, name: str = "f.md") -> Article | LoadError:
    from aggregator.sources.loader import load_file

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, name)
        path.write_bytes(data)
        result = load_file(path)
        if isinstance(result, LoadError):
            check_error(result, {str(path): FuzzFile(name, data, False)})
        else:
            assert result.path == str(path)
        return result


@SUITE
@given(st.one_of(st.binary(max_size=3000), mutated_files(0).map(lambda f: f.data)))
def test_the_loader_never_raises_on_any_bytes(data: bytes) -> None:
    load(data)
    load(data, "f.yaml")  # plain YAML is read differently


@SUITE
@given(good_articles(1))
def test_good_articles_load_as_clean_single_line_text(file: FuzzFile) -> None:
    article = load(file.data, file.name)
    assert isinstance(article, Article), article
    for text in (article.title, article.excerpt, *article.topics):
        assert "\n" not in text and text == text.strip()
        assert not any(ord(c) < 0x20 or 0xD800 <= ord(c) <= 0xDFFF for c in text), text
    assert article.title


@pytest.mark.e2e
@SUITE
@given(wrong_type_articles(1))
def test_a_field_of_any_type_loads_or_is_reported(file: FuzzFile) -> None:
    load(file.data, file.name)


# --- the whole build -----------------------------------------------------------------


@pytest.mark.e2e  # by its measured cost (seconds): kept out of the fast tier
@SUITE
@given(corpora())
def test_a_build_reports_every_bad_file_and_publishes_every_good_one(
    files: list[FuzzFile],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        check_corpus(files, Path(tmp))


@pytest.mark.e2e
def test_huge_fields_are_capped_and_published(tmp_path: Path) -> None:
    """A 1 MB excerpt, a 100,000-character title, 1,000 related stubs, 10,000 topics."""
    files = [
        big_article(1, excerpt="word " * 200_000),
        big_article(2, title="long " * 20_000),
        big_article(
            3,
            related=[
                {"title": f"Related {n}", "webUrl": f"https://other.example/{n}"}
                for n in range(1000)
            ],
        ),
        big_article(4, excerpt="<b>tag</b> &amp; " * 50_000),  # HTML all the way
    ]
    too_many = big_article(5, topics=[f"Topic {n}" for n in range(10_000)])
    files.append(FuzzFile(too_many.name, too_many.data, False))
    report = check_corpus(files, tmp_path)
    assert [(e.path.rsplit("/", 1)[1], e.reason) for e in report.errors] == [
        ("big-0005.md", "topics: 10,000 topics, over the limit of 100")
    ]
    entries = {e.link: e for e in check_output(tmp_path / "out")["all.atom"].entries}
    assert entries["https://fuzz.example/1"].summary.endswith("…")
    assert len(entries["https://fuzz.example/1"].summary) <= 10_000
    assert len(entries["https://fuzz.example/2"].title) <= 300
    assert sorted(p.name for p in (tmp_path / "out" / "topics").iterdir()) == [
        "ai.atom",
        "ai.json",
        "ai.rss",
    ]


# --- a hostile corpus through the real command -----------------------------------------


def hostile_corpus(folder: Path) -> tuple[dict[str, str], list[str]]:
    """Bad files (name -> a word of the reason) beside good ones (their links)."""
    folder.mkdir(parents=True)
    bad: dict[str, str] = {}
    good = []
    for n in range(1, 4):
        write_article(folder, f"good-{n}.md", n=n)
        good.append(f"https://news.example.com/story-{n}")
    write_article(
        folder, "good-rtl.md", n=4, title="\u202eevil\u202c \u200fعربي\u200f \x01 &lt;b&gt;"
    )
    good.append("https://news.example.com/story-4")

    def put(name: str, data: bytes, reason: str) -> None:
        (folder / name).write_bytes(data)
        bad[name] = reason

    put("binary.md", bytes(range(256)) * 4, "UTF-8")
    put("truncated.md", (folder / "good-1.md").read_bytes()[:60], "not closed")
    put("nested.md", b"---\ntitle: [" + b"[" * 50_000 + b"\n---\n", "nested")
    put(
        "bomb.md",
        b"---\na: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
        b"c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c]\n"
        b"e: [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n---\n",
        "alias",
    )
    put("huge.md", b"---\ntitle: " + b"x" * (3 * 1024 * 1024) + b"\n---\n", "file_size")
    put("surrogate.md", b'---\ntitle: "\\ud800"\nwebUrl: https://a.example/\n---\n', "YAML")
    put("python.md", b"---\ntitle: !!python/object/apply:os.system [id]\n---\n", "tag")
    put("not-a-mapping.md", b"---\n- a\n- b\n---\n", "mapping")
    os.mkfifo(folder / "fifo.md")
    bad["fifo.md"] = "regular"
    return bad, good


@pytest.mark.e2e
def test_a_hostile_corpus_is_reported_file_by_file_and_the_good_files_publish(
    tmp_path: Path,
) -> None:
    bad, good = hostile_corpus(tmp_path / "articles")
    done = run_cli(
        "build", "--source", "articles", "--output", "out", "--include-unpublished", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    for name, word in bad.items():
        mine = [line for line in lines if line.startswith(f"articles/{name}:")]
        assert len(mine) == 1, (name, lines)
        assert word.lower() in mine[0].lower(), mine[0]
    feeds = check_output(tmp_path / "out")
    assert sorted(e.link for e in feeds["all.atom"].entries) == sorted(good)
    rtl = next(e for e in feeds["all.atom"].entries if e.link.endswith("story-4"))
    # Overrides and controls gone, marks kept; text that looks like markup is an HTML
    # title (escaped), which a reader shows as this very text.
    assert rtl.title_detail.type == "text/html"
    assert html.unescape(rtl.title) == "evil \u200fعربي\u200f <b>"


@pytest.mark.e2e
def test_a_file_name_that_is_not_utf8_is_reported_and_the_rest_publish(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    write_article(folder, "good.md", n=1)
    write_article(folder, "other.md", n=2)
    os.rename(folder / "other.md", os.fsencode(folder) + b"/bad-\xff-name.md")
    for attempt in range(2):  # the second build reads the state the first one wrote
        done = run_cli(
            "build", "--source", "articles", "--output", "out", "--report", "r.json", "-v",
            cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, (attempt, done.stderr)
        assert "Traceback" not in done.stderr
        assert "articles/bad-\\xff-name.md:1: file name is not UTF-8" in done.stderr, done.stderr
        feeds = check_output(tmp_path / "out")
        assert [e.link for e in feeds["all.atom"].entries] == ["https://news.example.com/story-1"]


@pytest.mark.e2e
def test_dates_at_the_ends_of_the_calendar_are_reported_not_fatal(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    write_article(folder, "good.md", n=1)
    for n, (name, when) in enumerate(
        (
            ("last.md", "9999-12-31T23:59:59.999999Z"),
            ("first.md", "0001-01-01T00:00:00Z"),
            ("far.md", datetime(9500, 1, 1, tzinfo=UTC)),
        ),
        start=2,
    ):
        write_article(folder, name, n=n, publishedDateTime=when)
    done = run_cli("build", "--source", "articles", "--output", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    for name, year in (("last.md", 9999), ("first.md", 1), ("far.md", 9500)):
        line = f"articles/{name}:5: publishedDateTime: year {year} is outside 1000 to 8999"
        assert line in done.stderr.splitlines(), done.stderr
    feeds = check_output(tmp_path / "out")
    assert [e.link for e in feeds["all.atom"].entries] == ["https://news.example.com/story-1"]


@pytest.mark.e2e
@settings(SUITE, max_examples=max(EXAMPLES // 3, 3))
@given(corpora(max_files=6))
def test_a_build_from_the_parse_cache_writes_the_same_feeds(files: list[FuzzFile]) -> None:
    """Results read back from the state file are the results the loader gave."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        report = check_corpus(files, root)
        old = 1_600_000_000  # old enough to be cached (a file this second is "racy")
        for path in (root / "articles").iterdir():
            os.utime(path, (old, old))
        first = build_folder(root / "articles", root / "first")  # parses, fills the cache
        again = build_folder(root / "articles", root / "again")  # reads the cache
        assert first.errors == again.errors == report.errors
        written = sorted(p.relative_to(root / "first") for p in (root / "first").rglob("*"))
        assert written == sorted(p.relative_to(root / "again") for p in (root / "again").rglob("*"))
        for relative in written:
            if (root / "first" / relative).is_file():
                data = (root / "first" / relative).read_bytes()
                assert (root / "again" / relative).read_bytes() == data, relative


# --- the config file and the command line ---------------------------------------------
#
# Invariants, whatever the operator writes: no traceback; an exit code in {0, 1, 2, 3};
# a bad value is one line: `aggregator: error: ...` naming the key (a config file
# error starts with `file:line:`), or argparse's usage message. Commands run in-process
# through `cli.main` in a temporary folder with relative paths only, `run` and `serve`
# with a stop already requested (they check everything and start nothing); a few run
# end to end through the real command.

#: the last line of an error: ours, or argparse's (`aggregator build: error: ...`)
ERROR_LINE = re.compile(r"^aggregator(?: [\w-]+)?: error: .")


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str


@contextlib.contextmanager
def working_folder(folder: Path) -> Iterator[None]:
    """`folder` as the working folder; the logging setup (which `run` and `serve`
    replace) put back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in ("aggregator", "apscheduler")}
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, old in levels.items():
            logging.getLogger(name).setLevel(old)


def call(argv: list[str]) -> Outcome:
    """`aggregator ARGV` in-process; `run` and `serve` are stopped before they start."""
    stdout, stderr = io.StringIO(), io.StringIO()
    stopped = threading.Event()
    stopped.set()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = main(argv, stop=stopped)
        except SystemExit as exc:  # argparse: --help, --version and usage errors
            code = exc.code if isinstance(exc.code, int) else 2
    return Outcome(code, stdout.getvalue(), stderr.getvalue())


def check_outcome(outcome: Outcome, argv: list[str]) -> None:
    """The exit code is one of ours and a failure says why in one line."""
    where = (argv, outcome.code, outcome.stderr[-2000:])
    assert outcome.code in (0, 1, 2, 3), where
    assert "Traceback" not in outcome.stderr, where
    ours = [line for line in outcome.stderr.splitlines() if line.startswith("aggregator: error:")]
    if argv[:1] == ["validate"] and outcome.code == 1 and not ours:
        assert outcome.stdout.strip(), where  # the problems of the article files, on stdout
    elif outcome.code in (1, 2):
        if outcome.stderr.startswith("usage:"):  # argparse's message: usage, then the error
            assert outcome.code == 2, where
            assert any(ERROR_LINE.match(line) for line in outcome.stderr.splitlines()), where
        else:
            assert len(ours) == 1, where
            assert outcome.stderr.splitlines()[-1] == ours[0], where
            assert ERROR_LINE.match(ours[0]), where
    else:
        assert ours == [], where


def fuzz_folder(root: Path) -> None:
    """A folder to fuzz commands in: three articles in src and in seeds (the default
    source), a good and a bad config."""
    for folder in ("src", "seeds"):
        for n in range(1, 4):
            write_article(root / folder, f"a{n}.md", n=n, topics=["AI", "Robotics"][: n % 2 + 1])
    (root / "conf.yaml").write_text(
        'sources: [src]\noutput: out\nlinks: "off"\ntitle: Fuzz\n', encoding="utf-8"
    )
    (root / "bad.yaml").write_text("max_age: 99999999999999999999d\n", encoding="utf-8")


def inside(folder: Path, *paths: Path) -> bool:
    real = folder.resolve()
    return all(Path(os.path.realpath(p)).is_relative_to(real) for p in paths)


@pytest.mark.e2e
@settings(SUITE, max_examples=EXAMPLES * 2)  # in-process: cheap
@given(config_texts())
def test_any_config_file_loads_or_names_the_key_and_then_builds(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        fuzz_folder(root)
        path = root / "aggregator.yaml"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        try:
            config = load_config(path)
        except ConfigError as exc:
            message = str(exc)
            assert "\n" not in message and message.startswith(f"{path}:"), message
            assert re.match(rf"{re.escape(str(path))}(:\d+)?: \S", message), message
            assert exit_code(exc) == 2
            return
        with working_folder(root):  # the default paths are relative to the working folder
            if not inside(root, config.output, config.state_path, *config.sources):
                return  # an absolute path: loading it was the test; nothing is written there
            for argv in (
                ["build", "--links", "off", "-q"],
                ["topics", "--links", "off"],
                ["validate", "-q"],
                ["run"],
                ["serve", "--serve", "127.0.0.1:0"],
            ):
                check_outcome(call(argv), argv)


@pytest.mark.e2e
@settings(SUITE, max_examples=EXAMPLES * 2)
@given(command_lines())
def test_any_command_line_exits_with_one_of_our_codes_and_one_line(argv: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        fuzz_folder(Path(tmp))
        with working_folder(Path(tmp)):
            check_outcome(call(argv), argv)


@pytest.mark.e2e
@settings(SUITE, max_examples=max(EXAMPLES // 5, 3))
@given(command_lines(("build", "check-links", "validate", "topics")))
def test_the_real_command_exits_with_one_of_our_codes_and_one_line(argv: list[str]) -> None:
    """End to end, the commands that stop by themselves (`run` and `serve` do not)."""
    assume(not any("\x00" in word for word in argv))  # no process takes a NUL in its arguments
    with tempfile.TemporaryDirectory() as tmp:
        fuzz_folder(Path(tmp))
        done = run_cli(*argv, cwd=Path(tmp))
        check_outcome(Outcome(done.returncode, done.stdout, done.stderr), argv)


@pytest.mark.e2e
@pytest.mark.parametrize(
    "argv",
    [
        ["build", "--config", "bad.yaml"],
        ["build", "--limit", str(10**30)],
        ["build", "--min-quality", "-" + "9" * 5000],
        ["build", "--wait", "99999999999999999999w"],
        ["build", "--base-url", "http://bad host/"],
        ["build", "--source", "src", "--output", "src"],
        ["build", "--state", "feeds/state.sqlite"],
        ["run", "--interval", "99999999999999999d"],
        ["run", "--cron", "99 99 * * *"],
        ["run", "--config", "bad.yaml"],
        ["serve", "--serve", "bad host:80"],
        ["serve", "--serve", ":99999999999999999999"],
        ["topics", "--limit", "0"],
    ],
    ids=lambda argv: " ".join(argv)[:40],
)
def test_absurd_values_end_to_end(tmp_path: Path, argv: list[str]) -> None:
    fuzz_folder(tmp_path)
    done = run_cli(*argv, cwd=tmp_path)
    check_outcome(Outcome(done.returncode, done.stdout, done.stderr), argv)
    assert done.returncode == 2, done.stderr
    assert not (tmp_path / "feeds").exists()
