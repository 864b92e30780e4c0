"""Which findings change their first bad / first good release when every release is run instead of the
17 tox lines.

    .venv/bin/python bench/compare_ranges.py 'reports/releases/trl-*.json' [--lines 0.8.6,0.9.6,...]

The line view is the same reports restricted to the releases the tox lines pin (read from tox.ini),
so the comparison is of granularity only. Prints one row per (rule, path, interval) group that differs.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def tox_line_releases() -> list[str]:
    text = (ROOT / "tox.ini").read_text(encoding="utf-8")
    out = re.findall(r"trl-[\d.]+:\s*trl==([\d.]+)", text)
    latest = re.search(r"^trl==([\d.]+)", (ROOT / "constraints" / "latest.txt").read_text(), flags=re.MULTILINE)
    return out + ([latest.group(1)] if latest else [])


def groups(data: dict) -> dict[tuple, tuple]:
    """(rule, path, examples key) -> (first bad, first good) for every finding group."""
    return {(f["rule"], f["path"], tuple(f["examples"])): (f["first_bad"], f["first_good"]) for f in data["findings"]}


def main() -> int:
    from harness.views import matrix

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("reports", nargs="+")
    ap.add_argument("--lines", help="comma-separated releases of the line view (default: tox.ini's pins)")
    args = ap.parse_args()
    reports = matrix.load_reports(args.reports)
    lines = args.lines.split(",") if args.lines else tox_line_releases()
    line_reports = [r for r in reports if r["run_info"]["libraries"].get("trl") in lines]
    full, coarse = matrix.build(reports), matrix.build(line_reports)
    by_rule_path_full = {}
    for f in full["findings"]:
        by_rule_path_full.setdefault((f["rule"], f["path"]), set()).add((f["first_bad"], f["first_good"] or "not fixed"))
    by_rule_path_lines = {}
    for f in coarse["findings"]:
        by_rule_path_lines.setdefault((f["rule"], f["path"]), set()).add((f["first_bad"], f["first_good"] or "not fixed"))
    print(f"{len(reports)} release reports; line view: {len(line_reports)} reports ({', '.join(lines)})")
    print("| rule | path | 17-line view (first bad → first good) | every release |")
    print("|---|---|---|---|")
    changed = 0
    for key in sorted(set(by_rule_path_full) | set(by_rule_path_lines)):
        a = sorted(by_rule_path_lines.get(key, set()))
        b = sorted(by_rule_path_full.get(key, set()))
        if a != b:
            changed += 1
            fmt = lambda xs: "; ".join(f"{x} → {y}" for x, y in xs) or "none"
            print(f"| {key[0]} | {key[1]} | {fmt(a)} | {fmt(b)} |")
    print(f"\n{changed} (rule, path) group(s) whose intervals differ")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
