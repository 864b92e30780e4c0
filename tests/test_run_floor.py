"""``bench/run_floor.py`` counts each upstream call once (the outermost) and leaves TRL, transformers and
datasets as it found them."""

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


def test_only_the_outermost_timed_call_counts():
    timers = _bench().Timers()
    inner = timers.wrap("inner", lambda: sum(range(10_000)))
    outer = timers.wrap("outer", lambda: [inner() for _ in range(3)])
    outer()
    inner()
    assert timers.calls == {"outer": 1, "inner": 1}
    assert set(timers.seconds) == {"outer", "inner"}


def test_the_wrapped_entry_points_are_restored_even_after_an_error():
    from datasets import Dataset
    from transformers import AutoTokenizer, PreTrainedTokenizerBase
    from trl import SFTTrainer

    bench = _bench()
    before = [(o, n, o.__dict__.get(n)) for o, n in ((SFTTrainer, "__init__"), (PreTrainedTokenizerBase, "__call__"),
                                                     (AutoTokenizer, "from_pretrained"), (Dataset, "from_list"))]
    timers = bench.Timers()
    with pytest.raises(RuntimeError), bench.timed_upstream(timers):
        Dataset.from_list([{"text": "a"}])
        assert all(o.__dict__.get(n) is not f for o, n, f in before)
        raise RuntimeError
    assert timers.calls == {"datasets": 1}
    assert all(o.__dict__.get(n) is f for o, n, f in before)
