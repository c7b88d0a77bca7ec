"""A template's competency items link to HR's competencies and company values by id.

Both services run for real on one NATS: HR keeps the lists in the feedback service, whose
events (shared/catalogue.py) the reviews service keeps; a template names entries it knows
and current, and takes their names where it gives none.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.reviews.models import CatalogueEntry
from services.reviews.templates.consumers import on_catalogue_entry_changed
from shared.auth import Role
from shared.catalogue import ENTRY_CHANGED, CatalogueKind, entry_event_id
from shared.events import CloudEvent
from shared.settings import Settings
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.feedback.support import ensure_directory_stream
from tests.reviews_config.builders import template_body
from tests.reviews_config.support import create_scale, errors_by_field, sessionmaker_of
from tests.support.bus import published
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database

COMPETENCY = ENTRY_CHANGED[CatalogueKind.competency]


@pytest.fixture
async def feedback(service_client: ServiceClientFactory, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    await ensure_directory_stream(settings.nats_url)
    async with service_client("feedback") as client:
        yield client


async def _known(reviews: httpx.AsyncClient, kind: CatalogueKind, entry_id: str, revision: int) -> None:
    async def held() -> bool:
        async with sessionmaker_of(reviews)() as session:
            entry = await session.get(CatalogueEntry, (kind.value, uuid.UUID(entry_id)))
            return entry is not None and entry.revision >= revision

    await wait_until(held, message=f"{kind.value} {entry_id} revision {revision} in the reviews service")


def _linked(body: dict[str, Any], **link: str) -> dict[str, Any]:
    """The usual template with its first competency linked (and, unless given, unnamed)."""
    item = body["sections"][1]["items"][0]
    item.pop("name")
    item.update(link)
    return body


async def test_a_template_links_current_entries_and_takes_their_names(
    feedback: httpx.AsyncClient, reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    hr = auth(Role.hr)
    craft = (await feedback.post("/competencies", json={"name": "Craft", "description": "Secret?"}, headers=hr)).json()
    value = (await feedback.post("/company-values", json={"name": "Ownership"}, headers=hr)).json()
    renamed = await feedback.patch(f"/competencies/{craft['id']}", json={"name": "Craftsmanship"}, headers=hr)
    assert renamed.status_code == 200, renamed.text

    # The bus carries the entry's name, state and revision; never its description.
    event, _raw, headers = await published(
        settings.nats_url, COMPETENCY, craft["id"], where=lambda event: event.data["revision"] == 2
    )
    assert event.data == {"id": craft["id"], "name": "Craftsmanship", "archived": False, "revision": 2}
    assert headers["Nats-Msg-Id"] == str(entry_event_id(CatalogueKind.competency, uuid.UUID(craft["id"]), 2))
    await _known(reviews, CatalogueKind.competency, craft["id"], 2)
    await _known(reviews, CatalogueKind.company_value, value["id"], 1)

    scale = await create_scale(reviews, hr)
    body = _linked(template_body(scale["id"]), competency_id=craft["id"], company_value_id=value["id"])
    created = await reviews.post("/templates", json=body, headers=hr)

    assert created.status_code == 201, created.text
    item = created.json()["sections"][1]["items"][0]
    assert (item["name"], item["competency_id"]) == ("Craftsmanship", craft["id"])
    assert (item["company_value"], item["company_value_id"]) == ("Ownership", value["id"])
    # A name of its own wins: the template says it its way.
    own = template_body(scale["id"])
    own["sections"][1]["items"][0]["competency_id"] = craft["id"]
    named = await reviews.post("/templates", json=own, headers=hr)
    assert named.json()["sections"][1]["items"][0]["name"] == "Craft"

    # Archived in the feedback service: no longer chosen, while the template made before keeps it.
    assert (await feedback.delete(f"/competencies/{craft['id']}", headers=hr)).status_code == 204
    await _known(reviews, CatalogueKind.competency, craft["id"], 3)
    stale = await reviews.post("/templates", json=body, headers=hr)
    assert errors_by_field(stale) == {
        "sections[1].items[0].competency_id": f"no current competency with id {craft['id']}"
    }
    kept = await reviews.get(f"/templates/{created.json()['id']}", headers=hr)
    assert kept.json()["sections"][1]["items"][0]["competency_id"] == craft["id"]


async def test_a_link_to_nothing_known_or_from_a_question_is_refused(
    reviews: httpx.AsyncClient, auth: TokenFactory
) -> None:
    hr = auth(Role.hr)
    scale = await create_scale(reviews, hr)
    unknown = str(uuid.uuid4())
    body = _linked(template_body(scale["id"]), competency_id=unknown)
    body["sections"][2]["items"][0]["company_value_id"] = unknown

    errors = errors_by_field(await reviews.post("/templates", json=body, headers=hr))

    assert errors == {
        "sections[1].items[0].competency_id": f"no current competency with id {unknown}",
        "sections[2].items[0].company_value_id": "only a competency item links to HR's lists",
    }


async def test_the_newest_revision_of_an_entry_wins_whatever_order_events_come_in(
    reviews: httpx.AsyncClient,
) -> None:
    entry_id = uuid.uuid4()

    def changed(name: str, revision: int) -> CloudEvent:
        data = {"id": str(entry_id), "name": name, "archived": False, "revision": revision}
        return CloudEvent(source="/meritloop/feedback", type=COMPETENCY, subject=str(entry_id), data=data)

    for event in (changed("Second", 2), changed("First", 1), changed("Second again", 2), changed("Third", 3)):
        async with sessionmaker_of(reviews)() as session, session.begin():
            await on_catalogue_entry_changed(session, event)
        if event.data["revision"] == 2:
            async with sessionmaker_of(reviews)() as session:
                held = await session.get(CatalogueEntry, ("competency", entry_id))
                assert held is not None
                assert held.name == "Second"

    async with sessionmaker_of(reviews)() as session:
        held = await session.get(CatalogueEntry, ("competency", entry_id))
        assert held is not None
        assert (held.name, held.revision) == ("Third", 3)
