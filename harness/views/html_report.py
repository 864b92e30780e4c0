"""The label report: every finding's tokens as coloured chips, in one self-contained HTML file.

Chip background is the label (trained / masked / padding), the underline is the token's role in
the reference rendering (prompt, header, content, end-of-turn, BOS, or not in the reference), a
bold outline marks special tokens and a red ring the positions a rule flagged. Hover shows
position, id, label and role. Given reports of several TRL versions, each finding's case is shown
side by side, one column per version, and the matrix table at the top links each failing cell to
its evidence. No network assets: CSS inline, no script needed to read it.
"""

from __future__ import annotations

import html
from collections import defaultdict
from pathlib import Path

from harness.views import matrix
from harness.views.report import effective_status

esc = html.escape

CSS = """
body{font-family:system-ui,sans-serif;font-size:13px;margin:16px;color:#222}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 6px;white-space:nowrap}
td.fail{background:#f8c9c9}td.xfail{background:#ffe3b5}td.ok{background:#dff3df}td.na{color:#999}
a{color:#1a56a6}.legend span{margin-right:10px}
.versions{display:flex;gap:14px;align-items:flex-start}.version{flex:1;min-width:0;border:1px solid #ddd;padding:6px}
.chips{line-height:2.1;font-family:ui-monospace,monospace;font-size:12px;word-break:break-all}
.chip{display:inline-block;padding:0 3px;margin:1px;border-radius:3px;border-bottom:3px solid transparent;
white-space:pre}
.chip.trained{background:#b7e4b7}.chip.masked{background:#f3c4c4}.chip.pad{background:#e4e4e4;color:#888}
.chip.special{outline:2px solid #333;font-weight:bold}.chip.flagged{outline:3px solid #d00}
.role-prompt,.role-header{border-bottom-color:#3b6fd8}.role-content,.role-completion{border-bottom-color:#1c9a3c}
.role-eot,.role-eos{border-bottom-color:#a23bd8}.role-bos{border-bottom-color:#111}
.role-sep,.role-preamble{border-bottom-color:#999}.role-mixed{border-bottom-color:#e08a00}
.role-notref{border-bottom-color:#e00000;border-bottom-style:dotted}
.status-fail{color:#b00;font-weight:bold}.status-xfail{color:#a65f00;font-weight:bold}.status-pass{color:#170}
.finding{border-top:2px solid #ccc;margin-top:18px;padding-top:6px}
"""

LEGEND = ("<p class='legend'>label: <span class='chip trained'>trained</span><span class='chip masked'>"
          "masked (-100)</span><span class='chip pad'>padding</span><span class='chip special masked'>special"
          "</span> role (underline): <span class='chip role-prompt'>prompt / header</span><span class='chip "
          "role-content'>content / completion</span><span class='chip role-eot'>end of turn / EOS</span>"
          "<span class='chip role-bos'>BOS</span><span class='chip role-notref'>not in reference</span>"
          "<span class='chip role-mixed'>spans the join</span> <span class='chip flagged'>flagged by the rule</span>"
          "</p>")


def _version(rep: dict) -> str:
    libs = rep["run_info"]["libraries"]
    return f"trl {libs.get('trl')} / transformers {libs.get('transformers')}"


def _anchor(*parts: str) -> str:
    return "-".join("".join(ch if ch.isalnum() else "_" for ch in p) for p in parts)


def _role_class(role: str | None) -> str:
    if not role:
        return ""
    base = role.split("@")[0]
    return "role-notref" if base == "not-in-reference" else f"role-{base}"


def chips(ev: dict, flagged: set[int]) -> str:
    """One chip per position: label kind + role classes, hover title with position, id, label, role."""
    if ev.get("refused") or ev.get("dropped"):
        return f"<p><em>{esc(ev.get('refused') or ev.get('dropped'))}</em></p>"
    roles = ev.get("roles") or [None] * len(ev["input_ids"])
    out = []
    for p, (i, lab, att, text, role, special) in enumerate(zip(ev["input_ids"], ev["labels"], ev["attention_mask"],
                                                               ev["tokens"], roles, ev["special"])):
        kind = "pad" if not att else "masked" if lab == -100 else "trained"
        cls = " ".join(c for c in ("chip", kind, _role_class(role), "special" if special else "",
                                   "flagged" if p in flagged else "") if c)
        shown = text.replace("\n", "\\n").replace("\t", "\\t") or "∅"
        title = f"pos {p} · id {i} · label {lab} · {role or 'no reference'}"
        out.append(f'<span class="{cls}" title="{esc(title)}">{esc(shown)}</span>')
    # long padding runs are folded so the content stays readable
    return f"<div class='chips'>{_fold_padding(out, ev['attention_mask'])}</div>"


def _fold_padding(chip_html: list[str], attention: list[int]) -> str:
    out, run = [], []
    for c, a in zip(chip_html, attention):
        if a:
            if run:
                out.append(run[0] if len(run) == 1 else f"{run[0]}<span class='chip pad'>… {len(run)} pad</span>")
                run = []
            out.append(c)
        else:
            run.append(c)
    if run:
        out.append(run[0] if len(run) == 1 else f"{run[0]}<span class='chip pad'>… {len(run)} pad</span>")
    return "".join(out)


def _evidence_index(rep: dict) -> dict[tuple[str, str, str], dict]:
    return {(e["tokenizer"], e["path"], e["case"]): e for e in rep.get("evidence", [])}


def render(reports: list[dict], finding: str | None = None, all_cases: bool = False) -> str:
    """The page for one or several reports (several: one column per TRL version, and the matrix)."""
    evidence = [_evidence_index(r) for r in reports]
    # (tokenizer, path, case) -> one list of records per report
    records: dict[tuple, list[list[dict]]] = defaultdict(lambda: [[] for _ in reports])
    for k, rep in enumerate(reports):
        for rec in rep["records"]:
            records[(rec["tokenizer"], rec["path"], rec["case"])][k].append(rec)
    wanted = None
    if finding:
        rule, tok, path, case = finding.split(":")
        wanted = (rule, tok, path, case)
    # findings: (rule, path) -> [(tokenizer, case)], over all reports
    groups: dict[tuple[str, str], set] = defaultdict(set)
    for key, per in records.items():
        for recs in per:
            for rec in recs:
                if rec["status"] == "fail" and (wanted is None or (rec["rule"], *key) == wanted):
                    groups[(rec["rule"], key[1])].add((key[0], key[2]))
    shown = sorted({(t, p, c) for (_, p), items in groups.items() for t, c in items})
    if all_cases and wanted is None:
        shown = sorted(records)
    head = (f"<!doctype html><html><head><meta charset='utf-8'><title>sft-conformance labels</title>"
            f"<style>{CSS}</style></head><body><h1>sft-conformance label report</h1>")
    parts = [head, "<p>" + " · ".join(esc(_version(r)) for r in reports) + "</p>", LEGEND]
    if len(reports) > 1:
        parts.append(_matrix_table(reports, groups))
    parts.append(_findings_table(groups, reports, records))
    for key in shown:
        parts.append(_case_section(key, reports, records[key], evidence, wanted))
    parts.append("</body></html>\n")
    return "".join(parts)


def _matrix_table(reports: list[dict], groups) -> str:
    data = matrix.build(reports)
    cols = data["columns"]
    head = "".join(f"<th>{esc(p)}<br>{esc(f)}</th>" for p, f in cols)
    rows = []
    for row in data["rows"]:
        tds = []
        for path, family in cols:
            cell = data["cells"].get((row, (path, family)))
            text = matrix._cell_text(cell)
            cls = "fail" if cell and cell.get("fail") else "xfail" if cell and cell.get("xfail") else \
                "na" if text == "n.a." else "ok"
            target = next((r for r, p in sorted(groups) if p == path and r.startswith(family + "-")), None)
            inner = f"<a href='#{_anchor('f', target, path)}'>{esc(text)}</a>" if target and cls in ("fail", "xfail") \
                else esc(text)
            tds.append(f"<td class='{cls}'>{inner}</td>")
        rows.append(f"<tr><th>{esc(row)}</th>{''.join(tds)}</tr>")
    return f"<h2>Matrix</h2><table id='matrix'><tr><th>TRL</th>{head}</tr>{''.join(rows)}</table>"


def _findings_table(groups, reports, records) -> str:
    rows = []
    for (rule, path), items in sorted(groups.items()):
        per_version = []
        for k, rep in enumerate(reports):
            n = sum(1 for t, c in items for rec in records[(t, path, c)][k]
                    if rec["rule"] == rule and rec["status"] == "fail")
            per_version.append(str(n))
        links = ", ".join(f"<a href='#{_anchor('e', t, path, c)}'>{esc(t)}/{esc(c)}</a>" for t, c in sorted(items)[:12])
        more = f" … {len(items) - 12} more" if len(items) > 12 else ""
        counts = "".join(f"<td>{n}</td>" for n in per_version)
        rows.append(f"<tr id='{_anchor('f', rule, path)}'><td>{esc(rule)}</td><td>{esc(path)}</td>{counts}"
                    f"<td>{links}{more}</td></tr>")
    head = "".join(f"<th>{esc(_version(r))}</th>" for r in reports)
    return (f"<h2>Findings ({len(groups)} rule × path groups)</h2><table id='findings'><tr><th>rule</th><th>path</th>"
            f"{head}<th>cases</th></tr>{''.join(rows)}</table>")


def _case_section(key, reports, per, evidence, wanted) -> str:
    tok, path, case = key
    cols = []
    for k, rep in enumerate(reports):
        recs = per[k]
        bad = [r for r in recs if r["status"] == "fail" and (wanted is None or r["rule"] == wanted[0])]
        flagged = {p for r in bad for p in r.get("positions", [])}
        verdicts = "".join(
            f"<li><span class='status-{effective_status(r)}'>{esc(r['rule'])} {esc(effective_status(r))}</span> "
            f"{esc(r['message'][:300])}{' (' + esc(r['expected_failure']) + ')' if r.get('expected_failure') else ''}"
            "</li>" for r in bad) or "<li class='status-pass'>no failing rule</li>"
        ev = evidence[k].get(key)
        body = chips(ev, flagged) if ev else "<p><em>not applicable in this version</em></p>"
        scope = f" · loss scope {esc(ev['loss_scope'])}" if ev else ""
        cols.append(f"<div class='version'><h4>{esc(_version(rep))}{scope}</h4><ul>{verdicts}</ul>{body}</div>")
    return (f"<section class='finding' id='{_anchor('e', tok, path, case)}'><h3>{esc(tok)} · {esc(path)} · "
            f"{esc(case)}</h3><div class='versions'>{''.join(cols)}</div></section>")


def write(reports: list[dict], out: Path, finding: str | None = None, all_cases: bool = False) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(reports, finding, all_cases), encoding="utf-8")
    return out
