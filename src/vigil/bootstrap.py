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
from typing import Protocol

from vigil.agent import Agent, Attributor
from vigil.api.auth import is_loopback, load_or_create_token
from vigil.api.server import bind_socket, create_app, serve
from vigil.config import AgentConfig, split_listen
from vigil.detect.profiles import ProfileBook
from vigil.errors import PrivilegeError
from vigil.identity.resolver import IdentityResolver
from vigil.record.outputs import open_outputs
from vigil.record.store import Store
from vigil.respond.responder import ContainerLookup, Responder
from vigil.sensor import Sensor
from vigil.sensor.kernel_filter import ContainerLike, FilterSync, KernelFilter
from vigil.sensor.loss import LossDetector

log = logging.getLogger(__name__)


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


def build_agent(
    options: RunOptions,
    store: Store,
    *,
    sensor: Sensor,
    identity: IdentityService | None = None,
) -> Agent:
    identity = identity or IdentityResolver()
    profiles = ProfileBook(
        learning_period=options.config.learning_period, profiles=store.load_profiles()
    )
    outputs = open_outputs([*options.config.outputs, *options.outputs])
    kernel_filter = (
        FilterSync(sensor, identity.containers) if isinstance(sensor, KernelFilter) else None
    )
    return Agent(
        sensor=sensor,
        identity=identity,
        profiles=profiles,
        responder=Responder(options.config.playbooks, identity),
        store=store,
        outputs=outputs,
        detectors=[LossDetector()],
        profile_filter=kernel_filter,
    )


async def run_agent(
    options: RunOptions,
    *,
    sensor_factory: Callable[[RunOptions], Sensor] = ebpf_sensor,
    stop: asyncio.Event | None = None,
) -> Agent:
    """Run until SIGINT/SIGTERM (or ``stop``); returns the stopped agent."""
    stop = stop or asyncio.Event()
    store = Store.open(options.data_dir)
    try:
        agent = build_agent(options, store, sensor=sensor_factory(options))
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
            tasks = [asyncio.create_task(agent.run(stop))]
            if api_socket is not None:
                app = create_app(agent, token=token)
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
        return agent
    finally:
        store.close()
