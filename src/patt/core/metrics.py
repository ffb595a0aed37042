"""Prometheus metrics (METRICS_ENABLED): request counts and latency by route template, and
background job durations. Off by default; nothing is recorded while off.

The collectors live in one registry per process. With `patt serve --workers N`, point
`PROMETHEUS_MULTIPROC_DIR` at an empty directory so `/metrics` adds up every worker (the
prometheus-client multiprocess mode); without it each scrape sees the worker that answered.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "patt_http_requests",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "patt_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ["method", "route"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
JOB_DURATION = Histogram(
    "patt_job_duration_seconds",
    "Duration of background jobs, by job and outcome.",
    ["job", "status"],
    registry=REGISTRY,
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1200),
)

_enabled = False


def enable(on: bool) -> None:
    """Record (or stop recording) in this process; the app calls it from METRICS_ENABLED."""
    global _enabled
    _enabled = on


def enabled() -> bool:
    """Whether this process records metrics."""
    return _enabled


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Count one answered request."""
    if _enabled:
        HTTP_REQUESTS.labels(method, route, str(status)).inc()
        HTTP_LATENCY.labels(method, route).observe(seconds)


def observe_job(job: str, status: str, seconds: float) -> None:
    """Record one background job run."""
    if _enabled:
        JOB_DURATION.labels(job, status).observe(seconds)


def exposition() -> tuple[bytes, str]:
    """The text exposition format and its content type (every worker's in multiprocess mode)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
