"""Sensor benchmarks (issue 3): each runs the workload without and with the agent in one run.

    sudo .venv/bin/python bench/sensor_bench.py {exec,connect,cpu,burst,rss,all} [--scale F]

The agent is the real one (`vigil run`, full pipeline, API on a free loopback port), started
in its own process; loss and counters come from its /api/v1/health. Counts are scaled down
from the issue's figures so that each benchmark finishes in a few minutes on 2 shared cores:
the printed line says what was run. Results are appended to bench/results/sensor.jsonl.

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
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VIGIL = ROOT / ".venv" / "bin" / "vigil"
RESULTS = ROOT / "bench" / "results" / "sensor.jsonl"
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def agent(data_dir: Path, config: str = "") -> Iterator[tuple[int, int]]:
    """(pid, api port) of a running `vigil run`; stopped with SIGINT on exit."""
    port = free_port()
    cfg = data_dir / "config.yaml"
    cfg.write_text(config or "profiles:\n  learning_period: null\n")
    log = (data_dir / "agent.log").open("wb")
    proc = subprocess.Popen(
        [
            str(VIGIL),
            "run",
            "--data-dir",
            str(data_dir),
            "--listen",
            f"127.0.0.1:{port}",
            "--config",
            str(cfg),
            "--output",
            f"jsonl:{data_dir / 'alerts.jsonl'}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if health(port)["status"] == "ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None:
                raise SystemExit(f"agent died: {(data_dir / 'agent.log').read_text()[-500:]}")
            time.sleep(0.3)
        time.sleep(1.0)  # let the /proc seed and first events settle
        yield proc.pid, port
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def health(port: int) -> dict:  # type: ignore[type-arg]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=60) as r:
        return json.loads(r.read())  # type: ignore[no-any-return]


def lock_all(port: int) -> list[str]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/profiles/lock",
        data=json.dumps({"all": True}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as r:  # noqa: S310 - our own agent
        return list(json.loads(r.read())["locked"])


def kernel_events(stats: dict) -> int:  # type: ignore[type-arg]
    """Records that reached user space plus those the kernel filter dropped."""
    return int(stats["received"]) + int(stats["filtered"])


@contextmanager
def busybox_container(tmp: Path) -> Iterator[Any]:
    """A running runc container (busybox, host network) for the steady-state benchmarks."""
    sys.path.insert(0, str(ROOT / "src"))
    from vigil.lab import RuncContainer, build_busybox_rootfs

    rootfs = build_busybox_rootfs(tmp / "rootfs")
    container = RuncContainer(
        f"vigil-bench-{uuid.uuid4().hex[:6]}", rootfs, tmp / "bundle", ["/bin/sleep", "3600"]
    )
    container.start()
    try:
        yield container
    finally:
        container.remove()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def report(name: str, figure: float, unit: str, target: str, ok: bool, detail: dict) -> None:  # type: ignore[type-arg]
    verdict = "PASS" if ok else "FAIL"
    print(f"{name}: {figure:.2f}{unit} (target {target}) {verdict} {json.dumps(detail)}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as out:
        out.write(
            json.dumps(
                {
                    "bench": name,
                    "figure": round(figure, 3),
                    "unit": unit,
                    "target": target,
                    "pass": ok,
                    "time": time.time(),
                    **detail,
                }
            )
            + "\n"
        )


# -- workloads -----------------------------------------------------------------------------------
def exec_storm(n: int) -> Sample:
    with measured() as sample:
        subprocess.run(
            ["sh", "-c", f"i=0; while [ $i -lt {n} ]; do /bin/true; i=$((i+1)); done"], check=True
        )
    return sample[0]


def container_exec_storm(container: Any, n: int) -> Sample:
    """The storm's own cost: ``runc exec`` itself (a Go program, and slower to trace than the
    storm's busybox) is measured apart with an empty loop and taken off. The storm's processes
    are children of ``runc exec``, which waits for them: their CPU time reaches us."""

    def timed(count: int) -> Sample:
        with measured() as sample:
            done = container.exec(
                ["sh", "-c", f"i=0; while [ $i -lt {count} ]; do /bin/true; i=$((i+1)); done"],
                timeout=600,
            )
        if done.returncode != 0:
            raise SystemExit(f"the storm failed in the container: {done.stderr[:200]}")
        return sample[0]

    harness = timed(0)
    return timed(n) - harness


def connect_storm(n: int) -> Sample:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1024)
    port = server.getsockname()[1]
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                conn.close()
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    with measured() as sample:  # client and server both run in this process
        for _ in range(n):
            with socket.create_connection(("127.0.0.1", port)):
                pass
    stop.set()
    server.close()
    return sample[0]


@dataclass(frozen=True)
class Sample:
    """One run of a workload: its wall-clock time and the CPU time of its processes."""

    wall: float
    cpu: float

    def __sub__(self, other: Sample) -> Sample:
        return Sample(self.wall - other.wall, self.cpu - other.cpu)


@contextmanager
def measured() -> Iterator[list[Sample]]:
    """Wall clock and CPU (user + system, of this process and the children it waited for,
    which includes the kernel's work in BPF programs run on their behalf) around a block."""
    into: list[Sample] = []
    before_self, before_children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    start = time.perf_counter()
    yield into
    wall = time.perf_counter() - start
    after_self, after_children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    cpu = sum(
        getattr(after, field) - getattr(before, field)
        for before, after in ((before_self, after_self), (before_children, after_children))
        for field in ("ru_utime", "ru_stime")
    )
    into.append(Sample(wall, cpu))


def slowdown(
    name: str,
    work: Callable[[], Sample],
    n: int,
    scale_note: str,
    *,
    situation: str = "unfiltered",
    settle: Callable[[int], None] | None = None,
    rounds: int = 3,
) -> None:
    """Runs without the agent and with it, interleaved over ``rounds``; the best run of each
    kind is compared, in CPU time of the workload's processes and in wall-clock time.

    The verdict is on CPU time: on this shared 2-core VM wall-clock times of the same run drift
    by 5-20% from minute to minute, more than the 3% to be measured, while the CPU time the
    workload's processes use (their own, the kernel's on their behalf, the BPF programs') is
    steadier. The agent's own CPU is not in it: the cpu benchmark measures that.
    ``settle`` prepares each started agent (e.g. learns and locks the container's profile)."""
    without: list[Sample] = []
    with_agent: list[Sample] = []
    reached = dropped = 0
    work()  # warm caches
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(rounds):
            without.extend(work() for _ in range(3))
            with agent(Path(tmp)) as (pid, port):
                if settle is not None:
                    settle(port)
                before = health(port)["sensor_stats"]
                with_agent.extend(work() for _ in range(3))
                after = health(port)["sensor_stats"]
            reached += after["received"] - before["received"]
            dropped += after["filtered"] - before["filtered"]
        without.extend(work() for _ in range(3))
    cpu_base, cpu_with = min(s.cpu for s in without), min(s.cpu for s in with_agent)
    wall_base, wall_with = min(s.wall for s in without), min(s.wall for s in with_agent)
    ratio = (cpu_with / cpu_base - 1) * 100
    report(
        name,
        ratio,
        "% (CPU time)",
        "<= 3% slowdown",
        ratio <= 3.0,
        {
            "situation": situation,
            "n": n,
            "cpu_without_s": round(cpu_base, 3),
            "cpu_with_s": round(cpu_with, 3),
            "wall_without_s": round(wall_base, 3),
            "wall_with_s": round(wall_with, 3),
            "wall_slowdown_percent": round((wall_with / wall_base - 1) * 100, 2),
            "runs_each": len(with_agent),
            "scaled": scale_note,
            "reached_user_space": reached,
            "dropped_in_kernel": dropped,
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


def bpf_share(name: str, work: Callable[[], Sample], settle: Callable[[int], None]) -> None:
    """The kernel's own account of what the programs cost the workload: time spent in them
    (kernel.bpf_stats_enabled, for one run) over the run's time. Steadier than any ratio of
    two timings on a shared machine."""
    with tempfile.TemporaryDirectory() as tmp, agent(Path(tmp)) as (_, port):
        settle(port)
        stats = Path("/proc/sys/kernel/bpf_stats_enabled")
        was = stats.read_text().strip()
        stats.write_text("1\n")
        try:
            before = bpf_program_time()
            sample = work()
            after = bpf_program_time()
        finally:
            stats.write_text(was + "\n")
    spent = sum(ns - before.get(prog, (0, 0))[1] for prog, (_, ns) in after.items())
    share = spent / 1e9 / sample.wall * 100
    report(
        name,
        share,
        "% of the run",
        "<= 3%",
        share <= 3.0,
        {"bpf_ms": round(spent / 1e6, 2), "run_s": round(sample.wall, 3)},
    )


def bench_exec(scale: float) -> None:
    n = int(20000 * scale)
    note = f"{n} of 20000 fork+exec /bin/true"
    with tempfile.TemporaryDirectory() as tmp, busybox_container(Path(tmp)) as container:

        def settle(port: int) -> None:
            container_exec_storm(container, 50)  # learnt
            lock_all(port)
            container_exec_storm(container, 50)  # judged allowed, remembered in the kernel

        slowdown(
            "exec_storm",
            lambda: container_exec_storm(container, n),
            n,
            note + " in a runc container, profile locked",
            situation="steady",
            settle=settle,
        )
        bpf_share("exec_storm_bpf_time", lambda: container_exec_storm(container, n), settle)
    slowdown("exec_storm_host", lambda: exec_storm(n), n, note + " on the host")
    bpf_share("exec_storm_host_bpf_time", lambda: exec_storm(n), lambda port: None)


def bench_connect(scale: float) -> None:
    n = int(20000 * scale)
    slowdown(
        "connect_storm",
        lambda: connect_storm(n),
        n,
        f"{n} of 20000 loopback connects on the host",
    )


def paced_opens(rate: int, seconds: float, path: str = "/etc/shadow") -> int:
    """Open ``path`` (a watched read path: one event each) ``rate`` times a second."""
    done = 0
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < seconds:
        target = int(elapsed * rate)
        while done < target:
            os.close(os.open(path, os.O_RDONLY))
            done += 1
        time.sleep(0.002)
    return done


def agent_cpu(pid: int, port: int, seconds: float, work: Callable[[float], None]) -> dict:  # type: ignore[type-arg]
    """The agent's CPU (share of one core) idle, then while ``work(seconds)`` runs."""
    before = cpu_seconds(pid)
    idle_start = time.monotonic()
    time.sleep(seconds / 2)
    idle = (cpu_seconds(pid) - before) / (time.monotonic() - idle_start)
    stats_before = health(port)["sensor_stats"]
    before = cpu_seconds(pid)
    start = time.monotonic()
    work(seconds)
    elapsed = time.monotonic() - start
    busy = (cpu_seconds(pid) - before) / elapsed
    stats = health(port)["sensor_stats"]
    return {
        "percent": busy * 100,
        "idle_percent": round(idle * 100, 2),
        "events_per_s": round((kernel_events(stats) - kernel_events(stats_before)) / elapsed),
        "reached_user_space_per_s": round((stats["received"] - stats_before["received"]) / elapsed),
        "seconds": seconds,
    }


def container_pids(container: Any) -> list[int]:
    """Every process of the container (its cgroup2 procs), from the host's side."""
    relative = Path(f"/proc/{container.pid}/cgroup").read_text().split("0::", 1)[1].split()[0]
    sys.path.insert(0, str(ROOT / "src"))
    from vigil.sensor.process_tree import cgroup2_root

    procs = (cgroup2_root() or Path("/sys/fs/cgroup")) / relative.lstrip("/") / "cgroup.procs"
    return [int(line) for line in procs.read_text().split()]


def bench_cpu(scale: float) -> None:
    seconds = max(5.0, 20 * scale)
    # steady: a container busy with what its locked profile allows (fork+exec of its known
    # programs as fast as it goes), counted in the kernel (reached user space + dropped there)
    step = "/bin/true; /bin/echo x >/dev/null"
    with tempfile.TemporaryDirectory() as tmp, busybox_container(Path(tmp)) as container:
        data = Path(tmp) / "agent"
        data.mkdir()
        with agent(data) as (pid, port):
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
    percent = steady.pop("percent")
    report(
        "cpu_5k_events",
        percent,
        "% of one core",
        "<= 5% at >= 5000 events/s",
        percent <= 5.0 and steady["events_per_s"] >= 5000,
        {"situation": "steady", **steady, "workload": f"2 x while true; do {step}; done"},
    )
    # unfiltered: 5,000 opens of a watched file a second on the host, every one to user space
    with tempfile.TemporaryDirectory() as tmp, agent(Path(tmp)) as (pid, port):

        def opens(duration: float) -> None:
            paced_opens(5000, duration)

        unfiltered = agent_cpu(pid, port, seconds, opens)
    percent = unfiltered.pop("percent")
    report(
        "cpu_5k_events_unfiltered",
        percent,
        "% of one core",
        "<= 5%",
        percent <= 5.0,
        {"situation": "unfiltered", **unfiltered},
    )


def bench_burst(scale: float) -> None:
    n = int(100_000 * scale)
    # the default configuration (8 MiB ring buffer): opens of a watched file, every one an
    # event that must reach user space
    with tempfile.TemporaryDirectory() as tmp, agent(Path(tmp)) as (pid, port):
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
    sys.path.insert(0, str(ROOT / "src"))
    from vigil.lab import RuncContainer, build_busybox_rootfs

    count = int(200 * scale)
    with tempfile.TemporaryDirectory() as tmp:
        rootfs = build_busybox_rootfs(Path(tmp) / "rootfs")
        containers: list[RuncContainer] = []
        try:
            with agent(
                Path(tmp) / "agent" if (Path(tmp) / "agent").mkdir() is None else Path(tmp)
            ) as (pid, port):
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
        default=0.1,
        help="fraction of the issue's counts (default 0.1; burst and rss use 1.0)",
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("the benchmarks run the real agent: run them as root")
    for name in BENCHES if args.bench == "all" else [args.bench]:
        scale = 1.0 if name in ("rss", "burst") and args.scale == 0.1 else args.scale
        BENCHES[name](scale)


if __name__ == "__main__":
    main()
