"""Refusals that need no request apply in every build (#15): links on, cached or off,
images checked or not, and to related coverage, which no link check ever looks at.

A loopback article link leaves the feeds (`unsafe-link`); a metadata-address image
leaves its entry (enclosure, media:content, media:thumbnail, the <img> of the content,
JSON Feed `image`, the index page thumbnail); a related link to a loopback address
leaves the entry's "Related coverage". `aggregator topics` and `check-links` say the
same as `build`. Real files, real SQLite, `build()` with an injected clock and a
resolver that knows no name, and the real `aggregator` command; no request is sent.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import NOW
from conftest import run_cli
from conftest import write_article

from aggregator.app.overview import overview
from aggregator.config import Config
from aggregator.engine.pipeline import build
from aggregator.links.linkpolicy import LinkCheckSettings
from aggregator.model import BuildReport
from aggregator.state.store import Store

LOOPBACK = "http://127.0.0.1/admin"
ON_A_PORT = "https://news.example:8443/story"
FIVE_PARTS = "http://1.2.3.4.5/"
METADATA_IMAGE = "http://169.254.169.254/latest/meta-data/x.png"
MAPPED_IMAGE = "http://[::ffff:127.0.0.1]/pixel.gif"
FINE_IMAGE = "https://img.example/kite.jpg"
LOOPBACK_RELATED = "http://127.0.0.2/coverage"
METADATA_RELATED = "http://[::ffff:169.254.169.254]/latest/"
ODD_RELATED = "http://a..b/coverage"
FINE_RELATED = "https://other.example/coverage"
#: every URL no reader may be sent to, in the forms the files give them
REFUSED = (
    METADATA_IMAGE,
    MAPPED_IMAGE,
    LOOPBACK,
    ON_A_PORT,
    FIVE_PARTS,
    LOOPBACK_RELATED,
    METADATA_RELATED,
    ODD_RELATED,
)
CODES = {"loop.md": "unsafe-link", "port.md": "unsafe-link", "five.md": "unsupported-link"}


def no_name(host: str, port: int) -> Sequence[str]:
    raise socket.gaierror(socket.EAI_NONAME, "no such name (test resolver)")


def write_corpus(folder: Path) -> None:
    for n, (name, link) in enumerate(
        [("loop.md", LOOPBACK), ("port.md", ON_A_PORT), ("five.md", FIVE_PARTS)]
    ):
        write_article(folder, name, n=n * 3 + 1, title=f"Refused {name}", webUrl=link, images=None)
    write_article(
        folder,
        "kites.md",
        n=20,
        title="Kites soar",
        webUrl="https://kites.example/story",
        images=[{"url": METADATA_IMAGE}, {"url": MAPPED_IMAGE}, {"url": FINE_IMAGE}],
        related=[
            {"title": "Loop coverage", "webUrl": LOOPBACK_RELATED},
            {"title": "Metadata coverage", "webUrl": METADATA_RELATED},
            {"title": "Odd coverage", "webUrl": ODD_RELATED},
            {"title": "Fine coverage", "webUrl": FINE_RELATED},
        ],
    )
    write_article(
        folder,
        "boats.md",
        n=23,
        title="Boats sail",
        webUrl="https://boats.example/story",
        images=[{"url": METADATA_IMAGE}],
        related=[{"title": "Loop coverage", "webUrl": LOOPBACK_RELATED}],
    )


def codes(report: BuildReport) -> dict[str, str]:
    return {Path(e.path).name: e.code for e in report.excluded if e.topic is None}


def everything_written(out: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(out.rglob("*")) if p.is_file())


def assert_shown_without_refused_urls(out: Path) -> None:
    text = everything_written(out)
    for url in REFUSED:
        assert url not in text, url
        assert url.replace("&", "&amp;") not in text, url
    assert "127.0.0." not in text and "169.254" not in text
    items = {item["url"]: item for item in json.loads((out / "all.json").read_text())["items"]}
    assert set(items) == {"https://kites.example/story", "https://boats.example/story"}
    kites, boats = items["https://kites.example/story"], items["https://boats.example/story"]
    assert kites["image"] == FINE_IMAGE  # the first image left
    assert f'<img src="{FINE_IMAGE}"' in kites["content_html"]
    assert FINE_RELATED in kites["content_html"] and "Loop coverage" not in kites["content_html"]
    assert "image" not in boats and "<img" not in boats["content_html"]
    assert "Related coverage" not in boats["content_html"]
    rss = (out / "all.rss").read_text(encoding="utf-8")
    assert f'<enclosure url="{FINE_IMAGE}"' in rss and f'<media:content url="{FINE_IMAGE}"' in rss


@pytest.mark.parametrize("check_images", [True, False])
@pytest.mark.parametrize("links", ["on", "cached", "off"])
def test_refusals_apply_in_every_mode_to_links_images_and_related_coverage(
    tmp_path: Path, links: str, check_images: bool
) -> None:
    """Before, links `off` published the refused article links, `check_images: false`
    the metadata image, and every mode the loopback related links."""
    write_corpus(tmp_path / "articles")
    config = Config(
        sources=(tmp_path / "articles",),
        output=tmp_path / "out",
        links=links,
        link_check=LinkCheckSettings(check_images=check_images, retries=0),
        state=tmp_path / "state.sqlite",
    )
    with Store(tmp_path / "state.sqlite") as store:
        report = build(config, now=NOW, store=store, resolver=no_name)
    assert codes(report) == CODES
    assert report.published == 2
    assert_shown_without_refused_urls(tmp_path / "out")
    if links != "off":
        assert report.links is not None
        dropped = sorted((Path(p).name, r.klass) for p, r in report.links.images_dropped)
        # An image refused without a request is left out and reported, checked or not.
        assert dropped == [("boats.md", "unsafe"), ("kites.md", "unsafe"), ("kites.md", "unsafe")]
    # `aggregator topics` leaves out what the build left out, for the same reasons.
    view = overview(config, NOW)
    assert {(e.path, e.code, e.reason) for e in view.exclusions} == {
        (e.path, e.code, e.reason) for e in report.excluded
    }
    assert view.everything.kept == report.published


BUILD = ("build", "--source", "articles", "--output", "out", "--report", "report.json")


@pytest.mark.e2e
def test_the_command_applies_refusals_with_links_off_and_images_unchecked(
    tmp_path: Path,
) -> None:
    """`build --links off` (the incremental kind of build, twice: full, then
    incremental after an edit), `build --links cached` with `check_images: false`,
    `topics` in both modes and `check-links` agree, and no refused URL is published."""
    write_corpus(tmp_path / "articles")
    (tmp_path / "aggregator.yaml").write_text(
        "link_check:\n  check_images: false\n  retries: 0\n  timeout: 1s\n", encoding="utf-8"
    )

    def run(*args: str) -> Any:
        done = run_cli(*args, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        return done

    def report_codes() -> dict[str, str]:
        data = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
        return {Path(e["path"]).name: e["code"] for e in data["excluded"] if e["topic"] is None}

    run(*BUILD, "--links", "off")
    assert report_codes() == CODES
    assert_shown_without_refused_urls(tmp_path / "out")
    topics = json.loads(run("topics", "--json", "--links", "off", *BUILD[1:5]).stdout)
    assert {Path(e["path"]).name: e["code"] for e in topics["excluded"]} == CODES
    assert topics["links"]["mode"] == "off"
    text = run("topics", "--links", "off", *BUILD[1:5]).stdout
    assert "links: off; only links refused without a request" in text

    # An edit: the next build is incremental, and shows the same.
    write_article(
        tmp_path / "articles",
        "boats.md",
        n=23,
        title="Boats sail on",
        webUrl="https://boats.example/story",
        images=[{"url": MAPPED_IMAGE}],
        related=[{"title": "Loop coverage", "webUrl": LOOPBACK_RELATED}],
    )
    incremental = run(*BUILD, "--links", "off")
    assert "incremental build" in incremental.stdout, incremental.stdout
    assert report_codes() == CODES
    assert_shown_without_refused_urls(tmp_path / "out")

    cached = run(*BUILD, "--links", "cached", "--state", "state.sqlite")
    assert report_codes() == CODES
    assert_shown_without_refused_urls(tmp_path / "out")
    data = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    dropped = sorted((Path(d["path"]).name, d["class"]) for d in data["links"]["images_dropped"])
    assert dropped == [("boats.md", "unsafe"), ("kites.md", "unsafe"), ("kites.md", "unsafe")]
    assert "published 2 articles" in cached.stdout
    topics = json.loads(run("topics", "--json", *BUILD[1:5], "--state", "state.sqlite").stdout)
    assert topics["links"]["mode"] == "cached"
    assert {Path(e["path"]).name: e["code"] for e in topics["excluded"]} == CODES
    checked = json.loads(
        run("check-links", "--json", "--source", "articles", "--state", "state.sqlite").stdout
    )
    by_link = {r["link"]: r["class"] for r in checked["results"]}
    # Images are not checked, but those refused without a request are judged and shown.
    assert by_link[METADATA_IMAGE] == by_link[MAPPED_IMAGE] == "unsafe"
    assert FINE_IMAGE not in by_link
    assert by_link[LOOPBACK] == by_link[ON_A_PORT] == "unsafe"
    assert by_link[FIVE_PARTS] == "unsupported"


def test_a_provider_on_this_machine_gets_no_author_link(tmp_path: Path) -> None:
    """The author link made from a provider's domain is a link readers follow too."""
    source = tmp_path / "src"
    write_article(source, "a.md", provider={"name": "Local", "domain": "admin.localhost"})
    write_article(source, "b.md", n=2, provider={"name": "Real", "domain": "real.example.com"})
    output = tmp_path / "out"
    build(Config(sources=(source,), output=output, links="off"), now=NOW)
    for name in ("all.atom", "all.json", "index.html", "all.rss"):
        text = (output / name).read_text(encoding="utf-8")
        assert "localhost/" not in text.replace("http://localhost:8080/", ""), name
    assert "https://real.example.com/" in (output / "all.json").read_text(encoding="utf-8")
