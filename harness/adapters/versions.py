"""Installed library versions and the provenance every Encoding and report carries."""

from __future__ import annotations

import functools

from harness.tokenizers.registry import LoadedTokenizer


def provenance(lt: LoadedTokenizer) -> dict:
    return {**library_versions(), "tokenizer_id": lt.id, "tokenizer_hash": lt.content_hash,
            "tokenizer_source": lt.source}


@functools.lru_cache(maxsize=1)
def library_versions() -> dict:
    import importlib.metadata as md

    out = {}
    for name in ("trl", "transformers", "tokenizers", "datasets", "torch", "accelerate"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out
