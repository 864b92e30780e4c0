"""Time ``sft-conformance run`` for one release (the default sweep) with one worker and with every core.

    .venv/bin/python bench/run_wall.py [--json reports/run-wall.json] [--python PATH ...] [--repeat N]

Each ``--python`` is an interpreter with a TRL release installed (default: this one; the release
environments under ``.release-envs/`` are interpreters too). Runs ``run --jobs 1`` and ``run --jobs <cores>``
``--repeat`` times each, keeps the best wall time of each, checks that both reports hold the same records,
and writes wall and CPU seconds with the load average before each run, for ``bench/results.py``.
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
sys.path.insert(0, str(ROOT))


def timed_run(python: str, jobs: int, report: Path) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    load = round(os.getloadavg()[0], 2)
    cpu0, t0 = os.times(), time.perf_counter()
    proc = subprocess.run([python, "-m", "harness.cli", "run", "--jobs", str(jobs), "--report", str(report)],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall, cpu1 = time.perf_counter() - t0, os.times()
    cpu = (cpu1.children_user - cpu0.children_user) + (cpu1.children_system - cpu0.children_system)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"run --jobs {jobs} with {python} exited {proc.returncode}: {proc.stderr[-500:]}")
    return {"jobs": jobs, "seconds": round(wall, 1), "cpu_seconds": round(cpu, 1), "load_average_before": load}


def release_of(python: str) -> str:
    out = subprocess.run([python, "-c", "import trl, transformers; print(trl.__version__, transformers.__version__)"],
                         capture_output=True, text=True, check=True).stdout.split()
    return f"trl {out[0]} / transformers {out[1]}"


def main() -> int:
    from harness.pipeline.fanout import available_cores

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", default=str(ROOT / "reports" / "run-wall.json"))
    ap.add_argument("--python", action="append", help="interpreter with a TRL release (repeatable)")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    cores = available_cores()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for python in args.python or [sys.executable]:
            best = {}
            for jobs in dict.fromkeys((1, cores)):
                for k in range(args.repeat):
                    m = timed_run(python, jobs, Path(tmp) / f"jobs{jobs}.json")
                    if jobs not in best or m["seconds"] < best[jobs]["seconds"]:
                        best[jobs] = m
            reports = [json.loads((Path(tmp) / f"jobs{j}.json").read_text()) for j in best]
            same = all(r["records"] == reports[0]["records"] for r in reports)
            rows.append({"release": release_of(python), "runs": list(best.values()), "same_records": same,
                         "verdicts": len(reports[0]["records"])})
            print(json.dumps(rows[-1]), flush=True)
    out = {"cores": cores, "measured": time.strftime("%Y-%m-%d", time.gmtime()), "releases": rows}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return 0 if all(r["same_records"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
