"""Calibration's adverse impact and its live consequences for pay, from the ratings a session shows.

Reads only; nothing here writes an event or logs a value. Gender and pay never leave this
service: the reviews service (or the web app showing a session) posts ids and ratings, and
this service joins them with the records it holds.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from services.rewards import rules
from services.rewards.bonus.repository import BonusRepository
from services.rewards.bonus.schemas import BonusPlanDefinition
from services.rewards.bonus.service import BonusService, PoolKind, override_amounts, override_pct
from services.rewards.calibration_impact import stats
from services.rewards.calibration_impact.repository import ImpactRepository, Record, key_of
from services.rewards.calibration_impact.schemas import (
    AdjustmentImpactRead,
    AdverseImpactRead,
    AdverseImpactRequest,
    AttributeImpactRead,
    GroupRateRead,
    ImpactRead,
    ImpactRequest,
    PayGapImpactRead,
    SessionRating,
    UnitCurrencyImpactRead,
    UnitImpactRead,
)
from services.rewards.equity import stats as equity_stats
from services.rewards.equity.repository import PayColumns
from services.rewards.equity.service import adjusted_read, converted_columns, population_of
from services.rewards.exchange_rates.service import ExchangeRateService, conversion_read
from services.rewards.matrix.service import MeritMatrixService
from services.rewards.models import BudgetOverride
from services.rewards.policy.service import PolicyService
from services.rewards.proposals.repository import PayCycleRepository, ProposalRepository
from services.rewards.proposals.service import UNASSIGNED_UNIT
from services.rewards.rules import Matrix
from services.rewards.schemas import Attribute
from shared.database import utcnow
from shared.errors import NotFound, ValidationFailed

CENT = Decimal("0.01")
NONE = "(none)"


def _money(value: float) -> Decimal:
    return Decimal(repr(round(float(value), 2))).quantize(CENT, ROUND_HALF_UP)


def _pct(value: float | None, step: str = "0.01") -> Decimal | None:
    return None if value is None else Decimal(repr(value)).quantize(Decimal(step), ROUND_HALF_UP)


def check_ratings(scale_min: Decimal, scale_max: Decimal, ratings: Sequence[SessionRating]) -> None:
    """Each rating on the scale, each person once: a 422 naming the first field at fault."""
    if scale_min >= scale_max:
        raise ValidationFailed.field("scale_max", "must be greater than scale_min")
    seen: set[uuid.UUID] = set()
    for index, item in enumerate(ratings):
        if not scale_min <= item.rating <= scale_max:
            raise ValidationFailed.field(f"ratings[{index}].rating", "must lie on the scale (scale_min..scale_max)")
        previous = getattr(item, "previous_rating", None)
        if previous is not None and not scale_min <= previous <= scale_max:
            raise ValidationFailed.field(
                f"ratings[{index}].previous_rating", "must lie on the scale (scale_min..scale_max)"
            )
        if item.person_id in seen:
            raise ValidationFailed.field(f"ratings[{index}].person_id", "appears more than once")
        seen.add(item.person_id)


def attribute_value(record: Record | None, attribute: Attribute) -> str:
    value = None if record is None else getattr(record, attribute.value)
    if attribute is Attribute.gender:
        return value if value in ("female", "male", "other") else "undisclosed"
    return value or NONE


def matrix_arrays(matrix: Matrix) -> stats.MatrixArrays:
    return stats.MatrixArrays(
        bucket_mins=np.array([float(b.min) for b in matrix.buckets]),
        row_mins=np.array([float(r.min) for r in matrix.rows]),
        targets=np.array([[float(cell.target) for cell in row] for row in matrix.cells]),
    )


def bonus_arrays(plan: BonusPlanDefinition) -> stats.BonusArrays:
    return stats.BonusArrays(
        multiplier_mins=np.array([float(row.min) for row in plan.multipliers]),
        multiplier_max=float(plan.multipliers[-1].max),
        multipliers=np.array([float(row.multiplier) for row in plan.multipliers]),
        company_factor=float(plan.company_factor),
    )


def prorations(hire_dates: Sequence[Any], plan: BonusPlanDefinition) -> stats.FloatArray:
    """rules.proration for everyone at once: days employed in the period / its days, 4 decimals."""
    start = np.datetime64(plan.period_start, "D")
    end = np.datetime64(plan.period_end, "D")
    hired = np.array([None if h is None else str(h)[:10] for h in hire_dates], dtype="datetime64[D]")
    begins = np.where(np.isnat(hired) | (hired < start), start, hired)
    employed = np.maximum(0, (end - begins).astype(np.int64) + 1).astype(np.float64)
    days = float((end - start).astype(np.int64) + 1)
    return stats.half_up(employed / days, 0.0001)


class ImpactService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.repository = ImpactRepository.from_session(session)

    # --- adverse impact ----------------------------------------------------------------------

    async def adverse_impact(self, cycle_id: uuid.UUID, data: AdverseImpactRequest) -> AdverseImpactRead:
        policy = await PolicyService(self.session).current()
        if data.ratings is None:
            finals = await self.repository.final_ratings(cycle_id)
            if not finals:
                raise NotFound(f"No final rating of cycle {cycle_id} has reached the rewards service.")
            scales = {(low, high) for _, _, low, high in finals}
            if len(scales) > 1:
                raise ValidationFailed.field("ratings", "the cycle's final ratings use several scales: post them")
            scale_min, scale_max = scales.pop()
            pairs = [(person, rating) for person, rating, _, _ in finals]
            source = "final"
        else:
            if data.scale_min is None or data.scale_max is None:
                missing = "scale_min" if data.scale_min is None else "scale_max"
                raise ValidationFailed.field(missing, "required with ratings")
            scale_min, scale_max = data.scale_min, data.scale_max
            check_ratings(scale_min, scale_max, data.ratings)
            pairs = [(item.person_id, item.rating) for item in data.ratings]
            source = "posted"
        top_min = scale_max if data.top_min is None else data.top_min
        if not scale_min <= top_min <= scale_max:
            raise ValidationFailed.field("top_min", "must lie on the scale (scale_min..scale_max)")
        keys = [key_of(person) for person, _ in pairs]
        records = await self.repository.records(utcnow().date(), set(keys))
        top = [rating >= top_min for _, rating in pairs]
        attributes = []
        for attribute in dict.fromkeys(data.attributes or policy.impact_attributes):
            values = [attribute_value(records.get(key), attribute) for key in keys]
            found = stats.adverse_impact(attribute.value, values, top, policy.min_cell_size)
            attributes.append(
                AttributeImpactRead(
                    attribute=attribute,
                    reference=found.reference,
                    suppressed=found.suppressed,
                    groups=[
                        GroupRateRead(
                            value=g.value,
                            people=g.people,
                            top=g.top,
                            rate_pct=None if g.rate is None else _pct(g.rate * 100),
                            impact_ratio=_pct(g.impact_ratio, "0.0001"),
                            below_four_fifths=g.below_four_fifths,
                            p_value=g.p_value,
                            significant=g.significant,
                            adverse_impact=g.adverse_impact,
                            suppressed=g.suppressed,
                        )
                        for g in found.groups
                    ],
                )
            )
        return AdverseImpactRead(
            cycle_id=cycle_id,
            source=source,
            people=len(pairs),
            top_min=top_min,
            min_cell_size=policy.min_cell_size,
            alpha=stats.ALPHA,
            attributes=attributes,
        )

    # --- live consequences ---------------------------------------------------------------------

    async def impact(self, cycle_id: uuid.UUID, data: ImpactRequest) -> ImpactRead:
        check_ratings(data.scale_min, data.scale_max, data.ratings)
        today = utcnow().date()
        keys = [key_of(item.person_id) for item in data.ratings]
        records = await self.repository.records(today, set(keys))
        currencies = sorted({record.currency for record in records.values()})
        currency = data.currency
        converter: rules.Converter | None = None
        if data.reporting_currency is not None:
            paid = [c for c in currencies if currency is None or c == currency]
            converter = await ExchangeRateService(self.session).converter(data.reporting_currency, today, paid)
        elif currency is None:
            if len(currencies) > 1:
                raise ValidationFailed.field(
                    "currency",
                    "the people are paid in several currencies: name one, or convert them with reporting_currency",
                )
            currency = currencies[0] if currencies else None
        departments = await self.repository.departments() if any(r.org_unit is None for r in data.ratings) else {}
        units = [
            item.org_unit or departments.get(key) or UNASSIGNED_UNIT
            for item, key in zip(data.ratings, keys, strict=True)
        ]
        found_matrix = await MeritMatrixService(self.session).for_cycle(cycle_id)
        plan = await BonusService(self.session).plan(cycle_id)
        pay_cycle = await PayCycleRepository.from_session(self.session).get(cycle_id)
        overrides = {} if pay_cycle is None else await BonusRepository.from_session(self.session).overrides(cycle_id)
        policy = await PolicyService(self.session).current()
        controls = [control.value for control in policy.equity_controls]
        merit_pct, bonus_pct = (None, None) if pay_cycle is None else (pay_cycle.budget_pct, pay_cycle.bonus_budget_pct)
        cycle_pcts: dict[PoolKind, Decimal | None] = {
            "merit": merit_pct if data.merit_budget_pct is None else data.merit_budget_pct,
            "bonus": bonus_pct if data.bonus_budget_pct is None else data.bonus_budget_pct,
        }

        def pool_rule(unit: str, kind: PoolKind, paid_in: str) -> rules.PoolRule:
            override = overrides.get(unit)
            own = override_pct(override, kind)
            pct = cycle_pcts[kind] if own is None else own
            return rules.pool_rule(paid_in, pct, override_amounts(override, kind))

        shown = data.reporting_currency or currency
        # A unit's pools in each currency it may hold, and in the answer's (a unit nobody is priced in).
        paid_in = {*(currencies if currency is None else [currency]), shown or ""}
        pool_rules = {
            (unit, code): (pool_rule(unit, "merit", code), pool_rule(unit, "bonus", code))
            for unit in set(units)
            for code in paid_in
        }
        unposted = await self._unposted(cycle_id, overrides, set(units), set(keys))
        # The arithmetic runs off the event loop: 10,000 people are tens of milliseconds of numpy.
        return await asyncio.to_thread(
            _impact,
            cycle_id,
            data,
            keys,
            records,
            Pricing(currency, shown, converter),
            units,
            found_matrix,
            plan,
            pool_rules,
            unposted,
            controls,
            policy.min_cell_size,
            today,
        )

    async def _unposted(
        self, cycle_id: uuid.UUID, overrides: Mapping[str, BudgetOverride], units: set[str], posted: set[str]
    ) -> dict[tuple[str, str], tuple[Decimal, int]]:
        """Payroll and head count per (unit, currency) of the proposals of people the request leaves
        out, in the units with a fixed pool: the posted people get their pro rata part of it."""
        fixed = {unit for unit in units if (o := overrides.get(unit)) and (o.merit_amounts or o.bonus_amounts)}
        rows = await ProposalRepository.from_session(self.session).salaries(cycle_id, fixed)
        return rules.unit_payrolls(
            (unit, code, salary, rules.ZERO) for unit, code, person, salary in rows if key_of(person) not in posted
        )


@dataclass(frozen=True)
class Pricing:
    """Whom an answer prices and in which currency it shows them."""

    only: str | None  # the people paid in this currency (None: everyone, converted)
    shown: str | None  # the currency of the answer's amounts
    converter: rules.Converter | None  # into ``shown``, when the answer converts


def _pool_read(
    merit: rules.Budget, bonus: rules.Budget, merit_pct: Decimal | None, bonus_pct: Decimal | None
) -> dict[str, Any]:
    """The fields of a pool line: its payroll, pools, spend and what remains of them."""
    return {
        "payroll": merit.payroll,
        "merit_budget_pct": merit_pct,
        "merit_basis": merit.basis,
        "merit_budget": merit.budget,
        "merit_spend": merit.proposed,
        "merit_remaining": merit.remaining,
        "bonus_budget_pct": bonus_pct,
        "bonus_basis": bonus.basis,
        "bonus_budget": bonus.budget,
        "bonus_spend": bonus.proposed,
        "bonus_remaining": bonus.remaining,
        "over_budget": _over(merit, bonus),
    }


def _budget(
    currency: str,
    payroll: Decimal,
    spend: Decimal,
    rule: rules.PoolRule,
    people: int = 0,
    unposted: tuple[Decimal, int] = (rules.ZERO, 0),
) -> rules.Budget:
    """The posted people's pool: a percentage of their payroll, or their part of a fixed amount,
    pro rata to their payroll over the whole unit's (``unposted``: the rest of it)."""
    if rule.amount is None or not unposted[1]:
        pool = rules.unit_pool(rule, payroll)
    else:
        share = rules.pool_share(rule, payroll, payroll + unposted[0], people + unposted[1], people)
        pool = None if share is None else rules.half_up(share, CENT)
    return rules.Budget(currency, payroll, spend, pool, rule.basis)


def _over(merit: rules.Budget, bonus: rules.Budget) -> list[str]:
    return [
        kind
        for kind, budget in (("merit", merit), ("bonus", bonus))
        if budget.budget is not None and budget.proposed > budget.budget
    ]


def _common_pct(found: Sequence[rules.PoolRule]) -> Decimal | None:
    """The % a unit's total shows: the one all its currencies' pools are set by, else none."""
    pcts = {rule.pct for rule in found}
    shared = all(rule.amount is None for rule in found) and len(pcts) == 1
    return pcts.pop() if shared else None


def _impact(
    cycle_id: uuid.UUID,
    data: ImpactRequest,
    keys: list[str],
    records: dict[str, Record],
    pricing: Pricing,
    units: list[str],
    found_matrix: tuple[Any, Matrix] | None,
    plan: BonusPlanDefinition | None,
    pool_rules: dict[tuple[str, str], tuple[rules.PoolRule, rules.PoolRule]],
    unposted: dict[tuple[str, str], tuple[Decimal, int]],
    controls: list[str],
    min_cell: int,
    today: date,
) -> ImpactRead:
    rows = [records.get(key) for key in keys]
    held = [row if row is not None and pricing.only in (None, row.currency) else None for row in rows]
    count = len(keys)
    unpriced: dict[str, int] = {}

    def skip(reason: str, number: int) -> None:
        if number:
            unpriced[reason] = unpriced.get(reason, 0) + number

    skip("no_record", sum(1 for row in rows if row is None))
    skip("other_currency", sum(1 for row, kept in zip(rows, held, strict=True) if row is not None and kept is None))
    salary = np.array([np.nan if row is None else row.base for row in held], dtype=np.float64)
    midpoint = np.array([0.0 if row is None else row.midpoint for row in held], dtype=np.float64)
    rating = np.array([float(item.rating) for item in data.ratings], dtype=np.float64)
    with_record = ~np.isnan(salary)
    skip("no_midpoint", int((with_record & (midpoint <= 0)).sum()))
    matrix: stats.MatrixArrays | None = None
    matrix_revision: int | None = None
    if found_matrix is None:
        skip("no_matrix", int((with_record & (midpoint > 0)).sum()))
    elif (found_matrix[1].scale_min, found_matrix[1].scale_max) != (data.scale_min, data.scale_max):
        skip("scale_mismatch", int((with_record & (midpoint > 0)).sum()))
    else:
        matrix, matrix_revision = matrix_arrays(found_matrix[1]), found_matrix[0].revision
    target = np.full(count, np.nan)
    proration = np.zeros(count)
    bonus = None
    if plan is not None:
        bonus = bonus_arrays(plan)
        default = plan.default_target_pct
        levels = [None if row is None else plan.targets.get(row.job_level or "", default) for row in held]
        target = np.array([np.nan if t is None else float(t) for t in levels], dtype=np.float64)
        proration = prorations([None if row is None else row.hire_date for row in held], plan)
    # Each person is priced in their own currency (band, salary and proposal all are).
    projected = stats.project(salary, midpoint, rating, matrix, target, proration, bonus)
    converter = pricing.converter

    def shown(value: float, i: int) -> Decimal:
        amount, row = _money(value), held[i]
        return amount if converter is None or row is None else converter(amount, row.currency)

    adjustments: list[AdjustmentImpactRead] = []
    changed = [i for i, item in enumerate(data.ratings) if item.previous_rating is not None]
    if changed:
        at = np.array(changed, dtype=np.int64)
        previous = np.array([float(data.ratings[i].previous_rating or 0) for i in changed], dtype=np.float64)
        before = stats.project(salary[at], midpoint[at], previous, matrix, target[at], proration[at], bonus)
        for j, i in enumerate(changed):
            item = data.ratings[i]
            assert item.previous_rating is not None
            pct = projected.merit_pct[i]
            adjustments.append(
                AdjustmentImpactRead(
                    person_id=item.person_id,
                    org_unit=units[i],
                    rating=item.rating,
                    previous_rating=item.previous_rating,
                    merit_pct=None if np.isnan(pct) else _pct(float(pct)),
                    merit_increase=shown(projected.increase[i], i),
                    merit_change=shown(projected.increase[i] - before.increase[j], i),
                    bonus=shown(projected.bonus[i], i),
                    bonus_change=shown(projected.bonus[i] - before.bonus[j], i),
                )
            )

    names = sorted(set(units))
    paid = sorted({row.currency for row in held if row is not None})
    slot = {(name, code): n for n, (name, code) in enumerate((name, code) for name in names for code in paid)}
    size = max(len(slot), 1)
    code = np.fromiter(
        (slot[unit, row.currency] if row is not None else 0 for unit, row in zip(units, held, strict=True)),
        dtype=np.int64,
        count=count,
    )
    base = np.where(with_record, salary, 0.0)
    people = np.bincount(code, weights=with_record.astype(np.float64), minlength=size)
    payroll = np.bincount(code, weights=base, minlength=size)
    merit_spend = np.bincount(code, weights=projected.increase, minlength=size)
    bonus_spend = np.bincount(code, weights=projected.bonus, minlength=size)
    unit_reads = []
    for name in names:
        lines: list[UnitCurrencyImpactRead] = []
        merits: list[rules.Budget] = []
        bonuses: list[rules.Budget] = []
        merit_used: list[rules.PoolRule] = []
        bonus_used: list[rules.PoolRule] = []
        for paid_in in paid:
            n = slot[name, paid_in]
            if not people[n]:
                continue
            merit_rule, bonus_rule = pool_rules[name, paid_in]
            money, heads, rest = _money(payroll[n]), int(people[n]), unposted.get((name, paid_in), (rules.ZERO, 0))
            merit = _budget(paid_in, money, _money(merit_spend[n]), merit_rule, heads, rest)
            paid_bonus = _budget(paid_in, money, _money(bonus_spend[n]), bonus_rule, heads, rest)
            merits.append(merit)
            bonuses.append(paid_bonus)
            merit_used.append(merit_rule)
            bonus_used.append(bonus_rule)
            lines.append(
                UnitCurrencyImpactRead(
                    currency=paid_in,
                    people=int(people[n]),
                    **_pool_read(merit, paid_bonus, merit_rule.pct, bonus_rule.pct),
                )
            )
        if not merits:
            # Nobody priced in the unit: its pools in the answer's currency, of no payroll.
            shown_in = pricing.shown or ""
            merit_rule, bonus_rule = pool_rules[name, shown_in]
            nothing, rest = _money(0.0), unposted.get((name, shown_in), (rules.ZERO, 0))
            fields = _pool_read(
                _budget(shown_in, nothing, nothing, merit_rule, 0, rest),
                _budget(shown_in, nothing, nothing, bonus_rule, 0, rest),
                merit_rule.pct,
                bonus_rule.pct,
            )
        elif converter is None:
            # One currency, the answer's: the unit's figures are its only line.
            fields = lines[0].model_dump(exclude={"currency", "people"})
        else:
            fields = _pool_read(
                rules.total_in(merits, converter),
                rules.total_in(bonuses, converter),
                _common_pct(merit_used),
                _common_pct(bonus_used),
            )
            # The total never nets one currency's overrun against another's surplus.
            fields["over_budget"] = [
                kind for kind in ("merit", "bonus") if any(kind in line.over_budget for line in lines)
            ]
        unit_reads.append(
            UnitImpactRead(org_unit=name, people=sum(line.people for line in lines), currencies=lines, **fields)
        )

    kept = np.flatnonzero(with_record)
    gaps = []
    for pay in (salary, salary + projected.increase):
        columns = _columns([held[i] for i in kept], pay[kept])
        if converter is not None:
            columns = converted_columns(columns, converter)
        population = population_of(columns, None, today)
        everyone = np.arange(len(population), dtype=np.int64)
        gap, _ = equity_stats.adjusted_gap(population, everyone, controls, min_cell)
        gaps.append(adjusted_read(gap))
    return ImpactRead(
        cycle_id=cycle_id,
        currency=pricing.shown,
        conversion=None
        if converter is None
        else conversion_read(converter, [row.currency for row in held if row is not None]),
        people=count,
        priced=int((~np.isnan(projected.merit_pct)).sum()),
        unpriced=unpriced,
        matrix_revision=matrix_revision,
        bonus_plan=plan is not None,
        units=unit_reads,
        adjustments=adjustments,
        pay_gap=PayGapImpactRead(controls=controls, before=gaps[0], after=gaps[1]),
    )


def _columns(rows: Sequence[Record | None], base: stats.FloatArray) -> PayColumns:
    present = [row for row in rows if row is not None]
    return PayColumns(
        person_ids=tuple(row.person_key for row in present),
        currencies=tuple(row.currency for row in present),
        base=tuple(base.tolist()),
        variable=tuple(row.variable for row in present),
        fte=tuple(row.fte for row in present),
        gender=tuple(row.gender for row in present),
        job_level=tuple(row.job_level for row in present),
        job_family=tuple(row.job_family for row in present),
        worker_category=tuple(row.worker_category for row in present),
        employment_type=tuple(row.employment_type for row in present),
        location=tuple(row.location for row in present),
        hire_dates=tuple(row.hire_date for row in present),
    )
