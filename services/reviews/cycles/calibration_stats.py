"""Pure statistics of a calibration session: 9-box placement, guideline deviation, rater leniency.

No I/O here; docs/review-cycles.md ("Calibration") gives the formulas with a worked example.

* **Bands.** A rating falls in the low, middle or high third of its scale by its position
  ``(value - min) / (max - min)``: below 1/3 low, above 2/3 high, else middle (both bounds
  belong to the middle). On 1-5 that is 1-2 low, 3 middle, 4-5 high; on a 3-point potential
  scale each point is its own band.
* **Guideline deviation** of a bucket is ``share - guideline`` (percentage points); the
  session's is half the sum of their absolute values: the share of people who would have to
  move to another rating for the distribution to match the guideline.
* **Leniency** of a manager is the mean rating they proposed for their reports minus the mean
  *final* (calibrated) rating of the session, shrunk towards 0 by empirical Bayes:
  ``shrunk = B x raw`` with ``B = tau2 / (tau2 + sigma2 / n)``, where ``sigma2`` is the pooled
  variance of proposed ratings within managers and ``tau2`` the method-of-moments (one-way
  ANOVA) estimate of the variance between managers' true means, never below 0. A manager with
  two reports has a small ``B``, so an unusual pair does not raise a flag; when managers
  differ no more than their reports do (``tau2 = 0``) nobody is flagged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class Band(StrEnum):
    low = "low"
    middle = "middle"
    high = "high"


BANDS = (Band.low, Band.middle, Band.high)


def band(value: Decimal, scale_min: Decimal, scale_max: Decimal) -> Band:
    """The third of the scale ``value`` falls in; exact (Decimal), so 1/3 itself is middle."""
    position = (value - scale_min) * 3
    span = scale_max - scale_min
    if position < span:
        return Band.low
    if position > 2 * span:
        return Band.high
    return Band.middle


def guideline_deviation(deviations: Sequence[float]) -> float:
    """Half the sum of the buckets' absolute deviations, in percentage points (2 decimals)."""
    return round(sum(abs(d) for d in deviations) / 2, 2)


@dataclass(frozen=True, slots=True)
class Rated:
    """One report of a manager and the rating the manager's review proposed for them."""

    manager_id: str
    proposed: float


@dataclass(frozen=True, slots=True)
class Leniency:
    manager_id: str
    reports: int
    mean_proposed: float
    raw: float  # mean proposed - mean final of the session
    shrinkage: float  # B: the weight the manager's own data keeps (0..1)
    shrunk: float  # B x raw
    flagged: bool


@dataclass(frozen=True, slots=True)
class LeniencyReport:
    population_mean: float | None  # mean final rating of the session
    within_variance: float | None  # sigma2
    between_variance: float | None  # tau2
    threshold: float
    managers: list[Leniency]


def leniency(rated: Sequence[Rated], finals: Sequence[float], threshold: float) -> LeniencyReport:
    """Each manager's shrunk deviation from the mean of ``finals`` (the calibrated population);
    flagged when ``|shrunk| >= threshold``."""
    groups: dict[str, list[float]] = {}
    for r in rated:
        groups.setdefault(r.manager_id, []).append(r.proposed)
    if not finals or not groups:
        return LeniencyReport(None, None, None, threshold, [])
    mu = sum(finals) / len(finals)
    sigma2, tau2 = _variances(groups)
    managers = []
    for manager_id, values in sorted(groups.items()):
        n = len(values)
        mean = sum(values) / n
        raw = mean - mu
        if sigma2 is None or tau2 is None:
            weight = 0.0
        elif sigma2 == 0:
            weight = 1.0  # reports agree perfectly within each manager: their means are exact
        else:
            weight = tau2 / (tau2 + sigma2 / n)
        shrunk = weight * raw
        managers.append(
            Leniency(manager_id, n, mean, raw, weight, shrunk, abs(shrunk) >= threshold and abs(shrunk) > 0)
        )
    return LeniencyReport(mu, sigma2, tau2, threshold, managers)


def _variances(groups: dict[str, list[float]]) -> tuple[float | None, float | None]:
    """(sigma2, tau2) of the one-way random-effects model; None where there is too little data."""
    sizes = [len(values) for values in groups.values()]
    total = sum(sizes)
    count = len(groups)
    if count < 2 or total - count < 1:
        return None, None
    grand = sum(sum(values) for values in groups.values()) / total
    within = sum(sum((x - sum(values) / len(values)) ** 2 for x in values) for values in groups.values())
    between = sum(len(values) * (sum(values) / len(values) - grand) ** 2 for values in groups.values())
    sigma2 = within / (total - count)
    n0 = (total - sum(n * n for n in sizes) / total) / (count - 1)
    tau2 = max(0.0, (between / (count - 1) - sigma2) / n0)
    return sigma2, tau2
