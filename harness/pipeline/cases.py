"""Golden cases: one SFT example each, stored as data under ``cases/`` and validated here.

A case file is YAML with a top-level ``cases:`` list. Each case has either ``messages`` (a
conversation) or ``prompt`` + ``completion`` (strings, or message lists for conversational
prompt/completion). Validation is hand-written so that every error names the file and the
exact field (``cases/basic.yaml: cases[3].messages[1].role: ...``) instead of a traceback.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.pipeline.path_ids import PATH_IDS

ROLES = ("system", "user", "assistant")
SHAPES = ("string_pc", "conversation")
CASE_KEYS = {
    "id", "description", "tags", "messages", "prompt", "completion", "paths",
    "max_length", "response_template", "regression",
}
REGRESSION_KEYS = {"repo", "issue", "pr", "url", "note"}
DEFAULT_CASES_DIR = Path(__file__).resolve().parents[2] / "cases"


class CaseError(ValueError):
    """A case file is malformed; the message names the file and the field."""


@dataclass(frozen=True)
class Case:
    """One golden example. ``shape`` says which SFT data paths can carry it."""

    id: str
    description: str
    source: str
    tags: tuple[str, ...] = ()
    messages: tuple[dict, ...] | None = None
    prompt: str | tuple[dict, ...] | None = None
    completion: str | tuple[dict, ...] | None = None
    paths: tuple[str, ...] | None = None
    max_length: int | None = None
    response_template: str | None = None
    regression: dict = field(default_factory=dict)
    # the completion the oracle reads instead of ``completion`` (``check``: a user's text row that already
    # begins with the BOS the tokenizer adds is judged against that text with one BOS)
    reference_completion: str | None = None

    @property
    def shape(self) -> str:
        return "string_pc" if isinstance(self.prompt, str) else "conversation"

    @property
    def conversation(self) -> list[dict] | None:
        """The whole conversation (prompt + completion for conversational P/C)."""
        if self.messages is not None:
            return [dict(m) for m in self.messages]
        if isinstance(self.prompt, tuple):
            return [dict(m) for m in self.prompt + self.completion]
        return None

    @property
    def prompt_messages(self) -> list[dict] | None:
        """Conversation minus the final assistant message: what a model sees at inference."""
        if isinstance(self.prompt, tuple):
            return [dict(m) for m in self.prompt]
        conv = self.conversation
        if conv and conv[-1]["role"] == "assistant":
            return conv[:-1]
        return None

    @property
    def completion_messages(self) -> list[dict] | None:
        if isinstance(self.completion, tuple):
            return [dict(m) for m in self.completion]
        conv = self.conversation
        if conv and conv[-1]["role"] == "assistant":
            return conv[-1:]
        return None

    @property
    def ends_with_assistant(self) -> bool:
        conv = self.conversation
        return bool(conv) and conv[-1]["role"] == "assistant"

    def allows_path(self, path: str) -> bool:
        return self.paths is None or any(fnmatch.fnmatchcase(path, p) for p in self.paths)


def _fail(where: str, msg: str) -> None:
    raise CaseError(f"{where}: {msg}")


def _messages(value: Any, where: str) -> tuple[dict, ...]:
    if not isinstance(value, list) or not value:
        _fail(where, f"expected a non-empty list of messages, got {type(value).__name__}")
    out = []
    for i, m in enumerate(value):
        w = f"{where}[{i}]"
        if not isinstance(m, dict):
            _fail(w, f"expected a mapping with role and content, got {type(m).__name__}")
        extra = set(m) - {"role", "content"}
        if extra:
            _fail(f"{w}.{sorted(extra)[0]}", "unknown field (allowed: role, content)")
        if m.get("role") not in ROLES:
            _fail(f"{w}.role", f"expected one of {', '.join(ROLES)}, got {m.get('role')!r}")
        if not isinstance(m.get("content"), str):
            _fail(f"{w}.content", f"expected a string, got {type(m.get('content')).__name__}")
        out.append({"role": m["role"], "content": m["content"]})
    return tuple(out)


def parse_case(raw: Any, where: str, source: str) -> Case:
    """Validate one case mapping; ``where`` is the location used in error messages."""
    if not isinstance(raw, dict):
        _fail(where, f"expected a mapping, got {type(raw).__name__}")
    unknown = set(raw) - CASE_KEYS
    if unknown:
        name = sorted(unknown)[0]
        _fail(f"{where}.{name}", f"unknown field (allowed: {', '.join(sorted(CASE_KEYS))})")
    cid = raw.get("id")
    if not isinstance(cid, str) or not cid.replace("_", "").replace("-", "").isalnum():
        _fail(f"{where}.id", f"expected an identifier of letters, digits, '_' or '-', got {cid!r}")
    where = f"{where} (id {cid})"
    if not isinstance(raw.get("description"), str) or not raw["description"].strip():
        _fail(f"{where}.description", "required: a sentence saying what the case exercises")
    has_msgs = "messages" in raw
    has_pc = "prompt" in raw or "completion" in raw
    if has_msgs == has_pc:
        _fail(where, "give either 'messages' or 'prompt' + 'completion', not both and not neither")
    messages = prompt = completion = None
    if has_msgs:
        messages = _messages(raw["messages"], f"{where}.messages")
    else:
        for k in ("prompt", "completion"):
            if k not in raw:
                _fail(f"{where}.{k}", "required when the other of prompt/completion is given")
        p, c = raw["prompt"], raw["completion"]
        if isinstance(p, str) and isinstance(c, str):
            prompt, completion = p, c
        elif isinstance(p, list) and isinstance(c, list):
            prompt = _messages(p, f"{where}.prompt")
            completion = _messages(c, f"{where}.completion")
            if [m["role"] for m in completion] != ["assistant"]:
                _fail(f"{where}.completion", "expected exactly one assistant message")
        else:
            _fail(f"{where}.completion", "prompt and completion must both be strings or both message lists")
    tags = raw.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        _fail(f"{where}.tags", "expected a list of strings")
    paths = raw.get("paths")
    if paths is not None and (not isinstance(paths, list) or not all(isinstance(p, str) for p in paths)):
        _fail(f"{where}.paths", "expected a list of path ids or globs")
    for p in paths or ():
        if not any(fnmatch.fnmatchcase(known, p) for known in PATH_IDS):
            _fail(f"{where}.paths", f"{p!r} names no path; known: {', '.join(PATH_IDS)}")
    max_length = raw.get("max_length")
    if max_length is not None and (not isinstance(max_length, int) or isinstance(max_length, bool)
                                   or max_length < 4):
        _fail(f"{where}.max_length", f"expected an integer >= 4, got {max_length!r}")
    rt = raw.get("response_template")
    if rt is not None and (not isinstance(rt, str) or not rt):
        _fail(f"{where}.response_template", "expected a non-empty string")
    if rt is not None and isinstance(prompt, str) and rt not in prompt:
        _fail(f"{where}.response_template", f"{rt!r} does not occur in the prompt")
    regression = raw.get("regression", {})
    if not isinstance(regression, dict):
        _fail(f"{where}.regression", "expected a mapping with repo/issue/pr/url")
    bad = set(regression) - REGRESSION_KEYS
    if bad:
        _fail(f"{where}.regression.{sorted(bad)[0]}", f"unknown field (allowed: {', '.join(sorted(REGRESSION_KEYS))})")
    return Case(
        id=cid, description=raw["description"].strip(), source=source, tags=tuple(tags),
        messages=messages, prompt=prompt, completion=completion,
        paths=tuple(paths) if paths else None, max_length=max_length, response_template=rt,
        regression=dict(regression),
    )


def load_case_file(path: Path) -> list[Case]:
    """Load and validate every case in one YAML file."""
    name = str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CaseError(f"{name}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
        raise CaseError(f"{name}: cases: expected a top-level 'cases:' list")
    unknown = set(data) - {"cases"}
    if unknown:
        raise CaseError(f"{name}: {sorted(unknown)[0]}: unknown top-level field (only 'cases')")
    return [parse_case(raw, f"{name}: cases[{i}]", name) for i, raw in enumerate(data["cases"])]


def load_cases(directory: Path | None = None) -> list[Case]:
    """All cases under ``directory`` (default: the repository's ``cases/``), ids unique."""
    directory = Path(directory or DEFAULT_CASES_DIR)
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise CaseError(f"{directory}: no *.yaml case files found")
    seen: dict[str, str] = {}
    out: list[Case] = []
    for f in files:
        for case in load_case_file(f):
            if case.id in seen:
                raise CaseError(f"{f}: id {case.id!r} already defined in {seen[case.id]}")
            seen[case.id] = str(f)
            out.append(case)
    return out
