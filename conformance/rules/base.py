"""Rule registry and the context every rule reads.

A rule is a pure function ``Context -> Verdict`` registered with an id (``EOS-001``), a
one-line title and the loss scopes it judges. The context bundles a collated ``Row``, the
``Reference`` token table and their alignment (``conformance.rules.data``), plus helpers that
speak in roles instead of indices. Standard library only: a repro script embeds this package's
modules verbatim (``harness/triage/repro.py``), so the suite and the script judge with the same code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from conformance.rules.data import (
    FAIL,
    IGNORE_INDEX,
    MIXED,
    NOT_APPLICABLE,
    PASS,
    UNDECIDABLE,
    Alignment,
    Reference,
    Row,
    Verdict,
    align,
)

ALL_SCOPES = ("full", "completion", "assistant", "last_assistant")
MASKED_SCOPES = ("completion", "assistant", "last_assistant")


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    scopes: tuple[str, ...]
    check: Callable[[Context], Verdict]
    doc: str = ""
    judges_missing_rows: bool = False  # DROP rules: also called when TRL removed or refused the row

    @property
    def family(self) -> str:
        return self.id.split("-")[0]

    def __call__(self, ctx: Context) -> Verdict:
        if ctx.row.unjudged:  # no rule may pass or skip a row whose own tensors were never made
            return Verdict(self.id, UNDECIDABLE, ctx.row.unjudged)
        if not ctx.row.ok and not self.judges_missing_rows:
            why = ctx.row.refused or ctx.row.dropped
            return Verdict(self.id, NOT_APPLICABLE, f"no tensors to judge: {why}")
        if ctx.row.loss_scope not in self.scopes and not self.judges_missing_rows:
            return Verdict(self.id, NOT_APPLICABLE,
                           f"rule judges loss scopes {'/'.join(self.scopes)}; path {ctx.row.path} "
                           f"trains scope '{ctx.row.loss_scope}'")
        verdict = self.check(ctx)
        verdict.rule = self.id
        return verdict


RULES: dict[str, Rule] = {}


def rule(rule_id: str, title: str, scopes: tuple[str, ...] = ALL_SCOPES, judges_missing_rows: bool = False):
    """Register a rule function; its docstring is the rule's documentation."""

    def wrap(fn):
        if rule_id in RULES:
            raise ValueError(f"duplicate rule id {rule_id}")
        RULES[rule_id] = Rule(rule_id, title, scopes, fn, (fn.__doc__ or "").strip(), judges_missing_rows)
        return fn

    return wrap


def passed(msg: str = "", **evidence) -> Verdict:
    return Verdict("", PASS, msg, evidence=evidence)


def failed(msg: str, positions: list[int] | None = None, **evidence) -> Verdict:
    return Verdict("", FAIL, msg, positions=list(positions or []), evidence=evidence)


def not_applicable(msg: str) -> Verdict:
    return Verdict("", NOT_APPLICABLE, msg)


def undecidable(msg: str, positions: list[int] | None = None) -> Verdict:
    return Verdict("", UNDECIDABLE, msg, positions=list(positions or []))


@dataclass
class Context:
    row: Row
    ref: Reference
    decode: Callable[[list[int]], str] = field(default=lambda ids: str(ids))

    @cached_property
    def alignment(self) -> Alignment:
        return align(self.row, self.ref)

    # --- questions rules ask -------------------------------------------------------------

    def trained(self, pos: int) -> bool:
        return self.row.labels[pos] != IGNORE_INDEX

    def position_of(self, oracle_index: int) -> int | None:
        """Encoding position holding this oracle token, or None if absent."""
        return self.alignment.from_ref.get(oracle_index)

    def lost_to_truncation(self, oracle_index: int) -> bool:
        return self.alignment.truncated and oracle_index in self.alignment.missing

    def oracle_token(self, pos: int):
        idx = self.alignment.to_ref.get(pos)
        return None if idx is None else self.ref.tokens[idx]

    def final_message(self) -> int | None:
        return self.ref.final_message

    def scoped_messages(self) -> list[int]:
        """Messages whose assistant content the scope says must be trained."""
        if self.ref.view == "string":
            return [-1]
        if self.row.loss_scope in ("assistant", "full"):
            return self.ref.assistant_messages()
        return [self.ref.final_message] if self.ref.final_message is not None else []

    def show(self, positions: list[int], limit: int = 8) -> list[dict]:
        """Evidence rows for positions: id, decoded token, label, oracle role."""
        rows = []
        for p in positions[:limit]:
            t = self.oracle_token(p)
            rows.append({"pos": p, "id": self.row.input_ids[p],
                         "token": self.decode([self.row.input_ids[p]]),
                         "label": self.row.labels[p],
                         "role": (t.role if t else "not-in-reference") + (f"@{t.message}" if t and t.message
                                                                          is not None and t.message >= 0 else "")})
        return rows

    def required_positions(self, roles: tuple[str, ...], messages: list[int]) -> tuple[list[int], list[int], list[int]]:
        """(present positions, undecidable positions, missing oracle indices) for tokens of those roles."""
        present, unsure, missing = [], [], []
        for idx, t in enumerate(self.ref.tokens):
            in_msg = t.message in messages
            if t.role == MIXED and any(m in messages and r in roles for m, r in t.parts):
                p = self.position_of(idx)
                if p is not None:
                    unsure.append(p)
                continue
            if t.role in roles and in_msg:
                p = self.position_of(idx)
                if p is not None:
                    present.append(p)
                elif not self.lost_to_truncation(idx):
                    missing.append(idx)
        return present, unsure, missing


def expected_trained(ref: Reference, scope: str) -> list[int]:
    """Reference indices a correct pipeline trains under ``scope`` (what the oracle says must be learned).

    ``full``: every token; string view: the completion and its EOS; chat view: an assistant
    message's preamble, kept thinking, content, end of turn and separator, for every assistant message
    (``assistant``) or the final one (``completion``/``last_assistant``).
    """
    out = []
    for i, t in enumerate(ref.tokens):
        if scope == "full":
            keep = True
        elif ref.view == "string":
            keep = t.role in ("completion", "eos", MIXED)
        elif t.role not in ("preamble", "reasoning", "content", "eot", "sep"):
            keep = False
        elif scope == "assistant":
            keep = t.speaker == "assistant"
        else:
            keep = t.message == ref.final_message
        if keep:
            out.append(i)
    return out
