"""Shared helpers: the project's seed files, article files written to tmp_path, the CLI."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
#: the 192 real files beside the project; absent for a user who clones the project alone
CORPUS = ROOT.parent / "shared" / "corpus" / "power-apps"
#: a fixed clock for builds in tests
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def article_fields(**overrides: Any) -> dict[str, Any]:
    """A valid article mapping in the seed format; keyword arguments replace fields
    (a value of None removes the field)."""
    number = overrides.pop("n", 1)
    fields: dict[str, Any] = {
        "category": "news",
        "title": f"Story number {number}",
        "excerpt": f"The excerpt of story {number}.",
        "publishedDateTime": datetime(2021, 3, number % 28 + 1, 12, 0, tzinfo=UTC),
        "webUrl": f"https://news.example.com/story-{number}",
        "type": "article",
        "quality": 80,
        "heat": -1,
        "published": True,
        "provider": {"name": "Example News", "domain": "example.com"},
        "topics": ["AI"],
        "images": [
            {
                "url": f"https://img.example.com/{number}.jpg",
                "width": 800,
                "height": 450,
                "isCached": True,
            }
        ],
        "secured": "opaque-blob",
    }
    for key, value in overrides.items():
        if value is None:
            fields.pop(key, None)
        else:
            fields[key] = value
    return fields


def front_matter(fields: dict[str, Any], body: str = "") -> str:
    return "---\n" + yaml.safe_dump(fields, sort_keys=False, allow_unicode=True) + "---\n" + body


def write_article(folder: Path, name: str, **overrides: Any) -> Path:
    """Write a valid article file (see `article_fields`) and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(front_matter(article_fields(**overrides)), encoding="utf-8")
    return path


def run_cli(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `aggregator` command (as `python -m aggregator`) in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "aggregator", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_cli


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"the power-apps corpus is not beside the project ({CORPUS} is absent)")
    return CORPUS
