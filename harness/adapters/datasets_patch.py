"""``datasets`` without content fingerprinting, for in-memory datasets that are never cached."""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def without_dataset_fingerprints():
    """Skip ``datasets``' content fingerprinting during a run.

    Every ``Dataset.map`` hashes its function with dill, and TRL's functions close over the
    tokenizer, so each map pickled the whole vocabulary (214 of 336 s for one tokenizer).
    Datasets here are in memory and never cached, so a random fingerprint changes nothing.
    """
    try:
        from datasets import arrow_dataset, fingerprint
    except ImportError:
        yield
        return
    def random_fingerprint(*args, **kwargs):
        return fingerprint.generate_random_fingerprint()

    # update_fingerprint: every map/filter; generate_fingerprint: every new Dataset (from_list hashes the table)
    patched = [(m, name, getattr(m, name)) for m in (fingerprint, arrow_dataset)
               for name in ("update_fingerprint", "generate_fingerprint") if hasattr(m, name)]
    for module, name, _ in patched:
        setattr(module, name, random_fingerprint)
    try:
        yield
    finally:
        for module, name, original in patched:
            setattr(module, name, original)
