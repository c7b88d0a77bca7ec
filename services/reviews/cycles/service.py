"""Rules of review cycles, the task inbox and calibration. Flushes, never commits, except:

the methods that then reach a workflow (``launch_and_start``, ``add_and_tell``, ``reassign``,
``SubmitService.submit``, ``finalize_and_tell``) commit the request's changes first, because
the workflow's activities read or write the same rows and no transaction may stay open across
a workflow round trip; they also own the short retries of a workflow that has not yet
recorded what the inbox shows. Routes (endpoints.py) neither commit nor retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from services.reviews.cycles.calibration_stats import BANDS, Band, Rated, band, leniency
from services.reviews.cycles.repository import (
    OPEN_STATUSES,
    UNASSIGNED_UNIT,
    CalibrationRepository,
    CycleRepository,
    DisputeRepository,
    TaskRepository,
    selection,
)
from services.reviews.cycles.review_starts import ReviewStart, first_task_start, update_review
from services.reviews.cycles.schemas import (
    AdjustmentKind,
    AdjustmentWrite,
    Answers,
    Bucket,
    CalibrationRow,
    CycleActivity,
    CycleRead,
    CycleWrite,
    DisputeOutcome,
    DisputeRaise,
    DisputeResolve,
    FormGoal,
    FormItem,
    FormScalePoint,
    FormSection,
    NineBoxCell,
    NineBoxRead,
    ParticipantRead,
    RaterRead,
    RatersRead,
    ScoreLineage,
    TaskForm,
    TaskRead,
    score_path,
)
from services.reviews.cycles.temporal import UpdateRefused, deliver
from services.reviews.directory.repository import PersonRepository
from services.reviews.drafts.repository import DraftRepository
from services.reviews.events import outbox, task_event_data
from services.reviews.models import (
    CalibrationAdjustment,
    CalibrationSession,
    CycleParticipant,
    RatingDispute,
    RatingScale,
    ReviewCycle,
    ReviewTask,
)
from services.reviews.templates.schemas import Respondent, ScalePoint, Section
from services.reviews.templates.scoring import (
    Rating,
    ScoreRecord,
    ScoringError,
    TemplateSpec,
    components_from_ratings,
    replay,
    score_review,
)
from services.reviews.templates.service import TemplateService, frozen_scales, sections_of
from shared.auth import Principal, Role
from shared.calibration import RatingFinalized, rating_event_id
from shared.cycles import chunk_request
from shared.database import utcnow
from shared.errors import Conflict, Forbidden, NotFound, ServiceUnavailable, ValidationFailed
from shared.settings import Settings
from shared.upward_feedback import FOLLOWED_STEP, CycleDeadlineExtended, UpwardFeedbackPlan, scope_chunks
from workflows.client import UpdateRefusal, activity_queues
from workflows.employee_review import EmployeeReviewWorkflow
from workflows.handles import cycle_handle, review_handle
from workflows.models import (
    PEER_STEPS,
    AddParticipant,
    CompleteTask,
    CycleAck,
    CycleConfig,
    CycleSchedule,
    Participant,
    PeerFeedbackPlan,
    Phase,
    ReassignTask,
    Refusal,
    ReviewCycleInput,
    SessionFinalized,
    Step,
    StepSchedule,
    TaskResult,
    TaskStatus,
    cycle_workflow_id,
)
from workflows.review_cycle import ReviewCycleWorkflow

DEFAULT_POINTS: list[dict[str, object]] = [
    {"value": 1, "label": "Unsatisfactory"},
    {"value": 2, "label": "Needs improvement"},
    {"value": 3, "label": "Meets expectations"},
    {"value": 4, "label": "Exceeds expectations"},
    {"value": 5, "label": "Outstanding"},
]
PEER_STEP_VALUES = frozenset(step.value for step in PEER_STEPS)
# 360 tasks whose answer is a list of peers (ids only, sent on to the review).
PEER_LIST_STEPS = frozenset({Step.peer_nomination.value, Step.peer_approval.value})
STEP_RESPONDENT: dict[str, Respondent] = {
    Step.self_assessment.value: Respondent.self,
    Step.manager_review.value: Respondent.manager,
}


# The task step each phase opens for every participant (calibration opens sessions instead).
PHASE_TASK_STEP: dict[Phase, Step] = {
    Phase.self_assessment: Step.self_assessment,
    Phase.manager_review: Step.manager_review,
    Phase.pay_approval: Step.pay_review,
    Phase.acknowledgement: Step.acknowledgement,
}


def is_hr(principal: Principal) -> bool:
    return principal.has_any(Role.hr, Role.admin)


def points_of(cycle: ReviewCycle) -> list[tuple[Decimal, str]]:
    return [(Decimal(str(point["value"])), str(point["label"])) for point in cycle.rating_points]


DEFAULT_POTENTIAL: list[dict[str, object]] = [
    {"value": 1, "label": "Low"},
    {"value": 2, "label": "Moderate"},
    {"value": 3, "label": "High"},
]


def potential_points_of(cycle: ReviewCycle) -> list[tuple[Decimal, str]]:
    points = cycle.potential_points or DEFAULT_POTENTIAL
    return [(Decimal(str(point["value"])), str(point["label"])) for point in points]


def nearest_point(points: list[tuple[Decimal, str]], score: float) -> Decimal:
    """The scale point a 0-100 score maps to (linear over the scale, then the nearest point)."""
    low, high = points[0][0], points[-1][0]
    target = low + (high - low) * Decimal(str(score)) / Decimal(100)
    return min((value for value, _ in points), key=lambda value: (abs(value - target), -value))


def label_of(points: list[tuple[Decimal, str]], value: Decimal | None) -> str | None:
    return next((label for point, label in points if value is not None and point == value), None)


def guideline_for(
    points: list[dict[str, object]], given: dict[str, float] | None, default: list[float]
) -> dict[str, float]:
    labels = [str(point["label"]) for point in points]
    if given is not None:
        unknown = sorted(set(given) - set(labels))
        if unknown:
            raise ValidationFailed.field("guideline", f"not labels of the rating scale: {', '.join(unknown)}")
        return {label: float(given.get(label, 0.0)) for label in labels}
    if len(default) == len(labels):
        return dict(zip(labels, default, strict=True))
    share = round(100.0 / len(labels), 2)
    return dict.fromkeys(labels, share)


def config_of(cycle: ReviewCycle, settings: Settings) -> CycleConfig:
    return CycleConfig(
        cycle_id=str(cycle.id),
        hr_owner_id=str(cycle.hr_owner_id),
        schedule=CycleSchedule.model_validate(cycle.schedule),
        queues=activity_queues(settings),
    )


# What a participant's review ended with when nothing closed it early: reviews.close_review
# stores a reason only for a review closed before its end (left, removed, cancelled); one that
# runs to the cycle's close ends with its workflow and writes nothing, so the read side says so.
ENDED_WITH_CYCLE = {"closed": "completed", "cancelled": "cancelled"}


def closed_reason_of(cycle: ReviewCycle, participant: CycleParticipant) -> str | None:
    return participant.closed_reason or ENDED_WITH_CYCLE.get(cycle.status)


def publish_final_rating(
    session: AsyncSession, cycle: ReviewCycle, participant: CycleParticipant, at: datetime
) -> None:
    """A new version of the person's final rating, announced once (the version is in the event id)."""
    assert participant.final_rating is not None
    points = points_of(cycle)
    participant.rating_version += 1
    data = RatingFinalized(
        cycle_id=cycle.id,
        person_id=participant.person_id,
        rating=participant.final_rating,
        scale_min=points[0][0],
        scale_max=points[-1][0],
        rating_label=label_of(points, participant.final_rating),
        org_unit=participant.org_unit,
        manager_id=participant.manager_id,
        finalized_at=at,
        version=participant.rating_version,
    )
    outbox.add(
        session,
        "rating",
        "finalized",
        data.model_dump(mode="json"),
        subject=str(participant.person_id),
        event_id=rating_event_id(cycle.id, participant.person_id, participant.rating_version),
    )


def task_read(task: ReviewTask, now: datetime | None = None) -> TaskRead:
    read = TaskRead.model_validate(task)
    read.overdue = task.status in OPEN_STATUSES and task.due_at < (now or utcnow())
    return read


# --- cycles ----------------------------------------------------------------------------------


class CycleService:
    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self.cycles = CycleRepository.from_session(session)
        self.people = PersonRepository.from_session(session)

    async def get(self, cycle_id: uuid.UUID, *, for_update: bool = False) -> ReviewCycle:
        cycle = await self.cycles.get(cycle_id, for_update=for_update)
        if cycle is None:
            raise NotFound(f"No review cycle {cycle_id}.")
        return cycle

    async def create(self, data: CycleWrite, by: uuid.UUID) -> ReviewCycle:
        try:
            await TemplateService(self.session).scoring_spec(data.template_id)
        except NotFound:
            raise ValidationFailed.field("template_id", f"no review template {data.template_id}") from None
        except Conflict:
            raise ValidationFailed.field("template_id", "the template is a draft: publish it first") from None
        points = DEFAULT_POINTS
        if data.rating_scale_id is not None:
            scale = await self.session.get(RatingScale, data.rating_scale_id)
            if scale is None:
                raise ValidationFailed.field("rating_scale_id", f"no rating scale {data.rating_scale_id}")
            points = [{"value": p["value"], "label": p["label"]} for p in scale.points]
        guideline = guideline_for(points, data.guideline, self.settings.cycle_default_guideline)
        template = await TemplateService(self.session).get(data.template_id)
        peers = None if template.peer_feedback is None else PeerFeedbackPlan.model_validate(template.peer_feedback)
        schedule = self._schedule(data, peers)
        upward = self._upward_feedback(data)
        cycle = ReviewCycle(
            name=data.name,
            period_start=data.period_start,
            period_end=data.period_end,
            template_id=data.template_id,
            rating_scale_id=data.rating_scale_id,
            rating_points=points,
            potential_points=(
                DEFAULT_POTENTIAL
                if data.potential_scale is None
                else [{"value": float(p.value), "label": p.label} for p in data.potential_scale]
            ),
            guideline=guideline,
            filters=data.filters.model_dump(mode="json", exclude_none=True),
            schedule=schedule.model_dump(mode="json"),
            status="draft",
            hr_owner_id=data.hr_owner_id or by,
            created_by=by,
            participant_count=0,
            upward_feedback=None if upward is None else upward.model_dump(mode="json"),
        )
        # An unknown manager would otherwise surface only when HR launches the cycle.
        await self._where(cycle)
        return await self.cycles.add(cycle)

    def _upward_feedback(self, data: CycleWrite) -> UpwardFeedbackPlan | None:
        """Upward feedback closes after the launch and by the cycle's end, with k at least feedback's own."""
        option = data.upward_feedback
        if option is None:
            return None
        closes_at = option.closes_at or data.deadlines.self_assessment
        if closes_at <= utcnow():
            raise ValidationFailed.field("upward_feedback.closes_at", "must be in the future (after the launch)")
        if closes_at > data.deadlines.acknowledgement:
            raise ValidationFailed.field(
                "upward_feedback.closes_at", "must come by the acknowledgement deadline (the end of the cycle)"
            )
        least = max(3, self.settings.feedback_peer_min_raters)
        if option.min_raters < least:
            raise ValidationFailed.field("upward_feedback.min_raters", f"must be at least {least} (feedback's minimum)")
        follows = FOLLOWED_STEP if option.closes_at is None else None
        return UpwardFeedbackPlan(closes_at=closes_at, min_raters=option.min_raters, follows=follows)

    def deadline_extended(self, cycle_id: uuid.UUID, step: str, deadline: datetime) -> None:
        """Tell the other services a step's deadline moved for the whole cycle (feedback's pulse may follow)."""
        data = CycleDeadlineExtended(cycle_id=cycle_id, step=step, deadline=deadline).model_dump(mode="json")
        outbox.add(self.session, "cycle", "deadline-extended", data, subject=str(cycle_id))

    @staticmethod
    def _schedule(data: CycleWrite, peers: PeerFeedbackPlan | None = None) -> CycleSchedule:
        deadlines = data.deadlines
        at: dict[Step, datetime] = {
            Step.self_assessment: deadlines.self_assessment,
            Step.manager_review: deadlines.manager_review,
            Step.calibration: deadlines.calibration,
            Step.pay_review: deadlines.pay_approval,
            Step.pay_approval: deadlines.pay_approval,
            Step.acknowledgement: deadlines.acknowledgement,
        }
        if peers is not None:
            at[Step.peer_nomination] = deadlines.peer_nomination or deadlines.self_assessment
            at[Step.peer_approval] = deadlines.peer_approval or deadlines.self_assessment
            at[Step.peer_review] = deadlines.peer_review or deadlines.self_assessment
        grace = timedelta(hours=data.grace_hours)
        policy = data.policy()
        if policy.escalation and policy.escalation[-1].after > grace:
            raise ValidationFailed.field("escalation", "every escalation must come within grace_hours")
        return CycleSchedule(
            steps={step: StepSchedule(deadline=when, closes_after=grace, policy=policy) for step, when in at.items()},
            peer_feedback=peers,
        )

    async def _where(self, cycle: ReviewCycle) -> Any:
        given = cycle.filters.get("manager_subtrees")
        managers = [uuid.UUID(str(value)) for value in given] if isinstance(given, list) else []
        paths = await self.cycles.manager_paths(managers) if managers else {}
        missing = [str(m) for m in managers if m not in paths]
        if missing:
            raise ValidationFailed.field("filters.manager_subtrees", f"no such people: {', '.join(missing)}")
        return selection(cycle.filters, list(paths.values()))

    async def preview_count(self, cycle_id: uuid.UUID) -> int:
        cycle = await self.get(cycle_id)
        return await self.cycles.count_selected(await self._where(cycle))

    async def launch(self, cycle_id: uuid.UUID) -> tuple[ReviewCycle, bool]:
        """Snapshot the participants (once); True when this call launched it."""
        cycle = await self.get(cycle_id, for_update=True)
        if cycle.status == "launched":
            return cycle, False
        if cycle.status != "draft":
            raise Conflict(f"The cycle is {cycle.status}; only a draft can be launched.")
        upward = None if cycle.upward_feedback is None else UpwardFeedbackPlan.model_validate(cycle.upward_feedback)
        if upward is not None and upward.closes_at <= utcnow():
            # A pulse that closed before anyone could answer would release nothing.
            raise ValidationFailed.field("upward_feedback.closes_at", "has passed: the cycle can no longer ask for it")
        count = await self.cycles.snapshot(cycle.id, await self._where(cycle))
        if count == 0:
            raise ValidationFailed.field("filters", "nobody active matches the filters")
        cycle.status, cycle.phase, cycle.launched_at, cycle.participant_count = "launched", None, utcnow(), count
        await self.session.flush()
        ids = [p.person_id for p in (await self.cycles.participants(cycle.id))[0]]
        for request in chunk_request(cycle.id, cycle.period_start, cycle.period_end, ids):
            outbox.add(
                self.session, "cycle", "goal-scores-requested", request.model_dump(mode="json"), subject=str(cycle.id)
            )
        launched: dict[str, Any] = {"cycle_id": str(cycle.id), "participants": count}
        if upward is not None:
            launched["upward_feedback"] = upward.model_dump(mode="json")
            for scope in scope_chunks(cycle.id, ids):
                self._upward_scope(scope.model_dump(mode="json"), cycle.id)
        outbox.add(self.session, "cycle", "launched", launched, subject=str(cycle.id))
        return cycle, True

    def _upward_scope(self, data: dict[str, Any], cycle_id: uuid.UUID) -> None:
        outbox.add(self.session, "cycle", "upward-feedback-scoped", data, subject=str(cycle_id))

    async def launch_and_start(self, cycle_id: uuid.UUID, client: Client) -> ReviewCycle:
        """Launch (committed: the workflow's first activity reads the participants), then start
        the cycle's workflow unless it runs already."""
        cycle, _ = await self.launch(cycle_id)
        await self.session.commit()
        try:
            await client.start_workflow(
                ReviewCycleWorkflow.run,
                ReviewCycleInput(config=config_of(cycle, self.settings)),
                id=cycle_workflow_id(str(cycle.id)),
                task_queue=self.settings.temporal_task_queue,
            )
        except WorkflowAlreadyStartedError:
            pass
        except RPCError as exc:
            raise ServiceUnavailable("The cycle is saved but its workflow could not start; launch it again.") from exc
        return cycle

    async def add_and_tell(
        self, cycle_id: uuid.UUID, person_id: uuid.UUID, actor_id: uuid.UUID, client: Client
    ) -> CycleAck:
        """Add the participant (committed: the cycle reads them from the table), then tell the cycle."""
        participant = await self.add_participant(cycle_id, person_id)
        await self.session.commit()
        handle = cycle_handle(client, cycle_workflow_id(str(cycle_id)))
        update = AddParticipant(participant=participant, actor_id=str(actor_id))
        return await deliver(self.settings, handle.execute_update(ReviewCycleWorkflow.add_participant, update))

    async def add_participant(self, cycle_id: uuid.UUID, person_id: uuid.UUID) -> Participant:
        cycle = await self.get(cycle_id, for_update=True)
        if cycle.status != "launched":
            raise Conflict(f"The cycle is {cycle.status}: participants join a launched cycle.")
        person = await self.people.get(person_id)
        if person is None or not person.active:
            raise ValidationFailed.field("person_id", "no active person with this id")
        found = await self.cycles.participant(cycle.id, person_id, for_update=True)
        if found is not None and found.closed_reason is None:
            raise Conflict("The person already takes part in this cycle.", reason="already_participant")
        if found is None:
            found = CycleParticipant(
                cycle_id=cycle.id,
                person_id=person_id,
                manager_id=person.manager_id,
                org_unit=person.department or UNASSIGNED_UNIT,
                goal_score_revision=0,
                peer_score_revision=0,
                rating_version=0,
            )
            await self.cycles.add_participant(found)
            cycle.participant_count += 1
        else:
            found.closed_reason = None
        await self.session.flush()
        if cycle.upward_feedback is not None:
            # Feedback learns who may answer from events only: one more id for the cycle's pulse.
            (scope,) = scope_chunks(cycle.id, [person_id])
            self._upward_scope(scope.model_dump(mode="json"), cycle.id)
        return Participant(
            person_id=str(person_id),
            manager_id=None if found.manager_id is None else str(found.manager_id),
            org_unit=found.org_unit,
        )

    async def read(self, cycle: ReviewCycle) -> CycleRead:
        """The cycle with its background activity (after launch)."""
        read = CycleRead.model_validate(cycle)
        if cycle.status != "draft":
            read.activity = await self.activity(cycle)
        else:
            # A draft stored before its managers were checked has no count: launch names the unknown one.
            with contextlib.suppress(ValidationFailed):
                read.matching_now = await self.cycles.count_selected(await self._where(cycle))
        return read

    async def activity(self, cycle: ReviewCycle) -> CycleActivity:
        counts = await self.cycles.activity_counts(cycle.id)
        created = await TaskRepository.from_session(self.session).created_per_step(cycle.id)
        phase = None if cycle.phase is None else Phase(cycle.phase)
        step = None if phase is None else PHASE_TASK_STEP.get(phase)
        expected = None if step is None else counts["participants"]
        if cycle.status == "launched" and phase is None:
            settled = False  # the workflow has not marked its first phase yet
        elif step is not None:
            settled = created.get(step.value, 0) >= counts["participants"]
        elif phase is Phase.calibration:
            settled = counts["calibration_sessions"] > 0
        else:
            settled = True
        return CycleActivity(
            participants=counts["participants"],
            tasks_created=created,
            phase_step=step,
            phase_tasks_expected=expected,
            goal_scores_received=counts["goal_scores"],
            peer_scores_received=counts["peer_scores"],
            scored=counts["scored"],
            calibration_sessions=counts["calibration_sessions"],
            calibration_sessions_final=counts["calibration_sessions_final"],
            ratings_published=counts["ratings_published"],
            settled=settled,
        )

    async def participant_reads(self, cycle: ReviewCycle, rows: list[CycleParticipant]) -> list[ParticipantRead]:
        """Participants with each one's outcome: the stored close reason, else what the cycle's end implies."""
        statuses = await TaskRepository.from_session(self.session).statuses_of(cycle.id, [p.person_id for p in rows])
        reads = []
        for row in rows:
            read = ParticipantRead.model_validate(row)
            read.closed_reason = closed_reason_of(cycle, row)
            read.tasks = statuses.get(row.person_id, {})
            reads.append(read)
        return reads

    async def require_participant(self, cycle_id: uuid.UUID, person_id: uuid.UUID) -> CycleParticipant:
        found = await self.cycles.participant(cycle_id, person_id)
        if found is None:
            raise NotFound(f"Person {person_id} does not take part in cycle {cycle_id}.")
        return found

    async def progress_by_unit(
        self, cycle_id: uuid.UUID
    ) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, dict[str, int]]]]:
        await self.get(cycle_id)
        total: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        units: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
        for unit, step, status, late, count in await TaskRepository.from_session(self.session).counts(
            cycle_id, utcnow()
        ):
            shown = "overdue" if status == "open" and late else status
            total[step][shown] += count
            units[unit][step][shown] += count
        return (
            {step: dict(statuses) for step, statuses in total.items()},
            {unit: {step: dict(s) for step, s in steps.items()} for unit, steps in units.items()},
        )


# --- inbox -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskAccess:
    task: ReviewTask
    may_write: bool


class InboxService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.tasks = TaskRepository.from_session(session)
        self.cycles = CycleRepository.from_session(session)
        self.people = PersonRepository.from_session(session)

    async def access(self, task_id: str, principal: Principal) -> TaskAccess:
        """The assignee writes; HR and the managers above the person read; others get 404."""
        task = await self.tasks.get(task_id)
        if task is None:
            raise NotFound(f"No task {task_id}.")
        if task.assignee_id == principal.person_id:
            return TaskAccess(task, True)
        if is_hr(principal):
            return TaskAccess(task, False)
        if principal.has_any(Role.manager) and principal.person_id in await self.people.manager_chain_ids(
            task.person_id
        ):
            return TaskAccess(task, False)
        raise NotFound(f"No task {task_id}.")  # not yours: do not even confirm it exists

    async def page(
        self,
        principal: Principal,
        *,
        scope: str,
        step: Step | None,
        cycle_id: uuid.UUID | None,
        overdue: bool | None,
        limit: int,
        offset: int,
        statuses: list[str] | None = None,
        person_id: uuid.UUID | None = None,
    ) -> tuple[list[ReviewTask], int]:
        """Open tasks by deadline (the inbox) or, with ``statuses``, any status newest first (history).

        ``statuses`` is a list of task statuses, ``[]`` meaning every status.
        """
        now = utcnow()
        common: dict[str, Any] = {
            "step": None if step is None else step.value,
            "cycle_id": cycle_id,
            "overdue": overdue,
            "now": now,
            "limit": limit,
            "offset": offset,
        }
        if scope == "mine":
            where: dict[str, Any] = {"assignee_id": principal.person_id}
        elif scope == "reports":
            if not (principal.has_any(Role.manager) or is_hr(principal)):
                raise Forbidden("Only managers, HR and admins may list their reports' tasks.")
            ids = await self.people.report_ids(principal.person_id)
            where = {"person_ids": ReviewTask.person_id.in_(list(ids))}
        elif is_hr(principal):
            where = {}
        else:
            raise Forbidden("Only HR and admins may list every task.")
        if statuses is None and person_id is None:
            return await self.tasks.page(**where, **common)
        return await self.tasks.search(
            **where,
            **common,
            person_id=person_id,
            statuses=(list(OPEN_STATUSES) if statuses is None else statuses) or None,
        )

    async def _spec(self, cycle: ReviewCycle) -> TemplateSpec:
        return await TemplateService(self.session).scoring_spec(cycle.template_id)

    async def form(self, access: TaskAccess) -> TaskForm:
        task = access.task
        cycle = await self.cycles.get(task.cycle_id)
        assert cycle is not None
        template = await TemplateService(self.session).get(cycle.template_id)
        scales = frozen_scales(template)
        participant = await self.cycles.participant(task.cycle_id, task.person_id)
        respondent = STEP_RESPONDENT.get(task.step)
        sections = [
            self._section(section, scales)
            for section in sections_of(template)
            if respondent is None or section.answered_by.value in (respondent.value, "both")
        ]
        if task.step in PEER_STEP_VALUES:
            sections = []  # a list of peers, or answered in the feedback service: no template section
        others = {other.step: other for other in await self.tasks.of_person(task.cycle_id, task.person_id)}
        form = TaskForm(
            task=task_read(task),
            sections=sections,
            goal_score=None if participant is None else participant.goal_score,
            goals=[FormGoal.model_validate(goal) for goal in (participant.goal_inputs or [])] if participant else [],
            peer_score=None if participant is None else participant.peer_score,
            peer_rater_count=None if participant is None else participant.peer_rater_count,
            draft=None if task.draft is None else Answers.model_validate(task.draft),
        )
        form.drafts_generated, form.draft_generated_at = await DraftRepository.from_session(self.session).generated(
            task.id
        )
        own = others.get(Step.self_assessment.value)
        if task.step == Step.manager_review.value and own is not None and own.status == "done" and own.draft:
            form.self_assessment = Answers.model_validate(own.draft)
        if task.step == Step.acknowledgement.value and participant is not None:
            review = others.get(Step.manager_review.value)
            if review is not None and review.status == "done" and review.draft:
                form.manager_review = Answers.model_validate(review.draft)
            form.final_rating = participant.final_rating
            form.final_rating_label = label_of(points_of(cycle), participant.final_rating)
            form.score_url = score_path(cycle.id, participant.person_id)
        return form

    @staticmethod
    def _section(section: Section, scales: dict[uuid.UUID, tuple[str, list[ScalePoint]]]) -> FormSection:
        items = []
        for item in section.items:
            scale = scales.get(item.scale_id) if item.scale_id is not None else None
            items.append(
                FormItem(
                    key=item.key,
                    kind=item.kind.value,
                    text=item.text or item.name,
                    name=item.name,
                    company_value=item.company_value,
                    behaviours=item.behaviours,
                    required=bool(item.required),
                    weight=item.weight,
                    scale_name=None if scale is None else scale[0],
                    scale=None if scale is None else [FormScalePoint.model_validate(p.model_dump()) for p in scale[1]],
                )
            )
        return FormSection(
            key=section.key,
            title=section.title,
            description=section.description,
            kind=section.kind.value,
            weight=section.weight,
            answered_by=section.answered_by,
            items=items,
        )

    async def check_answers(self, task: ReviewTask, answers: Answers, *, final: bool) -> None:
        """Refuse answers the template cannot take (422 naming ``answers[i].value``)."""
        if answers.dispute:
            if task.step != Step.acknowledgement.value:
                raise ValidationFailed.field("dispute", "only an acknowledgement can dispute the final rating")
            if not (answers.comment or "").strip():
                raise ValidationFailed.field("comment", "a dispute needs a comment that says why")
        if task.step == Step.peer_review.value:
            raise Conflict(
                "A peer review is answered in the feedback service (POST /peer-reviews/{task_id}/answer), "
                "so its text never reaches this service.",
                reason="answered_in_feedback",
            )
        if task.step in PEER_LIST_STEPS:
            await self._check_peers(task, answers, final=final)
        elif answers.peer_ids is not None:
            raise ValidationFailed.field("peer_ids", "only a peer nomination or approval names peers")
        respondent = STEP_RESPONDENT.get(task.step)
        if respondent is None:
            if answers.answers:
                raise ValidationFailed.field("answers", f"a {task.step} task takes only a comment")
            return
        cycle = await self.cycles.get(task.cycle_id)
        assert cycle is not None
        spec = await self._spec(cycle)
        ratings = [Rating(a.item, respondent, a.value) for a in answers.answers if a.value is not None]
        try:
            components_from_ratings(spec, ratings)
        except ScoringError as exc:
            field = exc.field.replace("ratings", "answers")
            raise ValidationFailed.field(field, exc.message) from None
        if final:
            given = {a.item for a in answers.answers if a.value is not None or a.comment}
            missing = [
                item.key
                for section in spec.sections
                if section.answered_by.value in (respondent.value, "both")
                for item in section.items
                if item.required and item.key not in given
            ]
            if missing:
                raise ValidationFailed.field("answers", f"required items unanswered: {', '.join(missing)}")

    async def _check_peers(self, task: ReviewTask, answers: Answers, *, final: bool) -> None:
        """Who may be a peer rater: an active colleague, never the subject, a manager above them or the HR owner."""
        cycle = await self.cycles.get(task.cycle_id)
        assert cycle is not None
        plan = CycleSchedule.model_validate(cycle.schedule).peer_feedback
        if plan is None:  # a peer task exists only in a 360 cycle
            raise ValidationFailed.field("peer_ids", "this cycle asks for no peer feedback")
        peers = answers.peer_ids or []
        if len(set(peers)) != len(peers):
            raise ValidationFailed.field("peer_ids", "a peer is named twice")
        if len(peers) > plan.max_peers:
            raise ValidationFailed.field("peer_ids", f"at most {plan.max_peers} peers")
        if final and task.step == Step.peer_nomination.value and len(peers) < plan.min_peers:
            raise ValidationFailed.field("peer_ids", f"nominate at least {plan.min_peers} peers")
        # The managers above read the manager-review form with the aggregate in it.
        excluded = {task.person_id, cycle.hr_owner_id, *await self.people.manager_chain_ids(task.person_id)}
        participant = await self.cycles.participant(task.cycle_id, task.person_id)
        if participant is not None and participant.manager_id is not None:
            excluded.add(participant.manager_id)
        for index, peer_id in enumerate(peers):
            if peer_id in excluded:
                raise ValidationFailed.field(
                    f"peer_ids.{index}", "the person reviewed, their manager and HR are never peer raters"
                )
            person = await self.people.get(peer_id)
            if person is None or not person.active:
                raise ValidationFailed.field(f"peer_ids.{index}", "no active person with this id")

    async def save_draft(self, access: TaskAccess, answers: Answers, *, final: bool = False) -> ReviewTask:
        task = access.task
        if not access.may_write:
            raise Forbidden("Only the task's assignee may write its answers.")
        if task.status not in OPEN_STATUSES:
            raise Conflict(f"The task is {task.status}; its answers can no longer change.", reason="task_done")
        await self.check_answers(task, answers, final=final)
        task.draft = answers.model_dump(mode="json")
        await self.session.flush()
        return task

    async def reassign(
        self, task_id: str, assignee_id: uuid.UUID, hr: Principal, settings: Settings, client: Client
    ) -> ReviewTask:
        """HR gives a task to someone else: the review decides, its activity writes the inbox."""
        access = await self.access(task_id, hr)
        if access.task.step == Step.peer_review.value:
            # Only the peers the manager approved answer: another person would join as a rater.
            raise Conflict("A peer review belongs to the approved peer; it cannot be reassigned.", reason="peer_task")
        if await self.people.get(assignee_id) is None:
            raise ValidationFailed.field("new_assignee_id", "no such person")
        handle = review_handle(client, access.task.workflow_id)
        update = ReassignTask(task_id=task_id, new_assignee_id=str(assignee_id), actor_id=str(hr.person_id))
        await self.session.commit()  # the reassignment activity writes this task
        await deliver(settings, handle.execute_update(EmployeeReviewWorkflow.reassign_task, update))
        await self.session.refresh(access.task)
        return access.task

    async def record_completion(self, task: ReviewTask, actor_id: uuid.UUID) -> None:
        """Show a completion the workflow accepted at once; its activity finds it done and adds nothing.

        Whichever of the two writes first marks the task done and announces it, so
        ``task.completed`` is published once. ``task`` is read again either way.
        """
        marked = await self.tasks.mark_done(task.id, actor_id, utcnow())
        await self.session.refresh(task)
        if marked:
            await announce_completion(self.session, task)


async def announce_completion(session: AsyncSession, task: ReviewTask) -> None:
    """What follows once a task is done, from whichever writer marked it: the API or the activity."""
    outbox.add(session, "task", "completed", task_event_data(task), subject=task.id)
    if task.step == Step.acknowledgement.value and task.draft and task.draft.get("dispute"):
        await DisputeService(session).open(task)


# --- rating disputes -------------------------------------------------------------------------

# How long HR has to answer a dispute.
DISPUTE_DAYS = 14
# How long after submitting the acknowledgement without a dispute the employee may still raise one.
LATE_DISPUTE_DAYS = 30


class DisputeService:
    """An employee disagrees with their final rating; HR upholds it or amends it, on the record.

    Readers: HR and admins; the person; the managers above the person. Anyone else (and
    anyone inactive in the directory) gets 404. Only HR and admins resolve.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.disputes = DisputeRepository.from_session(session)
        self.cycles = CycleRepository.from_session(session)
        self.people = PersonRepository.from_session(session)

    async def open(self, task: ReviewTask, reason: str | None = None) -> RatingDispute:
        """Once per acknowledgement task (its id is unique among disputes)."""
        found = await self.disputes.of_task(task.id)
        if found is not None:
            return found
        cycle = await self.cycles.get(task.cycle_id)
        participant = await self.cycles.participant(task.cycle_id, task.person_id)
        assert cycle is not None
        dispute = await self.disputes.add(
            RatingDispute(
                cycle_id=task.cycle_id,
                person_id=task.person_id,
                task_id=task.id,
                assignee_id=cycle.hr_owner_id,
                status="open",
                due_at=utcnow() + timedelta(days=DISPUTE_DAYS),
                disputed_rating=None if participant is None else participant.final_rating,
                reason=reason,
            )
        )
        outbox.add(self.session, "dispute", "opened", dispute_event_data(dispute), subject=str(dispute.id))
        return dispute

    async def raise_late(self, data: DisputeRaise, principal: Principal) -> RatingDispute:
        """The employee disputes after submitting the acknowledgement without a dispute, within
        ``LATE_DISPUTE_DAYS``. Anyone else's task, or a task that is none, is the same 404."""
        # Locked first: of two requests at once, the second finds the first one's dispute.
        task = await TaskRepository.from_session(self.session).locked(data.task_id)
        if not await self._active(principal):
            raise Forbidden("Your directory record is deactivated.")
        if task is None or task.person_id != principal.person_id or task.step != Step.acknowledgement.value:
            raise NotFound(f"No acknowledgement {data.task_id} of yours.")
        if await self.disputes.of_task(task.id) is not None:
            raise Conflict("This rating is disputed already.", reason="dispute_exists")
        if task.status != TaskStatus.done.value or task.completed_at is None:
            raise Conflict(
                "The acknowledgement is not submitted: dispute the rating on it.", reason="acknowledgement_open"
            )
        if utcnow() > task.completed_at + timedelta(days=LATE_DISPUTE_DAYS):
            raise Conflict(
                f"A rating can be disputed up to {LATE_DISPUTE_DAYS} days after its acknowledgement.",
                reason="dispute_window_closed",
            )
        return await self.open(task, reason=data.reason)

    async def get(self, dispute_id: uuid.UUID, principal: Principal) -> RatingDispute:
        dispute = await self.disputes.get(dispute_id)
        if dispute is None or not await self._may_read(dispute.person_id, principal):
            raise NotFound(f"No dispute {dispute_id}.")
        return dispute

    async def page(
        self,
        principal: Principal,
        *,
        status: str | None,
        cycle_id: uuid.UUID | None,
        person_id: uuid.UUID | None,
        limit: int,
        offset: int,
        overdue: bool | None = None,
    ) -> tuple[list[RatingDispute], int]:
        if not await self._active(principal):
            return [], 0
        readable: list[uuid.UUID] | None = None
        if not is_hr(principal):
            readable = [principal.person_id]
            if principal.has_any(Role.manager):
                readable += list(await self.people.report_ids(principal.person_id))
        return await self.disputes.page(
            person_ids=readable,
            status=status,
            cycle_id=cycle_id,
            person_id=person_id,
            limit=limit,
            offset=offset,
            overdue=overdue,
        )

    async def resolve(self, dispute_id: uuid.UUID, data: DisputeResolve, hr: Principal) -> RatingDispute:
        dispute = await self.disputes.get(dispute_id, for_update=True)
        if dispute is None or not await self._active(hr):
            raise NotFound(f"No dispute {dispute_id}.")
        if dispute.status != "open":
            raise Conflict(f"The dispute was resolved ({dispute.outcome}).", reason="dispute_resolved")
        now = utcnow()
        if data.outcome is DisputeOutcome.amended:
            assert data.rating is not None
            cycle = await self.cycles.get(dispute.cycle_id)
            participant = await self.cycles.participant(dispute.cycle_id, dispute.person_id)
            assert cycle is not None
            if participant is None:
                raise Conflict("The person is no longer a participant of the cycle.", reason="participant_not_found")
            rating = Decimal(str(data.rating))
            if rating not in {value for value, _label in points_of(cycle)}:
                raise ValidationFailed.field("rating", "not a point of the cycle's rating scale")
            participant.final_rating = rating
            publish_final_rating(self.session, cycle, participant, now)
            dispute.resolved_rating = rating
        else:
            dispute.resolved_rating = dispute.disputed_rating
        dispute.status, dispute.outcome = "resolved", data.outcome.value
        dispute.resolution, dispute.resolved_by, dispute.resolved_at = data.resolution, hr.person_id, now
        await self.session.flush()
        outbox.add(self.session, "dispute", "resolved", dispute_event_data(dispute), subject=str(dispute.id))
        return dispute

    async def _active(self, principal: Principal) -> bool:
        viewer = await self.people.get(principal.person_id)
        return viewer is None or viewer.active

    async def _may_read(self, person_id: uuid.UUID, principal: Principal) -> bool:
        if not await self._active(principal):
            return False
        if is_hr(principal) or principal.person_id == person_id:
            return True
        return principal.has_any(Role.manager) and principal.person_id in await self.people.manager_chain_ids(person_id)


# Disputes one sweep round reminds, and escalates, at most: a round stays short and the next one
# comes at once when this one was full.
DISPUTE_SWEEP_BATCH = 100


def dispute_reminded_event_id(dispute_id: uuid.UUID) -> uuid.UUID:
    """One reminder per dispute: should one ever be written twice, JetStream drops the copy by its id."""
    return uuid.uuid5(dispute_id, "dispute-reminded")


def dispute_escalated_event_id(dispute_id: uuid.UUID, escalation: int = 1) -> uuid.UUID:
    # The first keeps the id it had before escalations repeated, so an event written then is still recognised.
    return uuid.uuid5(dispute_id, "dispute-escalated" if escalation == 1 else f"dispute-escalated-{escalation}")


async def sweep_disputes(
    session: AsyncSession,
    *,
    now: datetime,
    reminder_lead: timedelta,
    again_after: timedelta | None = None,
    limit: int = DISPUTE_SWEEP_BATCH,
) -> tuple[int, int]:
    """Escalate open disputes past ``due_at`` (again every ``again_after``, if given) and remind the
    assignee of those due within ``reminder_lead``.

    Each mark is a conditional UPDATE (``reminded_at`` NULL; ``escalated_at`` NULL or older than
    ``again_after``) in the transaction that writes the event, so a crash sends nothing and a
    replica sweeping at once sends nothing twice. Returns (escalated, reminded) of this round.
    """
    disputes = DisputeRepository.from_session(session)
    people = PersonRepository.from_session(session)
    cycles = CycleRepository.from_session(session)
    escalated = 0
    for dispute_id in await disputes.due_for_escalation(now, again_after, limit=limit):
        dispute = await disputes.mark_escalated(dispute_id, now, again_after)
        if dispute is None:
            continue
        notified = await _escalation_targets(dispute, people, cycles)
        data = {
            **dispute_event_data(dispute),
            "escalated_at": now.isoformat(),
            "escalation": dispute.escalations,
            "notified_ids": [str(person_id) for person_id in notified],
        }
        event_id = dispute_escalated_event_id(dispute.id, dispute.escalations)
        outbox.add(session, "dispute", "escalated", data, subject=str(dispute.id), event_id=event_id)
        escalated += 1
    reminded = 0
    if reminder_lead > timedelta(0):
        for dispute_id in await disputes.due_for_reminder(now, now + reminder_lead, limit=limit):
            dispute = await disputes.mark_reminded(dispute_id, now)
            if dispute is None:
                continue
            data = {**dispute_event_data(dispute), "reminded_at": now.isoformat()}
            event_id = dispute_reminded_event_id(dispute.id)
            outbox.add(session, "dispute", "reminded", data, subject=str(dispute.id), event_id=event_id)
            reminded += 1
    await session.flush()
    return escalated, reminded


async def _escalation_targets(
    dispute: RatingDispute, people: PersonRepository, cycles: CycleRepository
) -> list[uuid.UUID]:
    """Who hears that HR's answer is late: at the n-th escalation, the n-th active manager above the
    assignee in the directory, or the highest one again once the line ends.

    Without any (an HR owner who is not in the directory, or at its top), the cycle's creator if
    that is someone else and not deactivated; else the assignee themselves, if the directory has
    them active, so that an overdue answer is said to someone rather than to nobody. The directory
    holds no roles, so "every HR person" cannot be found here; with nobody at all to tell the
    dispute is still marked and shows as overdue in HR's queue (``GET /disputes?overdue=true``).
    """
    managers = [person.id for person, _level in await people.manager_chain(dispute.assignee_id) if person.active]
    if managers:
        return [managers[min(dispute.escalations, len(managers)) - 1]]
    cycle = await cycles.get(dispute.cycle_id)
    if cycle is not None and cycle.created_by != dispute.assignee_id:
        creator = await people.get(cycle.created_by)
        if creator is None or creator.active:
            return [cycle.created_by]
    assignee = await people.get(dispute.assignee_id)
    return [dispute.assignee_id] if assignee is not None and assignee.active else []


def dispute_event_data(dispute: RatingDispute) -> dict[str, object]:
    """Ids, status and outcome: never the employee's reason or HR's answer, never a rating."""
    return {
        "dispute_id": str(dispute.id),
        "cycle_id": str(dispute.cycle_id),
        "person_id": str(dispute.person_id),
        "assignee_id": str(dispute.assignee_id),
        "status": dispute.status,
        "outcome": dispute.outcome,
        "due_at": dispute.due_at.isoformat(),
    }


# --- score lineage ---------------------------------------------------------------------------


class LineageService:
    """A participant's score record, to whoever may see the score.

    HR and admins; the managers above the person (the inbox's rule for reading their tasks);
    the person themself once the cycle has shown them their rating (their acknowledgement
    task exists). Anyone the directory lists as inactive sees nothing. Everyone else gets 404,
    so a score's existence does not leak.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.cycles = CycleRepository.from_session(session)
        self.tasks = TaskRepository.from_session(session)
        self.people = PersonRepository.from_session(session)

    async def lineage(self, cycle_id: uuid.UUID, person_id: uuid.UUID, principal: Principal) -> ScoreLineage:
        cycle = await self.cycles.get(cycle_id)
        participant = None if cycle is None else await self.cycles.participant(cycle_id, person_id)
        if cycle is None or participant is None or not await self._may_see(participant, principal):
            raise NotFound(f"No score of {person_id} in cycle {cycle_id} that you may see.")
        record = None if participant.score is None else ScoreRecord.model_validate(participant.score)
        return ScoreLineage(
            cycle_id=cycle_id,
            person_id=person_id,
            record=record,
            reproduces=None if record is None else await self._reproduces(record),
            goals=[FormGoal.model_validate(goal) for goal in participant.goal_inputs or []],
            peer_rater_count=participant.peer_rater_count,
            proposed_rating=participant.proposed_rating,
            final_rating=participant.final_rating,
            final_rating_label=label_of(points_of(cycle), participant.final_rating),
            rating_version=participant.rating_version,
            calibrated=participant.final_rating is not None and participant.final_rating != participant.proposed_rating,
        )

    async def _may_see(self, participant: CycleParticipant, principal: Principal) -> bool:
        viewer = await self.people.get(principal.person_id)
        if viewer is not None and not viewer.active:
            return False
        if is_hr(principal):
            return True
        if principal.person_id == participant.person_id:
            own = await self.tasks.of_person(participant.cycle_id, participant.person_id)
            return any(task.step == Step.acknowledgement.value for task in own)
        return principal.has_any(Role.manager) and principal.person_id in await self.people.manager_chain_ids(
            participant.person_id
        )

    async def _reproduces(self, record: ScoreRecord) -> bool:
        if record.template_id is None:
            return False
        try:
            spec = await TemplateService(self.session).scoring_spec(record.template_id)
            return replay(spec, record) == record
        except (NotFound, Conflict, ScoringError):
            return False


# --- submit ----------------------------------------------------------------------------------

TASK_OPEN_RETRIES = 10


class SubmitService:
    """A submit: the answers stay in this database; the review learns who completed which task."""

    def __init__(self, session: AsyncSession, settings: Settings, client: Callable[[], Awaitable[Client]]) -> None:
        self.session = session
        self.settings = settings
        # Connected on first use: a submit refused from the table needs no workflow engine.
        self.client = client
        self.inbox = InboxService(session)

    async def submit(self, task_id: str, answers: Answers, principal: Principal) -> ReviewTask:
        access = await self.inbox.access(task_id, principal)
        task = access.task
        if not access.may_write:
            # HR and the managers above may read the task, so its existence is no secret to them:
            # they learn why they cannot submit it. Anyone else got 404 from access().
            raise UpdateRefused(UpdateRefusal(Refusal.wrong_actor, "only the task's assignee may submit it"))
        if task.status not in OPEN_STATUSES:
            # Finished in the inbox means finished in the review (the review's activities, or a
            # cancellation, wrote it): refuse as the review would, without a round trip.
            raise UpdateRefused(await self._finished(task))
        await self.inbox.save_draft(access, answers, final=True)
        await self.session.commit()  # the completion activity writes this task too
        payload: dict[str, Any] = {}
        if task.step in PEER_LIST_STEPS:
            payload["peer_ids"] = [str(peer) for peer in answers.peer_ids or []]
        await self._complete(task, principal.person_id, payload)
        await self.inbox.record_completion(task, principal.person_id)
        return task

    async def _complete(self, task: ReviewTask, actor_id: uuid.UUID, payload: dict[str, Any] | None = None) -> None:
        update = CompleteTask(task_id=task.id, actor_id=str(actor_id), payload=payload or {})
        # A task a review creates is in the inbox as soon as the create activity commits; the
        # review opens it when it records the activity's result a moment later and answers
        # task_not_found until then: wait briefly instead of passing that race on.
        for attempt in range(TASK_OPEN_RETRIES):
            try:
                await deliver(self.settings, self._send(task, update))
                return
            except UpdateRefused as refused:
                reason = refused.extensions.get("reason")
                if reason == "review_closed" and await self._cycle_cancelled(task.cycle_id):
                    # A review closed by the cancellation ends soon after; an Update to the ended
                    # workflow reads as review_closed, but the reason the caller needs is the cancel.
                    cancelled = UpdateRefusal(Refusal.cycle_cancelled, "the review cycle was cancelled")
                    raise UpdateRefused(cancelled) from refused
                if reason != "task_not_found" or attempt == TASK_OPEN_RETRIES - 1:
                    raise
                await asyncio.sleep(0.1 * (attempt + 1))

    async def _send(self, task: ReviewTask, update: CompleteTask) -> TaskResult:
        # A bulk launch writes the first tasks before their reviews start: a submit that comes
        # first starts its review with the completion.
        async def start() -> ReviewStart | None:
            if task.step != Step.self_assessment.value:
                return None
            return await first_task_start(self.session, self.settings, task.cycle_id, task.person_id)

        client = await self.client()
        return await update_review(client, task.workflow_id, EmployeeReviewWorkflow.complete_task, update, start)

    async def _cycle_cancelled(self, cycle_id: uuid.UUID) -> bool:
        cycle = await CycleRepository.from_session(self.session).get(cycle_id)
        return cycle is not None and cycle.status == "cancelled"

    async def _finished(self, task: ReviewTask) -> UpdateRefusal:
        if task.status == "done":
            return UpdateRefusal(Refusal.task_done, "the task is already done")
        if task.status == "expired":
            return UpdateRefusal(Refusal.too_late, "the task expired: its phase has closed")
        if await self._cycle_cancelled(task.cycle_id):
            return UpdateRefusal(Refusal.cycle_cancelled, "the review cycle was cancelled")
        return UpdateRefusal(Refusal.review_closed, f"the review was closed ({task.status})")


# --- calibration -----------------------------------------------------------------------------


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


class CalibrationService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.sessions = CalibrationRepository.from_session(session)
        self.cycles = CycleRepository.from_session(session)
        self.tasks = TaskRepository.from_session(session)

    async def get(self, session_id: uuid.UUID, *, for_update: bool = False) -> CalibrationSession:
        found = await self.sessions.get(session_id, for_update=for_update)
        if found is None:
            raise NotFound(f"No calibration session {session_id}.")
        return found

    async def open_sessions(self, cycle: ReviewCycle) -> list[CalibrationSession]:
        """One session per organisation unit (once), and every proposed rating scored."""
        existing = {s.org_unit: s for s in await self.sessions.of_cycle(cycle.id)}
        for unit in await self.cycles.org_units(cycle.id):
            if unit not in existing:
                created = CalibrationSession(cycle_id=cycle.id, org_unit=unit, status="open")
                await self.sessions.add(created)
                existing[unit] = created
        await self.score_participants(cycle)
        return sorted(existing.values(), key=lambda s: s.org_unit)

    async def score_participants(self, cycle: ReviewCycle) -> None:
        spec = await TemplateService(self.session).scoring_spec(cycle.template_id)
        points = points_of(cycle)
        participants, _ = await self.cycles.participants(cycle.id)
        answers = await self._answers(cycle.id)
        for participant in participants:
            if participant.closed_reason is not None or participant.score is not None:
                continue
            ratings = answers.get(participant.person_id, [])
            try:
                record = score_review(spec, ratings, goals=participant.goal_score, peer=participant.peer_score)
            except ScoringError:
                continue
            participant.score = record.model_dump(mode="json")
            if record.score is not None:
                participant.proposed_rating = nearest_point(points, record.score)
                if participant.final_rating is None:
                    participant.final_rating = participant.proposed_rating
        await self.session.flush()

    async def rescore(self, cycle_id: uuid.UUID, person_id: uuid.UUID) -> bool:
        """Score a review again after a component (goals, peers) arrived once calibration had scored it.

        Until the person's session is final: the score record and the proposed rating follow the new
        component, and so does the final rating unless HR set it in the session. After that the rating
        is published and stays; the component only shows in the forms. True when the record changed.
        """
        participant = await self.cycles.participant(cycle_id, person_id, for_update=True)
        if participant is None or participant.closed_reason is not None or participant.score is None:
            return False  # not scored yet: calibration scores it with every component when it opens
        calibration = next(
            (s for s in await self.sessions.of_cycle(cycle_id) if s.org_unit == participant.org_unit), None
        )
        if calibration is None or calibration.status != "open":
            return False
        cycle = await self.cycles.get(cycle_id)
        assert cycle is not None
        spec = await TemplateService(self.session).scoring_spec(cycle.template_id)
        ratings = (await self._answers(cycle_id, person_id)).get(person_id, [])
        try:
            record = score_review(spec, ratings, goals=participant.goal_score, peer=participant.peer_score)
        except ScoringError:
            return False
        rescored = record.model_dump(mode="json")
        if rescored == participant.score:
            return False
        before = participant.proposed_rating
        participant.score = rescored
        participant.proposed_rating = None if record.score is None else nearest_point(points_of(cycle), record.score)
        set_by_hr = await self.sessions.adjusted(calibration.id, person_id, AdjustmentKind.performance.value)
        if not set_by_hr and participant.final_rating == before:
            participant.final_rating = participant.proposed_rating
        await self.session.flush()
        return True

    async def _answers(self, cycle_id: uuid.UUID, person_id: uuid.UUID | None = None) -> dict[uuid.UUID, list[Rating]]:
        found: dict[uuid.UUID, list[Rating]] = defaultdict(list)
        for step, respondent in STEP_RESPONDENT.items():
            if person_id is None:
                tasks, _ = await self.tasks.page(
                    cycle_id=cycle_id, step=step, open_only=False, now=utcnow(), limit=10**9, offset=0
                )
            else:
                tasks = [t for t in await self.tasks.of_person(cycle_id, person_id) if t.step == step]
            for task in tasks:
                if task.status != "done" or not task.draft:
                    continue
                for answer in Answers.model_validate(task.draft).answers:
                    if answer.value is not None:
                        found[task.person_id].append(Rating(answer.item, respondent, answer.value))
        return found

    async def rows(self, calibration: CalibrationSession) -> list[CycleParticipant]:
        participants, _ = await self.cycles.participants(calibration.cycle_id, org_unit=calibration.org_unit)
        return [p for p in participants if p.closed_reason is None]

    @staticmethod
    def row(participant: CycleParticipant) -> CalibrationRow:
        score = (participant.score or {}).get("score")
        version = (participant.score or {}).get("formula_version")
        return CalibrationRow(
            person_id=participant.person_id,
            manager_id=participant.manager_id,
            score=None if score is None else float(str(score)),
            formula_version=None if version is None else str(version),
            score_url=score_path(participant.cycle_id, participant.person_id),
            proposed_rating=participant.proposed_rating,
            final_rating=participant.final_rating,
            potential_rating=participant.potential_rating,
        )

    @staticmethod
    def distribution(cycle: ReviewCycle, participants: list[CycleParticipant]) -> list[Bucket]:
        points = points_of(cycle)
        rated = [p.final_rating for p in participants if p.final_rating is not None]
        buckets = []
        for value, label in points:
            count = sum(1 for rating in rated if rating == value)
            share = 0.0 if not rated else round(100.0 * count / len(rated), 2)
            wanted = cycle.guideline.get(label, 0.0)
            buckets.append(
                Bucket(
                    value=value,
                    label=label,
                    count=count,
                    share=share,
                    guideline=wanted,
                    deviation=round(share - wanted, 2),
                )
            )
        return buckets

    async def nine_box(self, calibration: CalibrationSession) -> NineBoxRead:
        cycle = await self.cycles.get(calibration.cycle_id)
        assert cycle is not None
        ratings, potentials = points_of(cycle), potential_points_of(cycle)
        r_min, r_max = ratings[0][0], ratings[-1][0]
        p_min, p_max = potentials[0][0], potentials[-1][0]
        cells: dict[tuple[Band, Band], list[uuid.UUID]] = {(p, q): [] for p in BANDS for q in BANDS}
        unplaced: list[uuid.UUID] = []
        for row in await self.rows(calibration):
            if row.final_rating is None or row.potential_rating is None:
                unplaced.append(row.person_id)
                continue
            key = (band(row.final_rating, r_min, r_max), band(row.potential_rating, p_min, p_max))
            cells[key].append(row.person_id)
        return NineBoxRead(
            session_id=calibration.id,
            rating_scale=cycle.rating_points,
            potential_scale=[{"value": float(v), "label": label} for v, label in potentials],
            cells=[
                NineBoxCell(performance=p.value, potential=q.value, count=len(people), person_ids=people)
                for (p, q), people in cells.items()
            ],
            placed=sum(len(people) for people in cells.values()),
            unplaced=unplaced,
        )

    async def raters(self, calibration: CalibrationSession, threshold: float | None) -> RatersRead:
        cycle = await self.cycles.get(calibration.cycle_id)
        assert cycle is not None
        points = points_of(cycle)
        # Default: a tenth of the scale's range (0.4 points on 1-5).
        limit = threshold if threshold is not None else float(points[-1][0] - points[0][0]) / 10
        rows = await self.rows(calibration)
        rated = [
            Rated(str(row.manager_id), float(row.proposed_rating))
            for row in rows
            if row.manager_id is not None and row.proposed_rating is not None
        ]
        # The calibrated population: every final rating of the session, with or without a manager.
        finals = [float(row.final_rating) for row in rows if row.final_rating is not None]
        report = leniency(rated, finals, limit)
        return RatersRead(
            session_id=calibration.id,
            population_mean=_round(report.population_mean),
            within_variance=_round(report.within_variance),
            between_variance=_round(report.between_variance),
            threshold=limit,
            managers=[
                RaterRead(
                    manager_id=uuid.UUID(m.manager_id),
                    reports=m.reports,
                    mean_proposed=round(m.mean_proposed, 4),
                    raw_deviation=round(m.raw, 4),
                    shrinkage=round(m.shrinkage, 4),
                    leniency=round(m.shrunk, 4),
                    flagged=m.flagged,
                )
                for m in report.managers
            ],
        )

    async def adjust(self, session_id: uuid.UUID, data: AdjustmentWrite, by: uuid.UUID) -> CalibrationAdjustment:
        calibration = await self.get(session_id, for_update=True)
        if calibration.status != "open":
            raise Conflict("The session is final; ratings can no longer change.", reason="task_done")
        cycle = await self.cycles.get(calibration.cycle_id)
        assert cycle is not None
        if cycle.phase != "calibration":
            raise Conflict(f"The cycle is in {cycle.phase}, not calibration.", reason="invalid_phase")
        participant = await self.cycles.participant(cycle.id, data.person_id, for_update=True)
        if participant is None or participant.org_unit != calibration.org_unit or participant.closed_reason is not None:
            raise ValidationFailed.field("person_id", "not a participant of this session")
        value = data.to_rating.quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)
        potential = data.kind is AdjustmentKind.potential
        if value not in {point for point, _ in (potential_points_of(cycle) if potential else points_of(cycle))}:
            scale = "potential scale" if potential else "rating scale"
            raise ValidationFailed.field("to_rating", f"not a point of the cycle's {scale}")
        if data.kind is AdjustmentKind.potential:
            previous, participant.potential_rating = participant.potential_rating, value
        else:
            previous, participant.final_rating = participant.final_rating, value
        adjustment = CalibrationAdjustment(
            session_id=calibration.id,
            person_id=data.person_id,
            adjusted_by=by,
            kind=data.kind.value,
            from_rating=previous,
            to_rating=value,
            reason=data.reason,
        )
        await self.sessions.add_adjustment(adjustment)
        return adjustment

    async def finalize_and_tell(
        self, session_id: uuid.UUID, by: uuid.UUID, settings: Settings, client: Client
    ) -> CalibrationSession:
        """Finalize (committed), then tell the cycle; repeating it re-delivers the Update only."""
        calibration, _ = await self.finalize(session_id, by)
        await self.session.commit()  # the cycle's activities read the final ratings
        handle = cycle_handle(client, cycle_workflow_id(str(calibration.cycle_id)))
        update = SessionFinalized(session_id=str(calibration.id), actor_id=str(by))
        # The sessions exist as soon as the open_calibration activity commits; the workflow opens
        # calibration when it records the activity's result a moment later and refuses with
        # invalid_phase until then: wait briefly instead of answering 409 for a session that is
        # final here already (the same race as task_not_found in a submit).
        for attempt in range(TASK_OPEN_RETRIES):
            try:
                await deliver(settings, handle.execute_update(ReviewCycleWorkflow.calibration_finalized, update))
                break
            except UpdateRefused as refused:
                reason = refused.extensions.get("reason")
                if reason == "task_done":  # already final in the workflow
                    break
                if reason != "invalid_phase" or attempt == TASK_OPEN_RETRIES - 1:
                    raise
                await asyncio.sleep(0.1 * (attempt + 1))
        return calibration

    async def finalize(self, session_id: uuid.UUID, by: uuid.UUID) -> tuple[CalibrationSession, bool]:
        """Mark the session final and publish each final rating once; True if this call did it."""
        calibration = await self.get(session_id, for_update=True)
        if calibration.status == "final":
            return calibration, False
        cycle = await self.cycles.get(calibration.cycle_id)
        assert cycle is not None
        if cycle.phase != "calibration":
            raise Conflict(f"The cycle is in {cycle.phase}, not calibration.", reason="invalid_phase")
        now = utcnow()
        for participant in await self.rows(calibration):
            if participant.final_rating is None:
                continue
            publish_final_rating(self.session, cycle, participant, now)
        calibration.status, calibration.finalized_by, calibration.finalized_at = "final", by, now
        await self.session.flush()
        return calibration, True
