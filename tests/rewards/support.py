"""Building blocks of the rewards tests: people, bands, compensation, matrices and ratings."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from services.rewards.models import Person
from shared.calibration import RATING_FINALIZED, REWARDS_STREAM, RatingFinalized, rating_event_id
from shared.database import utcnow
from shared.events import CloudEvent
from shared.people import PERSON_UPSERTED, PersonEventData
from tests.support.waiting import wait_until


@dataclass(frozen=True)
class Someone:
    id: uuid.UUID
    name: str
    department: str | None = None
    manager_id: uuid.UUID | None = None


def someone(name: str, department: str | None = None, manager: Someone | None = None) -> Someone:
    return Someone(uuid.uuid4(), name, department, manager.id if manager else None)


async def insert_people(client: httpx.AsyncClient, *people: Someone) -> None:
    """Fill the people projection directly, as the directory events would."""
    sessionmaker = client.app.state.sessionmaker  # type: ignore[attr-defined]
    async with sessionmaker() as session, session.begin():
        for person in people:
            session.add(
                Person(
                    id=person.id,
                    version=1,
                    display_name=person.name,
                    email=f"{person.name.lower()}@example.com",
                    manager_id=person.manager_id,
                    department=person.department,
                    active=True,
                    synced_at=utcnow(),
                )
            )


async def publish_people(js: JetStreamContext, client: httpx.AsyncClient, *people: Someone) -> None:
    """Stand in for the directory: person events on the reviews stream, until projected."""
    for person in people:
        data = PersonEventData(
            id=person.id,
            version=1,
            display_name=person.name,
            email=f"{person.name.lower()}@example.com",
            manager_id=person.manager_id,
            department=person.department,
        )
        event = CloudEvent(
            source="/meritloop/reviews", type=PERSON_UPSERTED, subject=str(person.id), data=data.model_dump(mode="json")
        )
        await js.publish(event.nats_subject, event.to_bytes(), headers={"Nats-Msg-Id": str(event.id)})
    anyone = {"Authorization": client.headers.get("Authorization", "")}

    async def all_there() -> bool:
        for person in people:
            if (await client.get(f"/people/{person.id}", headers=anyone)).status_code != 200:
                return False
        return True

    await wait_until(all_there, message="people projected")


async def publish_rating(
    js: JetStreamContext,
    cycle_id: uuid.UUID,
    person: Someone,
    rating: str,
    *,
    version: int = 1,
    scale: tuple[str, str] = ("1", "5"),
    msg_id: str | None = None,
) -> CloudEvent:
    """Stand in for reviews: a final rating as ``meritloop.reviews.rating.finalized``."""
    data = RatingFinalized(
        cycle_id=cycle_id,
        person_id=person.id,
        rating=Decimal(rating),
        scale_min=Decimal(scale[0]),
        scale_max=Decimal(scale[1]),
        rating_label=f"rated {rating}",
        org_unit=person.department,
        manager_id=person.manager_id,
        finalized_at=utcnow(),
        version=version,
    )
    event = CloudEvent(
        id=rating_event_id(cycle_id, person.id, version),
        source="/meritloop/reviews",
        type=RATING_FINALIZED,
        subject=str(person.id),
        data=data.model_dump(mode="json"),
    )
    await js.publish(event.nats_subject, event.to_bytes(), headers={"Nats-Msg-Id": msg_id or str(event.id)})
    return event


def band(grade: str, currency: str, minimum: str, midpoint: str, maximum: str) -> dict[str, str]:
    return {"grade": grade, "currency": currency, "minimum": minimum, "midpoint": midpoint, "maximum": maximum}


async def add_bands(client: httpx.AsyncClient, hr: dict[str, str], *bands: dict[str, str]) -> None:
    for body in bands:
        response = await client.post("/pay-bands", json=body, headers=hr)
        assert response.status_code == 201, response.text


def csv_file(*rows: tuple[object, ...]) -> bytes:
    lines = ["person_id,currency,base_salary,grade,effective_date"]
    lines += [",".join(str(cell) for cell in row) for row in rows]
    return ("\n".join(lines) + "\n").encode()


async def import_csv(
    client: httpx.AsyncClient, hr: dict[str, str], *rows: tuple[object, ...], dry_run: bool = False
) -> httpx.Response:
    return await client.post(
        "/compensation/import",
        content=csv_file(*rows),
        params={"dry_run": str(dry_run).lower()},
        headers={**hr, "Content-Type": "text/csv"},
    )


def pct(value: str) -> dict[str, str]:
    low, target, high = value.split("/")
    return {"min": low, "target": target, "max": high}


# Rating rows 1-2, 2-3, 3-4, 4-5 (last closed); buckets below 0.9, 0.9-1.1, from 1.1.
MATRIX: dict[str, Any] = {
    "scale_min": "1",
    "scale_max": "5",
    "buckets": [
        {"min": "0", "max": "0.9", "label": "below"},
        {"min": "0.9", "max": "1.1", "label": "at"},
        {"min": "1.1", "max": None, "label": "above"},
    ],
    "rows": [
        {"min": "1", "max": "2", "label": "low"},
        {"min": "2", "max": "3"},
        {"min": "3", "max": "4"},
        {"min": "4", "max": "5", "label": "top"},
    ],
    "cells": [
        [pct("0/0/0"), pct("0/0/0"), pct("0/0/0")],
        [pct("0/1/2"), pct("0/0.5/1"), pct("0/0/0.5")],
        [pct("2/3/4"), pct("1.5/2.5/3.5"), pct("1/2/3")],
        [pct("4/5/6"), pct("3/4/5"), pct("2/3/4")],
    ],
}


async def rewards_stream(js: JetStreamContext) -> list[tuple[CloudEvent, bytes]]:
    """Every event on the rewards stream, in order, with its raw bytes."""
    try:
        info = await js.stream_info(REWARDS_STREAM)
    except NotFoundError:
        return []
    events: list[tuple[CloudEvent, bytes]] = []
    for sequence in range(info.state.first_seq, info.state.last_seq + 1):
        if info.state.messages == 0:
            break
        message = await js.get_msg(REWARDS_STREAM, sequence)
        assert message.data is not None
        events.append((CloudEvent.from_bytes(message.data), message.data))
    return events


def today() -> date:
    return utcnow().date()
