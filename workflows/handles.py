"""Typed handles on running cycle and review workflows, for the reviews service and the tests.

``Client.get_workflow_handle_for(Workflow.run, ...)`` infers the handle's types from an overload
over two callable protocols; mypy 2.4 loses that inference (``Never``) in some module orders, so
a harmless edit to a workflow module could break the type check of every caller. These name the
types instead.
"""

from __future__ import annotations

from temporalio.client import Client, WorkflowHandle

from workflows.employee_review import EmployeeReviewWorkflow
from workflows.models import CycleResult, EmployeeReviewResult
from workflows.review_cycle import ReviewCycleWorkflow

CycleHandle = WorkflowHandle[ReviewCycleWorkflow, CycleResult]
ReviewHandle = WorkflowHandle[EmployeeReviewWorkflow, EmployeeReviewResult]


def cycle_handle(client: Client, workflow_id: str) -> CycleHandle:
    """The cycle's latest run (no run id: a handle that follows continue-as-new)."""
    return client.get_workflow_handle(workflow_id, result_type=CycleResult)


def review_handle(client: Client, workflow_id: str) -> ReviewHandle:
    return client.get_workflow_handle(workflow_id, result_type=EmployeeReviewResult)
