"""What the feedback service consumes: person events (the people projection) and the reviews
service's cycle events, which open and close peer ratings (contract in ``shared.peer_ratings``)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.feedback.checkins.consumers import people_subscription
from services.feedback.crypto import KeyProvider
from services.feedback.keyring import Keyring, provider_from_settings
from services.feedback.service import PeerRatingService
from services.feedback.upward import cycles as upward_cycles
from shared.events import CloudEvent, Subscription
from shared.peer_ratings import CYCLE_CANCELLED, CYCLE_LAUNCHED, CYCLE_PHASE_OPENED, CYCLES_STREAM
from shared.settings import Settings, get_settings

# Peer ratings are open while the cycle is launched or in self-assessment; any later phase closes them.
COLLECTING_PHASES = frozenset({"self_assessment"})


class CycleEvents:
    """The cycle consumer's handler. Closing opens the cycle's sealed ratings once, so it needs the
    key file (and k) of the app it runs in; without settings, the environment's, on first use."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings
        self._keys: KeyProvider | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = get_settings()
        return self._settings

    def keys(self) -> KeyProvider:
        if self._keys is None:
            self._keys = provider_from_settings(self.settings)
        return self._keys

    async def __call__(self, session: AsyncSession, event: CloudEvent) -> None:
        cycle_id = uuid.UUID(str(event.data["cycle_id"]))
        if event.type != CYCLE_CANCELLED and (
            event.type == CYCLE_LAUNCHED or event.data.get("phase") in COLLECTING_PHASES
        ):
            await PeerRatingService(session).open(cycle_id)
            return
        ratings = PeerRatingService(session, Keyring(session, self.keys()))
        if event.type == CYCLE_CANCELLED:
            await ratings.close(cycle_id, cancelled=True)
        else:
            await ratings.close(cycle_id, min_raters=self.settings.feedback_peer_min_raters)


def subscriptions_for(settings: Settings | None) -> tuple[Subscription, ...]:
    cycles = Subscription(
        durable="feedback-peer-cycles",
        stream=CYCLES_STREAM,
        subjects=(CYCLE_LAUNCHED, CYCLE_PHASE_OPENED, CYCLE_CANCELLED),
        handler=CycleEvents(settings),
    )
    # The people consumer also moves 1:1 check-in series on (leavers, new managers).
    # Upward feedback asked for by a cycle follows the same events on a durable of its own.
    return (people_subscription(), cycles, upward_cycles.cycles_subscription)


# What the service subscribes to; ``app.create`` binds the handlers to the app's own settings.
subscriptions: tuple[Subscription, ...] = subscriptions_for(None)
