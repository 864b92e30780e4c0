"""``sft-conformance lint``: every data file validated by its schema, then what no single file can tell: globs
and ids that name no known tokenizer, path, modifier, rule or case, and case ids defined twice. Every problem
is an error, one ``FILE: field.path: message`` line each; the generated format docs must be current.

On the repository (no files named) it also reports orphan snapshots: files under ``snapshots/`` that no
current tokenizer x path x case combination writes (``conformance/test_snapshots.py`` names them
``snapshots/TOKENIZER/PATH/CASE.txt``). Given reports (``--reports 'reports/releases/trl-*.json'``), it
reports the expectation entries no report exercises: no record that judged something (PASS or FAIL) in a
report whose library versions lie inside the entry's range is covered by the entry, or each one that is
is taken by an earlier entry (the first covering entry is the one applied).
"""

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

EXPECTATIONS = ROOT / "conformance" / "expectations" / "trl.yaml"

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


def lint(files: list[Path] | None = None, reports: list[str] | None = None) -> list[Problem]:
    """Problems of ``files`` (default: the repository's data files, generated docs and snapshots), in file
    order; with ``reports`` (paths or globs of JSON reports), also the expectation entries they do not exercise."""
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
        problems += orphan_snapshots()
    if reports:
        problems += unexercised_expectations([Path(f) for f, _ in docs["expectations"]] or [EXPECTATIONS], reports)
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
    for file, doc in docs["cases"]:
        for i, case in enumerate(doc.cases):
            where = f"cases[{i}] (id {case.id})"
            rules = [("targets", case.targets or [])]
            if case.expect is not None:
                rules.append(("expect.rules", case.expect.rules or []))
                problems += _globs(file, f"{where}.expect.tokenizers", case.expect.tokenizers, known["tokenizer"],
                                   "tokenizer")
            for field, ids in rules:
                problems += [Problem(file, f"{where}.{field}[{j}]", f"{rid!r} is no known rule")
                             for j, rid in enumerate(ids) if rid not in known["rule"]]
    for file, doc in docs["expectations"]:
        for i, e in enumerate(doc.expectations):
            for key in ("rule", "tokenizer", "path", "modifier", "case"):
                problems += _globs(file, f"expectations[{i}].{key}", getattr(e, key), known[key], key)
            for key in ("tokenizer", "case"):
                problems += _globs(file, f"expectations[{i}].except_{key}", getattr(e, f"except_{key}"), known[key], key)
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


def orphan_snapshots(snapshot_dir: Path | None = None, cases: list | None = None,
                     tokenizers: Iterable[str] | None = None) -> list[Problem]:
    """Files under ``snapshot_dir`` (default ``snapshots/``) that no current combination writes: an unknown
    tokenizer, path or case, a case the path does not run (its data shape, its ``paths``), a file outside
    the ``TOKENIZER/PATH/CASE.txt`` layout, or a header naming another combination than its place.

    ``cases`` default to the repository's, ``tokenizers`` to every catalog (all tiers) and synthetic id.
    Whether the installed TRL offers the path or the tokenizer has a template is not asked (that needs a
    run): such a snapshot is reported as unused by syrupy when the snapshot tests run."""
    from harness import adapters
    from harness.pipeline.cases import CaseError, load_cases
    from harness.tokenizers import provision
    from harness.tokenizers import registry as tokenizer_registry
    from harness.views.snapshot_format import SNAPSHOT_DIR, TAKEN_WITH

    folder = snapshot_dir or SNAPSHOT_DIR
    if not folder.is_dir():
        return []
    if cases is None:
        try:
            cases = load_cases()
        except CaseError:
            return []  # the case files' own problem is reported where they are linted
    if tokenizers is None:
        try:
            tokenizers = tokenizer_registry.known_ids()
        except provision.ProvisionError:
            return []
    by_id = {c.id: c for c in cases}
    known = set(tokenizers)
    problems = []
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        parts = file.relative_to(folder).parts
        shown = str(_shown(file))
        if file.name == TAKEN_WITH.name and len(parts) == 1:
            continue
        if len(parts) != 3 or file.suffix != ".txt":
            problems.append(Problem(shown, "", "not a snapshot: the snapshot tests write snapshots/TOKENIZER/PATH/"
                                               "CASE.txt (and snapshots/TAKEN_WITH)"))
            continue
        tid, path, case_id = parts[0], parts[1], file.stem
        why = (f"no tokenizer {tid!r} in the catalog or the synthetic set" if tid not in known else
               f"no path {path!r}" if path not in adapters.PATHS else
               f"no case {case_id!r}" if case_id not in by_id else
               (f"case {case_id!r} ({by_id[case_id].shape}"
                + (f", paths {list(by_id[case_id].paths)}" if by_id[case_id].paths else "")
                + f") is not run on path {path!r}") if not adapters.fits(path, by_id[case_id]) else None)
        if why:
            problems.append(Problem(shown, "", f"orphan snapshot: {why}"))
            continue
        head = file.read_text(encoding="utf-8", errors="replace").splitlines()[:3]
        said = [line.split(": ", 1)[1].split(" ")[0] if ": " in line else "" for line in head] + [""] * 3
        if said[:3] != [tid, path, case_id]:
            problems.append(Problem(shown, "", f"its header names tokenizer {said[0]!r}, path {said[1]!r}, case "
                                               f"{said[2]!r}, not the combination its place says"))
    return problems


def unexercised_expectations(expectation_files: list[Path], reports: list[str]) -> list[Problem]:
    """Entries of ``expectation_files`` that no report among ``reports`` (paths or globs) exercises.

    An entry is exercised by a report whose library versions lie inside its range when it covers a record
    of that report that judged something (PASS or FAIL) and is the first entry (file order) to cover it,
    as the suite applies them. Reports are read one at a time; only their record keys are kept. Entries with
    ``outside_catalog`` are left out: they are about tokenizers the catalog lacks, which its reports never hold."""
    from harness.views import report as report_mod

    loaded = _loadable_expectations(expectation_files)
    paths, problems = _report_paths(reports)
    tally = _Tally()
    read = 0
    for report_path in paths:
        try:
            versions, keys = _report_keys(Path(report_path))
        except report_mod.ReportError as exc:
            problems.append(Problem(str(report_path), "", str(exc).removeprefix(f"{report_path}: ")))
            continue
        read += 1
        for f, (_, entries) in enumerate(loaded):
            tally.note_ranges(f, entries, versions, keys)
            tally.note_covers(f, entries, versions, keys)
    if not read:
        return problems
    for f, (file, entries) in enumerate(loaded):
        for i, e in enumerate(entries):
            if e.outside_catalog:  # about tokenizers the catalog lacks: reports of the catalog cannot exercise it
                continue
            if not tally.first.get((f, i)):
                problems.append(Problem(file, f"expectations[{i}]",
                                        f"exercised by no report: {tally.why_unexercised(f, i, e, read)}"))
    return problems


def _loadable_expectations(files: list[Path]) -> list[tuple[str, list]]:
    """(shown name, entries) of each expectation file that loads; a file's own problem is reported where it is
    linted."""
    from harness.pipeline import expectations as exp

    loaded = []
    for file in files:
        try:
            loaded.append((str(_shown(file)), exp.load(file)))
        except exp.ExpectationError:
            continue
    return loaded


def _report_paths(reports: list[str]) -> tuple[list[str], list[Problem]]:
    """The report files the paths and globs of ``--reports`` name, once each, and a problem per one naming none."""
    import glob

    paths, problems = [], []
    for pattern in reports:
        found = sorted(glob.glob(pattern)) or ([pattern] if Path(pattern).exists() else [])
        if not found:
            problems.append(Problem(pattern, "", "--reports: no such report file"))
        paths += found
    return list(dict.fromkeys(paths)), problems


def _report_keys(report_path: Path) -> tuple[dict, dict[tuple, bool]]:
    """A report's library versions and its record keys (rule, tokenizer, path, case, modifier, facts), each with
    whether a record of that key judged something (PASS or FAIL); the rest of the report is dropped."""
    from harness.pipeline import expectations as exp
    from harness.views import report as report_mod

    rep = report_mod.load(report_path)
    keys: dict[tuple, bool] = {}
    for r in rep.get("records", []):
        key = (r["rule"], r["tokenizer"], r["path"], r["case"], r.get("modifier") or "", exp.Facts.of(r))
        keys[key] = keys.get(key, False) or r["status"] in ("pass", "fail")
    return rep.get("run_info", {}).get("libraries", {}), keys


class _Tally:
    """Counts per (file, entry index) over the reports read so far."""

    def __init__(self) -> None:
        self.in_range: dict[tuple[int, int], int] = {}  # reports inside its range
        self.covered: dict[tuple[int, int], int] = {}  # records it covers
        self.judged: dict[tuple[int, int], int] = {}  # records it covers that judged something
        self.first: dict[tuple[int, int], int] = {}  # judged records it is the first entry to cover
        self.taken_by: dict[tuple[int, int], dict[int, int]] = {}  # earlier entry -> judged records it took
        # what the reports inside its range judged at all: one of its rules, one of its cases, modifier batches
        self.ran: dict[tuple[int, int], set[str]] = {}

    def note_ranges(self, f: int, entries, versions: dict, keys: dict[tuple, bool]) -> None:
        """For each entry whose range holds the report: count the report, and note what it judged at all."""
        rules_seen, cases_seen = {k[0] for k in keys}, {k[3] for k in keys}
        batches_seen = any(k[4] for k in keys)
        facts_seen = {k[5] for k in keys if k[5].signs}
        for i, e in enumerate(entries):
            if not e.in_range(versions):
                continue
            self.in_range[f, i] = self.in_range.get((f, i), 0) + 1
            seen = self.ran.setdefault((f, i), set())
            if any(_matches(r, e.rule) for r in rules_seen):
                seen.add("rule")
            if any(_matches(c, e.case) for c in cases_seen):
                seen.add("case")
            if batches_seen or not e.modifier:
                seen.add("modifier")
            if e.signature and any(e.signed(facts) for facts in facts_seen):
                seen.add("signed")

    def note_covers(self, f: int, entries, versions: dict, keys: dict[tuple, bool]) -> None:
        """For each record key: the entries that cover it, and which of them is applied (the first)."""
        index = {id(e): i for i, e in enumerate(entries)}
        for (rule, tok, path, case, modifier, facts), was_judged in keys.items():
            cover = [index[id(e)] for e in entries.applying(rule, versions, modifier)
                     if e.covers(tok, path, case, modifier, facts)]
            for i in cover:
                self.covered[f, i] = self.covered.get((f, i), 0) + 1
                if was_judged:
                    self.judged[f, i] = self.judged.get((f, i), 0) + 1
            if cover and was_judged:
                self.first[f, cover[0]] = self.first.get((f, cover[0]), 0) + 1
                for i in cover[1:]:
                    taken = self.taken_by.setdefault((f, i), {})
                    taken[cover[0]] = taken.get(cover[0], 0) + 1

    def why_unexercised(self, f: int, i: int, e, read: int) -> str:
        """Why entry ``i`` of file ``f``, applied to no judged record, is exercised by none of the ``read``
        reports."""
        n = self.in_range.get((f, i), 0)
        if not n:
            return f"none of the {read} report(s) is inside its range ({e.range()})"
        if not self.covered.get((f, i)):
            inside = f"the {n} report(s) inside its range ({e.range()})"
            seen = self.ran.get((f, i), set())
            return (f"none of {inside} judged batches under a modifier (sft-conformance run --modifiers)"
                    if "modifier" not in seen else
                    f"none of {inside} has a record of rule {_listed(e.rule)}" if "rule" not in seen else
                    f"none of {inside} ran a case matching {_listed(e.case)}" if "case" not in seen else
                    f"no record of {inside} carries its signature {e.signature}"
                    + (f" and a warning matching {e.when_warned!r}" if e.when_warned else "")
                    if e.signature and "signed" not in seen else
                    f"its globs match no record of {inside}")
        if not self.judged.get((f, i)):
            return (f"the records it matches in the {n} report(s) inside its range ({e.range()}) judged "
                    "nothing (not_applicable or undecidable)")
        earlier = max(self.taken_by[f, i].items(), key=lambda kv: kv[1])[0]
        return f"every record it matches is covered first by expectations[{earlier}]"


def _matches(value: str, globs: str | tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(value, g) for g in ((globs,) if isinstance(globs, str) else globs))


def _listed(globs: str | tuple[str, ...]) -> str:
    return ", ".join((globs,) if isinstance(globs, str) else globs)
