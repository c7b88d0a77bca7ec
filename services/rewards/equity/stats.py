"""Pay-equity statistics: the EU Art. 9 indicators, the adjusted gap and remediation. No I/O here.

Everything works on a ``Population``: one numpy array per attribute, one position per person.
The formulas (docs/rewards.md, "Pay equity"):

* Pay is FTE-adjusted: ``annual amount / fte``, so a part-timer is compared at full time.
  *Total pay* is base plus variable pay. Only women and men enter the gaps and the quartile
  bands (the Directive's indicators compare the two); ``other`` and ``undisclosed`` count in
  the population figures.
* A **gap** is ``(statistic of men - that of women) / that of men * 100`` for the mean and the
  median; positive means women are paid less.
* The **adjusted gap** is the OLS regression ``log(base pay / fte) ~ 1 + female + controls``
  over women and men; categorical controls become one indicator per level but the first. It
  is reported as ``(1 - exp(b_female)) * 100`` with the 95 % interval ``b ± t(0.975, n - rank)
  * se``, mapped the same way. Controls that duplicate each other are harmless (a generalised
  inverse; ``b_female`` is estimable whenever gender is not explained by the controls).
* A **cell** (a statistic over a group) covering fewer than ``min_cell_size`` women or men is
  suppressed: its values and its head counts are ``None`` and ``suppressed`` names why.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

# One BLAS thread unless the operator sets otherwise. The products here are tall and thin
# (100,000 x 20), where threads gain little, and on a busy two-core host OpenBLAS's spinning
# threads made the report 10-30x slower (bench/pay_equity.py). Only effective if numpy is not
# loaded yet; nothing else in the project imports it.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

FEMALE, MALE, OTHER, UNDISCLOSED = 0, 1, 2, 3
GENDER_CODES = {"female": FEMALE, "male": MALE, "other": OTHER, "undisclosed": UNDISCLOSED}
CATEGORICAL = ("job_level", "job_family", "location", "worker_category", "employment_type")
NUMERIC = ("tenure", "fte")
UNCATEGORISED = "(none)"


class Suppressed(StrEnum):
    small_cell = "small_cell"  # fewer than the minimum cell size of women or of men
    single_gender = "single_gender"  # only women or only men: there is nothing to compare
    not_identifiable = "not_identifiable"  # the controls explain gender entirely
    too_few_people = "too_few_people"  # no degrees of freedom left for an interval


@dataclass
class Population:
    """People as columns. Categorical attributes are integer codes into ``labels[name]`` (-1: none)."""

    person_ids: list[str]
    gender: IntArray
    base: FloatArray  # annual base salary actually paid, at the person's FTE
    variable: FloatArray  # variable pay of the year
    fte: FloatArray
    tenure: FloatArray  # years; NaN when the hire date is unknown
    codes: dict[str, IntArray]
    labels: dict[str, list[str]]

    def __len__(self) -> int:
        return len(self.person_ids)

    @classmethod
    def from_rows(
        cls,
        person_ids: Sequence[str],
        gender: Sequence[str | None],
        base: Sequence[float],
        variable: Sequence[float],
        fte: Sequence[float],
        tenure: Sequence[float | None],
        attributes: dict[str, Sequence[str | None]],
    ) -> Population:
        return cls.from_columns(
            person_ids,
            gender,
            np.asarray(base, dtype=np.float64),
            np.asarray(variable, dtype=np.float64),
            np.asarray(fte, dtype=np.float64),
            np.asarray([math.nan if value is None else value for value in tenure], dtype=np.float64),
            attributes,
        )

    @classmethod
    def from_columns(
        cls,
        person_ids: Sequence[str],
        gender: Sequence[str | None],
        base: FloatArray,
        variable: FloatArray,
        fte: FloatArray,
        tenure: FloatArray,
        attributes: dict[str, Sequence[str | None]],
    ) -> Population:
        codes: dict[str, IntArray] = {}
        labels: dict[str, list[str]] = {}
        for name in CATEGORICAL:
            values = attributes.get(name) or [None] * len(person_ids)
            index: dict[str, int] = {}
            column = np.fromiter(
                (-1 if value is None else index.setdefault(value, len(index)) for value in values),
                dtype=np.int64,
                count=len(values),
            )
            codes[name], labels[name] = column, list(index)
        return cls(
            person_ids=list(person_ids),
            gender=np.fromiter(
                (GENDER_CODES.get(value or "undisclosed", UNDISCLOSED) for value in gender),
                dtype=np.int64,
                count=len(gender),
            ),
            base=base,
            variable=variable,
            fte=fte,
            tenure=tenure,
            codes=codes,
            labels=labels,
        )


@dataclass(frozen=True)
class Gap:
    """Mean and median gap of one measure between the women and men of one cell."""

    women: int | None
    men: int | None
    mean_pct: float | None
    median_pct: float | None
    suppressed: Suppressed | None


@dataclass(frozen=True)
class Band:
    quartile: int  # 1 lowest-paid quarter .. 4 highest
    people: int | None
    women_pct: float | None
    men_pct: float | None
    suppressed: Suppressed | None


@dataclass(frozen=True)
class Share:
    """(e): how many of the women (men) received any variable pay."""

    women_pct: float | None
    men_pct: float | None
    women_suppressed: Suppressed | None
    men_suppressed: Suppressed | None


@dataclass(frozen=True)
class CategoryGap:
    category: str
    people: int | None
    basic_pay: Gap
    variable_pay: Gap


@dataclass(frozen=True)
class Art9Report:
    people: int
    women: int
    men: int
    other_or_undisclosed: int | None  # suppressed (None) below the minimum cell size
    pay_gap: Gap  # (a) mean, (c) median, total pay
    variable_pay_gap: Gap  # (b) mean, (d) median, over the people who received variable pay
    variable_pay_share: Share  # (e)
    quartiles: list[Band]  # (f)
    categories: list[CategoryGap]  # (g)


@dataclass(frozen=True)
class AdjustedGap:
    women: int | None
    men: int | None
    unadjusted: Gap  # base pay, FTE-adjusted
    coefficient: float | None  # b_female of log pay
    standard_error: float | None
    degrees_of_freedom: int | None
    gap_pct: float | None  # (1 - exp(b)) * 100
    ci_low_pct: float | None
    ci_high_pct: float | None
    suppressed: Suppressed | None
    excluded: int = 0  # women and men left out for a missing control (tenure without a hire date)


@dataclass(frozen=True)
class CategoryEquity:
    category: str
    gap: AdjustedGap
    flagged: bool


@dataclass(frozen=True)
class Equity:
    controls: tuple[str, ...]
    overall: AdjustedGap
    categories: list[CategoryEquity]


# --- the Art. 9 indicators -------------------------------------------------------------------


def _pct(men: float, women: float) -> float | None:
    return None if men == 0 else (men - women) / men * 100.0


def gap(women_values: FloatArray, men_values: FloatArray, min_cell: int) -> Gap:
    women, men = len(women_values), len(men_values)
    reason = _cell_reason(women, men, min_cell)
    if reason is not None:
        return Gap(None, None, None, None, reason)
    return Gap(
        women,
        men,
        _pct(float(men_values.mean()), float(women_values.mean())),
        _pct(float(np.median(men_values)), float(np.median(women_values))),
        None,
    )


def _cell_reason(women: int, men: int, min_cell: int) -> Suppressed | None:
    if women + men < min_cell:
        return Suppressed.small_cell
    if women == 0 or men == 0:
        return Suppressed.single_gender
    if women < min_cell or men < min_cell:
        return Suppressed.small_cell
    return None


def quartile_bands(total_pay: FloatArray, is_woman: BoolArray, min_cell: int) -> list[Band]:
    """Rank by pay (stable: ties keep their order) and cut into four groups as equal as they come.

    With ``n = 4q + r`` the first ``r`` bands from the bottom hold ``q + 1`` people.
    """
    order = np.argsort(total_pay, kind="stable")
    women_sorted = is_woman[order]
    bands: list[Band] = []
    for number, chunk in enumerate(np.array_split(women_sorted, 4), start=1):
        size = len(chunk)
        if size < min_cell:
            bands.append(Band(number, None, None, None, Suppressed.small_cell))
            continue
        women = int(chunk.sum())
        bands.append(Band(number, size, women / size * 100.0, (size - women) / size * 100.0, None))
    return bands


def art9_report(population: Population, min_cell: int) -> Art9Report:
    gender = population.gender
    binary = (gender == FEMALE) | (gender == MALE)
    fte = population.fte
    base_fte = population.base / fte
    variable_fte = population.variable / fte
    total_fte = base_fte + variable_fte
    woman, man = gender == FEMALE, gender == MALE
    receives = population.variable > 0
    women_count, men_count = int(woman.sum()), int(man.sum())
    others = len(population) - women_count - men_count
    share_women = None if women_count < min_cell else float(receives[woman].sum()) / women_count * 100.0
    share_men = None if men_count < min_cell else float(receives[man].sum()) / men_count * 100.0

    categories: list[CategoryGap] = []
    codes, names = population.codes["worker_category"], population.labels["worker_category"]
    order = sorted(range(-1, len(names)), key=lambda code: UNCATEGORISED if code < 0 else names[code])
    for code in order:
        member = codes == code
        if not member.any():
            continue
        in_women, in_men = member & woman, member & man
        people = int((member & binary).sum())
        categories.append(
            CategoryGap(
                category=UNCATEGORISED if code < 0 else names[code],
                people=people if people >= min_cell else None,
                basic_pay=gap(base_fte[in_women], base_fte[in_men], min_cell),
                variable_pay=gap(variable_fte[in_women & receives], variable_fte[in_men & receives], min_cell),
            )
        )
    return Art9Report(
        people=len(population),
        women=women_count,
        men=men_count,
        other_or_undisclosed=others if others == 0 or others >= min_cell else None,
        pay_gap=gap(total_fte[woman], total_fte[man], min_cell),
        variable_pay_gap=gap(variable_fte[woman & receives], variable_fte[man & receives], min_cell),
        variable_pay_share=Share(
            share_women,
            share_men,
            None if share_women is not None else Suppressed.small_cell,
            None if share_men is not None else Suppressed.small_cell,
        ),
        quartiles=quartile_bands(total_fte[binary], woman[binary], min_cell),
        categories=categories,
    )


# --- the adjusted gap ------------------------------------------------------------------------


_T_975 = (12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004, 2.262157, 2.228139)


def t_quantile_975(df: int) -> float:
    """The 97.5 % quantile of Student's t: tabulated up to 10 degrees of freedom, then the
    Cornish-Fisher expansion (within 1e-5 from 11 on)."""
    z = 1.959963984540054
    if df <= 0:
        return math.inf
    if df <= len(_T_975):
        return _T_975[df - 1]
    z3, z5, z7, z9 = z**3, z**5, z**7, z**9
    return (
        z
        + (z3 + z) / (4 * df)
        + (5 * z5 + 16 * z3 + 3 * z) / (96 * df**2)
        + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * df**3)
        + (79 * z9 + 776 * z7 + 1482 * z5 - 1920 * z3 - 945 * z) / (92160 * df**4)
    )


@dataclass(frozen=True)
class Fit:
    """One regression: who is in it, its design, and what the remediation needs of it."""

    rows: IntArray  # positions in the population
    female: BoolArray
    log_pay: FloatArray
    coefficient: float
    residuals: FloatArray
    weights: FloatArray  # row of (X'X)^- X' for b_female: b_female = weights @ log_pay


def design(population: Population, rows: IntArray, controls: Sequence[str]) -> FloatArray:
    """Intercept, female, then the controls (indicators for all levels present but the first)."""
    columns: list[FloatArray] = [np.ones(len(rows)), (population.gender[rows] == FEMALE).astype(np.float64)]
    for name in controls:
        if name == "tenure":
            columns.append(population.tenure[rows])
        elif name == "fte":
            columns.append(population.fte[rows])
        else:
            values = population.codes[name][rows]
            for level in np.unique(values)[1:]:
                columns.append((values == level).astype(np.float64))
    return np.column_stack(columns)


def adjusted_gap(
    population: Population, rows: IntArray, controls: Sequence[str], min_cell: int
) -> tuple[AdjustedGap, Fit | None]:
    gender = population.gender[rows]
    rows = rows[(gender == FEMALE) | (gender == MALE)]
    excluded = 0
    if "tenure" in controls:
        known = ~np.isnan(population.tenure[rows])
        excluded = int((~known).sum())
        rows = rows[known]
    female = population.gender[rows] == FEMALE
    pay = population.base[rows] / population.fte[rows]
    women, men = int(female.sum()), len(rows) - int(female.sum())
    unadjusted = gap(pay[female], pay[~female], min_cell)
    reason = _cell_reason(women, men, min_cell)

    def empty(why: Suppressed) -> tuple[AdjustedGap, None]:
        shown = why is not Suppressed.small_cell
        return (
            AdjustedGap(
                women if shown else None,
                men if shown else None,
                unadjusted,
                None,
                None,
                None,
                None,
                None,
                None,
                why,
                excluded,
            ),
            None,
        )

    if reason is not None:
        return empty(reason)
    x = design(population, rows, controls)
    y = np.log(np.maximum(pay, 0.01))
    xtx = x.T @ x
    inverse = np.linalg.pinv(xtx, hermitian=True)
    rank = int(np.linalg.matrix_rank(xtx, hermitian=True))
    without_female = np.delete(xtx, 1, axis=0)[:, [0, *range(2, xtx.shape[1])]]
    if int(np.linalg.matrix_rank(without_female, hermitian=True)) != rank - 1:
        return empty(Suppressed.not_identifiable)
    df = len(rows) - rank
    if df <= 0:
        return empty(Suppressed.too_few_people)
    weights = inverse[1] @ x.T
    beta = inverse @ (x.T @ y)
    residuals = y - x @ beta
    sigma2 = float(residuals @ residuals) / df
    b = float(weights @ y)
    se = math.sqrt(max(sigma2 * float(inverse[1, 1]), 0.0))
    margin = t_quantile_975(df) * se
    result = AdjustedGap(
        women=women,
        men=men,
        unadjusted=unadjusted,
        coefficient=b,
        standard_error=se,
        degrees_of_freedom=df,
        gap_pct=(1 - math.exp(b)) * 100,
        ci_low_pct=(1 - math.exp(b + margin)) * 100,
        ci_high_pct=(1 - math.exp(b - margin)) * 100,
        suppressed=None,
        excluded=excluded,
    )
    return result, Fit(rows, female, y, b, residuals, weights)


def pay_equity(
    population: Population, controls: Sequence[str], min_cell: int, flag_pct: float
) -> tuple[Equity, dict[str, Fit]]:
    everyone = np.arange(len(population), dtype=np.int64)
    overall, _ = adjusted_gap(population, everyone, controls, min_cell)
    codes, names = population.codes["worker_category"], population.labels["worker_category"]
    categories: list[CategoryEquity] = []
    fits: dict[str, Fit] = {}
    for code in sorted(range(-1, len(names)), key=lambda code: UNCATEGORISED if code < 0 else names[code]):
        rows = np.flatnonzero(codes == code)
        if len(rows) == 0:
            continue
        name = UNCATEGORISED if code < 0 else names[code]
        result, fit = adjusted_gap(population, rows, controls, min_cell)
        flagged = result.gap_pct is not None and abs(result.gap_pct) >= flag_pct
        categories.append(CategoryEquity(name, result, flagged))
        if fit is not None and flagged:
            fits[name] = fit
    return Equity(tuple(controls), overall, categories), fits


# --- remediation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Raise:
    position: int  # in the population
    amount: float  # annual, at the person's FTE, rounded up to the cent


@dataclass
class Remedy:
    category: str
    gap_before_pct: float
    gap_after_pct: float
    cost: float
    closes_gap: bool
    raises: list[Raise] = field(default_factory=list)


def _raises_for(fit: Fit, population: Population, floor: float) -> tuple[FloatArray, FloatArray]:
    """Log raises lifting everyone of the disadvantaged group below ``floor`` to it, and their cost."""
    # Underpayment against the other group's pay for the same controls: the residual minus the gap.
    disadvantaged = fit.female if fit.coefficient < 0 else ~fit.female
    under = fit.residuals - abs(fit.coefficient)
    lift = np.where(disadvantaged, np.maximum(0.0, floor - under), 0.0)
    base = population.base[fit.rows]
    cost = np.ceil(base * np.expm1(lift) * 100 - 1e-6) / 100
    return lift, cost


def _effect(fit: Fit, lift: FloatArray) -> float:
    """How far the lifts move b_female towards 0 (OLS is linear in the pay)."""
    moved = float(fit.weights @ lift)
    return moved if fit.coefficient < 0 else -moved


def _floor_for(fit: Fit, population: Population, enough: float, budget: float | None) -> float:
    """The lowest floor whose lifts close ``enough`` of the gap (and, given a budget, cost at most it)."""
    under = fit.residuals - abs(fit.coefficient)
    low = float(under.min())
    high = float(under.max()) + abs(fit.coefficient)
    while _effect(fit, _raises_for(fit, population, high)[0]) < enough:
        high += abs(fit.coefficient) + 1.0
    if budget is not None:
        high_cost = float(_raises_for(fit, population, high)[1].sum())
        if high_cost > budget:
            # Spend the budget: the highest floor still affordable (cost grows with the floor).
            for _ in range(100):
                middle = (low + high) / 2
                if float(_raises_for(fit, population, middle)[1].sum()) <= budget:
                    low = middle
                else:
                    high = middle
            return low
    for _ in range(100):
        middle = (low + high) / 2
        if _effect(fit, _raises_for(fit, population, middle)[0]) >= enough:
            high = middle
        else:
            low = middle
    return high


def remediate(population: Population, fits: dict[str, Fit], budget: float) -> list[Remedy]:
    """The smallest raises closing each flagged gap: the most underpaid first, up to a common floor.

    Within a category the disadvantaged group's members (women when b_female < 0) are lifted
    to a floor of underpayment (their log pay against the model's pay of the other group for
    the same controls); the floor is the lowest that brings b_female to 0. Categories with the
    largest gap are served first; one the remaining budget cannot close gets the highest floor
    the budget pays for.
    """
    remedies: list[Remedy] = []
    remaining = budget
    for name, fit in sorted(fits.items(), key=lambda item: (-abs(item[1].coefficient), item[0])):
        need = abs(fit.coefficient)
        floor = _floor_for(fit, population, need, None)
        lift, cost = _raises_for(fit, population, floor)
        closes = float(cost.sum()) <= remaining
        if not closes:
            floor = _floor_for(fit, population, need, remaining)
            lift, cost = _raises_for(fit, population, floor)
        moved = _effect(fit, lift)
        after = fit.coefficient + (moved if fit.coefficient < 0 else -moved)
        spent = float(cost.sum())
        remaining -= spent
        remedies.append(
            Remedy(
                category=name,
                gap_before_pct=(1 - math.exp(fit.coefficient)) * 100,
                gap_after_pct=0.0 if closes else (1 - math.exp(after)) * 100,
                cost=round(spent, 2),
                closes_gap=closes,
                raises=[Raise(int(fit.rows[index]), float(cost[index])) for index in np.flatnonzero(cost > 0)],
            )
        )
    return remedies
