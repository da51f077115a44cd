"""The suite's S3 server fixture (tests/conftest.py, tests/s3server.py): where none can
run, the bucket tests skip and say why, and with AGGREGATOR_REQUIRE_S3 set (CI sets it)
they fail instead, so that CI never passes by skipping them. Run as a user runs the
suite: pytest in a subprocess, here on a machine without s3fs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ROOT
from s3server import REQUIRE

#: one bucket test, run with s3fs made unimportable (as on a machine without it), in
#: this one process (`-n 0`: a worker of pytest-xdist would import s3fs as it is)
SCRIPT = (
    "import sys; sys.modules['s3fs'] = None\n"
    "import pytest\n"
    "raise SystemExit(pytest.main(['-p', 'no:cacheprovider', '-q', '-rs', '-n', '0', "
    "'tests/objectstore/test_buckets.py::test_the_cache_control_is_configurable']))\n"
)


def _suite(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != REQUIRE}
    return subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.e2e
def test_without_a_server_the_bucket_tests_skip_saying_why() -> None:
    done = _suite()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout
    assert "s3fs is not installed" in done.stdout


@pytest.mark.e2e
def test_with_require_s3_set_a_missing_server_fails_them() -> None:
    done = _suite(**{REQUIRE: "1"})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 error" in done.stdout
    assert f"{REQUIRE} is set, but s3fs is not installed" in done.stdout
