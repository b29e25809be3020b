"""The library's shape: layers that import only downwards, and no import cycles (lazy imports included)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LIBRARY = Path(__file__).resolve().parents[2] / "GANSynthesisLib"
LAYERS = {  # a module may import its own layer and the layers below, never one above
    "core": 0, "anatomy": 1, "files": 1, "evaluation": 1, "models": 2, "engine": 3, "phantoms": 3, "tasks": 4,
    "slicer": 5, "datasets": 5, "command_options": 5, "demo": 6, "cli": 6, "dataset_commands": 6, "__main__": 7,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(LIBRARY.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Library modules that ``path`` imports anywhere in its code (relative imports resolved)."""
    this = module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            if base.startswith("GANSynthesisLib"):
                for alias in node.names:  # `from package import module` names a module
                    found.add(f"{base}.{alias.name}" if (LIBRARY.parent / f"{base}.{alias.name}".replace(".", "/")).exists()
                              or (LIBRARY.parent / (f"{base}.{alias.name}".replace(".", "/") + ".py")).exists() else base)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("GANSynthesisLib")}
    return found - {this}


GRAPH = {module_name(path): imported_modules(path) for path in sorted(LIBRARY.rglob("*.py"))}


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS[parts[1]] if len(parts) > 1 else -1


def test_every_top_level_name_has_a_layer():
    assert {module.split(".")[1] for module in GRAPH if "." in module} <= set(LAYERS)


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_go_down_the_layers(module):
    upward = sorted(other for other in GRAPH[module] if layer(other) > layer(module))
    assert not upward, f"{module} (layer {layer(module)}) imports a higher layer: {upward}"


def test_no_import_cycles():
    def reachable(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for other in GRAPH.get(todo.pop(), ()):
                if other not in seen:
                    seen.add(other)
                    todo.append(other)
        return seen

    cycles = sorted(module for module in GRAPH if module in reachable(module))
    assert not cycles, f"modules on an import cycle: {cycles}"


def test_the_checker_sees_a_planted_cycle(tmp_path):
    """The walk resolves relative imports: a two-module cycle written the library's way is found."""
    package = tmp_path / "GANSynthesisLib" / "core"
    package.mkdir(parents=True)
    (package / "a.py").write_text("from .b import x\n")
    (package / "b.py").write_text("def f():\n    from ..core.a import y\n")
    global LIBRARY
    saved, LIBRARY = LIBRARY, tmp_path / "GANSynthesisLib"
    try:
        assert imported_modules(package / "a.py") == {"GANSynthesisLib.core.b"}
        assert imported_modules(package / "b.py") == {"GANSynthesisLib.core.a"}
    finally:
        LIBRARY = saved
