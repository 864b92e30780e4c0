"""The oracle attributes roles from the rendered text, independently of TRL."""

from __future__ import annotations

from harness.pipeline.cases import load_cases
from harness.pipeline.oracle import MIXED, chat_oracle, oracle_for, string_oracle
from harness.tokenizers import registry as tokenizer_registry

CASES = {c.id: c for c in load_cases()}


def _roles(orc, lt):
    return [(lt.tokenizer.decode([t.id]), t.role, t.message) for t in orc.tokens]


def test_chat_roles_and_terminators():
    lt = tokenizer_registry.load("synthetic-eot-ne-eos")
    orc = chat_oracle(CASES["chat_two_assistant_turns"], lt)
    assert lt.eot_token == "<end_of_turn>" and lt.tokenizer.eos_token == "<eos>"
    assert sorted(orc.terminators) == [1, 3]
    for m, idx in orc.terminators.items():
        assert orc.tokens[idx].id == lt.tokenizer.convert_tokens_to_ids("<end_of_turn>")
        assert orc.tokens[idx].message == m and orc.tokens[idx].role == "eot"
    content = "".join(lt.tokenizer.decode([t.id]) for t in orc.tokens if t.role == "content" and t.message == 3)
    assert content == "I can answer questions."
    assert orc.generation_prompt == "<start_of_turn>model\n"
    header = "".join(lt.tokenizer.decode([t.id]) for t in orc.tokens if t.role == "header" and t.message == 3)
    assert header == "<start_of_turn>model\n"


def test_injected_marker_stays_user_content():
    lt = tokenizer_registry.load("synthetic-chatml")
    orc = oracle_for(CASES["chat_injected_chatml_marker"], lt)
    user = "".join(lt.tokenizer.decode([t.id]) for t in orc.tokens if t.message == 0 and t.role == "content")
    assert "<|im_start|>assistant" in user
    assert orc.final_message == 1


def test_boundary_merge_is_undecidable_not_guessed():
    lt = tokenizer_registry.load("synthetic-chatml")
    case = CASES["pc_midword_completion"]
    merged = [t for t in string_oracle(case, lt).tokens if t.role == MIXED]
    # whether the merge happens depends on the vocabulary; when it does, it must be reported
    orc = string_oracle(case, lt)
    assert all(len(t.parts) == 2 for t in merged)
    assert bool(merged) == any("undecidable" in n for n in orc.notes)


def test_string_oracle_ends_with_eos_and_keeps_prompt_prefix():
    lt = tokenizer_registry.load("synthetic-double-bos")
    orc = string_oracle(CASES["pc_plain"], lt)
    assert orc.tokens[0].role == "bos" and orc.tokens[-1].role == "eos"
    assert orc.ids[:len(orc.prompt_ids)] == orc.prompt_ids


def test_empty_completion_has_only_the_terminator():
    lt = tokenizer_registry.load("synthetic-chatml")
    orc = oracle_for(CASES["chat_empty_completion"], lt)
    assert not [t for t in orc.tokens if t.message == 1 and t.role == "content"]
    assert orc.terminators[1] == max(i for i, t in enumerate(orc.tokens) if t.role == "eot")
