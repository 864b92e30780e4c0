"""The random one-layer Llama, sized to the tokenizer, that SFTTrainer needs (no weights are loaded)."""

from __future__ import annotations

import copy
import functools

from harness.adapters import trl_driver
from harness.adapters.lending import vocabulary_marker


@functools.cache
def _tiny_model_prototype(vocab_size: int):
    import torch
    from transformers import LlamaForCausalLM

    torch.manual_seed(0)
    return LlamaForCausalLM(trl_driver.tiny_model_config(vocab_size))


def tiny_model(tok):
    """A random one-layer Llama sized to the tokenizer: SFTTrainer needs a model, not weights.

    Each trainer gets its own deep copy of one prototype per vocabulary size (same weights every
    time); building and initialising a new one cost 0.15 s for a 150k vocabulary.
    """
    key = (id(getattr(tok, "_tokenizer", tok)), getattr(tok, "name_or_path", ""), vocabulary_marker(tok))
    if key not in _MODEL_SIZES:  # len(tok) counts the whole vocabulary in the backend (0.1-0.3 s)
        _MODEL_SIZES[key] = trl_driver.vocabulary_size(tok)
    return copy.deepcopy(_tiny_model_prototype(_MODEL_SIZES[key]))


_MODEL_SIZES: dict[tuple, int] = {}
