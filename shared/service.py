"""The app factory every service uses: one place wires database, bus, relay and consumers."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

from fastapi import APIRouter, FastAPI
from sqlalchemy import MetaData, Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.auth import PersonStatus, TokenVerifier
from shared.database import create_engine, create_sessionmaker
from shared.errors import install_problem_handlers
from shared.events import (
    ConsumerPolicy,
    EventBus,
    EventConsumer,
    InboxMixin,
    OutboxMixin,
    OutboxRelay,
    Subscription,
    dead_letter_stream,
    service_stream,
)
from shared.limits import BodyLimitMiddleware
from shared.metrics import install_metrics
from shared.openapi import install_openapi
from shared.settings import ServiceName, Settings, get_settings
from shared.telemetry import configure_logging, configure_tracing, instrument_app

# Runs the service's Temporal activities for as long as the block lasts, on the service's own
# sessionmaker. The service supplies it (shared knows nothing of Temporal's set-up).
ActivityRunner = Callable[[async_sessionmaker[AsyncSession], Settings], AbstractAsyncContextManager[None]]


@dataclass(frozen=True)
class ServiceDefinition:
    name: ServiceName
    title: str
    description: str
    routers: Sequence[APIRouter]
    outbox_model: type[OutboxMixin]
    inbox_model: type[InboxMixin]
    subscriptions: Sequence[Subscription] = field(default_factory=tuple)
    # The activities live with the data they touch: in the service's process unless
    # ``settings.temporal_activity_worker`` is off (then ``meritloop activities <name>`` runs them).
    activities: ActivityRunner | None = None
    version: str = "0.1.0"


def create_app(definition: ServiceDefinition, settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    name = definition.name

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        bus = EventBus.from_settings(settings, name=f"meritloop-{name}")
        bus.declare_stream(service_stream(name, settings.stream_replicas))
        bus.declare_stream(dead_letter_stream(settings.stream_replicas))
        sessionmaker = app.state.sessionmaker
        relay = OutboxRelay(
            bus,
            sessionmaker,
            definition.outbox_model,
            batch_size=settings.outbox_batch_size,
            poll_interval=settings.outbox_poll_interval,
        )
        relay.watch_commits()
        policy = ConsumerPolicy(
            max_deliver=settings.consumer_max_deliver,
            backoff=settings.consumer_backoff,
            ack_wait=settings.consumer_ack_wait,
        )
        consumers = [
            EventConsumer(bus, sessionmaker, definition.inbox_model, subscription, policy)
            for subscription in definition.subscriptions
        ]
        app.state.bus, app.state.relay, app.state.consumers = bus, relay, consumers
        bus.start()
        relay.start()
        for consumer in consumers:
            consumer.start()
        try:
            async with AsyncExitStack() as stack:
                if definition.activities is not None and settings.temporal_activity_worker:
                    await stack.enter_async_context(definition.activities(sessionmaker, settings))
                yield
        finally:
            for consumer in consumers:
                await consumer.stop()
            await relay.stop()
            await bus.close()
            await app.state.engine.dispose()

    app = FastAPI(
        title=definition.title,
        description=definition.description,
        version=definition.version,
        lifespan=lifespan,
    )
    configure_logging(settings.log_level)
    configure_tracing(f"meritloop-{name}", settings)
    engine = create_engine(settings.database_url(name), echo=settings.database_echo)
    app.state.settings = settings
    app.state.service = name
    app.state.engine = engine
    app.state.sessionmaker = create_sessionmaker(engine)
    app.state.token_verifier = TokenVerifier(settings)
    people = _people_table(definition)
    app.state.person_status = None if people is None else PersonStatus(engine, people)
    install_problem_handlers(app)
    install_openapi(app, body_statuses=(400, 413))
    instrument_app(app, engine)
    install_metrics(app, name, definition.outbox_model)
    # Added last, so it runs first: no other layer sees a body beyond the route's limit.
    app.add_middleware(
        BodyLimitMiddleware,
        openapi=lambda: app.openapi(),
        max_json_bytes=settings.max_json_body_bytes,
        max_upload_bytes=settings.max_import_body_bytes,
        max_json_depth=settings.max_json_depth,
    )

    from shared.health import router as health_router

    app.include_router(health_router)
    for router in definition.routers:
        app.include_router(router)
    return app


def _people_table(definition: ServiceDefinition) -> Table | None:
    """The service's ``people`` table (the directory in reviews, the projection elsewhere), if it has one."""
    metadata = getattr(definition.outbox_model, "metadata", None)
    table = metadata.tables.get("people") if isinstance(metadata, MetaData) else None
    if table is None or "active" not in table.c or "id" not in table.c:
        return None
    return table


async def run_activities(definition: ServiceDefinition, settings: Settings) -> None:
    """The service's activity worker as a process of its own, until SIGINT or SIGTERM."""
    if definition.activities is None:
        raise ValueError(f"the {definition.name} service has no Temporal activities")
    configure_logging(settings.log_level)
    configure_tracing(f"meritloop-{definition.name}-activities", settings)
    engine = create_engine(settings.database_url(definition.name), echo=settings.database_echo)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with definition.activities(create_sessionmaker(engine), settings):
            await stop.wait()
    finally:
        await engine.dispose()
