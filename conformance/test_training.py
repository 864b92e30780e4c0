"""TRAIN-001: training on a completion-only path lowers response loss and leaves prompt loss alone.

Marked ``gpu``: uses CUDA (bf16 where supported) when present, CPU otherwise. Results are
written to ``reports/training.json`` so the measured numbers (docs/results.md) come from a real run. A known upstream
failure is an expectation under rule TRAIN-001, case ``training`` (the check's own conversations),
applied as ``xfail(strict=True)``: a fail there is xfail, a pass is an XPASS.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.adapters.versions import library_versions
from harness.pipeline import expectations
from harness.pipeline.encoding import NotApplicable
from harness.pipeline.training import run_check

PATHS = ["completion_only_loss", "assistant_only_loss", "chatml_collator", "completion_only_collator"]
RESULTS: dict[str, dict] = {}
TOKENIZER = "synthetic-chatml"
TRAINING_CASE = "training"  # harness.training.training_conversations, as a case id for expectations
EXPECTATIONS = expectations.load()
OUT = Path(__file__).resolve().parent.parent / "reports" / "training.json"


def _param(path: str):
    """The path, xfail(strict) where an expectation records TRAIN-001 failing on this TRL, as the
    conformance suite marks its rules (conformance/conftest.py)."""
    e = expectations.find(EXPECTATIONS, "TRAIN-001", TOKENIZER, path, TRAINING_CASE, library_versions())
    marks = [pytest.mark.xfail(strict=True, raises=AssertionError, reason=f"known upstream: {e.reference}")] if e else []
    return pytest.param(path, marks=marks)


def _record(key, result):
    RESULTS[key] = result.to_dict()
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(RESULTS, indent=1) + "\n")


@pytest.mark.gpu
@pytest.mark.parametrize("path", [_param(p) for p in PATHS])
def test_loss_falls_on_response_not_prompt(path, conformance_session):
    result = conformance_session.training(TOKENIZER, path)
    if isinstance(result, NotApplicable):
        pytest.skip(f"NOT_APPLICABLE: {result.reason}")
    _record(path, result)
    assert result.status == "pass", result.message


@pytest.mark.gpu
def test_control_full_sequence_training_lowers_prompt_loss(conformance_session):
    """Without masking the prompt loss must fall: proves TRAIN-001 can fail."""
    result = conformance_session.training(TOKENIZER, "completion_only_loss", control=True)
    _record("control", result)
    assert result.status == "pass", result.message
    masked = conformance_session.training(TOKENIZER, "completion_only_loss")
    if not isinstance(masked, NotApplicable):
        assert result.prompt_after < masked.prompt_after, "control must learn the prompt, the masked run must not"


@pytest.mark.gpu
def test_training_check_is_deterministic():
    """Two runs in this process give the same losses (the other checks may have run in a worker process)."""
    a, b = run_check(path="assistant_only_loss", steps=10), run_check(path="assistant_only_loss", steps=10)
    if isinstance(a, NotApplicable):
        pytest.skip(a.reason)
    assert (a.status, round(a.prompt_after, 4), round(a.response_after, 4)) == \
           (b.status, round(b.prompt_after, 4), round(b.response_after, 4))


def session_needs(name: str, params: dict) -> list[tuple]:
    """What an item asks the shared session for (computed ahead on a spare core: the root conftest)."""
    if name == "test_loss_falls_on_response_not_prompt":
        return [("training", TOKENIZER, params["path"], False)]
    if name == "test_control_full_sequence_training_lowers_prompt_loss":
        return [("training", TOKENIZER, "completion_only_loss", True),
                ("training", TOKENIZER, "completion_only_loss", False)]
    return []
