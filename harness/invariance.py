"""Batch invariance: an example's trained tokens must not depend on what it is batched with.

Compared on real tokens only (attention 1), in order, so padding on either side and its length
do not matter, but a label that moves, appears or disappears does.
"""

from __future__ import annotations

from harness.encoding import Encoding


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


def segment_difference(alone: Encoding, segments: list[tuple[list[int], list[int]]]) -> str | None:
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
    found = [seg_labels[k:k + n] for seg_ids, seg_labels in segments
             for k in range(len(seg_ids) - n + 1) if seg_ids[k:k + n] == ids]
    if not found:
        return f"no example of the batch has its {n} token ids (cut, merged or re-tokenized)"
    if any(seg[1:] == labels[1:] for seg in found):
        return None
    seg = found[0]
    at = next(k for k in range(1, n) if seg[k] != labels[k])
    return f"label of token {at} (id {ids[at]}) is {seg[at]} here, {labels[at]} when collated alone"
