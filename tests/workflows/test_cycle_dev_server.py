"""A small cycle end to end on a real ``temporal server start-dev``, then replayed."""

from __future__ import annotations

import uuid

from temporalio.client import Client

from tests.workflows.fakes import serving
from tests.workflows.scenario import PEOPLE, fakes, run_small_cycle
from workflows.models import Phase, Step
from workflows.worker import build_replayer


async def test_small_cycle_end_to_end_on_the_dev_server_replays(dev_client: Client, task_queue: str) -> None:
    services = fakes()
    async with serving(dev_client, task_queue, services):
        cycle, children = await run_small_cycle(dev_client, task_queue, services, uuid.uuid4().hex[:10])
        result = await cycle.result()
        assert (result.participants, result.ended, result.cancelled) == (2, 2, False)
        for step in Step:
            if step in result.steps:
                assert result.steps[step].done == len(PEOPLE)
        assert [m.phase for m in services.named("reviews.mark_phase")] == list(Phase)
        finals = [await child.result() for child in children]
        assert all(final.final_rating is None and final.closed_reason is None for final in finals)
        assert len(services.tasks) == 4 * len(PEOPLE)

    replayer = build_replayer()
    await replayer.replay_workflow(await cycle.fetch_history())
    for child in children:
        await replayer.replay_workflow(await child.fetch_history())
