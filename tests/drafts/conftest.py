"""One organisation across the real reviews, goals and feedback services, for attested review drafts.

The directory (reviews) publishes its people on the real bus and goals and feedback project
them; HR, an admin and a deactivated person are written straight into those projections (the
deactivation's own consumer in reviews needs Temporal, which these tests do not run). Every
text is written through the services' own routes, so what the draft-sources routes answer is
what their real rules let each reader see.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.feedback.models import Person as FeedbackPerson
from services.feedback.peer_reviews.activities import FeedbackActivities
from services.goals.endpoints import today
from services.goals.models import Person as GoalsPerson
from shared.auth import Role
from shared.database import utcnow
from shared.settings import Environment, Settings
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.cycle_reads.support import Seeded
from tests.cycles.support import add_person
from tests.feedback.support import ensure_directory_stream
from tests.goals.conftest import TODAY
from tests.llm.conftest import model, settings
from tests.support.waiting import wait_until
from web.app import create_app
from web.settings import WebBackend, WebSettings
from workflows.models import OpenPeerReviewsInput, PeerAssignment, PeerFeedbackPlan, ReleasePeerReviewsInput

__all__ = ["model", "settings"]  # the scripted model server, and the settings that point at it

# Texts each reader may or may not get; every one is unique, so a search in a prompt is exact.
PUBLIC_GOAL = "Ship the billing service"
KEY_RESULT = "Customers migrated"
GOAL_NOTE = "Migrated the first 40 customers"
PRIVATE_GOAL = "Private goal learn Rust"
PRIVATE_NOTE = "Finished the Rust book"
BOBS_GOAL = "Bob goal reduce churn"
BOBS_NOTE = "Bob check-in note on churn"
PRAISE = "Alice rescued the release weekend"
PRAISE_FOR_BOB = "Thanks Bob for the quick reviews"
BOB_WRITTEN = "Bob written words for Alice, shared"
OLGA_WRITTEN = "Olga unshared words for Alice"
MANAGER_WRITTEN = "Manager written feedback for Alice"
AGENDA = "Discuss the promotion path"
ACTION = "Write the design doc"
MANAGER_NOTE = "Manager private note about Alice"
ALICE_NOTE = "Alice private note before the 1:1"
PEER_ANSWER = "PEER-360-ANSWER keep pairing"
VALUE = "Ownership"


def sessionmaker_of(client: httpx.AsyncClient) -> async_sessionmaker[AsyncSession]:
    maker: async_sessionmaker[AsyncSession] = client.app.state.sessionmaker  # type: ignore[attr-defined]
    return maker


def next_weekday(weekday: int, hour: int = 10) -> datetime:
    day = date.today() + timedelta(days=1)
    while day.weekday() != weekday:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, 0)


@dataclass
class World:
    reviews: httpx.AsyncClient
    goals: httpx.AsyncClient
    feedback: httpx.AsyncClient
    seeded: Seeded
    auth: TokenFactory
    carol: str = ""
    gone: uuid.UUID = field(default_factory=uuid.uuid4)
    ids: dict[str, str] = field(default_factory=dict)  # text -> the id of the item that holds it

    def headers(self, who: str) -> dict[str, str]:
        s = self.seeded
        if who == "hr":
            return s.hr
        if who == "admin":
            return s.admin
        if who == "gone":
            return self.auth(Role.employee, person_id=self.gone)
        if who == "carol":
            return self.auth(Role.employee, person_id=uuid.UUID(self.carol))
        return s.token(getattr(s, who))

    def person(self, who: str) -> str:
        """The person id behind ``headers(who)``."""
        named = {"carol": self.carol, "hr": self.seeded.hr_id, "admin": self.seeded.admin_id, "gone": self.gone}
        return str(named[who]) if who in named else str(getattr(self.seeded, who))

    async def goal_sources(self, who: str, person: str | None = None) -> httpx.Response:
        params = {
            "person_id": person or self.seeded.alice,
            "period_start": "2026-01-01",
            "period_end": max(date(2026, 12, 31), date.today() + timedelta(days=1)).isoformat(),
        }
        return await self.goals.get("/goals/draft-sources", params=params, headers=self.headers(who))

    async def feedback_sources(self, who: str, person: str | None = None) -> httpx.Response:
        params = {
            "person_id": person or self.seeded.alice,
            "from": "2026-01-01",
            "to": (date.today() + timedelta(days=120)).isoformat(),
        }
        return await self.feedback.get("/feedback/draft-sources", params=params, headers=self.headers(who))

    def web_app(self, settings: Settings) -> FastAPI:
        """The web app (development sign-in) over this world's reviews, goals and feedback, in process."""
        services: dict[WebBackend, httpx.AsyncClient] = {
            "reviews": self.reviews,
            "goals": self.goals,
            "feedback": self.feedback,
        }
        transports: dict[WebBackend, httpx.AsyncBaseTransport] = {
            name: httpx.ASGITransport(app=client.app)  # type: ignore[attr-defined]
            for name, client in services.items()
        }
        return create_app(
            settings.model_copy(update={"environment": Environment.development}), WebSettings(), transports=transports
        )

    async def bundles(self, who: str, person: str | None = None) -> list[dict[str, Any]]:
        found = []
        for response in (await self.goal_sources(who, person), await self.feedback_sources(who, person)):
            assert response.status_code == 200, response.text
            found.append(response.json())
        return found


async def _post(client: httpx.AsyncClient, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    response = await client.post(path, json=body, headers=headers)
    assert response.status_code in (200, 201), (path, response.text)
    return response.json()


async def _project_extra(world: World, settings: Settings) -> None:
    """HR, the admin and a deactivated report, written into the goals' and feedback's projections."""
    s = world.seeded
    extra = [
        (s.hr_id, None, True, "hr"),
        (s.admin_id, None, True, "admin"),
        (world.gone, uuid.UUID(s.manager), False, "gone"),
    ]
    for client, model_class in ((world.goals, GoalsPerson), (world.feedback, FeedbackPerson)):
        async with sessionmaker_of(client)() as session, session.begin():
            for person_id, manager_id, active, name in extra:
                session.add(
                    model_class(
                        id=person_id,
                        version=1,
                        display_name=name,
                        email=f"{name}@example.com",
                        manager_id=manager_id,
                        department="Eng",
                        active=active,
                    )
                )


async def _wait_projected(world: World) -> None:
    people = [world.person(who) for who in ("boss", "manager", "alice", "bob", "outsider", "carol")]

    async def projected() -> bool:
        for client in (world.goals, world.feedback):
            for person in people:
                if (await client.get(f"/people/{person}", headers=world.seeded.hr)).status_code != 200:
                    return False
        return True

    await wait_until(projected, timeout=20.0, message="goals' and feedback's projections have the directory")


async def _goals(world: World) -> None:
    w, g = world, world.goals
    period = {"period_start": "2026-01-01", "period_end": "2026-12-31"}
    public = await _post(
        g,
        "/goals",
        {
            "title": PUBLIC_GOAL,
            "description": "Move every customer to the new billing.",
            **period,
            "key_results": [{"title": KEY_RESULT, "start_value": 0, "target_value": 100}],
        },
        w.headers("alice"),
    )
    kr = public["key_results"][0]["id"]
    check_in = {"key_result_id": kr, "value": 40, "note": GOAL_NOTE}
    w.ids[GOAL_NOTE] = (await _post(g, f"/goals/{public['id']}/check-ins", check_in, w.headers("alice")))["id"]
    w.ids[PUBLIC_GOAL], w.ids[KEY_RESULT] = public["id"], kr
    private = await _post(g, "/goals", {"title": PRIVATE_GOAL, "visibility": "private", **period}, w.headers("alice"))
    check_in = {"value": 30, "note": PRIVATE_NOTE}
    w.ids[PRIVATE_NOTE] = (await _post(g, f"/goals/{private['id']}/check-ins", check_in, w.headers("alice")))["id"]
    w.ids[PRIVATE_GOAL] = private["id"]
    bobs = await _post(g, "/goals", {"title": BOBS_GOAL, **period}, w.headers("bob"))
    await _post(g, f"/goals/{bobs['id']}/check-ins", {"value": 10, "note": BOBS_NOTE}, w.headers("bob"))


async def _feedback(world: World, settings: Settings) -> None:
    w, f, s = world, world.feedback, world.seeded
    value = await _post(f, "/company-values", {"name": VALUE}, w.headers("hr"))
    body = {"receiver_ids": [s.alice], "message": PRAISE, "company_value_id": value["id"]}
    w.ids[PRAISE] = (await _post(f, "/praise", body, w.headers("bob")))["id"]
    await _post(f, "/praise", {"receiver_ids": [s.bob], "message": PRAISE_FOR_BOB}, w.headers("alice"))
    for who, text in (("bob", BOB_WRITTEN), ("outsider", OLGA_WRITTEN), ("manager", MANAGER_WRITTEN)):
        (item,) = (await _post(f, "/feedback", {"receiver_ids": [s.alice], "text": text}, w.headers(who)))["items"]
        w.ids[text] = item["id"]
    shared = await f.post(f"/feedback/{w.ids[BOB_WRITTEN]}/share", headers=w.headers("alice"))
    assert shared.status_code in (200, 201), shared.text
    series_body = {
        "report_id": s.alice,
        "rrule": "FREQ=WEEKLY;BYDAY=TU",
        "starts_at": next_weekday(1).isoformat(),
    }
    series = await _post(f, "/checkins/series", series_body, w.headers("manager"))
    occurrence = f"/checkins/series/{series['id']}/occurrences/{series['next_occurrence']['recurrence_id']}"
    w.ids[AGENDA] = (await _post(f, f"{occurrence}/agenda", {"text": AGENDA}, w.headers("alice")))["id"]
    action = {"title": ACTION, "owner_id": s.alice}
    w.ids[ACTION] = (await _post(f, f"{occurrence}/action-items", action, w.headers("manager")))["id"]
    w.ids[MANAGER_NOTE] = (await _post(f, f"{occurrence}/notes", {"text": MANAGER_NOTE}, w.headers("manager")))["id"]
    w.ids[ALICE_NOTE] = (await _post(f, f"{occurrence}/notes", {"text": ALICE_NOTE}, w.headers("alice")))["id"]
    await _peer_round(world, settings)


async def _peer_round(world: World, settings: Settings) -> None:
    """A released 360 round on Alice: three peers answered, so Alice may read the answers (never a draft)."""
    s = world.seeded
    activities = FeedbackActivities(sessionmaker_of(world.feedback), settings)
    cycle = str(uuid.uuid4())
    peers = {"bob": s.bob, "outsider": s.outsider, "carol": world.carol}
    tasks = {name: f"{cycle}:{s.alice}:peer_review:{n + 1}" for n, name in enumerate(peers)}
    plan = PeerFeedbackPlan(
        min_peers=3,
        max_peers=5,
        questions=[{"key": "strength", "text": "What should they keep doing?"}],
        competencies=["craft"],
        min_raters=3,
    )
    await activities.open_peer_reviews(
        OpenPeerReviewsInput(
            idempotency_key=f"{cycle}:open",
            cycle_id=cycle,
            person_id=s.alice,
            manager_id=s.manager,
            peers=[PeerAssignment(peer_id=pid, task_id=tasks[name]) for name, pid in peers.items()],
            plan=plan,
            closes_at=utcnow() + timedelta(days=3),
        )
    )
    for name in peers:
        body = {"ratings": {"craft": 4}, "answers": {"strength": PEER_ANSWER}}
        await _post(world.feedback, f"/peer-reviews/{tasks[name]}/answer", body, world.headers(name))
    release = ReleasePeerReviewsInput(idempotency_key=f"{cycle}:release", cycle_id=cycle, person_id=s.alice)
    assert (await activities.release_peer_reviews(release)).released
    mine = await world.feedback.get(f"/review-cycles/{cycle}/peer-reviews/me", headers=world.headers("alice"))
    assert PEER_ANSWER in mine.text  # Alice may read it: a draft still never gets it


@pytest.fixture
async def world(service_client: ServiceClientFactory, settings: Settings, auth: TokenFactory) -> AsyncIterator[World]:
    async with service_client("reviews") as reviews:
        await ensure_directory_stream(settings.nats_url)
        async with service_client("goals") as goals, service_client("feedback") as feedback:
            goals.app.dependency_overrides[today] = lambda: TODAY  # type: ignore[attr-defined]
            seeded = await Seeded(reviews, auth, settings).build()
            world = World(reviews, goals, feedback, seeded, auth)
            world.carol = await add_person(reviews, seeded.hr, "carol", "Eng", seeded.boss)
            await _wait_projected(world)
            await _project_extra(world, settings)
            await _goals(world)
            await _feedback(world, settings)
            yield world
