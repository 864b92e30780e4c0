"""DROP family: no example vanishes unjudged. Every input row reaches the batch or TRL refuses it."""

from __future__ import annotations

from conformance.rules.base import (
    Context,
    expected_trained,
    failed,
    not_applicable,
    passed,
    rule,
    undecidable,
)
from conformance.rules.data import Reference


def trainable_within(ref: Reference, scope: str) -> list[int]:
    """Reference indices ``scope`` trains that fit in the reference's ``max_length`` (the first token is never
    a target): what a removed row, the example's or the neighbour's beside it, had to teach."""
    cap = ref.max_length
    return [i for i in expected_trained(ref, scope) if i > 0 and (cap is None or i < cap)]


def _trainable(ctx: Context) -> list[int]:
    return trainable_within(ctx.ref, ctx.row.loss_scope)


def _within(ctx: Context) -> str:
    return f"within max_length {ctx.ref.max_length}" if ctx.ref.max_length is not None else "(no max_length)"


def _warned(ctx: Context) -> str:
    return (f"TRL warned: {ctx.row.warnings[0][:160]}" if ctx.row.warnings
            else "TRL raised no error and logged no warning")


@rule("DROP-001", "an example with something to train is never removed without an error", judges_missing_rows=True)
def not_dropped(ctx: Context):
    """Every input example either reaches the collated batch or TRL refuses it with an exception.
    A dataset filter, a truncation or a packing step that removes a row without raising loses
    training data silently; the evidence says what the oracle says should have been trained."""
    if ctx.row.refused:
        return passed(f"TRL refused the input with an error: {ctx.row.refused[:160]}")
    if ctx.row.dropped:
        trainable = _trainable(ctx)
        if not trainable:
            return not_applicable("nothing trainable was left within max_length (DROP-002 reports the removal)")
        return failed(f"TRL removed the example ({ctx.row.dropped}); {len(trainable)} token(s) the scope "
                      f"'{ctx.row.loss_scope}' trains are {_within(ctx)}; {_warned(ctx)}",
                      should_train=[ctx.decode([ctx.ref.tokens[i].id]) for i in trainable[:12]],
                      warned=bool(ctx.row.warnings), warnings=ctx.row.warnings[:3])
    if ctx.row.neighbour_dropped:  # the longer row collated beside it: judged against its own reference
        n = ctx.row.neighbour_trainable
        if n is None:
            return undecidable(f"the example reached the batch, but the longer row collated beside it was removed "
                               f"({ctx.row.neighbour_dropped}) and has no reference to judge it by")
        if n:
            return failed(f"the longer row collated beside the example (same shape, every text a few words longer) "
                          f"was removed ({ctx.row.neighbour_dropped}) with {n} token(s) the scope "
                          f"'{ctx.row.loss_scope}' trains {_within(ctx)}; {_warned(ctx)}",
                          neighbour_trainable=n, warned=bool(ctx.row.warnings), warnings=ctx.row.warnings[:3])
        return passed("the example reached the batch; the longer row beside it was removed with nothing trainable "
                      "left (DROP-002 reports that)")
    return passed("the example reached the batch")


@rule("DROP-002", "an example with nothing trainable left is not removed silently either", judges_missing_rows=True)
def empty_not_dropped(ctx: Context):
    """An example whose trainable tokens all fall beyond ``max_length`` (or that has none) teaches
    nothing, and removing it is defensible; removing it without a word still hides from the user
    that part of the data is unusable. Reported as its own finding, never as a pass."""
    if not ctx.row.dropped:
        if ctx.row.neighbour_dropped and ctx.row.neighbour_trainable == 0:
            return failed(f"the longer row collated beside the example was removed ({ctx.row.neighbour_dropped}): "
                          f"nothing the scope '{ctx.row.loss_scope}' trains is {_within(ctx)} in it; {_warned(ctx)}",
                          warned=bool(ctx.row.warnings), warnings=ctx.row.warnings[:3])
        return passed("the example was not removed" if not ctx.row.refused else "TRL refused the input with an error")
    if _trainable(ctx):
        return not_applicable("the example had trainable tokens (DROP-001 reports the removal)")
    return failed(f"TRL removed the example ({ctx.row.dropped}): nothing the scope '{ctx.row.loss_scope}' "
                  f"trains is {_within(ctx)}; {_warned(ctx)}",
                  warned=bool(ctx.row.warnings), warnings=ctx.row.warnings[:3])
