"""``provision()``: build each requested tokenizer in a staging folder, smoke-test it, write its manifest and
publish it; then TRL's training templates. One tokenizer's failure does not stop the others."""

from __future__ import annotations

import datetime as _dt
import fnmatch
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.tokenizers.provision.cache import (
    MANIFEST_NAME,
    TEMPLATES_MANIFEST_NAME,
    _library_versions,
    _publish,
    _temporary_prefix,
    _write_json,
    default_cache_dir,
    remove_leftovers,
    tokenizer_dir,
    trl_templates_dir,
)
from harness.tokenizers.provision.catalog_file import (
    CATALOG_PATH,
    SCHEMA_VERSION,
    CatalogEntry,
    Log,
    ProvisionError,
    _Catalog,
    _load_catalog,
    _TemplatesSpec,
)
from harness.tokenizers.provision.downloads import _Downloads, _list_members, _read_member, _Workspace
from harness.tokenizers.provision.hashing import _sha256_bytes, _sha256_file, content_hash
from harness.tokenizers.provision.templates import _apply_patches, _install_template, _resolve_template
from harness.tokenizers.provision.tokenizer_files import _apply_token_changes, _build_tokenizer_files

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
