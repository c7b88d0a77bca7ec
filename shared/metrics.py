"""Prometheus metrics: ``GET /metrics`` of every service, and the Temporal SDK's own exporter.

A service reports its HTTP traffic by route template (never the raw path, which holds ids),
its outbox backlog (queried when scraped, with a time limit) and, through
``shared.events.metrics``, its relay and consumers. /metrics needs no token: it carries no
personal data, only counts labelled by service, method, route, status, consumer and event type.

Temporal workers (and any process with a Temporal client) export the SDK's metrics: the
workflow worker and a stand-alone activity process through a :class:`temporalio.runtime.Runtime`
with a Prometheus endpoint of its own (:func:`temporal_runtime`); a service's in-process activity
worker through a buffer drained into this registry (:func:`sdk_metrics`), so they appear on the
service's own ``/metrics`` beside its HTTP metrics, with no second port to scrape.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from fastapi import FastAPI, Request, Response
from opentelemetry.instrumentation.utils import suppress_instrumentation
from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.runtime import (
    BufferedMetricUpdate,
    MetricBuffer,
    MetricBufferDurationFormat,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
)

from shared.database import utcnow
from shared.events.outbox import OutboxMixin
from shared.settings import Settings

logger = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
UNMATCHED_ROUTE = "unmatched"
# Anything else a client sends as a method would be a label value of its choosing.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Up to the 20 s a submit may wait for its workflow's Update (cycle_update_timeout) and beyond.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# A scrape answers within this even when the database is slow; the gauges are then left out.
OUTBOX_QUERY_TIMEOUT = 2.0
# Scrapes closer together than this (several Prometheus replicas) share one query.
OUTBOX_QUERY_MIN_INTERVAL = 1.0

REQUESTS = Counter(
    "meritloop_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["service", "method", "route", "status"],
)
REQUEST_DURATION = Histogram(
    "meritloop_http_request_duration_seconds",
    "Time from receiving an HTTP request to the end of its response, by route template and method.",
    ["service", "method", "route"],
    buckets=LATENCY_BUCKETS,
)
OUTBOX_PENDING = Gauge(
    "meritloop_outbox_pending_events",
    "Outbox rows not yet published to JetStream (the whole table: every replica reports the same).",
    ["service"],
)
OUTBOX_OLDEST_AGE = Gauge(
    "meritloop_outbox_oldest_pending_age_seconds",
    "Age of the oldest outbox row not yet published; 0 when none is pending.",
    ["service"],
)


def route_of(scope: Scope) -> str:
    """The template of the route that matched (``/tasks/{task_id}/submit``), or ``unmatched``."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) else UNMATCHED_ROUTE


class HTTPMetricsMiddleware:
    """Counts and times every request; plain ASGI so a streamed response is timed to its end."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the app raised before it responded

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            route = route_of(scope)
            if route != METRICS_PATH:
                method = scope["method"] if scope["method"] in METHODS else "OTHER"
                REQUESTS.labels(self.service, method, route, str(status)).inc()
                REQUEST_DURATION.labels(self.service, method, route).observe(time.perf_counter() - started)


class OutboxGauges:
    """Sets the outbox gauges of one service from its database, at most once per interval."""

    def __init__(
        self,
        service: str,
        sessionmaker: async_sessionmaker[AsyncSession],
        model: type[OutboxMixin],
        *,
        timeout: float = OUTBOX_QUERY_TIMEOUT,
        min_interval: float = OUTBOX_QUERY_MIN_INTERVAL,
    ) -> None:
        self.service = service
        self._sessionmaker = sessionmaker
        self._model = model
        self._timeout = timeout
        self._min_interval = min_interval
        self._lock = asyncio.Lock()
        self._refreshed_at = float("-inf")

    async def refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._refreshed_at < self._min_interval:
                return
            try:
                pending, oldest_age = await asyncio.wait_for(self._query(), self._timeout)
            except Exception as exc:  # noqa: BLE001 - a scrape reports what it can
                logger.warning("outbox gauges of %s left out of this scrape: %s", self.service, exc)
                # Absent, not stale: an old "0 pending" would hide the very backlog to alert on.
                OUTBOX_PENDING.remove(self.service)
                OUTBOX_OLDEST_AGE.remove(self.service)
                return
            OUTBOX_PENDING.labels(self.service).set(pending)
            OUTBOX_OLDEST_AGE.labels(self.service).set(oldest_age)
            self._refreshed_at = time.monotonic()

    async def _query(self) -> tuple[int, float]:
        model = self._model
        # Both answered from the (published_at, created_at) index every outbox table has.
        query = select(func.count(), func.min(model.created_at)).where(model.published_at.is_(None))
        # A span per scrape would bury the traces of real requests.
        with suppress_instrumentation():
            async with self._sessionmaker() as session:
                pending, oldest = (await session.execute(query)).one()
        age = 0.0 if oldest is None else max((utcnow() - oldest).total_seconds(), 0.0)
        return int(pending), age


def install_metrics(app: FastAPI, service: str, outbox_model: type[OutboxMixin] | None) -> None:
    """``GET /metrics`` (no auth, not in the OpenAPI schema) and the request metrics of ``app``.

    ``outbox_model`` None: a component that publishes nothing (notifications) has no outbox gauges.
    """
    gauges = OutboxGauges(service, app.state.sessionmaker, outbox_model) if outbox_model is not None else None
    app.state.outbox_gauges = gauges
    app.add_middleware(HTTPMetricsMiddleware, service=service)

    async def metrics(request: Request) -> Response:
        if gauges is not None:
            await gauges.refresh()
        if _sdk_metrics is not None:
            _sdk_metrics.drain()
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encode(REGISTRY), media_type=content_type)

    app.add_api_route(METRICS_PATH, metrics, methods=["GET"], include_in_schema=False)


_runtimes: dict[str, Runtime] = {}


def temporal_runtime(settings: Settings, port: int | None = None) -> Runtime | None:
    """A Temporal runtime exporting the SDK's metrics on ``port`` (default: the worker's metrics setting).

    ``None`` when no port is set: the client then uses Temporal's default runtime. Pass the result
    to ``Client.connect(..., runtime=...)``. One runtime per address and process, because each
    binds its port and runs a thread pool of its own.
    """
    port = settings.worker_metrics_port if port is None else port
    if port is None:
        return None
    address = f"{settings.worker_metrics_host or settings.host}:{port}"
    if address not in _runtimes:
        config = PrometheusConfig(
            bind_address=address,
            # The Prometheus conventions: counters end in _total, durations are *_seconds.
            counters_total_suffix=True,
            unit_suffix=True,
            durations_as_seconds=True,
        )
        _runtimes[address] = Runtime(telemetry=TelemetryConfig(metrics=config))
    return _runtimes[address]


# Temporal's own histogram boundaries for latencies, in seconds (its Prometheus exporter's defaults).
SDK_LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 50.0, 100.0)
# Histograms that are not durations (sizes, counts per poll).
SDK_VALUE_BUCKETS = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0)
# Updates held between drains; a drain runs every few seconds and at each scrape, so this is
# minutes of a busy worker. A full buffer drops updates and the SDK logs it.
SDK_BUFFER_SIZE = 200_000
# Counters, gauges and histograms in BufferedMetric.kind order.
_COUNTER, _GAUGE, _HISTOGRAM = 0, 1, 2

Labels = tuple[tuple[str, str], ...]


@dataclass
class _SDKFamily:
    """One SDK metric with its series; several workers of the process may report the same name."""

    name: str
    description: str
    kind: int
    buckets: tuple[float, ...] = ()
    values: dict[Labels, float] = field(default_factory=dict)
    # Per series: the count in each bucket (not cumulative; the last is +Inf), and the sum.
    observed: dict[Labels, tuple[list[int], list[float]]] = field(default_factory=dict)

    def update(self, labels: Labels, value: float) -> None:
        if self.kind == _COUNTER:
            self.values[labels] = self.values.get(labels, 0.0) + value
        elif self.kind == _GAUGE:
            self.values[labels] = value
        else:
            counts, total = self.observed.setdefault(labels, ([0] * (len(self.buckets) + 1), [0.0]))
            counts[bisect.bisect_left(self.buckets, value)] += 1
            total[0] += value

    def metric(self) -> Metric:
        kind = {_COUNTER: "counter", _GAUGE: "gauge"}.get(self.kind, "histogram")
        family = Metric(self.name, self.description, kind)
        for labels, value in self.values.items():
            family.add_sample(self.name + ("_total" if self.kind == _COUNTER else ""), dict(labels), value)
        for labels, (counts, total) in self.observed.items():
            cumulative = 0
            for bound, count in zip((*self.buckets, math.inf), counts, strict=True):
                cumulative += count
                le = "+Inf" if math.isinf(bound) else repr(bound)
                family.add_sample(f"{self.name}_bucket", {**dict(labels), "le": le}, cumulative)
            family.add_sample(f"{self.name}_count", dict(labels), cumulative)
            family.add_sample(f"{self.name}_sum", dict(labels), total[0])
        return family


class SDKMetrics(Collector):
    """The Temporal SDK's metrics of this process, recorded in a buffer and served from the
    Prometheus registry under the names the SDK's own exporter gives with
    :func:`temporal_runtime`'s options (counters ``_total``, durations ``_seconds``), so the
    dashboards and alerts read both alike. A collector of its own rather than client metrics:
    the SDK's label sets differ between the workers (and metric objects) of one process."""

    def __init__(self, buffer_size: int = SDK_BUFFER_SIZE) -> None:
        self.buffer = MetricBuffer(buffer_size, duration_format=MetricBufferDurationFormat.SECONDS)
        self.runtime = Runtime(telemetry=TelemetryConfig(metrics=self.buffer))
        self._families: dict[str, _SDKFamily] = {}
        # Drains run on the event loop, scrapes may run on the client library's thread.
        self._lock = threading.Lock()

    def drain(self) -> int:
        """Fold every buffered update into the series; the number folded."""
        updates = self.buffer.retrieve_updates()
        with self._lock:
            for update in updates:
                self._apply(update)
        return len(updates)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            return iter([family.metric() for family in self._families.values()])

    def _apply(self, update: BufferedMetricUpdate) -> None:
        metric = update.metric
        name = metric.name if metric.name.startswith("temporal_") else f"temporal_{metric.name}"
        seconds = metric.kind == _HISTOGRAM and metric.unit == "s"  # durations, asked for in seconds
        name = f"{name}_seconds" if seconds else name
        family = self._families.get(name)
        if family is None:
            buckets = () if metric.kind != _HISTOGRAM else SDK_LATENCY_BUCKETS if seconds else SDK_VALUE_BUCKETS
            family = _SDKFamily(name, metric.description or name, metric.kind, buckets)
            self._families[name] = family
        labels = tuple(sorted((str(key), str(value)) for key, value in update.attributes.items()))
        family.update(labels, float(update.value))


_sdk_metrics: SDKMetrics | None = None


def sdk_metrics() -> SDKMetrics:
    """This process's buffered SDK metrics (one runtime per process: each runs its own threads)."""
    global _sdk_metrics  # one runtime per process, made on first use
    if _sdk_metrics is None:
        _sdk_metrics = SDKMetrics()
        REGISTRY.register(_sdk_metrics)
    return _sdk_metrics
