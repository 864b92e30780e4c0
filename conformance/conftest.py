"""pytest wiring for the conformance suite: options, parametrization, expectations, summary.

Items are tokenizer x path x case x rule. Combinations ruled out by data alone (a string case
on a messages path) are not collected; everything else runs, and a verdict that does not apply
(path missing in this TRL, no chat template, rule outside the path's loss scope) is a skip
whose reason starts with ``NOT_APPLICABLE``, counted apart from passes in the summary.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from conformance.rules import RULES
from harness import adapters
from harness.adapters.versions import library_versions
from harness.pipeline import expectations
from harness.pipeline.cases import load_cases
from harness.tokenizers import registry as tokenizer_registry

OUTCOMES: Counter = Counter()


def pytest_addoption(parser):
    g = parser.getgroup("sft-conformance")
    g.addoption("--tokenizer", action="append", default=[],
                help="tokenizer id, local folder, Hub id, or a selector core/breadth/synthetic/all "
                     "(repeatable, or comma-separated); default: core (core catalog tier + synthetic)")
    g.addoption("--path", action="append", default=[], help="path id (repeatable, or comma-separated); default: all")
    g.addoption("--rule", action="append", default=[], help="rule id (repeatable, or comma-separated); default: all")


def _listed(config, name, default):
    values = [v for opt in config.getoption(name) for v in opt.split(",") if v]
    return values or list(default)


def selected_combinations(config):
    """(tokenizer, path, case) triples the options select, minus those ruled out by data shape alone."""
    tokenizers = tokenizer_registry.expand(_listed(config, "--tokenizer", tokenizer_registry.default_ids()))
    paths = _listed(config, "--path", adapters.PATHS)
    for p in paths:
        try:
            adapters.get(p)
        except KeyError as exc:
            raise pytest.UsageError(str(exc.args[0])) from None
    out = []
    for tid in tokenizers:
        for path in paths:
            for case in load_cases():
                if adapters.fits(path, case):
                    out.append((tid, path, case.id))
    return out


def _catalog_alias(tid: str) -> str:
    try:
        return tokenizer_registry.catalog_alias(tokenizer_registry.load(tid)) or tid
    except tokenizer_registry.TokenizerUnavailable:
        return tid


def pytest_generate_tests(metafunc):
    if "snapshot_key" in metafunc.fixturenames:
        combos = selected_combinations(metafunc.config)
        metafunc.parametrize("snapshot_key", combos, ids=["~".join(c) for c in combos])
    if "conformance_item" not in metafunc.fixturenames:
        return
    rules = _listed(metafunc.config, "--rule", RULES)
    unknown = [r for r in rules if r not in RULES]
    if unknown:
        raise pytest.UsageError(f"unknown rule(s) {unknown}; known: {', '.join(RULES)}")
    exps = expectations.load()
    versions = library_versions()
    params = []
    defaults = set(tokenizer_registry.known_ids())
    aliases: dict[str, str] = {}
    for tid, path, case_id in selected_combinations(metafunc.config):
        if tid not in aliases:  # a renamed copy of a catalog tokenizer is judged as that one
            aliases[tid] = tid if tid in defaults else _catalog_alias(tid)
        for rid in rules:
            e = expectations.find(exps, rid, aliases[tid], path, case_id, versions)
            marks = [pytest.mark.xfail(strict=True, reason=f"known upstream: {e.reference}")] if e else []
            params.append(pytest.param((tid, path, case_id, rid), marks=marks, id=f"{tid}/{path}/{case_id}/{rid}"))
    metafunc.parametrize("conformance_item", params)


def pytest_runtest_logreport(report):
    if report.when == "call" or (report.when == "setup" and report.skipped):
        if "conformance_item" not in report.keywords and "/" not in report.nodeid:
            return
        if not report.nodeid.startswith("conformance/"):
            return
        if hasattr(report, "wasxfail"):
            OUTCOMES["xfail (known upstream)" if report.skipped else "XPASS (stale expectation)"] += 1
        elif report.skipped:
            reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else ""
            key = reason.split(":", 2)[1].strip() if reason.startswith("Skipped: ") else reason
            OUTCOMES[key.split(":")[0] if key else "skipped"] += 1
        else:
            OUTCOMES[report.outcome] += 1


def unused_snapshot_files(config) -> list[str]:
    """Snapshot files no selected (tokenizer, path, case) owns; only meaningful for an unfiltered run."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "snapshots"
    owned = {root / tid / path / f"{case}.txt" for tid, path, case in selected_combinations(config)}
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.txt") if p not in owned)


def pytest_terminal_summary(terminalreporter):
    config = terminalreporter.config
    ran_snapshots = any("test_encoding_snapshot" in r.nodeid for r in terminalreporter.stats.get("passed", []))
    if ran_snapshots and not any(config.getoption(o) for o in ("--tokenizer", "--path")):
        stale = unused_snapshot_files(config)
        if stale:
            terminalreporter.section("unused snapshots")
            terminalreporter.write_line(f"{len(stale)} snapshot file(s) under snapshots/ belong to no selected "
                                        "(tokenizer, path, case); delete them or restore their case:")
            for name in stale[:50]:
                terminalreporter.write_line(f"  {name}")
    if OUTCOMES:
        terminalreporter.section("sft-conformance verdicts")
        for key, n in sorted(OUTCOMES.items(), key=lambda kv: -kv[1]):
            terminalreporter.write_line(f"{n:7d}  {key}")
