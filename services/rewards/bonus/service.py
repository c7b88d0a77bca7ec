"""Bonus plans per cycle and the bonus of one proposal; per-unit budget overrides.

A proposal's bonus is computed from the plan and the person's compensation record when the
proposal is (re)computed; no amount is logged or published.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from services.rewards import rules
from services.rewards.bonus.repository import BonusRepository
from services.rewards.bonus.schemas import BonusPlanDefinition
from services.rewards.models import BonusPlan, BudgetOverride, PayProposal
from shared.errors import ValidationFailed

PoolKind = Literal["merit", "bonus"]

BONUS_FIELDS = (
    "bonus_target_pct",
    "bonus_multiplier",
    "bonus_company_factor",
    "bonus_proration",
    "bonus_computed",
    "bonus_amount",
    "bonus_reason",
)


def check_plan(plan: BonusPlanDefinition) -> None:
    errors: list[dict[str, str]] = []
    if plan.period_end < plan.period_start:
        errors.append({"field": "period_end", "message": "must not be before period_start"})
    for index, row in enumerate(plan.multipliers):
        if row.max <= row.min:
            errors.append({"field": f"multipliers[{index}].max", "message": "must be greater than min"})
        if index and row.min != plan.multipliers[index - 1].max:
            errors.append({"field": f"multipliers[{index}].min", "message": f"must equal multipliers[{index - 1}].max"})
    if errors:
        raise ValidationFailed("The bonus plan is inconsistent: " + ", ".join(e["field"] for e in errors), errors)


def override_pct(override: BudgetOverride | None, kind: PoolKind) -> Decimal | None:
    """The unit's own percentage for the pool (None: the cycle's applies)."""
    if override is None:
        return None
    value = override.merit_pct if kind == "merit" else override.bonus_pct
    return None if value is None else Decimal(value)


def override_amounts(override: BudgetOverride | None, kind: PoolKind) -> dict[str, Decimal]:
    """The unit's fixed pools by currency (none: the percentage applies in every currency)."""
    if override is None:
        return {}
    stored = override.merit_amounts if kind == "merit" else override.bonus_amounts
    return {currency: Decimal(amount) for currency, amount in sorted((stored or {}).items())}


def stored_amounts(amounts: Mapping[str, Decimal] | None) -> dict[str, str] | None:
    if not amounts:
        return None
    return {currency: str(rules.half_up(amount, rules.CENT)) for currency, amount in sorted(amounts.items())}


def plan_of(stored: BonusPlan) -> BonusPlanDefinition:
    return BonusPlanDefinition.model_validate(stored.definition)


def apply_bonus(proposal: PayProposal, plan: BonusPlanDefinition | None, hire_date: date | None) -> None:
    """Fill the bonus inputs and amount of a proposal with a complete salary snapshot."""
    for name in BONUS_FIELDS:
        setattr(proposal, name, None)
    if plan is None or proposal.current_salary is None:
        return
    target = plan.targets.get(proposal.job_level or "", plan.default_target_pct)
    multiplier = rules.multiplier_for(
        [rules.MultiplierRow(row.min, row.max, row.multiplier) for row in plan.multipliers], proposal.rating
    )
    if target is None or multiplier is None:
        return  # no target for this level, or a rating the plan does not cover: no bonus
    prorated = rules.proration(hire_date, plan.period_start, plan.period_end)
    proposal.bonus_target_pct = target
    proposal.bonus_multiplier = multiplier
    proposal.bonus_company_factor = plan.company_factor
    proposal.bonus_proration = prorated
    proposal.bonus_computed = rules.bonus(proposal.current_salary, target, multiplier, plan.company_factor, prorated)
    proposal.bonus_amount = proposal.bonus_computed


def check_bonus(proposal: PayProposal, plan: BonusPlanDefinition | None, amount: Decimal, reason: str | None) -> None:
    """A manager's bonus amount: only with a plan, within its deviation limit, and with a reason."""
    if plan is None or proposal.bonus_computed is None:
        raise ValidationFailed.field("bonus_amount", "this proposal has no bonus under the cycle's plan")
    if amount == proposal.bonus_computed:
        return
    if not rules.deviation_allowed(proposal.bonus_computed, amount, plan.max_deviation_pct):
        raise ValidationFailed.field(
            "bonus_amount", f"may differ from the computed bonus by at most {plan.max_deviation_pct} %"
        )
    if reason is None:
        raise ValidationFailed.field("bonus_reason", "required when the bonus differs from the computed one")


class BonusService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.bonuses = BonusRepository.from_session(session)

    async def plan(self, cycle_id: uuid.UUID) -> BonusPlanDefinition | None:
        stored = await self.bonuses.plan(cycle_id)
        return None if stored is None else plan_of(stored)

    async def put(self, cycle_id: uuid.UUID, plan: BonusPlanDefinition, by: uuid.UUID) -> tuple[BonusPlan, bool]:
        check_plan(plan)
        stored = await self.bonuses.plan(cycle_id, for_update=True)
        document = plan.model_dump(mode="json")
        if stored is None:
            stored = BonusPlan(cycle_id=cycle_id, definition=document, revision=1, updated_by=by)
            await self.bonuses.add(stored)
            return stored, True
        stored.definition, stored.revision, stored.updated_by = document, stored.revision + 1, by
        await self.session.flush()
        return stored, False
