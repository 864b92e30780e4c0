"""TOK family: train/inference tokenization agree (prompt prefix, round trip, reference sequence)."""

from __future__ import annotations

from conformance.rules.base import (
    Context,
    failed,
    not_applicable,
    passed,
    rule,
    undecidable,
)


@rule("TOK-001", "the prompt's inference tokens are a prefix of the training sequence", ("completion", "last_assistant"))
def prompt_prefix(ctx: Context):
    """At inference the model sees the prompt tokenized alone (with the generation prompt); if training
    tokenized it differently, the answer is learned after a context the model never gets. A BPE merge
    across the join makes this undecidable rather than wrong."""
    want = ctx.ref.prompt_ids
    if not want:
        return not_applicable("no prompt to compare")
    real = [ctx.row.input_ids[p] for p in ctx.row.real_positions()]
    if real[:len(want)] == want:
        return passed(f"{len(want)} prompt tokens match")
    own = next((i for i, (a, b) in enumerate(zip(ctx.ref.ids, want)) if a != b), min(len(ctx.ref.ids), len(want)))
    if ctx.ref.view == "chat" and not ctx.ref.mixed_indices() and own < len(want) and real[:own] == want[:own]:
        # The template itself writes the prompt differently at inference than inside the conversation (a
        # generation prompt ending with '<think>\n' the answer turn lacks; a system prompt folded into the last
        # user turn only): no training sequence can match beyond that, so it is judged up to there.
        return passed(f"{own} prompt tokens match; the chat template itself renders the inference prompt "
                      f"differently from the conversation after token {own} "
                      f"({ctx.decode(want[own:own + 4])!r} vs {ctx.decode(ctx.ref.ids[own:own + 4])!r})")
    if ctx.alignment.truncated:
        return not_applicable("truncated example: the prompt may be cut by max_length")
    d = next((i for i, (a, b) in enumerate(zip(real, want)) if a != b), min(len(real), len(want)))
    evidence = {"at": d, "training": ctx.decode(real[d:d + 4]), "inference": ctx.decode(want[d:d + 4])}
    if ctx.ref.mixed_indices():
        # 1.16: "...is not a prefix of..."; <= 1.0: "Mismatch between tokenized prompt and the start of..."
        warned = [w for w in ctx.row.warnings if "prefix" in w or "Mismatch between tokenized prompt" in w]
        return undecidable(f"prompt and completion merge into one token at the join (position {d}); "
                           f"TRL {'warned' if warned else 'did not warn'}", [d])
    return failed(f"training sequence diverges from the inference prompt at token {d}", [d], **evidence)


@rule("TOK-002", "decode(trained tokens) == completion + EOS", ("completion",))
def trained_roundtrip(ctx: Context):
    """The trained tokens, decoded, must read back as exactly the completion text and its EOS."""
    if ctx.ref.view != "string":
        return not_applicable("round trip is defined for string completions")
    if ctx.alignment.truncated:
        return not_applicable("truncated example")
    if ctx.ref.mixed_indices():
        return undecidable("a token spans the prompt/completion join", ctx.ref.mixed_indices())
    want_ids = [t.id for t in ctx.ref.tokens if t.role in ("completion", "eos")]
    got_ids = [ctx.row.input_ids[p] for p in ctx.row.real_positions() if ctx.trained(p)]
    want, got = ctx.decode(want_ids), ctx.decode(got_ids)
    if got != want:
        return failed("trained text differs from completion + EOS", expected=want, trained=got)
    return passed()


@rule("TOK-003", "the token sequence equals the reference rendering (nothing inserted or lost)")
def sequence_matches_reference(ctx: Context):
    """Any token TRL adds (a second BOS, an EOS after an EOT, a generation prompt) or drops relative
    to the template/tokenizer reference changes what the model learns."""
    extra = [p for p, o in ctx.alignment.to_ref.items() if o is None]
    missing = [] if ctx.alignment.truncated else ctx.alignment.missing
    if extra or missing:
        parts = []
        if extra:
            parts.append(f"{len(extra)} inserted")
        if missing:
            parts.append(f"{len(missing)} missing")
        return failed(f"sequence differs from the reference: {', '.join(parts)}", sorted(extra),
                      inserted=ctx.show(sorted(extra)),
                      missing=[ctx.decode([ctx.ref.tokens[i].id]) for i in missing[:8]])
    return passed()
