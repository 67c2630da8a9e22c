"""The agent: one asyncio pipeline per node — sensor → identity → detect → respond → record."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Protocol

from vigil.detect import Detector, Finding
from vigil.detect.profiles import Profile, ProfileBook
from vigil.errors import truncate
from vigil.models import Alert, ContainerInfo, Event, EventType, Workload, utcnow
from vigil.record.metrics import AgentMetrics
from vigil.record.outputs import Output, emit_all
from vigil.record.store import Store
from vigil.respond.responder import Responder
from vigil.sensor import Sensor, SensorStats
from vigil.sensor.kernel_filter import ExecVerdicts

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 1.0


class ResolvedIdentity(Protocol):
    @property
    def container(self) -> ContainerInfo: ...

    @property
    def workload(self) -> Workload: ...


class Attributor(Protocol):
    """Identity as the pipeline needs it (vigil.identity.IdentityResolver fits)."""

    def resolve(self, cgroup_id: int, pid: int, *, recheck: bool = False) -> ResolvedIdentity: ...


class ProfileFilter(Protocol):
    """Pushes locked profiles into the sensor's kernel filter (vigil.sensor.kernel_filter)."""

    def sync(self, profiles: Sequence[Profile]) -> None: ...


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
    ) -> None:
        self.sensor = sensor
        self.identity = identity
        self.profiles = profiles
        self.responder = responder
        self.store = store
        self.outputs = list(outputs)
        #: the profiles come first; other detectors (rules) follow in order
        self.detectors: list[Detector] = [profiles, *detectors]
        #: called with every recorded alert (e.g. to group alerts into incidents)
        self.alert_hooks = list(alert_hooks)
        self.metrics = metrics or AgentMetrics()
        self.metrics.live.add(self._live_metrics)
        self.metrics.include(responder.metrics.latency)
        self._event_counters: dict[EventType, Any] = {}  # labelled children, looked up once
        #: called with every profile that changed (learnt, locked, unlocked, relearnt, imported)
        #: once it is saved: e.g. to write locked profiles into the kernel's filter maps
        self.profile_hooks = list(profile_hooks)
        #: an alert that any of these returns True for is dropped (false-positive exceptions)
        self.alert_filters = list(alert_filters)
        self.alerts_suppressed = 0
        #: locked profiles are enforced in the kernel through this, when the sensor can
        self.profile_filter = profile_filter
        #: execs found allowed are remembered in the kernel through this, when the sensor can
        self.exec_verdicts = sensor if isinstance(sensor, ExecVerdicts) else None
        self.started = time.time()
        self.alerts_emitted = 0
        self.events_failed = 0
        self.running = False
        #: set once the sensor is attached and events flow
        self.ready = asyncio.Event()

    # -- the pipeline ----------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Consume events until ``stop`` is set or the sensor ends; flush on the way out."""
        flusher = asyncio.create_task(self._flush_periodically())
        try:
            async with self.sensor, self.responder:
                self._announce(self.profiles.all())  # what was loaded from the store
                self.running = True
                self.ready.set()
                log.info("sensor %s attached; watching", self.sensor.name)
                consumer = asyncio.create_task(self._consume())
                stopper = asyncio.create_task(stop.wait())
                done, _ = await asyncio.wait(
                    {consumer, stopper}, return_when=asyncio.FIRST_COMPLETED
                )
                for task in (consumer, stopper):
                    if task not in done:
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
                if consumer in done:
                    consumer.result()  # re-raise a sensor failure
        finally:
            self.running = False
            self.ready.clear()
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            self.flush()

    async def _consume(self) -> None:
        async for event in self.sensor.events():
            try:
                await self.handle(event)
            except Exception:  # one bad event must never stop the agent
                self.events_failed += 1
                self.metrics.events_failed.inc()
                log.exception(
                    "event %s of pid %s could not be handled", event.type, event.process.pid
                )

    async def handle(self, event: Event) -> list[Alert]:
        """Attribute, detect, respond and record one event; returns the alerts it raised."""
        counter = self._event_counters.get(event.type)
        if counter is None:
            counter = self._event_counters[event.type] = self.metrics.events.labels(str(event.type))
        counter.inc()
        if event.container is None:
            # an exec may be a new container's first program: its cgroup's early answer
            # ("no runtime state yet") is checked again
            who = self.identity.resolve(
                event.cgroup_id, event.process.pid, recheck=event.type is EventType.EXEC
            )
            # in place: attribution is the last step of building an event (see vigil.models)
            event.container, event.workload = who.container, who.workload
            # identity's runtime record (when it has one) says when the container was created:
            # a container older than the agent gives a partial profile
            created = getattr(getattr(who, "record", None), "created", None)
            if isinstance(created, datetime):
                self.profiles.note_container(who.container.id, created)
        alerts = [
            self._alert(finding)
            for detector in self.detectors
            for finding in detector.observe(event)
        ]
        if (
            not alerts
            and event.type is EventType.EXEC
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
        try:
            self.store.save_alert(alert)
        except Exception as exc:  # the alert still goes to the outputs below
            log.error("could not store alert %s: %s", alert.id, truncate(exc, 160))
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
            for profile in self.profiles.tick():
                log.info("profile %s locked (%s)", profile.key, profile.lock_reason)
            self.sync_filter()
            self.flush()

    def flush(self) -> None:
        changed = self.profiles.take_dirty()
        try:
            self.store.save_profile_versions(self.profiles.take_superseded())
            self.store.save_profiles(changed)
        except Exception as exc:
            log.error("could not save profiles: %s", truncate(exc, 160))
        self._announce(changed)

    def _announce(self, profiles: list[Profile]) -> None:
        for profile in profiles:
            for hook in self.profile_hooks:
                try:
                    hook(profile)
                except Exception as exc:
                    log.error("profile hook failed for %s: %s", profile.key, truncate(exc, 160))

    # -- what the API shows ----------------------------------------------------------------
    def _keys(self, selector: str | None) -> list[str]:
        found = self.profiles.all() if selector is None else self.profiles.select(selector)
        return [p.key for p in found]

    def lock(self, selector: str | None) -> list[Profile]:
        """Lock one workload's profile (``selector``) or all (``None``); returns those locked."""
        locked = self.profiles.lock(self._keys(selector))
        self.sync_filter()
        self.flush()
        return locked

    def unlock(self, selector: str | None) -> list[Profile]:
        unlocked = self.profiles.unlock(self._keys(selector))
        self.sync_filter()
        self.flush()
        return unlocked

    def relearn(self, selector: str | None) -> list[Profile]:
        fresh = self.profiles.relearn(self._keys(selector))
        self.sync_filter()
        self.flush()
        return fresh

    def install_profile(self, profile: Profile) -> Profile:
        installed = self.profiles.install(profile)
        self.sync_filter()
        self.flush()
        return installed

    def sync_filter(self) -> None:
        """Make the kernel filter match the locked profiles (cheap when nothing changed)."""
        if self.profile_filter is None:
            return
        try:
            self.profile_filter.sync(self.profiles.all())
        except Exception as exc:  # the filter only saves work; detection goes on without it
            log.error("could not update the kernel filter: %s", truncate(exc, 160))

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
