"""360 rounds in the feedback service: who may answer, release once at k, and the attacks on
anonymity of docs/feedback.md (differencing, self-rating, joining as a rater, timing, counting
below k). The round is opened and released by the real activities (as the review workflow
calls them), on the service's own database; answers go through the real HTTP routes."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, inspect, select

from services.feedback.models import OutboxEvent, PeerRound, PeerRoundPeer
from services.feedback.peer_reviews.activities import FeedbackActivities
from services.feedback.peer_reviews.rules import effective_k, release
from services.feedback.service import PeerRatingService
from shared.database import utcnow
from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.feedback.support import ROLES, Org, person, publish_people, wait_projected
from tests.support.stored import stored_bytes
from workflows.models import OpenPeerReviewsInput, PeerAssignment, PeerFeedbackPlan, ReleasePeerReviewsInput

pytestmark = pytest.mark.database

AGGREGATE = "meritloop.feedback.peer-aggregate.computed"
ANSWERED = "meritloop.feedback.peer-review.answered"
PLAN = PeerFeedbackPlan(
    min_peers=3,
    max_peers=5,
    questions=[{"key": "strength", "text": "What should they keep doing?"}],
    competencies=["craft"],
    min_raters=3,
)


class Round:
    def __init__(self, client: httpx.AsyncClient, settings: Settings, org: Org, peers: dict[str, uuid.UUID]) -> None:
        self.client = client
        self.org = org
        self.cycle = uuid.uuid4()
        self.peers = peers  # name -> person id of the approved peers (as the workflow passes them)
        self.tasks = {name: f"{self.cycle}:{org.receiver.id}:peer_review:{n + 1}" for n, name in enumerate(peers)}
        self.activities = FeedbackActivities(client.app.state.sessionmaker, settings)  # type: ignore[attr-defined]

    async def open(self, closes_in: timedelta = timedelta(days=3)) -> None:
        await self.activities.open_peer_reviews(
            OpenPeerReviewsInput(
                idempotency_key=f"{self.cycle}:open",
                cycle_id=str(self.cycle),
                person_id=str(self.org.receiver.id),
                manager_id=str(self.org.manager.id),
                peers=[PeerAssignment(peer_id=str(pid), task_id=self.tasks[n]) for n, pid in self.peers.items()],
                plan=PLAN,
                closes_at=utcnow() + closes_in,
            )
        )

    async def release(self) -> bool:
        value = ReleasePeerReviewsInput(
            idempotency_key=f"{self.cycle}:release", cycle_id=str(self.cycle), person_id=str(self.org.receiver.id)
        )
        return (await self.activities.release_peer_reviews(value)).released

    async def answer(self, task: str, headers: dict[str, str], rating: int = 4, text: str = "t") -> httpx.Response:
        body: dict[str, Any] = {"ratings": {"craft": rating}, "answers": {"strength": text}}
        return await self.client.post(f"/peer-reviews/{task}/answer", json=body, headers=headers)

    async def mine(self, headers: dict[str, str]) -> httpx.Response:
        return await self.client.get(f"/review-cycles/{self.cycle}/peer-reviews/me", headers=headers)

    async def outbox(self, subject: str) -> int:
        async with self.client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
            count = await session.scalar(select(func.count()).where(OutboxEvent.subject == subject))
        return int(count or 0)


async def _extra_peers(client: httpx.AsyncClient, settings: Settings, auth: TokenFactory, n: int) -> list[uuid.UUID]:
    people = [person(f"Peer{i}") for i in range(n)]
    await publish_people(settings.nats_url, people)
    await wait_projected(client, auth, people)
    return [p.id for p in people]


@pytest.fixture
async def extra(client: httpx.AsyncClient, settings: Settings, auth: TokenFactory) -> list[uuid.UUID]:
    return await _extra_peers(client, settings, auth, 3)


def _columns(session: Any, table: str) -> set[str]:
    return {column["name"] for column in inspect(session.connection()).get_columns(table)}


def _headers(auth: TokenFactory, pid: uuid.UUID) -> dict[str, str]:
    return auth(person_id=pid)


async def test_every_route_across_roles(
    client: httpx.AsyncClient, settings: Settings, org: Org, auth: TokenFactory, extra: list[uuid.UUID]
) -> None:
    peers = {"giver": org.giver.id, "gone": org.gone.id, "p0": extra[0], "p1": extra[1]}
    peer_round = Round(client, settings, org, peers)
    await peer_round.open()
    task = peer_round.tasks["giver"]
    read: dict[str, int] = {}
    answer: dict[str, int] = {}
    mine: dict[str, int] = {}
    for who in ROLES:
        if who == "giver":
            continue  # answers last, so the others try an open, unanswered task
        read[who] = (await client.get(f"/peer-reviews/{task}", headers=org.headers(who))).status_code
        answer[who] = (await peer_round.answer(task, org.headers(who))).status_code
        mine[who] = (await peer_round.mine(org.headers(who))).status_code
    read["giver"] = (await client.get(f"/peer-reviews/{task}", headers=org.headers("giver"))).status_code
    answer["giver"] = (await peer_round.answer(task, org.headers("giver"))).status_code
    mine["giver"] = (await peer_round.mine(org.headers("giver"))).status_code
    # Only the approved peer reads or answers their task; HR, admins and the deactivated are refused
    # outright (a deactivated person's token opens nothing any more), everyone else learns nothing
    # (404). Nobody reads a result while the round is open.
    assert read == {who: {"giver": 200, "gone": 403}.get(who, 404) for who in ROLES}
    assert answer == {
        "giver": 201,
        "receiver": 404,
        "manager": 404,
        "skip": 404,
        "hr": 403,
        "admin": 403,
        "colleague": 404,
        "gone": 403,  # approved, but deactivated since
    }
    assert mine == {who: 403 if who == "gone" else 404 for who in ROLES}
    # The deactivated peer's own token is refused too.
    assert (await peer_round.answer(peer_round.tasks["gone"], org.headers("gone"))).status_code == 403


async def test_self_rating_the_subject_and_managers_never_enter_a_round(
    client: httpx.AsyncClient, settings: Settings, org: Org, auth: TokenFactory, extra: list[uuid.UUID]
) -> None:
    # A list that names the subject and their manager (the reviews API refuses it; the
    # activity drops them all the same).
    peers = {"receiver": org.receiver.id, "manager": org.manager.id, "p0": extra[0], "p1": extra[1]}
    peer_round = Round(client, settings, org, peers)
    await peer_round.open()
    async with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        invited = set(await session.scalars(select(PeerRoundPeer.peer_id)))
    assert invited == {extra[0], extra[1]}
    refused = await peer_round.answer(peer_round.tasks["receiver"], org.headers("receiver"))
    assert refused.status_code == 404
    assert (await peer_round.answer(peer_round.tasks["manager"], org.headers("manager"))).status_code == 404


async def test_manager_and_hr_never_count_as_raters(client: httpx.AsyncClient, settings: Settings, org: Org) -> None:
    """Peer ratings: the managers above the receiver (they read the aggregate in the form) and HR
    cannot rate, so none of them can solve the aggregate for a colleague's rating."""
    cycle = uuid.uuid4()
    async with client.app.state.sessionmaker() as session, session.begin():  # type: ignore[attr-defined]
        await PeerRatingService(session).open(cycle)
    url = f"/review-cycles/{cycle}/peer-ratings/{org.receiver.id}"
    tried = {
        who: (await client.put(url, json={"rating": 5}, headers=org.headers(who))).status_code
        for who in ("manager", "skip", "hr", "admin", "giver")
    }
    assert tried == {"manager": 422, "skip": 422, "hr": 403, "admin": 403, "giver": 201}


async def test_below_k_nothing_is_released(
    client: httpx.AsyncClient, settings: Settings, org: Org, auth: TokenFactory, extra: list[uuid.UUID]
) -> None:
    peers = {"p0": extra[0], "p1": extra[1], "p2": extra[2]}
    peer_round = Round(client, settings, org, peers)
    await peer_round.open()
    for name in ("p0", "p1"):
        answered = await peer_round.answer(peer_round.tasks[name], _headers(auth, peers[name]), 5, f"{name}-text")
        assert answered.status_code == 201, answered.text
    assert await peer_round.release() is False
    result = await peer_round.mine(org.headers("receiver"))
    assert result.status_code == 200
    assert result.json()["released"] is False
    assert {k for k, v in result.json().items() if v not in (None, [])} == {"cycle_id", "released"}  # no count
    assert await peer_round.outbox(AGGREGATE) == 0
    async with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        stored = await session.scalar(select(PeerRound))
    assert stored is not None
    assert (stored.status, stored.score, stored.rater_count) == ("suppressed", None, None)


async def test_differencing_a_released_aggregate_never_changes(
    client: httpx.AsyncClient, settings: Settings, org: Org, auth: TokenFactory, extra: list[uuid.UUID]
) -> None:
    more = await _extra_peers(client, settings, auth, 1)
    peers = {"p0": extra[0], "p1": extra[1], "p2": extra[2], "p3": more[0]}
    peer_round = Round(client, settings, org, peers)
    await peer_round.open()
    for name, rating in (("p0", 5), ("p1", 3), ("p2", 4)):
        answered = await peer_round.answer(peer_round.tasks[name], _headers(auth, peers[name]), rating)
        assert answered.status_code == 201, answered.text
    assert await peer_round.release() is True
    first = (await peer_round.mine(org.headers("receiver"))).json()
    assert (first["score"], first["rater_count"]) == (75.0, 3)
    # One more answer would let anyone who saw both aggregates solve for it: refused, and a
    # repeated release (a retried activity) recomputes nothing and publishes nothing new.
    late = await peer_round.answer(peer_round.tasks["p3"], _headers(auth, peers["p3"]), 1)
    assert late.status_code == 409
    assert await peer_round.release() is True
    assert (await peer_round.mine(org.headers("receiver"))).json() == first
    assert await peer_round.outbox(AGGREGATE) == 1
    # No second aggregate over other raters: the subject cannot be peer-rated in the same cycle.
    async with client.app.state.sessionmaker() as session, session.begin():  # type: ignore[attr-defined]
        await PeerRatingService(session).open(peer_round.cycle)
    rated = await client.put(
        f"/review-cycles/{peer_round.cycle}/peer-ratings/{org.receiver.id}",
        json={"rating": 1},
        headers=org.headers("giver"),
    )
    assert rated.status_code == 409
    assert rated.json()["reason"] == "peer_round"


async def test_differencing_every_answer_rates_every_competency() -> None:
    assert release([{"craft": 5}, {"craft": 1}], ["craft"], 3) is None
    released = release([{"craft": 5}, {"craft": 1}, {"craft": 3}], ["craft"], 3)
    assert released is not None
    assert (released.score, released.rater_count, released.competency_scores) == (50.0, 3, {"craft": 50.0})
    assert effective_k(1) == 3  # never below 3, whatever a template or setting says
    assert effective_k(3, 5) == 5


async def test_joining_as_a_rater_is_refused(
    client: httpx.AsyncClient, settings: Settings, org: Org, auth: TokenFactory, extra: list[uuid.UUID]
) -> None:
    peers = {"p0": extra[0], "p1": extra[1], "p2": extra[2]}
    peer_round = Round(client, settings, org, peers)
    await peer_round.open()
    # Someone not approved answering a real task, a made-up task, or the next number of the subject's.
    assert (await peer_round.answer(peer_round.tasks["p0"], org.headers("colleague"))).status_code == 404
    made_up = f"{peer_round.cycle}:{org.receiver.id}:peer_review:4"
    assert (await peer_round.answer(made_up, org.headers("colleague"))).status_code == 404
    # Opening again (a retried activity, or a second list) adds nobody.
    await peer_round.open()
    async with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        assert await session.scalar(select(func.count()).select_from(PeerRoundPeer)) == 3
    # An approved peer answers once.
    assert (await peer_round.answer(peer_round.tasks["p0"], _headers(auth, peers["p0"]))).status_code == 201
    assert (await peer_round.answer(peer_round.tasks["p0"], _headers(auth, peers["p0"]))).status_code == 409


async def test_timing_nothing_before_the_close_and_no_time_per_peer(
    client: httpx.AsyncClient, settings: Settings, org: Org, auth: TokenFactory, extra: list[uuid.UUID]
) -> None:
    peers = {"p0": extra[0], "p1": extra[1], "p2": extra[2]}
    peer_round = Round(client, settings, org, peers)
    await peer_round.open()
    texts = ("timing-alpha-3391", "timing-beta-1177", "timing-gamma-8420")
    for (name, pid), text in zip(peers.items(), texts, strict=True):
        assert (await peer_round.answer(peer_round.tasks[name], _headers(auth, pid), 4, text)).status_code == 201
    # k answers are in, but nothing shows before the round closes: the release's moment says
    # nothing about who answered last.
    assert (await peer_round.mine(org.headers("receiver"))).status_code == 404
    assert await peer_round.outbox(AGGREGATE) == 0
    # The peer rows keep no time, and answers name no peer.
    async with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        peer_columns = await session.run_sync(
            lambda s: {c["name"] for c in inspect(s.bind).get_columns("peer_round_peers")}
        )
        answer_columns = await session.run_sync(
            lambda s: {c["name"] for c in inspect(s.bind).get_columns("peer_answers")}
        )
    assert peer_columns == {"round_id", "peer_id", "task_id", "answered"}
    assert answer_columns == {"id", "round_id", "position", "sealed_ratings", "ciphertext"}
    assert await peer_round.outbox(ANSWERED) == 3
    assert await peer_round.release() is True
    comments = (await peer_round.mine(org.headers("receiver"))).json()["comments"]
    assert sorted(c["text"] for c in comments) == sorted(texts)
    # Nothing in clear in what the database holds.
    raw = await stored_bytes(settings.database_url("feedback"))
    for text in texts:
        assert text.encode() not in raw


async def test_answers_name_each_bad_field(
    client: httpx.AsyncClient, settings: Settings, org: Org, auth: TokenFactory, extra: list[uuid.UUID]
) -> None:
    peers = {"p0": extra[0], "p1": extra[1], "p2": extra[2]}
    peer_round = Round(client, settings, org, peers)
    await peer_round.open()
    url = f"/peer-reviews/{peer_round.tasks['p0']}/answer"
    headers = _headers(auth, peers["p0"])
    for body, field in (
        ({"ratings": {"craft": 6}}, "ratings.craft"),
        ({"ratings": {"craft": 3, "other": 2}}, "ratings.other"),
        ({"ratings": {}, "answers": {"strength": "x"}}, "ratings"),
        ({"ratings": {"craft": 3}, "answers": {"nope": "x"}}, "answers.nope"),
        ({"ratings": {"craft": 3}, "answers": {"strength": "x" * 5001}}, "answers.strength"),
    ):
        response = await client.post(url, json=body, headers=headers)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == field, response.text
    closed = Round(client, settings, org, {"p0": extra[0], "p1": extra[1], "p2": extra[2]})
    await closed.open(closes_in=timedelta(seconds=-1))
    assert (await closed.answer(closed.tasks["p0"], headers)).status_code == 409
