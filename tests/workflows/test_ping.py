"""The worker's round trip, on the time-skipping test server and on the real dev server."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

from temporalio.client import Client, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from workflows import employee_review, review_cycle
from workflows.common import SERVICE_QUEUES_PATCH
from workflows.ping import PingInput, PingResult, PingWorkflow
from workflows.worker import WORKFLOWS, build_replayer, build_worker

HISTORIES = Path(__file__).parent / "histories"


async def test_ping_on_time_skipping_server(time_skipping_env: WorkflowEnvironment, task_queue: str) -> None:
    async with build_worker(time_skipping_env.client, task_queue):
        result = await time_skipping_env.client.execute_workflow(
            PingWorkflow.run, PingInput(message="hello"), id=f"ping-{uuid.uuid4()}", task_queue=task_queue
        )
    assert isinstance(result, PingResult)
    assert result.message == "hello"


async def test_ping_on_dev_server_replays_with_current_code(dev_client: Client, task_queue: str) -> None:
    async with build_worker(dev_client, task_queue):
        handle = await dev_client.start_workflow(
            PingWorkflow.run, PingInput(message="replay me"), id=f"ping-{uuid.uuid4()}", task_queue=task_queue
        )
        assert (await handle.result()).message == "replay me"
    history = await handle.fetch_history()
    await build_replayer().replay_workflow(history)


async def test_recorded_histories_replay() -> None:
    """Every workflow type has a recorded history; today's code must replay all of them."""
    files = sorted(HISTORIES.glob("*.json"))
    recorded_types = {
        json.loads(path.read_text())["events"][0]["workflowExecutionStartedEventAttributes"]["workflowType"]["name"]
        for path in files
    }
    assert recorded_types >= {workflow.__name__ for workflow in WORKFLOWS}, "record a history per workflow"
    replayer = build_replayer()
    for path in files:
        history = WorkflowHistory.from_json(path.stem, path.read_text())
        await replayer.replay_workflow(history)


def _patches(path: Path) -> set[str]:
    """The ``workflow.patched`` ids whose marker a recorded history holds."""
    found: set[str] = set()
    for event in json.loads(path.read_text())["events"]:
        marker = event.get("markerRecordedEventAttributes")
        if marker is None or marker["markerName"] != "core_patch":
            continue
        for payload in marker["details"]["patch-data"]["payloads"]:
            found.add(json.loads(base64.b64decode(payload["data"]))["id"])
    return found


def test_recorded_histories_take_every_patch() -> None:
    """Old histories without the markers replay the old paths; a newer one takes each new path."""
    histories = {path.name: _patches(path) for path in HISTORIES.glob("*.json")}
    assert histories["review_cycle_v1.json"] == histories["employee_review_v1.json"] == set()
    assert histories["review_cycle_v2.json"] == {
        review_cycle.GATE_REMINDERS_PATCH,
        review_cycle.PERSONAL_DEADLINES_PATCH,
    }
    assert histories["employee_review_v2.json"] == {employee_review.PERSONAL_DEADLINES_PATCH}
    assert histories["employee_review_v3.json"] == {
        employee_review.PERSONAL_DEADLINES_PATCH,
        employee_review.RECORD_AFTER_REPLY_PATCH,
    }
    assert histories["review_cycle_v3.json"] == histories["review_cycle_v2.json"] | {SERVICE_QUEUES_PATCH}
    assert histories["employee_review_v4.json"] == histories["employee_review_v3.json"] | {SERVICE_QUEUES_PATCH}
    assert histories["review_cycle_v4.json"] == histories["review_cycle_v3.json"] | {review_cycle.BULK_LAUNCH_PATCH}
    # The review of a bulk launch changes by its input (the first task written), not by a patch.
    assert histories["employee_review_v5.json"] == histories["employee_review_v4.json"]
    started = json.loads((HISTORIES / "employee_review_v5.json").read_text())["events"][0]
    payload = started["workflowExecutionStartedEventAttributes"]["input"]["payloads"][0]["data"]
    assert json.loads(base64.b64decode(payload))["first_task_opened_at"] is not None
    assert histories["employee_review_v6.json"] == histories["employee_review_v5.json"] | {
        employee_review.RECORD_WITH_NEXT_TASK_PATCH
    }
    assert _activity_types(HISTORIES / "employee_review_v6.json") >= {"reviews.record_and_create_task"}
    assert "reviews.record_and_create_task" not in _activity_types(HISTORIES / "employee_review_v5.json")
    # A review whose template asks for 360 feedback takes the peer round; older ones never had one.
    assert histories["employee_review_v7.json"] == histories["employee_review_v6.json"] | {
        employee_review.PEER_FEEDBACK_PATCH
    }
    assert _activity_types(HISTORIES / "employee_review_v7.json") >= {
        "feedback.open_peer_reviews",
        "feedback.release_peer_reviews",
    }
    assert all(employee_review.PEER_FEEDBACK_PATCH not in histories[f"employee_review_v{n}.json"] for n in range(1, 7))
    # A report the cycle did not take is sent again; older reviews gave up at once.
    assert histories["employee_review_v8.json"] == histories["employee_review_v6.json"] | {
        employee_review.REPORT_RETRY_PATCH
    }
    assert all(employee_review.REPORT_RETRY_PATCH not in histories[f"employee_review_v{n}.json"] for n in range(1, 8))


def _activity_types(path: Path) -> set[str]:
    return {
        event["activityTaskScheduledEventAttributes"]["activityType"]["name"]
        for event in json.loads(path.read_text())["events"]
        if "activityTaskScheduledEventAttributes" in event
    }
