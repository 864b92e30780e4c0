"""Print one Encoding token by token, coloured by label, like axolotl's ``preprocess --debug``.

Green: trained (label == id). Red: masked (-100). Grey: padding (attention 0). Each token is
shown as ``text(id, label)``; ``--plain`` gives one line per token for terminals without colour.
"""

from __future__ import annotations

from harness.pipeline.encoding import IGNORE_INDEX, Encoding

GREEN, RED, GREY, RESET = "\033[32m", "\033[31m", "\033[90m", "\033[0m"


def escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")


def kind(enc: Encoding, pos: int) -> str:
    if not enc.attention_mask[pos]:
        return "pad"
    return "masked" if enc.labels[pos] == IGNORE_INDEX else "trained"


def render(enc: Encoding, colour: bool = True, roles: list[str] | None = None) -> str:
    """Inline coloured chips, or (colour=False) a table of position, id, token, label, role."""
    if not enc.ok:
        return f"{enc.tokenizer_id} / {enc.path} / {enc.case_id}: {enc.refused or enc.dropped}"
    head = (f"{enc.tokenizer_id} / {enc.path} / {enc.case_id}   loss scope: {enc.loss_scope}   "
            f"trl {enc.provenance.get('trl')}  transformers {enc.provenance.get('transformers')}")
    if not colour:
        rows = [head, f"{'pos':>4} {'id':>7} {'label':>7}  {'kind':7}  {'role':14} token"]
        for p, (i, lab) in enumerate(zip(enc.input_ids, enc.labels)):
            role = roles[p] if roles else ""
            rows.append(f"{p:4d} {i:7d} {('-100' if lab == IGNORE_INDEX else str(lab)):>7}  {kind(enc, p):7}  "
                        f"{role:14} {escape(enc.tokens[p])!s}")
        return "\n".join(rows)
    colours = {"trained": GREEN, "masked": RED, "pad": GREY}
    chips = []
    for p, (i, lab) in enumerate(zip(enc.input_ids, enc.labels)):
        label = "-100" if lab == IGNORE_INDEX else str(lab)
        chips.append(f"{colours[kind(enc, p)]}{escape(enc.tokens[p])}({i}, {label}){RESET}")
    legend = f"{GREEN}trained{RESET} {RED}masked{RESET} {GREY}pad{RESET}"
    return f"{head}\n{legend}\n" + " ".join(chips)
