"""Golden cases: one SFT example each, stored as data under ``cases/`` and validated here.

A case file is YAML with a top-level ``cases:`` list. Each case has either ``messages`` (a
conversation) or ``prompt`` + ``completion`` (strings, or message lists for conversational
prompt/completion). The format is defined once, by the schema in ``harness/schemas/cases.py``
(documented in ``docs/formats.md``); every error names the file and the exact field
(``cases/basic.yaml: cases[3] (id x).messages[1].role: ...``) instead of a traceback.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field, replace
from pathlib import Path

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
    # the rules the case is written to exercise, and an outcome other than every rule passing that it is written
    # to produce (``harness/schemas/cases.py``, ``Expect``: outcome, rules, tokenizers, paths, reason)
    targets: tuple[str, ...] = ()
    expect: dict | None = None

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
        """Keyword arguments for ``apply_chat_template`` beyond the messages: the row's columns as TRL passes
        them (``tools``, then the ``chat_template_kwargs`` spread over them)."""
        columns = self.extra_columns
        return {**{k: v for k, v in columns.items() if k == "tools"}, **columns.get("chat_template_kwargs", {})}

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


def _message(m) -> dict:
    """A validated message as the plain dict chat templates read: the fields the file gives, nothing added
    (a default written into the data would change what the template renders); content "" when left out."""
    out = m.model_dump(exclude_unset=True)
    out.setdefault("content", "")
    return out


def _from_schema(c, source: str) -> Case:
    """The runtime Case of a validated schema case (``harness/schemas/cases.py`` is the format's one definition)."""
    def turns(value):
        return tuple(_message(m) for m in value) if isinstance(value, list) else value

    text = list(_strings([turns(c.messages), turns(c.prompt), turns(c.completion), c.response_template]))
    return Case(
        id=c.id, description=c.description.strip(), source=source, tags=tuple(c.tags),
        messages=turns(c.messages), prompt=turns(c.prompt), completion=turns(c.completion),
        paths=tuple(c.paths) if c.paths else None, max_length=c.max_length, response_template=c.response_template,
        regression=c.regression.model_dump(exclude_unset=True),
        tools=tuple(t.model_dump(exclude_unset=True) for t in c.tools) if c.tools else None,
        chat_template_kwargs=dict(c.chat_template_kwargs) if c.chat_template_kwargs else None,
        placeholders=tuple(n for n in PLACEHOLDERS if any("{" + n + "}" in t for t in text)),
        targets=tuple(c.targets or ()), expect=c.expect.model_dump() if c.expect else None,
    )


def load_case_file(path: Path) -> list[Case]:
    """Load and validate every case in one YAML file; the first problem names the file and the field."""
    from harness.schemas.base import read_yaml, validate
    from harness.schemas.cases import CaseFile

    raw, problems = read_yaml(path)
    if not problems and not (isinstance(raw, dict) and isinstance(raw.get("cases"), list)):
        raise CaseError(f"{path}: cases: expected a top-level 'cases:' list")
    doc, problems = (None, problems) if problems else validate(CaseFile, raw, str(path))
    if problems:  # a misspelt field explains the "required" that comes with it: name it first
        raise CaseError(str(min(problems, key=lambda p: not p.message.startswith("unknown field"))))
    return [_from_schema(c, str(path)) for c in doc.cases]


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
