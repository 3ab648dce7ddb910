"""The package's shape: a system imports the core and itself, never another system;
the core never imports a system; every system registers itself; recipes ship."""
import ast
from pathlib import Path

import tfaudio

PKG = Path(tfaudio.__file__).parent
SYSTEMS = sorted(p.name for p in (PKG / "systems").iterdir() if (p / "__init__.py").exists())


def _imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            for a in node.names:
                yield f"{node.module}.{a.name}"


def _owner(module: str):
    parts = module.split(".")
    if parts[:2] == ["tfaudio", "systems"] and len(parts) > 2:
        return parts[2]
    return None


def test_imports_go_one_way():
    wrong = []
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG).parts
        here = rel[1] if rel[0] == "systems" and len(rel) > 2 else None
        for mod in _imports(path):
            if not mod.startswith("tfaudio."):
                continue
            target = _owner(mod)
            if target is not None and target != here:
                wrong.append(f"{path.relative_to(PKG)} imports {mod}")
    assert SYSTEMS, "no system found"
    assert not wrong, "\n".join(wrong)


def test_every_system_registers_itself_and_has_the_same_roles():
    from tfaudio.cli.registry import systems

    registered = systems()
    assert sorted(registered) == SYSTEMS
    for name in SYSTEMS:
        for role in ("config", "data", "model", "train", "evaluate", "export", "cli"):
            assert (PKG / "systems" / name / f"{role}.py").exists(), f"{name} has no {role}.py"
        assert registered[name] == f"tfaudio.systems.{name}.cli"
        export = (PKG / "systems" / name / "export.py").read_text()
        assert "\ndef load_model(" in export, f"{name}.export has no load_model"


def test_every_system_has_recipes_that_parse():
    from tfaudio.config import PIPELINES_DIR, load_recipe

    for name in SYSTEMS:
        recipes = sorted((PIPELINES_DIR / name).glob("*.json"))
        assert recipes, f"no recipe for {name}"
        for r in recipes:
            assert isinstance(load_recipe(f"{name}/{r.stem}"), dict)


def test_a_recipe_is_a_name_under_pipelines_or_a_path():
    import pytest

    from tfaudio.config import PIPELINES_DIR, ConfigError, resolve_recipe

    assert resolve_recipe("dfe/embedded") == resolve_recipe("dfe/embedded.json") == PIPELINES_DIR / "dfe/embedded.json"
    assert resolve_recipe(str(PIPELINES_DIR / "sed/embedded.json")) == PIPELINES_DIR / "sed/embedded.json"
    with pytest.raises(ConfigError, match=r"recipe 'dfe_embedded' not found \(pipelines: .*dfe/embedded"):
        resolve_recipe("dfe_embedded")


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def test_no_import_cycle_between_modules():
    """Imports (function-level ones too: they only defer a cycle) form no cycle."""
    modules = {_module_name(p): p for p in PKG.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            deps.update(t for t in targets if t in modules and t != name and not name.startswith(t + "."))
        graph[name] = deps
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for d in graph[m]:
            if state.get(d) == "open":
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(d):] + [d]))
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m)
