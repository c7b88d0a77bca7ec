"""Upward feedback asked for by a review cycle, and the closing of every pulse at its time.

The reviews service tells feedback through its own events (contract: ``shared/upward_feedback.py``):
the launch opens the cycle's one pulse (its id derived from the cycle's, so a redelivered or
repeated launch finds it), scope events name the participants who may answer, and the cycle's
cancellation cancels a pulse still open. Events rather than an activity of the cycle workflow:
the pulse belongs to the cycle, not to one review, and the participants of a large cycle are
a list of ids that would fill the workflow's history; feedback already follows these events
for peer ratings, and closing at a known time needs no orchestration, only the sweep below.

Cancelling drops the pulse's answers and the keys of their comments, as HR's cancellation does
(``UpwardService.withdraw``): a cancelled pulse releases nothing and keeps nothing to release.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from fastapi import FastAPI
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.feedback.events import people
from services.feedback.keyring import Keyring, provider_from_settings
from services.feedback.models import UpwardAnswer, UpwardEarlyChange, UpwardPulse, UpwardScopeMember
from services.feedback.peer_reviews.rules import effective_k
from services.feedback.sweeps import sweep_router
from services.feedback.upward import announce
from services.feedback.upward.schemas import PulseRead, UpwardInboxItem
from services.feedback.upward.service import CANCELLED, CLOSED, OPEN, UpwardService
from shared.auth import Principal
from shared.database import dialect_insert, utcnow
from shared.errors import Forbidden
from shared.events import CloudEvent, Subscription
from shared.peer_ratings import CYCLE_CANCELLED, CYCLE_LAUNCHED, CYCLES_STREAM
from shared.settings import Settings, get_settings
from shared.upward_feedback import (
    DEADLINE_EXTENDED,
    REMOVED,
    REVIEW_CLOSED,
    UPWARD_SCOPED,
    CycleDeadlineExtended,
    UpwardFeedbackPlan,
    UpwardFeedbackScoped,
    cycle_pulse_id,
)

log = logging.getLogger(__name__)

# No title travels on the bus; the reviews service names the cycle (GET /review-cycles/{cycle_id}).
CYCLE_TITLE = "Upward feedback of a review cycle"
# A pulse opened by a launch has no person as its author.
OPENED_BY_LAUNCH = uuid.UUID(int=0)
SWEEP_BATCH = 50


def is_cycle_pulse(pulse: UpwardPulse) -> bool:
    """Opened by a cycle's launch (HR may also tie a standalone pulse to a cycle by ``cycle_id``)."""
    return pulse.cycle_id is not None and pulse.id == cycle_pulse_id(pulse.cycle_id)


class CyclePulses:
    def __init__(self, session: AsyncSession, *, min_raters: int = 3) -> None:
        self.session = session
        self.min_raters = min_raters

    async def open(self, cycle_id: uuid.UUID, plan: UpwardFeedbackPlan) -> UpwardPulse:
        """The cycle's pulse, opened once; a repeated launch answers the one there."""
        pulse_id = cycle_pulse_id(cycle_id)
        before_launch = await self._lock(cycle_id)
        found = await self.session.get(UpwardPulse, pulse_id, populate_existing=True)
        if found is not None:
            await self.session.delete(before_launch)
            return found
        pulse = UpwardPulse(
            id=pulse_id,
            title=CYCLE_TITLE,
            cycle_id=cycle_id,
            created_by=OPENED_BY_LAUNCH,
            closes_at=plan.closes_at,
            min_raters=effective_k(plan.min_raters, self.min_raters),
            status=OPEN,
            follows_step=plan.follows,
        )
        await self.session.delete(before_launch)
        told = before_launch.deadlines.get(plan.follows or "")
        if told is not None and datetime.fromisoformat(told) > pulse.closes_at:
            pulse.closes_at = datetime.fromisoformat(told)
        if before_launch.cancelled:
            # The cycle was cancelled before this launch came through: nobody is asked.
            pulse.status, pulse.closed_at = CANCELLED, utcnow()
            self.session.add(pulse)
            await self.session.flush()
            return pulse
        self.session.add(pulse)
        await self.session.flush()
        # Scope events that came before the launch were kept: their people are told now.
        early = await self.session.scalars(
            select(UpwardScopeMember.person_id).where(UpwardScopeMember.pulse_id == pulse_id)
        )
        announce.opened_for(self.session, pulse, list(early))
        return pulse

    async def scope(self, scoped: UpwardFeedbackScoped) -> int:
        """Let these participants answer; kept even before the pulse exists (events may come in any order)."""
        pulse_id = cycle_pulse_id(scoped.cycle_id)
        guard = await self._lock(scoped.cycle_id)
        known = set(
            await self.session.scalars(
                select(UpwardScopeMember.person_id).where(
                    UpwardScopeMember.pulse_id == pulse_id, UpwardScopeMember.person_id.in_(scoped.person_ids)
                )
            )
        )
        new = [person for person in dict.fromkeys(scoped.person_ids) if person not in known]
        self.session.add_all(UpwardScopeMember(pulse_id=pulse_id, person_id=person) for person in new)
        await self.session.flush()
        pulse = await self.session.get(UpwardPulse, pulse_id, populate_existing=True)
        if pulse is None:
            return len(new)  # the guard stays for the launch, which reads and drops it
        await self.session.delete(guard)
        if pulse.status == OPEN and new:
            announce.opened_for(self.session, pulse, new)
        return len(new)

    async def unscope(self, cycle_id: uuid.UUID, person_id: uuid.UUID) -> None:
        """Taken out of the cycle: no more answers from them (one already given stays, unlinked to them)."""
        await self.session.execute(
            delete(UpwardScopeMember).where(
                UpwardScopeMember.pulse_id == cycle_pulse_id(cycle_id), UpwardScopeMember.person_id == person_id
            )
        )

    async def follow(self, extended: CycleDeadlineExtended) -> bool:
        """Close with the step's new deadline if the pulse follows that step and it is later; True if moved.

        Never earlier: nobody who planned to answer by the announced time is cut off. Everyone
        asked learns the new time, as when HR extends the pulse itself.
        """
        early = await self._lock(extended.cycle_id)
        pulse = await self.session.get(UpwardPulse, cycle_pulse_id(extended.cycle_id), populate_existing=True)
        if pulse is None:
            told = early.deadlines.get(extended.step)
            if told is None or datetime.fromisoformat(told) < extended.deadline:
                early.deadlines = {**early.deadlines, extended.step: extended.deadline.isoformat()}
            await self.session.flush()
            return False
        await self.session.delete(early)
        if pulse.status != OPEN or pulse.follows_step != extended.step:
            return False
        if extended.deadline <= pulse.closes_at:
            return False
        pulse.closes_at = extended.deadline
        await self.session.flush()
        announce.extended_for(self.session, pulse, await announce.asked(self.session, pulse))
        return True

    async def cancel(self, cycle_id: uuid.UUID) -> bool:
        """Cancel the cycle's pulse if still open: no result is computed, the answers are dropped."""
        early = await self._lock(cycle_id)
        pulse = await self.session.get(UpwardPulse, cycle_pulse_id(cycle_id), with_for_update=True)
        if pulse is None:
            early.cancelled = True
            await self.session.flush()
            return False
        await self.session.delete(early)
        if pulse.status != OPEN:
            return False
        await UpwardService(self.session).withdraw(pulse)
        return True

    async def _lock(self, cycle_id: uuid.UUID) -> UpwardEarlyChange:
        """The cycle's guard row, made if missing and locked: what the cycle's events said of its pulse
        before the launch opened it (a cycle without the option never opens one).

        The launch, the scope, an extension and the cancellation each take it before they look for
        the pulse, so two of them handled at once (two replicas) wait for each other: a lock on a
        pulse row another transaction has not committed yet would lock nothing, and a cancellation
        could slip past the launch that opens the pulse."""
        pulse_id = cycle_pulse_id(cycle_id)
        values = {"pulse_id": pulse_id, "cancelled": False, "deadlines": {}}
        statement = dialect_insert(self.session, UpwardEarlyChange).values(**values)
        await self.session.execute(statement.on_conflict_do_nothing())
        found = await self.session.get(UpwardEarlyChange, pulse_id, with_for_update=True, populate_existing=True)
        assert found is not None  # made above, and only these handlers drop it, behind the same lock
        return found

    async def in_scope(self, pulse: UpwardPulse, person_id: uuid.UUID) -> bool:
        if not is_cycle_pulse(pulse):
            return True  # a standalone pulse asks everyone with a manager
        member = await self.session.get(UpwardScopeMember, (pulse.id, person_id))
        return member is not None

    async def check_answerer(self, pulse_id: uuid.UUID, principal: Principal) -> None:
        """A cycle's pulse is answered by the cycle's participants only (each about their own manager)."""
        pulse = await self.session.get(UpwardPulse, pulse_id)
        if pulse is not None and not await self.in_scope(pulse, principal.person_id):
            raise Forbidden("Only the review cycle's participants answer its upward feedback.")

    async def inbox(self, principal: Principal, keyring: Keyring) -> list[UpwardInboxItem]:
        """The open pulses the person may answer, soonest closing first, each with whether they answered."""
        me = await people.get(self.session, principal.person_id)
        if me is None or not me.active or me.manager_id is None:
            return []
        now = utcnow()
        pulses = await self.session.scalars(
            select(UpwardPulse)
            .where(UpwardPulse.status == OPEN, UpwardPulse.closes_at > now)
            .order_by(UpwardPulse.closes_at, UpwardPulse.id)
        )
        found = []
        for pulse in pulses:
            if not await self.in_scope(pulse, me.id):
                continue
            tag = await keyring.peer_tag(pulse.id, me.id)
            answered = await self.session.scalar(
                select(UpwardAnswer.id).where(UpwardAnswer.pulse_id == pulse.id, UpwardAnswer.giver_tag == tag)
            )
            read = PulseRead.model_validate(pulse)
            found.append(UpwardInboxItem(**read.model_dump(), answered=answered is not None))
        return found


# --- the reviews service's cycle events --------------------------------------------------------


async def on_cycle_event(session: AsyncSession, event: CloudEvent) -> None:
    pulses = CyclePulses(session, min_raters=get_settings().feedback_peer_min_raters)
    if event.type == UPWARD_SCOPED:
        await pulses.scope(UpwardFeedbackScoped.model_validate(event.data))
        return
    cycle_id = uuid.UUID(str(event.data["cycle_id"]))
    if event.type == REVIEW_CLOSED:
        if event.data.get("reason") == REMOVED:
            await pulses.unscope(cycle_id, uuid.UUID(str(event.data["person_id"])))
    elif event.type == CYCLE_CANCELLED:
        await pulses.cancel(cycle_id)
    elif event.type == DEADLINE_EXTENDED:
        await pulses.follow(CycleDeadlineExtended.model_validate(event.data))
    elif event.type == CYCLE_LAUNCHED and event.data.get("upward_feedback") is not None:
        await pulses.open(cycle_id, UpwardFeedbackPlan.model_validate(event.data["upward_feedback"]))


cycles_subscription = Subscription(
    durable="feedback-upward-cycles",
    stream=CYCLES_STREAM,
    subjects=(CYCLE_LAUNCHED, UPWARD_SCOPED, REVIEW_CLOSED, CYCLE_CANCELLED, DEADLINE_EXTENDED),
    handler=on_cycle_event,
)


# --- closing at the closing time ---------------------------------------------------------------


async def close_due(session: AsyncSession, keyring: Keyring, *, now: datetime, min_raters: int) -> int:
    """Close (and release at k) up to a batch of open pulses whose closing time has passed."""
    due = list(
        await session.scalars(
            select(UpwardPulse.id)
            .where(UpwardPulse.status == OPEN, UpwardPulse.closes_at <= now)
            .order_by(UpwardPulse.closes_at)
            .limit(SWEEP_BATCH)
        )
    )
    service = UpwardService(session, keyring, min_raters=min_raters)
    closed = 0
    for pulse_id in due:
        # close() locks the row and closes once: a replica that got there first leaves it closed.
        closed += (await service.close(pulse_id)).status == CLOSED
    return closed


async def sweep_once(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, app: FastAPI) -> int:
    provider = getattr(app.state, "feedback_keys", None) or provider_from_settings(settings)
    app.state.feedback_keys = provider
    async with sessionmaker() as session, session.begin():
        return await close_due(
            session, Keyring(session, provider), now=utcnow(), min_raters=settings.feedback_peer_min_raters
        )


async def _round(app: FastAPI, settings: Settings) -> bool:
    return await sweep_once(app.state.sessionmaker, settings, app) >= SWEEP_BATCH


# Every ``MERITLOOP_FEEDBACK_REMINDER_INTERVAL`` seconds, close the pulses whose time came.
closing_router = sweep_router("upward-close", _round)
