"""What the goals service publishes (its consumers are in ``consumers.py``).

Publishes (subjects ``meritloop.goals.<entity>.<verb>``, ids and minimal fields only):

* ``goal.created``: ids, level, visibility, dates, alignment; the title only of a public goal
  (a private goal's title never goes on the bus); never the description.
* ``goal.updated``: ids, version and the *names* of the changed fields, never their values.
* ``goal.progressed``: ids, version, progress and status after a check-in.
* ``goal.completed``: ids, version and when; sent when a goal becomes done.
* ``cycle-score.computed``: one per participant of a cycle (``shared.cycles``).
"""

from __future__ import annotations

import json
import typing
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from opentelemetry import propagate
from pydantic import BaseModel
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from services.goals.models import Goal, OutboxEvent, Person
from shared.cycles import (
    CYCLE_SCORE_COMPUTED,
    score_event_ids,
)
from shared.database import insert_many
from shared.events import Outbox
from shared.events.outbox import WAKE_RELAY
from shared.people import PeopleProjection

outbox = Outbox("goals", OutboxEvent)
people = PeopleProjection(Person)


class GoalCreatedData(BaseModel):
    id: uuid.UUID
    owner_id: uuid.UUID
    level: str
    visibility: str
    title: str | None
    due_date: date | None
    period_start: date | None
    period_end: date | None
    aligned_to_id: uuid.UUID | None
    assigned_from_id: uuid.UUID | None
    version: int


def goal_event_data(goal: Goal) -> dict[str, object]:
    return GoalCreatedData(
        id=goal.id,
        owner_id=goal.owner_id,
        level=goal.level,
        visibility=goal.visibility,
        title=goal.title if goal.visibility == "public" else None,
        due_date=goal.due_date,
        period_start=goal.period_start,
        period_end=goal.period_end,
        aligned_to_id=goal.aligned_to_id,
        assigned_from_id=goal.assigned_from_id,
        version=goal.version,
    ).model_dump(mode="json")


def publish_created(session: AsyncSession, goal: Goal) -> None:
    outbox.add(session, "goal", "created", goal_event_data(goal), subject=str(goal.id))


def publish_updated(session: AsyncSession, goal: Goal, changed: Sequence[str], status: str) -> None:
    data = {
        "id": str(goal.id),
        "owner_id": str(goal.owner_id),
        "version": goal.version,
        "changed": sorted(set(changed)),
        "status": status,
    }
    outbox.add(session, "goal", "updated", data, subject=str(goal.id))


def publish_progressed(
    session: AsyncSession, goal: Goal, status: str, check_in_id: uuid.UUID, key_result_id: uuid.UUID | None
) -> None:
    data = {
        "id": str(goal.id),
        "owner_id": str(goal.owner_id),
        "version": goal.version,
        "progress": goal.progress,
        "status": status,
        "check_in_id": str(check_in_id),
        "key_result_id": str(key_result_id) if key_result_id else None,
    }
    outbox.add(session, "goal", "progressed", data, subject=str(goal.id))


def publish_completed(session: AsyncSession, goal: Goal) -> None:
    completed_at = goal.completed_at.isoformat() if goal.completed_at else None
    data = {
        "id": str(goal.id),
        "owner_id": str(goal.owner_id),
        "version": goal.version,
        "progress": goal.progress,
        "completed_at": completed_at,
    }
    outbox.add(session, "goal", "completed", data, subject=str(goal.id))


@dataclass(slots=True)
class ComputedScore:
    """One participant's score as computed (the row stored in ``cycle_scores``, and ``goals``).

    Not frozen: a cycle builds one per participant, and a frozen dataclass's ``__init__``
    (an ``object.__setattr__`` call per field) cost more than the score's rule.
    """

    cycle_id: uuid.UUID
    person_id: uuid.UUID
    period_start: date
    period_end: date
    score: float | None
    goal_count: int
    weights_ok: bool
    weight_total: float | None
    error: str | None
    formula_version: str
    inputs: str
    revision: int
    computed_at: datetime
    # ``inputs`` before it was serialised: (goal id, weight, progress) of each goal scored.
    goals: Sequence[tuple[str, float | None, float]] = field(repr=False, compare=False)


def json_numbers(values: Sequence[float | None]) -> list[str]:
    """How ``json.dumps`` writes each of ``values`` (numbers or None), from one dumps of them all:
    its C encoder does in one call what a call per number would do in Python."""
    return json.dumps(values)[1:-1].split(", ") if values else []


def goal_texts(people: Sequence[Sequence[tuple[str, float | None, float]]]) -> tuple[list[str], list[str]]:
    """For each person, ``json.dumps`` of their goals as ``[[goal_id, weight, progress], ...]`` (the
    stored ``inputs``; ids being plain UUID text, which JSON does not escape), and the ``goals`` list of their
    ``cycle-score.computed`` data without its brackets (``{"goal_id": ..., "weight": ...,
    "progress": ...}, ...``, as ``json.dumps`` writes ``GoalInput``s): every number formatted once
    for both, each goal's pieces made in one pass over all goals and joined per person."""
    numbers = iter(
        json_numbers([value for goals in people for _, weight, progress in goals for value in (weight, progress)])
    )
    # zip takes from ``numbers`` in argument order: each goal's weight, then its progress.
    flat = list(zip([goal_id for goals in people for goal_id, _, _ in goals], numbers, numbers, strict=True))
    stored = [f'["{goal_id}", {weight}, {progress}]' for goal_id, weight, progress in flat]
    published = [
        f'{{"goal_id": "{goal_id}", "weight": {weight}, "progress": {progress}}}' for goal_id, weight, progress in flat
    ]
    inputs, events = [], []
    start = 0
    for goals in people:
        end = start + len(goals)
        inputs.append("[" + ", ".join(stored[start:end]) + "]")
        events.append(", ".join(published[start:end]))
        start = end
    return inputs, events


async def publish_scores(
    session: AsyncSession, scores: Sequence[ComputedScore], now: datetime, goals: Sequence[str] | None = None
) -> None:
    """One ``cycle-score.computed`` per score, written as one multi-row insert into the outbox.

    The event id comes from (cycle, person, formula version, revision), not chance: the same
    computation published twice is one event for JetStream and for every consumer's inbox.
    The envelope is written from a template (the fields of ``shared.cycles.CycleScoreComputed``
    inside a CloudEvent, in ``json.dumps``' layout): validating or even dumping 10,000 dicts
    would cost more than the scoring itself; a test parses every event back with both models.
    Only ids, numbers, booleans and error codes are interpolated, none of which JSON escapes.
    ``goals`` is each score's ``goal_texts`` events part when the caller has it already.
    """
    if not scores:
        return
    headers: dict[str, str] = {}
    propagate.inject(headers)
    encoded_headers = json.dumps(headers)
    stamp = json.dumps(now.isoformat().replace("+00:00", "Z"))
    event_ids = score_event_ids(
        [(score.cycle_id, score.person_id, score.formula_version, score.revision) for score in scores]
    )
    # The envelope around ``data``, in three pieces around the event id and the subject.
    opening = '{"specversion": "1.0", "id": "'
    after_id = f'", "source": {json.dumps(outbox.source)}, "type": {json.dumps(CYCLE_SCORE_COMPUTED)}, "subject": "'
    after_subject = f'", "time": {stamp}, "datacontenttype": "application/json", "data": '
    # A cycle's scores share one cycle id and formula version: text made again only when the
    # object changes (an identity check, where a dict would hash a UUID per score).
    cycle_id: uuid.UUID | None = None
    formula_version: str | None = None
    cycle = version = ""
    if goals is None:
        goals = goal_texts([score.goals for score in scores])[1]
    numbers = iter(json_numbers([value for score in scores for value in (score.score, score.weight_total)]))
    rows = []
    for score, event_id, score_text, weight_total, goal_list in zip(
        scores, event_ids, numbers, numbers, goals, strict=True
    ):
        person = str(score.person_id)
        if score.formula_version is not formula_version:
            formula_version = score.formula_version
            version = json.dumps(formula_version)
        if score.cycle_id is not cycle_id:
            cycle_id = score.cycle_id
            cycle = str(cycle_id)
        payload = (
            f"{opening}{event_id}{after_id}{person}{after_subject}"
            f'{{"cycle_id": "{cycle}", "person_id": "{person}", "score": {score_text}, '
            f'"goal_count": {score.goal_count}, "weights_ok": {"true" if score.weights_ok else "false"}, '
            f'"weight_total": {weight_total}, '
            f'"error": {"null" if score.error is None else json.dumps(score.error)}, '
            f'"formula_version": {version}, "revision": {score.revision}, '
            f'"computed_at": {stamp}, "goals": [{goal_list}]}}}}'
        )
        rows.append((event_id, CYCLE_SCORE_COMPUTED, payload, encoded_headers, now, 0))
    await insert_many(
        session,
        typing.cast(Table, OutboxEvent.__table__),
        ("id", "subject", "payload", "headers", "created_at", "attempts"),
        rows,
    )
    session.info[WAKE_RELAY] = True
