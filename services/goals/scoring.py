"""Goal scores for review cycles: set-based reads, one rule (rules.score_weighted), one write."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.goals.events import ComputedScore, goal_texts, publish_scores
from services.goals.repository import CycleScoreRepository, GoalRepository
from services.goals.rules import score_fields
from shared.cycles import SCORE_FORMULA_VERSION
from shared.database import utcnow

NO_GOALS: tuple[tuple[()], tuple[()], tuple[()]] = ((), (), ())


class CycleScoring:
    def __init__(self, session: AsyncSession, *, now: datetime | None = None) -> None:
        self.session = session
        self.goals = GoalRepository.from_session(session)
        self.scores = CycleScoreRepository.from_session(session)
        self._now = now

    async def compute(
        self,
        cycle_id: uuid.UUID,
        period_start: date,
        period_end: date,
        participant_ids: Sequence[uuid.UUID],
    ) -> list[ComputedScore]:
        """Score every participant, replace their stored scores and publish one event each.

        Idempotent: computing again gives the same numbers under the next revision.
        """
        people = list(dict.fromkeys(participant_ids))
        now = self._now or utcnow()
        inputs = await self.goals.scored_per_owner(people, period_start, period_end)
        revisions = await self.scores.revisions(cycle_id, people)
        texts, event_goals = goal_texts(inputs)
        scores: list[ComputedScore] = []
        append = scores.append
        for person_id, scored, text, revision in zip(people, inputs, texts, revisions, strict=True):
            # Each goal's weight and progress side by side: zip(*goals), or nothing.
            _, weights, progresses = zip(*scored, strict=True) if scored else NO_GOALS
            score, count, weights_ok, weight_total, error = score_fields(weights, progresses)
            # Positional, in ComputedScore's field order (one per participant: keywords cost more).
            append(
                ComputedScore(
                    cycle_id,
                    person_id,
                    period_start,
                    period_end,
                    score,
                    count,
                    weights_ok,
                    weight_total,
                    error.value if error else None,
                    SCORE_FORMULA_VERSION,
                    text,
                    revision + 1,
                    now,
                    scored,
                )
            )
        await self.scores.replace(cycle_id, scores)
        await publish_scores(self.session, scores, now, event_goals)
        return scores
