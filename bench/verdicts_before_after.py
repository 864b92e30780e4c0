"""Are the verdicts of ``sft-conformance run`` the same before and after a change of the harness?

    .venv/bin/python bench/verdicts_before_after.py --before REV --after-reports DIR --envs DIR \
        --releases 0.9.6,0.11.4 [--jobs N] [--json reports/verdicts-before-after.json]
    .venv/bin/python bench/verdicts_before_after.py --before REV --before-reports DIR --after-reports DIR \
        --releases ... --json OUT

For each release, runs the harness as it was at git revision ``REV`` (a temporary ``git worktree``) in that
release's environment (``DIR/trl-<release>/bin/python``, as ``sft-conformance releases`` builds them) and
compares its report with the report the current code wrote for the same release (``--after-reports``,
e.g. a ``releases --reports`` folder). With ``--before-reports``, the old revision's reports are read from
that folder (``releases`` run from a checkout of ``REV``) instead of being run here. Records are matched by
(tokenizer, path, case, rule, modifier) and compared on status, message and positions, and on the evidence tensors; the expectation a record is
matched to is not compared (expectations change with triage, not with the harness). Writes one row per
release: records compared, records missing on either side, and every difference, for ``bench/results.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPARED = ("status", "message", "positions")
EVIDENCE_TENSORS = ("input_ids", "labels", "attention_mask")


def _key(r: dict) -> tuple:
    return r["tokenizer"], r["path"], r["case"], r["rule"], r.get("modifier")


def compare(before: dict, after: dict) -> dict:
    """Counts and the first differences between two reports' records."""
    old = {_key(r): r for r in before["records"]}
    new = {_key(r): r for r in after["records"]}
    diffs = []
    for key in old.keys() & new.keys():
        a, b = old[key], new[key]
        fields = [f for f in COMPARED if a.get(f) != b.get(f)]
        fields += [f"evidence.{t}" for t in EVIDENCE_TENSORS
                   if (a.get("evidence") or {}).get(t) != (b.get("evidence") or {}).get(t)]
        if fields:
            diffs.append({"key": list(key), "fields": fields,
                          "before": {f: a.get(f) for f in COMPARED}, "after": {f: b.get(f) for f in COMPARED}})
    ev_old = {(e["tokenizer"], e["path"], e["case"]): e for e in before.get("evidence", [])}
    ev_new = {(e["tokenizer"], e["path"], e["case"]): e for e in after.get("evidence", [])}
    tensor_diffs = [list(k) for k in ev_old.keys() & ev_new.keys()
                    if any(ev_old[k].get(t) != ev_new[k].get(t) for t in EVIDENCE_TENSORS)]
    return {"records": len(old.keys() & new.keys()), "only_before": len(old.keys() - new.keys()),
            "only_after": len(new.keys() - old.keys()), "differences": len(diffs), "first_differences": diffs[:5],
            "evidence_compared": len(ev_old.keys() & ev_new.keys()), "evidence_tensor_differences": tensor_diffs[:5],
            "evidence_tensor_difference_count": len(tensor_diffs)}


def run_before(worktree: Path, python: Path, jobs: int | None, report: Path) -> float:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONPATH": str(worktree)}
    t0 = time.perf_counter()
    jobs_args = ["--jobs", str(jobs)] if jobs else []  # revisions before `run --jobs` ran in one process
    proc = subprocess.run([str(python), "-m", "harness.cli", "run", *jobs_args, "--report", str(report)],
                          cwd=worktree, env=env, capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{python}: run exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", required=True, help="git revision of the harness before the change")
    ap.add_argument("--after-reports", required=True, type=Path, help="folder of trl-<release>.json by the current code")
    ap.add_argument("--envs", type=Path, help="folder of trl-<release> environments (to run the old revision)")
    ap.add_argument("--before-reports", type=Path, help="folder of trl-<release>.json the old revision wrote")
    ap.add_argument("--releases", required=True, help="comma-separated releases, e.g. 0.9.6,0.11.4")
    ap.add_argument("--jobs", type=int, default=None, help="run --jobs for the old revision (if it has the option)")
    ap.add_argument("--json", type=Path, default=ROOT / "reports" / "verdicts-before-after.json")
    args = ap.parse_args()
    releases = [r for r in args.releases.split(",") if r]
    if not (args.envs or args.before_reports):
        print("error: --envs (to run the old revision) or --before-reports is needed", file=sys.stderr)
        return 2
    for release in releases:
        before_input = (args.before_reports / f"trl-{release}.json" if args.before_reports
                        else args.envs / f"trl-{release}" / "bin" / "python")
        for needed in (before_input, args.after_reports / f"trl-{release}.json"):
            if not needed.exists():
                print(f"error: {needed} does not exist", file=sys.stderr)
                return 2
    rev = subprocess.run(["git", "rev-parse", "--short", args.before], cwd=ROOT, capture_output=True, text=True,
                         check=False)
    if rev.returncode:
        print(f"error: --before {args.before}: not a git revision here", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory(prefix="sftc-before-") as tmp:
        worktree = Path(tmp) / "tree"
        if not args.before_reports:  # the old revision runs here only when its reports are not given
            subprocess.run(["git", "worktree", "add", "--detach", "-q", str(worktree), args.before], cwd=ROOT,
                           check=True)
        try:
            for release in releases:
                report = Path(tmp) / f"trl-{release}.json"
                if args.before_reports:
                    report, seconds = args.before_reports / f"trl-{release}.json", 0.0
                else:
                    seconds = run_before(worktree, args.envs / f"trl-{release}" / "bin" / "python", args.jobs, report)
                after = json.loads((args.after_reports / f"trl-{release}.json").read_text(encoding="utf-8"))
                row = {"release": release, "before_run_s": round(seconds, 1),
                       **compare(json.loads(report.read_text(encoding="utf-8")), after)}
                rows.append(row)
                print(f"trl {release}: {row['records']} records compared, {row['differences']} differ "
                      f"(only before {row['only_before']}, only after {row['only_after']}); evidence tensors differ "
                      f"in {row['evidence_tensor_difference_count']} of {row['evidence_compared']}", flush=True)
        finally:
            if worktree.exists():
                subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, check=False)
    out = {"before": rev.stdout.strip(), "after_reports": str(args.after_reports), "rows": rows,
           "measured": time.strftime("%Y-%m-%d", time.gmtime())}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return 1 if any(r["differences"] or r["only_before"] or r["only_after"] for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
