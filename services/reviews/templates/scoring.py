"""Scoring a review with a template: pure functions, no database.

Every component is on 0-100. A rating is normalised linearly over its scale,
``100 * (value - lowest) / (highest - lowest)``: on 1-5, 1 -> 0, 3 -> 50, 5 -> 100.

* ``goals``: the goals service's score (already 0-100), or missing.
* ``competencies``: weighted mean of the competency ratings, the manager's (the employee's
  when a competencies section is answered by ``self`` only).
* ``self`` / ``manager``: weighted mean of the rated questions answered by that person.
* ``peer``: an aggregate given from outside (0-100), or missing.

An item counts with ``section weight * item weight / sum of the section's rated item
weights``; unanswered items and sections with weight 0 drop out and the rest are
re-normalised. A component with nothing answered is missing. The overall score is the
template's formula over the components (the default formula is ``weighted(...)`` of the
section weights, which re-normalises over the present components).

The cycles work scores a review with ``score_review(spec, ratings, goals=..., peer=...)``;
``TemplateService.scoring_spec(template_id)`` loads the spec of a published template.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from services.reviews.templates.expression import (
    COMPONENTS,
    LANGUAGE,
    Formula,
    FormulaError,
    compile_formula,
    round_half_away,
)
from services.reviews.templates.schemas import (
    AnsweredBy,
    Item,
    ItemKind,
    Respondent,
    Section,
    SectionKind,
)

PRECISION = 4  # decimal places of computed components and of the score
LOW, HIGH = 0.0, 100.0


class ScoringError(ValueError):
    """Inputs that cannot be scored; ``field`` names the offending input (``ratings[2].value``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class ScaleSpec:
    id: uuid.UUID
    values: tuple[float, ...]  # strictly increasing, at least two

    def normalise(self, value: float) -> float:
        """0-100 for a value that is one of the scale's points; ValueError otherwise."""
        if not any(math.isclose(value, point, rel_tol=0, abs_tol=1e-9) for point in self.values):
            raise ValueError(f"{value:g} is not a point of the scale ({', '.join(f'{v:g}' for v in self.values)})")
        low, high = self.values[0], self.values[-1]
        return LOW + (HIGH - LOW) * (value - low) / (high - low)


@dataclass(frozen=True, slots=True)
class Rating:
    """One answer to a rated item: ``item`` is the item's key, ``value`` a point of its scale."""

    item: str
    by: Respondent
    value: float


@dataclass(frozen=True)
class TemplateSpec:
    """What scoring needs of one template version."""

    id: uuid.UUID | None
    version: int | None
    draft: bool
    sections: tuple[Section, ...]
    scales: Mapping[uuid.UUID, ScaleSpec]
    formula: str | None

    @property
    def effective_formula(self) -> str:
        return self.formula if self.formula is not None else default_formula(self.sections)

    def compiled(self) -> Formula:
        return compile_formula(self.effective_formula)


# Score records


class WeightTerm(BaseModel):
    model_config = ConfigDict(frozen=True)

    expression: str
    value: float | None
    weight: float | None
    share: float


class WeightedInput(BaseModel):
    """One ``weighted(...)`` of the formula as evaluated: each term's weight after re-normalisation."""

    model_config = ConfigDict(frozen=True)

    position: int
    terms: list[WeightTerm]


class ScoreInputs(BaseModel):
    model_config = ConfigDict(frozen=True)

    components: dict[str, float | None]
    weights: list[WeightedInput]


class ScoreRecord(BaseModel):
    """A computed score and everything needed to reproduce it."""

    model_config = ConfigDict(frozen=True)

    score: float | None
    formula: str
    formula_version: str
    formula_hash: str
    language: str
    template_id: uuid.UUID | None
    template_version: int | None
    inputs: ScoreInputs


# Sections -> components


def rated_items(section: Section) -> list[Item]:
    return [item for item in section.items if item.kind is not ItemKind.free_text]


def _weight(item: Item) -> float:
    return item.weight if item.weight is not None else 1.0


def respondents(section: Section) -> tuple[Respondent, ...]:
    if section.answered_by is AnsweredBy.both:
        return (Respondent.self, Respondent.manager)
    return (Respondent(section.answered_by.value),)


def _contributions(sections: Iterable[Section]) -> dict[str, list[tuple[Section, Respondent]]]:
    """For each rating-based component: the sections feeding it and whose ratings count."""
    feeds: dict[str, list[tuple[Section, Respondent]]] = {"competencies": [], "self": [], "manager": []}
    for section in sections:
        if section.weight <= 0 or not any(_weight(item) > 0 for item in rated_items(section)):
            continue
        if section.kind is SectionKind.competencies:
            by = Respondent.self if section.answered_by is AnsweredBy.self else Respondent.manager
            feeds["competencies"].append((section, by))
        elif section.kind is SectionKind.questions:
            for by in respondents(section):
                feeds[by.value].append((section, by))
    return feeds


def available_components(sections: Sequence[Section]) -> dict[str, str]:
    """Components this template can give a value, each with a reason; ``peer`` comes from outside."""
    found = {"peer": "an aggregate supplied with the review"}
    if any(section.kind is SectionKind.goals for section in sections):
        found["goals"] = "the goals section"
    for component, feeds in _contributions(sections).items():
        if feeds:
            found[component] = "a section with weight above 0 and rated items"
    return found


def component_weights(sections: Sequence[Section]) -> dict[str, float]:
    """Weights of the default formula: each scored section's weight, split evenly for ``both``."""
    weights = {"goals": 0.0, "competencies": 0.0, "manager": 0.0, "self": 0.0}
    for section in sections:
        if section.weight <= 0:
            continue
        if section.kind is SectionKind.goals:
            weights["goals"] += section.weight
        elif any(_weight(item) > 0 for item in rated_items(section)):
            if section.kind is SectionKind.competencies:
                weights["competencies"] += section.weight
            else:
                for by in respondents(section):
                    weights[by.value] += section.weight / len(respondents(section))
    return {name: weight for name, weight in weights.items() if weight > 0}


def default_formula(sections: Sequence[Section]) -> str:
    """``weighted(goals: 40, competencies: 30, ...)`` from the section weights; "" if nothing is scored."""
    weights = component_weights(sections)
    if not weights:
        return ""
    return "weighted(" + ", ".join(f"{name}: {_number(weight)}" for name, weight in weights.items()) + ")"


def _number(value: float) -> str:
    text = f"{value:.12g}"
    return text if "e" not in text else f"{value:.12f}".rstrip("0").rstrip(".")


def components_from_ratings(spec: TemplateSpec, ratings: Sequence[Rating]) -> dict[str, float | None]:
    """competencies, self and manager from the ratings given (0-100, rounded; None when nothing counts)."""
    items: dict[str, tuple[Section, Item]] = {
        item.key: (section, item) for section in spec.sections for item in section.items
    }
    normalised: dict[tuple[str, Respondent], float] = {}
    for index, rating in enumerate(ratings):
        where = f"ratings[{index}]"
        found = items.get(rating.item)
        if found is None:
            raise ScoringError(f"{where}.item", f"the template has no item {rating.item!r}")
        section, item = found
        if item.kind is ItemKind.free_text or item.scale_id is None:
            raise ScoringError(f"{where}.item", f"{rating.item!r} is a free-text item; it has no rating")
        if rating.by not in respondents(section):
            raise ScoringError(f"{where}.by", f"{rating.item!r} is answered by {section.answered_by.value}")
        if (rating.item, rating.by) in normalised:
            raise ScoringError(where, f"a second rating of {rating.item!r} by {rating.by.value}")
        scale = spec.scales.get(item.scale_id)
        if scale is None:
            raise ScoringError(f"{where}.item", f"the scale of {rating.item!r} is not known")
        try:
            normalised[(rating.item, rating.by)] = scale.normalise(rating.value)
        except ValueError as exc:
            raise ScoringError(f"{where}.value", str(exc)) from None
    components: dict[str, float | None] = {}
    for component, feeds in _contributions(spec.sections).items():
        numerator = denominator = 0.0
        for section, by in feeds:
            scored = [item for item in rated_items(section) if _weight(item) > 0]
            section_total = math.fsum(_weight(item) for item in scored)
            for item in scored:
                value = normalised.get((item.key, by))
                if value is None:
                    continue
                weight = section.weight * _weight(item) / section_total
                numerator += weight * value
                denominator += weight
        components[component] = round_half_away(numerator / denominator, PRECISION) if denominator > 0 else None
    return components


# Components -> score


def check_components(components: Mapping[str, float | None]) -> dict[str, float | None]:
    """Every component, in a fixed order, None where missing; refuses unknown names and values outside 0-100."""
    for name, value in components.items():
        if name not in COMPONENTS:
            raise ScoringError(f"components.{name}", f"unknown component; the components are {', '.join(COMPONENTS)}")
        if value is not None and (not math.isfinite(value) or not LOW <= value <= HIGH):
            raise ScoringError(f"components.{name}", "must be between 0 and 100")
    return {name: (None if components.get(name) is None else float(components[name] or 0.0)) for name in COMPONENTS}


def formula_version(spec: TemplateSpec, formula: Formula) -> str:
    """``v<template version>:<first 16 hex digits of the formula hash>`` (``draft:...`` for a draft)."""
    prefix = "draft" if spec.draft or spec.version is None else f"v{spec.version}"
    return f"{prefix}:{formula.hash[:16]}"


def score(spec: TemplateSpec, components: Mapping[str, float | None]) -> ScoreRecord:
    """The overall score of these component values under the template's formula.

    Same spec and components, same record (no clock, no randomness). Raises ScoringError for
    bad components or a formula that fails on them (division by zero, result outside 0-100).
    """
    values = check_components(components)
    source = spec.effective_formula
    if not source:
        raise ScoringError("formula", "the template scores nothing: no formula and no scored section")
    try:
        formula = compile_formula(source)
        evaluation = formula.evaluate(values)
    except FormulaError as exc:
        raise ScoringError("formula", str(exc)) from None
    raw, weights = evaluation.value, evaluation.weights
    if raw is not None and not LOW - 1e-9 <= raw <= HIGH + 1e-9:
        raise ScoringError("formula", f"the score {raw:g} is outside 0..100")
    result = None if raw is None else min(max(round_half_away(raw, PRECISION), LOW), HIGH)
    return ScoreRecord(
        score=result,
        formula=source,
        formula_version=formula_version(spec, formula),
        formula_hash=formula.hash,
        language=LANGUAGE,
        template_id=spec.id,
        template_version=spec.version,
        inputs=ScoreInputs(
            components=values,
            weights=[
                WeightedInput(
                    position=use.position,
                    terms=[
                        WeightTerm(
                            expression=term.expression,
                            value=term.value,
                            weight=term.weight,
                            share=round_half_away(term.share, 6),
                        )
                        for term in use.terms
                    ],
                )
                for use in weights
            ],
        ),
    )


def score_review(
    spec: TemplateSpec,
    ratings: Sequence[Rating],
    *,
    goals: float | None = None,
    peer: float | None = None,
) -> ScoreRecord:
    """Score one review: components from the ratings, plus the goals score and peer aggregate (0-100)."""
    components = components_from_ratings(spec, ratings)
    return score(spec, {**components, "goals": goals, "peer": peer})


def replay(spec: TemplateSpec, record: ScoreRecord) -> ScoreRecord:
    """Recompute a stored record from its inputs with the formula version it names.

    ``spec`` must be the template version the record was scored with: its formula version
    (template version and formula hash) must equal the record's, or the replay is refused.
    The stored component values are the inputs, so the result equals the stored record for
    any record ``score`` produced; a difference means the record or the template changed.
    """
    version = formula_version(spec, spec.compiled()) if spec.effective_formula else ""
    if version != record.formula_version or spec.id != record.template_id:
        raise ScoringError(
            "formula_version",
            f"the record was scored with {record.formula_version} of template {record.template_id}, "
            f"not {version or 'no formula'} of {spec.id}",
        )
    return score(spec, record.inputs.components)
