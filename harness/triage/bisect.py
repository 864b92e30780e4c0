"""``sft-conformance bisect``: the first bad and first good TRL release for one finding.

The finding becomes a repro script (``harness/triage/repro.py``); each candidate release gets a
throwaway uv environment (the same CPU torch, the companion pins of
``constraints/trl-pins.yaml``) in which the script runs. Its exit code is the verdict:
0 pass, 1 fail, 2 not applicable (no such path), 3 TRL refused the input.

Two binary searches around a known bad release (``--bad``, else the catalogued affected line,
else whichever end fails): the first release that fails, between ``--between LO`` and it, and
the first release after it that no longer fails, up to ``HI``. Each assumes one transition on
its side, which is what an introduced-then-fixed bug looks like.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from packaging.version import Version

from harness.triage.release_envs import EnvError, build_env, env_name, pypi_releases, run_env

OUTCOMES = {0: "pass", 1: "fail", 2: "not applicable", 3: "refused"}
BisectError = EnvError  # something the user must fix (no uv, no release list, no known bad release)


@dataclass
class Probe:
    version: str
    outcome: str
    build_s: float
    run_s: float
    line: str = ""


@dataclass
class Result:
    finding: str
    first_bad: str | None
    first_good: str | None
    first_good_outcome: str | None
    probes: list[Probe] = field(default_factory=list)
    seconds: float = 0.0
    note: str = ""

    def to_dict(self) -> dict:
        return {"finding": self.finding, "first_bad": self.first_bad, "first_good": self.first_good,
                "first_good_outcome": self.first_good_outcome, "seconds": round(self.seconds, 1),
                "note": self.note, "tried": [p.__dict__ for p in self.probes]}


class Bisector:
    """Builds (or reuses) one environment per release and runs the repro script in it."""

    def __init__(self, script: Path, envs: Path, log=print, extra: tuple[str, ...] = ()):
        self.script, self.envs, self.log, self.extra = script, envs, log, tuple(extra)
        self.cache: dict[str, Probe] = {}

    def env_python(self, version: str) -> tuple[Path, float]:
        return build_env(self.envs / env_name(version, self.extra), version, self.extra)

    def probe(self, version: str) -> Probe:
        if version not in self.cache:
            python, build_s = self.env_python(version)
            t0 = time.perf_counter()
            proc = subprocess.run([str(python), str(self.script)], check=False, capture_output=True, text=True,
                                  env=run_env())
            outcome = OUTCOMES.get(proc.returncode, f"crashed (exit {proc.returncode})")
            lines = [ln for ln in proc.stdout.splitlines() + proc.stderr.splitlines() if ln.strip()]
            self.cache[version] = Probe(version, outcome, round(build_s, 1), round(time.perf_counter() - t0, 1),
                                        lines[-1][:200] if lines else "")
            p = self.cache[version]
            self.log(f"  trl {version:8s} {p.outcome:15s} (env {p.build_s:5.1f} s, run {p.run_s:5.1f} s)  {p.line}")
        return self.cache[version]

    def first(self, versions: list[str], pred) -> str | None:
        """The first version for which ``pred(outcome)`` holds, assuming it holds from there on."""
        lo, hi = 0, len(versions)
        while lo < hi:
            mid = (lo + hi) // 2
            if pred(self.probe(versions[mid]).outcome):
                hi = mid
            else:
                lo = mid + 1
        return versions[lo] if lo < len(versions) else None


def bisect(finding, between: tuple[str, str], bad: str | None = None, envs: Path | None = None,
           releases: list[str] | None = None, log=print, extra: tuple[str, ...] = ()) -> Result:
    """Find first bad / first good between two releases; see the module docstring."""
    from harness.triage import bug_catalog, repro

    t0 = time.perf_counter()
    lo, hi = (Version(v) for v in between)
    candidates = [v for v in (releases or pypi_releases()) if lo <= Version(v) <= hi]
    if len(candidates) < 2:
        raise BisectError(f"fewer than two TRL releases between {between[0]} and {between[1]}")
    keep = envs is not None
    envs = Path(envs) if keep else Path(tempfile.mkdtemp(prefix="sftc-bisect-"))
    envs.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix="sftc-repro-") as tmp:
            script = repro.generate(finding, Path(tmp), reference=bug_catalog.reference_for(finding))
            b = Bisector(script, envs, log, extra)
            log(f"bisect {finding}: {len(candidates)} releases {candidates[0]} .. {candidates[-1]}")
            pivot = _pivot(b, candidates, bad, finding)
            before = [v for v in candidates if Version(v) <= Version(pivot)]
            after = [v for v in candidates if Version(v) > Version(pivot)]
            first_bad = b.first(before, lambda o: o == "fail")
            first_good = b.first(after, lambda o: o != "fail") if after else None
            note = ""
            if first_bad == candidates[0]:
                note = f"already failing at {candidates[0]}, the lower bound; the bug may be older"
            if first_good is None:
                note += ("; " if note else "") + f"still failing at {candidates[-1]}"
            return Result(str(finding), first_bad, first_good, b.cache[first_good].outcome if first_good else None,
                          sorted(b.cache.values(), key=lambda p: Version(p.version)), time.perf_counter() - t0, note)
    finally:
        if not keep:
            shutil.rmtree(envs, ignore_errors=True)


def _pivot(b: Bisector, candidates: list[str], bad: str | None, finding) -> str:
    """A release where the finding fails: given, catalogued, or one of the two ends."""
    from harness.triage import bug_catalog

    if bad:
        if bad not in candidates:
            raise BisectError(f"--bad {bad} is not a release between the bounds")
        if b.probe(bad).outcome != "fail":
            raise BisectError(f"--bad {bad}: the finding does not fail there ({b.probe(bad).outcome})")
        return bad
    entry = next((e for e in bug_catalog.load() if e.finding == str(finding)), None)
    for line in reversed(entry.affected if entry else ()):
        in_line = [v for v in candidates if Version(v).release[:2] == Version(line).release[:2]]
        if in_line and b.probe(in_line[-1]).outcome == "fail":
            return in_line[-1]
    for end in (candidates[0], candidates[-1]):
        if b.probe(end).outcome == "fail":
            return end
    raise BisectError(f"{finding} fails at neither {candidates[0]} nor {candidates[-1]}; give a failing release "
                      "with --bad VERSION")
