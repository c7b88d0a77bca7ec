"""Upward feedback: reports rate and comment on their manager; released once, at close, per
manager at k or more answers; HR reads aggregates per org unit over released managers only.

Giving a unit aggregate over a manager below k would let anyone who knows the released ones
subtract them and recover the suppressed one's mean (differencing), so a unit counts only the
managers whose own aggregate was released.

Each rating is sealed under the pulse's tally key, bound to its answer, pulse and manager; the
close opens them once and destroys the key (nothing reads a single rating after it).

A cancellation (HR's, or the review cycle's) ends an open pulse without any release. Its answers
are deleted in the same transaction rather than kept unreadable: the comments' content keys go
with them and the tally key is destroyed as at a close, so a copy of the database taken afterwards
holds neither a rating nor a comment to open, and nothing is left that a later change of mind
could release from answers given under a promise of "results at k".
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections import defaultdict

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.feedback.crypto import DecryptionFailed, KeyUnavailable
from services.feedback.events import people
from services.feedback.keyring import UPWARD_PULSE, Keyring, Sealed, destroy_tally
from services.feedback.models import ContentKey, UpwardAnswer, UpwardPulse, UpwardResult
from services.feedback.peer_reviews.rules import effective_k
from services.feedback.upward import announce
from services.feedback.upward.schemas import (
    ManagerResult,
    OrgUnitResult,
    PulseCreate,
    PulseExtend,
    ReleasedResult,
    UpwardAnswerCreate,
    UpwardAnswered,
)
from shared.auth import Principal
from shared.database import utcnow
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.peer_ratings import peer_score

OPEN, CLOSED, CANCELLED = "open", "closed", "cancelled"
KIND = "upward-answer"
log = logging.getLogger(__name__)


def sealed(answer_id: uuid.UUID, pulse_id: uuid.UUID, manager_id: uuid.UUID) -> Sealed:
    # Bound to the pulse, not to the report who wrote it.
    return Sealed(KIND, answer_id, pulse_id, manager_id)


def still_open(pulse: UpwardPulse) -> None:
    if pulse.status == CANCELLED:
        raise Conflict("The upward feedback was cancelled; nothing of it is released.", reason="pulse_cancelled")
    if pulse.status != OPEN:
        raise Conflict("The upward feedback has closed; its results are out.", reason="pulse_closed")


class UpwardService:
    def __init__(self, session: AsyncSession, keyring: Keyring | None = None, *, min_raters: int = 3) -> None:
        self.session = session
        self.keyring = keyring
        self.min_raters = min_raters

    async def create(self, data: PulseCreate, principal: Principal) -> UpwardPulse:
        if data.closes_at.tzinfo is None:
            raise ValidationFailed.field("closes_at", "needs a time zone offset")
        if data.closes_at <= utcnow():
            raise ValidationFailed.field("closes_at", "must be in the future")
        pulse = UpwardPulse(
            title=data.title,
            cycle_id=data.cycle_id,
            created_by=principal.person_id,
            closes_at=data.closes_at,
            min_raters=effective_k(data.min_raters, self.min_raters),
            status=OPEN,
        )
        self.session.add(pulse)
        await self.session.flush()
        # HR's pulse (even one tied to a cycle by ``cycle_id``) asks everyone with a manager.
        announce.opened_for(self.session, pulse, await announce.everyone_asked(self.session))
        return pulse

    async def extend(self, pulse_id: uuid.UUID, data: PulseExtend) -> UpwardPulse:
        """Move an open pulse's closing time later (low participation, an extended cycle); never earlier, so
        nobody who planned to answer by the announced time is cut off."""
        if data.closes_at.tzinfo is None:
            raise ValidationFailed.field("closes_at", "needs a time zone offset")
        pulse = await self.get(pulse_id, for_update=True)
        still_open(pulse)
        if data.closes_at <= utcnow():
            raise ValidationFailed.field("closes_at", "must be in the future")
        if data.closes_at < pulse.closes_at:
            raise ValidationFailed.field("closes_at", "must not be earlier than the current closing time")
        if data.closes_at == pulse.closes_at:
            return pulse  # nothing moved: nobody is told again
        pulse.closes_at = data.closes_at
        await self.session.flush()
        # The opening mail named the old time: everyone asked learns the new one.
        announce.extended_for(self.session, pulse, await announce.asked(self.session, pulse))
        return pulse

    async def cancel(self, pulse_id: uuid.UUID) -> UpwardPulse:
        """End an open pulse without release (HR): nothing about any manager is ever computed."""
        pulse = await self.get(pulse_id, for_update=True)
        still_open(pulse)
        await self.withdraw(pulse)
        return pulse

    async def withdraw(self, pulse: UpwardPulse) -> None:
        """Cancel ``pulse``, locked and open: its answers, their comments' keys and its tally key go.

        Answering takes a shared lock on the pulse, so no answer lands after the delete; one that
        waited for the lock then finds the pulse cancelled.
        """
        pulse.status, pulse.closed_at = CANCELLED, utcnow()
        answers = select(UpwardAnswer.id).where(UpwardAnswer.pulse_id == pulse.id)
        await self.session.execute(delete(ContentKey).where(ContentKey.object_id.in_(answers)))
        await self.session.execute(delete(UpwardAnswer).where(UpwardAnswer.pulse_id == pulse.id))
        # Without the key provider: a cancellation must not wait for a key file it does not need.
        await destroy_tally(self.session, UPWARD_PULSE, pulse.id)
        announce.cancelled(self.session, pulse)
        await self.session.flush()

    async def listed(
        self, *, status: str | None, cycle_id: uuid.UUID | None, limit: int, offset: int
    ) -> tuple[list[UpwardPulse], int]:
        """Every pulse, newest first, for HR: the pulses themselves, never an answer or a count of them."""
        where = []
        if status is not None:
            where.append(UpwardPulse.status == status)
        if cycle_id is not None:
            where.append(UpwardPulse.cycle_id == cycle_id)
        total = await self.session.scalar(select(func.count()).select_from(UpwardPulse).where(*where)) or 0
        rows = await self.session.scalars(
            select(UpwardPulse)
            .where(*where)
            .order_by(UpwardPulse.created_at.desc(), UpwardPulse.id)
            .limit(limit)
            .offset(offset)
        )
        return list(rows), total

    async def get(self, pulse_id: uuid.UUID, *, for_update: bool = False, for_share: bool = False) -> UpwardPulse:
        lock = True if for_update else {"read": True} if for_share else None
        pulse = await self.session.get(UpwardPulse, pulse_id, with_for_update=lock)
        if pulse is None:
            raise NotFound(f"No upward feedback {pulse_id}.")
        return pulse

    async def answer(self, pulse_id: uuid.UUID, data: UpwardAnswerCreate, principal: Principal) -> UpwardAnswered:
        # Shared with other answers, not with the close, which reads every rating once and then
        # destroys their key.
        pulse = await self.get(pulse_id, for_share=True)
        me = await people.get(self.session, principal.person_id)
        if me is None or not me.active:
            raise Forbidden("Only active people give upward feedback.")
        if me.manager_id is None:
            raise Conflict("You have no manager to give upward feedback to.", reason="no_manager")
        if pulse.status != OPEN or utcnow() >= pulse.closes_at:
            raise Conflict("This upward feedback has closed.", reason="too_late")
        assert self.keyring is not None
        tag = await self.keyring.peer_tag(pulse.id, principal.person_id)
        taken = await self.session.scalar(
            select(UpwardAnswer.id).where(UpwardAnswer.pulse_id == pulse.id, UpwardAnswer.giver_tag == tag)
        )
        if taken is not None:
            raise Conflict("You have answered this upward feedback already.", reason="task_done")
        answer_id = uuid.uuid4()
        try:
            tally = await self.keyring.tally(UPWARD_PULSE, pulse.id, create=True)
        except KeyUnavailable:
            raise Conflict("This upward feedback has closed.", reason="too_late") from None
        ciphertext: bytes | None = None
        if data.comment:
            try:
                ciphertext = await self.keyring.seal(
                    sealed(answer_id, pulse.id, me.manager_id), data.comment, [me.manager_id]
                )
            except KeyUnavailable:
                raise ValidationFailed.field("comment", "your manager was erased: no comment can be kept") from None
        self.session.add(
            UpwardAnswer(
                id=answer_id,
                pulse_id=pulse.id,
                manager_id=me.manager_id,
                giver_tag=tag,
                position=secrets.randbelow(2**31),
                sealed_rating=tally.seal_rating(data.rating, KIND, answer_id, me.manager_id),
                ciphertext=ciphertext,
            )
        )
        await self.session.flush()
        return UpwardAnswered(pulse_id=pulse.id)

    async def close(self, pulse_id: uuid.UUID) -> UpwardPulse:
        """Close once: store one aggregate per manager with k or more answers, nothing for the rest."""
        pulse = await self.get(pulse_id, for_update=True)
        if pulse.status != OPEN:
            return pulse
        assert self.keyring is not None, "closing needs the keyring"
        pulse.status, pulse.closed_at = CLOSED, utcnow()
        ratings: dict[uuid.UUID, list[int]] = defaultdict(list)
        rows = (
            await self.session.execute(
                select(UpwardAnswer.id, UpwardAnswer.manager_id, UpwardAnswer.sealed_rating).where(
                    UpwardAnswer.pulse_id == pulse.id
                )
            )
        ).all()
        if rows:
            # A missing key with answers in the pulse is not "below k": fail rather than release nothing.
            tally = await self.keyring.tally(UPWARD_PULSE, pulse.id, create=False)
            for answer_id, manager_id, sealed_rating in rows:
                try:
                    ratings[manager_id].append(tally.open_rating(sealed_rating, KIND, answer_id, manager_id))
                except DecryptionFailed:
                    # Moved from another pulse or manager, or altered: it counts nowhere.
                    log.warning("upward pulse %s: a rating does not open and is left out", pulse.id)
        await self.keyring.destroy_tally(UPWARD_PULSE, pulse.id)
        released: list[uuid.UUID] = []
        for manager_id, given in ratings.items():
            if len(given) < pulse.min_raters:
                continue
            released.append(manager_id)
            manager = await people.get(self.session, manager_id)
            self.session.add(
                UpwardResult(
                    pulse_id=pulse.id,
                    manager_id=manager_id,
                    org_unit=None if manager is None else manager.department,
                    score=peer_score(sum(given) / len(given)),
                    rater_count=len(given),
                    rating_sum=sum(given),
                )
            )
        announce.released(self.session, pulse, released)
        await self.session.flush()
        return pulse

    async def _closed(self, pulse_id: uuid.UUID) -> UpwardPulse:
        pulse = await self.get(pulse_id)
        if pulse.status != CLOSED:
            raise NotFound(f"No results of {pulse_id} before it closes.")
        return pulse

    async def mine(self, pulse_id: uuid.UUID, principal: Principal) -> ManagerResult:
        pulse = await self._closed(pulse_id)
        result = await self.session.get(UpwardResult, (pulse.id, principal.person_id))
        if result is None:
            return ManagerResult(pulse_id=pulse.id, released=False)  # below k, or nobody: the same answer
        answers = list(
            await self.session.scalars(
                select(UpwardAnswer)
                .where(
                    UpwardAnswer.pulse_id == pulse.id,
                    UpwardAnswer.manager_id == principal.person_id,
                    UpwardAnswer.ciphertext.is_not(None),
                )
                .order_by(UpwardAnswer.position, UpwardAnswer.id)
            )
        )
        comments: list[str | None] = []
        if answers:
            assert self.keyring is not None
            opened = await self.keyring.open_many(
                [(sealed(a.id, pulse.id, a.manager_id), a.ciphertext or b"") for a in answers], principal.person_id
            )
            comments = [opened.get(a.id) for a in answers]
        return ManagerResult(
            pulse_id=pulse.id, released=True, score=result.score, rater_count=result.rater_count, comments=comments
        )

    async def released_to(self, principal: Principal, *, limit: int, offset: int) -> tuple[list[ReleasedResult], int]:
        """The caller's released results as a manager, newest first: where the mails' links led.

        Only released ones: a pulse below k leaves no row, so the list says nothing about it.
        """
        mine = UpwardResult.manager_id == principal.person_id
        total = await self.session.scalar(select(func.count()).select_from(UpwardResult).where(mine)) or 0
        rows = await self.session.execute(
            select(
                UpwardPulse.id, UpwardPulse.title, UpwardPulse.closed_at, UpwardResult.score, UpwardResult.rater_count
            )
            .join(UpwardResult, UpwardResult.pulse_id == UpwardPulse.id)
            .where(mine)
            .order_by(UpwardPulse.closed_at.desc(), UpwardPulse.id)
            .limit(limit)
            .offset(offset)
        )
        items = [
            ReleasedResult(pulse_id=pulse_id, title=title, closed_at=closed_at, score=score, rater_count=count)
            for pulse_id, title, closed_at, score, count in rows
        ]
        return items, total

    async def org_units(self, pulse_id: uuid.UUID) -> list[OrgUnitResult]:
        pulse = await self._closed(pulse_id)
        units: dict[str | None, list[UpwardResult]] = defaultdict(list)
        for result in await self.session.scalars(select(UpwardResult).where(UpwardResult.pulse_id == pulse.id)):
            units[result.org_unit].append(result)
        found = []
        for unit, results in units.items():
            count = sum(r.rater_count for r in results)
            total = sum(r.rating_sum for r in results)
            found.append(
                OrgUnitResult(org_unit=unit, score=peer_score(total / count), rater_count=count, managers=len(results))
            )
        return sorted(found, key=lambda r: r.org_unit or "")
