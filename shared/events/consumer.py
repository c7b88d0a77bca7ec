"""Durable pull consumers: handle in a transaction, ack after commit, dead-letter at the end.

A handler receives the session of its transaction and the event. The inbox row written in
that same transaction is what makes a redelivered event change nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter as Tally
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsSubscription
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from opentelemetry import propagate, trace
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.database import insert_new, utcnow
from shared.events.bus import EventBus
from shared.events.envelope import DEAD_LETTER_PREFIX, CloudEvent
from shared.events.loop import BackgroundLoop
from shared.events.metrics import DEAD_LETTERS, HANDLED, REDELIVERIES, WAITING_FOR_PROVISIONING, declare_consumer
from shared.events.outbox import InboxMixin
from shared.events.trust import is_component_user, refusal

logger = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

Handler = Callable[[AsyncSession, CloudEvent], Awaitable[None]]
BatchHandler = Callable[[AsyncSession, Sequence[CloudEvent]], Awaitable[None]]
# How long a pull request waits on the server for messages before it is renewed.
PULL_EXPIRES_SECONDS = 1.0
INBOX_COLUMNS = ("consumer", "event_id", "event_type", "processed_at")
# A message of a batch whose inbox row was just claimed: its place in the batch, itself, its event.
Claimed = tuple[int, Msg, CloudEvent]


@dataclass(frozen=True)
class Subscription:
    """What one durable consumer reads and who handles it."""

    durable: str
    stream: str
    subjects: Sequence[str]
    handler: Handler
    batch: int = 100
    batch_handler: BatchHandler | None = None
    """Handles a run of a fetched batch (events in a row of one subject and trace) in one call.

    For handlers whose events share what they read (one cycle's matrix, plan and pay records):
    it must leave what ``handler`` leaves applied to each event in order. If it raises, nothing
    of the batch is kept and every message goes through ``handler`` alone, so a bad event is
    charged to itself. Unused with ``one_transaction_per_event``.
    """
    one_transaction_per_event: bool = False
    """Handle every message of a fetched batch in its own transaction, never the batch in one.

    Set it when the handler calls Temporal (an Update, a signal, a start) or otherwise waits on
    work that another connection writes to the same database. A batch transaction claims its
    inbox rows first, and on SQLite that claim holds the database's only write lock through
    every handler of the batch: the activity behind the Update would wait for that lock while
    the handler waits for the activity, until the Update times out. On the single path the
    inbox row is written with the handler's effects at commit, so the handler waits holding
    no lock (as long as it does not write before it waits: see ``no_autoflush`` in the
    reviews' handlers). It costs a transaction per event, which such handlers pay anyway.
    """


@dataclass
class ConsumerPolicy:
    max_deliver: int = 5
    backoff: Sequence[float] = field(default_factory=lambda: [1.0, 5.0, 30.0, 120.0])
    ack_wait: float = 30.0

    def delay_after(self, delivery: int) -> float:
        if not self.backoff:
            return 0.0
        return float(self.backoff[min(delivery - 1, len(self.backoff) - 1)])


class EventConsumer(BackgroundLoop):
    def __init__(
        self,
        bus: EventBus,
        sessionmaker: async_sessionmaker[AsyncSession],
        inbox_model: type[InboxMixin],
        subscription: Subscription,
        policy: ConsumerPolicy,
    ) -> None:
        super().__init__()
        self._bus = bus
        self._sessionmaker = sessionmaker
        self._inbox = inbox_model
        self.subscription = subscription
        self._policy = policy
        self._pull_inbox: NatsSubscription | None = None
        self.handled = 0
        self.dead_lettered = 0
        self._wanted_subjects: dict[str, bool] = {}
        declare_consumer(subscription.durable, subscription.subjects)

    async def stop(self) -> None:
        await super().stop()
        # A cancelled pull leaves its inbox subscription behind; draining the connection would
        # then wait for it until nats-py's drain timeout.
        if self._pull_inbox is not None:
            with contextlib.suppress(Exception):
                await self._pull_inbox.unsubscribe()
            self._pull_inbox = None

    @property
    def task_name(self) -> str:
        return f"consumer-{self.subscription.durable}"

    def consumer_config(self) -> ConsumerConfig:
        return consumer_config(self.subscription, self._policy)

    async def _run(self) -> None:
        reported = False
        while not self.stopping:
            try:
                await self._bus.wait_connected()
                await self._ensure_consumer()
                if reported:
                    logger.info("consumer %s is provisioned now; reading", self.subscription.durable)
                    WAITING_FOR_PROVISIONING.labels(self.subscription.durable).set(0)
                    reported = False
                await self._consume(self._bus.client)
            except asyncio.CancelledError:
                raise
            except ConsumerNotProvisioned as exc:
                if not reported:  # once, not every few seconds until the operator acts
                    logger.error("%s", exc)
                    WAITING_FOR_PROVISIONING.labels(self.subscription.durable).set(1)
                    reported = True
                await asyncio.sleep(2.0)
            except Exception as exc:  # noqa: BLE001 - keep consuming once NATS is back
                if self.stopping:
                    return
                logger.warning("consumer %s interrupted (%s); retrying", self.subscription.durable, exc)
                await asyncio.sleep(1.0)

    async def _ensure_consumer(self) -> None:
        """Define the durable consumer on an open server; behind users, find it provisioned.

        A component connected as its own user may not define consumers (shared/events/trust.py):
        the consumer's filter decides what it reads, so the provisioner sets it
        (shared/events/provision.py). Here it only checks that what it finds reads at least
        what this version handles; until it does, nothing is consumed.
        """
        js = self._bus.jetstream()
        subscription = self.subscription
        if not is_component_user(self._bus.credentials.user):
            # An open server, or an operator's own user: nobody else defines the consumer.
            await js.add_consumer(subscription.stream, self.consumer_config())
            return
        try:
            info = await js.consumer_info(subscription.stream, subscription.durable)
        except NotFoundError:
            raise ConsumerNotProvisioned(
                f"consumer {subscription.durable} on {subscription.stream} does not exist yet: "
                "the bus provisioner defines it (`meritloop bus provision`); waiting"
            ) from None
        missing = uncovered(info.config, subscription.subjects)
        if missing:
            raise ConsumerNotProvisioned(
                f"consumer {subscription.durable} on {subscription.stream} does not read {', '.join(missing)}: "
                "run `meritloop bus provision` for this version; waiting"
            )

    async def _consume(self, client: Client) -> None:
        """Pull ahead while a batch is handled, then handle all that arrived meanwhile as one batch.

        A consumer that keeps pace gets one or two messages per pull; without the pull
        running beside the transaction every message would wait for a round trip and
        commit alone. A pull asks only for what fits: at most ``batch`` messages wait here
        unacked besides the batch being handled, well inside ack_wait.

        The pull is JetStream's own protocol (a request to ``CONSUMER.MSG.NEXT``, the messages
        and a status on this consumer's inbox) rather than nats-py's ``fetch``, which creates
        a task, a timer and a random id per message: more than the inbox row costs.
        """
        size = self.subscription.batch
        loop = asyncio.get_running_loop()
        waiting: deque[Msg] = deque()
        arrived = asyncio.Event()
        wanted = asyncio.Event()
        failed: asyncio.Future[None] = loop.create_future()
        inbox = client.new_inbox()
        current = ""  # the reply subject of the open pull request
        outstanding = 0  # messages it may still deliver

        async def on_message(message: Msg) -> None:
            nonlocal outstanding
            if message.reply:  # a message of the stream
                waiting.append(message)
                outstanding -= 1
                arrived.set()
                if outstanding <= 0:
                    wanted.set()
                return
            status = (message.headers or {}).get("Status")
            if status == "100" or message.subject != current:
                return  # a heartbeat, or the end of a request already given up on
            outstanding = 0
            wanted.set()
            if status != "408" and not failed.done():  # 408: the request expired, ask again
                description = (message.headers or {}).get("Description", "")
                failed.set_exception(ConnectionError(f"pull refused: {status} {description}".strip()))

        async def pull_ahead() -> None:
            nonlocal current, outstanding
            number = 0
            deadline = 0.0
            request_subject = f"$JS.API.CONSUMER.MSG.NEXT.{self.subscription.stream}.{self.subscription.durable}"
            while not self.stopping:
                room = size - len(waiting)
                if outstanding <= 0 and room > 0:
                    number += 1
                    current, outstanding = f"{inbox}.{number}", room
                    request = {"batch": room, "expires": int(PULL_EXPIRES_SECONDS * 1e9)}
                    await client.publish(request_subject, json.dumps(request).encode(), reply=current)
                    deadline = loop.time() + PULL_EXPIRES_SECONDS + 1.0
                wanted.clear()
                try:
                    # Not wait_for: on Python 3.11 it swallows a cancel that meets a set event.
                    async with asyncio.timeout_at(deadline):
                        await wanted.wait()
                except TimeoutError:
                    outstanding = 0  # neither messages nor its expiry came (a reconnect lost it): ask again

        self._pull_inbox = await client.subscribe(f"{inbox}.*", cb=on_message)
        puller = asyncio.create_task(pull_ahead(), name=f"{self.task_name}-pull")
        waiter: asyncio.Task[bool] | None = None
        try:
            while not self.stopping:
                if not waiting:
                    arrived.clear()
                    waiter = asyncio.create_task(arrived.wait())
                    watched: set[asyncio.Future[Any]] = {waiter, puller, failed}
                    await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
                    if not waiter.done():
                        waiter.cancel()
                        if failed.done():
                            failed.result()  # the server refused the pull: raise to the retry loop
                        puller.result()  # the pull failed: raise its error to the retry loop
                        return
                    waiter = None
                messages = [waiting.popleft() for _ in range(min(size, len(waiting)))]
                wanted.set()
                await self.process_batch(messages)
        finally:
            if waiter is not None:
                waiter.cancel()
            puller.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await puller
            if self._pull_inbox is not None:
                with contextlib.suppress(Exception):
                    await self._pull_inbox.unsubscribe()
                self._pull_inbox = None

    async def process_batch(self, messages: Sequence[Msg]) -> None:
        """Handle a fetched batch in one transaction; a failure sends its message down the single path.

        Each event still gets its own inbox row and its own verdict: the batch commits only
        if every handler in it succeeded. A handler that raises is charged with a failed
        delivery (retry or dead letter, exactly as alone) and the others run again without
        it; a failure that names no message (the commit itself) sends each message through
        ``process`` on its own. Either way an event's effects are committed once and every
        message is acked only after the transaction that handled it committed. A subscription
        with ``one_transaction_per_event`` sends every message down the single path.
        """
        if self.subscription.one_transaction_per_event:
            for message in messages:
                await self.process(message)
            return
        batch: list[tuple[Msg, CloudEvent]] = []
        for message in messages:
            if not self._wanted(message):
                await message.ack()
                continue
            self._count_delivery(message)
            try:
                event = CloudEvent.from_bytes(message.data)
            except Exception:  # noqa: BLE001 - the single path records the failure
                await self._process_one(message)
                continue
            reason = refusal(message.subject, event)
            if reason is not None:
                await self._refuse(message, reason)
                continue
            batch.append((message, event))
        if len(batch) == 1:
            # Alone, an event takes the single path: its inbox row is written with the handler's
            # effects at commit, not claimed first. On SQLite a claim holds the database's write
            # lock for the whole handler, and a handler that waits on work writing to the same
            # database (an Update whose activity closes a review) would wait for its own lock.
            await self._process_one(batch[0][0])
            return
        while batch:
            failed = await self._handle_batch(batch)
            if failed is None:
                for message, _event in batch:
                    await message.ack()
                # One labelled inc per subject, not per message: the same counts, a lookup fewer each.
                for subject, count in Tally(message.subject for message, _event in batch).items():
                    HANDLED.labels(self.subscription.durable, subject).inc(count)
                self.handled += len(batch)
                return
            index, exc = failed
            if index is None:
                break
            await self._failed(batch[index][0], delivery_count(batch[index][0]), exc)
            del batch[index]
        for message, _event in batch:
            await self._process_one(message)

    async def _handle_batch(self, batch: Sequence[tuple[Msg, CloudEvent]]) -> tuple[int | None, Exception] | None:
        """None once the whole batch committed; else the index of the message that failed (if known) and why."""
        durable = self.subscription.durable
        table = cast(Table, self._inbox.__table__)  # type: ignore[attr-defined]
        failed_at: int | None = None
        try:
            async with self._sessionmaker() as session, session.begin():
                # Claim the batch's inbox rows first, in one statement: the ids it returns are
                # the events not handled before, each once even if the batch repeats it. A
                # handler that fails rolls its claim back with everything else.
                now = utcnow()
                claims = {event.id: (durable, event.id, event.type, now) for _message, event in batch}
                fresh = set(await insert_new(session, table, INBOX_COLUMNS, list(claims.values()), "event_id"))
                todo: list[Claimed] = []
                for index, (message, event) in enumerate(batch):
                    if event.id in fresh:  # else handled before, or earlier in this very batch
                        fresh.discard(event.id)
                        todo.append((index, message, event))
                batch_handler = self.subscription.batch_handler
                for run in traced_runs(todo):
                    with self._span(run[0][1], len(run)):
                        if batch_handler is not None and len(run) > 1:
                            await batch_handler(session, [event for _index, _message, event in run])
                            continue
                        for index, _message, event in run:
                            failed_at = index
                            await self.subscription.handler(session, event)
                            failed_at = None
        except Exception as exc:  # noqa: BLE001 - the caller decides who pays for it
            if failed_at is None:
                logger.info("%s: batch of %d failed as a whole (%s); one by one", durable, len(batch), exc)
            return failed_at, exc
        return None

    def _wanted(self, message: Msg) -> bool:
        # A server older than 2.10 ignores filter_subjects and delivers the whole stream.
        subject = message.subject
        wanted = self._wanted_subjects.get(subject)
        if wanted is None:
            if len(self._wanted_subjects) >= 1024:  # subjects are event types, but bound it anyway
                self._wanted_subjects.clear()
            wanted = any(subject_matches(pattern, subject) for pattern in self.subscription.subjects)
            self._wanted_subjects[subject] = wanted
        return wanted

    @contextlib.contextmanager
    def _span(self, message: Msg, count: int = 1) -> Iterator[trace.Span]:
        """The consumer span of ``count`` messages in a row that share ``message``'s subject and trace context."""
        context = propagate.extract(message.headers) if message.headers else None
        attributes: dict[str, str | int] = {
            "messaging.system": "nats",
            "messaging.destination.name": message.subject,
            "messaging.consumer.group.name": self.subscription.durable,
        }
        if count > 1:
            attributes["messaging.batch.message_count"] = count
        with tracer.start_as_current_span(
            f"consume {message.subject}", context=context, kind=trace.SpanKind.CONSUMER, attributes=attributes
        ) as span:
            yield span

    async def process(self, message: Msg) -> None:
        if not self._wanted(message):
            await message.ack()
            return
        self._count_delivery(message)
        await self._process_one(message)

    def _count_delivery(self, message: Msg) -> None:
        if delivery_count(message) > 1:
            REDELIVERIES.labels(self.subscription.durable, message.subject).inc()

    async def _process_one(self, message: Msg) -> None:
        delivery = delivery_count(message)
        with self._span(message) as span:
            try:
                event = CloudEvent.from_bytes(message.data)
                reason = refusal(message.subject, event)
                if reason is not None:
                    await self._refuse(message, reason)
                    return
                await self._handle_once(event)
            except Exception as exc:  # noqa: BLE001 - decide between retry and dead letter
                span.record_exception(exc)
                await self._failed(message, delivery, exc)
                return
        # Ack only after the handler's transaction committed: a crash before this line
        # means redelivery, which the inbox turns into a no-op.
        await message.ack()
        self.handled += 1
        HANDLED.labels(self.subscription.durable, message.subject).inc()

    async def _handle_once(self, event: CloudEvent) -> None:
        durable = self.subscription.durable
        async with self._sessionmaker() as session, session.begin():
            seen = await session.scalar(
                select(self._inbox.event_id).where(self._inbox.consumer == durable, self._inbox.event_id == event.id)
            )
            if seen is not None:
                logger.debug("%s already handled event %s", durable, event.id)
                return
            session.add(self._inbox(consumer=durable, event_id=event.id, event_type=event.type))
            await self.subscription.handler(session, event)

    async def _failed(self, message: Msg, delivery: int, exc: Exception) -> None:
        durable = self.subscription.durable
        if delivery < self._policy.max_deliver:
            delay = self._policy.delay_after(delivery)
            logger.warning(
                "%s failed on %s (attempt %d/%d): %s; retry in %.1fs",
                durable,
                message.subject,
                delivery,
                self._policy.max_deliver,
                exc,
                delay,
            )
            await message.nak(delay=delay)
            return
        logger.error("%s gave up on %s after %d attempts: %s; dead-lettered", durable, message.subject, delivery, exc)
        await self._dead_letter(message, {"Meritloop-Error": json.dumps(f"{type(exc).__name__}: {exc}")[:1000]})

    async def _refuse(self, message: Msg, reason: str) -> None:
        """An event whose envelope contradicts its subject: never handled, never retried."""
        logger.error("%s refused an event on %s: %s; dead-lettered", self.subscription.durable, message.subject, reason)
        reason_header = json.dumps(reason)[:1000]
        await self._dead_letter(message, {"Meritloop-Error": reason_header, "Meritloop-Refused": reason_header})

    async def _dead_letter(self, message: Msg, extra: dict[str, str]) -> None:
        durable = self.subscription.durable
        headers = dict(message.headers or {})
        headers.pop("Nats-Msg-Id", None)
        headers.update(
            {
                "Meritloop-Consumer": durable,
                "Meritloop-Original-Subject": message.subject,
                "Meritloop-Attempts": str(delivery_count(message)),
                **extra,
            }
        )
        await self._bus.jetstream().publish(f"{DEAD_LETTER_PREFIX}.{durable}", message.data, headers=headers)
        await message.term()
        self.dead_lettered += 1
        DEAD_LETTERS.labels(durable, message.subject).inc()


class ConsumerNotProvisioned(RuntimeError):
    """A component's durable consumer is missing, or reads less than the component handles."""


def consumer_config(subscription: Subscription, policy: ConsumerPolicy) -> ConsumerConfig:
    """The JetStream configuration of ``subscription``'s durable consumer."""
    subjects = list(subscription.subjects)
    return ConsumerConfig(
        durable_name=subscription.durable,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        # One more than we act on: our own code dead-letters at max_deliver, the server
        # limit only catches a process that died during the last attempt.
        max_deliver=policy.max_deliver + 1,
        ack_wait=policy.ack_wait,
        filter_subject=subjects[0] if len(subjects) == 1 else None,
        filter_subjects=subjects if len(subjects) > 1 else None,
    )


def filters_of(config: ConsumerConfig) -> list[str]:
    """A consumer's filter subjects; empty: it reads its whole stream."""
    if config.filter_subjects:
        return list(config.filter_subjects)
    return [config.filter_subject] if config.filter_subject else []


def uncovered(config: ConsumerConfig, subjects: Sequence[str]) -> list[str]:
    """Those of ``subjects`` that a consumer defined by ``config`` would not deliver."""
    filters = filters_of(config)
    if not filters:
        return []
    return [subject for subject in subjects if not any(subject_matches(f, subject) for f in filters)]


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` stands for one token, a final ``>`` for one or more."""
    wanted, given = pattern.split("."), subject.split(".")
    for index, part in enumerate(wanted):
        if part == ">":
            return len(given) > index
        # A given ``>`` (a filter, not a message subject) is wider than any single token.
        if index >= len(given) or given[index] == ">" or part not in ("*", given[index]):
            return False
    return len(given) == len(wanted)


def delivery_count(message: Msg) -> int:
    """How many times the server has delivered ``message``, read from its reply subject.

    ``Msg.metadata`` parses the whole subject into dataclasses and a datetime: that cost as
    much per message as the bare consumer's JSON parse. The common layout,
    ``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>``,
    is read here; any other (with a domain) is left to nats-py.
    """
    tokens = message.reply.split(".")
    if len(tokens) == 9 and tokens[0] == "$JS" and tokens[1] == "ACK":
        return int(tokens[4])
    return message.metadata.num_delivered


def traced_runs(items: Sequence[Claimed]) -> list[list[Claimed]]:
    """``items`` cut into runs of the same subject and trace context, in order.

    A consumer span per run instead of per message: events written by one transaction carry
    the same ``traceparent`` and arrive in a row, so a bulk change's thousands of events
    cost a span per batch, while events of different requests (or subjects) keep a span each,
    under the trace of the request that caused it. Only the headers the propagator reads
    decide; the message id differs on every message.
    """
    fields = sorted(propagate.get_global_textmap().fields)
    runs: list[list[Claimed]] = []
    previous: tuple[str | None, ...] | None = None
    for item in items:
        message = item[1]
        headers = message.headers or {}
        key = (message.subject, *map(headers.get, fields))
        if key == previous:
            runs[-1].append(item)
        else:
            runs.append([item])
            previous = key
    return runs
