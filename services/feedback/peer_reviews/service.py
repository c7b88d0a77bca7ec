"""360 rounds: who may answer about whom, the encrypted answers, and the release once at k.

The workflow opens a round (``feedback.open_peer_reviews``) with the peers the manager
approved, each by their review task's id; an approved peer answers here, directly (the text
never crosses the reviews service, a workflow or the bus); the answer publishes
``peer-review.answered`` with ids only, and the reviews service completes the peer's task.
When the round closes the workflow releases it (``feedback.release_peer_reviews``): at k or
more answers the aggregate is stored and published as ``peer-aggregate.computed`` (manager's
form, score), and the subject may read it with the comments, without names; below k nothing.

The ratings are sealed under the round's tally key (``keyring.Tally``); the release opens them
once and then destroys the key, whatever the outcome: nothing reads a single rating after it
(late answers are refused, a second release changes nothing).
"""

from __future__ import annotations

import json
import logging
import secrets
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.feedback.crypto import DecryptionFailed, KeyUnavailable
from services.feedback.events import outbox, people
from services.feedback.keyring import PEER_ROUND, Keyring, Sealed, Tally
from services.feedback.models import PeerAnswer, PeerRound, PeerRoundPeer
from services.feedback.peer_reviews.repository import PeerRoundRepository
from services.feedback.peer_reviews.rules import effective_k, release
from services.feedback.peer_reviews.schemas import (
    RATING_RANGE,
    PeerComment,
    PeerQuestionRead,
    PeerReviewAnswer,
    PeerReviewAnswered,
    PeerReviewRead,
    PeerRoundResult,
)
from shared.auth import Principal, Role
from shared.database import utcnow
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.peer_ratings import PeerAggregateComputed
from shared.peer_ratings import PeerReviewAnswered as PeerReviewAnsweredData
from workflows.models import OpenPeerReviewsInput, ReleasePeerReviewsInput

OPEN, RELEASED, SUPPRESSED, CANCELLED = "open", "released", "suppressed", "cancelled"
ANSWER_KIND = "peer-answer"
log = logging.getLogger(__name__)
_EVENTS = uuid.UUID("6b0f7f9e-2d0c-4c57-9a53-3f1f3c2a9e41")


def answered_event_id(task_id: str) -> uuid.UUID:
    return uuid.uuid5(_EVENTS, f"answered:{task_id}")


def aggregate_event_id(round_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(_EVENTS, f"aggregate:{round_id}")


def sealed_answer(answer_id: uuid.UUID, peer_round: PeerRound) -> Sealed:
    # Bound to the round, not to the peer: the subject decrypts without learning who wrote it.
    return Sealed(ANSWER_KIND, answer_id, peer_round.id, peer_round.person_id)


def open_ratings(tally: Tally, answers: list[PeerAnswer]) -> list[dict[str, int]]:
    """Every answer's ratings; a row that does not open (moved from another round, or altered)
    does not count."""
    opened: list[dict[str, int]] = []
    for answer in answers:
        try:
            opened.append(tally.open_ratings(answer.sealed_ratings, ANSWER_KIND, answer.id))
        except DecryptionFailed:
            log.warning("peer round %s: an answer's ratings do not open and are left out", tally.scope_id)
    return opened


class PeerReviewService:
    def __init__(self, session: AsyncSession, keyring: Keyring | None = None, *, min_raters: int = 3) -> None:
        self.session = session
        self.keyring = keyring
        self.min_raters = min_raters
        self.rounds = PeerRoundRepository.from_session(session)

    # --- driven by the review workflow (activities) ----------------------------------------

    async def open_round(self, value: OpenPeerReviewsInput) -> PeerRound:
        """Record the approved peers once (a retry finds the round and changes nothing)."""
        cycle_id, person_id = uuid.UUID(value.cycle_id), uuid.UUID(value.person_id)
        existing = await self.rounds.of(cycle_id, person_id)
        if existing is not None:
            return existing
        manager_id = uuid.UUID(value.manager_id) if value.manager_id else None
        peer_round = PeerRound(
            id=uuid.uuid4(),
            cycle_id=cycle_id,
            person_id=person_id,
            manager_id=manager_id,
            questions=[question.model_dump() for question in value.plan.questions],
            competencies=list(value.plan.competencies),
            min_raters=effective_k(value.plan.min_raters, self.min_raters),
            closes_at=value.closes_at,
            status=OPEN,
        )
        peers = [
            PeerRoundPeer(round_id=peer_round.id, peer_id=uuid.UUID(peer.peer_id), task_id=peer.task_id)
            for peer in value.peers
            # the subject and their manager are never raters, whatever the list says
            if uuid.UUID(peer.peer_id) not in (person_id, manager_id)
        ]
        return await self.rounds.add(peer_round, peers)

    async def release(self, value: ReleasePeerReviewsInput) -> bool:
        """Close the round once: at k or more answers store and publish the aggregate, else nothing."""
        found = await self.rounds.of(uuid.UUID(value.cycle_id), uuid.UUID(value.person_id), for_update=True)
        if found is None:
            return False  # no peers were ever approved: nothing to release
        if found.status != OPEN:
            return found.status == RELEASED  # a retry: released once, never recomputed
        assert self.keyring is not None, "releasing needs the keyring"
        now = utcnow()
        found.released_at = now
        if value.cancelled:
            found.status = CANCELLED
            await self.keyring.destroy_tally(PEER_ROUND, found.id)
            return False
        answers = await self.rounds.answers(found.id)
        ratings: list[dict[str, int]] = []
        if answers:
            # A missing key with answers in the round is not "below k": fail, and the activity retries.
            ratings = open_ratings(await self.keyring.tally(PEER_ROUND, found.id, create=False), answers)
        result = release(ratings, found.competencies, found.min_raters)
        await self.keyring.destroy_tally(PEER_ROUND, found.id)
        if result is None:
            found.status = SUPPRESSED  # not even the count is kept
            await self.session.flush()
            return False
        found.status = RELEASED
        found.score, found.rater_count = result.score, result.rater_count
        found.competency_scores = result.competency_scores
        await self.session.flush()
        if result.score is not None:
            data = PeerAggregateComputed(
                cycle_id=found.cycle_id,
                person_id=found.person_id,
                score=result.score,
                rater_count=result.rater_count,
                min_raters=found.min_raters,
                computed_at=now,
            )
            outbox.add(
                self.session,
                "peer-aggregate",
                "computed",
                data.model_dump(mode="json"),
                subject=str(found.cycle_id),
                event_id=aggregate_event_id(found.id),
            )
        return True

    # --- the approved peer ----------------------------------------------------------------

    async def _invitation(self, task_id: str, principal: Principal, *, for_update: bool = False) -> PeerRoundPeer:
        invitation = await self.rounds.invitation(task_id, for_update=for_update)
        if invitation is None or invitation.peer_id != principal.person_id:
            # Anyone not approved for this task learns nothing, not even that it exists.
            raise NotFound(f"No peer review {task_id} for you.")
        return invitation

    async def task(self, task_id: str, principal: Principal) -> PeerReviewRead:
        invitation = await self._invitation(task_id, principal)
        peer_round = await self.rounds.get(invitation.round_id)
        assert peer_round is not None
        return PeerReviewRead(
            task_id=invitation.task_id,
            cycle_id=peer_round.cycle_id,
            person_id=peer_round.person_id,
            questions=[PeerQuestionRead.model_validate(question) for question in peer_round.questions],
            competencies=peer_round.competencies,
            closes_at=peer_round.closes_at,
            answered=invitation.answered,
            open=peer_round.status == OPEN and utcnow() < peer_round.closes_at,
        )

    async def answer(self, task_id: str, data: PeerReviewAnswer, principal: Principal) -> PeerReviewAnswered:
        if principal.has_any(Role.hr, Role.admin):
            raise Forbidden("HR and admins never count as peer raters.")
        me = await people.get(self.session, principal.person_id)
        if me is None or not me.active:
            raise Forbidden("Only active people answer peer reviews.")
        invitation = await self._invitation(task_id, principal, for_update=True)
        peer_round = await self.rounds.get(invitation.round_id, for_update=True)
        assert peer_round is not None
        if principal.person_id in (peer_round.person_id, peer_round.manager_id):
            raise Forbidden("The person reviewed and their manager never count as peer raters.")
        if peer_round.status != OPEN or utcnow() >= peer_round.closes_at:
            # Late answers never reach a released (or suppressed) round.
            raise Conflict("The peer review round has closed.", reason="too_late")
        if invitation.answered:
            raise Conflict("You have answered this peer review already.", reason="task_done")
        self._check(data, peer_round)
        assert self.keyring is not None, "answering needs the keyring"
        answer_id = uuid.uuid4()
        try:
            tally = await self.keyring.tally(PEER_ROUND, peer_round.id, create=True)
        except KeyUnavailable:
            # Destroyed at release: the round is over, whatever this transaction read before.
            raise Conflict("The peer review round has closed.", reason="too_late") from None
        ciphertext: bytes | None = None
        if data.answers:
            try:
                ciphertext = await self.keyring.seal(
                    sealed_answer(answer_id, peer_round), json.dumps(data.answers), [peer_round.person_id]
                )
            except KeyUnavailable:
                raise ValidationFailed.field("answers", "the person reviewed was erased: no text can be kept") from None
        await self.rounds.add_answer(
            PeerAnswer(
                id=answer_id,
                round_id=peer_round.id,
                position=secrets.randbelow(2**31),
                sealed_ratings=tally.seal_ratings(dict(data.ratings), ANSWER_KIND, answer_id),
                ciphertext=ciphertext,
            )
        )
        invitation.answered = True
        event_id = answered_event_id(invitation.task_id)
        event = PeerReviewAnsweredData(id=event_id, cycle_id=peer_round.cycle_id, task_id=invitation.task_id)
        outbox.add(
            self.session,
            "peer-review",
            "answered",
            event.model_dump(mode="json"),
            subject=str(peer_round.cycle_id),
            event_id=event_id,
        )
        await self.session.flush()
        return PeerReviewAnswered(task_id=invitation.task_id)

    @staticmethod
    def _check(data: PeerReviewAnswer, peer_round: PeerRound) -> None:
        wanted = set(peer_round.competencies)
        for key, value in data.ratings.items():
            if key not in wanted:
                raise ValidationFailed.field(f"ratings.{key}", "not a competency of this peer review")
            if not RATING_RANGE[0] <= value <= RATING_RANGE[1]:
                raise ValidationFailed.field(f"ratings.{key}", "a rating is 1 to 5")
        missing = sorted(wanted - set(data.ratings))
        if missing:
            # Every answer rates every competency: no competency is ever averaged over fewer.
            raise ValidationFailed.field("ratings", f"rate every competency: {', '.join(missing)} missing")
        questions = {question["key"] for question in peer_round.questions}
        for key in data.answers:
            if key not in questions:
                raise ValidationFailed.field(f"answers.{key}", "not a question of this peer review")
        if not data.ratings and not data.answers:
            raise ValidationFailed.field("answers", "an answer needs a rating or a text")

    # --- the subject ----------------------------------------------------------------------

    async def my_result(self, cycle_id: uuid.UUID, principal: Principal) -> PeerRoundResult:
        peer_round = await self.rounds.of(cycle_id, principal.person_id)
        if peer_round is None or peer_round.status in (OPEN, CANCELLED):
            raise NotFound(f"No 360 result for you in cycle {cycle_id} (none, or its round has not closed).")
        if peer_round.status == SUPPRESSED:
            return PeerRoundResult(cycle_id=cycle_id, released=False)
        comments: list[PeerComment] = []
        answers = [answer for answer in await self.rounds.answers(peer_round.id) if answer.ciphertext is not None]
        if answers:
            assert self.keyring is not None
            opened = await self.keyring.open_many(
                [(sealed_answer(answer.id, peer_round), answer.ciphertext or b"") for answer in answers],
                principal.person_id,
            )
            order = [question["key"] for question in peer_round.questions]
            for answer in answers:
                text = opened.get(answer.id)
                try:
                    texts: dict[str, str] = json.loads(text) if text is not None else {}
                except (DecryptionFailed, ValueError):
                    texts = {}
                comments.extend(PeerComment(question_key=key, text=texts[key]) for key in order if key in texts)
        # Grouped by question; within a question in the answers' random order.
        position = {question["key"]: index for index, question in enumerate(peer_round.questions)}
        comments.sort(key=lambda comment: position.get(comment.question_key, 0))
        return PeerRoundResult(
            cycle_id=cycle_id,
            released=True,
            score=peer_round.score,
            rater_count=peer_round.rater_count,
            min_raters=peer_round.min_raters,
            competency_scores=peer_round.competency_scores,
            comments=comments,
            released_at=peer_round.released_at,
        )
