"""`aggregator run`: rebuild on a schedule (APScheduler 3), serve the feeds, ping the hub.

The main thread only waits for signals: SIGTERM and SIGINT stop the daemon (a run
in progress stops before it writes anything, or finishes its writes, which are
atomic), SIGHUP reloads the config. Runs happen in the scheduler's thread, one at a
time (`max_instances=1`, `coalesce=True`, a generous misfire grace), each under the
output folder's lock. A run that fails is logged with its cause and the next one
goes on: one bad cycle never ends the daemon.

A reload is the config loaded and checked as at the start; one that fails (a broken
file, a private file inside the new output folder) is logged and the old config
kept. A reload that changes what the feeds are made of (`Config.output_key`) starts a
run at once (or, during a scheduled run, once more after it); one that moves the output
folder too, and the server serves the new folder from the first run that completes
there (until then, the old folder's feeds).

With `watch` (`--watch`, `watch: true`), file-system events on the local source
folders start a build too (`app.watch`): a burst of events settles for a moment, then
one build runs (one more when events came during it), in a thread of its own but under
the same lock as the scheduled runs, so two never run at once, and through the same
path (lead, output lock, health, one log line). Between runs the daemon keeps the
files found and their identities (`watch.Warm`): a run after events stats only the
paths they named, and a scheduled run walks every folder again, catching what events
missed. A folder that cannot be watched is logged with the reason and left to the
schedule.

Several daemons may share one PostgreSQL state: each run first asks the state's
`Leadership` (an advisory lock held for the daemon's life) whether this daemon leads.
The leader builds and publishes; a follower builds nothing and, with links on, helps
check the links (the checker claims hosts from the others through the state's leases,
so per-host limits hold across daemons and no URL is asked twice), for one interval
at most, so that it tries to lead again on time: a killed leader's session dies with
it and frees the lock, and the next follower to run takes over. A follower also keeps
its mirror of the source buckets current (one listing when nothing changed; with links
on, the link check does it), so that a new leader starts warm. With a SQLite state
the one daemon always leads. Each change of role is logged, and /healthz says it.

With `serve_report: true` the server also answers /report.html with the HTML build
report of the last run this daemon completed (rendered when first asked for, kept in
memory until the next run: never written to the output folder, which is public);
without it, or before a run completed, or while following, /report.html is 404.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from types import FrameType
from typing import TYPE_CHECKING
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from aggregator.app.feedlist import problem_lines
from aggregator.app.progress import Display
from aggregator.app.progress import showing
from aggregator.app.server import FeedApp
from aggregator.app.server import Server
from aggregator.app.watch import Burst
from aggregator.app.watch import Rebuilds
from aggregator.app.watch import Warm
from aggregator.app.watch import Watcher
from aggregator.clock import Clock
from aggregator.clock import utcnow
from aggregator.config import Config
from aggregator.engine.pipeline import FindFiles
from aggregator.engine.pipeline import collector_paused
from aggregator.engine.pipeline import find_files
from aggregator.engine.run import warm_zones
from aggregator.errors import AggregatorError
from aggregator.errors import Cancelled
from aggregator.errors import LeadLost
from aggregator.errors import ServeError
from aggregator.library import build
from aggregator.library import check_links
from aggregator.links.linkcheck import Drain
from aggregator.model import BuildReport
from aggregator.model import dropped
from aggregator.model import left_out
from aggregator.objectstore import upload
from aggregator.objectstore.mirror import sync_sources
from aggregator.publishing.layout import real
from aggregator.publishing.lock import OutputLock
from aggregator.rendering.feeds import keep_entries
from aggregator.rendering.reportpage import render_report
from aggregator.sources.loader import helper
from aggregator.sources.loader import keep_helper
from aggregator.state.interface import open_leadership
from aggregator.stories import similar
from aggregator.stories.similar import keep_sweeps

if TYPE_CHECKING:
    import requests

log = logging.getLogger("aggregator.app.daemon")

#: one collection in this many after a build walks every object, the frozen too
#: (`Daemon._collect`)
_WHOLE_EVERY = 50
#: /healthz fails when no run succeeded for this many intervals
UNHEALTHY_AFTER = 3
#: the roles of a daemon among those sharing a state
LEADER = "leader"
FOLLOWER = "follower"


@dataclass
class Health:
    """What /healthz reports: the last run and the last good one.

    Anyone who can reach the server reads /healthz, so its body holds status, times,
    duration and counts only: `last_error` (an exception's text, often with paths of
    this machine) stays in the log, never in the answer.
    """

    started_at: datetime
    interval: timedelta
    last_run_at: datetime | None = None
    last_status: str = "starting"
    last_error: str | None = None  # for the process and its log, not for /healthz
    last_success_at: datetime | None = None
    last_duration: float | None = None
    counts: dict[str, Any] = field(default_factory=dict)
    #: LEADER (builds and publishes) or FOLLOWER; None until the first run asks
    role: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: what "now" is when the answer is asked for without one
    clock: Clock = utcnow

    def answer(self, now: datetime | None = None) -> tuple[int, dict[str, Any]]:
        now = now or self.clock()
        with self.lock:
            since = self.last_success_at or self.started_at
            stale = now - since > self.interval * UNHEALTHY_AFTER
            failed = self.last_status == "failed"
            body = {
                "status": "failing" if failed or stale else self.last_status,
                "last_run_at": self.last_run_at,
                "last_run_status": self.last_status,
                "last_success_at": self.last_success_at,
                "last_duration_s": self.last_duration,
                "counts": dict(self.counts),
                "interval_s": self.interval.total_seconds(),
                "role": self.role,
            }
        return (503 if failed or stale else 200), body


def trigger_for(config: Config) -> BaseTrigger:
    if config.cron:
        return CronTrigger.from_crontab(config.cron, timezone=UTC)
    return IntervalTrigger(seconds=config.interval.total_seconds(), timezone=UTC)


def trigger_interval(trigger: BaseTrigger, now: datetime) -> timedelta:
    """The time between two runs (for a cron trigger, the next two fire times)."""
    if isinstance(trigger, IntervalTrigger):
        return timedelta(seconds=trigger.interval.total_seconds())
    first = trigger.get_next_fire_time(None, now)
    second = trigger.get_next_fire_time(first, first + timedelta(seconds=1)) if first else None
    return (second - first) if first and second else timedelta(hours=1)


def listen(app: FeedApp, host: str, port: int) -> Server:
    """`Server(app, host, port)`, not started; ServeError in one line naming the
    address and the reason when it cannot listen there (in use, not allowed, a host
    name that does not resolve)."""
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        return Server(app, host, port)  # it resolves the host: OSError when it cannot
    except OSError as exc:
        raise ServeError(f"cannot serve on {shown}: {exc.strerror or exc}") from exc
    except ValueError as exc:  # waitress: an address it cannot use
        raise ServeError(f"cannot serve on {shown}: {exc}") from exc


class Daemon:
    """A scheduler, an optional server, and the signal handling around them."""

    def __init__(
        self,
        load_config: Callable[[], Config],
        *,
        serve: tuple[str, int] | None = None,
        stopping: threading.Event | None = None,
        clock: Clock = utcnow,
        session: requests.Session | None = None,
        progress: Display | None = None,
    ) -> None:
        """`clock` gives each run its `now` (and /healthz its); the scheduler keeps
        its own time, the real one. `session` sends every run's link checks and hub
        pings (see `aggregator.build`). `progress` shows the phases of each run (the
        bar of `aggregator run` started by hand on a terminal), erased when it ends."""
        self._load_config = load_config
        self.clock = clock
        self.session = session
        self.progress = progress
        self.config = load_config()
        self.serve_address = serve
        #: set by SIGTERM or SIGINT (or by the caller): the daemon stops
        self.stopping = stopping if stopping is not None else threading.Event()
        self.trigger = trigger_for(self.config)
        now = clock()
        self.health = Health(
            started_at=now, interval=trigger_interval(self.trigger, now), clock=clock
        )
        self.leadership = open_leadership(self.config.state_location)
        #: the term as leader of the last run (`Leadership.term`)
        self._term = 0
        #: set to stop a follower's link checks (by a stop, or after one interval)
        self._helping: Drain | None = None
        # One thread for the one job: the default pool of ten started another thread
        # whenever a run was handed over while the last one's thread was still ending
        # (a busy machine), and kept it.
        self.scheduler = BackgroundScheduler(
            timezone=UTC, executors={"default": ThreadPoolExecutor(max_workers=1)}
        )
        self.server: Server | None = None
        #: the server's application; its `root` is the folder served
        self.app: FeedApp | None = None
        #: held by each run, scheduled or started by events: one at a time
        self._building = threading.Lock()
        #: whether the zones of the newest articles were found again (`_warm`)
        self._warmed = False
        #: collections since the last that walked every object, and whether they freeze
        #: what is kept (between `start` and `stop`; see `_collect`)
        self._collections = 0
        self._freezing = False
        #: a reload changed what the feeds are made of: the scheduled run in progress,
        #: which read the old config, runs once more (the scheduler skips a second one)
        self._rerun = False
        #: what is kept of the article files between runs, while watching
        self.warm = Warm()
        self.watcher: Watcher | None = None
        self.rebuilds: Rebuilds | None = None
        #: the last run's report and site title (with `serve_report`), and its page
        #: once rendered; read by the server's threads
        self._report_lock = threading.Lock()
        self._last_report: tuple[BuildReport, str] | None = None
        self._report_page: bytes | None = None

    # -- one run ---------------------------------------------------------------------

    def run_once(self) -> BuildReport | None:
        """A scheduled run: one build under the output lock, when this daemon leads
        (else a follower's help: `_follow`); logs one line; never raises. While
        watching it walks every source folder (what events missed is found) and
        watches again the folders that could not be watched."""
        if self.watcher is not None:
            self.watcher.retry()
        with self._building:
            while True:
                self._rerun = False
                self.warm.rewalk()
                report = self._run(None)
                if not self._rerun or self.stopping.is_set():
                    return report

    def run_watched(self, burst: Burst) -> BuildReport | None:
        """A run for a burst of events: as `run_once`, but only the paths they named
        are looked at (`watch.Warm`), and a follower does nothing (the leader builds;
        the schedule has it help)."""
        with self._building:
            if self.stopping.is_set():
                return None
            return self._run(burst)

    def _run(self, burst: Burst | None) -> BuildReport | None:
        config = self.config
        started = time.monotonic()
        now = self.clock()
        try:
            leading = self.leadership.lead()
        except AggregatorError as exc:
            self._failed(now, started, str(exc))
            return None
        term = self.leadership.term()
        self._take_role(LEADER if leading else FOLLOWER, term)
        if not leading:
            if burst is None:
                self._follow(config, now, started)
            return None
        find: FindFiles = self.warm.find if self.watcher is not None else find_files
        try:
            wait = max(1.0, min(300.0, self.health.interval.total_seconds()))
            # A file landing waits for this build: no collector passes during it.
            # No cyclic garbage collection during a build started by events: its garbage
            # is freed by reference counting as it goes, the rest collected once its
            # feeds are served (`_collect`). At 100k files this took about 10% off a
            # one-file build.
            paused = collector_paused() if burst is not None else contextlib.nullcontext()
            with paused, showing(self.progress) as progress:
                report = build(
                    config,
                    now=now,
                    session=self.session,
                    wait=wait,
                    cancel=self.stopping,
                    # Still leading, in the same term: a lead lost and taken again
                    # during the build publishes nothing (the bucket may have moved on).
                    leading=lambda: self.leadership.lead() and self.leadership.term() == term,
                    find=find,
                    activity=config.serve_report,  # what the report page charts
                    progress=progress,
                )
                if burst is not None:
                    self._collect()  # (collection still paused: one pass over the new)
        except Cancelled:
            log.info("run stopped before writing: the daemon is shutting down")
            return None
        except LeadLost as exc:
            log.info("%s", exc)
            self._take_role(FOLLOWER)
            return None
        except AggregatorError as exc:
            self._failed(now, started, str(exc))
            return None
        except Exception as exc:  # one bad cycle must never end the daemon
            log.exception("run failed unexpectedly")
            self._failed(now, started, f"{type(exc).__name__}: {exc}")
            return None
        duration = time.monotonic() - started
        app = self.app
        if app is not None and real(app.root) != real(config.output):
            app.root = config.output  # a reload moved the output: its feeds are there now
            log.info("now serving %s", config.output)
        counts = _counts(report)
        self._keep_report(report if config.serve_report else None, config)
        self._succeeded(now, duration, counts)
        for error in report.errors:
            log.warning("%s", error)
        for warning in report.warnings:
            log.warning("%s", warning)
        for line in problem_lines(report.sources):
            log.warning("%s", line)
        trigger: dict[str, Any] = {"trigger": "schedule" if burst is None else "watch"}
        if burst is not None:
            trigger.update(changes=burst.paths, waited_s=round(burst.waited, 3))
        log.info(
            "run ok in %.2f s%s: %d loaded, %d invalid, %d duplicates, %d excluded, "
            "%d published, %d of %d feeds changed%s",
            duration,
            "" if burst is None else f" (watch: {burst.paths} path{'s' * (burst.paths != 1)})",
            counts["loaded"],
            counts["invalid"],
            counts["duplicates"],
            counts["excluded"],
            counts["published"],
            counts["feeds_changed"],
            counts["feeds"],
            "; the network looks down" if report.links and report.links.network_down else "",
            extra={
                "event": "run",
                "status": "ok",
                "duration_s": round(duration, 3),
                **trigger,
                **counts,
            },
        )
        if burst is None:
            self._collect(whole=True)
        kept = helper()
        if kept is not None and report.loaded >= similar.SPLIT_ARTICLES:
            # Articles enough for a period the sweeps split: the helper is started now,
            # not by the first build after an edit there (which sweeps it whole).
            kept.start()
        if report.mode == "full" or not self._warmed:
            self._warm(config)
        return report

    def _collect(self, *, whole: bool = False) -> None:
        """Collects what the last build left, now that its feeds are served, and freezes
        what is kept (`gc.freeze`): the next collection walks only what was made since.
        At 100k files a pass over all the daemon keeps took about 0.2 s after each build
        started by events, the server's answers held up meanwhile. After a scheduled
        build (`whole`), and every `_WHOLE_EVERY` collections (a cycle dropped from the
        frozen objects is not collected until then), every object is walked. A daemon
        not started (`run_once` called as a library's) freezes nothing."""
        if not self._freezing:
            gc.collect()
            return
        self._collections += 1
        if whole or self._collections >= _WHOLE_EVERY:
            gc.unfreeze()
            self._collections = 0
        gc.collect()
        gc.freeze()

    def _warm(self, config: Config) -> None:
        """After this process's first build (a restart over its state is not a full
        one) and after each full build, whose zones were found on the workers, the zones
        where files land found again in this process (`engine.run.warm_zones`), under the
        output lock when it is free (else not now): the next build after an event there
        finds them warm. A failure only leaves that build to do it, as before."""
        lock = OutputLock(config.output, wait=0)
        try:
            lock.acquire(cancel=self.stopping)
        except AggregatorError:  # another writer holds it: the next build reads on its own
            return
        try:
            warm_zones(config, self.stopping)
            self._warmed = True
        except Cancelled:
            pass
        except Exception:  # (a state file gone meanwhile, say): the next build reports it
            log.debug("the zones of the newest articles were not found again", exc_info=True)
        finally:
            lock.release()

    def _keep_report(self, report: BuildReport | None, config: Config) -> None:
        with self._report_lock:
            self._last_report = (report, config.title) if report is not None else None
            self._report_page = None

    def report_page(self) -> bytes | None:
        """The HTML build report of the last run, when the config serves it and a run
        completed (what the server answers at /report.html); else None."""
        if not self.config.serve_report:
            return None
        with self._report_lock:
            if self._report_page is None and self._last_report is not None:
                report, title = self._last_report
                self._report_page = render_report(report, site_title=title)
            return self._report_page

    def _take_role(self, role: str, term: int | None = None) -> None:
        """Become leader or follower; `term`, the lead's (`Leadership.term`), when known."""
        with self.health.lock:
            before, self.health.role = self.health.role, role
        retaken = term is not None and term != self._term and before == LEADER
        if term is not None:
            self._term = term
        if role == before and not (role == LEADER and retaken):
            return
        if role == LEADER:
            # Another daemon may have published since this one last uploaded (it was a
            # follower, or lost the lead and took it again): the next build starts from
            # what the bucket holds (`upload.pull`).
            upload.forget(self.config)
            log.info(
                "leader: this daemon builds and publishes%s",
                " (the last leader is gone)" if before == FOLLOWER else "",
                extra={"event": "role", "role": role},
            )
        else:
            self._keep_report(None, self.config)  # the leader's builds are the news now
            # A follower builds nothing, so collects nothing after builds: what its
            # builds as the leader kept is the collector's again (see `_collect`).
            gc.unfreeze()
            self._collections = 0
            helps = "; it helps check links" if self.config.links == "on" else ""
            log.info(
                "follower: %s leads; this daemon builds nothing while it does%s",
                self.leadership.holder() or "another daemon",
                helps,
                extra={"event": "role", "role": role},
            )

    def _follow(self, config: Config, now: datetime, started: float) -> None:
        """A follower's run: with links on, check them for most of an interval (the
        results go to the shared state as they are known); then ready to lead. Without
        link checks, its mirror of the source buckets is brought up to date instead."""
        requested = 0
        if config.links != "on" and config.remote_sources:
            try:
                sync_sources(config)
            except AggregatorError as exc:
                self._failed(now, started, str(exc))
                return
        if config.links == "on":
            helping = self._helping = Drain()
            if self.stopping.is_set():
                helping.cut()
            # Done before the next scheduled run, so that it tries to lead on time.
            timer = threading.Timer(0.8 * self.health.interval.total_seconds(), helping.set)
            timer.daemon = True
            timer.start()
            try:
                with showing(self.progress) as progress:
                    checked = check_links(
                        config, now=now, session=self.session, cancel=helping, progress=progress
                    )
                requested = checked.summary.requested
            except Cancelled:
                if self.stopping.is_set():
                    log.info("link checks stopped: the daemon is shutting down")
                    return
                log.info("follower: link checks left for the next run after one interval")
            except AggregatorError as exc:
                self._failed(now, started, str(exc))
                return
            except Exception as exc:  # one bad cycle must never end the daemon
                log.exception("link checks failed unexpectedly")
                self._failed(now, started, f"{type(exc).__name__}: {exc}")
                return
            finally:
                timer.cancel()
                self._helping = None
        duration = time.monotonic() - started
        self._succeeded(now, duration, {"links_requested": requested})
        log.info(
            "run ok in %.2f s as a follower: %d links requested",
            duration,
            requested,
            extra={
                "event": "run",
                "status": "ok",
                "role": FOLLOWER,
                "duration_s": round(duration, 3),
                "links_requested": requested,
            },
        )

    def _succeeded(self, now: datetime, duration: float, counts: dict[str, Any]) -> None:
        """What /healthz says after a run that went well."""
        with self.health.lock:
            self.health.last_run_at = now
            self.health.last_status = "ok"
            self.health.last_error = None
            self.health.last_success_at = now
            self.health.last_duration = round(duration, 3)
            self.health.counts = counts

    def _failed(self, now: datetime, started: float, reason: str) -> None:
        duration = time.monotonic() - started
        with self.health.lock:
            self.health.last_run_at = now
            self.health.last_status = "failed"
            self.health.last_error = reason
            self.health.last_duration = round(duration, 3)
        log.error(
            "run failed after %.2f s: %s; the next run goes on",
            duration,
            reason,
            extra={"event": "run", "status": "failed", "error": reason},
        )

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        if self.serve_address is not None:
            host, port = self.serve_address
            self.app = FeedApp(
                self.config.output, health=self.health.answer, report=self.report_page
            )
            self.server = listen(self.app, host, port).start()
            log.info("serving %s on http://%s:%d/", self.config.output, host, self.server.port)
        self._watch()  # before the first run: what changes while it runs is seen
        self._freezing = True
        # Each build after an edit finds the zones around it again: what the last sweep
        # of a zone made of its articles is kept for them.
        keep_sweeps()
        # A period of many articles is swept in two parts at once, one on a helper.
        keep_helper()
        # Each build after an edit renders the feeds of its file again: their other
        # entries are kept as they were rendered.
        keep_entries()
        self.scheduler.add_job(
            self.run_once,
            self.trigger,
            id="build",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=int(max(60, self.health.interval.total_seconds())),
            next_run_time=utcnow(),  # the scheduler's time: the real one
        )
        self.scheduler.start()
        log.info("running every %s", _describe(self.config))

    def _watch(self) -> None:
        """Watch the source folders of the config, when it says so (again after a
        reload: the folders may have changed); else stop watching."""
        if not self.config.watch:
            self._unwatch()
            return
        if self.rebuilds is None:
            self.rebuilds = Rebuilds(self.run_watched).start()
        if self.watcher is None:
            self.watcher = Watcher(self.warm, self.rebuilds)
        self.watcher.watch(self.config)
        self.warm.rewalk()  # events may have gone unseen while the watches were made

    def _unwatch(self) -> None:
        watcher, self.watcher = self.watcher, None
        if watcher is not None:
            watcher.close()
        rebuilds, self.rebuilds = self.rebuilds, None
        if rebuilds is not None:
            rebuilds.stop()

    def reload(self) -> None:
        try:
            config = self._load_config()
        except AggregatorError as exc:
            log.error("config not reloaded, keeping the old one: %s", exc)
            return
        moved = real(config.output) != real(self.config.output)
        # What the feeds are made of changed (sources, topics, filters...): a run now,
        # not at the next time of the schedule (an hour away, say).
        remade = config.output_key() != self.config.output_key()  # `output:` is in it
        if str(config.state_location) != str(self.config.state_location):
            self.leadership.close()  # another state: the lead is asked for there
            self.leadership = open_leadership(config.state_location)
        self.config = config
        self.trigger = trigger_for(config)
        with self.health.lock:
            self.health.interval = trigger_interval(self.trigger, self.clock())
        self.scheduler.reschedule_job("build", trigger=self.trigger)
        self._watch()
        log.info("config reloaded; running every %s", _describe(config))
        if remade:
            self._rerun = True
            self.scheduler.modify_job("build", next_run_time=utcnow())
        if moved and self.app is not None:
            # Readers keep the old folder's feeds until a run has written the new one.
            log.info(
                "output moved to %s: serving it from the first run that completes there",
                config.output,
            )

    def stop(self) -> None:
        self.stopping.set()
        helping = self._helping
        if helping is not None:
            helping.cut()  # shutting down: requests in flight are cut short
        try:
            self._unwatch()
            self.scheduler.shutdown(wait=True)
        finally:
            self._freezing = False
            gc.unfreeze()  # (see `_collect`)
        keep_sweeps(False)
        keep_helper(False)
        self.leadership.close()
        if self.server is not None:
            self.server.close()
        log.info("stopped")

    def run_forever(self) -> int:
        """Start, then wait for signals; returns the exit code (0 on SIGTERM/SIGINT).
        Raises ServeError when the server cannot listen; starts nothing when a stop
        was requested already. The signal handlers it sets are undone at the end."""
        if self.stopping.is_set():
            return 0

        # A handler runs in this thread between two bytecodes, maybe while it holds the
        # lock of `stopping` inside wait(): Event.set() there would wait for that lock
        # forever (the daemon went on running and never stopped). So a handler only
        # records the signal, taking no lock, and this loop acts on it.
        received: list[int] = []

        def on_signal(signum: int, frame: FrameType | None) -> None:
            received.append(signum)

        signals = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        previous = {number: signal.signal(number, on_signal) for number in signals}
        try:
            self.start()
            while not self.stopping.wait(0.2):
                while received and not self.stopping.is_set():
                    if received.pop(0) == signal.SIGHUP:
                        self.reload()
                    else:
                        self.stopping.set()
            log.info("stopping")
            self.stop()
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
        return 0


def _counts(report: BuildReport) -> dict[str, Any]:
    return {
        "loaded": report.loaded,
        "invalid": len(report.errors),
        "duplicates": dropped(report.duplicates),
        "excluded": left_out(report.excluded)[0].total(),
        "published": report.published,
        "feeds": len(report.feeds),
        "feeds_changed": sum(1 for f in report.feeds if f.changed),
        "remote_feeds": len(report.sources),
        "remote_feeds_failed": sum(1 for s in report.sources if s.error is not None),
    }


def _describe(config: Config) -> str:
    every = f"cron {config.cron!r}" if config.cron else f"{config.interval.total_seconds():g} s"
    return f"{every}, and on changes to the source folders" if config.watch else every
