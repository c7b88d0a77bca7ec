"""One participant's review: their tasks, deadlines, reminders and escalations.

The workflow runs the steps in order: self-assessment (employee), manager review (manager),
then waits for the cycle to open pay approval (sending the calibrated rating first) for the
pay review (manager), then acknowledgement (employee). Each task is created in the reviews
service's inbox by an activity and completed by the ``complete_task`` Update, which the
service API delivers. See docs/workflows.md for the protocol.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from datetime import datetime, timedelta
from functools import partial

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from workflows import activities
    from workflows.common import (
        ACTIVITY_RETRY,
        ACTIVITY_TIMEOUT,
        REPORT_SIGNAL,
        SERVICE_QUEUES_PATCH,
        is_due,
        refuse,
        seconds_until,
        task_timeline,
    )
    from workflows.models import (
        FINISHED,
        STEP_PHASE,
        TASK_STEPS,
        ChangeManager,
        CloseReason,
        CloseReview,
        CloseReviewInput,
        CompleteTask,
        CreateTaskInput,
        DeadlineResult,
        EmployeeReviewInput,
        EmployeeReviewResult,
        EscalateTaskInput,
        EscalationStep,
        EscalationTarget,
        ExtendDeadline,
        FinalRating,
        ManagerChainInput,
        ManagerChanged,
        OpenPeerReviewsInput,
        ParticipantReport,
        PeerAssignment,
        PeerFeedbackPlan,
        Phase,
        PhaseOpened,
        ReassignTask,
        RecordAndCreateTask,
        Refusal,
        ReleasePeerReviewsInput,
        ReminderInput,
        StatusTransition,
        Step,
        TaskResult,
        TaskState,
        TaskStatus,
        UpdateTaskInput,
        phase_index,
        review_workflow_id,
        task_id,
    )


# Patch id (``workflow.patched``), decided once per run in ``__init__``: a review whose history
# began without the marker keeps applying every deadline change as it comes, to its end.
PERSONAL_DEADLINES_PATCH = "personal-deadlines"
# A completion is answered before the inbox records it (the API records it too); runs begun
# before this marker keep recording inside the Update, as their histories show.
RECORD_AFTER_REPLY_PATCH = "record-completion-after-reply"
# A completion answered is recorded by the activity that creates the next task, and reported to
# the cycle in one signal with that task's opening: a submit costs the review three workflow
# tasks instead of five, and the cycle one report instead of two. Runs begun before this marker
# record and report each change on its own, as their histories show.
RECORD_WITH_NEXT_TASK_PATCH = "record-completion-with-next-task"
# A template asking for peer feedback (``schedule.peer_feedback``) gives the review a 360 round
# beside the self-assessment: nomination, approval, one task per approved peer, then the release
# when the round closes. Runs begun before this marker never had one.
PEER_FEEDBACK_PATCH = "peer-feedback"
# A report the cycle did not take is sent again after each of these pauses. Temporal's
# time-skipping server has answered "not found" for a cycle in the middle of a continue-as-new,
# and a lost report leaves the cycle's counts (and its wait for every review to end) wrong
# forever. Runs begun before this marker give up at the first refusal, as their histories show.
REPORT_RETRY_PATCH = "retry-refused-report"
REPORT_RETRY_PAUSES = (timedelta(seconds=1), timedelta(seconds=5), timedelta(seconds=30))
# Steps the participant's manager answers; ``change_manager`` moves them to someone else.
MANAGER_STEPS = frozenset({Step.manager_review, Step.pay_review})
# What change_manager moves to the new manager: the manager's steps and a 360 approval.
REASSIGNED_STEPS = MANAGER_STEPS | {Step.peer_approval}


@workflow.defn
class EmployeeReviewWorkflow:
    @workflow.init
    def __init__(self, value: EmployeeReviewInput) -> None:
        self._input = value
        # Changes only through change_manager, so a history without that Update replays as before.
        self._manager = value.manager_id or value.hr_owner_id
        self._schedule = value.schedule.model_copy(deep=True)
        self._opened: set[Phase] = set(value.opened_phases)
        self._tasks: dict[str, TaskState] = {}
        self._status: dict[Step, TaskStatus] = dict.fromkeys(TASK_STEPS, TaskStatus.pending)
        self._closed: CloseReason | None = None
        self._close_recorded = False
        self._final_rating: str | None = None
        self._calibrated = False
        self._changes = 0  # bumped by every deadline change: wakes the deadline loop
        self._outbox: list[StatusTransition] = []
        self._started_reported = False
        # A step's deadline is the later of the cycle-wide one and the person's own extension
        # (if HR gave one): a cycle-wide change never undoes a longer personal extension.
        # The workflow never continues as new, so this state lives here only.
        self._cycle_deadlines: dict[Step, datetime] = {step: self._schedule.of(step).deadline for step in TASK_STEPS}
        self._personal_deadlines: dict[Step, datetime] = {}
        # Decided at the run's first activation: patched() is memoized for the run, so asking
        # later (after an old-code workflow task) could answer differently on replay.
        self._keeps_personal = workflow.patched(PERSONAL_DEADLINES_PATCH)
        self._records_after_reply = workflow.patched(RECORD_AFTER_REPLY_PATCH)
        self._records_with_next = workflow.patched(RECORD_WITH_NEXT_TASK_PATCH)
        self._queue = value.queues.reviews if workflow.patched(SERVICE_QUEUES_PATCH) else None
        self._retries_reports = workflow.patched(REPORT_RETRY_PATCH)
        self._records: list[UpdateTaskInput] = []  # completions answered, not yet sent to the inbox
        # Asked only when the schedule has a 360 plan, so a review without one writes no marker.
        self._peer_plan: PeerFeedbackPlan | None = None
        if value.schedule.peer_feedback is not None and workflow.patched(PEER_FEEDBACK_PATCH):
            self._peer_plan = value.schedule.peer_feedback
        self._peer_lists: dict[Step, list[str]] = {}  # the nominated and the approved peers (ids)
        self._peer_released: bool | None = None
        if value.first_task_opened_at is not None:
            # The cycle's launch wrote the self-assessment into the inbox before this review
            # started (maybe long before): it is open from the first activation, so an Update
            # that started this workflow (update-with-start) finds it, and its reminders count
            # from when the person got it.
            schedule = self._schedule.of(Step.self_assessment)
            first = TaskState(
                task_id=task_id(value.cycle_id, value.person_id, Step.self_assessment),
                step=Step.self_assessment,
                assignee_id=value.person_id,
                status=TaskStatus.open,
                opened_at=value.first_task_opened_at,
                due_at=schedule.deadline,
                closes_at=schedule.closes_at,
            )
            self._tasks[first.task_id] = first
            # The cycle counted it open when it started this review: no report until it changes
            # (a signal per review to the cycle would double the cost of a launch).
            self._status[Step.self_assessment] = TaskStatus.open

    # --- run ---------------------------------------------------------------------------------

    @workflow.run
    async def run(self, value: EmployeeReviewInput) -> EmployeeReviewResult:
        manager = value.manager_id or value.hr_owner_id
        peers: asyncio.Task[None] | None = None
        if self._peer_plan is not None:
            # Beside the self-assessment: the round closes with the self-assessment phase.
            peers = asyncio.create_task(self._run_peer_round(self._peer_plan))
        plan: list[tuple[Step, str, Phase | None]] = [
            (Step.self_assessment, value.person_id, None),
            (Step.manager_review, manager, None),
            (Step.pay_review, manager, Phase.pay_approval),
            (Step.acknowledgement, value.person_id, Phase.acknowledgement),
        ]
        for step, assignee, gate in plan:
            if gate is not None:
                await self._send_held()  # nothing to create before the phase opens
                await self._wait_for_phase(gate)
            if self._closed is not None:
                break
            if self._passed(step):
                await self._send_held()
                written = self._tasks.get(task_id(value.cycle_id, value.person_id, step))
                if written is None:
                    self._set(step, TaskStatus.expired)
                elif written.status not in FINISHED:
                    await self._finish(written, TaskStatus.expired)  # it is in the inbox: expire it there
                continue
            await self._run_task(step, self._manager if step in MANAGER_STEPS else assignee)
            if not self._holds_records():
                await self._flush()
        await self._record_completions()
        if peers is not None and self._closed is None:
            await peers
        if self._closed is not None:
            await self._close()
        if peers is not None:
            await peers
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._record_completions()
        await self._flush(ended=True)
        return EmployeeReviewResult(
            person_id=value.person_id,
            closed_reason=self._closed,
            final_rating=self._final_rating,
            tasks=[
                TaskResult(task_id=t.task_id, status=t.status, assignee_id=t.assignee_id) for t in self._tasks.values()
            ],
        )

    # --- 360: nomination, approval, peer tasks, release at k (docs/workflows.md) --------------

    async def _run_peer_round(self, plan: PeerFeedbackPlan) -> None:
        person = self._input.person_id
        for step, assignee in ((Step.peer_nomination, person), (Step.peer_approval, self._manager)):
            if self._closed is not None:
                return
            if self._passed(step):
                break  # the round closed before it: no task to write only to expire it
            await self._run_task(step, self._manager if step is Step.peer_approval else assignee)
            await self._record_completions()
        if self._closed is not None:
            return
        # Only what the manager approved counts (an approval that expired approves nobody); the
        # subject and their manager are never raters, whatever a list says.
        approved = [
            peer
            for peer in dict.fromkeys(self._peer_lists.get(Step.peer_approval, []))
            if peer not in (person, self._manager, self._input.manager_id)
        ][: plan.max_peers]
        schedule = self._schedule.of(Step.peer_review)
        assignments = [
            PeerAssignment(peer_id=peer, task_id=task_id(self._input.cycle_id, person, Step.peer_review, index + 1))
            for index, peer in enumerate(approved)
        ]
        if not self._passed(Step.peer_review):
            # Feedback learns who may answer before any peer sees a task.
            await workflow.execute_activity(
                activities.open_peer_reviews,
                OpenPeerReviewsInput(
                    idempotency_key=f"{self._input.cycle_id}:{person}:peer-round",
                    cycle_id=self._input.cycle_id,
                    person_id=person,
                    manager_id=self._manager,
                    peers=assignments,
                    plan=plan,
                    closes_at=schedule.closes_at,
                ),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=ACTIVITY_RETRY,
                task_queue=self._input.queues.feedback,
            )
            for assignment in assignments:
                if self._closed is not None or self._passed(Step.peer_review):
                    break
                await self._create_task(Step.peer_review, assignment.peer_id, task_id_=assignment.task_id)
            await asyncio.gather(
                *(self._follow_task(task) for task in self._tasks.values() if task.step is Step.peer_review)
            )
            await self._record_completions()
        # Released when the round closes, never at the k-th answer: the moment of the release
        # tells nobody who answered last.
        if not is_due(schedule.closes_at, workflow.now()):
            with suppress(TimeoutError):  # the round's closing time: release now
                await workflow.wait_condition(
                    lambda: self._closed is not None or self._passed(Step.peer_review),
                    timeout=seconds_until(schedule.closes_at, workflow.now()),
                    timeout_summary="peer round closes",
                )
        released = await workflow.execute_activity(
            activities.release_peer_reviews,
            ReleasePeerReviewsInput(
                idempotency_key=f"{self._input.cycle_id}:{person}:peer-release",
                cycle_id=self._input.cycle_id,
                person_id=person,
                cancelled=self._closed is not None,
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
            task_queue=self._input.queues.feedback,
        )
        self._peer_released = released.released

    async def _run_task(self, step: Step, assignee_id: str) -> None:
        written = self._tasks.get(task_id(self._input.cycle_id, self._input.person_id, step))
        if written is None:
            await self._create_task(step, assignee_id)
        await self._follow_task(self._tasks[task_id(self._input.cycle_id, self._input.person_id, step)])

    async def _create_task(self, step: Step, assignee_id: str, *, task_id_: str | None = None) -> None:
        schedule = self._schedule.of(step)
        task = TaskState(
            task_id=task_id_ or task_id(self._input.cycle_id, self._input.person_id, step),
            step=step,
            assignee_id=assignee_id,
            status=TaskStatus.pending,
            opened_at=workflow.now(),
            due_at=schedule.deadline,
            closes_at=schedule.closes_at,
        )
        self._tasks[task.task_id] = task
        create = CreateTaskInput(
            task_id=task.task_id,
            cycle_id=self._input.cycle_id,
            person_id=self._input.person_id,
            step=step,
            assignee_id=assignee_id,
            due_at=task.due_at,
            workflow_id=review_workflow_id(self._input.cycle_id, self._input.person_id),
        )
        if self._holds_records():
            records, self._records = self._records, []
            await workflow.execute_activity(
                activities.record_and_create_task,
                RecordAndCreateTask(records=records, task=create),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=ACTIVITY_RETRY,
                task_queue=self._queue,
            )
        else:
            await workflow.execute_activity(
                activities.create_task,
                create,
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=ACTIVITY_RETRY,
                task_queue=self._queue,
            )
        if task.status is TaskStatus.pending:  # an Update may not touch it before it exists
            self._set_task(task, TaskStatus.open)

    async def _follow_task(self, task: TaskState) -> None:
        """Reminders, deadline, escalations and expiry of an open task, until it is finished."""
        step = task.step
        while True:
            if task.status is TaskStatus.done and self._holds_records():
                return  # recorded and reported with what comes next (run)
            await self._record_completions()
            await self._flush()
            if task.status in FINISHED or self._closed is not None:
                return
            if self._passed(step):
                await self._finish(task, TaskStatus.expired)
                return
            now = workflow.now()
            policy = self._schedule.of(step).policy
            due = task_timeline(
                now=now,
                opened_at=task.opened_at,
                due_at=task.due_at,
                closes_at=task.closes_at,
                marked_overdue=task.status is not TaskStatus.open,
                reminders_sent=task.reminders_sent,
                escalations_done=task.escalations_done,
                policy=policy,
            )
            if due.overdue:
                self._set_task(task, TaskStatus.overdue)
                continue
            if due.escalation is not None:
                await self._escalate(task, due.escalation, policy.escalation[due.escalation])
                continue
            if due.expired:
                await self._finish(task, TaskStatus.expired)
                return
            if due.reminder is not None:
                await self._remind(task, due.reminder)
                continue
            assert due.wake is not None  # the closing time at the latest
            await self._wait_for_change(task, due.wake, now)

    async def _wait_for_phase(self, phase: Phase) -> None:
        await workflow.wait_condition(lambda: self._closed is not None or self._reached(phase))

    async def _wait_for_change(self, task: TaskState, wake: datetime, now: datetime) -> None:
        """Until ``wake`` (a reminder, the deadline, an escalation or the close) or a change."""
        changes = self._changes
        try:
            await workflow.wait_condition(
                lambda: (
                    task.status in FINISHED
                    or self._closed is not None
                    or self._changes != changes
                    or self._passed(task.step)
                ),
                timeout=seconds_until(wake, now),
                timeout_summary=f"{task.step.value} deadline",
            )
        except TimeoutError:
            return  # something is due: the task loop decides what

    async def _remind(self, task: TaskState, number: int) -> None:
        task.reminders_sent = number
        await workflow.execute_activity(
            activities.send_reminder,
            ReminderInput(
                idempotency_key=f"{task.task_id}:reminder:{number}",
                task_id=task.task_id,
                assignee_id=task.assignee_id,
                due_at=task.due_at,
                number=number,
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
            task_queue=self._queue,
        )

    async def _escalate(self, task: TaskState, index: int, escalation: EscalationStep) -> None:
        task.escalations_done = index + 1
        hr = self._input.hr_owner_id
        notified: str | None = hr
        if escalation.notify is not EscalationTarget.hr:
            chain = await workflow.execute_activity(
                activities.manager_chain,
                ManagerChainInput(person_id=task.assignee_id),
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=ACTIVITY_RETRY,
                task_queue=self._queue,
            )
            notified = chain.manager_id if escalation.notify is EscalationTarget.manager else chain.skip_level_id
        await workflow.execute_activity(
            activities.escalate_task,
            EscalateTaskInput(
                idempotency_key=f"{task.task_id}:escalation:{index}:r{task.revision}",
                task_id=task.task_id,
                cycle_id=self._input.cycle_id,
                person_id=self._input.person_id,
                step=task.step,
                escalation_index=index,
                target=escalation.notify,
                notified_id=notified or hr,
                fell_back_to_hr=notified is None,
                due_at=task.due_at,
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
            task_queue=self._queue,
        )
        if task.status not in FINISHED:
            self._set_task(task, TaskStatus.escalated)

    async def _finish(self, task: TaskState, status: TaskStatus) -> None:
        self._set_task(task, status)
        task.revision += 1
        await self._update_task(UpdateTaskInput(task_id=task.task_id, revision=task.revision, status=status))

    async def _close(self) -> None:
        reason = self._closed
        assert reason is not None
        for task in self._tasks.values():
            if task.status not in FINISHED:
                self._set_task(task, TaskStatus.closed)
                task.revision += 1
        for step in TASK_STEPS:
            if self._status[step] not in FINISHED:
                self._set(step, TaskStatus.closed)
        await workflow.execute_activity(
            activities.close_review,
            CloseReviewInput(
                idempotency_key=f"{self._input.cycle_id}:{self._input.person_id}:close",
                cycle_id=self._input.cycle_id,
                person_id=self._input.person_id,
                reason=reason,
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
            task_queue=self._queue,
        )
        self._close_recorded = True

    def _holds_records(self) -> bool:
        return self._records_with_next and bool(self._records)

    async def _send_held(self) -> None:
        """Record and report what waited for a next task that is not created now."""
        if self._holds_records():
            await self._record_completions()
            await self._flush()

    async def _record_completions(self) -> None:
        while self._records:
            await self._update_task(self._records.pop(0))

    async def _update_task(self, change: UpdateTaskInput) -> None:
        await workflow.execute_activity(
            activities.update_task,
            change,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
            task_queue=self._queue,
        )

    def _results(self) -> list[TaskResult]:
        return [TaskResult(task_id=t.task_id, status=t.status, assignee_id=t.assignee_id) for t in self._tasks.values()]

    # --- status bookkeeping and reports to the cycle -----------------------------------------

    def _set_task(self, task: TaskState, status: TaskStatus) -> None:
        task.status = status
        self._set(task.step, status)

    def _set(self, step: Step, status: TaskStatus) -> None:
        if step not in self._status:
            return  # a 360 task: not counted by the cycle
        previous = self._status[step]
        if previous == status:
            return
        self._status[step] = status
        self._outbox.append(StatusTransition(step=step, previous=previous, status=status))

    async def _flush(self, *, ended: bool = False) -> None:
        """Send the cycle what changed since the last report, in one signal."""
        if not self._outbox and not ended:
            return
        report = ParticipantReport(
            person_id=self._input.person_id,
            transitions=self._outbox,
            started=not self._started_reported,
            ended=ended,
        )
        self._outbox = []
        self._started_reported = True
        if self._input.cycle_workflow_id is None:
            return
        cycle = workflow.get_external_workflow_handle(self._input.cycle_workflow_id)
        pauses = REPORT_RETRY_PAUSES if self._retries_reports else ()
        for attempt in range(len(pauses) + 1):
            try:
                await cycle.signal(REPORT_SIGNAL, report)
                return
            except FailureError as error:
                if attempt == len(pauses):  # the cycle is gone (closed or terminated): nobody to tell
                    workflow.logger.warning("cycle did not take the report: %s", error)
                    return
                await workflow.sleep(pauses[attempt])

    def _reached(self, phase: Phase) -> bool:
        return any(phase_index(opened) >= phase_index(phase) for opened in self._opened)

    def _passed(self, step: Step) -> bool:
        return any(phase_index(opened) > phase_index(STEP_PHASE[step]) for opened in self._opened)

    # --- Updates from the service API --------------------------------------------------------

    def _open_task(self, task_id_: str) -> TaskState:
        if self._closed is CloseReason.cancelled:
            raise refuse(Refusal.cycle_cancelled, "the review cycle was cancelled")
        if self._closed is not None:
            raise refuse(Refusal.review_closed, f"the review was closed ({self._closed.value})")
        task = self._tasks.get(task_id_)
        # A pending task is being created: the inbox may show it before the activity's result
        # reaches the workflow, so it can already be completed.
        if task is None:
            raise refuse(Refusal.task_not_found, f"no task {task_id_} in this review")
        if task.status is TaskStatus.done:
            raise refuse(Refusal.task_done, "the task is already done")
        if task.status in FINISHED:
            raise refuse(Refusal.too_late, f"the task is {task.status.value}: its phase has closed")
        return task

    @workflow.update
    async def complete_task(self, value: CompleteTask) -> TaskResult:
        task = self._open_task(value.task_id)  # again: a second Update may have won meanwhile
        self._check_actor(task, value.actor_id)
        task.completed_by = value.actor_id
        if task.step in (Step.peer_nomination, Step.peer_approval):
            # Ids only: the reviews API checked them against the directory before sending.
            self._peer_lists[task.step] = [str(peer) for peer in value.payload.get("peer_ids") or []]
        self._set_task(task, TaskStatus.done)
        task.revision += 1
        change = UpdateTaskInput(
            task_id=task.task_id,
            revision=task.revision,
            status=TaskStatus.done,
            actor_id=value.actor_id,
            payload=value.payload,
        )
        if self._records_after_reply:
            # The task loop wakes on the status change and sends it right after this reply.
            self._records.append(change)
        else:
            await self._update_task(change)
        return TaskResult(task_id=task.task_id, status=task.status, assignee_id=task.assignee_id)

    @complete_task.validator
    def _validate_complete_task(self, value: CompleteTask) -> None:
        self._check_actor(self._open_task(value.task_id), value.actor_id)

    @staticmethod
    def _check_actor(task: TaskState, actor_id: str) -> None:
        if actor_id != task.assignee_id:
            raise refuse(Refusal.wrong_actor, "only the task's assignee may complete it")

    @workflow.update
    async def reassign_task(self, value: ReassignTask) -> TaskResult:
        task = self._open_task(value.task_id)
        await self._reassign(task, value.new_assignee_id, value.actor_id)
        return TaskResult(task_id=task.task_id, status=task.status, assignee_id=task.assignee_id)

    async def _reassign(self, task: TaskState, assignee_id: str, actor_id: str) -> None:
        if task.assignee_id == assignee_id:
            return
        task.assignee_id = assignee_id
        task.revision += 1
        self._changes += 1
        await self._update_task(
            UpdateTaskInput(task_id=task.task_id, revision=task.revision, assignee_id=assignee_id, actor_id=actor_id)
        )

    @workflow.update
    async def change_manager(self, value: ChangeManager) -> ManagerChanged:
        self._check_change_manager()
        self._manager = value.new_manager_id
        moved: list[str] = []
        for task in list(self._tasks.values()):
            if task.step not in REASSIGNED_STEPS:
                continue
            # A task still being created would be created for the old manager: move it once it exists.
            await workflow.wait_condition(partial(self._created_or_closed, task))
            if task.status in FINISHED or self._closed is not None or task.assignee_id == value.new_manager_id:
                continue
            await self._reassign(task, value.new_manager_id, value.actor_id)
            moved.append(task.task_id)
        return ManagerChanged(manager_id=self._manager, reassigned_task_ids=moved)

    def _created_or_closed(self, task: TaskState) -> bool:
        return task.status is not TaskStatus.pending or self._closed is not None

    @change_manager.validator
    def _validate_change_manager(self, value: ChangeManager) -> None:
        self._check_change_manager()

    def _check_change_manager(self) -> None:
        if self._closed is CloseReason.cancelled:
            raise refuse(Refusal.cycle_cancelled, "the review cycle was cancelled")
        if self._closed is not None:
            raise refuse(Refusal.review_closed, f"the review was closed ({self._closed.value})")
        if all(self._status[step] in FINISHED for step in MANAGER_STEPS):
            raise refuse(Refusal.too_late, "the manager's tasks of this review are over")

    @reassign_task.validator
    def _validate_reassign_task(self, value: ReassignTask) -> None:
        self._open_task(value.task_id)

    @workflow.update
    async def extend_deadline(self, value: ExtendDeadline) -> DeadlineResult:
        """HR extends this person's deadline directly: a personal extension."""
        self._check_extension(value)
        if self._keeps_personal:
            return await self._change_deadline(value, personal=True)
        return await self._apply_deadline(value.step, value.new_deadline, value.actor_id)

    @extend_deadline.validator
    def _validate_extend_deadline(self, value: ExtendDeadline) -> None:
        self._check_extension(value)

    def _check_extension(self, value: ExtendDeadline) -> None:
        if self._closed is CloseReason.cancelled:
            raise refuse(Refusal.cycle_cancelled, "the review cycle was cancelled")
        if self._closed is not None:
            raise refuse(Refusal.review_closed, f"the review was closed ({self._closed.value})")
        if value.step not in TASK_STEPS:
            raise refuse(Refusal.invalid_deadline, f"{value.step.value} is a cycle step: extend it on the cycle")
        if value.new_deadline <= workflow.now():
            raise refuse(Refusal.invalid_deadline, "the new deadline is in the past")
        if self._status[value.step] is TaskStatus.done:
            raise refuse(Refusal.task_done, "the task is already done")
        if self._status[value.step] in FINISHED or self._passed(value.step):
            raise refuse(Refusal.too_late, f"the {value.step.value} step has closed")

    def _effective_deadline(self, step: Step) -> datetime:
        cycle_wide = self._cycle_deadlines[step]
        personal = self._personal_deadlines.get(step)
        return cycle_wide if personal is None else max(cycle_wide, personal)

    async def _change_deadline(self, value: ExtendDeadline, *, personal: bool) -> DeadlineResult:
        """Record a personal or cycle-wide deadline; apply the later of the two if it moved."""
        if personal:
            self._personal_deadlines[value.step] = value.new_deadline
        else:
            self._cycle_deadlines[value.step] = value.new_deadline
        deadline = self._effective_deadline(value.step)
        current = self._schedule.of(value.step)
        if deadline == current.deadline:
            # Nothing moves (a shorter cycle-wide change under a personal extension): the
            # escalations already sent stay sent.
            return DeadlineResult(step=value.step, deadline=current.deadline, closes_at=current.closes_at)
        return await self._apply_deadline(value.step, deadline, value.actor_id)

    async def _apply_deadline(self, step: Step, deadline: datetime, actor_id: str) -> DeadlineResult:
        current = self._schedule.of(step)
        schedule = current.model_copy(update={"deadline": deadline})
        self._schedule.steps[step] = schedule
        for task in self._tasks.values():
            if task.step is step and task.status not in FINISHED:
                task.due_at = schedule.deadline
                task.closes_at = schedule.closes_at
                task.escalations_done = 0
                task.revision += 1
                if task.status is not TaskStatus.pending and not is_due(task.due_at, workflow.now()):
                    self._set_task(task, TaskStatus.open)
                self._changes += 1
                await self._update_task(
                    UpdateTaskInput(task_id=task.task_id, revision=task.revision, due_at=task.due_at, actor_id=actor_id)
                )
        self._changes += 1
        return DeadlineResult(step=step, deadline=schedule.deadline, closes_at=schedule.closes_at)

    @workflow.update
    async def close(self, value: CloseReview) -> EmployeeReviewResult:
        self._check_close()
        self._closed = value.reason
        await workflow.wait_condition(lambda: self._close_recorded)
        return EmployeeReviewResult(
            person_id=self._input.person_id,
            closed_reason=self._closed,
            final_rating=self._final_rating,
            tasks=[
                TaskResult(task_id=t.task_id, status=t.status, assignee_id=t.assignee_id) for t in self._tasks.values()
            ],
        )

    @close.validator
    def _validate_close(self, value: CloseReview) -> None:
        self._check_close()

    def _check_close(self) -> None:
        if self._closed is CloseReason.cancelled:
            raise refuse(Refusal.cycle_cancelled, "the review cycle was cancelled")
        if self._closed is not None:
            raise refuse(Refusal.review_closed, f"the review is already closed ({self._closed.value})")
        if all(status in FINISHED for status in self._status.values()):
            raise refuse(Refusal.review_closed, "the review has already finished")

    # --- signals from the cycle --------------------------------------------------------------

    @workflow.signal
    def phase_opened(self, value: PhaseOpened) -> None:
        self._opened.add(value.phase)

    @workflow.signal
    def calibration_finalized(self, value: FinalRating) -> None:
        self._final_rating = value.rating
        self._calibrated = True

    @workflow.signal
    async def deadline_changed(self, value: ExtendDeadline) -> None:
        """From the cycle: a personal extension (``person_id`` set) or a cycle-wide change."""
        if value.step not in TASK_STEPS or self._closed is not None:
            return
        if self._status[value.step] not in FINISHED and not self._passed(value.step):
            if self._keeps_personal:
                await self._change_deadline(value, personal=value.person_id is not None)
            else:
                await self._apply_deadline(value.step, value.new_deadline, value.actor_id)

    @workflow.signal
    def cycle_close(self, value: CloseReview) -> None:
        if self._closed is None:
            self._closed = value.reason

    # --- queries -----------------------------------------------------------------------------

    @workflow.query
    def tasks(self) -> list[TaskState]:
        return list(self._tasks.values())
