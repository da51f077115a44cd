"""Whether the next build may skip comparing every link row with its result: only when
no process but the build's own saved link results while it judged them."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

from aggregator.engine.tables import LINKS_SEEN
from aggregator.engine.tables import LinkMark
from aggregator.engine.tables import links_settled
from aggregator.model import LinkResult
from aggregator.state.codec import link_stamp
from aggregator.state.interface import LINK_WRITES
from aggregator.state.store import Store

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def result(url: str) -> LinkResult:
    return LinkResult(url, "ok", 200, "200 OK", None, T0, T0 + timedelta(days=3))


def test_the_count_seen_is_kept_only_when_the_build_saved_every_result_since_its_mark(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.sqlite"
    with Store(path) as store, Store(path) as other:
        mark = LinkMark.now(store)
        store.save_links([result("https://e.com/a")])
        store.save_links([result("https://e.com/b")])
        links_settled(store, mark, judged=True)
        assert store.meta(LINKS_SEEN) == store.meta(LINK_WRITES) == "2"

        mark = LinkMark.now(store)
        store.save_links([result("https://e.com/c")])
        other.save_links([result("https://e.com/d")])  # another process, meanwhile
        links_settled(store, mark, judged=True)
        assert store.meta(LINKS_SEEN) is None  # the next build compares every row

        mark = LinkMark.now(store)
        links_settled(store, mark, judged=False)  # links not judged: no rows kept
        assert store.meta(LINKS_SEEN) is None
        links_settled(store, mark, judged=True)
        assert store.meta(LINKS_SEEN) == "4"
        store.set_meta(LINK_WRITES, "not a count")
        links_settled(store, LinkMark.now(store), judged=True)
        assert store.meta(LINKS_SEEN) is None


def test_link_counts_that_do_not_add_up_are_counted_anew(tmp_path: Path) -> None:
    """The report's link counts are carried over from the last build's; counts that do
    not add up (kept by something else) are counted over every link row instead."""
    from aggregator.config import Config
    from aggregator.engine.run import _link_summary
    from aggregator.engine.run import _LinkCounts
    from aggregator.engine.tables import LINK_COUNTS

    with Store(tmp_path / "state.sqlite") as store:
        store.save_links([result("https://e.com/a")])
        stamp = link_stamp(result("https://e.com/a"))
        store.inc_insert("inc_link", [("https://e.com/a", "a.md", stamp, "", "")])
        config = Config(sources=(tmp_path,), output=tmp_path / "out", links="cached")
        kept = _LinkCounts(store, {"ok": 1})  # what the rows say: carried over
        kept.note(["https://e.com/a"])
        summary = _link_summary(store, config, 0, False, kept, 1)
        assert (summary.checked, summary.classes) == (1, (("ok", 1),))
        assert summary.fresh_until == T0 + timedelta(days=3)
        assert store.meta(LINK_COUNTS) == '[1, {"ok": 1}]'
        kept = _LinkCounts(store, {"broken": 5})  # not what the rows say
        kept.note(["https://e.com/a"])
        store.inc_delete("inc_link", "path", ["a.md"])
        summary = _link_summary(store, config, 0, False, kept, 2)
        assert (summary.checked, summary.classes, summary.fresh_until) == (0, (), None)
        assert store.meta(LINK_COUNTS) == "[2, {}]"
