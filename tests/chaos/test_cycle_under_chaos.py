"""A 200-person review cycle while every moving part is killed under it, and nothing is lost.

The system runs as processes the test owns (``conftest.py``): NATS with a user per component
and JetStream on disk, the Temporal dev server with its state in a SQLite file, the four
services and the notifications component as uvicorn processes, and the workflow worker.
While people submit their tasks (8 at a time):

* self-assessment: the workflow worker is SIGKILLed (1 of 3); NATS is SIGKILLed and started
  again on its store;
* manager review: the reviews service is SIGKILLed and started again; the Temporal server
  is SIGKILLed and started again on its SQLite file;
* pay review and acknowledgement: the workflow worker is SIGKILLed (2 and 3 of 3).

Each person keeps submitting until the API says their task is done (what a client does with
a dropped connection or a 503). At the end every task exists and was completed exactly once,
every event on every stream was applied exactly once by each consumer that subscribes to it
(``event_inbox`` rows against the stream), no outbox row is left unsent and every outbox row
is on its stream once, and nothing went to a dead-letter subject. ``pytest -s`` prints the
timeline and the counts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import nats
import pytest
from nats.js.errors import NotFoundError
from sqlalchemy import select

from notifications.consumers import subscriptions as notification_subscriptions
from notifications.models import InboxEvent as NotificationsInbox
from notifications.service import NotificationService
from notifications.settings import NotificationSettings
from shared.database import create_engine, create_sessionmaker, utcnow
from shared.events import CloudEvent, stream_name
from shared.events.consumer import Subscription
from shared.events.outbox import InboxMixin
from shared.events.trust import DEAD_LETTER_STREAM
from shared.service import ServiceDefinition
from shared.settings import SERVICES, ServiceName
from tests.chaos.conftest import Stack
from tests.conftest import TokenFactory
from tests.cycles.support import TASK_CREATED, Org, expected_task_ids, inbox_counts
from tests.support.waiting import wait_until

# Minutes, not seconds: 200 people through four phases; 3 to 10 minutes on a shared 2-core machine.
pytestmark = [pytest.mark.chaos, pytest.mark.timeout(1200)]

logger = logging.getLogger(__name__)

REPORTS = 199  # + their manager: 200 participants
PARTICIPANTS = REPORTS + 1
STEPS = ("self_assessment", "manager_review", "pay_review", "acknowledgement")
TASK_COMPLETED = "meritloop.reviews.task.completed"
CONCURRENT_SUBMITS = 8
Action = Callable[[], Awaitable[None]]


def definition(service: ServiceName) -> ServiceDefinition:
    import importlib

    found: ServiceDefinition = importlib.import_module(f"services.{service}.app").DEFINITION
    return found


@dataclass
class Record:
    """What happened, for the assertions and the report."""

    started: float = field(default_factory=time.monotonic)
    statuses: Counter[str] = field(default_factory=Counter)
    actions: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        line = f"{time.monotonic() - self.started:7.1f}s {text}"
        self.actions.append(line)
        logger.warning("chaos: %s", line)


async def submit_until_done(org: Org, task: dict[str, Any], record: Record, timeout: float = 240.0) -> None:
    """What a person's browser does: submit until the API says the task is done.

    A dropped connection (the service was killed) or a 503 (Temporal or the worker not back
    yet) is tried again; 409 ``task_done`` means an earlier try got through.
    """
    deadline = time.monotonic() + timeout
    while True:
        assert time.monotonic() < deadline, f"{task['id']} not submitted in {timeout}s ({record.statuses})"
        try:
            response = await org.submit(task)
        except httpx.TransportError as error:
            record.statuses[type(error).__name__] += 1
            await asyncio.sleep(0.5)
            continue
        reason = response.json().get("reason") if response.status_code == 409 else None
        record.statuses[f"{response.status_code}{f' {reason}' if reason else ''}"] += 1
        if response.status_code == 200 or reason == "task_done":
            return
        assert response.status_code in (502, 503, 504), response.text
        await asyncio.sleep(0.5)


async def tasks_of(org: Org, cycle: str, kind: str, timeout: float = 180.0) -> list[dict[str, Any]]:
    return await org.wait_tasks(cycle, kind, PARTICIPANTS, timeout=timeout)


async def phase(org: Org, cycle: str, kind: str, record: Record, chaos: Sequence[tuple[float, Action]]) -> None:
    """Everyone submits their ``kind`` task, CONCURRENT_SUBMITS at a time; ``chaos`` strikes at those fractions."""
    tasks = await tasks_of(org, cycle, kind)
    record.note(f"{kind}: {len(tasks)} tasks open")
    done = 0
    gate = asyncio.Semaphore(CONCURRENT_SUBMITS)

    async def one(task: dict[str, Any]) -> None:
        nonlocal done
        async with gate:
            await submit_until_done(org, task, record)
        done += 1

    async def strike() -> None:
        for fraction, action in chaos:

            def reached(at: float = fraction * len(tasks)) -> bool:
                return done >= at

            await wait_until(reached, timeout=240, interval=0.05, message=f"{fraction:.0%} of {kind} submitted")
            await action()

    await asyncio.gather(strike(), *(one(task) for task in tasks))
    record.note(f"{kind}: all {len(tasks)} submitted")


# --- reading the bus and the databases ---------------------------------------------------------


def matches(subject: str, pattern: str) -> bool:
    """NATS subject matching: ``*`` one token, ``>`` the rest."""
    tokens, wanted = subject.split("."), pattern.split(".")
    for index, token in enumerate(wanted):
        if token == ">":
            return len(tokens) > index
        if index >= len(tokens) or (token != "*" and token != tokens[index]):
            return False
    return len(tokens) == len(wanted)


async def stream(url: str, name: str) -> list[tuple[str, CloudEvent]]:
    """(subject, envelope) of every message on stream ``name``, in order; [] when it does not exist."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        try:
            info = await js.stream_info(name)
        except NotFoundError:
            return []
        found: list[tuple[str, CloudEvent]] = []
        if info.state.messages == 0:
            return found
        for sequence in range(info.state.first_seq, info.state.last_seq + 1):
            message = await js.get_msg(name, sequence)
            assert message.data is not None
            assert message.subject is not None
            found.append((message.subject, CloudEvent.from_bytes(message.data)))
        return found
    finally:
        await nc.close()


async def outbox_state(stack: Stack, service: ServiceName) -> tuple[list[str], list[str]]:
    """(ids of every outbox row, ids of rows not yet sent) in ``service``'s database."""
    model = definition(service).outbox_model
    engine = create_engine(stack.settings.database_url(service))
    try:
        async with create_sessionmaker(engine)() as session:
            rows = (await session.execute(select(model.id, model.published_at))).all()
    finally:
        await engine.dispose()
    return [str(row.id) for row in rows], [str(row.id) for row in rows if row.published_at is None]


async def inbox_ids(url: str, model: type[InboxMixin], durable: str) -> list[str]:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            rows = (await session.execute(select(model.event_id).where(model.consumer == durable))).scalars().all()
    finally:
        await engine.dispose()
    return [str(event_id) for event_id in rows]


def consumers(stack: Stack) -> list[tuple[str, type[InboxMixin], Subscription]]:
    """(database URL, inbox model, subscription) of every durable consumer the stack runs."""
    found = [
        (stack.settings.database_url(service), definition(service).inbox_model, subscription)
        for service in SERVICES
        for subscription in definition(service).subscriptions
    ]
    notifications = NotificationService(NotificationSettings(), utcnow)
    found += [(stack.notifications_url, NotificationsInbox, sub) for sub in notification_subscriptions(notifications)]
    return found


async def check_outboxes(stack: Stack, record: Record) -> dict[str, list[tuple[str, CloudEvent]]]:
    """No row unsent, every row on its stream exactly once, nothing on a stream that no row wrote."""
    streams: dict[str, list[tuple[str, CloudEvent]]] = {}
    for service in SERVICES:

        async def drained(svc: ServiceName = service) -> tuple[list[str]] | None:
            rows, unsent = await outbox_state(stack, svc)
            return None if unsent else (rows,)  # a tuple: an empty outbox is drained too

        (rows,) = await wait_until(drained, timeout=60, interval=0.5, message=f"{service}'s outbox drained")
        events = await stream(stack.nats.admin_url, stream_name(service))
        on_stream = Counter(str(event.id) for _, event in events)
        duplicates = {event_id: n for event_id, n in on_stream.items() if n > 1}
        assert not duplicates, f"{service}: events on the stream more than once: {duplicates}"
        assert set(on_stream) == set(rows), (
            f"{service}: outbox rows not on the stream {sorted(set(rows) - set(on_stream))[:5]}, "
            f"stream events without a row {sorted(set(on_stream) - set(rows))[:5]}"
        )
        record.note(f"{service}: {len(rows)} outbox rows, all sent, each once on {stream_name(service)}")
        streams[stream_name(service)] = events
    return streams


async def check_inboxes(stack: Stack, streams: dict[str, list[tuple[str, CloudEvent]]], record: Record) -> int:
    """Each consumer applied each event of its subjects exactly once (its inbox rows), no other."""
    checked = 0
    for url, inbox, subscription in consumers(stack):
        wanted = Counter(
            str(event.id)
            for subject, event in streams[subscription.stream]
            if any(matches(subject, pattern) for pattern in subscription.subjects)
        )
        assert all(count == 1 for count in wanted.values())

        async def caught_up(
            url: str = url,
            inbox: type[InboxMixin] = inbox,
            durable: str = subscription.durable,
            want: frozenset[str] = frozenset(wanted),
        ) -> tuple[list[str]] | None:
            ids = await inbox_ids(url, inbox, durable)
            return (ids,) if set(ids) >= want else None

        (ids,) = await wait_until(caught_up, timeout=90, interval=0.5, message=f"{subscription.durable} caught up")
        applied = Counter(ids)
        assert applied == wanted, (
            f"{subscription.durable}: applied twice {[i for i, n in applied.items() if n > 1][:5]}, "
            f"applied but never published {sorted(set(applied) - set(wanted))[:5]}"
        )
        record.note(f"{subscription.durable}: {sum(applied.values())} events applied, each once")
        checked += 1
    dead = await stream(stack.nats.admin_url, DEAD_LETTER_STREAM)
    assert dead == [], [(subject, event.type) for subject, event in dead]
    return checked


# --- the test ----------------------------------------------------------------------------------


async def test_review_cycle_survives_restarts_without_loss(stack: Stack, auth: TokenFactory) -> None:
    record = Record()
    services = stack.services

    async def kill_worker() -> None:
        assert stack.worker.alive, "the workflow worker died on its own"
        stack.worker.kill()
        record.note(f"workflow worker SIGKILLed ({stack.worker.kills} of 3)")
        await asyncio.sleep(2.0)  # submits meanwhile find no worker to answer their Update
        await stack.worker.start()
        record.note("workflow worker back")

    async def restart_nats() -> None:
        await asyncio.to_thread(stack.nats.restart, hard=True, down_for=2.0)
        record.note("NATS SIGKILLed and started again (same JetStream store)")

    async def restart_reviews() -> None:
        await services["reviews"].restart(hard=True)
        record.note("reviews service SIGKILLed and started again")

    async def restart_temporal() -> None:
        await asyncio.to_thread(stack.restart_temporal)
        record.note("Temporal server SIGKILLed and started again (same SQLite store)")

    async with (
        httpx.AsyncClient(base_url=services["reviews"].url, timeout=60) as reviews,
        httpx.AsyncClient(base_url=services["rewards"].url, timeout=60) as rewards,
    ):
        org = await Org(reviews, rewards, auth).build(reports=REPORTS)
        record.note(f"organisation of {len(org.people)} participants, pay data imported")
        cycle = await org.launch()
        record.note("cycle launched")

        await phase(org, cycle, "self_assessment", record, [(0.2, kill_worker), (0.6, restart_nats)])
        await phase(org, cycle, "manager_review", record, [(0.3, restart_reviews), (0.7, restart_temporal)])
        await org.calibrate(cycle)
        record.note("calibration finalized")
        await phase(org, cycle, "pay_review", record, [(0.5, kill_worker)])
        for manager in {*org.people.values()}:
            submitted = await rewards.post(
                f"/cycles/{cycle}/proposals/submit", params={"manager": "me"}, headers=org.token(manager)
            )
            assert submitted.status_code == 200, submitted.text
        approved = await rewards.post(f"/cycles/{cycle}/org-units/Eng/approve", headers=org.hr)
        assert approved.status_code == 200, approved.text
        record.note("pay approved")
        await phase(org, cycle, "acknowledgement", record, [(0.5, kill_worker)])
        closed = await org.wait_cycle(cycle, "closed", timeout=180)
        assert closed["phase"] == "closed"
        record.note("cycle closed")

        # --- every task completed exactly once ---------------------------------------------------
        expected = expected_task_ids(cycle, org.people, STEPS)
        assert len(expected) == 4 * PARTICIPANTS
        counts = await inbox_counts(org, cycle)
        assert counts == {step: {"done": PARTICIPANTS} for step in STEPS}, counts

    assert stack.worker.kills == 3
    # Nothing died on its own: each process the test did not kill outlived every restart.
    for process in (*services.values(), stack.notifications):
        assert process.process is not None
        assert process.process.poll() is None, f"{process.name} exited\n{process.log_tail()}"
    assert stack.worker.alive
    assert stack.nats.restarts == 1
    assert stack.temporal_restarts == 1
    assert services["reviews"].restarts == 1

    streams = await check_outboxes(stack, record)
    reviews_events = [event for _, event in streams[stream_name("reviews")]]
    created = Counter(str(e.data["task_id"]) for e in reviews_events if e.type == TASK_CREATED)
    completed = Counter(str(e.data["task_id"]) for e in reviews_events if e.type == TASK_COMPLETED)
    assert created == dict.fromkeys(expected, 1), "task.created is not once per task"
    assert completed == dict.fromkeys(expected, 1), "task.completed is not once per task"
    checked = await check_inboxes(stack, streams, record)
    record.note(f"{checked} consumers checked; submit answers {dict(record.statuses)}")
    print("\n".join(record.actions))  # the figures docs/operations.md quotes come from here (pytest -s)
