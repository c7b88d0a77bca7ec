"""Pure pay rules: position in range, the merit matrix, proposal arithmetic. No I/O here.

Every amount and percentage is a ``Decimal``; see docs/rewards.md for the formulas.

* Position in range is the **compa-ratio** ``salary / band midpoint``, rounded half-up to
  4 decimals; the bucket is looked up with the rounded value (what the manager sees).
* Percentages carry 2 decimals (3.25 means 3.25 %). Amounts carry 2 decimals.
* ``new salary = round_half_up(salary * (1 + pct / 100), 0.01)``; the increase is the
  difference of the rounded new salary and the salary, so the two always add up.
* Matrix rows are half-open rating ranges ``[min, max)``, the last one closed ``[min, max]``;
  buckets are half-open compa-ratio ranges ``[min, max)``, the last one open-ended.
* A unit's pool in a currency is HR's fixed amount for it, else ``payroll x pct / 100``; a
  manager's share of a fixed pool is pro rata to their reports' salaries (``pool_share``).
* Currency conversion goes through HR's rates against one base currency: ``amount x rate of
  its currency / rate of the target``, the rates in force on a date, rounded once to the cent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from typing import Literal

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


# How a pool was set: a share of payroll, HR's fixed amount, or both (a manager across units).
PoolBasis = Literal["percent", "amount", "mixed"]


@dataclass(frozen=True, slots=True)
class Budget:
    """One currency's merit (or bonus) pool of one organisation unit, or of a manager's reports."""

    currency: str
    payroll: Decimal
    proposed: Decimal
    budget: Decimal | None
    basis: PoolBasis | None = None

    @property
    def remaining(self) -> Decimal | None:
        return None if self.budget is None else self.budget - self.proposed


def budget_of(currency: str, payroll: Decimal, proposed: Decimal, budget_pct: Decimal | None) -> Budget:
    budget = None if budget_pct is None else budget_amount(payroll, budget_pct)
    return Budget(currency, payroll, proposed, budget, None if budget_pct is None else "percent")


@dataclass(frozen=True, slots=True)
class PoolRule:
    """How one unit's pool in one currency is set: a fixed amount, else a % of the payroll, else none."""

    pct: Decimal | None = None
    amount: Decimal | None = None

    @property
    def basis(self) -> PoolBasis | None:
        if self.amount is not None:
            return "amount"
        return None if self.pct is None else "percent"


def pool_rule(currency: str, pct: Decimal | None, amounts: Mapping[str, Decimal]) -> PoolRule:
    """A unit's fixed amount for ``currency`` wins over the percentage; other currencies keep the %."""
    amount = amounts.get(currency)
    return PoolRule(pct=pct) if amount is None else PoolRule(amount=amount)


def unit_pool(rule: PoolRule, payroll: Decimal) -> Decimal | None:
    """A whole unit's pool in one currency, to the cent."""
    if rule.amount is not None:
        return half_up(rule.amount, CENT)
    return None if rule.pct is None else budget_amount(payroll, rule.pct)


def pool_share(
    rule: PoolRule, salary: Decimal, unit_payroll: Decimal, unit_people: int, people: int = 1
) -> Decimal | None:
    """The part of its unit's pool that ``people`` earning ``salary`` between them bring, unrounded:
    the caller sums parts and rounds once.

    A percentage gives ``salary x pct / 100``. A fixed amount is shared pro rata to salary over
    the unit's payroll in that currency, as if it were the percentage it is of that payroll, so
    the parts of a unit add up to the amount; a unit whose payroll is 0 shares it per head.
    """
    if rule.amount is not None:
        if unit_payroll > ZERO:
            return rule.amount * salary / unit_payroll
        return rule.amount * people / unit_people if unit_people else ZERO
    return None if rule.pct is None else salary * rule.pct / HUNDRED


def merge_basis(current: PoolBasis | None, added: PoolBasis | None) -> PoolBasis | None:
    if added is None or current == added:
        return current
    return added if current is None else "mixed"


# (org unit, currency, salary, spend) of one proposal with pay data.
PayLine = tuple[str, str, Decimal, Decimal]


def unit_payrolls(lines: Iterable[PayLine]) -> dict[tuple[str, str], tuple[Decimal, int]]:
    """Payroll and head count per (unit, currency): what a fixed pool is shared out by."""
    totals: dict[tuple[str, str], tuple[Decimal, int]] = {}
    for unit, currency, salary, _spend in lines:
        payroll, people = totals.get((unit, currency), (ZERO, 0))
        totals[unit, currency] = (payroll + salary, people + 1)
    return totals


def pools_of(
    lines: Iterable[PayLine],
    rule_of: Callable[[str, str], PoolRule],
    payrolls: Mapping[tuple[str, str], tuple[Decimal, int]],
) -> dict[str, Budget]:
    """Payroll, spend and pool per currency over some proposals: one unit's, or a manager's reports'.

    ``rule_of(unit, currency)`` says how each unit sets its pool; ``payrolls`` holds the whole
    units' payroll and head count (``unit_payrolls``), which a fixed amount is shared by. A
    currency's pool is the sum of its lines' parts rounded half up to the cent; None when no
    line's unit has a pool in it.
    """
    payroll: dict[str, Decimal] = {}
    spent: dict[str, Decimal] = {}
    pools: dict[str, Decimal | None] = {}
    bases: dict[str, PoolBasis | None] = {}
    for unit, currency, salary, spend in lines:
        payroll[currency] = payroll.get(currency, ZERO) + salary
        spent[currency] = spent.get(currency, ZERO) + spend
        rule = rule_of(unit, currency)
        # A line missing from the whole units' payroll was committed between the two reads
        # (PostgreSQL's read committed): it counts as its unit's only line until the next read.
        whole, people = payrolls.get((unit, currency), (salary, 1)) if rule.amount is not None else (ZERO, 0)
        share = pool_share(rule, salary, whole, people)
        if share is not None:
            pools[currency] = (pools.get(currency) or ZERO) + share
        else:
            pools.setdefault(currency, None)
        bases[currency] = merge_basis(bases.get(currency), rule.basis)
    return {
        currency: Budget(
            currency,
            payroll[currency],
            spent[currency],
            None if (pool := pools[currency]) is None else half_up(pool, CENT),
            bases[currency],
        )
        for currency in sorted(payroll)
    }


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


# --- currency conversion ---------------------------------------------------------------------

RATE_STEP = Decimal("0.0000000001")  # 10 decimals: what a rate may carry and how a cross rate shows
ONE = Decimal(1)
# An amount (14 digits) times a rate (15 digits) is exact in 60 digits, and the quotient is far
# more precise than the cent it is rounded to: the only rounding a conversion makes is that one.
_EXACT = Context(prec=60)


@dataclass(frozen=True, slots=True)
class Rate:
    """One unit of ``currency`` is worth ``rate`` units of the base currency from ``effective_date`` on."""

    currency: str
    rate: Decimal
    effective_date: date


def rates_in_force(rates: Iterable[Rate], on: date) -> dict[str, Rate]:
    """Each currency's rate on ``on``: the latest effective on or before it; none before the first."""
    found: dict[str, Rate] = {}
    for rate in rates:
        if rate.effective_date > on:
            continue
        held = found.get(rate.currency)
        if held is None or rate.effective_date > held.effective_date:
            found[rate.currency] = rate
    return found


def convert(amount: Decimal, from_rate: Decimal, to_rate: Decimal, rounding: str = ROUND_HALF_UP) -> Decimal:
    """``amount x from_rate / to_rate`` (both rates against the same base), rounded once to the cent.

    The cross rate ``from_rate / to_rate`` is never rounded on the way: converting through a
    rounded cross rate would move large amounts by cents.
    """
    with localcontext(_EXACT):
        return (amount * from_rate / to_rate).quantize(CENT, rounding=rounding)


def convert_cents(cents: int, ratio: tuple[int, int]) -> int:
    """``cents x numerator / denominator`` rounded half up (away from zero), in integers.

    The same cents as ``convert`` (both round the exact quotient once), without a ``Decimal``
    per amount: a report converts a hundred thousand of them.
    """
    numerator, denominator = ratio
    scaled = abs(cents) * numerator
    rounded = (2 * scaled + denominator) // (2 * denominator)
    return rounded if cents >= 0 else -rounded


@dataclass(frozen=True)
class Converter:
    """Amounts into ``to`` at the rates in force on ``on``; the base currency is worth 1 of itself.

    Any two currencies convert through the base: a currency into the base multiplies by its
    rate, the base into a currency divides by that currency's rate (the inverse), and two other
    currencies cross (``rate of one / rate of the other``).
    """

    to: str
    base: str | None
    on: date
    rates: Mapping[str, Rate]  # in force on ``on`` (``rates_in_force``)

    def value(self, currency: str) -> Decimal | None:
        """What one unit of ``currency`` is worth in the base; None without a rate."""
        if currency == self.base:
            return ONE
        found = self.rates.get(currency)
        return None if found is None else found.rate

    def missing(self, currencies: Iterable[str]) -> list[str]:
        """The currencies, the target's among them, whose rate the conversion of ``currencies`` lacks.

        Before any rate is stored there is no base yet: the target counts as the base, so the
        answer names only what HR has to add when the first rates make it one.
        """
        base = self.to if self.base is None else self.base
        needed: set[str] = set()
        for currency in currencies:
            if currency != self.to:
                needed |= {currency, self.to}
        return sorted(c for c in needed if c != base and c not in self.rates)

    def used(self, currencies: Iterable[str]) -> list[Rate]:
        """The stored rates converting ``currencies`` reads (the target's included), by currency."""
        needed: set[str] = set()
        for currency in currencies:
            if currency != self.to:
                needed |= {currency, self.to}
        return [self.rates[currency] for currency in sorted(needed) if currency in self.rates]

    def _values(self, currency: str) -> tuple[Decimal, Decimal]:
        source, target = self.value(currency), self.value(self.to)
        if source is None or target is None:
            raise KeyError(f"no rate in force on {self.on} converts {currency} into {self.to}")
        return source, target

    def cross_rate(self, currency: str) -> Decimal:
        """Units of ``to`` one unit of ``currency`` buys, to 10 decimals (shown, never computed with)."""
        if currency == self.to:
            return ONE
        source, target = self._values(currency)
        with localcontext(_EXACT):
            return half_up(source / target, RATE_STEP)

    def ratio(self, currency: str) -> tuple[int, int]:
        """The exact cross rate into ``to`` as a fraction ``(numerator, denominator)``, for ``convert_cents``."""
        if currency == self.to:
            return 1, 1
        source, target = self._values(currency)
        top, bottom = source.as_integer_ratio()
        over, under = target.as_integer_ratio()
        return top * under, bottom * over

    def __call__(self, amount: Decimal, currency: str, rounding: str = ROUND_HALF_UP) -> Decimal:
        """``amount`` of ``currency`` in ``to``, to the cent."""
        if currency == self.to:
            return amount.quantize(CENT, rounding=rounding)
        source, target = self._values(currency)
        return convert(amount, source, target, rounding)

    def back(self, amount: Decimal, currency: str, rounding: str = ROUND_HALF_UP) -> Decimal:
        """``amount`` of ``to`` in ``currency``, to the cent: the way back at the same rates."""
        if currency == self.to:
            return amount.quantize(CENT, rounding=rounding)
        source, target = self._values(currency)
        return convert(amount, target, source, rounding)


def sum_budgets(parts: Iterable[Mapping[str, Budget]]) -> dict[str, Budget]:
    """Pools of one currency added up (a cycle's units): payroll, spend and pool per currency.

    A currency's pool is null as soon as one part has none: a pool missing for some units
    would make the total look larger than what is left.
    """
    totals: dict[str, Budget] = {}
    for part in parts:
        for currency, budget in part.items():
            held = totals.get(currency)
            if held is None:
                totals[currency] = budget
                continue
            pool = None if held.budget is None or budget.budget is None else held.budget + budget.budget
            totals[currency] = Budget(
                currency,
                held.payroll + budget.payroll,
                held.proposed + budget.proposed,
                pool,
                merge_basis(held.basis, budget.basis),
            )
    return dict(sorted(totals.items()))


def total_in(budgets: Iterable[Budget], converter: Converter) -> Budget:
    """Pools of several currencies as one figure in the converter's currency, beside them.

    Each currency's payroll, spend and pool is converted on its own (to the cent) and the
    conversions added, so the total is the sum of what the per-currency lines show converted.
    The pool is null if any currency has none. Only a view: each pool is spent in its own
    currency, and a surplus in one never covers an overrun in another.
    """
    parts = list(budgets)
    payroll = sum((converter(budget.payroll, budget.currency) for budget in parts), ZERO)
    proposed = sum((converter(budget.proposed, budget.currency) for budget in parts), ZERO)
    pool: Decimal | None = None
    if parts and all(budget.budget is not None for budget in parts):
        pool = sum((converter(budget.budget, budget.currency) for budget in parts if budget.budget is not None), ZERO)
    basis: PoolBasis | None = None
    for budget in parts:
        basis = merge_basis(basis, budget.basis)
    return Budget(converter.to, payroll, proposed, pool, basis)
