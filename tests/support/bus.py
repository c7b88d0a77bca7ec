"""Reading and writing the real event bus from tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import nats
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from meritloop.bus import PROVISIONER, provision_bus
from shared.events import CloudEvent, stream_name
from shared.people import PERSON_UPSERTED, PersonEventData
from shared.settings import Environment, Settings
from tests.support.waiting import wait_until


async def published(
    nats_url: str, subject: str, entity_id: str, where: Callable[[CloudEvent], bool] | None = None
) -> tuple[CloudEvent, bytes, dict[str, str]]:
    """The last event on ``subject`` once it is about ``entity_id`` (and ``where`` holds): envelope, raw bytes, headers.

    ``where`` tells a later event about the entity from an earlier one still last on the subject."""
    service = subject.split(".")[1]
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()

        async def probe() -> tuple[bytes, dict[str, str]] | None:
            try:
                message = await js.get_last_msg(stream_name(service), subject)
            except NotFoundError:
                return None
            raw = message.data
            if raw is None:
                return None
            event = CloudEvent.from_bytes(raw)
            if event.data.get("id") != entity_id or (where is not None and not where(event)):
                return None
            return raw, dict(message.headers or {})

        raw, headers = await wait_until(probe, timeout=5.0, message=f"{subject} for {entity_id}")
    finally:
        await nc.close()
    return CloudEvent.from_bytes(raw), raw, headers


async def publish_person(js: JetStreamContext, person_id: uuid.UUID, version: int, display_name: str) -> None:
    """Stand in for the directory: publish a ``person upserted`` event as reviews would."""
    data = PersonEventData(id=person_id, version=version, display_name=display_name, email="ada@example.com")
    event = CloudEvent(
        source="/meritloop/reviews",
        type=PERSON_UPSERTED,
        subject=str(person_id),
        data=data.model_dump(mode="json"),
    )
    await js.publish(event.nats_subject, event.to_bytes(), headers={"Nats-Msg-Id": str(event.id)})


async def provision(url: str, password: str) -> None:
    """Define every stream and durable consumer on the secured server at ``url``, as ``meritloop up`` does."""
    await provision_bus(Settings(environment=Environment.test, nats_url=url), user=PROVISIONER, password=password)
