"""What the rewards service consumes: person events (the people projection) and, from the reviews
service, ``rating.finalized`` and ``cycle.pay-approval-opened`` (``shared.calibration``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from services.rewards.events import people
from services.rewards.proposals.service import ProposalService
from shared.calibration import PAY_APPROVAL_OPENED, RATING_FINALIZED, RATINGS_STREAM
from shared.events import CloudEvent, Subscription


async def on_review_event(session: AsyncSession, event: CloudEvent) -> None:
    service = ProposalService(session)
    with pay_data_errors(f"{event.type} {event.id}"):
        if event.type == RATING_FINALIZED:
            await service.apply_rating(event.data)
        elif event.type == PAY_APPROVAL_OPENED:
            await service.open_pay_approval(event.data)


async def on_review_events(session: AsyncSession, events: Sequence[CloudEvent]) -> None:
    """A run of final ratings becomes proposals together; anything else goes one by one."""
    if any(event.type != RATING_FINALIZED for event in events):
        for event in events:
            await on_review_event(session, event)
        return
    with pay_data_errors(f"{len(events)} {RATING_FINALIZED} events from {events[0].id}"):
        await ProposalService(session).apply_ratings([event.data for event in events])


@contextmanager
def pay_data_errors(handling: str) -> Iterator[None]:
    # A database error's text carries the statement's parameters (salaries); the consumer
    # logs the error and copies it into the dead-letter headers, so only its kind goes on.
    try:
        yield
    except SQLAlchemyError as exc:
        raise PayDataError(f"{type(exc).__name__} while handling {handling}") from None


class PayDataError(RuntimeError):
    """A database failure while handling an event, stripped of the statement's parameters."""


review_events_subscription = Subscription(
    durable="rewards-ratings",
    stream=RATINGS_STREAM,
    subjects=(RATING_FINALIZED, PAY_APPROVAL_OPENED),
    handler=on_review_event,
    batch_handler=on_review_events,
)

subscriptions: tuple[Subscription, ...] = (people.subscription("rewards"), review_events_subscription)
