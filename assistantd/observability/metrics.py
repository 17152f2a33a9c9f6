"""Prometheus metrics, multiprocess-safe.

``assistantd serve`` points prometheus-client at a directory (``PROMETHEUS_MULTIPROC_DIR``, set before
this module is imported, wiped at start) so every worker process writes its samples there and a scrape
of any worker aggregates them all. Without that variable (an app built in-process) metrics live in
this process's default registry.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

from assistantd.observability.multiproc import MULTIPROC_ENV

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
RUN_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)

http_requests = Counter(
    "assistantd_http_requests", "HTTP requests answered, by route template and status.", ["method", "route", "status"]
)
http_latency = Histogram(
    "assistantd_http_request_duration_seconds",
    "Time to answer an HTTP request (to the end of the body), by route template.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
runs_started = Counter("assistantd_runs_started", "Runs created.")
runs_ended = Counter("assistantd_runs_ended", "Runs that reached a terminal status, by status.", ["status"])
run_duration = Histogram(
    "assistantd_run_duration_seconds", "From a run's creation to its terminal status.", ["status"], buckets=RUN_BUCKETS
)
upstream_ttft = Histogram(
    "assistantd_upstream_ttft_seconds",
    "Time from sending a chat request upstream to its first streamed token, by model.",
    ["model"],
    buckets=LATENCY_BUCKETS,
)
upstream_duration = Histogram(
    "assistantd_upstream_duration_seconds",
    "Duration of an upstream chat call, by model.",
    ["model"],
    buckets=LATENCY_BUCKETS,
)
upstream_errors = Counter(
    "assistantd_upstream_errors", "Failed upstream chat calls, by model and code.", ["model", "code"]
)
# Gauges sum over live processes; each process refreshes its own share (see ``Sampler``).
runs_queued = Gauge("assistantd_runs_queued", "Runs waiting for a worker.", multiprocess_mode="livesum")
streams_active = Gauge("assistantd_streams_active", "Server-sent event streams open.", multiprocess_mode="livesum")
ingestion_backlog = Gauge(
    "assistantd_ingestion_backlog",
    "Vector store files claimed for ingestion and not yet done.",
    multiprocess_mode="livesum",
)
sandbox_sessions = Gauge("assistantd_sandbox_sessions", "Live code interpreter sessions.", multiprocess_mode="livesum")


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def exposition() -> tuple[bytes, str]:
    """The text a scrape gets: every process's samples in multiprocess mode, else this process's."""
    if multiprocess():
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def process_exited() -> None:
    """Drop this process's live gauges from the sums (its counters stay counted)."""
    if multiprocess():
        _multiprocess.mark_process_dead(os.getpid())
