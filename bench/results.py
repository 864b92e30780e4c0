"""Write ``docs/results.md``: the measured numbers, from the measurement files, never typed by hand.

    .venv/bin/python bench/results.py [--out docs/results.md]

Reads whichever of these exist (each written by the command named on the page):
``reports/bench.json`` (bench/bench.py), ``reports/pytest-time.json`` (bench/time_tests.py),
``reports/run-wall.json`` (bench/run_wall.py), ``reports/run-floor.json`` (bench/run_floor.py),
``reports/releases/timings.json`` and ``reports/releases-warm/timings.json`` (sft-conformance releases),
``reports/verdicts-before-after.json`` (bench/verdicts_before_after.py), ``reports/training.json``
(the training check), ``reports/check-public.json`` (bench/check_public.py). Where a file is missing (another
machine, a fresh clone), the page keeps that section as it was, so regenerating never loses a recorded
measurement; a section never measured is listed as not measured.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORTS = ROOT / "reports"


def _load(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def bench_section(b: dict | None) -> list[str]:
    out = ["## One TRL release, all tokenizers (`bench/bench.py`)", ""]
    if not b:
        return out + ["Not measured: run `.venv/bin/python bench/bench.py --no-pytest`.", ""]
    rows = [("tokenizers", b.get("tokenizers")), ("verdicts", b.get("verdicts")),
            ("raw tokenization floor (s)", b.get("raw_floor_s")), ("tokenizer loading (s)", b.get("load")),
            (f"TRL dataset preparation, {b.get('trl_prepare_count')} trainer builds (s)", b.get("trl_prepare")),
            (f"collation, {b.get('collate_count')} calls (s)", b.get("collate")),
            ("Encoding assembly (s)", b.get("assemble")), ("oracle (s)", b.get("oracle")),
            ("rules (s)", b.get("rules")), ("all encodings (s)", b.get("encodings_total")),
            ("(collation + assembly) / raw floor", b.get("ratio_after_trl_built_over_raw"))]
    out += ["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows if v is not None]
    if b.get("pytest_conformance_s"):
        out.append(f"| `pytest conformance` wall (s) | {b['pytest_conformance_s']} |")
    return out + [""]


def tests_section(t: dict | None) -> list[str]:
    out = ["## The README's test command (`bench/time_tests.py`)", ""]
    if not t:
        return out + ["Not measured: run `.venv/bin/python bench/time_tests.py`.", ""]
    conditions = ""
    if "load_average_before" in t:
        envs = ", ".join(t["tox_envs"]) or "none"
        conditions = (f" CPU time {t['cpu_seconds']} s (its processes and their children); load average "
                      f"{t['load_average_before']} before the run; older TRL lines' tox environments present: {envs}.")
    return out + [(f"`{t['command']}` on trl {t['trl']} / transformers {t['transformers']}, {t['cores']} cores, "
                   f"hypothesis profile `{t['hypothesis_profile']}`, measured {t['measured']}: **{t['seconds']} s**, "
                   f"exit {t['exit_code']} ({t['summary']}).{conditions}"), ""]


def releases_section(r: dict | None, title: str = "## Every TRL release (`sft-conformance releases`)",
                     how: str = "sft-conformance releases --from 0.8.0 --jobs 2") -> list[str]:
    out = [title, ""]
    if not r:
        return out + [f"Not measured: run `{how}`.", ""]
    s = r.get("summary") or {}
    runs = sorted(r.get("runs", {}).values(), key=lambda x: x["release"])
    failed = [x for x in runs if x["status"] != "done"]
    wall = (f" The last invocation took {s['wall_s']} s ({s['wall_s'] / 60:.1f} min) wall with {s['jobs']} release(s) "
            "at once." if s.get("wall_s") else "")
    if s.get("measured"):
        wall += f" Measured {s['measured']}" + (f" with the harness at {s['harness']}." if s.get("harness") else ".")
    out += [(f"{len(runs)} release(s) run; per release: suite run median {s.get('run_median_s')} s, max "
             f"{s.get('run_max_s')} s; environment build median {s.get('env_median_s')} s, max {s.get('env_max_s')} s "
             f"(the last invocation's releases).{wall}"), ""]
    if failed:
        out += ["Not evaluated:", ""] + [f"- {x['release']}: {x['reason']}" for x in failed] + [""]
    out += ["| release | env (s) | run (s) |", "|---|---|---|"]
    out += [f"| {x['release']} | {x['env_s']} | {x['run_s']} |" for x in runs if x["status"] == "done"]
    return out + [""]


def run_wall_section(r: dict | None) -> list[str]:
    out = ["## One release, `sft-conformance run` (`bench/run_wall.py`)", ""]
    if not r:
        return out + ["Not measured: run `.venv/bin/python bench/run_wall.py`.", ""]
    out += [(f"The default sweep of one release, with one worker and with one per core ({r['cores']} cores), measured "
             f"{r['measured']}; the best of the repeats. Both reports hold the same records in every row."), "",
            "| release | verdicts | jobs | wall (s) | CPU (s) | load average before |", "|---|---|---|---|---|---|"]
    for rel in r["releases"]:
        same = "" if rel["same_records"] else " (REPORTS DIFFER)"
        out += [(f"| {rel['release']}{same} | {rel['verdicts']} | {m['jobs']} | {m['seconds']} | {m['cpu_seconds']} | "
                 f"{m['load_average_before']} |") for m in rel["runs"]]
    return out + [""]


def run_floor_section(f: dict | None) -> list[str]:
    out = ["## Where one release's run goes, and its floor (`bench/run_floor.py`)", ""]
    if not f:
        return out + ["Not measured: run `.venv/bin/python bench/run_floor.py`.", ""]
    out += [(f"The default sweep of trl {f['trl']} / transformers {f['transformers']} ({f['verdicts']} verdicts) in one "
             f"process, measured {f['measured']} (a 20M-iteration pure-Python loop took {f['loop_seconds']} s). CPU "
             "seconds inside the upstream calls the harness makes (only the outermost call counts) and in the "
             "harness's own code:"), "",
            "| where | CPU (s) | calls |", "|---|---|---|"]
    out += [f"| {k} | {v['cpu_seconds']} | {v['calls']} |" for k, v in f["by_category"].items()]
    out += [f"| all upstream | {f['upstream_cpu_seconds']} | |", f"| the harness's own code | {f['harness_cpu_seconds']} | |",
            f"| whole run (imports excluded) | {f['run_cpu_seconds']} | |", "",
            (f"Importing torch, transformers, datasets and TRL's trainer takes {f['import_cpu_seconds']} CPU s in a new "
             f"interpreter, once per worker. Floor for `run --jobs {f['jobs']}`: even with the harness's own code free and "
             f"the work divided perfectly, no run ends before {f['import_cpu_seconds']} + {f['upstream_cpu_seconds']} / "
             f"{f['jobs']} = **{f['floor_seconds']} s**."
             + (f" `run --jobs {f['jobs']}` right after, in a new interpreter: {f['run_jobs_seconds']} s wall, "
                f"{f['run_jobs_cpu_seconds']} CPU s." if "run_jobs_seconds" in f else "")), ""]
    return out


def training_section(t: dict | None) -> list[str]:
    out = ["## Training check (`conformance/test_training.py`)", ""]
    if not t:
        return out + ["Not measured.", ""]
    out += ["| path | device | steps | s | response loss before → after | prompt loss before → after |",
            "|---|---|---|---|---|---|"]
    for path, x in sorted(t.items()):
        if isinstance(x, dict) and "steps" in x:
            out.append(f"| {path} | {x['device']} {x['dtype']} | {x['steps']} | {x['seconds']} | "
                       f"{x['response_before']:.2f} → {x['response_after']:.2f} | "
                       f"{x['prompt_before']:.2f} → {x['prompt_after']:.2f} |")
    return out + [""]


def check_section(c: dict | None) -> list[str]:
    out = ["## `check --all` on the public dataset (`bench/check_public.py`)", ""]
    if not c:
        return out + ["Not measured: run `.venv/bin/python bench/check_public.py`.", ""]
    out += [(f"{c['dataset']} (999 Alpaca rows, docs/usage.md) with {c['tokenizer']}, trl {c['trl']} / transformers "
             f"{c['transformers']}, {c['cores']} cores (load average {c['load_average'][0]}), measured "
             f"{c['measured']}. Wall time is the whole process (imports, dataset and tokenizer loading); judging is "
             "the report's."), "",
            "| data | settings | rows | wall (s) | rows/s | judging (s) | rows/s judged | peak RSS (MB) | exit |",
            "|---|---|---|---|---|---|---|---|---|"]
    out += [f"| {r['data']} | {' '.join(r['settings']) or '-'} | {r['rows']} | {r['wall_s']} | {r['rows_per_s']} | "
            f"{r['judging_s']} | {r['judging_rows_per_s']} | {r['peak_rss_mb']} | {r['exit_code']} |" for r in c["runs"]]
    return out + [""]


def warm_releases_section(r: dict | None) -> list[str]:
    return releases_section(r, "## Every TRL release again, warm (environments and caches present)",
                            "sft-conformance releases --from 0.8.0 --jobs 2 --force --reports reports/releases-warm "
                            "(environments already built)")


def releases_before_after_section(r: dict | None) -> list[str]:
    out = ["## Warm releases before and after (`bench/releases_before_after.py`)", ""]
    if not r:
        return out + ["Not measured: run `.venv/bin/python bench/releases_before_after.py --help`.", ""]
    bytecode = r["pythondontwritebytecode"]
    out += [(f"`sft-conformance releases --jobs 2 --force` on {', '.join(r['ranges'])} with the environments "
             f"warm (each side's environments had a pass before the one measured), the harness at {r['before']} against {r['after']}, measured "
             f"{r['measured']}, PYTHONDONTWRITEBYTECODE={bytecode or '(unset)'} in the caller's environment."), "",
            "| release | before: run (s) | after: run (s) |", "|---|---|---|"]
    before, after = r["passes"]["before2"], r["passes"]["after2"]
    out += [f"| {k} | {v} | {after['runs'].get(k, '-')} |" for k, v in before["runs"].items()]
    out += [(f"| median / max | {before['run_median_s']} / {before['run_max_s']} | "
            f"{after['run_median_s']} / {after['run_max_s']} |"),
            f"| wall of the pass | {before['wall_s']} | {after['wall_s']} |"]
    return out + [""]


def verdicts_section(v: dict | None) -> list[str]:
    out = ["## Verdicts before and after the speed work (`bench/verdicts_before_after.py`)", ""]
    if not v:
        return out + ["Not measured: run `.venv/bin/python bench/verdicts_before_after.py --help`.", ""]
    out += [(f"The harness at {v['before']} (one process) against the reports the current code wrote "
             f"(`{Path(v['after_reports']).name}`), measured {v['measured']}: records matched by tokenizer, path, "
             "case, rule and modifier and compared on status, message, positions and evidence tensors."), "",
            "| release | records compared | differ | only before | only after | evidence rows, tensors differ |",
            "|---|---|---|---|---|---|"]
    out += [f"| {r['release']} | {r['records']} | {r['differences']} | {r['only_before']} | {r['only_after']} | "
            f"{r['evidence_compared']}, {r['evidence_tensor_difference_count']} |" for r in v["rows"]]
    return out + [""]


def mechanism_section(m: dict | None) -> list[str]:
    out = ["## Known bugs on tokenizers the catalog lacks (`bench/mechanism_coverage.py`)", ""]
    if not m:
        return out + [("Not measured: run `.venv/bin/python bench/mechanism_coverage.py REPORT... "
                       "--json reports/mechanism-coverage.json`."), ""]
    out += [("Of the FAILs each report records as known upstream (catalog tokenizers, golden cases), how many the "
             "expectations still recognise when the tokenizer has an id no entry names (a user's own, a forked "
             "catalog template), from the record's own signatures and warnings. Reports: `sft-conformance run "
             "--tokenizer all` in each release's environment."), "",
            "| report | TRL | known-upstream FAILs | still known, unnamed | share |", "|---|---|---|---|---|"]
    for name, c in m.items():
        known, kept = c.get("known", 0), c.get("still_known", 0)
        share = f"{100 * kept / known:.1f} %" if known else "-"
        out.append(f"| {name} | {c['trl']} | {known} | {kept} | {share} |")
    return out + [""]


SECTIONS = ((tests_section, "pytest-time.json"), (bench_section, "bench.json"), (run_wall_section, "run-wall.json"),
            (run_floor_section, "run-floor.json"),
            (releases_section, "releases/timings.json"), (warm_releases_section, "releases-warm/timings.json"),
            (releases_before_after_section, "releases-before-after.json"),
            (verdicts_section, "verdicts-before-after.json"), (training_section, "training.json"),
            (check_section, "check-public.json"), (mechanism_section, "mechanism-coverage.json"))


def previous_sections(text: str) -> dict[str, list[str]]:
    """The ``## `` sections of an earlier page, by heading line, each with its lines up to the next heading."""
    out: dict[str, list[str]] = {}
    heading = None
    for line in text.splitlines():
        if line.startswith("## "):
            heading = line
            out[heading] = []
        if heading is not None:
            out[heading].append(line)
    return out


def render(previous: str = "") -> str:
    kept = previous_sections(previous)
    lines = ["# Measured results", "",
             "Generated by `bench/results.py` from the measurement files under `reports/`; do not edit by hand.", ""]
    for section, name in SECTIONS:
        data = _load(REPORTS / name)
        fresh = section(data)
        lines += fresh if data or fresh[0] not in kept else kept[fresh[0]]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "docs" / "results.md"))
    args = ap.parse_args()
    out = Path(args.out)
    out.write_text(render(out.read_text(encoding="utf-8") if out.is_file() else ""), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
