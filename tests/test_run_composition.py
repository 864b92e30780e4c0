"""A record does not depend on what else ran in the process.

TRL and transformers warn once per process (``warning_once`` caches); the adapters forget those
caches before each TRL call, so a tokenizer judged after another one that triggered the same
warning still says "TRL warned". Measured before the fix: qwen2.5 after qwen3 differed from
qwen2.5 alone in 6 TOK-001 messages on TRL 1.16.
"""

from __future__ import annotations

import pytest

from conformance.rules import RULES
from harness.pipeline.runner import Session
from harness.tokenizers import registry as tokenizer_registry


def _records(tokenizers, path="prompt_completion"):
    return {(r.tokenizer, r.case, r.rule): (r.status, r.message)
            for r in Session().records(tokenizers, [path], list(RULES.values()))}


def test_records_are_the_same_alone_and_after_another_tokenizer():
    try:
        for tid in ("qwen3", "qwen2.5"):
            tokenizer_registry.load(tid)
    except tokenizer_registry.TokenizerUnavailable as exc:
        pytest.skip(f"NOT_EVALUATED: {exc}")
    alone = _records(["qwen2.5"])
    after = {k: v for k, v in _records(["qwen3", "qwen2.5"]).items() if k[0] == "qwen2.5"}
    assert alone == after
