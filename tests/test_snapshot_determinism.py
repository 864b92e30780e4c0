"""Snapshots must be byte-identical across runs and machines: no hash-order, float or path noise.

Two fresh interpreters with different ``PYTHONHASHSEED`` (and different working directories)
serialize the same encodings; their bytes must match each other and the committed files.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


def _serialize_in_fresh_process(seed: str, cwd: Path) -> bytes:
    env = {**os.environ, "PYTHONHASHSEED": seed, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", SCRIPT, *("~".join(k) for k in KEYS)], cwd=cwd, env=env,
                         capture_output=True, check=True)
    return out.stdout


def test_snapshot_bytes_identical_across_processes_and_hash_seeds(tmp_path):
    first = _serialize_in_fresh_process("1", ROOT)
    second = _serialize_in_fresh_process("4242", tmp_path)
    assert first == second
    committed = b"".join((ROOT / "snapshots" / tid / path / f"{case}.txt").read_bytes() for tid, path, case in KEYS)
    assert first == committed
