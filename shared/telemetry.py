"""OpenTelemetry: traces across HTTP, SQL, NATS and Temporal; trace ids on every log line."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.settings import Settings

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [trace=%(otel_trace_id)s span=%(otel_span_id)s] %(message)s"

_configured = False


class TraceIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        record.otel_trace_id = format(context.trace_id, "032x") if context.is_valid else "-"
        record.otel_span_id = format(context.span_id, "016x") if context.is_valid else "-"
        return True


def trace_log_handler() -> logging.Handler:
    handler = logging.StreamHandler()
    handler.addFilter(TraceIdFilter())
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    return handler


def configure_logging(level: str) -> None:
    """Log to stderr with trace ids, once per process; other handlers (pytest's) stay."""
    root = logging.getLogger()
    if not any(isinstance(f, TraceIdFilter) for h in root.handlers for f in h.filters):
        root.addHandler(trace_log_handler())
    root.setLevel(level.upper())


def configure_tracing(service_name: str, settings: Settings) -> None:
    """Install the tracer provider once per process; export only if an endpoint is set."""
    global _configured
    if _configured:
        return
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if settings.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=settings.otlp_endpoint.rstrip("/") + "/v1/traces")
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    HTTPXClientInstrumentor().instrument()
    _configured = True


def instrument_app(app: FastAPI, engine: AsyncEngine) -> None:
    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,/metrics$")
    SQLAlchemyInstrumentor().instrument(engine=engine.sync_engine)
