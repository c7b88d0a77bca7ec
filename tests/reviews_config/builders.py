"""Template and scale bodies shared by the review-configuration tests."""

from __future__ import annotations

from typing import Any


def scale_body(name: str = "Five points", values: tuple[float, ...] = (1, 2, 3, 4, 5)) -> dict[str, Any]:
    return {
        "name": name,
        "description": "How well it was done.",
        "points": [{"value": v, "label": f"Level {v:g}", "description": f"Described {v:g}"} for v in values],
    }


def template_body(scale_id: str, *, formula: str | None = None, name: str = "Annual review") -> dict[str, Any]:
    """Goals 40, competencies 30 (manager answers), questions 30 (both answer): the usual shape."""
    return {
        "name": name,
        "description": "Once a year.",
        "formula": formula,
        "sections": [
            {"key": "goals", "title": "Goals", "kind": "goals", "weight": 40, "answered_by": "manager"},
            {
                "key": "skills",
                "title": "Competencies",
                "kind": "competencies",
                "weight": 30,
                "answered_by": "both",
                "items": [
                    {
                        "key": "craft",
                        "kind": "competency",
                        "name": "Craft",
                        "scale_id": scale_id,
                        "weight": 2,
                        "behaviours": [
                            {"level": 1, "description": "Needs help with routine work."},
                            {"level": 5, "description": "Raises the bar for the team."},
                        ],
                    },
                    {
                        "key": "ownership",
                        "kind": "competency",
                        "name": "Ownership",
                        "company_value": "Ownership",
                        "scale_id": scale_id,
                        "behaviours": [{"description": "Sees things through."}],
                    },
                ],
            },
            {
                "key": "questions",
                "title": "Reflection",
                "kind": "questions",
                "weight": 30,
                "answered_by": "both",
                "items": [
                    {"key": "impact", "kind": "rated", "text": "How big was the impact?", "scale_id": scale_id},
                    {"key": "notes", "kind": "free_text", "text": "Anything else?", "required": False},
                ],
            },
        ],
    }
