"""The pay-equity statistics against small populations worked out by hand (no database)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from services.rewards.equity import stats
from services.rewards.equity.stats import Population, Suppressed


def population(people: list[tuple[str, str, float, float, float, str | None, str | None]]) -> Population:
    """(id, gender, base, variable, fte, worker_category, job_level) per person; tenure unknown."""
    return Population.from_rows(
        person_ids=[p[0] for p in people],
        gender=[p[1] for p in people],
        base=[p[2] for p in people],
        variable=[p[3] for p in people],
        fte=[p[4] for p in people],
        tenure=[None] * len(people),
        attributes={"worker_category": [p[5] for p in people], "job_level": [p[6] for p in people]},
    )


# ENG: five women and five men (W5 half time), one person of another gender.
# OPS: five men only (a category with a single gender). LEGAL: three people (a small cell).
ART9 = population(
    [
        ("W1", "female", 40000, 1000, 1, "ENG", None),
        ("W2", "female", 42000, 1000, 1, "ENG", None),
        ("W3", "female", 44000, 500, 1, "ENG", None),
        ("W4", "female", 46000, 500, 1, "ENG", None),
        ("W5", "female", 24000, 0, 0.5, "ENG", None),
        ("M1", "male", 45000, 2000, 1, "ENG", None),
        ("M2", "male", 50000, 3000, 1, "ENG", None),
        ("M3", "male", 50000, 0, 1, "ENG", None),
        ("M4", "male", 55000, 0, 1, "ENG", None),
        ("M5", "male", 60000, 5000, 1, "ENG", None),
        ("X1", "other", 47000, 0, 1, "ENG", None),
        ("M6", "male", 30000, 1000, 1, "OPS", None),
        ("M7", "male", 32000, 1000, 1, "OPS", None),
        ("M8", "male", 34000, 1000, 1, "OPS", None),
        ("M9", "male", 36000, 1000, 1, "OPS", None),
        ("M10", "male", 38000, 1000, 1, "OPS", None),
        ("W6", "female", 70000, 4000, 1, "LEGAL", None),
        ("M11", "male", 80000, 0, 1, "LEGAL", None),
        ("M12", "male", 90000, 6000, 1, "LEGAL", None),
    ]
)


def test_art9_indicators_by_hand() -> None:
    report = stats.art9_report(ART9, min_cell=5)
    assert (report.people, report.women, report.men) == (19, 6, 12)
    assert report.other_or_undisclosed is None  # one person: suppressed

    # (a)/(c) total pay per FTE. Women: 41000 43000 44500 46500 48000 (24000/0.5) 74000,
    # mean 297000/6 = 49500, median (44500+46500)/2 = 45500. Men: 47000 53000 50000 55000 65000
    # 31000 33000 35000 37000 39000 80000 96000, mean 621000/12 = 51750, median (47000+50000)/2.
    assert report.pay_gap.women == 6
    assert report.pay_gap.men == 12
    assert report.pay_gap.mean_pct == pytest.approx((51750 - 49500) / 51750 * 100)  # 4.35 %
    assert report.pay_gap.median_pct == pytest.approx((48500 - 45500) / 48500 * 100)  # 6.19 %

    # (b)/(d) over recipients only. Women 1000 1000 500 500 4000: mean 1400, median 1000.
    # Men 2000 3000 5000 1000x5 6000: mean 21000/9, median 1000.
    assert (report.variable_pay_gap.women, report.variable_pay_gap.men) == (5, 9)
    assert report.variable_pay_gap.mean_pct == pytest.approx(40.0)
    assert report.variable_pay_gap.median_pct == pytest.approx(0.0)

    # (e) 5 of 6 women, 9 of 12 men.
    assert report.variable_pay_share.women_pct == pytest.approx(500 / 6)
    assert report.variable_pay_share.men_pct == pytest.approx(75.0)

    # (f) 18 women and men ranked by total pay, cut 5/5/4/4:
    # 31M 33M 35M 37M 39M | 41W 43W 44.5W 46.5W 47M | 48W 50M 53M 55M | 65M 74W 80M 96M
    bands = [(b.quartile, b.people, b.women_pct, b.men_pct, b.suppressed) for b in report.quartiles]
    assert bands == [
        (1, 5, 0.0, 100.0, None),
        (2, 5, 80.0, 20.0, None),
        (3, None, None, None, Suppressed.small_cell),  # four people
        (4, None, None, None, Suppressed.small_cell),
    ]

    # (g) ENG basic pay per FTE: women 40 42 44 46 48 (mean = median = 44000), men 45 50 50 55 60
    # (mean 52000, median 50000); 4 women received variable pay: suppressed.
    eng, legal, ops = report.categories
    assert (eng.category, eng.people) == ("ENG", 10)
    assert eng.basic_pay.mean_pct == pytest.approx(8000 / 52000 * 100)  # 15.38 %
    assert eng.basic_pay.median_pct == pytest.approx(12.0)
    assert eng.variable_pay == stats.Gap(None, None, None, None, Suppressed.small_cell)
    assert (legal.category, legal.people) == ("LEGAL", None)  # three people
    assert legal.basic_pay.suppressed is Suppressed.small_cell
    assert legal.basic_pay.women is None
    assert (ops.category, ops.people) == ("OPS", 5)
    assert ops.basic_pay == stats.Gap(None, None, None, None, Suppressed.single_gender)
    assert ops.variable_pay.suppressed is Suppressed.single_gender


def test_a_larger_minimum_cell_suppresses_more() -> None:
    report = stats.art9_report(ART9, min_cell=6)
    eng = report.categories[0]
    assert eng.people == 10
    assert eng.basic_pay.suppressed is Suppressed.small_cell  # five women, five men
    assert report.pay_gap.mean_pct is not None  # six women, twelve men
    assert report.variable_pay_gap.suppressed is Suppressed.small_cell  # five women received some
    assert report.variable_pay_share.women_pct is not None
    assert report.variable_pay_share.men_pct is not None
    assert [band.suppressed for band in report.quartiles] == [Suppressed.small_cell] * 4


def test_t_quantiles() -> None:
    # Published values of Student's t, 97.5 %.
    for df, value in ((3, 3.182446), (11, 2.200985), (15, 2.131450), (20, 2.085963), (30, 2.042272), (1000, 1.962339)):
        assert stats.t_quantile_975(df) == pytest.approx(value, abs=2e-5)


D = 0.1


def spread(
    prefix: str, gender: str, centre: float, count: int, level: str | None = None, category: str = "C"
) -> list[tuple[str, str, float, float, float, str | None, str | None]]:
    """``count`` people (even) paid centre·e^{+D} and centre·e^{-D} in turn: log residuals ±D."""
    return [
        (f"{prefix}{i}", gender, centre * math.exp(D if i % 2 == 0 else -D), 0.0, 1.0, category, level)
        for i in range(count)
    ]


def test_adjusted_gap_without_controls_by_hand() -> None:
    people = population(spread("w", "female", 90000, 6) + spread("m", "male", 100000, 6))
    result, fit = stats.adjusted_gap(people, np.arange(12), [], min_cell=5)
    # b = mean log(women) - mean log(men) = ln 0.9; residuals ±D, RSS = 12 D², df = 10,
    # var(b) = RSS/df · (1/6 + 1/6) = 0.4 D².
    b, se = math.log(0.9), D * math.sqrt(0.4)
    margin = 2.228139 * se
    assert fit is not None
    assert result.coefficient == pytest.approx(b)
    assert result.standard_error == pytest.approx(se)
    assert result.degrees_of_freedom == 10
    assert result.gap_pct == pytest.approx(10.0)
    assert result.ci_low_pct == pytest.approx((1 - math.exp(b + margin)) * 100, abs=1e-3)
    assert result.ci_high_pct == pytest.approx((1 - math.exp(b - margin)) * 100, abs=1e-3)


def test_adjusted_gap_controls_for_job_level() -> None:
    # Level A: 4 women ~90k, 2 men ~100k; level B: 2 women ~180k, 4 men ~200k. Within each
    # level women earn 10 % less, but more women are in the lower level: the unadjusted gap
    # is much larger than the adjusted one.
    people = population(
        spread("wa", "female", 90000, 4, "A")
        + spread("ma", "male", 100000, 2, "A")
        + spread("wb", "female", 180000, 2, "B")
        + spread("mb", "male", 200000, 4, "B")
    )
    result, _ = stats.adjusted_gap(people, np.arange(12), ["job_level"], min_cell=5)
    assert result.gap_pct == pytest.approx(10.0)
    assert result.degrees_of_freedom == 9
    assert result.ci_low_pct is not None
    assert result.ci_high_pct is not None
    assert result.ci_low_pct < 10 < result.ci_high_pct
    assert result.unadjusted.mean_pct is not None
    assert result.unadjusted.mean_pct > 25
    plain, _ = stats.adjusted_gap(people, np.arange(12), [], min_cell=5)
    assert plain.gap_pct is not None
    assert plain.gap_pct > 25


def test_gender_explained_by_the_controls_is_not_identifiable() -> None:
    people = population(spread("w", "female", 90000, 6, "A") + spread("m", "male", 100000, 6, "B"))
    result, fit = stats.adjusted_gap(people, np.arange(12), ["job_level"], min_cell=5)
    assert fit is None
    assert result.suppressed is Suppressed.not_identifiable
    assert result.gap_pct is None


def test_flags_and_suppression_per_category() -> None:
    people = population(
        spread("w", "female", 90000, 6, category="GAP")
        + spread("m", "male", 100000, 6, category="GAP")
        + spread("v", "female", 98000, 6, category="FAIR")
        + spread("n", "male", 100000, 6, category="FAIR")
        + spread("s", "female", 50000, 6, category="WOMEN")
        + spread("t", "female", 70000, 2, category="TINY")
        + spread("u", "male", 70000, 2, category="TINY")
    )
    equity, fits = stats.pay_equity(people, [], min_cell=5, flag_pct=5.0)
    by_name = {item.category: item for item in equity.categories}
    assert by_name["GAP"].flagged
    assert by_name["GAP"].gap.gap_pct == pytest.approx(10.0)
    assert not by_name["FAIR"].flagged
    assert by_name["FAIR"].gap.gap_pct == pytest.approx(2.0)
    assert by_name["WOMEN"].gap.suppressed is Suppressed.single_gender
    assert not by_name["WOMEN"].flagged
    assert by_name["TINY"].gap.suppressed is Suppressed.small_cell
    assert by_name["TINY"].gap.women is None
    assert set(fits) == {"GAP"}


def test_remediation_closes_the_gap_with_the_raises_worked_out_by_hand() -> None:
    people = population(spread("w", "female", 90000, 6) + spread("m", "male", 100000, 6))
    _, fits = stats.pay_equity(people, [], min_cell=5, flag_pct=5.0)
    (remedy,) = stats.remediate(people, fits, budget=100000)
    # b = ln 0.9 and every weight is 1/6, so the log lifts must add up to 6·ln(10/9). A woman's
    # underpayment is ±D - ln(10/9): the floor 0 lifts the three at 90k·e^{-D} by D + ln(10/9) and
    # the three at 90k·e^{+D} by ln(10/9) - D, together exactly 6·ln(10/9): each woman is raised
    # to 100k, the men's pay for the same (no) controls. That is cheaper than the uniform raise
    # (+11.1 % each: 60300.27), because more of it goes to the lower paid.
    lows = math.ceil((100000 - 90000 * math.exp(-D)) * 100) / 100  # 18564.64
    highs = math.ceil((100000 - 90000 * math.exp(D)) * 100) / 100  # 534.62
    assert remedy.closes_gap
    assert remedy.cost == pytest.approx(3 * lows + 3 * highs, abs=0.011)  # 57297.78
    assert sorted(round(r.amount, 2) for r in remedy.raises) == [highs] * 3 + [lows] * 3
    assert {people.person_ids[r.position][0] for r in remedy.raises} == {"w"}
    raised = people.base.copy()
    for item in remedy.raises:
        raised[item.position] += item.amount
    after = Population(**{**people.__dict__, "base": raised})
    result, _ = stats.adjusted_gap(after, np.arange(12), [], min_cell=5)
    assert result.gap_pct == pytest.approx(0.0, abs=0.01)


def test_remediation_within_a_smaller_budget_lifts_the_lowest_paid_first() -> None:
    people = population(spread("w", "female", 90000, 6) + spread("m", "male", 100000, 6))
    _, fits = stats.pay_equity(people, [], min_cell=5, flag_pct=5.0)
    (remedy,) = stats.remediate(people, fits, budget=20000)
    assert not remedy.closes_gap
    assert 19000 < remedy.cost <= 20000
    assert 0 < remedy.gap_after_pct < remedy.gap_before_pct
    # The three women paid 90k·e^{-D} are lifted first; the others get nothing yet.
    assert {people.person_ids[r.position] for r in remedy.raises} == {"w1", "w3", "w5"}


def test_men_underpaid_are_raised_when_the_gap_is_negative() -> None:
    people = population(spread("w", "female", 100000, 6) + spread("m", "male", 90000, 6))
    _, fits = stats.pay_equity(people, [], min_cell=5, flag_pct=5.0)
    (remedy,) = stats.remediate(people, fits, budget=1_000_000)
    assert remedy.gap_before_pct < -5
    assert remedy.closes_gap
    assert {people.person_ids[r.position][0] for r in remedy.raises} == {"m"}
