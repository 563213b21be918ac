"""The package's folders are its layers: every import (local ones included) goes to the module's own
folder or a lower one, and no chain of imports comes back to where it started."""

import ast
from pathlib import Path

import pytest

import napari_midnet

PACKAGE = Path(napari_midnet.__file__).parent
# lowest first; the top-level leaves (imaging, events, progress, metrics, bundled) are layer 0
LAYERS = ["", "io", "blur", "models", "restoration", "training", "jobs", "cli|widgets"]


def _module_name(path: Path) -> str:
    parts = ["napari_midnet", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The package modules `path` imports, resolved to module names."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            if target.startswith("napari_midnet"):
                found.update(f"{target}.{alias.name}" if not node.module else target for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("napari_midnet."))
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for target in _imports(path):
            while target not in modules and "." in target:  # `from . import name` of a value, not a module
                target = target.rsplit(".", 1)[0]
            if target != name and target != "napari_midnet":
                targets.add(target)
        graph[name] = targets
    return graph


def _folder(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and (PACKAGE / parts[1]).is_dir() else ""


def _layer(module: str) -> int:
    if module == "napari_midnet.__main__":  # `python -m napari_midnet`: above everything
        return len(LAYERS)
    return next(rank for rank, names in enumerate(LAYERS) if _folder(module) in names.split("|"))


def test_every_module_has_a_layer_and_imports_only_its_own_or_lower_ones():
    graph = _graph()
    upward = [f"{module} -> {target}" for module, targets in graph.items() for target in targets
              if _layer(target) > _layer(module)
              or (_layer(target) == _layer(module) and _folder(target) != _folder(module))]
    assert not upward, "imports from a higher folder (or across the faces): " + "; ".join(sorted(upward))


def test_no_import_cycle():
    graph = _graph()
    state: dict[str, int] = {}  # 1 on the current path, 2 finished

    def visit(module: str, path: list[str]) -> list[str] | None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target] if target in path else [module, target]
            if target not in state:
                cycle = visit(target, path + [target])
                if cycle:
                    return cycle
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state:
            cycle = visit(module, [module])
            assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_every_folder_ships():
    """pyproject lists the packages by name: a new folder missing there would be left out of the wheel."""
    import tomllib

    pyproject = PACKAGE.parents[1] / "pyproject.toml"
    if not pyproject.is_file():
        pytest.skip("an installed copy: no pyproject.toml beside it")
    listed = set(tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["packages"])
    folders = {_module_name(path) for path in PACKAGE.rglob("__init__.py")}
    assert folders <= listed, sorted(folders - listed)
