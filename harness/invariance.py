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
