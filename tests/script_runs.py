"""Repro scripts (and other tests' subprocesses) run in other interpreters, started at collection on the
machine's spare core.

Running a repro script is a subprocess (an interpreter importing torch, transformers and a
TRL release from ``.tox/``), so the main pytest process waits on it doing nothing. Imports were ~8 of
the ~9 CPU seconds of each of the ~37 runs, so they run in forks of one preloaded interpreter per environment
(``run``, ``tests/preloaded_python.py``); one long script also runs in a new interpreter (``fresh=True``),
and ``tests/test_repro.py`` compares the two. The script runs
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
import contextlib
import functools
import json
import os
import shutil
import subprocess
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from harness.triage.release_envs import run_env

# Two at a time, also on two cores: they run at ``NICENESS``, so they take what the pytest process and the session's
# workers leave; with one, the last tests waited on a queue of runs while a core idled (README run 308 s -> 281 s).
WORKERS = max(1, min(2, os.cpu_count() or 2))
_pool: ThreadPoolExecutor | None = None
_futures: dict[tuple, Future] = {}
_done: dict[tuple | Command, subprocess.CompletedProcess] = {}
_scripts_dir = Path(tempfile.mkdtemp(prefix="sftc-test-scripts-"))
atexit.register(shutil.rmtree, _scripts_dir, True)


TIMEOUT = 600


def run(python, script: Path, *args: str) -> subprocess.CompletedProcess:
    """``python script args`` as bisect runs it in a release environment (offline, bytecode written: tox-uv
    installs without compiling), in a fork of that env's preloaded interpreter (``tests/preloaded_python.py``),
    which spares each run the ~8 s of importing torch, transformers, datasets and TRL's trainer. Every script is
    generated from one template and differs only in its constants (finding, tokenizer folder, case), so one
    long script run in a new interpreter as well (``fresh=True``, ``tests/test_repro.py``) shows that the
    scripts run standalone and that a fork prints and exits as the new interpreter does."""
    return _preloaded(str(python)).run(script, *args)


def run_fresh(python, script: Path, *args: str) -> subprocess.CompletedProcess:
    return run_behind([str(python), str(script), *args], text=True, env=run_env(PYTHONPATH=""), cwd=script.parent)


NICENESS = 10  # CFS gives a nice-10 process about a tenth of a core a nice-0 one wants


def run_behind(argv: list[str], text: bool = True, **popen) -> subprocess.CompletedProcess:
    """``subprocess.run(argv, capture_output=True)`` at a lower priority (``NICENESS``, inherited by what it
    starts). These runs only have to be done by the time the tests that read them run, last; the pytest
    process and the session's workers (``fanout.Ahead``) are the ones every other test waits on, so on a
    busy machine they get the cores first and these take what is left."""
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=text, **popen) as proc:
        _behind(proc.pid)
        try:
            out, err = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def _behind(pid: int) -> None:
    """Lower a started process's priority to ``NICENESS`` (what it starts inherits it)."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, pid, NICENESS)


class Preloaded:
    """One release env's interpreter with torch, transformers, datasets and TRL imported, forking one child
    per script (``tests/preloaded_python.py``). Started with the environment a script run gets, and
    ``HF_DATASETS_DISABLE_PROGRESS_BARS=1``, which the scripts set before their first ``datasets`` import.
    Runs one script at a time; a server that stopped answering is replaced by fresh interpreters."""

    def __init__(self, python: str):
        self.python = python
        self.lock = threading.Lock()
        self.proc: subprocess.Popen | None = None
        self.broken = False

    def _start(self) -> subprocess.Popen:
        if self.proc is None:
            env = preloaded_env()
            self.proc = subprocess.Popen([self.python, str(Path(__file__).with_name("preloaded_python.py")),
                                          str(TIMEOUT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, text=True, env=env, cwd=_scripts_dir)
            _behind(self.proc.pid)  # its forks too, as ``run_behind``'s runs
        return self.proc

    def warm(self) -> None:
        with self.lock:
            if not self.broken:
                self._start()

    def run(self, script: Path, *args: str) -> subprocess.CompletedProcess:
        argv = [self.python, str(script), *args]
        request = {"script": str(script), "args": list(args), "cwd": str(script.parent)}
        return self._fork(request, argv) or run_fresh(self.python, script, *args)

    def run_command(self, command: Command) -> subprocess.CompletedProcess:
        """``command`` (``python -m module ...``, ``python -c code ...`` or ``python script ...``) in a fork, with
        its working directory, its whole environment and the folders its ``PYTHONPATH`` names; in a new
        interpreter where a fork cannot be what that would be: another form (``-I``, ``-u``, ...), or a setting
        read at start-up or when the preloaded libraries were imported that differs from this interpreter's."""
        rest = command.argv[1:]
        env = command.environment()
        if not rest or (rest[0].startswith("-") and rest[0] not in ("-m", "-c")) or _start_up_differs(env):
            return command.run_fresh()
        pythonpath = env.get("PYTHONPATH", "")
        request = {"cwd": command.cwd, "env": env, "pythonpath": pythonpath.split(os.pathsep) if pythonpath else []}
        if rest[0] in ("-m", "-c"):
            request.update({{"-m": "module", "-c": "code"}[rest[0]]: rest[1], "args": rest[2:]})
        else:
            request.update({"script": rest[0], "args": rest[1:]})
        return self._fork(request, list(command.argv), text=command.text) or command.run_fresh()

    def _fork(self, request: dict, argv: list[str], text: bool = True) -> subprocess.CompletedProcess | None:
        """The request's run in a fork of this interpreter; None when the interpreter no longer answers."""
        with self.lock:
            if self.broken:
                return None
            out, err = (_empty_file(suffix) for suffix in (".out", ".err"))
            try:
                proc = self._start()
                proc.stdin.write(json.dumps({**request, "out": str(out), "err": str(err)}) + "\n")
                proc.stdin.flush()
                answer = json.loads(proc.stdout.readline())
                read = ((lambda f: f.read_text(encoding="utf-8", errors="replace")) if text else Path.read_bytes)
                return subprocess.CompletedProcess(argv, answer["returncode"], read(out), read(err))
            except (OSError, ValueError, KeyError):
                self.broken = True
                self.close()
                return None
            finally:
                out.unlink(missing_ok=True)
                err.unlink(missing_ok=True)

    def close(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def preloaded_env() -> dict[str, str]:
    """The environment the preloaded interpreters start with, and so the base of a forked command's."""
    return run_env(PYTHONPATH="", HF_DATASETS_DISABLE_PROGRESS_BARS="1")


# settings a fork takes from the preloaded interpreter: read when an interpreter starts, or when torch,
# transformers, datasets and TRL are imported (PYTHONPATH is not one: the fork puts its folders on sys.path)
START_UP_PREFIXES = ("PYTHON", "HF_", "TRANSFORMERS_", "TOKENIZERS_", "TORCH")


def _start_up_differs(env: dict[str, str]) -> bool:
    start = preloaded_env()
    keys = {k for k in (*env, *start) if k.startswith(START_UP_PREFIXES) and k != "PYTHONPATH"}
    return any(env.get(k, "") != start.get(k, "") for k in keys)


def _empty_file(suffix: str) -> Path:
    handle, name = tempfile.mkstemp(prefix="run-", suffix=suffix, dir=_scripts_dir)
    os.close(handle)
    return Path(name)


_servers: dict[str, Preloaded] = {}
_servers_lock = threading.Lock()


def warm(python) -> None:
    """Start ``python``'s preloaded interpreter now (it imports in the background, at ``NICENESS``)."""
    _preloaded(str(python)).warm()


def _preloaded(python: str) -> Preloaded:
    with _servers_lock:
        if python not in _servers:
            _servers[python] = Preloaded(python)
        return _servers[python]


@atexit.register  # registered after the scripts folder's removal, so it runs before it
def _close_servers() -> None:
    for server in _servers.values():
        server.close()


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
    # True: in a fork of the preloaded interpreter of ``argv[0]`` (``Preloaded.run_command``), which spares the
    # run importing torch, transformers, datasets and TRL; its environment is that interpreter's with ``env``
    # over it, and where ``env`` changes a setting read at start-up (``PYTHONHASHSEED``) it runs in a new one
    fork: bool = False

    def environment(self) -> dict[str, str]:
        """This process's environment, or with ``fork`` the preloaded interpreter's, with ``env`` over it."""
        return {**(preloaded_env() if self.fork else os.environ), **dict(self.env)}

    def run(self) -> subprocess.CompletedProcess:
        return _preloaded(self.argv[0]).run_command(self) if self.fork else self.run_fresh()

    def run_fresh(self) -> subprocess.CompletedProcess:
        return run_behind(list(self.argv), text=self.text, cwd=self.cwd, env=self.environment())


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


def submit(python, script: Path, *args: str, fresh: bool = False) -> None:
    _start(_run_key(python, script, args, fresh), _runner(fresh), python, script, *args)


def _runner(fresh: bool):
    """``run_fresh`` (a new interpreter) or ``run`` (a fork of the preloaded one)."""
    return run_fresh if fresh else run


def _run_key(python, script: Path, args: tuple, fresh: bool) -> tuple:
    return ("fresh" if fresh else "fork", str(python), str(script), *args)


def start(command: Command) -> None:
    _start(command, command.run)


def outcome(command: Command) -> subprocess.CompletedProcess:
    """The background run's result, or a run now when none was started; kept, as ``result`` keeps a script's, so
    that the tests reading one command (one per tokenizer in ``tests/test_neighbours.py``) share one run."""
    if command not in _done:
        fut = _futures.pop(command, None)
        _done[command] = fut.result() if fut is not None else command.run()
    return _done[command]


def result(python, script: Path, *args: str, fresh: bool = False) -> subprocess.CompletedProcess:
    """The background run's result, or a run now when none was submitted; kept, so that the long and the short
    form's tests (``tests/test_repro.py``, ``tests/test_repro_short.py``) share one run of a long script.
    ``fresh``: in a new interpreter rather than a fork of the preloaded one."""
    key = _run_key(python, script, args, fresh)
    if key not in _done:
        fut = _futures.pop(key, None)
        _done[key] = fut.result() if fut is not None else _runner(fresh)(python, script, *args)
    return _done[key]
