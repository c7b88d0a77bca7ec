"""The real reviews.* activities of the review-cycle workflows (contracts: workflows/activities.py).

``ReviewsActivities`` is the composition root: built once per worker with the reviews
database's sessionmaker, its bound methods are the activities. Each runs in one transaction
that stores its effect together with its idempotency key (the task id, or an
``activity_effects`` row) and its outbox event, so a retried activity changes nothing and
publishes nothing twice. Events carry ids, steps and statuses only: never answers or ratings'
comments.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from services.reviews.cycles.repository import CycleRepository, EffectRepository, TaskRepository
from services.reviews.cycles.review_starts import review_input, start_reviews
from services.reviews.cycles.service import CalibrationService, announce_completion
from services.reviews.directory.repository import PersonRepository
from services.reviews.events import outbox, task_event_data
from services.reviews.models import CycleParticipant, ReviewCycle, ReviewTask
from shared.calibration import PayApprovalOpened, pay_approval_event_id
from shared.database import create_engine, create_sessionmaker, utcnow
from shared.settings import Settings
from workflows.client import serving_activities
from workflows.models import (
    CalibrationSessions,
    CloseReviewInput,
    CreateTaskInput,
    CycleSchedule,
    EscalateGateInput,
    EscalateTaskInput,
    FirstTasksOpened,
    GateReminderInput,
    ListParticipantsInput,
    ManagerChain,
    ManagerChainInput,
    MarkPhaseInput,
    OpenCalibrationInput,
    OpenFirstTasksInput,
    Participant,
    ParticipantPage,
    Phase,
    RecordAndCreateTask,
    ReminderInput,
    ReviewsStarted,
    StartReviewsInput,
    Step,
    TaskRef,
    TaskStatus,
    UpdateTaskInput,
    review_workflow_id,
    task_id,
)


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ApplicationError(f"{what} is not an id", type="bad_input", non_retryable=True) from None


class ReviewsActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    @classmethod
    def from_settings(cls, settings: Settings) -> ReviewsActivities:
        return cls(create_sessionmaker(create_engine(settings.database_url("reviews"))))

    def all(self) -> Sequence[Callable[..., Any]]:
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

    async def _cycle(self, session: AsyncSession, cycle_id: str, *, for_update: bool = False) -> ReviewCycle:
        cycle = await CycleRepository.from_session(session).get(_uuid(cycle_id, "cycle_id"), for_update=for_update)
        if cycle is None:
            raise ApplicationError(f"no review cycle {cycle_id}", type="unknown_cycle", non_retryable=True)
        return cycle

    @activity.defn(name="reviews.list_participants")
    async def list_participants(self, value: ListParticipantsInput) -> ParticipantPage:
        after = None if value.page_token is None else _uuid(value.page_token, "page_token")
        async with self.sessionmaker() as session:
            cycle = await self._cycle(session, value.cycle_id)
            rows = await CycleRepository.from_session(session).participants_page(
                cycle.id, after=after, size=value.page_size + 1
            )
        more = len(rows) > value.page_size
        rows = rows[: value.page_size]
        return ParticipantPage(
            participants=[
                Participant(
                    person_id=str(row.person_id),
                    manager_id=None if row.manager_id is None else str(row.manager_id),
                    org_unit=row.org_unit,
                    final_rating=None if row.final_rating is None else str(row.final_rating),
                )
                for row in rows
            ],
            next_page_token=str(rows[-1].person_id) if more and rows else None,
        )

    @activity.defn(name="reviews.create_task")
    async def create_task(self, value: CreateTaskInput) -> TaskRef:
        async with self.sessionmaker() as session, session.begin():
            tasks = TaskRepository.from_session(session)
            if await tasks.get(value.task_id) is not None:
                return TaskRef(task_id=value.task_id, created=False)
            task = ReviewTask(
                id=value.task_id,
                cycle_id=_uuid(value.cycle_id, "cycle_id"),
                person_id=_uuid(value.person_id, "person_id"),
                step=value.step.value,
                assignee_id=_uuid(value.assignee_id, "assignee_id"),
                status=TaskStatus.open.value,
                due_at=value.due_at,
                workflow_id=value.workflow_id,
                escalations=[],
                revision=1,
            )
            if not await tasks.add(task):
                return TaskRef(task_id=value.task_id, created=False)
            outbox.add(session, "task", "created", task_event_data(task), subject=task.id)
        return TaskRef(task_id=value.task_id, created=True)

    @activity.defn(name="reviews.open_first_tasks")
    async def open_first_tasks(self, value: OpenFirstTasksInput) -> FirstTasksOpened:
        details = activity.info().heartbeat_details
        after = _uuid(str(details[0]), "heartbeat") if details else None
        created, participants = (int(details[1]), int(details[2])) if details else (0, 0)
        async with self.sessionmaker() as session:
            cycle_id = (await self._cycle(session, value.cycle_id)).id
        while True:
            async with self.sessionmaker() as session, session.begin():
                rows = await CycleRepository.from_session(session).participants_page(
                    cycle_id, after=after, size=value.batch_size
                )
                if not rows:
                    break
                tasks = TaskRepository.from_session(session)
                wanted = {task_id(value.cycle_id, str(row.person_id), Step.self_assessment): row for row in rows}
                existing = await tasks.existing_ids(list(wanted))
                new = [
                    ReviewTask(
                        id=tid,
                        cycle_id=cycle_id,
                        person_id=row.person_id,
                        step=Step.self_assessment.value,
                        assignee_id=row.person_id,
                        status=TaskStatus.open.value,
                        due_at=value.due_at,
                        workflow_id=review_workflow_id(value.cycle_id, str(row.person_id)),
                        escalations=[],
                        draft=None,
                        revision=1,
                        completed_by=None,
                        completed_at=None,
                        # The review counts its reminders from this instant: the inbox shows the same.
                        created_at=value.opened_at,
                        modified_at=None,
                    )
                    for tid, row in wanted.items()
                    if tid not in existing
                ]
                await tasks.add_many([_columns(task) for task in new])
                events = [outbox.event("task", "created", task_event_data(task), subject=task.id) for task in new]
                await outbox.add_many(session, events)
            created += len(new)
            participants += len(rows)
            after = rows[-1].person_id
            activity.heartbeat(str(after), created, participants)
            if len(rows) < value.batch_size:
                break
        return FirstTasksOpened(created=created, participants=participants)

    @activity.defn(name="reviews.start_reviews")
    async def start_reviews(self, value: StartReviewsInput) -> ReviewsStarted:
        cycle_id = _uuid(value.cycle_id, "cycle_id")
        more = False
        async with self.sessionmaker() as session:
            cycles = CycleRepository.from_session(session)
            if value.person_id is not None:
                row = await cycles.participant(cycle_id, _uuid(value.person_id, "person_id"))
                if row is None:
                    raise ApplicationError(
                        f"no participant {value.person_id}", type="unknown_participant", non_retryable=True
                    )
                rows = [row]
            else:
                after = None if value.page_token is None else _uuid(value.page_token, "page_token")
                # Removed participants too: their review was started (to close it) and reports its end.
                rows = await cycles.participants_page(
                    cycle_id, after=after, size=value.page_size + 1, current_only=False
                )
                more = len(rows) > value.page_size
                rows = rows[: value.page_size]
        current = [row for row in rows if row.closed_reason is None]
        ended = [str(row.person_id) for row in rows if row.closed_reason is not None and value.person_id is not None]
        if value.template.first_task_opened_at is not None and current:
            await self._move_first_deadlines(value.cycle_id, current, value.template.schedule)
        inputs = [review_input(value.cycle_id, row, value.template) for row in current]
        ended += await start_reviews(
            activity.client(),
            inputs,
            value.workflow_task_queue,
            value.window,
            lambda done: activity.heartbeat(done),
            keep_running=not value.join,
        )
        return ReviewsStarted(
            participants=len(rows),
            ended=sorted(ended),
            next_page_token=str(rows[-1].person_id) if more and rows else None,
        )

    async def _move_first_deadlines(
        self, cycle_id: str, participants: Sequence[CycleParticipant], schedule: CycleSchedule
    ) -> None:
        """Give bulk-written first tasks the deadline their reviews start with.

        A cycle-wide extension that comes between the bulk write and the start of a review is
        broadcast to reviews that do not exist yet; the review then starts with the new deadline,
        and this brings the inbox along. The revision stays 1 so the review's own updates apply.
        """
        due_at = schedule.of(Step.self_assessment).deadline
        ids = [task_id(cycle_id, str(row.person_id), Step.self_assessment) for row in participants]
        async with self.sessionmaker() as session, session.begin():
            moved = await TaskRepository.from_session(session).bulk_written_due_elsewhere(ids, due_at)
            for task in moved:
                task.due_at = due_at
                if task.status == TaskStatus.overdue.value and due_at > utcnow():
                    task.status = TaskStatus.open.value
            await session.flush()
            for task in moved:
                outbox.add(session, "task", "deadline-changed", task_event_data(task), subject=task.id)

    @activity.defn(name="reviews.update_task")
    async def update_task(self, value: UpdateTaskInput) -> None:
        async with self.sessionmaker() as session, session.begin():
            task = await TaskRepository.from_session(session).get(value.task_id, for_update=True)
            if task is None:
                # Created by an earlier activity of the same workflow: not there means not committed yet.
                raise ApplicationError(f"no task {value.task_id} yet", type="task_missing")
            if value.revision <= task.revision:
                return  # a retry, or older than what is stored
            task.revision = value.revision
            verbs: list[str] = []
            if value.assignee_id is not None and value.assignee_id != str(task.assignee_id):
                task.assignee_id = _uuid(value.assignee_id, "assignee_id")
                verbs.append("reassigned")
            if value.due_at is not None and value.due_at != task.due_at:
                task.due_at = value.due_at
                if task.status == TaskStatus.overdue.value and value.due_at > utcnow():
                    task.status = TaskStatus.open.value
                verbs.append("deadline-changed")
            completing = value.status is TaskStatus.done and task.status != TaskStatus.done.value
            if value.status is not None and value.status is not TaskStatus.done and value.status.value != task.status:
                task.status = value.status.value
                verbs.append(value.status.value)
            await session.flush()
            if completing:
                # The API marks an accepted completion done too, maybe after our read: only the
                # conditional write that wins announces it.
                actor = None if value.actor_id is None else _uuid(value.actor_id, "actor_id")
                if await TaskRepository.from_session(session).mark_done(task.id, actor, utcnow()):
                    verbs.append("completed")
                await session.refresh(task)
            for verb in verbs:
                if verb == "completed":
                    await announce_completion(session, task)
                else:
                    outbox.add(session, "task", verb, task_event_data(task), subject=task.id)

    @activity.defn(name="reviews.record_and_create_task")
    async def record_and_create_task(self, value: RecordAndCreateTask) -> TaskRef:
        # Each write keeps its own transaction and idempotency (a retry after the records
        # committed finds them stored): the saving is the workflow's round trip, not a commit.
        for record in value.records:
            await self.update_task(record)
        return await self.create_task(value.task)

    async def _announce_once(self, key: str, entity: str, verb: str, data: dict[str, object], subject: str) -> None:
        """One event per idempotency key: a retried activity never announces twice."""
        async with self.sessionmaker() as session, session.begin():
            if await EffectRepository.from_session(session).claim(key):
                outbox.add(session, entity, verb, data, subject=subject)

    @activity.defn(name="reviews.send_reminder")
    async def send_reminder(self, value: ReminderInput) -> None:
        data: dict[str, object] = {
            "task_id": value.task_id,
            "assignee_id": value.assignee_id,
            "due_at": value.due_at.isoformat(),
            "number": value.number,
        }
        await self._announce_once(value.idempotency_key, "task", "reminder-due", data, value.task_id)

    @activity.defn(name="reviews.manager_chain")
    async def manager_chain(self, value: ManagerChainInput) -> ManagerChain:
        async with self.sessionmaker() as session:
            chain = await PersonRepository.from_session(session).manager_chain(_uuid(value.person_id, "person_id"))
        levels = {level: person for person, level in chain}
        manager, skip = levels.get(1), levels.get(2)
        return ManagerChain(
            manager_id=str(manager.id) if manager is not None and manager.active else None,
            skip_level_id=str(skip.id) if skip is not None and skip.active else None,
        )

    @activity.defn(name="reviews.escalate_task")
    async def escalate_task(self, value: EscalateTaskInput) -> None:
        async with self.sessionmaker() as session, session.begin():
            if not await EffectRepository.from_session(session).claim(value.idempotency_key):
                return
            task = await TaskRepository.from_session(session).get(value.task_id, for_update=True)
            if task is None:
                raise ApplicationError(f"no task {value.task_id} yet", type="task_missing")
            entry: dict[str, object] = {
                "index": value.escalation_index,
                "target": value.target.value,
                "notified_id": value.notified_id,
                "fell_back_to_hr": value.fell_back_to_hr,
                "at": utcnow().isoformat(),
            }
            task.escalations = [*task.escalations, entry]
            if task.status in (TaskStatus.open.value, TaskStatus.overdue.value):
                task.status = TaskStatus.escalated.value
            await session.flush()
            data = {**task_event_data(task), **{k: v for k, v in entry.items() if k != "at"}}
            outbox.add(session, "task", "escalated", data, subject=task.id)

    @activity.defn(name="reviews.escalate_gate")
    async def escalate_gate(self, value: EscalateGateInput) -> None:
        data: dict[str, object] = {
            "cycle_id": value.cycle_id,
            "step": value.step.value,
            "escalation_index": value.escalation_index,
            "target": value.target.value,
            "notified_id": value.hr_owner_id,
            "pending": value.pending,
        }
        await self._announce_once(value.idempotency_key, "cycle", "gate-escalated", data, value.cycle_id)

    @activity.defn(name="reviews.remind_gate")
    async def remind_gate(self, value: GateReminderInput) -> None:
        data: dict[str, object] = {
            "cycle_id": value.cycle_id,
            "step": value.step.value,
            "number": value.number,
            "due_at": value.due_at.isoformat(),
            "notified_id": value.hr_owner_id,
            "pending": value.pending,
        }
        await self._announce_once(value.idempotency_key, "cycle", "gate-reminder-due", data, value.cycle_id)

    @activity.defn(name="reviews.close_review")
    async def close_review(self, value: CloseReviewInput) -> None:
        async with self.sessionmaker() as session, session.begin():
            if not await EffectRepository.from_session(session).claim(value.idempotency_key):
                return
            cycle_id, person_id = _uuid(value.cycle_id, "cycle_id"), _uuid(value.person_id, "person_id")
            participant = await CycleRepository.from_session(session).participant(cycle_id, person_id, for_update=True)
            if participant is not None:
                participant.closed_reason = value.reason.value
            closed = await TaskRepository.from_session(session).close_open(cycle_id, person_id)
            data = {
                "cycle_id": value.cycle_id,
                "person_id": value.person_id,
                "reason": value.reason.value,
                "tasks_closed": closed,
            }
            outbox.add(session, "review", "closed", data, subject=value.cycle_id)

    @activity.defn(name="reviews.mark_phase")
    async def mark_phase(self, value: MarkPhaseInput) -> None:
        async with self.sessionmaker() as session, session.begin():
            if not await EffectRepository.from_session(session).claim(value.idempotency_key):
                return
            cycle = await self._cycle(session, value.cycle_id, for_update=True)
            cycle.phase = value.phase.value
            if value.phase is Phase.closed:
                cycle.status = "cancelled" if value.cancelled else "closed"
            if value.close_open_tasks:
                await TaskRepository.from_session(session).close_open_of_cycle(cycle.id)
            await session.flush()
            data = {"cycle_id": value.cycle_id, "phase": value.phase.value}
            if value.cancelled:
                outbox.add(session, "cycle", "cancelled", data, subject=value.cycle_id)
            else:
                outbox.add(session, "cycle", "phase-opened", data, subject=value.cycle_id)
            if value.phase is Phase.pay_approval and not value.cancelled:
                units = await CycleRepository.from_session(session).org_units(cycle.id)
                opened = PayApprovalOpened(
                    cycle_id=cycle.id,
                    org_units=units,
                    hr_due=_date_of(cycle.schedule, Step.pay_approval),
                    manager_due=_date_of(cycle.schedule, Step.pay_review),
                )
                outbox.add(
                    session,
                    "cycle",
                    "pay-approval-opened",
                    opened.model_dump(mode="json"),
                    subject=value.cycle_id,
                    event_id=pay_approval_event_id(cycle.id),
                )

    @activity.defn(name="reviews.open_calibration")
    async def open_calibration(self, value: OpenCalibrationInput) -> CalibrationSessions:
        async with self.sessionmaker() as session, session.begin():
            cycle = await self._cycle(session, value.cycle_id, for_update=True)
            sessions = await CalibrationService(session).open_sessions(cycle)
            ids = [str(s.id) for s in sessions]
            if await EffectRepository.from_session(session).claim(value.idempotency_key):
                data = {"cycle_id": value.cycle_id, "sessions": len(ids)}
                outbox.add(session, "calibration", "opened", data, subject=value.cycle_id)
        return CalibrationSessions(session_ids=ids)


def serve_activities(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> AbstractAsyncContextManager[None]:
    """The service's activity worker on its own task queue (ServiceDefinition.activities)."""
    return serving_activities(settings, settings.temporal_reviews_task_queue, ReviewsActivities(sessionmaker).all())


def _columns(task: ReviewTask) -> dict[str, Any]:
    return {column.key: getattr(task, column.key) for column in ReviewTask.__table__.columns}


def _date_of(schedule: dict[str, Any], step: Step) -> Any:
    entry = schedule.get("steps", {}).get(step.value)
    if not entry:
        return None
    return datetime.fromisoformat(str(entry["deadline"])).date()
