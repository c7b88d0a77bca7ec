"""What feedback tells the bus about upward pulses, for the notifications component.

Ids and times only: never a title, a rating, a comment or how many answered. ``opened`` names
the people who may now answer a pulse (at most ``MAX_PEOPLE_PER_SCOPE`` a message: a standalone
pulse asks everyone with a manager); ``extended`` names everyone it asks again, with the new
closing time (all of them, answered or not: a list of those who have not answered would tell
the bus who did); ``released`` names the managers whose aggregate reached k
when the pulse closed (a manager below k is not named: the absence of a mail says no more than
the results page does); ``cancelled`` names the pulse alone, so that invitations still waiting
for a digest are not sent for a pulse nobody can answer any more.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.feedback.events import outbox
from services.feedback.models import Person, UpwardPulse, UpwardScopeMember
from shared.upward_feedback import MAX_PEOPLE_PER_SCOPE, cycle_pulse_id

ENTITY = "upward-pulse"


def opened_for(session: AsyncSession, pulse: UpwardPulse, person_ids: Sequence[uuid.UUID]) -> None:
    _tell(session, pulse, person_ids, "opened")


def extended_for(session: AsyncSession, pulse: UpwardPulse, person_ids: Sequence[uuid.UUID]) -> None:
    _tell(session, pulse, person_ids, "extended")


def _tell(session: AsyncSession, pulse: UpwardPulse, person_ids: Sequence[uuid.UUID], verb: str) -> None:
    people = list(dict.fromkeys(person_ids))
    for start in range(0, len(people), MAX_PEOPLE_PER_SCOPE):
        data = {
            "pulse_id": str(pulse.id),
            "closes_at": pulse.closes_at.isoformat(),
            "person_ids": [str(person) for person in people[start : start + MAX_PEOPLE_PER_SCOPE]],
        }
        outbox.add(session, ENTITY, verb, data, subject=str(pulse.id))


async def everyone_asked(session: AsyncSession) -> list[uuid.UUID]:
    """Whom a standalone pulse asks: every active person with a manager (the service's directory copy)."""
    found = await session.scalars(
        select(Person.id).where(Person.active.is_(True), Person.manager_id.is_not(None)).order_by(Person.id)
    )
    return list(found)


async def asked(session: AsyncSession, pulse: UpwardPulse) -> list[uuid.UUID]:
    """Whom ``pulse`` asks now: a cycle's pulse its scope (people HR removed have left it), else everyone."""
    if pulse.cycle_id is None or pulse.id != cycle_pulse_id(pulse.cycle_id):
        # HR's pulse tied to a cycle by ``cycle_id`` has no scope: it asks everyone, as when it opened.
        return await everyone_asked(session)
    found = await session.scalars(
        select(UpwardScopeMember.person_id)
        .where(UpwardScopeMember.pulse_id == pulse.id)
        .order_by(UpwardScopeMember.person_id)
    )
    return list(found)


def released(session: AsyncSession, pulse: UpwardPulse, manager_ids: Sequence[uuid.UUID]) -> None:
    if not manager_ids:
        return
    data = {"pulse_id": str(pulse.id), "manager_ids": [str(manager) for manager in manager_ids]}
    outbox.add(session, ENTITY, "released", data, subject=str(pulse.id))


def cancelled(session: AsyncSession, pulse: UpwardPulse) -> None:
    outbox.add(session, ENTITY, "cancelled", {"pulse_id": str(pulse.id)}, subject=str(pulse.id))
