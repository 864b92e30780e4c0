"""The conformance suite: one item per tokenizer x path x case on the installed TRL, judging every rule.

The item id is ``tokenizer/path/case`` (``-k`` selects by any part); ``--rule`` selects the rules.
Each rule's verdict against ``conformance/expectations/trl.yaml`` (strict, as ``xfail(strict=True)``
was per rule):

- FAIL, no expectation: the item fails;
- PASS under an expectation: the item fails, ``XPASS (stale expectation)`` (upstream fixed it);
- FAIL under an expectation: known upstream, counted, not a failure;
- NOT_APPLICABLE / UNDECIDABLE: counted, not a failure.

The failure message lists every offending rule with its title, message and evidence. An item with
nothing wrong passes, or skips (reason ``NOT_APPLICABLE: ...``) when no rule applied, or
(``UNDECIDABLE: ...``) when the rest were undecidable: a path missing in this TRL is skips, never
passes. Every rule's outcome is counted in the terminal summary ("sft-conformance verdicts").
"""

from __future__ import annotations

import traceback

import pytest

from conformance.conftest import VERDICT_PROPERTY
from conformance.rules import RULES
from harness.adapters.versions import library_versions
from harness.pipeline import expectations
from harness.pipeline.encoding import FAIL, NOT_APPLICABLE, PASS, UNDECIDABLE, Verdict
from harness.tokenizers.registry import TokenizerUnavailable

PASSED, KNOWN, STALE, FAILED = "passed", "xfail (known upstream)", "XPASS (stale expectation)", "failed"


@pytest.fixture(scope="module")
def known_upstream():
    """The expectations in effect and the installed versions they are matched against."""
    return expectations.load(), library_versions()


def _unique(messages) -> str:
    return "; ".join(dict.fromkeys(m for m in messages if m))[:500]


def test_rules(conformance_item, conformance_session, known_upstream, record_property):
    it = conformance_item
    exps, versions = known_upstream
    case = next(c for c in conformance_session.cases if c.id == it.case)
    outcomes: dict[str, int] = {}
    problems, offending, not_applicable, undecidable = [], [], [], []
    for rule_id in it.rules:
        rule = RULES[rule_id]
        try:
            verdict = conformance_session.judge(it.tokenizer, it.path, case, rule)
        except TokenizerUnavailable as exc:
            record_property(VERDICT_PROPERTY, {"NOT_EVALUATED": len(it.rules)})
            pytest.skip(f"NOT_EVALUATED: {exc}")
        except Exception:  # noqa: BLE001  (a crash is this rule's failure, as it was for its own item)
            verdict = Verdict(rule_id, FAIL, "the rule raised", evidence={"traceback": traceback.format_exc()})
        e = expectations.find(exps, rule_id, it.known_as, it.path, it.case, versions,
                              facts=conformance_session.facts(it.tokenizer, it.path, it.case), status=verdict.status)
        if verdict.status == NOT_APPLICABLE:
            key = "NOT_APPLICABLE"
            not_applicable.append(verdict.message)
        elif verdict.status == UNDECIDABLE:
            key = "UNDECIDABLE"
            undecidable.append(verdict.message)
        elif verdict.status == FAIL:
            key = KNOWN if e else FAILED
            if not e:
                offending.append(rule_id)
                show = "\n".join(f"  {k}: {v}" for k, v in verdict.evidence.items())
                problems.append(f"{rule_id} {rule.title}\n  {verdict.message}" + (f"\n{show}" if show else ""))
        elif verdict.status == PASS and e:
            key = STALE
            offending.append(f"{rule_id} (XPASS)")
            problems.append(f"XPASS (stale expectation): {rule_id} known upstream: {e.reference}\n"
                            f"  {rule.title}: passes on {it.tokenizer}/{it.path}/{it.case}; narrow or remove the entry")
        else:
            key = PASSED
        outcomes[key] = outcomes.get(key, 0) + 1
    record_property(VERDICT_PROPERTY, outcomes)
    if problems:
        pytest.fail(f"{', '.join(offending)} on {it.tokenizer}/{it.path}/{it.case}:\n" + "\n".join(problems),
                    pytrace=False)
    if len(not_applicable) == len(it.rules):
        pytest.skip(f"NOT_APPLICABLE: {_unique(not_applicable)}")
    if len(not_applicable) + len(undecidable) == len(it.rules):
        pytest.skip(f"UNDECIDABLE: {_unique(undecidable)}")


def session_needs(name: str, params: dict) -> list[tuple]:
    """What an item asks the shared session for (computed ahead on a spare core: the root conftest)."""
    it = params.get("conformance_item")
    return [("encodings", it.tokenizer, it.path)] if it is not None else []
