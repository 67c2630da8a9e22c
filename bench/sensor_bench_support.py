"""What the sensor benchmarks (bench/sensor_bench.py) are made of: the agent run in its own
process and asked over its API, the containers and storms they run, and how a batch is measured
and reported."""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
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
sys.path.insert(0, str(ROOT / "src"))  # this checkout's vigil, whichever interpreter runs us


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def agent(data_dir: Path, config: str = "", *, toggled: bool = False) -> Iterator[Agent]:
    """A running `vigil run`, stopped with SIGINT on exit. ``toggled``: the same agent run by
    bench/toggled_agent.py, whose programs can be detached and attached again."""
    port = free_port()
    cfg = data_dir / "config.yaml"
    cfg.write_text(config or "profiles:\n  learning_period: null\n")
    listen = f"127.0.0.1:{port}"
    log = (data_dir / "agent.log").open("wb")
    if toggled:
        command = [sys.executable, str(ROOT / "bench" / "toggled_agent.py"), str(data_dir)]
        command += [listen, str(cfg)]
    else:
        command = [str(VIGIL), "run", "--data-dir", str(data_dir), "--listen", listen]
        command += ["--config", str(cfg), "--output", f"jsonl:{data_dir / 'alerts.jsonl'}"]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE if toggled else subprocess.DEVNULL, stderr=log
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
        yield Agent(proc, port)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@dataclass
class Agent:
    proc: subprocess.Popen[bytes]
    port: int
    attached: bool = True

    @property
    def pid(self) -> int:
        return self.proc.pid

    def attach(self, attached: bool) -> None:
        """Detach or re-attach the programs of a toggled agent; returns once it is done."""
        if attached == self.attached:
            return
        assert self.proc.stdout is not None, "not a toggled agent"
        self.proc.send_signal(signal.SIGUSR2 if attached else signal.SIGUSR1)
        answer = self.proc.stdout.readline().decode().strip()
        if answer != ("on" if attached else "off"):
            raise SystemExit(f"the toggled agent answered {answer!r}")
        self.attached = attached


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


# -- workloads and measures ---------------------------------------------------------------------
@dataclass(frozen=True)
class Sample:
    """One batch of a workload: its wall-clock time and the CPU time of its processes (their
    own, the kernel's on their behalf, the BPF programs run in them)."""

    wall: float
    cpu: float


@contextmanager
def measured() -> Iterator[list[Sample]]:
    """Wall clock and CPU (user + system, of this process and the children it waited for)."""
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


def exec_storm(n: int) -> Sample:
    with measured() as sample:
        subprocess.run(
            ["sh", "-c", f"i=0; while [ $i -lt {n} ]; do /bin/true; i=$((i+1)); done"], check=True
        )
    return sample[0]


class StormContainer:
    """A runc container (busybox, host network) whose shell runs a storm of ``n`` fork+exec of
    /bin/true each time ``n`` is written to a FIFO in its root, and answers on another: no
    ``runc exec`` per batch (a Go program, slower than the storm and noisier). Its CPU time is
    its cgroup's (cpu.stat), so only the storm's own processes count."""

    LOOP = (
        "while read n < /ctl/go; do i=0; while [ $i -lt $n ]; do /bin/true; i=$((i+1)); done;"
        " echo $n > /ctl/done; done"
    )

    def __init__(self, tmp: Path) -> None:
        from vigil.lab import RuncContainer, build_busybox_rootfs

        self.rootfs = build_busybox_rootfs(tmp / "rootfs")
        (self.rootfs / "ctl").mkdir()
        for fifo in ("go", "done"):
            os.mkfifo(self.rootfs / "ctl" / fifo)
        self.container = RuncContainer(
            f"vigil-bench-{uuid.uuid4().hex[:6]}",
            self.rootfs,
            tmp / "bundle",
            ["/bin/sh", "-c", self.LOOP],
        )

    def __enter__(self) -> StormContainer:
        self.container.start()
        self.cpu_stat = self.container.cgroup_dir() / "cpu.stat"
        return self

    def __exit__(self, *exc: object) -> None:
        self.container.remove()

    def usage(self) -> float:
        for line in self.cpu_stat.read_text().splitlines():
            if line.startswith("usage_usec "):
                return int(line.split()[1]) / 1e6
        raise SystemExit(f"no usage_usec in {self.cpu_stat}")

    def storm(self, n: int) -> Sample:
        cpu = self.usage()
        start = time.perf_counter()
        (self.rootfs / "ctl" / "go").write_text(f"{n}\n")
        done = (self.rootfs / "ctl" / "done").read_text().strip()
        wall = time.perf_counter() - start
        if done != str(n):
            raise SystemExit(f"the storm container answered {done!r}")
        return Sample(wall, self.usage() - cpu)


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


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    at = q * (len(ordered) - 1)
    low = int(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


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
    procs = container.cgroup_dir() / "cgroup.procs"
    return [int(line) for line in procs.read_text().split()]
