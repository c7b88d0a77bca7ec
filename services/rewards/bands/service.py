"""Pay band rules and the events each change publishes."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.rewards.bands.repository import PayBandRepository
from services.rewards.bands.schemas import PayBandCreate
from services.rewards.events import outbox, pay_band_event_data
from services.rewards.models import PayBand
from shared.errors import Conflict, ValidationFailed


class PayBandService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.bands = PayBandRepository.from_session(session)

    async def create(self, data: PayBandCreate) -> PayBand:
        if data.midpoint < data.minimum:
            raise ValidationFailed.field("midpoint", "must not be below minimum")
        if data.maximum < data.midpoint:
            raise ValidationFailed.field("maximum", "must not be below midpoint")
        duplicate = Conflict(f"A pay band for grade {data.grade!r} in {data.currency} already exists.", field="grade")
        if await self.bands.get_by_grade(data.grade, data.currency) is not None:
            raise duplicate
        try:
            band = await self.bands.add(
                PayBand(
                    grade=data.grade,
                    currency=data.currency,
                    minimum=data.minimum,
                    midpoint=data.midpoint,
                    maximum=data.maximum,
                )
            )
        except IntegrityError:
            # Another request created the same band between our check and this insert.
            raise duplicate from None
        outbox.add(self.session, "pay-band", "created", pay_band_event_data(band), subject=str(band.id))
        return band
