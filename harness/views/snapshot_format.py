"""The text form of an Encoding stored as a syrupy snapshot: one line per token, diff-friendly.

Library versions are deliberately absent so that a behaviour change between TRL releases
shows up as a snapshot diff; the tokenizer is named by id and content hash. Everything is
plain text built in a fixed order, so two runs (or two machines) give identical bytes.
"""

from __future__ import annotations

from pathlib import Path

from harness.pipeline.encoding import IGNORE_INDEX, Encoding
from harness.views.show import escape

MASK = "·masked"
SNAPSHOT_DIR = Path(__file__).resolve().parents[2] / "snapshots"
TAKEN_WITH = SNAPSHOT_DIR / "TAKEN_WITH"


def target_line() -> str:
    """The TRL version the suite targets: the one the committed snapshots were taken with
    (``snapshots/TAKEN_WITH``); empty when there are none."""
    return TAKEN_WITH.read_text(encoding="utf-8").split()[1] if TAKEN_WITH.exists() else ""


def serialize(enc: Encoding, tokenizer_hash: str) -> str:
    lines = [
        f"# tokenizer: {enc.tokenizer_id} (content hash {tokenizer_hash})",
        f"# path: {enc.path}",
        f"# case: {enc.case_id}",
    ]
    if enc.refused:
        return "\n".join(lines + [f"# refused: {enc.refused}"]) + "\n"
    if enc.dropped:
        return "\n".join(lines + [f"# dropped: {enc.dropped}"]) + "\n"
    if enc.unjudged:
        return "\n".join(lines + [f"# unjudged: {enc.unjudged}"]) + "\n"
    trained = sum(1 for x in enc.labels if x != IGNORE_INDEX)
    lines.append(f"# loss scope: {enc.loss_scope}; tokens: {len(enc.input_ids)}; attended: "
                 f"{sum(enc.attention_mask)}; trained: {trained}")
    lines.append(f"# {'pos':>4} {'id':>7} att {'label':>8}  token")
    rows = list(enumerate(zip(enc.input_ids, enc.attention_mask, enc.labels)))
    k = 0
    while k < len(rows):
        p, (i, a, lab) = rows[k]
        label = MASK if lab == IGNORE_INDEX else ("=id" if lab == i else str(lab))
        run = k
        while not a and run + 1 < len(rows) and rows[run + 1][1] == (i, a, lab):
            run += 1
        if run > k:  # a run of identical padding positions: one line
            lines.append(f"  {p:4d} {i:7d} {a:3d} {label:>8}  {escape(enc.tokens[p])}  x{run - k + 1} (to {run})")
        else:
            lines.append(f"  {p:4d} {i:7d} {a:3d} {label:>8}  {escape(enc.tokens[p])}")
        k = run + 1
    return "\n".join(lines) + "\n"
