"""The catalog of upstream bugs the suite reproduces (``cases/bugs/upstream.yaml``), validated."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

CATALOG = Path(__file__).resolve().parents[2] / "cases" / "bugs" / "upstream.yaml"
_KEYS = {"id", "title", "upstream", "finding", "cases", "lines", "removed_in", "bisect"}


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
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"{path}: no such file") from None
    except yaml.YAMLError as exc:
        raise CatalogError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("bugs"), list):
        raise CatalogError(f"{path}: expected a top-level `bugs:` list")
    out, seen = [], set()
    for i, entry in enumerate(raw["bugs"]):
        where = f"{path}: bugs[{i}]"
        if not isinstance(entry, dict):
            raise CatalogError(f"{where}: expected a mapping")
        unknown = set(entry) - _KEYS
        if unknown:
            raise CatalogError(f"{where}: unknown field(s) {sorted(unknown)}")
        for key in ("id", "title", "finding"):
            if not isinstance(entry.get(key), str) or not entry[key]:
                raise CatalogError(f"{where}.{key}: required string")
        if entry["id"] in seen:
            raise CatalogError(f"{where}.id: duplicate id {entry['id']!r}")
        seen.add(entry["id"])
        if len(entry["finding"].split(":")) != 4:
            raise CatalogError(f"{where}.finding: expected RULE:TOKENIZER:PATH:CASE")
        up = entry.get("upstream") or {}
        if not (up.get("issues") or up.get("prs")):
            raise CatalogError(f"{where}.upstream: needs issues or prs numbers")
        lines = entry.get("lines") or {}
        out.append(Bug(entry["id"], entry["title"], tuple(up.get("issues") or ()), tuple(up.get("prs") or ()),
                       entry["finding"], tuple(entry.get("cases") or ()), tuple(lines.get("affected") or ()),
                       tuple(lines.get("fixed") or ()), entry.get("removed_in"), entry.get("bisect")))
    return out


def reference_for(finding) -> str:
    """The catalog's upstream reference for a finding, or '' when it is not catalogued."""
    return next((b.reference for b in load() if b.finding == str(finding)), "")
