"""Response counters and latency histograms (kernel event → action done), for the health JSON
now and Prometheus later (cumulative ``le`` buckets, as Prometheus histograms have them)."""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

#: upper bounds in milliseconds
BUCKETS_MS = (1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 5000.0)


@dataclass(slots=True)
class Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS_MS) + 1))
    total: int = 0
    sum_ms: float = 0.0

    def observe(self, value_ms: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS_MS, value_ms)] += 1
        self.total += 1
        self.sum_ms += value_ms

    def to_json(self) -> dict[str, Any]:
        cumulative, running = {}, 0
        for bound, count in zip((*BUCKETS_MS, float("inf")), self.counts, strict=True):
            running += count
            cumulative["+Inf" if bound == float("inf") else f"{bound:g}"] = running
        return {"count": self.total, "sum_ms": round(self.sum_ms, 3), "buckets": cumulative}


class ResponseMetrics:
    def __init__(self) -> None:
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self.decisions: Counter[str] = Counter()
        self.latency: dict[str, Histogram] = {}

    def decided(self, mode: str) -> None:
        self.decisions[mode] += 1

    def observe(self, action: str, outcome: str, latency_ms: float | None) -> None:
        self.outcomes[(action, outcome)] += 1
        if latency_ms is not None and outcome == "done":
            self.latency.setdefault(action, Histogram()).observe(latency_ms)

    def to_json(self) -> dict[str, Any]:
        actions: dict[str, dict[str, int]] = {}
        for (action, outcome), count in sorted(self.outcomes.items()):
            actions.setdefault(action, {})[outcome] = count
        return {
            "decisions": dict(sorted(self.decisions.items())),
            "actions": actions,
            "latency_ms": {name: h.to_json() for name, h in sorted(self.latency.items())},
        }
