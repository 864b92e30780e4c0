"""sha256 of bytes and files, and ``content_hash``: the fingerprint of a tokenizer folder that encodings record."""

from __future__ import annotations

import hashlib
from pathlib import Path

# Files that define a tokenizer's behaviour, hashed by content_hash().  Provisioned
# directories hold tokenizer.json, tokenizer_config.json and chat_template.jinja; the
# others cover user-supplied folders (slow-tokenizer vocabularies, older layouts).
_CONTENT_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "chat_template.json",
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
    "vocab.txt",
    "special_tokens_map.json",
    "added_tokens.json",
)
_CONTENT_DIRS = ("additional_chat_templates",)


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _content_files(directory: Path) -> list[str]:
    """Relative names of the tokenizer-defining files present in ``directory``, sorted."""
    names = [name for name in _CONTENT_FILES if (directory / name).is_file()]
    for sub in _CONTENT_DIRS:
        if (directory / sub).is_dir():
            names += [f"{sub}/{p.name}" for p in (directory / sub).iterdir() if p.is_file()]
    return sorted(names)


def content_hash(tokenizer_dir: Path) -> str:
    """Short fingerprint of a tokenizer directory's behaviour-defining files.

    sha256 over the sorted (relative name, sha256 of bytes) pairs of tokenizer.json,
    tokenizer_config.json and the chat template files (plus tokenizer.model, vocab and
    merges files when a user folder has them); first 16 hex digits.  Encodings record
    it as provenance, so two runs can tell whether they used the same tokenizer.
    """
    directory = Path(tokenizer_dir)
    names = _content_files(directory)
    if not names:
        raise FileNotFoundError(f"no tokenizer files in {directory}")
    digest = hashlib.sha256()
    for name in names:
        digest.update(f"{name}\0{_sha256_file(directory / name)}\n".encode())
    return digest.hexdigest()[:16]
