"""Warnings TRL and transformers log while preparing a dataset, captured per run (and kept off stderr).

Used by the adapters and by tokenizer loading; a verdict may say whether TRL warned, so each run
must see its own warnings: process-wide "warn once" caches are cleared per capture.
"""

from __future__ import annotations

import contextlib
import logging
import warnings


class Seen:
    """Warnings seen so far in a capture block, live: logger records and Python warnings.

    ``mark()``/``since(mark)`` give the warnings of one collator call, so a per-case warning
    (``Could not find response key``) is attached to its own case and not to the next ones.
    """

    def __init__(self):
        self.logged: list[str] = []
        self.caught: list = []  # warnings.WarningMessage, appended by catch_warnings(record=True)

    def mark(self) -> tuple[int, int]:
        return len(self.logged), len(self.caught)

    def since(self, mark: tuple[int, int], until: tuple[int, int] | None = None) -> list[str]:
        """The warnings from ``mark`` on (to the mark ``until``, when given)."""
        logged, caught = mark
        end_logged, end_caught = until if until is not None else (None, None)
        py = [str(w.message)[:400] for w in self.caught[caught:end_caught]
              if not issubclass(w.category, (DeprecationWarning, FutureWarning))]
        return self.logged[logged:end_logged] + py

    def __iter__(self):
        return iter(self.since((0, 0)))


class _Collect(logging.Handler):
    def __init__(self, sink: list[str]):
        super().__init__(logging.WARNING)
        self.messages = sink

    def emit(self, record):
        self.messages.append(record.getMessage()[:400])


def keep_transformers_off_stderr() -> None:
    """Transformers' per-load advisories would bury a command's output; the adapters capture them per run.
    Called by the process that runs transformers: a command's own process, or each worker of a run spread
    over processes (``runner.start_run``), so that the parent of those workers need not import transformers
    (1 s of the 30 s a run takes)."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        return
    hf_logging.disable_default_handler()


@contextlib.contextmanager
def quiet_transformers():
    """Keep transformers' stderr handler quiet inside the block (warnings are still captured per run)."""
    root = logging.getLogger("transformers")
    streams = [h for h in root.handlers if isinstance(h, logging.StreamHandler)]
    for h in streams:
        root.removeHandler(h)
    try:
        yield
    finally:
        for h in streams:
            if h not in root.handlers:
                root.addHandler(h)


@contextlib.contextmanager
def captured_warnings():
    """Collect TRL/transformers log warnings and Python warnings raised inside the block (live)."""
    seen = Seen()
    handler = _Collect(seen.logged)
    loggers = [logging.getLogger(n) for n in ("trl", "transformers")]
    for lg in loggers:
        lg.addHandler(handler)
    _clear_warning_once_caches()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        seen.caught = caught
        try:
            yield seen
        finally:
            for lg in loggers:
                lg.removeHandler(handler)


def _clear_warning_once_caches():
    """Forget every "warn once" a library remembers process-wide, so each run sees its own warnings.

    transformers patches ``logging.Logger.warning_once``/``info_once`` (``functools.lru_cache``);
    TRL logs through accelerate's ``MultiProcessAdapter``, which has its own cached ``warning_once``.
    Without this, whether a verdict says "TRL warned" depends on which tokenizer ran first.
    """
    import importlib

    holders = [logging.Logger, logging.LoggerAdapter]
    for module, name in (("transformers.utils.logging", None), ("accelerate.logging", "MultiProcessAdapter")):
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        holders.append(getattr(mod, name, None) if name else mod)
    for holder in holders:
        for attr in ("warning_once", "info_once", "warning_advice"):
            fn = getattr(holder, attr, None)
            if hasattr(fn, "cache_clear"):
                fn.cache_clear()
