"""EOS family: the completion ends with the end-of-turn token the model emits at inference, and it is trained."""

from __future__ import annotations

from conformance.rules.base import Context, failed, not_applicable, passed, rule


def _terminator(ctx: Context):
    """(encoding position, oracle index) of the final terminator, or a Verdict saying why there is none."""
    final = ctx.final_message()
    if final is None:
        return not_applicable("the conversation does not end with an assistant message")
    idx = ctx.ref.terminators.get(final)
    if idx is None:
        return not_applicable(f"the reference render has no end-of-turn token {ctx.ref.eot_token!r} after the "
                              "final answer (the template itself never terminates it)")
    pos = ctx.position_of(idx)
    if pos is None and ctx.lost_to_truncation(idx):
        return not_applicable("the end-of-turn token was cut by max_length (truncated example)")
    return pos, idx


@rule("EOS-001", "the final completion/assistant turn ends with the end-of-turn token")
def eot_present(ctx: Context):
    """The token that ends the answer at inference (template EOT such as ``<|im_end|>``, ``<end_of_turn>``,
    ``<|eot_id|>``, or ``eos_token`` for plain text) must be in the sequence right after the answer.
    Without it the model never sees where an answer stops."""
    found = _terminator(ctx)
    if not isinstance(found, tuple):
        return found
    pos, _ = found
    if pos is None:
        tail = ctx.row.real_positions()[-6:]
        return failed(f"end-of-turn token {ctx.ref.eot_token!r} is missing after the final answer",
                      tail, expected_token=ctx.ref.eot_token, tail=ctx.show(tail))
    return passed(f"{ctx.ref.eot_token!r} at position {pos}")


@rule("EOS-002", "the final end-of-turn token is trained (label != -100)")
def eot_trained(ctx: Context):
    """The end-of-turn token must carry its own id as label, also when ``pad_token == eos_token``
    (a collator that masks every pad id masks the real EOS too)."""
    found = _terminator(ctx)
    if not isinstance(found, tuple):
        return found
    pos, _ = found
    if pos is None:
        return not_applicable("no end-of-turn token in the sequence (EOS-001 reports it)")
    if not ctx.trained(pos):
        pad_note = ""
        if ctx.ref.eot_id is not None and ctx.row.input_ids[pos] == ctx.ref.eot_id and \
                ctx.row.pad_token_id == ctx.ref.eot_id:
            pad_note = " (pad_token_id == end-of-turn id: masked as if it were padding)"
        return failed(f"end-of-turn token at position {pos} has label -100{pad_note}", [pos], token=ctx.show([pos]))
    return passed(f"trained at position {pos}")
