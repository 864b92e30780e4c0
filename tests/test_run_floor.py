"""``bench/run_floor.py`` counts each upstream call once (the outermost), changes nothing the run does (trainer
reuse still sees ``_prepare_dataset``'s parameters) and leaves TRL, transformers and datasets as it found them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _bench():
    spec = importlib.util.spec_from_file_location("run_floor", ROOT / "bench" / "run_floor.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_only_the_outermost_timed_call_counts_even_when_one_raises():
    timers = _bench().Timers()
    inner = timers.wrap("inner", lambda: sum(range(10_000)))

    def fails():
        raise ValueError

    failing = timers.wrap("failing", fails)
    outer = timers.wrap("outer", lambda: [inner() for _ in range(3)])
    with pytest.raises(ValueError):
        failing()
    outer()
    inner()
    assert timers.calls == {"failing": 1, "outer": 1, "inner": 1}


def test_every_wrapped_entry_point_is_restored_after_an_error_and_reuse_still_applies():
    from datasets import Dataset

    from harness.adapters import trainer_reuse

    bench = _bench()
    targets = bench.upstream_targets()
    assert {c for _, _, c in targets} >= {"trainer", "collate", "tokenizer_calls", "tokenizer_load", "datasets"}
    before = [(owner, name, owner.__dict__[name]) for owner, name, _ in targets]
    reuse_before = trainer_reuse.supported()
    timers = bench.Timers()
    try:
        with pytest.raises(RuntimeError), bench.timed_upstream(timers):
            assert all(owner.__dict__[name] is not f for owner, name, f in before)
            trainer_reuse.supported.cache_clear()
            assert trainer_reuse.supported() == reuse_before  # the wrapper keeps the method's signature
            Dataset.from_list([{"text": "a"}])
            raise RuntimeError
    finally:
        trainer_reuse.supported.cache_clear()
    assert timers.calls == {"datasets": 1}
    assert all(owner.__dict__[name] is f for owner, name, f in before)
