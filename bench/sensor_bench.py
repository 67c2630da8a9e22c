"""Sensor benchmarks (issue 3): each runs the workload without and with the agent in one run.

    sudo .venv/bin/python bench/sensor_bench.py {exec,connect,cpu,burst,rss,all} [--scale F]

The agent is the real one (`vigil run`, full pipeline, API on a free loopback port), started
in its own process; loss and counters come from its /api/v1/health. The storms run it through
bench/toggled_agent.py, which detaches and re-attaches its programs between batches: "with"
and "without" alternate a second apart instead of minutes (see storm_slowdown). Counts are the
issue's (``--scale`` shrinks them); the printed line says what was run. Results are appended
to bench/results/sensor.jsonl.

Two situations are measured, and each line says which:
- ``steady``: the workload runs in a real runc container whose profile the agent has learnt and
  locked — what a node runs all day. Behaviour the profile allows is dropped in the kernel
  (execs once the agent found them allowed, connects to known destinations, fork/exit), so
  this is where the issue's targets apply.
- ``unfiltered``: the same kind of work on the host (no profile: every event reaches the
  agent's Python), for what the agent costs when behaviour is new or unprofiled.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sensor_bench_support import (
    Agent,
    Sample,
    StormContainer,
    agent,
    agent_cpu,
    busybox_container,
    connect_storm,
    container_pids,
    cpu_seconds,
    exec_storm,
    health,
    kernel_events,
    lock_all,
    paced_opens,
    quantile,
    report,
    rss_mb,
)


def storm_slowdown(
    name: str,
    batch: Callable[[], Sample],
    *,
    total: int,
    per_batch: int,
    note: str,
    situation: str,
    settle: Callable[[Agent], None] | None = None,
) -> None:
    """The storm in batches of ``per_batch``, alternately with the agent's programs attached
    and detached (one agent throughout: bench/toggled_agent.py), in pairs whose order alternates
    (ABBA) so that drift in time falls on both sides alike.

    The figure is the median over pairs of each pair's wall-clock slowdown: on this shared
    2-core VM two runs of the same batch a minute apart differ by 5-20%, more than the 3% to be
    measured, while two batches a second apart mostly do not. Also printed: the same for the
    CPU time of the storm's processes, and the whole cost with the agent's own CPU added."""
    pairs = max(4, total // per_batch)  # each side runs the whole storm
    with tempfile.TemporaryDirectory() as tmp, agent(Path(tmp), toggled=True) as running:
        if settle is not None:
            settle(running)
        batch()  # warm caches (attached: the profile's execs are remembered meanwhile)
        samples: dict[bool, list[Sample]] = {True: [], False: []}
        agent_cpu = {True: 0.0, False: 0.0}
        seen = {True: 0, False: 0}  # events the programs saw (to user space or dropped there)
        before = health(running.port)["sensor_stats"]
        for i in range(pairs):
            for attached in (False, True) if i % 2 == 0 else (True, False):
                running.attach(attached)
                counted = kernel_events(health(running.port)["sensor_stats"])
                spent = cpu_seconds(running.pid)
                samples[attached].append(batch())
                agent_cpu[attached] += cpu_seconds(running.pid) - spent
                seen[attached] += kernel_events(health(running.port)["sensor_stats"]) - counted
        running.attach(True)
        after = health(running.port)["sensor_stats"]
    if seen[False] * 100 > seen[True]:  # a few records of the batch before may arrive late
        raise SystemExit(f"the programs still ran while detached: {seen}")
    with_agent, without = samples[True], samples[False]
    wall = [(w.wall / b.wall - 1) * 100 for w, b in zip(with_agent, without, strict=True)]
    cpu = [(w.cpu / b.cpu - 1) * 100 for w, b in zip(with_agent, without, strict=True)]
    storm_cpu = {k: sum(s.cpu for s in v) for k, v in samples.items()}
    whole = ((storm_cpu[True] + agent_cpu[True]) / (storm_cpu[False] + agent_cpu[False]) - 1) * 100
    figure = quantile(wall, 0.5)
    report(
        name,
        figure,
        "% (median of paired wall-clock slowdowns)",
        "<= 3% slowdown",
        figure <= 3.0,
        {
            "situation": situation,
            "scaled": note,
            "pairs": pairs,
            "per_batch": per_batch,
            "wall_quartiles_percent": [round(quantile(wall, q), 2) for q in (0.25, 0.75)],
            "cpu_median_percent": round(quantile(cpu, 0.5), 2),
            "cpu_quartiles_percent": [round(quantile(cpu, q), 2) for q in (0.25, 0.75)],
            "with_agent_cpu_percent": round(whole, 2),
            "agent_cpu_s": round(agent_cpu[True], 2),
            "wall_without_s": round(sum(s.wall for s in without), 3),
            "wall_with_s": round(sum(s.wall for s in with_agent), 3),
            "reached_user_space": after["received"] - before["received"],
            "dropped_in_kernel": after["filtered"] - before["filtered"],
            "events_seen_with": seen[True],
            "events_seen_without": seen[False],
        },
    )


def bpf_program_time() -> dict[str, tuple[int, int]]:
    """vigil's BPF programs: name -> (runs, ns spent in them), while kernel.bpf_stats_enabled."""
    shown = subprocess.run(
        ["bpftool", "prog", "show", "-j"], capture_output=True, text=True, check=False
    )
    totals: dict[str, tuple[int, int]] = {}
    for prog in json.loads(shown.stdout or "[]"):
        name = str(prog.get("name", ""))
        if name.startswith("vigil"):
            runs, ns = totals.get(name, (0, 0))
            totals[name] = (runs + prog.get("run_cnt", 0), ns + prog.get("run_time_ns", 0))
    return totals


def bpf_share(name: str, work: Callable[[], Sample], settle: Callable[[Agent], None]) -> None:
    """The kernel's own account of what the programs cost the workload: time spent in them
    (kernel.bpf_stats_enabled, for one run) over the run's time. Steadier than any ratio of
    two timings on a shared machine."""
    with tempfile.TemporaryDirectory() as tmp, agent(Path(tmp)) as running:
        settle(running)
        stats = Path("/proc/sys/kernel/bpf_stats_enabled")
        was = stats.read_text().strip()
        stats.write_text("1\n")
        try:
            before = bpf_program_time()
            sample = work()
            after = bpf_program_time()
        finally:
            stats.write_text(was + "\n")
    spent = {prog: ns - before.get(prog, (0, 0))[1] for prog, (_, ns) in after.items()}
    share = sum(spent.values()) / 1e9 / sample.wall * 100
    costliest = sorted(spent.items(), key=lambda item: -item[1])[:4]
    report(
        name,
        share,
        "% of the run",
        "<= 3%",
        share <= 3.0,
        {
            "bpf_ms": round(sum(spent.values()) / 1e6, 2),
            "run_s": round(sample.wall, 3),
            "costliest_ms": {prog: round(ns / 1e6, 2) for prog, ns in costliest},
        },
    )


def bench_exec(scale: float) -> None:
    n = int(20000 * scale)
    per_batch = 500
    note = f"{n} fork+exec /bin/true (the issue's 20000 x {scale})"
    with tempfile.TemporaryDirectory() as tmp, StormContainer(Path(tmp)) as container:

        def settle(running: Agent) -> None:
            container.storm(50)  # learnt
            lock_all(running.port)
            container.storm(50)  # judged allowed, remembered in the kernel

        storm_slowdown(
            "exec_storm",
            lambda: container.storm(per_batch),
            total=n,
            per_batch=per_batch,
            note=note + " in a runc container, profile locked",
            situation="steady",
            settle=settle,
        )
        bpf_share("exec_storm_bpf_time", lambda: container.storm(n), settle)
    storm_slowdown(
        "exec_storm_host",
        lambda: exec_storm(per_batch),
        total=n,
        per_batch=per_batch,
        note=note + " on the host",
        situation="unfiltered",
    )
    bpf_share("exec_storm_host_bpf_time", lambda: exec_storm(n), lambda running: None)


def bench_connect(scale: float) -> None:
    n = int(20000 * scale)
    per_batch = 1000
    storm_slowdown(
        "connect_storm",
        lambda: connect_storm(per_batch),
        total=n,
        per_batch=per_batch,
        note=f"{n} loopback connects on the host (the issue's 20000 x {scale})",
        situation="unfiltered",
    )


def bench_cpu(scale: float) -> None:
    seconds = max(5.0, 20 * scale)
    # steady: a container busy with what its locked profile allows (fork+exec of its known
    # programs as fast as it goes), counted in the kernel (reached user space + dropped there)
    step = "/bin/true; /bin/echo x >/dev/null"
    with tempfile.TemporaryDirectory() as tmp, busybox_container(Path(tmp)) as container:
        data = Path(tmp) / "agent"
        data.mkdir()
        with agent(data) as running:
            pid, port = running.pid, running.port
            rehearsal = ["sh", "-c", f"i=0; while [ $i -lt 30 ]; do {step}; i=$((i+1)); done"]
            container.exec(rehearsal)  # learnt
            lock_all(port)
            container.exec(rehearsal)  # judged allowed, remembered in the kernel

            def busy(duration: float) -> None:
                init = container.pid
                # two loops: one alone does not reach 5,000 events/s on a busy 2-core machine
                workers = [
                    container.spawn(["sh", "-c", f"while true; do {step}; done"]) for _ in range(2)
                ]
                time.sleep(duration)
                for other in container_pids(container):
                    if other != init:
                        with contextlib.suppress(ProcessLookupError):  # ended meanwhile
                            os.kill(other, signal.SIGKILL)
                for worker in workers:
                    worker.wait(30)

            steady = agent_cpu(pid, port, seconds, busy)
    report_cpu(
        "cpu_5k_events",
        "<= 5% at >= 5000 events/s",
        steady,
        situation="steady",
        also_ok=steady["events_per_s"] >= 5000,
        workload=f"2 x while true; do {step}; done",
    )
    # unfiltered: 5,000 opens of a watched file a second on the host, every one to user space
    with tempfile.TemporaryDirectory() as tmp, agent(Path(tmp)) as running:
        pid, port = running.pid, running.port

        def opens(duration: float) -> None:
            paced_opens(5000, duration)

        unfiltered = agent_cpu(pid, port, seconds, opens)
    report_cpu("cpu_5k_events_unfiltered", "<= 5%", unfiltered, situation="unfiltered")


def report_cpu(
    name: str,
    target: str,
    measured: dict[str, Any],
    *,
    situation: str,
    also_ok: bool = True,
    **detail: str,
) -> None:
    """The agent's share of one core over a run (``measured``, from agent_cpu): <= 5% passes."""
    percent = measured.pop("percent")
    details = {"situation": situation, **measured, **detail}
    report(name, percent, "% of one core", target, percent <= 5.0 and also_ok, details)


def bench_burst(scale: float) -> None:
    n = int(100_000 * scale)
    # the default configuration (2 MiB ring buffer, 131,072-record queue): opens of a watched
    # file, every one an event that must reach user space
    with tempfile.TemporaryDirectory() as tmp, agent(Path(tmp)) as running:
        pid, port = running.pid, running.port
        before = health(port)["sensor_stats"]
        rss_before = rss_mb(pid)
        start = time.perf_counter()
        for _ in range(n):
            os.close(os.open("/etc/shadow", os.O_RDONLY))
        burst_s = time.perf_counter() - start
        time.sleep(15)  # let the agent drain (the host goes on producing events meanwhile)
        after = health(port)["sensor_stats"]
        rss_after = rss_mb(pid)
    lost = (after["lost_kernel"] - before["lost_kernel"]) + (
        after["lost_user"] - before["lost_user"]
    )
    report(
        "burst_100k",
        lost,
        " events lost",
        "0 lost",
        lost == 0,
        {
            "n": n,
            "burst_s": round(burst_s, 3),
            "received": after["received"] - before["received"],
            "ringbuf_bytes": "default",
            "rss_mb_before": round(rss_before, 1),
            "rss_mb_after": round(rss_after, 1),
        },
    )


def bench_rss(scale: float) -> None:
    from vigil.lab import RuncContainer, build_busybox_rootfs

    count = int(200 * scale)
    with tempfile.TemporaryDirectory() as tmp:
        rootfs = build_busybox_rootfs(Path(tmp) / "rootfs")
        containers: list[RuncContainer] = []
        try:
            data = Path(tmp) / "agent"
            data.mkdir()
            with agent(data) as running:
                pid, port = running.pid, running.port
                base = rss_mb(pid)
                suffix = uuid.uuid4().hex[:6]
                for i in range(count):
                    c = RuncContainer(
                        f"vigil-rss-{suffix}-{i}",
                        rootfs,
                        Path(tmp) / f"b{i}",
                        ["/bin/sleep", "600"],
                    )
                    c.start()
                    containers.append(c)
                for c in containers:  # activity in every container: identity + profiles fill
                    c.spawn(["/bin/cat", "/etc/hostname"])
                time.sleep(10)
                peak = rss_mb(pid)
                stats = health(port)
        finally:
            for c in containers:
                c.remove()
    report(
        "rss_200_containers",
        peak,
        " MB",
        "<= 80 MB",
        peak <= 80,
        {"containers": count, "rss_before_mb": round(base, 1), "profiles": stats["profiles"]},
    )


BENCHES = {
    "exec": bench_exec,
    "connect": bench_connect,
    "cpu": bench_cpu,
    "burst": bench_burst,
    "rss": bench_rss,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("bench", choices=[*BENCHES, "all"])
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="fraction of the issue's counts and durations (default 1.0: the issue's own)",
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("the benchmarks run the real agent: run them as root")
    for name in BENCHES if args.bench == "all" else [args.bench]:
        BENCHES[name](args.scale)


if __name__ == "__main__":
    main()
