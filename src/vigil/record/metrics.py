"""Prometheus metrics of the agent, on a registry of its own (injectable for tests).

Counters the pipeline bumps as it goes live here; figures that other parts already keep (sensor
loss counters, profile states) are read at scrape time by :class:`LiveCollector`, and metrics a
stage keeps itself (the responder's latency histogram) are included as they are, so nothing is
counted twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from vigil.models import Alert

#: a source yields (name, help, kind "counter"|"gauge", {labels: value}) at scrape time
LiveSource = Callable[[], Iterable[tuple[str, str, str, dict[tuple[tuple[str, str], ...], float]]]]


class LiveCollector(Collector):
    def __init__(self) -> None:
        self._sources: list[LiveSource] = []

    def add(self, source: LiveSource) -> None:
        self._sources.append(source)

    def collect(self) -> Iterator[Metric]:
        for source in self._sources:
            for name, documentation, kind, samples in source():
                label_names = [k for k, _ in next(iter(samples), ())] if samples else []
                family: CounterMetricFamily | GaugeMetricFamily
                if kind == "counter":
                    family = CounterMetricFamily(name, documentation, labels=label_names)
                else:
                    family = GaugeMetricFamily(name, documentation, labels=label_names)
                for labels, value in samples.items():
                    family.add_metric([v for _, v in labels], value)
                yield family


class AgentMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.events = Counter(
            "vigil_events_total", "Events handled by the pipeline", ["type"], registry=self.registry
        )
        self.events_failed = Counter(
            "vigil_events_failed_total",
            "Events whose handling raised (skipped; the agent went on)",
            registry=self.registry,
        )
        self.alerts = Counter(
            "vigil_alerts_total",
            "Alerts raised",
            ["kind", "severity", "rule"],
            registry=self.registry,
        )
        self.live = LiveCollector()
        self.registry.register(self.live)
        self.identity_hold = HoldMetrics(self.registry)

    def include(self, collector: Collector) -> None:
        """Expose metrics a stage keeps itself (the responder's latency histogram)."""
        self.registry.register(collector)

    def alert_recorded(self, alert: Alert) -> None:
        self.alerts.labels(alert.kind, str(alert.severity), alert.rule).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class HoldMetrics:
    """What the identity hold does (a :class:`vigil.identity.hold.HoldObserver`)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.held_events = Counter(
            "vigil_identity_held_events_total",
            "Events held until their container's runtime state was readable",
            registry=registry,
        )
        self.hold_seconds = Histogram(
            "vigil_identity_hold_seconds",
            "How long a cgroup's events waited for its identity, by how the hold ended",
            ["outcome"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0),
            registry=registry,
        )
        self.expired = Counter(
            "vigil_identity_holds_expired_total",
            "Holds attributed without runtime state, by why (age, count, total, stop)",
            ["reason"],
            registry=registry,
        )

    def held(self) -> None:
        self.held_events.inc()

    def released(self, waited: float, outcome: str) -> None:
        self.hold_seconds.labels(outcome).observe(waited)
        if outcome != "settled":
            self.expired.labels(outcome).inc()
