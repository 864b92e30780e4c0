"""The plain data every rule reads: one collated row, the reference token table, their alignment.

Standard library only. The same module runs inside the harness and, copied verbatim, inside a
standalone repro script (``sft-conformance repro``), so a verdict computed by the suite and by
the script is computed by the same code. The harness builds a ``Reference`` from its oracle and
a ``Row`` from an adapter's Encoding; a repro script builds them from the embedded table and
the tensors TRL returned.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field

IGNORE_INDEX = -100
PASS, FAIL, NOT_APPLICABLE, UNDECIDABLE = "pass", "fail", "not_applicable", "undecidable"
MIXED = "mixed"  # a reference token whose characters span two roles (a BPE merge across a join)


@dataclass
class Verdict:
    """A rule's outcome with the evidence a human needs to see why."""

    rule: str
    status: str
    message: str = ""
    positions: list[int] = field(default_factory=list)
    evidence: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Token:
    """One token of the reference rendering and what it is (``docs/interpreting.md``, roles)."""

    id: int
    role: str
    message: int | None = None   # index into the conversation (chat view); -1 / None for strings
    speaker: str | None = None   # role of that message: system / user / assistant / tool
    parts: tuple = ()            # for mixed tokens: the (message, role) pairs it spans


@dataclass
class Reference:
    """The sequence a correct pipeline trains on, computed without TRL, and the facts rules need."""

    tokens: list[Token]
    view: str                           # "string" or "chat"
    eot_token: str | None = None        # text of the token that ends an answer at inference
    eot_id: int | None = None
    bos_id: int | None = None
    prompt_ids: list[int] | None = None  # what the model sees at inference before it answers
    generation_prompt: str | None = None
    terminators: dict[int, int] = field(default_factory=dict)  # message (or -1) -> token index of its EOT
    final_message: int | None = None    # the final assistant message / -1 for strings / None
    max_length: int | None = None       # the case's max_length (truncation is expected beyond it)

    @property
    def ids(self) -> list[int]:
        return [t.id for t in self.tokens]

    def mixed_indices(self) -> list[int]:
        return [i for i, t in enumerate(self.tokens) if t.role == MIXED]

    def assistant_messages(self) -> list[int]:
        return sorted({t.message for t in self.tokens if t.speaker == "assistant" and t.message is not None}
                      | {m for m in self.terminators if m >= 0})

    def to_plain(self) -> dict:
        """JSON-like data (lists, ints, strings) a repro script embeds; ``from_plain`` reads it back."""
        return {"tokens": [[t.id, t.role, t.message, t.speaker, [list(p) for p in t.parts]] for t in self.tokens],
                "view": self.view, "eot_token": self.eot_token, "eot_id": self.eot_id, "bos_id": self.bos_id,
                "prompt_ids": self.prompt_ids, "generation_prompt": self.generation_prompt,
                "terminators": [[m, i] for m, i in self.terminators.items()],
                "final_message": self.final_message, "max_length": self.max_length}

    @classmethod
    def from_plain(cls, data: dict) -> Reference:
        tokens = [Token(t[0], t[1], t[2], t[3], tuple(tuple(p) for p in t[4])) for t in data["tokens"]]
        rest = {k: v for k, v in data.items() if k not in ("tokens", "terminators")}
        return cls(tokens=tokens, terminators={m: i for m, i in data["terminators"]}, **rest)


@dataclass
class Row:
    """One example as the model receives it: a row of a real collated batch, or why there is none.

    ``input_ids``/``labels``/``attention_mask`` include the padding the collator added.
    ``refused``: TRL raised an explicit error for the input (acceptable behaviour). ``dropped``:
    TRL removed the example without raising (``DROP-001``/``DROP-002`` judge that).
    ``neighbour_dropped``: the row collated beside it was removed without an error; ``neighbour_trainable``:
    how many tokens the oracle says that row trains within ``max_length`` (None: it has no reference).
    ``unjudged``: why the row cannot be judged at all (TRL refused the row beside it, not this one): every
    rule is UNDECIDABLE with this reason.
    """

    input_ids: list[int]
    labels: list[int]
    attention_mask: list[int]
    loss_scope: str
    path: str = ""
    warnings: list[str] = field(default_factory=list)
    pad_token_id: int | None = None
    eos_token_id: int | None = None
    refused: str | None = None
    dropped: str | None = None
    neighbour_dropped: str | None = None
    neighbour_trainable: int | None = None
    unjudged: str | None = None

    @property
    def ok(self) -> bool:
        return self.refused is None and self.dropped is None and self.unjudged is None

    def real_positions(self) -> list[int]:
        """Positions that hold real tokens (attention 1)."""
        return [i for i, a in enumerate(self.attention_mask) if a]


@dataclass
class Alignment:
    """Map from a row's real (attention 1) positions to reference token indices.

    ``to_ref[p]`` is the reference index of real position ``p`` or ``None`` for a token the
    reference does not have (an inserted BOS/EOS/generation prompt). ``missing`` lists reference
    indices absent from the row; ``truncated`` says the absence is explained by ``max_length``
    (a contiguous run at the start or end).
    """

    positions: list[int]
    to_ref: dict[int, int | None]
    from_ref: dict[int, int]
    missing: list[int]
    truncated: bool


def align(row: Row, reference: Reference) -> Alignment:
    """Longest matching blocks (difflib, no junk heuristic) between the row's real ids and the reference."""
    positions = row.real_positions()
    real_ids = [row.input_ids[p] for p in positions]
    ref = reference.ids
    matcher = difflib.SequenceMatcher(a=real_ids, b=ref, autojunk=False)
    to_ref: dict[int, int | None] = {p: None for p in positions}
    from_ref: dict[int, int] = {}
    for a, b, size in matcher.get_matching_blocks():
        for k in range(size):
            to_ref[positions[a + k]] = b + k
            from_ref[b + k] = positions[a + k]
    missing = [i for i in range(len(ref)) if i not in from_ref]
    cap = reference.max_length
    truncated = False
    if missing and cap is not None and len(real_ids) >= cap - 1 and len(ref) > cap:
        head = missing == list(range(len(missing)))
        tail = missing == list(range(len(ref) - len(missing), len(ref)))
        truncated = head or tail
    return Alignment(positions, to_ref, from_ref, missing, truncated)
