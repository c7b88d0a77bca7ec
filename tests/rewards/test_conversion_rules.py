"""Currency conversion rules (services/rewards/rules.py): the rate in force, rounding, cross,
inverse and missing rates, and totals beside per-currency pools. No database."""

from __future__ import annotations

import random
from datetime import date
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from decimal import Decimal as D

import pytest

from services.rewards import rules
from services.rewards.rules import Budget, Converter, Rate

JAN, FEB, MAR = date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)
CENT = Decimal("0.01")

# Against EUR: 1 USD = 0.92 EUR from January, 0.90 from March; 1 GBP = 1.17 EUR from February.
TABLE = [
    Rate("USD", D("0.92"), JAN),
    Rate("USD", D("0.90"), MAR),
    Rate("GBP", D("1.17"), FEB),
]


def converter(to: str, on: date, base: str | None = "EUR") -> Converter:
    return Converter(to, base, on, rules.rates_in_force(TABLE, on))


def test_the_rate_in_force_is_the_latest_effective_on_or_before_the_date() -> None:
    assert rules.rates_in_force(TABLE, date(2025, 12, 31)) == {}  # before the first rate: none
    assert rules.rates_in_force(TABLE, JAN) == {"USD": TABLE[0]}  # effective that very day
    assert rules.rates_in_force(TABLE, date(2026, 2, 28)) == {"USD": TABLE[0], "GBP": TABLE[2]}
    assert rules.rates_in_force(TABLE, MAR)["USD"] == TABLE[1]  # the newer one takes over
    assert rules.rates_in_force(reversed(TABLE), date(2027, 1, 1))["USD"] == TABLE[1]  # order of rows is irrelevant


def test_a_conversion_rounds_the_exact_product_once_half_up() -> None:
    assert rules.convert(D("0.01"), D("0.5"), D("1")) == D("0.01")  # 0.005: half up, not half even
    assert rules.convert(D("0.03"), D("0.5"), D("1")) == D("0.02")  # 0.015
    assert rules.convert(D("100.10"), D("0.92"), D("1")) == D("92.09")  # 92.092
    assert rules.convert(D("50000"), D("0.9234"), D("1")) == D("46170.00")
    # Through the unrounded cross rate: 1/3 rounded to 10 decimals first would give 33333.33 + a cent off.
    assert rules.convert(D("100000.00"), D("1"), D("3")) == D("33333.33")
    assert rules.convert(D("99999999999.99"), D("1"), D("3")) == D("33333333333.33")
    assert rules.convert(D("0.01"), D("0.5"), D("1"), ROUND_CEILING) == D("0.01")
    assert rules.convert(D("10.00"), D("1"), D("3"), ROUND_CEILING) == D("3.34")


def test_base_direct_inverse_and_cross_conversions() -> None:
    into_eur = converter("EUR", date(2026, 2, 15))
    assert into_eur(D("1000"), "USD") == D("920.00")  # direct: x rate
    assert into_eur(D("1000"), "GBP") == D("1170.00")
    assert into_eur(D("1000"), "EUR") == D("1000.00")  # the same currency needs no rate
    into_usd = converter("USD", date(2026, 2, 15))
    assert into_usd(D("920"), "EUR") == D("1000.00")  # the base into a currency: the inverse
    assert into_usd(D("1000"), "EUR") == D("1086.96")  # 1086.956...
    assert into_usd(D("1000"), "GBP") == D("1271.74")  # cross: 1.17 / 0.92 = 1.2717391...
    assert into_usd.cross_rate("GBP") == D("1.2717391304")
    assert into_usd.cross_rate("EUR") == D("1.0869565217")
    assert into_usd.cross_rate("USD") == D("1")
    assert into_usd.back(D("1271.74"), "GBP") == D("1000.00")
    assert into_usd.back(D("0.01"), "EUR", ROUND_CEILING) == D("0.01")  # 0.0092 up
    # March: the newer USD rate; the same amounts convert differently.
    assert converter("USD", MAR)(D("900"), "EUR") == D("1000.00")


def test_missing_rates_name_the_currency_and_the_target() -> None:
    before = converter("EUR", date(2026, 1, 15))
    assert before.missing(["EUR", "USD"]) == []
    assert before.missing(["GBP", "USD"]) == ["GBP"]  # GBP's first rate is from February
    into_usd = converter("USD", date(2025, 6, 1))  # before any rate
    assert into_usd.missing(["USD"]) == []  # nothing to convert
    assert into_usd.missing(["EUR"]) == ["USD"]  # the base needs the target's rate
    assert into_usd.missing(["GBP", "EUR"]) == ["GBP", "USD"]
    into_chf = converter("CHF", MAR)
    assert into_chf.missing(["EUR", "USD"]) == ["CHF"]
    with pytest.raises(KeyError):
        into_chf(D("1"), "EUR")
    # No rate stored yet, so no base: the target stands for it, and only the others are named.
    empty = Converter("EUR", None, MAR, {})
    assert empty.missing(["EUR"]) == []
    assert empty.missing(["USD", "EUR"]) == ["USD"]
    assert empty.missing(["GBP"]) == ["GBP"]
    with pytest.raises(KeyError):
        empty(D("1"), "GBP")
    # What a conversion read: the rows of the currencies and of the target.
    assert converter("USD", MAR).used(["GBP", "EUR", "USD"]) == [TABLE[2], TABLE[1]]


def test_integer_cents_convert_exactly_as_the_decimal_rule() -> None:
    generator = random.Random(7)
    table = [Rate("USD", D("0.9234567891"), JAN), Rate("JPY", D("0.0061234567"), JAN), Rate("GBP", D("1.17"), JAN)]
    for to in ("EUR", "USD", "JPY"):
        found = Converter(to, "EUR", JAN, rules.rates_in_force(table, JAN))
        for currency in ("EUR", "USD", "JPY", "GBP"):
            ratio = found.ratio(currency)
            for _ in range(2000):
                cents = generator.randint(-(10**10), 10**10)
                amount = Decimal(cents) / 100
                assert Decimal(rules.convert_cents(cents, ratio)) / 100 == found(amount, currency), (
                    to,
                    currency,
                    cents,
                )
    # Exact ties, both signs: half up is away from zero.
    assert rules.convert_cents(1, (1, 2)) == 1
    assert rules.convert_cents(-1, (1, 2)) == -1
    assert rules.convert_cents(3, (1, 2)) == 2
    assert rules.convert(D("-0.01"), D("0.5"), D("1")) == D("-0.01")


def test_a_total_in_one_currency_adds_the_converted_lines_and_never_hides_a_missing_pool() -> None:
    into_eur = converter("EUR", MAR)
    lines = [
        Budget("EUR", D("200000.00"), D("10000.00"), D("6000.00"), "percent"),
        Budget("USD", D("300000.00"), D("7500.00"), D("20000.00"), "amount"),
    ]
    total = rules.total_in(lines, into_eur)
    assert (total.currency, total.payroll, total.proposed, total.budget) == ("EUR", D(470000), D(16750), D(24000))
    assert (total.remaining, total.basis) == (D(7250), "mixed")  # EUR alone is 4,000 over: the lines say so
    without_pool = [lines[0], Budget("USD", D("300000.00"), D("7500.00"), None, None)]
    assert rules.total_in(without_pool, into_eur).budget is None
    assert rules.total_in([], into_eur).budget is None
    # Cents: each line converts on its own, then they add (what the lines show, converted).
    odd = [Budget("USD", D("0.01"), D("0"), D("0.01"), "percent"), Budget("USD", D("0.01"), D("0"), D("0"), "percent")]
    assert rules.total_in(odd, converter("EUR", JAN)).payroll == D("0.02")  # 0.0092 -> 0.01, twice


def test_pools_of_the_units_add_up_per_currency() -> None:
    eng = {
        "EUR": Budget("EUR", D("150000"), D("5000"), D("5400"), "amount"),
        "USD": Budget("USD", D("100000"), D("2500"), D("4000"), "percent"),
    }
    ops = {"EUR": Budget("EUR", D("30000"), D("900"), D("1200"), "percent")}
    summed = rules.sum_budgets([eng, ops])
    assert list(summed) == ["EUR", "USD"]
    assert summed["EUR"] == Budget("EUR", D("180000"), D("5900"), D("6600"), "mixed")
    assert summed["USD"] == eng["USD"]
    nobody = {"EUR": Budget("EUR", D("10"), D("1"), None, None)}
    assert rules.sum_budgets([eng, nobody])["EUR"].budget is None


def test_a_rate_converts_back_and_forth_within_a_cent() -> None:
    into_usd = converter("USD", MAR)
    for cents in range(1, 100_000, 997):
        amount = Decimal(cents) / 100
        there = into_usd(amount, "GBP")
        assert abs(into_usd.back(there, "GBP") - amount) <= CENT
        assert there == (amount * D("1.17") / D("0.90")).quantize(CENT, ROUND_HALF_UP)
