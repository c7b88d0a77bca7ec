"""Composition of the notifications component (``uvicorn --factory notifications.app:create``).

Not a service of its own domain: no outbox (it publishes nothing), one database of its own,
the same bus, consumers, problem handlers and health checks as the services.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from notifications import devmail, endpoints
from notifications.consumers import subscriptions
from notifications.dispatcher import Dispatcher, Send, smtp_sender
from notifications.service import Clock, NotificationService
from notifications.settings import NotificationSettings, get_notification_settings
from shared.auth import TokenVerifier
from shared.database import create_engine, create_sessionmaker, utcnow
from shared.errors import install_problem_handlers
from shared.events import ConsumerPolicy, EventBus, EventConsumer, dead_letter_stream
from shared.health import router as health_router
from shared.metrics import install_metrics
from shared.settings import Environment
from shared.telemetry import configure_logging, configure_tracing, instrument_app

NAME = "notifications"


def create(settings: NotificationSettings | None = None, *, clock: Clock = utcnow, send: Send | None = None) -> FastAPI:
    settings = settings or get_notification_settings()
    service = NotificationService(settings, clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        bus = EventBus.from_settings(settings, name=f"meritloop-{NAME}")
        # Only the dead-letter stream: the bus lets a component create no one else's stream, and
        # the consumers wait for the reviews stream to appear.
        bus.declare_stream(dead_letter_stream(settings.stream_replicas))
        sessionmaker = app.state.sessionmaker
        policy = ConsumerPolicy(
            max_deliver=settings.consumer_max_deliver,
            backoff=settings.consumer_backoff,
            ack_wait=settings.consumer_ack_wait,
        )
        from notifications.models import InboxEvent

        consumers = [
            EventConsumer(bus, sessionmaker, InboxEvent, subscription, policy)
            for subscription in subscriptions(service)
        ]
        dispatcher = Dispatcher(service, sessionmaker, send or smtp_sender(settings))
        dispatcher.watch_commits()
        app.state.bus, app.state.consumers, app.state.dispatcher = bus, consumers, dispatcher
        bus.start()
        for consumer in consumers:
            consumer.start()
        dispatcher.start()
        try:
            yield
        finally:
            await dispatcher.stop()
            for consumer in consumers:
                await consumer.stop()
            await bus.close()
            await app.state.engine.dispose()

    app = FastAPI(
        title="Meritloop notifications",
        description="E-mail about review tasks, reminders and escalations; each person's notification settings.",
        version="0.1.0",
        lifespan=lifespan,
    )
    configure_logging(settings.log_level)
    configure_tracing(f"meritloop-{NAME}", settings)
    engine = create_engine(settings.notifications_url, echo=settings.database_echo)
    app.state.settings = settings
    app.state.service = NAME
    app.state.notifications = service
    app.state.engine = engine
    app.state.sessionmaker = create_sessionmaker(engine)
    app.state.token_verifier = TokenVerifier(settings)
    install_problem_handlers(app)
    instrument_app(app, engine)
    # HTTP and consumer metrics as for the services, and the mails (notifications/dispatcher.py);
    # no outbox: it publishes nothing.
    install_metrics(app, NAME, None)
    app.include_router(health_router)
    app.include_router(endpoints.router)
    # Development only: the page has no sign-in, and its button sends every waiting digest.
    if settings.environment is Environment.development:
        app.include_router(devmail.router)
    return app
