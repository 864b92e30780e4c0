"""Snapshots must be byte-identical across runs and machines: no hash-order, float or path noise.

Two fresh interpreters with different ``PYTHONHASHSEED`` (and different working directories)
serialize the same encodings; their bytes must match each other and the committed files. They run in
the background, started at collection (``tests/script_runs.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import script_runs

ROOT = Path(__file__).resolve().parent.parent
KEYS = [("synthetic-chatml", "assistant_only_loss", "chat_two_assistant_turns"),
        ("synthetic-double-bos", "text", "chat_single_turn"),
        ("synthetic-no-pad", "prompt_completion", "pc_unicode_emoji")]

SCRIPT = """
import sys
from harness.pipeline.runner import Session
from harness.views.snapshot_format import serialize
s = Session()
for tid, path, case in [tuple(k.split("~")) for k in sys.argv[1:]]:
    enc = s.encoding(tid, path, case)
    sys.stdout.write(serialize(enc, s.tokenizer(tid).content_hash))
"""


def _serializer(seed: str, cwd: Path) -> script_runs.Command:
    """A fresh interpreter with this hash seed, in this folder, writing the snapshots of ``KEYS``."""
    env = (("PYTHONHASHSEED", seed), ("HF_HUB_OFFLINE", "1"), ("PYTHONPATH", str(ROOT)))
    return script_runs.Command((sys.executable, "-c", SCRIPT, *("~".join(k) for k in KEYS)), str(cwd), env,
                               text=False)


def _commands() -> list[script_runs.Command]:
    return [_serializer("1", ROOT), _serializer("4242", script_runs.workdir("snapshot-determinism"))]


def background_commands(names: set[str]) -> list[script_runs.Command]:
    return _commands()


def test_snapshot_bytes_identical_across_processes_and_hash_seeds():
    runs = [script_runs.outcome(c) for c in _commands()]
    assert all(r.returncode == 0 for r in runs), [r.stderr[-2000:].decode(errors="replace") for r in runs]
    first, second = (r.stdout for r in runs)
    assert first == second
    committed = b"".join((ROOT / "snapshots" / tid / path / f"{case}.txt").read_bytes() for tid, path, case in KEYS)
    assert first == committed
