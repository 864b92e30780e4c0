"""Golden cases: one SFT example each, stored as data under ``cases/`` and validated here.

A case file is YAML with a top-level ``cases:`` list. Each case has either ``messages`` (a
conversation) or ``prompt`` + ``completion`` (strings, or message lists for conversational
prompt/completion). Validation is hand-written so that every error names the file and the
exact field (``cases/basic.yaml: cases[3].messages[1].role: ...``) instead of a traceback.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from harness.pipeline.path_ids import PATH_IDS

ROLES = ("system", "user", "assistant", "tool")
SHAPES = ("string_pc", "conversation")
CASE_KEYS = {
    "id", "description", "tags", "messages", "prompt", "completion", "paths",
    "max_length", "response_template", "regression", "tools", "chat_template_kwargs",
}
# Optional message fields besides role/content, as chat templates read them (Hugging Face chat format):
# the assistant's thinking, its tool calls, and a tool result's call id / function name.
MESSAGE_FIELDS = {"reasoning_content": str, "tool_calls": list, "tool_call_id": str, "name": str}
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
    tools: tuple[dict, ...] | None = None          # JSON-schema function definitions (a `tools` column)
    chat_template_kwargs: dict | None = None       # extra template variables (a `chat_template_kwargs` column)
    # the case spells the tokenizer's own special strings as {bos} / {eos} / {eot} (case files only;
    # ``with_specials`` substitutes them per tokenizer)
    placeholders: tuple[str, ...] = ()
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

    @property
    def render_kwargs(self) -> dict:
        """Keyword arguments for ``apply_chat_template`` beyond the messages, as TRL passes the row's columns."""
        out = dict(self.chat_template_kwargs or {})
        if self.tools:
            out["tools"] = [dict(t) for t in self.tools]
        return out

    @property
    def extra_columns(self) -> dict:
        """Dataset columns besides the text ones: what a user's row carries for tools and template switches."""
        out = {}
        if self.tools:
            out["tools"] = [dict(t) for t in self.tools]
        if self.chat_template_kwargs:
            out["chat_template_kwargs"] = dict(self.chat_template_kwargs)
        return out

    def allows_path(self, path: str) -> bool:
        return self.paths is None or any(fnmatch.fnmatchcase(path, p) for p in self.paths)


PLACEHOLDERS = ("bos", "eos", "eot")


def _strings(value):
    """Every string inside a case field (message contents, tool-call arguments, prompt, completion)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def _substitute(value, values: dict[str, str]):
    if isinstance(value, str):
        for name, text in values.items():
            value = value.replace("{" + name + "}", text)
        return value
    if isinstance(value, dict):
        return {k: _substitute(v, values) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_substitute(v, values) for v in value)
    return value


def with_specials(case: Case, bos: str | None, eos: str | None, eot: str | None) -> Case | str:
    """The case with ``{bos}`` / ``{eos}`` / ``{eot}`` replaced by this tokenizer's own strings, so a case
    such as "the user typed the EOS" tests every tokenizer's EOS; or why it cannot (the tokenizer has none)."""
    if not case.placeholders:
        return case
    values = {"bos": bos, "eos": eos, "eot": eot}
    missing = [n for n in case.placeholders if values[n] is None]
    if missing:
        return f"case {case.id} uses {{{missing[0]}}} and this tokenizer has no {missing[0]} token"
    used = {n: values[n] for n in case.placeholders}
    fields = ("messages", "prompt", "completion", "response_template")
    return replace(case, placeholders=(), **{f: _substitute(getattr(case, f), used) for f in fields})


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
        extra = set(m) - {"role", "content"} - set(MESSAGE_FIELDS)
        if extra:
            _fail(f"{w}.{sorted(extra)[0]}", f"unknown field (allowed: role, content, {', '.join(MESSAGE_FIELDS)})")
        if m.get("role") not in ROLES:
            _fail(f"{w}.role", f"expected one of {', '.join(ROLES)}, got {m.get('role')!r}")
        if not isinstance(m.get("content"), str):
            _fail(f"{w}.content", f"expected a string, got {type(m.get('content')).__name__}")
        for key, kind in MESSAGE_FIELDS.items():
            if key in m and not isinstance(m[key], kind):
                _fail(f"{w}.{key}", f"expected a {kind.__name__}, got {type(m[key]).__name__}")
        if "tool_calls" in m:
            if m["role"] != "assistant":
                _fail(f"{w}.tool_calls", "only assistant messages make tool calls")
            _tool_calls(m["tool_calls"], f"{w}.tool_calls")
        out.append({"role": m["role"], "content": m["content"],
                    **{k: m[k] for k in MESSAGE_FIELDS if k in m}})
    return tuple(out)


def _tool_calls(calls: list, where: str) -> None:
    for k, call in enumerate(calls):
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or "arguments" not in fn:
            _fail(f"{where}[{k}]", "expected {type: function, function: {name, arguments}}")


def _tools(value: Any, where: str) -> tuple[dict, ...]:
    if not isinstance(value, list) or not value:
        _fail(where, "expected a non-empty list of function definitions")
    for k, t in enumerate(value):
        fn = t.get("function") if isinstance(t, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            _fail(f"{where}[{k}]", "expected {type: function, function: {name, description, parameters}}")
    return tuple(value)


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
    tools = _tools(raw["tools"], f"{where}.tools") if "tools" in raw else None
    kwargs = raw.get("chat_template_kwargs")
    if kwargs is not None and (not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs)):
        _fail(f"{where}.chat_template_kwargs", "expected a mapping of template variable names to values")
    if (tools or kwargs) and messages is None and isinstance(prompt, str):
        _fail(f"{where}.{'tools' if tools else 'chat_template_kwargs'}", "only conversations are rendered with a template")
    text = list(_strings([messages, prompt, completion, rt]))
    placeholders = tuple(n for n in PLACEHOLDERS if any("{" + n + "}" in t for t in text))
    return Case(
        id=cid, description=raw["description"].strip(), source=source, tags=tuple(tags),
        messages=messages, prompt=prompt, completion=completion,
        paths=tuple(paths) if paths else None, max_length=max_length, response_template=rt,
        regression=dict(regression), tools=tools, chat_template_kwargs=dict(kwargs) if kwargs else None,
        placeholders=placeholders,
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


def for_tokenizer(case: Case, lt) -> Case | str:
    """``with_specials`` for a loaded tokenizer (its BOS, EOS and the token its template ends a turn with)."""
    tok = lt.tokenizer
    return with_specials(case, tok.bos_token, tok.eos_token, lt.eot_token)
