"""What the templates follow: HR's competencies and company values from the feedback service
(``meritloop.feedback.competency.changed``, ``…company-value.changed``; shared/catalogue.py),
which a template's competency items may link to by id. The highest revision wins."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.reviews.templates.repository import CatalogueEntryRepository
from shared.catalogue import CATALOGUE_STREAM, ENTRY_CHANGED, CatalogueEntryChanged, CatalogueKind
from shared.events import CloudEvent, Subscription

KIND_OF = {event_type: kind for kind, event_type in ENTRY_CHANGED.items()}


async def on_catalogue_entry_changed(session: AsyncSession, event: CloudEvent) -> None:
    kind: CatalogueKind = KIND_OF[event.type]
    await CatalogueEntryRepository.from_session(session).put(kind, CatalogueEntryChanged.model_validate(event.data))


template_subscriptions: tuple[Subscription, ...] = (
    Subscription(
        durable="reviews-templates-catalogue",
        stream=CATALOGUE_STREAM,
        subjects=tuple(ENTRY_CHANGED.values()),
        handler=on_catalogue_entry_changed,
    ),
)
