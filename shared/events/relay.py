"""Publishes pending outbox rows to JetStream and marks them sent once JetStream acks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol, cast

import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from sqlalchemy import Table, event, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from shared.database import utcnow
from shared.events.bus import EventBus
from shared.events.loop import BackgroundLoop
from shared.events.metrics import count_published
from shared.events.outbox import WAKE_RELAY, OutboxMixin

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 30.0
ACK_TIMEOUT_SECONDS = 5.0
NO_RESPONDERS_STATUS = "503"  # no stream listens on the subject


class _BatchAcks:
    """The JetStream acks of one published batch, by the row's place in it: None for stored, else why not."""

    _WAITING = "waiting"

    def __init__(self, count: int) -> None:
        self.results: list[str | None] = [self._WAITING] * count
        self.left = count
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def record(self, index: int, error: str | None) -> None:
        if not 0 <= index < len(self.results) or self.results[index] is not self._WAITING:
            return  # not ours, or a second answer to the same publish
        self.results[index] = error
        self.left -= 1
        if self.left == 0 and not self.done.done():
            self.done.set_result(None)

    def waiting(self, index: int) -> bool:
        return self.results[index] is self._WAITING


def ack_error(message: Msg) -> str | None:
    """None if JetStream stored the message (a duplicate counts), else the error, worded as nats-py raises it."""
    if message.headers and message.headers.get("Status") == NO_RESPONDERS_STATUS:
        return f"NoStreamResponseError: {nats.js.errors.NoStreamResponseError()}"
    data = message.data
    # The server's PubAck begins with the stream's name, an error response with "error" (its
    # key comes first, and a stream name cannot hold a quote): a JSON parse per ack cost as
    # much as the rest of the ack's handling.
    if data.startswith(b'{"stream":"') and b'"error"' not in data:
        return None
    try:
        reply = json.loads(message.data)
    except ValueError:
        return f"APIError: unreadable publish ack {message.data[:200]!r}"
    if not isinstance(reply, dict):
        return f"APIError: unreadable publish ack {message.data[:200]!r}"
    if "error" in reply:
        try:
            error = nats.js.errors.APIError.from_error(reply["error"])
        except nats.js.errors.APIError as raised:  # a 503 is raised rather than returned
            error = raised
        return f"{type(error).__name__}: {error}"
    return None


class PendingRow(Protocol):
    """What the relay reads of an outbox row (an ORM object or a plain result row)."""

    @property
    def id(self) -> Any: ...
    @property
    def subject(self) -> str: ...
    @property
    def payload(self) -> str: ...
    @property
    def headers(self) -> str: ...


class OutboxRow(NamedTuple):
    """A pending row as the relay reads it on SQLite: the id in ``str(UUID)`` form, as the message id."""

    id: str
    subject: str
    payload: str
    headers: str


class _SqliteOutbox:
    """The relay's two statements, straight to aiosqlite in the session's transaction.

    Through SQLAlchemy's adapter the read cost four hops to aiosqlite's thread (cursor,
    execute, fetchall, close) and the update three, plus a UUID object per row each way and
    the ORM's bulk-update machinery; here each is one ``execute_fetchall``. The ids stay the
    32-digit text SQLite stores; SQLite itself writes the dashed form the message id uses.
    """

    def __init__(self, connection: AsyncConnection, model: type[OutboxMixin], batch_size: int) -> None:
        dialect = connection.dialect
        table = cast(Table, model.__table__)  # type: ignore[attr-defined]
        preparer = dialect.identifier_preparer
        self.table = preparer.format_table(table)
        column = {name: preparer.quote(name) for name in ("id", "subject", "payload", "headers", "published_at")}
        key = column["id"]
        dashed = (
            f"substr({key}, 1, 8) || '-' || substr({key}, 9, 4) || '-' || substr({key}, 13, 4) || '-' || "
            f"substr({key}, 17, 4) || '-' || substr({key}, 21)"
        )
        created = preparer.quote("created_at")
        # Identifiers from the table's metadata, quoted by the dialect; the batch size is an int.
        self.select = (
            f"SELECT {dashed}, {column['subject']}, {column['payload']}, {column['headers']} FROM {self.table} "  # noqa: S608
            f"WHERE {column['published_at']} IS NULL ORDER BY {created}, {key} LIMIT {int(batch_size)}"
        )
        attempts, last_error = preparer.quote("attempts"), preparer.quote("last_error")
        self.mark_prefix = (
            f"UPDATE {self.table} SET {column['published_at']} = ?, {attempts} = {attempts} + 1, "  # noqa: S608
            f"{last_error} = NULL WHERE {key} IN "
        )
        self.stamp = table.c.published_at.type.dialect_impl(dialect).bind_processor(dialect)

    @staticmethod
    async def driver(connection: AsyncConnection) -> Any:
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None
        return driver

    async def pending(self, connection: AsyncConnection) -> list[OutboxRow]:
        rows = await (await self.driver(connection)).execute_fetchall(self.select)
        return list(map(OutboxRow._make, rows))

    async def mark_published(self, connection: AsyncConnection, ids: Sequence[str], now: Any) -> None:
        stamp = now if self.stamp is None else self.stamp(now)
        # Well under SQLite's bound-variable limit: a batch is at most the relay's batch size.
        sql = self.mark_prefix + "(" + ", ".join("?" * len(ids)) + ")"
        await (await self.driver(connection)).execute_fetchall(sql, [stamp, *(i.replace("-", "") for i in ids)])


class OutboxRelay(BackgroundLoop):
    task_name = "outbox-relay"
    DEFAULT_BATCH_SIZE = 500

    def __init__(
        self,
        bus: EventBus,
        sessionmaker: async_sessionmaker[AsyncSession],
        model: type[OutboxMixin],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        poll_interval: float = 0.2,
    ) -> None:
        super().__init__()
        self._bus = bus
        self._sessionmaker = sessionmaker
        self._model = model
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._wake = asyncio.Event()
        self.published = 0
        # Publish acks arrive on one subscription of the relay's own, not through nats-py's
        # publish_async: its semaphore, random token, future and callbacks per message cost
        # twice the publish itself (see bench/README.md, Event pipeline).
        self._acks: dict[int, _BatchAcks] = {}
        self._ack_inbox = ""
        self._ack_subscription: Subscription | None = None
        self._ack_client: Client | None = None
        self._batches = 0
        self._sqlite: _SqliteOutbox | None = None

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        await super().stop()
        subscription, self._ack_subscription, self._ack_client = self._ack_subscription, None, None
        if subscription is not None:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()

    async def _ack_subject(self, client: Client) -> str:
        """The reply-subject prefix of this relay's acks on ``client``, subscribed on first use."""
        if self._ack_subscription is None or self._ack_client is not client:
            inbox = client.new_inbox()
            self._ack_subscription = await client.subscribe(f"{inbox}.>", cb=self._on_ack)
            self._ack_inbox, self._ack_client = inbox, client
        return self._ack_inbox

    async def _on_ack(self, message: Msg) -> None:
        _prefix, batch, index = message.subject.rsplit(".", 2)
        acks = self._acks.get(int(batch))
        if acks is not None:  # else the ack of a batch given up on: its rows stay pending
            acks.record(int(index), ack_error(message))

    def watch_commits(self) -> None:
        """Wake the relay right after any commit that wrote an outbox row."""

        def after_commit(session: Session) -> None:
            if session.info.pop(WAKE_RELAY, False):
                self._wake.set()

        def after_soft_rollback(session: Session, _previous: object) -> None:
            session.info.pop(WAKE_RELAY, None)

        # Each service's sessionmaker has its own Session subclass (shared.database), so
        # these hooks never see another service's commits in the same process.
        session_class = self._sessionmaker.kw["sync_session_class"]
        event.listen(session_class, "after_commit", after_commit)
        event.listen(session_class, "after_soft_rollback", after_soft_rollback)

    async def _run(self) -> None:
        failures = 0
        while not self.stopping:
            try:
                await self._bus.wait_connected()
                sent = await self.run_once()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - NATS or the database is away: back off
                if self.stopping:
                    return
                failures += 1
                delay = min(self._poll_interval * 2**failures, MAX_BACKOFF_SECONDS)
                logger.warning("outbox relay failed (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                continue
            if sent < self._batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_interval)
                self._wake.clear()

    async def run_once(self) -> int:
        """Publish one batch; returns how many rows were acknowledged and marked sent."""
        async with self._sessionmaker() as session, session.begin():
            connection = await session.connection()
            sqlite = self._sqlite_statements(connection)
            rows: Sequence[PendingRow]
            rows = await self._pending(session) if sqlite is None else await sqlite.pending(connection)
            if not rows:
                return 0
            acked, errors = await self.publish(rows)
            now = utcnow()
            if acked and sqlite is not None:
                await sqlite.mark_published(connection, acked, now)
            elif acked:
                await session.execute(
                    update(self._model)
                    .where(self._model.id.in_(acked))
                    .values(published_at=now, attempts=self._model.attempts + 1, last_error=None)
                )
            for row_id, error in errors.items():
                await session.execute(
                    update(self._model)
                    .where(self._model.id == (row_id if sqlite is None else uuid.UUID(row_id)))
                    .values(attempts=self._model.attempts + 1, last_error=error[:2000])
                )
        self.published += len(acked)
        count_published(rows, errors)
        if errors:
            raise ConnectionError(f"{len(errors)} of {len(rows)} events were not acknowledged")
        return len(acked)

    def _sqlite_statements(self, connection: AsyncConnection) -> _SqliteOutbox | None:
        if connection.dialect.name != "sqlite":
            return None
        if self._sqlite is None:
            self._sqlite = _SqliteOutbox(connection, self._model, self._batch_size)
        return self._sqlite

    async def _pending(self, session: AsyncSession) -> Sequence[PendingRow]:
        # The four columns a publish needs, as plain rows: loading ORM objects cost more than
        # publishing them.
        model = self._model
        query = (
            select(model.id, model.subject, model.payload, model.headers)
            .where(self._model.published_at.is_(None))
            .order_by(self._model.created_at, self._model.id)
            .limit(self._batch_size)
            # Several replicas of a service share the table; on PostgreSQL each takes its
            # own rows. SQLite has a single writer anyway and ignores the clause.
            .with_for_update(skip_locked=True)
        )
        return (await session.execute(query)).all()

    async def publish(self, rows: Sequence[PendingRow]) -> tuple[list[Any], dict[Any, str]]:
        """Publish rows pipelined (all acks awaited together); Nats-Msg-Id makes it repeatable."""
        if not rows:
            return [], {}
        client = self._bus.client
        self._batches += 1
        number = self._batches
        reply = f"{await self._ack_subject(client)}.{number}."
        acks = self._acks[number] = _BatchAcks(len(rows))
        try:
            # Rows written by one transaction share their trace headers: parse each text once.
            parsed: dict[str, dict[str, str]] = {}
            for index, row in enumerate(rows):
                text = row.headers or "{}"
                common = parsed.get(text)
                if common is None:
                    common = parsed[text] = json.loads(text)
                headers = {**common, "Nats-Msg-Id": str(row.id)}
                await client.publish(row.subject, row.payload.encode(), reply=f"{reply}{index}", headers=headers)
            # An ack that never comes (NATS went away mid-batch) must not hang the relay.
            await asyncio.wait({acks.done}, timeout=ACK_TIMEOUT_SECONDS)
        finally:
            del self._acks[number]
        acked: list[Any] = []
        errors: dict[Any, str] = {}
        for index, row in enumerate(rows):
            if acks.waiting(index):
                errors[row.id] = f"TimeoutError: no ack within {ACK_TIMEOUT_SECONDS:.0f} s"
            elif (error := acks.results[index]) is not None:
                errors[row.id] = error
            else:
                acked.append(row.id)
        return acked, errors
