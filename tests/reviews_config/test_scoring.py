"""Scoring without a database: normalisation, components from ratings, re-normalisation, records."""

from __future__ import annotations

import uuid

import pytest

from services.reviews.templates.rules import check_template
from services.reviews.templates.schemas import Respondent, TemplateWrite
from services.reviews.templates.scoring import (
    Rating,
    ScaleSpec,
    ScoringError,
    TemplateSpec,
    components_from_ratings,
    default_formula,
    score,
    score_review,
)
from tests.reviews_config.builders import template_body

SCALE_ID = uuid.UUID("00000000-0000-0000-0000-0000000000a5")
FIVE = ScaleSpec(SCALE_ID, (1, 2, 3, 4, 5))
SELF, MANAGER = Respondent.self, Respondent.manager


def spec(formula: str | None = None, scale: ScaleSpec = FIVE, version: int = 3) -> TemplateSpec:
    data = TemplateWrite.model_validate(template_body(str(SCALE_ID), formula=formula))
    checked = check_template(data, {SCALE_ID: scale.values})
    assert checked.errors == []
    return TemplateSpec(
        id=uuid.UUID(int=7),
        version=version,
        draft=False,
        sections=tuple(checked.sections),
        scales={SCALE_ID: scale},
        formula=formula,
    )


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ((1, 2, 3), [0, 50, 100]),
        ((1, 2, 3, 4), [0, 100 / 3, 200 / 3, 100]),
        ((1, 2, 3, 4, 5), [0, 25, 50, 75, 100]),
        ((1, 2, 3, 4, 5, 6, 7), [0, 100 / 6, 200 / 6, 50, 400 / 6, 500 / 6, 100]),
        ((0.5, 1.0, 2.5), [0, 25, 100]),
        ((-2, 0, 2), [0, 50, 100]),
    ],
)
def test_scales_normalise_linearly_to_0_100(values: tuple[float, ...], expected: list[float]) -> None:
    scale = ScaleSpec(uuid.uuid4(), values)
    assert [scale.normalise(value) for value in values] == pytest.approx(expected)


def test_a_value_off_the_scale_is_refused() -> None:
    with pytest.raises(ValueError, match=r"2.5 is not a point of the scale \(1, 2, 3, 4, 5\)"):
        FIVE.normalise(2.5)


def test_the_default_formula_comes_from_the_section_weights() -> None:
    # Questions answered by both: their weight is split between self and manager.
    assert default_formula(spec().sections) == "weighted(goals: 40, competencies: 30, manager: 15, self: 15)"


def test_components_from_ratings_are_weighted_and_skip_unanswered_items() -> None:
    ratings = [
        Rating("craft", MANAGER, 5),  # weight 2 -> 100
        Rating("ownership", MANAGER, 3),  # weight 1 -> 50
        Rating("craft", SELF, 1),  # self ratings of competencies are shown, not scored
        Rating("impact", SELF, 4),
    ]
    components = components_from_ratings(spec(), ratings)
    assert components == {"competencies": pytest.approx(83.3333), "self": 75.0, "manager": None}
    only_one = components_from_ratings(spec(), [Rating("ownership", MANAGER, 2)])
    assert only_one["competencies"] == 25.0  # craft unanswered: ownership alone counts


def test_a_missing_component_renormalises_the_remaining_weights() -> None:
    template = spec()
    full = score(template, {"goals": 80, "competencies": 60, "manager": 40, "self": 100})
    assert full.score == pytest.approx(0.4 * 80 + 0.3 * 60 + 0.15 * 40 + 0.15 * 100)
    without_goals = score(template, {"competencies": 60, "manager": 40, "self": 100})
    assert without_goals.score == pytest.approx((0.3 * 60 + 0.15 * 40 + 0.15 * 100) / 0.6, abs=1e-4)
    shares = {term.expression: term.share for term in without_goals.inputs.weights[0].terms}
    assert shares == pytest.approx({"goals": 0.0, "competencies": 0.5, "manager": 0.25, "self": 0.25})
    assert without_goals.inputs.components["goals"] is None
    nothing = score(template, {})
    assert nothing.score is None


def test_score_records_are_reproducible_and_name_the_formula_version() -> None:
    template = spec(formula="clamp(weighted(goals: 0.5, competencies: 0.5) + coalesce(peer, 0) / 10, 0, 100)")
    ratings = [Rating("craft", MANAGER, 4), Rating("ownership", MANAGER, 4)]
    first = score_review(template, ratings, goals=70.0, peer=None)
    second = score_review(template, list(ratings), goals=70.0, peer=None)
    assert first == second
    assert first.model_dump_json() == second.model_dump_json()
    assert first.score == pytest.approx(72.5)
    assert first.formula == template.formula
    assert first.formula_version == f"v3:{first.formula_hash[:16]}"
    assert first.template_id == uuid.UUID(int=7)
    assert first.inputs.components == {
        "goals": 70.0,
        "self": None,
        "manager": None,
        "competencies": 75.0,
        "peer": None,
    }
    # The record alone reproduces the score.
    again = score(template, first.inputs.components)
    assert again == first
    other = score_review(spec(formula="weighted(goals: 0.5, competencies: 0.5)"), ratings, goals=70.0)
    assert other.formula_hash != first.formula_hash


@pytest.mark.parametrize(
    ("ratings", "field", "message"),
    [
        ([Rating("nope", MANAGER, 3)], "ratings[0].item", "no item 'nope'"),
        ([Rating("notes", SELF, 3)], "ratings[0].item", "free-text"),
        ([Rating("craft", MANAGER, 3), Rating("craft", MANAGER, 4)], "ratings[1]", "second rating"),
        ([Rating("impact", MANAGER, 7)], "ratings[0].value", "not a point of the scale"),
    ],
)
def test_bad_ratings_name_the_field(ratings: list[Rating], field: str, message: str) -> None:
    with pytest.raises(ScoringError) as raised:
        components_from_ratings(spec(), ratings)
    assert raised.value.field == field
    assert message in raised.value.message


def test_respondents_follow_answered_by() -> None:
    body = template_body(str(SCALE_ID))
    body["sections"][2]["answered_by"] = "manager"
    checked = check_template(TemplateWrite.model_validate(body), {SCALE_ID: FIVE.values})
    template = TemplateSpec(None, None, True, tuple(checked.sections), {SCALE_ID: FIVE}, None)
    with pytest.raises(ScoringError, match="answered by manager") as raised:
        components_from_ratings(template, [Rating("impact", SELF, 3)])
    assert raised.value.field == "ratings[0].by"
    assert score(template, {"goals": 50}).formula_version.startswith("draft:")


@pytest.mark.parametrize(
    ("components", "field"),
    [({"bonus": 3}, "components.bonus"), ({"goals": 101}, "components.goals"), ({"self": -1}, "components.self")],
)
def test_bad_components_are_refused(components: dict[str, float], field: str) -> None:
    with pytest.raises(ScoringError) as raised:
        score(spec(), components)
    assert raised.value.field == field


def test_a_formula_failing_on_real_inputs_is_a_scoring_error() -> None:
    template = spec(formula="if(manager > 0, goals / manager, 0)")
    assert score(template, {"goals": 50, "manager": 100}).score == 0.5
    with pytest.raises(ScoringError, match=r"outside 0\.\.100"):
        score(template, {"goals": 100, "manager": 0.5})
