"""What every path adapter shares: the interface, tiny models, neighbours, warning capture.

An adapter turns (tokenizer, cases) into one Encoding per case by running TRL's own code.
It is the only kind of module that knows about TRL versions, and it knows them by feature
detection (does this class / config field exist?), never by comparing version strings.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
import warnings
from dataclasses import dataclass

from harness.adapters import trl_driver
from harness.cases import Case
from harness.encoding import Encoding, NotApplicable
from harness.tokenizer_registry import LoadedTokenizer

NEIGHBOUR_SUFFIX = " plus neighbour words"


@dataclass
class CaseRun:
    """Per-case result of an adapter: an Encoding or a reason it does not apply."""

    case: Case
    result: Encoding | NotApplicable


class PathAdapter:
    """Base class: subclasses set ``path``/``shapes`` and implement ``available`` and ``encode_group``."""

    path: str = ""
    shapes: tuple[str, ...] = ()
    needs_final_assistant: bool = False
    needs_chat_template: bool = False
    description: str = ""

    def available(self) -> NotApplicable | None:
        """``NotApplicable`` when the installed TRL does not offer this path."""
        raise NotImplementedError

    def accepts(self, case: Case, lt: LoadedTokenizer) -> NotApplicable | None:
        """Whether this path can carry this case with this tokenizer (data shape, template)."""
        if case.shape not in self.shapes:
            return NotApplicable(f"path {self.path} takes {' or '.join(self.shapes)} data; case is {case.shape}")
        if not case.allows_path(self.path):
            return NotApplicable(f"case {case.id} restricts itself to paths {list(case.paths)}")
        if self.needs_final_assistant and case.shape == "conversation" and not case.ends_with_assistant:
            return NotApplicable(f"path {self.path} needs a conversation that ends with an assistant message")
        if (self.needs_chat_template or case.shape == "conversation") and not lt.has_chat_template:
            return NotApplicable(f"tokenizer {lt.id} has no chat template; path {self.path} needs one for "
                                 "conversational data")
        return None

    def encode(self, lt: LoadedTokenizer, cases: list[Case]) -> dict[str, Encoding | NotApplicable]:
        """Encode every case; cases sharing a ``max_length`` go through TRL together."""
        out: dict[str, Encoding | NotApplicable] = {}
        missing = self.available()
        todo = []
        for case in cases:
            reason = missing or self.accepts(case, lt)
            if reason:
                out[case.id] = reason
            else:
                todo.append(case)
        # One TRL run per (max_length, data shape): a dataset cannot mix string and message-list
        # columns, and max_length is a trainer option.
        groups: dict[tuple[int | None, str], list[Case]] = {}
        for case in todo:
            groups.setdefault((case.max_length, case.shape), []).append(case)
        with without_dataset_fingerprints(), quiet_transformers():
            for (max_length, _), group in groups.items():
                out.update(self._encode_isolating_errors(lt, group, max_length))
        return out

    def _encode_isolating_errors(self, lt, group, max_length):
        try:
            return self.encode_group(lt, group, max_length)
        except Exception as exc:  # noqa: BLE001 - find which case TRL refused, then report it per case
            if len(group) == 1:
                return {group[0].id: self.refused(lt, group[0], exc)}
            group_error = error_text(exc)
        results: dict[str, dict | BaseException] = {}

        def alone(case):
            """Encode one case once; the result (or TRL's exception) is kept for reuse."""
            if case.id not in results:
                try:
                    results[case.id] = self.encode_group(lt, [case], max_length)
                except Exception as exc:  # noqa: BLE001
                    results[case.id] = exc
            return results[case.id]

        def split(cases):
            """Halve a refused group until each refusal is one case; a half that TRL accepts is kept
            whole (one build where preparing every case alone took one each: 9 instead of 18)."""
            if len(cases) == 1:
                r = alone(cases[0])
                return {cases[0].id: self.refused(lt, cases[0], r)} if isinstance(r, BaseException) else r
            try:
                return self.encode_group(lt, cases, max_length)
            except Exception:  # noqa: BLE001 - one of these cases is refused: look in each half
                mid = len(cases) // 2
                return {**split(cases[:mid]), **split(cases[mid:])}

        # A refusal of the tokenizer or template (not of one case) fails the first and the last case
        # alone with the group's exact message: then every case gets it without one build each.
        if all(isinstance(r, BaseException) and error_text(r) == group_error
               for r in (alone(group[0]), alone(group[-1]))):
            return {case.id: self.refused(lt, case, results[group[0].id]) for case in group}
        mid = len(group) // 2
        return {**split(group[:mid]), **split(group[mid:])}

    def encode_group(self, lt: LoadedTokenizer, cases: list[Case], max_length: int | None) -> dict[str, Encoding]:
        raise NotImplementedError

    def batch_variants(self, lt: LoadedTokenizer, case: Case) -> dict[str, Encoding] | NotApplicable:
        """The case as the model receives it in each batch a training step may put it in.

        ``BATCH_VARIANTS``: alone, beside a longer neighbour, beside a shorter one, behind the shorter
        one, and beside the longer one with the tokenizer set to left padding. One TRL preparation
        serves all five; the trained tokens must be the same in every one of them.
        """
        reason = self.available() or self.accepts(case, lt)
        if reason:
            return reason
        items = (neighbour_case(case), shorter_case(case))
        with without_dataset_fingerprints(), quiet_transformers(), lent_tokenizer(lt) as tok, \
                captured_warnings() as seen:
            try:
                collate = self.batch_collator(lt, tok, case, items)
            except Exception as exc:  # noqa: BLE001 - a refusal is judged by the golden suite, not here
                return NotApplicable(f"TRL raised {error_text(exc)[:300]}")
            if isinstance(collate, NotApplicable):
                return collate
            out = {}
            for name, order, row in BATCH_LAYOUTS:
                if name == "left_padded":
                    tok.padding_side = "left"
                try:
                    batch = collate(order)
                except Exception as exc:  # noqa: BLE001 - as above: TRL refused this input
                    return NotApplicable(f"TRL raised {error_text(exc)[:300]}")
                ids, labels, att = trl_driver.row_of_batch(batch, row)
                out[name] = self.make_encoding(lt, case, "variant", ids, labels, att, seen, tok)
            return out

    def batch_collator(self, lt, tok, case: Case, neighbours: tuple[dict, dict]):
        """A function from item indices (0 the case, 1 the longer, 2 the shorter neighbour) to a
        collated batch, built with TRL's code for this path; ``NotApplicable`` if TRL drops one."""
        raise NotImplementedError

    # helpers for subclasses ------------------------------------------------------------

    def refused(self, lt: LoadedTokenizer, case: Case, exc: BaseException) -> Encoding:
        msg = f"TRL raised {type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        return Encoding(lt.id, self.path, case.id, "n/a", refused=msg[:500], provenance=provenance(lt))

    def reference_view(self, lt: LoadedTokenizer, case: Case) -> str:
        """How the installed TRL renders this case: ``native`` (its own shape) or ``chat`` (string
        prompt/completion turned into a user/assistant conversation); the oracle follows it."""
        return "native"

    def make_encoding(self, lt, case, scope, input_ids, labels, attention_mask, warnings_seen, tok) -> Encoding:
        """Build the Encoding; ``tok`` is the working copy TRL used (its pad token may have been set)."""
        from harness.timing import phase

        with phase("assemble"):
            ids = [int(x) for x in input_ids]
            return Encoding(
                tokenizer_id=lt.id, path=self.path, case_id=case.id, loss_scope=scope,
                input_ids=ids, labels=[int(x) for x in labels],
                attention_mask=[int(x) for x in attention_mask],
                tokens=_pieces(lt, tok, ids), warnings=list(warnings_seen),
                provenance={**provenance(lt), "pad_token_id": tok.pad_token_id, "eos_token_id": tok.eos_token_id,
                            "reference_view": self.reference_view(lt, case)},
            )


def _pieces(lt: LoadedTokenizer, tok, ids: list[int]) -> list[str]:
    """Each id decoded alone, memoised per tokenizer (a single-id decode has no context)."""
    cache = lt.memo.setdefault("decoded_pieces", {})
    missing = sorted({i for i in ids if i not in cache})
    if missing:
        cache.update(zip(missing, tok.batch_decode([[i] for i in missing])))
    return [cache[i] for i in ids]


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


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


def _vocabulary_size(tok) -> int:
    """A number that grows whenever tokens are added: the model's vocabulary plus the added tokens.

    Not ``get_vocab_size(with_added_tokens=True)``: the Rust backend builds the whole vocabulary to
    count it (108 ms for Qwen2.5, 289 ms for Gemma 3), and this is asked twice per TRL run.
    """
    backend = getattr(tok, "_tokenizer", None)
    if backend is not None and hasattr(backend, "get_added_tokens_decoder"):
        return backend.get_vocab_size(with_added_tokens=False) + len(backend.get_added_tokens_decoder())
    return len(tok)


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
    size = _vocabulary_size(tok)
    tok.get_vocab = _memoised_get_vocab(lt, tok)
    try:
        yield tok
    finally:
        grown = _vocabulary_size(tok) != size
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
        size = _vocabulary_size(tok)
        cached = lt.memo.get("vocab")
        if cached is None or cached[0] != size:
            cached = lt.memo["vocab"] = (size, build())
        return dict(cached[1])

    return get_vocab


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
    key = (id(getattr(tok, "_tokenizer", tok)), getattr(tok, "name_or_path", ""), _vocabulary_size(tok))
    if key not in _MODEL_SIZES:  # len(tok) counts the whole vocabulary in the backend (0.1-0.3 s)
        _MODEL_SIZES[key] = trl_driver.vocabulary_size(tok)
    return copy.deepcopy(_tiny_model_prototype(_MODEL_SIZES[key]))


_MODEL_SIZES: dict[tuple, int] = {}


def neighbour_case(case: Case) -> dict:
    """The case with every text a few words longer, collated beside it so padding is exercised.

    Same shape and roles as the case, so TRL processes it identically; strictly longer, so the
    case row is the one that gets padded (unless both are cut to ``max_length``).
    """
    if case.shape == "string_pc":
        return {"prompt": case.prompt + NEIGHBOUR_SUFFIX, "completion": case.completion + NEIGHBOUR_SUFFIX}
    return {"messages": [{"role": m["role"], "content": m["content"] + NEIGHBOUR_SUFFIX}
                         for m in case.conversation]}


# (variant, item order, row of the case in the batch); 0 is the case, 1 the longer, 2 the shorter neighbour
BATCH_LAYOUTS = (("alone", [0], 0), ("with_longer", [0, 1], 0), ("with_shorter", [0, 2], 0),
                 ("after_shorter", [2, 0], 1), ("left_padded", [0, 1], 0))
BATCH_VARIANTS = tuple(v for v, _, _ in BATCH_LAYOUTS)


def shorter_case(case: Case) -> dict:
    """The case with every text cut to its first half (at least one character), same roles."""
    def cut(text: str) -> str:
        return text[:max(1, len(text) // 2)] if text else text

    if case.shape == "string_pc":
        return {"prompt": cut(case.prompt), "completion": cut(case.completion)}
    return {"messages": [{"role": m["role"], "content": cut(m["content"])} for m in case.conversation]}


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

    def since(self, mark: tuple[int, int]) -> list[str]:
        logged, caught = mark
        py = [str(w.message)[:400] for w in self.caught[caught:]
              if not issubclass(w.category, (DeprecationWarning, FutureWarning))]
        return self.logged[logged:] + py

    def __iter__(self):
        return iter(self.since((0, 0)))


class _Collect(logging.Handler):
    def __init__(self, sink: list[str]):
        super().__init__(logging.WARNING)
        self.messages = sink

    def emit(self, record):
        self.messages.append(record.getMessage()[:400])


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
