"""`vigil demo`: the whole core loop on two real runc containers, cleaned up whatever happens."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from vigil.agent import Agent
from vigil.bootstrap import RunOptions, build_agent, ebpf_sensor, require_root
from vigil.config import AgentConfig
from vigil.errors import VigilError
from vigil.lab import RuncContainer, build_busybox_rootfs, runc_available
from vigil.models import Alert, Severity
from vigil.record.store import Store
from vigil.respond.settings import Playbook, PlaybookMatch

NAMESPACE = "demo"
WORKLOAD = "web"
REPLICA_PODS = ("web-7d4b9c8f6d-k2x9p", "web-7d4b9c8f6d-q8z4m")
STEP_TIMEOUT = 30.0
#: let both replicas go round their loop a few times before the profile locks
MIN_LEARNING = 4.0

DEMO_PLAYBOOKS = (
    Playbook(
        name="freeze-on-new-process",
        match=PlaybookMatch(
            kinds=frozenset({"deviation"}), severities=frozenset({Severity.HIGH, Severity.CRITICAL})
        ),
        mode="auto",
        actions=("freeze",),
    ),
    Playbook(
        name="alert-on-the-rest",
        match=PlaybookMatch(kinds=frozenset({"deviation"})),
        mode="alert",
        actions=(),
    ),
)


class _CollectingOutput:
    """Keeps the demo's alerts in memory to print them at the end."""

    name = "demo"

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def emit(self, alert: Alert) -> None:
        self.alerts.append(alert)

    def close(self) -> None:
        pass


class _HttpBackend:
    """A tiny HTTP server on loopback that the demo workload calls.

    :meth:`close` ends the connections still open, so that their handlers return on their own:
    a handler cancelled when the event loop shuts down makes asyncio print a traceback.
    """

    def __init__(self) -> None:
        self._open: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._answer, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._open[task] = writer
        try:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError, TimeoutError):
                await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=2.0)
                writer.write(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
                await writer.drain()
        finally:
            writer.close()
            if task is not None:
                self._open.pop(task, None)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        handlers = list(self._open)
        for writer in self._open.values():
            writer.close()  # the handler's read ends with EOF, and the handler returns
        if handlers:
            await asyncio.wait(handlers, timeout=5.0)


async def _until(condition: Callable[[], bool], what: str, timeout: float = STEP_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise VigilError(f"demo: timed out waiting for {what}")
        await asyncio.sleep(0.1)


class Demo:
    def __init__(self, console: Console, workdir: Path, pause: bool) -> None:
        self.console = console
        self.workdir = workdir
        self.pause = pause
        self.started = time.monotonic()
        self.replicas: list[RuncContainer] = []
        self.spawned: list[subprocess.Popen[bytes]] = []
        self.collected = _CollectingOutput()

    def step(self, text: str) -> None:
        elapsed = time.monotonic() - self.started
        self.console.print(f"[dim]{elapsed:5.1f}s[/] [bold cyan]▶[/] {text}", highlight=False)

    async def run(self) -> int:
        self.step("Building a busybox root filesystem")
        rootfs = await asyncio.to_thread(build_busybox_rootfs, self.workdir / "rootfs")
        backend, stranger = _HttpBackend(), _HttpBackend()
        known_port, unknown_port = await backend.start(), await stranger.start()
        options = RunOptions(
            data_dir=self.workdir / "data",
            config=AgentConfig(learning_period=None, playbooks=DEMO_PLAYBOOKS),
        )
        store = Store.open(options.data_dir)
        stop = asyncio.Event()
        agent = build_agent(options, store, sensor=ebpf_sensor(options))
        agent.outputs.append(self.collected)
        self.step("Starting the agent (compiling and loading its eBPF programs)")
        pipeline = asyncio.create_task(agent.run(stop))
        try:
            await self._wait_ready(agent, pipeline)
            return await self._scenario(agent, rootfs, known_port, unknown_port)
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await pipeline
            store.close()
            await backend.close()
            await stranger.close()

    async def _wait_ready(self, agent: Agent, pipeline: asyncio.Task[None]) -> None:
        ready = asyncio.create_task(agent.ready.wait())
        await asyncio.wait({ready, pipeline}, timeout=120, return_when=asyncio.FIRST_COMPLETED)
        if pipeline.done():
            ready.cancel()
            pipeline.result()  # raises the sensor's error
            raise VigilError("demo: the agent stopped before it was ready")
        if not ready.done():
            ready.cancel()
            raise VigilError("demo: the agent did not become ready within 120 s")

    async def _scenario(
        self, agent: Agent, rootfs: Path, known_port: int, unknown_port: int
    ) -> int:
        # Absolute paths: busybox's shell would otherwise run its applets as /proc/self/exe.
        loop_script = (
            "while true; do "
            f"/bin/wget -q -O /dev/null http://127.0.0.1:{known_port}/; /bin/sleep 1; done"
        )
        self.step(f"Starting two replicas of {NAMESPACE}/{WORKLOAD} with runc")
        for index, pod in enumerate(REPLICA_PODS, start=1):
            replica = RuncContainer(
                f"vigil-demo-{WORKLOAD}-{index}",
                rootfs,
                self.workdir / f"bundle-{index}",
                ["/bin/sh", "-c", loop_script],
                annotations={
                    "io.kubernetes.pod.namespace": NAMESPACE,
                    "io.kubernetes.pod.name": pod,
                    "io.kubernetes.container.name": WORKLOAD,
                },
            )
            self.replicas.append(replica)
            await asyncio.to_thread(replica.start)

        self.step("Learning what the workload does (executables, destinations)")
        wanted_exe = {"/bin/sh", "/bin/wget", "/bin/sleep"}
        wanted_dest = f"tcp/127.0.0.1:{known_port}"

        learning_since = time.monotonic()

        def learned() -> bool:
            profiles = [p for p in agent.profiles.all() if p.workload.namespace == NAMESPACE]
            return (
                time.monotonic() - learning_since >= MIN_LEARNING
                and bool(profiles)
                and all(
                    wanted_exe <= p.executables and wanted_dest in p.destinations for p in profiles
                )
            )

        with self.console.status("learning…") as status:

            def progress() -> bool:
                seen = agent.sensor.stats().received
                status.update(
                    f"learning… {seen} kernel events seen, {len(agent.profiles)} profile(s)"
                )
                return learned()

            await _until(progress, "the profile to learn the workload")
        locked = agent.lock(None)
        for profile in locked:
            self.step(
                f"Profile [bold]{profile.key}[/] locked: executables "
                f"{sorted(profile.executables)}, destinations {sorted(profile.destinations)}"
            )

        target = self.replicas[1]
        self.step(
            f"{target.id}: connecting to a destination the workload never used "
            "(from `runc exec`, itself a parent the workload never had)"
        )
        await asyncio.to_thread(
            target.exec, ["/bin/wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{unknown_port}/"]
        )
        await _until(
            lambda: any(a.rule == "profile.new_destination" for a in self.collected.alerts),
            "the destination alert",
        )

        self.step(f"{target.id}: running a program the workload never ran (nc)")
        self.spawned.append(target.spawn(["/bin/nc", "-w", "2", "127.0.0.1", str(unknown_port)]))
        await _until(
            lambda: any(a.rule == "profile.new_executable" for a in self.collected.alerts),
            "the new-process alert",
        )
        await asyncio.to_thread(target.wait_for_status, "paused", 5.0)
        self._report()
        if self.pause:
            await asyncio.to_thread(input, "Press Enter to clean up… ")
        frozen = target.status() == "paused"
        healthy = self.replicas[0].status() == "running"
        rules = {a.rule for a in self.collected.alerts}
        expected = {"profile.new_destination", "profile.new_executable"}
        return 0 if frozen and healthy and expected <= rules else 1

    def _report(self) -> None:
        table = Table("SEVERITY", "RULE", "CONTAINER", "WHAT", "RESPONSE", title="Alerts")
        for alert in self.collected.alerts:
            body: dict[str, Any] = alert.to_json()
            actions = body["response"]["actions"]
            response = (
                ", ".join(
                    f"{a['action']} {a['outcome']}"
                    + (f" in {a['latency_ms']:.1f} ms" if a.get("latency_ms") is not None else "")
                    for a in actions
                )
                or f"alert only ({body['response']['playbook']})"
            )
            table.add_row(
                alert.severity.value, alert.rule, body["container"]["id"], alert.message, response
            )
        self.console.print(table)
        states = Table("CONTAINER", "runc state", title="Replicas")
        for replica in self.replicas:
            states.add_row(replica.id, replica.status() or "gone")
        self.console.print(states)
        for alert in self.collected.alerts:
            self.console.print_json(data=alert.to_json())

    def cleanup(self) -> None:
        for proc in self.spawned:
            with contextlib.suppress(OSError):
                proc.kill()
        for replica in self.replicas:
            with contextlib.suppress(Exception):
                replica.remove()
        for proc in self.spawned:
            with contextlib.suppress(Exception):
                proc.wait(timeout=5)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _preflight() -> None:
    require_root()
    if not runc_available():
        raise VigilError("runc not found", hint="install it with: apt-get install runc")


def run_demo(console: Console, *, pause: bool = False) -> int:
    _preflight()
    # The demo speaks through its own progress lines; the agent's log would only interleave.
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    workdir = Path(tempfile.mkdtemp(prefix="vigil-demo-"))
    demo = Demo(console, workdir, pause)
    try:
        code = asyncio.run(demo.run())
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: cleaning up")
        code = 130
    finally:
        demo.step("Removing the containers and files the demo made")
        demo.cleanup()
    demo.step("Done" if code == 0 else f"Finished with exit code {code}")
    return code
