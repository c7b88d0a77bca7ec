"""A small cycle end to end on a real ``temporal server start-dev``, then replayed."""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio.client import Client

from tests.workflows.fakes import serving
from tests.workflows.scenario import PEOPLE, fakes, run_small_cycle
from workflows.models import Phase, Step, task_id
from workflows.worker import build_replayer


async def test_small_cycle_end_to_end_on_the_dev_server_replays(dev_client: Client, task_queue: str) -> None:
    services = fakes()
    cycle_id = uuid.uuid4().hex[:10]
    async with serving(dev_client, task_queue, services):
        cycle, children = await run_small_cycle(dev_client, task_queue, services, cycle_id)
        result = await cycle.result()
        assert (result.participants, result.ended, result.cancelled) == (2, 2, False)
        for step in Step:
            if step in result.steps:
                assert result.steps[step].done == len(PEOPLE)
        assert [m.phase for m in services.named("reviews.mark_phase")] == list(Phase)
        finals = [await child.result() for child in children]
        assert all(final.final_rating is None and final.closed_reason is None for final in finals)
        assert len(services.tasks) == 4 * len(PEOPLE)
        # The shorter cycle-wide extension (day 15) left p1's personal one (day 25) alone.
        due = {
            person: [
                u.due_at
                for u in services.named("reviews.update_task")
                if u.task_id == task_id(cycle_id, person, Step.self_assessment) and u.due_at
            ]
            for person in PEOPLE
        }
        (personal,), (cycle_wide,) = due.values()  # one deadline change each
        assert personal - cycle_wide == timedelta(days=10)
        reminders = services.named("reviews.remind_gate")
        for step in (Step.calibration, Step.pay_approval):
            numbers = [r.number for r in reminders if r.step is step]
            assert numbers == list(range(1, len(numbers) + 1))
            assert len(numbers) >= 2

    replayer = build_replayer()
    await replayer.replay_workflow(await cycle.fetch_history())
    for child in children:
        await replayer.replay_workflow(await child.fetch_history())
