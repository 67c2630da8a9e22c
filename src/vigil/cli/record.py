"""`vigil record` (sensor events → JSON lines) and `vigil replay` (detection over a recording)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer

from vigil.cli.common import err, fail
from vigil.config import AgentConfig, load_config
from vigil.errors import ConfigError, VigilError
from vigil.models import Event, EventType
from vigil.sensor import Sensor

SOURCES = ("ebpf", "proc-connector", "falco:PATH", "tetragon:PATH")
FORMATS = ("vigil", "falco", "tetragon")


def sensor_for(source: str, data_dir: Path, config: AgentConfig) -> Sensor:
    """The sensor a ``--source`` spec names (``-`` as PATH reads stdin)."""
    kind, _, path = source.partition(":")
    if kind == "ebpf":
        from vigil.bootstrap import RunOptions, ebpf_sensor

        return ebpf_sensor(RunOptions(data_dir=data_dir, config=config))
    if kind == "proc-connector":
        from vigil.sensor.proc_connector import ProcConnectorSensor

        return ProcConnectorSensor()
    if kind in ("falco", "tetragon") and path:
        from vigil.sensor.adapters import falco_sensor, tetragon_sensor

        return falco_sensor(path) if kind == "falco" else tetragon_sensor(path)
    raise ConfigError(f"unknown --source {source!r} (known: {', '.join(SOURCES)})")


async def _record(sensor: Sensor, output: Path, duration: float | None, count: int | None) -> int:
    from vigil.identity.hold import IdentityHold
    from vigil.identity.records import Identity
    from vigil.identity.resolver import IdentityResolver
    from vigil.identity.runtime_setup import mark_runtime_setup

    identity = IdentityResolver()
    # as in the agent: a new container's events wait until its runtime state names it
    hold: IdentityHold[Identity] = IdentityHold(identity)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    written = 0

    def emit(out: TextIO, event: Event) -> None:
        nonlocal written
        mark_runtime_setup(event, identity)  # shown, marked as the runtime's
        out.write(json.dumps(event.to_json(), ensure_ascii=True) + "\n")
        written += 1

    def write(out: TextIO, ready: list[tuple[Event, Identity]]) -> None:
        for event, who in ready:
            event.container, event.workload = who.container, who.workload
            emit(out, event)

    try:
        with output.open("a", encoding="utf-8") as out:
            async with sensor:
                err().print(f"recording {sensor.name} events to {output} (Ctrl-C stops)")
                deadline = time.monotonic() + duration if duration is not None else None
                events = sensor.events().__aiter__()
                waiter: asyncio.Future[Any] | None = None
                while not stop.is_set() and (count is None or written < count):
                    timeout = None if deadline is None else deadline - time.monotonic()
                    if timeout is not None and timeout <= 0:
                        break
                    if hold.cgroups:  # held events are asked about again meanwhile
                        timeout = min(timeout or hold.limits.tick, hold.limits.tick)
                    waiter = waiter or asyncio.ensure_future(events.__anext__())
                    stopper: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
                    done, _ = await asyncio.wait(
                        {waiter, stopper}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                    )
                    stopper.cancel()
                    if waiter not in done:
                        if hold.cgroups and not stop.is_set():
                            write(out, hold.tick())
                            continue  # the same wait goes on
                        break
                    try:
                        event = waiter.result()
                    except StopAsyncIteration:
                        waiter = None
                        break
                    waiter = None
                    if event.container is not None:  # attributed by its source (adapters)
                        emit(out, event)
                    else:
                        write(out, hold.admit(event, recheck=event.type is EventType.EXEC))
                if waiter is not None:
                    waiter.cancel()
                    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                        await waiter
                write(out, hold.drain())  # nothing recorded is left behind
                out.flush()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return written


def record(
    output: Annotated[Path, typer.Option("--output", "-o", help="JSON-lines file to append to.")],
    source: Annotated[
        str, typer.Option(help=f"Where events come from: {', '.join(SOURCES)}.")
    ] = "ebpf",
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds.", show_default=False)
    ] = None,
    count: Annotated[
        int | None, typer.Option(help="Stop after this many events.", show_default=False)
    ] = None,
    data_dir: Annotated[Path, typer.Option(help="Where the compiled BPF is cached.")] = Path(
        "/var/lib/vigil"
    ),
    config: Annotated[
        Path | None, typer.Option(help="YAML configuration (its sensor section).")
    ] = None,
) -> None:
    """Record sensor events as JSON lines (one event per line, with container and process)."""
    try:
        cfg = load_config(config) if config else AgentConfig()
        sensor = sensor_for(source, data_dir, cfg)
        written = asyncio.run(_record(sensor, output, duration, count))
    except VigilError as exc:
        raise fail(exc) from None
    err().print(f"recorded {written} events to {output}")


def replay(
    recording: Annotated[Path, typer.Argument(help="JSON-lines events ('-' reads stdin).")],
    format: Annotated[
        str, typer.Option("--format", help=f"Event format: {', '.join(FORMATS)}.")
    ] = "vigil",
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Use the profiles kept here (default: a fresh, empty directory).",
            show_default=False,
        ),
    ] = None,
    config: Annotated[Path | None, typer.Option(help="YAML configuration.")] = None,
    output: Annotated[
        list[str] | None,
        typer.Option(help="Where alerts go: 'stdout' or 'jsonl:PATH'.", show_default=False),
    ] = None,
) -> None:
    """Run detection offline over recorded events and print the alerts it raises."""
    from vigil.bootstrap import RunOptions, build_agent
    from vigil.record.store import Store
    from vigil.sensor.adapters import falco_sensor, tetragon_sensor
    from vigil.sensor.replay import replay_sensor

    try:
        if format not in FORMATS:
            raise ConfigError(f"unknown --format {format!r} (known: {', '.join(FORMATS)})")
        if str(recording) != "-" and not recording.is_file():
            raise ConfigError(f"recording {recording} not found")
        cfg = load_config(config) if config else AgentConfig()
        sensor: Sensor
        if format == "falco":
            sensor = falco_sensor(str(recording))
        elif format == "tetragon":
            sensor = tetragon_sensor(str(recording))
        else:
            sensor = replay_sensor(str(recording))
        with tempfile.TemporaryDirectory(prefix="vigil-replay-") as scratch:
            directory = data_dir or Path(scratch)
            options = RunOptions(
                data_dir=directory,
                config=cfg,
                outputs=output if output is not None else ["stdout"],
            )
            store = Store.open(directory)
            try:
                agent = build_agent(options, store, sensor=sensor)
                asyncio.run(agent.run(asyncio.Event()))
            finally:
                for out in agent.outputs if "agent" in locals() else []:
                    out.close()
                store.close()
        stats = agent.sensor_stats()
        err().print(
            f"replayed {stats.received} events ({stats.malformed} skipped): "
            f"{agent.alerts_emitted} alerts",
        )
    except VigilError as exc:
        raise fail(exc) from None
    sys.stdout.flush()
