"""The rules of rating scales and templates: pure checks, each error naming its exact field path."""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from services.reviews.templates.expression import COMPONENTS, FormulaError, parse, trial
from services.reviews.templates.schemas import (
    Item,
    ItemKind,
    ItemWrite,
    ScalePoint,
    Section,
    SectionKind,
    SectionWrite,
    TemplateWrite,
)
from services.reviews.templates.scoring import available_components, component_weights
from shared.catalogue import CatalogueKind

MIN_POINTS, MAX_POINTS = 2, 10

# HR's competencies and company values as the reviews service knows them: (name, archived).
Catalogue = Mapping[tuple[CatalogueKind, uuid.UUID], tuple[str, bool]]


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


# Rating scales


def check_points(points: Sequence[ScalePoint]) -> list[FieldError]:
    errors: list[FieldError] = []
    if not MIN_POINTS <= len(points) <= MAX_POINTS:
        errors.append(FieldError("points", f"a scale has {MIN_POINTS} to {MAX_POINTS} points, not {len(points)}"))
    labels: dict[str, int] = {}
    for index, point in enumerate(points):
        if index and point.value <= points[index - 1].value:
            errors.append(FieldError(f"points[{index}].value", "values must increase strictly from point to point"))
        key = point.label.strip().casefold()
        if key in labels:
            errors.append(FieldError(f"points[{index}].label", f"the same label as points[{labels[key]}]"))
        else:
            labels[key] = index
    return errors


# Templates


@dataclass(frozen=True)
class CheckedTemplate:
    """A template write with keys and default weights filled in."""

    sections: list[Section]
    errors: list[FieldError]


def _fresh_key(prefix: str, used: set[str]) -> str:
    number = 1
    while f"{prefix}{number}" in used:
        number += 1
    return f"{prefix}{number}"


def _with_keys(sections: Sequence[SectionWrite]) -> list[tuple[str, list[str]]]:
    """Each section's key and its items' keys: the given ones, else s1, s2... and s1-1, s1-2..."""
    used = {section.key for section in sections if section.key} | {
        item.key for section in sections for item in section.items if item.key
    }
    keys: list[tuple[str, list[str]]] = []
    for section in sections:
        section_key = section.key or _fresh_key("s", used)
        used.add(section_key)
        item_keys = []
        for item in section.items:
            item_key = item.key or _fresh_key(f"{section_key}-", used)
            used.add(item_key)
            item_keys.append(item_key)
        keys.append((section_key, item_keys))
    return keys


def check_template(
    data: TemplateWrite, scales: Mapping[uuid.UUID, Sequence[float]], catalogue: Catalogue | None = None
) -> CheckedTemplate:
    """Every rule of a template; ``scales`` maps each known scale id to its point values, ``catalogue``
    the competencies and company values the items link to."""
    catalogue = catalogue or {}
    errors: list[FieldError] = []
    if not data.sections:
        errors.append(FieldError("sections", "a template needs at least one section"))
    keys = _with_keys(data.sections)
    seen: dict[str, str] = {}
    sections: list[Section] = []
    goals_at: int | None = None
    for index, (section, (section_key, item_keys)) in enumerate(zip(data.sections, keys, strict=True)):
        path = f"sections[{index}]"
        _unique(section_key, f"{path}.key", seen, errors)
        if section.weight < 0:
            errors.append(FieldError(f"{path}.weight", "must not be negative"))
        if section.kind is SectionKind.goals:
            if goals_at is not None:
                errors.append(FieldError(f"{path}.kind", f"only one goals section is allowed (sections[{goals_at}])"))
            goals_at = index if goals_at is None else goals_at
            if section.items:
                errors.append(
                    FieldError(f"{path}.items", "a goals section has no items: its score comes from the goals service")
                )
        elif not section.items:
            errors.append(FieldError(f"{path}.items", f"a {section.kind.value} section needs at least one item"))
        items: list[Item] = []
        for item_index, (item, item_key) in enumerate(zip(section.items, item_keys, strict=True)):
            item_path = f"{path}.items[{item_index}]"
            _unique(item_key, f"{item_path}.key", seen, errors)
            links = _links(item, item_path, catalogue, errors)
            # A link that failed is its own error: no second one for the name it would have given.
            named = "name" in links or item.competency_id is not None
            errors.extend(_check_item(section.kind, item, item_path, scales, named=named))
            weight = item.weight
            if weight is None and item.kind is not ItemKind.free_text:
                weight = 1.0
            items.append(Item.model_validate({**item.model_dump(), **links, "key": item_key, "weight": weight}))
        rated = [item for item in items if item.kind is not ItemKind.free_text]
        weights = [item.weight or 0.0 for item in rated]
        if rated and min(weights) >= 0 and math.fsum(weights) <= 0:
            errors.append(FieldError(f"{path}.items", "the weights of the rated items must add up to more than 0"))
        sections.append(
            Section.model_validate({**section.model_dump(exclude={"items"}), "key": section_key, "items": items})
        )
    if not errors:
        errors.extend(check_formula(data.formula, sections))
    return CheckedTemplate(sections, errors)


def _unique(key: str, path: str, seen: dict[str, str], errors: list[FieldError]) -> None:
    if key in seen:
        errors.append(FieldError(path, f"the key {key!r} is already used by {seen[key]}"))
    else:
        seen[key] = path.removesuffix(".key")


def _links(item: ItemWrite, path: str, catalogue: Catalogue, errors: list[FieldError]) -> dict[str, str]:
    """The names an item takes from the entries it links to, where it gives none of its own."""
    names: dict[str, str] = {}
    for kind, entry_id, field, name_field in (
        (CatalogueKind.competency, item.competency_id, "competency_id", "name"),
        (CatalogueKind.company_value, item.company_value_id, "company_value_id", "company_value"),
    ):
        if entry_id is None:
            continue
        if item.kind is not ItemKind.competency:
            errors.append(FieldError(f"{path}.{field}", "only a competency item links to HR's lists"))
            continue
        entry = catalogue.get((kind, entry_id))
        if entry is None or entry[1]:
            noun = kind.value.replace("-", " ")
            errors.append(FieldError(f"{path}.{field}", f"no current {noun} with id {entry_id}"))
        elif not (getattr(item, name_field) or "").strip():
            names[name_field] = entry[0]
    return names


def _check_item(
    kind: SectionKind, item: ItemWrite, path: str, scales: Mapping[uuid.UUID, Sequence[float]], *, named: bool
) -> list[FieldError]:
    errors: list[FieldError] = []
    if kind is SectionKind.competencies:
        if item.kind is not ItemKind.competency:
            errors.append(FieldError(f"{path}.kind", "must be 'competency' in a competencies section"))
        if not named and not (item.name or "").strip():
            errors.append(FieldError(f"{path}.name", "a competency needs a name"))
    elif kind is SectionKind.questions:
        if item.kind is ItemKind.competency:
            errors.append(FieldError(f"{path}.kind", "must be 'rated' or 'free_text' in a questions section"))
        if not (item.text or "").strip():
            errors.append(FieldError(f"{path}.text", "a question needs a text"))
        if item.behaviours:
            errors.append(FieldError(f"{path}.behaviours", "only competencies describe behaviours"))
    if item.kind is ItemKind.free_text:
        if item.scale_id is not None:
            errors.append(FieldError(f"{path}.scale_id", "a free-text item has no scale"))
        if item.weight is not None:
            errors.append(FieldError(f"{path}.weight", "free-text items carry no weight"))
        return errors
    if item.weight is not None and item.weight < 0:
        errors.append(FieldError(f"{path}.weight", "must not be negative"))
    if item.scale_id is None:
        errors.append(FieldError(f"{path}.scale_id", "a rated item needs a rating scale"))
        return errors
    values = scales.get(item.scale_id)
    if values is None:
        errors.append(FieldError(f"{path}.scale_id", f"no rating scale with id {item.scale_id}"))
        return errors
    levels: set[float] = set()
    for index, behaviour in enumerate(item.behaviours):
        if behaviour.level is None:
            continue
        if not any(math.isclose(behaviour.level, value, rel_tol=0, abs_tol=1e-9) for value in values):
            shown = ", ".join(f"{value:g}" for value in values)
            errors.append(FieldError(f"{path}.behaviours[{index}].level", f"not a value of the item's scale ({shown})"))
        elif behaviour.level in levels:
            errors.append(FieldError(f"{path}.behaviours[{index}].level", "a second description of this level"))
        levels.add(behaviour.level)
    return errors


def check_formula(formula: str | None, sections: Sequence[Section]) -> list[FieldError]:
    """The formula reads, uses only components this template can give, and works on sample inputs."""
    if formula is None:
        if not component_weights(sections):
            return [
                FieldError(
                    "sections",
                    "with no formula the section weights define the score: at least one goals, competencies "
                    "or rated-questions section needs a weight above 0",
                )
            ]
        return []
    if not formula.strip():
        return [FieldError("formula", "is empty; leave it out (null) to score by the section weights")]
    try:
        parsed = parse(formula, names=COMPONENTS)
    except FormulaError as exc:
        return [FieldError("formula", f"position {exc.position}: {exc.message}")]
    available = available_components(sections)
    errors = [
        FieldError(
            "formula",
            f"position {position}: {name!r} never has a value in this template (it needs {_needs(name)})",
        )
        for name, position in parsed.uses.items()
        if name not in available
    ]
    if errors:
        return errors
    try:
        trial(parsed)
    except FormulaError as exc:
        return [FieldError("formula", f"position {exc.position}: {exc.message}")]
    return []


def _needs(component: str) -> str:
    return {
        "goals": "a goals section",
        "competencies": "a competencies section with weight above 0",
        "self": "a questions section answered by self or both, with weight above 0 and rated items",
        "manager": "a questions section answered by manager or both, with weight above 0 and rated items",
    }.get(component, "nothing")
