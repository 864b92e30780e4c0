"""Repro scripts run in other interpreters, started at collection on the machine's spare core.

Running a repro script is a subprocess (a fresh interpreter importing torch, transformers and a
TRL release from ``.tox/``), so the main pytest process waits on it doing nothing. The script runs
that ``tests/test_repro.py`` needs are submitted here when the session's items are known and run
``WORKERS`` at a time beside the rest of the suite; those tests run last and collect the results.
A test that finds no background run (selected alone, ``-k``) runs its script itself. Scripts are
generated in the main process (tokenizers are shared there and not thread-safe); only the
subprocesses run in the background.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

WORKERS = max(1, min(2, (os.cpu_count() or 2) - 1))
_pool: ThreadPoolExecutor | None = None
_futures: dict[tuple[str, str], Future] = {}
_done: dict[tuple[str, str], subprocess.CompletedProcess] = {}
_scripts_dir = Path(tempfile.mkdtemp(prefix="sftc-test-scripts-"))
atexit.register(shutil.rmtree, _scripts_dir, True)


def run(python, script: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONPATH": ""}
    return subprocess.run([str(python), str(script), *args], check=False, capture_output=True, text=True, env=env,
                          timeout=600, cwd=script.parent)


@functools.cache
def script_for(finding: str, reference: str = "") -> Path:
    """The repro script of a finding, generated once per session."""
    from harness.triage import repro

    f = repro.Finding.parse(finding)
    return repro.generate(f, _scripts_dir / f.slug, reference=reference)


@functools.cache
def short_script_for(finding: str, reference: str = "") -> Path:
    """The short repro script (``repro --short``) of a finding, generated once per session."""
    from harness.triage import repro, repro_short

    f = repro.Finding.parse(finding)
    return repro_short.generate(f, _scripts_dir / f"{f.slug}_short", reference=reference)


def submit(python, script: Path) -> None:
    global _pool
    key = (str(python), str(script))
    if key in _futures:
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="repro-script")
        atexit.register(_pool.shutdown, wait=False, cancel_futures=True)
    _futures[key] = _pool.submit(run, python, script)


def result(python, script: Path) -> subprocess.CompletedProcess:
    """The background run's result, or a run now when none was submitted; kept, so that the long and the short
    form's tests (``tests/test_repro.py``, ``tests/test_repro_short.py``) share one run of a long script."""
    key = (str(python), str(script))
    if key not in _done:
        fut = _futures.pop(key, None)
        _done[key] = fut.result() if fut is not None else run(python, script)
    return _done[key]
