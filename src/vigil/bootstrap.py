"""Builds a running agent from configuration: the one place where every stage is wired."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from vigil.agent import Agent, Attributor
from vigil.api.auth import is_loopback, load_or_create_token
from vigil.api.server import bind_socket, create_app, serve
from vigil.api.settings import split_listen
from vigil.config import AgentConfig
from vigil.detect.policy import ProfilePolicies
from vigil.detect.profiles import ProfileBook
from vigil.detect.settings import RulesConfig
from vigil.errors import ConfigError, PrivilegeError, truncate
from vigil.identity.resolver import IdentityResolver
from vigil.incidents import IncidentBook
from vigil.incidents.amend import ProfileBookAmender
from vigil.kube.pods import PodDirectory, PodWatcher
from vigil.memory import release_freed_memory
from vigil.record.outputs import open_outputs
from vigil.record.store import Store
from vigil.record.writer import StoreWriter
from vigil.respond.actions import ActionKit, ContainerLookup
from vigil.respond.approvals import ApprovalBook
from vigil.respond.audit import AuditLog
from vigil.respond.enforce import Enforcer
from vigil.respond.forensics import Forensics
from vigil.respond.responder import Responder, forensics_dir
from vigil.sensor import Sensor
from vigil.sensor.kernel_filter import ContainerLike, FilterSync, KernelFilter
from vigil.sensor.loss import LossDetector

if TYPE_CHECKING:
    from vigil.detect.rules import RulesDetector
    from vigil.kube.actions import KubeActions

log = logging.getLogger(__name__)

#: how often runtime state roots are scanned for containers that came, changed or went
STATE_SCAN_INTERVAL = 10.0


@dataclass(frozen=True, slots=True)
class RunOptions:
    data_dir: Path
    config: AgentConfig
    outputs: Sequence[str] = ()
    #: ``None`` disables the API (the demo runs the agent in-process without one)
    listen: str | None = None


class IdentityService(Attributor, ContainerLookup, Protocol):
    """Attributes events and finds containers again for response (IdentityResolver)."""

    def containers(self) -> Sequence[ContainerLike]: ...


def require_root() -> None:
    if os.geteuid() != 0:
        raise PrivilegeError(
            "vigil run needs root: it loads eBPF programs and reads container runtime state",
            hint="run it with sudo",
        )


def ebpf_sensor(options: RunOptions) -> Sensor:
    from vigil.sensor.ebpf import EbpfSensor  # libbpf is only needed for the real sensor
    from vigil.sensor.fallback import FallbackSensor
    from vigil.sensor.proc_connector import ProcConnectorSensor
    from vigil.sensor.watch import WatchedPaths

    cfg = options.config
    sensor = EbpfSensor(
        cache_dir=options.data_dir / "bpf",
        btf_path=cfg.btf_path,
        ringbuf_bytes=cfg.ringbuf_bytes,
        watch=WatchedPaths.configured(cfg.watch_read, cfg.watch_write),
    )
    if cfg.sensor_fallback == "proc-connector":
        return FallbackSensor(sensor, ProcConnectorSensor)
    return sensor


def build_identity(options: RunOptions) -> tuple[IdentityResolver, PodWatcher | None]:
    """The resolver, fed by a watch of this node's pods when the Kubernetes API is there."""
    from vigil.kube.setup import pod_watcher  # lightkube is imported only when it is needed

    directory = PodDirectory()
    watcher = pod_watcher(options.config.kubernetes, directory)
    resolver = IdentityResolver(pod_owners=directory if watcher is not None else None)
    return resolver, watcher


async def keep_identity_current(
    resolver: IdentityResolver, watcher: PodWatcher | None, stop: asyncio.Event
) -> None:
    """Background work of the identity stage: the pod watch and periodic state scans."""
    tasks = [asyncio.create_task(watcher.run())] if watcher is not None else []
    try:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), STATE_SCAN_INTERVAL)
            if stop.is_set():
                break
            try:  # run_agent scanned once before the sensor started
                resolver.scan()
            except Exception as exc:  # a scan failing must not stop the agent
                log.warning("scanning runtime state failed: %s", truncate(exc, 160))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if watcher is not None:
            with contextlib.suppress(Exception):
                await watcher.api.close()


def build_rules(config: RulesConfig, profiles: ProfileBook | None = None) -> RulesDetector:
    """The rules detector from configuration; every rule error → one ConfigError (exit 2)."""
    from vigil.detect.rules import (
        Deduplicator,
        Destination,
        EgressGuard,
        EgressPolicy,
        LockedProfiles,
        RuleEngine,
        RulesDetector,
        builtin_rule_files,
        compile_files,
    )

    files = [*(builtin_rule_files() if config.builtin else []), *config.files]
    compiled = compile_files(files)
    if compiled.errors:
        raise ConfigError("invalid rules:\n" + "\n".join(str(e) for e in compiled.errors))
    egress = EgressGuard(
        [
            EgressPolicy(rule.selector, tuple(Destination.parse(d) for d in rule.allow))
            for rule in config.egress
        ]
    )
    detector = RulesDetector(
        engine=RuleEngine(compiled.rules),
        egress=egress,
        profiles=LockedProfiles(profiles) if profiles is not None else None,
        dedup=Deduplicator(config.dedup_window),
    )
    log.info("rules: %d loaded from %d files", len(compiled.rules), len(files))
    return detector


def build_agent(
    options: RunOptions,
    store: Store,
    *,
    sensor: Sensor,
    identity: IdentityService | None = None,
    kube: KubeActions | None = None,
) -> Agent:
    identity = identity or IdentityResolver()
    config = options.config
    current = store.load_profiles()
    profiles = ProfileBook(
        policies=config.profile_policies
        or ProfilePolicies.from_learning_period(config.learning_period),
        profiles=current,
        previous=store.load_previous_profiles(current),
    )
    outputs = open_outputs([*options.config.outputs, *options.outputs])
    kernel_filter = (
        FilterSync(sensor, identity.containers) if isinstance(sensor, KernelFilter) else None
    )
    writer = StoreWriter()
    return Agent(
        sensor=sensor,
        identity=identity,
        profiles=profiles,
        responder=build_responder(options, store, identity, profiles, kube=kube, writer=writer),
        store=store,
        outputs=outputs,
        detectors=[build_rules(options.config.rules, profiles), LossDetector()],
        profile_filter=kernel_filter,
        writer=writer,
    )


def build_responder(
    options: RunOptions,
    store: Store,
    identity: ContainerLookup,
    profiles: ProfileBook,
    *,
    kube: KubeActions | None = None,
    writer: StoreWriter | None = None,
) -> Responder:
    """Playbooks with every action, the audit log and approvals in the data dir.

    Kubernetes actions use the client of the pod watcher (``vigil.kube.client``); without the
    Kubernetes API they fail with a clear reason.
    """

    def profile_executables(key: str) -> set[str]:
        profile = profiles.get(key)
        return set(profile.executables) if profile is not None else set()

    kit = ActionKit(
        forensics=Forensics(forensics_dir(options.data_dir)),
        enforcer=Enforcer(options.data_dir / "bpf-enforce", btf_path=options.config.btf_path),
        kube=kube,
        profile_executables=profile_executables,
    )
    return Responder(
        options.config.playbooks,
        identity,
        config=options.config.response,
        kit=kit,
        audit=AuditLog.in_data_dir(options.data_dir),
        approvals=ApprovalBook(store.pending_actions, writer=writer),
        writer=writer,
    )


def attach_incidents(agent: Agent, *, window: float = 600.0) -> IncidentBook:
    """Group the agent's alerts into incidents (in the store's writer, after each alert is
    stored); their exceptions drop matching alerts."""
    incidents = IncidentBook(
        agent.store, window=window, amender=ProfileBookAmender(agent.profile_service)
    )
    agent.store_hooks.append(incidents)
    agent.alert_filters.append(incidents.exceptions.suppresses)
    return incidents


async def run_agent(
    options: RunOptions,
    *,
    sensor_factory: Callable[[RunOptions], Sensor] = ebpf_sensor,
    stop: asyncio.Event | None = None,
) -> Agent:
    """Run until SIGINT/SIGTERM (or ``stop``); returns the stopped agent."""
    stop = stop or asyncio.Event()
    store = Store.open(options.data_dir, options.config.store_url)
    try:
        resolver, watcher = build_identity(options)
        resolver.scan()  # containers that started before the agent are known from their 1st event
        kube = None
        if watcher is not None:
            from vigil.kube.actions import KubeActions  # lightkube: only with a Kubernetes API

            response = options.config.response
            kube = KubeActions(
                watcher.api.client,
                protected_namespaces=response.protected_namespaces,
                min_healthy_replicas=response.min_healthy_replicas,
            )
        agent = build_agent(
            options, store, sensor=sensor_factory(options), identity=resolver, kube=kube
        )
        incidents = attach_incidents(agent, window=options.config.incident_window)
        api_socket = None
        token = None
        if options.listen:
            host, port = split_listen(options.listen)
            api_socket = bind_socket(host, port)
            if not is_loopback(host):
                token = load_or_create_token(options.data_dir)
                log.info("API beyond loopback: bearer token in %s", options.data_dir / "api-token")
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            tasks = [
                asyncio.create_task(agent.run(stop)),
                asyncio.create_task(keep_identity_current(resolver, watcher, stop)),
                asyncio.create_task(release_freed_memory(agent.ready, stop)),
            ]
            if api_socket is not None:
                app = create_app(agent, token=token, incidents=incidents)
                tasks.append(asyncio.create_task(serve(app, api_socket, stop)))
                log.info("API and UI on http://%s", options.listen)
            try:
                # The pipeline ending (sensor failure) stops the API too.
                await tasks[0]
            finally:
                stop.set()
                for task in tasks[1:]:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
            for output in agent.outputs:
                output.close()
        stats = agent.sensor_stats()
        log.info(
            "stopped and detached: %d events, %d alerts, %d lost in the kernel, %d in user space",
            stats.received,
            agent.alerts_emitted,
            stats.lost_kernel,
            stats.lost_user,
        )
        return agent
    finally:
        store.close()
