"""Headless Chromium for the page tests (the index page, the HTML build report): a
page rendered at a size, screenshots, the rendered DOM parsed into a tree, and the
layout of a page in a frame as wide as a phone.

Chromium is Debian's `chromium` package, installed by `.ci/run` on CI (locally:
`apt-get install chromium`). When it is missing, the tests that use it skip and say why.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import png
import pytest

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser")
PHONE = (360, 800)
DESKTOP = (1280, 900)


# --- Chromium ------------------------------------------------------------------------


def _find_chromium() -> str | None:
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of a headless-capable Chromium; the tests skip without one."""
    found = _find_chromium()
    if found is None:
        pytest.skip(
            "Chromium is not installed (none of "
            f"{', '.join(CHROMIUM_CANDIDATES)} on PATH): `.ci/run` installs Debian's "
            "chromium package; locally, apt-get install chromium"
        )
    return found


@dataclass
class Browser:
    executable: str
    profile: Path

    def run(
        self, page: Path, size: tuple[int, int], *flags: str
    ) -> subprocess.CompletedProcess[str]:
        command = [
            self.executable,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            # Without these Chromium tries to reach Google's servers (tests are offline).
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            # Pictures come from the test's own server on 127.0.0.1; any other name
            # fails at once, so a page never reaches the internet.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--hide-scrollbars",
            f"--user-data-dir={self.profile}",
            f"--window-size={size[0]},{size[1]}",
            # Wait (in virtual time) for the pictures before the screenshot or the dump.
            "--virtual-time-budget=5000",
            *flags,
            page.as_uri(),
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
        assert result.returncode == 0, result.stderr[-2000:]
        return result

    def screenshot(self, page: Path, size: tuple[int, int], to: Path) -> png.Picture:
        self.run(page, size, f"--screenshot={to}")
        return png.decode(to.read_bytes())

    def dom(self, page: Path, size: tuple[int, int] = DESKTOP) -> Node:
        return parse_html(self.run(page, size, "--dump-dom").stdout)


@pytest.fixture(scope="module")
def browser(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Browser:
    return Browser(chromium, tmp_path_factory.mktemp("chromium-profile"))


# --- a parsed DOM --------------------------------------------------------------------

_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.walk()

    def find_all(self, tag: str | None = None, cls: str | None = None) -> list[Node]:
        return [
            n
            for n in self.walk()
            if (tag is None or n.tag == tag) and (cls is None or cls in n.classes())
        ]

    def find(self, tag: str | None = None, cls: str | None = None) -> Node:
        found = self.find_all(tag, cls)
        assert found, f"no <{tag or '*'} class={cls}>"
        return found[0]


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse_html(text: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(text)
    builder.close()
    return builder.root


def squash(text: str) -> str:
    return " ".join(text.split())


# The layout check runs in a copy of the page (the page itself has no script) shown
# in a frame exactly as wide as a phone: Chromium will not make a window narrower
# than 500 px, but a frame can be. The copy reports how much wider than the frame
# its document is and what sticks out (of the frame or of its own box); the frame's
# host page records the message.
_LAYOUT_PROBE = """<script>
const root = document.documentElement, limit = root.clientWidth;
const sticksOut = e => e.getBoundingClientRect().right > limit + 0.5 || (e.clientWidth > 0
  && getComputedStyle(e).overflowX === "visible" && e.scrollWidth > e.clientWidth + 1);
const out = [...document.querySelectorAll("body *")].filter(sticksOut)
  .map(e => e.tagName.toLowerCase() + "." + e.className);
// Text squeezed into a column a few letters wide, one letter a line: unreadable.
const squeezed = e => { const r = e.getBoundingClientRect();
  return e.textContent.trim().length > 20 && r.width > 0 && r.width < limit / 4
    && r.height > 200; };
const narrow = [...document.querySelectorAll("body h1, body h2, body h3, body p, body caption")]
  .filter(squeezed).map(e => e.tagName.toLowerCase() + "." + e.className);
parent.postMessage({scroll: root.scrollWidth, client: limit, out: out.slice(0, 10),
  narrow: narrow.slice(0, 10)}, "*");
</script>"""
_FRAME_HOST = """<!DOCTYPE html><html><body style="margin:0">
<iframe src="{page}" width="{width}" height="{height}" style="border:0"></iframe>
<script>
addEventListener("message", e => document.body.setAttribute("data-layout", JSON.stringify(e.data)));
</script></body></html>"""


def overflow(browser: Browser, page: Path, probe_dir: Path) -> dict[str, Any]:
    """The layout of `page` in a frame of phone width: document and frame widths
    (without the frame's scroll bar), the elements that stick out on the right, and the
    text squeezed into a column too narrow to read (`narrow`)."""
    copy = probe_dir / f"probe-{page.parent.name}.html"
    copy.write_text(
        page.read_text(encoding="utf-8").replace("</body>", _LAYOUT_PROBE + "</body>"),
        encoding="utf-8",
    )
    host = probe_dir / f"host-{page.parent.name}.html"
    host.write_text(
        _FRAME_HOST.format(page=copy.name, width=PHONE[0], height=PHONE[1]), encoding="utf-8"
    )
    body = browser.dom(host, DESKTOP).find("body")
    assert "data-layout" in body.attrs, "the layout probe did not report"
    result: dict[str, Any] = json.loads(body.attrs["data-layout"])
    return result
