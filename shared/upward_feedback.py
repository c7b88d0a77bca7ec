"""Contracts of upward feedback asked for by a review cycle, between reviews and feedback.

A cycle created with ``upward_feedback`` tells the feedback service through its own events on
``MERITLOOP_REVIEWS``, never by a call:

* ``meritloop.reviews.cycle.launched`` carries ``upward_feedback`` (``UpwardFeedbackPlan``:
  when the pulse closes and its k) beside the cycle id; feedback opens the cycle's one pulse,
  whose id is derived from the cycle id (``cycle_pulse_id``), so a redelivered or repeated
  launch finds it and opens no second one;
* ``meritloop.reviews.cycle.upward-feedback-scoped`` names who may answer (the participants,
  at most ``MAX_PEOPLE_PER_SCOPE`` ids a message, numbered ``chunk`` of ``chunks``; one more
  message for each participant added later); a participant answers about their own manager;
* ``meritloop.reviews.review.closed`` with ``reason`` ``removed`` (HR took the person out of the
  cycle) takes them out of the scope: they answer no more (an answer already given stays);
* ``meritloop.reviews.cycle.cancelled`` cancels the pulse if it is still open: nothing is
  released;
* ``meritloop.reviews.cycle.deadline-extended`` (``CycleDeadlineExtended``) says HR moved a
  step's deadline for the whole cycle; a pulse whose plan ``follows`` that step (its closing
  time was left to default to it) closes at the new deadline when that is later.

Only ids and times travel: no title, no name, no answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.events import event_type

UPWARD_SCOPED = event_type("reviews", "cycle", "upward-feedback-scoped")
DEADLINE_EXTENDED = event_type("reviews", "cycle", "deadline-extended")
# The step whose deadline a pulse closes with when HR leaves its closing time out.
FOLLOWED_STEP = "self_assessment"
REVIEW_CLOSED = event_type("reviews", "review", "closed")
REMOVED = "removed"  # the ``reason`` of a review HR closed by taking the person out
MAX_PEOPLE_PER_SCOPE = 1000

_PULSE_NAMESPACE = uuid.UUID("0c5d8e2a-4f61-4b7e-9a3d-7e1f2b9c6d48")


class UpwardFeedbackPlan(BaseModel):
    """``data.upward_feedback`` of ``cycle.launched``: absent when the cycle asks for none."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    closes_at: datetime
    min_raters: int = Field(3, ge=3)
    follows: str | None = Field(
        None, description="The cycle step whose cycle-wide deadline the pulse closes with; None: a time HR chose."
    )


class CycleDeadlineExtended(BaseModel):
    """``data`` of ``meritloop.reviews.cycle.deadline-extended``: a step's deadline for the whole cycle."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    cycle_id: uuid.UUID
    step: str
    deadline: datetime


class UpwardFeedbackScoped(BaseModel):
    """``data`` of ``meritloop.reviews.cycle.upward-feedback-scoped``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    cycle_id: uuid.UUID
    person_ids: list[uuid.UUID] = Field(max_length=MAX_PEOPLE_PER_SCOPE)
    chunk: int = Field(1, ge=1)
    chunks: int = Field(1, ge=1)


def cycle_pulse_id(cycle_id: uuid.UUID) -> uuid.UUID:
    """The one pulse of a cycle: the same id however often the launch is told."""
    return uuid.uuid5(_PULSE_NAMESPACE, str(cycle_id))


def scope_chunks(
    cycle_id: uuid.UUID, person_ids: Sequence[uuid.UUID], *, size: int = MAX_PEOPLE_PER_SCOPE
) -> list[UpwardFeedbackScoped]:
    parts = [list(person_ids[start : start + size]) for start in range(0, len(person_ids), size)] or [[]]
    return [
        UpwardFeedbackScoped(cycle_id=cycle_id, person_ids=part, chunk=number, chunks=len(parts))
        for number, part in enumerate(parts, start=1)
    ]
