"""Contract of the lists HR keeps in the feedback service, as other services see them.

The feedback service owns the company values and the competency framework. Each change of an
entry (created, renamed, archived, restored) is published on ``MERITLOOP_FEEDBACK`` as
``meritloop.feedback.competency.changed`` or ``meritloop.feedback.company-value.changed``
with the entry's id, name, whether it is archived and a ``revision`` that grows with every
change, so a reader keeps the highest revision whatever order the events arrive in. The
reviews service keeps them to link a review template's competency items by id.

What never travels: an entry's description (not needed elsewhere) and who changed it.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from shared.events import event_type, stream_name


class CatalogueKind(StrEnum):
    competency = "competency"
    company_value = "company-value"


CATALOGUE_STREAM = stream_name("feedback")
ENTRY_CHANGED = {kind: event_type("feedback", kind.value, "changed") for kind in CatalogueKind}
_EVENTS = uuid.UUID("5b0f3a52-9a7e-4c55-8a9d-3a1c2f0e7d41")  # feedback migration 0021 holds a copy


def entry_event_id(kind: CatalogueKind, entry_id: uuid.UUID, revision: int) -> uuid.UUID:
    """One id per revision of an entry: publishing a revision twice is a duplicate JetStream drops."""
    return uuid.uuid5(_EVENTS, f"{kind.value}:{entry_id}:{revision}")


class CatalogueEntryChanged(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str = Field(max_length=100)
    archived: bool
    revision: int = Field(ge=1)
