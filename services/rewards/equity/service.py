"""Pay-equity analysis, remediation and the EU Art. 9 report, from the records on a reference date.

Reads only; nothing here writes an event or logs a value (gender and pay stay in this service).
"""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from services.rewards.equity import stats
from services.rewards.equity.repository import EquityRepository, PayColumns
from services.rewards.equity.schemas import (
    AdjustedGapRead,
    Art9ReportRead,
    CategoryEquityRead,
    CategoryGapRead,
    GapRead,
    PayEquityRead,
    QuartileRead,
    RaiseRead,
    RemediationRead,
    RemediationRequest,
    RemedyRead,
    VariablePayShareRead,
)
from services.rewards.policy.schemas import Control
from services.rewards.policy.service import Policy, PolicyService
from shared.database import utcnow
from shared.errors import ValidationFailed

CENT = Decimal("0.01")
DAYS_PER_YEAR = 365.25


def _pct(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(repr(value)).quantize(CENT, ROUND_HALF_UP)


def _rounded(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(CENT, ROUND_HALF_UP)


def _money(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(CENT, ROUND_HALF_UP)


def population_of(columns: PayColumns, keep: Sequence[bool] | None, reference_date: date) -> stats.Population:
    """The columns of the records (those ``keep`` marks) as a numpy population."""
    indices: list[int] | None = None if keep is None else np.flatnonzero(np.asarray(keep, dtype=bool)).tolist()

    def pick(values: Sequence[Any]) -> Sequence[Any]:
        return values if indices is None else [values[i] for i in indices]

    hired = np.array(pick(columns.hire_dates), dtype="datetime64[D]")
    days = (np.datetime64(reference_date, "D") - hired).astype(np.float64)
    # An unknown hire date (NaT) has no tenure: NaN, which the regression leaves out.
    tenure = np.where(np.isnat(hired), np.nan, days / DAYS_PER_YEAR)
    return stats.Population.from_columns(
        person_ids=[value if isinstance(value, str) else str(value) for value in pick(columns.person_ids)],
        gender=pick(columns.gender),
        base=np.asarray(pick(columns.base), dtype=np.float64),
        variable=np.asarray(pick(columns.variable), dtype=np.float64),
        fte=np.asarray(pick(columns.fte), dtype=np.float64),
        tenure=tenure,
        attributes={name: pick(getattr(columns, name)) for name in stats.CATEGORICAL},
    )


def gap_read(gap: stats.Gap) -> GapRead:
    return GapRead(
        women=gap.women,
        men=gap.men,
        mean_gap_pct=_pct(gap.mean_pct),
        median_gap_pct=_pct(gap.median_pct),
        suppressed=gap.suppressed,
    )


def adjusted_read(gap: stats.AdjustedGap) -> AdjustedGapRead:
    return AdjustedGapRead(
        women=gap.women,
        men=gap.men,
        unadjusted=gap_read(gap.unadjusted),
        coefficient=gap.coefficient,
        standard_error=gap.standard_error,
        degrees_of_freedom=gap.degrees_of_freedom,
        adjusted_gap_pct=_pct(gap.gap_pct),
        ci_low_pct=_pct(gap.ci_low_pct),
        ci_high_pct=_pct(gap.ci_high_pct),
        suppressed=gap.suppressed,
        excluded=gap.excluded,
    )


def art9_read(report: stats.Art9Report, reference_date: date, currency: str, min_cell: int) -> Art9ReportRead:
    share = report.variable_pay_share
    return Art9ReportRead(
        reference_date=reference_date,
        currency=currency,
        min_cell_size=min_cell,
        people=report.people,
        women=report.women,
        men=report.men,
        other_or_undisclosed=report.other_or_undisclosed,
        pay_gap=gap_read(report.pay_gap),
        variable_pay_gap=gap_read(report.variable_pay_gap),
        variable_pay_share=VariablePayShareRead(
            women_pct=_pct(share.women_pct),
            men_pct=_pct(share.men_pct),
            women_suppressed=share.women_suppressed,
            men_suppressed=share.men_suppressed,
        ),
        quartiles=[
            QuartileRead(
                quartile=band.quartile,
                people=band.people,
                women_pct=_pct(band.women_pct),
                men_pct=_pct(band.men_pct),
                suppressed=band.suppressed,
            )
            for band in report.quartiles
        ],
        categories=[
            CategoryGapRead(
                category=category.category,
                people=category.people,
                basic_pay=gap_read(category.basic_pay),
                variable_pay=gap_read(category.variable_pay),
            )
            for category in report.categories
        ],
    )


CSV_HEADER = ("indicator", "category", "quartile", "women", "men", "people", "value_pct", "suppressed")


def art9_csv(report: Art9ReportRead) -> str:
    """One line per figure: ``indicator`` is the Art. 9 (1) letter and what it measures."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("reference_date", report.reference_date.isoformat(), "currency", report.currency))
    writer.writerow(CSV_HEADER)

    def cell(value: object) -> str:
        return "" if value is None else str(value)

    def gap_lines(letters: tuple[str, str], name: str, gap: GapRead, category: str = "") -> None:
        for letter, statistic, value in (
            (letters[0], "mean", gap.mean_gap_pct),
            (letters[1], "median", gap.median_gap_pct),
        ):
            writer.writerow(
                (
                    f"{letter}_{statistic}_{name}_gap",
                    category,
                    "",
                    cell(gap.women),
                    cell(gap.men),
                    "",
                    cell(value),
                    cell(gap.suppressed),
                )
            )

    gap_lines(("a", "c"), "pay", report.pay_gap)
    gap_lines(("b", "d"), "variable_pay", report.variable_pay_gap)
    share = report.variable_pay_share
    writer.writerow(
        ("e_women_receiving_variable_pay", "", "", "", "", "", cell(share.women_pct), cell(share.women_suppressed))
    )
    writer.writerow(
        ("e_men_receiving_variable_pay", "", "", "", "", "", cell(share.men_pct), cell(share.men_suppressed))
    )
    for band in report.quartiles:
        for who, value in (("women", band.women_pct), ("men", band.men_pct)):
            writer.writerow(
                (
                    f"f_{who}_in_quartile",
                    "",
                    band.quartile,
                    "",
                    "",
                    cell(band.people),
                    cell(value),
                    cell(band.suppressed),
                )
            )
    for category in report.categories:
        gap_lines(("g", "g"), "basic_pay", category.basic_pay, category.category)
        gap_lines(("g", "g"), "variable_pay", category.variable_pay, category.category)
    return out.getvalue()


class EquityService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.records = EquityRepository.from_session(session)
        self.policy = PolicyService(session)

    async def _population(
        self, reference_date: date | None, currency: str | None
    ) -> tuple[date, str, stats.Population, Policy]:
        when = reference_date or utcnow().date()
        columns = await self.records.on(when)
        currencies = Counter(columns.currencies)
        if currency is None:
            if len(currencies) > 1:
                raise ValidationFailed.field(
                    "currency", f"the records are in {', '.join(sorted(currencies))}: choose one (no conversion)"
                )
            currency = next(iter(currencies), "EUR")
        keep = None if len(currencies) <= 1 and currency in currencies else [c == currency for c in columns.currencies]
        return when, currency, population_of(columns, keep, when), await self.policy.current()

    async def art9(self, reference_date: date | None, currency: str | None) -> Art9ReportRead:
        when, chosen, population, policy = await self._population(reference_date, currency)
        # Off the event loop: for 100,000 people the arithmetic takes a few hundred milliseconds.
        report = await asyncio.to_thread(stats.art9_report, population, policy.min_cell_size)
        return art9_read(report, when, chosen, policy.min_cell_size)

    async def pay_equity(
        self, reference_date: date | None, currency: str | None, controls: Sequence[Control] | None
    ) -> PayEquityRead:
        when, chosen, population, policy = await self._population(reference_date, currency)
        used = tuple(dict.fromkeys(controls if controls is not None else policy.equity_controls))
        equity, _fits = await asyncio.to_thread(
            stats.pay_equity, population, [c.value for c in used], policy.min_cell_size, float(policy.equity_flag_pct)
        )
        return PayEquityRead(
            reference_date=when,
            currency=chosen,
            min_cell_size=policy.min_cell_size,
            flag_threshold_pct=policy.equity_flag_pct,
            controls=list(used),
            overall=adjusted_read(equity.overall),
            categories=[
                CategoryEquityRead(category=item.category, flagged=item.flagged, gap=adjusted_read(item.gap))
                for item in equity.categories
            ],
        )

    async def remediation(self, data: RemediationRequest) -> RemediationRead:
        when, chosen, population, policy = await self._population(data.reference_date, data.currency)
        used = tuple(dict.fromkeys(data.controls if data.controls is not None else policy.equity_controls))
        _equity, fits = await asyncio.to_thread(
            stats.pay_equity, population, [c.value for c in used], policy.min_cell_size, float(policy.equity_flag_pct)
        )
        remedies = await asyncio.to_thread(stats.remediate, population, fits, float(data.budget))
        reads: list[RemedyRead] = []
        for remedy in remedies:
            raises = []
            for item in remedy.raises:
                base = _money(population.base[item.position])
                amount = _money(item.amount)
                raises.append(
                    RaiseRead(
                        person_id=uuid.UUID(population.person_ids[item.position]),
                        base_salary=base,
                        raise_amount=amount,
                        new_base_salary=base + amount,
                        raise_pct=(amount / base * 100).quantize(CENT, ROUND_HALF_UP) if base else Decimal(0),
                    )
                )
            reads.append(
                RemedyRead(
                    category=remedy.category,
                    gap_before_pct=_rounded(remedy.gap_before_pct),
                    gap_after_pct=_rounded(remedy.gap_after_pct),
                    closes_gap=remedy.closes_gap,
                    cost=sum((r.raise_amount for r in raises), Decimal(0)),
                    raises=raises,
                )
            )
        total = sum((remedy.cost for remedy in reads), Decimal(0))
        return RemediationRead(
            reference_date=when,
            currency=chosen,
            controls=list(used),
            budget=data.budget,
            total_cost=total,
            remaining=data.budget - total,
            remedies=reads,
        )
