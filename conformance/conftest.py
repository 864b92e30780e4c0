"""pytest wiring for the conformance suite: options, parametrization, expectations, summary.

Items are tokenizer x path x case (id ``tokenizer/path/case``, so ``-k`` selects by any of them);
each item judges every selected rule (``--rule`` narrows them). Combinations ruled out by data
alone (a string case on a messages path) are not collected. An item fails when a rule FAILs
without an expectation or PASSes under one (a stale expectation), naming every such rule; it is a
skip whose reason starts with ``NOT_APPLICABLE`` (or ``UNDECIDABLE``) when no rule could be judged
(path missing in this TRL, no chat template, ...). The verdict of every rule is counted in the
"sft-conformance verdicts" section of the terminal summary.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

from conformance.rules import RULES
from harness import adapters
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


_COMBINATIONS = pytest.StashKey[list]()


def selected_combinations(config):
    """(tokenizer, path, case) triples the options select, minus those ruled out by data shape alone.
    Worked out once per run (the snapshot and the conformance items both ask)."""
    if _COMBINATIONS not in config.stash:
        config.stash[_COMBINATIONS] = _combinations(config)
    return list(config.stash[_COMBINATIONS])


def _combinations(config):
    tokenizers = tokenizer_registry.expand(_listed(config, "--tokenizer", tokenizer_registry.default_ids()))
    paths = _listed(config, "--path", adapters.PATHS)
    for p in paths:
        try:
            adapters.get(p)
        except KeyError as exc:
            raise pytest.UsageError(str(exc.args[0])) from None
    cases = load_cases()  # parsed and validated once: per (tokenizer, path) it was most of the collection time
    out = []
    for tid in tokenizers:
        for path in paths:
            for case in cases:
                if adapters.fits(path, case):
                    out.append((tid, path, case.id))
    return out


def _catalog_alias(tid: str) -> str:
    try:
        return tokenizer_registry.catalog_alias(tokenizer_registry.load(tid)) or tid
    except tokenizer_registry.TokenizerUnavailable:
        return tid


@dataclass(frozen=True)
class ConformanceItem:
    """What one item of ``test_conformance.py`` judges: every rule in ``rules`` on one encoding."""

    tokenizer: str
    path: str
    case: str
    known_as: str  # the id expectations know the tokenizer by (a renamed catalog copy: that one's)
    rules: tuple[str, ...]


def pytest_generate_tests(metafunc):
    if "snapshot_key" in metafunc.fixturenames:
        combos = selected_combinations(metafunc.config)
        metafunc.parametrize("snapshot_key", combos, ids=["~".join(c) for c in combos])
    if "conformance_item" not in metafunc.fixturenames:
        return
    rules = tuple(_listed(metafunc.config, "--rule", RULES))
    unknown = [r for r in rules if r not in RULES]
    if unknown:
        raise pytest.UsageError(f"unknown rule(s) {unknown}; known: {', '.join(RULES)}")
    defaults = set(tokenizer_registry.known_ids())
    aliases: dict[str, str] = {}
    items, ids = [], []
    for tid, path, case_id in selected_combinations(metafunc.config):
        if tid not in aliases:  # a renamed copy of a catalog tokenizer is judged as that one
            aliases[tid] = tid if tid in defaults else _catalog_alias(tid)
        items.append(ConformanceItem(tid, path, case_id, aliases[tid], rules))
        ids.append(f"{tid}/{path}/{case_id}")
    metafunc.parametrize("conformance_item", items, ids=ids)


VERDICT_PROPERTY = "sft_conformance_verdicts"  # user_properties key: the per-rule outcome keys of an item


def pytest_runtest_logreport(report):
    if report.when == "call" or (report.when == "setup" and report.skipped):
        if not report.nodeid.startswith("conformance/"):
            return
        per_rule = next((v for k, v in getattr(report, "user_properties", ()) if k == VERDICT_PROPERTY), None)
        if per_rule is not None:  # an item of test_conformance.py: one count per rule it judged
            OUTCOMES.update(per_rule)
        elif hasattr(report, "wasxfail"):
            OUTCOMES["xfail (known upstream)" if report.skipped else "XPASS (stale expectation)"] += 1
        elif report.skipped:
            reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else ""
            key = reason.split(":", 2)[1].strip() if reason.startswith("Skipped: ") else reason
            OUTCOMES[key.split(":")[0] if key else "skipped"] += 1
        else:
            OUTCOMES[report.outcome] += 1


def unused_snapshot_files(config) -> list[str]:
    """Snapshot files that belong to no (tokenizer of any tier, path, case) of the suite; only meaningful for an
    unfiltered run. The files of a tier the run did not select (the breadth tier's, in a default run) are owned."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "snapshots"
    cases = load_cases()
    owned = {root / tid / path / f"{case.id}.txt" for tid in tokenizer_registry.expand(["all"])
             for path in adapters.PATHS for case in cases if adapters.fits(path, case)}
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
