"""Schema of the case files ``cases/*.yaml``: one SFT example per case, as a conversation (``messages``) or as
``prompt`` + ``completion`` (strings, or message lists for conversational prompt/completion).

Reasoning and tool-calling data use the Hugging Face chat format: role ``tool``; ``reasoning_content`` and
``tool_calls`` on assistant messages, ``tool_call_id`` and ``name`` on tool messages; ``tools`` and
``chat_template_kwargs`` on cases (given to the template, and to TRL as dataset columns). Any string may spell
the tokenizer's own special strings as ``{bos}``, ``{eos}`` or ``{eot}`` (substituted per tokenizer).
``harness/pipeline/cases.py`` loads case files through this schema.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from harness.schemas.base import FieldError, Strict, str_or
from harness.schemas.path_ids import PATH_IDS


def _identifier(value: str) -> str:
    if not value.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"expected an identifier of letters, digits, '_' or '-', got {value!r}")
    return value


def _sentence(value: str) -> str:
    if not value.strip():
        raise ValueError("required: a sentence saying what the case exercises")
    return value


def _path_glob(value: str) -> str:
    if not any(fnmatch.fnmatchcase(known, value) for known in PATH_IDS):
        raise ValueError(f"{value!r} names no path; known: {', '.join(PATH_IDS)}")
    return value


_JSON_TYPES = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "object": dict,
               "array": list, "null": type(None)}


def _arguments_problem(arguments: Any, parameters: dict[str, Any]) -> str | None:
    """What is wrong with a call's arguments against the function's JSON Schema (the subset tool definitions
    use: an object's ``properties``, ``required``, ``additionalProperties`` and each property's ``type``), or
    None."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError as exc:
            return f"not valid JSON: {exc.msg}"
    if not isinstance(arguments, dict):
        return "expected a mapping of arguments"
    properties = parameters.get("properties") or {}
    missing = [name for name in parameters.get("required") or [] if name not in arguments]
    if missing:
        return f"missing required argument(s) {', '.join(missing)}"
    for name, value in arguments.items():
        if name not in properties:
            if parameters.get("additionalProperties") is False:
                return f"unknown argument {name!r} (the function takes {', '.join(properties) or 'none'})"
            continue
        expected = properties[name].get("type")
        kinds = [expected] if isinstance(expected, str) else expected or []
        if kinds and not any(isinstance(value, _JSON_TYPES.get(k, object)) and not
                             (k in ("integer", "number") and isinstance(value, bool)) for k in kinds):
            return f"argument {name!r}: expected {' or '.join(kinds)}, got {type(value).__name__}"
    return None


class Function(Strict):
    """A function the model may call, described by JSON Schema (what ``apply_chat_template(tools=...)`` takes)."""

    name: str = Field(min_length=1)
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=dict, description="JSON Schema of the arguments")


class Tool(Strict):
    """One entry of ``tools``."""

    type: Literal["function"] = Field(description="always `function`")
    function: Function


class Call(Strict):
    """The function an assistant message calls."""

    name: str = Field(min_length=1)
    arguments: str_or(dict[str, Any], dict, "a mapping of arguments") = Field(
        description="a mapping, or the JSON text of one")


class ToolCall(Strict):
    """One entry of an assistant message's ``tool_calls``."""

    type: Literal["function"] = "function"
    id: str | None = Field(None, description="what the tool message's `tool_call_id` refers to")
    function: Call


class Message(Strict):
    """One turn of a conversation."""

    role: Literal["system", "user", "assistant", "tool"] = Field(description="who speaks")
    content: str | None = Field(None, description="the text; may be left out only by an assistant message "
                                                  "that makes tool calls")
    reasoning_content: str | None = Field(None, description="assistant only: the reasoning before the answer")
    tool_calls: list[ToolCall] | None = Field(None, min_length=1, description="assistant only: calls it makes")
    tool_call_id: str | None = Field(None, description="tool only: the call this message answers")
    name: str | None = Field(None, description="tool only: the function that produced this result")

    @model_validator(mode="after")
    def _fields_fit_the_role(self) -> Message:
        if self.content is None and not self.tool_calls:
            raise FieldError(("content",), "required (a string)")
        for key, role in (("reasoning_content", "assistant"), ("tool_calls", "assistant"),
                          ("tool_call_id", "tool"), ("name", "tool")):
            if getattr(self, key) is not None and self.role != role:
                raise FieldError((key,), f"only a {role} message has {key}")
        return self


Messages = Annotated[list[Message], Field(min_length=1)]


class Regression(Strict):
    """The upstream report this case comes from."""

    repo: str | None = Field(None, description="`owner/name` on GitHub, e.g. `huggingface/trl`")
    issue: int | None = Field(None, description="issue number in `repo`")
    pr: int | None = Field(None, description="pull request number in `repo`")
    url: str | None = Field(None, description="link, when it is not a GitHub issue or PR")
    note: str | None = Field(None, description="what the report says")


def _rule_id(value: str) -> str:
    family, _, number = value.partition("-")
    if not (family.isalpha() and family.isupper() and len(number) == 3 and number.isdigit()):
        raise ValueError(f"expected a rule id such as 'EOS-001', got {value!r}")
    return value


RuleId = Annotated[str, AfterValidator(_rule_id)]


class Expect(Strict):
    """What the case is written to produce instead of every rule passing: a verdict the harness gives by design
    (a known upstream bug is not one: it goes in `conformance/expectations/trl.yaml`). It holds where at least
    one of `tokenizers` on one of `paths` gives the `outcome` for the `rules`."""

    outcome: Literal["refused", "undecidable", "not_applicable"] = Field(
        description="`refused`: TRL raises an explicit error for this input (the DROP rules accept that, the "
                    "others have no tensors to judge); `undecidable`: the oracle cannot tell (a BPE merge across "
                    "the prompt/completion join), UNDECIDABLE; `not_applicable`: nothing to judge, NOT_APPLICABLE")
    rules: list[RuleId] | None = Field(
        None, min_length=1, description="the rules that give it (default: the case's `targets`, else any rule)")
    tokenizers: list[str] | None = Field(
        None, min_length=1, description="tokenizer ids or globs where it is expected (default: any)")
    paths: list[Annotated[str, AfterValidator(_path_glob)]] | None = Field(
        None, min_length=1, description="path ids or globs where it is expected (default: the case's paths)")
    reason: str = Field(min_length=1, description="why this outcome is the right one")


class Case(Strict):
    """One golden example. Give either `messages`, or `prompt` + `completion`."""

    id: Annotated[str, AfterValidator(_identifier)] = Field(
        description="unique; its prefix says its shape: `chat_`, `conv_pc_` (conversational prompt/completion), `pc_`")
    description: Annotated[str, AfterValidator(_sentence)] = Field(description="what the case exercises")
    tags: list[str] = Field(default_factory=list, description="e.g. `single-turn`, `unicode`, `truncation`")
    messages: Messages | None = Field(None, description="a conversation")
    prompt: str_or(Messages, list, "a list of messages") | None = Field(
        None, description="prompt text, or the prompt messages (conversational prompt/completion)")
    completion: str_or(Messages, list, "a list of messages") | None = Field(
        None, description="completion text, or exactly one assistant message")
    paths: list[Annotated[str, AfterValidator(_path_glob)]] | None = Field(
        None, description="the SFT data path ids (or globs) it runs on; default all that can carry its shape")
    max_length: int | None = Field(None, ge=4, description="SFTConfig.max_length for this case (truncation cases)")
    response_template: str | None = Field(
        None, min_length=1, description="the completion-only collator's response template; must occur in the prompt")
    regression: Regression = Field(default_factory=Regression, description="the upstream report it comes from")
    tools: list[Tool] | None = Field(None, description="functions the chat template is given (`tools=`)")
    chat_template_kwargs: dict[str, Any] | None = Field(
        None, description="extra keyword arguments for `apply_chat_template` (`enable_thinking: false`)")
    targets: list[RuleId] | None = Field(
        None, min_length=1, description="the rules the case is written to exercise (`EOS-001`, ...); `lint` checks "
                                        "they exist, and a test that each gives a verdict on the case")
    expect: Expect | None = Field(
        None, description="an outcome other than every rule passing that the case is written to produce")

    @model_validator(mode="after")
    def _one_shape(self) -> Case:
        has_pc = self.prompt is not None or self.completion is not None
        if (self.messages is not None) == has_pc:
            raise ValueError("give either 'messages' or 'prompt' + 'completion', not both and not neither")
        for key in ("prompt", "completion"):
            if has_pc and getattr(self, key) is None:
                raise FieldError((key,), "required when the other of prompt/completion is given")
        if has_pc and isinstance(self.prompt, str) != isinstance(self.completion, str):
            raise FieldError(("completion",), "prompt and completion must both be strings or both message lists")
        if isinstance(self.completion, list) and [m.role for m in self.completion] != ["assistant"]:
            raise FieldError(("completion",), "expected exactly one assistant message")
        if self.response_template and isinstance(self.prompt, str) and self.response_template not in self.prompt:
            raise FieldError(("response_template",), f"{self.response_template!r} does not occur in the prompt")
        for key in ("tools", "chat_template_kwargs"):
            if getattr(self, key) is not None and isinstance(self.prompt, str):
                raise FieldError((key,), "only a conversation is rendered with a chat template")
        return self

    @model_validator(mode="after")
    def _calls_match_tools(self) -> Case:
        """Every tool call names a function of ``tools`` with arguments its JSON Schema accepts, and every tool
        result answers an earlier call: a case the template would render as nonsense is rejected when it loads."""
        parts = ([("messages", self.messages)] if self.messages is not None else
                 [(key, getattr(self, key)) for key in ("prompt", "completion")
                  if isinstance(getattr(self, key), list)])
        functions = {t.function.name: t.function for t in self.tools or []}
        call_ids: set[str] = set()
        for key, messages in parts:
            for i, message in enumerate(messages):
                for j, call in enumerate(message.tool_calls or []):
                    loc = (key, i, "tool_calls", j)
                    if self.tools is None:
                        raise FieldError(loc, "a tool call needs the case's `tools`")
                    if call.function.name not in functions:
                        raise FieldError((*loc, "function", "name"), f"{call.function.name!r} is not one of "
                                         f"the case's tools ({', '.join(functions)})")
                    problem = _arguments_problem(call.function.arguments, functions[call.function.name].parameters)
                    if problem:
                        raise FieldError((*loc, "function", "arguments"), problem)
                    if call.id:
                        call_ids.add(call.id)
                if message.tool_call_id is not None and message.tool_call_id not in call_ids:
                    raise FieldError((key, i, "tool_call_id"),
                                     f"{message.tool_call_id!r} answers no earlier tool call")
        return self


class CaseFile(Strict):
    """A case file: a top-level `cases:` list. Case ids are unique across all files of the folder
    (`cases/`, or the one `sft-conformance run --cases DIR` is given)."""

    cases: list[Case] = Field(description="the cases of this file")

    @model_validator(mode="after")
    def _unique(self) -> CaseFile:
        first: dict[str, int] = {}
        for i, case in enumerate(self.cases):
            if case.id in first:
                raise FieldError(("cases", i, "id"), f"{case.id!r} already defined at cases[{first[case.id]}]")
            first.setdefault(case.id, i)
        return self
