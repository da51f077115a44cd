"""The HTML build report (`--report FILE.html`): every text from a file or the state
escaped (hostile names, reasons, topics and URLs never become markup), everything the
JSON report lists shown, one chart bar per day with articles, no script and nothing
fetched from anywhere, the same page for a cold, an incremental and an unchanged build;
then the real command on a hostile corpus, and the page in Chromium at phone and desktop
widths, light and dark.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import png
import pytest
from browser import DESKTOP
from browser import PHONE
from browser import Browser
from browser import Node
from browser import browser as browser
from browser import chromium as chromium
from browser import overflow
from browser import parse_html
from browser import squash
from conftest import NOW
from conftest import article_fields
from conftest import front_matter
from conftest import run_cli
from conftest import write_article
from farm import Farm

from aggregator.app.cli import report_json
from aggregator.config import Config
from aggregator.engine.pipeline import build
from aggregator.links.linkpolicy import Freshness
from aggregator.links.linkpolicy import LinkCheckSettings
from aggregator.model import Activity
from aggregator.model import BuildReport
from aggregator.model import DroppedCopy
from aggregator.model import Duplicate
from aggregator.model import Exclusion
from aggregator.model import FeedResult
from aggregator.model import FeedState
from aggregator.model import LinkResult
from aggregator.model import LinkSummary
from aggregator.model import LoadError
from aggregator.model import LoadWarning
from aggregator.model import TopicActivity
from aggregator.rendering.pages import BASE_STYLE
from aggregator.rendering.reportpage import CONTENT_SECURITY_POLICY
from aggregator.rendering.reportpage import is_web_url
from aggregator.rendering.reportpage import render_report
from aggregator.stories.urls import canonical_url

#: markup a hostile file could hold, in every text the report shows
EVIL = '<script>alert(1)</script>"><img src=x onerror=alert(2)><iframe src=//e.example>]]>'
EVIL_URLS = (
    "javascript:alert(1)",
    " javascript:alert(3)",
    "JaVaScRiPt:alert(4)",
    "data:text/html,<script>alert(5)</script>",
    "java\tscript:alert(6)",
    "vbscript:msgbox(7)",
)
#: http(s) URLs with hostile characters: links, escaped
WEB_URLS = (
    'https://news.example.com/a"><script>alert(8)</script>',
    "http://news.example.com/x?a=1&b=<i>2</i>",
)
UNICODE = "Künstliche Intelligenz 人工知能 \u202eevil\u202c 🚀"
T0 = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
#: tags the page itself uses; any other is markup that came from a text
PAGE_TAGS = {
    "#document", "html", "head", "meta", "title", "style", "body", "a", "div", "header",
    "h1", "p", "nav", "ul", "li", "main", "section", "h2", "h3", "dl", "dt", "dd", "table",
    "caption", "thead", "tbody", "tr", "th", "td", "span", "strong", "br", "time", "svg",
    "rect", "footer",
}  # fmt: skip


def visible(text: str) -> str:
    """A text as the report (and the command line) shows it: what does not print (a
    control, a bidi override, half a surrogate pair) written out as its escape."""
    return "".join(c if c.isprintable() or c in "\t\n" else repr(c)[1:-1] for c in text)


def _result(url: str, klass: str = "broken", **changes: Any) -> LinkResult:
    fields: dict[str, Any] = {
        "url": url,
        "klass": klass,
        "status": 404,
        "reason": f"404 {EVIL}",
        "final_url": None,
        "checked_at": T0,
        "next_check_at": T0 + timedelta(days=1),
        "failures": 3,
        "broken_since": T0 - timedelta(days=2),
    }
    fields.update(changes)
    return LinkResult(**fields)


def hostile_report() -> BuildReport:
    """A report whose every text holds markup, as a hostile corpus would give it."""
    per_day = tuple(n % 4 if n % 3 else 0 for n in range(90))
    links = LinkSummary(
        mode="on",
        checked=9,
        requested=9,
        network_down=False,
        classes=(("broken", 4), (f"odd {EVIL}", 1), ("ok", 4)),
        excluded=tuple(
            (f"a/{EVIL}-{n}.md", _result(url)) for n, url in enumerate(EVIL_URLS + WEB_URLS)
        ),
        images_dropped=(
            (f"img/{EVIL}.md", _result(f"https://img.example/{EVIL}.png", "unsafe")),
            ("img/b.md", _result("https://a.example/", "redirected", final_url=EVIL_URLS[0])),
        ),
    )
    return BuildReport(
        loaded=12,
        errors=(
            LoadError(f"src/{EVIL}.md", 3, f"invalid YAML: {EVIL}"),
            LoadError(f"src/{UNICODE}.md", 1, "title: missing"),
            LoadError("src/\udcff-not-utf8.md", 1, "file name is not UTF-8"),
        ),
        warnings=(LoadWarning(f"src/w-{EVIL}.md", 7, f"topics: item 2 {EVIL}: dropped"),),
        duplicates=(
            Duplicate(
                kept=f"src/kept-{EVIL}.md",
                dropped=(f"src/copy-{EVIL}.md", "src/copy2.md"),
                reason="similar-title",
                score=0.8125,
                copies=(
                    DroppedCopy(f"src/copy-{EVIL}.md", "same-url", 1.0),
                    DroppedCopy("src/copy2.md", "similar-title", 0.8125),
                ),
            ),
            Duplicate(kept="src/k.md", dropped=("src/d.md",), reason="same-url"),
        ),
        excluded=(
            Exclusion(f"src/u-{EVIL}.md", "unpublished", f"not published {EVIL}"),
            Exclusion("src/q.md", "quality", "quality 3 below 50"),
            Exclusion("src/q2.md", "quality", "quality 40 below 70", topic=f"Topic {EVIL}"),
            Exclusion("src/old.md", "max-age", "older than 30d"),
            Exclusion(f"src/{UNICODE}.md", "unsafe-link", f"link refused: {EVIL_URLS[3]}"),
            Exclusion("src/js.md", "unsupported-link", f"link scheme: {EVIL_URLS[0]}"),
        ),
        published=5,
        feeds=(
            FeedResult(None, "rss", "all.rss", 5, True),
            FeedResult(f"Topic {EVIL}", "rss", "topics/topic.rss", 2, True),
        ),
        links=links,
        sources=(
            FeedState(
                url=WEB_URLS[0],
                title=f"Feed {EVIL}",
                status=500,
                error=f"HTTP 500 {EVIL}",
                checked_at=T0,
                entries=4,
            ),
            FeedState(url=EVIL_URLS[0]),
        ),
        activity=Activity(
            date(2026, 11, 21),
            (
                TopicActivity(None, 5, per_day),
                TopicActivity(f"Topic {EVIL}", 2, per_day),
                TopicActivity(UNICODE, 1, (0,) * 89 + (1,)),
                TopicActivity("Quiet", 1, (0,) * 90),
            ),
        ),
    )


def page_of(report: BuildReport) -> tuple[str, Node]:
    text = render_report(report, site_title=f"Site {EVIL}").decode("utf-8")
    return text, parse_html(text)


def test_hostile_texts_never_become_markup() -> None:
    text, tree = page_of(hostile_report())
    tags = {node.tag for node in tree.walk()}
    assert tags <= PAGE_TAGS, tags - PAGE_TAGS
    for node in tree.walk():
        for name, value in node.attrs.items():
            assert not name.startswith("on"), (node.tag, name)
            assert name not in ("style", "src", "srcset", "action", "formaction"), node.tag
            if name == "href":
                assert value.startswith("#") or is_web_url(value), value
    # One style sheet, the page's own; no script anywhere, not even in a comment or CDATA.
    styles = tree.find_all("style")
    assert len(styles) == 1 and styles[0].text().strip().startswith(BASE_STYLE)
    lowered = text.lower()
    for needle in ("<script", "<img", "<iframe", "<!--", "<![cdata["):
        assert needle not in lowered, needle
    # ... while every hostile text is shown, as text.
    shown = squash(tree.text())
    assert squash(f"src/{EVIL}.md") in shown
    assert squash(f"invalid YAML: {EVIL}") in shown
    assert squash(f"Topic {EVIL}") in shown
    assert "src/\\udcff-not-utf8.md" in shown  # a name that is not UTF-8, escaped
    assert squash(visible(UNICODE)) in shown  # a bidi override shown as its escape
    for url in EVIL_URLS:
        assert squash(url) in shown, url


def test_only_http_urls_are_links_and_they_are_plain_anchors() -> None:
    _, tree = page_of(hostile_report())
    outside = [a for a in tree.find_all("a") if not a.attrs["href"].startswith("#")]
    # (The hostile image URL holds spaces: text, not a link.)
    assert {a.attrs["href"] for a in outside} == {*WEB_URLS, "https://a.example/"}
    for anchor in outside:
        assert set(anchor.attrs) == {"href", "rel"}
        assert set(anchor.attrs["rel"].split()) == {"nofollow", "noopener", "noreferrer"}
    for url in EVIL_URLS:
        assert not is_web_url(url), url
    assert not is_web_url("https://")  # no host
    assert not is_web_url("https://a.example/ b")
    assert is_web_url("HTTPS://A.example/x")


def test_nothing_is_fetched_from_anywhere() -> None:
    text, tree = page_of(hostile_report())
    for node in tree.walk():
        assert not {"src", "srcset", "data", "poster", "background"} & set(node.attrs)
    assert tree.find_all("script") == [] and tree.find_all("link") == []
    assert "@import" not in text and "url(" not in text
    policy = [m for m in tree.find_all("meta") if m.attrs.get("http-equiv")]
    assert policy[0].attrs["content"] == CONTENT_SECURITY_POLICY
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY
    # Internal links lead to sections of the page.
    ids = {node.attrs["id"] for node in tree.walk() if "id" in node.attrs}
    for anchor in tree.find_all("a"):
        if anchor.attrs["href"].startswith("#"):
            assert anchor.attrs["href"][1:] in ids


def _row_texts(tree: Node, section: str) -> list[str]:
    found = [s for s in tree.find_all("section") if s.attrs.get("aria-labelledby") == section]
    assert len(found) == 1, section
    return [
        " ".join(squash(cell.text()) for cell in row.children if isinstance(cell, Node))
        for row in found[0].find_all("tr")
    ]


def test_every_invalid_file_warning_duplicate_and_exclusion_of_the_json_is_shown() -> None:
    report = hostile_report()
    data = report_json(report)
    _, tree = page_of(report)
    rows = _row_texts(tree, "invalid")
    assert len(rows) == 1 + len(data["errors"])
    for error, row in zip(data["errors"], rows[1:], strict=True):
        assert row == squash(visible(f"{error['path']} {error['line']} {error['reason']}"))
    rows = _row_texts(tree, "warnings")
    warnings = data["warnings"]
    assert rows[1:] == [squash(visible(f"{w['path']} {w['line']} {w['reason']}")) for w in warnings]
    rows = _row_texts(tree, "duplicates")
    for duplicate, row in zip(data["duplicates"], rows[1:], strict=True):
        assert row.startswith(squash(duplicate["kept"]))
        for copy in duplicate["copies"] or [{"path": p} for p in duplicate["dropped"]]:
            assert squash(copy["path"]) in row
        assert row.endswith(f"{duplicate['reason']} {duplicate['score']:.2f}")
    # Exclusions: one group per code, every exclusion in its group.
    excluded = next(s for s in tree.find_all("section") if s.attrs["aria-labelledby"] == "excluded")
    groups = {h.attrs["id"].removeprefix("excluded-"): h for h in excluded.find_all("h3")}
    by_code = Counter(e["code"] for e in data["excluded"])
    assert set(groups) == set(by_code)
    for code, heading in groups.items():
        assert squash(heading.text()).endswith(f"({by_code[code]})")
    shown = _row_texts(tree, "excluded")
    for exclusion in data["excluded"]:
        where = "every feed" if exclusion["topic"] is None else f"topic {exclusion['topic']}"
        row = squash(visible(f"{exclusion['path']} {exclusion['reason']} {where}"))
        assert row in shown, row
    assert len(shown) == len(data["excluded"]) + len(groups)  # and a heading row each


def test_dead_links_show_their_result_and_history() -> None:
    _, tree = page_of(hostile_report())
    rows = _row_texts(tree, "links")
    assert len(rows) == 2 + len(EVIL_URLS + WEB_URLS) + 2  # two tables, their headings
    row = next(r for r in rows if squash(WEB_URLS[1]) in r)
    assert "broken (HTTP 404): 404" in row
    assert "failed 3 times in a row" in row
    assert "broken since 2026-10-30 09:30" in row
    assert "last checked 2026-11-01 09:30; next check 2026-11-02 09:30" in row
    redirected = next(r for r in rows if "img/b.md" in r)
    assert f"https://a.example/ends at {EVIL_URLS[0]}" in redirected


def test_each_topic_has_its_count_and_one_bar_per_day_with_articles() -> None:
    report = hostile_report()
    assert report.activity is not None
    _, tree = page_of(report)
    section = next(s for s in tree.find_all("section") if s.attrs["aria-labelledby"] == "topics")
    rows = section.find("tbody").find_all("tr")
    assert len(rows) == len(report.activity.topics)
    for row, topic in zip(rows, report.activity.topics, strict=True):
        name, count, chart = row.find_all("td")
        expected = "All topics" if topic.topic is None else squash(visible(topic.topic))
        assert squash(name.text()) == expected
        assert squash(count.text()) == f"{topic.articles:,}"
        svg = chart.find("svg")
        assert squash(svg.attrs["aria-label"]).startswith(
            squash("all topics" if topic.topic is None else visible(topic.topic))
        )
        bars = chart.find_all("rect", "bar")
        days = [i for i, n in enumerate(topic.per_day) if n]
        assert len(bars) == len(days)
        first = report.activity.last_day - timedelta(days=89)
        for bar, day in zip(bars, days, strict=True):
            when = first + timedelta(days=day)
            assert squash(bar.text()) == f"{when:%Y-%m-%d}: {topic.per_day[day]}"
            assert int(bar.attrs["x"]) == 4 * day
        # The busiest day fills the box; bars are inside it.
        heights = [int(b.attrs["height"]) for b in bars]
        if heights:
            assert max(heights) == 32 and all(2 <= h <= 32 for h in heights)


def test_the_page_is_byte_stable_and_says_so_when_there_is_nothing() -> None:
    report = hostile_report()
    assert render_report(report) == render_report(report)
    empty = BuildReport(0, (), (), (), 0, ())
    _, tree = page_of(empty)
    shown = squash(tree.text())
    for words in (
        "Invalid files (0) None: every file was read as it is.",
        "Duplicates (0) None: every story was filed once.",
        "Links were not checked in this build",
        "Articles per day were not counted for this report.",
    ):
        assert words in shown, words
    assert tree.find_all("table") == []


# --- the page of real builds ----------------------------------------------------------


def _age(*paths: Path) -> None:
    when = time.time() - 60  # older than the racy window: an unchanged build is seen
    for path in paths:
        os.utime(path, (when, when))


@pytest.mark.e2e  # several builds: over the fast tier's 0.3 s
def test_cold_incremental_and_unchanged_builds_give_the_same_page(tmp_path: Path) -> None:
    source = tmp_path / "src"
    for n in range(1, 25):
        write_article(
            source,
            f"{n:02}.md",
            n=n,
            publishedDateTime=NOW - timedelta(days=3 * n, hours=n),
            topics=["AI", "Robots"] if n % 2 else ["C++"],
            quality=20 if n % 7 == 0 else 80,
        )
    write_article(source, "copy.md", n=4, publishedDateTime=NOW - timedelta(days=12, hours=5))
    (source / "bad.md").write_text("---\ntitle: [x\n---\n", encoding="utf-8")
    _age(*source.iterdir())

    def settings(output: str) -> Config:
        return Config(sources=(source,), output=tmp_path / output, links="off")

    build(settings("inc"), now=NOW, activity=True)
    edited = write_article(
        source, "05.md", n=5, publishedDateTime=NOW - timedelta(days=1), topics=["New"]
    )
    (source / "10.md").unlink()
    (source / "11.md").write_text("---\ntitle: 5\n---\n", encoding="utf-8")
    _age(edited, source / "11.md")
    later = NOW + timedelta(hours=1)
    incremental = build(settings("inc"), now=later, activity=True)
    unchanged = build(settings("inc"), now=later, activity=True)
    cold = build(settings("cold"), now=later, activity=True)
    assert (incremental.mode, unchanged.mode, cold.mode) == ("incremental", "unchanged", "full")
    page = render_report(cold)
    assert render_report(incremental) == page
    assert render_report(unchanged) == page
    assert b"src/11.md" in page and b"New" in page


@pytest.mark.e2e  # real HTTP servers on 127.0.0.x
def test_a_dead_link_shows_with_its_history_from_the_state(tmp_path: Path, farm: Farm) -> None:
    gone = farm.url(0, "/gone?page=1")
    write_article(tmp_path / "src", "dead.md", n=1, webUrl=gone, images=None, publishedDateTime=NOW)
    write_article(tmp_path / "src", "fine.md", n=2, webUrl=farm.url(1, "/ok"), images=None)
    _age(*(tmp_path / "src").iterdir())
    settings = LinkCheckSettings(
        allow_private=True, retries=0, confirm_after=timedelta(hours=24),
        freshness=Freshness(jitter=0.0),
    )  # fmt: skip
    config = Config(
        sources=(tmp_path / "src",), output=tmp_path / "out", links="on", link_check=settings
    )
    first = build(config, now=NOW, activity=True)
    assert first.links is not None and not first.links.excluded  # one strike: kept
    later = NOW + timedelta(hours=25)
    second = build(config, now=later, activity=True)
    assert second.links is not None and [p for p, _ in second.links.excluded] == [
        str(tmp_path / "src" / "dead.md")
    ]
    page = render_report(second)
    tree = parse_html(page.decode("utf-8"))
    rows = _row_texts(tree, "links")
    dead = next(r for r in rows if "dead.md" in r)
    assert "broken (HTTP 404): 404 Not Found" in dead
    assert "failed 2 times in a row" in dead
    assert f"broken since {NOW:%Y-%m-%d %H:%M}" in dead
    assert f"last checked {later:%Y-%m-%d %H:%M}" in dead
    anchors = [a.attrs["href"] for a in tree.find_all("a") if not a.attrs["href"].startswith("#")]
    assert anchors == [canonical_url(gone)]  # as checked, and as the JSON has it
    excluded = _row_texts(tree, "excluded")
    assert any("dead.md" in row and "every feed" in row for row in excluded)
    # The same page when nothing changed since (the report and the results replayed).
    again = build(config, now=later, activity=True)
    assert again.mode == "unchanged"
    assert render_report(again) == page


# --- the real command ------------------------------------------------------------------

#: file names a hostile corpus may hold ("/" is the one character no name holds)
EVIL_NAMES = (
    '<script>alert(1)<\\script>"><img src=x onerror=alert(2)>.md',
    "]]><!--<iframe src=javascript:alert(3)>.md",
    "Künstliche & <b>bold<\\b> 人工知能.md",
)


def write_hostile_corpus(source: Path, now: datetime) -> None:
    """Valid, invalid, duplicate and excluded articles whose names and texts hold markup."""
    source.mkdir(parents=True)
    for n in range(1, 16):
        fields = article_fields(
            n=n,
            publishedDateTime=now - timedelta(days=5 * n, hours=n),
            topics=["AI", f"Topic {EVIL}"] if n % 2 else [UNICODE, "C++"],
            title=f"Title {n} {EVIL}",
        )
        (source / f"{n:02}.md").write_text(front_matter(fields), encoding="utf-8")
    # Each hostile name in the report: unpublished, invalid, a duplicate.
    recent = now - timedelta(days=1)
    hostile = [
        front_matter(article_fields(n=30, publishedDateTime=recent, published=False)),
        f"---\ntitle: {EVIL!r}\npublishedDateTime: nope\n---\n",
        front_matter(article_fields(n=1, publishedDateTime=recent, title=EVIL)),
    ]
    for name, text in zip(EVIL_NAMES, hostile, strict=True):
        (source / name).write_text(text, encoding="utf-8")
    bad = {
        f"bad {EVIL.replace('/', '_')}.md": f"---\ntitle: [{EVIL}\n---\n",
        "bad-url.md": front_matter(article_fields(n=40, webUrl="javascript:alert(1)")),
        "bad-title.md": f"---\ntitle: 5\nwebUrl: https://x.example/{EVIL}\n---\n",
        "empty.md": "",
    }
    for name, text in bad.items():
        (source / name).write_text(text, encoding="utf-8")
    extra: dict[str, dict[str, Any]] = {
        "unpublished.md": {"n": 41, "published": False, "topics": [EVIL]},
        "low.md": {"n": 42, "quality": 3},
        "strict-topic.md": {"n": 43, "quality": 60, "topics": ["Strict", "AI"]},
        "copy.md": {"n": 3, "publishedDateTime": now - timedelta(days=15, hours=4)},
        "warned.md": {"n": 44, "topics": ["AI", "", EVIL]},
        "old.md": {"n": 45, "publishedDateTime": now - timedelta(days=400)},
    }
    for name, overrides in extra.items():
        fields = article_fields(**{"publishedDateTime": now - timedelta(days=2), **overrides})
        (source / name).write_text(front_matter(fields), encoding="utf-8")
    (source / "bad-bytes.md").write_bytes(b"---\ntitle: \xff\xfe<script>\n---\n")


CONFIG = """\
sources: [src]
output: out
max_age: 365d
topics:
  Strict:
    min_quality: 90
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The real `aggregator build --report r.html` of a hostile corpus, and the JSON
    report of the same build (`--report r.json`, an unchanged build after it)."""
    root = tmp_path_factory.mktemp("report-site")
    write_hostile_corpus(root / "src", datetime.now(UTC))
    (root / "aggregator.yaml").write_text(CONFIG, encoding="utf-8")
    (root / "page").mkdir()
    first = run_cli("build", "--report", "page/r.html", cwd=root)
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    second = run_cli("build", "-q", "--report", "r.json", cwd=root)
    assert second.returncode == 0, second.stderr
    return root / "page" / "r.html", json.loads((root / "r.json").read_text(encoding="utf-8"))


@pytest.mark.e2e
def test_the_command_writes_a_page_with_everything_the_json_holds(
    built: tuple[Path, dict[str, Any]],
) -> None:
    page, data = built
    text = page.read_text(encoding="utf-8")
    tree = parse_html(text)
    assert {node.tag for node in tree.walk()} <= PAGE_TAGS
    assert not re.search(r"<(script|img|iframe|object|embed|link)\b", text, re.IGNORECASE)
    for node in tree.walk():
        assert not any(name.startswith("on") or name == "style" for name in node.attrs)
    assert data["counts"]["invalid"] >= 5 and data["counts"]["duplicates"] >= 1
    assert {e["code"] for e in data["excluded"]} >= {"unpublished", "quality", "max-age"}
    assert any(e["topic"] == "Strict" for e in data["excluded"])
    invalid = _row_texts(tree, "invalid")[1:]
    assert invalid == [squash(f"{e['path']} {e['line']} {e['reason']}") for e in data["errors"]]
    excluded = _row_texts(tree, "excluded")
    for exclusion in data["excluded"]:
        where = "every feed" if exclusion["topic"] is None else f"topic {exclusion['topic']}"
        assert squash(visible(f"{exclusion['path']} {exclusion['reason']} {where}")) in excluded
    shown = squash(tree.text())
    for name in EVIL_NAMES:
        assert squash(name) in shown
    # The topics of the JSON's activity, each with its count and a bar per busy day.
    section = [s for s in tree.find_all("section") if s.attrs["aria-labelledby"] == "topics"]
    rows = section[0].find("tbody")
    names = [squash(r.find("td").text()) for r in rows.find_all("tr")]
    expected = data["activity"]["topics"]
    assert names == ["All topics"] + [squash(t["topic"]) for t in expected[1:]]
    for row, topic in zip(rows.find_all("tr"), expected, strict=True):
        assert len(row.find_all("rect", "bar")) == sum(1 for n in topic["per_day"] if n)


@pytest.mark.e2e
def test_a_report_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    write_article(tmp_path / "src", "a.md")
    (tmp_path / "blocked").write_text("a file, not a folder", encoding="utf-8")
    result = run_cli(
        "build", "--source", "src", "--output", "out", "--report", "blocked/r.html", cwd=tmp_path
    )
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("aggregator: error: blocked/r.html: cannot write report:")
    )
    assert "Traceback" not in result.stderr


# --- in Chromium -----------------------------------------------------------------------


@pytest.mark.e2e
def test_chromium_shows_the_page_as_text_and_fits_a_phone(
    built: tuple[Path, dict[str, Any]], browser: Browser, tmp_path: Path
) -> None:
    page, data = built
    dom = browser.dom(page)
    # What Chromium made of it: no element from a file, every invalid file listed.
    assert {node.tag for node in dom.walk()} <= PAGE_TAGS | {"tbody"}
    assert dom.find_all("script") == [] and dom.find_all("img") == []
    shown = squash(dom.text())
    for error in data["errors"]:
        assert squash(visible(error["path"])) in shown
    # The layout probe is a script: in a copy of the page without the policy that
    # forbids every script.
    probed = tmp_path / "probed" / "r.html"
    probed.parent.mkdir()
    policy = f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'
    assert policy in page.read_text(encoding="utf-8")
    probed.write_text(page.read_text(encoding="utf-8").replace(policy, ""), encoding="utf-8")
    found = overflow(browser, probed, tmp_path)
    assert PHONE[0] - 20 <= found["client"] <= PHONE[0]
    assert found["scroll"] <= found["client"], found
    assert found["out"] == [], found
    assert found["narrow"] == [], found


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("scheme", "flags", "background"),
    [
        ("light", (), (255, 255, 255)),
        ("dark", ("--force-dark-mode", "--blink-settings=preferredColorScheme=0"), (18, 18, 18)),
    ],
)
def test_screenshots_at_phone_and_desktop_width_in_light_and_dark(
    built: tuple[Path, dict[str, Any]],
    browser: Browser,
    tmp_path: Path,
    scheme: str,
    flags: tuple[str, ...],
    background: tuple[int, int, int],
) -> None:
    page, _ = built
    for name, size in (("phone", (PHONE[0], 1600)), ("desktop", DESKTOP)):
        shot_path = tmp_path / f"{scheme}-{name}.png"
        browser.run(page, size, f"--screenshot={shot_path}", *flags)
        shot = png.decode(shot_path.read_bytes())
        colours = shot.colours(step=2)
        most, count = colours.most_common(1)[0]
        # The page's own background fills most of it, and there is text on it.
        assert most == background, (scheme, name, most)
        assert len(colours) > 20, f"{scheme} {name}: {len(colours)} colours: a blank page?"
        assert sum(colours.values()) - count > 0.02 * sum(colours.values()), (scheme, name)


def test_control_and_bidi_characters_of_a_name_show_as_escapes() -> None:
    """A file name with a bidi override would show as another name ("evil" as "live");
    a terminal escape would reach the page. Both are written out as escapes."""
    from aggregator.model import BuildReport as Report
    from aggregator.model import LoadError as Error

    name = "dup \u202eevil\u202c-\x1b[31mred.md"
    page = render_report(
        Report(
            loaded=1,
            errors=(Error(name, 3, "bad \u2066thing"),),
            duplicates=(),
            excluded=(),
            published=0,
            feeds=(),
        )
    ).decode("utf-8")
    assert "\u202e" not in page and "\x1b" not in page and "\u2066" not in page
    assert "dup \\u202eevil\\u202c-\\x1b[31mred.md" in page


def test_entries_of_a_remote_feed_that_became_no_article_are_listed() -> None:
    from aggregator.model import BuildReport as Report
    from aggregator.model import FeedState
    from aggregator.model import SkippedEntry

    state = FeedState(
        url="https://blog.example.com/feed.xml",
        skipped=(
            SkippedEntry(
                "tag:1", "A sponsored <b>thing</b>", "title matches the feed's title_filter"
            ),
            SkippedEntry("tag:2", "js link", "no usable link"),
        ),
    )
    page = render_report(
        Report(
            loaded=0, errors=(), duplicates=(), excluded=(), published=0, feeds=(), sources=(state,)
        )
    ).decode("utf-8")
    assert "A sponsored &lt;b&gt;thing&lt;/b&gt;" in page and "title_filter" in page
    assert "js link" in page and "no usable link" in page and "tag:2" in page
