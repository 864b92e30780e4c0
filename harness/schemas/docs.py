"""``docs/formats.md`` and ``docs/schemas/*.json``, generated from the schemas, and the findings tables of
README.md (compact) and docs/findings.md (full), generated from the expectations (``sft-conformance lint --write-docs``);
``tests/test_lint.py`` fails when the committed files differ from what the schemas give."""

from __future__ import annotations

import json
from pathlib import Path

from harness.schemas.bugs import BugCatalog
from harness.schemas.cases import CaseFile
from harness.schemas.catalog import Catalog
from harness.schemas.expectations import ExpectationsFile

ROOT = Path(__file__).resolve().parents[2]
# (name of the JSON Schema file, where the files of that format live, their schema)
FORMATS = (
    ("cases", "cases/*.yaml", CaseFile),
    ("expectations", "conformance/expectations/trl.yaml", ExpectationsFile),
    ("tokenizer-catalog", "harness/tokenizers/catalog.yaml", Catalog),
    ("bug-catalog", "cases/bugs/upstream.yaml", BugCatalog),
)
HEADER = """\
# File formats

Generated from the schemas in `harness/schemas/` by `sft-conformance lint --write-docs` (do not edit by hand;
`tests/test_lint.py` checks it is current). The same schemas validate the files when they are loaded, and
`sft-conformance lint` checks them all, plus what no single file can tell: ids that name no tokenizer, path,
rule or case. JSON Schema of each format: `docs/schemas/<name>.json` (for editors; the rules written in a
description, such as "either `messages` or `prompt` + `completion`", are checked by the loaders and `lint`, not
by JSON Schema).
"""


def json_schema(model) -> str:
    return json.dumps(model.model_json_schema(by_alias=True), indent=2, ensure_ascii=False) + "\n"


def markdown() -> str:
    parts = [HEADER]
    for name, where, model in FORMATS:
        schema = model.model_json_schema(by_alias=True)
        defs = schema.get("$defs", {})
        parts.append(f"\n## `{where}`\n\nJSON Schema: [schemas/{name}.json](schemas/{name}.json)\n")
        parts += [_table(title, schema if title == schema["title"] else defs[title], root=title == schema["title"])
                  for title in _reachable(schema, defs)]
    return "".join(parts)


def _findings(name: str, compact: bool) -> str:
    """The file ``name`` with its findings table regenerated from the expectations (``findings_table``)."""
    from conformance.rules import BATCH_RULES, RULES
    from harness.schemas import findings_table

    make = findings_table.compact_markdown if compact else findings_table.markdown
    titles = {r.id: r.title for r in [*RULES.values(), *BATCH_RULES.values()]}
    table = make(ROOT / "conformance" / "expectations" / "trl.yaml", ROOT / "constraints" / "latest.txt", titles)
    return findings_table.with_table((ROOT / name).read_text(encoding="utf-8"), table, name)


def readme() -> str:
    """README.md with its compact findings table regenerated from the expectations."""
    return _findings("README.md", compact=True)


def findings() -> str:
    """docs/findings.md with its full findings table regenerated from the expectations."""
    return _findings("docs/findings.md", compact=False)


def generated() -> dict[Path, str]:
    """Every generated file (relative to the repository root) and its text."""
    out = {Path("docs/formats.md"): markdown()}
    out.update({Path(f"docs/schemas/{name}.json"): json_schema(model) for name, _, model in FORMATS})
    out[Path("README.md")] = readme()
    out[Path("docs/findings.md")] = findings()
    return out


def write(root: Path = ROOT) -> list[Path]:
    for rel, text in generated().items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return list(generated())


def stale(root: Path = ROOT) -> list[Path]:
    """The generated files that are missing or differ from what the schemas give."""
    return [rel for rel, text in generated().items()
            if not (root / rel).is_file() or (root / rel).read_text(encoding="utf-8") != text]


def _reachable(schema: dict, defs: dict) -> list[str]:
    """The root model and the models it refers to, in the order a reader meets them."""
    order, todo = [], [schema["title"]]
    while todo:
        title = todo.pop(0)
        if title in order:
            continue
        order.append(title)
        node = schema if title == schema["title"] else defs[title]
        todo += [ref for prop in node.get("properties", {}).values() for ref in _refs(prop)]
    return order


def _refs(node) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"].rsplit("/", 1)[1]] if "$ref" in node else []
        return own + [r for key, v in node.items() if key != "discriminator" for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _table(title: str, node: dict, root: bool) -> str:
    rows = ["| field | type | | description |", "|---|---|---|---|"]
    required = set(node.get("required", ()))
    for key, prop in node.get("properties", {}).items():
        need = "required" if key in required else (
            f"default `{json.dumps(prop['default'])}`" if prop.get("default") not in (None, [], {}) else "optional")
        rows.append(f"| `{key}` | {_type(prop)} | {need} | {_text(prop.get('description', ''))} |")
    heading = "" if root else f"\n### {title}\n"
    return f"{heading}\n{_text(node.get('description', ''))}\n\n" + "\n".join(rows) + "\n"


def _text(description: str) -> str:
    """A docstring as markdown (reST ``code`` as `code`)."""
    return description.replace("``", "`")


def _type(node: dict) -> str:
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[1]
        return f"[{name}](#{name.lower()})"
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    if "enum" in node:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in node["enum"])
    for key in ("anyOf", "oneOf"):
        if key in node:
            options = [o for o in node[key] if o != {"type": "null"}]
            text = " or ".join(_type(o) for o in options)
            if "discriminator" in node:
                text += f" (by `{node['discriminator']['propertyName']}`)"
            return text + (" or null" if len(options) < len(node[key]) else "")
    kind = node.get("type", "any")
    if kind == "array":
        text = f"list of {_type(node.get('items', {}))}"
    elif kind == "object":
        extra = node.get("additionalProperties")
        text = f"mapping of string to {_type(extra)}" if isinstance(extra, dict) and extra else "mapping"
    else:
        text = kind
    limits = [f"{label} {node[k]}" for k, label in (("minItems", "at least"), ("maxItems", "at most"),
                                                    ("minProperties", "at least"), ("minLength", "length ≥"),
                                                    ("minimum", "≥")) if k in node]
    if "pattern" in node:
        limits.append(f"matching `{node['pattern']}`")
    return text + (f" ({', '.join(limits)})" if limits else "")
