"""Short repro scripts (``sft-conformance repro --short``): each catalogued bug's fits an upstream issue (at most
``MAX_LINES`` non-empty lines), and its exit code is the long form's, on the installed TRL and, where the tox
environments exist (``.tox/trl-<line>``, see ``tests/test_repro.py``), on an affected and a fixed line.

A catalog tokenizer's script loads its Hub id by default; offline, the provisioned folder is passed as argv[1].
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import script_runs
from test_repro import BUGS, _need, _python_for

from harness import cli
from harness.tokenizers import provision
from harness.triage import repro, repro_short


def _tokenizer_args(finding: str) -> tuple[str, ...]:
    tokenizer = repro.Finding.parse(finding).tokenizer
    return (str(provision.tokenizer_dir(tokenizer)),) if any(e.id == tokenizer for e in provision.catalog()) else ()


def background_runs(bug) -> list[tuple]:
    """(python, short script, *args) runs the tests of ``bug`` will need, for ``script_runs.submit`` at collection:
    the installed TRL's, then an affected and a fixed line's where their environments exist. The long form's runs
    come from ``tests/test_repro.py``'s."""
    short = script_runs.short_script_for(bug.finding, bug.reference)
    return [(python, short, *_tokenizer_args(bug.finding)) for python in _pythons(bug)]


def _pythons(bug) -> list[Path]:
    """The installed TRL's interpreter, then an affected and a fixed line's where their environments exist."""
    pythons = [Path(sys.executable)]
    for lines in (bug.affected, bug.fixed):
        python = next((p for line in lines if (p := _python_for(line))), None)
        if python:
            pythons.append(python)
    return pythons


def interpreters() -> set[Path]:
    """Every interpreter a repro script of the catalog runs in (long and short forms), for the root conftest to
    start their preloaded forks early."""
    return {python for bug in BUGS for python in _pythons(bug)}


def _agree(python, bug):
    """Run both forms of ``bug`` in ``python``; assert the same exit code and return the short form's run."""
    short = script_runs.short_script_for(bug.finding, bug.reference)
    res = script_runs.result(python, short, *_tokenizer_args(bug.finding))
    long = script_runs.result(python, script_runs.script_for(bug.finding, bug.reference))
    assert "WARNING" not in res.stdout, res.stdout[:2000]
    assert res.returncode == long.returncode, (f"{bug.id} on {python}: short {res.returncode}, long {long.returncode}:"
                                               f"\n{res.stdout[-3000:]}{res.stderr[-1500:]}")
    return res


@pytest.mark.parametrize("bug", BUGS, ids=[b.id for b in BUGS])
def test_short_script_fits_an_issue_and_agrees_with_the_long_form(bug):
    script = script_runs.short_script_for(bug.finding, bug.reference)
    assert repro_short.non_empty_lines(script) <= repro_short.MAX_LINES
    assert bug.reference in script.read_text(encoding="utf-8")
    res = _agree(sys.executable, bug)
    if res.returncode in (0, 1):
        assert "expected  actual" in res.stdout and "chat template TRL used:" in res.stdout, res.stdout[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("bug", BUGS, ids=[b.id for b in BUGS])
def test_short_and_long_forms_agree_on_affected_and_fixed_lines(bug):
    for lines in (bug.affected, bug.fixed):
        if not lines:
            continue
        python = next((p for line in lines if (p := _python_for(line))), None)
        if python is None:
            _need(f"no environment for a line of {bug.id} ({', '.join(lines)})")
        _agree(python, bug)


@pytest.mark.parametrize("finding, message", [
    ("EOS-001:synthetic-chatml:text:no_such_case", "unknown case 'no_such_case'"),
    ("DROP-001:synthetic-chatml:text:pc_plain", "use the long form"),
    ("EOS-001:synthetic-chatml:text", "RULE:TOKENIZER:PATH:CASE"),
])
def test_short_bad_input_is_one_line_and_exit_2(finding, message, tmp_path, capsys):
    assert cli.main(["repro", "--short", "--out", str(tmp_path), finding]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not list(tmp_path.iterdir())
