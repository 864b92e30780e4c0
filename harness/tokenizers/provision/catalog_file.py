"""The catalog (``harness/tokenizers/catalog.yaml``) read into pinned sources and tokenizer recipes.

Validated by ``harness/schemas/catalog.py``; ``recipe_hash()`` fingerprints what determines a built folder.
(Not named ``catalog.py``: that would shadow the package's ``catalog()`` function.)
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.tokenizers.provision.hashing import _sha256_bytes

CATALOG_PATH = Path(__file__).parent.with_name("catalog.yaml")
SCHEMA_VERSION = 1
"""Bump when the directory layout or the build recipe code changes meaning: every
manifest written by an older schema then stops verifying and is rebuilt."""

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


def catalog_entry(tokenizer_id: str) -> CatalogEntry | None:
    """The entry of ``tokenizer_id`` in ``harness/tokenizers/catalog.yaml``, or None when it lists no such id."""
    return _load_catalog(CATALOG_PATH.resolve()).entry(tokenizer_id)


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
