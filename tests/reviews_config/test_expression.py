"""The formula language: grammar, functions, missing values, errors with positions, safety."""

from __future__ import annotations

import pytest

from services.reviews.templates.expression import (
    MAX_DEPTH,
    MAX_LENGTH,
    EvaluationError,
    FormulaError,
    parse,
    trial,
)

ALL = {"goals": 80.0, "self": 60.0, "manager": 70.0, "competencies": 50.0, "peer": 90.0}


def value(source: str, **values: float | None) -> float | None:
    return parse(source).evaluate(values or ALL).value


def error(source: str) -> FormulaError:
    with pytest.raises(FormulaError) as raised:
        parse(source)
    return raised.value


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("1 + 2 * 3", 7.0),
        ("(1 + 2) * 3", 9.0),
        ("10 - 4 - 3", 3.0),
        ("24 / 4 / 2", 3.0),
        ("-2 * -3", 6.0),
        ("- (1 + 2)", -3.0),
        ("+5", 5.0),
        ("1.5e1 + .5", 15.5),
        ("goals * 0.5 + manager * 0.5", 75.0),
        ("if(goals > 50 and not manager < 10, 1, 2)", 1.0),
        ("if(goals < 50 or self == 60, 1, 2)", 1.0),
        ("if(goals >= 80 and goals <= 80 and goals != 79, 3, 4)", 3.0),
        ("if((1 < 2) == (2 > 1), 5, 6)", 5.0),  # == between two comparisons compares the booleans
        ("if(not 1 > 2 and 2 > 1, 7, 8)", 7.0),
    ],
)
def test_arithmetic_precedence_and_logic(source: str, expected: float) -> None:
    assert value(source) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("min(goals, self, manager)", 60.0),
        ("max(goals, self, manager)", 80.0),
        ("avg(goals, self)", 70.0),
        ("mean(goals, self, manager)", 70.0),
        ("round(2.5)", 3.0),
        ("round(-2.5)", -3.0),
        ("round(66.666, 2)", 66.67),
        ("clamp(120, 0, 100)", 100.0),
        ("clamp(-5, 0, 100)", 0.0),
        ("abs(self - goals)", 20.0),
        ("coalesce(peer, 0)", 90.0),
        ("if(present(peer), 1, 0)", 1.0),
        ("weighted(goals: 0.4, manager: 0.4, self: 0.2)", 72.0),
        ("weighted(goals: 2, (self + manager) / 2: 1)", 75.0),
    ],
)
def test_functions(source: str, expected: float) -> None:
    assert value(source) == pytest.approx(expected)


def test_weighted_renormalises_over_present_components() -> None:
    formula = parse("weighted(goals: 0.4, manager: 0.4, self: 0.2)")
    result = formula.evaluate({"goals": 80.0, "manager": None, "self": 60.0})
    assert result.value == pytest.approx(80 * 2 / 3 + 60 / 3)
    (use,) = result.weights
    shares = {term.expression: term.share for term in use.terms}
    assert shares == pytest.approx({"goals": 2 / 3, "manager": 0.0, "self": 1 / 3})
    assert formula.evaluate({}).value is None  # every component missing: the score is missing


def test_missing_propagates_like_null_but_aggregates_skip_it() -> None:
    partial = {"goals": 80.0, "self": None}
    assert value("goals + self", **partial) is None
    assert value("-self", **partial) is None
    assert value("if(self > 50, 1, 2)", **partial) is None
    assert value("min(goals, self)", **partial) == 80.0
    assert value("avg(goals, self)", **partial) == 80.0
    assert value("avg(self)", **partial) is None
    assert value("coalesce(self, goals)", **partial) == 80.0
    assert value("if(present(self), self, goals)", **partial) == 80.0
    assert value("round(self, 1)", **partial) is None
    # Three-valued logic: false and missing is false, true or missing is true.
    assert value("if(goals < 0 and self > 1, 1, 2)", **partial) == 2.0
    assert value("if(goals > 0 or self > 1, 1, 2)", **partial) == 1.0
    assert value("if(goals > 0 and self > 1, 1, 2)", **partial) is None
    assert value("if(not self > 1, 1, 2)", **partial) is None


@pytest.mark.parametrize(
    ("source", "message", "position"),
    [
        ("goals + gaols", "unknown name 'gaols'", 9),
        ("goals +", "unexpected the end of the formula", 8),
        ("(goals + self", "expected ')'", 14),
        ("goals self", "unexpected 'self'", 7),
        ("1 / 0", "division by zero", 3),
        ("goals / (2 - 2)", "division by zero", 7),
        ("sqrt(goals)", "unknown function 'sqrt'", 1),
        ("min()", "min() takes at least 1", 1),
        ("clamp(goals, 0)", "clamp() takes 3", 1),
        ("round(goals, 1.5)", "round() digits", 14),
        ("round(goals, self)", "round() digits", 14),
        ("goals < self < manager", "cannot be chained", 14),
        ("goals = 1", "compare with '=='", 7),
        ("goals > 1", "must give a number", 7),
        ("goals and self", "needs true/false", 1),
        ("if(goals, 1, 2)", "condition of if()", 4),
        ("if(goals > 1, 1, goals > 2)", "both branches", 18),
        ("weighted(goals, self)", "needs a weight", 10),
        ("weighted(goals: -1, self: 1)", "must not be negative", 17),
        ("max(goals: 1)", "only allowed in weighted()", 10),
        ("", "empty", 1),
        ("   ", "empty", 1),
        ("1e400", "too large", 1),
        ("goals & self", "unexpected character '&'", 7),
        ("min", "is a function", 1),
    ],
)
def test_errors_name_the_position(source: str, message: str, position: int) -> None:
    problem = error(source)
    assert message in problem.message
    assert problem.position == position
    assert f"at position {position}" in str(problem)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("goals.__class__", "attribute access is not allowed"),
        ("goals.real", "attribute access is not allowed"),
        ("__import__(goals)", "unknown function '__import__'"),
        ("__import__('os')", "unexpected character"),
        ("getattr(goals, 1)", "unknown function 'getattr'"),
        ("__builtins__", "unknown name '__builtins__'"),
        ("eval(goals)", "unknown function 'eval'"),
        ("exec(goals)", "unknown function 'exec'"),
        ("open(goals)", "unknown function 'open'"),
        ("lambda: 1", "unknown name 'lambda'"),
        ("[x for x in goals]", "unexpected character '['"),
        ("{goals: 1}", "unexpected character '{'"),
        ("(x for x in goals)", "unknown name 'x'"),
        ("goals[0]", "unexpected character '['"),
        ("'abc'", "unexpected character"),
        ("9 ** 9 ** 9", "exponentiation is not supported"),
        ("2 ^ 1000", "unexpected character '^'"),
        ("goals if goals > 1 else self", "unexpected 'if'"),
        ("goals; self", "unexpected character ';'"),
    ],
)
def test_unsafe_constructs_are_refused(source: str, message: str) -> None:
    assert message in error(source).message


def test_deep_nesting_is_refused_before_any_recursion_trouble() -> None:
    at_limit = "(" * (MAX_DEPTH - 1) + "goals" + ")" * (MAX_DEPTH - 1)
    assert parse(at_limit).evaluate(ALL).value == 80.0
    for deep in ("(" * 500 + "1" + ")" * 500, "-" * 300 + "1", "not " * 60 + "1 > 2", "min(" * 60 + "1" + ")" * 60):
        assert "nests deeper" in error(deep).message


def test_long_flat_sums_are_fine_and_length_is_limited() -> None:
    flat = " + ".join(["goals"] * 250)
    assert len(flat) < MAX_LENGTH
    assert parse(flat).evaluate(ALL).value == pytest.approx(80.0 * 250)
    assert "longer than" in error("1" + " + 1" * (MAX_LENGTH // 4 + 1)).message


def test_huge_results_and_step_budget_are_evaluation_errors() -> None:
    huge = parse("goals * 1e15 * 1e15")
    with pytest.raises(EvaluationError, match="too large"):
        huge.evaluate(ALL)
    with pytest.raises(EvaluationError, match="steps"):
        parse(" + ".join(["goals"] * 50)).evaluate(ALL, max_steps=10)


def test_division_by_a_zero_value_fails_at_evaluation_with_its_position() -> None:
    formula = parse("goals / (manager - self)")
    with pytest.raises(EvaluationError) as raised:
        formula.evaluate({"goals": 1.0, "manager": 5.0, "self": 5.0})
    assert raised.value.position == 7


def test_trial_finds_failures_on_sample_inputs() -> None:
    with pytest.raises(EvaluationError, match="division by zero when"):
        trial(parse("goals / manager"))
    with pytest.raises(EvaluationError, match=r"outside 0\.\.100"):
        trial(parse("goals * 1.2"))
    trial(parse("clamp(goals * 1.2, 0, 100)"))
    trial(parse("if(manager > 0, goals / manager * 50, 0) / 2 + coalesce(self, 0) / 2"))


def test_the_hash_depends_on_the_text_only() -> None:
    assert parse("goals").hash == parse("goals").hash
    assert parse("goals").hash != parse("goals ").hash
    assert parse("goals + self").uses == {"goals": 1, "self": 9}
