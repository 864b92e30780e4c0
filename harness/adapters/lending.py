"""Lending the session's tokenizer to TRL for one run and putting its state back afterwards.

Copying a tokenizer per trainer cost seconds; the Python-side state TRL may change is saved and
restored instead, the Rust backend is shared, and a run that grows the vocabulary replaces the
shared tokenizer with a fresh load.
"""

from __future__ import annotations

import contextlib
import copy

from harness.tokenizers.registry import LoadedTokenizer


def working_copy(lt: LoadedTokenizer):
    """An independent copy, for long-lived users (the training check); adapters use ``lent_tokenizer``."""
    return copy.deepcopy(lt.tokenizer)


# The Rust tokenizer and the vocabulary/merges it was built from: large, never changed by TRL;
# shared, not copied (growth of the vocabulary is detected separately).
_SHARED_ATTRS = ("_tokenizer", "_vocab", "_merges")


def _tokenizer_state(tok) -> dict:
    """The Python-side state TRL may change (eos/pad token, chat template, padding side, init kwargs).

    Copying this is milliseconds; ``copy.deepcopy`` of a 150k-vocab tokenizer is 0.7-2.6 s,
    which, once per trainer, was a third of the suite's time.
    """
    return {k: (v if k in _SHARED_ATTRS else _init_kwargs_copy(v) if k == "init_kwargs" else copy.deepcopy(v))
            for k, v in vars(tok).items()}


def _init_kwargs_copy(init_kwargs: dict) -> dict:
    """``init_kwargs`` copied except its ``added_tokens_decoder``, a second view of the added vocabulary
    that is shared like ``_tokenizer`` (6,000 AddedTokens in Gemma 3: 113 ms a copy, once per trainer)."""
    return {k: (v if k == "added_tokens_decoder" else copy.deepcopy(v)) for k, v in init_kwargs.items()}


def vocabulary_marker(tok) -> int:
    """A number that grows whenever tokens are added: the next id the vocabulary would give out.

    Counting the vocabulary is slow in the Rust backend (``get_vocab_size(with_added_tokens=True)``
    builds it: 289 ms for Gemma 3; ``get_added_tokens_decoder()`` builds 6,000 AddedTokens: 13 ms),
    and this is asked several times per TRL run. So the next free id is counted once per backend,
    and afterwards only the ids from there on are looked up: a token added later takes that id.
    """
    backend = getattr(tok, "_tokenizer", None)
    if backend is None or not hasattr(backend, "get_added_tokens_decoder"):
        return len(tok)
    known = _NEXT_FREE_ID.get(id(backend))
    if known is None or known[0] is not backend:  # the backend is kept in the entry, so its id is not reused
        added = backend.get_added_tokens_decoder()
        known = _NEXT_FREE_ID[id(backend)] = (backend, max(backend.get_vocab_size(with_added_tokens=False),
                                                          max(added, default=-1) + 1))
    n = known[1]
    while backend.id_to_token(n) is not None:  # ids added since it was counted
        n += 1
    return n


_NEXT_FREE_ID: dict[int, tuple[object, int]] = {}


def forget(tok) -> None:
    """Drop what this module remembers of ``tok`` (its backend's next free id, which holds the backend)."""
    _NEXT_FREE_ID.pop(id(getattr(tok, "_tokenizer", None)), None)


@contextlib.contextmanager
def lent_tokenizer(lt: LoadedTokenizer):
    """Lend the session's tokenizer to TRL for one run and put its state back afterwards.

    TRL sets ``eos_token``/``pad_token`` and may replace ``chat_template``; those live in the
    Python object and are restored. A run that grows the vocabulary (added tokens) cannot be
    undone in place: the shared tokenizer is then replaced by a fresh load so no later run
    sees the change.
    """
    tok = lt.tokenizer
    saved = _tokenizer_state(tok)
    size = vocabulary_marker(tok)
    tok.get_vocab = _memoised_get_vocab(lt, tok)
    try:
        yield tok
    finally:
        grown = vocabulary_marker(tok) != size
        tok.__dict__.clear()
        tok.__dict__.update(saved)
        if grown:
            lt.tokenizer = lt.reload()


def _memoised_get_vocab(lt: LoadedTokenizer, tok):
    """``tok.get_vocab`` answered from a copy made once per tokenizer and vocabulary size.

    TRL 1.14+ asks ``get_vocab()`` in every ``SFTTrainer.__init__`` (is the pad / EOS token in the
    vocabulary?); the Rust backend builds that 150k-entry dict anew each time (0.38 s for Qwen2.5,
    over half of a trainer's construction). Each caller gets its own copy of the same mapping;
    a changed vocabulary size (added tokens) builds it again.
    """
    build = type(tok).get_vocab.__get__(tok)

    def get_vocab():
        size = vocabulary_marker(tok)
        cached = lt.memo.get("vocab")
        if cached is None or cached[0] != size:
            cached = lt.memo["vocab"] = (size, build())
        return dict(cached[1])

    return get_vocab
