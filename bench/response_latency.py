"""Response latency on this machine, against issue 7's targets.

1. In-kernel block: a denied program in a real runc container would create a file; over N
   tries, count exit statuses 137 and files created (target: every try killed, zero files: it
   ran zero instructions of its own).
2. Freeze: the real eBPF sensor sees an exec in a real runc container; the agent's pipeline
   (identity → a detector → the responder's freeze) acts; latency = kernel event → freezer done
   (target: p99 ≤ 50 ms).
3. Pod delete: the responder's delete-pod through lightkube to kmock (a real HTTP server on
   its own process, so the emulator's work is not counted as vigil's); latency =
   event → the DELETE request leaving the client (an httpx request hook), with the response's
   arrival reported apart (target: p99 ≤ 100 ms for the request). Measured for each path of
   the minimum-healthy-replicas guardrail: cold (two reads first), owner known (one read),
   warm (none).

Run as root: ``sudo .venv/bin/python bench/response_latency.py [--runs N] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vigil.agent import Agent
from vigil.detect.profiles import ProfileBook
from vigil.detect.rules import RuleMatch
from vigil.identity.resolver import IdentityResolver
from vigil.lab import RuncContainer, build_busybox_rootfs
from vigil.models import Alert, Event, EventType, Severity
from vigil.record.store import Store
from vigil.respond.actions import ActionKit
from vigil.respond.enforce import Enforcer
from vigil.respond.freeze import set_frozen
from vigil.respond.guardrails import Guardrails
from vigil.respond.responder import Responder
from vigil.respond.settings import ActionStep, Playbook, PlaybookMatch, ResponseConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the helper module next to this file
from latency_fixtures import (
    NAMESPACE,
    EmulatorProcess,
    PodLookup,
    RequestClock,
    pod_alert,
    recreate_pod,
    seed_objects,
)

TARGET_FREEZE_P99_MS = 50.0
TARGET_DELETE_P99_MS = 100.0


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": round(statistics.median(values), 3),
        "p99_ms": round(percentile(values, 99), 3),
        "max_ms": round(max(values), 3),
    }


# -- 1. in-kernel block ----------------------------------------------------------------------
def bench_block(work: Path, rootfs: Path, runs: int) -> dict[str, Any]:
    out = work / "block-out"
    out.mkdir()
    cid = f"vigil-bench-block-{secrets.token_hex(3)}"
    with (
        RuncContainer(
            cid, rootfs, work / "block-bundle", ["sleep", "600"], binds={"/out": out}
        ) as box,
        Enforcer(work / "bpf-enforce") as enforcer,
    ):
        enforcer.deny(box.cgroup_id(), "/blocked/busybox")
        statuses = [
            box.exec(["/blocked/busybox", "touch", f"/out/ran-{i}"]).returncode for i in range(runs)
        ]
        control = box.exec(["/bin/busybox", "touch", "/out/control"]).returncode
        files = sorted(p.name for p in out.iterdir() if p.name.startswith("ran-"))
        kills = enforcer.kills()
    return {
        "tries": runs,
        "exit_137": statuses.count(137),
        "side_effects": len(files),
        "kernel_kills": kills,
        "control_exit": control,
        "control_file": (out / "control").exists(),
    }


# -- 2. freeze through the agent's pipeline ----------------------------------------------------
class ExecOf:
    """A detector that flags every exec of one path (a stand-in for a rule)."""

    def __init__(self, exe: str) -> None:
        self.exe = exe

    def observe(self, event: Event) -> list[RuleMatch]:
        if event.type is EventType.EXEC and event.process.exe == self.exe:
            return [RuleMatch("bench.exec", Severity.CRITICAL, "bench exec", [], event)]
        return []


async def bench_freeze(work: Path, rootfs: Path, runs: int) -> dict[str, Any]:
    from vigil.sensor.ebpf import EbpfSensor

    cid = f"vigil-bench-freeze-{secrets.token_hex(3)}"
    identity = IdentityResolver()
    config = ResponseConfig(cooldown=0, rate_per_workload=10**6, rate_overall=10**6)
    responder = Responder(
        [Playbook("freeze", PlaybookMatch(rules=frozenset({"bench.exec"})), "auto", ("freeze",))],
        identity,
        config=config,
        guardrails=Guardrails(config),
    )
    latencies: list[float] = []
    missed = 0
    got = asyncio.Event()

    def on_alert(alert: Alert) -> None:
        for result in alert.actions:
            if result.outcome == "done" and result.latency_ms is not None:
                latencies.append(result.latency_ms)
        got.set()

    store = Store.open(work / "freeze-data")
    agent = Agent(
        sensor=EbpfSensor(cache_dir=work / "bpf-sensor"),
        identity=identity,
        profiles=ProfileBook(learning_period=None),
        responder=responder,
        store=store,
        outputs=[],
        detectors=[ExecOf("/bin/true")],
        alert_hooks=[on_alert],
    )
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    await agent.ready.wait()
    try:
        with RuncContainer(cid, rootfs, work / "freeze-bundle", ["sleep", "600"]) as box:
            record = identity.lookup(cid)
            assert record is not None
            for _ in range(runs):
                got.clear()
                set_frozen(record.cgroup_paths, False)  # runc refuses to exec in a paused one
                proc = box.spawn(["/bin/true"])
                try:
                    await asyncio.wait_for(got.wait(), 10)
                except TimeoutError:
                    missed += 1
                deadline = time.monotonic() + 10
                while proc.poll() is None and time.monotonic() < deadline:
                    set_frozen(record.cgroup_paths, False)
                    await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task
        store.close()
    return {**summary(latencies), "target_p99_ms": TARGET_FREEZE_P99_MS, "no_alert": missed}


# -- 3. pod delete against kmock ----------------------------------------------------------------
#: the three ways delete-pod can meet its guardrail (see vigil.kube.owners)
DELETE_PATHS = {
    "cold": "nothing known: GET pod, GET its ReplicaSet, DELETE",
    "owner_known": "controller known, ready count expired: GET ReplicaSet, DELETE",
    "warm": "controller known, ready count fresh: DELETE alone",
}


async def bench_delete(runs: int) -> dict[str, Any]:
    from lightkube import AsyncClient, KubeConfig
    from lightkube.resources.core_v1 import Pod

    config = ResponseConfig(
        cooldown=0, rate_per_workload=10**6, rate_overall=10**6, forensics_before_destroy=False
    )
    results: dict[str, Any] = {
        "target_p99_ms": TARGET_DELETE_P99_MS,
        "emulator": "kmock in its own process",
    }
    with EmulatorProcess() as server:
        seed_objects(server)
        client = AsyncClient(
            KubeConfig.from_dict(
                {
                    "clusters": [{"name": "k", "cluster": {"server": server.url}}],
                    "users": [{"name": "u", "user": {}}],
                    "contexts": [{"name": "k", "context": {"cluster": "k", "user": "u"}}],
                    "current-context": "k",
                }
            )
        )
        clock = RequestClock()
        # lightkube builds its httpx client itself; its hooks are set on that client
        http = client._client._client
        http.event_hooks = {"request": [clock.on_request], "response": [clock.on_response]}
        try:
            round_trips = []
            await client.get(Pod, "probe", namespace=NAMESPACE)  # unmeasured: opens the connection
            for _ in range(runs):  # what one bare GET costs against this mock, on this machine
                server.forget_requests()
                started = time.monotonic_ns()
                await client.get(Pod, "probe", namespace=NAMESPACE)
                round_trips.append((time.monotonic_ns() - started) / 1e6)
            results["bare_get_round_trip"] = summary(round_trips)
            for path in DELETE_PATHS:
                results[path] = await delete_rounds(
                    path, runs, client, clock, server, PodLookup(), recreate_pod, config
                )
        finally:
            await client.close()
    return results


async def delete_rounds(
    path: str,
    runs: int,
    client: Any,
    clock: RequestClock,
    server: EmulatorProcess,
    lookup: Any,
    recreate_pod: Any,
    config: ResponseConfig,
) -> dict[str, Any]:
    from vigil.kube.actions import KubeActions
    from vigil.kube.owners import OwnerCache

    def responder() -> Responder:
        # cold: a new cache per round; owner_known: ready counts never trusted (max_age 0)
        owners = OwnerCache(max_age=0.0 if path == "owner_known" else 60.0)
        return Responder(
            [Playbook("delete", PlaybookMatch(), "auto", (ActionStep("delete-pod"),))],
            lookup,
            config=config,
            kit=ActionKit(kube=KubeActions(client, owners=owners)),
            guardrails=Guardrails(config, agent_cgroups=frozenset()),
        )

    current = responder()
    if path != "cold":  # one unmeasured round teaches the cache what it keeps
        recreate_pod(server)
        await current.respond(pod_alert("warm-up"))
    sent, answered, arrived, gets = [], [], [], []
    for i in range(runs):
        recreate_pod(server)
        server.forget_requests()
        if path == "cold":
            current = responder()
        before_requests, before_arrivals = len(clock.sent), len(server.delete_arrivals())
        alert = pod_alert(str(i))
        await current.respond(alert)
        arrivals = server.delete_arrivals()
        if alert.actions[0].outcome != "done" or len(arrivals) != before_arrivals + 1:
            raise RuntimeError(f"delete-pod did not happen: {alert.actions}")
        event_ns = alert.event.ktime_ns
        sent.append((clock.last("DELETE", clock.sent) - event_ns) / 1e6)
        answered.append((clock.last("DELETE", clock.answered) - event_ns) / 1e6)
        arrived.append((arrivals[-1] - event_ns) / 1e6)
        gets.append(sum(1 for m, _ in clock.sent[before_requests:] if m == "GET"))
    return {
        "path": DELETE_PATHS[path],
        "gets_before_delete": max(gets),
        "request_sent": summary(sent),
        "reached_server": summary(arrived),
        "response_received": summary(answered),
    }


def print_delete(delete: dict[str, Any]) -> None:
    get = delete["bare_get_round_trip"]
    print(
        f"one bare GET against kmock (own process) here: p50 {get['p50_ms']} ms, "
        f"p99 {get['p99_ms']} ms"
    )
    for path in DELETE_PATHS:
        sent, received = delete[path]["request_sent"], delete[path]["response_received"]
        ok = sent["p99_ms"] <= TARGET_DELETE_P99_MS
        print(
            f"pod-delete request sent after the event, {path} ({delete[path]['path']}): "
            f"p50 {sent['p50_ms']} ms, p99 {sent['p99_ms']} ms "
            f"(target ≤ {TARGET_DELETE_P99_MS:g}) → {'PASS' if ok else 'FAIL'}; "
            f"response received p50 {received['p50_ms']} ms, p99 {received['p99_ms']} ms"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="tries per measurement")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--only", choices=("block", "freeze", "delete"), action="append", help="run only these"
    )
    args = parser.parse_args(argv)
    wanted = set(args.only or ("block", "freeze", "delete"))
    needs_root = wanted & {"block", "freeze"}
    if needs_root and os.geteuid() != 0:
        print("block and freeze need root (eBPF, runc); run with sudo or --only delete")
        return 2
    results: dict[str, Any] = {
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} CPUs",
        "kernel": platform.release(),
        "python": sys.version.split()[0],
    }
    work = Path(tempfile.mkdtemp(prefix="vigil-bench-"))
    try:
        rootfs = None
        if needs_root:
            rootfs = build_busybox_rootfs(work / "rootfs")
            (rootfs / "blocked").mkdir()
            shutil.copy2(rootfs / "bin" / "busybox", rootfs / "blocked" / "busybox")
        if "block" in wanted and rootfs is not None:
            results["block"] = block = bench_block(work, rootfs, args.runs)
            ok = block["exit_137"] == block["tries"] and block["side_effects"] == 0
            print(
                f"in-kernel block: {block['exit_137']}/{block['tries']} exits 137, "
                f"{block['side_effects']} side effects (target 0), control exit "
                f"{block['control_exit']} → {'PASS' if ok else 'FAIL'}"
            )
        if "freeze" in wanted and rootfs is not None:
            results["freeze"] = freeze = asyncio.run(bench_freeze(work, rootfs, args.runs))
            ok = freeze["p99_ms"] <= TARGET_FREEZE_P99_MS
            print(
                f"freeze after the kernel event: p50 {freeze['p50_ms']} ms, p99 "
                f"{freeze['p99_ms']} ms (target ≤ {TARGET_FREEZE_P99_MS:g}) → "
                f"{'PASS' if ok else 'FAIL'}"
            )
        if "delete" in wanted:
            results["delete_pod"] = delete = asyncio.run(bench_delete(args.runs))
            print_delete(delete)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
