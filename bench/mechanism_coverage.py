"""How many known-upstream FAILs the expectations would still recognise on a tokenizer they cannot name.

    .venv/bin/python bench/mechanism_coverage.py reports/report.json [more reports ...] [--json out.json]

A user's own tokenizer (or a catalog template they edited: another content hash) is judged under its own
id, so only entries that name no tokenizer (mechanism entries: a signature, a whole TRL range) can cover
its FAILs. For every FAIL a report records as known upstream, this re-asks the expectations with the
tokenizer renamed to an id no entry names, with the record's own facts (``signs``, ``warnings``) and the
report's library versions, as ``run --tokenizer PATH`` on a forked template would. Prints, per report and per
reference, how many of those FAILs stay known; reports must come from a harness that records the
signatures (run with the current code).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

UNNAMED = "a-tokenizer-no-entry-names"


def coverage(report: dict, known) -> dict:
    """{"known": n, "still_known": m, "by_reference": {ref: [n, m]}} for one report."""
    from harness.pipeline import expectations as exp

    versions = report["run_info"]["libraries"]
    by_ref: dict[str, list[int]] = {}
    totals = Counter()
    for r in report["records"]:
        if r["status"] != "fail" or not r.get("expected_failure"):
            continue
        hit = exp.find(known, r["rule"], UNNAMED, r["path"], r["case"], versions, r.get("modifier") or "",
                       exp.Facts.of(r), status="fail")
        row = by_ref.setdefault(r["expected_failure"], [0, 0])
        row[0] += 1
        row[1] += hit is not None
        totals["known"] += 1
        totals["still_known"] += hit is not None
    return {"trl": versions.get("trl"), "transformers": versions.get("transformers"), **totals,
            "by_reference": dict(sorted(by_ref.items(), key=lambda kv: -kv[1][0]))}


def main() -> int:
    from harness.pipeline import expectations as exp

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("reports", nargs="+")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    known = exp.load()
    out = {}
    for path in args.reports:
        rep = json.loads(Path(path).read_text(encoding="utf-8"))
        c = out[Path(path).name] = coverage(rep, known)
        share = f"{100 * c.get('still_known', 0) / c['known']:.1f} %" if c.get("known") else "-"
        print(f"{Path(path).name}: trl {c['trl']}, {c.get('known', 0)} known-upstream FAIL(s); "
              f"{c.get('still_known', 0)} still known on an unnamed tokenizer ({share})")
        for ref, (n, m) in c["by_reference"].items():
            print(f"    {m:>6} of {n:<6} {ref}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
