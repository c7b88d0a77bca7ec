"""The real ``rewards.request_proposals`` activity of the review-cycle workflow.

Pay proposals are made by the rewards service's consumer of ``rating.finalized`` (one per
participant, proposals/service.py). The activity only has to know when they are all in:
the reviews service publishes ``cycle.pay-approval-opened`` after every final rating of the
cycle (it is written when the cycle enters pay approval, after calibration published the
ratings, and the stream keeps that order), with an event id derived from the cycle id. Once
the rewards consumer has handled that event (its inbox row exists), the proposals are there
and the activity answers the organisation units HR approves. Until then it fails with a
retryable error and Temporal retries it.

Contract gap (see the report): ``RequestProposalsInput`` carries no expected count, so a
rating event whose handling failed and was retried after pay-approval-opened could be
missed. Nothing is written here, so the activity is trivially idempotent.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from services.rewards.approvals.activities import ApprovalActivities
from services.rewards.consumers import review_events_subscription
from services.rewards.models import InboxEvent
from services.rewards.proposals.repository import ProposalRepository
from shared.calibration import pay_approval_event_id
from shared.database import create_engine, create_sessionmaker
from shared.settings import Settings
from workflows.client import serving_activities
from workflows.models import ProposalOrgUnits, RequestProposalsInput

logger = logging.getLogger(__name__)


class RewardsActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    @classmethod
    def from_settings(cls, settings: Settings) -> RewardsActivities:
        return cls(create_sessionmaker(create_engine(settings.database_url("rewards"))))

    def all(self) -> Sequence[Callable[..., Any]]:
        return (self.request_proposals, *ApprovalActivities(self.sessionmaker).all())

    @activity.defn(name="rewards.request_proposals")
    async def request_proposals(self, value: RequestProposalsInput) -> ProposalOrgUnits:
        try:
            cycle_id = uuid.UUID(value.cycle_id)
        except ValueError:
            raise ApplicationError("cycle_id is not an id", type="bad_input", non_retryable=True) from None
        async with self.sessionmaker() as session:
            seen = await session.scalar(
                select(InboxEvent.event_id).where(
                    InboxEvent.consumer == review_events_subscription.durable,
                    InboxEvent.event_id == pay_approval_event_id(cycle_id),
                )
            )
            if seen is None:
                # Expected while the ratings travel over the bus: one line, and a benign failure
                # the SDK logs without a traceback; the workflow's retry policy tries again.
                logger.info("cycle %s: final ratings not in rewards yet, attempt %d", cycle_id, activity.info().attempt)
                raise ApplicationError(
                    "the rewards service has not received the cycle's final ratings yet",
                    type="ratings_pending",
                    category=ApplicationErrorCategory.BENIGN,
                )
            units = await ProposalRepository.from_session(session).org_units(cycle_id)
        return ProposalOrgUnits(org_units=units)


def serve_activities(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> AbstractAsyncContextManager[None]:
    """The service's activity worker on its own task queue (ServiceDefinition.activities)."""
    return serving_activities(settings, settings.temporal_rewards_task_queue, RewardsActivities(sessionmaker).all())
