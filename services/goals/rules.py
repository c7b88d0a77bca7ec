"""Pure goal rules: periods, progress, status, roll-up, cycle scoring and the SMART check.

Nothing here touches a database or the clock: "today" is always passed in. docs/goals.md
states every rule and threshold; keep the two in step.
"""

from __future__ import annotations

import math
import operator
import re
import typing
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

from shared.cycles import ScoreError


class Level(StrEnum):
    company = "company"
    department = "department"
    team = "team"
    individual = "individual"


# Lower is higher in the organisation.
LEVEL_RANK: dict[Level, int] = {Level.company: 0, Level.department: 1, Level.team: 2, Level.individual: 3}


class Visibility(StrEnum):
    public = "public"
    private = "private"


class Status(StrEnum):
    not_started = "not_started"
    on_track = "on_track"
    at_risk = "at_risk"
    behind = "behind"
    done = "done"
    cancelled = "cancelled"


class Unit(StrEnum):
    number = "number"
    percent = "percent"
    currency = "currency"
    boolean = "boolean"


class Direction(StrEnum):
    increase = "increase"
    decrease = "decrease"


class PeriodKind(StrEnum):
    quarter = "quarter"
    half = "half"
    year = "year"
    custom = "custom"


class ProgressSource(StrEnum):
    key_results = "key_results"
    milestones = "milestones"
    manual = "manual"


# ---------------------------------------------------------------------------- periods

_PERIOD = re.compile(r"^(?P<year>\d{4})(?:-(?P<kind>[QqHh])(?P<number>\d))?$")


def period_bounds(kind: PeriodKind, year: int, number: int = 1) -> tuple[date, date]:
    """First and last day of quarter ``number`` (1-4), half ``number`` (1-2) or the ``year``."""
    if kind is PeriodKind.year:
        return date(year, 1, 1), date(year, 12, 31)
    months = {PeriodKind.quarter: 3, PeriodKind.half: 6}.get(kind)
    if months is None:
        raise ValueError("custom periods have no fixed bounds")
    if not 1 <= number <= 12 // months:
        raise ValueError(f"{kind} number must be between 1 and {12 // months}")
    first_month = (number - 1) * months + 1
    start = date(year, first_month, 1)
    next_month = first_month + months
    end = (date(year + 1, 1, 1) if next_month > 12 else date(year, next_month, 1)) - timedelta(days=1)
    return start, end


def parse_period(text: str) -> tuple[PeriodKind, date, date]:
    """``2026`` (year), ``2026-H1`` (half), ``2026-Q3`` (quarter)."""
    match = _PERIOD.match(text.strip())
    if match is None:
        raise ValueError("a period is written 2026, 2026-H1 or 2026-Q3")
    year = int(match["year"])
    if match["kind"] is None:
        return (PeriodKind.year, *period_bounds(PeriodKind.year, year))
    kind = PeriodKind.quarter if match["kind"].upper() == "Q" else PeriodKind.half
    return (kind, *period_bounds(kind, year, int(match["number"])))


def classify_period(start: date, end: date) -> PeriodKind:
    """The kind of a period given by its dates: a calendar quarter, half or year, else custom."""
    for kind, count in ((PeriodKind.quarter, 4), (PeriodKind.half, 2), (PeriodKind.year, 1)):
        for number in range(1, count + 1):
            if period_bounds(kind, start.year, number) == (start, end):
                return kind
    return PeriodKind.custom


# ---------------------------------------------------------------------------- progress


@dataclass(frozen=True, slots=True)
class Measure:
    """One key result as progress needs it."""

    start: float
    target: float
    current: float
    direction: Direction = Direction.increase
    weight: float = 1.0


def direction_for(start: float, target: float, direction: Direction | None) -> Direction:
    """The direction a key result moves in: as given, else inferred from start and target."""
    if direction is not None:
        return direction
    return Direction.decrease if target < start else Direction.increase


def direction_error(start: float, target: float, direction: Direction) -> str | None:
    if direction is Direction.increase and target < start:
        return "must not be below start_value when the key result increases"
    if direction is Direction.decrease and target > start:
        return "must not be above start_value when the key result decreases"
    return None


def key_result_progress(measure: Measure) -> float:
    """Share of the way from start to target, 0-100 (never below 0, never above 100)."""
    start, target, current = measure.start, measure.target, measure.current
    if math.isclose(target, start):
        reached = current >= target if measure.direction is Direction.increase else current <= target
        return 100.0 if reached else 0.0
    fraction = (current - start) / (target - start)
    return round(min(max(fraction, 0.0), 1.0) * 100.0, 4)


def weighted_mean(values: Sequence[tuple[float, float]]) -> float:
    """Mean of ``(value, weight)`` pairs; equal weights when the weights add up to zero."""
    if not values:
        return 0.0
    total_weight = sum(max(weight, 0.0) for _, weight in values)
    if total_weight <= 0:
        return sum(value for value, _ in values) / len(values)
    return sum(value * max(weight, 0.0) for value, weight in values) / total_weight


def goal_progress(
    measures: Sequence[Measure], milestones_done: int, milestones_total: int, manual: float
) -> tuple[float, ProgressSource]:
    """A goal's own progress (0-100) and where it comes from.

    Key results, weighted by their weights, when it has any; else the share of milestones
    done; else the manual progress set by check-ins.
    """
    if measures:
        value = weighted_mean([(key_result_progress(m), m.weight) for m in measures])
        return round(value, 4), ProgressSource.key_results
    if milestones_total > 0:
        return round(100.0 * milestones_done / milestones_total, 4), ProgressSource.milestones
    return round(min(max(manual, 0.0), 100.0), 4), ProgressSource.manual


# ---------------------------------------------------------------------------- status

# A goal is on track while its progress is at most ON_TRACK_GAP points behind the share of
# its period that has elapsed, at risk up to AT_RISK_GAP points behind, behind beyond that.
ON_TRACK_GAP = 10.0
AT_RISK_GAP = 25.0
# With no progress at all, a goal is "not started" (not "behind") in the first 10 % of its period.
NOT_STARTED_GRACE = 0.10
DONE_AT = 100.0


def goal_end(period_end: date | None, due_date: date | None) -> date | None:
    """The date a goal is measured against: its due date, else the end of its period."""
    return due_date or period_end


def elapsed_fraction(start: date, end: date, today: date) -> float:
    """Share of the period from ``start`` to ``end`` (inclusive) elapsed by ``today``, 0-1."""
    if today < start:
        return 0.0
    if today >= end:
        return 1.0
    return (today - start).days / max((end - start).days, 1)


def derive_status(
    progress: float,
    *,
    start: date | None,
    end: date | None,
    today: date,
    override: Status | None = None,
) -> Status:
    """Status from progress against time elapsed (thresholds above); an override wins."""
    if override is not None:
        return override
    if progress >= DONE_AT:
        return Status.done
    if end is not None and today > end:
        return Status.behind  # overdue and not done
    if start is None or end is None:
        return Status.on_track if progress > 0 else Status.not_started
    if today < start:
        return Status.not_started
    elapsed = elapsed_fraction(start, end, today)
    if progress <= 0 and elapsed < NOT_STARTED_GRACE:
        return Status.not_started
    gap = elapsed * 100.0 - progress
    if gap <= ON_TRACK_GAP:
        return Status.on_track
    if gap <= AT_RISK_GAP:
        return Status.at_risk
    return Status.behind


# ---------------------------------------------------------------------------- roll-up


class RollupRule(StrEnum):
    """How a node's roll-up was computed (docs/goals.md, Roll-up)."""

    own = "own"  # no child counts: the goal's own progress
    mean = "mean"  # no counted child has a weight (or all are 0): children count equally
    weighted = "weighted"  # children weighed by their weights where set


@dataclass(slots=True)
class TreeNode:
    id: uuid.UUID
    parent_id: uuid.UUID | None
    progress: float
    measured: bool  # has key results or milestones of its own
    cancelled: bool
    children: list[TreeNode] = field(default_factory=list)
    rollup: float = 0.0
    weight: float | None = None
    rule: RollupRule = RollupRule.own


def roll_up_arrays(
    parents: Sequence[int | None],
    progress: Sequence[float],
    measured: Sequence[bool],
    cancelled: Sequence[bool],
    root: int,
    weights: Sequence[float | None] | None = None,
) -> tuple[list[float], list[list[int]], list[int], list[RollupRule]]:
    """Roll-up over nodes numbered 0..n-1 (``parents[i]`` is the parent's number or None).

    A node's roll-up combines its own progress (only when it has key results or milestones of
    its own, ``measured``) with the roll-ups of its children that are not cancelled: weighed by
    the children's ``weights`` where set (``weighted``), else their plain mean (``mean``); a node
    with no counted child has its own progress (``own``). Returns the roll-ups, the children of
    each node, the nodes reachable from ``root`` in pre-order and each node's rule. Iterative:
    no recursion limit, linear time.
    """
    count = len(parents)
    children: list[list[int]] = [[] for _ in range(count)]
    for node, parent in enumerate(parents):
        if parent is not None and node != root:
            children[parent].append(node)
    order: list[int] = []
    stack = [root]
    while stack:
        node = stack.pop()
        order.append(node)
        stack.extend(children[node])
    rollup = [0.0] * count
    rules = [RollupRule.own] * count
    mean_rule, weighted_rule = RollupRule.mean, RollupRule.weighted
    if weights is None or all(weight is None for weight in weights):
        # No weights: the plain mean, in the tightest loop (a tree of 100,000 goals is rolled up on every read).
        for node in reversed(order):
            total, inputs = 0.0, 0
            for child in children[node]:
                if not cancelled[child]:
                    total += rollup[child]
                    inputs += 1
            if inputs:
                rules[node] = mean_rule
            if measured[node] or not inputs:
                total += progress[node]
                inputs += 1
            rollup[node] = round(total / inputs, 4)
        return rollup, children, order, rules
    for node in reversed(order):
        plain_total, plain_inputs = 0.0, 0  # children without a weight
        weight_sum, weighted_value, weighted_plain, weighted_inputs = 0.0, 0.0, 0.0, 0
        for child in children[node]:
            if cancelled[child]:
                continue
            value = rollup[child]
            weight = None if weights is None else weights[child]
            if weight is None:
                plain_total += value
                plain_inputs += 1
            else:
                weight = max(weight, 0.0)
                weight_sum += weight
                weighted_value += value * weight
                weighted_plain += value
                weighted_inputs += 1
        if not plain_inputs and not weighted_inputs:
            rollup[node] = round(progress[node], 4)
            continue
        if measured[node]:
            # The goal's own measure counts like a child without a weight.
            plain_total += progress[node]
            plain_inputs += 1
        if not weighted_inputs or weight_sum <= 0:
            rollup[node] = round((plain_total + weighted_plain) / (plain_inputs + weighted_inputs), 4)
            rules[node] = mean_rule
            continue
        # Inputs without a weight count like an average weighted child.
        average = weight_sum / weighted_inputs
        value = (weighted_value + average * plain_total) / (weight_sum + average * plain_inputs)
        rollup[node] = round(value, 4)
        rules[node] = weighted_rule
    return rollup, children, order, rules


def roll_up(nodes: Iterable[TreeNode], root_id: uuid.UUID) -> TreeNode:
    """``roll_up_arrays`` over ``TreeNode`` objects: links children and sets each ``rollup`` and ``rule``."""
    listed = list(nodes)
    index = {node.id: number for number, node in enumerate(listed)}
    parents = [index.get(node.parent_id) if node.parent_id is not None else None for node in listed]
    rollup, children, _, rules = roll_up_arrays(
        parents,
        [node.progress for node in listed],
        [node.measured for node in listed],
        [node.cancelled for node in listed],
        index[root_id],
        [node.weight for node in listed],
    )
    for number, node in enumerate(listed):
        node.rollup = rollup[number]
        node.rule = rules[number]
        node.children = [listed[child] for child in children[number]]
    return listed[index[root_id]]


# ---------------------------------------------------------------------------- cycle scoring

WEIGHT_TOTAL = 100.0
WEIGHT_TOLERANCE = 0.01


@dataclass(frozen=True, slots=True)
class ScoredGoal:
    weight: float | None
    progress: float


@dataclass(frozen=True, slots=True)
class ScoreResult:
    score: float | None
    goal_count: int
    weights_ok: bool
    weight_total: float | None
    error: ScoreError | None


def score_goals(goals: Sequence[ScoredGoal]) -> ScoreResult:
    """Weighted attainment of the goals a cycle scores (cancelled ones already left out).

    Attainment is the goal's progress capped to 0-100. The weights must add up to 100
    (within 0.01); when no goal has a weight, the goals count equally. Score =
    sum(weight * attainment) / 100, rounded to two decimals.
    """
    return score_weighted([goal.weight for goal in goals], [goal.progress for goal in goals])


def score_weighted(weights: Sequence[float | None], progresses: Sequence[float]) -> ScoreResult:
    """``score_goals`` given the goals' weights and progress side by side (a cycle scores
    thousands of people: no object per goal)."""
    return ScoreResult(*score_fields(weights, progresses))


def score_fields(
    weights: Sequence[float | None], progresses: Sequence[float]
) -> tuple[float | None, int, bool, float | None, ScoreError | None]:
    """``score_weighted`` as a plain tuple in ``ScoreResult``'s field order: a cycle's scoring
    builds one per participant, and a frozen dataclass costs more to build than the rule."""
    count = len(weights)
    if count == 0:
        return None, 0, False, None, ScoreError.no_goals
    # Each progress capped to 0-100: min(max(progress, 0.0), 100.0), which leaves a progress
    # within 0-100 (or NaN) as it is, so the list is used as it is when min and max say so.
    attainments = (
        progresses
        if min(progresses) >= 0.0 and max(progresses) <= 100.0
        else [min(max(progress, 0.0), 100.0) for progress in progresses]
    )
    unweighted = weights.count(None)
    if unweighted == count:
        return round(sum(attainments) / count, 2), count, True, None, None
    if unweighted:
        total = sum(weight or 0.0 for weight in weights)
        return None, count, False, round(total, 4), ScoreError.weights_missing
    # ``weight or 0.0`` changes only a zero (-0.0 to 0.0): the list as it is when there is none.
    concrete = typing.cast(Sequence[float], weights) if 0.0 not in weights else [weight or 0.0 for weight in weights]
    total = sum(concrete)
    if abs(total - WEIGHT_TOTAL) > WEIGHT_TOLERANCE:
        return None, count, False, round(total, 4), ScoreError.weights_not_100
    score = sum(map(operator.mul, concrete, attainments)) / total
    return round(score, 2), count, True, round(total, 4), None


def score_people(
    rows: Iterable[tuple[uuid.UUID, float | None, float]], people: Sequence[uuid.UUID]
) -> dict[uuid.UUID, ScoreResult]:
    """``score_goals`` for each person from ``(owner_id, weight, progress)`` rows."""
    grouped: Mapping[uuid.UUID, list[ScoredGoal]] = defaultdict(list)
    for owner_id, weight, progress in rows:
        grouped[owner_id].append(ScoredGoal(weight, progress))
    return {person: score_goals(grouped.get(person, [])) for person in people}


def weight_error_message(result: ScoreResult) -> str | None:
    """The sentence an API shows for a score error (events carry only the code)."""
    if result.error is ScoreError.no_goals:
        return "No goal of this person ends within the cycle period."
    if result.error is ScoreError.weights_missing:
        return "Some goals in the cycle period have a weight and others none: give every goal a weight."
    if result.error is ScoreError.weights_not_100:
        return f"The goal weights add up to {result.weight_total:g}, not 100."
    return None


# ---------------------------------------------------------------------------- SMART


class SmartProperty(StrEnum):
    specific = "specific"
    measurable = "measurable"
    achievable = "achievable"
    relevant = "relevant"
    time_bound = "time_bound"


@dataclass(frozen=True, slots=True)
class SmartIssue:
    property: SmartProperty
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class KeyResultDraft:
    title: str
    unit: Unit
    start: float
    target: float


@dataclass(frozen=True, slots=True)
class MilestoneDraft:
    title: str
    due_date: date | None


@dataclass(frozen=True, slots=True)
class GoalDraft:
    title: str
    level: Level = Level.individual
    description: str | None = None
    period_start: date | None = None
    period_end: date | None = None
    due_date: date | None = None
    aligned: bool = False
    weight: float | None = None
    key_results: Sequence[KeyResultDraft] = ()
    milestones: Sequence[MilestoneDraft] = ()


# First words (or phrases) that name an activity rather than an outcome.
VAGUE_VERBS: tuple[str, ...] = (
    "work on",
    "look into",
    "try to",
    "try",
    "be better",
    "be more",
    "get better",
    "focus on",
    "improve",
    "enhance",
    "optimize",
    "optimise",
    "support",
    "help",
    "assist",
    "understand",
    "explore",
    "learn",
    "increase",
    "reduce",
    "maximize",
    "maximise",
    "minimize",
    "minimise",
    "strengthen",
    "develop",
)
MIN_TITLE_WORDS = 3
_WORD = re.compile(r"[A-Za-z0-9]+")


def vague_verb(title: str) -> str | None:
    """The vague verb a title opens with, unless the title names a number (an outcome)."""
    text = " ".join(_WORD.findall(title.lower()))
    if any(char.isdigit() for char in text):
        return None
    for verb in VAGUE_VERBS:
        if text == verb or text.startswith(verb + " "):
            return verb
    return None


def smart_check(draft: GoalDraft) -> list[SmartIssue]:
    """Which SMART properties ``draft`` misses, with a specific message each."""
    issues: list[SmartIssue] = []

    def issue(prop: SmartProperty, code: str, message: str) -> None:
        issues.append(SmartIssue(prop, code, message))

    words = _WORD.findall(draft.title)
    if len(words) < MIN_TITLE_WORDS:
        issue(
            SmartProperty.specific,
            "title_too_short",
            f"The title has {len(words)} word(s): say what will be achieved, for whom, in at least "
            f"{MIN_TITLE_WORDS} words.",
        )
    verb = vague_verb(draft.title)
    if verb is not None:
        issue(
            SmartProperty.specific,
            "vague_verb",
            f"'{verb.capitalize()}' is vague: name the outcome and how much "
            "(e.g. 'Cut onboarding time from 10 to 5 days').",
        )

    measurable = [kr for kr in draft.key_results if kr.unit is Unit.boolean or not math.isclose(kr.start, kr.target)]
    if not measurable:
        issue(
            SmartProperty.measurable,
            "no_measurable_key_result",
            "No measurable key result: add a key result with a start and a different target value.",
        )
    for kr in draft.key_results:
        if kr.unit is not Unit.boolean and math.isclose(kr.start, kr.target):
            issue(
                SmartProperty.achievable,
                "target_equals_start",
                f"Key result '{kr.title}' has its target equal to its start ({kr.target:g}): nothing to achieve.",
            )
        if kr.unit is Unit.percent and not (0 <= kr.target <= 100):
            issue(
                SmartProperty.achievable,
                "percent_out_of_range",
                f"Key result '{kr.title}' aims at {kr.target:g} %: a percentage target lies between 0 and 100.",
            )
    if draft.weight is not None and not (0 <= draft.weight <= WEIGHT_TOTAL):
        issue(SmartProperty.achievable, "weight_out_of_range", f"The weight {draft.weight:g} is not between 0 and 100.")

    if draft.level is not Level.company and not draft.aligned:
        issue(
            SmartProperty.relevant,
            "not_aligned",
            "Not aligned to any objective: align it to a team, department or company goal it contributes to.",
        )

    end = goal_end(draft.period_end, draft.due_date)
    if end is None:
        issue(SmartProperty.time_bound, "no_due_date", "No due date: set a due date or a period.")
    start, stop, due = draft.period_start, draft.period_end, draft.due_date
    if due is not None and start is not None and stop is not None and not start <= due <= stop:
        issue(
            SmartProperty.time_bound,
            "due_date_outside_period",
            f"The due date {due.isoformat()} is outside the period {start.isoformat()} to {stop.isoformat()}.",
        )
    for milestone in draft.milestones:
        if milestone.due_date is None:
            issue(SmartProperty.time_bound, "milestone_without_date", f"Milestone '{milestone.title}' has no due date.")
        elif end is not None and milestone.due_date > end:
            issue(
                SmartProperty.time_bound,
                "milestone_after_due_date",
                f"Milestone '{milestone.title}' is due {milestone.due_date.isoformat()}, after the goal "
                f"({end.isoformat()}).",
            )
        elif draft.period_start is not None and milestone.due_date < draft.period_start:
            issue(
                SmartProperty.time_bound,
                "milestone_before_period",
                f"Milestone '{milestone.title}' is due {milestone.due_date.isoformat()}, before the period starts "
                f"({draft.period_start.isoformat()}).",
            )
    return issues
