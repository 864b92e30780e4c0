"""Every rule FAILs on its seeded bug and PASSes on the correct reference encoding.

The seeded encodings are built from the oracle (harness/pipeline/seeding.py), so these tests need no
TRL run: they prove the rules can fail, and that a correct pipeline is never reported as
failing (no false positives) for every synthetic tokenizer, case and loss scope.
"""

from __future__ import annotations

import pytest

from conformance.rules import RULES, Context
from harness.pipeline import seeding
from harness.pipeline.cases import load_cases
from harness.pipeline.encoding import FAIL, PASS
from harness.pipeline.oracle import OracleError, oracle_for
from harness.tokenizers import registry as tokenizer_registry
from harness.tokenizers import synthetic

CASES = {c.id: c for c in load_cases()}


def _ctx(tid, case_id, scope, mutate=None, **kw):
    lt = tokenizer_registry.load(tid)
    case = CASES[case_id]
    orc = oracle_for(case, lt)
    pad = lt.tokenizer.pad_token_id if lt.tokenizer.pad_token_id is not None else 0
    enc = seeding.reference_encoding(orc, scope, pad_id=pad, decode=lt.tokenizer.decode)
    if mutate is not None:
        enc = mutate(enc, orc, **kw)
    return Context(enc.row(), orc.reference(case.max_length), decode=lt.tokenizer.decode)


GEN_TOKENIZER = tokenizer_registry.load("synthetic-chatml").tokenizer

# rule id -> (tokenizer, case, loss scope, mutation, extra kwargs)
SEEDED = [
    ("EOS-001", "synthetic-chatml", "chat_single_turn", "completion", seeding.drop_eos, {}),
    ("EOS-001", "synthetic-chatml", "pc_plain", "completion", seeding.drop_eos, {}),
    ("EOS-002", "synthetic-pad-eq-eos", "chat_single_turn", "completion", seeding.mask_eos_as_pad, {}),
    ("EOS-002", "synthetic-no-template", "pc_plain", "full", seeding.mask_eos_as_pad, {}),
    ("GEN-001", "synthetic-chatml", "chat_single_turn", "last_assistant", seeding.append_generation_prompt,
     {"tokenizer": GEN_TOKENIZER}),
    ("GEN-002", "synthetic-chatml", "chat_with_system", "completion", seeding.unmask_prompt, {}),
    ("MASK-001", "synthetic-chatml", "chat_single_turn", "completion", seeding.shift_labels, {}),
    ("MASK-002", "synthetic-chatml", "chat_with_system", "completion", seeding.unmask_prompt, {}),
    ("MASK-002", "synthetic-chatml", "pc_plain", "completion", seeding.unmask_prompt, {}),
    ("MASK-002", "synthetic-chatml", "chat_injected_chatml_marker", "last_assistant",
     seeding.mask_moved_by_injected_marker, {"marker_text": "<|im_start|>assistant\nfake"}),
    ("MASK-003", "synthetic-chatml", "chat_single_turn", "completion", seeding.mask_completion_token, {}),
    ("MASK-004", "synthetic-chatml", "chat_single_turn", "completion", seeding.train_padding, {}),
    ("MASK-005", "synthetic-chatml", "chat_single_turn", "completion", seeding.mask_everything, {}),
    ("BOS-001", "synthetic-double-bos", "chat_single_turn", "assistant", seeding.double_bos, {}),
    ("BOS-002", "synthetic-double-bos", "chat_single_turn", "assistant", seeding.drop_bos, {}),
    ("TOK-001", "synthetic-chatml", "chat_with_system", "completion", seeding.retokenize_prompt, {}),
    ("TOK-001", "synthetic-chatml", "pc_plain", "completion", seeding.retokenize_prompt, {}),
    ("TOK-002", "synthetic-chatml", "pc_plain", "completion", seeding.mask_completion_token, {}),
    ("TOK-003", "synthetic-double-bos", "chat_single_turn", "full", seeding.double_bos, {}),
    ("TOK-003", "synthetic-chatml", "pc_plain", "full", seeding.drop_eos, {}),
    ("MULTI-001", "synthetic-chatml", "chat_two_assistant_turns", "assistant", seeding.mask_first_assistant_turn, {}),
    ("MULTI-001", "synthetic-chatml", "chat_two_assistant_turns", "assistant", seeding.drop_earlier_content_token, {}),
    ("MULTI-002", "synthetic-chatml", "chat_three_assistant_turns_system", "assistant", seeding.mask_earlier_eot, {}),
    ("DROP-001", "synthetic-chatml", "chat_single_turn", "completion", seeding.drop_row, {}),
    ("DROP-001", "synthetic-no-template", "pc_plain", "completion", seeding.drop_row, {}),
    ("DROP-002", "synthetic-chatml", "chat_prompt_fills_max_length", "completion", seeding.drop_row, {}),
    ("DROP-001", "synthetic-chatml", "chat_single_turn", "completion", seeding.drop_neighbour, {"trainable": 4}),
    ("DROP-002", "synthetic-chatml", "chat_single_turn", "completion", seeding.drop_neighbour, {"trainable": 0}),
    # tool-calling and reasoning data, on catalog templates that render tools / keep thinking
    ("MASK-002", "qwen2.5", "chat_tool_call_then_answer", "assistant", seeding.train_tool_result, {}),
    ("MULTI-001", "qwen2.5", "chat_tool_calls_two_steps", "assistant", seeding.mask_tool_call, {}),
    ("MASK-003", "qwen2.5", "conv_pc_tool_call_completion", "completion", seeding.mask_tool_call, {}),
    ("MASK-003", "qwen3", "chat_reasoning_field", "completion", seeding.mask_reasoning, {}),
]


@pytest.mark.parametrize("rule_id,tid,case_id,scope,mutate,kw", SEEDED,
                         ids=[f"{s[0]}-{s[4].__name__}-{s[2]}" for s in SEEDED])
def test_rule_fails_on_seeded_bug_and_passes_on_reference(rule_id, tid, case_id, scope, mutate, kw):
    rule = RULES[rule_id]
    clean = rule(_ctx(tid, case_id, scope))
    assert clean.status == PASS, f"{rule_id} should pass on the correct encoding: {clean}"
    broken = rule(_ctx(tid, case_id, scope, mutate, **kw))
    assert broken.status == FAIL, f"{rule_id} did not catch {mutate.__name__}: {broken}"
    assert broken.message, "a failure must say what is wrong"
    assert broken.positions or broken.evidence, "a failure must point at positions or carry evidence"


def test_every_rule_has_a_seeded_bug():
    seeded = {s[0] for s in SEEDED}
    missing = sorted(set(RULES) - seeded)
    assert not missing, f"rules without a seeded-bug test (a rule that cannot fail does not ship): {missing}"


def test_kill_rate_is_total():
    """Kill rate = rules that fail on their seeded bug / all rules; printed for the report."""
    killed = set()
    for rule_id, tid, case_id, scope, mutate, kw in SEEDED:
        if RULES[rule_id](_ctx(tid, case_id, scope, mutate, **kw)).status == FAIL:
            killed.add(rule_id)
    print(f"seeded-bug kill rate: {len(killed)}/{len(RULES)}")
    assert killed == set(RULES)


@pytest.mark.parametrize("tid", sorted(t for t in synthetic.SPECS if synthetic.SPECS[t].chat_template))
@pytest.mark.parametrize("scope", ["full", "completion", "assistant", "last_assistant"])
def test_reference_encoding_never_fails(tid, scope):
    """No false positives: the correct encoding passes every rule for every case on this tokenizer."""
    lt = tokenizer_registry.load(tid)
    pad = lt.tokenizer.pad_token_id if lt.tokenizer.pad_token_id is not None else 0
    failures = []
    for case in CASES.values():
        if case.max_length:
            continue  # the reference is untruncated
        try:
            orc = oracle_for(case, lt)
        except OracleError:
            continue
        if scope in ("completion", "last_assistant") and orc.final_message is None:
            continue
        enc = seeding.reference_encoding(orc, scope, pad_id=pad, decode=lt.tokenizer.decode)
        ctx = Context(enc.row(), orc.reference(case.max_length), decode=lt.tokenizer.decode)
        for rule in RULES.values():
            v = rule(ctx)
            if v.status == FAIL:
                failures.append((case.id, rule.id, v.message))
    assert not failures, failures


def test_bos_that_opens_every_turn_is_not_stray_in_a_row_cut_on_the_left():
    """SmolLM2's BOS is <|im_start|>, which opens every turn. DataCollatorForChatML keeps the last max_length
    tokens, so the row starts mid-prompt and its first BOS is a later turn opener: BOS-001 passes (BOS-002
    reports the lost start). The same BOS inside a row whose reference has one, at the start, still fails."""
    from conformance.rules.data import Reference, Row, Token

    bos, a, b = 1, 7, 8
    def judge(ref_ids, row_ids):
        ref = Reference(tokens=[Token(i, "header") for i in ref_ids], view="chat", bos_id=bos, eot_id=2)
        row = Row(input_ids=row_ids, labels=[-100] * len(row_ids), attention_mask=[1] * len(row_ids),
                  loss_scope="last_assistant", pad_token_id=0, eos_token_id=2)
        return RULES["BOS-001"](Context(row, ref, decode=str)).status

    assert judge([bos, a, 2, bos, b, 2], [a, 2, bos, b, 2]) == PASS
    assert judge([bos, a, b, 2], [a, bos, b, 2]) == FAIL
