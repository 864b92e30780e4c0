"""The CLI and the adapters end to end on the installed TRL, with synthetic tokenizers (fast, offline)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import script_runs

from harness import adapters
from harness.cli import main
from harness.pipeline.encoding import Encoding, NotApplicable
from harness.tokenizers import registry as tokenizer_registry

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def session(conformance_session):
    """The shared session (these tests only read encodings the conformance suite computes too)."""
    return conformance_session


def test_run_writes_versioned_report(tmp_path, capsys):
    out = tmp_path / "r.json"
    code = main(["run", "--tokenizer", "synthetic-chatml", "--path", "messages,completion_only_loss",
                 "--case", "chat_*", "--report", str(out)])
    rep = json.loads(out.read_text())
    assert rep["schema_version"] == 1
    assert rep["run_info"]["libraries"]["trl"] and rep["run_info"]["libraries"]["transformers"]
    assert rep["run_info"]["tokenizers"]["synthetic-chatml"]["hash"]
    rec = rep["records"][0]
    assert {"tokenizer", "path", "case", "rule", "status", "message", "evidence"} <= set(rec)
    assert "tokenizer" in capsys.readouterr().out
    assert code in (0, 1)


def test_show_prints_tokens_with_labels(capsys):
    assert main(["show", "--tokenizer", "synthetic-chatml", "--path", "completion_only_loss", "--plain",
                 "chat_single_turn"]) == 0
    out = capsys.readouterr().out
    assert "-100" in out and "<|im_end|>" in out and "content@1" in out


def test_unknown_tokenizer_is_a_clear_error(capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tokenizer_registry.forget("no-such-tokenizer")  # not loaded before: the lookup below is a fresh one
    code = main(["show", "--tokenizer", "no-such-tokenizer", "--path", "messages", "chat_single_turn"])
    assert code == 2
    assert "no-such-tokenizer" in capsys.readouterr().err


def test_conversation_on_tokenizer_without_template_is_not_applicable(session):
    enc = session.encoding("synthetic-no-template", "messages", "chat_single_turn")
    assert isinstance(enc, NotApplicable) and "no chat template" in enc.reason


def test_chatml_collator_trains_only_the_last_turn(session):
    a = adapters.get("chatml_collator")
    if a.available():
        pytest.skip(a.available().reason)
    enc = session.encoding("synthetic-chatml", "chatml_collator", "chat_two_assistant_turns")
    assert isinstance(enc, Encoding) and enc.loss_scope == "last_assistant"
    assert enc.attention_mask[0] == 0, "DataCollatorForChatML pads on the left"


def _missing_path() -> str | None:
    """A path the installed TRL lacks (its adapter's ``available()`` gives the reason), if any."""
    return next((p for p, a in adapters.ADAPTERS.items() if a.available()), None)


def _missing_path_command(path: str) -> script_runs.Command:
    return script_runs.Command(
        (sys.executable, "-m", "pytest", "conformance/test_conformance.py", "-q", "-p", "no:cacheprovider",
         "--tokenizer", "synthetic-chatml", "--path", path, "--rule", "EOS-001,MASK-002"),
        str(ROOT), (("HF_HUB_OFFLINE", "1"),), fork=True)


def background_commands(names: set[str]) -> list[script_runs.Command]:
    """The subprocess of ``test_missing_path_is_skipped_never_passed``, started at collection (script_runs)."""
    path = _missing_path() if "test_missing_path_is_skipped_never_passed" in names else None
    return [_missing_path_command(path)] if path else []


def test_missing_path_is_skipped_never_passed():
    """A path the installed TRL lacks must show as NOT_APPLICABLE skips, zero passes."""
    missing = _missing_path()
    if missing is None:
        pytest.skip("every path exists in this TRL")
    res = script_runs.outcome(_missing_path_command(missing))
    assert "passed" not in res.stdout.splitlines()[-1], res.stdout[-2000:]
    assert "NOT_APPLICABLE" in res.stdout and res.returncode == 0, res.stdout[-2000:]


def test_trl_refusal_is_reported_per_case_not_raised(session):
    """assistant_only_loss on a template without {% generation %} that TRL cannot patch: TRL raises."""
    from harness.adapters.sft_trainer import AssistantOnlyLossPath
    from harness.pipeline.cases import load_cases

    class Unpatched(AssistantOnlyLossPath):
        def row(self, case, lt):
            return {"messages": case.conversation}

    lt = tokenizer_registry.load("synthetic-chatml")
    import copy

    broken = copy.copy(lt)
    broken.tokenizer = copy.deepcopy(lt.tokenizer)
    broken.tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }}\n{% endfor %}"
    if Unpatched().available():
        pytest.skip("no assistant_only_loss in this TRL")
    out = Unpatched().encode(broken, [c for c in load_cases() if c.id == "chat_single_turn"])
    enc = out["chat_single_turn"]
    assert isinstance(enc, Encoding) and enc.refused and "TRL raised" in enc.refused
