"""BOS family: at most one BOS, at the start, exactly where the reference rendering has one."""

from __future__ import annotations

from conformance.rules.base import Context, failed, not_applicable, passed, rule


def _bos_id(ctx: Context):
    bos = ctx.ref.bos_id
    if bos is None:
        return None, not_applicable("tokenizer has no BOS token")
    if bos in (ctx.ref.eot_id, ctx.row.eos_token_id,
               ctx.row.pad_token_id):
        return None, not_applicable("BOS shares its id with EOS/EOT/pad; BOS tokens cannot be told apart")
    return bos, None


@rule("BOS-001", "no BOS beyond those of the reference rendering (one, at the start, for most templates)")
def single_bos(ctx: Context):
    """A template that writes ``{{ bos_token }}`` re-encoded with ``add_special_tokens=True`` gets two
    BOS tokens; the model never saw that at pre-training. Templates that open every turn with BOS
    (Llama-2 ``<s>[INST]``) are their own reference: only BOS tokens beyond theirs count."""
    bos, na = _bos_id(ctx)
    if na:
        return na
    real = ctx.row.real_positions()
    hits = [p for p in real if ctx.row.input_ids[p] == bos]
    reference = [i for i, t in enumerate(ctx.ref.tokens) if t.id == bos]
    if len(hits) > max(1, len(reference)):
        return failed(f"{len(hits)} BOS tokens at positions {hits[:6]}; the reference rendering has "
                      f"{len(reference)}", hits, tokens=ctx.show(hits))
    # A BOS inside the row is stray only where the reference has none or one, at its start: a template that opens
    # every turn with its BOS (SmolLM2's <|im_start|>) keeps later turn openers in a row cut on the left.
    if hits and hits[0] != real[0] and (not reference or reference == [0]):
        return failed(f"BOS at position {hits[0]}, not at the start", hits, tokens=ctx.show(hits))
    return passed()


@rule("BOS-002", "the sequence starts with BOS exactly when the reference rendering does")
def bos_as_reference(ctx: Context):
    """The reference (chat template render, or the tokenizer's own special tokens for plain text)
    decides whether a BOS opens the sequence; a missing or added BOS shifts every position the
    model was pre-trained on."""
    bos, na = _bos_id(ctx)
    if na:
        return na
    real = ctx.row.real_positions()
    if not real:
        return not_applicable("empty sequence")
    want = bool(ctx.ref.tokens) and ctx.ref.tokens[0].id == bos
    has = ctx.row.input_ids[real[0]] == bos
    if want and not has:
        return failed("the reference starts with BOS but the sequence does not", real[:1], first=ctx.show(real[:1]))
    if has and not want:
        return failed("the sequence starts with a BOS the reference does not have", real[:1],
                      first=ctx.show(real[:1]))
    return passed()
