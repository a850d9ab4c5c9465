"""The layout's figures: import cycles between modules, the longest functions and modules, README lines.

    .venv/bin/python tests/perf/layout.py [ROOT]

Imports against the layer order are import-linter's (``lint-imports``, the contracts in
pyproject.toml); this script counts what it does not: strongly connected groups of modules
(every module, ``TYPE_CHECKING`` imports left out), and sizes.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def cycles(adjacency: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in adjacency[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(10_000)
    for module in sorted(adjacency):
        if module not in index:
            visit(module)
    return found


def main() -> None:
    import grimp

    root = Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    sys.path.insert(0, str(root))
    graph = grimp.build_graph("search", exclude_type_checking_imports=True)
    adjacency = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    groups = cycles(adjacency)
    print(f"modules {len(adjacency)}, imports {sum(map(len, adjacency.values()))}, cycles {len(groups)}")
    for group in groups:
        print("  cycle:", " <-> ".join(group))
    functions, modules = [], []
    for path in sorted((root / "search").rglob("*.py")):
        text = path.read_text()
        modules.append((len(text.splitlines()), str(path.relative_to(root))))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                functions.append((node.end_lineno - node.lineno + 1, f"{path.relative_to(root)}:{node.name}"))
    functions.sort(reverse=True)
    modules.sort(reverse=True)
    print("longest functions:", ", ".join(f"{n} {name}" for n, name in functions[:3]),
          f"({sum(n > 50 for n, _ in functions)} over 50 lines)")
    print("longest modules:", ", ".join(f"{n} {name}" for n, name in modules[:3]),
          f"({sum(n > 400 for n, _ in modules)} over 400 lines)")
    print("top-level modules and packages in search/:", len([p for p in (root / "search").iterdir()
                                                            if p.suffix == ".py" and p.stem != "__init__" or
                                                            (p / "__init__.py").is_file()]))
    print("README.md lines:", len((root / "README.md").read_text().splitlines()))


if __name__ == "__main__":
    main()
