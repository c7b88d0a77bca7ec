"""Ratings of every kind written through the real feedback service, and what a database reader
may find of them: ciphertext that opens only with its scope's tally key and its own binding."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from services.feedback.crypto import DecryptionFailed, FileKeyProvider, tally_key_aad
from services.feedback.keyring import PEER_CYCLE, PEER_ROUND, UPWARD_PULSE, Tally
from services.feedback.models import PeerAnswer, PeerRating, PeerRound, TallyKey, UpwardAnswer
from services.feedback.peer_reviews.activities import FeedbackActivities
from services.feedback.service import PeerRatingService
from shared.database import utcnow
from shared.settings import Settings
from tests.feedback.support import Org
from workflows.models import OpenPeerReviewsInput, PeerAssignment, PeerFeedbackPlan, ReleasePeerReviewsInput

RATED_TABLES = {
    "peer_answers": {"id", "round_id", "position", "sealed_ratings", "ciphertext"},
    "upward_answers": {"id", "pulse_id", "manager_id", "giver_tag", "position", "sealed_rating", "ciphertext"},
    "peer_ratings": {"id", "cycle_id", "giver_tag", "receiver_id", "sealed_rating", "created_at", "modified_at"},
}


@dataclass
class Written:
    """What was rated, by scope: the values a reader of the database must not learn."""

    competencies: list[str]
    cycle: uuid.UUID  # the peer ratings' cycle
    round_id: uuid.UUID
    pulse_id: uuid.UUID
    round_ratings: list[dict[str, int]] = field(default_factory=list)
    upward_ratings: list[int] = field(default_factory=list)
    peer_ratings: dict[uuid.UUID, int] = field(default_factory=dict)  # receiver -> rating, one giver each

    def clear_forms(self) -> list[bytes]:
        """How the 360 ratings would read in a file or dump if they were stored in clear."""
        forms: list[bytes] = []
        for ratings in self.round_ratings:
            forms.append(json.dumps(ratings).encode())
            forms.append(json.dumps(ratings, separators=(",", ":")).encode())
            for key, value in ratings.items():
                forms += [f'"{key}": {value}'.encode(), f'"{key}":{value}'.encode()]
        return forms


def plan(competencies: list[str]) -> PeerFeedbackPlan:
    return PeerFeedbackPlan(
        min_peers=3,
        max_peers=5,
        questions=[{"key": "strength", "text": "What should they keep doing?"}],
        competencies=competencies,
        min_raters=3,
    )


def activities(client: httpx.AsyncClient, settings: Settings) -> FeedbackActivities:
    return FeedbackActivities(client.app.state.sessionmaker, settings)  # type: ignore[attr-defined]


async def open_round(
    client: httpx.AsyncClient,
    settings: Settings,
    org: Org,
    cycle: uuid.UUID,
    peers: list[uuid.UUID],
    competencies: list[str],
) -> list[str]:
    """A 360 round about the receiver, opened by the real activity; the peers' task ids."""
    tasks = [f"{cycle}:{org.receiver.id}:peer_review:{n + 1}" for n in range(len(peers))]
    await activities(client, settings).open_peer_reviews(
        OpenPeerReviewsInput(
            idempotency_key=f"{cycle}:open",
            cycle_id=str(cycle),
            person_id=str(org.receiver.id),
            manager_id=str(org.manager.id),
            peers=[PeerAssignment(peer_id=str(pid), task_id=task) for pid, task in zip(peers, tasks, strict=True)],
            plan=plan(competencies),
            closes_at=utcnow() + timedelta(days=3),
        )
    )
    return tasks


async def release_round(client: httpx.AsyncClient, settings: Settings, org: Org, cycle: uuid.UUID) -> bool:
    value = ReleasePeerReviewsInput(
        idempotency_key=f"{cycle}:release", cycle_id=str(cycle), person_id=str(org.receiver.id)
    )
    return (await activities(client, settings).release_peer_reviews(value)).released


async def open_cycle(client: httpx.AsyncClient, cycle: uuid.UUID) -> None:
    """Peer ratings open as the cycle-launched event opens them."""
    async with client.app.state.sessionmaker() as session, session.begin():  # type: ignore[attr-defined]
        await PeerRatingService(session).open(cycle)


async def write_ratings(client: httpx.AsyncClient, settings: Settings, org: Org) -> Written:
    """A 360 answer per peer, an upward answer and peer ratings, each through its real route."""
    marker = uuid.uuid4().hex[:10]
    competencies = [f"competency-{marker}-a", f"competency-{marker}-b"]
    cycle = uuid.uuid4()
    peers = {"giver": org.giver.id, "colleague": org.colleague.id, "skip": org.skip.id}
    tasks = await open_round(client, settings, org, cycle, list(peers.values()), competencies)
    written = Written(competencies, uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
    for (who, _), task, values in zip(peers.items(), tasks, ((5, 2), (1, 4), (3, 3)), strict=True):
        ratings = dict(zip(competencies, values, strict=True))
        body: dict[str, Any] = {"ratings": ratings, "answers": {"strength": f"strength {uuid.uuid4().hex}"}}
        answered = await client.post(f"/peer-reviews/{task}/answer", json=body, headers=org.headers(who))
        assert answered.status_code == 201, answered.text
        written.round_ratings.append(ratings)
    async with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        written.round_id = (await session.scalars(sa.select(PeerRound.id).where(PeerRound.cycle_id == cycle))).one()

    pulse = await client.post(
        "/upward-feedback",
        json={"title": "Pulse", "closes_at": (utcnow() + timedelta(days=7)).isoformat()},
        headers=org.headers("hr"),
    )
    assert pulse.status_code == 201, pulse.text
    written.pulse_id = uuid.UUID(pulse.json()["id"])
    for who, rating in (("receiver", 2), ("giver", 4)):
        response = await client.post(
            f"/upward-feedback/{written.pulse_id}/answers", json={"rating": rating}, headers=org.headers(who)
        )
        assert response.status_code == 201, response.text
        written.upward_ratings.append(rating)

    await open_cycle(client, written.cycle)
    for receiver, rating in ((org.receiver.id, 4), (org.colleague.id, 1)):
        response = await client.put(
            f"/review-cycles/{written.cycle}/peer-ratings/{receiver}",
            json={"rating": rating},
            headers=org.headers("giver"),
        )
        assert response.status_code == 201, response.text
        written.peer_ratings[receiver] = rating
    return written


async def tally(engine: AsyncEngine, settings: Settings, kind: str, scope_id: uuid.UUID) -> Tally:
    """The scope's tally key as someone holding both the database and the key file could open it."""
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                sa.select(TallyKey.kek_id, TallyKey.wrapped_key).where(
                    TallyKey.kind == kind, TallyKey.scope_id == scope_id
                )
            )
        ).one()
    assert row.kek_id is not None
    assert row.wrapped_key is not None, f"the tally key of {kind} {scope_id} is destroyed"
    provider = FileKeyProvider(settings.feedback_kek_path())
    return Tally(kind, scope_id, await provider.unwrap(row.kek_id, row.wrapped_key, tally_key_aad(kind, scope_id)))


async def assert_ratings_sealed(engine: AsyncEngine, settings: Settings, written: Written) -> None:
    """No rating column in clear; every sealed value opens with its scope's key and binding alone."""
    async with engine.connect() as connection:
        columns = await connection.run_sync(
            lambda sync: {table: {c["name"] for c in sa.inspect(sync).get_columns(table)} for table in RATED_TABLES}
        )
        answers = (await connection.execute(sa.select(PeerAnswer))).all()
        upward = (await connection.execute(sa.select(UpwardAnswer))).all()
        rated = (await connection.execute(sa.select(PeerRating).where(PeerRating.cycle_id == written.cycle))).all()
    assert columns == RATED_TABLES

    round_tally = await tally(engine, settings, PEER_ROUND, written.round_id)
    pulse_tally = await tally(engine, settings, UPWARD_PULSE, written.pulse_id)
    cycle_tally = await tally(engine, settings, PEER_CYCLE, written.cycle)
    opened = [round_tally.open_ratings(row.sealed_ratings, "peer-answer", row.id) for row in answers]
    assert sorted(opened, key=json.dumps) == sorted(written.round_ratings, key=json.dumps)
    for row in answers:
        for plain in (json.dumps(r).encode() for r in written.round_ratings):
            assert plain not in row.sealed_ratings
        # Another round's key, or this key with the row bound elsewhere, opens nothing.
        with pytest.raises(DecryptionFailed):
            pulse_tally.open_ratings(row.sealed_ratings, "peer-answer", row.id)
        with pytest.raises(DecryptionFailed):
            round_tally.open_ratings(row.sealed_ratings, "peer-answer", uuid.uuid4())
    # Ratings of one kind all have the same length: the size of a value tells nothing.
    assert len({len(row.sealed_ratings) for row in answers}) == 1

    assert sorted(pulse_tally.open_rating(r.sealed_rating, "upward-answer", r.id, r.manager_id) for r in upward) == (
        sorted(written.upward_ratings)
    )
    for answer in upward:
        with pytest.raises(DecryptionFailed):
            pulse_tally.open_rating(answer.sealed_rating, "upward-answer", answer.id, uuid.uuid4())  # another manager
        with pytest.raises(DecryptionFailed):
            cycle_tally.open_rating(answer.sealed_rating, "upward-answer", answer.id, answer.manager_id)
    assert len({len(answer.sealed_rating) for answer in upward}) == 1

    found = {
        row.receiver_id: cycle_tally.open_rating(
            row.sealed_rating, "peer-rating", row.id, row.receiver_id, row.giver_tag
        )
        for row in rated
    }
    assert found == written.peer_ratings
    for rating in rated:
        other = next(r for r in rated if r.receiver_id != rating.receiver_id)
        with pytest.raises(DecryptionFailed):
            cycle_tally.open_rating(rating.sealed_rating, "peer-rating", rating.id, other.receiver_id, rating.giver_tag)
    assert len({len(rating.sealed_rating) for rating in rated}) == 1
