"""The `aggregator` command: parses options, calls the library, maps errors to exit codes.

Exit codes: 0 the run completed (invalid article files are warnings); 1 the run
failed (output not writable, output locked by another writer, state file, server
address, I/O); 2 a usage or config error (an unknown option, a bad option value, a
bad config file, a missing source folder, a private file inside the output folder);
3 with `--strict` when any article file was invalid. `validate` exits 1 when any
article file has a problem. Every error is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import signal
import sys
import threading
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING
from typing import Any
from typing import TextIO
from typing import cast
from urllib.parse import urlsplit

from aggregator.app import feedlist
from aggregator.app.logs import setup_logging
from aggregator.app.overview import overview
from aggregator.app.overview import render_text
from aggregator.app.overview import to_json
from aggregator.app.progress import ONLY_LINKS
from aggregator.app.progress import Bar
from aggregator.app.progress import choose as progress_display
from aggregator.app.progress import lines_text
from aggregator.app.progress import one_line
from aggregator.app.progress import output_failed
from aggregator.app.progress import output_fresh
from aggregator.app.progress import showing
from aggregator.app.progress import write_out
from aggregator.app.scaffold import write_scaffold
from aggregator.clock import utcnow
from aggregator.config import DEFAULT_CONFIG_NAME
from aggregator.config import LONGEST
from aggregator.config import LONGEST_WAIT
from aggregator.config import MAX_COUNT
from aggregator.config import Config
from aggregator.config import FeedSource
from aggregator.config import check_cron
from aggregator.config import check_host
from aggregator.config import feed_source
from aggregator.config import load_config
from aggregator.config import normalise_base_url
from aggregator.config import parse_duration
from aggregator.config import read_config
from aggregator.config import state_location
from aggregator.config import with_overrides
from aggregator.errors import AggregatorError
from aggregator.errors import ConfigError
from aggregator.fastjson import indented
from aggregator.library import DEFAULT_WAIT
from aggregator.library import add_feed
from aggregator.library import build
from aggregator.library import check_links
from aggregator.library import feed_states
from aggregator.library import validate
from aggregator.model import Activity
from aggregator.model import BuildReport
from aggregator.model import LinkResult
from aggregator.model import LinkSummary
from aggregator.model import dropped
from aggregator.model import left_out
from aggregator.publishing.layout import Layout
from aggregator.publishing.layout import check_layout
from aggregator.publishing.output import write_atomic
from aggregator.rendering.reportpage import render_report
from aggregator.sources.loader import no_collection_at_exit
from aggregator.version import __version__

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

# The daemon (APScheduler) and the HTTP server (waitress) are imported by the commands
# that use them: `build` starts faster without them.

EXIT_OK = 0
#: the run failed: output, lock, state file, server address, I/O
EXIT_FATAL = 1
#: a usage error (argparse) or a config error (`ConfigError`)
EXIT_USAGE = 2
EXIT_INVALID_FILES = 3
#: `validate`: some article file has a problem
EXIT_INVALID = 1


def command(argv: Sequence[str] | None = None) -> int:
    """The `aggregator` command as its own process runs it (the console script and
    `python -m aggregator`): `main`, and an exit without a last pass of the garbage
    collector (`loader.no_collection_at_exit`), here and in the workers it starts.

    A SIGTERM (`timeout`, `kill`, a service manager) unwinds what runs as a Ctrl-C does
    (the files of a batch not in place removed, the worker processes stopped, the bar
    erased), then ends the process by the signal, as its default would have; `run` and
    `serve` set their own handlers while they run (they stop cleanly and end with 0)."""
    no_collection_at_exit()
    received = False
    running = True  # a SIGTERM unwinds what runs; once main returned, nothing is left

    def interrupt(number: int, frame: FrameType | None) -> None:
        nonlocal received
        first, received = not received, True
        if running and first:  # (a second one: unwinding already)
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        code = main(argv)
        running = False
    except KeyboardInterrupt:
        running = False
        code = 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    if received:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
    return code


def main(argv: Sequence[str] | None = None, *, stop: threading.Event | None = None) -> int:
    """The command line; returns the exit code. `stop` ends `run` and `serve` when set,
    as SIGTERM does (set before the call, they check everything and start nothing).
    Output that could not be written (`write_out`: a full disk) makes it 1 at least."""
    output_fresh()
    code = _command(argv, stop)
    return (code or EXIT_FATAL) if output_failed() is not None else code


def _command(argv: Sequence[str] | None, stop: threading.Event | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    stop = stop if stop is not None else threading.Event()
    try:
        if args.command == "build":
            return _build(args)
        if args.command == "check-links":
            return _check_links(args)
        if args.command == "run":
            return _run(args, stop)
        if args.command == "serve":
            return _serve(args, stop)
        if args.command == "validate":
            return _validate(args)
        if args.command == "topics":
            return _topics(args)
        if args.command == "feeds":
            return _feeds(args)
        if args.command == "add-feed":
            return _add_feed(args)
        if args.command == "init":
            return _init(args)
    except AggregatorError as exc:
        say(f"aggregator: error: {exc}", err=True)
        return exit_code(exc)
    except KeyboardInterrupt:
        return 130
    parser.print_usage(sys.stderr)
    return EXIT_USAGE


#: the exit code of each error class (the first that matches); any other is EXIT_FATAL
EXIT_CODES: tuple[tuple[type[AggregatorError], int], ...] = ((ConfigError, EXIT_USAGE),)


def exit_code(error: AggregatorError) -> int:
    """What the command exits with when `error` ends it: 2 for a config error, else 1."""
    for kind, code in EXIT_CODES:
        if isinstance(error, kind):
            return code
    return EXIT_FATAL


def say(text: object, *, err: bool = False) -> None:
    """Print `text` as one line on stdout (stderr with `err`), `one_line`: a name or
    path from a file never puts a line break or a control character (a cursor move, a
    bidi override) on the terminal. To a reader that is gone (a closed pipe) nothing,
    and the command goes on (`write_out`); nothing either where the stream is closed
    (`>&-`, `2>&-`). Text of several lines is made with `lines_text` and `show`n."""
    write_out(sys.stderr if err else sys.stdout, one_line(str(text)) + "\n")


def show(text: str) -> None:
    """Print `text` (JSON, or lines made with `lines_text`) as it is on stdout, as `say`
    does otherwise."""
    write_out(sys.stdout, text + "\n")


class _Parser(argparse.ArgumentParser):
    """argparse's parser, its help and usage written as the command's other output
    (`write_out`): one that cannot be written makes the command fail (argparse drops
    the error)."""

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        if message:  # (argparse's own: stdout or stderr, TextIO)
            write_out(cast(TextIO, file) if file is not None else sys.stderr, message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="aggregator",
        description="Publish curated article files as per-topic RSS, Atom and JSON feeds.",
    )
    parser.add_argument("--version", action="version", version=f"aggregator {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    build_parser = commands.add_parser(
        "build",
        help="build the feeds once",
        description="Load article files, drop duplicates and filtered articles, write the feeds.",
    )
    _build_options(build_parser)
    check_parser = commands.add_parser(
        "check-links",
        help="check the links a build would publish, and say what is wrong",
        description="Check the links of the articles a build would publish (stale ones "
        "only: fresh results come from the state file), store the results, and print a "
        "summary per class and per host and every link that is not ok.",
    )
    _common_options(check_parser)
    check_parser.add_argument(
        "--json", action="store_true", help="print the results as JSON instead"
    )
    _progress_option(check_parser)
    run_parser = commands.add_parser(
        "run",
        help="rebuild on a schedule (and on changes), and serve the feeds",
        description="Build now, then on a schedule, until SIGTERM or SIGINT; SIGHUP reloads "
        "the config. With --watch, also build when article files change; with --serve, "
        "also serve the output folder over HTTP.",
    )
    _build_options(run_parser, daemon=True)
    schedule = run_parser.add_mutually_exclusive_group()
    schedule.add_argument(
        "--interval",
        type=_interval,
        metavar="DURATION",
        help="time between runs: 90s, 15m, 1h, at most 36500d "
        "(default: interval in the config, 15m)",
    )
    schedule.add_argument(
        "--cron",
        type=_cron,
        metavar="EXPR",
        help="a five-field cron expression, in UTC, e.g. '*/15 * * * *'",
    )
    run_parser.add_argument(
        "--watch",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also build within a second of a change in the source folders "
        "(default: watch in the config, off)",
    )
    _serve_options(run_parser, required=False)
    serve_parser = commands.add_parser(
        "serve",
        help="serve the output folder over HTTP, without building",
        description="Serve the feeds in the output folder to feed readers until SIGTERM.",
    )
    serve_parser.add_argument("--config", type=Path, metavar="FILE", help="config file")
    serve_parser.add_argument("--output", type=Path, metavar="DIR", help="output folder")
    _serve_options(serve_parser, required=True)
    validate_parser = commands.add_parser(
        "validate",
        help="check article files without building",
        description="Check article files as a build reads them, without building: print "
        "'path:line: reason' for every problem and exit 1, or a summary and exit 0. "
        "Checks no link, writes nothing. For a pre-commit hook or an editor.",
    )
    validate_parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="article files or folders of them (default: the configured sources)",
    )
    validate_parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="config file, for the sources and file name patterns "
        "(default: ./aggregator.yaml when present)",
    )
    validate_parser.add_argument(
        "-q", "--quiet", action="store_true", help="print the problems only, no summary"
    )
    topics_parser = commands.add_parser(
        "topics",
        help="list topics, their feeds and what a build would leave out",
        description="List every topic with the articles a build would keep in its feed, "
        "its feed URLs, and the articles left out by each filter (unpublished, quality, "
        "too old, duplicates, dead or unsafe links, invalid files). Writes nothing and "
        "sends no request: link results come from the state file.",
    )
    feeds_parser = commands.add_parser(
        "feeds",
        help="list the remote feeds: last fetch, status, entries, next fetch, last error",
        description="List each remote feed of the config (and --feed): when it was last "
        "fetched and asked for, its HTTP status, the entries kept of it, when it is next "
        "fetched and its last error. Reads the state file; fetches nothing.",
    )
    _common_options(feeds_parser)
    feeds_parser.add_argument(
        "--output", type=_location, metavar="DIR", help="output folder (default: feeds)"
    )
    feeds_parser.add_argument("--json", action="store_true", help="print JSON instead")
    add_feed_parser = commands.add_parser(
        "add-feed",
        help="find the feed of a web page and add it to the config file",
        description="Add URL to the feeds: list of the config file: the URL itself when "
        'it is a feed, else the feed its page names in <link rel="alternate">. The rest '
        "of the file is kept as it is.",
    )
    add_feed_parser.add_argument("url", metavar="URL", help="a feed, or a web page naming one")
    add_feed_parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        default=Path(DEFAULT_CONFIG_NAME),
        help=f"config file to add it to (default: ./{DEFAULT_CONFIG_NAME}; made when missing)",
    )
    add_feed_parser.add_argument(
        "--allow-private-links",
        action="store_true",
        default=None,
        help="allow private addresses and any port (intranets, tests)",
    )
    _common_options(topics_parser)
    topics_parser.add_argument(
        "--output",
        type=_location,
        metavar="DIR",
        help="output folder, whose state file holds the link results (default: feeds)",
    )
    topics_parser.add_argument(
        "--base-url",
        type=_base_url,
        metavar="URL",
        help="public URL of the output folder (default: http://localhost:8080/)",
    )
    topics_parser.add_argument(
        "--min-quality", type=_quality, metavar="N", help="keep articles with quality >= N"
    )
    topics_parser.add_argument(
        "--include-unpublished",
        action="store_true",
        default=None,
        help="count articles whose published flag is false as kept",
    )
    topics_parser.add_argument(
        "--limit", type=_positive, metavar="N", help="entries per feed (default: 50)"
    )
    topics_parser.add_argument(
        "--links",
        choices=("cached", "off"),
        help="apply stored link results (cached, the default) or not (off); links "
        "refused without a request leave articles out either way",
    )
    topics_parser.add_argument(
        "--json", action="store_true", help="print JSON for scripts instead of a table"
    )
    init_parser = commands.add_parser(
        "init",
        help=f"write a commented {DEFAULT_CONFIG_NAME} with every setting at its default",
        description=f"Write DIR/{DEFAULT_CONFIG_NAME}: every config key at its default "
        "value, with a comment each, grouped as the README groups them. Never replaces "
        "a file: an existing one is left as it is (exit 1).",
    )
    init_parser.add_argument(
        "folder",
        nargs="?",
        type=Path,
        default=Path(),
        metavar="DIR",
        help="the folder to write it in, made when missing (default: the current folder)",
    )
    return parser


def _serve_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument(
        "--serve",
        type=_address,
        metavar="HOST:PORT",
        required=required,
        help="serve the output folder on this address, e.g. 127.0.0.1:8080",
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="log lines as text (default; journald-friendly) or JSON",
    )


def _progress_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show the progress of each phase: on a terminal a bar drawn in place and "
        "erased at the end; elsewhere plain lines (default: the bar on a terminal only)",
    )


def _common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="config file (default: ./aggregator.yaml when present)",
    )
    parser.add_argument(
        "--source",
        type=_location,
        action="extend",
        nargs="+",
        metavar="DIR",
        help="folder of article files, searched recursively, or a bucket URL such as "
        "s3://bucket/articles; repeatable (default: seeds)",
    )
    parser.add_argument(
        "--feed",
        type=_feed_url,
        action="append",
        metavar="URL",
        help="a remote RSS, Atom or JSON feed to read beside the article files, with the "
        "defaults of the feeds: section; repeatable",
    )
    parser.add_argument(
        "--state",
        type=_state,
        metavar="FILE|URL",
        help="the SQLite state file (default: .<output>-state.sqlite beside the output "
        "folder), or a postgresql://user:password@host/database URL",
    )
    parser.add_argument(
        "--allow-private-links",
        action="store_true",
        default=None,
        help="check links on private addresses and any port (intranets, tests)",
    )


def _build_options(parser: argparse.ArgumentParser, *, daemon: bool = False) -> None:
    _common_options(parser)
    _progress_option(parser)
    if not daemon:
        parser.add_argument(
            "--wait",
            type=_wait,
            metavar="DURATION",
            help="how long to wait for another aggregator writing the same output, "
            "at most 1d (default: 60s)",
        )
    parser.add_argument(
        "--links",
        choices=("on", "off", "cached"),
        help="check links (on, the default), use stored results only (cached), or not "
        "(off); links refused without a request are left out in all three",
    )
    parser.add_argument(
        "--output",
        type=_location,
        metavar="DIR",
        help="output folder, or a bucket URL such as s3://bucket/feeds (default: feeds)",
    )
    parser.add_argument(
        "--base-url",
        type=_base_url,
        metavar="URL",
        help="public URL of the output folder (default: http://localhost:8080/)",
    )
    parser.add_argument(
        "--min-quality",
        type=_quality,
        metavar="N",
        help="keep articles with quality >= N (default: 50)",
    )
    parser.add_argument(
        "--include-unpublished",
        action="store_true",
        default=None,
        help="also publish articles whose published flag is false",
    )
    parser.add_argument(
        "--limit", type=_positive, metavar="N", help="entries per feed (default: 50)"
    )
    if daemon:
        return
    parser.add_argument(
        "--report",
        type=Path,
        metavar="FILE",
        help="write a report of the build here: an HTML page when FILE ends in .html "
        "(for people: it names unpublished files), else JSON",
    )
    parser.add_argument(
        "--strict", action="store_true", help="exit 3 when any article file is invalid"
    )
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument(
        "-q", "--quiet", action="store_true", help="print only invalid files and errors"
    )
    verbosity.add_argument(
        "-v", "--verbose", action="store_true", help="also list duplicates and exclusions"
    )


def _feed_url(value: str) -> FeedSource:
    try:
        return feed_source(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _state(value: str) -> Path | str:
    try:
        return state_location(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _location(value: str) -> str:
    """A folder, or an object-store URL (`s3://bucket/prefix`), as given: a URL must
    not become a `Path`, which would fold its `//`. The config reads it (`_output`)."""
    if not value or "\x00" in value:
        raise argparse.ArgumentTypeError(f"must be a folder or a bucket URL, got {value!r}")
    return value


def _base_url(value: str) -> str:
    try:
        return normalise_base_url(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _interval(value: str) -> timedelta:
    try:
        return parse_duration(value, LONGEST)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _wait(value: str) -> timedelta:
    try:
        return parse_duration(value, LONGEST_WAIT)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _cron(value: str) -> str:
    try:
        return check_cron(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _address(value: str) -> tuple[str, int]:
    """HOST:PORT to serve on: an IP address (`[v6]` in brackets), a host name, or
    nothing for every address; a port from 0 (any free one) to 65535."""
    from aggregator.app.server import parse_address

    try:
        host, port = parse_address(value)
        given = value.rpartition(":")[0]
        if given:
            host = check_host(given)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{exc} (use HOST:PORT, e.g. 127.0.0.1:8080, [::1]:8080 or :8080)"
        ) from None
    return host, port


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 1 <= number <= MAX_COUNT:
        raise argparse.ArgumentTypeError(
            f"must be a whole number from 1 to {MAX_COUNT:,}, got {value!r}"
        )
    return number


def _quality(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {value!r}") from None
    if abs(number) > MAX_COUNT:
        raise argparse.ArgumentTypeError(
            f"must be from {-MAX_COUNT:,} to {MAX_COUNT:,}, got {value!r}"
        )
    return number


#: the option that sets each config key
_OPTIONS = {
    "sources": "--source",
    "output": "--output",
    "base_url": "--base-url",
    "min_quality": "--min-quality",
    "include_unpublished": "--include-unpublished",
    "limit": "--limit",
    "links": "--links",
    "state": "--state",
    "interval": "--interval",
    "cron": "--cron",
    "watch": "--watch",
}


def config_from_args(args: argparse.Namespace, *, publishing: bool = False) -> Config:
    """The config file's settings with the command line's on top. `publishing` (build,
    run) also refuses a layout that would publish a private file (see `layout`)."""
    loaded = read_config(args.config)
    config = loaded.config
    overrides: dict[str, Any] = {
        "sources": tuple(args.source) if args.source else None,
        "output": getattr(args, "output", None),
        "base_url": getattr(args, "base_url", None),
        "min_quality": getattr(args, "min_quality", None),
        "include_unpublished": getattr(args, "include_unpublished", None),
        "limit": getattr(args, "limit", None),
        "links": getattr(args, "links", None),
        "state": getattr(args, "state", None),
        "interval": getattr(args, "interval", None),
        "cron": getattr(args, "cron", None),
        "watch": getattr(args, "watch", None),
    }
    # A folder or a bucket URL: read as the config file's values are (`with_overrides`).
    locations = {k: overrides[k] for k in ("sources", "output") if overrides[k] is not None}
    rest = {k: v for k, v in overrides.items() if v is not None and k not in locations}
    config = dataclasses.replace(config, **rest)
    for key, value in locations.items():
        config = with_overrides(config, {key: value}, origin=_OPTIONS[key])
    if getattr(args, "interval", None):
        config = dataclasses.replace(config, cron=None)  # --interval beats a cron in the file
    listed = {feed.url for feed in config.feeds}
    added = [feed for feed in getattr(args, "feed", None) or () if feed.url not in listed]
    if added:
        config = dataclasses.replace(config, feeds=(*config.feeds, *added))
    if getattr(args, "allow_private_links", None):
        settings = dataclasses.replace(config.link_check, allow_private=True)
        config = dataclasses.replace(config, link_check=settings)
    if publishing:
        where = dict(loaded.where)
        where.update({k: _OPTIONS[k] for k, v in overrides.items() if v is not None})
        report = getattr(args, "report", None)
        if report is not None:
            where["report"] = "--report"
        layout = Layout(
            config.output, config.sources, config.state_path, report, loaded.path, config.patterns
        )
        check_layout(layout, where)
    return config


def _build(args: argparse.Namespace) -> int:
    config = config_from_args(args, publishing=True)
    wait = args.wait.total_seconds() if args.wait is not None else DEFAULT_WAIT
    # --quiet shows no progress, unless --progress asks for it.
    asked = False if args.quiet and args.progress is None else args.progress
    with showing(progress_display(sys.stderr, asked)) as progress:
        report = build(config, wait=wait, progress=progress, activity=args.report is not None)
    for error in report.errors:
        say(error, err=True)
    for warning in report.warnings:
        say(warning, err=True)
    for line in feedlist.problem_lines(report.sources):
        say(line, err=True)
    if not args.quiet:
        show(summary(report, config, verbose=args.verbose))
    if args.report is not None:
        try:
            write_atomic(args.report, report_file(args.report, report, config))
        except OSError as exc:
            say(
                f"aggregator: error: {args.report}: cannot write report: {exc.strerror or exc}",
                err=True,
            )
            return EXIT_FATAL
    if args.strict and report.errors:
        return EXIT_INVALID_FILES
    return EXIT_OK


def _run(args: argparse.Namespace, stop: threading.Event) -> int:
    # Under journald or with the logs piped, none unless asked (then as log lines).
    display = progress_display(
        sys.stderr, args.progress, plain=(), write=logging.getLogger("aggregator.run").info
    )
    setup_logging(args.log_format, bar=display if isinstance(display, Bar) else None)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    from aggregator.app.daemon import Daemon

    daemon = Daemon(
        lambda: config_from_args(args, publishing=True),
        serve=args.serve,
        stopping=stop,
        progress=display,
    )
    return daemon.run_forever()


def _serve(args: argparse.Namespace, stop: threading.Event) -> int:
    setup_logging(args.log_format)
    loaded = read_config(args.config)
    config = loaded.config
    output = args.output or config.output
    where = dict(loaded.where)
    if args.output is not None:
        where["output"] = "--output"
    # Only sources that exist: `serve` builds nothing, and the default `seeds` of a
    # config that names no sources should not stop it.
    sources = [s for s in config.sources if s.is_dir()]
    state = dataclasses.replace(config, output=output).state_path
    check_layout(Layout(output, sources, state, None, loaded.path), where)
    if stop.is_set():
        return EXIT_OK
    host, port = args.serve
    from aggregator.app.daemon import listen
    from aggregator.app.server import FeedApp

    server = listen(FeedApp(output), host, port).start()
    logging.getLogger("aggregator").info("serving %s on http://%s:%d/", output, host, server.port)
    # The handler takes no lock: Event.set() there could wait forever for the lock
    # this thread holds inside stop.wait() (see Daemon.run_forever).
    received: list[int] = []
    previous = {
        n: signal.signal(n, lambda signum, frame: received.append(signum)) for n in _STOP_SIGNALS
    }
    try:
        while not stop.wait(0.2):
            if received:
                stop.set()
    finally:
        server.close()
        for number, handler in previous.items():
            signal.signal(number, handler)
    return EXIT_OK


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _validate(args: argparse.Namespace) -> int:
    # The library's call: the paths given, or exactly the files a build reads.
    result = validate(load_config(args.config), args.paths)
    for error in result.errors:
        say(error)
    for warning in result.warnings:
        say(warning)
    if not args.quiet:
        files = f"{result.checked} article file{'s' if result.checked != 1 else ''}"
        repaired = len({w.path for w in result.warnings})
        warned = f" ({repaired} with warnings)" if repaired else ""
        if result.ok:
            say(
                f"{files} checked: all valid{warned}"
                if result.checked
                else "no article files found"
            )
        else:
            say(f"{files} checked: {len(result.errors)} with problems{warned}")
    return EXIT_OK if result.ok else EXIT_INVALID


def _not_fetched(config: Config) -> None:
    """One line per remote feed a build has not fetched yet: `topics` and `check-links`
    read the entries builds keep, and fetch nothing themselves."""
    if not config.feeds:
        return
    for state in feed_states(config):
        if state.checked_at is None:
            say(
                f"aggregator: warning: {state.url}: not fetched yet, so none of its entries "
                "is counted: `aggregator build` fetches it",
                err=True,
            )


def _topics(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    _not_fetched(config)
    view = overview(config, utcnow())
    if args.json:
        show(json.dumps(to_json(view), indent=2, ensure_ascii=False))
    else:
        show(render_text(view))
    return EXIT_OK


def _feeds(args: argparse.Namespace) -> int:
    states = feed_states(config_from_args(args))
    if args.json:
        data = {"feeds": [feedlist.feed_json(state) for state in states]}
        show(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        show(feedlist.render(states))
    return EXIT_OK


def _add_feed(args: argparse.Namespace) -> int:
    path: Path = args.config
    config = read_config(path).config if path.exists() else Config()
    if args.allow_private_links:
        rules = dataclasses.replace(config.link_check, allow_private=True)
        config = dataclasses.replace(config, link_check=rules)
    found = add_feed(args.url, path, config=config)
    title = f" ({found.title})" if found.title else ""
    done = "added" if found.added else "already in the feeds: list of"
    say(f"{found.url}{title}: {done} {path}")
    return EXIT_OK


def _init(args: argparse.Namespace) -> int:
    path = write_scaffold(args.folder)
    say(f"wrote {path}: every setting at its default, each with a comment")
    return EXIT_OK


def _check_links(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    _not_fetched(config)
    # With --json, off a terminal, only what --progress asks for.
    plain = () if args.json else ONLY_LINKS
    with showing(progress_display(sys.stderr, args.progress, plain=plain)) as progress:
        checked = check_links(config, progress=progress)
    results = checked.results
    if args.json:
        data = {
            "errors": [
                {"path": e.path, "line": e.line, "reason": e.reason} for e in checked.errors
            ],
            "warnings": [
                {"path": w.path, "line": w.line, "reason": w.reason} for w in checked.warnings
            ],
            "summary": links_json(checked.summary),
            "results": [
                {**_result_json(results[key]), "link": checked.urls.get(key, key)}
                for key in sorted(results)
            ],
        }
        show(json.dumps(data, indent=2, ensure_ascii=False))
        return EXIT_OK
    for error in checked.errors:
        say(error, err=True)
    for warning in checked.warnings:
        say(warning, err=True)
    summary_ = checked.summary
    say(_links_line(summary_))
    hosts: dict[str, Counter[str]] = {}
    shown = checked.urls  # each link as the files give it, not its canonical form
    for key, result in results.items():
        host = urlsplit(shown.get(key, result.url)).hostname or "?"
        hosts.setdefault(host, Counter())[result.klass] += 1
    for host in sorted(hosts, key=lambda h: (-sum(hosts[h].values()), h)):
        counts = ", ".join(f"{n} {k}" for k, n in sorted(hosts[host].items()))
        say(f"  {host}: {counts}")
    for key, result in sorted(results.items(), key=lambda item: (item[1].klass, item[0])):
        if result.klass not in ("ok", "redirected"):
            say(f"{result.klass}: {shown.get(key, result.url)}: {result.reason}")
    return EXIT_OK


def _links_line(links: LinkSummary) -> str:
    classes = ", ".join(f"{n} {k}" for k, n in links.classes) or "no results"
    line = f"links: {links.checked} checked, {links.requested} requested ({classes})"
    if links.network_down:
        # Refusals need no network: those were still applied and stored.
        line += "; the network looks down: only links refused without a request were updated"
    if links.excluded:
        line += f"; {len(links.excluded)} articles left out for their link"
    return line


def _result_json(result: LinkResult) -> dict[str, Any]:
    return {
        "url": result.url,
        "class": result.klass,
        "status": result.status,
        "reason": result.reason,
        "final_url": result.final_url,
        "checked_at": result.checked_at.isoformat(),
        "next_check_at": result.next_check_at.isoformat(),
        "failures": result.failures,
        "broken_since": result.broken_since.isoformat() if result.broken_since else None,
    }


def links_json(links: LinkSummary) -> dict[str, Any]:
    return {
        "mode": links.mode,
        "checked": links.checked,
        "requested": links.requested,
        "network_down": links.network_down,
        "classes": dict(links.classes),
        "excluded": [{"path": p, **_result_json(r)} for p, r in links.excluded],
        "images_dropped": [{"path": p, **_result_json(r)} for p, r in links.images_dropped],
    }


def summary(report: BuildReport, config: Config, *, verbose: bool = False) -> str:
    by_code, from_topics = left_out(report.excluded)
    excluded = ", ".join(f"{n} {code}" for code, n in sorted(by_code.items())) or "none"
    topics = {r.topic for r in report.feeds if r.topic is not None and r.entries}
    written = sum(1 for r in report.feeds if r.changed)
    lines = [
        f"loaded {report.loaded} articles, {len(report.errors)} invalid files, "
        f"{dropped(report.duplicates)} duplicates dropped",
        f"excluded {by_code.total()} articles ({excluded}); "
        f"{from_topics} left out of single topics",
        f"published {report.published} articles in {len(topics)} topics",
        f"feeds: {written} written, {len(report.feeds) - written} unchanged in {config.output}",
        _mode_line(report),
    ]
    if report.links is not None:
        lines.insert(2, _links_line(report.links))
    if report.sources:
        lines.insert(0, feedlist.sources_line(report.sources))
    if verbose:
        for duplicate in report.duplicates:
            for copy in duplicate.copies:
                lines.append(
                    f"duplicate: {copy.path} ({copy.reason} {copy.score:.2f} as {duplicate.kept})"
                )
        for exclusion in report.excluded:
            where = f" from topic {exclusion.topic!r}" if exclusion.topic else ""
            lines.append(f"excluded{where}: {exclusion.path}: {exclusion.reason}")
    return lines_text(lines)


def _mode_line(report: BuildReport) -> str:
    if report.mode == "unchanged":
        return "nothing changed since the last build: its files stand"
    if report.mode == "incremental":
        files = report.changed_files
        return f"incremental build: {files} file{'s' if files != 1 else ''} changed"
    return "full build"


#: `--report` files with these suffixes are HTML pages; any other is JSON
HTML_SUFFIXES = (".html", ".htm")


def report_file(path: Path, report: BuildReport, config: Config) -> bytes:
    """What `--report path` writes: the HTML page for an .html file, else the JSON."""
    if path.suffix.lower() in HTML_SUFFIXES:
        return render_report(report, site_title=config.title)
    return indented(report_json(report))


def report_json(report: BuildReport) -> dict[str, Any]:
    by_code = left_out(report.excluded)[0]
    return {
        "errors": [{"path": e.path, "line": e.line, "reason": e.reason} for e in report.errors],
        "warnings": [{"path": w.path, "line": w.line, "reason": w.reason} for w in report.warnings],
        "duplicates": [
            {
                "kept": d.kept,
                "dropped": list(d.dropped),
                "reason": d.reason,
                "score": d.score,
                "copies": [
                    {"path": c.path, "reason": c.reason, "score": c.score} for c in d.copies
                ],
            }
            for d in report.duplicates
        ],
        "excluded": [
            {"path": e.path, "reason": e.reason, "code": e.code, "topic": e.topic}
            for e in report.excluded
        ],
        "feeds": [
            {
                "topic": f.topic,
                "format": f.format,
                "path": f.path,
                "entries": f.entries,
                "changed": f.changed,
            }
            for f in report.feeds
        ],
        "pages": [{"path": p.path, "changed": p.changed} for p in report.pages],
        "links": links_json(report.links) if report.links is not None else None,
        "sources": [feedlist.feed_json(state) for state in report.sources],
        "activity": _activity_json(report.activity) if report.activity is not None else None,
        "counts": {
            "loaded": report.loaded,
            "invalid": len(report.errors),
            "warnings": len(report.warnings),
            "duplicates": dropped(report.duplicates),
            "excluded": dict(sorted(by_code.items())),
            "published": report.published,
            "feeds_written": sum(1 for f in report.feeds if f.changed),
            "feeds_unchanged": sum(1 for f in report.feeds if not f.changed),
            "build": report.mode,
        },
    }


def _activity_json(activity: Activity) -> dict[str, Any]:
    first = activity.last_day - timedelta(days=activity.days - 1)
    return {
        "first_day": first.isoformat(),
        "last_day": activity.last_day.isoformat(),
        "topics": [
            {"topic": t.topic, "articles": t.articles, "per_day": list(t.per_day)}
            for t in activity.topics
        ],
    }
