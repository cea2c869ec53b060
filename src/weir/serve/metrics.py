"""Prometheus metrics of one server: requests, latency, errors and predictions per model,
and the shadow's live comparison (weir.serve.shadow): counted in rows, so that answers plus
skipped rows are the rows sampled."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary

Scope = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]
]
LATENCY_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
PATHS = (
    "/predict",
    "/predict/batch",
    "/model",
    "/health",
    "/ready",
    "/metrics",
    "/admin/reload",
    "/admin/promote",
)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "weir_requests", "HTTP requests", ["path", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "weir_request_duration_seconds",
            "HTTP request latency",
            ["path"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "weir_predictions", "rows predicted", ["model", "version"], registry=self.registry
        )
        self.errors = Counter(
            "weir_prediction_errors",
            "requests refused or failed",
            ["model", "reason"],
            registry=self.registry,
        )
        self.version = Gauge(
            "weir_model_version", "version being served", ["model"], registry=self.registry
        )
        self.log_buffered = Gauge(
            "weir_prediction_log_buffered_rows",
            "rows waiting to be written",
            registry=self.registry,
        )
        self.log_stalled = Gauge(
            "weir_prediction_log_stalled_seconds",
            "how long answers have waited with nothing written",
            registry=self.registry,
        )
        self.log_written = Gauge(
            "weir_prediction_log_written_rows", "rows written since start", registry=self.registry
        )
        self.connections_refused = Counter(
            "weir_connections_refused",
            "requests refused before the app saw them: head too large, too slow, too many "
            "connections",
            ["reason"],
            registry=self.registry,
        )
        self.shadow = ShadowMetrics(self.registry)

    def refused(self, reason: str) -> None:
        """One request refused by the HTTP protocol (`weir.serve.protocol`)."""
        self.connections_refused.labels(reason).inc()


class ShadowMetrics:
    """The challenger's side (weir.serve.shadow). Registered with the others, they show in
    /metrics only once a shadow has counted something: all are labelled."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.answers = Counter(
            "weir_shadow_answers",
            "rows the challenger answered in the shadow (logged, never returned)",
            ["model", "version"],
            registry=registry,
        )
        self.skipped = Counter(
            "weir_shadow_skipped",
            "rows sampled for the shadow that the challenger did not answer: queue_full, "
            "no_challenger, missing_input, unknown_category, not_finite, failed, shutdown",
            ["model", "reason"],
            registry=registry,
        )
        self.agreements = Counter(
            "weir_shadow_agreements",
            "shadow answers whose label is the champion's (classification)",
            ["model", "version"],
            registry=registry,
        )
        self.difference = Summary(
            "weir_shadow_abs_difference",
            "|challenger - champion| per row (regression): _sum / _count is the mean",
            ["model", "version"],
            registry=registry,
        )
        self.latency = Histogram(
            "weir_shadow_duration_seconds",
            "the challenger's time per call (requests waiting together share one)",
            ["model", "version"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.version = Gauge(
            "weir_shadow_version",
            "the challenger answering in the shadow (0: none)",
            ["model"],
            registry=registry,
        )
        self.queued = Gauge(
            "weir_shadow_queued_requests",
            "requests waiting for the challenger",
            ["model"],
            registry=registry,
        )


class MetricsMiddleware:
    """Counts and times every request by path and status (pure ASGI: no per-request task)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics
        self._timers: dict[str, Any] = {}  # labelled children, looked up once per path
        self._counters: dict[tuple[str, int], Any] = {}

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"] if scope["path"] in PATHS else "other"
        status = {"code": 499}  # unanswered: the client went away (nginx's code for it)
        started = time.perf_counter()
        answered: list[float] = []

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                answered.append(time.perf_counter())  # work after the answer is not its latency

        try:
            await self.app(scope, receive, sending)
        except BaseException:
            if status["code"] == 499:  # failed before answering: answered 500 outside
                status["code"] = 500
            raise
        finally:
            timer = self._timers.get(path) or self._timers.setdefault(
                path, self.metrics.latency.labels(path)
            )
            timer.observe((answered[0] if answered else time.perf_counter()) - started)
            key = (path, status["code"])
            counter = self._counters.get(key) or self._counters.setdefault(
                key, self.metrics.requests.labels(path, str(key[1]))
            )
            counter.inc()
