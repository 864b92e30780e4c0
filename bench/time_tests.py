"""Time the README's test command (``python -m pytest``) and record it for ``bench/results.py``.

    .venv/bin/python bench/time_tests.py [--json reports/pytest-time.json] [-- extra pytest args]

Writes wall and CPU seconds, the pytest summary line, the TRL/transformers versions, the machine's core
count, its load average before the run and which older TRL lines' tox environments were present (the repro
tests run their scripts there), so the results page says what was measured where.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", default=str(ROOT / "reports" / "pytest-time.json"))
    ap.add_argument("pytest_args", nargs="*")
    args = ap.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    load_before = round(os.getloadavg()[0], 2)
    envs = sorted(p.parent.parent.name for p in (ROOT / ".tox").glob("trl-*/bin/python"))
    cpu0 = os.times()
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args.pytest_args],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    cpu1 = os.times()
    cpu_seconds = (cpu1.children_user - cpu0.children_user) + (cpu1.children_system - cpu0.children_system)
    summary = next((ln.strip("= ") for ln in reversed(proc.stdout.splitlines()) if re.search(r"\d+ passed", ln)), "")
    from harness.adapters.versions import library_versions

    libs = library_versions()
    out = {"command": "python -m pytest", "seconds": round(seconds, 1), "exit_code": proc.returncode,
           "summary": summary, "trl": libs["trl"], "transformers": libs["transformers"], "cores": os.cpu_count(),
           "cpu_seconds": round(cpu_seconds, 1), "load_average_before": load_before, "tox_envs": envs,
           "hypothesis_profile": os.environ.get("HYPOTHESIS_PROFILE", "dev"),
           "measured": time.strftime("%Y-%m-%d", time.gmtime())}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(out, indent=1))
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
