"""Composition root of the feedback service (``uvicorn services.feedback.app:create``)."""

from __future__ import annotations

from fastapi import FastAPI

from services.feedback import endpoints
from services.feedback.checkins import endpoints as checkins
from services.feedback.consumers import subscriptions
from services.feedback.events import people
from services.feedback.models import Base, InboxEvent, OutboxEvent
from services.feedback.peer_reviews.activities import serve_activities
from services.feedback.peer_reviews.endpoints import peer_results_router, peer_reviews_router
from services.feedback.reminders import reminders_router
from services.feedback.upward.cycles import closing_router
from services.feedback.upward.endpoints import upward_router
from shared.people import people_router
from shared.service import ServiceDefinition, create_app
from shared.settings import Settings

DEFINITION = ServiceDefinition(
    name="feedback",
    title="Meritloop feedback",
    description="Praise, continuous feedback and one-on-ones.",
    routers=(
        endpoints.router,
        endpoints.peer_router,
        endpoints.values_router,
        endpoints.feedback_router,
        endpoints.requests_router,
        endpoints.privacy_router,
        people_router(people),
        reminders_router,
        checkins.router,
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
    return create_app(DEFINITION, settings)
