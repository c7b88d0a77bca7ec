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
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from services.rewards import rules
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
from services.rewards.exchange_rates.schemas import ConversionRead
from services.rewards.exchange_rates.service import ExchangeRateService, conversion_read
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


def _cents(value: Any) -> int:
    # SQLite gives amounts as floats (a projected salary is a sum of two): the nearest cent is
    # the amount, so no float residue (…329999999994) decides which way a conversion rounds.
    if isinstance(value, Decimal):
        return int((value * 100).to_integral_value(ROUND_HALF_UP))
    return round(float(value) * 100)


def converted_columns(columns: PayColumns, converter: rules.Converter) -> PayColumns:
    """The records' base and variable pay in the converter's currency, each amount to the cent.

    Only the records paid in another currency are touched, in integer cents with the exact
    cross rate (``rules.convert_cents``): a report in the currency everyone is paid in costs
    nothing more, and 100,000 conversions take a tenth of a second.
    """
    to = converter.to
    if all(currency == to for currency in columns.currencies):
        return columns
    ratios = {currency: converter.ratio(currency) for currency in set(columns.currencies) if currency != to}

    def amounts(values: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(
            value if currency == to else rules.convert_cents(_cents(value), ratios[currency]) / 100
            for value, currency in zip(values, columns.currencies, strict=True)
        )

    return columns._replace(base=amounts(columns.base), variable=amounts(columns.variable))


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


def art9_read(
    report: stats.Art9Report,
    reference_date: date,
    currency: str,
    min_cell: int,
    conversion: ConversionRead | None = None,
) -> Art9ReportRead:
    share = report.variable_pay_share
    return Art9ReportRead(
        reference_date=reference_date,
        currency=currency,
        conversion=conversion,
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
    heading = ["reference_date", report.reference_date.isoformat(), "currency", report.currency]
    if report.conversion is not None:
        # The rates stay with the figures they produced, e.g. "rate_USD", "0.9200000000".
        heading += ["rates_on", report.conversion.rates_on.isoformat()]
        for item in report.conversion.currencies:
            if item.currency != report.currency:
                heading += [f"rate_{item.currency}", str(item.rate)]
    writer.writerow(heading)
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


@dataclass(frozen=True)
class Basis:
    """What a report is computed over: its date, currency, people (and what each is paid in)."""

    when: date
    currency: str
    population: stats.Population
    policy: Policy
    paid_in: list[str]  # each person's own currency, by position in the population
    converter: rules.Converter | None
    conversion: ConversionRead | None


class EquityService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.records = EquityRepository.from_session(session)
        self.policy = PolicyService(session)

    async def _basis(self, reference_date: date | None, currency: str | None, reporting: str | None) -> Basis:
        """The records in force on the date: in one currency, or all (or ``currency``'s) converted.

        Without a reporting currency the records must be in one currency (or ``currency`` picks
        the people paid in it); with one, every record is converted at the rates in force on
        the reference date, and a currency without a rate is a 422 naming it.
        """
        when = reference_date or utcnow().date()
        columns = await self.records.on(when)
        currencies = Counter(columns.currencies)
        if reporting is None and currency is None:
            if len(currencies) > 1:
                raise ValidationFailed.field(
                    "currency",
                    f"the records are in {', '.join(sorted(currencies))}: choose one, "
                    "or convert them all with reporting_currency",
                )
            currency = next(iter(currencies), "EUR")
        if currency is not None and (len(currencies) > 1 or currency not in currencies):
            kept = [c == currency for c in columns.currencies]
            columns = PayColumns(*(tuple(v for v, k in zip(column, kept, strict=True) if k) for column in columns))
        paid_in = list(columns.currencies)
        converter: rules.Converter | None = None
        conversion: ConversionRead | None = None
        if reporting is not None:
            converter = await ExchangeRateService(self.session).converter(reporting, when, set(paid_in))
            columns = converted_columns(columns, converter)
            conversion = conversion_read(converter, paid_in)
        chosen = reporting or currency
        assert chosen is not None
        population = population_of(columns, None, when)
        return Basis(when, chosen, population, await self.policy.current(), paid_in, converter, conversion)

    async def art9(
        self, reference_date: date | None, currency: str | None, reporting: str | None = None
    ) -> Art9ReportRead:
        basis = await self._basis(reference_date, currency, reporting)
        policy = basis.policy
        # Off the event loop: for 100,000 people the arithmetic takes a few hundred milliseconds.
        report = await asyncio.to_thread(stats.art9_report, basis.population, policy.min_cell_size)
        return art9_read(report, basis.when, basis.currency, policy.min_cell_size, basis.conversion)

    async def pay_equity(
        self,
        reference_date: date | None,
        currency: str | None,
        controls: Sequence[Control] | None,
        reporting: str | None = None,
    ) -> PayEquityRead:
        basis = await self._basis(reference_date, currency, reporting)
        policy = basis.policy
        used = tuple(dict.fromkeys(controls if controls is not None else policy.equity_controls))
        equity, _fits = await asyncio.to_thread(
            stats.pay_equity,
            basis.population,
            [c.value for c in used],
            policy.min_cell_size,
            float(policy.equity_flag_pct),
        )
        return PayEquityRead(
            reference_date=basis.when,
            currency=basis.currency,
            conversion=basis.conversion,
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
        basis = await self._basis(data.reference_date, data.currency, data.reporting_currency)
        population, policy = basis.population, basis.policy
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
                paid_in = basis.paid_in[item.position]
                # Paid in the person's own currency; rounded up, like the raise, so it closes the gap.
                paid = amount if basis.converter is None else basis.converter.back(amount, paid_in, ROUND_CEILING)
                raises.append(
                    RaiseRead(
                        person_id=uuid.UUID(population.person_ids[item.position]),
                        base_salary=base,
                        raise_amount=amount,
                        new_base_salary=base + amount,
                        raise_pct=(amount / base * 100).quantize(CENT, ROUND_HALF_UP) if base else Decimal(0),
                        paid_currency=paid_in,
                        paid_raise_amount=paid,
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
            reference_date=basis.when,
            currency=basis.currency,
            conversion=basis.conversion,
            controls=list(used),
            budget=data.budget,
            total_cost=total,
            remaining=data.budget - total,
            remedies=reads,
        )
