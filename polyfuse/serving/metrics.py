"""Prometheus metrics of one app: requests, latency, batch sizes, row errors, queue depth.

Each app gets its own registry (tests build many apps in one process). Under ``--workers N`` the
CLI sets ``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` sums every worker's values.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class ServerMetrics:
    """The server's metric families, registered in a private registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "polyfuse_requests",
            "HTTP requests by endpoint and status code",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "polyfuse_request_latency_seconds",
            "Time to answer a request, by endpoint",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "polyfuse_batch_size_rows",
            "Rows per model call",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.rows = Counter("polyfuse_rows", "Rows answered, by outcome", ["outcome"], registry=self.registry)
        self.rejected = Counter(
            "polyfuse_rejected_requests",
            "Requests refused before the model, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.queue_rows = Gauge(
            "polyfuse_queue_rows",
            "Rows waiting for the model",
            registry=self.registry,
            multiprocess_mode="livesum",
        )

    def exposition(self) -> bytes:
        """The text format a Prometheus scrape reads (all workers' under multiprocess mode)."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)
