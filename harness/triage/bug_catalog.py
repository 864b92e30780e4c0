"""The catalog of upstream bugs the suite reproduces (``cases/bugs/upstream.yaml``), validated by its schema."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

CATALOG = Path(__file__).resolve().parents[2] / "cases" / "bugs" / "upstream.yaml"


class CatalogError(ValueError):
    """A malformed catalog entry; the message names the file and the field."""


@dataclass(frozen=True)
class Bug:
    id: str
    title: str
    issues: tuple[int, ...]
    prs: tuple[int, ...]
    finding: str
    cases: tuple[str, ...]
    affected: tuple[str, ...]
    fixed: tuple[str, ...]
    removed_in: str | None = None
    bisect: dict | None = field(default=None, compare=False)

    @property
    def reference(self) -> str:
        refs = [f"#{n}" for n in self.issues] + [f"PR #{n}" for n in self.prs]
        return f"huggingface/trl {', '.join(refs)}: {self.title}"


def load(path: Path = CATALOG) -> list[Bug]:
    """The catalogued bugs, validated by ``harness/schemas/bugs.py`` (the first problem is raised)."""
    from harness.schemas.base import read_yaml, validate
    from harness.schemas.bugs import BugCatalog

    raw, problems = read_yaml(Path(path))
    doc, problems = (None, problems) if problems else validate(BugCatalog, raw, str(path))
    if problems:
        raise CatalogError(str(problems[0]))
    return [Bug(b.id, b.title, tuple(b.upstream.issues), tuple(b.upstream.prs), b.finding, tuple(b.cases),
                tuple(b.lines.affected), tuple(b.lines.fixed), b.removed_in,
                b.bisect.model_dump(by_alias=True, exclude_unset=True) if b.bisect else None)
            for b in doc.bugs]


def reference_for(finding) -> str:
    """The catalog's upstream reference for a finding, or '' when it is not catalogued."""
    return next((b.reference for b in load() if b.finding == str(finding)), "")
