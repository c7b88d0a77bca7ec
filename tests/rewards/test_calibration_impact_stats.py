"""Adverse impact and the projection of merit and bonus, against small cases worked out by hand."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal
from math import comb

import numpy as np
import pytest

from services.rewards import rules
from services.rewards.calibration_impact import stats
from services.rewards.calibration_impact.stats import Suppressed


def test_fisher_exact_sums_the_tables_no_more_likely_than_the_observed_one() -> None:
    # [[2, 8], [6, 4]]: margins 10/10 and 8/12, N = 20. P(k) = C(10, k) C(10, 8 - k) / C(20, 8):
    # k = 0..8 -> 45, 1200, 9450, 30240, 44100, 30240, 9450, 1200, 45 (over 125970). The observed
    # k = 2 (9450); as likely or less: k = 0, 1, 2, 6, 7, 8.
    assert stats.fisher_exact(2, 8, 6, 4) == pytest.approx(2 * (45 + 1200 + 9450) / 125970, rel=1e-9)
    # [[1, 9], [11, 3]]: margins 10/14 and 12/12, N = 24; P(k) = C(10, k) C(14, 12 - k) / C(24, 12).
    p = [comb(10, k) * comb(14, 12 - k) / comb(24, 12) for k in range(0, 11)]
    assert stats.fisher_exact(1, 9, 11, 3) == pytest.approx(sum(x for x in p if x <= p[1] * (1 + 1e-7)), rel=1e-9)
    assert stats.fisher_exact(3, 3, 3, 3) == pytest.approx(1.0)


def test_four_fifths_without_significance_is_no_adverse_impact_and_small_groups_are_hidden() -> None:
    values = ["female"] * 10 + ["male"] * 10 + ["other"] * 3
    top = [True] * 2 + [False] * 8 + [True] * 6 + [False] * 4 + [True] * 3

    found = stats.adverse_impact("gender", values, top, min_cell=5)

    assert (found.reference, found.suppressed) == ("male", None)
    groups = {g.value: g for g in found.groups}
    women, men, other = groups["female"], groups["male"], groups["other"]
    assert (women.people, women.top, women.rate) == (10, 2, 0.2)
    assert women.impact_ratio == pytest.approx(0.2 / 0.6)  # 0.333 < 0.8
    assert women.below_four_fifths is True
    assert women.p_value == pytest.approx(21390 / 125970)  # 0.170: not significant at 0.05
    assert (women.significant, women.adverse_impact) == (False, False)
    assert (men.impact_ratio, men.adverse_impact) == (1.0, False)
    # Three people: counts, rate and comparison hidden, although all three were rated top.
    assert (other.people, other.top, other.rate, other.suppressed) == (None, None, None, Suppressed.small_cell)


def test_a_large_enough_difference_is_adverse_impact() -> None:
    values = ["female"] * 20 + ["male"] * 20
    top = [True] * 2 + [False] * 18 + [True] * 12 + [False] * 8

    women = next(g for g in stats.adverse_impact("gender", values, top, 5).groups if g.value == "female")

    # rates 0.1 and 0.6; ratio 1/6. P(k) = C(20, k) C(20, 14 - k) / C(40, 14), observed k = 2.
    p = [comb(20, k) * comb(20, 14 - k) / comb(40, 14) for k in range(0, 15)]
    expected = sum(x for x in p if x <= p[2] * (1 + 1e-7))
    assert women.impact_ratio == pytest.approx(1 / 6)
    assert women.p_value == pytest.approx(expected, rel=1e-9)
    assert expected < 0.01  # 0.0022
    assert (women.below_four_fifths, women.significant, women.adverse_impact) == (True, True, True)


def test_a_single_gender_has_nothing_to_compare() -> None:
    only_women = stats.adverse_impact("gender", ["female"] * 8, [True] * 3 + [False] * 5, 5)
    one_big_one_small = stats.adverse_impact("gender", ["female"] * 8 + ["male"] * 4, [True] * 12, 5)

    assert (only_women.suppressed, only_women.reference) == (Suppressed.single_group, None)
    assert [(g.value, g.people, g.top, g.impact_ratio) for g in only_women.groups] == [("female", 8, 3, None)]
    assert one_big_one_small.suppressed is Suppressed.single_group
    assert {g.value: g.people for g in one_big_one_small.groups} == {"female": 8, "male": None}


def test_no_top_rating_anywhere_flags_nobody() -> None:
    found = stats.adverse_impact("gender", ["female"] * 5 + ["male"] * 5, [False] * 10, 5)

    assert all(not g.adverse_impact for g in found.groups)
    assert next(g for g in found.groups if g.value != found.reference).impact_ratio is None


MATRIX = stats.MatrixArrays(
    bucket_mins=np.array([0.0, 0.9, 1.1]),
    row_mins=np.array([1.0, 2.0, 3.0, 4.0]),
    targets=np.array([[0, 0, 0], [1, 0.5, 0], [3, 2.5, 2], [5, 4, 3]], dtype=np.float64),
)
BONUS = stats.BonusArrays(np.array([1.0, 3.0, 4.0]), 5.0, np.array([0.5, 1.0, 1.5]), 1.2)


def test_projection_prices_merit_and_bonus_as_the_rules_do() -> None:
    salary = np.array([50000.0, 60000.0, 40000.0, 50000.0, np.nan])
    midpoint = np.array([50000.0, 50000.0, 50000.0, 0.0, 50000.0])
    rating = np.array([4.0, 3.0, 5.0, 4.0, 4.0])
    target = np.array([10.0, 10.0, np.nan, 10.0, 10.0])
    proration = np.array([1.0, 0.5, 1.0, 1.0, 1.0])

    found = stats.project(salary, midpoint, rating, MATRIX, target, proration, BONUS)

    # ratio 1.0 -> "at", rating 4 -> 4 %; ratio 1.2 -> "above", 3 -> 2 %; ratio 0.8 -> "below",
    # 5 (the closed top row) -> 5 %; no midpoint and no record: not priced.
    assert found.merit_pct[:3].tolist() == [4.0, 2.0, 5.0]
    assert np.isnan(found.merit_pct[3:]).all()
    assert found.increase.tolist() == [2000.0, 1200.0, 2000.0, 0.0, 0.0]
    # 50000 x 10 % x 1.5 x 1.2 = 9000; 60000 x 10 % x 1.0 x 1.2 x 0.5 = 3600; no target: 0;
    # the fourth has a record (so a bonus) without a midpoint: 9000; no record: 0.
    assert found.bonus.tolist() == [9000.0, 3600.0, 0.0, 9000.0, 0.0]


def test_projection_agrees_with_the_decimal_rules_to_the_cent() -> None:
    generator = random.Random(11)
    rows = [
        (
            Decimal(generator.randrange(2_000_000, 20_000_000)) / 100,
            Decimal(generator.choice([40000, 50000, 65000])),
            Decimal(generator.choice([1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5])),
            Decimal(generator.choice([5, 7.5, 10, 12.25])),
            rules.proration(date(2026, generator.randrange(1, 13), 1), date(2026, 1, 1), date(2026, 12, 31)),
        )
        for _ in range(3000)
    ]
    matrix = rules.Matrix(
        Decimal(1),
        Decimal(5),
        [
            rules.Bucket(Decimal(0), Decimal("0.9")),
            rules.Bucket(Decimal("0.9"), Decimal("1.1")),
            rules.Bucket(Decimal("1.1"), None),
        ],
        [rules.RatingRow(Decimal(low), Decimal(low + 1)) for low in range(1, 5)],
        [[rules.Guideline(Decimal(0), Decimal(str(t)), Decimal(10)) for t in row] for row in MATRIX.targets.tolist()],
    )
    multipliers = [
        rules.MultiplierRow(Decimal(1), Decimal(3), Decimal("0.5")),
        rules.MultiplierRow(Decimal(3), Decimal(4), Decimal(1)),
        rules.MultiplierRow(Decimal(4), Decimal(5), Decimal("1.5")),
    ]

    found = stats.project(
        np.array([float(r[0]) for r in rows]),
        np.array([float(r[1]) for r in rows]),
        np.array([float(r[2]) for r in rows]),
        MATRIX,
        np.array([float(r[3]) for r in rows]),
        np.array([float(r[4]) for r in rows]),
        BONUS,
    )

    for i, (salary, midpoint, rating, target, prorated) in enumerate(rows):
        ratio = rules.compa_ratio(salary, midpoint)
        assert ratio is not None
        cell = rules.lookup(matrix, rating, ratio)
        assert cell is not None
        multiplier = rules.multiplier_for(multipliers, rating)
        assert multiplier is not None
        assert Decimal(repr(round(float(found.increase[i]), 2))) == rules.increase(salary, cell.guideline.target), i
        expected_bonus = rules.bonus(salary, target, multiplier, Decimal("1.2"), prorated)
        assert Decimal(repr(round(float(found.bonus[i]), 2))) == expected_bonus, i
