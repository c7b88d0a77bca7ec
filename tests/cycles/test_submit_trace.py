"""A task submit followed in its spans: HTTP, the Temporal Update, and the activity it causes.

What Temporal's ``TracingInterceptor`` (workflows/worker.py ``connect``) makes of it, and
so what this test holds it to:

* The request's server span and the client's ``StartWorkflowUpdate:complete_task`` share
  one trace: the submit's.
* The worker runs ``ValidateUpdate``/``HandleUpdate:complete_task`` in the trace of the
  workflow (the one its start came from: the cycle launch), with a *link* to the client's
  span. The interceptor does this for every signal and Update: a workflow's spans stay in one
  trace however many requests reach it.
* The activity the submit of a self-assessment causes is ``reviews.record_and_create_task``,
  which writes the completion to the inbox and creates the manager review. It does not run
  inside the Update handler: the handler answers and the workflow's task loop sends the change
  with the next task right after (RECORD_AFTER_REPLY_PATCH and RECORD_WITH_NEXT_TASK_PATCH in
  workflows/employee_review.py), so its ``StartActivity``/``RunActivity`` spans are in the
  workflow's trace too, next to the ``HandleUpdate`` span that caused them.

So no activity span carries the HTTP request's trace id; the path from the request to the
activity is trace -> link -> trace, and this test walks it.

The workflow worker runs in this process here (``meritloop worker`` is a process of its own
elsewhere), so that its workflow spans reach the test's in-memory exporter.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.settings import Settings
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.cycles.support import Org
from tests.support.tracing import recorded_spans
from tests.support.waiting import wait_until
from workflows.client import connect
from workflows.models import review_workflow_id
from workflows.worker import build_worker

pytestmark = pytest.mark.database

SUBMIT_ROUTE = "/tasks/{task_id}/submit"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    with recorded_spans() as exporter:
        yield exporter


def trace_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.trace_id)


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return int(span.context.span_id)


def of_workflow(spans: InMemorySpanExporter, name: str, workflow_id: str) -> list[ReadableSpan]:
    return [
        span
        for span in spans.get_finished_spans()
        if span.name == name and span.attributes and span.attributes.get("temporalWorkflowID") == workflow_id
    ]


async def test_submit_is_traced_from_http_through_the_update_to_its_activity(
    service_client: ServiceClientFactory,
    auth: TokenFactory,
    settings: Settings,
    spans: InMemorySpanExporter,
) -> None:
    worker = build_worker(await connect(settings), settings.temporal_task_queue)
    async with service_client("reviews") as reviews, worker:
        org = await Org(reviews, None, auth).build(reports=0)  # one participant: the manager
        cycle = await org.launch()
        (task,) = await org.wait_tasks(cycle, "self_assessment", 1)
        workflow_id = review_workflow_id(cycle, task["person_id"])
        spans.clear()  # what the launch traced is not this test's subject
        await org.submit_ok(task)

        await wait_until(
            lambda: of_workflow(spans, "RunActivity:reviews.record_and_create_task", workflow_id),
            timeout=30,
            message="the completion activity ran",
        )
    finished = spans.get_finished_spans()

    (request,) = [
        span
        for span in finished
        if span.kind is trace.SpanKind.SERVER and span.attributes and span.attributes.get("http.route") == SUBMIT_ROUTE
    ]
    # One per attempt: the route retries while the workflow has not opened the task yet. A
    # submit that comes before the launch has started the review starts it with the Update.
    client_updates = of_workflow(spans, "StartWorkflowUpdate:complete_task", workflow_id) + of_workflow(
        spans, "StartUpdateWithStartWorkflow:EmployeeReviewWorkflow", workflow_id
    )
    assert client_updates
    assert {trace_id(span) for span in client_updates} == {trace_id(request)}

    handled = of_workflow(spans, "HandleUpdate:complete_task", workflow_id)
    assert len(handled) == 1, [span.name for span in finished]
    (handler,) = handled
    linked = {(link.context.trace_id, link.context.span_id) for link in handler.links}
    assert linked & {(trace_id(span), span_id(span)) for span in client_updates}, "the handler links to the submit"
    validated = of_workflow(spans, "ValidateUpdate:complete_task", workflow_id)
    assert validated
    assert {trace_id(span) for span in validated} == {trace_id(handler)}

    (started,) = of_workflow(spans, "StartActivity:reviews.record_and_create_task", workflow_id)
    (ran,) = of_workflow(spans, "RunActivity:reviews.record_and_create_task", workflow_id)
    assert trace_id(started) == trace_id(ran) == trace_id(handler)
    assert ran.parent is not None
    assert ran.parent.span_id == span_id(started), "the activity runs under the workflow's start of it"
    assert started.start_time is not None
    assert handler.start_time is not None
    assert started.start_time >= handler.start_time, "scheduled after the Update was handled"
