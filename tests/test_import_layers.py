"""The import-layer contract: every module's imports, read with ``ast``, go down the layers and never round.

Layers, lowest first (docs/extending.md, "Where things live"); a module may import its own layer and those
below it, never one above, and no chain of imports (module-level or inside a function) may come back to
where it started:

    rules          conformance.rules            pure functions over plain data; standard library only
                                                (embedded verbatim in every repro script)
    schemas        harness.schemas              the file formats (pydantic), the path ids, the format docs
    core           harness.pipeline,            cases, encodings, the oracle (no TRL), expectations,
                   harness.tokenizers           packed-batch invariance, seeded bugs; the tokenizer supply
    adapters       harness.adapters             the only code that imports TRL: where a case becomes tensors
    session        harness.pipeline.runner,     the Session that drives the adapters and judges each
                   harness.pipeline.training    encoding against the oracle; the training check
    views          harness.views                reports and summary table, terminal and HTML views, matrix
    tools          harness.triage, harness.check,  repro/bisect/releases, `check` on your rows, `lint`
                   harness.lint
    entry points   harness.cli,                 the command line and the pytest plugin; nothing imports
                   harness.pytest_plugin        them, not even each other
    suite          tests, conformance tests,    may import anything; nothing above imports them
                   conftest, bench

Every module under harness/ and conformance/ must fall in a layer, so a new top-level module has to be
placed here before it is imported by anything.
"""

from __future__ import annotations

import ast
import fnmatch
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("harness", "conformance", "tests", "bench", "conftest.py")

# (name, module patterns); a module's layer is the one with its most specific matching pattern
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("rules", ("conformance", "conformance.rules", "conformance.rules.*")),
    ("schemas", ("harness", "harness.schemas", "harness.schemas.*")),
    ("core", ("harness.pipeline", "harness.pipeline.*", "harness.tokenizers", "harness.tokenizers.*")),
    ("adapters", ("harness.adapters", "harness.adapters.*")),
    ("session", ("harness.pipeline.runner", "harness.pipeline.training")),
    ("views", ("harness.views", "harness.views.*")),
    ("tools", ("harness.triage", "harness.triage.*", "harness.check", "harness.lint")),
    ("entry points", ("harness.cli", "harness.pytest_plugin")),
    ("suite", ("conftest", "conformance.conftest", "conformance.strategies", "conformance.test_*", "tests.*",
               "bench.*")),
)
# layers whose modules may not import one another (each is started on its own: console script, pytest11)
CLOSED = {"entry points"}
# modules repro scripts embed verbatim: standard library at module level, nothing of this repository at all
EMBEDDED = ("harness.adapters.trl_driver",)
# the only layer that may import TRL (docs/extending.md: adapters are "the only code that imports TRL")
TRL_LAYERS = {"adapters", "suite"}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    file: str
    line: int
    top_level: bool

    def where(self) -> str:
        return f"{self.file}:{self.line}"


def modules(root: Path, sources=SOURCES) -> dict[str, tuple[Path, bool]]:
    """module name -> (file, is a package ``__init__``) for every ``.py`` file under ``sources``."""
    found = {}
    for source in sources:
        base = root / source
        files = [base] if base.suffix == ".py" else sorted(base.rglob("*.py"))
        for path in files:
            if not path.exists():
                continue
            parts = list(path.relative_to(root).with_suffix("").parts)
            package = parts[-1] == "__init__"
            found[".".join(parts[:-1] if package else parts)] = (path, package)
    return found


def _known(name: str, known) -> str | None:
    parts = name.split(".")
    while parts and ".".join(parts) not in known:
        parts.pop()
    return ".".join(parts) or None


def imports(module: str, path: Path, package: bool) -> list[tuple[str, int, bool]]:
    """(imported name, line, at module level) of every import statement, at any depth, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    top = {id(node) for node in tree.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: None if package else -1]
                base = base[: len(base) - (node.level - 1)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            out += [(f"{stem}.{alias.name}", node.lineno, id(node) in top) for alias in node.names]
            out.append((stem, node.lineno, id(node) in top))
    return out


def edges(root: Path, found: dict[str, tuple[Path, bool]]) -> list[Edge]:
    """Imports between the repository's own modules (``from pkg import sub`` is an import of ``pkg.sub``)."""
    out = []
    for module, (path, package) in found.items():
        names = imports(module, path, package)
        submodules = {(line, name.rpartition(".")[0]) for name, line, _ in names if name in found}
        for name, line, top_level in names:
            if (line, name) in submodules:  # `from pkg import sub`: the edge is to pkg.sub, not to pkg
                continue
            target = _known(name, found)
            if target and target != module:
                out.append(Edge(module, target, path.relative_to(root).as_posix(), line, top_level))
    return sorted(set(out), key=lambda e: (e.file, e.line, e.target))


def layer_of(module: str) -> int | None:
    best = None
    for rank, (_, patterns) in enumerate(LAYERS):
        for pattern in patterns:
            if fnmatch.fnmatchcase(module, pattern) and (best is None or len(pattern) > best[1]):
                best = (rank, len(pattern))
    return None if best is None else best[0]


def upward(all_edges: list[Edge]) -> list[str]:
    problems = []
    for e in all_edges:
        src, dst = layer_of(e.source), layer_of(e.target)
        if src is None or dst is None:
            continue
        if dst > src or (dst == src and LAYERS[src][0] in CLOSED):
            problems.append(f"{e.where()}: {e.source} [{LAYERS[src][0]}] imports {e.target} "
                            f"[{LAYERS[dst][0]}], {'a higher layer' if dst > src else 'a sibling entry point'}")
    return problems


def cycles(all_edges: list[Edge]) -> list[str]:
    """Each import cycle (a strongly connected group of modules), as one chain of ``file:line`` edges."""
    graph: dict[str, list[Edge]] = {}
    for e in all_edges:
        graph.setdefault(e.source, []).append(e)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        for e in graph.get(v, ()):
            if e.target not in index:
                visit(e.target)
                low[v] = min(low[v], low[e.target])
            elif e.target in stack:
                low[v] = min(low[v], index[e.target])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for v in sorted(graph):
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    out = []
    for group in groups:  # walk one cycle inside the group, from its first module
        start = min(group)
        chain, seen, v = [], {start}, start
        while True:
            e = next(e for e in graph[v] if e.target in group and (e.target == start or e.target not in seen))
            chain.append(f"{e.source} ({e.where()}) -> {e.target}")
            if e.target == start:
                break
            seen.add(e.target)
            v = e.target
        out.append("import cycle: " + "; ".join(chain))
    return out


@pytest.fixture(scope="module")
def repo():
    found = modules(ROOT)
    return found, edges(ROOT, found)


def test_every_module_has_a_layer(repo):
    found, _ = repo
    missing = sorted(m for m in found if layer_of(m) is None)
    assert not missing, f"modules in no layer (place them in LAYERS, {Path(__file__).name}): {missing}"


def test_no_module_imports_a_higher_layer(repo):
    problems = upward(repo[1])
    assert not problems, "upward imports:\n" + "\n".join(problems)


def test_no_import_cycle(repo):
    problems = cycles(repo[1])
    assert not problems, "\n".join(problems)


def _third_party(found, module: str) -> list[tuple[str, int, bool]]:
    path, package = found[module]
    return [(name, line, top) for name, line, top in imports(module, path, package) if not _known(name, found)]


def test_rules_import_the_standard_library_only(repo):
    found, _ = repo
    bad = [f"{found[m][0].relative_to(ROOT)}:{line}: {m} imports {name}"
           for m in found if layer_of(m) == 0
           for name, line, _ in _third_party(found, m)
           if name.partition(".")[0] not in sys.stdlib_module_names and name != "__future__"]
    assert not bad, ("conformance/rules is embedded in repro scripts and must need nothing installed:\n"
                     + "\n".join(bad))


def test_embedded_modules_stand_alone(repo):
    found, all_edges = repo
    bad = [f"{e.where()}: {e.source} imports {e.target} (repro scripts embed it without the repository)"
           for e in all_edges if e.source in EMBEDDED]
    bad += [f"{found[m][0].relative_to(ROOT)}:{line}: {m} imports {name} at module level"
            for m in EMBEDDED for name, line, top in _third_party(found, m)
            if top and name.partition(".")[0] not in sys.stdlib_module_names and name != "__future__"]
    assert not bad, "\n".join(bad)


def test_only_the_adapters_import_trl(repo):
    found, _ = repo
    allowed = {rank for rank, (name, _) in enumerate(LAYERS) if name in TRL_LAYERS}
    bad = [f"{found[m][0].relative_to(ROOT)}:{line}: {m} [{LAYERS[layer_of(m)][0]}] imports {name}"
           for m in found if layer_of(m) not in allowed
           for name, line, _ in _third_party(found, m) if name.partition(".")[0] == "trl"]
    assert not bad, "TRL belongs to harness/adapters (trl_driver.py):\n" + "\n".join(bad)


# The checker itself, on small made-up trees: it names the module and the line, and finds cycles.

def _tree(tmp_path, files: dict[str, str]):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    found = modules(tmp_path, ("harness", "conformance"))
    return edges(tmp_path, found)


def test_the_checker_names_an_upward_import(tmp_path):
    found_edges = _tree(tmp_path, {
        "harness/__init__.py": "",
        "harness/pipeline/__init__.py": "",
        "harness/adapters/__init__.py": "",
        "harness/adapters/base.py": "X = 1\n",
        "harness/pipeline/oracle.py": "import os\n\n\ndef f():\n    from ..adapters import base\n",
    })
    assert upward(found_edges) == [
        ("harness/pipeline/oracle.py:5: harness.pipeline.oracle [core] imports harness.adapters.base [adapters], "
         "a higher layer")]


def test_the_checker_names_a_cycle_and_a_sibling_entry_point(tmp_path):
    found_edges = _tree(tmp_path, {
        "harness/__init__.py": "",
        "harness/views/__init__.py": "",
        "harness/views/a.py": "from harness.views import b\n",
        "harness/views/b.py": "\n\ndef f():\n    import harness.views.a\n",
        "harness/cli.py": "from harness.pytest_plugin import run\n",
        "harness/pytest_plugin.py": "run = 1\n",
    })
    assert cycles(found_edges) == [
        ("import cycle: harness.views.a (harness/views/a.py:1) -> harness.views.b; "
         "harness.views.b (harness/views/b.py:4) -> harness.views.a")]
    assert upward(found_edges) == [
        ("harness/cli.py:1: harness.cli [entry points] imports harness.pytest_plugin [entry points], "
         "a sibling entry point")]
