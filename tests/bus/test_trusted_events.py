"""The bus as a trust boundary, against a real nats-server run with the generated configuration:
each component connects as its own user, may publish only its own subjects, and consumers refuse
an event whose envelope contradicts its subject."""

from __future__ import annotations

import asyncio
import json
import uuid
from contextlib import AsyncExitStack
from datetime import timedelta
from functools import partial
from typing import Any

import httpx
import nats.errors
import pytest
from nats.js.errors import NoStreamResponseError, NotFoundError

from shared.events import CloudEvent, stream_name
from shared.events.bus import BusCredentials, EventBus, dead_letter_stream
from shared.events.trust import DEAD_LETTER_STREAM
from shared.people import PERSON_DEACTIVATED, PERSON_UPSERTED, PersonEventData
from shared.settings import Settings
from tests.bus.conftest import ComponentOpener, SecuredNats
from tests.conftest import TokenFactory
from tests.directory.scim_support import user
from tests.support.waiting import wait_until

SCIM_TOKEN = "scim-provisioning-token-for-the-bus-tests-0123"
SCIM_HEADERS = {"Authorization": f"Bearer {SCIM_TOKEN}", "Content-Type": "application/scim+json"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"scim_token": SCIM_TOKEN})


def person_event(
    person_id: uuid.UUID,
    *,
    version: int = 1,
    manager_id: uuid.UUID | None = None,
    source: str = "/meritloop/reviews",
    kind: str = PERSON_UPSERTED,
) -> CloudEvent:
    data = PersonEventData(
        id=person_id, version=version, display_name="Ada", email="ada@example.com", manager_id=manager_id
    )
    return CloudEvent(source=source, type=kind, subject=str(person_id), data=data.model_dump(mode="json"))


async def projected(client: httpx.AsyncClient, person_id: uuid.UUID, headers: dict[str, str]) -> dict[str, Any] | None:
    response = await client.get(f"/people/{person_id}", headers=headers)
    return response.json() if response.status_code == 200 else None


async def stream_messages(server: SecuredNats, stream: str) -> int:
    nc = await server.connect("admin")
    try:
        try:
            info = await nc.jetstream().stream_info(stream)
        except NotFoundError:
            return 0
        return int(info.state.messages)
    finally:
        await nc.close()


async def test_each_component_works_with_its_own_credentials(
    component_client: ComponentOpener, auth: TokenFactory
) -> None:
    """The permissions are enough for the real thing: streams, relay, durable consumers, acks."""
    async with AsyncExitStack() as stack:
        reviews = await stack.enter_async_context(component_client("reviews"))
        goals = await stack.enter_async_context(component_client("goals"))
        rewards = await stack.enter_async_context(component_client("rewards"))
        feedback = await stack.enter_async_context(component_client("feedback"))
        created = await reviews.post("/scim/v2/Users", json=user("ada@x.io"), headers=SCIM_HEADERS)
        assert created.status_code == 201, created.text
        person_id = uuid.UUID(created.json()["id"])
        for client in (goals, rewards, feedback):

            async def arrived(c: httpx.AsyncClient = client) -> dict[str, Any] | None:
                return await projected(c, person_id, auth())

            await wait_until(arrived, message=f"{client.app.state.service} has the person")  # type: ignore[attr-defined]


async def test_another_components_credentials_cannot_publish_or_read_there(
    component_client: ComponentOpener, secured_nats: SecuredNats, auth: TokenFactory
) -> None:
    errors: list[Exception] = []

    async def record(exc: Exception) -> None:
        errors.append(exc)

    async with component_client("reviews"), component_client("goals") as goals:
        # The perfect forgery (right subject, right source, right type) sent as rewards.
        forger = await secured_nats.connect("rewards", error_cb=record)
        victim, attacker = uuid.uuid4(), uuid.uuid4()
        forged = person_event(victim, version=99, manager_id=attacker)
        # The server drops it: no stream ever answers (a timeout, or "no response" from nats-py).
        with pytest.raises((nats.errors.TimeoutError, NoStreamResponseError)):
            await forger.jetstream().publish(forged.nats_subject, forged.to_bytes(), timeout=1.0)
        # Nor may it listen in on another component's subjects, or read another's durable consumer.
        spied: list[bytes] = []

        async def spy(message: Any) -> None:
            spied.append(message.data)

        await forger.subscribe("meritloop.reviews.>", cb=spy)
        subscription = await forger.jetstream().pull_subscribe_bind("goals-people", stream=stream_name("reviews"))
        with pytest.raises((nats.errors.TimeoutError, NoStreamResponseError)):
            await subscription.fetch(1, timeout=1.0)
        await forger.close()

        # The component that owns the subject publishes a real event afterwards: once goals
        # applied it, the forgery would have been applied too.
        reviews = await secured_nats.connect("reviews")
        genuine_id = uuid.uuid4()
        genuine = person_event(genuine_id)
        await reviews.jetstream().publish(genuine.nats_subject, genuine.to_bytes())
        await reviews.close()
        await wait_until(lambda: projected(goals, genuine_id, auth()), message="the genuine event applied")

        assert await projected(goals, victim, auth()) is None
        assert await stream_messages(secured_nats, stream_name("reviews")) == 1
        assert spied == []
        violations = [str(exc).lower() for exc in errors if "permissions violation" in str(exc).lower()]
        assert any('publish to "meritloop.reviews.person.upserted"' in text for text in violations), errors
        assert any('subscription to "meritloop.reviews.>"' in text for text in violations), errors
        assert any("consumer.msg.next.meritloop_reviews.goals-people" in text for text in violations), errors


@pytest.mark.parametrize(
    ("source", "kind", "reason"),
    [
        ("/meritloop/goals", PERSON_UPSERTED, "source '/meritloop/goals' does not match"),
        ("/meritloop/reviews", PERSON_DEACTIVATED, "type 'meritloop.reviews.person.deactivated' does not match"),
    ],
)
async def test_a_forged_event_changes_nothing_and_is_dead_lettered(
    component_client: ComponentOpener,
    secured_nats: SecuredNats,
    auth: TokenFactory,
    source: str,
    kind: str,
    reason: str,
) -> None:
    person, attacker = uuid.uuid4(), uuid.uuid4()
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(component_client("reviews"))  # owns the stream
        goals = await stack.enter_async_context(component_client("goals"))
        rewards = await stack.enter_async_context(component_client("rewards"))
        publisher = await secured_nats.connect("reviews")
        js = publisher.jetstream()
        await js.publish(PERSON_UPSERTED, person_event(person).to_bytes())
        for client in (goals, rewards):
            await wait_until(partial(projected, client, person, auth()), message="the person arrived")

        # The attack: a higher version that makes someone else the person's manager,
        # with an envelope that claims another source (or another type) than its subject.
        forged = person_event(person, version=99, manager_id=attacker, source=source, kind=kind)
        await js.publish(PERSON_UPSERTED, forged.to_bytes())
        later_id = uuid.uuid4()
        later = person_event(later_id)
        await js.publish(PERSON_UPSERTED, later.to_bytes())
        await publisher.close()
        for client in (goals, rewards):
            await wait_until(partial(projected, client, later_id, auth()), message="the later event applied")
            unchanged = await projected(client, person, auth())
            assert unchanged is not None
            assert unchanged["manager_id"] is None
            assert unchanged["active"] is True

        admin = await secured_nats.connect("admin")
        try:
            for durable in ("goals-people", "rewards-people"):
                letter = await admin.jetstream().get_last_msg(DEAD_LETTER_STREAM, f"meritloop.deadletter.{durable}")
                headers = letter.headers or {}
                assert headers["Meritloop-Original-Subject"] == PERSON_UPSERTED
                assert reason in json.loads(headers["Meritloop-Refused"])
                assert CloudEvent.from_bytes(letter.data or b"").id == forged.id
        finally:
            await admin.close()
        for client in (goals, rewards):
            consumer = next(c for c in client.app.state.consumers if c.subscription.durable.endswith("-people"))  # type: ignore[attr-defined]
            assert consumer.dead_lettered == 1


async def test_a_service_without_its_password_does_not_get_in(secured_nats: SecuredNats) -> None:
    with pytest.raises((nats.errors.Error, OSError, asyncio.TimeoutError)):
        await nats.connect(secured_nats.url, user="goals", password="wrong", allow_reconnect=False, connect_timeout=2)
    with pytest.raises((nats.errors.Error, OSError, asyncio.TimeoutError)):
        await nats.connect(secured_nats.url, allow_reconnect=False, connect_timeout=2)


def consumed_subjects() -> set[str]:
    import importlib

    from shared.settings import SERVICES

    return {
        subject
        for service in SERVICES
        for subscription in importlib.import_module(f"services.{service}.app").DEFINITION.subscriptions
        for subject in subscription.subjects
    }


@pytest.mark.usefixtures("nats_url")  # the emptied server
async def test_only_the_owner_may_publish_any_subject_a_service_consumes(secured_nats: SecuredNats) -> None:
    """Every event some service acts on (person, rating.finalized, proposal.approved, ...): any other
    component's user is refused by the server, the owner's publish is stored."""
    from shared.events import service_stream
    from shared.events.trust import BUS_USERS

    subjects = consumed_subjects()
    assert {"meritloop.reviews.rating.finalized", "meritloop.rewards.proposal.approved"} <= subjects
    admin = await secured_nats.connect("admin")
    for owner in {subject.split(".")[1] for subject in subjects}:
        await admin.jetstream().add_stream(service_stream(owner))
    try:
        for user in BUS_USERS:
            errors: list[Exception] = []

            async def record(exc: Exception, into: list[Exception] = errors) -> None:
                into.append(exc)

            nc = await secured_nats.connect(user.name, error_cb=record)
            foreign = sorted(s for s in subjects if s.split(".")[1] != user.name)
            for subject in foreign:
                await nc.publish(subject, b"{}")
            await nc.flush()
            await asyncio.sleep(0.2)  # the server's -ERR lines arrive after the flush's PONG
            refused = " | ".join(str(exc).lower() for exc in errors)
            for subject in foreign:
                assert f'permissions violation for publish to "{subject}"' in refused, (user.name, subject)
            own = sorted(s for s in subjects if s.split(".")[1] == user.name)
            for subject in own:
                assert (await nc.jetstream().publish(subject, b"{}")).seq >= 1
            await nc.close()
        for owner in {subject.split(".")[1] for subject in subjects}:
            info = await admin.jetstream().stream_info(stream_name(owner))
            assert info.state.messages == sum(1 for s in subjects if s.split(".")[1] == owner)
    finally:
        await admin.close()


async def test_no_component_may_change_what_the_dead_letter_stream_keeps(secured_nats: SecuredNats) -> None:
    """Every component dead-letters into one stream: one may create it as the code defines it, none may shorten
    what it keeps for all (a max_age of a second would erase the others' evidence)."""
    errors: list[Exception] = []

    async def record(exc: Exception) -> None:
        errors.append(exc)

    admin = await secured_nats.connect("admin")
    goals = await secured_nats.connect("goals", error_cb=record)
    try:
        await goals.jetstream().add_stream(dead_letter_stream())  # as the code defines it: allowed
        shortened = dead_letter_stream()
        shortened.max_age = 1.0
        with pytest.raises((nats.errors.TimeoutError, NoStreamResponseError)):
            await goals.jetstream(timeout=1.0).update_stream(shortened)
        assert (await admin.jetstream().stream_info(DEAD_LETTER_STREAM)).config.max_age == dead_letter_stream().max_age
        violations = [str(exc).lower() for exc in errors if "permissions violation" in str(exc).lower()]
        assert any("stream.update.meritloop_deadletter" in text for text in violations), errors

        # An operator changed its settings: a component still connects, and leaves them as they are.
        kept = dead_letter_stream()
        kept.max_age = timedelta(days=90).total_seconds()
        await admin.jetstream().update_stream(kept)
        bus = EventBus(
            secured_nats.url, name="goals", credentials=BusCredentials("goals", secured_nats.passwords["goals"])
        )
        bus.declare_stream(dead_letter_stream())
        bus.start()
        try:
            await bus.wait_connected(timeout=10.0)
        finally:
            await bus.close()
        assert (await admin.jetstream().stream_info(DEAD_LETTER_STREAM)).config.max_age == kept.max_age
    finally:
        await admin.jetstream().update_stream(dead_letter_stream())
        await goals.close()
        await admin.close()
