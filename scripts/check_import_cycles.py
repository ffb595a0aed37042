"""Fail when any two modules of `src/` import each other, directly or through others.

Every import counts — at module level or inside a function — because a lazy import only hides
a cycle, it does not remove it. A package's `__init__` re-exporting its own modules is not a
cycle. Run by the test command.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src"
PACKAGES = ("patt", "sv_common")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The project modules `path` imports (a `from pkg import mod` names the module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def main() -> int:
    files = [p for package in PACKAGES for p in (ROOT / package).rglob("*.py")]
    modules = {module_name(p): p for p in files}
    graph = {}
    for name, path in modules.items():
        targets = imports_of(path, set(modules)) - {name}
        # a package importing its own submodules (re-exports) is not a dependency cycle
        graph[name] = {t for t in targets if not t.startswith(name + ".")}
        graph[name] = {t for t in graph[name] if not name.startswith(t + ".") or t in PACKAGES}
        graph[name] -= set(PACKAGES)
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                cycles.append(stack[stack.index(target) :] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in state:
            visit(node)
    for cycle in cycles:
        print("import cycle: " + " -> ".join(cycle))
    violations = [
        name
        for name, targets in graph.items()
        if name.startswith("sv_common") and any(t.startswith("patt") for t in targets)
    ]
    for name in violations:
        print(f"layer violation: {name} imports patt")
    return 1 if cycles or violations else 0


if __name__ == "__main__":
    sys.exit(main())
