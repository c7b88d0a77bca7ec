"""Event pipeline benchmark: outbox -> relay -> JetStream -> a consumer's inbox, committed.

    python -m bench.events [--events 20000] [--rounds 1] [--nats-url URL]
                           [--producer-url URL] [--consumer-url URL]

It starts its own ``nats-server -js`` on a free port (unless ``--nats-url`` is given) and
two throw-away SQLite databases (WAL) in a temp folder: the reviews database, whose outbox
holds ``--events`` ``person upserted`` events, and the goals database, whose inbox the
consumer fills. Then, in one process and one event loop, per round:

1. **bare**: the same payloads, subjects and headers published straight to a stream of the
   same configuration, pipelined in batches of the relay's batch size with the acks of a
   batch awaited together, while a durable pull consumer fetches batches of the
   subscription's batch size and acks every message: the time until the last message is
   acked.
2. **meritloop**: the real ``OutboxRelay`` and ``EventConsumer`` (default batch sizes and
   policy, or ``--relay-batch`` / ``--fetch-batch``, which the bare run then uses too)
   started together on the committed outbox rows; the time until the consumer has handled
   every event (its handler ran and its inbox row committed in one transaction,
   then the message acked). The handler itself writes nothing else, so what is measured
   is the pipeline's own cost. Checked afterwards: every outbox row marked published,
   exactly ``--events`` inbox rows.

Writing the outbox rows (``Outbox.add_many`` in one transaction) is timed separately: it is
the producer's business transaction, not the pipeline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path

import nats
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import func, select

from services.goals.models import InboxEvent
from services.reviews.models import OutboxEvent
from shared.database import create_engine, create_sessionmaker
from shared.events import (
    CloudEvent,
    ConsumerPolicy,
    EventBus,
    EventConsumer,
    Outbox,
    OutboxRelay,
    Subscription,
    service_stream,
)
from shared.migrations import upgrade_async
from shared.people import DIRECTORY_STREAM, PERSON_UPSERTED
from tests.support.processes import NatsServer

BARE_SERVICE = "benchbare"
DURABLE = "goals-bench"


def make_events(count: int) -> list[CloudEvent]:
    """``person upserted`` events shaped like the directory's (ids and basics, about 400 bytes)."""
    outbox = Outbox("reviews", OutboxEvent)
    events = []
    for index in range(count):
        person = uuid.uuid4()
        data = {
            "id": str(person),
            "version": 1,
            "display_name": f"Person {index}",
            "email": f"person.{index}@example.com",
            "manager_id": str(uuid.uuid4()),
            "department": "Engineering 3",
            "active": True,
            "title": "Specialist",
            "organization": "Northwind",
            "division": "Engineering",
            "locale": "en-US",
            "timezone": "Europe/Berlin",
        }
        events.append(outbox.event("person", "upserted", data, subject=str(person)))
    return events


async def bare(
    url: str, events: Sequence[CloudEvent], publish_batch: int, fetch_batch: int, round_: int
) -> tuple[float, float]:
    """JetStream alone: pipelined publishes, a durable pull consumer fetching and acking."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream(timeout=5.0)
        config = service_stream(BARE_SERVICE)
        await js.add_stream(config)
        durable = f"bare-{round_}"
        subject_prefix = f"meritloop.{BARE_SERVICE}"
        await js.add_consumer(
            config.name or "",
            ConsumerConfig(
                durable_name=durable,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.NEW,
                filter_subject=f"{subject_prefix}.>",
            ),
        )
        psub = await js.pull_subscribe_bind(durable, stream=config.name or "")
        # What an outbox row carries: the payload, its subject and the trace headers.
        messages = [
            (f"{subject_prefix}.person.upserted", event.to_bytes(), {"Nats-Msg-Id": f"{event.id}-{round_}"})
            for event in events
        ]
        done = asyncio.Event()
        received = 0

        async def publish() -> None:
            for start in range(0, len(messages), publish_batch):
                futures = [
                    await js.publish_async(subject, payload, headers=headers)
                    for subject, payload, headers in messages[start : start + publish_batch]
                ]
                await asyncio.gather(*futures)

        async def consume() -> None:
            nonlocal received
            while received < len(messages):
                try:
                    batch = await psub.fetch(fetch_batch, timeout=1.0)
                except nats.errors.TimeoutError:
                    continue
                for message in batch:
                    json.loads(message.data)  # a consumer reads what it is given
                    await message.ack()
                    received += 1
            done.set()

        started, cpu_started = time.perf_counter(), time.process_time()
        await asyncio.gather(publish(), consume())
        await nc.flush()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        await psub.unsubscribe()
        return elapsed, cpu
    finally:
        await nc.close()


async def bare_lean(
    url: str, events: Sequence[CloudEvent], publish_batch: int, fetch_batch: int, round_: int
) -> tuple[float, float]:
    """JetStream through the protocol paths the relay and consumer themselves take (no nats-py
    JetStream helpers): publishes with reply subjects of our own whose acks one subscription
    counts, a batch's acks awaited together; pull requests to ``CONSUMER.MSG.NEXT`` on an inbox
    of our own, every message acked by a plain publish."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream(timeout=5.0)
        config = service_stream(BARE_SERVICE)
        await js.add_stream(config)
        stream, durable = config.name or "", f"lean-{round_}"
        subject_prefix = f"meritloop.{BARE_SERVICE}"
        await js.add_consumer(
            stream,
            ConsumerConfig(
                durable_name=durable,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.NEW,
                filter_subject=f"{subject_prefix}.>",
            ),
        )
        messages = [
            (f"{subject_prefix}.person.upserted", event.to_bytes(), {"Nats-Msg-Id": f"{event.id}-lean-{round_}"})
            for event in events
        ]
        acked = 0
        batch_acked = asyncio.Event()
        batch_size = 0

        async def on_ack(_message: Msg) -> None:
            nonlocal acked
            acked += 1
            if acked >= batch_size:
                batch_acked.set()

        acks = nc.new_inbox()
        ack_sub = await nc.subscribe(f"{acks}.*", cb=on_ack)
        received = 0
        delivered: asyncio.Queue[Msg | None] = asyncio.Queue()

        async def on_delivery(message: Msg) -> None:
            # A stream message has a reply (its ack subject); a status (408: the pull expired) has none.
            delivered.put_nowait(message if message.reply else None)

        deliveries = nc.new_inbox()
        pull_sub = await nc.subscribe(deliveries, cb=on_delivery)

        async def publish() -> None:
            nonlocal acked, batch_size
            for start in range(0, len(messages), publish_batch):
                batch = messages[start : start + publish_batch]
                acked, batch_size = 0, len(batch)
                batch_acked.clear()
                for index, (subject, payload, headers) in enumerate(batch):
                    await nc.publish(subject, payload, reply=f"{acks}.{index}", headers=headers)
                await asyncio.wait_for(batch_acked.wait(), timeout=5.0)

        async def consume() -> None:
            nonlocal received
            request = json.dumps({"batch": fetch_batch, "expires": 1_000_000_000}).encode()
            while received < len(messages):
                await nc.publish(f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}", request, reply=deliveries)
                for _ in range(fetch_batch):
                    message = await delivered.get()
                    if message is None:
                        break
                    json.loads(message.data)  # a consumer reads what it is given
                    await nc.publish(message.reply, b"+ACK")
                    received += 1
                    if received == len(messages):
                        break

        started, cpu_started = time.perf_counter(), time.process_time()
        await asyncio.gather(publish(), consume())
        await nc.flush()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        await ack_sub.unsubscribe()
        await pull_sub.unsubscribe()
        return elapsed, cpu
    finally:
        await nc.close()


async def write_outbox(producer_url: str, events: Sequence[CloudEvent]) -> float:
    engine = create_engine(producer_url)
    try:
        sessionmaker = create_sessionmaker(engine)
        outbox = Outbox("reviews", OutboxEvent)
        started = time.perf_counter()
        async with sessionmaker() as session, session.begin():
            await outbox.add_many(session, events)
        return time.perf_counter() - started
    finally:
        await engine.dispose()


async def pipeline(
    url: str, producer_url: str, consumer_url: str, count: int, round_: int, publish_batch: int, fetch_batch: int
) -> tuple[float, float, int, int]:
    """The relay and a consumer on committed outbox rows: the time until every event is handled."""

    async def nothing_more(_session: object, _event: CloudEvent) -> None:
        return None

    async with AsyncExitStack() as stack:
        producer_engine = create_engine(producer_url)
        consumer_engine = create_engine(consumer_url)
        stack.push_async_callback(producer_engine.dispose)
        stack.push_async_callback(consumer_engine.dispose)
        producer = create_sessionmaker(producer_engine)
        consumer_sessions = create_sessionmaker(consumer_engine)
        bus = EventBus(url, name=f"bench-events-{round_}")
        bus.declare_stream(service_stream("reviews"))
        bus.start()
        stack.push_async_callback(bus.close)
        await bus.wait_connected(30)
        subscription = Subscription(
            durable=f"{DURABLE}-{round_}",
            stream=DIRECTORY_STREAM,
            subjects=(PERSON_UPSERTED,),
            handler=nothing_more,
            batch=fetch_batch,
        )
        consumer = EventConsumer(bus, consumer_sessions, InboxEvent, subscription, ConsumerPolicy())
        # The durable consumer exists before the clock starts, as it does in a running service;
        # the stream is emptied so that it sees only what this round publishes.
        await bus.jetstream().purge_stream(DIRECTORY_STREAM)
        await bus.jetstream().add_consumer(DIRECTORY_STREAM, consumer.consumer_config())
        relay = OutboxRelay(bus, producer, OutboxEvent, batch_size=publish_batch)
        started, cpu_started = time.perf_counter(), time.process_time()
        consumer.start()
        relay.start()
        stack.push_async_callback(consumer.stop)
        stack.push_async_callback(relay.stop)
        relayed: float | None = None
        while consumer.handled < count:
            await asyncio.sleep(0.005)
            if relayed is None and relay.published >= count:
                relayed = time.perf_counter() - started
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        print(f"  (the relay had published every row after {relayed or elapsed:.2f} s)")

        async with producer() as session:
            pending = await session.scalar(
                select(func.count()).select_from(OutboxEvent).where(OutboxEvent.published_at.is_(None))
            )
        async with consumer_sessions() as session:
            inbox = await session.scalar(
                select(func.count()).select_from(InboxEvent).where(InboxEvent.consumer == subscription.durable)
            )
        return elapsed, cpu, int(pending or 0), int(inbox or 0)


async def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="meritloop-bench-events-"))
    async with AsyncExitStack() as stack:
        url = args.nats_url
        if url is None:
            server = NatsServer(store=workdir / "nats")
            server.start()
            stack.callback(server.stop)
            url = server.url
        print(f"nats {url}, data in {workdir}")
        publish_batch = args.relay_batch or OutboxRelay.DEFAULT_BATCH_SIZE
        fetch_batch = args.fetch_batch or Subscription.batch
        print(f"{args.events:,} events per round; relay batch {publish_batch}, consumer fetch batch {fetch_batch}")
        for round_ in range(1, args.rounds + 1):
            producer_url = args.producer_url or f"sqlite+aiosqlite:///{workdir / f'reviews-{round_}.db'}"
            consumer_url = args.consumer_url or f"sqlite+aiosqlite:///{workdir / f'goals-{round_}.db'}"
            await upgrade_async("reviews", producer_url)
            await upgrade_async("goals", consumer_url)
            events = make_events(args.events)
            size = sum(len(event.to_bytes()) for event in events) / len(events)
            bare_time, bare_cpu = await bare(url, events, publish_batch, fetch_batch, round_)
            bare_rate = args.events / bare_time
            print(f"round {round_}: payload {size:.0f} bytes")
            print(f"  bare JetStream publish + pull consume: {bare_time:.2f} s ({bare_rate:,.0f} events/s)")
            write_time = await write_outbox(producer_url, events)
            print(f"  outbox write (add_many, one transaction, not in the pipeline figure): {write_time:.2f} s")
            elapsed, cpu, pending, inbox = await pipeline(
                url, producer_url, consumer_url, args.events, round_, publish_batch, fetch_batch
            )
            rate = args.events / elapsed
            print(
                f"  outbox -> relay -> JetStream -> consumer inbox, committed: {elapsed:.2f} s ({rate:,.0f} events/s)"
            )
            print(f"  pipeline/bare rate = {rate / bare_rate:.2f} (goal >= 0.5)")
            # CPU seconds of this process (every thread): they move less with the neighbours' load.
            print(f"  CPU seconds: bare {bare_cpu:.2f}, pipeline {cpu:.2f}; bare/pipeline = {bare_cpu / cpu:.2f}")
            # The relay and consumer speak JetStream's protocol directly; so may a bare client.
            lean_time, lean_cpu = await bare_lean(url, events, publish_batch, fetch_batch, round_)
            lean_rate = args.events / lean_time
            print(f"  lean bare (the protocol paths the pipeline takes): {lean_time:.2f} s ({lean_rate:,.0f} events/s)")
            print(f"  pipeline/lean bare rate = {rate / lean_rate:.2f}; CPU lean bare/pipeline = {lean_cpu / cpu:.2f}")
            if pending or inbox != args.events:
                raise SystemExit(f"pipeline incomplete: {pending} outbox rows pending, {inbox} inbox rows")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--relay-batch", type=int, help="Outbox rows per relay batch (default: the relay's).")
    parser.add_argument("--fetch-batch", type=int, help="Messages per consumer fetch (default: a subscription's).")
    parser.add_argument("--nats-url", help="A NATS server with JetStream (default: one of its own on a free port).")
    parser.add_argument("--producer-url", help="An empty reviews database (default: SQLite, WAL, in a temp folder).")
    parser.add_argument("--consumer-url", help="An empty goals database (default: SQLite, WAL, in a temp folder).")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
