"""The docs say what the code does (issue 15.7): figures and event names are read from both and compared.

* docs/workflows.md and docs/architecture.md give the cycle's continue-as-new limits: the
  numbers must equal the defaults of ``workflows.models.CycleConfig``.
* Every event a service publishes (each literal ``outbox.add(session, entity, verb, ...)`` or
  ``_announce_once(key, entity, verb, ...)`` in its code, and each ``event_type(service, ...)``
  contract constant) is named on that service's doc pages, and no page says a published event
  is not published.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from workflows.models import CycleConfig

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs"
# The doc pages that describe what each service publishes.
PAGES: dict[str, tuple[str, ...]] = {
    "reviews": ("directory.md", "review-templates.md", "review-cycles.md", "workflows.md"),
    "goals": ("goals.md",),
    "feedback": ("feedback.md",),
    "rewards": ("rewards.md",),
}


# "X does not publish `a.b` / `c` yet." up to the end of the sentence (dots inside names do not end it).
NOT_PUBLISHED = r"(?:does not|doesn't|never) publish(?:es)? (.+?)(?:\.(?:\s|$)|;)"


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def _default(name: str) -> int:
    value = CycleConfig.model_fields[name].default
    assert isinstance(value, int)
    return value


def test_workflow_limits_in_the_docs_are_the_code_defaults() -> None:
    workflows = " ".join((DOCS / "workflows.md").read_text().split())
    architecture = " ".join((DOCS / "architecture.md").read_text().split())
    found = {
        "window": re.findall(r"At most `window` \(default ([\d,]+)\)", workflows),
        "children_per_run": re.findall(r"after `children_per_run` starts \(default ([\d,]+)", workflows),
        "history_limit": re.findall(r"reaches `history_limit` events \(default ([\d,]+)\)", workflows)
        + re.findall(r"continues as new about every ([\d,]+) events", workflows),
    }
    found["children_per_run"] += re.findall(r"continues as new after ([\d,]+) children per run", architecture)
    found["history_limit"] += re.findall(r"children per run \(or ([\d,]+) history events\)", architecture)
    for name, numbers in found.items():
        assert numbers, f"the docs no longer state {name}: update this test's patterns with the docs"
        assert {_number(n) for n in numbers} == {_default(name)}, (name, numbers)


def _literal(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _published_in(path: Path) -> Iterator[tuple[str, str]]:
    """(entity, verb) of each event this module publishes with literal names."""
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
        owner = node.func.value if isinstance(node.func, ast.Attribute) else None
        outboxed = name == "add" and isinstance(owner, ast.Name) and owner.id == "outbox"
        if (outboxed or name == "_announce_once") and len(node.args) >= 3:
            entity, verb = _literal(node.args[1]), _literal(node.args[2])
            if entity and verb:
                yield entity, verb


def _contracts() -> Iterator[tuple[str, str, str]]:
    """(service, entity, verb) of every ``event_type(...)`` constant in shared/ and services/."""
    for path in [*(ROOT / "shared").rglob("*.py"), *(ROOT / "services").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "event_type" and len(node.args) == 3:
                parts = [_literal(arg) for arg in node.args]
                if all(parts):
                    yield parts[0] or "", parts[1] or "", parts[2] or ""


def published() -> dict[str, set[tuple[str, str]]]:
    found: dict[str, set[tuple[str, str]]] = {service: set() for service in PAGES}
    for service in PAGES:
        for path in (ROOT / "services" / service).rglob("*.py"):
            found[service].update(_published_in(path))
    for service, entity, verb in _contracts():
        found[service].add((entity, verb))
    return found


def named(text: str, service: str) -> set[tuple[str, str]]:
    """Every ``entity.verb`` a page names in backticks, ``task.created/.completed`` and ``x.y` / `.z`` included."""
    names: set[tuple[str, str]] = set()
    entity: str | None = None
    prefix = f"meritloop.{service}."
    for token in re.findall(r"`([^`\n]+)`", text):
        for part in (piece.strip() for piece in token.split("/")):
            part = part.removeprefix(prefix)
            if part.startswith(".") and entity is not None:
                names.add((entity, part[1:]))
            elif re.fullmatch(r"[a-z][a-z-]*\.[a-z][a-z-]*", part):
                entity, verb = part.split(".")
                names.add((entity, verb))
    return names


@pytest.mark.parametrize("service", sorted(PAGES))
def test_every_published_event_is_named_on_the_services_pages(service: str) -> None:
    text = "\n".join((DOCS / page).read_text() for page in PAGES[service])
    missing = sorted(f"{entity}.{verb}" for entity, verb in published()[service] - named(text, service))
    assert not missing, f"published by {service} but not named in {', '.join(PAGES[service])}: {missing}"


def test_no_page_says_a_published_event_is_not_published() -> None:
    events = {(service, *event) for service, found in published().items() for event in found}
    for page in DOCS.glob("*.md"):
        text = " ".join(page.read_text().split())
        for claim in re.findall(NOT_PUBLISHED, text):
            for service in PAGES:
                for entity, verb in named(claim, service):
                    assert (service, entity, verb) not in events, f"{page.name}: says {entity}.{verb} is not published"


def test_the_checks_find_what_they_look_for() -> None:
    """The scanners are not vacuous: they see events everyone knows are published and named."""
    found = published()
    assert {("rating", "finalized"), ("cycle", "pay-approval-opened"), ("task", "created")} <= found["reviews"]
    assert ("proposal", "approved") in found["rewards"]
    assert named("`task.created/.completed` and `meritloop.rewards.proposal.created` / `.submitted`", "rewards") == {
        ("task", "created"),
        ("task", "completed"),
        ("proposal", "created"),
        ("proposal", "submitted"),
    }
    stale = "The reviews service does not publish `rating.finalized` / `pay-approval-opened` yet."
    claims = re.findall(NOT_PUBLISHED, stale)
    assert named(claims[0], "reviews") == {("rating", "finalized")}
