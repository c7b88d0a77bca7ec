"""No import cycle anywhere in the product code: the rule import-linter's contracts cannot say.

The layer and independence rules are import-linter contracts in pyproject.toml (`lint-imports`
runs them in `./dev test`); this test finds cycles between any two modules, imports inside
functions included, so a lazy import cannot hide one.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Set
from pathlib import Path

import grimp
import pytest

PACKAGES = ("meritloop", "web", "services", "notifications", "workflows", "shared")


def import_cycles(imports: Mapping[str, Set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for root in sorted(imports):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(imports.get(root, ())))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, pending = work[-1]
            if pending:
                child = pending.pop()
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, sorted(imports.get(child, ()))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return cycles


def module_imports(*packages: str) -> dict[str, set[str]]:
    graph = grimp.build_graph(*packages, exclude_type_checking_imports=True, cache_dir=None)
    return {module: set(graph.find_modules_directly_imported_by(module)) for module in graph.modules}


def test_the_product_code_has_no_import_cycle() -> None:
    cycles = import_cycles(module_imports(*PACKAGES))
    assert cycles == [], "import cycles:\n" + "\n".join(" <-> ".join(cycle) for cycle in cycles)


def test_the_cycle_check_finds_a_lazy_import_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "cyclic"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "events.py").write_text("def handler():\n    from cyclic.service import run\n    return run\n")
    (package / "service.py").write_text("from cyclic import events\n\ndef run():\n    return events\n")
    (package / "models.py").write_text("from cyclic import service\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        assert import_cycles(module_imports("cyclic")) == [["cyclic.events", "cyclic.service"]]
    finally:
        sys.modules.pop("cyclic", None)
