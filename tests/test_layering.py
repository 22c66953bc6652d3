"""The import rule of docs/architecture.md, checked on every ``import`` statement (function-level ones too).

Layers, from the bottom: ``presets`` (data); ``controllers`` (imports only the error family
``instrument.errors``); ``instrument`` at play time (never ``training`` or ``benchmarks``); ``training``
(never ``benchmarks``); ``benchmarks``; the CLI dispatcher ``instrument.cli`` / ``instrument.commands``,
which alone may reach every layer. No import cycles between files.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("instrument", "training", "controllers", "benchmarks", "presets")


def layer_of(module: str) -> str:
    """The layer name of a dotted module path of ours."""
    if module == "instrument.cli" or module.startswith(("instrument.commands.", "instrument.cli.")) \
            or module == "instrument.commands":
        return "dispatcher"
    return module.split(".")[0]


#: What each layer may import (besides itself).
ALLOWED = {
    "presets": set(),
    "controllers": set(),  # and the error family instrument.errors, below
    "instrument": {"presets", "controllers"},
    "training": {"presets", "controllers", "instrument"},
    "benchmarks": {"presets", "controllers", "instrument", "training"},
    "dispatcher": {"presets", "controllers", "instrument", "training", "benchmarks"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def source_files() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def all_modules() -> set[str]:
    return {module_name(p) for p in source_files()}


def resolve(name: str, modules: set[str]) -> str | None:
    """The longest module of ours that ``name`` names (a module, or a name inside one)."""
    while name:
        if name in modules:
            return name
        if "." not in name:
            return None
        name = name.rsplit(".", 1)[0]
    return None


def imports_of(path: Path, modules: set[str]) -> list[tuple[int, str]]:
    """(line, module of ours) for every import statement in ``path``, at any depth."""
    own = module_name(path)
    package = own if path.name == "__init__.py" else own.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            targets = [f"{stem}.{alias.name}" for alias in node.names] or [stem]
        for target in targets:
            hit = resolve(target, modules)
            if hit is not None and hit != own:
                found.append((node.lineno, hit))
    return found


def import_graph() -> dict[str, set[str]]:
    modules = all_modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for path in source_files():
        for _, target in imports_of(path, modules):
            graph[module_name(path)].add(target)
    return graph


def upward_imports() -> list[str]:
    modules = all_modules()
    bad = []
    for path in source_files():
        own = module_name(path)
        layer = layer_of(own)
        for line, target in imports_of(path, modules):
            other = layer_of(target)
            if other == layer:
                continue
            if layer == "controllers" and target == "instrument.errors":
                continue
            if other not in ALLOWED[layer]:
                bad.append(f"{path.relative_to(ROOT)}:{line}: {own} ({layer}) imports {target} ({other})")
    return sorted(set(bad))  # one line per import statement and module (not per imported name)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), plus self loops."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        work = [(node, iter(sorted(graph[node])))]
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        while work:
            current, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[current] = min(low[current], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[current])
            if low[current] == index[current]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == current:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_upward_imports() -> None:
    bad = upward_imports()
    assert bad == [], "imports that run up the layers:\n" + "\n".join(bad)


def test_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert found == [], "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_checker_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    """The walker finds an import hidden inside a function, so a lazy import cannot hide a cycle."""
    graph = {"a": {"b"}, "b": {"a"}, "c": set()}
    assert cycles(graph) == [["a", "b"]]
    modules = all_modules()
    sample = ROOT / "instrument" / "commands" / "invert.py"
    assert any(target.startswith("instrument.") for _, target in imports_of(sample, modules))
    assert layer_of("instrument.commands.invert") == "dispatcher"
    assert layer_of("instrument.models.io") == "instrument"


if __name__ == "__main__":  # a report for humans: python tests/test_layering.py
    for line in upward_imports():
        print("up:", line)
    for component in cycles(import_graph()):
        print("cycle:", " <-> ".join(component))
    raise SystemExit(pytest.main([__file__, "-q"]))
