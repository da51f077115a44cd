"""The `aggregator` command: parses options, calls the library, maps errors to exit codes.

Exit codes: 0 the run completed (invalid article files are warnings), 1 a fatal
error (config, sources or output), 2 a usage error, 3 with `--strict` when any
article file was invalid.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections import Counter
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

from aggregator import __version__
from aggregator.config import Config
from aggregator.config import load_config
from aggregator.config import normalise_base_url
from aggregator.errors import AggregatorError
from aggregator.model import BuildReport
from aggregator.output import write_atomic
from aggregator.pipeline import build

EXIT_OK = 0
EXIT_FATAL = 1
EXIT_USAGE = 2
EXIT_INVALID_FILES = 3


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            return _build(args)
    except AggregatorError as exc:
        print(f"aggregator: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    parser.print_usage(sys.stderr)
    return EXIT_USAGE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aggregator",
        description="Publish curated article files as per-topic RSS and Atom feeds.",
    )
    parser.add_argument("--version", action="version", version=f"aggregator {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    build_parser = commands.add_parser(
        "build",
        help="build the feeds once",
        description="Load article files, drop duplicates and filtered articles, write the feeds.",
    )
    _build_options(build_parser)
    return parser


def _build_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="config file (default: ./aggregator.yaml when present)",
    )
    parser.add_argument(
        "--source",
        type=Path,
        action="extend",
        nargs="+",
        metavar="DIR",
        help="folder of article files, searched recursively; repeatable (default: seeds)",
    )
    parser.add_argument("--output", type=Path, metavar="DIR", help="output folder (default: feeds)")
    parser.add_argument(
        "--base-url",
        type=_base_url,
        metavar="URL",
        help="public URL of the output folder (default: http://localhost:8080/)",
    )
    parser.add_argument(
        "--min-quality",
        type=int,
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
    parser.add_argument("--report", type=Path, metavar="FILE", help="write a JSON report here")
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


def _base_url(value: str) -> str:
    try:
        return normalise_base_url(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of 1 or more, got {value!r}")
    return number


def config_from_args(args: argparse.Namespace) -> Config:
    """The config file's settings with the command line's on top."""
    config = load_config(args.config)
    overrides: dict[str, Any] = {
        "sources": tuple(args.source) if args.source else None,
        "output": args.output,
        "base_url": args.base_url,
        "min_quality": args.min_quality,
        "include_unpublished": args.include_unpublished,
        "limit": args.limit,
    }
    return dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})


def _build(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    report = build(config, now=datetime.now(UTC))
    for error in report.errors:
        print(error, file=sys.stderr)
    if not args.quiet:
        print(summary(report, config, verbose=args.verbose))
    if args.report is not None:
        data = json.dumps(report_json(report), indent=2, ensure_ascii=False) + "\n"
        try:
            write_atomic(args.report, data.encode("utf-8"))
        except OSError as exc:
            print(
                f"aggregator: error: {args.report}: cannot write report: {exc.strerror or exc}",
                file=sys.stderr,
            )
            return EXIT_FATAL
    if args.strict and report.errors:
        return EXIT_INVALID_FILES
    return EXIT_OK


def summary(report: BuildReport, config: Config, *, verbose: bool = False) -> str:
    dropped = sum(len(d.dropped) for d in report.duplicates)
    whole = [e for e in report.excluded if e.topic is None]
    by_code = Counter(e.code for e in whole)
    excluded = ", ".join(f"{n} {code}" for code, n in sorted(by_code.items())) or "none"
    topics = {r.topic for r in report.feeds if r.topic is not None and r.entries}
    written = sum(1 for r in report.feeds if r.changed)
    lines = [
        f"loaded {report.loaded} articles, {len(report.errors)} invalid files, "
        f"{dropped} duplicates dropped",
        f"excluded {len(whole)} articles ({excluded}); "
        f"{sum(1 for e in report.excluded if e.topic is not None)} left out of single topics",
        f"published {report.published} articles in {len(topics)} topics",
        f"feeds: {written} written, {len(report.feeds) - written} unchanged in {config.output}",
    ]
    if verbose:
        for duplicate in report.duplicates:
            for copy in duplicate.copies:
                lines.append(
                    f"duplicate: {copy.path} ({copy.reason} {copy.score:.2f} as {duplicate.kept})"
                )
        for exclusion in report.excluded:
            where = f" from topic {exclusion.topic!r}" if exclusion.topic else ""
            lines.append(f"excluded{where}: {exclusion.path}: {exclusion.reason}")
    return "\n".join(lines)


def report_json(report: BuildReport) -> dict[str, Any]:
    by_code = Counter(e.code for e in report.excluded if e.topic is None)
    return {
        "errors": [{"path": e.path, "line": e.line, "reason": e.reason} for e in report.errors],
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
        "counts": {
            "loaded": report.loaded,
            "invalid": len(report.errors),
            "duplicates": sum(len(d.dropped) for d in report.duplicates),
            "excluded": dict(sorted(by_code.items())),
            "published": report.published,
            "feeds_written": sum(1 for f in report.feeds if f.changed),
            "feeds_unchanged": sum(1 for f in report.feeds if not f.changed),
        },
    }
