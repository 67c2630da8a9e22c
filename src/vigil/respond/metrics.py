"""Response counters and the one latency histogram (kernel event → action finished).

The histogram is a Prometheus one (``vigil_action_latency_seconds`` by action and outcome): the
agent's metrics registry exposes it as it is, and the health JSON reads the ``done`` series back
in milliseconds (cumulative ``le`` buckets, as Prometheus has them).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from prometheus_client import Histogram

#: upper bounds in seconds: response actions are expected in tens of milliseconds
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def _latency_histogram() -> Histogram:
    # Not registered anywhere yet: the agent adds it to its registry (AgentMetrics.include).
    return Histogram(
        "vigil_action_latency_seconds",
        "Kernel event to response action finished",
        ["action", "outcome"],
        buckets=LATENCY_BUCKETS,
        registry=None,
    )


class ResponseMetrics:
    def __init__(self) -> None:
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self.decisions: Counter[str] = Counter()
        self.latency = _latency_histogram()

    def decided(self, mode: str) -> None:
        self.decisions[mode] += 1

    def observe(self, action: str, outcome: str, latency_ms: float | None) -> None:
        self.outcomes[(action, outcome)] += 1
        if latency_ms is not None:
            self.latency.labels(action, outcome).observe(latency_ms / 1000)

    def latency_ms(self, outcome: str = "done") -> dict[str, dict[str, Any]]:
        """Action → ``{"count", "sum_ms", "buckets": {upper bound in ms: cumulative count}}``."""
        series: dict[str, dict[str, Any]] = {}
        for metric in self.latency.collect():
            for sample in metric.samples:
                if sample.labels.get("outcome") != outcome:
                    continue
                entry = series.setdefault(
                    sample.labels["action"], {"count": 0, "sum_ms": 0.0, "buckets": {}}
                )
                if sample.name.endswith("_bucket"):
                    bound = sample.labels["le"]
                    key = bound if bound == "+Inf" else f"{float(bound) * 1000:g}"
                    entry["buckets"][key] = int(sample.value)
                elif sample.name.endswith("_count"):
                    entry["count"] = int(sample.value)
                elif sample.name.endswith("_sum"):
                    entry["sum_ms"] = round(sample.value * 1000, 3)
        return dict(sorted(series.items()))

    def to_json(self) -> dict[str, Any]:
        actions: dict[str, dict[str, int]] = {}
        for (action, outcome), count in sorted(self.outcomes.items()):
            actions.setdefault(action, {})[outcome] = count
        return {
            "decisions": dict(sorted(self.decisions.items())),
            "actions": actions,
            "latency_ms": self.latency_ms("done"),
        }
