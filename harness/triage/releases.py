"""``sft-conformance releases``: the whole suite on every final TRL release in a range.

Each release gets a throwaway uv environment (``harness/triage/release_envs.py``: CPU torch, ``trl==X``,
its companion pins, this repository editable) and one ``sft-conformance run`` in it, whose JSON
report lands in ``reports/releases/trl-X.json``. The 17 tox lines stay the quick matrix; this is
the release-granular one, merged by ``sft-conformance matrix 'reports/releases/trl-*.json'`` (the folder also
holds ``timings.json``).

- Resumable: a release whose report exists is not run again (``--force`` reruns); reports are
  written to a temporary name and renamed, so a killed run leaves no half report. A report of NOT
  EVALUATED is tried again: what stopped it is usually outside the release and may have changed (a
  dependency not yet on the index: transformers 5.25.0 needs ``kernels>=0.19.1``, which was not on PyPI
  on 2026-12-03 and was the next day). Each resume tries such a release again, also when the cause is the
  release's own (an import error costs an environment and an import; a run that timed out, up to an hour). A
  file that is not a readable report is moved aside (``NAME.json.unreadable``) and its release run again.
- A release that fails to install or import gets a report with no records and a
  ``not_evaluated`` reason (uv's or Python's last line): a row of NOT EVALUATED, not a crash.
- ``--chunk K/N`` takes every N-th release from the K-th, the split a CI job matrix uses; the N
  chunks cover every release exactly once (``chunk``).
- The catalog tokenizers the runs need are provisioned first, in this interpreter (``provision_missing``):
  a run in an environment without them would judge none of them and still report "done".
- ``--transformers`` adds the transformers axis: every transformers minor release (its newest
  patch) that the TRL release declares compatible, each its own environment and report.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

from harness.triage.release_envs import (
    ROOT,
    EnvError,
    build_env,
    declared_requirement,
    env_name,
    pypi_releases,
    run_env,
)
from harness.views import report as report_mod

DEFAULT_REPORTS = ROOT / "reports" / "releases"
DEFAULT_ENVS = ROOT / ".release-envs"
TRANSFORMERS_FLOOR = Version("4.46")  # the oldest transformers the harness itself is run with
RUN_TIMEOUT_S = 3600


@dataclass(frozen=True)
class Target:
    """One column of the release matrix: a TRL release, optionally with a transformers release."""

    trl: str
    transformers: str | None = None

    @property
    def extra(self) -> tuple[str, ...]:
        return (f"transformers=={self.transformers}",) if self.transformers else ()

    @property
    def name(self) -> str:
        return f"trl-{self.trl}" + (f"+transformers-{self.transformers}" if self.transformers else "")


@dataclass
class Outcome:
    target: Target
    status: str  # "done", "kept" (report already there), "not evaluated"
    env_s: float = 0.0
    run_s: float = 0.0
    reason: str = ""
    tokenizers_not_evaluated: tuple[str, ...] = ()  # a done run's tokenizers that could not be loaded


def in_range(versions: list[str], lo: str | None, hi: str | None) -> list[str]:
    return [v for v in versions if (lo is None or Version(v) >= Version(lo)) and (hi is None or Version(v) <= Version(hi))]


def chunk(items: list, spec: str | None) -> list:
    """``K/N``: items K-1, K-1+N, K-1+2N, ... (strided, so each chunk mixes old and new releases)."""
    if not spec:
        return list(items)
    try:
        k, n = (int(x) for x in spec.split("/"))
    except ValueError:
        raise ValueError(f"--chunk {spec}: expected K/N, e.g. 2/8") from None
    if not 1 <= k <= n:
        raise ValueError(f"--chunk {spec}: K must be between 1 and N")
    return list(items[k - 1::n])


def transformers_minors(trl_version: str, available: list[str]) -> list[str]:
    """The newest patch of every transformers minor the TRL release declares compatible (from the floor on)."""
    spec = declared_requirement("trl", trl_version, "transformers")
    newest: dict[tuple[int, int], Version] = {}
    for v in available:
        ver = Version(v)
        if ver < TRANSFORMERS_FLOOR or not spec.contains(ver):
            continue
        key = ver.release[:2]
        if key not in newest or ver > newest[key]:
            newest[key] = ver
    return [str(newest[k]) for k in sorted(newest)]


def targets(lo: str | None, hi: str | None, releases: list[str] | None = None, with_transformers: bool = False,
            transformers_releases: list[str] | None = None) -> list[Target]:
    versions = in_range(releases if releases is not None else pypi_releases("trl"), lo, hi)
    if not with_transformers:
        return [Target(v) for v in versions]
    available = transformers_releases if transformers_releases is not None else pypi_releases("transformers")
    return [Target(v, t) for v in versions for t in transformers_minors(v, available)]


def report_path(reports: Path, target: Target) -> Path:
    return reports / f"{target.name}.json"


def not_evaluated_report(target: Target, reason: str) -> dict:
    """A report with no records that says why this release could not be run (a NOT EVALUATED row)."""
    rep = report_mod.build([], {}, 0.0, {"release": target.name})
    rep["run_info"]["libraries"] = {"trl": target.trl, "transformers": target.transformers}
    rep["run_info"]["not_evaluated"] = reason
    return rep


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


def provision_missing(tokenizer_specs: list[str], log=print) -> list[str]:
    """Provision the catalog tokenizers among ``tokenizer_specs`` (run's selectors and ids; empty: its
    default sweep) that the tokenizer cache lacks, before any release runs; the ids provisioned.

    Every run reads the same cache, so one provisioning here serves every release. Raises
    ``ProvisionError`` naming each tokenizer that could not be provisioned."""
    from harness.tokenizers import provision, registry

    wanted = registry.expand(tokenizer_specs) or registry.default_ids()
    catalog_ids = {e.id for e in provision.catalog()}
    missing = [t for t in wanted if t in catalog_ids and provision.tokenizer_dir(t) is None]
    if missing:
        log(f"provisioning {len(missing)} tokenizer(s) missing from {provision.default_cache_dir()}: "
            f"{', '.join(missing)}")
        provision.provision(missing, log=log)
    return missing


def run_suite(python: Path, report: Path, run_args: tuple[str, ...] = (),
              workers: int | None = None) -> tuple[int, str, tuple[str, ...]]:
    """``sft-conformance run`` with the environment's interpreter: (exit code, its last output line, the
    tokenizers it could not evaluate). ``workers``: its worker processes (``SFT_CONFORMANCE_JOBS``) unless the
    caller's environment sets them."""
    cmd = [str(python), "-m", "harness.cli", "run", "--report", str(report), *run_args]
    jobs = {"SFT_CONFORMANCE_JOBS": str(workers)} if workers and "SFT_CONFORMANCE_JOBS" not in os.environ else {}
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False,
                              env=run_env(PYTHONPATH=str(ROOT), **jobs))
    except subprocess.TimeoutExpired:
        return -1, f"run exceeded {RUN_TIMEOUT_S} s", ()
    unloaded = tuple(ln.split()[2].rstrip(":") for ln in (proc.stderr or "").splitlines()
                     if ln.startswith("NOT EVALUATED ") and len(ln.split()) > 2)
    return proc.returncode, _last_line(proc.stderr) or _last_line(proc.stdout), unloaded


def run_target(target: Target, reports: Path, envs: Path, run_args: tuple[str, ...] = (),
               keep_envs: bool = True, workers: int | None = None) -> Outcome:
    """Build the environment, run the suite in it, write the report (or the NOT EVALUATED one)."""
    out = report_path(reports, target)
    partial = out.with_suffix(".partial.json")
    env = envs / env_name(target.trl, target.extra)
    try:
        python, env_s = build_env(env, target.trl, target.extra, harness=True)
    except EnvError as exc:
        report_mod.write(not_evaluated_report(target, str(exc)), out)
        return Outcome(target, "not evaluated", reason=str(exc))
    t0 = time.perf_counter()
    code, reason, unloaded = run_suite(python, partial, run_args, workers)
    run_s = time.perf_counter() - t0
    if code in (0, 1) and partial.exists():  # 1: unexpected findings, still a complete report
        if target.transformers:  # a point on the transformers axis, not the TRL release series
            rep = report_mod.load(partial)
            rep["run_info"]["axis"] = "transformers"
            report_mod.write(rep, partial)
        os.replace(partial, out)
        status = "done"
    else:
        partial.unlink(missing_ok=True)
        reason = f"sft-conformance run exited {code}: {reason}"
        report_mod.write(not_evaluated_report(target, reason), out)
        status = "not evaluated"
    if not keep_envs:
        import shutil

        shutil.rmtree(env, ignore_errors=True)
    return Outcome(target, status, env_s, run_s, "" if status == "done" else reason,
                   unloaded if status == "done" else ())


SMALL_REPORT_BYTES = 1 << 20  # a NOT EVALUATED report has no records (a few KB); one with results, megabytes


def earlier_not_evaluated(path: Path) -> str | None:
    """Why the report at ``path`` says its release was NOT EVALUATED, as ``matrix`` reads it; None for a report
    with results. A file over ``SMALL_REPORT_BYTES`` holds records and is not read (a run with ``--modifiers``
    writes about 50 MB). Raises ``ReportError`` for a file that is not a report ``matrix`` could merge."""
    if path.stat().st_size > SMALL_REPORT_BYTES:
        return None
    rep = report_mod.load(path)
    info = rep.get("run_info")
    if not isinstance(info, dict):
        raise report_mod.ReportError(f"{path}: no run_info")
    return str(info["not_evaluated"]) if info.get("not_evaluated") else None


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}m{s:02d}s"


def run_all(todo: list[Target], reports: Path, envs: Path, jobs: int = 1, force: bool = False,
            run_args: tuple[str, ...] = (), keep_envs: bool = True, log=print) -> list[Outcome]:
    """Run every target (``jobs`` at a time), printing one progress line per release.

    Each run gets the cores divided by ``jobs`` as its worker processes: with one core each, a run judges in its
    own process, without starting workers that import torch and TRL again and send their records back (on 2
    cores, two releases at once with 2 workers each spent that much CPU on it per release)."""
    from harness.pipeline.fanout import available_cores

    workers = max(1, available_cores() // max(1, jobs))
    reports.mkdir(parents=True, exist_ok=True)
    envs.mkdir(parents=True, exist_ok=True)
    outcomes: list[Outcome] = []
    pending, retried = [], 0
    for t in todo:
        existing = report_path(reports, t)
        if force or not existing.exists():
            pending.append(t)
            continue
        try:
            reason = earlier_not_evaluated(existing)
        except report_mod.ReportError as exc:
            aside = existing.with_name(existing.name + ".unreadable")
            os.replace(existing, aside)
            log(f"{' '.join(str(exc).split())[:300]}; moved to {aside.name}, {t.name} runs again")
            reason = "unreadable"
        if reason is None:
            outcomes.append(Outcome(t, "kept"))
        else:
            pending.append(t)
            retried += 1
    total, t0, lock = len(todo), time.perf_counter(), threading.Lock()
    again = f" ({retried} NOT EVALUATED or unreadable before, tried again)" if retried else ""
    log(f"{total} release(s): {len(outcomes)} already reported in {reports}, {len(pending)} to run{again}, "
        f"{jobs} at a time")
    ran: list[Outcome] = []

    def one(target: Target) -> Outcome:
        o = run_target(target, reports, envs, run_args, keep_envs, workers)
        with lock:
            ran.append(o)
            outcomes.append(o)
            elapsed = time.perf_counter() - t0
            left = len(pending) - len(ran)
            eta = elapsed / len(ran) * left
            detail = f"env {o.env_s:5.1f} s, run {o.run_s:6.1f} s" if o.status == "done" else o.reason[:160]
            if o.tokenizers_not_evaluated:
                detail += (f", {len(o.tokenizers_not_evaluated)} tokenizer(s) not evaluated: "
                           f"{', '.join(o.tokenizers_not_evaluated)}")[:200]
            log(f"[{len(outcomes):3d}/{total}] {target.name:40s} {o.status:13s} {detail}  "
                f"(elapsed {_clock(elapsed)}, ~{_clock(eta)} left)")
        return o

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(one, pending))
    return sorted(outcomes, key=lambda o: (Version(o.target.trl), Version(o.target.transformers or "0")))


def timings(outcomes: list[Outcome]) -> dict:
    """Median and max environment and run seconds of the releases run here (for the closing numbers)."""
    import statistics

    done = [o for o in outcomes if o.status == "done"]
    if not done:
        return {}
    runs, envs = [o.run_s for o in done], [o.env_s for o in done]
    return {"releases": len(done), "run_median_s": round(statistics.median(runs), 1), "run_max_s": round(max(runs), 1),
            "env_median_s": round(statistics.median(envs), 1), "env_max_s": round(max(envs), 1)}


def _revision() -> str:
    """The harness checkout's git revision (short), or "" outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def write_timings(outcomes: list[Outcome], path: Path, wall_s: float | None = None, jobs: int | None = None) -> None:
    """Each release's seconds, merged into what ``path`` holds, and the summary of this invocation (with its
    wall-clock seconds and releases at once, where given)."""
    rows = [{"release": o.target.name, "status": o.status, "env_s": round(o.env_s, 1), "run_s": round(o.run_s, 1),
             "reason": o.reason} for o in outcomes if o.status != "kept"]
    path.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    merged = {**previous.get("runs", {}), **{r["release"]: r for r in rows}}
    summary = timings(outcomes)
    if summary and wall_s is not None:
        summary.update(wall_s=round(wall_s, 1), jobs=jobs)
    if summary:
        summary.update(measured=time.strftime("%Y-%m-%d", time.gmtime()), harness=_revision())
    path.write_text(json.dumps({"runs": merged, "summary": summary}, indent=1) + "\n", encoding="utf-8")
