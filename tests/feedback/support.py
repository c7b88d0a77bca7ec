"""People for feedback tests, put into the feedback service's projection through the real bus."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import httpx
import nats

from shared.auth import Role
from shared.events import CloudEvent
from shared.events.bus import service_stream
from shared.people import PERSON_DEACTIVATED, PERSON_UPSERTED, PersonEventData
from tests.conftest import TokenFactory
from tests.support.waiting import wait_until


async def ensure_directory_stream(nats_url: str) -> None:
    """The reviews service's stream, which the tests publish person events on in its stead."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        await js.add_stream(service_stream("reviews"))
    finally:
        await nc.close()


async def publish_people(nats_url: str, people: list[PersonEventData]) -> None:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        for person in people:
            event = CloudEvent(
                source="/meritloop/reviews",
                type=PERSON_UPSERTED if person.active else PERSON_DEACTIVATED,
                subject=str(person.id),
                data=person.model_dump(mode="json"),
            )
            await js.publish(event.nats_subject, event.to_bytes(), headers={"Nats-Msg-Id": str(event.id)})
    finally:
        await nc.close()


async def wait_projected(client: httpx.AsyncClient, auth: TokenFactory, people: list[PersonEventData]) -> None:
    async def projected() -> bool:
        for person in people:
            response = await client.get(f"/people/{person.id}", headers=auth())
            if response.status_code != 200 or response.json()["active"] != person.active:
                return False
            if response.json()["manager_id"] != (str(person.manager_id) if person.manager_id else None):
                return False
        return True

    await wait_until(projected, timeout=15.0, message="feedback's projection has every person")


def person(name: str, *, manager: uuid.UUID | None = None, active: bool = True, version: int = 1) -> PersonEventData:
    return PersonEventData(
        id=uuid.uuid4(),
        version=version,
        display_name=name,
        email=f"{name.lower()}@example.com",
        manager_id=manager,
        active=active,
    )


@dataclass
class Org:
    """giver and colleague report to other managers; receiver -> manager -> skip; hr, admin, gone."""

    auth: TokenFactory
    skip: PersonEventData
    manager: PersonEventData
    receiver: PersonEventData
    giver: PersonEventData
    colleague: PersonEventData
    hr: PersonEventData
    admin: PersonEventData
    gone: PersonEventData
    roles: dict[str, tuple[Role, ...]] = field(default_factory=dict)

    def everyone(self) -> list[PersonEventData]:
        return [
            self.skip,
            self.manager,
            self.receiver,
            self.giver,
            self.colleague,
            self.hr,
            self.admin,
            self.gone,
        ]

    def headers(self, who: str) -> dict[str, str]:
        person: PersonEventData = getattr(self, who)
        return self.auth(*self.roles.get(who, (Role.employee,)), person_id=person.id)

    def id(self, who: str) -> uuid.UUID:
        person: PersonEventData = getattr(self, who)
        return person.id


# Every role a route is tried as: the content's parties, the receiver's management line, the
# platform's powerful roles, someone unrelated, and someone deactivated.
ROLES = ("giver", "receiver", "manager", "skip", "hr", "admin", "colleague", "gone")


async def make_org(nats_url: str, client: httpx.AsyncClient, auth: TokenFactory) -> Org:
    skip = person("Skip", manager=None)
    manager = person("Manager", manager=skip.id)
    receiver = person("Receiver", manager=manager.id)
    other_lead = person("Otherlead")
    org = Org(
        auth=auth,
        skip=skip,
        manager=manager,
        receiver=receiver,
        giver=person("Giver", manager=other_lead.id),
        colleague=person("Colleague", manager=other_lead.id),
        hr=person("Hr"),
        admin=person("Admin"),
        gone=person("Gone", manager=manager.id, active=False),
        roles={
            "manager": (Role.employee, Role.manager),
            "skip": (Role.employee, Role.manager),
            "hr": (Role.employee, Role.hr),
            "admin": (Role.employee, Role.admin),
        },
    )
    people = [other_lead, *org.everyone()]
    await publish_people(nats_url, people)
    await wait_projected(client, auth, people)
    return org
