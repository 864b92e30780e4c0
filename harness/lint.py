"""``sft-conformance lint``: every data file validated by its schema, then what no single file can tell: globs
and ids that name no known tokenizer, path, modifier, rule or case, and case ids defined twice. Every problem
is an error, one ``FILE: field.path: message`` line each; the generated format docs must be current."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Iterator
from pathlib import Path

from harness.schemas.base import Problem, read_yaml, validate
from harness.schemas.bugs import BugCatalog
from harness.schemas.cases import CaseFile
from harness.schemas.catalog import Catalog
from harness.schemas.docs import ROOT, stale
from harness.schemas.expectations import ExpectationsFile

# a file's format, told by its top-level key
SCHEMAS = {"cases": CaseFile, "expectations": ExpectationsFile, "tokenizers": Catalog, "bugs": BugCatalog}
# verdicts given outside the rule registries (harness/pipeline/invariance.py, conformance/test_training.py), and
# the case id the training check's expectations use (TRAINING_CASE there)
OTHER_RULES = ("MOD-001", "TRAIN-001")
OTHER_CASES = ("training",)


def default_files() -> list[Path]:
    return [*sorted((ROOT / "cases").glob("*.yaml")), ROOT / "conformance" / "expectations" / "trl.yaml",
            ROOT / "harness" / "tokenizers" / "catalog.yaml", *sorted((ROOT / "cases" / "bugs").glob("*.yaml"))]


def files_of(paths: Iterable[str | Path]) -> list[Path]:
    """The given files, and the ``*.yaml`` files of the given folders."""
    return [f for p in map(Path, paths) for f in (sorted(p.glob("*.yaml")) if p.is_dir() else [p])]


def lint(files: list[Path] | None = None) -> list[Problem]:
    """Problems of ``files`` (default: the repository's data files and generated docs), in file order."""
    problems: list[Problem] = []
    docs: dict[str, list[tuple[str, object]]] = {kind: [] for kind in SCHEMAS}
    for path in map(_shown, files or default_files()):
        found = _check_file(path)
        problems += found[0]
        if found[1] is not None:
            docs[found[1]].append((str(path), found[2]))
    problems += _cross_file(docs)
    if files is None:
        problems += [Problem(str(p), "", "out of date; run: sft-conformance lint --write-docs") for p in stale()]
    return problems


def _shown(path: Path) -> Path:
    """``path`` relative to the working directory when it lies below it (as a user would type it)."""
    return path.relative_to(Path.cwd()) if path.is_absolute() and path.is_relative_to(Path.cwd()) else path


def _check_file(path: Path) -> tuple[list[Problem], str | None, object]:
    """(problems, kind, validated document or None)."""
    raw, problems = read_yaml(path)
    if problems:
        return problems, None, None
    kind = next((k for k in SCHEMAS if isinstance(raw, dict) and k in raw), None)
    if kind is None:
        return [Problem(str(path), "", f"not a known format (no top-level {', '.join(SCHEMAS)})")], None, None
    doc, problems = validate(SCHEMAS[kind], raw, str(path))
    if doc is not None and kind == "cases":
        problems = _case_loader(path)
    return problems, kind if doc is not None else None, doc


def _case_loader(path: Path) -> list[Problem]:
    """What ``harness/pipeline/cases.py`` itself says about a case file the schema accepts."""
    from harness.pipeline.cases import CaseError, load_case_file

    try:
        load_case_file(path)
    except CaseError as exc:
        return [Problem(str(path), "", str(exc).removeprefix(f"{path}: "))]
    return []


def _cross_file(docs: dict[str, list[tuple[str, object]]]) -> list[Problem]:
    known = _known(docs)
    problems = list(_duplicate_cases(docs["cases"]))
    for file, doc in docs["expectations"]:
        for i, e in enumerate(doc.expectations):
            for key in ("rule", "tokenizer", "path", "modifier", "case"):
                problems += _globs(file, f"expectations[{i}].{key}", getattr(e, key), known[key], key)
    for file, doc in docs["bugs"]:
        for i, bug in enumerate(doc.bugs):
            where = f"bugs[{i}] (id {bug.id})"
            for key, value in zip(("rule", "tokenizer", "path", "case"), bug.finding.split(":")):
                if known[key] is not None and value not in known[key]:
                    problems.append(Problem(file, f"{where}.finding", f"{value!r} is no known {key}"))
            problems += _globs(file, f"{where}.cases", bug.cases, known["case"], "case")
    return problems


def _known(docs: dict[str, list[tuple[str, object]]]) -> dict[str, set[str] | None]:
    """The ids each field may name: those defined by the linted files, else the repository's."""
    from conformance.rules import BATCH_RULES, RULES
    from harness.adapters.sft_trainer import MODIFIERS
    from harness.pipeline.cases import CaseError, load_cases
    from harness.schemas.path_ids import PATH_IDS
    from harness.tokenizers import provision, synthetic

    tokenizers = {t.id for _, doc in docs["tokenizers"] for t in doc.tokenizers}
    if not tokenizers:
        try:
            tokenizers = {e.id for e in provision.catalog()}
        except provision.ProvisionError:
            pass  # the catalog's own problem is reported where it is linted; the synthetic ids are still known
    cases = {c.id for _, doc in docs["cases"] for c in doc.cases}
    if not cases:
        try:
            cases = {c.id for c in load_cases()}
        except CaseError:
            cases = None  # the repository's cases do not load: nothing to check case ids against
    return {"rule": {*RULES, *BATCH_RULES, *OTHER_RULES}, "tokenizer": tokenizers | set(synthetic.SPECS),
            "path": set(PATH_IDS), "modifier": set(MODIFIERS), "case": cases and cases | set(OTHER_CASES)}


def _globs(file: str, field: str, value, known: set[str] | None, what: str) -> Iterator[Problem]:
    if value is None or known is None:
        return
    for j, glob in enumerate([value] if isinstance(value, str) else value):
        if not any(fnmatch.fnmatchcase(k, glob) for k in known):
            yield Problem(file, field if isinstance(value, str) else f"{field}[{j}]", f"{glob!r} matches no {what}")


def _duplicate_cases(files: list[tuple[str, CaseFile]]) -> Iterator[Problem]:
    first: dict[str, str] = {}
    for file, doc in files:
        for i, case in enumerate(doc.cases):
            if case.id in first and first[case.id] != file:
                yield Problem(file, f"cases[{i}] (id {case.id}).id", f"already defined in {first[case.id]}")
            first.setdefault(case.id, file)
