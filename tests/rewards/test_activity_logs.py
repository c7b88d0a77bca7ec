"""Issue 15.6: the expected ``ratings_pending`` retry logs one line per attempt, no traceback.

A real worker on the Temporal dev server runs the real activity until the workflow's retry
policy gives up; the SDK would log a warning with a traceback for every ordinary failure.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from services.rewards.activities import RewardsActivities
from tests.conftest import ServiceClientFactory
from tests.cycle_reads.support import sessionmaker_of
from tests.support.processes import TemporalServer
from workflows.models import ProposalOrgUnits, RequestProposalsInput

pytestmark = pytest.mark.database


@workflow.defn(sandboxed=False)
class AskRewardsTwice:
    @workflow.run
    async def run(self, cycle_id: str) -> str:
        try:
            await workflow.execute_activity(
                "rewards.request_proposals",
                RequestProposalsInput(idempotency_key=cycle_id, cycle_id=cycle_id),
                result_type=ProposalOrgUnits,
                start_to_close_timeout=timedelta(seconds=10),
                retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=2),
            )
        except ActivityError as error:
            cause = error.cause
            return cause.type or "" if isinstance(cause, ApplicationError) else type(cause).__name__
        return "answered"


async def test_ratings_pending_logs_a_line_per_attempt_and_no_traceback(
    service_client: ServiceClientFactory, temporal_server: TemporalServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = await Client.connect(temporal_server.address, data_converter=pydantic_data_converter)
    queue = f"test-{uuid.uuid4().hex[:12]}"
    cycle_id = str(uuid.uuid4())
    async with service_client("rewards") as rewards:
        activities = RewardsActivities(sessionmaker_of(rewards))
        caplog.set_level(logging.INFO)
        async with Worker(
            client,
            task_queue=queue,
            workflows=[AskRewardsTwice],
            activities=list(activities.all()),
            workflow_runner=UnsandboxedWorkflowRunner(),
        ):
            outcome = await client.execute_workflow(
                AskRewardsTwice.run, cycle_id, id=f"ask-{cycle_id}", task_queue=queue
            )
    assert outcome == "ratings_pending"
    mine = [r for r in caplog.records if r.name == "services.rewards.activities"]
    assert [r.levelno for r in mine] == [logging.INFO, logging.INFO]
    assert all(cycle_id in r.getMessage() for r in mine)
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("temporalio")]
    assert loud == []
    assert not any(r.exc_info for r in caplog.records if r.levelno >= logging.INFO)
