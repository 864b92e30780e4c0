"""Merge the JSON reports of several environments (one per TRL line) into one table.

Rows are TRL versions (with their transformers version); columns are path x rule family;
a cell counts pass / fail / xfail / n.a. verdicts. Below the table, every finding (a rule
failing on a tokenizer, path and case in some line) with its first bad and first good release
among the lines run, grouped by (rule, path) so the list stays readable.
"""

from __future__ import annotations

import glob
import html
from collections import Counter, defaultdict
from pathlib import Path

from harness.views import report as report_mod

SYMBOLS = (("pass", "✓"), ("fail", "✗"), ("xfail", "x"), ("xpass", "XPASS"), ("undecidable", "?"))


def load_reports(patterns: list[str]) -> list[dict]:
    """Reports from paths or globs, ordered by TRL version."""
    from packaging.version import Version

    paths = sorted({p for pat in patterns for p in (glob.glob(pat) or [pat])})
    reports = [report_mod.load(Path(p)) for p in paths]
    if not reports:
        raise report_mod.ReportError("no reports given")
    return sorted(reports, key=lambda r: Version(r["run_info"]["libraries"].get("trl") or "0"))


def _family(rule: str) -> str:
    return rule.split("-")[0]


def build(reports: list[dict], expectations_file: str | None = None) -> dict:
    """Rows, columns, cells and findings as plain data (rendered by ``markdown``/``html_page``).

    FAILs are re-classified with the current expectations file (not the one in force when a
    report was written), so the table always reflects the references as they stand.
    """
    from packaging.version import Version

    from harness.pipeline import expectations as exp

    known = exp.load(expectations_file)

    rows, cells, columns, not_evaluated = [], {}, set(), {}
    timeline: dict[tuple, dict[str, str]] = defaultdict(dict)
    axis: dict[str, dict[tuple, dict[str, str]]] = defaultdict(lambda: defaultdict(dict))  # trl -> key -> tf -> status
    series = [r for r in reports if r["run_info"].get("axis") != "transformers"]
    in_series = {id(r) for r in series}
    # TRL releases run with several transformers releases: only their records feed the transformers findings
    on_axis = {r["run_info"]["libraries"].get("trl") for r in reports if r["run_info"].get("axis") == "transformers"}
    for rep in reports:
        libs = rep["run_info"]["libraries"]
        row = f"trl {libs.get('trl')} (transformers {libs.get('transformers')})"
        rows.append(row)
        if rep["run_info"].get("not_evaluated"):
            not_evaluated[row] = rep["run_info"]["not_evaluated"]
        counts: dict[tuple, Counter] = defaultdict(Counter)
        # the id the run matched expectations by: a renamed copy of a catalog tokenizer is judged as the original
        judged = {t: i.get("judged_as", t) for t, i in rep["run_info"].get("tokenizers", {}).items()
                  if isinstance(i, dict)}
        for rec in rep["records"]:
            where = rec["path"] + (f"+{rec['modifier']}" if rec.get("modifier") else "")  # a column per modifier
            col = (where, _family(rec["rule"]))
            columns.add(col)
            status = rec["status"]
            if status in ("fail", "pass"):
                hit = exp.find(known, rec["rule"], judged.get(rec["tokenizer"], rec["tokenizer"]), rec["path"],
                               rec["case"], libs,
                               rec.get("modifier") or "", exp.Facts.of(rec), status)
                status = ({"fail": "xfail", "pass": "xpass"}[status]) if hit else status
            counts[col][status] += 1
            if rec["status"] in ("pass", "fail"):
                key = (rec["rule"], where, rec["tokenizer"], rec["case"])
                if libs.get("trl") in on_axis:
                    axis[libs.get("trl")][key][libs.get("transformers")] = rec["status"]
                if id(rep) in in_series:
                    timeline[key][libs.get("trl")] = rec["status"]
        for col, c in counts.items():
            cells[(row, col)] = c
    order = [r["run_info"]["libraries"].get("trl") for r in series if not r["run_info"].get("not_evaluated")]
    groups: dict[tuple, list] = defaultdict(list)
    for (rule, path, tok, case), per in timeline.items():
        if "fail" not in per.values():
            continue
        for first_bad, first_good in bad_intervals([(v, per[v]) for v in order if v in per]):
            groups[(rule, path, first_bad, first_good)].append(f"{tok}/{case}")
    by_transformers = transformers_findings(axis)
    # columns that are not applicable on every line say nothing (MULTI on single-turn collators)
    live = [c for c in sorted(columns) if any(_cell_text(cells.get((row, c))) not in ("", "n.a.") for row in rows)]
    findings = [{"rule": r, "path": p, "first_bad": b, "first_good": g, "count": len(items),
                 "examples": sorted(items)[:4]} for (r, p, b, g), items in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], Version(kv[0][2])))]
    return {"rows": rows, "columns": live, "cells": cells, "findings": findings, "not_evaluated": not_evaluated,
            "transformers_findings": by_transformers}


def unexpected_cells(data: dict) -> list[tuple[str, tuple[str, str], str]]:
    """(row, column, counts) of every cell with a FAIL that no expectation covers or an XPASS."""
    return [(row, col, _cell_text(c)) for (row, col), c in sorted(data["cells"].items())
            if c.get("fail") or c.get("xpass")]


def transformers_findings(axis: dict[str, dict[tuple, dict[str, str]]]) -> list[dict]:
    """Findings that depend on transformers: for one TRL release run with several transformers releases,
    a (rule, path, tokenizer, case) that fails with some and passes with others, as first bad / first good
    transformers release, grouped like the TRL findings."""
    from packaging.version import Version

    groups: dict[tuple, list] = defaultdict(list)
    for trl, keys in axis.items():
        for (rule, path, tok, case), per in keys.items():
            if len(per) < 2 or len(set(per.values())) < 2:
                continue
            timeline = sorted(per.items(), key=lambda kv: Version(kv[0] or "0"))
            for first_bad, first_good in bad_intervals(timeline):
                groups[(rule, path, trl, first_bad, first_good)].append(f"{tok}/{case}")
    return [{"rule": r, "path": p, "trl": t, "first_bad": b, "first_good": g, "count": len(items),
             "examples": sorted(items)[:4]}
            for (r, p, t, b, g), items in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], Version(kv[0][2])))]


def bad_intervals(timeline: list[tuple[str, str]]) -> list[tuple[str, str | None]]:
    """(first bad, first good) for every run of failing lines, so a bug that comes back (fixed in
    0.9, reintroduced in 0.15) is listed twice instead of hiding behind its first fix."""
    out, start = [], None
    for version, status in timeline:
        if status == "fail" and start is None:
            start = version
        elif status == "pass" and start is not None:
            out.append((start, version))
            start = None
    if start is not None:
        out.append((start, None))
    return out


def _cell_text(c: Counter | None) -> str:
    if not c:
        return ""
    parts = [f"{c[k]}{sym}" for k, sym in SYMBOLS if c.get(k)]
    return " ".join(parts) if parts else "n.a."


def markdown(data: dict) -> str:
    cols = data["columns"]
    lines = ["# Conformance matrix", "",
             "Cells: ✓ pass, ✗ fail, x known upstream (expectation), ? undecidable, n.a. not applicable.", "",
             "| TRL | " + " | ".join(f"{p} {f}" for p, f in cols) + " |",
             "|---|" + "---|" * len(cols)]
    for row in data["rows"]:
        if row in data.get("not_evaluated", {}):
            reason = data["not_evaluated"][row].replace("|", "/")
            lines.append(f"| {row} | NOT EVALUATED: {reason} |" + " |" * max(0, len(cols) - 1))
            continue
        lines.append(f"| {row} | " + " | ".join(_cell_text(data["cells"].get((row, c))) for c in cols) + " |")
    lines += ["", "## Findings (first bad / first good release among the releases run)", "",
              "| rule | path | first bad | first good | cases | examples |", "|---|---|---|---|---|---|"]
    for f in data["findings"]:
        lines.append(f"| {f['rule']} | {f['path']} | {f['first_bad']} | {f['first_good'] or 'not fixed'} | "
                     f"{f['count']} | {', '.join(f['examples'])} |")
    if data.get("transformers_findings"):
        lines += ["", "## Findings that depend on transformers (one TRL release, several transformers releases)", "",
                  "| rule | path | trl | transformers first bad | transformers first good | cases | examples |",
                  "|---|---|---|---|---|---|---|"]
        for f in data["transformers_findings"]:
            lines.append(f"| {f['rule']} | {f['path']} | {f['trl']} | {f['first_bad']} | {f['first_good'] or 'not fixed'} "
                         f"| {f['count']} | {', '.join(f['examples'])} |")
    return "\n".join(lines) + "\n"


def html_page(data: dict) -> str:
    """Self-contained HTML (inline CSS, no network assets)."""
    cols = data["columns"]
    esc = html.escape
    head = "".join(f"<th>{esc(p)}<br>{esc(f)}</th>" for p, f in cols)
    body = []
    for row in data["rows"]:
        if row in data.get("not_evaluated", {}):
            body.append(f'<tr><th>{esc(row)}</th><td class="fail" colspan="{max(1, len(cols))}">NOT EVALUATED: '
                        f'{esc(data["not_evaluated"][row])}</td></tr>')
            continue
        tds = []
        for c in cols:
            cell = data["cells"].get((row, c))
            cls = "fail" if cell and cell.get("fail") else "xfail" if cell and cell.get("xfail") else "ok"
            tds.append(f'<td class="{cls}">{esc(_cell_text(cell))}</td>')
        body.append(f"<tr><th>{esc(row)}</th>{''.join(tds)}</tr>")
    finds = "".join(
        f"<tr><td>{esc(f['rule'])}</td><td>{esc(f['path'])}</td><td>{esc(f['first_bad'])}</td>"
        f"<td>{esc(f['first_good'] or 'not fixed')}</td><td>{f['count']}</td>"
        f"<td>{esc(', '.join(f['examples']))}</td></tr>" for f in data["findings"])
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>sft-conformance matrix</title>
<style>body{{font-family:sans-serif;font-size:13px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 6px;white-space:nowrap}}td.fail{{background:#fdd}}
td.xfail{{background:#ffe9c6}}td.ok{{background:#e9f7e9}}</style></head><body>
<h1>Conformance matrix</h1><table id="matrix"><tr><th>TRL</th>{head}</tr>{''.join(body)}</table>
<h2>Findings</h2><table id="findings"><tr><th>rule</th><th>path</th><th>first bad</th><th>first good</th>
<th>cases</th><th>examples</th></tr>{finds}</table></body></html>
"""


def run(patterns: list[str], markdown_path: str | None, html_path: str | None) -> dict:
    data = build(load_reports(patterns))
    if markdown_path:
        Path(markdown_path).parent.mkdir(parents=True, exist_ok=True)
        Path(markdown_path).write_text(markdown(data), encoding="utf-8")
    if html_path:
        Path(html_path).parent.mkdir(parents=True, exist_ok=True)
        Path(html_path).write_text(html_page(data), encoding="utf-8")
    return data
