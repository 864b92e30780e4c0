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
CHAT = [{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."},
                      {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Goodbye."}]}]
# the prompt's closing quote and the completion's opening quote merge into one token: a prompt token is trained
QUOTED = [{"prompt": 'Translate to French: "How are you?"', "completion": '"Comment allez-vous?"'}]
# test name -> (rows, SFT settings) of its downstream project
PROJECTS = {"test_a_downstream_project_checks_its_rows_with_five_lines": (CHAT, {"max_length": 512}),
            "test_a_downstream_failure_shows_the_rule_and_the_row": (QUOTED, {"max_length": 512})}


@functools.cache
def _project(test_name: str) -> script_runs.Command:
    """A downstream project (rows, a five-line test) and the pytest command that runs it."""
    folder = script_runs.workdir(f"downstream-{test_name}")
    rows, settings = PROJECTS[test_name]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "test_labels.py").write_text(f"SETTINGS = {settings!r}\n" + TEST)
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
    """qwen2.5 on this prompt/completion row trains a prompt token through a merge at the join (MASK-002), a
    mechanism the expectations record for one golden case only."""
    res = script_runs.outcome(_project("test_a_downstream_failure_shows_the_rule_and_the_row"))
    assert res.returncode == 1, res.stdout[-3000:] + res.stderr[-2000:]
    assert "MASK-002" in res.stdout and "pc_row-0" in res.stdout
