"""ReviewCycleWorkflow on the time-skipping server: fan-out, phases, HR changes, cancellation."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from tests.workflows.fakes import (
    HR,
    FakeServices,
    eventually,
    eventually_async,
    fresh_time_skipping_env,
    queues_for,
    schedule,
    serving,
    skip,
)
from workflows.client import refusal_of
from workflows.employee_review import EmployeeReviewWorkflow
from workflows.handles import CycleHandle, cycle_handle, review_handle
from workflows.models import (
    PHASES,
    AddParticipant,
    AdvancePhase,
    CancelCycle,
    CloseReason,
    CompleteTask,
    CycleConfig,
    CycleResult,
    EscalationTarget,
    ExtendDeadline,
    GateReminderInput,
    Participant,
    PayApprovalFinalized,
    Phase,
    Refusal,
    RemoveParticipant,
    ReviewCycleInput,
    SessionFinalized,
    Step,
    TaskStatus,
    cycle_workflow_id,
    phase_index,
    review_workflow_id,
    task_id,
)
from workflows.review_cycle import ReviewCycleWorkflow


def people(count: int) -> list[Participant]:
    return [Participant(person_id=f"p{n:05d}", manager_id="m1", org_unit="ou1") for n in range(count)]


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with fresh_time_skipping_env() as environment:
        yield environment


async def start_cycle(client: Client, task_queue: str, start: datetime, **config: object) -> tuple[str, CycleHandle]:
    cycle_id = uuid.uuid4().hex[:10]
    handle = await client.start_workflow(
        ReviewCycleWorkflow.run,
        ReviewCycleInput(
            config=CycleConfig(
                cycle_id=cycle_id, hr_owner_id=HR, schedule=schedule(start), queues=queues_for(task_queue), **config
            )
        ),
        id=cycle_workflow_id(cycle_id),
        task_queue=task_queue,
    )
    return cycle_id, handle


async def all_started(handle: CycleHandle, count: int, *, timeout: float = 10) -> None:
    async def check() -> bool:
        # A short RPC timeout: the time-skipping server may drop a query that races a
        # continue-as-new; eventually_async asks again.
        progress = await handle.query(ReviewCycleWorkflow.progress, rpc_timeout=timedelta(seconds=2))
        return progress.fanout_done and progress.steps[Step.self_assessment].open == count

    await eventually_async(check, timeout=max(timeout, 10))


async def refused(handle: WorkflowHandle[object, object], update: object, value: object) -> Refusal:
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update(update, value)  # type: ignore[call-overload]
    refusal = refusal_of(caught.value)
    assert refusal is not None
    return refusal.code


async def test_cancellation_closes_every_child(env: WorkflowEnvironment, task_queue: str) -> None:
    fakes = FakeServices(participants=people(5))
    async with serving(env, task_queue, fakes):
        cycle_id, handle = await start_cycle(env.client, task_queue, await env.get_current_time())
        await all_started(handle, 5)
        ack = await handle.execute_update(ReviewCycleWorkflow.cancel, CancelCycle(actor_id=HR))
        assert ack.cancelled
        result = await handle.result()
        assert result.cancelled
        assert result.steps[Step.self_assessment].closed == 5
        assert sorted(c.person_id for c in fakes.named("reviews.close_review")) == [p.person_id for p in people(5)]
        assert {c.reason for c in fakes.named("reviews.close_review")} == {CloseReason.cancelled}
        for person in people(5):
            child = review_handle(env.client, review_workflow_id(cycle_id, person.person_id))
            assert (await child.result()).closed_reason is CloseReason.cancelled
        assert [(m.phase, m.cancelled) for m in fakes.named("reviews.mark_phase")] == [
            (Phase.self_assessment, False),
            (Phase.closed, True),
        ]


async def test_participant_leaving_and_removal_close_only_their_review(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    fakes = FakeServices(participants=people(3))
    async with serving(env, task_queue, fakes):
        _, handle = await start_cycle(env.client, task_queue, await env.get_current_time())
        await all_started(handle, 3)
        await handle.execute_update(
            ReviewCycleWorkflow.remove_participant,
            RemoveParticipant(person_id="p00001", reason=CloseReason.participant_left),
        )
        await eventually(lambda: len(fakes.named("reviews.close_review")) == 1)
        closed = fakes.named("reviews.close_review")[0]
        assert (closed.person_id, closed.reason) == ("p00001", CloseReason.participant_left)
        gone = RemoveParticipant(person_id="nobody", reason=CloseReason.removed)
        assert await refused(handle, ReviewCycleWorkflow.remove_participant, gone) is Refusal.participant_not_found  # type: ignore[arg-type]

        async def counted() -> bool:
            progress = await handle.query(ReviewCycleWorkflow.progress)
            sa = progress.steps[Step.self_assessment]
            return (sa.open, sa.closed, progress.ended) == (2, 1, 1)

        await eventually_async(counted)
        await handle.execute_update(ReviewCycleWorkflow.cancel, CancelCycle(actor_id=HR))
        assert (await handle.result()).participants == 3


async def test_cycle_extension_reaches_every_child_and_add_participant(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    fakes = FakeServices(participants=people(3))
    async with serving(env, task_queue, fakes):
        start = await env.get_current_time()
        cycle_id, handle = await start_cycle(env.client, task_queue, start)
        await all_started(handle, 3)
        new_deadline = start + timedelta(days=15)
        await handle.execute_update(
            ReviewCycleWorkflow.extend_deadline,
            ExtendDeadline(step=Step.self_assessment, new_deadline=new_deadline, actor_id=HR),
        )
        await eventually(lambda: len([u for u in fakes.named("reviews.update_task") if u.due_at]) == 3)
        assert {u.due_at for u in fakes.named("reviews.update_task")} == {new_deadline}

        # One person: only their task moves, and the cycle keeps the phase open for them.
        later = start + timedelta(days=25)
        await handle.execute_update(
            ReviewCycleWorkflow.extend_deadline,
            ExtendDeadline(step=Step.self_assessment, new_deadline=later, actor_id=HR, person_id="p00002"),
        )
        await eventually(lambda: any(u.due_at == later for u in fakes.named("reviews.update_task")))

        fakes.participants.append(Participant(person_id="late", manager_id="m1"))
        await handle.execute_update(
            ReviewCycleWorkflow.add_participant,
            AddParticipant(participant=Participant(person_id="late", manager_id="m1"), actor_id=HR),
        )
        await eventually(lambda: task_id(cycle_id, "late", Step.self_assessment) in fakes.tasks)
        assert fakes.tasks[task_id(cycle_id, "late", Step.self_assessment)].due_at == new_deadline
        again = AddParticipant(participant=Participant(person_id="late"), actor_id=HR)
        assert await refused(handle, ReviewCycleWorkflow.add_participant, again) is Refusal.already_participant  # type: ignore[arg-type]

        # Day 21 (15 + 6): everyone's self-assessment expired except p00002's (closes day 31).
        await skip(env, timedelta(days=21, minutes=1))

        async def phase_still_open() -> bool:
            progress = await handle.query(ReviewCycleWorkflow.progress)
            sa = progress.steps[Step.self_assessment]
            return (sa.expired, sa.open, progress.phase) == (3, 1, Phase.self_assessment)

        await eventually_async(phase_still_open)
        await skip(env, timedelta(days=10))

        async def moved_on() -> bool:
            progress = await handle.query(ReviewCycleWorkflow.progress)
            return progress.phase is Phase.manager_review and progress.steps[Step.self_assessment].expired == 4

        await eventually_async(moved_on)
        await handle.execute_update(ReviewCycleWorkflow.cancel, CancelCycle(actor_id=HR))
        await handle.result()


async def test_refusals_of_the_cycle(env: WorkflowEnvironment, task_queue: str) -> None:
    fakes = FakeServices(participants=people(1))
    async with serving(env, task_queue, fakes):
        start = await env.get_current_time()
        _, handle = await start_cycle(env.client, task_queue, start)
        await all_started(handle, 1)
        cycle: WorkflowHandle[object, object] = handle  # type: ignore[assignment]
        skip = AdvancePhase(to=Phase.calibration, actor_id=HR)
        assert await refused(cycle, ReviewCycleWorkflow.advance_phase, skip) is Refusal.invalid_phase
        session = SessionFinalized(session_id="s1", actor_id=HR)
        assert await refused(cycle, ReviewCycleWorkflow.calibration_finalized, session) is Refusal.invalid_phase
        past = ExtendDeadline(step=Step.self_assessment, new_deadline=start, actor_id=HR)
        assert await refused(cycle, ReviewCycleWorkflow.extend_deadline, past) is Refusal.invalid_deadline
        await handle.execute_update(ReviewCycleWorkflow.cancel, CancelCycle(actor_id=HR))
        assert await refused(cycle, ReviewCycleWorkflow.cancel, CancelCycle(actor_id=HR)) is Refusal.cycle_cancelled
        result = await handle.result()
        assert result.ended == result.participants


async def test_phases_from_start_to_close_with_gate_escalation(env: WorkflowEnvironment, task_queue: str) -> None:
    """Two people; HR advances early, calibration escalates at its deadline, everyone acknowledges."""
    fakes = FakeServices(participants=people(2), sessions=["s1"], org_units=["ou1"])
    async with serving(env, task_queue, fakes):
        start = await env.get_current_time()
        cycle_id, handle = await start_cycle(env.client, task_queue, start)
        await all_started(handle, 2)

        def child(person: str) -> WorkflowHandle[EmployeeReviewWorkflow, object]:
            return review_handle(env.client, review_workflow_id(cycle_id, person))

        async def complete(person: str, step: Step, actor: str) -> None:
            tid = task_id(cycle_id, person, step)
            await eventually(lambda: tid in fakes.tasks)
            await child(person).execute_update(
                EmployeeReviewWorkflow.complete_task, CompleteTask(task_id=tid, actor_id=actor)
            )

        # Self-assessments: one done, HR advances the phase early for the other.
        await complete("p00000", Step.self_assessment, "p00000")
        await handle.execute_update(
            ReviewCycleWorkflow.advance_phase, AdvancePhase(to=Phase.manager_review, actor_id=HR)
        )
        for person in ("p00000", "p00001"):
            await complete(person, Step.manager_review, "m1")

        async def in_phase(phase: Phase) -> None:
            async def check() -> bool:
                return (await handle.query(ReviewCycleWorkflow.progress)).phase is phase

            await eventually_async(check)

        async def calibration_open() -> bool:
            return (await handle.query(ReviewCycleWorkflow.progress)).calibration_pending == ["s1"]

        await eventually_async(calibration_open)
        # Calibration is due on day 50; the policy escalates at once, after 2 and 4 days.
        await skip(env, timedelta(days=50, minutes=1))
        await eventually(lambda: len(fakes.named("reviews.escalate_gate")) == 1)
        gate = fakes.named("reviews.escalate_gate")[0]
        assert (gate.step, gate.target, gate.pending) == (Step.calibration, EscalationTarget.manager, ["s1"])
        await handle.execute_update(
            ReviewCycleWorkflow.calibration_finalized, SessionFinalized(session_id="s1", actor_id=HR)
        )

        await in_phase(Phase.pay_approval)
        for person in ("p00000", "p00001"):
            await complete(person, Step.pay_review, "m1")
        await handle.execute_update(
            ReviewCycleWorkflow.pay_approval_finalized, PayApprovalFinalized(org_unit="ou1", actor_id=HR)
        )
        await in_phase(Phase.acknowledgement)
        for person in ("p00000", "p00001"):
            await complete(person, Step.acknowledgement, person)

        result = await handle.result()
        assert not result.cancelled
        assert result.steps[Step.self_assessment].done == 1
        assert result.steps[Step.self_assessment].expired == 1
        for step in (Step.manager_review, Step.pay_review, Step.acknowledgement):
            assert result.steps[step].done == 2
        assert [m.phase for m in fakes.named("reviews.mark_phase")] == list(Phase)
        statuses = [t.status for t in (await child("p00001").result()).tasks]  # type: ignore[attr-defined]
        assert statuses == [TaskStatus.expired, TaskStatus.done, TaskStatus.done, TaskStatus.done]


async def fan_out(
    env: WorkflowEnvironment, task_queue: str, *, participants: int, **config: object
) -> tuple[CycleResult, FakeServices, CycleHandle]:
    """Start a cycle of ``participants``, wait until every review is up, cancel it, wait for the end."""
    fakes = FakeServices(participants=people(participants), create_delay=0.002)
    async with serving(env, task_queue, fakes):
        start = await env.get_current_time()
        _, handle = await start_cycle(env.client, task_queue, start, **config)
        await all_started(handle, participants, timeout=participants / 5)
        await handle.execute_update(ReviewCycleWorkflow.cancel, CancelCycle(actor_id=HR))
        # A handle without a run id: the test server's long poll does not follow continue-as-new.
        latest = cycle_handle(env.client, handle.id)
        result = await latest.result()
    return result, fakes, handle


async def test_bulk_launch_writes_every_first_task_before_any_review_starts(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """240 people: one activity writes all self-assessments, then reviews start 50 a page, 20 at once."""
    result, fakes, handle = await fan_out(
        env, task_queue, participants=240, window=20, start_page=50, history_limit=500
    )
    assert (result.participants, result.ended, result.cancelled) == (240, 240, True)
    names = [call.name for call in fakes.calls]
    assert names.count("reviews.open_first_tasks") == 1
    first_start = names.index("reviews.start_reviews")
    assert names.index("reviews.open_first_tasks") < first_start
    assert len(fakes.named("reviews.start_reviews")) == 5  # pages of 50
    assert sorted(fakes.started_reviews) == [p.person_id for p in people(240)]  # each once
    assert fakes.named("reviews.create_task") == []  # the reviews found their first task written
    assert len(fakes.tasks) == 240
    opened = fakes.named("reviews.open_first_tasks")[0].opened_at
    assert {value.template.first_task_opened_at for value in fakes.named("reviews.start_reviews")} == {opened}
    closed = [m for m in fakes.named("reviews.mark_phase") if m.phase is Phase.closed]
    assert [(m.cancelled, m.close_open_tasks) for m in closed] == [(True, True)]
    assert len(fakes.named("reviews.close_review")) == 240
    described = await handle.describe()
    assert described.run_id != handle.first_execution_run_id  # the reports filled a run: continue-as-new


async def test_fan_out_in_a_sliding_window_with_continue_as_new(env: WorkflowEnvironment, task_queue: str) -> None:
    """Cycles begun before bulk-launch: 240 children, window 20, continue-as-new every 70 starts."""
    result, fakes, handle = await fan_out(
        env, task_queue, participants=240, window=20, children_per_run=70, page_size=45, bulk_launch=False
    )
    assert (result.participants, result.ended, result.cancelled) == (240, 240, True)
    assert result.runs >= 4  # 240 children, at most 70 per run
    assert result.max_started_in_a_run == 70
    assert result.max_starting <= 20
    assert fakes.max_creating <= 20  # never more than the window creating their first task at once
    assert len(fakes.tasks) == 240  # one task each, none twice
    assert len(fakes.named("reviews.close_review")) == 240
    described = await handle.describe()
    assert described.run_id != handle.first_execution_run_id  # the run id changed: continue-as-new


async def test_cycle_wide_change_keeps_a_longer_personal_extension(env: WorkflowEnvironment, task_queue: str) -> None:
    """p00001 has a personal extension to day 25; the cycle-wide change to day 15 leaves it, day 30 wins."""
    fakes = FakeServices(participants=people(2))
    async with serving(env, task_queue, fakes):
        start = await env.get_current_time()
        cycle_id, handle = await start_cycle(env.client, task_queue, start)
        await all_started(handle, 2)
        tasks = {person: task_id(cycle_id, person, Step.self_assessment) for person in ("p00000", "p00001")}

        def due_changes(person: str) -> list[datetime]:
            return [u.due_at for u in fakes.named("reviews.update_task") if u.task_id == tasks[person] and u.due_at]

        async def extend(deadline: datetime, person: str | None = None) -> datetime:
            extension = ExtendDeadline(step=Step.self_assessment, new_deadline=deadline, actor_id=HR, person_id=person)
            return (await handle.execute_update(ReviewCycleWorkflow.extend_deadline, extension)).deadline

        personal = start + timedelta(days=25)
        assert await extend(personal, "p00001") == personal
        await eventually(lambda: due_changes("p00001") == [personal])
        cycle_wide = start + timedelta(days=15)
        assert await extend(cycle_wide) == cycle_wide
        await eventually(lambda: due_changes("p00000") == [cycle_wide])
        # A personal deadline before the cycle-wide one: the person keeps the cycle-wide one.
        assert await extend(start + timedelta(days=12), "p00000") == cycle_wide

        async def self_assessment(expired: int, *, still_open: bool) -> None:
            async def check() -> bool:
                progress = await handle.query(ReviewCycleWorkflow.progress)
                is_open = progress.phase is Phase.self_assessment
                return (progress.steps[Step.self_assessment].expired, is_open) == (expired, still_open)

            await eventually_async(check)

        await skip(env, timedelta(days=21, minutes=1))  # day 21: the cycle-wide closing time (15 + 6)
        await self_assessment(1, still_open=True)
        assert due_changes("p00000") == [cycle_wide]
        assert due_changes("p00001") == [personal]

        # A cycle-wide deadline later than the personal extension wins.
        later = start + timedelta(days=30)
        assert await extend(later) == later
        await eventually(lambda: due_changes("p00001") == [personal, later])
        assert due_changes("p00000") == [cycle_wide]  # expired: left alone
        await skip(env, timedelta(days=10))  # day 31: p00001's personal closing time has passed, not day 36
        await self_assessment(1, still_open=True)
        await skip(env, timedelta(days=5))  # day 36: the new cycle-wide closing time
        await self_assessment(2, still_open=False)
        await handle.execute_update(ReviewCycleWorkflow.cancel, CancelCycle(actor_id=HR))
        await handle.result()


async def advance_to(handle: CycleHandle, phase: Phase) -> None:
    """HR advances the cycle phase by phase (each once the previous one is open)."""
    for target in PHASES[1 : phase_index(phase) + 1]:
        previous = PHASES[phase_index(target) - 1]

        async def reached(current: Phase = previous) -> bool:
            return (await handle.query(ReviewCycleWorkflow.progress)).phase is current

        await eventually_async(reached)
        await handle.execute_update(ReviewCycleWorkflow.advance_phase, AdvancePhase(to=target, actor_id=HR))


def gate_reminders(fakes: FakeServices, step: Step) -> list[GateReminderInput]:
    return [r for r in fakes.named("reviews.remind_gate") if r.step is step]


def hours_since(fakes: FakeServices, name: str, opened: datetime) -> list[int]:
    return [round((call.at - opened) / timedelta(hours=1)) for call in fakes.calls if call.name == name]


def phase_opened_at(fakes: FakeServices, phase: Phase) -> datetime:
    return next(c.at for c in fakes.calls if c.name == "reviews.mark_phase" and c.value.phase is phase)


async def test_calibration_gate_reminders_until_every_session_is_final(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """Reminders every 3 days from calibration's opening, naming what is pending; none once all are final."""
    fakes = FakeServices(participants=people(1), sessions=["s1", "s2"], org_units=["ou1"])
    async with serving(env, task_queue, fakes):
        start = await env.get_current_time()
        cycle_id, handle = await start_cycle(env.client, task_queue, start)
        await all_started(handle, 1)
        await advance_to(handle, Phase.calibration)

        async def calibration_open() -> bool:
            return (await handle.query(ReviewCycleWorkflow.progress)).calibration_pending == ["s1", "s2"]

        await eventually_async(calibration_open)
        opened = phase_opened_at(fakes, Phase.calibration)
        assert fakes.named("reviews.remind_gate") == []
        await skip(env, timedelta(days=7))
        await eventually(lambda: len(gate_reminders(fakes, Step.calibration)) == 2)
        first, second = gate_reminders(fakes, Step.calibration)
        assert [(r.number, r.pending, r.hr_owner_id) for r in (first, second)] == [
            (1, ["s1", "s2"], HR),
            (2, ["s1", "s2"], HR),
        ]
        assert first.due_at == start + timedelta(days=50)  # the calibration deadline
        assert first.cycle_id == cycle_id
        assert first.idempotency_key != second.idempotency_key
        assert hours_since(fakes, "reviews.remind_gate", opened) == [72, 144]

        await handle.execute_update(
            ReviewCycleWorkflow.calibration_finalized, SessionFinalized(session_id="s1", actor_id=HR)
        )
        await skip(env, timedelta(days=3))
        await eventually(lambda: len(gate_reminders(fakes, Step.calibration)) == 3)
        assert gate_reminders(fakes, Step.calibration)[2].pending == ["s2"]

        await handle.execute_update(
            ReviewCycleWorkflow.calibration_finalized, SessionFinalized(session_id="s2", actor_id=HR)
        )

        async def pay_approval() -> bool:
            return (await handle.query(ReviewCycleWorkflow.progress)).phase is Phase.pay_approval

        await eventually_async(pay_approval)
        await skip(env, timedelta(days=9, hours=12))  # between 3-day reminder instants (sdk-java#3088)
        assert len(gate_reminders(fakes, Step.calibration)) == 3  # every session final: no more
        assert fakes.named("reviews.escalate_gate") == []
        await handle.execute_update(ReviewCycleWorkflow.cancel, CancelCycle(actor_id=HR))
        await handle.result()


async def test_pay_approval_gate_reminders_stop_at_the_deadline_and_when_approved(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """Reminders every 3 days until the pay-approval deadline (day 90), then escalations; none after approval."""
    fakes = FakeServices(participants=people(1), sessions=[], org_units=["ou1", "ou2"])
    async with serving(env, task_queue, fakes):
        start = await env.get_current_time()
        _, handle = await start_cycle(env.client, task_queue, start)
        await all_started(handle, 1)
        await advance_to(handle, Phase.calibration)  # no sessions: pay approval opens at once

        async def pay_approval_open() -> bool:
            return (await handle.query(ReviewCycleWorkflow.progress)).pay_approval_pending == ["ou1", "ou2"]

        await eventually_async(pay_approval_open)
        opened = phase_opened_at(fakes, Phase.pay_approval)
        await skip(env, timedelta(days=6, minutes=1))
        await eventually(lambda: len(gate_reminders(fakes, Step.pay_approval)) == 2)
        await handle.execute_update(
            ReviewCycleWorkflow.pay_approval_finalized, PayApprovalFinalized(org_unit="ou1", actor_id=HR)
        )
        # Day 90 is the deadline: reminders on days 3, 6, ... 87 after the opening (about day 0).
        await skip(env, timedelta(days=84))
        await eventually(lambda: len(fakes.named("reviews.escalate_gate")) == 1)
        reminders = gate_reminders(fakes, Step.pay_approval)
        assert [r.number for r in reminders] == list(range(1, 30))
        assert hours_since(fakes, "reviews.remind_gate", opened) == [72 * n for n in range(1, 30)]
        assert [r.pending for r in reminders[:2]] == [["ou1", "ou2"]] * 2
        assert {tuple(r.pending) for r in reminders[2:]} == {("ou2",)}
        assert {r.due_at for r in reminders} == {start + timedelta(days=90)}
        assert len({r.idempotency_key for r in reminders}) == 29
        assert fakes.named("reviews.remind_gate") == reminders  # none for calibration (no sessions)

        await skip(env, timedelta(days=3))
        assert len(gate_reminders(fakes, Step.pay_approval)) == 29  # past the deadline: escalations only
        await handle.execute_update(
            ReviewCycleWorkflow.pay_approval_finalized, PayApprovalFinalized(org_unit="ou2", actor_id=HR)
        )

        async def acknowledgement() -> bool:
            return (await handle.query(ReviewCycleWorkflow.progress)).phase is Phase.acknowledgement

        await eventually_async(acknowledgement)
        # Land between the acknowledgement task's 3-day reminders: the cancel below makes the
        # review cancel its reminder timer, and the time-skipping server strands a run whose
        # task cancels a timer that fired meanwhile (temporalio/sdk-java#3088; seen once in CI).
        await skip(env, timedelta(days=9, hours=12))
        assert len(fakes.named("reviews.remind_gate")) == 29
        await handle.execute_update(ReviewCycleWorkflow.cancel, CancelCycle(actor_id=HR))
        await handle.result()


async def test_gate_reminder_numbers_survive_continue_as_new(env: WorkflowEnvironment, task_queue: str) -> None:
    """Reminders every 12 hours for 50 days fill the history: the cycle continues as new, numbers go on."""
    fakes = FakeServices(participants=people(1), sessions=["s1"])
    async with serving(env, task_queue, fakes):
        start = await env.get_current_time()
        plan = schedule(start)
        calibration = plan.of(Step.calibration)
        plan.steps[Step.calibration] = calibration.model_copy(
            update={"policy": calibration.policy.model_copy(update={"reminder_every": timedelta(hours=12)})}
        )
        cycle_id = uuid.uuid4().hex[:10]
        await env.client.start_workflow(
            ReviewCycleWorkflow.run,
            ReviewCycleInput(
                config=CycleConfig(
                    cycle_id=cycle_id, hr_owner_id=HR, schedule=plan, history_limit=500, queues=queues_for(task_queue)
                )
            ),
            id=cycle_workflow_id(cycle_id),
            task_queue=task_queue,
        )
        # A handle without a run id follows the runs.
        handle = cycle_handle(env.client, cycle_workflow_id(cycle_id))
        await all_started(handle, 1)
        await advance_to(handle, Phase.calibration)
        await skip(env, timedelta(days=50, minutes=1))
        await eventually(lambda: len(fakes.named("reviews.escalate_gate")) == 1, timeout=30)
        reminders = gate_reminders(fakes, Step.calibration)
        assert [r.number for r in reminders] == list(range(1, 100))  # 12 h * 99 < 50 days
        assert len({r.idempotency_key for r in reminders}) == 99
        assert (await handle.query(ReviewCycleWorkflow.progress)).run > 1
        await handle.execute_update(ReviewCycleWorkflow.cancel, CancelCycle(actor_id=HR))
        await handle.result()
