"""Rewrite ``conformance/expectations/trl.yaml`` from JSON reports, keeping every reference written.

Why: expectations are applied as ``xfail(strict=True)``, so a glob that also covers a passing
case makes the suite fail (XPASS). After a run, this command makes the file say exactly what
the reports observed:

- an entry that matches failures is kept with its reference; if its globs also cover passing
  verdicts it is split into exact (tokenizer list, case list) entries, each with the same
  reference fields;
- an entry is dropped only when a key it covers PASSes on a release inside its range and none
  fails there (the bug is fixed; the strict XPASS already told you); an entry whose keys were
  only NOT_APPLICABLE or UNDECIDABLE in the reports (a path this TRL lacks, a tokenizer not run)
  is kept as written, as are entries for batch modifiers (``modifier:``), which this command
  does not rewrite;
- nothing is written unless asked (``--write``): the command prints the diff it would apply;
- failures no entry covers become new entries marked ``reason: "untriaged: ..."``, grouped by
  rule and path, for a human to replace with an issue/PR number or a written reason.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import yaml

from harness.pipeline import expectations as exp
from harness.views import report as report_mod

HEADER = """\
# Known upstream behaviours, applied by the conformance suite as xfail(strict=True).
# Each entry: rule / tokenizer / path / case (glob or list of globs), optional trl / transformers
# version specifiers, and an upstream reference (issue, pr, url) or a written reason.
# Regenerate narrowing/splitting with: sft-conformance expectations update REPORT.json...
"""
REF_KEYS = ("issue", "pr", "url", "reason", "summary", "note", "trl", "transformers")
SIGNATURE_KEYS = ("signature", "when_warned")  # conditions on the record itself: every entry split from one keeps them


def _key_fields(entry: dict) -> exp.Expectation:
    return exp.Expectation(*(exp.as_globs(entry.get(k, "*")) for k in ("rule", "tokenizer", "path", "case")),
                           str(entry.get("trl", "")), str(entry.get("transformers", "")), "x",
                           exp.as_globs(entry["modifier"]) if "modifier" in entry else "",
                           exp.exclusions(entry.get("except_tokenizer")), exp.exclusions(entry.get("except_case")),
                           *(str(entry.get(k, "")) for k in SIGNATURE_KEYS), bool(entry.get("strict", True)),
                           bool(entry.get("outside_catalog", False)))


def _signature(entry: dict) -> exp.Expectation:
    """An entry's record conditions alone (``signed``): true for every record when it has none."""
    return exp.Expectation("*", **{k: str(entry.get(k, "")) for k in SIGNATURE_KEYS})


def _verdicts(reports: list[dict]):
    """(rule, tokenizer, path, case) -> list of (status, versions, the record's ``Facts``) over all reports."""
    out = defaultdict(list)
    for rep in reports:
        versions = rep["run_info"]["libraries"]
        for r in rep["records"]:
            if r.get("modifier") or r["status"] not in ("pass", "fail"):
                continue  # batch records and verdicts that judged nothing say nothing about an entry
            out[(r["rule"], r["tokenizer"], r["path"], r["case"])].append((r["status"], versions, exp.Facts.of(r)))
    return out


def _case_pattern(cases: set[str], passes: set[str]):
    """The shortest case glob covering ``cases`` and none of ``passes``: ``*``, then prefix globs
    (``chat_*``), then the exact list."""
    import fnmatch

    prefixes = sorted({c.split("_", 1)[0] + "_*" for c in cases})
    for cand in (["*"], prefixes):
        if not any(fnmatch.fnmatchcase(p, g) for p in passes for g in cand):
            return cand[0] if len(cand) == 1 else cand
    return sorted(cases) if len(cases) > 1 else next(iter(cases))


def _exact_entries(template: dict, keys: list[tuple], passing: set[tuple]) -> list[dict]:
    """Entries covering exactly ``keys`` and no passing verdict: per (rule, path), tokenizers grouped
    by the case glob chosen for them."""
    by_rule_path = defaultdict(lambda: defaultdict(set))
    for rule, tok, path, case in keys:
        by_rule_path[(rule, path)][tok].add(case)
    out = []
    for (rule, path), cases_by_tok in sorted(by_rule_path.items()):
        groups = defaultdict(list)
        for tok, cases in sorted(cases_by_tok.items()):
            passes = {c for (r, t, p, c) in passing if (r, t, p) == (rule, tok, path)}
            pattern = _case_pattern(cases, passes)
            groups[pattern if isinstance(pattern, str) else tuple(pattern)].append(tok)
        for pattern, toks in sorted(groups.items(), key=lambda kv: kv[1]):
            entry = {"rule": rule, "path": path, "tokenizer": toks if len(toks) > 1 else toks[0],
                     "case": pattern if isinstance(pattern, str) else list(pattern)}
            entry.update({k: template[k] for k in (*SIGNATURE_KEYS, *REF_KEYS) if k in template})
            out.append(entry)
    return out


def _runs(key_versions: dict[str, str], order: list[str]) -> list[str]:
    """TRL specifiers covering exactly the versions where a key fails, among the versions where it
    was judged: one ``>=first[,<next]`` per contiguous run of failing versions ("" = always)."""
    judged = [v for v in order if v in key_versions]
    if all(key_versions[v] == "fail" for v in judged):
        return [""]
    specs, i = [], 0
    while i < len(judged):
        if key_versions[judged[i]] != "fail":
            i += 1
            continue
        j = i
        while j + 1 < len(judged) and key_versions[judged[j + 1]] == "fail":
            j += 1
        lower = f">={judged[i]}" if i > 0 else ""
        upper = f"<{judged[j + 1]}" if j + 1 < len(judged) else ""
        specs.append(",".join(x for x in (lower, upper) if x))
        i = j + 1
    return specs


def _split(template: dict, fails: list[tuple], statuses: dict, order: list[str], facts: dict) -> list[dict]:
    """Exact entries for ``fails``, with trl conditions where other TRL versions pass; a pass counts against
    a glob only when the template's signature holds on it (``facts``: (key, trl version) -> ``Facts``)."""
    by_spec: dict[str, list[tuple]] = defaultdict(list)
    for key in fails:
        for spec in _runs(statuses[key], order):
            by_spec[spec].append(key)
    out = []
    for spec, keys in sorted(by_spec.items()):
        from packaging.specifiers import SpecifierSet

        inside = SpecifierSet(spec) if spec else None
        signed = _signature(template).signed
        passing = {k for k, per in statuses.items()
                   if any(st == "pass" and (inside is None or v in inside) and signed(facts.get((k, v), exp.NO_FACTS))
                          for v, st in per.items())}
        tmpl = dict(template)
        if spec:
            tmpl["trl"] = spec
        out.extend(_exact_entries(tmpl, keys, passing))
    return out


def update(entries: list[dict], reports: list[dict]) -> tuple[list[dict], dict]:
    """New entry list and counts of what changed. Several reports (one per TRL line) give
    entries trl conditions where a key fails on some lines and passes on others."""
    from packaging.version import Version

    verdicts = _verdicts(reports)
    statuses = {k: {v.get("trl") or "0": s for s, v, _ in vs if s in ("pass", "fail")} for k, vs in verdicts.items()}
    facts = {(k, v.get("trl") or "0"): f for k, vs in verdicts.items() for _, v, f in vs}
    order = sorted({r["run_info"]["libraries"].get("trl") or "0" for r in reports}, key=Version)
    # (key, trl version) pairs: an entry that covers a key on one line says nothing about another
    failing = {(k, v) for k, per in statuses.items() for v, st in per.items() if st == "fail"}
    covered: set[tuple] = set()
    out, stats = [], defaultdict(int)
    for entry in entries:
        if "modifier" in entry:
            out.append(entry)
            stats["kept (batch modifier, not rewritten)"] += 1
            continue
        e = _key_fields(entry)
        matched = {k: [(s, v) for s, v, f in vs if e.matches(*k, v, facts=f)] for k, vs in verdicts.items()}
        matched = {k: vs for k, vs in matched.items() if vs}
        fails = sorted(k for k, vs in matched.items() if any(s == "fail" for s, _ in vs))
        over = e.strict and any(s == "pass" for vs in matched.values() for s, _ in vs)
        if not matched:  # about versions/tokenizers these reports did not run: keep as written
            out.append(entry)
            stats["kept (not exercised)"] += 1
        elif not e.strict:  # a PASS under it is a PASS: only its own failures could say more, and it names none
            out.append(entry)
            stats["kept (strict: false, a mechanism entry)"] += 1
        elif not fails:
            stats["dropped (no longer failing)"] += 1
        elif over:
            out.extend(_split(entry, fails, statuses, order, facts))
            stats["narrowed"] += 1
        else:
            out.append(entry)
            stats["kept"] += 1
        covered.update((k, v.get("trl") or "0") for k, vs in matched.items() for st, v in vs if st == "fail")
    uncovered = failing - covered
    new = sorted({k for k, _ in uncovered})
    if new:
        libs = reports[-1]["run_info"]["libraries"]
        template = {"reason": f"untriaged: observed on trl {', '.join(order)} / transformers "
                              f"{libs.get('transformers')}; replace with an issue/pr number or a reason"}
        # a new entry covers only the lines no entry covers (the others keep their references)
        rest = {k: {v: st if st == "pass" or (k, v) in uncovered else "covered" for v, st in statuses[k].items()}
                for k in new}
        added = _split(template, new, {**statuses, **rest}, order, facts)
        out.extend(added)
        stats["added (untriaged)"] += len(added)
    return out, dict(stats)


def run(report_paths: list[str], file: Path | None = None, write: bool = False) -> tuple[dict, str]:
    """(what changed, unified diff of the file); the file is rewritten only with ``write``."""
    import difflib
    import os
    import tempfile

    file = Path(file or exp.DEFAULT_FILE)
    exp.load(file)  # validate what is there before rewriting it
    old = file.read_text(encoding="utf-8") if file.exists() else ""
    raw = yaml.safe_load(old) if old else None
    entries = (raw or {}).get("expectations", []) or []
    reports = [report_mod.load(Path(p)) for p in report_paths]
    new_entries, stats = update(entries, reports)
    if new_entries == entries:  # nothing changed: the file stays byte for byte as written
        return stats, ""
    text = HEADER + yaml.safe_dump({"expectations": new_entries}, sort_keys=False, allow_unicode=True, width=110)
    diff = "".join(difflib.unified_diff(old.splitlines(keepends=True), text.splitlines(keepends=True),
                                        f"{file} (now)", f"{file} (updated)"))
    if write and text != old:
        fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        exp.load(Path(tmp))  # the new file must load before it replaces the old one
        os.replace(tmp, file)
    return stats, diff
