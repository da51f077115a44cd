"""WebSub: telling a hub which feeds changed, so subscribers get them pushed.

After a run, every feed whose bytes changed is announced to the hub with
`hub.mode=publish`. A hub that fails is logged and the feed stays pending in the
state file, to be announced again after the next run; publishing never waits on it
beyond one short timeout per feed.

With a bucket output the feeds reach readers only when the upload lands: the changed
feeds are recorded as pending before it (`pend_build`) and announced after it, so a
feed whose upload failed is announced after the run that finally publishes it (that
run's build changed nothing more: the staging folder already had the bytes), and
never before it is served.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from aggregator.config import Config
from aggregator.links.http import agent_headers
from aggregator.model import BuildReport
from aggregator.state.interface import StateStore
from aggregator.state.interface import open_store

if TYPE_CHECKING:
    import requests

log = logging.getLogger("aggregator.publishing.websub")
#: connect and read timeout of one ping: a hanging hub delays a stop by this at most
TIMEOUT = 5.0


def announce(
    hub: str,
    changed: Iterable[str],
    store: StateStore,
    now: datetime,
    *,
    user_agent: str,
    session: requests.Session | None = None,
    cancel: threading.Event | None = None,
) -> tuple[list[str], list[str]]:
    """Ping `hub` for the changed feeds and any still pending; (announced, failed).
    `session` sends the pings (one of our own when None; see `http`)."""
    store.add_pings(changed, now)
    pending = store.pending_pings()
    if not pending:
        return [], []
    import requests  # here: only builds that ping a hub pay for importing it

    own = session is None
    if session is None:
        session = requests.Session()
        session.trust_env = False  # no proxy or netrc from the environment
    headers = agent_headers(session, user_agent)
    announced: list[str] = []
    failed: list[str] = []
    try:
        for url in pending:
            if cancel is not None and cancel.is_set():
                break  # the rest stay pending for the next run
            try:
                response = session.post(
                    hub,
                    data={"hub.mode": "publish", "hub.url": url},
                    headers=headers,
                    timeout=TIMEOUT,
                    allow_redirects=False,
                )
                response.close()
                ok = 200 <= response.status_code < 300
                reason = f"{response.status_code} {response.reason or ''}".strip()
            except requests.RequestException as exc:
                ok, reason = False, " ".join(str(exc).split())[:200]
            if ok:
                announced.append(url)
            else:
                failed.append(url)
                log.warning(
                    "hub %s refused %s: %s; will try again after the next run", hub, url, reason
                )
    finally:
        if own:
            session.close()
    store.done_pings(announced)
    return announced, failed


def pend_build(config: Config, report: BuildReport, now: datetime) -> None:
    """Before a bucket upload: remember the feeds the build changed as pending, for
    the run whose upload lands to announce (no hub: nothing)."""
    if not config.websub_hub:
        return
    changed = _changed(config, report)
    if changed:
        with open_store(config.state_location) as store:
            store.add_pings(changed, now)


def announce_build(
    config: Config,
    report: BuildReport,
    now: datetime,
    cancel: threading.Event | None = None,
    *,
    session: requests.Session | None = None,
) -> None:
    """After a build (and its upload): ping the configured hub for the feeds it changed
    and those still pending (no hub: nothing)."""
    if not config.websub_hub:
        return
    changed = _changed(config, report)
    with open_store(config.state_location) as store:
        announce(
            config.websub_hub,
            changed,
            store,
            now,
            user_agent=config.link_check.user_agent,
            session=session,
            cancel=cancel,
        )


def _changed(config: Config, report: BuildReport) -> list[str]:
    """The public URLs of the feeds whose bytes the build changed."""
    return [config.base_url + f.path for f in report.feeds if f.changed]
