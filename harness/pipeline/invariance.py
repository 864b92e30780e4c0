"""Batch invariance: an example's trained tokens must not depend on what it is batched with.

Compared on real tokens only (attention 1), in order, so padding on either side and its length
do not matter, but a label that moves, appears or disappears does. The same holds when a
modifier (padding-free, packing) lays examples out in a batch: each example, or each piece of
one where the modifier cuts, is found again with the labels it has collated alone.
"""

from __future__ import annotations

import dataclasses

from harness.pipeline.encoding import Encoding


def trained_view(enc: Encoding) -> list[tuple[int, int]]:
    """(id, label) of every real token, in order."""
    return [(i, lab) for i, lab, a in zip(enc.input_ids, enc.labels, enc.attention_mask) if a]


def variant_differences(variants: dict[str, Encoding], reference: str = "alone") -> list[str]:
    """One line per variant whose real tokens or labels differ from the example collated alone."""
    base = trained_view(variants[reference])
    out = []
    for name, enc in variants.items():
        view = trained_view(enc)
        if view == base:
            continue
        at = next((k for k, (a, b) in enumerate(zip(view, base)) if a != b), min(len(view), len(base)))
        out.append(f"{name}: real token {at} is {view[at] if at < len(view) else 'absent'}, alone it is "
                   f"{base[at] if at < len(base) else 'absent'} ({len(view)} vs {len(base)} real tokens)")
    return out


def segment_difference(alone: Encoding, segments: list[tuple[list[int], list[int]]],
                       index: dict | None = None) -> str | None:
    """Why no example of a packed / padding-free batch is ``alone`` with the same labels, or None.

    Examples are found by content: a segment equal to the example's token ids or, where the
    collator marks no boundaries (TRL 0.19 returns no ``position_ids`` without flash attention),
    the ids as a contiguous run of a longer row. The first label of an example is ignored: the
    model shifts labels, so position 0 is never a target alone, and in a packed row TRL masks it
    so that no example is predicted from the one before.
    """
    view = trained_view(alone)
    ids, labels = [i for i, _ in view], [lab for _, lab in view]
    n = len(ids)
    found = (index or {}).get(tuple(ids)) or [
        seg_labels[k:k + n] for seg_ids, seg_labels in segments
        for k in range(len(seg_ids) - n + 1) if seg_ids[k:k + n] == ids]
    if not found:
        return f"no example of the batch has its {n} token ids (cut, merged or re-tokenized)"
    if any(seg[1:] == labels[1:] for seg in found):
        return None
    seg = found[0]
    at = next(k for k in range(1, n) if seg[k] != labels[k])
    return f"label of token {at} (id {ids[at]}) is {seg[at]} here, {labels[at]} when collated alone"


@dataclasses.dataclass
class PackedBatch:
    """One dataset's examples as a modifier laid them out in a batch.

    ``pieces``: (ids, labels) of each run of real tokens between sequence starts (a row, or a
    part of a row between ``position_ids`` restarts). ``cuts``: pieces may be parts of examples
    (wrapped, bfd_split, ``ConstantLengthDataset``) rather than whole ones; ``spans``: a piece may
    also run across examples (wrapped, ``ConstantLengthDataset``: they attend to each other by
    design), where bfd_split keeps each piece inside one example. ``separator``: a token the
    modifier puts after every example; ``drops_tail``: how many of the stream's last tokens may
    be in no piece (a final chunk shorter than the packing length is not yielded).
    """

    case_ids: list[str]
    pieces: list[tuple[list[int], list[int]]]
    rows: list = dataclasses.field(default_factory=list)  # conformance.rules.PackedRow per batch row (MOD-002/003)
    cuts: bool = False
    spans: bool = False
    separator: int | None = None
    drops_tail: int = 0


def packed_differences(batch: PackedBatch, alone: dict[str, Encoding]) -> dict[str, str]:
    """Case id -> why its tokens or labels in ``batch`` are not those it has collated alone."""
    if not batch.cuts:
        index: dict[tuple, list[list[int]]] = {}  # whole pieces by their ids: one lookup per example
        for seg_ids, seg_labels in batch.pieces:
            index.setdefault(tuple(seg_ids), []).append(seg_labels)
        return {cid: d for cid in batch.case_ids if (d := segment_difference(alone[cid], batch.pieces, index))}
    return stream_differences(batch, alone)


def stream_differences(batch: PackedBatch, alone: dict[str, Encoding]) -> dict[str, str]:
    """For modifiers that cut: every piece must be a run of examples with their labels, and every
    token of every example must be in a piece (tokens dropped are data lost).

    An example is its real tokens with the labels it has collated alone, then the separator. A
    piece is a run across examples in any order (``ConstantLengthDataset`` shuffles them from
    0.11): the end of one example, whole examples, the start of another. A label is not compared
    where it cannot agree by design: the first of a piece (nothing before it in the row, and TRL
    may mask it) and the first of an example (alone it has no context; packed it is predicted from
    the example before), nor on a separator, which no example has alone.
    """
    units: list[list[tuple[int, int | None, str, int]]] = []  # per example: (id, label or None, case id, position)
    for cid in batch.case_ids:
        unit = [(i, None if k == 0 else lab, cid, k) for k, (i, lab) in enumerate(trained_view(alone[cid]))]
        if batch.separator is not None:
            unit.append((batch.separator, None, cid, -1))
        units.append(unit)
    covered = [[False] * len(u) for u in units]
    out: dict[str, str] = {}
    # longest first: a long piece has one place, a one-token piece (the end of a cut example) many,
    # and it must take the place the long ones left free
    for piece_ids, piece_labels in sorted(batch.pieces, key=lambda p: -len(p[0])):
        places = _placements(units, piece_ids, across=batch.spans)
        if not places and not batch.spans and (crossed := _runs_across(units, piece_ids)):
            out.setdefault(crossed[0], f"a packed sequence of {len(piece_ids)} tokens runs across {len(crossed)} "
                                       f"examples ({', '.join(crossed)}) with no position_ids restart between "
                                       "them, so they attend to each other")
            continue
        if not places:
            cid, at, m = _best_partial(units, piece_ids)
            out.setdefault(cid, f"a packed piece of {len(piece_ids)} tokens is no run of the examples' tokens: "
                                f"its first {m} match from token {at} of {cid}, then "
                                f"{piece_ids[m] if m < len(piece_ids) else 'nothing'} (merged or re-tokenized)")
            continue
        wrong = [_wrong_label(units, pl, piece_labels) for pl in places]
        good = [pl for pl, w in zip(places, wrong) if w is None]
        free = [pl for pl in good if not any(covered[u][o + j] for u, o, _, n in pl for j in range(n))]
        chosen = (free or good or places)[0]
        for u, o, _, n in chosen:
            covered[u][o:o + n] = [True] * n
        if not good:  # chosen is places[0]: report its first wrong label
            u, o, k = wrong[0]
            tid, lab, cid, pos = units[u][o]
            out.setdefault(cid, f"label of token {pos} (id {tid}) is {piece_labels[k]} packed, {lab} when collated alone")
    # loss is counted, not placed: a run that occurs in two examples may be placed in the wrong one
    extra = sum(len(p[0]) for p in batch.pieces) - sum(len(u) for u in units)
    if extra > 0:
        out.setdefault(batch.case_ids[0], f"the packed pieces hold {extra} tokens more than the examples (duplicated)")
    elif -extra > batch.drops_tail:
        lost = {units[u][0][2]: sum(1 for c in cov if not c) for u, cov in enumerate(covered) if not all(cov)}
        for cid, count in (lost or {batch.case_ids[0]: -extra}).items():
            out.setdefault(cid, f"{count} of its tokens are in no packed piece (dropped)")
    return out


def _placements(units, piece: list[int], across: bool = True, limit: int = 64) -> list[list[tuple[int, int, int, int]]]:
    """Ways ``piece`` is a run of examples: lists of (example, offset in it, offset in piece, length),
    the first starting anywhere in an example, each next one (only ``across`` examples) at the start
    of an example."""
    n = len(piece)
    found: list[list[tuple[int, int, int, int]]] = []

    def extend(k: int, done: list) -> None:
        if len(found) >= limit:
            return
        for u, unit in enumerate(units):
            if unit and unit[0][0] == piece[k]:
                length = min(len(unit), n - k)
                if not all(unit[j][0] == piece[k + j] for j in range(length)):
                    continue
                step = [*done, (u, 0, k, length)]
                if k + length == n:
                    found.append(step)
                else:
                    extend(k + length, step)

    for u, unit in enumerate(units):
        for o, tok in enumerate(unit):
            if tok[0] != piece[0]:
                continue
            length = min(len(unit) - o, n)
            if all(unit[o + j][0] == piece[j] for j in range(length)):
                if length == n:
                    found.append([(u, o, 0, length)])
                elif across:
                    extend(length, [(u, o, 0, length)])
            if len(found) >= limit:
                return found
    return found


def _longest_run(units, piece: list[int], k: int) -> tuple[int, tuple | None]:
    """(length, first token) of the longest run of ``piece[k:]`` found anywhere in one example."""
    best: tuple[int, tuple | None] = (0, None)
    for unit in units:
        for o in range(len(unit)):
            m = 0
            while k + m < len(piece) and o + m < len(unit) and unit[o + m][0] == piece[k + m]:
                m += 1
            if m > best[0]:
                best = (m, unit[o])
    return best


def _runs_across(units, piece: list[int]) -> list[str]:
    """The case ids of the examples ``piece`` is cut from when it is runs of several, each starting
    anywhere (the longest run first); empty when it is not."""
    k, cids = 0, []
    while k < len(piece):
        m, tok = _longest_run(units, piece, k)
        if not m:
            return []
        k += m
        cids.append(tok[2])
    return cids if len(cids) > 1 else []


def _wrong_label(units, placement, piece_labels) -> tuple[int, int, int] | None:
    """(example, offset in it, offset in the piece) of the first token whose packed label differs
    from its label alone."""
    for u, o, start, n in placement:
        for j in range(n):
            lab = units[u][o + j][1]
            if start + j > 0 and lab is not None and piece_labels[start + j] != lab:
                return u, o + j, start + j
    return None


def _best_partial(units, piece: list[int]) -> tuple[str, int, int]:
    """(case id, position, length) of the longest prefix of ``piece`` found in one example."""
    m, tok = _longest_run(units, piece, 0)
    return (tok[2], tok[3], m) if tok else ("?", 0, 0)


def documents(batch: PackedBatch, alone: dict[str, Encoding]) -> dict[str, list[int]]:
    """Each example's real token ids as collated alone (plus the separator a modifier appends): what
    the batch rules (MOD-002/003) look for in a packed row."""
    out = {}
    for cid in batch.case_ids:
        ids = [i for i, _ in trained_view(alone[cid])]
        out[cid] = ids + ([batch.separator] if batch.separator is not None else [])
    return out


def token_count_difference(batch: PackedBatch, alone: dict[str, Encoding]) -> str | None:
    """For modifiers that cut: the pieces hold exactly the examples' tokens (as a multiset), less at most
    the tail a modifier is allowed to drop. Cheap enough for thousands of examples, and sensitive to
    packing that reads the wrong offsets of a sliced column."""
    from collections import Counter

    want = Counter(i for cid in batch.case_ids for i, _ in trained_view(alone[cid]))
    if batch.separator is not None:
        want[batch.separator] += len(batch.case_ids)
    got = Counter(i for ids, _ in batch.pieces for i in ids)
    extra, lost = got - want, want - got
    if extra:
        return f"the packed rows hold {sum(extra.values())} tokens that are in no example"
    if sum(lost.values()) > batch.drops_tail:
        return f"{sum(lost.values())} of the examples' tokens are in no packed row"
    return None
