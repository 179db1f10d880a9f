"""`dvc.yaml` lists each stage's code: `dvc repro` re-runs a stage when its code changed.

A stage's code is its entry point `stages/NAME.py` and every library module its step
module `mtmh/steps/NAME.py` imports, directly or through other modules, at the top or
inside a function, or uses by its file (`importlib.util.find_spec("mtmh.NAME")`).
`mtmh/cli.py`, which the entry points import for logging and error messages only, is
left out, so editing the CLI's help re-runs nothing. A module listed that the step does
not import would re-run the stage for nothing, so it fails too.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def imported_modules(path: Path, root: Path, package: str = "mtmh") -> set[Path]:
    """Files of ``package`` (under ``root``) that ``path`` imports anywhere in its body."""
    found: set[Path] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "find_spec"
              and node.args and isinstance(node.args[0], ast.Constant)):
            names = [str(node.args[0].value)]  # a module used by its file, not imported
        for name in names:
            if name.split(".")[0] != package:
                continue
            file = root / (name.replace(".", "/") + ".py")
            if file.exists():
                found.add(file)
    return found


def code_closure(start: Path, root: Path, package: str = "mtmh") -> set[Path]:
    """``start`` and every module of ``package`` it reaches through imports."""
    seen: set[Path] = set()
    todo = [start]
    while todo:
        file = todo.pop()
        if file not in seen:
            seen.add(file)
            todo.extend(imported_modules(file, root, package))
    return seen


def code_deps(stage: dict) -> tuple[str, set[str]]:
    """The stage's entry module name and the `.py` files among its deps."""
    body = stage.get("do") or stage
    entry = re.search(r"python -m stages\.(\w+)", body["cmd"]).group(1)
    return entry, {d for d in body.get("deps") or [] if str(d).endswith(".py")}


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_lists_exactly_its_code(name):
    entry, listed = code_deps(STAGES[name])
    closure = code_closure(ROOT / "mtmh" / "steps" / f"{entry}.py", ROOT)
    expected = {str(p.relative_to(ROOT)) for p in closure} | {f"stages/{entry}.py"}
    assert not expected - listed, f"{name}: code it runs but does not list as deps"
    assert not listed - expected, f"{name}: deps it does not import"


def test_entry_points_call_their_own_step():
    for name, stage in STAGES.items():
        entry, _ = code_deps(stage)
        source = (ROOT / "stages" / f"{entry}.py").read_text()
        assert f"from mtmh.steps.{entry} import step_{entry}" in source, name


def test_closure_follows_lazy_and_indirect_imports(tmp_path):
    """The check itself: a module reached only inside a function, two imports away."""
    pkg = tmp_path / "mtmh"
    (pkg / "steps").mkdir(parents=True)
    (pkg / "steps" / "s.py").write_text("from mtmh.a import f\n")
    (pkg / "a.py").write_text("def f():\n    from mtmh import b\n    return b\n")
    (pkg / "b.py").write_text("import importlib.util\nimportlib.util.find_spec('mtmh.c')\n")
    (pkg / "c.py").write_text("")
    (pkg / "unused.py").write_text("")
    closure = code_closure(pkg / "steps" / "s.py", tmp_path)
    assert closure == {pkg / "steps" / "s.py", pkg / "a.py", pkg / "b.py", pkg / "c.py"}
