"""Warm `sft-conformance releases` runs of an older revision against this checkout, on a sample of releases.

    .venv/bin/python bench/releases_before_after.py --before REV [--ranges 0.17.0:0.18.2,1.14.0:1.16.0]
        [--jobs 2] [--work DIR] [--json reports/releases-before-after.json] [--summarise-only]

The older revision is checked out into a git worktree under ``--work``; each side builds its own release
environments there (``envs-before``, ``envs-after``: each side's environments install its own checkout).
The passes run in the order before, after, before, after, with the caller's environment as it is (set
``PYTHONDONTWRITEBYTECODE=1`` to measure what a CI image that sets it sees); the first pass of a side builds
its environments, the second is the warm measurement recorded. ``--summarise-only`` reads the report folders
of an earlier invocation (``WORK/<side><pass>/<from>/timings.json``) and writes the JSON again.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PASSES = ("before1", "after1", "before2", "after2")


def run_pass(checkout: Path, ranges: list[tuple[str, str]], envs: Path, reports: Path, jobs: int) -> float:
    t0 = time.perf_counter()
    for low, high in ranges:
        subprocess.run([sys.executable, "-m", "harness.cli", "releases", "--from", low, "--to", high, "--jobs",
                        str(jobs), "--force", "--reports", str(reports / low), "--envs", str(envs)],
                       cwd=checkout, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    return time.perf_counter() - t0


def summarise(work: Path, ranges: list[tuple[str, str]], before: str, after: str) -> dict:
    out = {"before": before, "after": after, "ranges": [f"{a}:{b}" for a, b in ranges],
           "pythondontwritebytecode": os.environ.get("PYTHONDONTWRITEBYTECODE", ""),
           "measured": time.strftime("%Y-%m-%d"), "passes": {}}
    for name in PASSES:
        runs, wall = {}, 0.0
        for low, _ in ranges:
            data = json.loads((work / name / low / "timings.json").read_text(encoding="utf-8"))
            runs.update({k: v["run_s"] for k, v in data["runs"].items()})
            wall += data["summary"].get("wall_s") or 0.0
        out["passes"][name] = {"runs": dict(sorted(runs.items())), "wall_s": round(wall, 1),
                               "run_median_s": round(statistics.median(runs.values()), 1),
                               "run_max_s": max(runs.values())}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", required=True, help="the older revision (a commit or tag)")
    ap.add_argument("--ranges", default="0.17.0:0.18.2,1.14.0:1.16.0")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "sftc-releases-before-after"))
    ap.add_argument("--json", default=str(ROOT / "reports" / "releases-before-after.json"))
    ap.add_argument("--after", help="the label of this checkout's side (default: its HEAD)")
    ap.add_argument("--summarise-only", action="store_true")
    args = ap.parse_args()
    ranges = [tuple(r.split(":")) for r in args.ranges.split(",")]
    work = Path(args.work)
    after = args.after or subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                         text=True, check=True).stdout.strip()
    if not args.summarise_only:
        side = {"before": work / "before", "after": ROOT}
        if not side["before"].exists():
            subprocess.run(["git", "worktree", "add", "--detach", str(side["before"]), args.before], cwd=ROOT,
                           check=True)
        for name in PASSES:
            which = name.rstrip("12")
            seconds = run_pass(side[which], ranges, work / f"envs-{which}", work / name, args.jobs)
            print(f"{name}: {seconds:.1f} s", flush=True)
    data = summarise(work, ranges, args.before, after)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    for name in ("before2", "after2"):
        p = data["passes"][name]
        print(f"{name}: median {p['run_median_s']} s, max {p['run_max_s']} s, wall {p['wall_s']} s")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
