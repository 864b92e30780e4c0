"""The pytest plugin from a separate project: a five-line test checks that project's own rows.

Each downstream project runs ``python -m pytest`` in its own process, a fork of the preloaded interpreter
(``Command(fork=True)``: torch, transformers, datasets and TRL already imported), started at collection on
the spare core (``background_commands``, ``tests/script_runs.py``).
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
PC = [{"prompt": "What is 2+2?", "completion": " 4."}]
# A seeded TRL for the failing project: every completion starts one token early, so a prompt token is trained
# (a mechanism no expectation records: the merge entry asks that the row's own tokenization diverges in its prompt)
SEEDED = textwrap.dedent('''
    import trl.trainer.sft_trainer as sft_module

    _real = sft_module.common_prefix_length
    sft_module.common_prefix_length = lambda ids, other: max(_real(ids, other) - 1, 0)
''')
# test name -> (rows, SFT settings, conftest.py) of its downstream project
PROJECTS = {"test_a_downstream_project_checks_its_rows_with_five_lines": (CHAT, {"max_length": 512}, ""),
            "test_a_downstream_failure_shows_the_rule_and_the_row": (PC, {"max_length": 512}, SEEDED)}


@functools.cache
def _project(test_name: str) -> script_runs.Command:
    """A downstream project (rows, a five-line test) and the pytest command that runs it."""
    folder = script_runs.workdir(f"downstream-{test_name}")
    rows, settings, conftest = PROJECTS[test_name]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if conftest:
        (folder / "conftest.py").write_text(conftest)
    (folder / "test_labels.py").write_text(f"SETTINGS = {settings!r}\n" + TEST)
    return script_runs.Command((sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_labels.py"),
                               str(folder), (("HF_HUB_OFFLINE", "1"), ("HF_DATASETS_OFFLINE", "1"), ("PYTHONPATH", "")),
                               fork=True)


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
    """A seeded TRL (the project's conftest) trains the prompt's last token on this row (MASK-002), a mechanism
    no expectation covers: the test fails naming the rule and the row."""
    res = script_runs.outcome(_project("test_a_downstream_failure_shows_the_rule_and_the_row"))
    assert res.returncode == 1, res.stdout[-3000:] + res.stderr[-2000:]
    assert "MASK-002" in res.stdout and "pc_row-0" in res.stdout
