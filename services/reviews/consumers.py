"""What the reviews service consumes: review cycles follow leavers (from its own stream), goal
scores, peer aggregates and pay approvals (handlers in ``cycles/consumers.py``)."""

from __future__ import annotations

from services.reviews.cycles.consumers import cycle_subscriptions
from shared.events import Subscription

subscriptions: tuple[Subscription, ...] = cycle_subscriptions
