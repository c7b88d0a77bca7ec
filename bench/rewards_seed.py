"""A rewards database as the rewards benchmarks need it, written in bulk and not timed: one pay
band, the people projection with their compensation records, and a pay cycle with its merit
matrix and bonus plan stored through the services that validate them."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.rewards.bonus.schemas import BonusPlanDefinition
from services.rewards.bonus.service import BonusService
from services.rewards.matrix.schemas import MeritMatrixWrite
from services.rewards.matrix.service import MeritMatrixService
from services.rewards.models import CompensationRecord, PayBand, PayCycle, Person
from shared.database import utcnow

# The bonus plan of the benchmarks: 10 % target, multiplied by rating band.
BONUS_MULTIPLIERS = [
    {"min": "1", "max": "3", "multiplier": "0.5"},
    {"min": "3", "max": "4", "multiplier": "1.0"},
    {"min": "4", "max": "5", "multiplier": "1.5"},
]


async def store_population(
    session: AsyncSession,
    ids: Sequence[uuid.UUID],
    records: Sequence[Mapping[str, Any]],
    *,
    departments: Sequence[str | None] | None = None,
    midpoint: float = 1.0,
) -> uuid.UUID:
    """Each person of ``ids`` active, in ``departments[i]``, with the compensation record
    ``records[i]`` (base salary, dates and attributes) on one band; the importer's id."""
    now, by, band_id = utcnow(), uuid.uuid4(), uuid.uuid4()
    band = {"id": band_id, "grade": "G", "currency": "EUR", "minimum": 0, "midpoint": midpoint}
    await session.execute(insert(PayBand), [{**band, "maximum": 10**9, "created_at": now}])
    await session.execute(
        insert(Person),
        [
            {
                "id": pid,
                "version": 1,
                "display_name": f"p{i}",
                "email": f"p{i}@x.io",
                "active": True,
                "synced_at": now,
                "manager_id": None,
                "department": None if departments is None else departments[i],
            }
            for i, pid in enumerate(ids)
        ],
    )
    common = {"pay_band_id": band_id, "currency": "EUR", "imported_by": by, "created_at": now}
    await session.execute(
        insert(CompensationRecord),
        [{"id": uuid.uuid4(), "person_id": pid, **common, **record} for pid, record in zip(ids, records, strict=True)],
    )
    return by


async def store_pay_cycle(
    session: AsyncSession,
    cycle_id: uuid.UUID,
    by: uuid.UUID,
    matrix: Mapping[str, Any],
    *,
    merit_pct: Decimal,
    bonus_pct: Decimal,
    period: tuple[date, date],
) -> None:
    """The cycle with its budgets, the company merit matrix and the bonus plan for ``period``."""
    session.add(PayCycle(id=cycle_id, budget_pct=merit_pct, bonus_budget_pct=bonus_pct))
    await session.flush()
    await MeritMatrixService(session).put(None, MeritMatrixWrite.model_validate(matrix), by)
    plan = {
        "default_target_pct": "10",
        "multipliers": BONUS_MULTIPLIERS,
        "period_start": str(period[0]),
        "period_end": str(period[1]),
    }
    await BonusService(session).put(cycle_id, BonusPlanDefinition.model_validate(plan), by)
