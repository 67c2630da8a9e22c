"""How much identity costs an event: IdentityResolver.resolve() per event, on a fixture host.

Target: the identity stage must never be what limits the pipeline, so a cached resolve (the
steady state: a known cgroup) should cost well under 10 µs, and a Kubernetes pod directory that
changes (the watch delivering updates) must not make it slower than that on average.

Figures (per event, median of rounds):
  cached      — a known container's cgroup id, no Kubernetes
  with kube   — the same with a pod directory attached (no change between events)
  kube churn  — a pod update every 1000 events (workloads derived again each time)
  first event — a cgroup never seen before (tree lookup, state and config read, workload)

Run: .venv/bin/python bench/identity_resolve.py [--containers N] [--events N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from vigil.identity import IdentityResolver, StateRoot
from vigil.kube.pods import PodDirectory, PodOwner

TARGET_US = 10.0


def lay_out(base: Path, count: int) -> tuple[Path, Path, list[int]]:
    proc, cgroup, run = base / "proc", base / "cgroup", base / "run"
    (proc / "self").mkdir(parents=True)
    (proc / "self" / "mounts").write_text(f"cgroup2 {cgroup} cgroup2 rw 0 0\n")
    ids = []
    for index in range(count):
        cid = f"{index:064x}"
        path = f"/kubepods/besteffort/pod{index:08d}/{cid}"
        (cgroup / path.lstrip("/")).mkdir(parents=True)
        ids.append(os.stat(cgroup / path.lstrip("/")).st_ino)
        bundle = run / "bundles" / cid
        bundle.mkdir(parents=True)
        annotations = {
            "io.kubernetes.cri.sandbox-namespace": "bench",
            "io.kubernetes.cri.sandbox-name": f"web-{index}",
            "io.kubernetes.cri.container-name": "app",
        }
        (bundle / "config.json").write_text(json.dumps({"annotations": annotations}))
        state = run / "containerd" / "runc" / "k8s.io" / cid
        state.mkdir(parents=True)
        (state / "state.json").write_text(
            json.dumps({"init_process_pid": 1, "config": {"labels": [f"bundle={bundle}"]}})
        )
    return proc, run, ids


def per_event_us(
    resolver: IdentityResolver, ids: list[int], events: int, churn: PodDirectory | None
) -> float:
    started = time.perf_counter()
    for n in range(events):
        if churn is not None and n % 1000 == 0:
            churn.put("bench", "web-0", PodOwner(str(n), "Deployment", f"web-{n}"))
        resolver.resolve(ids[n % len(ids)], 1)
    return (time.perf_counter() - started) / events * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=200)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, run, ids = lay_out(Path(tmp), args.containers)
        roots = [StateRoot(str(run / "containerd" / "runc"), "containerd", namespaced=True)]

        def resolver(owners: PodDirectory | None = None) -> IdentityResolver:
            return IdentityResolver(proc_root=str(proc), state_roots=roots, pod_owners=owners)

        first = []
        for _ in range(args.rounds):
            fresh = resolver()
            started = time.perf_counter()
            for cgroup_id in ids:
                fresh.resolve(cgroup_id, 1)
            first.append((time.perf_counter() - started) / len(ids) * 1e6)

        plain = resolver()
        directory = PodDirectory()
        with_kube = resolver(directory)
        churning = PodDirectory()
        with_churn = resolver(churning)
        figures = {
            "cached": [per_event_us(plain, ids, args.events, None) for _ in range(args.rounds)],
            "with kube": [
                per_event_us(with_kube, ids, args.events, None) for _ in range(args.rounds)
            ],
            "kube churn": [
                per_event_us(with_churn, ids, args.events, churning) for _ in range(args.rounds)
            ],
        }
    print(
        f"identity resolve, {args.containers} containers, "
        f"{args.events} events x {args.rounds} rounds"
    )
    ok = True
    for name, values in figures.items():
        median = statistics.median(values)
        ok &= median < TARGET_US
        verdict = "ok" if median < TARGET_US else "OVER TARGET"
        print(f"  {name:<12} {median:7.2f} µs/event   (target < {TARGET_US:.0f} µs)  {verdict}")
    base = statistics.median(figures["cached"])
    print(f"  with kube / cached = {statistics.median(figures['with kube']) / base:.2f}x")
    print(f"  kube churn / cached = {statistics.median(figures['kube churn']) / base:.2f}x")
    print(
        f"  first event  {statistics.median(first):7.1f} µs/container "
        "(cold: tree scan, state, config)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
