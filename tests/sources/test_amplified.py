"""Work bounded by bytes: an article file costs what its size allows, whatever is in it.

A file within every limit may still ask for a lot of work: aliases repeat a long
string thousands of times, a flat list holds a million tiny nodes, one field is
megabytes of markup. Each case is checked by what it costs (a repeated string is
cleaned once, a string is cut before it is cleaned) and by time measured against the
same content without the trick, never against fixed seconds.
"""

from __future__ import annotations

import multiprocessing
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import article_fields
from conftest import front_matter
from conftest import run_cli
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from aggregator.config import load_config
from aggregator.limits import Limits
from aggregator.model import Article
from aggregator.model import LoadError
from aggregator.sources import loader
from aggregator.sources import text
from aggregator.sources.loader import load_all
from aggregator.sources.loader import load_file
from aggregator.sources.text import ELLIPSIS
from aggregator.sources.text import clean_text
from aggregator.sources.text import plain_text
from aggregator.sources.text import truncate

HEAD = (
    "---\ntitle: t\nwebUrl: https://example.com/x\n"
    "publishedDateTime: 2024-03-01T00:00:00Z\npublished: true\nquality: 90\n"
)


def amplified(aliases: int, words: int = 300_000) -> str:
    """The issue's reproduction: one long excerpt, repeated as the caption of
    `aliases` images through an alias."""
    excerpt = "word " * words
    images = ",".join(["{url: https://example.com/i.png, title: *e}"] * aliases)
    return HEAD + f'excerpt: &e "{excerpt}"\nimages: [{images}]\n---\n'


def timed(work: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def test_the_amplified_file_of_the_issue_is_refused_by_its_expanded_size(
    tmp_path: Path,
) -> None:
    path = tmp_path / "x.md"
    path.write_text(amplified(2000), encoding="utf-8")
    assert path.stat().st_size < Limits().file_size  # within every other limit
    result = load_file(path)
    assert isinstance(result, LoadError)
    assert result.line == 8  # the images line, where the aliases are
    assert result.reason == (
        "YAML aliases expand to more than 4,194,304 bytes of text (limits: yaml_size)"
    )


def test_a_repeated_string_is_cleaned_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Aliases to a long string within the limits: the file loads, and the string is
    cut and cleaned once for each limit it is shown under, however often it is used."""
    cleaned: list[int] = []

    def counting(value: str) -> str:
        cleaned.append(len(value))
        return plain_text(value)

    monkeypatch.setattr(text, "plain_text", counting)
    monkeypatch.setattr(loader, "_CLEANED", {})  # nothing cleaned by earlier files
    path = tmp_path / "x.md"
    path.write_text(amplified(2, words=10_000), encoding="utf-8")
    limits = Limits()
    article = load_file(path, limits)
    assert isinstance(article, Article)
    budget = limits.excerpt_length * text.RAW_FACTOR + text.RAW_SLACK
    # title "t", the type "article", the excerpt at the excerpt limit and the caption
    # at the title limit: each once, each cut to its budget before cleaning
    assert sorted(cleaned) == sorted(
        [1, len("article"), budget, limits.title_length * text.RAW_FACTOR + text.RAW_SLACK]
    )
    assert [image.title for image in article.images] == [article.images[0].title] * 2
    assert article.excerpt.endswith(ELLIPSIS) and len(article.excerpt) == limits.excerpt_length


def test_an_amplified_file_costs_what_the_same_text_used_once_costs(tmp_path: Path) -> None:
    """Time measured against the same document with each alias written as a short
    string: the aliases add no work of their own."""
    once = tmp_path / "once.md"
    many = tmp_path / "many.md"
    plain_images = ",".join(["{url: https://example.com/i.png, title: caption}"] * 200)
    once.write_text(
        HEAD + f'excerpt: &e "{"word " * 150_000}"\nimages: [{plain_images}]\n---\n',
        encoding="utf-8",
    )
    many.write_text(amplified(200, words=150_000), encoding="utf-8")
    limits = Limits(yaml_size=1 << 30)  # let the expansion through: measure the work
    baseline = min(timed(lambda: load_file(once, limits))[0] for _ in range(3))
    cost, result = min(
        (timed(lambda: load_file(many, limits)) for _ in range(3)), key=lambda r: r[0]
    )
    assert isinstance(result, Article) and len(result.images) == limits.images
    # Before, each alias cleaned the 750 KB string again: 200 times the work.
    assert cost < 5 * baseline, (cost, baseline)


@pytest.mark.e2e
def test_a_huge_field_is_cut_before_it_is_cleaned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    longest: list[int] = [0]
    real = text.plain_text

    def measuring(value: str) -> str:
        longest[0] = max(longest[0], len(value))
        return real(value)

    monkeypatch.setattr(text, "plain_text", measuring)
    fields = article_fields(
        title="<b>x</b> &amp; " * 30_000,
        excerpt="caf\u00e9 &lt;b&gt; " * 50_000,
        topics=["t " * 40_000],
        provider={"name": "p " * 50_000},
        related=[{"title": "r " * 50_000, "webUrl": "https://r.example.com/1"}],
    )
    path = tmp_path / "big.md"
    path.write_text(front_matter(fields), encoding="utf-8")
    limits = Limits()
    article = load_file(path, limits)
    assert isinstance(article, Article)
    assert longest[0] <= limits.excerpt_length * text.RAW_FACTOR + text.RAW_SLACK
    for value, limit in (
        (article.title, limits.title_length),
        (article.excerpt, limits.excerpt_length),
        (article.topics[0], limits.title_length),
        (article.related[0].title, limits.title_length),
    ):
        assert len(value) <= limit and value.endswith(ELLIPSIS)
    assert article.provider is not None and article.provider.name.endswith(ELLIPSIS)


@pytest.mark.e2e
def test_many_nodes_without_aliases_are_refused_before_they_are_built(tmp_path: Path) -> None:
    path = tmp_path / "flat.md"
    path.write_text(HEAD + "junk: [" + ",".join(["a"] * 1_000_000) + "]\n---\n")
    assert path.stat().st_size < Limits().file_size
    [error] = load_all([path])[1]
    assert error.reason == "YAML has more than 100,000 nodes (limits: yaml_nodes)"
    assert error.line == 7
    # A document at the limit still loads.
    path.write_text(HEAD + "junk: [" + ",".join(["a"] * 99_000) + "]\n---\n")
    assert len(load_all([path])[0]) == 1


#: files within every limit that ask for more work than their size suggests, by kind
HOSTILE = {
    # YAML 1.1 base-60 integers: PyYAML builds them in quadratic time
    "sexagesimal integer": "extra: " + ":".join(["1"] * 900_000) + "\n",
    # unfinished tags, comments and attribute quotes: html.parser is quadratic on them
    "unclosed tags": 'excerpt: "' + "<a " * 600_000 + '"\n',
    "unclosed comments": 'excerpt: "' + "<!--" * 450_000 + '"\n',
    "unclosed quotes": "excerpt: '" + '<a b="' * 300_000 + "'\n",
    "unclosed tags in a title": 'title: "' + "<a " * 600_000 + '"\n',
    # work on items that are then left out
    "related stubs without links": "related:\n"
    + "".join(f'  - title: "{i} ' + "<a " * 480 + '"\n' for i in range(1_300)),
    "topics of unclosed tags": "topics:\n"
    + "".join(f'  - "{i} ' + "<a " * 480 + '"\n' for i in range(100)),
    # Python's punycode encoder is quadratic in a label's length
    "long international hosts": "images:\n"
    + "".join(
        "  - url: 'http://" + "".join(chr(0x4E00 + j) for j in range(3_990)) + f"{i}/'\n"
        for i in range(170)
    ),
    "images of unclosed tags": "images:\n"
    + "".join(
        f'  - {{url: "https://i.example.com/{i}.png", title: "' + "<a " * 480 + '"}\n'
        for i in range(1_300)
    ),
}


@pytest.mark.e2e  # by its measured cost (a second or more per kind): not the fast tier
@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_no_file_within_the_limits_costs_more_than_the_heaviest_plain_one(
    tmp_path: Path, kind: str
) -> None:
    """The yardstick is a file that is heavy by the rules: as many YAML nodes as
    `yaml_nodes` allows. A file of any other kind, as big as `file_size` allows, costs
    no more than a few times that (before: minutes for some)."""
    heavy = tmp_path / "heavy.md"
    heavy.write_text(HEAD + "junk: [" + ",".join(["a"] * 99_000) + "]\n---\n")
    path = tmp_path / "hostile.md"
    body = HOSTILE[kind]
    head = HEAD.replace("title: t\n", "") if body.startswith("title:") else HEAD
    path.write_text(head + body + "---\n", encoding="utf-8")
    assert path.stat().st_size <= Limits().file_size
    yardstick = min(timed(lambda: load_file(heavy))[0] for _ in range(3))
    cost = min(timed(lambda: load_file(path))[0] for _ in range(2))
    assert cost < 3 * yardstick, (kind, cost, yardstick)


def test_long_integers_are_text_and_quality_has_a_range(tmp_path: Path) -> None:
    cases = {
        "quality: " + ":".join(["1"] * 100) + "\n": "quality: must be an integer, not a string",
        "quality: 0x" + "f" * 3_700 + "\n": "quality: must be an integer, not a string",
        "quality: 1000000001\n": "quality: must be from -1,000,000,000 to 1,000,000,000",
        "publishedDateTime: !!timestamp nope\n": "publishedDateTime: not an ISO 8601 date-time: "
        "'nope'",
    }
    for number, (line, reason) in enumerate(cases.items()):
        text = HEAD.replace("quality: 90\n", "") if line.startswith("quality") else HEAD
        if line.startswith("publishedDateTime"):
            text = text.replace("publishedDateTime: 2024-03-01T00:00:00Z\n", "")
        path = tmp_path / f"{number}.md"
        path.write_text(text + line + "---\n", encoding="utf-8")
        result = load_file(path)
        assert isinstance(result, LoadError), line
        assert result.reason == reason
    # In a field nobody reads, such values are harmless: the file loads.
    path = tmp_path / "fine.md"
    path.write_text(HEAD + "heat: 0x" + "f" * 3_700 + "\nwhen: !!timestamp nope\n---\n")
    assert isinstance(load_file(path), Article)


def test_images_and_related_stories_are_capped(tmp_path: Path) -> None:
    fields = article_fields(
        images=[{"url": f"https://img.example.com/{i}.png"} for i in range(40)],
        related=[{"title": f"R {i}", "webUrl": f"https://r.example.com/{i}"} for i in range(40)],
    )
    path = tmp_path / "many.md"
    path.write_text(front_matter(fields), encoding="utf-8")
    article = load_file(path, Limits(images=3, related=5))
    assert isinstance(article, Article)
    assert [i.url for i in article.images] == [f"https://img.example.com/{i}.png" for i in range(3)]
    assert [s.title for s in article.related] == [f"R {i}" for i in range(5)]
    default = load_file(path)
    assert isinstance(default, Article)
    assert (len(default.images), len(default.related)) == (Limits().images, Limits().related)


def test_new_limits_are_read_from_the_config(tmp_path: Path) -> None:
    path = tmp_path / "aggregator.yaml"
    path.write_text("limits:\n  yaml_size: 1MiB\n  images: 2\n  related: 7\n", encoding="utf-8")
    limits = load_config(path).limits
    assert (limits.yaml_size, limits.images, limits.related) == (1 << 20, 2, 7)


@pytest.mark.parametrize("limit", [2, 3, 10, 300])
@given(value=st.text(alphabet=st.sampled_from("ab <>&;#x/é\u0301"), max_size=400))
@settings(max_examples=150, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
def test_clean_text_is_truncated_plain_text(limit: int, value: str) -> None:
    """What is short enough is cleaned exactly as before; what is cut says so; nothing
    is ever longer than its limit."""
    result = clean_text(value, limit)
    assert len(result) <= limit
    budget = limit * text.RAW_FACTOR + text.RAW_SLACK
    if len(value) <= budget:
        assert result == truncate(plain_text(value), limit)
    elif result:
        assert result.endswith(ELLIPSIS)


def _node_count(document: str) -> int:
    root = yaml.compose(document, Loader=yaml.SafeLoader)
    seen = 0
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        seen += 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack += [key, value]
        elif isinstance(node, yaml.SequenceNode):
            stack += node.value
    return seen


_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=8), st.floats(allow_nan=False)
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner, max_size=5)
    ),
    max_leaves=40,
)


@pytest.mark.e2e
@given(value=_VALUES, flow=st.sampled_from([True, False, None]), width=st.sampled_from([10, 80]))
@settings(max_examples=300, derandomize=True)
def test_the_node_bound_is_never_below_the_node_count(
    value: Any, flow: bool | None, width: int
) -> None:
    """The cheap bound that decides whether a file's nodes are counted one by one is
    safe: never below the real count, in flow and block style, wrapped or not."""
    document = yaml.safe_dump(value, default_flow_style=flow, width=width, allow_unicode=True)
    assert loader._node_bound(document) >= _node_count(document)
    crlf = document.replace("\n", "\r\n")
    assert loader._node_bound(crlf) >= _node_count(crlf)


def test_the_node_bound_holds_on_real_files() -> None:
    from conftest import CORPUS
    from conftest import SEEDS

    files = sorted(SEEDS.glob("*.txt")) + sorted(CORPUS.glob("*.md"))
    for path in files:
        source = re.split(r"^---\s*$", path.read_text(encoding="utf-8-sig"), flags=re.M)[1]
        assert loader._node_bound(source) >= _node_count(source), path


@pytest.mark.e2e
def test_validate_reads_the_limits_of_the_config(tmp_path: Path) -> None:
    """The pre-commit hook runs `aggregator validate`: it refuses what a build refuses."""
    (tmp_path / "articles").mkdir()
    (tmp_path / "articles" / "x.md").write_text(amplified(2000), encoding="utf-8")
    (tmp_path / "articles" / "ok.md").write_text(front_matter(article_fields()), encoding="utf-8")
    done = run_cli("validate", "articles", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        "articles/x.md:8: YAML aliases expand to more than 4,194,304 bytes of text "
        "(limits: yaml_size)",
        "2 article files checked: 1 with problems",
    ]
    (tmp_path / "aggregator.yaml").write_text("limits:\n  file_size: 300\n", encoding="utf-8")
    done = run_cli("validate", "articles", cwd=tmp_path)
    assert "articles/ok.md:1: file is" in done.stdout
    assert "(limits: file_size)" in done.stdout


# --- stopping -----------------------------------------------------------------------


def test_a_stop_is_seen_after_the_file_in_hand(tmp_path: Path) -> None:
    """Here (fewer files than the worker pool needs), a stop waits for one file, not for
    the rest of a chunk of 250."""
    import threading

    from aggregator.errors import Cancelled

    cancel = threading.Event()
    seen: list[str] = []

    def work(items: list[str], limits: Limits) -> list[str]:
        seen.extend(items)
        cancel.set()  # the stop arrives while the first file is read
        return items

    with pytest.raises(Cancelled):
        list(loader.map_in_chunks(work, [f"f{i}" for i in range(600)], Limits(), cancel, 1, 250))
    assert seen == ["f0"]


@pytest.mark.e2e  # by its measured cost (seconds): kept out of the fast tier
def test_workers_stop_after_the_item_in_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the worker pool, a stop does not wait for the chunks in the workers' hands:
    each worker looks for it between two items. Each item takes `pause` seconds, a
    chunk twenty of them; the stop is seen within a few items."""
    import threading

    import slowwork

    from aggregator.errors import Cancelled

    monkeypatch.setattr(loader, "PARALLEL_MIN_FILES", 10)
    pause = slowwork.PAUSE
    items = list(range(80))
    cancel = threading.Event()
    results = loader.map_in_chunks(slowwork.slow, items, Limits(), cancel, 2, 20)
    assert next(results) == 0  # the workers are running
    cancel.set()
    started = time.perf_counter()
    with pytest.raises(Cancelled):
        list(results)
    stopped = time.perf_counter() - started
    # The work stopped, not just the wait for it: no worker is left reading the rest of
    # its chunk (before, they went on, and the daemon's exit waited for them).
    assert multiprocessing.active_children() == []
    assert stopped < 8 * pause, stopped  # a chunk in hand is 20 items


def test_the_worker_pool_lets_go_of_results_once_handed_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A build holds what the loader gives it, not every chunk's results as well: at
    100k files those were the whole corpus a second time (a 32% higher peak at 10k)."""
    import threading
    import tracemalloc

    import slowwork

    monkeypatch.setattr(loader, "PARALLEL_MIN_FILES", 10)
    items = list(range(40))
    tracemalloc.start()
    try:
        highest = 0
        results = loader.map_in_chunks(slowwork.big, items, Limits(), threading.Event(), 2, 2)
        for result in results:
            assert len(result) == slowwork.BIG
            del result
            highest = max(highest, tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    # A few chunks in flight at most (each two items), never the forty items.
    assert highest < 12 * slowwork.BIG, highest


def test_an_incremental_build_stops_after_the_changed_file_in_hand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import threading

    from conftest import NOW
    from conftest import write_article

    from aggregator.config import Config
    from aggregator.engine.pipeline import build
    from aggregator.errors import Cancelled
    from aggregator.sources import parsecache

    source = tmp_path / "src"
    for number in range(1, 101):
        write_article(source, f"{number:03}.md", n=number)
    old = time.time() - 60  # older than the racy window, as a real corpus is
    for path in source.iterdir():
        os.utime(path, (old, old))
    config = Config(sources=(source,), output=tmp_path / "out", links="off")
    assert build(config, now=NOW).mode == "full"
    for number in (1, 2, 3):
        write_article(source, f"{number:03}.md", n=number, title=f"Changed {number}")
        os.utime(source / f"{number:03}.md", (old + 1, old + 1))
    stop = threading.Event()
    parsed: list[str] = []
    real = parsecache.load_file_digest

    def parse(path: str | Path, limits: Limits) -> Any:
        parsed.append(Path(path).name)
        stop.set()  # the stop arrives while the first changed file is read
        return real(path, limits)

    monkeypatch.setattr(parsecache, "load_file_digest", parse)
    with pytest.raises(Cancelled):
        build(config, now=NOW, cancel=stop)
    assert parsed == ["001.md"]


@pytest.mark.e2e
def test_the_daemon_stops_within_a_few_files_whatever_the_files(tmp_path: Path) -> None:
    """SIGTERM while a run reads slow files: the daemon ends after the file in hand.
    `slow` is the time one such file takes (measured here); the run would read for
    `count` times that."""
    source = tmp_path / "src"
    source.mkdir()
    count = 40
    heavy = HEAD + "junk: [" + ",".join(["a"] * 99_000) + "]\n---\n"
    for number in range(count):
        (source / f"{number:03}.md").write_text(heavy.replace("t\n", f"t{number}\n", 1))
    slow = min(timed(lambda: load_file(source / "000.md"))[0] for _ in range(3))
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "aggregator", "run", "--source", str(source)),
            *("--output", str(tmp_path / "out"), "--links", "off", "--interval", "1h"),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        for line in process.stderr:
            if "running every" in line:
                break
        time.sleep(3 * slow)  # well into the run: it reads files one after the other
        process.send_signal(signal.SIGTERM)
        started = time.perf_counter()
        process.wait(timeout=count * slow * 10 + 60)
        stopped = time.perf_counter() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
    assert process.returncode == 0
    assert not (tmp_path / "out" / "all.rss").exists()  # stopped before writing
    # Reading the rest of the files would take (count - 3) * slow.
    assert stopped < 10 * slow, (stopped, slow)


@pytest.mark.e2e
def test_odd_urls_and_markup_are_reports_or_text_never_a_crash(tmp_path: Path) -> None:
    """Each of these stopped every build with a traceback, or passed `validate` and then
    stopped the build: a non-ASCII IPv6 zone id (IDNA made it no address at all), an
    unknown marked section (`<![a>`: html.parser asserts)."""
    source = tmp_path / "src"
    source.mkdir()
    zone = HEAD.replace("webUrl: https://example.com/x", 'webUrl: "https://[::1%\u00e9]/"')
    (source / "zone.md").write_text(zone + "---\n", encoding="utf-8")
    other = HEAD.replace("title: t", "title: other").replace("/x", "/y")
    (source / "amp.md").write_text(
        other + 'ampWebUrl: "https://[fe80::1%eth0\u00e9]/"\n'
        "related:\n  - {title: r, webUrl: 'https://[::ffff:1.2.3.4%\u00e9]/'}\n---\n",
        encoding="utf-8",
    )
    marked = HEAD.replace("title: t", "title: '<![a> b &#0; c'").replace("/x", "/z")
    (source / "marked.md").write_text(marked + "---\n", encoding="utf-8")
    done = run_cli("validate", "src", cwd=tmp_path)
    assert done.stdout.splitlines()[0] == (
        "src/zone.md:3: webUrl: must be an absolute http(s) URL, got 'https://[::1%\u00e9]/'"
    )
    built = run_cli("build", "--source", "src", "--output", "out", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    assert "Traceback" not in built.stderr
    assert "published 2 articles" in built.stdout
    assert plain_text("<![a> b &#0; c") == "<![a> b c"  # U+FFFD is no text either


_LINE_PARTS = st.lists(
    st.sampled_from(
        [
            *("---", "...", "--", "-", " ", "\t", "\r", "\x0b", "\u2028", "\xa0", "\n"),
            *("a", ":", "? ", "- ", "[", "{", "key: value", "\u0085"),
        ]
    ),
    max_size=40,
).map("".join)


@given(text=_LINE_PARTS)
@settings(max_examples=2000, derandomize=True)
def test_the_end_of_front_matter_is_found_where_the_whole_text_search_finds_it(text: str) -> None:
    """`_end_line` finds the line that ends front matter where searching every line
    with `_END` does (the same match, or none), whatever the line breaks and spaces."""
    text = "---\n" + text
    first = text.find("\n")
    expected = loader._END.search(text, first + 1)
    found = loader._end_line(text, first)
    assert (found and (found.start(), found.end())) == (
        expected and (expected.start(), expected.end())
    )


@given(text=_LINE_PARTS, depth=st.integers(0, 30))
@settings(max_examples=2000, derandomize=True)
def test_the_depth_test_says_what_the_depth_bound_says(text: str, depth: int) -> None:
    """`_deeper_than`, which looks for one deep line, decides as the bound of every
    line's depth (`_depth_bound`) does."""
    assert loader._deeper_than(text, depth) == (loader._depth_bound(text) > depth)
