"""MASK family: labels are -100 or the token itself; prompt masked, completion trained, padding never trained."""

from __future__ import annotations

from conformance.rules.base import (
    MASKED_SCOPES,
    Context,
    failed,
    not_applicable,
    passed,
    rule,
)
from conformance.rules.data import IGNORE_INDEX, MIXED


@rule("MASK-001", "labels are -100 or equal input_ids at the same position (not pre-shifted)")
def labels_unshifted(ctx: Context):
    """Causal-LM models shift labels themselves; labels shifted in the data are trained one token off."""
    ids, labels = ctx.row.input_ids, ctx.row.labels
    bad = [p for p, (i, lab) in enumerate(zip(ids, labels)) if lab != IGNORE_INDEX and lab != i]
    if len(ids) != len(labels):
        return failed(f"{len(labels)} labels for {len(ids)} input ids")
    if bad:
        shifted = sum(1 for p in bad if p + 1 < len(ids) and labels[p] == ids[p + 1])
        hint = " (labels look pre-shifted by one)" if shifted >= len(bad) / 2 else ""
        return failed(f"{len(bad)} label(s) differ from the input id at their position{hint}", bad,
                      tokens=ctx.show(bad))
    return passed()


def _forbidden(ctx: Context) -> tuple[list[int], list[int]]:
    """Positions that must be -100 under the scope, and undecidable positions."""
    scope = ctx.row.loss_scope
    forbidden, unsure = [], []
    for p in ctx.row.real_positions():
        t = ctx.oracle_token(p)
        if t is None:
            continue
        if t.role == MIXED:
            unsure.append(p)
        elif t.role == "bos":
            forbidden.append(p)
        elif ctx.ref.view == "string":
            if t.role == "prompt":
                forbidden.append(p)
        elif scope == "assistant":
            if t.speaker in ("system", "user", "tool"):
                forbidden.append(p)
        elif t.message != ctx.final_message():
            forbidden.append(p)
    return forbidden, unsure


@rule("MASK-002", "prompt / system / user / tool-result tokens are -100", MASKED_SCOPES)
def prompt_masked(ctx: Context):
    """On completion-only paths the loss must not include any token of the prompt (system and user
    messages, tool results and definitions, earlier turns of the prompt, BOS). Typed template markers must not
    move this boundary."""
    forbidden, unsure = _forbidden(ctx)
    bad = [p for p in forbidden if ctx.trained(p)]
    note = f"; {len(unsure)} token(s) span the join and are undecidable" if unsure else ""
    if bad:
        return failed(f"{len(bad)} prompt token(s) are trained{note}", bad, tokens=ctx.show(bad))
    return passed(f"{len(forbidden)} prompt tokens masked{note}")


@rule("MASK-003", "every token of the final completion / assistant answer is trained")
def completion_trained(ctx: Context):
    """The answer itself is what SFT teaches; a masked or missing answer token is silently lost. In a
    conversation the answer is the final message's content, its tool calls and the thinking its template keeps."""
    final = ctx.final_message()
    if final is None:
        return not_applicable("the conversation does not end with an assistant message (MULTI-001 covers earlier turns)")
    roles = ("completion",) if ctx.ref.view == "string" else ("content", "reasoning")
    present, unsure, missing = ctx.required_positions(roles, [final])
    if not present and not missing:
        return not_applicable("empty completion: only the end-of-turn token is left to train (EOS-002)")
    untrained = [p for p in present if not ctx.trained(p)]
    if missing:
        also = f"; {len(untrained)} present one(s) have label -100" if untrained else ""
        return failed(f"{len(missing)} completion token(s) are missing from the sequence{also}",
                      untrained, missing_tokens=[ctx.decode([ctx.ref.tokens[i].id]) for i in missing[:8]])
    if untrained:
        return failed(f"{len(untrained)} of {len(present)} completion token(s) have label -100", untrained,
                      tokens=ctx.show(untrained))
    note = f"; {len(unsure)} undecidable at the join" if unsure else ""
    return passed(f"{len(present)} completion tokens trained{note}")


@rule("MASK-004", "padding positions are never trained")
def pad_not_trained(ctx: Context):
    """Positions with attention_mask 0 are filler; training on them teaches the model to emit padding."""
    pads = [p for p, a in enumerate(ctx.row.attention_mask) if not a]
    if not pads:
        return not_applicable("no padding in this row (longest in its batch or padding-free)")
    bad = [p for p in pads if ctx.trained(p)]
    if bad:
        return failed(f"{len(bad)} padding position(s) are trained", bad, tokens=ctx.show(bad))
    return passed(f"{len(pads)} pad positions masked")


@rule("MASK-005", "an example is never entirely -100 without an error or warning")
def not_all_masked(ctx: Context):
    """A fully masked example contributes nothing; when that happens silently (a response template
    not found, a prompt filling max_length) nobody notices the data is wasted."""
    real = ctx.row.real_positions()
    if any(ctx.trained(p) for p in real):
        return passed()
    about = [w for w in ctx.row.warnings if any(k in w.lower() for k in MASKING_WARNINGS)]
    if about:
        return passed(f"fully masked, but TRL warned: {about[0][:160]}")
    other = f" (its {len(ctx.row.warnings)} warning(s) are about something else)" if ctx.row.warnings else ""
    return failed(f"all {len(real)} labels are -100 and TRL raised no error or warning about it{other}", real[:8],
                  warnings=ctx.row.warnings[:3])


# What a warning must say to count as telling the user that an example trains nothing. TRL's SFT
# preparation warns per dataset, not per row, so an unrelated warning (a prompt/prefix mismatch of
# another example) must not excuse a silently wasted row.
MASKING_WARNINGS = ("could not find response key", "could not find instruction key", "ignored in loss",
                    "will be ignored", "fully masked", "no assistant tokens", "all tokens to be masked",
                    "no completion tokens", "labels are -100")
