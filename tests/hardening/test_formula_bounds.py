"""A formula costs time linear in its size: checking visits each node once, scoring parses once."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest

from services.reviews.templates import expression
from services.reviews.templates.expression import compile_formula, parse
from shared.auth import Role
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.hardening.support import health_while
from tests.reviews_config.builders import template_body
from tests.reviews_config.support import create_scale


def nested_if(depth: int, inner: str = "goals") -> str:
    """``if(if(...(goals<1,1,0)...)<1,1,0)``: each level compares the level below."""
    formula = inner
    for _level in range(depth):
        formula = f"if({formula}<1,1,0)"
    return formula


@pytest.mark.timeout(30)
def test_nested_comparisons_are_checked_in_linear_time() -> None:
    # Depth 19 took 5.5 s before (both sides of each comparison were checked again at every
    # level above); depth 40 never finished.
    started = time.perf_counter()
    formula = parse(nested_if(40))
    took = time.perf_counter() - started
    assert took < 0.5, f"depth 40 took {took:.2f}s to check"
    # Each level turns the one below into 1 (below 1) or 0: 40 levels bring 0.5 back to 0.
    assert formula.evaluate({"goals": 0.5}).value == 0.0
    assert formula.evaluate({"goals": 5.0}).value == 1.0


def test_checking_visits_each_node_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    original = expression._Checker._kind

    def counting(self: expression._Checker, node: expression.Node) -> expression.Kind:
        nonlocal calls
        calls += 1
        return original(self, node)

    monkeypatch.setattr(expression._Checker, "_kind", counting)
    for depth in (5, 10, 20, 40):
        calls = 0
        formula = parse(nested_if(depth, "goals / (1 + 2 / (3 + 4 / (5 + goals)))"))
        nodes = sum(1 for _node in _walk(formula.root))
        assert calls == nodes, (depth, calls, nodes)


def _walk(node: expression.Node) -> list[expression.Node]:
    found, stack = [], [node]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(expression._children(current))
    return found


def test_constant_divisions_and_weights_are_still_checked() -> None:
    with pytest.raises(expression.FormulaError, match="division by zero"):
        parse("goals / (2 - 2)")
    with pytest.raises(expression.FormulaError, match="must not be negative"):
        parse("weighted(goals: 1 - 3, self: 1)")
    with pytest.raises(expression.FormulaError, match="round"):
        parse("round(goals, 1 + goals)")
    with pytest.raises(expression.FormulaError, match="needs a number"):
        parse(nested_if(10, "(goals < 1)"))


def test_a_formula_text_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []
    original = expression._Parser.parse

    def counting(self: expression._Parser) -> expression.Node:
        parsed.append(self.source)
        return original(self)

    monkeypatch.setattr(expression._Parser, "parse", counting)
    source = "clamp(weighted(goals: 3, self: 1) + 0.123456, 0, 100)"
    first = compile_formula(source)
    for _ in range(100):
        assert compile_formula(source) is first
    assert parsed == [source]


@pytest.fixture
async def reviews(service_client: ServiceClientFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with service_client("reviews") as client:
        yield client


@pytest.mark.database
@pytest.mark.timeout(60)
async def test_a_deep_formula_neither_blocks_the_service_nor_its_health_check(
    reviews: httpx.AsyncClient, auth: TokenFactory
) -> None:
    hr = auth(Role.hr)
    scale = await create_scale(reviews, hr)
    body = template_body(scale["id"], formula=nested_if(40))
    assert len(body["formula"]) < expression.MAX_LENGTH

    started = time.perf_counter()
    created, slowest = await health_while(reviews, lambda: reviews.post("/templates", json=body, headers=hr))
    took = time.perf_counter() - started
    assert created.status_code == 201, created.text
    assert took < 2.0, f"creating the template took {took:.2f}s"
    assert slowest < 1.0, f"/healthz went unanswered for {slowest:.2f}s"

    preview = await reviews.post(
        f"/templates/{created.json()['id']}/score-preview", json={"components": {"goals": 5}}, headers=hr
    )
    assert preview.status_code == 200, preview.text
    assert preview.json()["score"] == 1.0
