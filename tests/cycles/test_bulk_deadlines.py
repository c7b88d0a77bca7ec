"""A cycle-wide extension that lands between the bulk write of the first tasks and the start of
their reviews reaches the inbox.

The cycle broadcasts an extension only to reviews that exist; a review started afterwards
begins with the new deadline, so ``reviews.start_reviews`` brings the bulk-written task along.
Seen first as a flaky HR-actions test under load: the inbox kept the launch's deadline.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import ActivityEnvironment

from services.reviews.cycles.activities import ReviewsActivities
from services.reviews.cycles.review_starts import template_of
from services.reviews.models import OutboxEvent, ReviewCycle, ReviewTask
from shared.database import utcnow
from shared.settings import Settings
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.cycle_reads.support import Seeded, sessionmaker_of
from tests.support.processes import TemporalServer
from workflows.models import StartReviewsInput, Step, review_workflow_id

pytestmark = pytest.mark.database


async def test_a_review_started_after_an_extension_moves_its_bulk_written_task(
    service_client: ServiceClientFactory, auth: TokenFactory, settings: Settings, temporal_server: TemporalServer
) -> None:
    async with service_client("reviews") as reviews:
        seeded = await Seeded(reviews, auth, settings).build()
        alice = await seeded.add_task(seeded.alice, "self_assessment")
        bob = await seeded.add_task(seeded.bob, "self_assessment")
        manager = await seeded.add_task(seeded.manager, "self_assessment", status="done")
        sessionmaker = sessionmaker_of(reviews)
        async with sessionmaker() as session, session.begin():
            # Bob's review already moved his task (a personal extension): revision 2 is the review's.
            bobs = await session.get(ReviewTask, bob)
            assert bobs is not None
            bobs.revision = 2
            cycle = await session.get(ReviewCycle, uuid.UUID(seeded.cycle_id))
            assert cycle is not None
            template = template_of(cycle, settings, utcnow())
            before = {task.id: task.due_at for task in await session.scalars(select(ReviewTask))}
        extended = template.schedule.of(Step.self_assessment).deadline + timedelta(days=7)
        template.schedule.steps[Step.self_assessment] = template.schedule.of(Step.self_assessment).model_copy(
            update={"deadline": extended}
        )

        client = await Client.connect(temporal_server.address, data_converter=pydantic_data_converter)
        queue = f"test-{uuid.uuid4().hex[:12]}"  # no worker: the reviews only need to exist
        started = await ActivityEnvironment(client=client).run(
            ReviewsActivities(sessionmaker).start_reviews,
            StartReviewsInput(cycle_id=seeded.cycle_id, template=template, workflow_task_queue=queue),
        )
        assert started.participants == len(seeded.participants)
        try:
            async with sessionmaker() as session:
                after = {task.id: task for task in await session.scalars(select(ReviewTask))}
                events = list(
                    await session.scalars(
                        select(OutboxEvent.payload).where(
                            OutboxEvent.subject == "meritloop.reviews.task.deadline-changed"
                        )
                    )
                )
            assert after[alice].due_at == extended
            assert after[alice].revision == 1  # the review's own first update still applies
            assert after[bob].due_at == before[bob]
            assert after[manager].due_at == before[manager]
            assert len(events) == 1
            assert alice in events[0]

            again = await ActivityEnvironment(client=client).run(
                ReviewsActivities(sessionmaker).start_reviews,
                StartReviewsInput(cycle_id=seeded.cycle_id, template=template, workflow_task_queue=queue),
            )
            assert again.ended == []
            async with sessionmaker() as session:
                assert (
                    len(
                        list(
                            await session.scalars(
                                select(OutboxEvent.id).where(
                                    OutboxEvent.subject == "meritloop.reviews.task.deadline-changed"
                                )
                            )
                        )
                    )
                    == 1
                )  # a retried page moves nothing twice
        finally:
            for person in seeded.participants:
                await client.get_workflow_handle(review_workflow_id(seeded.cycle_id, person)).terminate("test over")
