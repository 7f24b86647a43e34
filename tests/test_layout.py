"""The package shows the pipeline: subpackages in a one-way import order, pinned by walking every import.

core → prompting → grounding → providers → drafting → evaluation → batch → cli: a module imports only from its
own subpackage and those before it (function-level imports included), and the evaluation never imports the
drafting package at all, so a score cannot depend on how a draft was made. ``testing`` (the fake server for
tests) may use anything and nothing imports it; ``pmcomm_llm/__init__.py`` states the public names.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pmcomm_llm"
ORDER = ["core", "prompting", "grounding", "providers", "drafting", "evaluation", "batch", "cli"]
NEVER = {("evaluation", "drafting")}


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "_data" not in p.parts)


def _floor(path: Path) -> str | None:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else None


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every ``pmcomm_llm.*`` module this file imports, anywhere in it, with the line."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "pmcomm_llm":
                found += [(node.lineno, f"pmcomm_llm.{a.name}") for a in node.names]
            elif node.module.startswith("pmcomm_llm."):
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("pmcomm_llm.")]
    return found


def test_every_module_lives_in_a_subpackage_of_the_pipeline():
    loose = [p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"]
    assert loose == []
    assert sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()) == \
        sorted([*ORDER, "testing"])


def test_imports_go_one_way_along_the_pipeline():
    wrong = []
    for path in _modules():
        floor = _floor(path)
        if floor is None or floor == "testing":
            continue
        for line, module in _imports(path):
            target = module.split(".")[1]
            where = f"{path.relative_to(PACKAGE)}:{line} imports {module}"
            if target == "testing" or target not in ORDER:
                wrong.append(where)
            elif ORDER.index(target) > ORDER.index(floor) or (floor, target) in NEVER:
                wrong.append(where)
    assert wrong == []


def test_the_walk_sees_function_level_imports():
    """The check itself can fail: a lazy import inside a function is found like a top-level one."""
    source = PACKAGE / "core" / "settings.py"
    tree_imports = _imports(source)
    assert all(m.startswith("pmcomm_llm.core") for _, m in tree_imports)
    probe = ast.parse("def f():\n    from pmcomm_llm.batch.runner import run_file\n")
    assert any(isinstance(n, ast.ImportFrom) and n.module == "pmcomm_llm.batch.runner" for n in ast.walk(probe))


@pytest.mark.parametrize("floor", ORDER)
def test_each_subpackage_says_what_it_is(floor):
    init = PACKAGE / floor / "__init__.py"
    assert ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))


def test_the_readme_layout_and_architecture_match_the_tree():
    import re

    root = PACKAGE.parent
    readme = (root / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout"):]
    listed = re.findall(r"^\| `(\w+)/` \|", layout, re.M)
    assert sorted(listed) == sorted([*ORDER, "testing"])
    architecture = (root / "ARCHITECTURE.md").read_text(encoding="utf-8")
    assert " → ".join(f"`{p}`" for p in ORDER) in architecture
    for path in set(re.findall(r"`((?:core|prompting|grounding|providers|drafting|evaluation|batch|cli)/\w+\.py)`",
                               architecture)):
        assert (PACKAGE / path).exists(), path


def test_only_the_cli_prints_or_exits():
    """The library returns, raises and calls callbacks: no print, no sys.stdout/stderr, no exit outside ``cli``."""
    offenders = []
    for path in _modules():
        if _floor(path) in ("cli", "testing"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            where = f"{path.relative_to(PACKAGE)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("print", "exit", "quit"):
                offenders.append(f"{where} {node.func.id}(")  # type: ignore[attr-defined]
            if isinstance(node, ast.Attribute) and getattr(node.value, "id", None) == "sys" and node.attr in (
                    "stderr", "stdout", "exit"):
                offenders.append(f"{where} sys.{node.attr}")
    assert offenders == []


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), i.e. the import cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_there_is_no_import_cycle_not_even_through_function_level_imports():
    modules = {_module_name(p): p for p in _modules()}
    graph = {name: {m for _, m in _imports(path) if m in modules and m != name} for name, path in modules.items()}
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]  # the finder finds one
    assert _cycles(graph) == []
