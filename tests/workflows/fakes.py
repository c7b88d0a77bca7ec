"""In-memory fakes of the review-cycle activity contracts, registered by activity name.

Each fake records its calls. Like the real implementations must be, they are idempotent: a
task is stored once per ``task_id`` however often ``reviews.create_task`` runs.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.api.testservice.v1 import SleepRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from meritloop.launcher import binary
from services.reviews.cycles.review_starts import start_reviews
from workflows.client import activity_worker
from workflows.employee_review import EmployeeReviewWorkflow
from workflows.handles import ReviewHandle
from workflows.models import (
    PEER_STEPS,
    ActivityQueues,
    CalibrationSessions,
    CloseReviewInput,
    CreateTaskInput,
    CycleSchedule,
    DeadlinePolicy,
    EmployeeReviewInput,
    EscalateGateInput,
    EscalateTaskInput,
    EscalationStep,
    EscalationTarget,
    FirstTasksOpened,
    GateReminderInput,
    ListParticipantsInput,
    ManagerChain,
    ManagerChainInput,
    MarkPhaseInput,
    OpenCalibrationInput,
    OpenFirstTasksInput,
    OpenPeerReviewsInput,
    Participant,
    ParticipantPage,
    PeerReviewsReleased,
    ProposalOrgUnits,
    RecordAndCreateTask,
    ReleasePeerReviewsInput,
    ReminderInput,
    RequestProposalsInput,
    ReviewsStarted,
    StartReviewsInput,
    Step,
    StepSchedule,
    TaskRef,
    UpdateTaskInput,
    review_workflow_id,
    task_id,
)
from workflows.worker import build_worker

HR = "hr-owner"


def schedule(start: datetime, *, with_policy: bool = True) -> CycleSchedule:
    """Every step ten days after the previous; reminders every 3 days; escalation 0/2/4 days."""
    policy = DeadlinePolicy(
        reminder_every=timedelta(days=3) if with_policy else None,
        escalation=[
            EscalationStep(after=timedelta(0), notify=EscalationTarget.manager),
            EscalationStep(after=timedelta(days=2), notify=EscalationTarget.skip_level),
            EscalationStep(after=timedelta(days=4), notify=EscalationTarget.hr),
        ]
        if with_policy
        else [],
    )
    return CycleSchedule(
        steps={
            step: StepSchedule(
                deadline=start + timedelta(days=10 + 20 * index), closes_after=timedelta(days=6), policy=policy
            )
            for index, step in enumerate(Step)
            if step not in PEER_STEPS  # a 360 test adds its own (tests/workflows/test_peer_round.py)
        }
    )


@dataclass
class Call:
    name: str
    value: Any
    attempt: int
    at: datetime  # server time the attempt was scheduled (skipped time on the test server)


@dataclass
class FakeServices:
    participants: list[Participant] = field(default_factory=list)
    chains: dict[str, ManagerChain] = field(default_factory=dict)
    sessions: list[str] = field(default_factory=list)
    org_units: list[str] = field(default_factory=list)
    fail_once: set[str] = field(default_factory=set)  # activity names that fail their first attempt
    create_delay: float = 0.0  # real seconds reviews.create_task takes
    close_gate: asyncio.Event | None = None  # reviews.close_review waits for it when set
    calls: list[Call] = field(default_factory=list)
    tasks: dict[str, CreateTaskInput] = field(default_factory=dict)
    creating: int = 0
    max_creating: int = 0
    start_gate: asyncio.Event | None = None  # reviews.start_reviews waits for it when set
    started_reviews: list[str] = field(default_factory=list)  # person ids, in the order started
    peer_released: bool = True  # what feedback.release_peer_reviews answers

    def named(self, name: str) -> list[Any]:
        return [call.value for call in self.calls if call.name == name]

    def _record(self, name: str, value: Any) -> None:
        info = activity.info()
        self.calls.append(Call(name, value, info.attempt, info.current_attempt_scheduled_time))
        if name in self.fail_once and info.attempt == 1:
            raise RuntimeError(f"{name} fails its first attempt (test)")

    @activity.defn(name="reviews.list_participants")
    async def list_participants(self, value: ListParticipantsInput) -> ParticipantPage:
        offset = int(value.page_token or 0)
        page = self.participants[offset : offset + value.page_size]
        following = offset + value.page_size
        return ParticipantPage(
            participants=page, next_page_token=str(following) if following < len(self.participants) else None
        )

    @activity.defn(name="reviews.create_task")
    async def create_task(self, value: CreateTaskInput) -> TaskRef:
        self.creating += 1
        self.max_creating = max(self.max_creating, self.creating)
        try:
            if self.create_delay:
                await asyncio.sleep(self.create_delay)
            self._record("reviews.create_task", value)
            created = value.task_id not in self.tasks
            self.tasks.setdefault(value.task_id, value)
            return TaskRef(task_id=value.task_id, created=created)
        finally:
            self.creating -= 1

    @activity.defn(name="reviews.open_first_tasks")
    async def open_first_tasks(self, value: OpenFirstTasksInput) -> FirstTasksOpened:
        self._record("reviews.open_first_tasks", value)
        created = 0
        for participant in self.participants:
            tid = task_id(value.cycle_id, participant.person_id, Step.self_assessment)
            if tid not in self.tasks:
                created += 1
                self.tasks[tid] = CreateTaskInput(
                    task_id=tid,
                    cycle_id=value.cycle_id,
                    person_id=participant.person_id,
                    step=Step.self_assessment,
                    assignee_id=participant.person_id,
                    due_at=value.due_at,
                    workflow_id=review_workflow_id(value.cycle_id, participant.person_id),
                )
        return FirstTasksOpened(created=created, participants=len(self.participants))

    @activity.defn(name="reviews.start_reviews")
    async def start_reviews(self, value: StartReviewsInput) -> ReviewsStarted:
        """The real helper's starts (top-level reviews by id, a running one kept), on a fake page."""
        self._record("reviews.start_reviews", value)
        if self.start_gate is not None:
            await self.start_gate.wait()
        if value.person_id is not None:
            page = [p for p in self.participants if p.person_id == value.person_id]
            following = None
        else:
            offset = int(value.page_token or 0)
            page = self.participants[offset : offset + value.page_size]
            end = offset + value.page_size
            following = str(end) if end < len(self.participants) else None
        inputs = [value.template.for_person(value.cycle_id, p.person_id, p.manager_id) for p in page]
        ended = await start_reviews(
            activity.client(), inputs, value.workflow_task_queue, value.window, keep_running=not value.join
        )
        self.started_reviews.extend(p.person_id for p in page if p.person_id not in ended)
        return ReviewsStarted(participants=len(page), ended=ended, next_page_token=following)

    @activity.defn(name="reviews.update_task")
    async def update_task(self, value: UpdateTaskInput) -> None:
        self._record("reviews.update_task", value)

    @activity.defn(name="reviews.record_and_create_task")
    async def record_and_create_task(self, value: RecordAndCreateTask) -> TaskRef:
        self._record("reviews.record_and_create_task", value)
        for record in value.records:
            await self.update_task(record)
        return await self.create_task(value.task)

    @activity.defn(name="reviews.send_reminder")
    async def send_reminder(self, value: ReminderInput) -> None:
        self._record("reviews.send_reminder", value)

    @activity.defn(name="reviews.manager_chain")
    async def manager_chain(self, value: ManagerChainInput) -> ManagerChain:
        self._record("reviews.manager_chain", value)
        return self.chains.get(value.person_id, ManagerChain())

    @activity.defn(name="reviews.escalate_task")
    async def escalate_task(self, value: EscalateTaskInput) -> None:
        self._record("reviews.escalate_task", value)

    @activity.defn(name="reviews.escalate_gate")
    async def escalate_gate(self, value: EscalateGateInput) -> None:
        self._record("reviews.escalate_gate", value)

    @activity.defn(name="reviews.remind_gate")
    async def remind_gate(self, value: GateReminderInput) -> None:
        self._record("reviews.remind_gate", value)

    @activity.defn(name="reviews.close_review")
    async def close_review(self, value: CloseReviewInput) -> None:
        if self.close_gate is not None:
            await self.close_gate.wait()
        self._record("reviews.close_review", value)

    @activity.defn(name="reviews.mark_phase")
    async def mark_phase(self, value: MarkPhaseInput) -> None:
        self._record("reviews.mark_phase", value)

    @activity.defn(name="reviews.open_calibration")
    async def open_calibration(self, value: OpenCalibrationInput) -> CalibrationSessions:
        self._record("reviews.open_calibration", value)
        return CalibrationSessions(session_ids=self.sessions)

    @activity.defn(name="rewards.request_proposals")
    async def request_proposals(self, value: RequestProposalsInput) -> ProposalOrgUnits:
        self._record("rewards.request_proposals", value)
        return ProposalOrgUnits(org_units=self.org_units)

    @activity.defn(name="feedback.open_peer_reviews")
    async def open_peer_reviews(self, value: OpenPeerReviewsInput) -> None:
        self._record("feedback.open_peer_reviews", value)

    @activity.defn(name="feedback.release_peer_reviews")
    async def release_peer_reviews(self, value: ReleasePeerReviewsInput) -> PeerReviewsReleased:
        self._record("feedback.release_peer_reviews", value)
        return PeerReviewsReleased(released=self.peer_released and not value.cancelled)

    def feedback_activities(self) -> Sequence[Callable[..., Awaitable[Any]]]:
        return (self.open_peer_reviews, self.release_peer_reviews)

    def reviews_activities(self) -> Sequence[Callable[..., Awaitable[Any]]]:
        return (
            self.list_participants,
            self.open_first_tasks,
            self.start_reviews,
            self.create_task,
            self.update_task,
            self.record_and_create_task,
            self.send_reminder,
            self.manager_chain,
            self.escalate_task,
            self.escalate_gate,
            self.remind_gate,
            self.close_review,
            self.mark_phase,
            self.open_calibration,
        )

    def rewards_activities(self) -> Sequence[Callable[..., Awaitable[Any]]]:
        return (self.request_proposals,)


@asynccontextmanager
async def fresh_time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server of the test's own (starts in about 0.1 s).

    The session's shared server is not used for these tests: after some sequences of
    Updates, child workflows and ended runs, the Java test server kept a time-skipping lock
    and a later test's ``env.sleep`` hung. A fresh server per test keeps them independent.
    """
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter, test_server_existing_path=binary("temporal-test-server")
    )
    try:
        yield env
    finally:
        await env.shutdown()


def queues_for(task_queue: str) -> ActivityQueues:
    """The services' activity queues of a test: its own, beside its workflow queue."""
    return ActivityQueues(
        reviews=f"{task_queue}-reviews", rewards=f"{task_queue}-rewards", feedback=f"{task_queue}-feedback"
    )


@asynccontextmanager
async def serving(env: WorkflowEnvironment | Client, task_queue: str, fakes: FakeServices) -> AsyncIterator[None]:
    """The workflow worker of the test's task queue, and the fakes on the services' queues
    (``queues_for(task_queue)``), as the reviews and rewards services serve them.

    On the time-skipping server the test ends with one skipped second while the workers still
    run, so whatever the last step left (a report, a completion) is processed.
    """
    client = env.client if isinstance(env, WorkflowEnvironment) else env
    queues = queues_for(task_queue)
    async with (
        build_worker(client, task_queue),
        activity_worker(client, queues.reviews, fakes.reviews_activities()),
        activity_worker(client, queues.rewards, fakes.rewards_activities()),
        activity_worker(client, queues.feedback, fakes.feedback_activities()),
    ):
        yield
        if isinstance(env, WorkflowEnvironment) and env.supports_time_skipping:
            await skip(env, timedelta(seconds=1))


# The SDK gives a skip the 30 s deadline of any call; a skip of weeks past many children's
# timers can take longer than that on a loaded 2-core machine ("Timeout expired").
SKIP_DEADLINE = timedelta(minutes=3)


async def skip(env: WorkflowEnvironment, duration: timedelta) -> None:
    """``env.sleep(duration)``, with a deadline long enough for the server to fire every timer on the way."""
    if not env.supports_time_skipping:
        await env.sleep(duration)
        return
    request = SleepRequest()
    request.duration.FromTimedelta(duration)
    await env.client.test_service.unlock_time_skipping_with_sleep(request, timeout=SKIP_DEADLINE)


async def start_review(
    client: Client, task_queue: str, cycle_schedule: CycleSchedule, *, cycle_id: str, person_id: str, **extra: Any
) -> ReviewHandle:
    """One person's review (manager ``m1`` unless ``extra`` says otherwise) on ``task_queue``,
    its activities on the queues ``serving`` gives the fakes."""
    value = EmployeeReviewInput(
        cycle_id=cycle_id,
        person_id=person_id,
        manager_id=extra.pop("manager_id", "m1"),
        hr_owner_id=HR,
        schedule=cycle_schedule,
        queues=queues_for(task_queue),
        **extra,
    )
    return await client.start_workflow(
        EmployeeReviewWorkflow.run, value, id=f"review-test-{uuid.uuid4()}", task_queue=task_queue
    )


async def eventually(check: Callable[[], Any], *, timeout: float = 10.0) -> None:
    """Poll (real time) until ``check()`` neither raises AssertionError nor returns False."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check() is not False:
                return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout}s")
        await asyncio.sleep(0.02)


async def eventually_async(check: Callable[[], Awaitable[Any]], *, timeout: float = 10.0) -> None:
    """Like ``eventually`` for a coroutine; an RPC error (a query that timed out) counts as not yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if await check() is not False:
                return
        except (AssertionError, RPCError):
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout}s")
        await asyncio.sleep(0.05)
