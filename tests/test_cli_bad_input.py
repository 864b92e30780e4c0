"""Bad input is one clear line on stderr naming what is wrong, exit code 2, and no work done first.

Exit codes: 0 clean (known upstream allowed), 1 findings, 2 usage or input error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main

ROOT = Path(__file__).resolve().parent.parent


def _run(capsys, *argv) -> tuple[int, str]:
    code = main(list(argv))
    err = capsys.readouterr().err.strip()
    return code, err


def test_unknown_rule_is_a_usage_error(capsys, tmp_path):
    code, err = _run(capsys, "run", "--tokenizer", "synthetic-chatml", "--rule", "EOS-999",
                     "--report", str(tmp_path / "r.json"))
    assert code == 2 and err.count("\n") == 0 and "--rule: unknown rule(s) EOS-999" in err


def test_case_glob_matching_nothing_is_a_usage_error(capsys, tmp_path):
    code, err = _run(capsys, "run", "--tokenizer", "synthetic-chatml", "--case", "pc_plain,no_such_*",
                     "--report", str(tmp_path / "r.json"))
    assert code == 2 and "--case no_such_* matches no case" in err and "\n" not in err


def test_unknown_path_in_a_case_file_names_file_and_field(capsys, tmp_path):
    (tmp_path / "mine.yaml").write_text(
        "cases:\n  - id: x\n    description: d\n    paths: [mesages]\n"
        "    messages:\n      - {role: user, content: hi}\n      - {role: assistant, content: yo}\n")
    code, err = _run(capsys, "run", "--cases", str(tmp_path), "--tokenizer", "synthetic-chatml",
                     "--report", str(tmp_path / "r.json"))
    assert code == 2 and "mine.yaml" in err and "paths" in err and "'mesages' names no path" in err


def test_unwritable_report_fails_before_any_work(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, err = _run(capsys, "run", "--tokenizer", "synthetic-chatml", "--path", "text",
                     "--report", str(blocker / "r.json"))
    assert code == 2 and err.startswith("error: --report") and "cannot write there" in err


def test_no_tokenizer_loads_is_an_input_error_not_a_crash(capsys, tmp_path):
    code, err = _run(capsys, "run", "--tokenizer", str(tmp_path / "missing-folder"), "--path", "text",
                     "--report", str(tmp_path / "r.json"))
    assert code == 2 and "no requested tokenizer could be loaded" in err.splitlines()[-1]
    assert not (tmp_path / "r.json").exists()


def test_listing_into_a_closed_pipe_is_quiet(tmp_path):
    report = {"schema_version": 1, "records": [{"rule": "EOS-001", "tokenizer": f"t{i}", "path": "text", "case": "c", "status": "fail"}
                          for i in range(5000)], "run_info": {"libraries": {}}}
    (tmp_path / "r.json").write_text(json.dumps(report))
    cmd = f"{sys.executable} -m harness.cli repro --list {tmp_path / 'r.json'} | head -1"
    res = subprocess.run(cmd, shell=True, cwd=ROOT, capture_output=True, text=True, check=False,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert res.stdout.strip().startswith("EOS-001:t"), res.stdout
    assert "Traceback" not in res.stderr and "BrokenPipe" not in res.stderr, res.stderr


@pytest.mark.parametrize("argv", [["show", "--tokenizer", "synthetic-chatml", "--path", "nope", "pc_plain"]])
def test_unknown_path_on_the_command_line(capsys, argv):
    code, err = _run(capsys, *argv)
    assert code == 2 and "unknown path 'nope'" in err


def test_version_and_examples_in_help(capsys):
    import pytest

    from harness.cli import main

    with pytest.raises(SystemExit) as ex:
        main(["--version"])
    assert ex.value.code == 0 and "sft-conformance" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "130 interrupted" in out


def test_interrupted_run_writes_a_partial_report_and_exits_130(tmp_path, monkeypatch, capsys):
    """Ctrl-C during judging: the verdicts so far are kept in a report marked interrupted; exit 130."""
    import json

    from harness.cli import main
    from harness.pipeline.runner import Session

    real = Session.judge
    calls = {"n": 0}

    def judge_then_interrupt(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Session, "judge", judge_then_interrupt)
    out = tmp_path / "r.json"
    code = main(["run", "--tokenizer", "synthetic-chatml", "--path", "messages", "--case", "chat_single_turn",
                 "--report", str(out)])
    assert code == 130
    rep = json.loads(out.read_text())
    assert rep["run_info"]["selection"]["interrupted"] is True and len(rep["records"]) == 5
    assert "interrupted: partial report of 5 verdict(s)" in capsys.readouterr().err


@pytest.mark.parametrize("files,message", [
    ({}, "no tokenizer files in this folder"),
    ({"tokenizer.json": "{not json", "tokenizer_config.json": "{}"}, "transformers cannot load this tokenizer folder"),
])
def test_an_empty_or_corrupt_tokenizer_folder_is_one_line_and_exit_2(tmp_path, capsys, files, message):
    from harness.cli import main

    folder = tmp_path / "tok"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    code = main(["run", "--tokenizer", str(folder), "--path", "text", "--case", "pc_plain",
                 "--report", str(tmp_path / "r.json")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
