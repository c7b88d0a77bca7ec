"""HR's exchange rates and the conversions the reports make with them.

One base currency for every rate (the first rate fixes it), so any two currencies convert
through it (``rules.Converter``). Rates are no one's pay: nothing here is published, but
nothing is logged either, as everywhere in rewards.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext

from sqlalchemy.ext.asyncio import AsyncSession

from services.rewards import rules
from services.rewards.exchange_rates.reference_file import BASE as ECB_BASE
from services.rewards.exchange_rates.reference_file import ReferenceRates
from services.rewards.exchange_rates.repository import ExchangeRateRepository, rate_of
from services.rewards.exchange_rates.schemas import (
    ConversionRead,
    ConvertedCurrencyRead,
    ExchangeRateChangeRead,
    ExchangeRateRead,
    ExchangeRateWrite,
    RateChange,
    RatesInForceRead,
    RateUsedRead,
    ReferenceImportRead,
)
from services.rewards.models import ExchangeRate, ExchangeRateChange
from shared.errors import NotFound, ValidationFailed


def rate_read(row: ExchangeRate) -> ExchangeRateRead:
    with localcontext() as context:
        context.prec = 60
        inverse = (Decimal(1) / row.rate).quantize(rules.RATE_STEP, rounding=ROUND_HALF_UP)
    return ExchangeRateRead(
        currency=row.currency,
        base=row.base,
        rate=row.rate,
        inverse_rate=inverse,
        effective_date=row.effective_date,
        note=row.note,
        set_by=row.set_by,
        created_at=row.created_at,
        modified_at=row.modified_at,
    )


def change_read(row: ExchangeRateChange) -> ExchangeRateChangeRead:
    return ExchangeRateChangeRead(
        currency=row.currency,
        base=row.base,
        effective_date=row.effective_date,
        rate=row.rate,
        note=row.note,
        set_by=row.set_by,
        set_at=row.set_at,
        change=RateChange(row.change),
        changed_by=row.changed_by,
        changed_at=row.created_at,
    )


def conversion_read(converter: rules.Converter, paid_in: Iterable[str]) -> ConversionRead:
    """What a conversion used: the stored rates, and each currency's cross rate and head count."""
    counts = Counter(paid_in)
    return ConversionRead(
        currency=converter.to,
        rates_on=converter.on,
        base=converter.base,
        rates=[
            RateUsedRead(
                currency=rate.currency, base=converter.base or "", rate=rate.rate, effective_date=rate.effective_date
            )
            for rate in converter.used(counts)
        ],
        currencies=[
            ConvertedCurrencyRead(currency=currency, rate=converter.cross_rate(currency), records=counts[currency])
            for currency in sorted(counts)
        ],
    )


class ExchangeRateService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.rates = ExchangeRateRepository.from_session(session)

    async def put(
        self, currency: str, effective_date: date, data: ExchangeRateWrite, by: uuid.UUID
    ) -> tuple[ExchangeRate, bool]:
        """Set ``currency``'s rate from ``effective_date`` on; True when it is a new row."""
        await self.rates.lock()
        stored_base = await self.rates.base()
        base = data.base or stored_base
        if base is None:
            raise ValidationFailed.field("base", "required for the first rate: the currency every rate is against")
        if stored_base is not None and base != stored_base:
            raise ValidationFailed.field(
                "base", f"every rate is against {stored_base}; delete them all before changing the base"
            )
        if currency == base:
            raise ValidationFailed.field("currency", f"{base} is the base currency: it is worth 1 of itself")
        # Ten decimals always, as the column reads back: the answer to a PUT equals every later GET.
        rate = data.rate.quantize(rules.RATE_STEP)
        row = await self.rates.get(currency, effective_date)
        if row is None:
            row = ExchangeRate(
                currency=currency, base=base, effective_date=effective_date, rate=rate, note=data.note, set_by=by
            )
            await self.rates.add(row)
            return row, True
        if (row.rate, row.note) == (rate, data.note):
            return row, False  # the same rate again (a retried request): nothing changes, nothing to keep
        await self._keep(row, RateChange.replaced, by)
        row.rate, row.note, row.set_by = rate, data.note, by
        await self.session.flush()
        return row, False

    async def import_reference(self, found: ReferenceRates, by: uuid.UUID, *, dry_run: bool) -> ReferenceImportRead:
        """The ECB's rates of a file, set as a PUT of each would set them, in one transaction.

        Every rate is against the euro: with another base stored, the file is refused whole."""
        await self.rates.lock()
        stored_base = await self.rates.base()
        if stored_base not in (None, ECB_BASE):
            raise ValidationFailed.field(
                "base", f"every rate here is against {stored_base}; the ECB's file is against {ECB_BASE}"
            )
        currencies = {currency for currency, _ in found.rates}
        days = {day for _, day in found.rates}
        stored = await self.rates.of_days(currencies, days)
        created = replaced = unchanged = 0
        for (currency, day), rate in sorted(found.rates.items()):
            note = f"ECB reference rate: 1 EUR = {found.quoted[(currency, day)]} {currency}"
            row = stored.get((currency, day))
            if row is None:
                created += 1
                if not dry_run:
                    self.session.add(
                        ExchangeRate(
                            currency=currency, base=ECB_BASE, effective_date=day, rate=rate, note=note, set_by=by
                        )
                    )
            elif (row.rate, row.note) == (rate, note):
                unchanged += 1
            else:
                replaced += 1
                if not dry_run:
                    await self._keep(row, RateChange.replaced, by)
                    row.rate, row.note, row.set_by = rate, note, by
        await self.session.flush()
        return ReferenceImportRead(
            dry_run=dry_run,
            base=ECB_BASE,
            first_day=min(days),
            last_day=max(days),
            currencies=sorted(currencies),
            rates=len(found.rates),
            created=created,
            replaced=replaced,
            unchanged=unchanged,
            empty_cells=found.empty_cells,
        )

    async def delete(self, currency: str, effective_date: date, by: uuid.UUID) -> None:
        await self.rates.lock()
        row = await self.rates.get(currency, effective_date)
        if row is None:
            raise NotFound(f"No {currency} rate is effective on {effective_date}.")
        await self._keep(row, RateChange.removed, by)
        await self.rates.delete(row)

    async def _keep(self, row: ExchangeRate, change: RateChange, by: uuid.UUID) -> None:
        """The value a report may have converted with, kept before it goes."""
        await self.rates.add_change(
            ExchangeRateChange(
                currency=row.currency,
                base=row.base,
                rate=row.rate,
                effective_date=row.effective_date,
                note=row.note,
                set_by=row.set_by,
                set_at=row.modified_at or row.created_at,
                change=change.value,
                changed_by=by,
            )
        )

    async def in_force(self, on: date) -> RatesInForceRead:
        rows = await self.rates.up_to(on)
        latest = rules.rates_in_force((rate_of(row) for row in rows), on)
        chosen = {
            (row.currency, row.effective_date): row
            for row in rows
            if (found := latest.get(row.currency)) and found.effective_date == row.effective_date
        }
        return RatesInForceRead(
            on=on,
            base=await self.rates.base(),
            rates=[rate_read(row) for _, row in sorted(chosen.items(), key=lambda item: item[0][0])],
        )

    async def rate_on(self, currency: str, on: date) -> ExchangeRate:
        rows = [row for row in await self.rates.up_to(on) if row.currency == currency]
        if not rows:
            raise NotFound(f"No {currency} rate is in force on {on}.")
        return max(rows, key=lambda row: row.effective_date)

    async def converter(
        self, to: str, on: date, currencies: Iterable[str], field: str = "reporting_currency"
    ) -> rules.Converter:
        """A converter into ``to`` at the rates in force on ``on``; a 422 naming each missing currency.

        A report that silently left out the people paid in a currency without a rate would
        show a gap for a population it does not say it dropped, so a missing rate refuses it.
        """
        rows = await self.rates.up_to(on)
        converter = rules.Converter(
            to, await self.rates.base(), on, rules.rates_in_force((rate_of(row) for row in rows), on)
        )
        missing = converter.missing(currencies)
        if missing:
            message = "no exchange rate in force on {on} for {currency}: set one with PUT /exchange-rates/{currency}/…"
            raise ValidationFailed(
                f"{field}: converting into {to} needs a rate in force on {on} for {', '.join(missing)}",
                [
                    {"field": field, "message": message.format(on=on, currency=currency), "currency": currency}
                    for currency in missing
                ],
            )
        return converter
