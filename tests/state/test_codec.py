"""The one codec of stored rows: every record kept in the state (link results, the
engine's stories, the last report's duplicates and exclusions, remote feeds) reads back
as it was written, through JSON as the store keeps it."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest
from conftest import write_article

from aggregator import fastjson
from aggregator.model import Article
from aggregator.model import DroppedCopy
from aggregator.model import Duplicate
from aggregator.model import Exclusion
from aggregator.model import FeedState
from aggregator.model import Image
from aggregator.model import LinkResult
from aggregator.model import LoadError
from aggregator.model import SkippedEntry
from aggregator.sources.loader import load_file
from aggregator.state import codec
from aggregator.state.codec import duplicate_from_row
from aggregator.state.codec import duplicate_row
from aggregator.state.codec import exclusion_from_row
from aggregator.state.codec import exclusion_row
from aggregator.state.codec import feed_from_row
from aggregator.state.codec import feed_row
from aggregator.state.codec import link_from_row
from aggregator.state.codec import link_row
from aggregator.state.codec import story_from_row
from aggregator.state.codec import story_json
from aggregator.stories.dedupe import with_keys

WHEN = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def through_json(row: object) -> object:
    return json.loads(json.dumps(row, ensure_ascii=False))


def test_a_duplicate_and_an_exclusion_read_back_as_written() -> None:
    duplicate = Duplicate(
        kept="a/kept.md",
        dropped=("b/copy.md", "c/near \u201ccopy\u201d.md"),
        reason="similar-title",
        score=0.81,
        copies=(
            DroppedCopy("b/copy.md", "same-url", 1.0),
            DroppedCopy("c/near \u201ccopy\u201d.md", "similar-title", 0.81),
        ),
    )
    back = duplicate_from_row(through_json(duplicate_row(duplicate)))  # type: ignore[arg-type]
    assert back == duplicate and back.copies == duplicate.copies
    for exclusion in (
        Exclusion("x.md", "quality", "quality 40 is below 50", None),
        Exclusion("y.md", "topic_quality", "quality 60 is below 70 for AI", "AI"),
    ):
        assert exclusion_from_row(through_json(exclusion_row(exclusion))) == exclusion  # type: ignore[arg-type]


def test_a_link_result_and_a_feed_state_read_back_as_written() -> None:
    result = LinkResult(
        "https://example.com/a", "broken", 404, "HTTP 404", None, WHEN, WHEN, 3, WHEN
    )
    assert link_from_row(through_json(list(link_row(result)))) == result  # type: ignore[arg-type]
    state = FeedState(url="https://blog.example.com/feed.xml", title="A blog", etag='"x"')
    assert feed_from_row(feed_row(state)) == state


def test_a_story_keeps_its_topics_feeds_and_the_images_its_entry_shows(tmp_path: Path) -> None:
    found = load_file(write_article(tmp_path, "a.md", topics=["AI", "Robots"]))
    assert isinstance(found, Article)
    images = (Image("https://img.example.com/1.jpg"), Image("https://img.example.com/2.jpg"))
    found = dataclasses.replace(found, images=images)
    shown = dataclasses.replace(found, images=images[1:], topics=("AI",))
    stored = story_from_row(("s1", "a.md", story_json(shown, ("AI", "all"), found)))
    assert (stored.story, stored.survivor, stored.topics) == ("s1", "a.md", ("AI",))
    assert (stored.kept, stored.feeds, stored.images) == (True, ("AI", "all"), (1,))
    left_out = story_from_row(("s2", "a.md", story_json(found, None, found)))
    assert (left_out.kept, left_out.feeds, left_out.images) == (False, (), None)
    # Stories whose images are all shown share their text (written once per topics and
    # feeds): each reads back as its own.
    again = dataclasses.replace(found, path="b.md")
    for passed in [("AI", "all"), ("AI", "all"), None, ("Robots",)]:
        text = story_json(again, passed, again)
        assert json.loads(text) == {
            "topics": ["AI", "Robots"],
            "kept": passed is not None,
            "feeds": list(passed or ()),
        }
        read = story_from_row(("s3", "b.md", text))
        assert (read.topics, read.kept, read.feeds, read.images) == (
            ("AI", "Robots"),
            passed is not None,
            passed or (),
            None,
        )


def test_a_story_text_is_the_json_an_earlier_build_wrote(tmp_path: Path) -> None:
    # A story formed again as it was is told by its text: the text written now must be
    # the one `json.dumps` wrote before, byte for byte, whatever its names hold.
    found = load_file(write_article(tmp_path, "a.md"))
    assert isinstance(found, Article)
    names = ["AI", 'say "hi"', "back\\slash", "tab\there", "é ü 😀", "line\u2028sep", "x\x01"]
    for topics, passed in [
        (tuple(names), tuple(names[::2])),
        (tuple(names[1:3]), None),
        ((), ()),
        (("AI",), None),
    ]:
        article = dataclasses.replace(found, topics=topics)
        expected = json.dumps(
            {"topics": list(topics), "kept": passed is not None, "feeds": list(passed or ())},
            ensure_ascii=False,
        )
        assert story_json(article, passed, article) == expected


def _whole(article: Article | LoadError) -> tuple[object, ...]:
    """Every field, those equality leaves out (keys, fingerprint, warnings) too."""
    assert isinstance(article, Article)
    return (article, article.keys, article.fingerprint, article.warnings)


def _articles(tmp_path: Path) -> list[Article]:
    seeds = sorted((Path(__file__).resolve().parents[2] / "seeds").glob("*.txt"))
    loaded = [load_file(path) for path in seeds]
    # Warnings, a provider without a domain, topics, images and related coverage.
    loaded.append(
        load_file(
            write_article(
                tmp_path,
                "full.md",
                topics=["AI", "Caf\u00e9 \U0001f600"],
                provider={"name": "Example"},
                related=[{"title": "Other", "webUrl": "https://other.example/1"}, 5],
            )
        )
    )
    articles = [with_keys(a) for a in loaded if isinstance(a, Article)]
    assert len(articles) == len(loaded) and any(a.warnings for a in articles)
    return articles


def test_a_parsed_article_reads_back_as_it_was_written_with_orjson_or_without(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    articles = _articles(tmp_path)
    # The `fast` extra (the tests install it) writes the texts with orjson: compact.
    assert fastjson.ORJSON is not None
    fast = [codec.encode(a) for a in articles]
    assert all(", " not in words for _head, words, _body in fast)
    monkeypatch.setattr(fastjson, "ORJSON", None)
    plain = [codec.encode(a) for a in articles]
    assert all(", " in words for _head, words, _body in plain)
    for article, texts in [*zip(articles, fast, strict=True), *zip(articles, plain, strict=True)]:
        assert _whole(codec.decode(*texts)) == _whole(article)


def test_what_orjson_refuses_is_written_by_json_and_reads_back_exactly(tmp_path: Path) -> None:
    # The loader never makes these (text is cleaned, quality bounded): the codec still
    # writes them, and an integer past 64 bits reads back as that integer, not a float.
    article = _articles(tmp_path)[0]
    odd = dataclasses.replace(article, title="lone \ud800 surrogate", quality=10**20)
    texts = codec.encode(odd)
    back = codec.decode(*texts)
    assert isinstance(back, Article)
    assert (back.title, back.quality, type(back.quality)) == ("lone \ud800 surrogate", 10**20, int)


@pytest.mark.parametrize("total", [0, 2, 3, 250])
def test_a_feed_row_keeps_how_many_entries_were_left_out_in_a_form_every_version_reads(
    total: int,
) -> None:
    """More entries left out than are kept: their count round-trips, and the stored list
    is still a list of [id, title, reason] items (what a state file or PostgreSQL
    database shared with an earlier version holds: that version reads every item as an
    entry, and fails on none)."""
    kept = tuple(SkippedEntry(f"urn:{n}", f"Title {n}", "no usable link") for n in range(3))
    state = FeedState(
        url="https://blog.example/feed.xml",
        skipped=kept[: min(total, 3)],
        skipped_total=total,
    )
    row = feed_row(state)
    assert feed_from_row(row) == state
    stored = json.loads(str(row[12]))
    assert all(isinstance(item, list) and len(item) == 3 for item in stored), stored
    assert [SkippedEntry(*item) for item in stored][: len(state.skipped)] == list(state.skipped)
    # An entry that happens to look like the count is an entry like any other.
    odd = FeedState(
        url=state.url,
        skipped=(SkippedEntry("", "", "7 entries left out in all"),),
        skipped_total=1,
    )
    assert feed_from_row(feed_row(odd)) == odd
