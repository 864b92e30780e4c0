"""MOD family, batch level: documents that share a packed or padding-free row stay apart.

A causal LM computes its loss after an internal shift: the logits at position ``k - 1`` are
scored against ``labels[k]``. In a row that holds several documents, ``labels[k]`` at the first
token of a document is therefore a target predicted from the *previous* document's last token.

- ``MOD-002`` (boundary): at every document start that is not the start of its row, the label
  is -100, so no document's first token is learned from the document before it.
- ``MOD-003`` (isolation): at every such start the batch carries something that makes attention
  restart: ``position_ids`` that restart at 0 (what a varlen / flash attention or transformers'
  packed-sequence masking consumes) or explicit ``cu_seq_lens``/``seq_lengths``. A row with
  neither lets every document attend to the ones before it.

``MOD-001`` (labels survive the modifier) is ``harness/pipeline/invariance.py``: it compares each example
with itself collated alone. Standard library only, like every rules module.
"""

from __future__ import annotations

from dataclasses import dataclass

from conformance.rules.base import failed, not_applicable, passed
from conformance.rules.data import IGNORE_INDEX, Verdict

MIN_CUT_MATCH = 8  # a document cut at the end of a row is recognised by at least this many of its first tokens


@dataclass
class PackedRow:
    """One row of a packed / padding-free batch as the collator returned it."""

    input_ids: list[int]
    labels: list[int]
    attention_mask: list[int]
    position_ids: list[int] | None = None
    boundaries: list[int] | None = None  # document starts the batch marks explicitly (cu_seq_lens, seq_lengths)


@dataclass(frozen=True)
class BatchRule:
    id: str
    title: str
    check: object
    doc: str = ""

    def __call__(self, rows: list[PackedRow], documents: dict[str, list[int]]) -> Verdict:
        verdict = self.check(rows, documents)
        verdict.rule = self.id
        return verdict


BATCH_RULES: dict[str, BatchRule] = {}


def batch_rule(rule_id: str, title: str):
    def wrap(fn):
        BATCH_RULES[rule_id] = BatchRule(rule_id, title, fn, (fn.__doc__ or "").strip())
        return fn

    return wrap


@dataclass(frozen=True)
class DocumentIndex:
    """The documents of a batch as ``document_starts`` looks them up, built once per batch rather than once per
    row: each distinct token sequence (with the first id that has it), the sequences by their first token, and
    every (sequence, offset >= 1) by the token at that offset (where a cut document's continuation may begin)."""

    distinct: dict[tuple, str]
    by_first: dict[int, list[tuple]]
    by_inner: dict[int, list[tuple[tuple, int]]]


def document_index(documents: dict[str, list[int]]) -> DocumentIndex:
    distinct: dict[tuple, str] = {}
    for doc_id, doc in documents.items():
        if doc:
            distinct.setdefault(tuple(doc), doc_id)
    by_first: dict[int, list[tuple]] = {}
    by_inner: dict[int, list[tuple[tuple, int]]] = {}
    for doc in distinct:
        by_first.setdefault(doc[0], []).append(doc)
        for j in range(1, len(doc)):
            by_inner.setdefault(doc[j], []).append((doc, j))
    return DocumentIndex(distinct, by_first, by_inner)


def document_starts(row: PackedRow, documents: dict[str, list[int]],
                    index: DocumentIndex | None = None) -> list[tuple[int, str]]:
    """(position, document id) of each document that starts inside the row after its first real token.

    The row's real tokens are tiled, with the fewest pieces, by: the end (or a middle part) of a
    document cut at the previous row, whole documents, and the beginning of a document cut at the
    row's end. Tiling the whole row keeps a short document from being "found" inside the tail of a
    longer one. Where no tiling exists (tokens merged or re-tokenized by the modifier), documents are
    looked for one by one, whole or cut at the row's end after at least ``MIN_CUT_MATCH`` tokens.
    """
    real = [p for p, a in enumerate(row.attention_mask) if a]
    if not real:
        return []
    lo, hi = real[0], real[-1] + 1
    ids = row.input_ids
    index = index or document_index(documents)
    distinct, by_first = index.distinct, index.by_first
    best: dict[int, tuple[int, int, str | None]] = {}  # end -> (pieces, start, document id or None)

    def relax(end, pieces, start, doc_id):
        if end not in best or pieces < best[end][0]:
            best[end] = (pieces, start, doc_id)

    best[lo] = (0, lo, None)
    head = ids[lo:hi]
    for doc, j in index.by_inner.get(head[0], ()):  # a continuation of a document cut before this row
        tail = doc[j:]
        if list(tail[:len(head)]) == head[:len(tail)]:
            relax(lo + min(len(tail), len(head)), 1, lo, None)
    for k in range(lo, hi):  # in order: every piece ending at k was relaxed from an earlier start
        if k not in best:
            continue
        pieces = best[k][0]
        for doc in by_first.get(ids[k], ()):
            m = min(len(doc), hi - k)
            if list(doc[:m]) == ids[k:k + m]:
                relax(k + m, pieces + 1, k, distinct[doc])
    if hi not in best:
        return _starts_one_by_one(ids, lo, hi, documents)
    starts, end = [], hi
    while end > lo:
        _, start, doc_id = best[end]
        if doc_id is not None and start > lo:
            starts.append((start, doc_id))
        if start == end:
            break
        end = start
    return sorted(starts)


def _starts_one_by_one(ids, lo, hi, documents) -> list[tuple[int, str]]:
    taken = [False] * len(ids)
    at: dict[int, list[int]] = {}  # token id -> its positions in the row, in order (a document is tried only there)
    for k in range(lo, hi):
        at.setdefault(ids[k], []).append(k)
    # A position that failed a sequence fails it for good (``taken`` only grows), so each distinct sequence
    # goes on from where its last look stopped: copies of one document cost one scan of the row, not one each.
    resume: dict[tuple, int] = {}
    starts = []
    for doc_id, doc in sorted(documents.items(), key=lambda kv: -len(kv[1])):
        n = len(doc)
        if not n:
            continue
        key = tuple(doc)
        positions = at.get(doc[0], ())
        i = resume.get(key, 0)
        while i < len(positions):
            k = positions[i]
            i += 1
            if taken[k]:
                continue
            m = min(n, hi - k)
            if (m == n or m >= MIN_CUT_MATCH) and ids[k:k + m] == doc[:m] and not any(taken[k:k + m]):
                taken[k:k + m] = [True] * m
                starts.append((k, doc_id))
                break
        resume[key] = i
    return sorted((k, d) for k, d in starts if k > lo)


@batch_rule("MOD-002", "no document's first token is trained as a prediction from the previous document")
def boundary_masked(rows: list[PackedRow], documents: dict[str, list[int]]) -> Verdict:
    """After the model's shift, ``labels[k]`` at a document start is scored against the logits of the
    previous document's last token: training it teaches the model to continue one document with the
    next. Packing and padding-free collators must set it to -100 (TRL's ``labels[position_ids == 0]
    = -100``)."""
    index = document_index(documents)
    starts = [(r, k, d) for r, row in enumerate(rows) for k, d in document_starts(row, documents, index)]
    if not starts:
        return not_applicable("no row holds more than one document")
    bad = [(r, k, d) for r, k, d in starts if rows[r].labels[k] != IGNORE_INDEX]
    if bad:
        r, k, d = bad[0]
        return failed(f"{len(bad)} of {len(starts)} document starts are trained targets predicted from the previous "
                      f"document (first: {d} at row {r} position {k}, label {rows[r].labels[k]})",
                      [k for _, k, _ in bad], starts=[f"row {r} pos {k}: {d}" for r, k, d in bad[:8]])
    return passed(f"{len(starts)} document starts masked")


def _separator(row: PackedRow, k: int) -> str | None:
    if row.boundaries is not None and k in row.boundaries:
        return "cu_seq_lens"
    if row.position_ids is not None and row.position_ids[k] == 0:
        return "position_ids restart"
    return None


@batch_rule("MOD-003", "documents sharing a row do not attend to each other")
def documents_isolated(rows: list[PackedRow], documents: dict[str, list[int]]) -> Verdict:
    """Every document start inside a row must be marked for the attention: ``position_ids`` restarting
    at 0 (consumed by flash / varlen attention and by transformers' packed-sequence masks) or
    explicit sequence boundaries. Without either, a document attends to every document before it in
    the row and its positions continue from theirs."""
    index = document_index(documents)
    starts = [(r, k, d) for r, row in enumerate(rows) for k, d in document_starts(row, documents, index)]
    if not starts:
        return not_applicable("no row holds more than one document")
    marks = [_separator(rows[r], k) for r, k, _ in starts]
    bad = [s for s, m in zip(starts, marks) if m is None]
    if bad:
        r, k, d = bad[0]
        has = "position_ids that do not restart" if rows[r].position_ids is not None else "no position_ids"
        return failed(f"{len(bad)} of {len(starts)} document starts are not separated ({has}, no sequence "
                      f"boundaries): the documents attend to each other (first: {d} at row {r} position {k})",
                      [k for _, k, _ in bad], starts=[f"row {r} pos {k}: {d}" for r, k, d in bad[:8]])
    return passed(f"{len(starts)} document starts separated by {', '.join(sorted(set(marks)))}")
