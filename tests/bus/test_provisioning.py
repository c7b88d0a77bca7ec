"""Durable consumers are defined by the provisioner, never by the component that reads through them.

Against a real nats-server run with the generated configuration: a component cannot define or
widen its own consumer (its filter is what it gets to read), it waits until its consumer is
provisioned, and the provisioner itself can neither publish nor read an event.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import nats.errors
import pytest
from nats.js.api import ConsumerConfig
from nats.js.errors import NoStreamResponseError
from prometheus_client import REGISTRY

from meritloop.bus import PROVISIONER, bus_plan
from shared.events import CloudEvent, stream_name
from shared.events.consumer import uncovered
from shared.people import PERSON_DEACTIVATED, PERSON_UPSERTED, PersonEventData
from shared.settings import Settings
from tests.bus.conftest import ComponentOpener, SecuredNats
from tests.conftest import TokenFactory
from tests.support.bus import provision
from tests.support.waiting import wait_until

REVIEWS = stream_name("reviews")


def person_event(person_id: uuid.UUID) -> CloudEvent:
    data = PersonEventData(id=person_id, version=1, display_name="Ada", email="ada@example.com")
    return CloudEvent(source="/meritloop/reviews", type=PERSON_UPSERTED, data=data.model_dump(mode="json"))


async def publish_person(server: SecuredNats, person_id: uuid.UUID) -> None:
    reviews = await server.connect("reviews")
    try:
        await reviews.jetstream().publish(PERSON_UPSERTED, person_event(person_id).to_bytes())
    finally:
        await reviews.close()


async def projected(client: httpx.AsyncClient, person_id: uuid.UUID, headers: dict[str, str]) -> dict[str, Any] | None:
    response = await client.get(f"/people/{person_id}", headers=headers)
    return response.json() if response.status_code == 200 else None


def waiting(consumer: str) -> float | None:
    return REGISTRY.get_sample_value("meritloop_consumer_waiting_for_provisioning", {"consumer": consumer})


@pytest.mark.parametrize(
    ("filters", "missing"),
    [
        ([], []),  # no filter: the whole stream
        (["meritloop.reviews.person.upserted", "meritloop.reviews.person.deactivated"], []),
        (["meritloop.reviews.>"], []),
        (["meritloop.reviews.person.*"], []),
        (["meritloop.reviews.person.upserted"], ["meritloop.reviews.person.deactivated"]),
        (["meritloop.goals.>"], ["meritloop.reviews.person.upserted", "meritloop.reviews.person.deactivated"]),
    ],
)
def test_a_consumer_found_must_read_all_the_component_handles(filters: list[str], missing: list[str]) -> None:
    config = ConsumerConfig(filter_subjects=filters or None)
    assert uncovered(config, [PERSON_UPSERTED, PERSON_DEACTIVATED]) == missing
    assert uncovered(ConsumerConfig(filter_subject="meritloop.reviews.*"), ["meritloop.reviews.>"]) == [
        "meritloop.reviews.>"
    ]


@pytest.mark.usefixtures("nats_url")  # emptied and provisioned
async def test_a_component_cannot_define_or_widen_its_own_consumer(secured_nats: SecuredNats) -> None:
    errors: list[Exception] = []

    async def record(exc: Exception) -> None:
        errors.append(exc)

    goals = await secured_nats.connect("goals", error_cb=record)
    admin = await secured_nats.connect("admin")
    try:
        before = (await admin.jetstream().consumer_info(REVIEWS, "goals-people")).config
        widened = ConsumerConfig(durable_name="goals-people", filter_subject="meritloop.reviews.>")
        with pytest.raises((nats.errors.TimeoutError, NoStreamResponseError)):
            await goals.jetstream(timeout=1.0).add_consumer(REVIEWS, widened)
        # Nor a new durable of its own name with any filter (the push form included).
        spying = ConsumerConfig(durable_name="goals-spy", deliver_subject="_INBOX_goals.spy")
        with pytest.raises((nats.errors.TimeoutError, NoStreamResponseError)):
            await goals.jetstream(timeout=1.0).add_consumer(REVIEWS, spying)
        # The other two forms of the call, written by hand (nats-py sends the durable form).
        config = {"durable_name": "goals-people", "ack_policy": "explicit"}
        body = json.dumps({"stream_name": REVIEWS, "config": config})
        for subject in (
            f"$JS.API.CONSUMER.CREATE.{REVIEWS}.goals-people",
            f"$JS.API.CONSUMER.CREATE.{REVIEWS}.goals-people.meritloop.reviews.>",
        ):
            with pytest.raises(nats.errors.TimeoutError):
                await goals.request(subject, body.encode(), timeout=1.0)
        after = (await admin.jetstream().consumer_info(REVIEWS, "goals-people")).config
        assert after.filter_subjects == before.filter_subjects
        assert sorted(after.filter_subjects or []) == sorted([PERSON_UPSERTED, PERSON_DEACTIVATED])
        names = [info.name for info in await admin.jetstream().consumers_info(REVIEWS)]
        assert "goals-spy" not in names
        # It may still look its consumer up (that is how it checks what it was given).
        assert (await goals.jetstream().consumer_info(REVIEWS, "goals-people")).name == "goals-people"
        violations = " | ".join(str(exc).lower() for exc in errors)
        for form in ("durable.create", "consumer.create"):
            assert f"{form}.meritloop_reviews.goals-people" in violations, errors
        assert "consumer.create.meritloop_reviews.goals-people.meritloop.reviews.>" in violations, errors
    finally:
        await goals.close()
        await admin.close()


@pytest.mark.usefixtures("nats_url")
async def test_the_provisioner_defines_consumers_but_can_read_or_publish_nothing(secured_nats: SecuredNats) -> None:
    errors: list[Exception] = []

    async def record(exc: Exception) -> None:
        errors.append(exc)

    await publish_person(secured_nats, uuid.uuid4())
    provisioner = await secured_nats.connect(PROVISIONER, error_cb=record)
    try:
        spied: list[bytes] = []

        async def spy(message: Any) -> None:
            spied.append(message.data)

        await provisioner.subscribe("meritloop.>", cb=spy)
        pulled = await provisioner.jetstream().pull_subscribe_bind("goals-people", stream=REVIEWS)
        with pytest.raises((nats.errors.TimeoutError, NoStreamResponseError)):
            await pulled.fetch(1, timeout=1.0)
        with pytest.raises((nats.errors.TimeoutError, NoStreamResponseError)):
            await provisioner.jetstream().publish(PERSON_UPSERTED, person_event(uuid.uuid4()).to_bytes(), timeout=1.0)
        await provisioner.flush()
        await asyncio.sleep(0.2)  # the server's -ERR lines arrive after the flush's PONG
        assert spied == []
        violations = " | ".join(str(exc).lower() for exc in errors)
        assert 'subscription to "meritloop.>"' in violations, errors
        assert "consumer.msg.next.meritloop_reviews.goals-people" in violations, errors
        assert f'publish to "{PERSON_UPSERTED}"' in violations, errors
    finally:
        await provisioner.close()


async def test_a_component_waits_for_its_consumer_and_reads_once_it_is_provisioned(
    component_client: ComponentOpener, secured_nats: SecuredNats, nats_url: str, auth: TokenFactory
) -> None:
    admin = await secured_nats.connect("admin")
    try:
        await admin.jetstream().delete_consumer(REVIEWS, "goals-people")
        person = uuid.uuid4()
        await publish_person(secured_nats, person)
        async with component_client("goals") as goals:
            await asyncio.sleep(2.5)  # the consumer looked at least once and found nothing
            assert await projected(goals, person, auth()) is None
            assert waiting("goals-people") == 1.0  # what MeritloopConsumerNotProvisioned watches
            names = [info.name for info in await admin.jetstream().consumers_info(REVIEWS)]
            assert "goals-people" not in names  # it did not define it itself
            # A consumer of an older version that reads less than this one handles is not enough either.
            narrow = ConsumerConfig(durable_name="goals-people", filter_subject=PERSON_DEACTIVATED)
            await admin.jetstream().add_consumer(REVIEWS, narrow)
            await asyncio.sleep(2.5)
            assert await projected(goals, person, auth()) is None

            await admin.jetstream().delete_consumer(REVIEWS, "goals-people")
            await provision(nats_url, secured_nats.passwords[PROVISIONER])
            await wait_until(lambda: projected(goals, person, auth()), message="goals read the person")
            assert waiting("goals-people") == 0.0
    finally:
        await admin.close()


@pytest.mark.usefixtures("nats_url")
def test_meritloop_bus_provision_defines_every_consumer_and_can_run_again(
    secured_nats: SecuredNats, tmp_path: Path
) -> None:
    password = tmp_path / "provisioner.password"
    password.write_text(secured_nats.passwords[PROVISIONER])
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("MERITLOOP_")},
        "MERITLOOP_ENVIRONMENT": "test",
        "MERITLOOP_NATS_URL": secured_nats.url,
        "MERITLOOP_NATS_USER": PROVISIONER,
        "MERITLOOP_NATS_PASSWORD_FILE": str(password),
    }
    command = [sys.executable, "-m", "meritloop.cli", "bus", "provision", "--wait", "10"]
    plan = bus_plan(Settings())
    for _ in range(2):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        assert f"provisioned {len(plan.streams)} streams and {len(plan.consumers)} consumers" in done.stdout
        assert "consumer goals-people on MERITLOOP_REVIEWS: meritloop.reviews.person.upserted, " in done.stdout

    # Another component's user is refused with a clear message, not a traceback.
    env["MERITLOOP_NATS_USER"] = "goals"
    password.write_text(secured_nats.passwords["goals"])
    refused = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert refused.returncode == 1
    assert "JetStream did not answer goals (is it the provisioner user?)" in refused.stderr
