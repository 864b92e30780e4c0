"""The command line runs without the test tools: pytest, hypothesis and syrupy are the ``test`` extra.

Two checks. Statically, no harness module (the pytest plugin apart, which only pytest loads through
its ``pytest11`` entry point) and no rule module imports them, at any depth (a function-level import
in a ``cmd_*`` counts too). At run time, a fresh interpreter in which these packages cannot be found
(as if never installed: ``import`` raises ModuleNotFoundError and ``importlib.util.find_spec`` answers
None) imports ``harness.cli`` and runs ``--help``, ``list rules`` and ``lint``.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEST_ONLY = ("pytest", "_pytest", "hypothesis", "syrupy")
# loaded by pytest alone (entry point pytest11), so it may import pytest
PYTEST_ONLY_MODULES = {"harness/pytest_plugin.py"}

BLOCKER = textwrap.dedent('''
    import importlib.machinery, sys
    BLOCKED = {blocked!r}

    class Absent(importlib.machinery.PathFinder):
        @classmethod
        def find_spec(cls, name, path=None, target=None):
            if name.partition(".")[0] in BLOCKED:
                return None
            return super().find_spec(name, path, target)

    sys.meta_path[:] = [Absent if f is importlib.machinery.PathFinder else f for f in sys.meta_path]
    try:  # the blocker works: pytest is as good as not installed
        import pytest
        sys.exit("blocker failed: pytest imported")
    except ModuleNotFoundError:
        pass
    from harness.cli import main
    try:
        rc = main({argv!r})
    except SystemExit as exc:
        rc = exc.code
    leaked = sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED)
    print("LEAKED", leaked if leaked else "none")
    sys.exit(rc)
''')


def _imported_names(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def test_the_test_tools_are_an_extra_not_a_runtime_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = {d.split(">")[0].split("=")[0].split("<")[0].strip().lower() for d in project["dependencies"]}
    assert not runtime & {"pytest", "hypothesis", "syrupy"}, runtime
    test_extra = " ".join(project["optional-dependencies"]["test"])
    for name in ("pytest", "hypothesis", "syrupy"):
        assert name in test_extra
    bootstrap = (ROOT / "scripts" / "bootstrap.sh").read_text(encoding="utf-8")
    assert "test" in bootstrap.split("-e '.[")[1].split("]")[0].split(","), "bootstrap must install the test extra"


def test_no_library_module_imports_a_test_tool():
    offenders = []
    for path in sorted([*(ROOT / "harness").rglob("*.py"), *(ROOT / "conformance" / "rules").rglob("*.py")]):
        rel = path.relative_to(ROOT).as_posix()
        if rel in PYTEST_ONLY_MODULES:
            continue
        for line, name in _imported_names(ast.parse(path.read_text(encoding="utf-8"), rel)):
            if name.partition(".")[0] in TEST_ONLY:
                offenders.append(f"{rel}:{line}: imports {name}")
    assert not offenders, "the command line would need the test extra:\n" + "\n".join(offenders)


@pytest.mark.parametrize("argv", [["--help"], ["list", "rules"], ["lint", "cases"]], ids=" ".join)
def test_the_command_line_runs_with_the_test_tools_absent(argv):
    code = BLOCKER.format(blocked=set(TEST_ONLY), argv=argv)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", code], check=False, cwd=ROOT, capture_output=True, text=True,
                         env=env, timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "LEAKED none" in res.stdout, res.stdout[-2000:]
