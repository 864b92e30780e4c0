"""The data that flows between adapters, the oracle and the rules (``docs/interpreting.md``).

An adapter's ``Encoding`` is a rules ``Row`` plus what the harness needs to report it (tokenizer,
case, decoded pieces, provenance). Verdicts and the label constants are the rules engine's own.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from conformance.rules.data import (  # noqa: F401  (re-exported: the one definition)
    FAIL,
    IGNORE_INDEX,
    NOT_APPLICABLE,
    PASS,
    UNDECIDABLE,
    Row,
    Verdict,
)

# What a path's configuration promises to train on. Rules read this, never the TRL version.
LOSS_SCOPES = (
    "full",            # every real token is trained (text, messages without masking)
    "completion",      # only the completion of a prompt/completion pair
    "assistant",       # every assistant turn of a conversation
    "last_assistant",  # only the final assistant turn (DataCollatorForChatML)
)


@dataclass
class Encoding:
    """One example as the model would receive it: the row of a real collated batch.

    ``input_ids``/``labels``/``attention_mask`` include the padding the collator added.
    Exactly one of three states holds: tensors present; ``refused`` (TRL raised an explicit
    error for this input, which is acceptable behaviour); ``dropped`` (TRL removed the example
    during preparation, e.g. fully masked after truncation).
    """

    tokenizer_id: str
    path: str
    case_id: str
    loss_scope: str
    input_ids: list[int] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    attention_mask: list[int] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    refused: str | None = None
    dropped: str | None = None
    warnings: list[str] = field(default_factory=list)
    provenance: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    neighbour_dropped: str | None = None
    neighbour_trainable: int | None = None
    signs: list[str] = field(default_factory=list)  # facts of this row an expectation's ``signature`` names
    unjudged: str | None = None  # TRL refused the row beside the case, not the case (``PathAdapter.refusal``)

    # the same fields mean the same thing as on a rules Row
    ok = Row.ok
    real_positions = Row.real_positions

    def to_dict(self) -> dict:
        return asdict(self)

    def row(self) -> Row:
        """What the rules read: the tensors and the facts of this row, nothing harness-specific."""
        return Row(self.input_ids, self.labels, self.attention_mask, self.loss_scope, self.path,
                   list(self.warnings), self.provenance.get("pad_token_id"), self.provenance.get("eos_token_id"),
                   self.refused, self.dropped, self.neighbour_dropped, self.neighbour_trainable, self.unjudged)


@dataclass(frozen=True)
class NotApplicable:
    """A path that the installed TRL does not offer, or an input it cannot carry."""

    reason: str
