"""A frozen clock for chat templates that print today's date (gpt-oss ``strftime_now``).

Without it the rendered system block, and so every snapshot, changes daily. The templates
stay byte-identical to upstream (TRL recognises them by equality to swap in its training
templates); only the clock they read is fixed while the harness renders or runs TRL.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import importlib

FROZEN_DATE = _dt.datetime(2025, 6, 28, 12, 0, 0)

# Modules whose chat-template environment defines ``strftime_now`` via ``datetime.now()``.
_TEMPLATE_MODULES = ("transformers.utils.chat_template_utils", "transformers.tokenization_utils_base")


class _FrozenDatetime(_dt.datetime):
    @classmethod
    def now(cls, tz=None):
        return FROZEN_DATE if tz is None else FROZEN_DATE.replace(tzinfo=tz)


@contextlib.contextmanager
def frozen_clock():
    """Patch ``datetime`` in transformers' template modules for the duration of the block."""
    patched = []
    for name in _TEMPLATE_MODULES:
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        if getattr(mod, "datetime", None) is _dt.datetime:
            patched.append(mod)
            mod.datetime = _FrozenDatetime
    try:
        yield FROZEN_DATE
    finally:
        for mod in patched:
            mod.datetime = _dt.datetime
