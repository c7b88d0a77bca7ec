"""Contracts of the review-cycle events between reviews (asks for scores) and goals (computes them).

The reviews service publishes ``meritloop.reviews.cycle.goal-scores-requested`` on its
stream ``MERITLOOP_REVIEWS``; the goals service answers with one
``meritloop.goals.cycle-score.computed`` per participant on ``MERITLOOP_GOALS``.

* A request carries at most ``MAX_PARTICIPANTS_PER_REQUEST`` participant ids. A bigger cycle
  is sent as several requests with the same ``cycle_id`` and period, numbered ``chunk`` of
  ``chunks`` (``chunk_request`` builds them). Each chunk is scored on its own, in any order;
  the scorer does not wait for the other chunks.
* A score event is about one person of one cycle. ``revision`` grows by one each time the
  goals service computes that person's score again (a repeated request, a later re-score);
  the event id is derived from ``(cycle_id, person_id, formula_version, revision)``, so the
  same computation always has the same id (JetStream drops the duplicate, consumers' inboxes
  too). A consumer keeps the score with the highest revision.
* Scores never carry text: no goal titles, no free-form error messages, only error codes.
  ``goals`` lists each scored goal's id, weight and progress, so a review form can show
  them; a reader fetches titles from the goals service, whose visibility rules apply.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.events import event_type, stream_name

GOAL_SCORES_REQUESTED = event_type("reviews", "cycle", "goal-scores-requested")
CYCLE_SCORE_COMPUTED = event_type("goals", "cycle-score", "computed")
REQUESTS_STREAM = stream_name("reviews")
SCORES_STREAM = stream_name("goals")

MAX_PARTICIPANTS_PER_REQUEST = 1000
# Changes whenever the scoring rules (docs/goals.md) change the number they produce.
SCORE_FORMULA_VERSION = "weighted-attainment/1"

_SCORE_EVENT_NAMESPACE = uuid.UUID("6f1c1d0e-5a3b-4c8e-9f2a-2b7d3c4e5f60")


class GoalScoresRequested(BaseModel):
    """``data`` of ``meritloop.reviews.cycle.goal-scores-requested``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    cycle_id: uuid.UUID
    period_start: date
    period_end: date
    participant_ids: list[uuid.UUID] = Field(max_length=MAX_PARTICIPANTS_PER_REQUEST)
    chunk: int = Field(1, ge=1, description="This message's number, 1-based.")
    chunks: int = Field(1, ge=1, description="How many messages the cycle's request was split into.")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.period_start > self.period_end:
            raise ValueError("period_end must not be before period_start")
        if self.chunk > self.chunks:
            raise ValueError("chunk must not be greater than chunks")
        return self


def chunk_request(
    cycle_id: uuid.UUID,
    period_start: date,
    period_end: date,
    participant_ids: Sequence[uuid.UUID],
    *,
    size: int = MAX_PARTICIPANTS_PER_REQUEST,
) -> list[GoalScoresRequested]:
    """Split a cycle's participants into requests of at most ``size`` ids (one, if there are none)."""
    if not 1 <= size <= MAX_PARTICIPANTS_PER_REQUEST:
        raise ValueError(f"size must be between 1 and {MAX_PARTICIPANTS_PER_REQUEST}")
    unique = list(dict.fromkeys(participant_ids))
    parts = [unique[index : index + size] for index in range(0, len(unique), size)] or [[]]
    return [
        GoalScoresRequested(
            cycle_id=cycle_id,
            period_start=period_start,
            period_end=period_end,
            participant_ids=part,
            chunk=number,
            chunks=len(parts),
        )
        for number, part in enumerate(parts, start=1)
    ]


class ScoreError(StrEnum):
    """Why a participant has no score (``score`` is null)."""

    no_goals = "no_goals"  # no goal of theirs ends within the cycle period
    weights_missing = "weights_missing"  # some goals have a weight, others none
    weights_not_100 = "weights_not_100"  # the weights add up to something other than 100


class GoalInput(BaseModel):
    """One goal behind a score: ids and numbers, so a form can list the goals (titles come from goals)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    goal_id: uuid.UUID
    weight: float | None = None
    progress: float = Field(ge=0, le=100, description="Attainment, 0-100")


class CycleScoreComputed(BaseModel):
    """``data`` of ``meritloop.goals.cycle-score.computed``: one participant of one cycle."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    cycle_id: uuid.UUID
    person_id: uuid.UUID
    score: float | None = Field(None, ge=0, le=100)
    goal_count: int = Field(ge=0)
    weights_ok: bool
    weight_total: float | None = None
    error: ScoreError | None = None
    formula_version: str = SCORE_FORMULA_VERSION
    revision: int = Field(1, ge=1)
    computed_at: datetime
    goals: list[GoalInput] = Field(default_factory=list, description="The goals scored, in the scorer's order.")


def score_event_id(cycle_id: uuid.UUID, person_id: uuid.UUID, formula_version: str, revision: int) -> uuid.UUID:
    """The id of the score event of one computation: the same inputs always give the same id."""
    return uuid.uuid5(_SCORE_EVENT_NAMESPACE, f"{cycle_id}:{person_id}:{formula_version}:{revision}")


def score_event_ids(computations: Iterable[tuple[uuid.UUID, uuid.UUID, str, int]]) -> list[uuid.UUID]:
    """``score_event_id`` of each ``(cycle_id, person_id, formula_version, revision)``: the same ids,
    for a whole cycle at once (the namespace's bytes and each cycle's text computed once)."""
    namespace = _SCORE_EVENT_NAMESPACE.bytes
    cycles: dict[uuid.UUID, bytes] = {}
    ids = []
    for cycle_id, person_id, formula_version, revision in computations:
        prefix = cycles.get(cycle_id)
        if prefix is None:
            prefix = cycles[cycle_id] = namespace + f"{cycle_id}:".encode()
        name = f"{person_id}:{formula_version}:{revision}".encode()
        digest = hashlib.sha1(prefix + name, usedforsecurity=False).digest()
        ids.append(uuid.UUID(bytes=digest[:16], version=5))
    return ids
