"""MOD-002 / MOD-003 can fail: on hand-built packed rows and on TRL's own collator output broken on purpose.

The seeded bugs are the two the issue tracker measured as invisible before these rules: a
collator whose ``labels[position_ids == 0] = -100`` line is removed (document starts trained),
and one whose ``position_ids`` continue across the documents of a padding-free batch.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.rules import BATCH_RULES, PackedRow
from conformance.rules.data import FAIL, PASS
from conformance.rules.packing import document_starts

DOCS = {"a": [5, 6, 7, 8], "b": [9, 10, 11]}


def _row(labels_at_start=-100, positions="restart"):
    ids = DOCS["a"] + DOCS["b"]
    labels = [-100, 6, 7, 8, labels_at_start, 10, 11]
    pos = {"restart": [0, 1, 2, 3, 0, 1, 2], "continue": list(range(7)), "none": None}[positions]
    return PackedRow(ids, labels, [1] * 7, pos)


def test_documents_are_found_by_content():
    assert document_starts(_row(), DOCS) == [(4, "b")]
    cut = PackedRow([5, 6, 7, 8, 9, 10], [-100] * 6, [1] * 6)  # b cut at the row end still starts there
    assert document_starts(cut, DOCS) == [(4, "b")]
    # the row opens with the end of a document cut at the previous row, whose tail happens to spell the short
    # document "c": that is no document start (a false MOD-002 failure measured on 2,040 wrapped rows)
    docs = {"long": [1, 2, 3, 92, 266, 2], "c": [92, 266, 2], "a": DOCS["a"]}
    row = PackedRow([266, 2, 92, 266, 2, 5, 6], [-100] * 7, [1] * 7)
    assert document_starts(row, docs) == [(2, "c"), (5, "a")]


def test_correct_row_passes_both_rules():
    for rule in BATCH_RULES.values():
        assert rule([_row()], DOCS).status == PASS


@pytest.mark.parametrize("rule_id,row", [("MOD-002", _row(labels_at_start=9)), ("MOD-003", _row(positions="continue")),
                                         ("MOD-003", _row(positions="none"))])
def test_seeded_bug_fails(rule_id, row):
    verdict = BATCH_RULES[rule_id]([row], DOCS)
    assert verdict.status == FAIL and verdict.positions == [4], verdict


def _seeded_trl_batches(monkeypatch, breakage):
    """1.16's padding-free batches of three golden cases, with the collator output broken as named."""
    from harness.adapters import trl_driver
    from harness.adapters.sft_trainer import MessagesPath
    from harness.pipeline.cases import load_cases
    from harness.tokenizers import registry as tokenizer_registry

    original = trl_driver.make_trainer

    def make_trainer(*args, **kwargs):
        trainer = original(*args, **kwargs)
        collate = trainer.data_collator

        def broken(examples):
            batch = collate(examples)
            if "position_ids" not in batch:  # not a padding-free batch (the plain encodings): untouched
                return batch
            pos = batch["position_ids"]
            if breakage == "trained_start":
                batch["labels"][pos == 0] = batch["input_ids"][pos == 0]
            else:
                import torch

                batch["position_ids"] = torch.arange(pos.shape[-1]).expand_as(pos).clone()
                batch.pop("cu_seq_lens_q", None)
                batch.pop("cu_seq_lens_k", None)
            return batch

        trainer.data_collator = broken
        return trainer

    monkeypatch.setattr(trl_driver, "make_trainer", make_trainer)
    adapter = MessagesPath()
    if adapter.modifier_available("padding_free"):
        pytest.skip("NOT_APPLICABLE: this TRL has no padding_free")
    lt = tokenizer_registry.load("synthetic-chatml")
    cases = [c for c in load_cases() if c.id in ("chat_single_turn", "chat_with_system", "chat_two_assistant_turns")]
    plain = adapter.encode(lt, cases)
    batches = adapter.modifier_batches(lt, cases, "padding_free")
    if not batches[0].rows[0].position_ids:
        pytest.skip("NOT_APPLICABLE: this TRL's padding-free batch carries no position_ids")
    return batches, plain


@pytest.mark.parametrize("breakage,rule_id", [("trained_start", "MOD-002"), ("continuing_positions", "MOD-003")])
def test_trl_collator_broken_on_purpose_is_caught(monkeypatch, breakage, rule_id):
    from harness.pipeline.invariance import documents

    batches, plain = _seeded_trl_batches(monkeypatch, breakage)
    verdicts = [BATCH_RULES[rule_id](b.rows, documents(b, plain)) for b in batches]
    assert any(v.status == FAIL for v in verdicts), verdicts


def _starts_scanning_every_copy(ids, lo, hi, documents):
    """The one-by-one search written plainly (every document scans the whole row), to compare with the rule's."""
    from conformance.rules.packing import MIN_CUT_MATCH

    taken, starts = [False] * len(ids), []
    for doc_id, doc in sorted(documents.items(), key=lambda kv: -len(kv[1])):
        for k in range(lo, hi):
            m = min(len(doc), hi - k)
            if (doc and not taken[k] and (m == len(doc) or m >= MIN_CUT_MATCH) and ids[k:k + m] == doc[:m]
                    and not any(taken[k:k + m])):
                taken[k:k + m] = [True] * m
                starts.append((k, doc_id))
                break
    return sorted((k, d) for k, d in starts if k > lo)


@settings(max_examples=200)
@given(st.data())
def test_the_one_by_one_search_finds_what_scanning_every_copy_finds(data):
    """``_starts_one_by_one`` (where no tiling exists) resumes each distinct sequence where its last copy stopped;
    on rows built from copies, cuts and noise it gives exactly the plain search's starts."""
    from conformance.rules.packing import _starts_one_by_one

    alphabet = st.integers(1, 4)
    pieces = data.draw(st.lists(st.lists(alphabet, min_size=1, max_size=12), min_size=1, max_size=4))
    documents = {f"d{i}~{c}": p for i, p in enumerate(pieces) for c in range(data.draw(st.integers(1, 3)))}
    row = [t for _ in range(data.draw(st.integers(1, 5))) for t in data.draw(st.sampled_from(pieces + [[0, 9]]))]
    lo = data.draw(st.integers(0, len(row) - 1))
    hi = data.draw(st.integers(lo + 1, len(row)))
    assert _starts_one_by_one(row, lo, hi, documents) == _starts_scanning_every_copy(row, lo, hi, documents)
