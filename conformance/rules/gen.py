"""GEN family: no generation prompt after the final turn; assistant headers are context, not targets."""

from __future__ import annotations

from conformance.rules.base import MASKED_SCOPES, Context, failed, not_applicable, passed, rule


@rule("GEN-001", "no generation prompt (assistant header) after the final assistant turn")
def no_trailing_generation_prompt(ctx: Context):
    """Rendering a finished conversation with ``add_generation_prompt=True`` appends an empty assistant
    header; trained, it teaches the model to open a new turn after answering."""
    if ctx.ref.view != "chat":
        return not_applicable("plain text has no generation prompt")
    header = (ctx.ref.generation_prompt or "").strip()
    if not header:
        return not_applicable("the chat template has no generation prompt after the final assistant turn")
    real = ctx.row.real_positions()
    aligned = [p for p in real if ctx.alignment.to_ref.get(p) is not None]
    tail = [p for p in real if aligned and p > aligned[-1]]
    text = ctx.decode([ctx.row.input_ids[p] for p in tail])
    if header in text:
        trained = [p for p in tail if ctx.trained(p)]
        return failed(f"{len(tail)} token(s) after the final turn spell the generation prompt {header!r}"
                      f" ({len(trained)} of them trained)", tail, tail=ctx.show(tail))
    return passed()


@rule("GEN-002", "assistant header tokens are masked (-100)", MASKED_SCOPES)
def header_masked(ctx: Context):
    """The assistant header (``<|im_start|>assistant\\n``) is given to the model at inference by
    ``add_generation_prompt=True``; the masked prompt must end where that rendering ends."""
    if ctx.ref.view != "chat":
        return not_applicable("plain text has no assistant header")
    bad, seen, scoped = [], 0, ctx.scoped_messages()
    for m in scoped:
        present, _, missing = ctx.required_positions(("header",), [m])
        bad += [p for p in present if ctx.trained(p)]
        seen += len(present) + len(missing)
    if not seen and ctx.alignment.truncated and any(t.role == "header" and t.message in scoped for t in ctx.ref.tokens):
        return not_applicable("the assistant header was cut by max_length: nothing left to judge")
    if bad:
        return failed(f"{len(bad)} assistant-header token(s) are trained", bad, tokens=ctx.show(bad))
    return passed()
