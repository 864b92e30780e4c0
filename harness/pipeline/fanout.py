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

import functools
import multiprocessing
import os
import signal
from collections.abc import Callable

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
        for tid in ids:
            results[tid] = {}
            work(tid, results[tid])
        return
    pool = multiprocessing.get_context("spawn").Pool(min(jobs, len(ids)), initializer=_start_worker,
                                                      initargs=(setup, setup_args))
    try:
        for tid, result in pool.imap_unordered(functools.partial(_run_one, work), ids, chunksize=1):
            results[tid] = result
        pool.close()
    finally:
        pool.terminate()
        pool.join()


def _start_worker(setup, setup_args) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if setup is not None:
        setup(*setup_args)


def _run_one(work: Work, tid: str) -> tuple[str, dict]:
    result: dict = {}
    work(tid, result)
    return tid, result
