"""One line, never a traceback (#15): every setting has a documented range that every
use downstream holds; a value out of range, a cron APScheduler cannot read, a bad
base_url, language or --serve address is a config or usage error naming the key
(exit 2); a server that cannot listen is one runtime error line (exit 1).
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import run_cli
from conftest import write_article

from aggregator.app.cli import _parser
from aggregator.app.cli import exit_code
from aggregator.config import LONGEST
from aggregator.config import check_host
from aggregator.config import load_config
from aggregator.config import normalise_base_url
from aggregator.errors import ConfigError
from aggregator.links.linkpolicy import Freshness
from aggregator.links.linkpolicy import ttl
from aggregator.model import LinkResult


def one_line(result: subprocess.CompletedProcess[str], code: int, *words: str) -> str:
    """Exit `code`, no traceback, and the last line of stderr an error holding `words`
    (argparse puts its usage lines before it; ours is the only line)."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    if not lines[0].startswith("usage:"):
        assert len(lines) == 1, lines
    assert ": error: " in lines[-1], lines
    for word in words:
        assert word in lines[-1], (word, lines[-1])
    return lines[-1]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_article(tmp_path / "src", "a.md", n=1)
    return tmp_path


def write_conf(folder: Path, text: str) -> Path:
    path = folder / "conf.yaml"
    path.write_text('sources: [src]\noutput: out\nlinks: "off"\n' + text, encoding="utf-8")
    return path


# --- the reproductions of the issue, end to end ----------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("max_age: 99999999999999999999d\n", ["conf.yaml:4: max_age: ", "at most 36500d"]),
        ("link_check: {timeout: 99999999999999d}\n", ["conf.yaml:4: link_check: timeout "]),
        ("max_age: 999999999d\n", ["conf.yaml:4: max_age: must be at most 36500d"]),
        ('cron: "99 99 * * *"\n', ["conf.yaml:4: cron: ", "'99 99 * * *'"]),
        ('base_url: "http://bad host/"\n', ["conf.yaml:4: base_url: ", "'http://bad host/'"]),
        ("language: english please\n", ["conf.yaml:4: language: ", "language tag"]),
        ("max_age: 2021-02-30\n", ["conf.yaml:4: max_age: not a duration: '2021-02-30'"]),
        # an integer too long to be one is read as text (see yamlload.MAX_INT_LENGTH)
        ("limit: 1" + "0" * 5000 + "\n", ["conf.yaml:4: limit: must be a whole number"]),
    ],
    ids=["max-age-huge", "timeout", "max-age", "cron", "base-url", "language", "date", "digits"],
)
def test_config_values_out_of_range_are_one_line_naming_the_key(
    folder: Path, text: str, words: list[str]
) -> None:
    conf = write_conf(folder, text)
    one_line(run_cli("build", "--config", conf, cwd=folder), 2, *words)
    assert not (folder / "out").exists()


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("sources: [elsewhere]\n", ["conf.yaml:4: sources: written twice (also line 1)"]),
        (
            "topics:\n  AI:\n    limit: 5\n    limit: 6\n",
            ["conf.yaml:7: limit: written twice (also line 6)"],
        ),
    ],
    ids=["top", "nested"],
)
def test_a_setting_written_twice_is_one_line_naming_both(
    folder: Path, text: str, words: list[str]
) -> None:
    """YAML reads the last of a key written twice and says nothing: a config that
    does is refused (exit 2), as an unknown key is, rather than run on a guess."""
    conf = write_conf(folder, text)
    one_line(run_cli("build", "--config", conf, cwd=folder), 2, *words, "keep the one you mean")
    assert not (folder / "out").exists()


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("text", "words"),
    [
        # a line inside a quoted string that looks like the key
        ('description: "first\nmax_age: 1d"\nmax_age: 999999999d\n', ["conf.yaml:6: max_age: "]),
        # nested, in a flow mapping over several lines
        (
            "topics: {AI: {title: Robots,\n  description: d,\n  limit: 0}}\n",
            ["conf.yaml:6: topics: AI: limit: "],
        ),
    ],
    ids=["in-a-string", "flow"],
)
def test_a_config_error_is_at_the_line_of_the_key_yaml_reads(
    folder: Path, text: str, words: list[str]
) -> None:
    conf = write_conf(folder, text)
    one_line(run_cli("build", "--config", conf, cwd=folder), 2, *words)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # a feed's setting: named, at its own line (the item's line for the item's own
        # problem), in block and flow lists
        (
            "feeds:\n  - url: https://e.example/f\n    quality: abc\n",
            "conf.yaml:6: feeds: item 1: quality: must be a whole number",
        ),
        (
            "feeds:\n  - https://e.example/a\n  - url: https://e.example/f\n"
            "    topics: AI\n    published: maybe\n",
            "conf.yaml:8: feeds: item 2: published: must be true or false",
        ),
        (
            "feeds:\n  - url: https://e.example/f\n    quality: 1000000000000\n",
            "conf.yaml:6: feeds: item 1: quality: must be from -1,000,000,000 to "
            "1,000,000,000, got 1,000,000,000,000",
        ),
        (
            "feeds:\n  - https://e.example/a\n  - url: ftp://e.example/f\n",
            "conf.yaml:6: feeds: item 2: url: must be an absolute http(s) URL, "
            "got 'ftp://e.example/f'",
        ),
        (
            "feeds:\n  - url: https://e.example/f\n    title_filter: '('\n",
            "conf.yaml:6: feeds: item 1: title_filter: not a regular expression: "
            "missing ), unterminated subpattern at position 0",
        ),
        (
            "feeds:\n  - https://e.example/a\n  - https://e.example/a\n",
            "conf.yaml:6: feeds: item 2: https://e.example/a is listed twice",
        ),
        (
            'feeds: [{url: "https://e.example/f", quality: x}]\n',
            "conf.yaml:4: feeds: item 1: quality: must be a whole number",
        ),
        # keys YAML reads as null, booleans or dates, written as YAML writes them
        (
            "topics:\n  null: {title: x}\n",
            "conf.yaml:5: topics: null: YAML reads this topic name as null: quote it to mean "
            "the text",
        ),
        ("true: 3\n", "conf.yaml:4: true: unknown key (known keys: "),
        (
            "topics:\n  AI:\n    false: 3\n",
            "conf.yaml:6: topics: AI: false: unknown setting (known: ",
        ),
        # as written, at their own lines, where YAML reads them as booleans or null
        (
            "topics:\n  AI: {limit: 2}\n  No:\n    limit: 2\n",
            "conf.yaml:6: topics: No: YAML reads this topic name as a boolean: quote it to "
            "mean the text",
        ),
        ("title: t\non: 1\n", "conf.yaml:5: on: unknown key (known keys: "),
        ("topics:\n  AI:\n    yes: 3\n", "conf.yaml:6: topics: AI: yes: unknown setting"),
        (
            "topics:\n  AI: {}\n  ~: {limit: 1}\n",
            "conf.yaml:6: topics: ~: YAML reads this topic name as null",
        ),
        (
            "topics:\n  AI: {}\n  2024-01-01 10:00:00: x\n",
            "conf.yaml:6: topics: 2024-01-01 10:00:00: YAML reads this topic name as a date-time",
        ),
        ("topics:\n  '  ': {}\n", "conf.yaml:5: topics:   : a topic name must be a non-empty"),
        # beside a quoted key of the same text: the one YAML reads otherwise
        (
            "topics:\n  'true': {}\n  yes: {}\n",
            "conf.yaml:6: topics: yes: YAML reads this topic name as a boolean",
        ),
        ("topics:\n  1: {}\n  '1': {}\n", "conf.yaml:5: topics: 1: YAML reads this topic name"),
        ("No: 2\n'false': 1\n", "conf.yaml:4: No: unknown key (known keys: "),
        # an empty null key, named null
        ("? \n: 1\n", "conf.yaml:4: null: unknown key (known keys: "),
        (
            "feeds:\n  - url: https://e.example/f\n    ~: 3\n",
            "conf.yaml:5: feeds: item 1: unknown setting 'null' (known: ",
        ),
        ("link_check:\n  2021-01-01: 3\n", "conf.yaml:4: link_check: unknown setting '2021-01-01'"),
        # PyYAML's context: what it expected
        (
            "---\ntitle: t\n",
            "conf.yaml:4: invalid YAML: but found another document (expected a single "
            "document in the stream)",
        ),
        (
            "topics: [a\ntitle: t\n",
            "conf.yaml:5: invalid YAML: did not find expected ',' or ']' (while parsing a "
            "flow sequence)",
        ),
    ],
    ids=[
        "feed-quality",
        "feed-published",
        "feed-quality-range",
        "feed-url",
        "feed-filter",
        "feed-twice",
        "feed-flow",
        "null-topic",
        "true-key",
        "false-setting",
        "no-topic",
        "on-key",
        "yes-setting",
        "tilde-topic",
        "date-time-topic",
        "blank-topic",
        "yes-beside-quoted-true",
        "int-beside-quoted",
        "no-beside-quoted-false",
        "empty-null-key",
        "null-feed-setting",
        "date-setting",
        "two-documents",
        "flow-unclosed",
    ],
)
def test_a_config_error_names_the_key_as_written_at_its_line(
    folder: Path, text: str, message: str
) -> None:
    conf = write_conf(folder, text)
    with pytest.raises(ConfigError) as raised:
        load_config(conf)
    shown = str(raised.value)
    assert shown.startswith(f"{conf.parent}/{message}"), shown
    assert "\n" not in shown


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("interval: !!bool maybe\n", ["not a boolean: 'maybe'"]),
        ("interval: !!int\n", ["a number tag on a value with no digit"]),
        ("limit: !!float _\n", ["a number tag on a value with no digit"]),
        ("limit: !!int abc\n", ["invalid literal for int()"]),
        # the first value PyYAML cannot build, in its order (nested items last)
        ("topics:\n  x: [!!bool no-way]\nlimit: !!int abc\n", ["invalid literal for int()"]),
    ],
    ids=["bool", "empty-int", "float-underscore", "int", "order"],
)
def test_a_typed_value_no_constructor_builds_is_one_line(
    folder: Path, text: str, words: list[str]
) -> None:
    conf = write_conf(folder, text)
    one_line(
        run_cli("build", "--config", conf, cwd=folder),
        2,
        "conf.yaml:1: invalid YAML value: ",
        *words,
    )
    assert not (folder / "out").exists()


@pytest.mark.e2e
def test_a_cron_build_accepts_run_refuses_too(folder: Path) -> None:
    conf = write_conf(folder, 'cron: "99 99 * * *"\n')
    one_line(run_cli("run", "--config", conf, cwd=folder), 2, "conf.yaml:4: cron: ")
    one_line(run_cli("run", "--cron", "0 0 31 2 *", cwd=folder), 2, "--cron", "never fires")


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["run", "--interval", "99999999999999999d"], ["--interval", "at most 36500d"]),
        (["serve", "--serve", "bad host:80"], ["--serve", "'bad host'"]),
        (["serve", "--serve", "[::1:80"], ["--serve"]),
        (["build", "--wait", "99999999999999999999w"], ["--wait", "at most 1d"]),
        (["build", "--base-url", "https://user@example.org/"], ["--base-url", "user name"]),
        (["build", "--limit", str(10**30)], ["--limit", "1,000,000,000"]),
        (["topics", "--min-quality", str(10**30)], ["--min-quality"]),
    ],
    ids=["interval", "serve-host", "serve-v6", "wait", "base-url", "limit", "min-quality"],
)
def test_absurd_options_are_usage_errors(folder: Path, argv: list[str], words: list[str]) -> None:
    one_line(run_cli(*argv, cwd=folder), 2, *words)
    assert not (folder / "feeds").exists()


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 that another socket listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.e2e
@pytest.mark.parametrize("command", ["serve", "run"])
def test_a_server_that_cannot_listen_is_one_runtime_error(
    folder: Path, taken_port: int, command: str
) -> None:
    args = ["--source", "src", "--output", "out"] if command == "run" else ["--output", "out"]
    result = run_cli(command, *args, "--serve", f"127.0.0.1:{taken_port}", cwd=folder)
    line = one_line(result, 1, f"cannot serve on 127.0.0.1:{taken_port}: ")
    assert line.startswith("aggregator: error: "), line


# --- ranges ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "longest"),
    [
        ("max_age: {}", "36500d"),
        ("interval: {}", "36500d"),
        ("dedupe: {{window: {}}}", "31d"),
        ("link_check: {{timeout: {}}}", "1d"),
        ("link_check: {{deadline: {}}}", "1d"),
        ("link_check: {{min_interval: {}}}", "1d"),
        ("link_check: {{retry_after_max: {}}}", "1d"),
        ("link_check: {{confirm_after: {}}}", "36500d"),
        ("link_check: {{ttl_ok: {}}}", "36500d"),
        ("link_check: {{ttl_transient: {}}}", "36500d"),
        ("link_check: {{ttl_transient_max: {}}}", "36500d"),
    ],
)
def test_each_duration_holds_its_longest_and_no_more(
    tmp_path: Path, text: str, longest: str
) -> None:
    path = tmp_path / "aggregator.yaml"
    days = int(longest[:-1])
    for value in (longest, f"{days * 24}h", days * 86400):
        path.write_text(text.format(value) + "\n", encoding="utf-8")
        load_config(path)
    key = text.split(":")[0]
    for value in (f"{days * 86400 * 1000 + 1}ms", f"{days + 1}d", "9" * 30 + "w"):
        path.write_text(text.format(value) + "\n", encoding="utf-8")
        with pytest.raises(ConfigError, match=rf"^{path}:1: {key}: .*at most {longest}"):
            load_config(path)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("limit: 1000000001", "limit: must be at most 1,000,000,000"),
        ("min_quality: -1000000001", "min_quality: must be from -1,000,000,000"),
        ("link_check: {workers: 1001}", "link_check: workers must be at most 1,000"),
        ("link_check: {per_host: 99999999999999999999}", "link_check: per_host must be at most"),
        ("limits: {feed_entries: 1000000001}", "limits: feed_entries must be at most"),
        ("limits: {file_size: 1TiB1}", "limits: file_size not a size"),
        ("limits: {feed_size: 1099511627777}", "limits: feed_size must be at most 1TiB"),
        ("topics: {AI: {limit: 1000000001}}", "topics: AI: limit: must be at most"),
        ('title: "A\\x01"', "title: must not hold control characters"),
        ('topics: {"A\\x01": {limit: 1}}', "topics: 'A\\x01': a topic name must not hold"),
        # Unicode noncharacters: invalid in HTML (U+FFFE and U+FFFF in XML too)
        ('title: "A\\uFDD0"', "title: must not hold noncharacters ('\\ufdd0')"),
        ('description: "A\\U0010FFFF"', "description: must not hold noncharacters"),
        ('topics: {"A\\U0001FFFE": {limit: 1}}', "topics: 'A\\U0001fffe': a topic name must not"),
        ('topics: {AI: {aliases: ["B\\uFFFF"]}}', "topics: AI: aliases: must not hold noncharac"),
        ('topics: {AI: {title: "B\\uFDEF"}}', "topics: AI: title: must not hold noncharacters"),
        ("link_check: {user_agent: Bötchen}", "link_check: user_agent must be printable ASCII"),
        ('output: "a\\x00b"', "output: must be a path"),
        ('websub: {hub: "https://hub .example/"}', "websub: hub must not hold spaces"),
        ('icon: "https://x/\\u0085.png"', "icon: must be an absolute http(s) URL of an image"),
    ],
)
def test_counts_sizes_and_text_out_of_range_name_the_key(
    tmp_path: Path, text: str, reason: str
) -> None:
    path = tmp_path / "aggregator.yaml"
    path.write_text(text + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}:1: {reason}"), str(caught.value)
    assert exit_code(caught.value) == 2


@pytest.mark.e2e
def test_the_longest_and_largest_settings_are_held_by_builds(folder: Path) -> None:
    """Every duration, count and size at the end of its range: builds with links checked
    (on a machine with no network; the second reads what the first stored) and the
    topics overview. (tests/test_daemon.py runs the daemon with the longest interval.)"""
    write_article(folder / "src", "b.md", n=2, webUrl="https://news.example.com/story-2")
    conf = folder / "edge.yaml"
    conf.write_text(
        "sources: [src]\noutput: out\nlimit: 1000000000\nmin_quality: -1000000000\n"
        "max_age: 36500d\ninterval: 36500d\n"
        "topics: {AI: {limit: 1000000000, min_quality: -1000000000},"
        " Robotics: {min_quality: 1000000000}}\n"
        "dedupe: {window: 31d}\n"
        "link_check: {workers: 1000, per_host: 1000, min_interval: 1d, timeout: 1d, "
        "deadline: 1d, retries: 10, confirm_after: 36500d, retry_after_max: 1d, "
        "ttl_ok: 36500d, ttl_broken: 36500d, ttl_blocked: 36500d, ttl_transient: 36500d, "
        "ttl_transient_max: 36500d}\n"
        "limits: {file_size: 1TiB, feed_size: 1TiB, yaml_depth: 1000, yaml_nodes: 1000000000,"
        " title_length: 1000000000, excerpt_length: 1000000000, topics: 1000000000,"
        " url_length: 1000000000, feed_entries: 1000000000}\n",
        encoding="utf-8",
    )
    for _ in range(2):  # the second build reads what the first stored
        done = run_cli("build", "--config", conf, "--links", "on", cwd=folder)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
    assert "published 2 articles" in done.stdout
    topics = run_cli("topics", "--config", conf, cwd=folder)
    assert topics.returncode == 0, topics.stderr


def test_a_transient_ttl_doubled_many_times_never_overflows() -> None:
    """ttl_transient at its longest, after 40 failures: transient_max, not an overflow."""
    fresh = Freshness(transient=LONGEST, transient_max=LONGEST)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    result = LinkResult("https://x.example/", "timeout", None, "", None, now, now, 40, None)
    assert LONGEST * 0.9 <= ttl(result, fresh) <= LONGEST * 1.1
    short = Freshness(transient=timedelta(minutes=10), transient_max=timedelta(hours=6))
    assert ttl(result, short) <= timedelta(hours=6) * 1.1


# --- cron ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cron", "reason"),
    [
        ("99 99 * * *", "not a valid cron expression"),
        ("*/0 * * * *", "not a valid cron expression"),
        ("0 0 31 2 *", "never fires"),
        ("* * * *", "five fields"),
        ("0-59/99999999999999999999 * * * *", "not a valid cron expression"),
    ],
)
def test_cron_is_read_when_the_config_loads(tmp_path: Path, cron: str, reason: str) -> None:
    path = tmp_path / "aggregator.yaml"
    path.write_text(f"cron: '{cron}'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{path}:1: cron: .*{reason}"):
        load_config(path)


def test_a_cron_that_fires_in_leap_years_only_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "aggregator.yaml"
    path.write_text("cron: '0 0 29 2 *'\n", encoding="utf-8")
    assert load_config(path).cron == "0 0 29 2 *"


@pytest.mark.e2e
def test_build_reads_no_apscheduler_unless_a_cron_is_set(tmp_path: Path) -> None:
    probe = (
        "import sys; from pathlib import Path; from aggregator.config import load_config; "
        "load_config(Path(sys.argv[1])); print('apscheduler' in sys.modules)"
    )
    for text, imported in (("title: X\n", "False"), ("cron: '*/5 * * * *'\n", "True")):
        path = tmp_path / "aggregator.yaml"
        path.write_text(text, encoding="utf-8")
        done = subprocess.run(
            [sys.executable, "-c", probe, str(path)], capture_output=True, text=True, check=True
        )
        assert done.stdout.strip() == imported, (text, done.stdout, done.stderr)


# --- base_url, language, hosts -------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://news.example.com/feeds", "https://news.example.com/feeds/"),
        ("HTTPS://News.Example.COM", "https://news.example.com/"),
        ("https://bücher.example/straße ", None),  # a space: refused
        ("https://bücher.example/straße", "https://xn--bcher-kva.example/stra%C3%9Fe/"),
        ("http://[2001:DB8::1]:8080/x", "http://[2001:db8::1]:8080/x/"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/"),
        ("https://example.org/a%20b/100%", "https://example.org/a%20b/100%25/"),
        ("https://user:pw@example.org/", None),
        ("https://example.org/?q=1", None),
        ("https://example.org/#top", None),
        ("https://example.org/?", None),
        ("https://exa mple.org/", None),
        ("https://example.org/\x7f", None),
        ("https://example.org:0/", None),
        ("https://example.org:65536/", None),
        ("https://example.org:/", None),
        ("https://-bad.example/", None),
        ("https://bad_host.example/", None),
        ("https://999.1.1.1/", None),
        ("https://[::1/", None),
        ("https:///path", None),
        ("ftp://example.org/", None),
        ("/feeds/", None),
        ("https://" + "a" * 64 + ".example/", None),
    ],
)
def test_base_url_is_an_absolute_web_url(given: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(ValueError):
            normalise_base_url(given)
        with pytest.raises(SystemExit):  # --base-url: the same check, a usage error
            _parser().parse_args(["build", "--base-url", given])
    else:
        assert normalise_base_url(given) == expected
        assert _parser().parse_args(["build", "--base-url", given]).base_url == expected


@pytest.mark.parametrize(
    ("language", "ok"),
    [
        ("en", True),
        ("pt-BR", True),
        ("zh-Hant-TW", True),
        ("de-DE-1996", True),
        ("e", False),
        ("en-", False),
        ("en_GB", False),
        ("english please", False),
        ("en-" + "a" * 40, False),
        ("", False),
        (12, False),
    ],
)
def test_the_site_language_is_a_language_tag(tmp_path: Path, language: object, ok: bool) -> None:
    path = tmp_path / "aggregator.yaml"
    path.write_text(f"language: {language!r}\n", encoding="utf-8")
    if ok:
        assert load_config(path).language == language
    else:
        with pytest.raises(ConfigError, match=rf"^{path}:1: language: "):
            load_config(path)


@pytest.mark.parametrize(
    ("given", "host"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("[::1]", "::1"),
        ("::1", "::1"),
        ("localhost", "localhost"),
        ("Feeds.Example.org.", "feeds.example.org."),
        ("bücher.example", "xn--bcher-kva.example"),
        ("bad host", None),
        ("host_name", None),
        ("-x", None),
        ("[::1", None),
        ("1.2.3.999", None),
        ("fe80::1%eth0", None),
        ("a..b", None),
    ],
)
def test_hosts(given: str, host: str | None) -> None:
    if host is None:
        with pytest.raises(ValueError):
            check_host(given)
        with pytest.raises(SystemExit):
            _parser().parse_args(["serve", "--serve", f"{given}:80"])
    else:
        assert check_host(given) == host
        assert _parser().parse_args(["serve", "--serve", f"{given}:80"]).serve == (host, 80)


def test_an_empty_host_serves_every_address() -> None:
    assert _parser().parse_args(["serve", "--serve", ":8080"]).serve == ("0.0.0.0", 8080)
