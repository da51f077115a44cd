"""The `limits:` section: caps on article files and feeds, with safe defaults.

A file over a file-level cap is reported as `path:line: reason` and not loaded, while
the files beside it still publish; a long title or excerpt is cut with an ellipsis;
feeds hold at most `feed_entries` entries and drop their oldest until they fit
`feed_size`. Builds run the real command; feeds are read back with feedparser.
"""

from __future__ import annotations

import ctypes
import json
import mmap
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import feedparser
import pytest
from conftest import article_fields
from conftest import front_matter
from conftest import run_cli
from conftest import write_article

from aggregator.config import load_config
from aggregator.config import parse_size
from aggregator.errors import ConfigError
from aggregator.limits import Limits
from aggregator.limits import fit_feed
from aggregator.model import LoadError
from aggregator.sources import loader
from aggregator.sources.loader import load_all
from aggregator.sources.loader import load_file
from aggregator.sources.text import truncate


def build(tmp_path: Path, limits: str = "", *extra: str) -> tuple[Any, dict[str, Any]]:
    """Build articles/ into out/ with these `limits:` lines; the process and its report."""
    config = tmp_path / "aggregator.yaml"
    config.write_text("limit: 500\n" + (f"limits:\n{limits}" if limits else ""), encoding="utf-8")
    done = run_cli(
        "build",
        *("--config", config, "--source", "articles", "--output", "out"),
        *("--report", "report.json", *extra),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    return done, report


def feed(tmp_path: Path, name: str = "all.atom") -> Any:
    parsed = feedparser.parse((tmp_path / "out" / name).read_bytes())
    assert not parsed.bozo, parsed.get("bozo_exception")
    return parsed


# --- config -------------------------------------------------------------------------


def test_every_limit_is_read_from_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "aggregator.yaml"
    path.write_text(
        "limits:\n"
        "  file_size: 512KB\n"
        "  yaml_depth: 20\n"
        "  yaml_nodes: 5000\n"
        "  title_length: 120\n"
        "  excerpt_length: 2000\n"
        "  topics: 12\n"
        "  url_length: 500\n"
        "  feed_entries: 200\n"
        "  feed_size: 1MiB\n",
        encoding="utf-8",
    )
    assert load_config(path).limits == Limits(
        file_size=512_000,
        yaml_depth=20,
        yaml_nodes=5000,
        title_length=120,
        excerpt_length=2000,
        topics=12,
        url_length=500,
        feed_entries=200,
        feed_size=1024 * 1024,
    )


def test_the_defaults_hold_real_files_with_room_to_spare() -> None:
    limits = load_config(None).limits
    assert limits == Limits()
    assert limits.file_size >= 1024 * 1024  # real files are 3 to 8 KB; a 1 MB excerpt fits
    assert limits.feed_entries >= 50  # the default `limit`


@pytest.mark.parametrize(
    ("text", "size"),
    [("100", 100), (100, 100), ("2KB", 2000), ("2 kib", 2048), ("3MB", 3_000_000)],
)
def test_sizes_take_decimal_and_binary_units(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        ("  file_size: lots\n", "file_size not a size: 'lots'"),
        ("  file_size: 0\n", "file_size a size must be positive"),
        ("  topics: -1\n", "topics must be a whole number of 1 or more"),
        ("  yaml_depth: 5000\n", "yaml_depth must be at most 1000"),
        ("  title_length: 1\n", "must be 2 or more"),
        ("  titles: 3\n", "unknown setting 'titles'"),
        ("  - 3\n", "must map caps"),
    ],
)
def test_a_bad_limit_stops_with_the_file_line_and_reason(
    tmp_path: Path, lines: str, reason: str
) -> None:
    path = tmp_path / "aggregator.yaml"
    path.write_text(f"title: News\nlimits:\n{lines}", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}:2: limits: ")
    assert reason in str(caught.value)


# --- file-level caps: reported, not loaded ------------------------------------------


@pytest.mark.e2e
def test_a_file_over_the_size_cap_is_reported_and_the_others_publish(tmp_path: Path) -> None:
    articles = tmp_path / "articles"
    write_article(articles, "good.md", n=1)
    big = write_article(articles, "big.md", n=2, excerpt="x" * 40_000)
    done, report = build(tmp_path, "  file_size: 20KB\n")
    size = big.stat().st_size
    reason = f"file is {size:,} bytes, over the limit of 20,000 (limits: file_size)"
    assert f"articles/big.md:1: {reason}" in done.stderr.splitlines()
    assert [e["path"] for e in report["errors"]] == ["articles/big.md"]
    assert [e.link for e in feed(tmp_path).entries] == ["https://news.example.com/story-1"]


@pytest.mark.e2e
def test_a_file_too_deep_or_too_many_topics_is_reported(tmp_path: Path) -> None:
    articles = tmp_path / "articles"
    write_article(articles, "good.md", n=1)
    write_article(articles, "topics.md", n=2, topics=[f"Topic {i}" for i in range(13)])
    nested: Any = "leaf"
    for _ in range(30):
        nested = {"k": nested}
    write_article(articles, "deep.md", n=3, extra=nested)
    _, report = build(tmp_path, "  topics: 12\n  yaml_depth: 20\n")
    reasons = {e["path"]: e["reason"] for e in report["errors"]}
    assert reasons == {
        "articles/deep.md": "YAML nested deeper than 20 levels (limits: yaml_depth)",
        "articles/topics.md": "topics: 13 topics, over the limit of 12",
    }
    assert [e.link for e in feed(tmp_path).entries] == ["https://news.example.com/story-1"]


def test_alias_expansion_is_capped_by_the_config(tmp_path: Path) -> None:
    fields = article_fields(n=1)
    text = front_matter(fields).replace("---\n", "---\nbase: &a [1, 2, 3, 4, 5, 6, 7, 8]\n", 1)
    text = text.replace("secured:", "more: [*a, *a, *a, *a, *a, *a, *a, *a]\nsecured:")
    path = tmp_path / "aliases.md"
    path.write_text(text, encoding="utf-8")
    assert len(load_all([path])[0]) == 1  # 80 nodes: well under the default
    articles, errors = load_all([path], limits=Limits(yaml_nodes=50))
    assert articles == []
    assert [e.path for e in errors] == [str(path)]
    assert "aliases expand to more than 50 nodes" in errors[0].reason


@pytest.mark.e2e
def test_a_fifo_or_a_device_among_the_sources_is_reported_not_read(tmp_path: Path) -> None:
    articles = tmp_path / "articles"
    write_article(articles, "good.md", n=1)
    os.mkfifo(articles / "pipe.md")  # reading it would wait for a writer forever
    (articles / "zero.md").symlink_to("/dev/zero")  # reading it would never end
    _, report = build(tmp_path)
    assert {(e["path"], e["reason"]) for e in report["errors"]} == {
        ("articles/pipe.md", "not a regular file"),
        ("articles/zero.md", "not a regular file"),
    }
    assert [e.link for e in feed(tmp_path).entries] == ["https://news.example.com/story-1"]


@pytest.mark.e2e
def test_files_refused_for_their_type_or_size_leave_an_unchanged_build_unchanged(
    tmp_path: Path,
) -> None:
    """Their size and mtime tell the same next time (a file that could not be read is
    read again by every build: see test_rebuild_edges.py)."""
    articles = tmp_path / "articles"
    write_article(articles, "good.md", n=1)
    write_article(articles, "big.md", n=2, excerpt="x" * 40_000)
    os.mkfifo(articles / "pipe.md")
    for path in articles.iterdir():  # old enough to be told by size and mtime
        os.utime(path, (1_600_000_000, 1_600_000_000))
    builds = [build(tmp_path, "  file_size: 20KB\n")[1] for _ in range(2)]
    assert [r["counts"]["build"] for r in builds] == ["full", "unchanged"]
    assert builds[0]["errors"] == builds[1]["errors"]
    assert {e["path"] for e in builds[1]["errors"]} == {"articles/big.md", "articles/pipe.md"}


def test_a_read_asks_for_at_most_a_mebibyte_whatever_the_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A file that grows after its size was read is read on up to the cap: a cap of a
    # TiB must not become a read of a TiB (its buffer is allocated whole).
    asked: list[int] = []
    read = os.read

    def reading(fd: int, size: int) -> bytes:
        asked.append(size)
        return read(fd, size)

    path = tmp_path / "big.md"
    path.write_bytes(b"x" * (3 << 20))
    monkeypatch.setattr(os, "read", reading)
    assert loader._read(path, 1 << 40) == b"x" * (3 << 20)
    assert asked and max(asked) == 1 << 20
    if os.access(_UNSIZED, os.R_OK):  # its size says 0: it "grows" as it is read
        asked.clear()
        assert len(loader._read(_UNSIZED, 1 << 40)) > 100_000
        assert max(asked) <= 1 << 20


def test_a_folder_named_like_an_article_is_reported_not_read(tmp_path: Path) -> None:
    (tmp_path / "folder.md").mkdir()
    (tmp_path / "link.md").symlink_to(tmp_path / "folder.md")
    for name in ("folder.md", "link.md"):
        found = load_file(tmp_path / name)
        assert isinstance(found, LoadError)
        assert (found.line, found.reason) == (1, "not a regular file")


#: a file whose size (0) is not its length, read in parts of about 4 KB each
_UNSIZED = Path("/proc/kallsyms")


@pytest.mark.skipif(not os.access(_UNSIZED, os.R_OK), reason="no /proc/kallsyms to read")
def test_a_file_longer_than_its_size_is_read_whole_or_up_to_its_cap(tmp_path: Path) -> None:
    # Its size says 0; it holds megabytes, and each read gives a few KB of them.
    assert _UNSIZED.stat().st_size == 0
    for _attempt in range(3):  # a kernel module loaded meanwhile changes the file
        whole = _UNSIZED.read_bytes()
        read = loader._read(_UNSIZED, 1 << 40)  # a cap of a TiB allocates no TiB
        if _UNSIZED.read_bytes() == whole:
            break
    assert len(whole) > 100_000
    assert read == whole
    # Over the cap: reading stops one byte past it, and the file is reported.
    (tmp_path / "symbols.md").symlink_to(_UNSIZED)
    found = load_file(tmp_path / "symbols.md", Limits(file_size=10_000))
    assert isinstance(found, LoadError)
    assert found.reason == "file is 10,001 bytes, over the limit of 10,000 (limits: file_size)"


@pytest.mark.e2e
def test_a_link_over_the_url_cap_is_reported_and_other_long_urls_are_left_out(
    tmp_path: Path,
) -> None:
    articles = tmp_path / "articles"
    long = "https://news.example.com/" + "x" * 300
    write_article(articles, "long-link.md", n=1, webUrl=long)
    write_article(
        articles,
        "long-image.md",
        n=2,
        images=[{"url": long + ".jpg"}, {"url": "https://img.example.com/short.jpg"}],
    )
    _, report = build(tmp_path, "  url_length: 200\n")
    assert [(e["path"], e["reason"]) for e in report["errors"]] == [
        ("articles/long-link.md", "webUrl: 325 characters, over the limit of 200")
    ]
    (entry,) = feed(tmp_path).entries
    assert entry.link == "https://news.example.com/story-2"
    assert [e.href for e in entry.enclosures] == ["https://img.example.com/short.jpg"]


def test_a_link_over_the_url_cap_once_cleaned_is_not_the_link(tmp_path: Path) -> None:
    # 23 characters as written, 38 once its accents are percent-escaped: one over the cap.
    accented = "https://ex.com/caf\u00e9-\u00e9t\u00e9"
    limits = Limits(url_length=37)
    alone = load_file(write_article(tmp_path, "alone.md", webUrl=accented), limits)
    assert isinstance(alone, LoadError)
    assert alone.reason == "webUrl: 38 characters, over the limit of 37"
    # With an originalUrl that fits, that one is the link, and the webUrl is a warning.
    short = "https://ex.com/a"
    both = load_file(write_article(tmp_path, "both.md", webUrl=accented, originalUrl=short), limits)
    assert not isinstance(both, LoadError)
    assert (both.link, both.urls) == (short, (short,))
    assert [w.reason for w in both.warnings] == [
        "webUrl: 38 characters, over the limit of 37: originalUrl is the link"
    ]


# --- text caps: cut with an ellipsis ------------------------------------------------


@pytest.mark.e2e
def test_long_titles_and_excerpts_are_cut_with_an_ellipsis_not_rejected(tmp_path: Path) -> None:
    articles = tmp_path / "articles"
    title = " ".join(f"word{i}" for i in range(100))
    write_article(articles, "long.md", n=1, title=title, excerpt="many words " * 500)
    write_article(articles, "short.md", n=2, title="A short title", excerpt="Short.")
    _, report = build(tmp_path, "  title_length: 60\n  excerpt_length: 300\n")
    assert report["errors"] == []
    entries = {e.link: e for e in feed(tmp_path).entries}
    long = entries["https://news.example.com/story-1"]
    assert long.title.endswith("…") and len(long.title) <= 60
    assert title.startswith(long.title.removesuffix("…"))
    assert long.title.removesuffix("…").split()[-1] == title.split()[len(long.title.split()) - 1]
    assert long.summary.endswith("…") and len(long.summary) <= 300
    assert entries["https://news.example.com/story-2"].title == "A short title"
    assert entries["https://news.example.com/story-2"].summary == "Short."


def test_a_cut_keeps_accents_with_their_letters_and_counts_the_ellipsis() -> None:
    assert truncate("short", 5) == "short"
    assert truncate("abcdefgh", 5) == "abcd…"
    assert truncate("one two three four", 16) == "one two three…"  # at a space near the end
    assert truncate("cafe\u0301s and more", 5) == "caf…"  # not "cafe…" without its accent
    assert truncate("ab\u200dcdef", 4) == "ab…"  # no dangling zero-width joiner
    for limit in range(2, 40):
        assert len(truncate("the quick brown fox jumps over the lazy dog " * 2, limit)) <= limit


# --- feed caps -----------------------------------------------------------------------


@pytest.mark.e2e
def test_feed_entries_caps_every_feed_whatever_the_limit(tmp_path: Path) -> None:
    articles = tmp_path / "articles"
    for n in range(1, 13):
        write_article(articles, f"a{n:02}.md", n=n)
    build(tmp_path, "  feed_entries: 5\n")  # the config's `limit` is 500
    newest = [f"https://news.example.com/story-{n}" for n in (12, 11, 10, 9, 8)]
    assert [e.link for e in feed(tmp_path).entries] == newest
    assert [e.link for e in feed(tmp_path, "topics/ai.rss").entries] == newest


@pytest.mark.e2e
def test_a_feed_over_its_size_drops_its_oldest_entries_until_it_fits(tmp_path: Path) -> None:
    articles = tmp_path / "articles"
    for n in range(1, 21):
        write_article(articles, f"a{n:02}.md", n=n, excerpt=f"Story {n}: " + "text " * 400)
    build(tmp_path)
    full = {name: (tmp_path / "out" / name).stat().st_size for name in ("all.rss", "all.atom")}
    cap = max(full.values()) // 2
    build(tmp_path, f"  feed_size: {cap}\n")
    kept = {}
    for name in ("all.rss", "all.atom", "topics/ai.rss", "topics/ai.atom"):
        assert (tmp_path / "out" / name).stat().st_size <= cap
        kept[name] = [e.link for e in feed(tmp_path, name).entries]
    count = len(kept["all.rss"])
    assert 5 <= count < 20
    newest = [f"https://news.example.com/story-{n}" for n in range(20, 20 - count, -1)]
    assert all(links == newest for links in kept.values()), kept


@pytest.mark.e2e
def test_one_entry_too_big_for_any_feed_is_left_out_not_the_feed(tmp_path: Path) -> None:
    articles = tmp_path / "articles"
    for n in range(1, 6):
        write_article(articles, f"a{n}.md", n=n)
    write_article(articles, "huge.md", n=9, excerpt="big " * 2000)  # the newest
    _, report = build(tmp_path, "  feed_size: 12KB\n")
    assert report["errors"] == []
    for name in ("all.rss", "all.atom", "topics/ai.rss", "topics/ai.atom"):
        assert (tmp_path / "out" / name).stat().st_size <= 12_000
        links = [e.link for e in feed(tmp_path, name).entries]
        assert links == [f"https://news.example.com/story-{n}" for n in (5, 4, 3, 2, 1)]


def test_fit_feed_keeps_the_longest_prefix_that_fits() -> None:
    sizes = [100, 5, 5, 5, 200, 5]  # an entry's rendered size; the feed header is 10

    def render(chosen: Any) -> list[bytes]:
        return [b"x" * (10 + sum(chosen))]

    for cap in range(110, 340, 7):  # the first entry fits alone
        kept, documents = fit_feed(sizes, render, cap)
        assert all(len(d) <= cap for d in documents)
        more = sizes[: len(kept) + 1]
        assert len(kept) == len(sizes) or len(render(more)[0]) > cap, (cap, kept)
        assert list(kept) == sizes[: len(kept)]
    # Too big alone, the newest is left out and the others are fitted after it.
    assert fit_feed(sizes, render, 40) == ([5, 5, 5], [b"x" * 25])
    assert fit_feed(sizes, render, 5) == ([], [])


def test_fit_feed_with_predicted_sizes_keeps_what_the_search_keeps() -> None:
    sizes = [100, 5, 5, 5, 200, 5]
    renderings: list[list[int]] = []

    def render(chosen: Any) -> list[bytes]:
        renderings.append(list(chosen))
        return [b"x" * (10 + sum(chosen))]

    def exact(documents: Any) -> list[int]:
        rendered = renderings[-1]  # the entries these documents are of
        return [10 + sum(rendered[: k + 1]) for k in range(len(rendered))]

    for cap in range(110, 340, 7):
        expected = fit_feed(sizes, render, cap)
        renderings.clear()
        assert fit_feed(sizes, render, cap, exact) == expected
        assert len(renderings) <= 2  # all of them, then the prefix that fits
    # A prediction that is wrong (too hopeful) is caught by the rendering that checks it.
    hopeful = fit_feed(sizes, render, 120, lambda documents: [0] * len(sizes))
    assert hopeful == fit_feed(sizes, render, 120)


def test_predicted_feed_sizes_are_the_sizes_of_the_rendered_feeds(tmp_path: Path) -> None:
    """`feeds.prefix_sizes` reads the size of every shorter feed off one rendering: it
    must be exact in every format, whatever the entries hold."""

    from aggregator.publishing.publish import feed_order
    from aggregator.rendering.feeds import FORMATS
    from aggregator.rendering.feeds import FeedSpec
    from aggregator.rendering.feeds import Site
    from aggregator.rendering.feeds import prefix_sizes
    from aggregator.rendering.feeds import render

    source = tmp_path / "src"
    for number in range(1, 9):
        write_article(
            source,
            f"{number}.md",
            n=number,
            title=f"Title {number} <b>{'x' * number}</b> & AT&T \u00e9",
            excerpt="word } , {\n" * number if number % 3 else "",
            images=[] if number % 2 else None,
            related=[
                {"title": "R }", "webUrl": f"https://r.example.com/{n}"} for n in range(number)
            ],
            topics=["AI", f"T{number}"],
        )
    articles, _ = load_all(sorted(source.iterdir()))
    entries = sorted(articles, key=feed_order)
    site = Site("http://localhost:8080/", "Site & <b>", "About", "en", hub="https://hub.example/")
    for content in ("full", "excerpt"):
        spec = FeedSpec(None, "all", "All <i>", "Everything", site.base_url, content=content)  # type: ignore[arg-type]
        for fmt in FORMATS:
            predicted = prefix_sizes(fmt, render(fmt, spec, site, entries))
            real = [len(render(fmt, spec, site, entries[:k])) for k in range(1, len(entries) + 1)]
            assert predicted == real, (fmt, content)


def test_reading_ahead_passes_over_what_is_not_a_file_it_may_read(tmp_path: Path) -> None:
    # Asked for as a task's files: it must neither wait nor fail on any of them (the
    # parse reports each, as above), nor keep any open.
    os.mkfifo(tmp_path / "pipe.md")  # opened for reading, it would wait for a writer
    (tmp_path / "zero.md").symlink_to("/dev/zero")
    (tmp_path / "empty.md").write_bytes(b"")
    (tmp_path / "folder.md").mkdir()
    names = ["pipe.md", "missing.md", "zero.md", "empty.md", "folder.md"]
    paths = [*(tmp_path / name for name in names), str(tmp_path / "nul\x00.md")]
    fds = _open_fds()
    done = threading.Event()
    thread = threading.Thread(target=lambda: (loader.read_ahead(paths), done.set()))
    thread.start()
    thread.join(60)  # (a wait would be forever: only then does this give up)
    assert done.is_set(), "read_ahead waited on one of them"
    assert _open_fds() == fds
    results, errors = loader.load_all([Path(str(p)) for p in paths], workers=1)
    assert not results
    assert {Path(e.path).name: e.reason for e in errors}.keys() == {
        *names,
        "nul\x00.md",
    }


def _open_fds() -> set[str] | None:
    """This process's open file descriptors (Linux), None where they cannot be listed."""
    try:
        return set(os.listdir("/proc/self/fd"))
    except OSError:
        return None


def _resident(path: Path) -> bool:
    """Whether every page of the file is in memory, as mincore(2) tells of a mapping of
    it: an observer that reads nothing (a read that never waits would start reading a
    file that is not there). A private mapping: ctypes needs a writable buffer."""
    size = path.stat().st_size
    pages = -(-size // mmap.PAGESIZE)
    vector = (ctypes.c_ubyte * pages)()
    with path.open("rb") as file, mmap.mmap(file.fileno(), size, access=mmap.ACCESS_COPY) as m:
        start = ctypes.c_char.from_buffer(m)
        try:
            if _LIBC.mincore(ctypes.c_void_p(ctypes.addressof(start)), size, vector) != 0:
                raise OSError(ctypes.get_errno(), "mincore")
        finally:
            del start
    return all(page & 1 for page in vector)


_LIBC = ctypes.CDLL(None, use_errno=True)


def _evicted(path: Path) -> bool:
    """Drop the file's pages from memory (they are written: clean); whether they went.
    A few tries: a page the kernel still holds in a batch of another core stays."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        for _ in range(50):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            if not _resident(path):
                return True
            time.sleep(0.001)
    finally:
        os.close(fd)
    return False


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="needs Linux: advice (posix_fadvise), mincore"
)
def test_files_not_in_memory_are_asked_for_at_once(tmp_path: Path) -> None:
    paths = [write_article(tmp_path, f"{n}.md", n=n) for n in range(20)]
    assert all(_resident(path) for path in paths)  # just written
    if not all(_evicted(path) for path in paths):
        pytest.skip(f"the file system of {tmp_path} keeps its files in memory (tmpfs)")
    # The kernel reads them in the background: each comes in, none of them read here.
    started = time.monotonic()
    loader.read_ahead(paths)
    while not all(_resident(path) for path in paths):
        assert time.monotonic() - started < 60, "files asked for never came into memory"
        time.sleep(0.001)
    took = time.monotonic() - started
    # Not by themselves: left alone five times as long, they stay out.
    assert all(_evicted(path) for path in paths)
    time.sleep(5 * took)
    assert not any(_resident(path) for path in paths)
