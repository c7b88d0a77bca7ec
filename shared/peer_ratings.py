"""Contracts of the peer-rating round trip between reviews (the cycle) and feedback (the ratings).

The feedback service follows a cycle through the reviews service's own events on
``MERITLOOP_REVIEWS``:

* ``meritloop.reviews.cycle.launched`` (or ``phase-opened`` with ``self_assessment``) opens
  peer ratings for the cycle;
* ``phase-opened`` with any later phase closes them and computes one aggregate per rated
  person; ``cycle.cancelled`` closes them with no aggregate.

It answers on ``MERITLOOP_FEEDBACK`` with ``meritloop.feedback.peer-aggregate.computed``, one
per rated person: the mean of the peers' ratings on the fixed 1-5 peer scale mapped to 0-100,
and how many peers rated. Below ``MIN_PEER_RATERS`` the score is null, so a small group can
never be worked back to one peer's rating. The aggregate is published once, when the ratings
close; its id is derived from ``(cycle_id, person_id, revision)``.

What never travels: who rated whom, single ratings, and any text.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.events import event_type, stream_name

CYCLE_LAUNCHED = event_type("reviews", "cycle", "launched")
CYCLE_PHASE_OPENED = event_type("reviews", "cycle", "phase-opened")
CYCLE_CANCELLED = event_type("reviews", "cycle", "cancelled")
PEER_AGGREGATE_COMPUTED = event_type("feedback", "peer-aggregate", "computed")
# 360: a peer answered in the feedback service; the reviews service completes the peer's task.
PEER_REVIEW_ANSWERED = event_type("feedback", "peer-review", "answered")
CYCLES_STREAM = stream_name("reviews")
AGGREGATES_STREAM = stream_name("feedback")

PEER_SCALE = (1, 2, 3, 4, 5)
# Fewer peers than this and the aggregate has no score: with one or two raters a receiver
# who knows who rated them could tell what each one gave.
MIN_PEER_RATERS = 3

_AGGREGATE_EVENT_NAMESPACE = uuid.UUID("a3f0c6d2-7b18-4e95-9c41-0e8d2b6f5a17")


class PeerAggregateComputed(BaseModel):
    """``data`` of ``meritloop.feedback.peer-aggregate.computed``: one person of one cycle."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    cycle_id: uuid.UUID
    person_id: uuid.UUID
    score: float | None = Field(None, ge=0, le=100, description="0-100; null below the minimum of raters")
    rater_count: int = Field(ge=0)
    min_raters: int = MIN_PEER_RATERS
    revision: int = Field(1, ge=1)
    computed_at: datetime


class PeerReviewAnswered(BaseModel):
    """``data`` of ``meritloop.feedback.peer-review.answered``: which peer task is answered.

    Ids only: the task id numbers the subject's peer tasks (``{cycle}:{subject}:peer_review:{n}``)
    without naming the peer, and no answer, rating or text travels.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: uuid.UUID
    cycle_id: uuid.UUID
    task_id: str


def peer_score(mean: float) -> float:
    """A mean on the peer scale as 0-100 (1 -> 0, 5 -> 100), the unit every score component uses."""
    low, high = PEER_SCALE[0], PEER_SCALE[-1]
    return round((mean - low) / (high - low) * 100, 2)


def aggregate_event_id(cycle_id: uuid.UUID, person_id: uuid.UUID, revision: int) -> uuid.UUID:
    return uuid.uuid5(_AGGREGATE_EVENT_NAMESPACE, f"{cycle_id}:{person_id}:{revision}")
