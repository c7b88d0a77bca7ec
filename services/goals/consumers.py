"""What the goals service consumes: person events (the people projection) and the reviews
service's ``cycle.goal-scores-requested`` (contract in ``shared.cycles``)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.goals.events import people
from services.goals.scoring import CycleScoring
from shared.cycles import GOAL_SCORES_REQUESTED, REQUESTS_STREAM, GoalScoresRequested
from shared.events import CloudEvent, Subscription


async def on_goal_scores_requested(session: AsyncSession, event: CloudEvent) -> None:
    request = GoalScoresRequested.model_validate(event.data)
    await CycleScoring(session).compute(
        request.cycle_id, request.period_start, request.period_end, request.participant_ids
    )


cycle_scores_subscription = Subscription(
    durable="goals-cycle-scores",
    stream=REQUESTS_STREAM,
    subjects=(GOAL_SCORES_REQUESTED,),
    handler=on_goal_scores_requested,
    batch=10,
)

subscriptions: tuple[Subscription, ...] = (people.subscription("goals"), cycle_scores_subscription)
