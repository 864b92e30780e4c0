"""Fuzz the harness itself (not TRL): generated conversations and prompt/completion pairs.

For every generated example on the synthetic tokenizers the oracle either answers or raises
``OracleError`` (never another exception); the correct encoding built from it passes every
rule (no FAIL the encoding does not contain); and seeded bugs are still caught: dropping the
final end-of-turn token fails EOS-001, unmasking the prompt fails MASK-002.
"""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from conformance.rules import RULES, Context
from conformance.strategies import conversation_cases, prompt_completion_cases
from harness.pipeline import seeding
from harness.pipeline.encoding import FAIL
from harness.pipeline.oracle import OracleError, oracle_for
from harness.tokenizers import registry as tokenizer_registry

TOKENIZERS = ("synthetic-chatml", "synthetic-eot-ne-eos", "synthetic-double-bos", "synthetic-pad-eq-eos")


def _setup(tid, case, scope):
    lt = tokenizer_registry.load(tid)
    try:
        orc = oracle_for(case, lt)
    except OracleError:
        assume(False)
    assume(not orc.notes or all("undecidable" not in n for n in orc.notes))
    pad = lt.tokenizer.pad_token_id if lt.tokenizer.pad_token_id is not None else 0
    enc = seeding.reference_encoding(orc, scope, pad_id=pad, decode=lt.tokenizer.decode)
    return lt, orc, enc


def _fails(lt, orc, case, enc) -> dict[str, str]:
    ctx = Context(enc.row(), orc.reference(case.max_length), decode=lt.tokenizer.decode)
    out = {}
    for rule in RULES.values():
        v = rule(ctx)
        if v.status == FAIL:
            out[rule.id] = v.message
    return out


@given(tid=st.sampled_from(TOKENIZERS), case=st.one_of(conversation_cases(), prompt_completion_cases()),
       scope=st.sampled_from(["completion", "assistant", "full"]))
def test_correct_encoding_never_reported_failing(tid, case, scope):
    assume(not (scope == "assistant" and case.shape == "string_pc"))
    lt, orc, enc = _setup(tid, case, scope)
    assert _fails(lt, orc, case, enc) == {}


@given(tid=st.sampled_from(TOKENIZERS), case=st.one_of(conversation_cases(), prompt_completion_cases()))
def test_seeded_bugs_still_caught_on_generated_examples(tid, case):
    lt, orc, enc = _setup(tid, case, "completion")
    final = orc.final_message if orc.view == "chat" else None
    assume(orc.view == "string" or orc.terminators.get(final) is not None)
    assert "EOS-001" in _fails(lt, orc, case, seeding.drop_eos(enc, orc))
    prompt_tokens = [t for t in orc.tokens if t.role in ("prompt", "content") and
                     (orc.view == "string" or t.message != final)]
    assume(prompt_tokens)
    assert "MASK-002" in _fails(lt, orc, case, seeding.unmask_prompt(enc, orc))


def test_batch_invariance_check_catches_a_position_dependent_mask():
    """Seeded bug for the batch-invariance property: a collator that masks by absolute position
    (so left padding shifts the mask) must be reported, and identical variants must not."""
    import dataclasses

    from harness.pipeline.encoding import Encoding
    from harness.pipeline.invariance import variant_differences

    alone = Encoding("t", "p", "c", "completion", input_ids=[5, 6, 7, 8], labels=[-100, -100, 7, 8],
                     attention_mask=[1, 1, 1, 1])
    right = dataclasses.replace(alone, input_ids=[5, 6, 7, 8, 0, 0], labels=[-100, -100, 7, 8, -100, -100],
                                attention_mask=[1, 1, 1, 1, 0, 0])
    assert variant_differences({"alone": alone, "with_longer": right}) == []
    # left padded, but the mask still covers absolute positions 0-1: the prompt token 6 is now trained
    left = dataclasses.replace(alone, input_ids=[0, 0, 5, 6, 7, 8], labels=[-100, -100, -100, 6, 7, 8],
                               attention_mask=[0, 0, 1, 1, 1, 1])
    found = variant_differences({"alone": alone, "left_padded": left})
    assert found and found[0].startswith("left_padded: real token 1")


def test_modifier_check_catches_lost_masks_in_a_packed_row():
    """Seeded bug for MOD-001: a packed row whose prompt labels were not kept (as TRL 0.19 did,
    #3728) is reported; the same row with the masks kept, first label aside, is not."""
    from harness.pipeline.encoding import Encoding
    from harness.pipeline.invariance import segment_difference

    alone = Encoding("t", "p", "c", "completion", input_ids=[5, 6, 7, 8], labels=[-100, -100, 7, 8],
                     attention_mask=[1, 1, 1, 1])
    kept = [([9, 9, 5, 6, 7, 8], [-100, 9, -100, -100, 7, 8])]
    lost = [([9, 9, 5, 6, 7, 8], [-100, 9, -100, 6, 7, 8])]
    assert segment_difference(alone, kept) is None
    assert "label of token 1 (id 6) is 6 here, -100 when collated alone" == segment_difference(alone, lost)
    assert "no example of the batch" in segment_difference(alone, [([5, 6, 7], [-100, -100, 7])])


def test_cut_packing_check_catches_lost_masks_and_lost_tokens():
    """Seeded bugs for MOD-001 on strategies that cut examples (wrapped, bfd_split,
    ConstantLengthDataset): pieces run across examples and are shuffled; a prompt label lost in a
    piece, a piece missing, a re-tokenized piece, or (bfd_split) a sequence running from one
    example into another is reported against its case, and the same pieces done right are not."""
    from harness.pipeline.encoding import Encoding
    from harness.pipeline.invariance import PackedBatch, packed_differences

    def enc(cid, ids, labels):
        return Encoding("t", "p", cid, "completion", input_ids=ids, labels=labels, attention_mask=[1] * len(ids))

    alone = {"a": enc("a", [5, 6, 7, 8], [-100, -100, 7, 8]), "b": enc("b", [9, 10, 11], [-100, -100, 11])}
    # wrapped into chunks of 3 over the stream 5 6 7 8 9 10 11 (first label of a chunk is masked by TRL)
    wrapped = [([5, 6, 7], [-100, -100, 7]), ([8, 9, 10], [-100, 9, -100]), ([11], [-100])]
    assert packed_differences(PackedBatch(["a", "b"], wrapped, cuts=True, spans=True), alone) == {}
    assert packed_differences(PackedBatch(["a", "b"], wrapped[::-1], cuts=True, spans=True), alone) == {}
    lost_mask = [wrapped[0], ([8, 9, 10], [-100, 9, 10]), wrapped[2]]
    assert packed_differences(PackedBatch(["a", "b"], lost_mask, cuts=True, spans=True), alone) == {
        "b": "label of token 1 (id 10) is 10 packed, -100 when collated alone"}
    assert packed_differences(PackedBatch(["a", "b"], wrapped[:2], cuts=True, spans=True), alone) == {
        "b": "1 of its tokens are in no packed piece (dropped)"}
    retokenized = [wrapped[0], ([8, 9, 12], [-100, 9, 12]), wrapped[2]]
    assert "no run of the examples' tokens" in packed_differences(
        PackedBatch(["a", "b"], retokenized, cuts=True, spans=True), alone)["a"]
    # bfd_split keeps each piece inside one example: split at every example start they pass, a row
    # that runs from one example into the next (TRL 0.29 bfd-requeue without padding-free) does not
    split = [([5, 6, 7], [-100, -100, 7]), ([8], [-100]), ([9, 10, 11], [-100, -100, 11])]
    assert packed_differences(PackedBatch(["a", "b"], split, cuts=True), alone) == {}
    assert "runs across 2 examples (a, b)" in packed_differences(
        PackedBatch(["a", "b"], [split[0], ([8, 9, 10, 11], [-100, 9, -100, 11])], cuts=True), alone)["a"]
    # ConstantLengthDataset: an EOS (2) after every example, chunks of 4, the short last chunk not yielded
    cld = [([5, 6, 7, 8], [5, 6, 7, 8]), ([2, 9, 10, 11], [2, 9, 10, 11])]
    text = {"a": enc("a", [5, 6, 7, 8], [5, 6, 7, 8]), "b": enc("b", [9, 10, 11], [9, 10, 11])}
    assert packed_differences(PackedBatch(["a", "b"], cld, cuts=True, spans=True, separator=2, drops_tail=3), text) == {}
    assert "dropped" in packed_differences(PackedBatch(["a", "b"], cld[1:], cuts=True, spans=True, separator=2,
                                                       drops_tail=3), text)["a"]
