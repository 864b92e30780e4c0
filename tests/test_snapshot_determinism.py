"""Snapshots must be byte-identical across runs and machines: no hash-order, float or path noise.

Two interpreters with different hash seeds (and different working directories) serialize the same
encodings; their bytes must match each other and the committed files. One is a new interpreter with a
``PYTHONHASHSEED`` of its own, the other a fork of the preloaded interpreter (``tests/script_runs.py``), whose
seed is that interpreter's (random unless ``PYTHONHASHSEED`` is set); each prints ``hash()`` of one string,
which shows the seeds differ. They run in the background, started at collection.
"""

from __future__ import annotations

import os
import re
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
sys.stderr.write(f"\\nhash of a string: {hash('sft-conformance')}\\n")
"""


def _serializer(cwd: Path, seed: str | None) -> script_runs.Command:
    """An interpreter in this folder writing the snapshots of ``KEYS``: a new one with this hash seed, or with
    ``seed`` None a fork of the preloaded one."""
    env = (("HF_HUB_OFFLINE", "1"), ("PYTHONPATH", str(ROOT)), *((("PYTHONHASHSEED", seed),) if seed else ()))
    return script_runs.Command((sys.executable, "-c", SCRIPT, *("~".join(k) for k in KEYS)), str(cwd), env,
                               text=False, fork=seed is None)


def _seed(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None  # unset or "random"


def _commands() -> list[script_runs.Command]:
    seed = "2" if _seed(os.environ.get("PYTHONHASHSEED", "")) == 1 else "1"  # never the preloaded one's
    return [_serializer(ROOT, seed), _serializer(script_runs.workdir("snapshot-determinism"), None)]


def background_commands(names: set[str]) -> list[script_runs.Command]:
    return _commands()


def test_snapshot_bytes_identical_across_processes_and_hash_seeds():
    runs = [script_runs.outcome(c) for c in _commands()]
    assert all(r.returncode == 0 for r in runs), [r.stderr[-2000:].decode(errors="replace") for r in runs]
    hashes = [re.findall(rb"hash of a string: (-?\d+)", r.stderr) for r in runs]
    assert all(hashes) and hashes[0] != hashes[1], hashes  # two hash seeds
    first, second = (r.stdout for r in runs)
    assert first == second, f"the bytes differ between the hash seeds that gave {hashes}"
    committed = b"".join((ROOT / "snapshots" / tid / path / f"{case}.txt").read_bytes() for tid, path, case in KEYS)
    assert first == committed
