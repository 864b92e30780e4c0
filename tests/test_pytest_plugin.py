"""The pytest plugin from a separate project: a five-line test checks that project's own rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

TEST = textwrap.dedent('''
    def test_trl_builds_the_right_labels(sft_check):
        result = sft_check("train.jsonl", tokenizer="qwen2.5", settings=SETTINGS, report="labels.json")
        assert result.ok, result.summary
''')


def _project(tmp_path, settings):
    rows = [{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."},
                          {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Goodbye."}]}]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "test_labels.py").write_text(f"SETTINGS = {settings!r}\n" + TEST)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_labels.py"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONPATH": ""})


def test_a_downstream_project_checks_its_rows_with_five_lines(tmp_path):
    res = _project(tmp_path, {"max_length": 512})
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "1 passed" in res.stdout
    report = json.loads((tmp_path / "labels.json").read_text())
    assert report["check"]["path"] == "messages" and report["records"]


def test_a_downstream_failure_shows_the_rule_and_the_row(tmp_path):
    """qwen2.5 with assistant_only_loss trains a later turn's header (GEN-002) on this row."""
    res = _project(tmp_path, {"assistant_only_loss": True})
    assert res.returncode == 1
    assert "GEN-002" in res.stdout and "chat_row-0" in res.stdout
