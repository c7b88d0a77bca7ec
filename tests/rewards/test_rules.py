"""The pure pay rules: position in range, matrix validation and lookup, proposal arithmetic."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from decimal import Decimal as D

import pytest

from services.rewards import rules
from services.rewards.rules import Bucket, Guideline, Matrix, RatingRow


def matrix(
    buckets: list[Bucket] | None = None, rows: list[RatingRow] | None = None, cells: list[list[Guideline]] | None = None
) -> Matrix:
    buckets = (
        buckets
        if buckets is not None
        else [Bucket(D("0"), D("0.9")), Bucket(D("0.9"), D("1.1")), Bucket(D("1.1"), None)]
    )
    rows = rows if rows is not None else [RatingRow(D("1"), D("3")), RatingRow(D("3"), D("5"))]
    cell = Guideline(D("1"), D("2"), D("3"))
    cells = cells if cells is not None else [[cell] * len(buckets) for _ in rows]
    return Matrix(D("1"), D("5"), buckets, rows, cells)


def fields(m: Matrix) -> set[str]:
    return {error.field for error in rules.validate_matrix(m)}


def test_compa_ratio_is_salary_over_midpoint_rounded_half_up() -> None:
    assert rules.compa_ratio(D("45000"), D("50000")) == D("0.9000")
    assert rules.compa_ratio(D("1"), D("3")) == D("0.3333")
    assert rules.compa_ratio(D("2"), D("3")) == D("0.6667")
    assert rules.compa_ratio(D("100005"), D("200000")) == D("0.5000")  # 0.500025 -> 0.5000
    assert rules.compa_ratio(D("100010"), D("200000")) == D("0.5001")  # 0.50005 -> half up
    assert rules.compa_ratio(D("70000"), D("50000")) == D("1.4000")  # above the band is fine
    assert rules.compa_ratio(D("1"), D("0")) is None


def test_new_salary_and_increase_round_half_up_to_cents() -> None:
    assert rules.new_salary(D("50000"), D("3.25")) == D("51625.00")
    assert rules.new_salary(D("100.10"), D("5")) == D("105.11")  # 105.105: half up, not half even
    assert rules.new_salary(D("33333.33"), D("1.5")) == D("33833.33")
    assert rules.new_salary(D("50000"), D("0")) == D("50000.00")
    assert rules.increase(D("100.10"), D("5")) == D("5.01")
    assert rules.increase(D("33333.33"), D("1.5")) + D("33333.33") == rules.new_salary(D("33333.33"), D("1.5"))
    assert rules.budget_amount(D("150000"), D("3")) == D("4500.00")
    assert rules.budget_amount(D("1.00"), D("0.5")) == D("0.01")  # 0.005: half up


def test_a_complete_matrix_is_valid() -> None:
    assert rules.validate_matrix(matrix()) == []


@pytest.mark.parametrize(
    ("buckets", "expected"),
    [
        ([Bucket(D("0.1"), D("1")), Bucket(D("1"), None)], {"buckets[0].min"}),
        ([Bucket(D("0"), D("0.9")), Bucket(D("1.0"), None)], {"buckets[1].min"}),  # gap
        ([Bucket(D("0"), D("1.0")), Bucket(D("0.9"), None)], {"buckets[1].min"}),  # overlap
        ([Bucket(D("0"), D("1")), Bucket(D("1"), D("2"))], {"buckets[1].max"}),  # not open-ended
        ([Bucket(D("0"), None), Bucket(D("1"), None)], {"buckets[0].max"}),
        ([Bucket(D("0"), D("1")), Bucket(D("1"), D("1")), Bucket(D("1"), None)], {"buckets[1].max"}),
        ([], {"buckets"}),
    ],
)
def test_buckets_cover_zero_to_infinity_without_gaps_or_overlaps(buckets: list[Bucket], expected: set[str]) -> None:
    cells = [[Guideline(D("1"), D("1"), D("1"))] * len(buckets)] * 2
    assert fields(matrix(buckets=buckets, cells=cells)) == expected


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([RatingRow(D("2"), D("3")), RatingRow(D("3"), D("5"))], {"rows[0].min"}),
        ([RatingRow(D("1"), D("3")), RatingRow(D("3"), D("4.5"))], {"rows[1].max"}),
        ([RatingRow(D("1"), D("2.5")), RatingRow(D("3"), D("5"))], {"rows[1].min"}),
        ([RatingRow(D("1"), D("3.5")), RatingRow(D("3"), D("5"))], {"rows[1].min"}),
        ([RatingRow(D("1"), D("1")), RatingRow(D("1"), D("5"))], {"rows[0].max"}),
    ],
)
def test_rating_rows_cover_the_scale(rows: list[RatingRow], expected: set[str]) -> None:
    assert fields(matrix(rows=rows)) == expected


def test_cells_are_ordered_and_shaped() -> None:
    good = Guideline(D("1"), D("2"), D("3"))
    assert fields(matrix(cells=[[good, good, good], [good, Guideline(D("3"), D("2"), D("4")), good]])) == {
        "cells[1][1].target"
    }
    assert fields(matrix(cells=[[good, good, Guideline(D("1"), D("5"), D("4"))], [good] * 3])) == {"cells[0][2].max"}
    assert fields(matrix(cells=[[good] * 3, [good] * 2])) == {"cells[1]"}
    assert fields(matrix(cells=[[good] * 3])) == {"cells"}
    assert rules.validate_matrix(Matrix(D("5"), D("1"), matrix().buckets, [RatingRow(D("5"), D("1"))], [[good] * 3]))


def test_lookup_uses_half_open_ranges_and_a_closed_top_row() -> None:
    m = matrix(
        cells=[
            [Guideline(D(0), D(b), D(9)) for b in (1, 2, 3)],
            [Guideline(D(0), D(b), D(9)) for b in (4, 5, 6)],
        ]
    )

    def target(rating: str, ratio: str) -> D | None:
        cell = rules.lookup(m, D(rating), D(ratio))
        return None if cell is None else cell.guideline.target

    assert target("1", "0") == D(1)
    assert target("2.999", "0.8999") == D(1)
    assert target("3", "0.9") == D(5)  # a boundary belongs to the upper row and bucket
    assert target("5", "1.1") == D(6)  # the scale maximum is in the last row
    assert target("4", "7.5") == D(6)  # the last bucket has no upper bound
    assert target("5.001", "1") is None
    assert target("0.5", "1") is None


def test_guideline_allows_its_bounds_and_budget_reports_what_remains() -> None:
    guideline = Guideline(D("1"), D("2"), D("3"))
    assert guideline.allows(D("1"))
    assert guideline.allows(D("3"))
    assert not guideline.allows(D("0.99"))
    assert not guideline.allows(D("3.01"))
    budget = rules.budget_of("EUR", D("100000"), D("2500"), D("3"))
    assert (budget.budget, budget.remaining) == (D("3000.00"), D("500.00"))
    assert rules.budget_of("EUR", D("100000"), D("2500"), None).remaining is None


def test_bonus_proration_multiplier_and_deviation() -> None:
    start, end = date(2026, 1, 1), date(2026, 12, 31)
    assert rules.proration(None, start, end) == Decimal(1)
    assert rules.proration(date(2019, 5, 1), start, end) == Decimal(1)
    assert rules.proration(date(2026, 7, 2), start, end) == Decimal("0.5014")  # 183 / 365
    assert rules.proration(date(2026, 12, 31), start, end) == Decimal("0.0027")  # 1 / 365
    assert rules.proration(date(2027, 1, 1), start, end) == Decimal(0)
    table = [
        rules.MultiplierRow(Decimal(1), Decimal(3), Decimal("0.5")),
        rules.MultiplierRow(Decimal(3), Decimal(5), Decimal("1.5")),
    ]
    assert rules.multiplier_for(table, Decimal("2.999")) == Decimal("0.5")
    assert rules.multiplier_for(table, Decimal(3)) == Decimal("1.5")
    assert rules.multiplier_for(table, Decimal(5)) == Decimal("1.5")  # the last row is closed
    assert rules.multiplier_for(table, Decimal("5.5")) is None
    # 40000 x 5 % x 1.0 x 1.2 x 0.5014 = 1203.36; half up to the cent.
    assert rules.bonus(Decimal(40000), Decimal(5), Decimal(1), Decimal("1.2"), Decimal("0.5014")) == Decimal("1203.36")
    assert rules.bonus(Decimal("100.01"), Decimal(5), Decimal(1), Decimal(1), Decimal(1)) == Decimal("5.00")
    assert rules.deviation_allowed(Decimal(9000), Decimal(10800), Decimal(20))
    assert not rules.deviation_allowed(Decimal(9000), Decimal("10800.01"), Decimal(20))
    assert rules.deviation_allowed(Decimal(9000), Decimal(7200), Decimal(20))
    assert not rules.deviation_allowed(Decimal(9000), Decimal(9001), Decimal(0))


def test_a_fixed_pool_wins_over_the_percentage_in_its_own_currency_only() -> None:
    amounts = {"EUR": D("25000.00")}
    fixed, other = rules.pool_rule("EUR", D("3"), amounts), rules.pool_rule("USD", D("3"), amounts)
    assert (fixed.amount, fixed.pct, fixed.basis) == (D("25000.00"), None, "amount")
    assert (other.amount, other.pct, other.basis) == (None, D("3"), "percent")
    assert rules.pool_rule("EUR", None, {}).basis is None
    assert rules.unit_pool(fixed, D("150000")) == D("25000.00")  # whatever the payroll
    assert rules.unit_pool(other, D("150000")) == D("4500.00")
    assert rules.unit_pool(rules.pool_rule("EUR", None, {}), D("150000")) is None
    assert rules.unit_pool(rules.pool_rule("EUR", D("3"), {"EUR": D("0")}), D("150000")) == D("0.00")


def test_a_fixed_pool_is_shared_pro_rata_to_salary_over_the_units_payroll() -> None:
    """Eng fixes 5,400 EUR: Mia's reports earn 90,000 of its 150,000, so 3,240; Sam's 2,160."""
    eng = [("Eng", "EUR", D("50000"), D("2000")), ("Eng", "EUR", D("40000"), D("1200"))]
    sams = [("Eng", "EUR", D("60000"), D("1800")), ("Ops", "EUR", D("30000"), D("900"))]
    payrolls = rules.unit_payrolls(eng + sams)
    assert payrolls[("Eng", "EUR")] == (D("150000"), 3)

    def rule(unit: str, currency: str) -> rules.PoolRule:
        return rules.pool_rule(currency, D("4"), {"EUR": D("5400")} if unit == "Eng" else {})

    [mia] = rules.pools_of(eng, rule, payrolls).values()
    assert (mia.payroll, mia.proposed, mia.budget, mia.remaining, mia.basis) == (
        D("90000"),
        D("3200"),
        D("3240.00"),
        D("40.00"),
        "amount",
    )
    # Sam's reports: 5,400 x 60,000 / 150,000 = 2,160 of Eng's pool and 4 % of Ops' 30,000.
    [sam] = rules.pools_of(sams, rule, payrolls).values()
    assert (sam.budget, sam.basis) == (D("3360.00"), "mixed")
    # The whole unit gets its amount back, not payroll x 4 %.
    whole = rules.pools_of(eng + sams[:1], rule, payrolls)
    assert whole["EUR"].budget == D("5400.00")


def test_a_group_s_share_of_a_fixed_pool_follows_its_payroll_or_its_head_count() -> None:
    fixed = rules.pool_rule("EUR", D("3"), {"EUR": D("900")})
    assert rules.pool_share(fixed, D("200000"), D("450000"), 10, 5) == D("400")
    # A unit paid nothing: per head, two of its three people.
    assert rules.pool_share(fixed, D("0"), D("0"), 3, 2) == D("600")
    assert rules.pool_share(rules.pool_rule("EUR", D("3"), {}), D("200000"), D("450000"), 10, 5) == D("6000")


def test_shares_of_a_fixed_pool_round_per_manager_and_add_up_for_the_unit() -> None:
    lines = [("Eng", "EUR", D("1000"), D("0"))] * 3
    payrolls = rules.unit_payrolls(lines)

    def rule(unit: str, currency: str) -> rules.PoolRule:
        return rules.pool_rule(currency, None, {"EUR": D("100.00")})

    assert rules.pools_of(lines[:1], rule, payrolls)["EUR"].budget == D("33.33")
    assert rules.pools_of(lines[:2], rule, payrolls)["EUR"].budget == D("66.67")  # 66.666..: half up
    assert rules.pools_of(lines, rule, payrolls)["EUR"].budget == D("100.00")
    # A unit paid nothing in the currency shares its amount per head.
    unpaid = [("Eng", "EUR", D("0"), D("0"))] * 4
    assert rules.pools_of(unpaid[:1], rule, rules.unit_payrolls(unpaid))["EUR"].budget == D("25.00")


def test_a_currency_without_an_amount_keeps_the_percentage_and_no_pool_stays_none() -> None:
    lines = [("Eng", "EUR", D("50000"), D("0")), ("Eng", "USD", D("100000"), D("0")), ("Lab", "GBP", D("1"), D("0"))]

    def rule(unit: str, currency: str) -> rules.PoolRule:
        if unit == "Lab":
            return rules.pool_rule(currency, None, {})
        return rules.pool_rule(currency, D("4"), {"EUR": D("1000")})

    pools = rules.pools_of(lines, rule, rules.unit_payrolls(lines))
    assert [(c, b.budget, b.basis) for c, b in pools.items()] == [
        ("EUR", D("1000.00"), "amount"),
        ("GBP", None, None),
        ("USD", D("4000.00"), "percent"),
    ]
    assert rules.merge_basis(None, "percent") == "percent"
    assert rules.merge_basis("percent", None) == "percent"
    assert rules.merge_basis("amount", "percent") == "mixed"
    assert rules.merge_basis("mixed", "amount") == "mixed"


def test_a_line_the_whole_units_payroll_missed_counts_as_its_only_line() -> None:
    """A proposal committed between the manager's read and the unit's read (read committed) gives no KeyError."""
    line = ("Eng", "USD", D("80000"), D("0"))

    def rule(unit: str, currency: str) -> rules.PoolRule:
        return rules.pool_rule(currency, None, {"USD": D("2000")})

    assert rules.pools_of([line], rule, {})["USD"].budget == D("2000.00")
