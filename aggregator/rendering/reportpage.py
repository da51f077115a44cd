"""The HTML build report: one self-contained page for an editor. Pure: same report,
same bytes.

What the JSON report holds, for people: the counts; every invalid file (path, line,
reason); every warning; every duplicate (the copy kept, the copies dropped, why and
how alike); every exclusion, grouped by its reason; the links that kept articles (or
images) out, with what the state knows of their history; the remote feeds; and per
topic its articles with a small chart of those published on each of the last days
(`BuildReport.activity`). Nothing here depends on how the build ran (cold,
incremental or unchanged), so the same inputs at the same clock give the same page.

The page has inline CSS (the index page's colour schemes, light and dark), no script
and no asset from anywhere; its Content-Security-Policy allows nothing else. Every
text from an article file or the state (paths, reasons, topics, URLs) is escaped; a
URL is a link only when it is http(s). It names unpublished files: it is not for the
public (see `aggregator run`'s `serve_report`).
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from collections.abc import Sequence
from datetime import date
from datetime import datetime
from datetime import timedelta
from urllib.parse import urlsplit

from aggregator.model import Activity
from aggregator.model import BuildReport
from aggregator.model import DroppedCopy
from aggregator.model import Duplicate
from aggregator.model import Exclusion
from aggregator.model import FeedState
from aggregator.model import LinkResult
from aggregator.model import LinkSummary
from aggregator.model import LoadError
from aggregator.model import LoadWarning
from aggregator.model import TopicActivity
from aggregator.model import dropped
from aggregator.model import left_out
from aggregator.rendering.pages import BASE_STYLE

#: what the page allows itself: inline styles, nothing else (no script, no request)
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
)
#: each exclusion reason as a heading, in the order the page lists them
EXCLUSION_GROUPS: dict[str, str] = {
    "unpublished": "Not published",
    "quality": "Quality below the threshold",
    "max-age": "Older than max_age",
    "dead-link": "Dead link",
    "unsafe-link": "Unsafe link",
    "unsupported-link": "Unsupported link",
}
#: the chart's box: one bar per day, this many units wide (a unit of gap included),
#: in a box this many units high (the busiest day's bar fills it)
_BAR = 4
_HEIGHT = 32

_STYLE = (
    BASE_STYLE
    + """
.lead,.muted,footer{color:var(--muted)}
.lead{font-size:1.1rem;margin:0 0 1rem}
.toc{display:flex;flex-wrap:wrap;gap:.25rem 1rem;list-style:none;padding:0;margin:0}
.toc a{display:inline-block;padding:.35rem .1rem}
h3{margin:1rem 0 .25rem}
.counts{display:grid;gap:.5rem;grid-template-columns:repeat(auto-fill,minmax(min(100%,10rem),1fr));
margin:0}
.counts div{background:var(--card);border:1px solid var(--line);border-radius:.5rem;
padding:.5rem .75rem}
.counts dt{color:var(--muted);font-size:.9rem}
.counts dd{margin:0;font-size:1.5rem;font-weight:600;font-variant-numeric:tabular-nums}
table{width:100%;border-collapse:collapse;font-size:.95rem}
.caption{color:var(--muted);margin:.25rem 0}
th,td{text-align:left;vertical-align:top;padding:.4rem .5rem;border-top:1px solid var(--line)}
thead th{border-top:0;border-bottom:2px solid var(--line)}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.path,.url{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}
ul.plain{list-style:none;padding:0;margin:0}
.chart{display:block;width:100%;max-width:24rem;height:2.5rem}
.chart .bar{fill:var(--accent)}
.chart .axis{fill:var(--line)}
footer{border-top:1px solid var(--line);margin-top:2rem;padding-top:1rem;font-size:.9rem}
@media (max-width:40rem){
table,tbody,tr,td{display:block}
thead{display:none}
tr{border-top:1px solid var(--line);padding:.4rem 0}
td{border:0;padding:.1rem 0}
td.n{text-align:left}
td[data-label]::before{content:attr(data-label) ": ";color:var(--muted)}
}
""".rstrip()
)


def render_report(report: BuildReport, *, site_title: str = "Aggregator") -> bytes:
    """The build report as one HTML page (UTF-8): see the module docstring."""
    esc = _esc
    sections = [
        ("invalid", f"Invalid files ({len(report.errors)})", _problems(report.errors, "invalid")),
        ("warnings", f"Warnings ({len(report.warnings)})", _problems(report.warnings, "warning")),
        (
            "duplicates",
            f"Duplicates ({dropped(report.duplicates)})",
            _duplicates(report.duplicates),
        ),
        ("excluded", f"Left out ({len(report.excluded)})", _exclusions(report.excluded)),
        ("links", "Dead and unsafe links", _links(report.links)),
    ]
    if report.sources:
        sections.append(("feeds", f"Remote feeds ({len(report.sources)})", _feeds(report)))
    sections.append(("topics", f"Topics ({_topic_count(report)})", _topics(report.activity)))
    lines = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">',
        '<meta name="referrer" content="no-referrer">',
        '<meta name="robots" content="noindex, nofollow">',
        '<meta name="generator" content="aggregator">',
        f"<title>Build report: {esc(site_title)}</title>",
        f"<style>\n{_STYLE}\n</style>",
        "</head>",
        "<body>",
        '<a class="skip" href="#main">Skip to the report</a>',
        '<div class="page">',
        "<header>",
        "<h1>Build report</h1>",
        f'<p class="lead">{esc(site_title)}: what the build read, left out and published. '
        "It names unpublished files: keep it private.</p>",
        "</header>",
        '<nav aria-label="Sections">',
        '<ul class="toc">',
        '<li><a href="#counts">Counts</a></li>',
        *(f'<li><a href="#{key}">{esc(title)}</a></li>' for key, title, _ in sections),
        "</ul>",
        "</nav>",
        '<main id="main">',
        *_section("counts", "Counts", _counts(report)),
    ]
    for key, title, body in sections:
        lines += _section(key, title, body)
    lines += [
        "</main>",
        "<footer>",
        "<p>Made by aggregator from the build's report. Times are UTC.</p>",
        "</footer>",
        "</div>",
        "</body>",
        "</html>",
        "",
    ]
    # A file name that is not UTF-8 is held with surrogates: shown escaped, never lost.
    return "\n".join(lines).encode("utf-8", "backslashreplace")


def _section(key: str, title: str, body: list[str]) -> list[str]:
    return [
        f'<section aria-labelledby="{key}">',
        f'<h2 id="{key}">{_esc(title)}</h2>',
        *body,
        "</section>",
    ]


# -- counts ------------------------------------------------------------------------------


def _topic_count(report: BuildReport) -> int:
    return len({f.topic for f in report.feeds if f.topic is not None and f.entries})


def _counts(report: BuildReport) -> list[str]:
    by_code, from_topics = left_out(report.excluded)
    counts = [
        ("Articles loaded", report.loaded),
        ("Invalid files", len(report.errors)),
        ("Warnings", len(report.warnings)),
        ("Duplicates dropped", dropped(report.duplicates)),
        ("Left out of every feed", by_code.total()),
        ("Left out of one topic", from_topics),
        ("Published", report.published),
        ("Topics", _topic_count(report)),
    ]
    if report.links is not None:
        counts += [
            ("Links checked", report.links.checked),
            ("Left out for their link", len(report.links.excluded)),
        ]
    if report.sources:
        failing = sum(1 for s in report.sources if s.error is not None)
        counts += [("Remote feeds", len(report.sources)), ("Remote feeds failing", failing)]
    lines = ['<dl class="counts">']
    lines += [f"<div><dt>{name}</dt><dd>{number:,}</dd></div>" for name, number in counts]
    lines.append("</dl>")
    return lines


# -- lists -------------------------------------------------------------------------------


def _table(headings: Sequence[str], rows: Iterable[Sequence[str]], caption: str = "") -> list[str]:
    """A table whose cells are HTML already; each cell is labelled with its heading,
    which a narrow screen shows beside it (rows become blocks there)."""
    # A caption as a paragraph before the table: a table's caption shrinks to its
    # narrowest where the rows become blocks (a phone).
    lines = [f'<p class="caption">{caption}</p>'] if caption else []
    lines.append("<table>")
    lines.append("<thead><tr>" + "".join(f"<th>{h}</th>" for h in headings) + "</tr></thead>")
    lines.append("<tbody>")
    for row in rows:
        cells = "".join(
            f'<td data-label="{h}"{_numeric(h)}>{cell}</td>'
            for h, cell in zip(headings, row, strict=True)
        )
        lines.append(f"<tr>{cells}</tr>")
    lines.append("</tbody>")
    lines.append("</table>")
    return lines


def _numeric(heading: str) -> str:
    return ' class="n"' if heading in ("Line", "Score", "Articles") else ""


def _none(text: str) -> list[str]:
    return [f'<p class="muted">{text}</p>']


def _esc(text: str, quote: bool = True) -> str:
    """`text` as HTML text: escaped, and every character that does not print (controls,
    bidi overrides that would show a path as another) written out as its escape, as the
    command line shows them."""
    if not text.isprintable():
        text = "".join(c if c.isprintable() or c in "\t\n" else repr(c)[1:-1] for c in text)
    return html.escape(text, quote)


def _path(path: str) -> str:
    return f'<span class="path">{_esc(path)}</span>'


def _problems(items: Sequence[LoadError] | Sequence[LoadWarning], what: str) -> list[str]:
    if not items:
        return _none("None: every file was read as it is." if what == "invalid" else "None.")
    rows = ((_path(i.path), str(i.line), _esc(i.reason)) for i in items)
    return _table(("File", "Line", "Reason"), rows)


def _duplicates(duplicates: Sequence[Duplicate]) -> list[str]:
    if not duplicates:
        return _none("None: every story was filed once.")
    rows = []
    for d in duplicates:
        # A duplicate made without its copies one by one: each as the whole story.
        copies = d.copies or tuple(DroppedCopy(p, d.reason, d.score) for p in d.dropped)
        listed = "".join(
            f"<li>{_path(c.path)} <span class='muted'>({_esc(c.reason)}, {c.score:.2f})</span></li>"
            for c in copies
        )
        rows.append(
            (
                _path(d.kept),
                f'<ul class="plain">{listed}</ul>',
                _esc(d.reason),
                f"{d.score:.2f}",
            )
        )
    return _table(("Kept", "Dropped copies", "Reason", "Score"), rows)


def _exclusions(excluded: Sequence[Exclusion]) -> list[str]:
    if not excluded:
        return _none("None: every article kept after dedupe was published.")
    groups: dict[str, list[Exclusion]] = {}
    for exclusion in excluded:
        groups.setdefault(exclusion.code, []).append(exclusion)
    order = [*EXCLUSION_GROUPS, *sorted(set(groups) - set(EXCLUSION_GROUPS))]
    lines: list[str] = []
    for code in order:
        items = groups.get(code)
        if not items:
            continue
        heading = _esc(EXCLUSION_GROUPS.get(code, code))
        lines.append(f'<h3 id="excluded-{_esc(code)}">{heading} ({len(items)})</h3>')
        rows = (
            (
                _path(e.path),
                _esc(e.reason),
                "every feed" if e.topic is None else f"topic {_esc(e.topic)}",
            )
            for e in items
        )
        lines += _table(("File", "Reason", "Left out of"), rows)
    return lines


# -- links -------------------------------------------------------------------------------


def _link(url: str) -> str:
    """A URL as a link when it is http(s), else as text."""
    shown = f'<span class="url">{_esc(url)}</span>'
    if not is_web_url(url):
        return shown
    return f'<a href="{_esc(url)}" rel="nofollow noopener noreferrer">{shown}</a>'


def is_web_url(url: str) -> bool:
    """Whether `url` may be a link on the page: http(s) with a host, and nothing a
    browser would strip or read otherwise (spaces, control characters)."""
    if not url.isprintable() or any(c.isspace() for c in url):
        return False
    lowered = url.lower()
    if not lowered.startswith(("http://", "https://")):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def _links(links: LinkSummary | None) -> list[str]:
    if links is None:
        return _none(
            "Links were not checked in this build (links: off). Links refused without a "
            "request (unsafe or unsupported addresses) are among the articles left out."
        )
    classes = ", ".join(f"{n:,} {_esc(k)}" for k, n in links.classes) or "no results"
    lines = [f"<p>{links.checked:,} links checked ({links.mode}): {classes}.</p>"]
    if links.network_down:
        lines.append(
            "<p><strong>The network looked down:</strong> only links refused without a "
            "request were judged again.</p>"
        )
    lines.append(f"<h3>Articles left out for their link ({len(links.excluded)})</h3>")
    lines += _results(links.excluded) if links.excluded else _none("None.")
    lines.append(f"<h3>Images left out of their entries ({len(links.images_dropped)})</h3>")
    lines += _results(links.images_dropped) if links.images_dropped else _none("None.")
    return lines


def _results(listed: Sequence[tuple[str, LinkResult]]) -> list[str]:
    rows = ((_path(path), _link_cell(r), _verdict(r), _history(r)) for path, r in listed)
    # The URL as checked: its canonical form (`stories.urls`), as the JSON report has it.
    return _table(("Article", "Link (canonical)", "Result", "History"), rows)


def _link_cell(result: LinkResult) -> str:
    cell = _link(result.url)
    if result.final_url and result.final_url != result.url:
        cell += f"<br><span class='muted'>ends at</span> {_link(result.final_url)}"
    return cell


def _verdict(result: LinkResult) -> str:
    status = f" (HTTP {result.status})" if result.status is not None else ""
    return f"<strong>{_esc(result.klass)}</strong>{status}: {_esc(result.reason)}"


def _history(result: LinkResult) -> str:
    parts = []
    if result.failures:
        times = "time" if result.failures == 1 else "times in a row"
        parts.append(f"failed {result.failures:,} {times}")
    if result.broken_since is not None:
        parts.append(f"broken since {_time(result.broken_since)}")
    parts.append(f"last checked {_time(result.checked_at)}")
    parts.append(f"next check {_time(result.next_check_at)}")
    return "; ".join(parts)


def _time(when: datetime) -> str:
    return f'<time datetime="{when.isoformat()}">{when:%Y-%m-%d %H:%M}</time>'


# -- remote feeds ------------------------------------------------------------------------


def _feeds(report: BuildReport) -> list[str]:
    rows = (_feed_row(state) for state in report.sources)
    lines = _table(("Feed", "Status", "Articles", "Last error"), rows)
    skipped = [(state, entry) for state in report.sources for entry in state.skipped]
    if skipped:
        total = sum(s.left_out for s in report.sources)
        lines.append(f"<h3>Entries that became no article ({total})</h3>")
        entries = (
            (_link(state.url), _esc(entry.title), _esc(entry.id), _esc(entry.reason))
            for state, entry in skipped
        )
        lines += _table(("Feed", "Title", "Entry", "Reason"), entries)
        if total > len(skipped):
            lines.append(f"<p>and {total - len(skipped)} more (the first are listed)</p>")
    return lines


def _feed_row(state: FeedState) -> tuple[str, str, str, str]:
    feed = _link(state.url)
    if state.title:
        feed = f"{_esc(state.title)}<br>{feed}"
    if state.gone:
        status = "gone (410): no longer asked for"
    elif state.status is not None:
        status = f"HTTP {state.status}"
    else:
        status = "no answer" if state.checked_at else "not fetched yet"
    if state.checked_at is not None:
        status += f"; asked {_time(state.checked_at)}"
    return feed, status, f"{state.entries:,}", _esc(state.error or "")


# -- topics ------------------------------------------------------------------------------


def _topics(activity: Activity | None) -> list[str]:
    if activity is None:
        return _none("Articles per day were not counted for this report.")
    first = activity.last_day - timedelta(days=activity.days - 1)
    caption = (
        f"Articles in each feed, and those published on each day from {first:%Y-%m-%d} to "
        f"{activity.last_day:%Y-%m-%d}: each chart has its own scale (its tallest bar is "
        "its busiest day)."
    )
    rows = (
        (
            "<strong>All topics</strong>" if t.topic is None else _esc(t.topic),
            f"{t.articles:,}",
            chart(t, first),
        )
        for t in activity.topics
    )
    return _table(("Topic", "Articles", f"Last {activity.days} days"), rows, caption)


def chart(item: TopicActivity, first: date) -> str:
    """A small SVG bar chart of `item.per_day` (the first day is `first`): one bar per
    day with articles, its height to scale with the busiest day's, each with a title
    saying its day and count (a tooltip)."""
    days = len(item.per_day)
    busiest = max(item.per_day, default=0)
    recent = sum(item.per_day)
    name = "all topics" if item.topic is None else item.topic
    label = f"{name}: {recent:,} article{'s' if recent != 1 else ''} in {days} days" + (
        f", at most {busiest:,} a day" if busiest else ""
    )
    width = days * _BAR
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {_HEIGHT}" preserveAspectRatio="none" '
        f'role="img" aria-label="{_esc(label)}">',
        f'<rect class="axis" x="0" y="{_HEIGHT - 1}" width="{width}" height="1"/>',
    ]
    for index, count in enumerate(item.per_day):
        if not count:
            continue
        height = max(2, round(count * _HEIGHT / busiest))
        day = first + timedelta(days=index)
        parts.append(
            f'<rect class="bar" x="{index * _BAR}" y="{_HEIGHT - height}" '
            f'width="{_BAR - 1}" height="{height}"><title>{day:%Y-%m-%d}: {count:,}</title></rect>'
        )
    parts.append("</svg>")
    recent_text = f'<span class="muted">{recent:,} in {days} days</span>'
    return "".join(parts) + recent_text
