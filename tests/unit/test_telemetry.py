from __future__ import annotations

import logging

from opentelemetry.sdk.trace import TracerProvider

from shared.telemetry import trace_log_handler


def test_log_lines_carry_the_current_trace_id() -> None:
    handler = trace_log_handler()
    tracer = TracerProvider().get_tracer("test")
    record = logging.LogRecord("meritloop", logging.INFO, __file__, 1, "hello", None, None)
    with tracer.start_as_current_span("request") as span:
        handler.filter(record)
        line = handler.format(record)
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert f"trace={trace_id}" in line
    assert line.endswith("hello")


def test_log_lines_outside_a_span_say_so() -> None:
    handler = trace_log_handler()
    record = logging.LogRecord("meritloop", logging.INFO, __file__, 1, "idle", None, None)
    handler.filter(record)
    assert "[trace=- span=-]" in handler.format(record)
