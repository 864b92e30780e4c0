"""Repro scripts: each script's exit code is the suite's verdict, and each catalogued bug's script
fails on an affected TRL release and passes on a fixed one. (That a script judges with the suite's
own rules engine, verbatim, is ``tests/test_embedded_engine.py``.)

Cross-version runs use the tox environments (``.tox/trl-<line>``); CI builds trl-0.8, 0.12, 0.16,
0.19 and 0.24 before the test run and sets ``SFT_CONFORMANCE_REQUIRE_ENVS=1`` so a missing one
fails instead of skipping.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import sys
from pathlib import Path

import pytest
import script_runs

from conformance.rules import RULES
from harness.pipeline.cases import load_cases
from harness.triage import bug_catalog, repro

ROOT = Path(__file__).resolve().parent.parent
BUGS = bug_catalog.load()
EXIT = {"pass": 0, "fail": 1, "not_applicable": 2}


def test_catalog_entries_name_real_rules_paths_and_cases():
    from harness import adapters

    case_ids = {c.id for c in load_cases()}
    assert len(BUGS) >= 6
    for bug in BUGS:
        f = repro.Finding.parse(bug.finding)
        assert f.rule in RULES and f.path in adapters.PATHS and f.case in case_ids, bug.id
        assert set(bug.cases) <= case_ids, f"{bug.id}: unknown cases {set(bug.cases) - case_ids}"
        assert bug.issues or bug.prs, bug.id
        assert bug.affected, f"{bug.id}: no affected line"


def test_bad_finding_is_a_clear_error(tmp_path):
    with pytest.raises(repro.FindingError, match="RULE:TOKENIZER:PATH:CASE"):
        repro.Finding.parse("EOS-001:synthetic-chatml:text")
    with pytest.raises(repro.FindingError, match="unknown case 'no_such_case'"):
        repro.generate(repro.Finding.parse("EOS-001:synthetic-chatml:text:no_such_case"), tmp_path)
    with pytest.raises(repro.FindingError, match="unknown rule"):
        repro.generate(repro.Finding.parse("EOS-999:synthetic-chatml:text:pc_plain"), tmp_path)


def background_runs(bug) -> list[tuple[Path, Path]]:
    """(python, script) runs the tests of ``bug`` will need, for ``script_runs.submit`` at collection."""
    script = script_runs.script_for(bug.finding, bug.reference)
    runs = [(Path(sys.executable), script)]
    affected = next((p for line in bug.affected if (p := _python_for(line))), None)
    if affected:
        runs.append((affected, script))
    fixed = next((p for line in bug.fixed if (p := _python_for(line))), None) if bug.fixed else None
    if fixed and fixed != Path(sys.executable):
        runs.append((fixed, script))
    return runs


@pytest.mark.parametrize("bug", BUGS, ids=[b.id for b in BUGS])
def test_script_agrees_with_the_suite_on_installed_trl(bug, conformance_session):
    """The script's exit code is the suite's verdict for the finding on this TRL."""
    f = repro.Finding.parse(bug.finding)
    session = conformance_session
    case = next(c for c in session.cases if c.id == f.case)
    verdict = session.judge(f.tokenizer, f.path, case, RULES[f.rule]).status
    enc = session.encoding(f.tokenizer, f.path, f.case)
    script = script_runs.script_for(bug.finding, bug.reference)
    res = script_runs.result(sys.executable, script)
    refused = getattr(enc, "refused", None)
    want = 3 if refused else EXIT.get(verdict, 2)
    assert res.returncode == want, f"suite says {verdict}, script exited {res.returncode}:\n{res.stdout[-3000:]}"
    assert f.rule in res.stdout
    if want in (0, 1):
        assert "label" in res.stdout, "the script prints the tokens with their labels"


def _line(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _python_for(line: str) -> Path | None:
    """The interpreter of an environment with this TRL line: this one, or .tox/trl-<line>."""
    if _line(md.version("trl")) == line:
        return Path(sys.executable)
    env = ROOT / ".tox" / f"trl-{line}" / "bin" / "python"
    return env if env.exists() else None


def _need(what: str):
    if os.environ.get("SFT_CONFORMANCE_REQUIRE_ENVS") == "1":
        pytest.fail(f"{what} (SFT_CONFORMANCE_REQUIRE_ENVS=1)")
    pytest.skip(f"{what}; build it with: .venv/bin/tox -e trl-<line> --notest")


@pytest.mark.slow
@pytest.mark.parametrize("bug", BUGS, ids=[b.id for b in BUGS])
def test_script_fails_on_affected_release_and_passes_on_fixed(bug):
    f = repro.Finding.parse(bug.finding)
    script = script_runs.script_for(bug.finding, bug.reference)
    affected = next((p for line in bug.affected if (p := _python_for(line))), None)
    if affected is None:
        _need(f"no environment for an affected line of {bug.id} ({', '.join(bug.affected)})")
    bad = script_runs.result(affected, script)
    assert bad.returncode == 1, f"{bug.id}: expected the assertion to fail on {affected}:\n{bad.stdout[-3000:]}"
    assert "AssertionError" in bad.stderr and f.rule in bad.stderr
    if bug.fixed:
        fixed = next((p for line in bug.fixed if (p := _python_for(line))), None)
        if fixed is None:
            _need(f"no environment for a fixed line of {bug.id} ({', '.join(bug.fixed)})")
        good = script_runs.result(fixed, script)
        assert good.returncode == 0, f"{bug.id}: expected a pass on {fixed}:\n{good.stdout[-3000:]}{good.stderr[-2000:]}"
    else:  # the path was removed before a fix: the newest TRL says so instead of passing
        gone = script_runs.result(sys.executable, script)
        assert gone.returncode == 2 and "NOT APPLICABLE" in gone.stdout, gone.stdout[-2000:]


# how a probe ends for each mode, and the exit status an interpreter gives it
PROBE_MODES = '''mode = sys.argv[1]
if mode == "exit":
    sys.exit(3)
if mode == "message":
    sys.exit("bad input")
if mode == "raise":
    raise ValueError("boom")
'''
EXIT_STATUS = {"ok": 0, "exit": 3, "message": 1, "raise": 1}
PROBE = '''import os, sys
print("argv", sys.argv[1:], "cwd", os.path.basename(os.getcwd()), "name", __name__,
      "path0", sys.path[0] == os.path.dirname(os.path.abspath(__file__)))
''' + PROBE_MODES


@pytest.mark.parametrize("mode", list(EXIT_STATUS))
def test_a_run_in_a_preloaded_fork_is_the_run_in_a_new_interpreter(mode, tmp_path):
    """Scripts other than the installed line's long forms run in forks of a preloaded interpreter
    (``tests/preloaded_python.py``): arguments, working directory, ``__main__``, ``sys.path[0]``, output, exit
    status and traceback are those of ``python script``."""
    script = tmp_path / "probe.py"
    script.write_text(PROBE, encoding="utf-8")
    fresh = script_runs.run_fresh(sys.executable, script, mode)
    forked = script_runs._preloaded(sys.executable).run(script, mode)
    assert not script_runs._preloaded(sys.executable).broken
    assert (forked.returncode, forked.stdout, forked.stderr) == (fresh.returncode, fresh.stdout, fresh.stderr)
    assert fresh.returncode == EXIT_STATUS[mode]


COMMAND_PROBE = '''import os, sys
main = sys.modules["__main__"]
print("argv", sys.argv[1:], "cwd", os.path.basename(os.getcwd()), "name", __name__, "path0", sys.path[0],
      "pythonpath", [os.path.relpath(p) for p in sys.path[1:4]], "env", os.environ.get("PROBE_VALUE"),
      "main", vars(main) is globals(), getattr(main.__spec__, "name", None), hasattr(main, "__file__"))
print("parent", os.getppid())
import probe_helper
''' + PROBE_MODES


@pytest.mark.parametrize("form", ["-m", "-c"])
@pytest.mark.parametrize("mode", list(EXIT_STATUS))
def test_a_command_in_a_preloaded_fork_is_the_command_in_a_new_interpreter(form, mode, tmp_path):
    """Other tests' subprocesses (``python -m pytest ...``, ``python -c ...``) run in forks as well
    (``script_runs.Command(fork=True)``): arguments, working directory, ``__name__`` and the ``__main__``
    module, ``sys.path``'s first entry and the folders ``PYTHONPATH`` names after it (a relative and an empty
    entry made absolute), the environment, output and exit status are those of the command in a new
    interpreter; a traceback ends the same (a fork's ``-m`` traceback leaves out the two runpy frames)."""
    work, extra = tmp_path / "work", tmp_path / "work" / "extra"
    extra.mkdir(parents=True)
    (work / "probe_module.py").write_text(COMMAND_PROBE, encoding="utf-8")
    (extra / "probe_helper.py").write_text("", encoding="utf-8")
    target = ("-m", "probe_module") if form == "-m" else ("-c", COMMAND_PROBE)
    env = (("PROBE_VALUE", "seen"), ("PYTHONPATH", os.pathsep.join(["extra", "", str(tmp_path)])))
    fresh, forked = (script_runs.Command((sys.executable, *target, mode, "x y"), str(work), env, fork=fork).run()
                     for fork in (False, True))
    server = script_runs._preloaded(sys.executable)
    assert not server.broken
    (fresh_out, fresh_parent), (forked_out, forked_parent) = (r.stdout.rsplit("parent ", 1) for r in (fresh, forked))
    assert (int(fresh_parent), int(forked_parent)) == (os.getpid(), server.proc.pid)  # a new one, a fork
    assert (forked.returncode, forked_out) == (fresh.returncode, fresh_out)
    assert fresh.returncode == EXIT_STATUS[mode], fresh.stderr
    assert "env seen" in fresh.stdout and "['extra', '.', '..']" in fresh.stdout and "main True" in fresh.stdout
    if mode == "raise":
        assert forked.stderr.splitlines()[-2:] == fresh.stderr.splitlines()[-2:]
    else:
        assert forked.stderr == fresh.stderr


def test_a_command_that_sets_what_an_interpreter_reads_at_start_up_runs_in_a_new_one(tmp_path):
    """A fork has the preloaded interpreter's hash seed (and its libraries' import-time settings), so a command
    that sets one of those runs in a new interpreter even when asked to fork."""
    probe = (sys.executable, "-c", "print(hash('sft-conformance'))")
    seeded = (("PYTHONHASHSEED", "7"),)
    asked, fresh = (script_runs.Command(probe, str(tmp_path), seeded, fork=fork).run() for fork in (True, False))
    assert asked.stdout == fresh.stdout and asked.returncode == 0


def standalone_run() -> tuple[Path, Path]:
    """The (python, script) run in a new interpreter as well as in a fork, for the root conftest to start early."""
    return Path(sys.executable), script_runs.script_for(BUGS[0].finding, BUGS[0].reference)


def test_a_repro_script_runs_standalone_and_prints_and_exits_the_same_in_a_preloaded_fork():
    """Every script is the same template with other constants, and all run in forks (``script_runs.run``): one
    long script in a new interpreter shows that the template runs standalone and that a fork prints and exits
    as the new interpreter does."""
    python, script = standalone_run()
    fresh = script_runs.result(python, script, fresh=True)
    forked = script_runs.result(python, script)
    assert fresh.returncode in (0, 1, 2, 3), fresh.stderr[-3000:]
    assert (forked.returncode, forked.stdout) == (fresh.returncode, fresh.stdout)
