"""Outbox → relay → JetStream → consumer, through a real NATS server and real databases."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nats
import pytest
from nats.aio.msg import Msg
from opentelemetry import propagate, trace
from prometheus_client import REGISTRY
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.goals.models import InboxEvent as GoalsInbox
from services.goals.models import Person as GoalsPerson
from services.reviews.directory.schemas import PersonCreate
from services.reviews.directory.service import PeopleService
from services.reviews.models import OutboxEvent as ReviewsOutbox
from shared.database import create_engine, create_sessionmaker
from shared.events import (
    BatchHandler,
    CloudEvent,
    ConsumerPolicy,
    EventBus,
    EventConsumer,
    Handler,
    OutboxRelay,
    Subscription,
    dead_letter_stream,
    service_stream,
    stream_name,
)
from shared.events.bus import DEAD_LETTER_STREAM
from shared.migrations import upgrade_async
from shared.people import DIRECTORY_STREAM, PERSON_UPSERTED
from shared.settings import ServiceName
from tests.support.processes import NatsServer
from tests.support.tracing import recorded_spans
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database


@dataclass
class Recorder:
    """A handler that remembers every event it was given (and may be told to fail)."""

    fail: bool = False
    calls: list[uuid.UUID] = field(default_factory=list)

    async def __call__(self, session: AsyncSession, event: CloudEvent) -> None:
        self.calls.append(event.id)
        if self.fail:
            raise RuntimeError("handler refuses this event")


@dataclass
class Pipeline:
    bus: EventBus
    reviews: async_sessionmaker[AsyncSession]
    goals: async_sessionmaker[AsyncSession]
    relay: OutboxRelay
    engines: Sequence[AsyncEngine]
    consumers: list[EventConsumer] = field(default_factory=list)

    def consumer(
        self,
        handler: Handler,
        *,
        durable: str = "goals-test",
        max_deliver: int = 3,
        per_event: bool = False,
        batch_handler: BatchHandler | None = None,
    ) -> EventConsumer:
        subscription = Subscription(
            durable=durable,
            stream=DIRECTORY_STREAM,
            subjects=(PERSON_UPSERTED,),
            handler=handler,
            one_transaction_per_event=per_event,
            batch_handler=batch_handler,
        )
        policy = ConsumerPolicy(max_deliver=max_deliver, backoff=[0.05, 0.1], ack_wait=5.0)
        return EventConsumer(self.bus, self.goals, GoalsInbox, subscription, policy)

    def consume(self, handler: Handler, *, durable: str = "goals-test", max_deliver: int = 3) -> EventConsumer:
        consumer = self.consumer(handler, durable=durable, max_deliver=max_deliver)
        consumer.start()
        self.consumers.append(consumer)
        return consumer

    async def add_person(self, name: str) -> uuid.UUID:
        async with self.reviews() as session, session.begin():
            person = await PeopleService(session).create(PersonCreate(email=f"{name}@example.com", display_name=name))
            return person.id

    async def pending(self) -> int:
        async with self.reviews() as session:
            count = await session.scalar(
                select(func.count()).select_from(ReviewsOutbox).where(ReviewsOutbox.published_at.is_(None))
            )
            return count or 0


async def stream_messages(url: str, stream: str) -> int:
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().stream_info(stream)
        return int(info.state.messages)
    finally:
        await nc.close()


PipelineFactory = Callable[[str], Awaitable[Pipeline]]

REDELIVERED = "meritloop_consumer_redeliveries_total"
DEAD_LETTERED = "meritloop_consumer_dead_letters_total"
HANDLED = "meritloop_consumer_handled_events_total"


def counted(name: str, labels: dict[str, str]) -> float:
    """A counter of this process's /metrics registry (counters only grow: tests compare before and after)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def pipeline_factory(database_urls: dict[ServiceName, str]) -> AsyncIterator[PipelineFactory]:
    """Reviews publishes through its outbox; consumers write to the goals database."""
    opened: list[Pipeline] = []

    async def open_pipeline(url: str) -> Pipeline:
        await upgrade_async("reviews", database_urls["reviews"])
        await upgrade_async("goals", database_urls["goals"])
        reviews_engine = create_engine(database_urls["reviews"])
        goals_engine = create_engine(database_urls["goals"])
        bus = EventBus(url, name="test")
        bus.declare_stream(service_stream("reviews"))
        bus.declare_stream(dead_letter_stream())
        bus.start()
        reviews = create_sessionmaker(reviews_engine)
        relay = OutboxRelay(bus, reviews, ReviewsOutbox, poll_interval=0.05)
        relay.watch_commits()
        pipeline = Pipeline(bus, reviews, create_sessionmaker(goals_engine), relay, [reviews_engine, goals_engine])
        opened.append(pipeline)
        return pipeline

    yield open_pipeline
    for pipeline in opened:
        for consumer in pipeline.consumers:
            await consumer.stop()
        await pipeline.relay.stop()
        await pipeline.bus.close()
        for engine in pipeline.engines:
            await engine.dispose()


async def test_committed_event_arrives_exactly_once(nats_url: str, pipeline_factory: PipelineFactory) -> None:
    pipeline = await pipeline_factory(nats_url)
    await pipeline.bus.wait_connected(10)
    recorder = Recorder()
    pipeline.consume(recorder)
    pipeline.relay.start()

    person_id = await pipeline.add_person("ada")

    await wait_until(lambda: len(recorder.calls) == 1, message="event delivered")
    await asyncio.sleep(0.5)  # a duplicate would arrive within this window
    assert len(recorder.calls) == 1
    assert await pipeline.pending() == 0
    async with pipeline.reviews() as session:
        row = (await session.scalars(select(ReviewsOutbox))).one()
    event = CloudEvent.model_validate_json(row.payload)
    assert event.id == recorder.calls[0]
    assert event.type == "meritloop.reviews.person.upserted"
    assert event.subject == str(person_id)
    assert event.source == "/meritloop/reviews"


async def test_rolled_back_transaction_publishes_nothing(nats_url: str, pipeline_factory: PipelineFactory) -> None:
    pipeline = await pipeline_factory(nats_url)
    await pipeline.bus.wait_connected(10)

    async def request_that_fails() -> None:
        async with pipeline.reviews() as session, session.begin():
            await PeopleService(session).create(PersonCreate(email="bo@example.com", display_name="Bo"))
            raise RuntimeError("abort the request")

    with pytest.raises(RuntimeError, match="abort"):
        await request_that_fails()

    assert await pipeline.relay.run_once() == 0
    assert await pipeline.pending() == 0
    assert await stream_messages(nats_url, stream_name("reviews")) == 0


async def test_republished_row_after_crash_is_deduplicated(nats_url: str, pipeline_factory: PipelineFactory) -> None:
    pipeline = await pipeline_factory(nats_url)
    await pipeline.bus.wait_connected(10)
    recorder = Recorder()
    await pipeline.add_person("cy")

    # The relay published but died before it could mark the row sent...
    async with pipeline.reviews() as session:
        rows = (await session.scalars(select(ReviewsOutbox))).all()
    acked, errors = await pipeline.relay.publish(rows)
    assert len(acked) == 1
    assert not errors
    assert await pipeline.pending() == 1
    # ...so the next relay run publishes the same row again.
    assert await pipeline.relay.run_once() == 1
    assert await pipeline.pending() == 0

    assert await stream_messages(nats_url, stream_name("reviews")) == 1
    pipeline.consume(recorder)
    await wait_until(lambda: recorder.calls, message="event delivered")
    await asyncio.sleep(0.5)
    assert len(recorder.calls) == 1


async def test_events_written_while_nats_is_down_arrive_after_restart(
    tmp_path: Path, pipeline_factory: PipelineFactory
) -> None:
    server = NatsServer(store=tmp_path / "nats-own")
    server.start()
    try:
        pipeline = await pipeline_factory(server.url)
        await pipeline.bus.wait_connected(10)
        recorder = Recorder()
        pipeline.consume(recorder)
        pipeline.relay.start()
        await pipeline.add_person("before")
        await wait_until(lambda: len(recorder.calls) == 1, message="first event")

        server.stop()
        written = [await pipeline.add_person(f"during-{index}") for index in range(20)]
        await asyncio.sleep(1.0)
        assert await pipeline.pending() == len(written), "nothing can be sent while NATS is down"

        server.start()
        await wait_until(lambda: len(recorder.calls) == 21, timeout=30, message="all events")
        await asyncio.sleep(0.5)
        assert len(recorder.calls) == 21
        assert len(set(recorder.calls)) == 21, "no event handled twice"
        assert await pipeline.pending() == 0
        assert await stream_messages(server.url, stream_name("reviews")) == 21
    finally:
        server.stop()


async def test_redelivered_event_is_handled_once(nats_url: str, pipeline_factory: PipelineFactory) -> None:
    pipeline = await pipeline_factory(nats_url)
    await pipeline.bus.wait_connected(10)
    recorder = Recorder()
    event = CloudEvent(source="/meritloop/reviews", type=PERSON_UPSERTED, data={"any": "thing"})
    js = pipeline.bus.jetstream()
    # Two publishes with distinct message ids get past JetStream's own dedup: only the
    # consumer's inbox can stop the second one.
    for attempt in range(2):
        await js.publish(PERSON_UPSERTED, event.to_bytes(), headers={"Nats-Msg-Id": f"{event.id}-{attempt}"})
    labels = {"consumer": "goals-test", "subject": PERSON_UPSERTED}
    handled_before, redelivered_before = counted(HANDLED, labels), counted(REDELIVERED, labels)
    consumer = pipeline.consume(recorder)

    await wait_until(lambda: consumer.handled == 2, message="both deliveries acked")
    assert recorder.calls == [event.id]
    assert counted(HANDLED, labels) - handled_before == 2
    assert counted(REDELIVERED, labels) == redelivered_before, "two messages, each delivered once"
    async with pipeline.goals() as session:
        assert await session.scalar(select(func.count()).select_from(GoalsInbox)) == 1


async def test_failing_handler_ends_in_dead_letter_subject(nats_url: str, pipeline_factory: PipelineFactory) -> None:
    pipeline = await pipeline_factory(nats_url)
    await pipeline.bus.wait_connected(10)
    recorder = Recorder(fail=True)
    labels = {"consumer": "goals-failing", "subject": PERSON_UPSERTED}
    counted_before = {name: counted(name, labels) for name in (REDELIVERED, DEAD_LETTERED, HANDLED)}
    consumer = pipeline.consume(recorder, durable="goals-failing", max_deliver=3)
    pipeline.relay.start()
    await pipeline.add_person("doomed")

    await wait_until(lambda: consumer.dead_lettered == 1, message="dead-lettered")
    await asyncio.sleep(0.5)
    assert len(recorder.calls) == 3, "handled exactly max_deliver times"
    assert counted(REDELIVERED, labels) - counted_before[REDELIVERED] == 2, "deliveries 2 and 3"
    assert counted(DEAD_LETTERED, labels) - counted_before[DEAD_LETTERED] == 1
    assert counted(HANDLED, labels) == counted_before[HANDLED], "a dead letter was never handled"

    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        message = await js.get_last_msg(DEAD_LETTER_STREAM, "meritloop.deadletter.goals-failing")
        headers = message.headers or {}
        assert headers["Meritloop-Attempts"] == "3"
        assert headers["Meritloop-Original-Subject"] == PERSON_UPSERTED
        assert "handler refuses this event" in headers["Meritloop-Error"]
        assert CloudEvent.from_bytes(message.data or b"").id == recorder.calls[0]
    finally:
        await nc.close()
    async with pipeline.goals() as session:
        assert await session.scalar(select(func.count()).select_from(GoalsInbox)) == 0, (
            "a failed handler's transaction leaves no inbox row"
        )


async def test_consumer_skips_subjects_it_did_not_ask_for(nats_url: str, pipeline_factory: PipelineFactory) -> None:
    """NATS before 2.10 ignores filter_subjects and hands a consumer the whole stream (seen on 2.9.10)."""
    pipeline = await pipeline_factory(nats_url)
    await pipeline.bus.wait_connected(10)
    recorder = Recorder()
    consumer = EventConsumer(
        pipeline.bus,
        pipeline.goals,
        GoalsInbox,
        Subscription(
            durable="goals-unfiltered", stream=DIRECTORY_STREAM, subjects=(PERSON_UPSERTED,), handler=recorder
        ),
        ConsumerPolicy(max_deliver=3, backoff=[0.05], ack_wait=5.0),
    )
    wanted = CloudEvent(source="/meritloop/reviews", type=PERSON_UPSERTED, data={"id": str(uuid.uuid4())})
    other = CloudEvent(source="/meritloop/reviews", type="meritloop.reviews.task.created", data={"task_id": "t1"})
    js = pipeline.bus.jetstream()
    for event in (other, wanted):
        await js.publish(event.nats_subject, event.to_bytes(), headers={"Nats-Msg-Id": str(event.id)})
    # What an old server creates for that consumer: no filter at all.
    unfiltered = await js.pull_subscribe("", durable="goals-unfiltered", stream=DIRECTORY_STREAM)
    messages = await unfiltered.fetch(10, timeout=2.0)
    assert sorted(m.subject for m in messages) == sorted([other.type, wanted.type])
    for message in messages:
        await consumer.process(message)
    assert recorder.calls == [wanted.id]
    assert consumer.dead_lettered == 0

    async def all_acked() -> bool:  # an ack is a plain publish: the server counts it a moment later
        info = await js.consumer_info(DIRECTORY_STREAM, "goals-unfiltered")
        return bool(info.num_ack_pending == 0)

    await wait_until(all_acked, timeout=5, message="the skipped message acked, so it never comes back")
    await unfiltered.unsubscribe()


@dataclass
class Projector:
    """A handler with an effect: one projection row per event, in the consumer's transaction."""

    poison: set[uuid.UUID] = field(default_factory=set)
    calls: list[uuid.UUID] = field(default_factory=list)

    async def __call__(self, session: AsyncSession, event: CloudEvent) -> None:
        self.calls.append(event.id)
        if event.id in self.poison:
            raise RuntimeError("handler refuses this event")
        person_id = uuid.UUID(event.data["id"])
        session.add(GoalsPerson(id=person_id, version=1, display_name="P", email=f"{person_id}@example.com"))


def person_event(person_id: uuid.UUID | None = None) -> CloudEvent:
    return CloudEvent(source="/meritloop/reviews", type=PERSON_UPSERTED, data={"id": str(person_id or uuid.uuid4())})


async def publish_all(pipeline: Pipeline, events: Sequence[CloudEvent]) -> None:
    """Published before the consumer starts, so that its first fetch returns them as one batch."""
    js = pipeline.bus.jetstream()
    for event in events:
        await js.publish(event.nats_subject, event.to_bytes(), headers={"Nats-Msg-Id": str(event.id)})


async def projected_and_inbox(pipeline: Pipeline) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    async with pipeline.goals() as session:
        people = list(await session.scalars(select(GoalsPerson.id)))
        inbox = list(await session.scalars(select(GoalsInbox.event_id)))
    return people, inbox


async def test_poison_message_in_a_batch_neither_blocks_nor_duplicates_the_others(
    nats_url: str, pipeline_factory: PipelineFactory
) -> None:
    pipeline = await pipeline_factory(nats_url)
    await pipeline.bus.wait_connected(10)
    events = [person_event() for _ in range(10)]
    poison = events[4]
    good = [event for event in events if event is not poison]
    await publish_all(pipeline, events)
    projector = Projector(poison={poison.id})
    consumer = pipeline.consume(projector, durable="goals-batch", max_deliver=3)

    await wait_until(lambda: consumer.handled == 9 and consumer.dead_lettered == 1, message="9 handled, 1 dead")
    await asyncio.sleep(0.5)  # a redelivery of any of them would arrive within this window
    people, inbox = await projected_and_inbox(pipeline)
    assert sorted(people) == sorted(uuid.UUID(event.data["id"]) for event in good), "each effect exactly once"
    assert sorted(inbox) == sorted(event.id for event in good)
    assert projector.calls.count(poison.id) == 3, "the poison is tried max_deliver times, not more"
    assert consumer.handled == 9
    assert consumer.dead_lettered == 1


async def test_batch_failing_at_commit_falls_back_to_one_transaction_per_event(
    nats_url: str, pipeline_factory: PipelineFactory
) -> None:
    """Two events projecting the same row: only the commit fails, naming neither; one by one, one wins."""
    pipeline = await pipeline_factory(nats_url)
    await pipeline.bus.wait_connected(10)
    same = uuid.uuid4()
    clashing = [person_event(same), person_event(same)]
    others = [person_event() for _ in range(3)]
    await publish_all(pipeline, [clashing[0], *others, clashing[1]])
    consumer = pipeline.consume(Projector(), durable="goals-clash", max_deliver=2)

    await wait_until(lambda: consumer.handled == 4 and consumer.dead_lettered == 1, message="4 handled, 1 dead")
    await asyncio.sleep(0.5)
    people, inbox = await projected_and_inbox(pipeline)
    assert sorted(people) == sorted([same, *(uuid.UUID(event.data["id"]) for event in others)])
    assert sorted(inbox) == sorted([clashing[0].id, *(event.id for event in others)])


async def test_same_event_twice_in_one_batch_is_handled_once(nats_url: str, pipeline_factory: PipelineFactory) -> None:
    pipeline = await pipeline_factory(nats_url)
    await pipeline.bus.wait_connected(10)
    event = person_event()
    js = pipeline.bus.jetstream()
    for attempt in range(2):  # distinct message ids get past JetStream's dedup
        await js.publish(event.nats_subject, event.to_bytes(), headers={"Nats-Msg-Id": f"{event.id}-{attempt}"})
    await publish_all(pipeline, [person_event()])
    projector = Projector()
    consumer = pipeline.consume(projector, durable="goals-twice")

    await wait_until(lambda: consumer.handled == 3, message="all three acked")
    people, inbox = await projected_and_inbox(pipeline)
    assert len(people) == 2
    assert sorted(inbox) == sorted(set(projector.calls))
    assert projector.calls.count(event.id) == 1


async def fetch_one_batch(pipeline: Pipeline, consumer: EventConsumer, count: int) -> list[Msg]:
    """The messages a running consumer would get in one fetch, for ``process_batch`` to take."""
    js = pipeline.bus.jetstream()
    durable = consumer.subscription.durable
    await js.add_consumer(DIRECTORY_STREAM, consumer.consumer_config())
    pulled = await js.pull_subscribe_bind(durable, stream=DIRECTORY_STREAM)
    messages = await pulled.fetch(count + 5, timeout=2.0)
    await pulled.unsubscribe()
    assert len(messages) == count, "one fetch, one batch"
    return messages


@dataclass
class BatchProjector:
    """``Projector`` for a run at once: one call per run, the same rows (and the same poison)."""

    single: Projector
    runs: list[list[uuid.UUID]] = field(default_factory=list)

    async def __call__(self, session: AsyncSession, events: Sequence[CloudEvent]) -> None:
        self.runs.append([event.id for event in events])
        for event in events:
            await self.single(session, event)


@pytest.mark.parametrize("poisoned", [False, True], ids=["run-at-once", "failed-run-one-by-one"])
async def test_a_batch_handler_takes_each_run_or_leaves_it_to_the_handler(
    nats_url: str, pipeline_factory: PipelineFactory, poisoned: bool
) -> None:
    """Five events of one subject and trace are one run; a run that fails goes event by event."""
    pipeline = await pipeline_factory(nats_url)
    await pipeline.bus.wait_connected(10)
    events = [person_event() for _ in range(5)]
    poison = events[2]
    await publish_all(pipeline, events)
    single = Projector(poison={poison.id} if poisoned else set())
    batch = BatchProjector(single)
    consumer = pipeline.consumer(single, durable=f"goals-runs-{int(poisoned)}", batch_handler=batch, max_deliver=2)
    await consumer.process_batch(await fetch_one_batch(pipeline, consumer, 5))

    assert batch.runs == [[event.id for event in events]], "one call for the run"
    ids = [event.id for event in events]
    kept = [event for event in events if not (poisoned and event is poison)]
    people, inbox = await projected_and_inbox(pipeline)
    # Each row once: what the failed run wrote before the poison was rolled back with it.
    assert sorted(people) == sorted(uuid.UUID(event.data["id"]) for event in kept)
    assert sorted(inbox) == sorted(event.id for event in kept)
    assert consumer.handled == len(kept)
    if poisoned:
        assert single.calls == [*ids[:3], *ids], "the run up to the poison, then each event alone"
    else:
        assert single.calls == ids, "only through the batch handler, once each"


@dataclass
class WaitsOnAnotherConnection:
    """A handler that waits for a write another connection makes to the consumer's database.

    What ``on_person_deactivated`` does through a Temporal Update whose activity writes the
    reviews database. The other connection gives up on SQLite's lock after half a second
    (instead of the service's 10 s), so a handler that would deadlock records "locked" instead.
    """

    other: async_sessionmaker[AsyncSession]
    outcomes: dict[uuid.UUID, str] = field(default_factory=dict)

    async def __call__(self, session: AsyncSession, event: CloudEvent) -> None:
        person_id = uuid.UUID(event.data["id"])
        try:
            async with asyncio.timeout(5.0), self.other() as other, other.begin():
                if other.bind.dialect.name == "sqlite":
                    await other.execute(text("PRAGMA busy_timeout=500"))
                other.add(GoalsPerson(id=person_id, version=1, display_name="P", email=f"{person_id}@example.com"))
        except (OperationalError, TimeoutError) as exc:
            self.outcomes[event.id] = f"locked: {type(exc).__name__}"
            return
        self.outcomes[event.id] = "written"


@pytest.mark.parametrize("per_event", [True, False], ids=["one-transaction-per-event", "batch-transaction"])
async def test_a_handler_waiting_on_another_connection_needs_one_transaction_per_event(
    nats_url: str, pipeline_factory: PipelineFactory, per_event: bool
) -> None:
    """Three events in one fetch: the batch's claim would hold SQLite's write lock through each wait."""
    pipeline = await pipeline_factory(nats_url)
    await pipeline.bus.wait_connected(10)
    goals_engine = pipeline.engines[1]
    if not per_event and goals_engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL locks rows, not the database: the batch path blocks only on SQLite")
    other_engine = create_engine(goals_engine.url.render_as_string(hide_password=False))
    try:
        handler = WaitsOnAnotherConnection(create_sessionmaker(other_engine))
        events = [person_event() for _ in range(3)]
        await publish_all(pipeline, events)
        consumer = pipeline.consumer(handler, durable="goals-waits", per_event=per_event)
        messages = await fetch_one_batch(pipeline, consumer, 3)

        started = asyncio.get_running_loop().time()
        await consumer.process_batch(messages)
        elapsed = asyncio.get_running_loop().time() - started
    finally:
        await other_engine.dispose()

    assert consumer.handled == 3
    people, inbox = await projected_and_inbox(pipeline)
    assert sorted(inbox) == sorted(event.id for event in events)
    if per_event:
        assert handler.outcomes == {event.id: "written" for event in events}
        assert sorted(people) == sorted(uuid.UUID(event.data["id"]) for event in events)
        assert elapsed < 1.5, f"each handler waited on the lock: {elapsed:.2f} s"
    else:
        # The demonstration that the flag is needed: in one batch every wait met the claim's lock.
        assert handler.outcomes == {event.id: "locked: OperationalError" for event in events}
        assert people == []


def test_subject_patterns() -> None:
    from shared.events.consumer import subject_matches

    assert subject_matches("a.b.c", "a.b.c")
    assert not subject_matches("a.b.c", "a.b.d")
    assert not subject_matches("a.b", "a.b.c")
    assert subject_matches("a.*.c", "a.x.c")
    assert subject_matches("a.>", "a.b.c")
    assert not subject_matches("a.>", "a")


async def test_a_batch_gets_a_consumer_span_per_run_of_one_trace(
    nats_url: str, pipeline_factory: PipelineFactory
) -> None:
    """Events of one producer's trace in a row share a span; each span continues its producer's trace."""
    pipeline = await pipeline_factory(nats_url)
    await pipeline.bus.wait_connected(10)
    with recorded_spans() as exporter:
        tracer = trace.get_tracer(__name__)
        producers: list[trace.SpanContext] = []
        js = pipeline.bus.jetstream()
        events: list[CloudEvent] = []
        for name, count in (("first request", 3), ("second request", 2)):
            with tracer.start_as_current_span(name) as producer:
                producers.append(producer.get_span_context())
                headers: dict[str, str] = {}
                propagate.inject(headers)
                for _ in range(count):
                    event = person_event()
                    events.append(event)
                    await js.publish(
                        event.nats_subject, event.to_bytes(), headers={**headers, "Nats-Msg-Id": str(event.id)}
                    )
        handled_in: dict[uuid.UUID, trace.SpanContext] = {}

        async def note_span(session: AsyncSession, event: CloudEvent) -> None:
            handled_in[event.id] = trace.get_current_span().get_span_context()

        consumer = EventConsumer(
            pipeline.bus,
            pipeline.goals,
            GoalsInbox,
            Subscription(
                durable="goals-traced", stream=DIRECTORY_STREAM, subjects=(PERSON_UPSERTED,), handler=note_span
            ),
            ConsumerPolicy(max_deliver=3, backoff=[0.05], ack_wait=5.0),
        )
        # The five as one batch, as a running consumer gets them when they are already waiting.
        await js.add_consumer(DIRECTORY_STREAM, consumer.consumer_config())
        pulled = await js.pull_subscribe_bind("goals-traced", stream=DIRECTORY_STREAM)
        messages = await pulled.fetch(10, timeout=2.0)
        assert len(messages) == 5
        await consumer.process_batch(messages)
        await pulled.unsubscribe()
        assert consumer.handled == 5
        consumed = [span for span in exporter.get_finished_spans() if span.name == f"consume {PERSON_UPSERTED}"]
    assert len(consumed) == 2, [(span.name, span.attributes) for span in consumed]
    for span, origin, count, batch in zip(consumed, producers, (3, 2), (events[:3], events[3:]), strict=True):
        assert span.context is not None
        assert span.parent is not None
        assert (span.context.trace_id, span.parent.span_id) == (origin.trace_id, origin.span_id)
        assert span.attributes is not None
        assert span.attributes["messaging.batch.message_count"] == count
        assert {handled_in[event.id].span_id for event in batch} == {span.context.span_id}


async def test_a_publish_no_stream_stores_stays_pending_with_the_reason(
    nats_url: str, pipeline_factory: PipelineFactory
) -> None:
    pipeline = await pipeline_factory(nats_url)
    await pipeline.bus.wait_connected(10)
    await pipeline.add_person("stored")
    async with pipeline.reviews() as session, session.begin():
        lost = CloudEvent(source="/meritloop/nostream", type="meritloop.nostream.person.upserted")
        session.add(ReviewsOutbox(id=lost.id, subject=lost.type, payload=lost.model_dump_json(), headers="{}"))

    with pytest.raises(ConnectionError, match="1 of 2 events were not acknowledged"):
        await pipeline.relay.run_once()
    async with pipeline.reviews() as session:
        rows = {row.subject: row for row in await session.scalars(select(ReviewsOutbox))}
    assert rows[PERSON_UPSERTED].published_at is not None
    failed = rows[lost.type]
    assert failed.published_at is None
    assert failed.attempts == 1
    assert failed.last_error is not None
    assert failed.last_error.startswith("NoStreamResponseError"), failed.last_error


async def test_a_consumer_deleted_on_the_server_is_recreated_and_goes_on(
    nats_url: str, pipeline_factory: PipelineFactory
) -> None:
    """The server ends the open pull with a 409 status; the consumer's retry loop creates it again."""
    pipeline = await pipeline_factory(nats_url)
    await pipeline.bus.wait_connected(10)
    recorder = Recorder()
    consumer = pipeline.consume(recorder, durable="goals-deleted")
    first = person_event()
    await publish_all(pipeline, [first])
    await wait_until(lambda: recorder.calls == [first.id], message="first event handled")

    await pipeline.bus.jetstream().delete_consumer(DIRECTORY_STREAM, "goals-deleted")
    second = person_event()
    await publish_all(pipeline, [second])
    # handled counts after the commit, a moment after the handler ran.
    await wait_until(
        lambda: second.id in recorder.calls and consumer.handled >= 2,
        timeout=15,
        message="handled after the consumer came back",
    )


def test_delivery_count_reads_both_reply_layouts() -> None:
    from nats.aio.msg import Msg

    from shared.events.consumer import delivery_count

    def message(reply: str) -> Msg:
        return Msg(_client=None, subject=PERSON_UPSERTED, reply=reply)  # type: ignore[arg-type]

    assert delivery_count(message("$JS.ACK.MERITLOOP_REVIEWS.goals-people.3.17.12.1796060428424375830.4")) == 3
    # With a JetStream domain and account hash (nats-server 2.9+ may send this form).
    with_domain = "$JS.ACK.hub.ACCHASH.MERITLOOP_REVIEWS.goals-people.2.17.12.1796060428424375830.4.token"
    assert delivery_count(message(with_domain)) == 2


def test_publish_acks_read_without_a_parse_still_tell_errors() -> None:
    from nats.aio.msg import Msg

    from shared.events.relay import ack_error

    def ack(data: bytes) -> Msg:
        return Msg(_client=None, subject="_INBOX.x.1.0", data=data)  # type: ignore[arg-type]

    assert ack_error(ack(b'{"stream":"MERITLOOP_REVIEWS","seq":7}')) is None
    assert ack_error(ack(b'{"stream":"MERITLOOP_REVIEWS","seq":7,"duplicate":true}')) is None
    refused = b'{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"},"stream":"S","seq":0}'
    error = ack_error(ack(refused))
    assert error is not None
    assert error.startswith("ServiceUnavailableError"), error
    assert ack_error(ack(b'{"stream":"S","error":{"code":400,"description":"bad"}}')) is not None
    assert ack_error(ack(b"not json")) is not None
