"""Transactional outbox: an event is a row written in the same transaction as the change.

Each service maps the mixins below onto its own metadata (see ``services/*/models.py``),
so the outbox and inbox live in the service's database and migrations.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from json.encoder import encode_basestring_ascii
from typing import TYPE_CHECKING, Any, cast

from opentelemetry import propagate
from sqlalchemy import Index, Integer, String, Table, Text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from shared.database import UTCDateTime, insert_many, utcnow
from shared.events.envelope import CloudEvent, event_type

WAKE_RELAY = "meritloop.outbox.wake"


class OutboxMixin:
    __tablename__ = "event_outbox"

    if TYPE_CHECKING:
        # Mapped subclasses get SQLAlchemy's keyword constructor; the mixin alone has none.
        def __init__(self, **kwargs: Any) -> None: ...

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(255))
    payload: Mapped[str] = mapped_column(Text)
    headers: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)

    @declared_attr.directive
    @classmethod
    def __table_args__(cls) -> tuple[Any, ...]:
        return (Index("ix_event_outbox_pending", "published_at", "created_at"),)


class InboxMixin:
    """Events a consumer has already handled; the primary key makes handling idempotent."""

    __tablename__ = "event_inbox"

    if TYPE_CHECKING:

        def __init__(self, **kwargs: Any) -> None: ...

    consumer: Mapped[str] = mapped_column(String(120), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    event_type: Mapped[str] = mapped_column(String(255))
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Outbox:
    """Writes events for one service into the current transaction."""

    def __init__(self, service: str, model: type[OutboxMixin]) -> None:
        self.service = service
        self.model = model
        self.source = f"/meritloop/{service}"

    def event(
        self,
        entity: str,
        verb: str,
        data: dict[str, Any],
        *,
        subject: str | None = None,
        event_id: uuid.UUID | None = None,
    ) -> CloudEvent:
        """The envelope of an event of this service; a fixed ``event_id`` makes a re-publish a duplicate."""
        return CloudEvent(
            id=event_id or uuid.uuid4(),
            source=self.source,
            type=event_type(self.service, entity, verb),
            subject=subject,
            data=data,
        )

    def add(
        self,
        session: AsyncSession,
        entity: str,
        verb: str,
        data: dict[str, Any],
        *,
        subject: str | None = None,
        event_id: uuid.UUID | None = None,
    ) -> CloudEvent:
        event = self.event(entity, verb, data, subject=subject, event_id=event_id)
        session.add(self.model(**_row(event, _trace_headers())))
        # Read by the relay's after_commit hook so it publishes at once instead of polling.
        session.info[WAKE_RELAY] = True
        return event

    async def add_many(self, session: AsyncSession, events: Sequence[CloudEvent]) -> int:
        """Many events in one multi-row insert: an ORM object per event costs more than a bulk change."""
        if not events:
            return 0
        headers = _trace_headers()
        table = cast(Table, self.model.__table__)  # type: ignore[attr-defined]
        await insert_many(
            session,
            table,
            ("id", "subject", "payload", "headers", "created_at", "attempts"),
            [(e.id, e.nats_subject, e.model_dump_json(), headers, e.time, 0) for e in events],
        )
        session.info[WAKE_RELAY] = True
        return len(events)

    async def add_many_json(
        self, session: AsyncSession, entity: str, items: Sequence[tuple[str, str | None, dict[str, Any]]]
    ) -> int:
        """Many events given as ``(verb, subject, data)`` with JSON-ready data, serialised without a model.

        The same envelope as ``CloudEvent`` (same fields, parsed back by its model); for bulk
        changes, where building and validating 100,000 envelopes cost more than writing them.
        """
        return await self.add_many_encoded(
            session, entity, [(verb, subject, json.dumps(data, separators=(",", ":"))) for verb, subject, data in items]
        )

    async def add_many_encoded(
        self, session: AsyncSession, entity: str, items: Sequence[tuple[str, str | None, str]]
    ) -> int:
        """``add_many_json`` with each event's data already encoded as ``json.dumps(data, separators=(",", ":"))``.

        For a caller that encodes its data column by column rather than one dict per event.
        """
        return await self.add_rows(session, self.encoded_rows(entity, items))

    def encoded_rows(self, entity: str, items: Sequence[tuple[str, str | None, str]]) -> list[tuple[Any, ...]]:
        """The outbox rows ``add_many_encoded`` writes, for a caller that builds them before its first write."""
        if not items:
            return []
        headers = _trace_headers()
        now = utcnow()
        stamp = now.isoformat().replace("+00:00", "Z")
        # The envelope's constant parts are written once; per event only the id, the type (one
        # per verb), the subject and the data are encoded: json.dumps' layout with compact separators.
        source = json.dumps(self.source)
        after_subject = f',"time":{json.dumps(stamp)},"datacontenttype":"application/json","data":'
        types: dict[str, tuple[str, str]] = {}
        rows = []
        for verb, subject, data in items:
            event_id = uuid.uuid4()
            kind = types.get(verb)
            if kind is None:
                name = event_type(self.service, entity, verb)
                kind = types[verb] = (name, json.dumps(name))
            # json.dumps of the subject, without its per-call setup.
            encoded = "null" if subject is None else encode_basestring_ascii(subject)
            payload = (
                f'{{"specversion":"1.0","id":"{event_id}","source":{source},"type":{kind[1]},'
                f'"subject":{encoded}{after_subject}{data}}}'
            )
            rows.append((event_id, kind[0], payload, headers, now, 0))
        return rows

    async def add_rows(self, session: AsyncSession, rows: Sequence[tuple[Any, ...]]) -> int:
        """Rows from ``encoded_rows`` into the outbox, in the session's transaction."""
        if not rows:
            return 0
        table = cast(Table, self.model.__table__)  # type: ignore[attr-defined]
        await insert_many(session, table, ("id", "subject", "payload", "headers", "created_at", "attempts"), rows)
        session.info[WAKE_RELAY] = True
        return len(rows)


def _trace_headers() -> str:
    headers: dict[str, str] = {}
    propagate.inject(headers)
    return json.dumps(headers)


def _row(event: CloudEvent, headers: str) -> dict[str, Any]:
    return {
        "id": event.id,
        "subject": event.nats_subject,
        "payload": event.model_dump_json(),
        "headers": headers,
        "created_at": event.time,
        "attempts": 0,
    }
