"""What the reviews service consumes: review cycles follow leavers (from its own stream), goal
scores, peer aggregates and pay approvals (handlers in ``cycles/consumers.py``); templates follow
HR's competencies and company values (``templates/consumers.py``)."""

from __future__ import annotations

from services.reviews.cycles.consumers import cycle_subscriptions
from services.reviews.templates.consumers import template_subscriptions
from shared.events import Subscription

subscriptions: tuple[Subscription, ...] = cycle_subscriptions + template_subscriptions
