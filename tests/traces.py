"""Synthetic but realistic event traces of two workloads, for profile learning tests.

* ``web`` — a steady server: one event every half second, forever doing the same kinds of thing
  with varying details (sleep durations, temporary file names, database replicas of one /24,
  numbered DNS names).
* ``reports`` — a bursty batch worker: a burst of activity every five minutes, quiet in between;
  it exports to a database on odd bursts, uploads to object storage on even ones, and vacuums
  the database only on every fourth burst. A timer-based learner that locks after two minutes
  misses most of it.

The recorded fixtures under ``tests/data/`` were written by ``python -m tests.traces``; tests
read them back as `vigil record` lines, and use the generators for long runs of other replicas.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from tests.fakes import T0
from vigil.models import (
    ContainerInfo,
    DnsInfo,
    Event,
    EventType,
    FileInfo,
    NetworkInfo,
    ProcessInfo,
    Workload,
)

DATA = Path(__file__).parent / "data"
WEB = Workload("shop", "Deployment", "web", "web")
REPORTS = Workload("shop", "Deployment", "reports", "worker")
WEB_IMAGE = "registry.example/web@sha256:" + "a" * 64
REPORTS_IMAGE = "registry.example/reports@sha256:" + "b" * 64


@dataclass
class _Replica:
    container: ContainerInfo
    workload: Workload
    rng: random.Random
    uid: int
    next_pid: int = 100

    def pid(self) -> int:
        self.next_pid += 1
        return self.next_pid

    def event(
        self,
        when: datetime,
        type_: EventType,
        process: ProcessInfo,
        *,
        network: NetworkInfo | None = None,
        file: FileInfo | None = None,
        dns: DnsInfo | None = None,
    ) -> Event:
        return Event(
            type=type_,
            time=when,
            ktime_ns=int((when - T0).total_seconds() * 1e9),
            cgroup_id=0,
            process=process,
            container=self.container,
            workload=self.workload,
            network=network,
            file=file,
            dns=dns,
        )

    def exec(self, when: datetime, exe: str, args: str, parent: str, pid: int = 0) -> Event:
        process = ProcessInfo(
            pid=pid or self.pid(),
            ppid=1,
            uid=self.uid,
            exe=exe,
            cmdline=f"{exe.rsplit('/', 1)[-1]} {args}".strip(),
            parent_exe=parent,
        )
        return self.event(when, EventType.EXEC, process)

    def server(self, exe: str, pid: int = 1) -> ProcessInfo:
        return ProcessInfo(pid=pid, ppid=0, uid=self.uid, exe=exe, cmdline=exe)


def _replica(workload: Workload, image: str, replica: str, seed: int, uid: int) -> _Replica:
    container = ContainerInfo(f"{workload.name}-{replica}", workload.container, image, "runc")
    return _Replica(container, workload, random.Random(seed), uid)  # noqa: S311 (test data)


def web_trace(
    replica: str = "a", *, seed: int = 1, events: int = 400, start: datetime = T0
) -> Iterator[Event]:
    """A steady web server, from its container's start, one event every 0.5 s."""
    r = _replica(WEB, WEB_IMAGE, replica, seed, uid=101)
    rng = r.rng
    yield r.exec(start, "/usr/sbin/web", "--port 8080", "", pid=1)
    yield r.event(start, EventType.LISTEN, r.server("/usr/sbin/web"),
                  network=NetworkInfo("tcp", "ipv4", "", 0, "0.0.0.0", 8080))  # fmt: skip
    for number in range(2, events):
        when = start + timedelta(seconds=number * 0.5)
        pick = rng.randrange(7)
        if pick == 0:
            yield r.exec(when, "/bin/sleep", f"{rng.uniform(0.1, 2):.2f}", "/usr/sbin/web")
        elif pick == 1:
            site = rng.choice(["shop", "admin", "api"])
            yield r.exec(when, "/bin/cat", f"/etc/web/conf.d/{site}.conf", "/usr/sbin/web")
        elif pick == 2:
            log = f"/var/log/web/access-{rng.randrange(1, 30)}.log"
            yield r.exec(when, "/usr/bin/gzip", f"-9 {log}", "/usr/sbin/web")
        elif pick == 3:
            name = f"db-{rng.randrange(6)}.shop.svc.cluster.local"
            yield r.event(when, EventType.DNS, r.server("/usr/sbin/web"),
                          dns=DnsInfo(name, "A"))  # fmt: skip
        elif pick == 4:
            ip = f"10.0.1.{rng.randrange(10, 30)}"
            yield r.event(when, EventType.CONNECT, r.server("/usr/sbin/web"),
                          network=NetworkInfo("tcp", "ipv4", ip, 5432))  # fmt: skip
        elif pick == 5:
            path = f"/var/cache/web/{rng.getrandbits(64):016x}.tmp"
            yield r.event(when, EventType.OPEN, r.server("/usr/sbin/web"),
                          file=FileInfo(path, "create"))  # fmt: skip
        else:
            yield r.event(when, EventType.OPEN, r.server("/usr/sbin/web"),
                          file=FileInfo("/var/log/web/access.log", "write"))  # fmt: skip


BURST_EVERY = timedelta(minutes=5)
BURST_EVENTS = 60


def reports_trace(
    replica: str = "a", *, seed: int = 2, bursts: int = 8, start: datetime = T0, first: int = 0
) -> Iterator[Event]:
    """A bursty batch worker: ``bursts`` bursts of 60 events, five minutes apart."""
    r = _replica(REPORTS, REPORTS_IMAGE, replica, seed, uid=1000)
    rng = r.rng
    if first == 0:
        yield r.exec(start, "/usr/bin/reports", "--schedule 5m", "", pid=1)
    for burst in range(first, first + bursts):
        begin = start + burst * BURST_EVERY + timedelta(seconds=1)
        job = "export" if burst % 2 == 0 else "upload"
        for number in range(BURST_EVENTS):
            when = begin + timedelta(seconds=number * 0.05)
            yield from _reports_step(r, rng, when, job, vacuum=burst % 4 == 3 and number == 0)


def _reports_step(
    r: _Replica, rng: random.Random, when: datetime, job: str, *, vacuum: bool
) -> Iterator[Event]:
    worker = r.server("/usr/bin/reports")
    if vacuum:
        yield r.exec(when, "/usr/bin/vacuumdb", "--analyze reports", "/usr/bin/reports")
        return
    step = rng.randrange(4)
    if step == 0:
        yield r.exec(when, "/bin/date", "+%Y-%m-%d", "/usr/bin/reports")
    elif job == "export" and step == 1:
        yield r.exec(when, "/usr/bin/pg_dump", "-h db -f /data/out/part.sql", "/usr/bin/reports")
    elif job == "export" and step == 2:
        yield r.event(when, EventType.CONNECT, worker,
                      network=NetworkInfo("tcp", "ipv4", "10.0.2.5", 5432))  # fmt: skip
    elif job == "export":
        day = f"2026-11-{rng.randrange(1, 29):02d}"
        yield r.event(when, EventType.OPEN, worker,
                      file=FileInfo(f"/data/out/{day}.sql", "create"))  # fmt: skip
    elif step == 1:
        yield r.event(when, EventType.DNS, worker,
                      dns=DnsInfo("s3.eu-west-1.amazonaws.com", "A"))  # fmt: skip
    elif step == 2:
        ip = f"52.218.1.{rng.choice([10, 11, 12, 13, 14, 15])}"
        yield r.event(when, EventType.CONNECT, worker,
                      network=NetworkInfo("tcp", "ipv4", ip, 443))  # fmt: skip
    else:
        yield r.exec(when, "/usr/bin/gzip", f"-c /data/out/{rng.getrandbits(32):08x}.sql",
                     "/usr/bin/reports")  # fmt: skip


def read_trace(name: str) -> list[Event]:
    """A recorded fixture, read as `vigil replay` reads `vigil record` output."""
    from vigil.models import event_from_json

    lines = (DATA / name).read_text().splitlines()
    return [event_from_json(json.loads(line)) for line in lines if line.strip()]


def write_fixtures() -> None:
    DATA.mkdir(exist_ok=True)
    for name, trace in (
        ("steady-web.jsonl", web_trace()),
        ("bursty-reports.jsonl", reports_trace()),
    ):
        with (DATA / name).open("w") as out:
            for event in trace:
                out.write(json.dumps(event.to_json(), sort_keys=True) + "\n")


if __name__ == "__main__":
    write_fixtures()
