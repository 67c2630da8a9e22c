"""The agent: one asyncio pipeline per node — sensor → identity → detect → respond → record."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, ParamSpec, Protocol, TypeVar

from vigil.detect import Detector, Finding
from vigil.detect.profiles import Profile, ProfileBook
from vigil.errors import truncate
from vigil.identity.hold import HoldLimits, IdentityHold
from vigil.identity.runtime_setup import mark_runtime_setup
from vigil.models import Alert, ContainerInfo, Event, EventType, Workload, utcnow
from vigil.profile_service import ProfileFilter, ProfileService
from vigil.record.metrics import AgentMetrics
from vigil.record.outputs import Output, emit_all
from vigil.record.store import Store
from vigil.record.writer import StoreWriter
from vigil.respond.responder import Responder
from vigil.sensor import Sensor, SensorStats
from vigil.sensor.kernel_filter import ExecVerdicts

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

FLUSH_INTERVAL = 1.0


class ResolvedIdentity(Protocol):
    @property
    def container(self) -> ContainerInfo: ...

    @property
    def workload(self) -> Workload: ...

    @property
    def cgroup_path(self) -> str: ...

    @property
    def pending(self) -> bool: ...


class Attributor(Protocol):
    """Identity as the pipeline needs it (vigil.identity.IdentityResolver fits)."""

    def resolve(
        self, cgroup_id: int, pid: int, *, recheck: bool = False, settle: bool = False
    ) -> ResolvedIdentity: ...


class Agent:
    def __init__(
        self,
        *,
        sensor: Sensor,
        identity: Attributor,
        profiles: ProfileBook,
        responder: Responder,
        store: Store,
        outputs: Sequence[Output],
        detectors: Sequence[Detector] = (),
        alert_hooks: Sequence[Callable[[Alert], None]] = (),
        metrics: AgentMetrics | None = None,
        profile_hooks: Sequence[Callable[[Profile], None]] = (),
        alert_filters: Sequence[Callable[[Alert], bool]] = (),
        profile_filter: ProfileFilter | None = None,
        writer: StoreWriter | None = None,
        store_hooks: Sequence[Callable[[Alert], None]] = (),
        hold_limits: HoldLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sensor = sensor
        self.identity = identity
        self.profiles = profiles
        self.responder = responder
        self.store = store
        #: every store write of the pipeline goes through it, off the event loop
        self.writer = writer or StoreWriter()
        self._save_alerts = store.save_alerts  # one bound method: the writer batches by it
        #: every profile change goes through it (kernel filter, store, hooks)
        self.profile_service = ProfileService(
            profiles, store, self.writer, kernel_filter=profile_filter, hooks=profile_hooks
        )
        self.outputs = list(outputs)
        #: the profiles come first; other detectors (rules) follow in order
        self.detectors: list[Detector] = [profiles, *detectors]
        #: called with every recorded alert (e.g. to group alerts into incidents)
        self.alert_hooks = list(alert_hooks)
        self.metrics = metrics or AgentMetrics()
        self.metrics.live.add(self._live_metrics)
        self.metrics.include(responder.metrics.latency)
        #: events of containers whose runtime state is not readable yet wait here
        self.hold: IdentityHold[ResolvedIdentity] = IdentityHold(
            identity, hold_limits or HoldLimits(), clock, self.metrics.identity_hold
        )
        self._pipeline = asyncio.Lock()  # the hold's timer and the consumer take turns
        self._event_counters: dict[EventType, Any] = {}  # labelled children, looked up once
        #: called with every recorded alert in the store's writer, after the alert is stored
        #: (store writes of their own: e.g. grouping alerts into incidents)
        self.store_hooks = list(store_hooks)
        #: an alert that any of these returns True for is dropped (false-positive exceptions)
        self.alert_filters = list(alert_filters)
        self.alerts_suppressed = 0
        #: execs found allowed are remembered in the kernel through this, when the sensor can
        self.exec_verdicts = sensor if isinstance(sensor, ExecVerdicts) else None
        self.alerts_emitted = 0
        self.events_failed = 0
        self.running = False
        #: set once the sensor is attached and events flow
        self.ready = asyncio.Event()

    # -- the pipeline ----------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Consume events until ``stop`` is set or the sensor ends; flush on the way out."""
        self.writer.start()
        self.profile_service.bind(asyncio.get_running_loop())
        flusher = asyncio.create_task(self._flush_periodically())
        releaser = asyncio.create_task(self._release_held_periodically())
        try:
            async with self.sensor, self.responder:
                self.profile_service.announce(self.profiles.all())  # loaded from the store
                self.running = True
                self.ready.set()
                log.info("sensor %s attached; watching", self.sensor.name)
                consumer = asyncio.create_task(self._consume())
                stopper = asyncio.create_task(stop.wait())
                done, _ = await asyncio.wait(
                    {consumer, stopper}, return_when=asyncio.FIRST_COMPLETED
                )
                for task in (consumer, stopper, releaser):
                    if task not in done:
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
                await self._handle_ready(self.hold.drain())  # held: attributed as they stand
                if consumer in done:
                    consumer.result()  # re-raise a sensor failure
        finally:
            self.running = False
            self.ready.clear()
            releaser.cancel()
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            self.flush()
            await self.writer.stop()  # everything queued is written before run returns

    async def _consume(self) -> None:
        async for event in self.sensor.events():
            try:
                async with self._pipeline:
                    await self.handle(event)
            except Exception:  # one bad event must never stop the agent
                self.events_failed += 1
                self.metrics.events_failed.inc()
                log.exception(
                    "event %s of pid %s could not be handled", event.type, event.process.pid
                )

    async def handle(self, event: Event) -> list[Alert]:
        """Attribute, detect, respond and record one event; returns the alerts raised by it
        and by the held events it released (none while it is held itself)."""
        counter = self._event_counters.get(event.type)
        if counter is None:
            counter = self._event_counters[event.type] = self.metrics.events.labels(str(event.type))
        counter.inc()
        if event.container is not None:  # attributed already (a replay)
            return await self._judge(event)
        # an exec may be a new container's first program: its cgroup's early answer
        # ("no runtime state yet") is checked again; events of a container whose state is not
        # readable yet are held and come back with its identity (vigil.identity.hold)
        return await self._handle_ready(
            self.hold.admit(event, recheck=event.type is EventType.EXEC)
        )

    async def _handle_ready(self, ready: list[tuple[Event, ResolvedIdentity]]) -> list[Alert]:
        alerts: list[Alert] = []
        for event, who in ready:
            self._attribute(event, who)
            alerts += await self._judge(event)
        return alerts

    def _attribute(self, event: Event, who: ResolvedIdentity) -> None:
        # in place: attribution is the last step of building an event (see vigil.models)
        event.container, event.workload = who.container, who.workload
        # identity's runtime record (when it has one) says when the container was created:
        # a container older than the agent gives a partial profile
        created = getattr(getattr(who, "record", None), "created", None)
        if isinstance(created, datetime):
            self.profiles.note_container(who.container.id, created)

    async def release_held(self) -> list[Alert]:
        """Hand on the held events whose identity settled or whose hold expired."""
        return await self._handle_ready(self.hold.tick())

    async def _release_held_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.hold.limits.tick)
            if self.hold.cgroups:
                async with self._pipeline:
                    await self.release_held()

    async def _judge(self, event: Event) -> list[Alert]:
        """Detect, respond and record one attributed event."""
        setup = mark_runtime_setup(event, self.identity)  # the runtime's: not judged, not learned
        alerts = [
            self._alert(finding)
            for detector in (() if setup else self.detectors)
            for finding in detector.observe(event)
        ]
        if (
            not alerts
            and event.type is EventType.EXEC
            and not event.entered_from_cgroup  # a runtime's exec of a container's process: seen
            and self.exec_verdicts is not None
            and self.profiles.allows(event)
        ):
            self.exec_verdicts.remember_exec(event)  # its exact repeats stay in the kernel
        if self.alert_filters:
            kept = [a for a in alerts if not any(drop(a) for drop in self.alert_filters)]
            self.alerts_suppressed += len(alerts) - len(kept)
            alerts = kept
        for alert in alerts:
            await self.responder.respond(alert)
            self._record(alert)
        return alerts

    def _alert(self, finding: Finding) -> Alert:
        return Alert(
            id=str(uuid.uuid4()),
            time=utcnow(),
            kind=finding.kind,
            rule=finding.rule,
            severity=finding.severity,
            message=finding.message,
            mitre=list(finding.mitre),
            event=finding.event,
            tags=list(getattr(finding, "tags", ())),  # findings of rules may carry tags
        )

    def _record(self, alert: Alert) -> None:
        self.alerts_emitted += 1
        self.metrics.alert_recorded(alert)
        # Handed to the writer, never awaited: the outputs and the next event do not wait.
        self.writer.submit_many(f"alert {alert.id}", self._save_alerts, alert)
        for store_hook in self.store_hooks:
            self.writer.submit(f"what alert {alert.id} adds", functools.partial(store_hook, alert))
        emit_all(self.outputs, alert, log.error)
        for hook in self.alert_hooks:
            try:
                hook(alert)
            except Exception as exc:
                log.error("alert hook failed for %s: %s", alert.id, truncate(exc, 160))

    # -- persistence -----------------------------------------------------------------------
    async def _flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            self.profile_service.tick()

    def flush(self) -> None:
        self.profile_service.flush()

    # -- profile changes (the profile service) -----------------------------------------------
    @property
    def profile_hooks(self) -> list[Callable[[Profile], None]]:
        return self.profile_service.hooks

    @property
    def profile_filter(self) -> ProfileFilter | None:
        return self.profile_service.kernel_filter

    def lock(self, selector: str | None) -> list[Profile]:
        """Lock one workload's profile (``selector``) or all (``None``); returns those locked."""
        return self.profile_service.lock(selector)

    def unlock(self, selector: str | None) -> list[Profile]:
        return self.profile_service.unlock(selector)

    def relearn(self, selector: str | None) -> list[Profile]:
        return self.profile_service.relearn(selector)

    def install_profile(self, profile: Profile) -> Profile:
        return self.profile_service.install(profile)

    def sync_filter(self) -> None:
        self.profile_service.sync_filter()

    # -- what the API reads and writes -------------------------------------------------------
    async def read(self, query: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``query`` off the event loop, once every write queued before it is done."""
        await self.writer.flush()
        return await asyncio.to_thread(query, *args, **kwargs)

    async def write(self, what: str, change: Callable[[], T]) -> T:
        """``change`` in the store's writer, in order with the pipeline's writes."""
        return await self.writer.call(what, change)

    def sensor_stats(self) -> SensorStats:
        return self.sensor.stats()

    def _live_metrics(
        self,
    ) -> list[tuple[str, str, str, dict[tuple[tuple[str, str], ...], float]]]:
        stats = self.sensor_stats()
        states: dict[tuple[tuple[str, str], ...], float] = {
            (("state", "learning"),): 0,
            (("state", "locked"),): 0,
        }
        for profile in self.profiles.all():
            states[(("state", str(profile.state)),)] = (
                states.get((("state", str(profile.state)),), 0) + 1
            )
        return [
            (
                "vigil_sensor_records",
                "Records the sensor read from the kernel",
                "counter",
                {(): stats.received},
            ),
            (
                "vigil_sensor_lost",
                "Events lost, by where they were lost (nothing is dropped silently)",
                "counter",
                {
                    (("where", "kernel"),): stats.lost_kernel,
                    (("where", "user"),): stats.lost_user,
                    (("where", "malformed"),): stats.malformed,
                },
            ),
            ("vigil_profiles", "Workload profiles by state", "gauge", states),
        ]
