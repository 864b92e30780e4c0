"""Resolve a tokenizer spec (catalog id, synthetic id, local folder or Hub id) to a loaded tokenizer.

Loaded once per process: tokenizers are expensive to load (Gemma 3: seconds) and TRL mutates
them (it sets ``eos_token``/``pad_token``), so adapters borrow the shared instance through
``adapters.lending.lent_tokenizer``, which restores its state afterwards.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from harness.pipeline.clock import frozen_clock
from harness.tokenizers import synthetic

PROBE_CONTENT = "PROBE_CONTENT_7f3a"


class TokenizerUnavailable(RuntimeError):
    """A tokenizer cannot be loaded; the message says what to run to get it."""


@dataclass
class LoadedTokenizer:
    id: str
    tokenizer: object  # transformers.PreTrainedTokenizerBase
    content_hash: str
    source: str
    family: str
    eot_token: str | None  # the token that ends an assistant turn in the chat template
    # per-tokenizer facts adapters derive once (decoded single ids, how TRL renders data)
    memo: dict = field(default_factory=dict, repr=False, compare=False)

    def reload(self):
        """A fresh instance of this tokenizer (same source), bypassing the process cache."""
        return _load(self.id).tokenizer

    @property
    def has_chat_template(self) -> bool:
        return bool(self.tokenizer.chat_template)


TIERS = ("core", "breadth")
SELECTORS = {
    "core": "the default: core catalog tokenizers + synthetic ones",
    "breadth": "the breadth tier of the catalog (template families beyond the core)",
    "synthetic": "the synthetic tokenizers",
    "all": "every catalog tokenizer (all tiers) + synthetic ones",
}


def catalog_ids(tier: str | None = None) -> list[str]:
    """Real tokenizer ids from ``harness/tokenizers/catalog.yaml`` (of one ``tier``, or all)."""
    from harness.tokenizers import provision

    return [entry.id for entry in provision.catalog() if tier is None or entry.tier == tier]


def known_without_chat_template(tokenizer_id: str) -> bool:
    """The catalog or the synthetic specs say this tokenizer has no chat template (known without loading it;
    False for an id they do not know)."""
    from harness.tokenizers import provision

    if tokenizer_id in synthetic.SPECS:
        return synthetic.SPECS[tokenizer_id].chat_template is None
    entry = provision.catalog_entry(tokenizer_id)
    return entry is not None and entry.template.get("kind") == "none"


def default_ids() -> list[str]:
    """What a run judges when no tokenizer is named: the core tier + the synthetic tokenizers."""
    return catalog_ids("core") + list(synthetic.SPECS)


def known_ids() -> list[str]:
    """Every catalog id (all tiers) + the synthetic ids."""
    return catalog_ids() + list(synthetic.SPECS)


def expand(specs: list[str]) -> list[str]:
    """Replace the selectors in ``specs`` (``core``, ``breadth``, ``synthetic``, ``all``) by their ids.

    Other specs (an id, a folder, a Hub id) pass unchanged; duplicates are dropped, order is kept.
    """
    groups = {
        "core": default_ids,
        "breadth": lambda: catalog_ids("breadth"),
        "synthetic": lambda: list(synthetic.SPECS),
        "all": known_ids,
    }
    out: list[str] = []
    for spec in specs:
        out += groups[spec]() if spec in groups else [spec]
    return list(dict.fromkeys(out))


def _hash_tokenizer(tok) -> str:
    """Content hash of what decides the tensors: vocabulary/merges, specials, template."""
    backend = tok.backend_tokenizer.to_str() if getattr(tok, "is_fast", False) else json.dumps(
        sorted(tok.get_vocab().items()))
    blob = json.dumps({
        "backend": backend,
        "specials": {k: str(v) for k, v in sorted(tok.special_tokens_map.items())},
        "template": tok.chat_template if isinstance(tok.chat_template, str) else json.dumps(tok.chat_template),
    }, sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def _catalog_hash(folder: Path, tok) -> str:
    """``_hash_tokenizer`` of a provisioned catalog tokenizer, remembered in the cache folder.

    Kept in ``loaded-hashes.json`` under the folder's file content hash (its manifest's, which
    ``tokenizer_dir`` has just verified) and the transformers and tokenizers releases that loaded it:
    the same files loaded by the same libraries are the same tokenizer. Serialising the backend to hash
    it took 2.8 s of every run's 14 catalog tokenizers (0.2-0.7 s for a 150k-260k vocabulary).
    """
    from importlib.metadata import version

    from harness.tokenizers import provision

    try:
        files = json.loads((folder / provision.MANIFEST_NAME).read_text(encoding="utf-8"))["content_hash"]
        key = f"{files} transformers {version('transformers')} tokenizers {version('tokenizers')}"
    except (OSError, ValueError, KeyError, TypeError, ImportError):  # ImportError: a library without metadata
        return _hash_tokenizer(tok)
    store = provision.default_cache_dir() / "loaded-hashes.json"
    try:
        known = json.loads(store.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    if not isinstance(known, dict):
        known = {}
    if isinstance(known.get(key), str):
        return known[key]
    known[key] = _hash_tokenizer(tok)
    partial = store.with_name(f"{store.name}.{os.getpid()}.tmp")
    try:  # whole or not at all: runs in parallel read this file while one of them replaces it
        partial.write_text(json.dumps(known, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(partial, store)
    except OSError:
        partial.unlink(missing_ok=True)  # a read-only cache only costs hashing again next time
    return known[key]


def derive_eot_token(tok) -> str | None:
    """The first special token the chat template emits after an assistant message's content.

    Derived by rendering, so it works for any template (Gemma ``<end_of_turn>``, Llama-3
    ``<|eot_id|>``, Mistral ``</s>``), not only catalogued ones.
    """
    if not tok.chat_template:
        return tok.eos_token
    msgs = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": PROBE_CONTENT}]
    try:
        with frozen_clock():
            text = tok.apply_chat_template(msgs, tokenize=False)
    except Exception:  # noqa: BLE001 - a template that cannot render a plain exchange has no EOT
        return tok.eos_token
    tail = text[text.rfind(PROBE_CONTENT) + len(PROBE_CONTENT):]
    specials = sorted((s for s in tok.get_added_vocab() if s and s in tail), key=lambda s: (tail.find(s), -len(s)))
    return specials[0] if specials else tok.eos_token


def _load_dir(path: str | Path):
    from transformers import AutoTokenizer

    from harness.pipeline.warnings_capture import quiet_transformers

    with quiet_transformers():
        tok = AutoTokenizer.from_pretrained(str(path))
    template_file = Path(path) / "chat_template.jinja"
    if not tok.chat_template and template_file.is_file():
        # transformers < 4.47 reads the template only from tokenizer_config.json; later releases
        # (and our provisioned folders) keep it in chat_template.jinja beside it.
        tok.chat_template = template_file.read_text(encoding="utf-8")
    return tok


_LOADED: dict[str, LoadedTokenizer] = {}


def load(spec: str) -> LoadedTokenizer:
    """Load a tokenizer by catalog id, synthetic id, local folder path, or Hub id (once per process, until
    ``forget``)."""
    if spec not in _LOADED:
        _LOADED[spec] = _load(spec)
    return _LOADED[spec]


def forget(spec: str) -> LoadedTokenizer | None:
    """Drop the process's loaded copy of ``spec`` (returned; None if there was none); a later ``load``
    loads it again."""
    return _LOADED.pop(spec, None)


def _load(spec: str) -> LoadedTokenizer:
    if spec in synthetic.SPECS:
        tok = synthetic.build(spec)
        return LoadedTokenizer(spec, tok, _hash_tokenizer(tok), "synthetic (built in code)", "synthetic",
                               derive_eot_token(tok))
    from harness.tokenizers import provision

    entry = next((e for e in provision.catalog() if e.id == spec), None)
    if entry is not None:
        folder = provision.tokenizer_dir(spec)
        if folder is None:
            raise TokenizerUnavailable(
                f"tokenizer {spec!r} is not provisioned in {provision.default_cache_dir()}; "
                f"run: sft-conformance provision --only {spec}")
        tok = _load_dir(folder)
        return LoadedTokenizer(spec, tok, _catalog_hash(folder, tok), f"catalog ({folder})", entry.family,
                               derive_eot_token(tok))
    if Path(spec).is_dir():
        if not any(Path(spec).glob("tokenizer*")) and not any(Path(spec).glob("*.model")):
            raise TokenizerUnavailable(f"{spec}: no tokenizer files in this folder (tokenizer.json, "
                                       "tokenizer_config.json or a SentencePiece .model)")
        try:
            tok = _load_dir(spec)
        except Exception as exc:  # noqa: BLE001 - a corrupt folder is one clear line, not a traceback
            detail = " ".join(str(exc).split())[:300]
            raise TokenizerUnavailable(f"{spec}: transformers cannot load this tokenizer folder "
                                       f"({type(exc).__name__}: {detail})") from None
        return LoadedTokenizer(spec, tok, _hash_tokenizer(tok), f"local folder {spec}", "user", derive_eot_token(tok))
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        raise TokenizerUnavailable(
            f"{spec!r} is not a catalog id ({', '.join(known_ids())}), not a local folder, and "
            "HF_HUB_OFFLINE=1 forbids loading it from the Hub")
    try:
        tok = _load_dir(spec)
    except Exception as exc:  # noqa: BLE001 - turn a Hub failure into one clear line
        raise TokenizerUnavailable(f"could not load {spec!r} from the Hugging Face Hub: {exc}") from None
    return LoadedTokenizer(spec, tok, _hash_tokenizer(tok), f"hub {spec}", "user", derive_eot_token(tok))


def catalog_alias(lt: LoadedTokenizer) -> str | None:
    """The catalog tokenizer this one is a copy of (same content hash), or None.

    Catalog and synthetic ids are themselves. For a folder or Hub id, the provisioned catalog
    tokenizers' hashes are computed once and kept in the cache folder (``content-hashes.json``,
    keyed by each tokenizer folder's path and modification time).
    """
    import json

    from harness.tokenizers import provision

    if lt.id in synthetic.SPECS or any(e.id == lt.id for e in provision.catalog()):
        return None
    store = provision.default_cache_dir() / "content-hashes.json"
    try:
        known = json.loads(store.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    changed = False
    for entry in provision.catalog():
        folder = provision.tokenizer_dir(entry.id)
        if folder is None:
            continue
        stamp = f"{folder}:{folder.stat().st_mtime_ns}"
        if known.get(entry.id, {}).get("stamp") != stamp:
            known[entry.id] = {"stamp": stamp, "hash": _hash_tokenizer(_load_dir(folder))}
            changed = True
        if known[entry.id]["hash"] == lt.content_hash:
            _save(store, known, changed)
            return entry.id
    _save(store, known, changed)
    return None


def _save(store: Path, known: dict, changed: bool) -> None:
    import json

    if changed:
        try:
            store.write_text(json.dumps(known, indent=1), encoding="utf-8")
        except OSError:
            pass  # a read-only cache only costs recomputing next time
