"""One unit of work per tokenizer, spread over worker processes so that a run uses every core.

Tokenizers are independent: each one's encodings, oracles and verdicts depend only on that
tokenizer, the cases and the installed libraries. So ``sft-conformance run`` hands each tokenizer
to a forked worker, which runs exactly the code a one-process run runs and sends back plain
data (records, evidence); the caller reassembles the results in the order it asked for them,
so the report is the same whatever the number of workers.

Ctrl-C reaches the parent only (workers ignore SIGINT); the parent stops the workers and keeps
the results that came back.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable

_WORK: Callable[[str, dict], None] | None = None  # set before the workers fork; they inherit it


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_jobs() -> int:
    """``SFT_CONFORMANCE_JOBS`` where set, else every core this process may use."""
    value = os.environ.get("SFT_CONFORMANCE_JOBS", "")
    return int(value) if value.isdigit() and int(value) > 0 else available_cores()


def fill(results: dict[str, dict], tokenizer_ids: list[str], work: Callable[[str, dict], None], jobs: int) -> None:
    """Run ``work(tid, result)`` for every tokenizer id; each fills its own ``result`` dict.

    ``results[tid]`` receives each tokenizer's dict. With one job (or one tokenizer) the work runs
    here, and an interrupted tokenizer's dict keeps what it had filled; with several, workers
    send back whole dicts as they finish, and an interruption keeps the finished ones.
    """
    ids = list(dict.fromkeys(tokenizer_ids))
    if jobs <= 1 or len(ids) <= 1:
        for tid in ids:
            results[tid] = {}
            work(tid, results[tid])
        return
    global _WORK
    _WORK = work
    pool = multiprocessing.get_context("fork").Pool(min(jobs, len(ids)), initializer=_ignore_sigint)
    try:
        for tid, result in pool.imap_unordered(_run_one, ids, chunksize=1):
            results[tid] = result
        pool.close()
    finally:
        pool.terminate()
        pool.join()
        _WORK = None


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_one(tid: str) -> tuple[str, dict]:
    result: dict = {}
    _WORK(tid, result)
    return tid, result
