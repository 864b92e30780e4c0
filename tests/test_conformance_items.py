"""The conformance suite's items (one per tokenizer x path x case, every rule judged inside) fail exactly
where the per-rule verdicts say: a seeded bug fails its item naming every broken rule, a stale
expectation fails as an XPASS, a known upstream failure does not fail, and the per-rule counts in the
"sft-conformance verdicts" summary equal those of ``Session.records`` (what ``sft-conformance run``
reports) for the same seeded encodings and expectations.
"""

from __future__ import annotations

import os
import re
import sys
from collections import Counter
from pathlib import Path

import script_runs
import yaml

from conformance.rules import RULES
from harness.pipeline import expectations
from harness.pipeline.cases import load_cases
from harness.pipeline.runner import Session

ROOT = Path(__file__).resolve().parent.parent
TOKENIZER, PATH = "synthetic-chatml", "prompt_completion"
BROKEN = "pc_plain"             # prompt trained, no expectation: MASK-002 and TOK-002 fail the item
KNOWN = "pc_question_answer"    # prompt trained, both failures recorded: known upstream, the item passes
STALE = "pc_tutorial_alpaca"    # untouched, an entry says EOS-001 fails there: XPASS, the item fails
SEEDED = (BROKEN, KNOWN)


def _expectations_file(tmp_path) -> Path:
    """The repository's expectations with three entries in front (the first covering entry wins)."""
    doc = yaml.safe_load(expectations.DEFAULT_FILE.read_text())
    doc["expectations"][:0] = [
        {"rule": ["MASK-002", "TOK-002"], "tokenizer": TOKENIZER, "path": PATH, "case": KNOWN,
         "reason": "seeded by tests/seeded_suite.py"},
        {"rule": "EOS-001", "tokenizer": TOKENIZER, "path": PATH, "case": STALE,
         "reason": "stale on purpose"},
    ]
    out, text = tmp_path / "trl.yaml", yaml.safe_dump(doc, sort_keys=False)
    if not out.exists() or out.read_text() != text:  # the background run may be reading it: never rewritten
        out.write_text(text)
    return out


def _key(record) -> str:
    """A record's line in the verdicts summary."""
    if record.status == "fail":
        return "xfail (known upstream)" if record.expected_failure else "failed"
    if record.status == "pass":
        return "XPASS (stale expectation)" if record.expected_failure else "passed"
    return record.status.upper()


TEST = "test_items_fail_on_seeded_bug_and_stale_expectation_and_count_every_rule"


def _seeded_run() -> tuple[script_runs.Command, Path]:
    """The seeded conformance run (a pytest subprocess) and its expectations file."""
    exp_file = _expectations_file(script_runs.workdir("conformance-items"))
    env = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "SFT_CONFORMANCE_EXPECTATIONS": str(exp_file),
           "SFT_SEEDED_CASES": ",".join(SEEDED),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    argv = (sys.executable, "-m", "pytest", "conformance/test_conformance.py", "-p", "seeded_suite",
            "-p", "no:cacheprovider", "-rA", "--tokenizer", TOKENIZER, "--path", PATH,
            "-k", f"{BROKEN} or {KNOWN} or {STALE}")
    return script_runs.Command(argv, str(ROOT), tuple(sorted(env.items())), fork=True), exp_file


def background_commands(names: set[str]) -> list[script_runs.Command]:
    """The seeded run, started at collection on the spare core (``tests/script_runs.py``)."""
    return [_seeded_run()[0]] if TEST in names else []


def test_items_fail_on_seeded_bug_and_stale_expectation_and_count_every_rule():
    command, exp_file = _seeded_run()
    res = script_runs.outcome(command)
    out = res.stdout
    assert res.returncode == 1, out[-4000:] + res.stderr[-2000:]
    summary = {m.group(2): m.group(1) for m in re.finditer(r"^(FAILED|PASSED|SKIPPED).*?/(pc_\w+)", out, re.MULTILINE)}
    assert summary == {BROKEN: "FAILED", KNOWN: "PASSED", STALE: "FAILED"}, out[-4000:]
    broken = out[out.index(f"[{TOKENIZER}/{PATH}/{BROKEN}]"):]
    for rule in ("MASK-002", "TOK-002"):  # every offending rule, with its title
        assert f"{rule} {RULES[rule].title}" in broken, broken[:3000]
    assert "XPASS (stale expectation): EOS-001 known upstream: reason: stale on purpose" in out, out[-4000:]

    # the summary counts one verdict per rule, as sft-conformance run's records say for the same input
    section = out.split("sft-conformance verdicts", 1)[1].split("\n=", 1)[0]
    counted = Counter({k.strip(): int(n) for n, k in re.findall(r"^\s*(\d+)  (.+)$", section, re.MULTILINE)})
    import seeded_suite

    session = type("SeededSession", (Session,), {"encodings": seeded_suite.seeded(Session.encodings, SEEDED)})(
        cases=[c for c in load_cases() if c.id in (BROKEN, KNOWN, STALE)])
    records = session.records([TOKENIZER], [PATH], list(RULES.values()), expectations.load(exp_file))
    assert counted == Counter(_key(r) for r in records), out[-3000:]
    assert counted["failed"] == 2 and counted["XPASS (stale expectation)"] == 1
    assert counted["xfail (known upstream)"] == 2
