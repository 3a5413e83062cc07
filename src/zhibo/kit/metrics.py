"""Prometheus metrics (``prometheus_client``): HTTP requests and latency by route template, and
a few cheap domain counters incremented where the work already happens.

One process: the default registry. Several processes (``zhibo serve --workers N``, workers on the
same host): set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory shared by every zhibo process
of the host *before* they start; each process then writes its values to files there and
``GET /metrics`` of any API worker sums them (prometheus_client's multiprocess mode). Wipe the
directory when the stack (re)starts (``zhibo up`` does; docs/operations.md).
"""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> Path | None:
    value = os.environ.get(MULTIPROC_ENV) or os.environ.get(MULTIPROC_ENV.lower())
    return Path(value) if value else None


_shared = multiprocess_dir()
if _shared is not None:  # the values' files go there from the first increment on
    _shared.mkdir(parents=True, exist_ok=True)

HTTP_REQUESTS = Counter(
    "zhibo_http_requests",
    "HTTP requests by method, route template (never the raw path) and status.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "zhibo_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by route template "
    "(server-sent event streams are not observed).",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
EVENTS_ACCEPTED = Counter(
    "zhibo_events_accepted",
    "Viewer events applied to the metrics and the lake, after de-duplication (by the process "
    "that runs the pipeline: the API in-process, the pipeline workers on NATS).",
)
ORDERS_PLACED = Counter(
    "zhibo_orders_placed", "Orders placed (counted as the order is written, before the commit)."
)
LEDGER_ENTRIES = Counter(
    "zhibo_ledger_entries_posted",
    "Balanced ledger entries written (repeats of an idempotency key are not counted).",
)
SEARCH_QUERIES = Counter("zhibo_pool_search_queries", "Product pool searches run.")
WORKER_ITERATIONS = Counter(
    "zhibo_worker_iterations",
    "Iterations of `zhibo worker risk|grading|settlement`, by worker and outcome (ok, error).",
    ["worker", "outcome"],
)
WORKER_LAST_SUCCESS = Gauge(
    "zhibo_worker_last_success_timestamp_seconds",
    "Unix time of a worker's last successful iteration (alert when it grows old).",
    ["worker"],
    multiprocess_mode="max",
)


def registry() -> CollectorRegistry:
    """What ``/metrics`` exposes: this process's metrics, or every process's in multiprocess
    mode."""
    if multiprocess_dir() is None:
        return REGISTRY
    from prometheus_client import multiprocess

    collected = CollectorRegistry()
    multiprocess.MultiProcessCollector(collected)
    return collected


def exposition() -> tuple[bytes, str]:
    """The metrics in the Prometheus text format, and its content type."""
    return generate_latest(registry()), CONTENT_TYPE_LATEST


def serve_metrics(port: int, host: str = "127.0.0.1") -> None:
    """Expose ``/metrics`` on its own port from a background thread (workers, which have no
    HTTP server of their own)."""
    from prometheus_client import start_http_server

    start_http_server(port, addr=host, registry=registry())
