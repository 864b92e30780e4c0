"""Schema of ``conformance/expectations/trl.yaml``: known upstream failures, applied strictly (a PASS is an XPASS)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from pydantic import AfterValidator, Field, model_validator

from harness.schemas.base import Strict, str_or

Globs = str_or(Annotated[list[str], Field(min_length=1)], list, "a non-empty list of globs")


def _specifier(value: str) -> str:
    try:
        SpecifierSet(value)
    except InvalidSpecifier:
        raise ValueError(f"not a version specifier: {value!r}") from None
    return value


def _no_modifier_in_path(value: str | list[str]) -> str | list[str]:
    if "+" in str(value):
        raise ValueError(f"{value!r}: give the modifier in its own field (path: text, modifier: packing_wrapped)")
    return value


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {value!r} ({exc})") from None
    return value


Specifier = Annotated[str, AfterValidator(_specifier)]

# Facts the harness computes for each record (one row of one dataset), that an entry's ``signature`` names.
SIGNATURES = {
    "divergence_in_prompt": "the row's tokenized prompt is not a prefix of its tokenized prompt + completion "
                            "(`tokenizer(text=prompt)` against `tokenizer(text=prompt + completion)`, string "
                            "prompt/completion rows of the SFTTrainer paths) and the first token where they diverge, "
                            "where SFTTrainer (1.14.2+) starts the completion, holds prompt characters only",
    "prompt_render_not_prefix": "a message-list prompt/completion row's prompt, rendered and tokenized by the chat "
                                "template alone as the installed SFTTrainer renders it (with "
                                "`add_generation_prompt=True` from 0.24) with the row's `tools` and "
                                "`chat_template_kwargs`, is not a prefix of its prompt + completion messages rendered "
                                "together (a generation prompt the conversation lacks, a system message or tool-turn "
                                "end that depends on what follows), so SFTTrainer misplaces where the completion starts; on "
                                "the chatml_collator path, `messages[:-1]` rendered with `add_generation_prompt=True` "
                                "against the whole conversation, DataCollatorForChatML's own split",
    "pad_id_inside_row": "a token of the row itself (attention mask 1) has the pad token's id, as the EOS or end of "
                         "turn does when pad_token = eos_token; a collator that sets every pad id to -100 (transformers' "
                         "DataCollatorForLanguageModeling) masks it (any path, computed from the collated row)",
    "response_template_not_in_row": "the ids of DataCollatorForCompletionOnlyLM's response template, encoded alone "
                                    "as the collator encodes a string template, are no contiguous run of the row's "
                                    "ids (the template tokenizes differently in context), so the collator finds no "
                                    "answer start",
    "text_bos_prepended": "a `text` row's tokenizer, called as SFTTrainer calls it (`tokenizer(text=...)`, special "
                          "tokens on), puts its BOS before the text's own tokens: a second BOS where a chat template "
                          "already wrote one, a BOS the template never writes where it has none",
    "text_without_eos": "a `text` row does not end with `eos_token`: SFTTrainer 0.17+ (`add_eos`) appends it, also "
                        "after a chat template's own end of turn (`<|im_end|>\\n`, `<|eot_id|>`); releases before "
                        "0.16 leave plain text without one",
}
Signature = Literal[tuple(SIGNATURES)]  # type: ignore[valid-type]


class Expectation(Strict):
    """One known failure: which verdicts it covers (globs, any of a list may match; ``*`` by default)
    and why (an upstream ``issue``, ``pr`` or ``url``, or a written ``reason`` when none exists)."""

    rule: Globs = Field(description="rule id or glob, e.g. `BOS-001`, `MASK-*`")
    tokenizer: Globs = Field("*", description="tokenizer id (catalog or synthetic) or glob")
    path: Annotated[Globs, AfterValidator(_no_modifier_in_path)] = Field("*", description="SFT data path id or glob")
    except_tokenizer: Globs | None = Field(
        None, description="tokenizer ids or globs the `tokenizer` globs match but this entry leaves out")
    modifier: Globs | None = Field(
        None, description="absent: plain batches only; a glob: batches laid out by that modifier (`packing_wrapped`)")
    case: Globs = Field("*", description="case id or glob (`chat_*` also covers `check` rows of that shape)")
    except_case: Globs | None = Field(
        None, description="case ids or globs the `case` globs match but this entry leaves out (a shape glob such as "
        "`chat_*` minus the golden cases where the mechanism does not show)")
    signature: Signature | None = Field(
        None, description="a fact of the record itself that must hold: "
        + "; ".join(f"`{k}`: {v}" for k, v in SIGNATURES.items())
        + ". It makes an entry about a mechanism hold row by row on any data (`case: pc_*`, `conv_pc_*`), not on one "
        "golden case")
    when_warned: Annotated[str, AfterValidator(_regex)] | None = Field(
        None, description="a regular expression (searched) that one of TRL's warnings must match; TRL warns once "
        "per dataset, not per row, so it is only allowed with a `signature` that says which rows")
    trl: Specifier | None = Field(None, description="TRL versions it applies to, a PEP 440 specifier (`>=0.19,<0.23.1`)")
    transformers: Specifier | None = Field(None, description="transformers versions it applies to")
    issue: int | None = Field(None, description="huggingface/trl issue number")
    pr: int | None = Field(None, description="huggingface/trl pull request number")
    url: str | None = Field(None, description="link to the upstream discussion")
    reason: str | None = Field(None, description="why, when there is no upstream reference")
    summary: str | None = Field(
        None, description="one line: what happens, for the findings table in docs/findings.md (entries with the "
        "same reference share it)")
    note: str | None = Field(None, description="what happens and how it was measured")
    outside_catalog: bool = Field(
        False, description="true: covers only tokenizers that are neither catalog nor synthetic ids (a user's folder "
        "or Hub id that is no copy of a catalog tokenizer, a catalog template someone edited). For a mechanism entry "
        "that carries a known bug to tokenizers the catalog lacks, while catalog tokenizers keep only their measured "
        "entries, so a new failure on them still FAILs")
    strict: bool = Field(
        True, description="true: a PASS this entry covers is an XPASS (the bug is gone: remove the entry). false: "
        "a PASS stays a PASS; for an entry about a mechanism that names several rules (a `signature`, or a whole TRL "
        "range), where the mechanism shows on a row but which of the rules fail depends on the row")

    @model_validator(mode="after")
    def _referenced(self) -> Expectation:
        if not (self.issue or self.pr or self.url or self.reason):
            raise ValueError("needs an upstream reference (issue, pr or url) or a written reason")
        if self.when_warned and not self.signature:
            raise ValueError("when_warned needs a signature: TRL's warnings are captured per dataset, so alone they "
                             "would also cover the other rows of that dataset")
        return self


class ExpectationsFile(Strict):
    """Known upstream failures, applied strictly by the conformance suite: a FAIL an entry covers is expected, and
    when upstream fixes one, the XPASS fails the run until its entry is removed. The first entry (file order) that covers a verdict wins;
    `sft-conformance expectations update REPORT.json` narrows, splits and drops entries from reports."""

    expectations: list[Expectation] = Field(default_factory=list, description="the known failures")
