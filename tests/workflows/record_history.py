"""Record workflow histories for the replay tests: ``python -m tests.workflows.record_history``.

Starts a dev server, runs each workflow once, writes ``histories/<name>.json``. Re-record when
adding a workflow type, or after a change guarded by ``workflow.patched``: give the type a new
file name in ``FILES`` (``_v2``, ...) so a history that takes the new path is recorded beside the
old ones. Old histories stay to prove new code still replays them. Pass workflow type names to
record only those (``python -m tests.workflows.record_history ReviewCycleWorkflow``); an
existing file is never overwritten.

Versions: ``_v1`` before any patch; ``_v2`` with the patches ``personal-deadlines`` (both
types) and ``review-cycle-gate-reminders`` (the cycle); ``employee_review_v3`` adds
``record-completion-after-reply``; ``review_cycle_v3`` and ``employee_review_v4`` add
``activities-on-service-queues`` (activities on the reviews and rewards services' queues);
``review_cycle_v4`` adds ``bulk-launch`` (first tasks written in bulk, reviews started by an
activity) and ``employee_review_v5`` is a review of it (its first task written before it started);
``employee_review_v6`` adds ``record-completion-with-next-task`` (a completion recorded by the
activity that creates the next task, reported with its opening in one signal).
``pay_approval_chain_v1`` is the pay approval chain (two levels, an escalation, a return).
``employee_review_v7`` (recorded by the name ``EmployeeReviewWorkflow360``) adds ``peer-feedback``:
a review whose template asks for a 360 round (nomination, approval, peer tasks, release).
``employee_review_v8`` adds ``retry-refused-report`` (a report the cycle did not take is sent
again after a pause).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter

from tests.support.processes import TemporalServer
from tests.workflows.approval_scenario import FakeApprovals, run_chain, serving_approvals
from tests.workflows.fakes import serving
from tests.workflows.scenario import fakes, run_small_cycle
from tests.workflows.test_peer_round import record_peer_review
from workflows.ping import PingInput, PingWorkflow
from workflows.worker import build_worker

HISTORIES = Path(__file__).parent / "histories"

FILES = {
    "PingWorkflow": "ping_v1.json",
    "ReviewCycleWorkflow": "review_cycle_v4.json",
    "EmployeeReviewWorkflow": "employee_review_v8.json",
    "PayApprovalChainWorkflow": "pay_approval_chain_v1.json",
    "EmployeeReviewWorkflow360": "employee_review_v7.json",
}


async def _ping(client: Client) -> dict[str, WorkflowHistory]:
    async with build_worker(client, "record"):
        handle = await client.start_workflow(
            PingWorkflow.run, PingInput(message="recorded"), id=f"ping-{uuid.uuid4()}", task_queue="record"
        )
        await handle.result()
    return {"PingWorkflow": await handle.fetch_history()}


async def _review_cycle(client: Client) -> dict[str, WorkflowHistory]:
    """A two-person cycle through every phase, driven by Updates, on deterministic fakes.

    The review recorded is the first person's: a personal extension, then a shorter cycle-wide one.
    """
    services = fakes()
    async with serving(client, "record-cycle", services):
        cycle, children = await run_small_cycle(client, "record-cycle", services, "recorded")
    return {
        "ReviewCycleWorkflow": await cycle.fetch_history(),
        "EmployeeReviewWorkflow": await children[0].fetch_history(),
    }


async def _pay_approval_chain(client: Client) -> dict[str, WorkflowHistory]:
    """The chain's scenario in real time: steps of two seconds."""

    async def wait(delta: timedelta) -> None:
        await asyncio.sleep(delta.total_seconds())

    async with serving_approvals(client, "record-approval", FakeApprovals()):
        handle, _ = await run_chain(client, "record-approval", wait, timedelta(seconds=2))
    return {"PayApprovalChainWorkflow": await handle.fetch_history()}


async def record(only: set[str]) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        server = TemporalServer(workdir=Path(workdir))
        server.start()
        try:
            client = await Client.connect(server.address, data_converter=pydantic_data_converter)
            histories: dict[str, WorkflowHistory] = {}
            if "PingWorkflow" in only:
                histories |= await _ping(client)
            if only & {"ReviewCycleWorkflow", "EmployeeReviewWorkflow"}:
                histories |= await _review_cycle(client)
            if "PayApprovalChainWorkflow" in only:
                histories |= await _pay_approval_chain(client)
            if "EmployeeReviewWorkflow360" in only:
                handle = await record_peer_review(client, "record-360")
                histories["EmployeeReviewWorkflow360"] = await handle.fetch_history()
            for name, history in histories.items():
                path = HISTORIES / FILES[name]
                if name in only and not path.exists():
                    path.write_text(history.to_json())
                    print(f"recorded {path}")
        finally:
            server.stop()


if __name__ == "__main__":
    asyncio.run(record(set(sys.argv[1:]) or set(FILES)))
