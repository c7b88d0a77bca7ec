"""The feedback.* activities of the review workflow (contracts: workflows/activities.py).

They run in the feedback service's own Temporal worker on ``temporal_feedback_task_queue``,
each in one transaction with its outbox events; both are idempotent by (cycle, person).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from services.feedback.crypto import KeyProvider
from services.feedback.keyring import Keyring, provider_from_settings
from services.feedback.peer_reviews.service import PeerReviewService
from shared.settings import Settings
from workflows.client import serving_activities
from workflows.models import OpenPeerReviewsInput, PeerReviewsReleased, ReleasePeerReviewsInput


class FeedbackActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.min_raters = settings.feedback_peer_min_raters
        self._keys: KeyProvider | None = None

    def keys(self) -> KeyProvider:
        """The KEK provider, on first use: only the release opens the round's tally key."""
        if self._keys is None:
            self._keys = provider_from_settings(self.settings)
        return self._keys

    def all(self) -> Sequence[Callable[..., Any]]:
        return (self.open_peer_reviews, self.release_peer_reviews)

    @activity.defn(name="feedback.open_peer_reviews")
    async def open_peer_reviews(self, value: OpenPeerReviewsInput) -> None:
        async with self.sessionmaker() as session, session.begin():
            await PeerReviewService(session, min_raters=self.min_raters).open_round(value)

    @activity.defn(name="feedback.release_peer_reviews")
    async def release_peer_reviews(self, value: ReleasePeerReviewsInput) -> PeerReviewsReleased:
        async with self.sessionmaker() as session, session.begin():
            keyring = Keyring(session, self.keys())
            released = await PeerReviewService(session, keyring, min_raters=self.min_raters).release(value)
        return PeerReviewsReleased(released=released)


def serve_activities(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> AbstractAsyncContextManager[None]:
    """The service's activity worker on its own task queue (ServiceDefinition.activities)."""
    return serving_activities(
        settings, settings.temporal_feedback_task_queue, FeedbackActivities(sessionmaker, settings).all()
    )
