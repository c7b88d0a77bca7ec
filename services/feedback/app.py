"""Composition root of the feedback service (``uvicorn services.feedback.app:create``)."""

from __future__ import annotations

from dataclasses import replace

from fastapi import FastAPI

from services.feedback import draft_sources, endpoints
from services.feedback.checkins import endpoints as checkins
from services.feedback.consumers import subscriptions, subscriptions_for
from services.feedback.events import people
from services.feedback.models import Base, InboxEvent, OutboxEvent
from services.feedback.peer_reviews.activities import serve_activities
from services.feedback.peer_reviews.endpoints import peer_results_router, peer_reviews_router
from services.feedback.reminders import reminders_router
from services.feedback.upward.cycles import closing_router
from services.feedback.upward.endpoints import upward_router
from shared.attestation import signing_key
from shared.people import people_router
from shared.service import ServiceDefinition, create_app
from shared.settings import Settings, get_settings

DEFINITION = ServiceDefinition(
    name="feedback",
    title="Meritloop feedback",
    description="Praise, continuous feedback and one-on-ones.",
    routers=(
        endpoints.router,
        endpoints.peer_router,
        endpoints.values_router,
        endpoints.competencies_router,
        # Before feedback_router: /feedback/{item_id} would take /feedback/draft-sources for an id.
        draft_sources.router,
        endpoints.feedback_router,
        endpoints.requests_router,
        endpoints.privacy_router,
        people_router(people),
        reminders_router,
        checkins.router,
        checkins.feeds,
        checkins.templates,
        peer_reviews_router,
        peer_results_router,
        upward_router,
        closing_router,
    ),
    outbox_model=OutboxEvent,
    inbox_model=InboxEvent,
    subscriptions=subscriptions,
    activities=serve_activities,
)
metadata = Base.metadata


def create(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # Refused at start in production with the development key, like a database URL left unset.
    key = signing_key(settings, draft_sources.ISSUER)
    # The cycle consumer closes peer ratings with this app's key file and k.
    app = create_app(replace(DEFINITION, subscriptions=subscriptions_for(settings)), settings)
    app.state.source_signing_key = key
    return app
