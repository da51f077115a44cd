"""The progress display (aggregator/app/progress.py) on a fake terminal, and the phases
the engine tells a library caller (`aggregator.Progress`).

The terminal is an io.StringIO that says it is one; what it shows is worked out by
tests/terminal.py's `Screen` (carriage return, erase-line, line feed, wrapping). The
clock is a number the test moves.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest
from conftest import write_article
from terminal import Screen
from terminal import drawn

import aggregator
from aggregator.app.progress import ETA_AFTER_SECONDS
from aggregator.app.progress import Bar
from aggregator.app.progress import Handler
from aggregator.app.progress import Lines
from aggregator.app.progress import choose
from aggregator.app.progress import duration
from aggregator.app.progress import showing
from aggregator.app.progress import write_out
from aggregator.progress import Phase

NOW = datetime(2021, 3, 20, 12, 0, tzinfo=UTC)


class Terminal(io.StringIO):
    """A stream that says it is a terminal (or not)."""

    def __init__(self, *, terminal: bool = True) -> None:
        super().__init__()
        self.terminal = terminal

    def isatty(self) -> bool:
        return self.terminal


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def bar(clock: Clock, columns: int = 80) -> tuple[Bar, Terminal]:
    stream = Terminal()
    return Bar(stream, columns=columns, clock=clock), stream


def has_controls(text: str) -> bool:
    return any((c < " " and c != "\n") or c == "\x1b" for c in text)


# --- the bar on a terminal -----------------------------------------------------------


def test_the_bar_is_drawn_in_place_on_one_line(clock: Clock) -> None:
    shown, stream = bar(clock)
    with shown.showing() as progress:
        for done in range(0, 101, 10):
            clock.now += 0.2
            progress("read", done, 100)
        screen = Screen(80).feed(stream.getvalue())
        assert len(screen.text()) == 1  # every draw replaced the last one
        assert screen.text()[0].startswith("reading files")
        assert "100/100" in screen.text()[0] and "100%" in screen.text()[0]
    raw = stream.getvalue()
    assert "\n" not in raw
    assert len(drawn(raw)) == 11


def test_each_phase_replaces_the_last_and_the_end_leaves_a_clean_line(clock: Clock) -> None:
    shown, stream = bar(clock)
    phases: list[Phase] = ["read", "dedupe", "links", "write"]
    with shown.showing() as progress:
        for phase in phases:
            progress(phase, 0, 4)  # drawn at once: a new phase
            progress(phase, 4, 4)  # and its end
    raw = stream.getvalue()
    labels = ["reading files", "finding duplicates", "checking links", "writing feeds"]
    lines = drawn(raw)
    assert [next(label for label in labels if line.startswith(label)) for line in lines] == [
        label for label in labels for _ in range(2)
    ]
    assert raw.endswith("\r\x1b[K")
    assert Screen(80).feed(raw).text() == []


def test_the_line_is_cut_to_the_width_and_never_wraps(clock: Clock) -> None:
    for columns in (12, 30, 45, 60, 200):
        shown, stream = bar(clock, columns)
        with shown.showing() as progress:
            progress("dedupe", 0, 123_456_789)
            clock.now += 5
            progress("dedupe", 1_234, 123_456_789)
        lines = drawn(stream.getvalue())
        assert lines and all(len(line) <= columns - 1 for line in lines), (columns, lines)
        screen = Screen(columns).feed(stream.getvalue())
        assert screen.wrapped == 0
    # Wide enough: the bar, the counts, the percentage and the time left all show.
    assert "[" in lines[-1] and "1,234/123,456,789" in lines[-1] and "left" in lines[-1]


def test_the_width_follows_the_terminal(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    # A stream with no terminal behind it: the width the environment gives.
    monkeypatch.setenv("COLUMNS", "40")
    shown = Bar(Terminal(), clock=clock)
    assert shown.width() == 39


def test_a_terminal_of_no_size_is_taken_as_the_usual_width(
    clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pseudo-terminal nobody gave a size says it has 0 columns: not a bar cut to
    nothing, but the width COLUMNS says, or 80."""
    master, slave = os.openpty()
    with os.fdopen(slave, "w") as stream, contextlib.closing(io.FileIO(master)):
        assert os.get_terminal_size(slave).columns == 0
        monkeypatch.setenv("COLUMNS", "100")
        assert Bar(stream, clock=clock).width() == 99
        monkeypatch.delenv("COLUMNS")
        assert Bar(stream, clock=clock).width() >= 40


def test_the_time_left_shows_once_a_phase_has_run_a_second(clock: Clock) -> None:
    shown, stream = bar(clock)
    with shown.showing() as progress:
        progress("links", 0, 100)
        clock.now += ETA_AFTER_SECONDS / 2
        progress("links", 40, 100)  # 40% done, but too soon to tell
        assert "left" not in drawn(stream.getvalue())[-1]
        clock.now += ETA_AFTER_SECONDS / 2
        progress("links", 50, 100)  # 50 in 1 s: 50 more take 1 s
        assert drawn(stream.getvalue())[-1].endswith("~1 s left")
        clock.now += 9
        progress("links", 75, 100)  # 75 in 10 s: 25 more take 3.4 s
        assert drawn(stream.getvalue())[-1].endswith("~4 s left")
        clock.now += 1
        progress("links", 100, 100)
        assert "left" not in drawn(stream.getvalue())[-1]


def test_the_time_left_counts_from_where_the_phase_started(clock: Clock) -> None:
    """Files taken from the cache are done at once: the rate is that of the files
    parsed since."""
    shown, stream = bar(clock)
    with shown.showing() as progress:
        progress("read", 900, 1000)
        clock.now += 2
        progress("read", 910, 1000)  # 10 in 2 s: 90 more take 18 s
        assert drawn(stream.getvalue())[-1].endswith("~18 s left")


def test_redraws_are_at_most_ten_a_second(clock: Clock) -> None:
    shown, stream = bar(clock)
    with shown.showing() as progress:
        for done in range(1000):
            clock.now += 0.001  # a second in all
            progress("read", done, 1000)
        progress("read", 1000, 1000)
    # The first, one every 0.1 s, and the end.
    assert 10 <= len(drawn(stream.getvalue())) <= 12


@pytest.mark.parametrize("error", [KeyboardInterrupt, aggregator.OutputError])
def test_the_bar_is_erased_when_the_run_fails_or_is_interrupted(
    clock: Clock, error: type[BaseException]
) -> None:
    shown, stream = bar(clock)
    with pytest.raises(error), shown.showing() as progress:
        progress("write", 3, 10)
        raise error("stopped")
    assert stream.getvalue().endswith("\r\x1b[K")
    assert Screen(80).feed(stream.getvalue()).text() == []


class _InterruptedOnce(io.StringIO):
    """A terminal on which a Ctrl-C lands just after the first line is written."""

    interrupted = False

    def flush(self) -> None:
        super().flush()
        if not self.interrupted:
            self.interrupted = True
            raise KeyboardInterrupt


def test_a_ctrl_c_right_after_the_first_line_still_leaves_a_clean_screen(clock: Clock) -> None:
    stream = _InterruptedOnce()
    shown = Bar(stream, columns=80, clock=clock)
    with pytest.raises(KeyboardInterrupt), shown.showing() as progress:
        progress("read", 0, 3000)
    assert stream.getvalue().startswith("\rreading files")
    assert Screen(80).feed(stream.getvalue()).text() == []


def test_a_log_line_erases_the_bar_and_it_is_drawn_again_below(clock: Clock) -> None:
    shown, stream = bar(clock)
    logger = logging.getLogger("test.progress")
    handler = Handler(stream, shown)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with shown.showing() as progress:
            progress("read", 5, 10)
            logger.warning("a warning in the middle")
            screen = Screen(80).feed(stream.getvalue()).text()
            assert screen[0] == "a warning in the middle"
            assert screen[1].startswith("reading files") and "5/10" in screen[1]
        assert Screen(80).feed(stream.getvalue()).text() == ["a warning in the middle"]
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


def test_warnings_of_a_command_without_logging_set_up_get_lines_of_their_own(
    clock: Clock,
) -> None:
    """`build` sets up no logging: a warning (a hub that fails) goes through the root
    logger's last resort, which would write it after the bar."""
    shown, stream = bar(clock)
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers[:] = []
    try:
        with showing(shown) as progress:
            assert progress is not None
            progress("write", 1, 2)
            logging.getLogger("aggregator.publishing.websub").warning("hub failed")
            logging.getLogger("aggregator.publishing.websub").info("not shown")
        assert root.handlers == []
    finally:
        root.handlers[:] = saved
    assert Screen(80).feed(stream.getvalue()).text() == ["hub failed"]


def test_a_terminal_that_is_gone_stops_the_drawing_not_the_run(clock: Clock) -> None:
    stream = Terminal()
    shown = Bar(stream, columns=80, clock=clock)
    stream.close()
    with shown.showing() as progress:
        progress("read", 1, 2)  # no error
        progress("read", 2, 2)


# --- off a terminal ------------------------------------------------------------------


def test_plain_lines_have_no_control_character_and_are_few(clock: Clock) -> None:
    said: list[str] = []
    plain = Lines(said.append, clock=clock)
    phases: list[Phase] = ["read", "dedupe", "links", "write"]
    with plain.showing() as progress:
        for phase in phases:
            for done in range(101):
                clock.now += 0.25  # 25 s a phase
                progress(phase, done, 100)
    # Two every 25 s (at 10 s and 20 s), and one at the end, for each phase.
    assert len(said) == 4 * 3
    assert said[2] == "reading files: 100/100 done after 25 s"
    assert said[0].startswith("reading files: ") and said[0].endswith(" done after 10 s")
    assert not any(has_controls(line) for line in said)


def test_off_a_terminal_only_links_are_told_unless_every_phase_is_asked(clock: Clock) -> None:
    stream = Terminal(terminal=False)
    display = choose(stream, None)
    assert isinstance(display, Lines)
    with showing(display) as progress:
        assert progress is not None
        progress("read", 10, 10)
        progress("links", 3, 3)
        progress("write", 2, 2)
    assert stream.getvalue().startswith("checking links: 3/3 done after ")
    assert stream.getvalue().count("\n") == 1
    forced = Terminal(terminal=False)
    with showing(choose(forced, True)) as progress:
        assert progress is not None
        progress("read", 10, 10)
        progress("dedupe", 0, 0)  # not known yet: nothing to say
        progress("write", 2, 2)
    said = forced.getvalue().splitlines()
    assert [line.split(":")[0] for line in said] == ["reading files", "writing feeds"]
    assert not has_controls(forced.getvalue())


def test_the_choice_of_display(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    assert isinstance(choose(Terminal(), None), Bar)
    assert isinstance(choose(Terminal(), True), Bar)
    assert choose(Terminal(), False) is None  # --no-progress on a terminal
    assert choose(Terminal(terminal=False), False) is None
    assert choose(Terminal(terminal=False), None, plain=()) is None  # the daemon, in a pipe
    assert isinstance(choose(Terminal(terminal=False), True, plain=()), Lines)
    monkeypatch.setenv("TERM", "dumb")  # no erase-line there: plain lines
    assert isinstance(choose(Terminal(), None), Lines)


def test_durations_read_as_a_person_says_them() -> None:
    assert [duration(s) for s in (0.2, 8, 59.5, 60, 125, 3599, 3600, 4850)] == [
        "1 s",
        "8 s",
        "1 min 0 s",
        "1 min 0 s",
        "2 min 5 s",
        "59 min 59 s",
        "1 h 0 min",
        "1 h 20 min",
    ]


# --- what the engine tells ---------------------------------------------------------------


class Heard:
    """A library caller's progress callback: every call, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[Phase, int, int]] = []

    def __call__(self, phase: Phase, done: int, total: int, /) -> None:
        self.calls.append((phase, done, total))

    def phases(self) -> list[Phase]:
        return list(dict.fromkeys(phase for phase, _, _ in self.calls))

    def ends(self, phase: Phase) -> tuple[int, int]:
        _, done, total = [call for call in self.calls if call[0] == phase][-1]
        return done, total


def check_counts(heard: Heard) -> None:
    """Within a phase the counts only grow (or start again at 0) and never pass the total."""
    last: dict[Phase, int] = {}
    for phase, done, total in heard.calls:
        assert 0 <= done <= total, (phase, done, total)
        assert done >= last.get(phase, 0) or done == 0, (phase, done, last)
        last[phase] = done


@pytest.fixture
def articles(tmp_path: Path) -> Iterator[Path]:
    for n in range(1, 31):
        # Two stories with the same title in each pair: there is something to find.
        write_article(tmp_path / "src", f"{n:02}.md", n=n, images=None, title=f"Story {n // 2}")
    yield tmp_path / "src"


def test_a_build_tells_reading_dedupe_and_writing_in_order(tmp_path: Path, articles: Path) -> None:
    config = aggregator.load_config(
        None, sources=[articles], output=tmp_path / "out", links="off", max_age="3650d"
    )
    heard = Heard()
    report = aggregator.build(config, now=NOW, progress=heard)
    assert heard.phases() == ["read", "dedupe", "write"]
    assert heard.ends("read") == (30, 30)
    done, total = heard.ends("dedupe")
    assert done == total > 0
    feeds = len({(r.topic, r.path.rsplit(".", 1)[0]) for r in report.feeds if r.entries})
    assert heard.ends("write") == (feeds, feeds)
    check_counts(heard)


def test_an_incremental_build_tells_only_the_files_it_reads(tmp_path: Path, articles: Path) -> None:
    config = aggregator.load_config(None, sources=[articles], output=tmp_path / "out", links="off")
    aggregator.build(config, now=NOW)
    write_article(articles, "31.md", n=31, images=None)
    heard = Heard()
    assert aggregator.build(config, now=NOW, progress=heard).mode == "incremental"
    assert heard.ends("read") == (1, 1)
    check_counts(heard)


def test_output_in_an_encoding_that_cannot_hold_a_character_is_escaped() -> None:
    # PYTHONIOENCODING=ascii, a Latin-1 locale: `validate` and `topics` ended in a
    # UnicodeEncodeError traceback at the first name or title outside the encoding.
    text = json.dumps({"topic": "\u00c9tica \u2603 \U0001f600"}, ensure_ascii=False) + "\n"
    for encoding in ("ascii", "latin-1"):
        raw = io.BytesIO()
        stream = io.TextIOWrapper(raw, encoding=encoding)
        write_out(stream, text)
        stream.flush()
        written = raw.getvalue().decode(encoding)
        assert json.loads(written) == json.loads(text)  # JSON stays JSON
        assert "\\u2603" in written, written  # a line of text shows the escape
