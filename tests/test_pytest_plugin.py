"""The pytest plugin from a separate project: a five-line test checks that project's own rows.

Each downstream project runs in its own interpreter, started at collection on the spare core
(``background_commands``, ``tests/script_runs.py``).
"""

from __future__ import annotations

import functools
import json
import sys
import textwrap

import script_runs

TEST = textwrap.dedent('''
    def test_trl_builds_the_right_labels(sft_check):
        result = sft_check("train.jsonl", tokenizer="qwen2.5", settings=SETTINGS, report="labels.json")
        assert result.ok, result.summary
''')
# test name -> the SFT settings of its downstream project
PROJECTS = {"test_a_downstream_project_checks_its_rows_with_five_lines": {"max_length": 512},
            "test_a_downstream_failure_shows_the_rule_and_the_row": {"assistant_only_loss": True}}


@functools.cache
def _project(test_name: str) -> script_runs.Command:
    """A downstream project (rows, a five-line test) and the pytest command that runs it."""
    folder = script_runs.workdir(f"downstream-{test_name}")
    rows = [{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."},
                          {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Goodbye."}]}]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "test_labels.py").write_text(f"SETTINGS = {PROJECTS[test_name]!r}\n" + TEST)
    return script_runs.Command((sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_labels.py"),
                               str(folder), (("HF_HUB_OFFLINE", "1"), ("HF_DATASETS_OFFLINE", "1"), ("PYTHONPATH", "")))


def background_commands(names: set[str]) -> list[script_runs.Command]:
    return [_project(name) for name in PROJECTS if name in names]


def test_a_downstream_project_checks_its_rows_with_five_lines():
    command = _project("test_a_downstream_project_checks_its_rows_with_five_lines")
    res = script_runs.outcome(command)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "1 passed" in res.stdout
    report = json.loads((script_runs.Path(command.cwd) / "labels.json").read_text())
    assert report["check"]["path"] == "messages" and report["records"]


def test_a_downstream_failure_shows_the_rule_and_the_row():
    """qwen2.5 with assistant_only_loss trains a later turn's header (GEN-002) on this row."""
    res = script_runs.outcome(_project("test_a_downstream_failure_shows_the_rule_and_the_row"))
    assert res.returncode == 1, res.stdout[-3000:] + res.stderr[-2000:]
    assert "GEN-002" in res.stdout and "chat_row-0" in res.stdout
