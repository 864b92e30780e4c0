"""Time ``sft-conformance check --all`` on the public dataset (all 999 rows) and record it for ``bench/results.py``.

    .venv/bin/python bench/check_public.py [--tokenizer qwen2.5] [--json reports/check-public.json]

Needs ``sft-conformance provision`` (the ``alpaca-en-demo`` dataset and the tokenizer). Each run is one
``python -m harness.cli check`` process under ``/usr/bin/time -v``: wall seconds (imports, dataset and tokenizer
loading included), the judging seconds the report records, rows/s for both, peak RSS, the exit code and the
closing line. Settings: plain messages and prompt/completion, then assistant_only_loss, packing, padding_free.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RUNS = (("messages", ()), ("prompt_completion", ()), ("messages", ("assistant_only_loss=true",)),
        ("prompt_completion", ("packing=true",)), ("messages", ("padding_free=true",)))


def one(data: Path, tokenizer: str, settings: tuple[str, ...], tmp: Path) -> dict:
    report = tmp / f"{data.stem}-{len(settings)}.json"
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "harness.cli", "check", str(data), "--tokenizer", tokenizer,
           "--all", "--plain", "--report", str(report), *[a for s in settings for a in ("--set", s)]]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    rep = json.loads(report.read_text())
    rows, judging = rep["check"]["judged"], rep["run_info"]["seconds"]
    closing = next((ln for ln in reversed(proc.stdout.splitlines()) if "judged on path" in ln), "")
    return {"data": data.name, "settings": list(settings), "rows": rows, "wall_s": round(wall, 1),
            "rows_per_s": round(rows / wall, 1), "judging_s": judging, "judging_rows_per_s": round(rows / judging, 1),
            "peak_rss_mb": round(int(rss.group(1)) / 1024) if rss else None, "exit_code": proc.returncode,
            "closing": closing}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", default="qwen2.5")
    ap.add_argument("--json", default=str(ROOT / "reports" / "check-public.json"))
    args = ap.parse_args()
    from harness.adapters.versions import library_versions
    from harness.tokenizers import public_data

    folder = public_data.dataset_dir("alpaca-en-demo")
    if folder is None:
        print("alpaca-en-demo is not provisioned: run `sft-conformance provision --only alpaca-en-demo`",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        runs = []
        for name, settings in RUNS:
            runs.append(one(folder / f"{name}.jsonl", args.tokenizer, settings, Path(tmp)))
            print(json.dumps(runs[-1]))
    libs = library_versions()
    out = {"dataset": "alpaca-en-demo", "tokenizer": args.tokenizer, "trl": libs["trl"],
           "transformers": libs["transformers"], "cores": os.cpu_count(),
           "load_average": [round(x, 2) for x in os.getloadavg()], "measured": time.strftime("%Y-%m-%d", time.gmtime()),
           "runs": runs}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
