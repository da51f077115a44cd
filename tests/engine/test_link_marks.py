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
