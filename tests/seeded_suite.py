"""A pytest plugin for ``tests/test_conformance_items.py``: ``-p seeded_suite`` seeds a bug into the
conformance suite (``conformance/test_conformance.py``) run in a subprocess.

Every case named in ``$SFT_SEEDED_CASES`` (comma-separated) gets its prompt trained
(``harness.pipeline.seeding.unmask_prompt``) in the TRL encodings the session judges, as a
completion-only loss that silently turned off would.
"""

from __future__ import annotations

import os

from harness.pipeline import seeding
from harness.pipeline.encoding import Encoding
from harness.pipeline.runner import Session


def seeded(encodings, case_ids):
    """``Session.encodings`` with ``case_ids`` broken (once per session and (tokenizer, path))."""

    def wrapper(self, tokenizer_id, path):
        out = encodings(self, tokenizer_id, path)
        done = self.__dict__.setdefault("_seeded", set())
        if (tokenizer_id, path) not in done:
            done.add((tokenizer_id, path))
            for cid in case_ids:
                if isinstance(out.get(cid), Encoding) and out[cid].ok:
                    out[cid] = seeding.unmask_prompt(out[cid], None)
        return out

    return wrapper


CASES = [c for c in os.environ.get("SFT_SEEDED_CASES", "").split(",") if c]
if CASES:
    Session.encodings = seeded(Session.encodings, CASES)
