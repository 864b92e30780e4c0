"""Seeded bugs: a correct Encoding built from the oracle, and named ways to break it.

Every rule must FAIL on at least one of these mutations (tests/test_seeded_bugs.py) and PASS
on the unbroken reference; that is what shows a rule can fail. The mutations reproduce the
silent SFT bugs TRL has shipped: EOS dropped, EOS masked because pad == eos, a generation
prompt appended, the prompt left unmasked, one assistant turn masked, labels pre-shifted,
a double BOS, and a mask boundary moved by a template marker typed in user content.
"""

from __future__ import annotations

import copy
import dataclasses

from conformance.rules.base import expected_trained
from harness.pipeline.encoding import IGNORE_INDEX, Encoding
from harness.pipeline.oracle import Oracle


def reference_encoding(oracle: Oracle, scope: str, path: str = "reference", pad_id: int = 0,
                       n_pad: int = 3, decode=None) -> Encoding:
    """The Encoding a correct pipeline produces for this oracle and loss scope, right-padded."""
    ids = oracle.ids + [pad_id] * n_pad
    trained = set(expected_trained(oracle.reference(None), scope))
    labels = [t.id if i in trained else IGNORE_INDEX for i, t in enumerate(oracle.tokens)] + [IGNORE_INDEX] * n_pad
    att = [1] * len(oracle.tokens) + [0] * n_pad
    return Encoding(oracle.tokenizer_id, path, oracle.case_id, scope, ids, labels, att,
                    tokens=[decode([i]) if decode else str(i) for i in ids],
                    provenance={"pad_token_id": pad_id, "eos_token_id": oracle.eot_id})


def _real_end(enc: Encoding) -> int:
    return max(enc.real_positions()) + 1


def _insert(enc: Encoding, pos: int, ids: list[int], labels: list[int]) -> None:
    enc.input_ids[pos:pos] = ids
    enc.labels[pos:pos] = labels
    enc.attention_mask[pos:pos] = [1] * len(ids)
    enc.tokens[pos:pos] = [str(i) for i in ids]


def drop_eos(enc: Encoding, oracle: Oracle) -> Encoding:
    """The final end-of-turn token is not in the sequence (prompt/completion concatenated without EOS)."""
    e = copy.deepcopy(enc)
    pos = oracle.terminators[oracle.final_message]
    for lst in (e.input_ids, e.labels, e.attention_mask, e.tokens):
        del lst[pos]
    return e


def mask_eos_as_pad(enc: Encoding, oracle: Oracle) -> Encoding:
    """pad_token == eos_token and the collator masks every pad id, the real EOS included."""
    e = copy.deepcopy(enc)
    eos = oracle.eot_id
    e.provenance["pad_token_id"] = eos
    for p, i in enumerate(e.input_ids):
        if i == eos or not e.attention_mask[p]:
            e.input_ids[p] = eos
            e.labels[p] = IGNORE_INDEX
    return e


def append_generation_prompt(enc: Encoding, oracle: Oracle, tokenizer) -> Encoding:
    """The conversation is rendered with add_generation_prompt=True and the header is trained."""
    e = copy.deepcopy(enc)
    header = tokenizer(oracle.generation_prompt, add_special_tokens=False)["input_ids"]
    _insert(e, _real_end(e), header, list(header))
    return e


def unmask_prompt(enc: Encoding, oracle: Oracle) -> Encoding:
    """Completion-only loss silently off: every real token is trained."""
    e = copy.deepcopy(enc)
    e.labels = [i if a else IGNORE_INDEX for i, a in zip(e.input_ids, e.attention_mask)]
    return e


def mask_first_assistant_turn(enc: Encoding, oracle: Oracle) -> Encoding:
    """Only the last assistant turn is trained (an assistant-only mask that misses earlier turns)."""
    e = copy.deepcopy(enc)
    first = oracle.assistant_messages()[0]
    for i, t in enumerate(oracle.tokens):
        if t.message == first:
            e.labels[i] = IGNORE_INDEX
    return e


def shift_labels(enc: Encoding, oracle: Oracle) -> Encoding:
    """Labels pre-shifted by one (labels[i] = input_ids[i + 1]), as a hand-written collator might do."""
    e = copy.deepcopy(enc)
    e.labels = e.labels[1:] + [IGNORE_INDEX]
    return e


def double_bos(enc: Encoding, oracle: Oracle) -> Encoding:
    """Template BOS plus tokenizer BOS: re-encoding rendered chat text with add_special_tokens=True."""
    e = copy.deepcopy(enc)
    _insert(e, 0, [oracle.bos_id], [oracle.bos_id])
    return e


def mask_moved_by_injected_marker(enc: Encoding, oracle: Oracle, marker_text: str) -> Encoding:
    """A response-template search that matches a marker typed in user content starts the loss there."""
    e = copy.deepcopy(enc)
    start = oracle.text.find(marker_text)
    for i, t in enumerate(oracle.tokens):
        if t.start >= start and t.message is not None and t.message != oracle.final_message:
            e.labels[i] = t.id
    return e


def mask_everything(enc: Encoding, oracle: Oracle) -> Encoding:
    """A response template that is never found: the whole example is -100, with no warning."""
    e = copy.deepcopy(enc)
    e.labels = [IGNORE_INDEX] * len(e.labels)
    e.warnings = []
    return e


def train_padding(enc: Encoding, oracle: Oracle) -> Encoding:
    """Labels copied from input_ids after padding (labels = input_ids.clone()): pad positions trained."""
    e = copy.deepcopy(enc)
    e.labels = [i if not a else lab for i, a, lab in zip(e.input_ids, e.attention_mask, e.labels)]
    return e


def mask_completion_token(enc: Encoding, oracle: Oracle) -> Encoding:
    """The first completion token is masked (an off-by-one prompt length)."""
    e = copy.deepcopy(enc)
    role = "completion" if oracle.view == "string" else "content"
    first = next(i for i, t in enumerate(oracle.tokens) if t.role == role and t.message == oracle.final_message)
    e.labels[first] = IGNORE_INDEX
    return e


def retokenize_prompt(enc: Encoding, oracle: Oracle) -> Encoding:
    """The prompt's last token replaced by a different id (prompt tokenized differently than at inference)."""
    e = copy.deepcopy(enc)
    last_prompt = max(i for i, t in enumerate(oracle.tokens) if t.role in ("prompt", "header") and
                      t.message in (-1, oracle.final_message))
    e.input_ids[last_prompt] = (e.input_ids[last_prompt] + 1) % 50
    return e


def drop_bos(enc: Encoding, oracle: Oracle) -> Encoding:
    """A BOS the reference starts with is missing (apply_chat_template output re-encoded without specials)."""
    e = copy.deepcopy(enc)
    for lst in (e.input_ids, e.labels, e.attention_mask, e.tokens):
        del lst[0]
    return e


def mask_earlier_eot(enc: Encoding, oracle: Oracle) -> Encoding:
    """The end-of-turn token of an earlier assistant turn is attributed to the next message and masked."""
    e = copy.deepcopy(enc)
    first = oracle.assistant_messages()[0]
    e.labels[oracle.terminators[first]] = IGNORE_INDEX
    return e


def drop_earlier_content_token(enc: Encoding, oracle: Oracle) -> Encoding:
    """A content token of an earlier assistant turn is lost from the sequence (the rest stays trained)."""
    e = copy.deepcopy(enc)
    first = oracle.assistant_messages()[0]
    pos = next(i for i, t in enumerate(oracle.tokens) if t.message == first and t.role == "content")
    for lst in (e.input_ids, e.labels, e.attention_mask, e.tokens):
        del lst[pos]
    return e


def drop_row(enc: Encoding, oracle: Oracle) -> Encoding:
    """The adapter (or a dataset filter) removes the example from the group without an error or warning."""
    return dataclasses.replace(enc, input_ids=[], labels=[], attention_mask=[], tokens=[], warnings=[],
                               dropped="seeded: a dataset filter removed the row")



def train_tool_result(enc: Encoding, oracle: Oracle) -> Encoding:
    """A tool result is trained as if the assistant had written it (an assistant mask that keys on 'not user')."""
    e = copy.deepcopy(enc)
    for p, t in enumerate(oracle.tokens):
        if t.speaker == "tool":
            e.labels[p] = t.id
    return e


def mask_tool_call(enc: Encoding, oracle: Oracle) -> Encoding:
    """The first assistant turn is a tool call and its call is masked (only prose answers are trained)."""
    e = copy.deepcopy(enc)
    first = oracle.assistant_messages()[0]
    for p, t in enumerate(oracle.tokens):
        if t.message == first and t.role == "content":
            e.labels[p] = IGNORE_INDEX
    return e


def mask_reasoning(enc: Encoding, oracle: Oracle) -> Encoding:
    """The thinking the template keeps in the final turn is masked (the model never learns to reason)."""
    e = copy.deepcopy(enc)
    for p, t in enumerate(oracle.tokens):
        if t.message == oracle.final_message and t.role == "reasoning":
            e.labels[p] = IGNORE_INDEX
    return e


def drop_neighbour(enc: Encoding, oracle: Oracle, trainable: int) -> Encoding:
    """The longer row collated beside the example is removed by a dataset filter, without a word; the oracle
    says it had ``trainable`` tokens to train."""
    return dataclasses.replace(enc, neighbour_dropped="seeded: a dataset filter removed the neighbour row",
                               neighbour_trainable=trainable)
