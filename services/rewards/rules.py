"""Pure pay rules: position in range, the merit matrix, proposal arithmetic. No I/O here.

Every amount and percentage is a ``Decimal``; see docs/rewards.md for the formulas.

* Position in range is the **compa-ratio** ``salary / band midpoint``, rounded half-up to
  4 decimals; the bucket is looked up with the rounded value (what the manager sees).
* Percentages carry 2 decimals (3.25 means 3.25 %). Amounts carry 2 decimals.
* ``new salary = round_half_up(salary * (1 + pct / 100), 0.01)``; the increase is the
  difference of the rounded new salary and the salary, so the two always add up.
* Matrix rows are half-open rating ranges ``[min, max)``, the last one closed ``[min, max]``;
  buckets are half-open compa-ratio ranges ``[min, max)``, the last one open-ended.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
RATIO_STEP = Decimal("0.0001")
HUNDRED = Decimal(100)
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str


@dataclass(frozen=True, slots=True)
class Bucket:
    """Compa-ratios in ``[min, max)``; ``max`` None means no upper bound."""

    min: Decimal
    max: Decimal | None
    label: str | None = None

    def holds(self, ratio: Decimal) -> bool:
        return self.min <= ratio and (self.max is None or ratio < self.max)


@dataclass(frozen=True, slots=True)
class RatingRow:
    """Ratings in ``[min, max)``, or ``[min, max]`` for the last row of the matrix."""

    min: Decimal
    max: Decimal
    label: str | None = None


@dataclass(frozen=True, slots=True)
class Guideline:
    """Increase percentages of one matrix cell."""

    min: Decimal
    target: Decimal
    max: Decimal

    def allows(self, pct: Decimal) -> bool:
        return self.min <= pct <= self.max


@dataclass(frozen=True, slots=True)
class Matrix:
    scale_min: Decimal
    scale_max: Decimal
    buckets: Sequence[Bucket]
    rows: Sequence[RatingRow]
    cells: Sequence[Sequence[Guideline]]  # cells[row][bucket]


@dataclass(frozen=True, slots=True)
class Cell:
    row: int
    bucket: int
    guideline: Guideline


def half_up(value: Decimal, step: Decimal) -> Decimal:
    return value.quantize(step, rounding=ROUND_HALF_UP)


def compa_ratio(salary: Decimal, midpoint: Decimal) -> Decimal | None:
    """``salary / midpoint`` to 4 decimals, half up; None when the band has no midpoint."""
    if midpoint <= ZERO:
        return None
    return half_up(salary / midpoint, RATIO_STEP)


def new_salary(salary: Decimal, pct: Decimal) -> Decimal:
    return half_up(salary * (1 + pct / HUNDRED), CENT)


def increase(salary: Decimal, pct: Decimal) -> Decimal:
    return new_salary(salary, pct) - half_up(salary, CENT)


def budget_amount(payroll: Decimal, budget_pct: Decimal) -> Decimal:
    """The merit budget of a payroll: ``payroll * pct / 100``, rounded half up to cents."""
    return half_up(payroll * budget_pct / HUNDRED, CENT)


def validate_matrix(matrix: Matrix) -> list[FieldError]:
    """Every reason the matrix is unusable, each naming the field at fault (empty when fine)."""
    errors: list[FieldError] = []
    if matrix.scale_min >= matrix.scale_max:
        errors.append(FieldError("scale_max", "must be greater than scale_min"))
    errors += _validate_buckets(matrix.buckets)
    errors += _validate_rows(matrix.rows, matrix.scale_min, matrix.scale_max)
    errors += _validate_cells(matrix.cells, len(matrix.rows), len(matrix.buckets))
    return errors


def _validate_buckets(buckets: Sequence[Bucket]) -> list[FieldError]:
    errors: list[FieldError] = []
    if not buckets:
        return [FieldError("buckets", "at least one bucket is required")]
    if buckets[0].min != ZERO:
        errors.append(FieldError("buckets[0].min", "the first bucket must start at 0"))
    for index, bucket in enumerate(buckets):
        last = index == len(buckets) - 1
        if bucket.max is None and not last:
            errors.append(FieldError(f"buckets[{index}].max", "only the last bucket may be open-ended"))
        if bucket.max is not None and last:
            errors.append(FieldError(f"buckets[{index}].max", "the last bucket must be open-ended (null)"))
        if bucket.max is not None and bucket.max <= bucket.min:
            errors.append(FieldError(f"buckets[{index}].max", "must be greater than min"))
        if index:
            previous = buckets[index - 1].max
            if previous is not None and bucket.min != previous:
                kind = "gap" if bucket.min > previous else "overlap"
                errors.append(
                    FieldError(f"buckets[{index}].min", f"must equal buckets[{index - 1}].max ({kind} between them)")
                )
    return errors


def _validate_rows(rows: Sequence[RatingRow], scale_min: Decimal, scale_max: Decimal) -> list[FieldError]:
    errors: list[FieldError] = []
    if not rows:
        return [FieldError("rows", "at least one rating row is required")]
    if rows[0].min != scale_min:
        errors.append(FieldError("rows[0].min", "the first row must start at scale_min"))
    last = len(rows) - 1
    if rows[last].max != scale_max:
        errors.append(FieldError(f"rows[{last}].max", "the last row must end at scale_max"))
    for index, row in enumerate(rows):
        if row.max <= row.min:
            errors.append(FieldError(f"rows[{index}].max", "must be greater than min"))
        if index and row.min != rows[index - 1].max:
            kind = "gap" if row.min > rows[index - 1].max else "overlap"
            errors.append(FieldError(f"rows[{index}].min", f"must equal rows[{index - 1}].max ({kind} between them)"))
    return errors


def _validate_cells(cells: Sequence[Sequence[Guideline]], row_count: int, bucket_count: int) -> list[FieldError]:
    errors: list[FieldError] = []
    if len(cells) != row_count:
        return [FieldError("cells", f"must have one list per rating row ({row_count})")]
    for r, line in enumerate(cells):
        if len(line) != bucket_count:
            errors.append(FieldError(f"cells[{r}]", f"must have one cell per bucket ({bucket_count})"))
            continue
        for b, cell in enumerate(line):
            if cell.min > cell.target:
                errors.append(FieldError(f"cells[{r}][{b}].target", "must not be below min"))
            if cell.target > cell.max:
                errors.append(FieldError(f"cells[{r}][{b}].max", "must not be below target"))
    return errors


def row_for(rows: Sequence[RatingRow], rating: Decimal) -> int | None:
    for index, row in enumerate(rows):
        last = index == len(rows) - 1
        if row.min <= rating and (rating < row.max or (last and rating == row.max)):
            return index
    return None


def bucket_for(buckets: Sequence[Bucket], ratio: Decimal) -> int | None:
    for index, bucket in enumerate(buckets):
        if bucket.holds(ratio):
            return index
    return None


def lookup(matrix: Matrix, rating: Decimal, ratio: Decimal) -> Cell | None:
    """The cell for a rating and a compa-ratio; None if either falls outside the matrix."""
    row = row_for(matrix.rows, rating)
    bucket = bucket_for(matrix.buckets, ratio)
    if row is None or bucket is None:
        return None
    return Cell(row=row, bucket=bucket, guideline=matrix.cells[row][bucket])


@dataclass(frozen=True, slots=True)
class Budget:
    """One currency's merit budget of one organisation unit."""

    currency: str
    payroll: Decimal
    proposed: Decimal
    budget: Decimal | None

    @property
    def remaining(self) -> Decimal | None:
        return None if self.budget is None else self.budget - self.proposed


def budget_of(currency: str, payroll: Decimal, proposed: Decimal, budget_pct: Decimal | None) -> Budget:
    budget = None if budget_pct is None else budget_amount(payroll, budget_pct)
    return Budget(currency=currency, payroll=payroll, proposed=proposed, budget=budget)


# --- bonus (issue 11, part 2) ----------------------------------------------------------------

MULTIPLIER_STEP = Decimal("0.001")


@dataclass(frozen=True, slots=True)
class MultiplierRow:
    """Ratings in ``[min, max)`` (the last row ``[min, max]``) pay ``multiplier`` x target."""

    min: Decimal
    max: Decimal
    multiplier: Decimal


def multiplier_for(rows: Sequence[MultiplierRow], rating: Decimal) -> Decimal | None:
    index = row_for([RatingRow(row.min, row.max) for row in rows], rating)
    return None if index is None else rows[index].multiplier


def proration(hire_date: date | None, period_start: date, period_end: date) -> Decimal:
    """The share of the bonus period (both ends included) the person was employed, 4 decimals."""
    days = (period_end - period_start).days + 1
    start = period_start if hire_date is None or hire_date < period_start else hire_date
    employed = max(0, (period_end - start).days + 1)
    return half_up(Decimal(employed) / Decimal(days), RATIO_STEP)


def bonus(
    salary: Decimal, target_pct: Decimal, multiplier: Decimal, company_factor: Decimal, prorated: Decimal
) -> Decimal:
    """``salary x target % x rating multiplier x company factor x time proration``, to the cent.

    The salary is the one paid at the person's FTE, so FTE proration is already in it
    (base per FTE x FTE).
    """
    return half_up(salary * target_pct / HUNDRED * multiplier * company_factor * prorated, CENT)


def deviation_allowed(computed: Decimal, proposed: Decimal, max_deviation_pct: Decimal) -> bool:
    """Whether ``proposed`` stays within ``max_deviation_pct`` % of ``computed`` either way."""
    return abs(proposed - computed) <= half_up(computed * max_deviation_pct / HUNDRED, CENT)
