"""Wall-time accounting by phase (tokenizer load, TRL preparation, collation, oracle, rules).

Why: the benchmark in ``bench/`` splits the harness's time against the raw tokenization
floor; phases are accumulated process-wide and cost two ``perf_counter`` calls each.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter

TOTALS: Counter = Counter()
COUNTS: Counter = Counter()


@contextlib.contextmanager
def phase(name: str):
    start = time.perf_counter()
    try:
        yield
    finally:
        TOTALS[name] += time.perf_counter() - start
        COUNTS[name] += 1


def reset() -> None:
    TOTALS.clear()
    COUNTS.clear()
