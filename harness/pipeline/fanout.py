"""One unit of work per tokenizer, spread over worker processes so that a run uses every core.

Tokenizers are independent: each one's encodings, oracles and verdicts depend only on that
tokenizer, the cases and the installed libraries. So ``sft-conformance run`` hands each tokenizer
to a worker process, which runs exactly the code a one-process run runs and sends back plain
data (records, evidence); the caller reassembles the results in the order it asked for them,
so the report is the same whatever the number of workers.

Workers are started fresh (``spawn``), not forked: a process that has already run torch or the
Rust tokenizers holds thread pools that a forked child can hang on. Each worker imports what it
needs once and then takes one tokenizer after another. Ctrl-C reaches the parent only (workers
ignore SIGINT); the parent stops the workers and keeps the results that came back.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable

from harness.pipeline.long_lived import keep_out_of_full_collections

Work = Callable[[str, dict], None]


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_jobs() -> int:
    """``SFT_CONFORMANCE_JOBS`` where set, else every core this process may use."""
    value = os.environ.get("SFT_CONFORMANCE_JOBS", "")
    return int(value) if value.isdigit() and int(value) > 0 else available_cores()


def fill(results: dict[str, dict], tokenizer_ids: list[str], work: Work, jobs: int,
         setup: Callable[..., None] | None = None, setup_args: tuple = ()) -> None:
    """Run ``work(tid, result)`` for every tokenizer id; each fills its own ``result`` dict.

    ``work`` and ``setup`` are module-level functions (a worker imports them by name);
    ``setup(*setup_args)`` prepares, once per process, the state ``work`` reads.
    ``results[tid]`` receives each tokenizer's dict. With one job (or one tokenizer) the work runs
    here, and an interrupted tokenizer's dict keeps what it had filled; with several, workers
    send back whole dicts as they finish, and an interruption keeps the finished ones.
    """
    ids = list(dict.fromkeys(tokenizer_ids))
    if jobs <= 1 or len(ids) <= 1:
        if setup is not None:
            setup(*setup_args)
        keep_out_of_full_collections()
        for tid in ids:
            results[tid] = {}
            work(tid, results[tid])
        return
    pool = multiprocessing.get_context("spawn").Pool(min(jobs, len(ids)), initializer=_start_worker,
                                                      initargs=(setup, setup_args))
    try:
        for tid, result in pool.imap_unordered(functools.partial(_run_one, work), ids, chunksize=1):
            results[tid] = result
    except BaseException:
        pool.terminate()  # an error or Ctrl-C: stop the workers where they are
        pool.join()
        raise
    pool.close()  # done: workers exit on their own and release what they hold (a killed worker's
    pool.join()   # semaphores were reported as leaked by the resource tracker at exit)


def _start_worker(setup, setup_args) -> None:
    from harness.pipeline.allocator import keep_freed_memory

    keep_freed_memory()  # a worker of this project's own process (the command line, its test run)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _leave_on_terminate)
    atexit.register(_exit_without_teardown)  # registered after torch's own handlers, so it runs first
    if setup is not None:
        setup(*setup_args)
    keep_out_of_full_collections()  # imports and setup stay for the worker's life (harness/pipeline/long_lived.py)


_UNIT = {"under_way": False, "terminated": False}  # this worker's state, for ``_leave_on_terminate``


def _leave_on_terminate(_signum, _frame) -> None:
    """``Pool.terminate`` (an error, Ctrl-C, ``Ahead.close`` with a unit under way) sends SIGTERM. A worker in the
    middle of a unit leaves by ``SystemExit``, so that its finalizers run: the libraries it ran may have made
    multiprocessing locks of their own, and a worker killed outright left them registered with the resource
    tracker, which then warned of a leaked semaphore at the end of the run. Outside a unit (waiting for one, or already
    leaving, finalizers under way) the signal ends it as before."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if not _UNIT["under_way"]:
        os.kill(os.getpid(), signal.SIGTERM)
        return
    _UNIT["terminated"] = True
    raise SystemExit(0)


def _exit_without_teardown() -> None:
    """End a worker at once when the pool lets it go. Its results have been sent by then; the interpreter's
    teardown of torch, the tokenizers and the datasets it holds took 2-3 s per worker at the end of every run
    (measured: close + join of two workers 1.96 s, 0.24 s with this)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)


def _run_one(work: Work, tid: str) -> tuple[str, dict]:
    result: dict = {}
    _UNIT["under_way"] = True
    try:
        work(tid, result)
    finally:
        _UNIT["under_way"] = False
    if _UNIT["terminated"]:  # the work caught the SystemExit: leave now rather than wait for more
        raise SystemExit(0)
    return tid, result


class Ahead:
    """Units of work started ahead in worker processes, for a caller that will ask for them one by one.

    A long pytest session asks for each tokenizer's encodings when its first test runs, and until then
    the other cores idle. ``Ahead`` keeps ``jobs`` workers busy on the units (keys such as
    ``("encodings", tokenizer_id)``) in the order given, while the caller goes on with its own work.
    When the caller needs a unit, ``take`` settles who computes it: a unit no worker has started is the
    caller's own (``take`` returns None and the caller computes it, as it would without ``Ahead``); a
    unit a worker has started or finished is waited for and handed over. Each unit is computed once,
    by exactly one process, with the same code either way. A unit whose worker raised is the caller's
    own again, so an error shows where the caller would have met it.

    ``work(key, out)`` and ``setup(*setup_args)`` are module-level functions, as for ``fill``.
    """

    def __init__(self, keys, work: Callable, jobs: int, setup: Callable[..., None] | None = None,
                 setup_args: tuple = ()):
        import threading

        self._queue = list(dict.fromkeys(keys))
        self._owner: dict = {}  # key -> "worker" | "caller"
        self._results: dict = {}
        self._failed: set = set()
        self._running: set = set()  # units handed to a worker that has not answered yet
        self._cond = threading.Condition()
        self._slots = threading.Semaphore(jobs)
        self._pool = multiprocessing.get_context("spawn").Pool(jobs, initializer=_start_worker,
                                                                initargs=(setup, setup_args))
        self._work = work
        self._closed = False
        self.handed_over = 0  # units a worker computed and the caller took
        self.patience = 1800.0  # seconds ``take`` waits for one unit before computing it itself
        self._feeder = threading.Thread(target=self._feed, name="fanout-ahead", daemon=True)
        self._feeder.start()

    def _feed(self) -> None:
        while True:
            self._slots.acquire()
            with self._cond:
                key = next((k for k in self._queue if k not in self._owner), None)
                if key is None or self._closed:
                    break
                self._owner[key] = "worker"
                self._running.add(key)
            try:
                self._pool.apply_async(_run_one, (self._work, key), callback=self._finished,
                                       error_callback=functools.partial(self._raised, key))
            except ValueError:  # the pool was closed under us
                self._raised(key, None)
                break
        self._slots.release()

    def _finished(self, item) -> None:
        key, result = item
        with self._cond:
            self._running.discard(key)
            self._results[key] = result
            self._cond.notify_all()
        self._slots.release()

    def _raised(self, key, _exc) -> None:
        with self._cond:
            self._running.discard(key)
            self._failed.add(key)
            self._cond.notify_all()
        self._slots.release()

    def take(self, key) -> dict | None:
        """The unit's result if a worker computed it (waiting for one under way), else None: the caller's to do.
        A result is handed over once; later calls for the same key return None."""
        with self._cond:
            owner = self._owner.get(key)
            if owner is None:
                self._owner[key] = "caller"
                return None
            if owner == "caller":
                return None
            deadline = time.monotonic() + self.patience
            while key not in self._results and key not in self._failed and not self._closed:
                if not self._cond.wait(timeout=max(0.0, deadline - time.monotonic())):
                    break  # a worker that died without a word (killed): the caller computes it after all
            # handed over once; after that (or when the worker raised, or the pool went away) it is the caller's
            self._owner[key] = "caller"
            result = self._results.pop(key, None)
            self.handed_over += result is not None
            return result

    def owned_by_workers(self) -> list:
        with self._cond:
            return [k for k, o in self._owner.items() if o == "worker"]

    def close(self) -> None:
        """Stop the workers; units not taken are dropped (a later ``take`` returns None). Idle workers are let go
        (they leave as at the end of ``fill``); a unit still under way is cut short (``Pool.terminate``)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            under_way = bool(self._running)
        self._slots.release()
        if under_way:
            self._pool.terminate()
        else:
            self._pool.close()
        self._pool.join()
