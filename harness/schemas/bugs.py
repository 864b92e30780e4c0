"""Schema of ``cases/bugs/upstream.yaml``: the upstream TRL bugs the suite reproduces."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from harness.schemas.base import FieldError, Strict


def _finding(value: str) -> str:
    if len(value.split(":")) != 4 or not all(value.split(":")):
        raise ValueError(f"expected RULE:TOKENIZER:PATH:CASE, got {value!r}")
    return value


Finding = Annotated[str, AfterValidator(_finding)]


class Upstream(Strict):
    """Where upstream tracks it: numbers in huggingface/trl."""

    issues: list[int] = Field(default_factory=list, description="issue numbers")
    prs: list[int] = Field(default_factory=list, description="pull request numbers (the fix, or what broke it)")

    @model_validator(mode="after")
    def _some(self) -> Upstream:
        if not (self.issues or self.prs):
            raise ValueError("needs issues or prs numbers")
        return self


class Lines(Strict):
    """TRL lines of the matrix, as observed."""

    affected: list[str] = Field(default_factory=list, description="lines where the finding FAILs")
    fixed: list[str] = Field(default_factory=list,
                             description="lines where it PASSes; `[]` when the path was removed before a fix")


class Bisect(Strict):
    """What `sft-conformance bisect FINDING --between LO HI [--with REQ]` found."""

    first_bad: str = Field(description="first release where the finding fails (the lower bound: already bad there)")
    first_good: str = Field(description="first release after it where it does not")
    first_good_outcome: str = Field(description="the verdict there: `pass` or `not applicable`")
    seconds: float = Field(description="wall time of the bisection")
    between: list[str] = Field(min_length=2, max_length=2, description="the range searched, LO and HI")
    with_: list[str] = Field(default_factory=list, alias="with",
                             description="requirements held still in every environment (`transformers<5`)")
    tried: str = Field(description="`release=outcome` for every release tried, comma-separated")


class Bug(Strict):
    """One upstream bug and the finding that reproduces it."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", description="short slug, unique")
    title: str = Field(min_length=1, description="one line, what goes wrong in the tensors")
    upstream: Upstream
    finding: Finding = Field(description="`RULE:TOKENIZER:PATH:CASE` the repro script and bisection use")
    cases: list[str] = Field(default_factory=list, description="golden case ids that show it")
    lines: Lines = Field(default_factory=Lines)
    removed_in: str | None = Field(None, description="the release that removed the path, when it was never fixed")
    bisect: Bisect | None = None


class BugCatalog(Strict):
    """The upstream TRL bugs the suite reproduces: `sft-conformance repro` writes each finding's standalone script
    (with the bug's reference), `sft-conformance bisect` starts from its affected lines, and `tests/test_repro.py`
    runs the scripts on an affected and a fixed release."""

    bugs: list[Bug] = Field(description="the catalogued bugs")

    @model_validator(mode="after")
    def _unique(self) -> BugCatalog:
        seen: set[str] = set()
        for i, bug in enumerate(self.bugs):
            if bug.id in seen:
                raise FieldError(("bugs", i, "id"), f"duplicate id {bug.id!r}")
            seen.add(bug.id)
        return self
