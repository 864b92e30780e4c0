"""A case TRL refuses only beside the harness's longer neighbour row is not reported as TRL's refusal of the case
(``PathAdapter.refusal``): the case goes through TRL once more without the neighbour, and when it is accepted every
rule is UNDECIDABLE with the reason. Reported as a refusal, DROP-001 passed and every other rule was not applicable,
though nothing of the case was judged. Seen for real on 1.16.0: ``DataCollatorForChatML`` with max_length 16 refuses
the neighbour of ``chat_prompt_fills_max_length`` ("no prompt tokens left after truncation") for the synthetic
ChatML tokenizers and accepts the case alone.

Here the neighbour row is made one that no release accepts (its ``messages`` an integer, which ``Dataset.from_list``
cannot put beside a message list), so the test does not depend on which release is installed."""

from __future__ import annotations

import pytest

from conformance.rules import RULES
from harness import adapters
from harness.adapters.base import PathAdapter
from harness.pipeline.cases import load_cases
from harness.pipeline.encoding import NOT_APPLICABLE, PASS, UNDECIDABLE
from harness.pipeline.runner import Session

CASES = {c.id: c for c in load_cases()}
GROUP = ["chat_single_turn", "chat_two_assistant_turns", "chat_unicode_emoji"]
TOKENIZER = "synthetic-chatml"


def _session(monkeypatch, cases, guarded: bool = True) -> Session:
    adapter = adapters.get("messages")
    if adapter.available():
        pytest.skip(f"messages path not offered by this TRL: {adapter.available().reason}")
    monkeypatch.setattr(type(adapter), "neighbour_row", lambda self, case, lt: {"messages": 5})
    if not guarded:  # the seeded bug: a refusal of the pair is the case's (the harness before the guard)
        monkeypatch.setattr(PathAdapter, "refusal", lambda self, lt, case, exc, max_length: self.refused(lt, case, exc))
    return Session([CASES[c] for c in cases])


@pytest.mark.parametrize("cases", [GROUP[:1], GROUP], ids=["alone", "group"])
def test_a_case_refused_only_beside_its_neighbour_is_undecidable_for_every_rule(monkeypatch, cases):
    session = _session(monkeypatch, cases)
    for case_id in cases:
        enc = session.encoding(TOKENIZER, "messages", case_id)
        assert enc.refused is None and enc.unjudged and "accepted it alone" in enc.unjudged
        verdicts = {r.id: session.judge(TOKENIZER, "messages", CASES[case_id], r) for r in RULES.values()}
        assert {v.status for v in verdicts.values()} == {UNDECIDABLE}, verdicts
        assert all("neighbour row" in v.message for v in verdicts.values())


def test_without_the_guard_the_same_case_passes_drop_001_unjudged(monkeypatch):
    """The seeded bug the test above catches: the pair's refusal taken for the case's."""
    session = _session(monkeypatch, GROUP[:1], guarded=False)
    enc = session.encoding(TOKENIZER, "messages", GROUP[0])
    assert enc.refused and not enc.unjudged
    statuses = {r.id: session.judge(TOKENIZER, "messages", CASES[GROUP[0]], r).status for r in RULES.values()}
    assert statuses["DROP-001"] == PASS and set(statuses.values()) <= {PASS, NOT_APPLICABLE}


def test_a_case_refused_alone_too_is_trls_refusal(monkeypatch):
    """A row refused whatever is beside it stays a refusal of the case: the neighbour is not blamed."""
    adapter = adapters.get("messages")
    if adapter.available():
        pytest.skip("messages path not offered by this TRL")

    def refused_row(self, case, lt):
        raise ValueError("this row is refused, alone or not")

    monkeypatch.setattr(type(adapter), "row", refused_row)
    session = Session([CASES[GROUP[0]]])
    enc = session.encoding(TOKENIZER, "messages", GROUP[0])
    assert enc.refused and not enc.unjudged
    assert session.judge(TOKENIZER, "messages", CASES[GROUP[0]], RULES["DROP-001"]).status == PASS
