"""Prometheus metrics of one hub process (own registry, so tests can run several hubs)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, is_dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class HubMetrics:
    """The figures operators watch: frames by outcome, observations, ack latency, queue."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.frames = Counter(
            "auasu_frames_total",
            "Raw inputs processed, by outcome",
            ["adapter", "outcome"],
            registry=self.registry,
        )
        self.observations_stored = Counter(
            "auasu_observations_stored_total",
            "New observations committed",
            registry=self.registry,
        )
        self.observations_duplicate = Counter(
            "auasu_observations_duplicate_total",
            "Observations already stored (replays)",
            registry=self.registry,
        )
        self.observations_corrected = Counter(
            "auasu_observations_corrected_total",
            "Observations replaced by a newer value",
            registry=self.registry,
        )
        self.ack_latency = Histogram(
            "auasu_ack_latency_seconds",
            "From receipt of a frame to its reply being ready",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "auasu_ingest_queue_depth",
            "Raw inputs waiting for the writer",
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "auasu_ingest_batch_frames",
            "Raw inputs per group commit",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000),
            registry=self.registry,
        )
        self.store_retries = Counter(
            "auasu_store_retries_total",
            "Batch commits retried after a database error",
            registry=self.registry,
        )
        self.connections = Gauge(
            "auasu_hj212_connections", "Open HJ 212 TCP connections", registry=self.registry
        )

    def watch_listener(self, stats: Callable[[], Any]) -> None:
        """Export a TCP listener's own counters (``stats`` returns its stats dataclass)."""
        self.registry.register(_ListenerCollector(stats))


class _ListenerCollector(Collector):
    """Reads the listener's counters at scrape time instead of mirroring every increment."""

    _GAUGES = frozenset({"buffer_high_water"})

    def __init__(self, stats: Callable[[], Any]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        snapshot = self._stats()
        values = (
            asdict(snapshot)
            if is_dataclass(snapshot) and not isinstance(snapshot, type)
            else dict(vars(snapshot))
        )
        for name, value in values.items():
            if name in self._GAUGES:
                yield GaugeMetricFamily(
                    f"auasu_hj212_{name}", f"HJ 212 listener: {name}", value=float(value)
                )
            else:
                yield CounterMetricFamily(
                    f"auasu_hj212_{name}", f"HJ 212 listener: {name}", value=float(value)
                )
