"""Praise rules and the events each change publishes."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.feedback.events import outbox, praise_event_data
from services.feedback.models import Praise, PraiseReceiver
from services.feedback.repository import PraiseRepository
from services.feedback.schemas import PraiseCreate
from shared.auth import Principal
from shared.errors import ValidationFailed


class PraiseService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.praise = PraiseRepository.from_session(session)

    async def give(self, data: PraiseCreate, principal: Principal) -> Praise:
        # Sorted and unique, so the answer to this request matches every later read.
        receiver_ids = sorted(set(data.receiver_ids))
        if receiver_ids == [principal.person_id]:
            raise ValidationFailed.field("receiver_ids", "praise needs someone other than yourself")
        praise = await self.praise.add(
            Praise(
                giver_id=principal.person_id,
                message=data.message,
                company_value=data.company_value,
                receivers=[PraiseReceiver(person_id=person_id) for person_id in receiver_ids],
            )
        )
        outbox.add(self.session, "praise", "given", praise_event_data(praise), subject=str(praise.id))
        return praise
