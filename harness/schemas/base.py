"""What every schema shares: a strict base model, field-level errors from validators, and turning a
pydantic ``ValidationError`` into one ``FILE: field.path: message`` line per problem."""

from __future__ import annotations

import copy
import functools
import types
import typing
from pathlib import Path
from typing import Annotated, Any, NamedTuple, Union

import yaml
from pydantic import BaseModel, ConfigDict, Discriminator, Tag, ValidationError


class Strict(BaseModel):
    """No unknown fields, no type coercion (``"4"`` is not an integer): a typo is an error, not ignored."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class FieldError(ValueError):
    """Raised by a validator to blame a field below the model it validates (``("completion",)``)."""

    def __init__(self, loc: tuple[str | int, ...], message: str):
        super().__init__(message)
        self.loc = loc


def str_or(other: Any, python_type: type, description: str) -> Any:
    """A string or ``other`` (read from a ``python_type``), told apart by the input's type, so that an error
    names one alternative only; anything else is "expected a string or {description}"."""
    def which(value: Any) -> str | None:
        return "string" if isinstance(value, str) else "other" if isinstance(value, python_type) else None

    return Annotated[Annotated[str, Tag("string")] | Annotated[other, Tag("other")],
                     Discriminator(which, custom_error_type="str_or",
                                   custom_error_message=f"expected a string or {description}")]


class Problem(NamedTuple):
    file: str
    field: str  # dotted path into the file ("cases[3] (id x).messages[1].role"); "" for the whole file
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}" if self.field else f"{self.file}: {self.message}"


# libyaml's safe loader where PyYAML was built with it (the expectations file: 1.0 s in Python, 0.1 s in C)
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> tuple[Any, list[Problem]]:
    try:
        return copy.deepcopy(_parsed(Path(path).read_bytes())), []
    except OSError as exc:
        return None, [Problem(str(path), "", f"cannot read: {exc.strerror or exc}")]
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        return None, [Problem(str(path), "", f"not valid YAML: {' '.join(str(exc).split())}")]


@functools.lru_cache(maxsize=32)
def _parsed(content: bytes) -> Any:
    """A file's YAML, parsed once per process per content (the file is read every time, so an edit is seen): the
    expectations file (390 kB) takes 75 ms to parse and 6 ms to copy, and a test run read it about 200 times.
    Callers get a deep copy, so nothing they change reaches the next one."""
    return yaml.load(content.decode("utf-8"), Loader=_SAFE_LOADER)


def validate(model: type[BaseModel], raw: Any, file: str) -> tuple[Any, list[Problem]]:
    """``(instance, [])`` or ``(None, problems)``, one problem per pydantic error."""
    try:
        return model.model_validate(raw), []
    except ValidationError as exc:
        return None, [_problem(model, raw, file, err) for err in exc.errors(include_url=False)]


def _problem(model: type[BaseModel], raw: Any, file: str, err: dict) -> Problem:
    loc, message = tuple(err["loc"]), err["msg"]
    error = (err.get("ctx") or {}).get("error")
    if isinstance(error, FieldError):
        loc += error.loc
    if err["type"] == "value_error":
        message = str(error)
    elif err["type"] == "union_tag_invalid":  # a `kind` no member has
        loc += (err["ctx"]["discriminator"].strip("'"),)
        message = f"expected one of {err['ctx']['expected_tags']}, got {err['ctx']['tag']!r}"
    elif err["type"] == "union_tag_not_found":
        loc, message = loc + (err["ctx"]["discriminator"].strip("'"),), "required"
    elif err["type"] == "missing":
        message = "required"
    elif err["type"] == "too_short":
        message = f"expected at least {err['ctx']['min_length']} item(s), got {_short(err['input'])}"
    elif err["type"] in ("model_type", "dict_type"):
        message = f"expected a mapping, got {_short(err['input'])}"
    elif err["type"] != "str_or":  # pydantic's own wording, with the value it got
        message = f"{message[0].lower()}{message[1:]}, got {_short(err['input'])}"
    field, allowed = _field_path(model, raw, loc)
    if err["type"] == "extra_forbidden":
        message = f"unknown field (allowed: {', '.join(allowed)})"
    return Problem(file, field, message)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _field_path(model: Any, raw: Any, loc: tuple) -> tuple[str, list[str]]:
    """``loc`` as ``a[0] (id x).b``, skipping union tags; and the fields allowed where it ends (for extras).

    Walks the annotation and the raw data together: a list item that is a mapping with an ``id`` says so.
    """
    out, t, allowed = "", model, _fields(model)
    for part in loc:
        t = _plain(t)
        if _is_union(t) and isinstance(part, str) and _member(t, part) is not None:
            t = _member(t, part)
            continue
        fields = _fields(t)
        if isinstance(part, int):
            out += f"[{part}]"
            raw = raw[part] if isinstance(raw, list) and part < len(raw) else None
            if isinstance(raw, dict) and isinstance(raw.get("id"), str):
                out += f" (id {raw['id']})"
            t = typing.get_args(t)[0] if typing.get_origin(t) in (list, tuple) and typing.get_args(t) else None
            continue
        out += f".{part}" if out else str(part)
        raw = raw.get(part) if isinstance(raw, dict) else None
        allowed = fields
        if fields is not None:
            t = fields[part].annotation if part in fields else None
        else:
            t = typing.get_args(t)[1] if typing.get_origin(t) is dict else None
    return out, sorted(allowed or ())


def _plain(t: Any) -> Any:
    """``t`` without ``Annotated`` metadata and without ``| None``."""
    while True:
        if typing.get_origin(t) is Annotated:
            t = typing.get_args(t)[0]
        elif _is_union(t) and type(None) in typing.get_args(t):
            rest = [a for a in typing.get_args(t) if a is not type(None)]
            t = rest[0] if len(rest) == 1 else Union[tuple(rest)]  # noqa: UP007 (a computed union)
        else:
            return t


def _is_union(t: Any) -> bool:
    return typing.get_origin(t) in (Union, types.UnionType)


def _member(union: Any, tag: str) -> Any:
    """The member of a tagged union that ``tag`` selects (a ``Tag`` or a ``kind`` literal)."""
    for member in typing.get_args(union):
        tags = [m.tag for m in getattr(member, "__metadata__", ()) if isinstance(m, Tag)]
        kind = _fields(_plain(member)) or {}
        if tag in tags or ("kind" in kind and tag in typing.get_args(kind["kind"].annotation)):
            return member
    return None


def _fields(t: Any) -> dict | None:
    """A model's fields by the name the file uses (its alias), or None for anything else."""
    if isinstance(t, type) and issubclass(t, BaseModel):
        return {f.alias or name: f for name, f in t.model_fields.items()}
    return None
