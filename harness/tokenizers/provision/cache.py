"""The cache folder: where it is, which folders still verify against their manifest, and writing it safely.

A folder is published by renaming a finished staging folder over it; staging and download folders carry their
owner's pid, so the leftovers of a killed run can be told from a running one's.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from harness.tokenizers.provision.catalog_file import (
    CATALOG_PATH,
    SCHEMA_VERSION,
    _load_catalog,
    catalog_entry,
)
from harness.tokenizers.provision.hashing import _sha256_file, content_hash

MANIFEST_NAME = "sft_conformance_manifest.json"
TEMPLATES_MANIFEST_NAME = "manifest.json"


def default_cache_dir() -> Path:
    """``$SFT_CONFORMANCE_CACHE`` if set, else ``~/.cache/sft-conformance``."""
    env = os.environ.get("SFT_CONFORMANCE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "sft-conformance"


def tokenizer_dir(tokenizer_id: str, cache_dir: Path | None = None) -> Path | None:
    """The provisioned directory of ``tokenizer_id``, or None when it cannot be trusted.

    None when the id is not in the catalog, the directory or its manifest is missing,
    the manifest was written for another recipe (the catalog changed), or any file's
    sha256 differs from the manifest (a damaged or hand-edited directory).
    """
    entry = catalog_entry(tokenizer_id)
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


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _library_versions(*names: str) -> dict[str, str]:
    from importlib import metadata

    versions = {}
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


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
