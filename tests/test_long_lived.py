"""keep_out_of_full_collections: what is alive is frozen once per process, garbage is collected first, and
objects made later are collected as before."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
from pathlib import Path

from harness.pipeline.long_lived import keep_out_of_full_collections

ROOT = Path(__file__).resolve().parent.parent

PROBE = textwrap.dedent("""
    import gc, weakref
    from harness.pipeline.long_lived import keep_out_of_full_collections

    class Node:
        pass

    def cycle():
        a, b = Node(), Node()
        a.other, b.other = b, a
        return a

    gc.disable()  # only the calls below collect
    kept = cycle()
    dropped = cycle()
    gone_before = weakref.ref(dropped)
    del dropped
    keep_out_of_full_collections()
    assert gone_before() is None, "garbage of before the call was frozen instead of collected"
    assert gc.get_freeze_count() > 0 and kept.other.other is kept
    frozen = gc.get_freeze_count()
    later = cycle()
    gone_later = weakref.ref(later)
    del later
    keep_out_of_full_collections()  # once per process: nothing now
    assert gc.get_freeze_count() == frozen
    gc.collect()
    assert gone_later() is None, "a cycle made after the freeze was not collected"
    print("ok", frozen)
""")


def test_garbage_is_collected_first_then_what_is_alive_frozen_once():
    res = subprocess.run([sys.executable, "-c", PROBE], check=False, capture_output=True, text=True, cwd=ROOT,
                         timeout=60)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.startswith("ok ")


def test_the_test_process_froze_after_collecting_and_a_second_call_does_nothing():
    frozen = gc.get_freeze_count()
    assert frozen > 0  # conftest.py's pytest_collection_finish
    keep_out_of_full_collections()
    assert gc.get_freeze_count() == frozen
