"""The README's findings table, generated from ``conformance/expectations/trl.yaml`` for the pinned newest
TRL and transformers (``constraints/latest.txt``) by ``sft-conformance lint --write-docs``.

One row per upstream reference (an issue, a PR, a URL or one written reason): the rules, paths and tokenizers
of every entry with that reference whose version range holds the pinned releases, and the entries' ``summary``
(the rules' titles where no entry has one).
"""

from __future__ import annotations

import re
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.version import Version

BEGIN = "<!-- findings table: generated from conformance/expectations/trl.yaml by `sft-conformance lint --write-docs` -->"
END = "<!-- end of the generated findings table -->"
TRL = "https://github.com/huggingface/trl"
MAX_TOKENIZERS = 6  # more are counted, not listed


def pinned_versions(constraints: Path) -> dict[str, str]:
    """``{"trl": ..., "transformers": ...}`` as ``constraints/latest.txt`` pins them."""
    pins = dict(re.findall(r"^(trl|transformers)==(\S+)", constraints.read_text(encoding="utf-8"), re.MULTILINE))
    return {lib: pins[lib] for lib in ("trl", "transformers")}


def _in_range(entry, versions: dict[str, str]) -> bool:
    return all(Version(versions[lib]) in SpecifierSet(spec)
               for lib, spec in (("trl", entry.trl), ("transformers", entry.transformers)) if spec)


def _globs(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _reference(entry) -> tuple[str, str]:
    """(grouping key, the cell: a link, or "written reason")."""
    if entry.issue:
        return f"issue {entry.issue}", f"[#{entry.issue}]({TRL}/issues/{entry.issue})"
    if entry.pr:
        return f"pr {entry.pr}", f"[PR #{entry.pr}]({TRL}/pull/{entry.pr})"
    if entry.url:
        return entry.url, f"[link]({entry.url})"
    return f"reason: {entry.reason}", "written reason (in the entry)"


def _tokenizers(entries) -> str:
    if any("*" in _globs(e.tokenizer) for e in entries):
        left_out = sorted({t for e in entries for t in _globs(e.except_tokenizer)})
        return "all" + (f" but {', '.join(left_out)}" if left_out else "")
    names = sorted({t for e in entries for t in _globs(e.tokenizer)})
    shown = ", ".join(names[:MAX_TOKENIZERS])
    return shown + (f" and {len(names) - MAX_TOKENIZERS} more" if len(names) > MAX_TOKENIZERS else "")


def _paths(entries) -> str:
    """The paths, per batch layout (``modifier``) and per row signature (``signature``) the entries need."""
    by_layout: dict[tuple[str, str], list[str]] = {}
    for e in entries:
        paths = by_layout.setdefault((", ".join(_globs(e.modifier)), e.signature or ""), [])
        paths += [p for p in _globs(e.path) if p not in paths]
    return "; ".join(", ".join("every path" if p == "*" else p for p in paths) + (f" (`{layout}`)" if layout else "")
                     + (f" (rows with `{signature}`)" if signature else "")
                     for (layout, signature), paths in by_layout.items())


def rows(entries, versions: dict[str, str], titles: dict[str, str]) -> list[list[str]]:
    groups: dict[str, list] = {}
    cells: dict[str, str] = {}
    for entry in entries:
        if _in_range(entry, versions):
            key, cells[key] = _reference(entry)
            groups.setdefault(key, []).append(entry)
    out = []
    for key, group in groups.items():
        rules = list(dict.fromkeys(r for e in group for r in _globs(e.rule)))
        summary = next((e.summary for e in group if e.summary), None) or "; ".join(titles.get(r, r) for r in rules)
        out.append([", ".join(rules), _paths(group), _tokenizers(group), summary.replace("|", "\\|"), cells[key]])
    return sorted(out, key=lambda row: (row[0], row[1]))


def markdown(expectations_file: Path, constraints: Path, titles: dict[str, str]) -> str:
    from harness.schemas.base import read_yaml, validate
    from harness.schemas.expectations import ExpectationsFile

    raw, problems = read_yaml(expectations_file)
    doc, problems = (None, problems) if problems else validate(ExpectationsFile, raw or {}, str(expectations_file))
    if problems:
        raise ValueError(str(problems[0]))
    versions = pinned_versions(constraints)
    lines = [BEGIN, "", (f"Known upstream behaviours on TRL {versions['trl']} / transformers {versions['transformers']} "
                         "(the pinned newest releases), one row per upstream reference:"), "",
             "| rule | path | tokenizers | what happens | reference |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows(doc.expectations, versions, titles)]
    return "\n".join([*lines, "", END])


def with_table(readme: str, table: str) -> str:
    """``readme`` with the text between the markers replaced by ``table``."""
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        raise ValueError(f"README.md: the findings table markers are missing ({BEGIN!r} ... {END!r})")
    return readme[:start] + table + readme[end + len(END):]
