"""Per-topic settings in the config file, as a subscriber and an editor see them: the
feeds' titles, languages, images, sizes and content in every format, merged topics,
skipped topics, and one clear line for each mistake in the section."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

import feedparser
import pytest
from conftest import NOW
from conftest import run_cli
from conftest import write_article
from feedcheck import json_feed_problems
from w3c import needs_validator
from w3c import validate_folder

from aggregator.config import Config
from aggregator.config import TopicSettings
from aggregator.config import load_config
from aggregator.engine.pipeline import build
from aggregator.errors import ConfigError

FORMATS = ("rss", "atom", "json")
ICON = "https://cdn.example.org/icons/nlp-512.png"
LOGO = "https://cdn.example.org/logos/nlp-wide.png"
SITE_ICON = "https://cdn.example.org/icons/site.png"


def write_config(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "aggregator.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def read(path: Path) -> Any:
    """A feed as a reader sees it: feedparser for RSS and Atom, the JSON for JSON Feed."""
    if path.suffix == ".json":
        return json.loads(path.read_bytes())
    parsed = feedparser.parse(path.read_bytes())
    assert not parsed.bozo, (path, parsed.get("bozo_exception"))
    return parsed


def titles(path: Path) -> list[str]:
    feed = read(path)
    if path.suffix == ".json":
        return [item["title"] for item in feed["items"]]
    return [entry.title for entry in feed.entries]


def categories(path: Path) -> list[list[str]]:
    feed = read(path)
    if path.suffix == ".json":
        return [item.get("tags", []) for item in feed["items"]]
    return [[tag.term for tag in entry.get("tags", [])] for entry in feed.entries]


CONFIG = f"""\
sources: [src]
output: out
links: "off"
min_quality: 50
icon: {SITE_ICON}
topics:
  Natural Language Processing:
    title: Language machines
    description: Computers that read and write.
    language: de
    icon: {ICON}
    logo: {LOGO}
    limit: 2
    content: excerpt
    min_quality: 70
    aliases: [NLP, "natural-language processing"]
  Crypto:
    skip: true
    aliases: Blockchain
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """Articles that use the settings: aliases of NLP, a skipped topic, more NLP
    articles than its limit, one below NLP's own threshold."""
    src = tmp_path / "src"
    write_article(src, "1.md", n=1, topics=["Natural Language Processing", "AI"], quality=90)
    write_article(src, "2.md", n=2, topics=["NLP"], quality=90)
    write_article(src, "3.md", n=3, topics=["natural-language processing", "nlp"], quality=90)
    write_article(src, "4.md", n=4, topics=["NLP", "AI"], quality=60)  # below NLP's 70
    write_article(src, "5.md", n=5, topics=["Crypto"], quality=80)
    write_article(src, "6.md", n=6, topics=["Blockchain", "AI"], quality=80)
    config = load_config(write_config(tmp_path, CONFIG))
    build(config, now=NOW)
    return tmp_path / "out"


def test_config_reads_every_topic_setting(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, CONFIG))
    assert config.topics["natural language processing"] == TopicSettings(
        min_quality=70,
        title="Language machines",
        description="Computers that read and write.",
        language="de",
        icon=ICON,
        logo=LOGO,
        limit=2,
        content="excerpt",
    )
    assert config.topics["crypto"] == TopicSettings(skip=True)
    assert dict(config.aliases) == {
        "nlp": "Natural Language Processing",
        "natural-language processing": "Natural Language Processing",
        "blockchain": "Crypto",
    }
    assert (config.icon, config.logo, config.content) == (SITE_ICON, None, "full")
    assert config.topic_settings("natural  LANGUAGE processing").limit == 2
    assert config.topic_settings("AI") == TopicSettings()


def test_aliases_merge_into_one_feed_under_the_target_name(site: Path) -> None:
    topics = sorted(p.name for p in (site / "topics").iterdir())
    assert topics == sorted(
        f"{slug}.{ext}" for slug in ("ai", "natural-language-processing") for ext in FORMATS
    )
    for ext in FORMATS:
        feed = site / f"topics/natural-language-processing.{ext}"
        # 1, 2 and 3 (4 is below the topic's own threshold), newest first, limit 2
        assert titles(feed) == ["Story number 3", "Story number 2"], ext
        # the entries carry the target's name, once, whatever the file said
        assert categories(feed) == [["Natural Language Processing"]] * 2, ext
    for ext in FORMATS:
        assert categories(site / f"all.{ext}")[-1] == ["Natural Language Processing", "AI"]
    report_names = [o.get("text") for o in ElementTree.parse(site / "json.opml").iter("outline")]
    assert report_names == ["Aggregator: all topics", "Aggregator: AI", "Language machines"]


def test_skipped_topic_has_no_feed_but_its_articles_stay_in_the_all_topics_feed(
    site: Path,
) -> None:
    assert not list((site / "topics").glob("crypto*"))
    assert not list((site / "topics").glob("blockchain*"))
    index = (site / "index.html").read_text(encoding="utf-8")
    opml = (site / "feeds.opml").read_text(encoding="utf-8")
    for text in (index, opml):
        assert "Crypto" not in text and "crypto" not in text
        assert "Blockchain" not in text
    for ext in FORMATS:
        # 5 has no topic left (quality 80 meets the global 50); 6 keeps AI
        assert titles(site / f"all.{ext}")[:2] == ["Story number 6", "Story number 5"]
        assert categories(site / f"all.{ext}")[:2] == [["AI"], []]
        assert titles(site / f"topics/ai.{ext}")[0] == "Story number 6"


def test_feed_title_description_language_and_images_in_every_format(site: Path) -> None:
    stem = site / "topics/natural-language-processing"
    rss, atom, feed = read(stem.with_suffix(".rss")), read(stem.with_suffix(".atom")), None
    feed = read(stem.with_suffix(".json"))
    assert rss.feed.title == atom.feed.title == feed["title"] == "Language machines"
    assert rss.feed.subtitle == atom.feed.subtitle == feed["description"]
    assert feed["description"] == "Computers that read and write."
    assert rss.feed.language == atom.feed.language == feed["language"] == "de"
    assert rss.feed.image.href == LOGO  # RSS has one image: the logo when there is one
    assert atom.feed.icon == ICON
    assert atom.feed.logo == LOGO
    assert feed["icon"] == feed["favicon"] == ICON
    # the other feeds: the site's icon, the site's language
    ai_rss, ai_atom = read(site / "topics/ai.rss"), read(site / "topics/ai.atom")
    ai = read(site / "topics/ai.json")
    assert ai_rss.feed.image.href == ai_atom.feed.icon == ai["icon"] == SITE_ICON
    assert "logo" not in ai_atom.feed
    assert ai_rss.feed.language == ai["language"] == "en"
    assert ai_rss.feed.title == ai["title"] == "Aggregator: AI"


def test_excerpt_topics_carry_the_excerpt_only(site: Path) -> None:
    stem = site / "topics/natural-language-processing"
    raw_rss = stem.with_suffix(".rss").read_text(encoding="utf-8")
    raw_atom = stem.with_suffix(".atom").read_text(encoding="utf-8")
    assert "content:encoded" not in raw_rss
    assert "<content" not in raw_atom
    assert "<img" not in raw_rss and "&lt;img" not in raw_rss
    for entry in read(stem.with_suffix(".atom")).entries + read(stem.with_suffix(".rss")).entries:
        assert entry.summary == f"The excerpt of story {entry.title.split()[-1]}."
        assert "content" not in entry
        # the image still reaches readers that show media:thumbnail or the enclosure
        assert entry.media_thumbnail[0]["url"].startswith("https://img.example.com/")
    for item in read(stem.with_suffix(".json"))["items"]:
        assert "content_html" not in item
        assert item["content_text"] == item["summary"]
        assert item["image"].startswith("https://img.example.com/")
    assert json_feed_problems(stem.with_suffix(".json").read_bytes()) == []
    # a topic without the setting, and the all-topics feed, carry the full content
    for name in ("topics/ai", "all"):
        assert "<img" in read(site / f"{name}.atom").entries[0].content[0].value
        assert "<img" in read(site / f"{name}.json")["items"][0]["content_html"]


def test_feed_wide_content_excerpt_and_a_topic_back_to_full(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_article(src, "1.md", n=1, topics=["AI", "Robots"])
    config = load_config(
        write_config(
            tmp_path,
            "sources: [src]\noutput: out\nlinks: 'off'\ncontent: excerpt\n"
            "topics:\n  Robots:\n    content: full\n",
        )
    )
    build(config, now=NOW)
    out = tmp_path / "out"
    for name, full in (("all", False), ("topics/ai", False), ("topics/robots", True)):
        item = read(out / f"{name}.json")["items"][0]
        assert ("content_html" in item) is full, name
        assert ("content" in read(out / f"{name}.atom").entries[0]) is full, name


def test_an_alias_that_had_a_feed_of_its_own_is_emptied(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_article(src, "1.md", n=1, topics=["NLP"])
    conf = write_config(tmp_path, "sources: [src]\noutput: out\nlinks: 'off'\n")
    build(load_config(conf), now=NOW)
    assert titles(tmp_path / "out/topics/nlp.rss") == ["Story number 1"]
    conf.write_text(
        "sources: [src]\noutput: out\nlinks: 'off'\n"
        "topics:\n  Natural Language Processing:\n    aliases: [NLP]\n",
        encoding="utf-8",
    )
    build(load_config(conf), now=NOW)
    for ext in FORMATS:
        assert titles(tmp_path / f"out/topics/nlp.{ext}") == [], ext
        assert titles(tmp_path / f"out/topics/natural-language-processing.{ext}") == [
            "Story number 1"
        ]


@pytest.mark.parametrize(
    ("topics", "line", "where", "reason"),
    [
        ("  AI:\n    limit: 0\n", 5, "topics: AI: limit", "whole number of 1 or more"),
        ("  AI:\n    limit: many\n", 5, "topics: AI: limit", "whole number"),
        ("  AI:\n    min_quality: high\n", 5, "topics: AI: min_quality", "whole number"),
        ("  AI:\n    language: English please\n", 5, "topics: AI: language", "language tag"),
        ("  AI:\n    icon: /icon.png\n", 5, "topics: AI: icon", "absolute http(s) URL"),
        ("  AI:\n    logo: [a]\n", 5, "topics: AI: logo", "absolute http(s) URL"),
        ("  AI:\n    content: all\n", 5, "topics: AI: content", "full or excerpt"),
        ("  AI:\n    title: ''\n", 5, "topics: AI: title", "non-empty string"),
        ("  AI:\n    skip: yes please\n", 5, "topics: AI: skip", "true or false"),
        ("  AI:\n    aliases: 5\n", 5, "topics: AI: aliases", "topic name"),
        ("  AI:\n    colour: blue\n", 5, "topics: AI: colour", "unknown setting"),
        ("  AI:\n    skip: true\n    title: x\n", 6, "topics: AI: title", "skip: true"),
        ("  AI:\n    aliases: [ai]\n", 5, "topics: AI: aliases", "the topic itself"),
        (
            "  AI:\n    aliases: [ML]\n  Data:\n    aliases: [ml]\n",
            7,
            "topics: Data: aliases",
            "already an alias of 'AI'",
        ),
        (
            "  AI:\n    aliases: [ML]\n  ML:\n    limit: 5\n",
            6,
            "topics: ML",
            "is an alias of 'AI'",
        ),
        ("  AI: {}\n  ai: {}\n", 5, "topics: ai", "the same topic as 'AI'"),
        ("  AI: 70\n", 4, "topics: AI", "must map to settings"),
    ],
)
def test_each_mistake_is_one_line_naming_the_key(
    tmp_path: Path, topics: str, line: int, where: str, reason: str
) -> None:
    path = write_config(tmp_path, "title: Site\nlimit: 10\ntopics:\n" + topics)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:{line}: {where}: "), message
    assert reason in message, message


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("content: summary\n", "content"),
        ("icon: icon.png\n", "icon"),
        ("logo: 12\n", "logo"),
    ],
)
def test_top_level_settings_are_checked(tmp_path: Path, text: str, key: str) -> None:
    path = write_config(tmp_path, "title: Site\n" + text)
    with pytest.raises(ConfigError, match=rf"^{path}:2: {key}: "):
        load_config(path)


@pytest.mark.e2e
def test_the_command_reports_a_bad_topic_setting_in_one_line(tmp_path: Path) -> None:
    conf = write_config(tmp_path, "sources: [src]\ntopics:\n  NLP:\n    limit: -1\n")
    result = run_cli("build", "--config", conf, cwd=tmp_path)
    assert result.returncode == 2  # a config error
    assert result.stderr.splitlines() == [
        f"aggregator: error: {conf}:4: topics: NLP: limit: must be a whole number of 1 or more"
    ]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_settings_need_no_config_file() -> None:
    """The same settings as a library user passes them: Config records, no YAML."""
    config = Config(
        topics={"robots": TopicSettings(title="Bots", limit=1)}, aliases={"bots": "Robots"}
    )
    assert config.topic_settings("ROBOTS").title == "Bots"


@needs_validator
def test_feeds_with_every_setting_pass_the_w3c_validator(site: Path) -> None:
    checked, result = validate_folder(site)
    assert checked == 6
    assert result.returncode == 0, result.stdout + result.stderr
