"""Progress, status, roll-up, scoring and SMART rules: pure functions, no database."""

from __future__ import annotations

import itertools
import operator
import uuid
from dataclasses import replace
from datetime import date

import pytest

from services.goals.rules import (
    Direction,
    GoalDraft,
    KeyResultDraft,
    Level,
    Measure,
    MilestoneDraft,
    PeriodKind,
    ProgressSource,
    ScoredGoal,
    SmartProperty,
    Status,
    TreeNode,
    Unit,
    classify_period,
    derive_status,
    direction_error,
    direction_for,
    goal_progress,
    key_result_progress,
    parse_period,
    roll_up,
    score_fields,
    score_goals,
    score_people,
    smart_check,
    vague_verb,
    weight_error_message,
)
from shared.cycles import ScoreError

Q2 = (date(2026, 4, 1), date(2026, 6, 30))


# ---------------------------------------------------------------------------- periods


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026", (PeriodKind.year, date(2026, 1, 1), date(2026, 12, 31))),
        ("2026-H1", (PeriodKind.half, date(2026, 1, 1), date(2026, 6, 30))),
        ("2026-h2", (PeriodKind.half, date(2026, 7, 1), date(2026, 12, 31))),
        ("2026-Q1", (PeriodKind.quarter, date(2026, 1, 1), date(2026, 3, 31))),
        ("2026-Q4", (PeriodKind.quarter, date(2026, 10, 1), date(2026, 12, 31))),
        ("2028-Q1", (PeriodKind.quarter, date(2028, 1, 1), date(2028, 3, 31))),
    ],
)
def test_named_periods(text: str, expected: tuple[PeriodKind, date, date]) -> None:
    assert parse_period(text) == expected


@pytest.mark.parametrize("text", ["2026-Q5", "2026-H3", "26-Q1", "2026-M1", "", "Q1-2026"])
def test_bad_periods_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"period|between"):
        parse_period(text)


def test_period_kind_from_dates() -> None:
    assert classify_period(*Q2) is PeriodKind.quarter
    assert classify_period(date(2026, 7, 1), date(2026, 12, 31)) is PeriodKind.half
    assert classify_period(date(2026, 1, 1), date(2026, 12, 31)) is PeriodKind.year
    assert classify_period(date(2026, 4, 2), date(2026, 6, 30)) is PeriodKind.custom


# ---------------------------------------------------------------------------- key result progress


def test_increasing_key_result() -> None:
    assert key_result_progress(Measure(10, 20, 15)) == 50.0
    assert key_result_progress(Measure(10, 20, 10)) == 0.0
    assert key_result_progress(Measure(10, 20, 5)) == 0.0  # below start: never negative
    assert key_result_progress(Measure(10, 20, 25)) == 100.0  # beyond target: capped


def test_decreasing_key_result() -> None:
    # Cut p95 latency from 800 ms to 300 ms; now 550 ms.
    assert key_result_progress(Measure(800, 300, 550, Direction.decrease)) == 50.0
    assert key_result_progress(Measure(800, 300, 900, Direction.decrease)) == 0.0
    assert key_result_progress(Measure(800, 300, 200, Direction.decrease)) == 100.0


def test_target_equal_to_start_is_all_or_nothing() -> None:
    # "Keep churn at 2 %": reached while the value is at or beyond the target.
    assert key_result_progress(Measure(5, 5, 5)) == 100.0
    assert key_result_progress(Measure(5, 5, 4)) == 0.0
    assert key_result_progress(Measure(5, 5, 6)) == 100.0
    assert key_result_progress(Measure(2, 2, 2, Direction.decrease)) == 100.0
    assert key_result_progress(Measure(2, 2, 3, Direction.decrease)) == 0.0
    assert key_result_progress(Measure(2, 2, 1, Direction.decrease)) == 100.0


def test_yes_no_key_result() -> None:
    assert key_result_progress(Measure(0, 1, 0)) == 0.0
    assert key_result_progress(Measure(0, 1, 1)) == 100.0


def test_direction_is_inferred_and_checked() -> None:
    assert direction_for(10, 5, None) is Direction.decrease
    assert direction_for(5, 10, None) is Direction.increase
    assert direction_for(5, 5, None) is Direction.increase
    assert direction_error(10, 5, Direction.increase) is not None
    assert direction_error(5, 10, Direction.decrease) is not None
    assert direction_error(5, 5, Direction.decrease) is None


# ---------------------------------------------------------------------------- goal progress


def test_goal_progress_is_the_weighted_mean_of_key_results() -> None:
    measures = [Measure(0, 100, 100, weight=3), Measure(0, 100, 0, weight=1)]
    assert goal_progress(measures, 0, 0, 0) == (75.0, ProgressSource.key_results)


def test_zero_weights_count_equally() -> None:
    measures = [Measure(0, 100, 100, weight=0), Measure(0, 100, 0, weight=0)]
    assert goal_progress(measures, 0, 0, 0) == (50.0, ProgressSource.key_results)


def test_a_zero_weight_key_result_does_not_count_when_others_have_weight() -> None:
    measures = [Measure(0, 100, 100, weight=0), Measure(0, 100, 40, weight=2)]
    assert goal_progress(measures, 0, 0, 0)[0] == 40.0


def test_milestones_then_manual_progress() -> None:
    assert goal_progress([], 1, 4, 90) == (25.0, ProgressSource.milestones)
    assert goal_progress([], 0, 0, 35) == (35.0, ProgressSource.manual)
    assert goal_progress([], 0, 0, 140) == (100.0, ProgressSource.manual)


# ---------------------------------------------------------------------------- status


def status(progress: float, today: date, *, start: date | None = Q2[0], end: date | None = Q2[1]) -> Status:
    return derive_status(progress, start=start, end=end, today=today)


def test_status_against_time_elapsed() -> None:
    halfway = date(2026, 5, 16)  # 45 of 90 days: 50 % elapsed
    assert status(45, halfway) is Status.on_track  # 5 points behind
    assert status(40, halfway) is Status.on_track  # exactly 10 points behind
    assert status(39, halfway) is Status.at_risk
    assert status(25, halfway) is Status.at_risk  # exactly 25 points behind
    assert status(24, halfway) is Status.behind
    assert status(80, halfway) is Status.on_track  # ahead


def test_not_started_before_the_period_and_early_without_progress() -> None:
    assert status(0, date(2026, 3, 1)) is Status.not_started
    assert status(30, date(2026, 3, 1)) is Status.not_started  # progress before the start does not count yet
    assert status(0, date(2026, 4, 5)) is Status.not_started  # 4 % elapsed, grace period
    assert status(0, date(2026, 4, 15)) is Status.at_risk  # 15 % elapsed, nothing done
    assert status(0, date(2026, 5, 1)) is Status.behind  # a third elapsed, nothing done
    assert status(1, date(2026, 4, 5)) is Status.on_track


def test_done_and_overdue() -> None:
    assert status(100, date(2026, 5, 1)) is Status.done
    assert status(100, date(2026, 9, 1)) is Status.done  # done stays done after the due date
    assert status(99, date(2026, 7, 1)) is Status.behind  # overdue
    assert status(95, date(2026, 6, 30)) is Status.on_track  # the due date itself is not overdue


def test_status_without_a_period() -> None:
    assert status(0, date(2026, 5, 1), start=None, end=None) is Status.not_started
    assert status(10, date(2026, 5, 1), start=None, end=None) is Status.on_track
    assert status(10, date(2026, 5, 1), start=None, end=date(2026, 4, 30)) is Status.behind


def test_an_override_wins() -> None:
    for override in Status:
        assert derive_status(10, start=Q2[0], end=Q2[1], today=date(2026, 6, 1), override=override) is override


def test_single_day_period() -> None:
    day = date(2026, 4, 1)
    assert status(0, day, start=day, end=day) is Status.behind
    assert status(100, day, start=day, end=day) is Status.done


# ---------------------------------------------------------------------------- roll-up


def test_roll_up_means_of_children_and_own_measure() -> None:
    root, a, b, a1, a2, cancelled = (uuid.uuid4() for _ in range(6))
    nodes = [
        TreeNode(root, None, progress=0, measured=False, cancelled=False),
        TreeNode(a, root, progress=0, measured=False, cancelled=False),
        TreeNode(b, root, progress=90, measured=True, cancelled=False),
        TreeNode(a1, a, progress=40, measured=True, cancelled=False),
        TreeNode(a2, a, progress=60, measured=True, cancelled=False),
        TreeNode(cancelled, a, progress=0, measured=True, cancelled=True),
    ]
    tree = roll_up(nodes, root)
    by_id = {node.id: node for node in nodes}
    assert by_id[a].rollup == 50.0  # (40 + 60) / 2; the cancelled child does not count
    assert by_id[b].rollup == 90.0
    assert tree.rollup == 70.0  # (50 + 90) / 2; the root has no measure of its own
    assert by_id[cancelled].rollup == 0.0


def test_a_measured_parent_counts_itself_once() -> None:
    root, child = uuid.uuid4(), uuid.uuid4()
    nodes = [TreeNode(root, None, 20, True, False), TreeNode(child, root, 80, True, False)]
    assert roll_up(nodes, root).rollup == 50.0


def test_roll_up_of_a_deep_chain_needs_no_recursion() -> None:
    ids = [uuid.uuid4() for _ in range(5000)]
    nodes = [TreeNode(ids[0], None, 0, False, False)]
    nodes += [TreeNode(node_id, parent, 0, False, False) for parent, node_id in itertools.pairwise(ids)]
    nodes[-1].progress, nodes[-1].measured = 42.0, True
    assert roll_up(nodes, ids[0]).rollup == 42.0


# ---------------------------------------------------------------------------- scoring


def test_weighted_attainment() -> None:
    result = score_goals([ScoredGoal(60, 100), ScoredGoal(40, 50)])
    assert (result.score, result.goal_count, result.weights_ok, result.error) == (80.0, 2, True, None)


def test_attainment_is_capped() -> None:
    assert score_goals([ScoredGoal(100, 130)]).score == 100.0
    assert score_goals([ScoredGoal(50, -10), ScoredGoal(50, 100)]).score == 50.0


def test_weights_must_add_up_to_100() -> None:
    result = score_goals([ScoredGoal(60, 100), ScoredGoal(30, 100)])
    assert (result.score, result.weights_ok, result.weight_total, result.error) == (
        None,
        False,
        90.0,
        ScoreError.weights_not_100,
    )
    assert weight_error_message(result) == "The goal weights add up to 90, not 100."
    assert score_goals([ScoredGoal(33.33, 90), ScoredGoal(33.33, 90), ScoredGoal(33.34, 90)]).weights_ok


def test_zero_weights() -> None:
    assert score_goals([ScoredGoal(0, 100), ScoredGoal(100, 40)]).score == 40.0
    all_zero = score_goals([ScoredGoal(0, 100), ScoredGoal(0, 100)])
    assert (all_zero.score, all_zero.error) == (None, ScoreError.weights_not_100)


def test_no_weights_at_all_count_equally_but_some_missing_is_an_error() -> None:
    assert score_goals([ScoredGoal(None, 100), ScoredGoal(None, 50)]).score == 75.0
    mixed = score_goals([ScoredGoal(None, 100), ScoredGoal(100, 50)])
    assert (mixed.score, mixed.weights_ok, mixed.error) == (None, False, ScoreError.weights_missing)


def test_no_goals() -> None:
    result = score_goals([])
    assert (result.score, result.goal_count, result.weights_ok, result.error) == (None, 0, False, ScoreError.no_goals)


def test_score_people_groups_rows_by_owner() -> None:
    ada, bob, cyd = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    rows = [(ada, 50.0, 100.0), (ada, 50.0, 0.0), (bob, 100.0, 20.0)]
    scores = score_people(rows, [ada, bob, cyd])
    assert (scores[ada].score, scores[bob].score, scores[cyd].error) == (50.0, 20.0, ScoreError.no_goals)


# ---------------------------------------------------------------------------- SMART


def smart_codes(draft: GoalDraft) -> dict[str, SmartProperty]:
    return {issue.code: issue.property for issue in smart_check(draft)}


GOOD = GoalDraft(
    title="Cut p95 checkout latency from 800 to 300 ms",
    period_start=Q2[0],
    period_end=Q2[1],
    due_date=date(2026, 6, 15),
    aligned=True,
    key_results=[KeyResultDraft("p95 latency", Unit.number, 800, 300)],
    milestones=[MilestoneDraft("Profile the hot path", date(2026, 5, 1))],
)


def test_a_smart_goal_has_no_issues() -> None:
    assert smart_check(GOOD) == []


def test_each_missing_property_has_a_specific_message() -> None:
    draft = GoalDraft(title="Improve things", level=Level.individual)
    issues = {issue.code: issue for issue in smart_check(draft)}
    assert set(issues) == {"title_too_short", "vague_verb", "no_measurable_key_result", "not_aligned", "no_due_date"}
    assert issues["vague_verb"].property is SmartProperty.specific
    assert issues["vague_verb"].message.startswith("'Improve' is vague")
    assert issues["no_measurable_key_result"].property is SmartProperty.measurable
    assert issues["not_aligned"].message.startswith("Not aligned to any objective")
    assert issues["no_due_date"].property is SmartProperty.time_bound


def test_due_date_outside_the_period() -> None:
    draft = replace(GOOD, due_date=date(2026, 7, 15))
    issue = next(i for i in smart_check(draft) if i.code == "due_date_outside_period")
    assert issue.message == "The due date 2026-07-15 is outside the period 2026-04-01 to 2026-06-30."


def test_achievable_and_milestone_checks() -> None:
    draft = replace(
        GOOD,
        key_results=[KeyResultDraft("Churn", Unit.percent, 2, 2), KeyResultDraft("NPS", Unit.percent, 10, 150)],
        milestones=[MilestoneDraft("Late", date(2026, 6, 20)), MilestoneDraft("Early", date(2026, 3, 1))],
        weight=120,
    )
    codes = smart_codes(draft)
    assert codes["target_equals_start"] is SmartProperty.achievable
    assert codes["percent_out_of_range"] is SmartProperty.achievable
    assert codes["weight_out_of_range"] is SmartProperty.achievable
    assert codes["milestone_after_due_date"] is SmartProperty.time_bound
    assert codes["milestone_before_period"] is SmartProperty.time_bound
    assert "no_measurable_key_result" not in codes  # NPS 10 -> 150 is still measurable


def test_company_goals_need_no_alignment_and_yes_no_results_are_measurable() -> None:
    draft = replace(
        GOOD, level=Level.company, aligned=False, key_results=[KeyResultDraft("SOC 2 report", Unit.boolean, 0, 1)]
    )
    assert smart_check(draft) == []


@pytest.mark.parametrize(
    ("title", "verb"),
    [
        ("Improve customer satisfaction", "improve"),
        ("work on the onboarding flow", "work on"),
        ("Help the sales team close deals", "help"),
        ("Increase revenue", "increase"),
        ("Increase revenue to 2M EUR", None),
        ("Ship the new billing service", None),
        ("Improvement of the process", None),
    ],
)
def test_vague_verbs(title: str, verb: str | None) -> None:
    assert vague_verb(title) == verb


def _score_fields_reference(
    weights: list[float | None], progresses: list[float]
) -> tuple[float | None, int, bool, float | None, ScoreError | None]:
    """The rule as first written (a list per step), which ``score_fields`` must match bit for bit."""
    count = len(weights)
    if count == 0:
        return None, 0, False, None, ScoreError.no_goals
    attainments = [min(max(progress, 0.0), 100.0) for progress in progresses]
    unweighted = weights.count(None)
    if unweighted == count:
        return round(sum(attainments) / count, 2), count, True, None, None
    if unweighted:
        return None, count, False, round(sum(weight or 0.0 for weight in weights), 4), ScoreError.weights_missing
    concrete = [weight or 0.0 for weight in weights]
    total = sum(concrete)
    if abs(total - 100.0) > 0.01:
        return None, count, False, round(total, 4), ScoreError.weights_not_100
    return round(sum(map(operator.mul, concrete, attainments)) / total, 2), count, True, round(total, 4), None


@pytest.mark.parametrize(
    ("weights", "progresses"),
    [
        ([], []),
        ([60.0, 40.0], [100.0, 50.0]),
        ([60.0, 40.0], [130.0, -20.0]),  # capped
        ([None, None, None], [33.3, -0.0, 101.0]),
        ([100.0, 0.0], [12.5, 80.0]),
        ([100.0, -0.0], [12.5, 80.0]),
        ([-0.0, -0.0], [50.0, 50.0]),
        ([70.0, 20.0], [100.0, 100.0]),
        ([70.0, None], [100.0, 100.0]),
        ([33.33, 33.33, 33.34], [10.0, 20.0, 30.1]),
        ([100.005], [99.999]),
    ],
)
def test_score_fields_matches_the_rule_as_first_written(weights: list[float | None], progresses: list[float]) -> None:
    found = score_fields(tuple(weights), tuple(progresses))
    expected = _score_fields_reference(weights, progresses)
    assert found == expected
    # Same floats down to the sign of a zero, as json.dumps would write them.
    assert [repr(value) for value in found] == [repr(value) for value in expected]
