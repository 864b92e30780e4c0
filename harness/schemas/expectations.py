"""Schema of ``conformance/expectations/trl.yaml``: known upstream failures, applied strictly (a PASS is an XPASS)."""

from __future__ import annotations

from typing import Annotated

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


Specifier = Annotated[str, AfterValidator(_specifier)]


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

    @model_validator(mode="after")
    def _referenced(self) -> Expectation:
        if not (self.issue or self.pr or self.url or self.reason):
            raise ValueError("needs an upstream reference (issue, pr or url) or a written reason")
        return self


class ExpectationsFile(Strict):
    """Known upstream failures, applied strictly by the conformance suite: a FAIL an entry covers is expected, and
    when upstream fixes one, the XPASS fails the run until its entry is removed. The first entry (file order) that covers a verdict wins;
    `sft-conformance expectations update REPORT.json` narrows, splits and drops entries from reports."""

    expectations: list[Expectation] = Field(default_factory=list, description="the known failures")
