"""The conformance suite: one item per tokenizer x path x case x rule on the installed TRL."""

from __future__ import annotations

import pytest

from conformance.rules import RULES
from harness.pipeline.encoding import FAIL, NOT_APPLICABLE, UNDECIDABLE
from harness.tokenizers.registry import TokenizerUnavailable


def test_rule(conformance_item, conformance_session):
    tid, path, case_id, rule_id = conformance_item
    case = next(c for c in conformance_session.cases if c.id == case_id)
    try:
        verdict = conformance_session.judge(tid, path, case, RULES[rule_id])
    except TokenizerUnavailable as exc:
        pytest.skip(f"NOT_EVALUATED: {exc}")
    if verdict.status == NOT_APPLICABLE:
        pytest.skip(f"NOT_APPLICABLE: {verdict.message}")
    if verdict.status == UNDECIDABLE:
        pytest.skip(f"UNDECIDABLE: {verdict.message}")
    if verdict.status == FAIL:
        show = "\n".join(f"  {k}: {v}" for k, v in verdict.evidence.items())
        pytest.fail(f"{rule_id} {RULES[rule_id].title}\n  {verdict.message}\n{show}", pytrace=False)
