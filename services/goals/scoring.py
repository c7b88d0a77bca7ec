"""Goal scores for review cycles: set-based reads, one rule (rules.score_weighted), one write."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.goals.events import ComputedScore, inputs_json, publish_scores
from services.goals.repository import CycleScoreRepository, GoalRepository
from services.goals.rules import score_weighted
from shared.cycles import SCORE_FORMULA_VERSION
from shared.database import utcnow


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
        goals = await self.goals.scored_by_owner(people, period_start, period_end)
        revisions = await self.scores.revisions(cycle_id, people)
        inputs = [goals.get(person_id, ()) for person_id in people]
        texts = inputs_json(inputs)
        scores: list[ComputedScore] = []
        for person_id, scored, text in zip(people, inputs, texts, strict=True):
            result = score_weighted([weight for _, weight, _ in scored], [progress for _, _, progress in scored])
            scores.append(
                ComputedScore(
                    cycle_id=cycle_id,
                    person_id=person_id,
                    period_start=period_start,
                    period_end=period_end,
                    score=result.score,
                    goal_count=result.goal_count,
                    weights_ok=result.weights_ok,
                    weight_total=result.weight_total,
                    error=result.error.value if result.error else None,
                    formula_version=SCORE_FORMULA_VERSION,
                    inputs=text,
                    revision=revisions.get(person_id, 0) + 1,
                    computed_at=now,
                    goals=scored,
                )
            )
        await self.scores.replace(cycle_id, scores)
        await publish_scores(self.session, scores, now)
        return scores
