"""CloudEvents 1.0 envelope and the subject scheme ``meritloop.<service>.<entity>.<verb>``."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.database import utcnow

SUBJECT_PREFIX = "meritloop"
DEAD_LETTER_PREFIX = f"{SUBJECT_PREFIX}.deadletter"
_TOKEN = re.compile(r"^[a-z][a-z0-9_-]*$")


@lru_cache(maxsize=1024)  # a handful of types, asked for once per event
def event_type(service: str, entity: str, verb: str) -> str:
    for part in (service, entity, verb):
        if not _TOKEN.match(part):
            raise ValueError(f"subject token {part!r} must be lower-case letters, digits, _ or -")
    return f"{SUBJECT_PREFIX}.{service}.{entity}.{verb}"


def stream_name(service: str) -> str:
    return f"MERITLOOP_{service.upper()}"


def stream_subjects(service: str) -> list[str]:
    return [f"{SUBJECT_PREFIX}.{service}.>"]


class CloudEvent(BaseModel):
    """The envelope of every event; ``type`` doubles as the NATS subject."""

    model_config = ConfigDict(frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    source: str
    type: str
    subject: str | None = None
    time: datetime = Field(default_factory=utcnow)
    datacontenttype: Literal["application/json"] = "application/json"
    data: dict[str, Any] = Field(default_factory=dict)

    @property
    def nats_subject(self) -> str:
        return self.type

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, payload: bytes) -> CloudEvent:
        return cls.model_validate_json(payload)
