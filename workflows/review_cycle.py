"""One review cycle: fans out an EmployeeReviewWorkflow per participant and governs the phases.

The cycle keeps no per-person state (a cycle may have 100,000 participants): it reads
participants page by page through ``reviews.list_participants``, starts children in a
sliding window (at most ``window`` started and not yet reported in), continues as new after
``children_per_run`` starts or when its history grows, and counts what its children report
by signal. Everything it needs after continue-as-new is in ``CycleState``.
See docs/workflows.md for the protocol.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import FailureError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

from workflows.employee_review import EmployeeReviewWorkflow

with workflow.unsafe.imports_passed_through():
    from temporalio.common import WorkflowIDReusePolicy

    from workflows import activities
    from workflows.common import (
        ACTIVITY_RETRY,
        ACTIVITY_TIMEOUT,
        REPORT_SIGNAL,
        SERVICE_QUEUES_PATCH,
        is_due,
        refuse,
        seconds_until,
    )
    from workflows.models import (
        FINISHED,
        PHASES,
        STEP_PHASE,
        TASK_STEPS,
        AddParticipant,
        AdvancePhase,
        Broadcast,
        BroadcastKind,
        CancelCycle,
        CloseReason,
        CloseReview,
        CycleAck,
        CycleProgress,
        CycleResult,
        CycleState,
        DeadlineResult,
        EmployeeReviewInput,
        EscalateGateInput,
        ExtendDeadline,
        FinalRating,
        GateReminderInput,
        ListParticipantsInput,
        MarkPhaseInput,
        OpenCalibrationInput,
        OpenFirstTasksInput,
        Participant,
        ParticipantPage,
        ParticipantReport,
        PayApprovalFinalized,
        Phase,
        PhaseOpened,
        Refusal,
        RemoveParticipant,
        RequestProposalsInput,
        ReviewCycleInput,
        ReviewsStarted,
        ReviewTemplate,
        SessionFinalized,
        StartReviewsInput,
        Step,
        StepProgress,
        TaskStatus,
        phase_index,
        review_workflow_id,
    )

# After the cycle closes, how long it waits for its children to report that they ended.
CLOSING_GRACE = timedelta(days=1)

# The phase whose end a task step's closing time decides.
CLOSING_STEP: dict[Phase, Step] = {
    Phase.self_assessment: Step.self_assessment,
    Phase.manager_review: Step.manager_review,
    Phase.acknowledgement: Step.acknowledgement,
}
GATE_STEP: dict[Phase, Step] = {Phase.calibration: Step.calibration, Phase.pay_approval: Step.pay_approval}

# Patch ids (``workflow.patched``), decided once per run in ``__init__``: a run whose history
# began without the marker keeps the old behaviour to its end (its next run takes the new one).
GATE_REMINDERS_PATCH = "review-cycle-gate-reminders"
PERSONAL_DEADLINES_PATCH = "personal-deadlines"
# A cycle begun with it writes every first task in bulk, then starts the reviews behind them
# (top-level workflows, by an activity of the reviews service); the choice is made in the first
# run and carried in the state, so a cycle keeps its launch path across continue-as-new.
BULK_LAUNCH_PATCH = "bulk-launch"

# The bulk launch's activities work through every participant: long, with heartbeats.
FAN_OUT_TIMEOUT = timedelta(minutes=30)
FAN_OUT_HEARTBEAT = timedelta(seconds=30)


@workflow.defn
class ReviewCycleWorkflow:
    @workflow.init
    def __init__(self, value: ReviewCycleInput) -> None:
        self._config = value.config
        self._state = value.state or CycleState(schedule=value.config.schedule)
        self._started_this_run = 0
        self._changes = 0  # bumped by every signal and Update: wakes the main loop
        self._page: ParticipantPage | None = None  # the fan-out page in hand (not carried)
        # Decided at the run's first activation: patched() is memoized for the run, so asking
        # later (after an old-code workflow task) could answer differently on replay.
        self._gate_reminders = workflow.patched(GATE_REMINDERS_PATCH)
        self._personal_deadlines = workflow.patched(PERSONAL_DEADLINES_PATCH)
        service_queues = workflow.patched(SERVICE_QUEUES_PATCH)
        self._reviews_queue = value.config.queues.reviews if service_queues else None
        self._rewards_queue = value.config.queues.rewards if service_queues else None
        if value.state is None:
            self._state.bulk_launch = value.config.bulk_launch and workflow.patched(BULK_LAUNCH_PATCH)

    # --- run ---------------------------------------------------------------------------------

    @workflow.run
    async def run(self, value: ReviewCycleInput) -> CycleResult:
        state = self._state
        if value.state is None:
            state.phase_opened_at = workflow.now()
            await self._mark_phase(Phase.self_assessment)
        while True:
            if self._should_continue_as_new():
                await workflow.wait_condition(workflow.all_handlers_finished)
                state.run += 1
                workflow.continue_as_new(ReviewCycleInput(config=self._config, state=state))
            if state.broadcasts:
                await self._broadcast_page()
                continue
            if state.cancelled and state.phase is not Phase.closed:
                await self._open_phase(Phase.closed)
                continue
            if self._can_fan_out():
                await self._fan_out_chunk()
                continue
            if state.phase is Phase.closed:
                if state.ended >= state.participants and (state.fanout_done or state.cancelled):
                    break
            elif self._phase_complete():
                await self._open_phase(PHASES[phase_index(state.phase) + 1])
                continue
            elif await self._escalate_gate_if_due() or await self._remind_gate_if_due():
                continue
            if not await self._wait_for_change(self._next_wake()) and state.phase is Phase.closed:
                missing = state.participants - state.ended
                workflow.logger.warning("cycle closed with %d children not reported", missing)
                break
        await workflow.wait_condition(workflow.all_handlers_finished)
        return CycleResult(
            cycle_id=self._config.cycle_id,
            cancelled=state.cancelled,
            participants=state.participants,
            ended=state.ended,
            runs=state.run,
            max_starting=state.max_starting,
            max_started_in_a_run=state.max_started_in_a_run,
            steps=self._step_progress(),
        )

    async def _wait_for_change(self, wake: datetime | None) -> bool:
        """Until a signal or Update changed something (True) or ``wake`` passed (False)."""
        changes = self._changes
        try:
            await workflow.wait_condition(
                lambda: self._changes != changes or self._should_continue_as_new(),
                timeout=None if wake is None else seconds_until(wake, workflow.now()),
                timeout_summary=f"{self._state.phase.value} deadline",
            )
        except TimeoutError:
            return False
        return True

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        return (
            self._started_this_run >= self._config.children_per_run
            or info.get_current_history_length() >= self._config.history_limit
            or info.is_continue_as_new_suggested()
        )

    # --- fan-out -----------------------------------------------------------------------------

    def _can_fan_out(self) -> bool:
        state = self._state
        if state.bulk_launch:
            return not state.fanout_done and not state.cancelled
        return (
            not state.fanout_done
            and not state.cancelled
            and len(state.starting) < self._config.window
            and self._started_this_run < self._config.children_per_run
        )

    async def _fan_out_chunk(self) -> None:
        state = self._state
        if state.bulk_launch:
            await self._bulk_fan_out()
            return
        if self._page is None:
            self._page = await self._list_participants(state.fanout_page_token)
        page = self._page
        remaining = page.participants[state.fanout_offset :]
        room = min(self._config.window - len(state.starting), self._config.children_per_run - self._started_this_run)
        batch = remaining[:room]
        if batch:
            state.starting.extend(p.person_id for p in batch)
            state.max_starting = max(state.max_starting, len(state.starting))
            await asyncio.gather(*(self._start_child(p) for p in batch))
            state.fanout_offset += len(batch)
        if state.fanout_offset >= len(page.participants):
            self._page = None
            state.fanout_offset = 0
            state.fanout_page_token = page.next_page_token
            state.fanout_done = page.next_page_token is None

    async def _start_child(self, participant: Participant) -> bool:
        state = self._state
        self._started_this_run += 1
        state.max_started_in_a_run = max(state.max_started_in_a_run, self._started_this_run)
        try:
            await workflow.start_child_workflow(
                EmployeeReviewWorkflow.run,
                EmployeeReviewInput(
                    cycle_id=self._config.cycle_id,
                    person_id=participant.person_id,
                    manager_id=participant.manager_id,
                    hr_owner_id=self._config.hr_owner_id,
                    schedule=state.schedule,
                    cycle_workflow_id=workflow.info().workflow_id,
                    opened_phases=list(state.opened_phases),
                    queues=self._config.queues,
                ),
                id=review_workflow_id(self._config.cycle_id, participant.person_id),
                # Children outlive each run of the cycle (continue-as-new closes the run); they
                # report to the cycle's workflow id, never to a run.
                parent_close_policy=ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            if participant.person_id in state.starting:
                state.starting.remove(participant.person_id)
            self._changes += 1
            return False
        state.participants += 1
        return True

    async def _bulk_fan_out(self) -> None:
        """First every self-assessment task in the inbox, then the reviews, a page per step."""
        state = self._state
        if state.first_tasks_opened_at is None:
            opened_at = workflow.now()
            await workflow.execute_activity(
                activities.open_first_tasks,
                OpenFirstTasksInput(
                    idempotency_key=f"{self._config.cycle_id}:first-tasks",
                    cycle_id=self._config.cycle_id,
                    opened_at=opened_at,
                    due_at=state.schedule.of(Step.self_assessment).deadline,
                    batch_size=self._config.task_batch,
                ),
                start_to_close_timeout=FAN_OUT_TIMEOUT,
                heartbeat_timeout=FAN_OUT_HEARTBEAT,
                retry_policy=ACTIVITY_RETRY,
                task_queue=self._reviews_queue,
            )
            state.first_tasks_opened_at = opened_at
            return
        started = await self._start_reviews(page_token=state.fanout_page_token)
        state.participants += started.participants
        # Their first tasks are open (written in bulk); the reviews report only what changes.
        opened = state.counts.setdefault(Step.self_assessment, {})
        opened[TaskStatus.open] = opened.get(TaskStatus.open, 0) + started.participants
        state.fanout_page_token = started.next_page_token
        state.fanout_done = started.next_page_token is None
        self._changes += 1

    async def _start_reviews(
        self,
        *,
        page_token: str | None = None,
        person_id: str | None = None,
        first_task_written: bool = True,
        join: bool = False,
    ) -> ReviewsStarted:
        state = self._state
        template = ReviewTemplate(
            hr_owner_id=self._config.hr_owner_id,
            schedule=state.schedule,
            cycle_workflow_id=workflow.info().workflow_id,
            opened_phases=list(state.opened_phases),
            queues=self._config.queues,
            first_task_opened_at=state.first_tasks_opened_at if first_task_written else None,
        )
        return await workflow.execute_activity(
            activities.start_reviews,
            StartReviewsInput(
                cycle_id=self._config.cycle_id,
                template=template,
                workflow_task_queue=workflow.info().task_queue,
                page_token=page_token,
                page_size=self._config.start_page,
                person_id=person_id,
                window=self._config.window,
                join=join,
            ),
            start_to_close_timeout=FAN_OUT_TIMEOUT,
            heartbeat_timeout=FAN_OUT_HEARTBEAT,
            retry_policy=ACTIVITY_RETRY,
            task_queue=self._reviews_queue,
        )

    def _fan_out_will_reach(self, person_id: str) -> bool:
        """The bulk fan-out has not yet passed this person (pages are keyset by person id)."""
        state = self._state
        return not state.fanout_done and (state.fanout_page_token is None or person_id > state.fanout_page_token)

    async def _ensure_review(self, person_id: str) -> None:
        """Before the bulk fan-out has started everyone, start this person's review first (or keep it)."""
        if self._state.bulk_launch and self._fan_out_will_reach(person_id):
            await self._start_reviews(person_id=person_id)

    async def _list_participants(self, page_token: str | None) -> ParticipantPage:
        return await workflow.execute_activity(
            activities.list_participants,
            ListParticipantsInput(
                cycle_id=self._config.cycle_id, page_token=page_token, page_size=self._config.page_size
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
            task_queue=self._reviews_queue,
        )

    # --- broadcasts --------------------------------------------------------------------------

    async def _broadcast_page(self) -> None:
        job = self._state.broadcasts[0]
        page = await self._list_participants(job.page_token)
        window = self._config.window
        for start in range(0, len(page.participants), window):
            chunk = page.participants[start : start + window]
            await asyncio.gather(*(self._notify(job, participant) for participant in chunk))
        if page.next_page_token is None:
            self._state.broadcasts.pop(0)
        else:
            job.page_token = page.next_page_token

    async def _notify(self, job: Broadcast, participant: Participant) -> None:
        handle = workflow.get_external_workflow_handle(review_workflow_id(self._config.cycle_id, participant.person_id))
        try:
            if job.kind is BroadcastKind.phase_opened:
                assert job.phase is not None
                if job.phase is Phase.pay_approval:
                    await handle.signal(
                        EmployeeReviewWorkflow.calibration_finalized, FinalRating(rating=participant.final_rating)
                    )
                await handle.signal(EmployeeReviewWorkflow.phase_opened, PhaseOpened(phase=job.phase))
            elif job.kind is BroadcastKind.deadline_changed:
                assert job.extension is not None
                await handle.signal(EmployeeReviewWorkflow.deadline_changed, job.extension)
            else:
                await handle.signal(
                    EmployeeReviewWorkflow.cycle_close, CloseReview(reason=job.reason or CloseReason.cancelled)
                )
        except FailureError:
            pass  # not started yet (it will start with today's state) or already ended

    # --- phases ------------------------------------------------------------------------------

    def _closes_at(self, step: Step) -> datetime:
        closes_at = self._state.schedule.of(step).closes_at
        late = self._state.late_closes_at.get(step)
        return max(closes_at, late) if late is not None else closes_at

    def _finished(self, step: Step) -> int:
        counts = self._state.counts.get(step, {})
        return sum(counts.get(status, 0) for status in FINISHED)

    def _phase_complete(self) -> bool:
        state = self._state
        if state.advance_requested is not None:
            return True
        if state.phase in CLOSING_STEP:
            step = CLOSING_STEP[state.phase]
            if is_due(self._closes_at(step), workflow.now()):
                return True
            return state.fanout_done and self._finished(step) >= state.participants
        if state.phase is Phase.calibration:
            return state.calibration_sessions is not None and all(state.calibration_sessions.values())
        if state.phase is Phase.pay_approval:
            return state.org_units is not None and all(state.org_units.values())
        return False

    async def _open_phase(self, phase: Phase) -> None:
        state = self._state
        state.phase = phase
        if phase not in state.opened_phases:
            state.opened_phases.append(phase)
        state.phase_opened_at = workflow.now()
        state.advance_requested = None
        await self._mark_phase(phase)
        if phase is Phase.closed and state.cancelled:
            state.broadcasts.append(Broadcast(kind=BroadcastKind.close, reason=CloseReason.cancelled))
            return
        if phase is Phase.calibration:
            sessions = await workflow.execute_activity(
                activities.open_calibration,
                OpenCalibrationInput(
                    idempotency_key=f"{self._config.cycle_id}:calibration", cycle_id=self._config.cycle_id
                ),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=ACTIVITY_RETRY,
                task_queue=self._reviews_queue,
            )
            state.calibration_sessions = dict.fromkeys(sessions.session_ids, False)
        if phase is Phase.pay_approval:
            proposals = await workflow.execute_activity(
                activities.request_proposals,
                RequestProposalsInput(
                    idempotency_key=f"{self._config.cycle_id}:proposals", cycle_id=self._config.cycle_id
                ),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=ACTIVITY_RETRY,
                task_queue=self._rewards_queue,
            )
            state.org_units = dict.fromkeys(proposals.org_units, False)
        if phase is not Phase.calibration:  # children wait for nothing at calibration
            state.broadcasts.append(Broadcast(kind=BroadcastKind.phase_opened, phase=phase))

    async def _mark_phase(self, phase: Phase) -> None:
        cancelled = self._state.cancelled
        await workflow.execute_activity(
            activities.mark_phase,
            MarkPhaseInput(
                idempotency_key=f"{self._config.cycle_id}:phase:{phase.value}{':cancelled' if cancelled else ''}",
                cycle_id=self._config.cycle_id,
                phase=phase,
                cancelled=cancelled,
                # Tasks written in bulk may have no review yet to close them.
                close_open_tasks=cancelled and self._state.bulk_launch,
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
            task_queue=self._reviews_queue,
        )

    def _gate_pending(self, step: Step) -> list[str]:
        gate = self._state.calibration_sessions if step is Step.calibration else self._state.org_units
        return sorted(key for key, final in (gate or {}).items() if not final)

    def _next_gate_escalation(self) -> tuple[Step, int, datetime] | None:
        step = GATE_STEP.get(self._state.phase)
        if step is None:
            return None
        schedule = self._state.schedule.of(step)
        done = self._state.gate_escalations.get(step, 0)
        if done >= len(schedule.policy.escalation):
            return None
        return step, done, schedule.deadline + schedule.policy.escalation[done].after

    async def _escalate_gate_if_due(self) -> bool:
        due = self._next_gate_escalation()
        if due is None or not is_due(due[2], workflow.now()):
            return False
        step, index, _ = due
        escalation = self._state.schedule.of(step).policy.escalation[index]
        self._state.gate_escalations[step] = index + 1
        await workflow.execute_activity(
            activities.escalate_gate,
            EscalateGateInput(
                idempotency_key=f"{self._config.cycle_id}:{step.value}:escalation:{index}:{due[2].isoformat()}",
                cycle_id=self._config.cycle_id,
                step=step,
                escalation_index=index,
                target=escalation.notify,
                hr_owner_id=self._config.hr_owner_id,
                pending=self._gate_pending(step),
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
            task_queue=self._reviews_queue,
        )
        return True

    def _next_gate_reminder(self) -> tuple[Step, int, datetime] | None:
        """The gate's next reminder: (step, number, when), while the gate is open and before its deadline.

        Reminders run at the step's ``reminder_every`` from the phase's opening, as a task's do
        from the task's opening; the number counts on across an extension and continue-as-new.
        """
        state = self._state
        step = GATE_STEP.get(state.phase)
        if not self._gate_reminders or step is None or state.phase_opened_at is None:
            return None
        schedule = state.schedule.of(step)
        every = schedule.policy.reminder_every
        if every is None or workflow.now() >= schedule.deadline or not self._gate_pending(step):
            return None
        number = state.gate_reminders.get(step, 0) + 1
        at = state.phase_opened_at + every * number
        return None if at >= schedule.deadline else (step, number, at)

    async def _remind_gate_if_due(self) -> bool:
        due = self._next_gate_reminder()
        if due is None or not is_due(due[2], workflow.now()):
            return False
        step, number, _ = due
        opened_at = self._state.phase_opened_at
        every = self._state.schedule.of(step).policy.reminder_every
        assert opened_at is not None
        assert every is not None
        # After a long outage send one reminder, numbered by the cadence (as tasks do).
        number = max(number, int((workflow.now() - opened_at) / every))
        deadline = self._state.schedule.of(step).deadline
        self._state.gate_reminders[step] = number
        await workflow.execute_activity(
            activities.remind_gate,
            GateReminderInput(
                idempotency_key=f"{self._config.cycle_id}:{step.value}:reminder:{number}:{deadline.isoformat()}",
                cycle_id=self._config.cycle_id,
                step=step,
                number=number,
                due_at=deadline,
                hr_owner_id=self._config.hr_owner_id,
                pending=self._gate_pending(step),
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
            task_queue=self._reviews_queue,
        )
        return True

    def _next_wake(self) -> datetime | None:
        state = self._state
        if state.phase is Phase.closed:
            return (state.phase_opened_at or workflow.now()) + CLOSING_GRACE
        if state.phase in CLOSING_STEP:
            return self._closes_at(CLOSING_STEP[state.phase])
        due = [event[2] for event in (self._next_gate_escalation(), self._next_gate_reminder()) if event is not None]
        return min(due, default=None)

    # --- reports from children ---------------------------------------------------------------

    @workflow.signal(name=REPORT_SIGNAL)
    def participant_report(self, value: ParticipantReport) -> None:
        state = self._state
        if value.person_id in state.starting:
            state.starting.remove(value.person_id)
        for transition in value.transitions:
            counts = state.counts.setdefault(transition.step, {})
            if transition.previous is not TaskStatus.pending:
                counts[transition.previous] = counts.get(transition.previous, 0) - 1
            counts[transition.status] = counts.get(transition.status, 0) + 1
        if value.ended:
            state.ended += 1
        self._changes += 1

    # --- Updates from the service API --------------------------------------------------------

    def _check_active(self) -> None:
        if self._state.cancelled:
            raise refuse(Refusal.cycle_cancelled, "the review cycle was cancelled")
        if self._state.phase is Phase.closed:
            raise refuse(Refusal.too_late, "the review cycle is closed")

    def _check_extension(self, value: ExtendDeadline) -> None:
        self._check_active()
        if value.new_deadline <= workflow.now():
            raise refuse(Refusal.invalid_deadline, "the new deadline is in the past")
        if phase_index(STEP_PHASE[value.step]) < phase_index(self._state.phase):
            raise refuse(Refusal.too_late, f"the {value.step.value} step has closed")
        if value.person_id is not None and value.step not in TASK_STEPS:
            raise refuse(Refusal.invalid_deadline, f"{value.step.value} is a cycle step: it has no personal deadline")

    @workflow.update
    async def extend_deadline(self, value: ExtendDeadline) -> DeadlineResult:
        self._check_extension(value)
        state = self._state
        schedule = state.schedule.of(value.step)
        deadline = value.new_deadline
        if value.person_id is not None:
            # The person's own closing time: the phase stays open until the latest of them
            # (``_closes_at``), whatever cycle-wide change comes later.
            personal_closes_at = value.new_deadline + schedule.closes_after
            if self._personal_deadlines:
                # The child keeps the later of this and the cycle-wide deadline (see
                # EmployeeReviewWorkflow.deadline_changed): answer what the person gets.
                deadline = max(value.new_deadline, schedule.deadline)
            closes_at = deadline + schedule.closes_after
            await self._ensure_review(value.person_id)
            handle = workflow.get_external_workflow_handle(review_workflow_id(self._config.cycle_id, value.person_id))
            try:
                await handle.signal(EmployeeReviewWorkflow.deadline_changed, value)
            except FailureError as error:
                raise refuse(Refusal.participant_not_found, "no running review for this person") from error
            late = state.late_closes_at.get(value.step)
            state.late_closes_at[value.step] = personal_closes_at if late is None else max(late, personal_closes_at)
        else:
            schedule = schedule.model_copy(update={"deadline": value.new_deadline})
            state.schedule.steps[value.step] = schedule
            closes_at = schedule.closes_at
            state.gate_escalations.pop(value.step, None)
            if value.step in TASK_STEPS:
                state.broadcasts.append(Broadcast(kind=BroadcastKind.deadline_changed, extension=value))
        self._changes += 1
        return DeadlineResult(step=value.step, deadline=deadline, closes_at=closes_at)

    @extend_deadline.validator
    def _validate_extend_deadline(self, value: ExtendDeadline) -> None:
        self._check_extension(value)

    def _check_add(self) -> None:
        self._check_active()
        if phase_index(self._state.phase) > phase_index(Phase.manager_review):
            raise refuse(Refusal.too_late, "participants can only join before calibration")

    @workflow.update
    async def add_participant(self, value: AddParticipant) -> CycleAck:
        self._check_add()
        if self._state.bulk_launch:
            person_id = value.participant.person_id
            counted_later = self._fan_out_will_reach(person_id)
            # Joined after the launch: no task of theirs was written in bulk, the review creates it.
            started = await self._start_reviews(person_id=person_id, first_task_written=False, join=True)
            if person_id in started.ended:
                raise refuse(Refusal.already_participant, "the person already had a review in this cycle")
            if not counted_later:
                self._state.participants += 1
            self._changes += 1
            return CycleAck(phase=self._state.phase)
        self._state.starting.append(value.participant.person_id)
        self._state.max_starting = max(self._state.max_starting, len(self._state.starting))
        if not await self._start_child(value.participant):
            raise refuse(Refusal.already_participant, "the person already has a review in this cycle")
        self._changes += 1
        return CycleAck(phase=self._state.phase)

    @add_participant.validator
    def _validate_add_participant(self, value: AddParticipant) -> None:
        self._check_add()

    @workflow.update
    async def remove_participant(self, value: RemoveParticipant) -> CycleAck:
        self._check_active()
        await self._ensure_review(value.person_id)
        handle = workflow.get_external_workflow_handle(review_workflow_id(self._config.cycle_id, value.person_id))
        try:
            await handle.signal(
                EmployeeReviewWorkflow.cycle_close, CloseReview(reason=value.reason, actor_id=value.actor_id)
            )
        except FailureError as error:
            raise refuse(Refusal.participant_not_found, "no running review for this person") from error
        return CycleAck(phase=self._state.phase)

    @remove_participant.validator
    def _validate_remove_participant(self, value: RemoveParticipant) -> None:
        self._check_active()

    def _check_advance(self, value: AdvancePhase) -> None:
        self._check_active()
        current = phase_index(self._state.phase)
        if current + 1 >= len(PHASES) or value.to is not PHASES[current + 1]:
            raise refuse(
                Refusal.invalid_phase, f"the cycle is in {self._state.phase.value}: it can only advance by one"
            )
        if self._state.advance_requested is not None:
            raise refuse(Refusal.invalid_phase, "an advance is already under way")

    @workflow.update
    def advance_phase(self, value: AdvancePhase) -> CycleAck:
        self._check_advance(value)
        self._state.advance_requested = value.to
        self._changes += 1
        return CycleAck(phase=value.to)

    @advance_phase.validator
    def _validate_advance_phase(self, value: AdvancePhase) -> None:
        self._check_advance(value)

    @workflow.update
    def cancel(self, value: CancelCycle) -> CycleAck:
        self._check_active()
        self._state.cancelled = True
        self._changes += 1
        return CycleAck(phase=Phase.closed, cancelled=True)

    @cancel.validator
    def _validate_cancel(self, value: CancelCycle) -> None:
        self._check_active()

    def _check_session(self, value: SessionFinalized) -> None:
        self._check_active()
        sessions = self._state.calibration_sessions
        if self._state.phase is not Phase.calibration or sessions is None:
            raise refuse(Refusal.invalid_phase, "calibration is not open")
        if value.session_id not in sessions:
            raise refuse(Refusal.unknown_session, f"no calibration session {value.session_id} in this cycle")
        if sessions[value.session_id]:
            raise refuse(Refusal.task_done, "the session is already final")

    @workflow.update
    def calibration_finalized(self, value: SessionFinalized) -> CycleAck:
        self._check_session(value)
        assert self._state.calibration_sessions is not None
        self._state.calibration_sessions[value.session_id] = True
        self._changes += 1
        return CycleAck(phase=self._state.phase)

    @calibration_finalized.validator
    def _validate_calibration_finalized(self, value: SessionFinalized) -> None:
        self._check_session(value)

    def _check_org_unit(self, value: PayApprovalFinalized) -> None:
        self._check_active()
        org_units = self._state.org_units
        if self._state.phase is not Phase.pay_approval or org_units is None:
            raise refuse(Refusal.invalid_phase, "pay approval is not open")
        if value.org_unit not in org_units:
            raise refuse(Refusal.unknown_org_unit, f"no pay approval for {value.org_unit} in this cycle")
        if org_units[value.org_unit]:
            raise refuse(Refusal.task_done, "the organisation unit is already approved")

    @workflow.update
    def pay_approval_finalized(self, value: PayApprovalFinalized) -> CycleAck:
        self._check_org_unit(value)
        assert self._state.org_units is not None
        self._state.org_units[value.org_unit] = True
        self._changes += 1
        return CycleAck(phase=self._state.phase)

    @pay_approval_finalized.validator
    def _validate_pay_approval_finalized(self, value: PayApprovalFinalized) -> None:
        self._check_org_unit(value)

    # --- queries -----------------------------------------------------------------------------

    def _step_progress(self) -> dict[Step, StepProgress]:
        progress: dict[Step, StepProgress] = {}
        for step in TASK_STEPS:
            counts = {status.value: count for status, count in self._state.counts.get(step, {}).items()}
            item = StepProgress(**counts)
            item.pending = self._state.participants - sum(counts.values())
            progress[step] = item
        return progress

    @workflow.query
    def progress(self) -> CycleProgress:
        state = self._state
        return CycleProgress(
            cycle_id=self._config.cycle_id,
            phase=state.phase,
            cancelled=state.cancelled,
            participants=state.participants,
            fanout_done=state.fanout_done,
            ended=state.ended,
            run=state.run,
            steps=self._step_progress(),
            calibration_pending=self._gate_pending(Step.calibration),
            pay_approval_pending=self._gate_pending(Step.pay_approval),
            max_starting=state.max_starting,
            max_started_in_a_run=state.max_started_in_a_run,
        )
