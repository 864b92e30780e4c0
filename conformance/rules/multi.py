"""MULTI family: every assistant turn is trained on assistant-only paths, not only the last."""

from __future__ import annotations

from conformance.rules.base import Context, failed, not_applicable, passed, rule


def _earlier_turns(ctx: Context) -> list[int]:
    if ctx.ref.view != "chat":
        return []
    return [m for m in ctx.ref.assistant_messages() if m != ctx.final_message()]


@rule("MULTI-001", "every assistant turn's content is trained, not only the last", ("assistant", "full"))
def every_turn_trained(ctx: Context):
    """Assistant-only loss promises to train all assistant turns of a conversation."""
    turns = _earlier_turns(ctx)
    if not turns:
        return not_applicable("no assistant turn besides the final one")
    bad, lost, report = [], [], {}
    for m in turns:
        present, _, missing = ctx.required_positions(("content", "reasoning"), [m])
        untrained = [p for p in present if not ctx.trained(p)]
        report[f"message {m}"] = (f"{len(present) - len(untrained)}/{len(present) + len(missing)} trained"
                                  + (f", {len(missing)} missing from the sequence" if missing else ""))
        bad += untrained
        lost += missing
    if bad or lost:
        parts = [f"{len(bad)} not trained"] if bad else []
        parts += [f"{len(lost)} missing from the sequence"] if lost else []
        return failed(f"token(s) of earlier assistant turns: {', '.join(parts)}", bad, turns=report,
                      missing_tokens=[ctx.decode([ctx.ref.tokens[i].id]) for i in lost[:8]])
    return passed(", ".join(f"{k}: {v}" for k, v in report.items()))


@rule("MULTI-002", "every assistant turn's end-of-turn token is trained", ("assistant", "full"))
def every_turn_eot_trained(ctx: Context):
    """A template that attributes a turn's EOT to the next message leaves it out of the assistant
    mask: the model learns to stop only at the end of the conversation."""
    turns = _earlier_turns(ctx)
    if not turns:
        return not_applicable("no assistant turn besides the final one")
    bad, absent = [], []
    for m in turns:
        idx = ctx.ref.terminators.get(m)
        if idx is None:
            continue
        pos = ctx.position_of(idx)
        if pos is None:
            if not ctx.lost_to_truncation(idx):
                absent.append(m)
        elif not ctx.trained(pos):
            bad.append(pos)
    if bad or absent:
        return failed(f"end-of-turn of {len(bad) + len(absent)} earlier assistant turn(s) not trained", bad,
                      tokens=ctx.show(bad), missing_in_messages=absent)
    return passed()
