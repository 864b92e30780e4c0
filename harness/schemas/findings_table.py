"""The findings tables, generated from ``conformance/expectations/trl.yaml`` for the pinned newest TRL and
transformers (``constraints/latest.txt``) by ``sft-conformance lint --write-docs``.

Both have one row per upstream reference (an issue, a PR, a URL or one written reason), made of every entry with
that reference whose version range holds the pinned releases. The full one (``markdown``, in ``docs/findings.md``)
gives their rules, paths, tokenizers and ``summary`` (the rules' titles where no entry has one); the README's
compact one (``compact_markdown``) gives the rules, what goes wrong in a few words (``SHORT``, per rule), the
lowest TRL release those entries name, and the reference.
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
FULL_TABLE = "docs/findings.md#on-the-newest-trl"  # where the compact table's written-reason rows point
# what goes wrong when a rule fails, in a few words (a rule missing here shows its title)
SHORT = {
    "BOS-001": "second BOS", "BOS-002": "BOS lost or added", "DROP-001": "row dropped",
    "DROP-002": "row dropped silently", "EOS-001": "no end of turn", "EOS-002": "end of turn masked",
    "GEN-001": "trailing generation prompt", "GEN-002": "header trained", "MASK-001": "labels pre-shifted",
    "MASK-002": "prompt trained", "MASK-003": "answer masked", "MASK-004": "padding trained",
    "MASK-005": "row all -100 unannounced", "MULTI-001": "earlier answers masked",
    "MULTI-002": "earlier ends of turn masked", "TOK-001": "prompt differs from inference",
    "TOK-002": "trained text is not completion + EOS", "TOK-003": "tokens inserted or lost",
    "MOD-001": "labels changed by the layout", "MOD-002": "cross-document target trained",
    "MOD-003": "documents attend to each other",
}


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
    """The catalog tokenizers the measured entries name, then whether mechanism entries (``outside_catalog``)
    carry the finding to tokenizers the catalog lacks."""
    measured = [e for e in entries if not e.outside_catalog]
    beyond = "tokenizers outside the catalog (by mechanism)" if len(measured) < len(entries) else ""
    if not measured:
        return beyond
    if any("*" in _globs(e.tokenizer) for e in measured):
        left_out = sorted({t for e in measured for t in _globs(e.except_tokenizer)})
        shown = "all" + (f" but {', '.join(left_out)}" if left_out else "")
    else:
        names = sorted({t for e in measured for t in _globs(e.tokenizer)})
        shown = ", ".join(names[:MAX_TOKENIZERS])
        shown += f" and {len(names) - MAX_TOKENIZERS} more" if len(names) > MAX_TOKENIZERS else ""
    return f"{shown}; {beyond}" if beyond else shown


def _paths(entries) -> str:
    """The paths, per batch layout (``modifier``) and per row signature (``signature``) the entries need."""
    by_layout: dict[tuple[str, str], list[str]] = {}
    for e in entries:
        paths = by_layout.setdefault((", ".join(_globs(e.modifier)), e.signature or ""), [])
        paths += [p for p in _globs(e.path) if p not in paths]
    return "; ".join(", ".join("every path" if p == "*" else p for p in paths) + (f" (`{layout}`)" if layout else "")
                     + (f" (rows with `{signature}`)" if signature else "")
                     for (layout, signature), paths in by_layout.items())


def _by_reference(entries, versions: dict[str, str]) -> tuple[dict[str, list], dict[str, str]]:
    """The entries in range of ``versions``, grouped by upstream reference; and each reference's table cell."""
    groups: dict[str, list] = {}
    cells: dict[str, str] = {}
    for entry in entries:
        if _in_range(entry, versions):
            key, cells[key] = _reference(entry)
            groups.setdefault(key, []).append(entry)
    return groups, cells


def rows(entries, versions: dict[str, str], titles: dict[str, str]) -> list[list[str]]:
    groups, cells = _by_reference(entries, versions)
    out = []
    for key, group in groups.items():
        shown = [e for e in group if not e.outside_catalog] or group  # rules and paths as measured on the catalog
        rules = list(dict.fromkeys(r for e in shown for r in _globs(e.rule)))
        summary = next((e.summary for e in group if e.summary), None) or "; ".join(titles.get(r, r) for r in rules)
        out.append([", ".join(rules), _paths(shown), _tokenizers(group), summary.replace("|", "\\|"), cells[key]])
    return sorted(out, key=lambda row: (row[0], row[1]))


def _since(entries) -> str:
    """The lowest TRL release the entries' ranges name ("all" when one has no lower bound)."""
    lows = []
    for e in entries:
        bounds = [Version(s.version) for s in SpecifierSet(e.trl or "")
                  if s.operator in (">=", ">", "~=") or (s.operator == "==" and "*" not in s.version)]
        if not bounds:
            return "all"
        lows.append(min(bounds))
    return f"≥ {min(lows)}"


def compact_rows(entries, versions: dict[str, str], titles: dict[str, str]) -> list[list[str]]:
    """[rules, what goes wrong, since which TRL release, reference] per reference; rows that read the same merge."""
    groups, cells = _by_reference(entries, versions)
    out = []
    for key, group in groups.items():
        rules = sorted({r for e in group for r in _globs(e.rule)})
        what = "; ".join(SHORT.get(r) or titles.get(r, r) for r in rules).replace("|", "\\|")
        ref = f"[written reason]({FULL_TABLE})" if key.startswith("reason: ") else cells[key]
        row = [", ".join(rules), what, _since(group), ref]
        if row not in out:
            out.append(row)
    return sorted(out, key=lambda row: (row[0], row[3]))


def _expectations(expectations_file: Path):
    from harness.schemas.base import read_yaml, validate
    from harness.schemas.expectations import ExpectationsFile

    raw, problems = read_yaml(expectations_file)
    doc, problems = (None, problems) if problems else validate(ExpectationsFile, raw or {}, str(expectations_file))
    if problems:
        raise ValueError(str(problems[0]))
    return doc.expectations


def compact_markdown(expectations_file: Path, constraints: Path, titles: dict[str, str]) -> str:
    """The README's table: rules, what goes wrong, since which TRL release, reference (between the markers)."""
    versions = pinned_versions(constraints)
    lines = [BEGIN, "", (f"Known upstream behaviours on TRL {versions['trl']} / transformers "
                         f"{versions['transformers']}, one row per upstream reference; TRL: the lowest release its "
                         f"entries name (all: every one measured). Paths, tokenizers and what happens: "
                         f"[docs/findings.md]({FULL_TABLE})."), "",
             "| rule | what goes wrong | TRL | reference |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in compact_rows(_expectations(expectations_file), versions, titles)]
    return "\n".join([*lines, "", END])


def markdown(expectations_file: Path, constraints: Path, titles: dict[str, str]) -> str:
    entries = _expectations(expectations_file)
    versions = pinned_versions(constraints)
    lines = [BEGIN, "", (f"Known upstream behaviours on TRL {versions['trl']} / transformers {versions['transformers']} "
                         "(the pinned newest releases), one row per upstream reference:"), "",
             "| rule | path | tokenizers | what happens | reference |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows(entries, versions, titles)]
    return "\n".join([*lines, "", END])


def with_table(text: str, table: str, name: str = "README.md") -> str:
    """``text`` (the file ``name``) with the text between the markers replaced by ``table``."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{name}: the findings table markers are missing ({BEGIN!r} ... {END!r})")
    return text[:start] + table + text[end + len(END):]
