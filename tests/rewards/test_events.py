"""The rewards consumer never lets a database error's parameters (salaries) travel on."""

from __future__ import annotations

import traceback
import uuid
from typing import Any, cast

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.rewards.consumers import PayDataError, on_review_event
from services.rewards.proposals.service import ProposalService
from shared.calibration import RATING_FINALIZED
from shared.events import CloudEvent


async def test_a_database_error_is_stripped_of_its_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    async def failing(_self: ProposalService, _payload: dict[str, Any]) -> None:
        raise IntegrityError("INSERT INTO pay_proposals ...", {"current_salary": "48123.45"}, Exception("duplicate"))

    monkeypatch.setattr(ProposalService, "apply_rating", failing)
    event = CloudEvent(source="/meritloop/reviews", type=RATING_FINALIZED, data={"cycle_id": str(uuid.uuid4())})
    with pytest.raises(PayDataError) as raised:
        await on_review_event(cast(AsyncSession, object()), event)
    shown = "".join(traceback.format_exception(raised.value))
    assert "48123.45" not in shown
    assert "IntegrityError" in str(raised.value)
    assert str(event.id) in str(raised.value)
