"""Calibration's consequences in numbers: adverse impact and projected pay. No I/O here.

**Adverse impact** (docs/rewards.md, "Calibration: adverse impact and live consequences"):

* Per group of an attribute (gender: female, male, other, undisclosed), the *rate of top
  ratings* is ``top / people``. A group of fewer than ``min_cell`` people is suppressed: its
  counts and rate are ``None``, and it is compared with nothing.
* The *reference* group is the unsuppressed group with the highest rate (ties: the larger
  group, then the name). Each other group's *impact ratio* is its rate / the reference rate;
  below 0.8 it fails the **four-fifths rule** (US EEOC Uniform Guidelines, 29 CFR 1607.4 D).
* *Significance*: the two-sided **Fisher exact test** of the 2x2 table (top, not top) x
  (group, reference); p < ``alpha`` (0.05) is significant. It is exact for the small groups of
  a calibration session, where the two-proportion z-test's normal approximation is not.
* *Adverse impact* is flagged when both hold: below four-fifths **and** significant.
* Fewer than two unsuppressed groups (one gender only, or every other group too small): the
  attribute is suppressed as ``single_group``: there is nothing to compare.

**Projection** of merit and bonus follows ``services/rewards/rules.py`` in numpy floats
(vectorised over a session): compa-ratio to 4 decimals half up, the matrix cell's target %,
``new salary`` to the cent half up, bonus ``salary x target % x multiplier x company factor x
proration`` to the cent half up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

FOUR_FIFTHS = 0.8
ALPHA = 0.05
# Float arithmetic on amounts with few decimals lands a hair below a true half cent; the nudge
# is far below any real distance to a half cent (amounts x percentages have <= 6 decimals).
_NUDGE = 1e-6


class Suppressed(StrEnum):
    small_cell = "small_cell"  # the group has fewer people than the minimum cell size
    single_group = "single_group"  # fewer than two groups to compare (e.g. one gender only)


@dataclass(frozen=True, slots=True)
class GroupRate:
    value: str
    people: int | None
    top: int | None
    rate: float | None
    impact_ratio: float | None
    below_four_fifths: bool | None
    p_value: float | None
    significant: bool | None
    adverse_impact: bool
    suppressed: Suppressed | None


@dataclass(frozen=True, slots=True)
class AttributeImpact:
    attribute: str
    reference: str | None
    groups: list[GroupRate]
    suppressed: Suppressed | None


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def fisher_exact(a: int, b: int, c: int, d: int) -> float:
    """Two-sided p of the table ``[[a, b], [c, d]]``: the probability, under independence with
    the margins fixed, of every table no more likely than the observed one."""
    row1, row2, col1 = a + b, c + d, a + c
    n = row1 + row2
    low, high = max(0, col1 - row2), min(row1, col1)
    base = _log_comb(n, col1)

    def log_p(k: int) -> float:
        return _log_comb(row1, k) + _log_comb(row2, col1 - k) - base

    observed = log_p(a)
    # Relative tolerance as in R and SciPy, so tables as likely as the observed one are counted.
    limit = observed + math.log1p(1e-7)
    total = sum(math.exp(lp) for lp in (log_p(k) for k in range(low, high + 1)) if lp <= limit)
    return min(1.0, total)


def adverse_impact(
    attribute: str, values: Sequence[str], top: Sequence[bool], min_cell: int, alpha: float = ALPHA
) -> AttributeImpact:
    counts: dict[str, list[int]] = {}
    for value, is_top in zip(values, top, strict=True):
        cell = counts.setdefault(value, [0, 0])
        cell[0] += 1
        cell[1] += int(is_top)
    shown = {value: cell for value, cell in counts.items() if cell[0] >= min_cell}
    if len(shown) < 2:
        groups = [_hidden(value) if value not in shown else _alone(value, *shown[value]) for value in sorted(counts)]
        return AttributeImpact(attribute, None, groups, Suppressed.single_group)
    reference = max(shown, key=lambda v: (shown[v][1] / shown[v][0], shown[v][0], [-ord(ch) for ch in v]))
    ref_people, ref_top = shown[reference]
    ref_rate = ref_top / ref_people
    groups = []
    for value in sorted(counts):
        if value not in shown:
            groups.append(_hidden(value))
            continue
        people, tops = shown[value]
        rate = tops / people
        if value == reference:
            groups.append(GroupRate(value, people, tops, rate, 1.0, False, None, None, False, None))
            continue
        ratio = None if ref_rate == 0 else rate / ref_rate
        below = ratio is not None and ratio < FOUR_FIFTHS
        p = fisher_exact(tops, people - tops, ref_top, ref_people - ref_top)
        significant = p < alpha
        groups.append(GroupRate(value, people, tops, rate, ratio, below, p, significant, below and significant, None))
    return AttributeImpact(attribute, reference, groups, None)


def _hidden(value: str) -> GroupRate:
    return GroupRate(value, None, None, None, None, None, None, None, False, Suppressed.small_cell)


def _alone(value: str, people: int, tops: int) -> GroupRate:
    return GroupRate(value, people, tops, tops / people, None, None, None, None, False, None)


# --- projection of merit and bonus -----------------------------------------------------------


def half_up(values: FloatArray, step: float) -> FloatArray:
    """Round half up to ``step`` (0.01, 0.0001); values are never negative here."""
    scaled: FloatArray = np.floor(values / step + 0.5 + _NUDGE)
    return scaled * step


def row_index(mins: FloatArray, values: FloatArray) -> IntArray:
    """Index of the half-open range ``[min, next min)`` holding each value; the last range is
    closed at the top, so a value equal to the scale's maximum lands in it (as rules.row_for)."""
    index: IntArray = np.searchsorted(mins, values, side="right").astype(np.int64) - 1
    return np.clip(index, 0, len(mins) - 1)


@dataclass(frozen=True, slots=True)
class MatrixArrays:
    """A merit matrix as arrays: bucket and row lower bounds and the target % of each cell."""

    bucket_mins: FloatArray
    row_mins: FloatArray
    targets: FloatArray  # [row, bucket]


@dataclass(frozen=True, slots=True)
class BonusArrays:
    multiplier_mins: FloatArray
    multiplier_max: float  # the last row's upper bound (closed)
    multipliers: FloatArray
    company_factor: float


@dataclass(frozen=True, slots=True)
class Projection:
    merit_pct: FloatArray  # NaN where no merit could be priced
    increase: FloatArray  # 0 where not priced
    bonus: FloatArray  # 0 where no bonus


def project(
    salary: FloatArray,
    midpoint: FloatArray,
    rating: FloatArray,
    matrix: MatrixArrays | None,
    bonus_target_pct: FloatArray,
    proration: FloatArray,
    bonus: BonusArrays | None,
) -> Projection:
    """Merit and bonus of each person at ``rating`` (positions aligned; NaN salary: no record)."""
    count = len(salary)
    pct = np.full(count, np.nan)
    if matrix is not None:
        priced = ~np.isnan(salary) & (midpoint > 0)
        ratio = half_up(np.where(priced, salary / np.where(priced, midpoint, 1.0), 0.0), 0.0001)
        bucket = row_index(matrix.bucket_mins, ratio)
        row = row_index(matrix.row_mins, rating)
        pct = np.where(priced, matrix.targets[row, bucket], np.nan)
    base = np.where(np.isnan(salary), 0.0, salary)
    merit = ~np.isnan(pct)
    new = half_up(base * (1 + np.where(merit, pct, 0.0) / 100), 0.01)
    increase = np.where(merit, new - half_up(base, 0.01), 0.0)
    amount = np.zeros(count)
    if bonus is not None:
        multiplier = bonus.multipliers[row_index(bonus.multiplier_mins, rating)]
        covered = (rating >= bonus.multiplier_mins[0]) & (rating <= bonus.multiplier_max)
        has = ~np.isnan(bonus_target_pct) & ~np.isnan(salary) & covered
        raw = base * np.where(has, bonus_target_pct, 0.0) / 100 * multiplier * bonus.company_factor * proration
        amount = np.where(has, half_up(raw, 0.01), 0.0)
    return Projection(pct, increase, amount)
