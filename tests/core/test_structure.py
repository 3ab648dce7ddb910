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



def _modules():
    for path in PKG.rglob("*.py"):
        yield path.relative_to(PKG).parts, path


def test_the_core_imports_no_system_and_no_cli():
    """Core modules (all but ``systems/`` and ``cli/``) import neither a system nor the
    command-line plumbing; systems are found through :mod:`tfaudio.registry`."""
    wrong = []
    for rel, path in _modules():
        if rel[0] in ("systems", "cli"):
            continue
        wrong += [f"{'/'.join(rel)} imports {m}" for m in _imports(path)
                  if m.startswith(("tfaudio.systems.", "tfaudio.cli"))]
    assert not wrong, "\n".join(wrong)


def test_library_modules_import_no_cli():
    """A system's library modules (all but its ``cli.py``) never import ``tfaudio.cli``:
    the helpers both need live in the core (:mod:`tfaudio.runtime`)."""
    wrong = []
    for rel, path in _modules():
        if rel[0] == "systems" and rel[-1] != "cli.py":
            wrong += [f"{'/'.join(rel)} imports {m}" for m in _imports(path) if m.startswith("tfaudio.cli")]
    assert not wrong, "\n".join(wrong)


#: inference tools: they load an export (or a run's weights) and never need training code
INFERENCE = ("embed.py", "detect.py", "scorer.py", "recognize.py", "streaming.py", "stream_input.py",
             "tflite_runtime.py", "shipped.py", "plots.py", "run.py")


def test_inference_imports_model_and_export_never_train_or_evaluate():
    wrong, seen = [], 0
    for rel, path in _modules():
        if rel[0] == "systems" and len(rel) == 3 and rel[2] in INFERENCE:
            seen += 1
            bad = (f"tfaudio.systems.{rel[1]}.train", f"tfaudio.systems.{rel[1]}.evaluate")
            wrong += [f"{'/'.join(rel)} imports {m}" for m in _imports(path)
                      if m in bad or m.startswith(tuple(b + "." for b in bad))]
    assert seen >= 6, "no inference module found"
    assert not wrong, "\n".join(wrong)


def test_the_export_and_evaluation_of_a_system_do_not_import_its_training():
    wrong = []
    for name in SYSTEMS:
        for role in ("export", "evaluate"):
            path = PKG / "systems" / name / f"{role}.py"
            bad = f"tfaudio.systems.{name}.train"
            hits = [m for m in _imports(path) if m == bad or m.startswith(bad + ".")]
            if hits:
                wrong.append(f"{name}/{role}.py imports {hits[0]}")
    assert not wrong, "\n".join(wrong)

def test_every_system_registers_itself_and_has_the_same_roles():
    from tfaudio.registry import systems

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
