"""The import architecture: the layering contracts in ``pyproject.toml`` hold, and no import cycle.

The contracts (``[tool.importlinter]``) are the ones ``make lint`` checks with ``lint-imports``;
running them here as well makes ``make test`` fail on a module that imports from a layer above it.
The cycle check is stricter than any contract: among all the modules of ``services``, ``shared`` and
``sifang`` — imports inside functions included — no module may reach itself again.
"""

import subprocess
import sys
from collections.abc import Iterable, Mapping
from itertools import pairwise
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("services", "shared", "sifang")


def test_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint_imports), "--no-cache", "--no-logo", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(result.stdout + result.stderr, pytrace=False)


def strongly_connected_components(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (import chains are deeper than Python's recursion allows
    comfortably); each component's modules in sorted order."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        index[root] = lowlink[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(sorted(graph[root])))]
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = lowlink[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph.get(successor, ())))))
                    break
                if successor in on_stack:
                    lowlink[node] = min(lowlink[node], index[successor])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    lowlink[parent] = min(lowlink[parent], lowlink[node])
                if lowlink[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(sorted(component))
    return components


def test_strongly_connected_components() -> None:
    graph = {"a": ["b"], "b": ["c", "d"], "c": ["a"], "d": ["e"], "e": ["d"], "f": ["f"], "g": []}
    assert sorted(strongly_connected_components(graph)) == [["a", "b", "c"], ["d", "e"], ["f"], ["g"]]


def test_no_import_cycle() -> None:
    imports = grimp.build_graph(*PACKAGES, cache_dir=None)
    graph = {module: imports.find_modules_directly_imported_by(module) for module in imports.modules}
    cycles = [component for component in strongly_connected_components(graph) if len(component) > 1]
    messages = []
    for component in cycles:
        # One concrete loop through the component, with the lines of each import.
        members = set(component)
        start = component[0]
        path = imports.find_shortest_chain(
            importer=next(m for m in sorted(graph[start]) if m in members), imported=start
        )
        chain = [start, *(path or ())]
        steps = []
        for importer, imported in pairwise(chain):
            lines = sorted(
                detail["line_number"]
                for detail in imports.get_import_details(importer=importer, imported=imported)
            )
            steps.append(f"{importer} -> {imported} (l.{', l.'.join(map(str, lines))})")
        messages.append(f"cycle among {', '.join(component)}:\n    " + "\n    ".join(steps))
    assert not cycles, "import cycles:\n" + "\n".join(messages)
