"""Repro scripts (and other tests' subprocesses) run in other interpreters, started at collection on the
machine's spare core.

Running a repro script is a subprocess (a fresh interpreter importing torch, transformers and a
TRL release from ``.tox/``), so the main pytest process waits on it doing nothing. The script runs
that ``tests/test_repro.py`` needs are submitted here when the session's items are known and run
``WORKERS`` at a time beside the rest of the suite; those tests run last and collect the results.
A test that finds no background run (selected alone, ``-k``) runs its script itself. Scripts are
generated in the main process (tokenizers are shared there and not thread-safe); only the
subprocesses run in the background.

Any test module may do the same for its own subprocesses: a module-level ``background_commands(names)``
returns the ``Command``s the selected tests of that name will run; they are started at collection when one of the module's tests is
selected, the module's tests run last, and each collects its command's result with ``outcome``.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from harness.triage.release_envs import run_env

WORKERS = max(1, min(2, (os.cpu_count() or 2) - 1))
_pool: ThreadPoolExecutor | None = None
_futures: dict[tuple, Future] = {}
_done: dict[tuple, subprocess.CompletedProcess] = {}
_scripts_dir = Path(tempfile.mkdtemp(prefix="sftc-test-scripts-"))
atexit.register(shutil.rmtree, _scripts_dir, True)


def run(python, script: Path, *args: str) -> subprocess.CompletedProcess:
    # as bisect runs a script in a release environment (offline, bytecode written: tox-uv installs without compiling)
    env = run_env(PYTHONPATH="")
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


@dataclass(frozen=True)
class Command:
    """A subprocess a test will run: argv, working directory and environment overrides."""

    argv: tuple[str, ...]
    cwd: str
    env: tuple[tuple[str, str], ...] = ()
    text: bool = True  # False: stdout and stderr as bytes, exactly as written

    def run(self) -> subprocess.CompletedProcess:
        return subprocess.run(list(self.argv), cwd=self.cwd, env={**os.environ, **dict(self.env)},
                              capture_output=True, text=self.text, timeout=600, check=False)


def workdir(name: str) -> Path:
    """A folder of this session for a background command's files (removed at exit)."""
    folder = _scripts_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _start(key, fn, *args) -> None:
    global _pool
    if key in _futures:
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="repro-script")
        atexit.register(_pool.shutdown, wait=False, cancel_futures=True)
    _futures[key] = _pool.submit(fn, *args)


def submit(python, script: Path, *args: str) -> None:
    _start((str(python), str(script), *args), run, python, script, *args)


def start(command: Command) -> None:
    _start(command, command.run)


def outcome(command: Command) -> subprocess.CompletedProcess:
    """The background run's result, or a run now when none was started."""
    fut = _futures.pop(command, None)
    return fut.result() if fut is not None else command.run()


def result(python, script: Path, *args: str) -> subprocess.CompletedProcess:
    """The background run's result, or a run now when none was submitted; kept, so that the long and the short
    form's tests (``tests/test_repro.py``, ``tests/test_repro_short.py``) share one run of a long script."""
    key = (str(python), str(script), *args)
    if key not in _done:
        fut = _futures.pop(key, None)
        _done[key] = fut.result() if fut is not None else run(python, script, *args)
    return _done[key]
