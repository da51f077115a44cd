"""The `link_check:`, `links:` and `state:` settings of the config file."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from conftest import run_cli
from conftest import write_article

from aggregator.config import Config
from aggregator.config import load_config
from aggregator.errors import ConfigError
from aggregator.links.linkpolicy import LinkCheckSettings


def test_every_link_check_setting_is_read(tmp_path: Path) -> None:
    path = tmp_path / "aggregator.yaml"
    path.write_text(
        "links: cached\n"
        "state: state/links.sqlite\n"
        "link_check:\n"
        "  enabled: false\n"
        "  workers: 8\n"
        "  per_host: 1\n"
        "  min_interval: 500ms\n"
        "  timeout: 2s\n"
        "  deadline: 15s\n"
        "  retries: 0\n"
        "  confirm_after: 48h\n"
        "  allow_private: true\n"
        "  ports: [80, 443, 8080]\n"
        "  user_agent: NewsBot/1.0 (+https://news.example.org/bot)\n"
        "  check_images: false\n"
        "  retry_after_max: 2m\n"
        "  ttl_ok: 3d\n"
        "  ttl_broken: 12h\n"
        "  ttl_blocked: 2d\n"
        "  ttl_transient: 5m\n"
        "  ttl_transient_max: 1h\n",
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.links == "cached"
    assert config.state_path == tmp_path / "state/links.sqlite"
    settings = config.link_check
    assert not settings.enabled
    assert (settings.workers, settings.per_host, settings.retries) == (8, 1, 0)
    assert settings.min_interval == timedelta(milliseconds=500)
    assert settings.timeout == timedelta(seconds=2)
    assert settings.deadline == timedelta(seconds=15)
    assert settings.confirm_after == timedelta(hours=48)
    assert settings.allow_private
    assert settings.ports == frozenset({80, 443, 8080})
    assert settings.user_agent == "NewsBot/1.0 (+https://news.example.org/bot)"
    assert not settings.check_images
    assert settings.retry_after_max == timedelta(minutes=2)
    fresh = settings.freshness
    assert (fresh.ok, fresh.broken, fresh.blocked) == (
        timedelta(days=3),
        timedelta(hours=12),
        timedelta(days=2),
    )
    assert (fresh.transient, fresh.transient_max) == (timedelta(minutes=5), timedelta(hours=1))


def test_defaults() -> None:
    settings = LinkCheckSettings()
    assert (settings.workers, settings.per_host, settings.retries) == (128, 2, 2)
    assert settings.min_interval == timedelta(seconds=1)
    assert settings.confirm_after == timedelta(hours=24)
    assert not settings.allow_private
    assert settings.ports == frozenset({80, 443})
    assert "aggregator" in settings.user_agent and "+http" in settings.user_agent
    assert Config(output=Path("site/feeds")).state_path == Path("site/.feeds-state.sqlite")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("link_check:\n  workers: 0\n", "link_check: workers must be a whole number"),
        ("link_check:\n  min_interval: soon\n", "link_check: min_interval not a duration"),
        ("link_check:\n  retries: 11\n", "link_check: retries must be a whole number"),
        ("link_check:\n  ports: [80, http]\n", "link_check: ports must be a list of port"),
        ("link_check:\n  speed: fast\n", "link_check: unknown setting 'speed'"),
        ("link_check: yes\n", "link_check: must map settings"),
        ("links: sometimes\n", "links: must be one of on, off, cached"),
    ],
)
def test_wrong_settings_name_the_file_line_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "aggregator.yaml"
    path.write_text("title: News\n" + text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert f"{path}:2: {message}" in str(caught.value)


@pytest.mark.e2e
def test_progress_is_plain_lines_when_not_a_terminal(tmp_path: Path) -> None:
    write_article(tmp_path / "src", "a.md", webUrl="http://127.0.0.1:9/a", images=None)
    # The subprocess resolves no name (tests/offline): a lookup, and no request.
    write_article(tmp_path / "src", "b.md", n=7, webUrl="https://nowhere.example/b", images=None)
    done = run_cli(
        "check-links", "--source", tmp_path / "src", "--state", tmp_path / "s.sqlite", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    # Only the name is checked: the unsafe link is refused before any check.
    assert "checking links: 1/1 done after" in done.stderr
    assert "\r" not in done.stderr
    assert "unsafe: http://127.0.0.1:9/a: " in done.stdout
    assert "unknown: https://nowhere.example/b: name does not resolve" in done.stdout


@pytest.mark.parametrize(("written", "mode"), [("on", "on"), ("off", "off"), ("'off'", "off")])
def test_links_on_and_off_are_read_as_written_in_the_readme(
    tmp_path: Path, written: str, mode: str
) -> None:
    # YAML 1.1 reads a bare on/off as a boolean.
    path = tmp_path / "aggregator.yaml"
    path.write_text(f"links: {written}\n", encoding="utf-8")
    assert load_config(path).links == mode
