"""Scale and template rules without a database: each error names its exact field path."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from services.reviews.templates.rules import check_points, check_template
from services.reviews.templates.schemas import RatingScaleWrite, TemplateWrite
from tests.reviews_config.builders import scale_body, template_body

SCALE = uuid.UUID("00000000-0000-0000-0000-0000000000a5")
UNKNOWN = str(uuid.UUID(int=1))
ONE_QUESTION = [{"kind": "rated", "text": "x", "scale_id": str(SCALE)}]
KNOWN: dict[uuid.UUID, tuple[float, ...]] = {SCALE: (1.0, 2.0, 3.0, 4.0, 5.0)}


def point_errors(values: tuple[float, ...], labels: list[str] | None = None) -> dict[str, str]:
    body = scale_body(values=values)
    for point, label in zip(body["points"], labels or [], strict=False):
        point["label"] = label
    return {e.field: e.message for e in check_points(RatingScaleWrite.model_validate(body).points)}


def test_scale_points() -> None:
    assert point_errors((1, 2, 3)) == {}
    assert point_errors((0.5, 1.5, 2.25, 3)) == {}
    assert "2 to 10 points" in point_errors((1,))["points"]
    assert "2 to 10 points" in point_errors(tuple(range(11)))["points"]
    assert point_errors((1, 3, 2)) == {"points[2].value": "values must increase strictly from point to point"}
    assert "points[1].value" in point_errors((1, 1, 2))
    assert point_errors((1, 2, 3), ["Low", "low ", "High"]) == {"points[1].label": "the same label as points[0]"}


def errors_of(
    change: Callable[[dict[str, Any]], None], scales: dict[uuid.UUID, tuple[float, ...]] = KNOWN
) -> dict[str, str]:
    body = copy.deepcopy(template_body(str(SCALE)))
    change(body)
    checked = check_template(TemplateWrite.model_validate(body), scales)
    return {error.field: error.message for error in checked.errors}


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(body: dict[str, Any]) -> None:
        target: Any = body
        parts = path.split(".")
        for part in parts[:-1]:
            target = target[int(part)] if part.isdigit() else target[part]
        target[parts[-1]] = value

    return change


def test_the_sample_template_is_valid_and_gets_keys_and_weights() -> None:
    body = template_body(str(SCALE))
    del body["sections"][2]["key"], body["sections"][2]["items"][0]["key"]
    checked = check_template(TemplateWrite.model_validate(body), KNOWN)
    assert checked.errors == []
    questions = checked.sections[2]
    assert questions.key == "s1"
    assert [item.key for item in questions.items] == ["s1-1", "notes"]
    assert [item.weight for item in questions.items] == [1.0, None]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            _set("sections.1.items.0.scale_id", str(uuid.UUID(int=1))),
            "sections[1].items[0].scale_id",
            "no rating scale",
        ),
        (_set("sections.2.items.0.scale_id", None), "sections[2].items[0].scale_id", "needs a rating scale"),
        (_set("sections.1.weight", -1), "sections[1].weight", "must not be negative"),
        (_set("sections.1.items.1.weight", -0.5), "sections[1].items[1].weight", "must not be negative"),
        (_set("sections.2.items.1.weight", 1), "sections[2].items[1].weight", "free-text items carry no weight"),
        (_set("sections.2.items.1.weight", 0), "sections[2].items[1].weight", "free-text items carry no weight"),
        (
            _set("sections.2.items.1.scale_id", str(SCALE)),
            "sections[2].items[1].scale_id",
            "free-text item has no scale",
        ),
        (_set("sections.2.kind", "goals"), "sections[2].kind", "only one goals section"),
        (
            _set("sections.0.items", [{"kind": "rated", "text": "x", "scale_id": str(SCALE)}]),
            "sections[0].items",
            "no items",
        ),
        (_set("sections.1.items", []), "sections[1].items", "at least one item"),
        (_set("sections.1.items.0.kind", "rated"), "sections[1].items[0].kind", "must be 'competency'"),
        (_set("sections.2.items.0.kind", "competency"), "sections[2].items[0].kind", "'rated' or 'free_text'"),
        (_set("sections.1.items.0.name", None), "sections[1].items[0].name", "needs a name"),
        (_set("sections.2.items.0.text", " "), "sections[2].items[0].text", "needs a text"),
        (_set("sections.1.items.0.behaviours.1.level", 6), "sections[1].items[0].behaviours[1].level", "not a value"),
        (_set("sections.1.items.0.behaviours.1.level", 1), "sections[1].items[0].behaviours[1].level", "second"),
        (_set("sections.2.key", "skills"), "sections[2].key", "already used by sections[1]"),
        (_set("sections.2.items.0.key", "craft"), "sections[2].items[0].key", "already used by sections[1].items[0]"),
        (_set("sections", []), "sections", "at least one section"),
    ],
)
def test_template_rules_name_the_path(change: Callable[[dict[str, Any]], None], field: str, message: str) -> None:
    errors = errors_of(change)
    assert field in errors, errors
    assert message in errors[field]


def test_rated_item_weights_must_add_up_to_more_than_zero() -> None:
    def zero(body: dict[str, Any]) -> None:
        for item in body["sections"][1]["items"]:
            item["weight"] = 0

    assert "more than 0" in errors_of(zero)["sections[1].items"]


def test_every_error_is_reported_at_once() -> None:
    def many(body: dict[str, Any]) -> None:
        body["sections"][1]["weight"] = -1
        body["sections"][2]["items"][1]["weight"] = 2
        body["sections"][1]["items"][1]["scale_id"] = str(uuid.UUID(int=9))

    assert set(errors_of(many)) == {
        "sections[1].weight",
        "sections[2].items[1].weight",
        "sections[1].items[1].scale_id",
    }


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("goals + gaols", "position 9: unknown name 'gaols'"),
        ("goals / 0", "position 7: division by zero"),
        ("goals / manager", "division by zero when"),
        ("goals * 2", "outside 0..100"),
        ("", "is empty"),
    ],
)
def test_formula_errors_carry_the_position(formula: str, message: str) -> None:
    errors = errors_of(_set("formula", formula))
    assert message in errors["formula"]


def test_a_formula_may_only_use_components_the_template_gives() -> None:
    def only_goals(body: dict[str, Any]) -> None:
        body["sections"] = body["sections"][:1]
        body["formula"] = "weighted(goals: 1, manager: 1)"

    assert errors_of(only_goals) == {
        "formula": "position 20: 'manager' never has a value in this template (it needs a questions section "
        "answered by manager or both, with weight above 0 and rated items)"
    }
    assert errors_of(_set("formula", "weighted(goals: 1, peer: 1)")) == {}


def test_without_a_formula_something_must_carry_weight() -> None:
    def weightless(body: dict[str, Any]) -> None:
        for section in body["sections"]:
            section["weight"] = 0

    assert "at least one goals, competencies" in errors_of(weightless)["sections"]

    # With a formula, the section weights only combine sections inside a component.
    def weightless_goals(body: dict[str, Any]) -> None:
        body["sections"] = [body["sections"][0]]
        body["sections"][0]["weight"] = 0
        body["formula"] = "coalesce(goals, 50)"

    assert errors_of(weightless_goals) == {}
