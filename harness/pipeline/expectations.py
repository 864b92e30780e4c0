"""Known upstream failures (``conformance/expectations/trl.yaml``), WPT/test262 style.

Each entry names a rule (or glob), conditions on tokenizer / path / case globs and on trl /
transformers version specifiers, and must carry an upstream reference (``issue``/``pr``/``url``)
or, when none exists, a written ``reason``. The pytest suite applies a match strictly: a covered
FAIL is known upstream, a covered PASS an XPASS, so a fixed bug makes the run fail until the entry is removed.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "conformance" / "expectations" / "trl.yaml"
ENV_FILE = "SFT_CONFORMANCE_EXPECTATIONS"  # another file in its place (the suite's own tests of stale entries)


@dataclass(frozen=True)
class Facts:
    """What one record says for itself beyond its ids: the signatures the harness computed for its row
    (``harness/schemas/expectations.py`` ``SIGNATURES``) and the warnings TRL logged while preparing its dataset."""

    signs: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @classmethod
    def of(cls, record) -> Facts:
        """The facts of a report record (a dict) or an ``Encoding`` (none for anything else)."""
        get = record.get if isinstance(record, dict) else lambda k: getattr(record, k, None)
        return cls(tuple(get("signs") or ()), tuple(get("warnings") or ()))


NO_FACTS = Facts()


class ExpectationError(ValueError):
    """A malformed expectations file; the message names the file and the field."""


@dataclass(frozen=True)
class Expectation:
    """Globs are a string or a tuple of strings (any may match)."""

    rule: str | tuple[str, ...]
    tokenizer: str | tuple[str, ...] = "*"
    path: str | tuple[str, ...] = "*"
    case: str | tuple[str, ...] = "*"
    trl: str = ""
    transformers: str = ""
    reference: str = ""
    modifier: str | tuple[str, ...] = ""  # "": plain batches only; a glob: batches laid out by that modifier
    except_tokenizer: tuple[str, ...] = ()  # tokenizers the ``tokenizer`` globs match but the entry leaves out
    except_case: tuple[str, ...] = ()  # cases the ``case`` globs match but the entry leaves out
    signature: str = ""  # a sign the record's own row must carry (``Facts.signs``)
    when_warned: str = ""  # a regex one of the record's TRL warnings must match (only with a signature)
    strict: bool = True  # a PASS it covers is an XPASS; False: a plain PASS (``find`` with ``status="pass"``)
    outside_catalog: bool = False  # covers only tokenizers that are no catalog or synthetic id

    def matches(self, rule: str, tokenizer: str, path: str, case: str, versions: dict, modifier: str = "",
                facts: Facts = NO_FACTS) -> bool:
        return (self.applies(rule, versions, modifier)
                and self.covers(tokenizer, path, case, modifier, facts))

    def applies(self, rule: str, versions: dict, modifier: str = "") -> bool:
        """The rule, the library versions and whether the batch was laid out by a modifier."""
        if bool(modifier) != bool(self.modifier) or not _glob_ok(rule, self.rule):
            return False
        return self.in_range(versions)

    def in_range(self, versions: dict) -> bool:
        """The library versions (``{"trl": ..., "transformers": ...}``) are inside the entry's specifiers."""
        return all(_version_ok(versions.get(lib), spec)
                   for lib, spec in (("trl", self.trl), ("transformers", self.transformers)) if spec)

    def range(self) -> str:
        """The version condition as written (``trl >=0.19,<0.23.1``), or ``every release``."""
        return ", ".join(f"{lib} {spec}" for lib, spec in (("trl", self.trl), ("transformers", self.transformers))
                         if spec) or "every release"

    def covers(self, tokenizer: str, path: str, case: str, modifier: str = "", facts: Facts = NO_FACTS) -> bool:
        """The tokenizer, path, case and modifier globs, and the signature the record must carry."""
        return self.covers_pair(tokenizer, path) and self.covers_case(case, modifier, facts)

    def covers_pair(self, tokenizer: str, path: str) -> bool:
        """The part of ``covers`` that reads only the tokenizer and the path."""
        if self.outside_catalog and tokenizer in _catalog_ids():
            return False
        if self.except_tokenizer and _glob_ok(tokenizer, self.except_tokenizer):
            return False
        return _glob_ok(tokenizer, self.tokenizer) and _glob_ok(path, self.path)

    def covers_case(self, case: str, modifier: str = "", facts: Facts = NO_FACTS) -> bool:
        """The rest of ``covers``: the case and modifier globs and the signature the record must carry."""
        if modifier and not _glob_ok(modifier, self.modifier):
            return False
        if not self.signed(facts):
            return False
        if self.except_case and _glob_ok(case, self.except_case):
            return False
        return _glob_ok(case, self.case)

    def signed(self, facts: Facts) -> bool:
        """The record carries the entry's signature and, with ``when_warned``, a warning that matches it
        (always true for an entry without a signature)."""
        if self.signature and self.signature not in facts.signs:
            return False
        return not self.when_warned or any(re.search(self.when_warned, w) for w in facts.warnings)


class Expectations(list):
    """The loaded entries, in file order, with the entries that apply to one (rule, versions, modifier
    or not) remembered: a run asks for every (tokenizer, path, case, rule) and a linear scan of
    every entry's globs and version specifiers per verdict was a fifth of ``run``'s time."""

    def __init__(self, entries=()):
        super().__init__(entries)
        self._applying: dict[tuple, list[Expectation]] = {}

    @classmethod
    def of(cls, entries) -> Expectations:
        """``entries`` as an ``Expectations`` (itself when it already is one, keeping its memory)."""
        return entries if isinstance(entries, cls) else cls(entries)

    def applying(self, rule: str, versions: dict, modifier: str = "") -> list[Expectation]:
        key = (rule, versions.get("trl"), versions.get("transformers"), bool(modifier), len(self))
        if key not in self._applying:
            self._applying[key] = [e for e in self if e.applies(rule, versions, modifier)]
        return self._applying[key]

    def applying_to(self, rule: str, versions: dict, modifier: str, tokenizer: str, path: str) -> list[Expectation]:
        """``applying`` narrowed to the entries whose tokenizer and path globs cover this pair (remembered too:
        a tokenizer's run asks each (rule, path) once per case, and most entries name other tokenizers)."""
        key = (rule, versions.get("trl"), versions.get("transformers"), bool(modifier), len(self), tokenizer, path)
        if key not in self._applying:
            self._applying[key] = [e for e in self.applying(rule, versions, modifier) if e.covers_pair(tokenizer, path)]
        return self._applying[key]


@functools.cache
def _catalog_ids() -> frozenset[str]:
    from harness.tokenizers.registry import known_ids

    return frozenset(known_ids())


@functools.lru_cache(maxsize=1 << 16)
def _glob_ok(value: str, pattern: str | tuple[str, ...]) -> bool:
    """``value`` matches the glob or one of the globs (remembered: a run asks the same few tokenizer, path
    and case ids against the same entries for each of its verdicts)."""
    patterns = (pattern,) if isinstance(pattern, str) else pattern
    return any(fnmatch.fnmatchcase(value, p) for p in patterns)


def _version_ok(installed: str | None, spec: str) -> bool:
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    return installed is not None and Version(installed) in SpecifierSet(spec)


def reference_of(entry: dict) -> str:
    for key in ("issue", "pr"):
        if entry.get(key):
            return f"{key} {entry[key]}" + (f" ({entry['url']})" if entry.get("url") else "")
    if entry.get("url"):
        return str(entry["url"])
    return f"reason: {entry['reason']}" if entry.get("reason") else ""


def load(path: Path | None = None) -> Expectations:
    """The entries of ``path`` (default: the file ``$SFT_CONFORMANCE_EXPECTATIONS`` names, else the
    repository's; none when it does not exist), validated by ``harness/schemas/expectations.py``; the
    first problem is raised naming the file and the field."""
    from harness.schemas.base import read_yaml, validate
    from harness.schemas.expectations import ExpectationsFile

    path = Path(path or os.environ.get(ENV_FILE) or DEFAULT_FILE)
    if not path.exists():
        return Expectations()
    raw, problems = read_yaml(path)
    doc, problems = (None, problems) if problems else validate(ExpectationsFile, raw or {}, str(path))
    if problems:
        raise ExpectationError(str(problems[0]))
    return Expectations(
        Expectation(as_globs(e.rule), as_globs(e.tokenizer), as_globs(e.path), as_globs(e.case), e.trl or "",
                    e.transformers or "", reference_of(e.model_dump()), "" if e.modifier is None else as_globs(e.modifier),
                    exclusions(e.except_tokenizer), exclusions(e.except_case), e.signature or "",
                    e.when_warned or "", e.strict, e.outside_catalog)
        for e in doc.expectations)


def as_globs(value: str | list[str]) -> str | tuple[str, ...]:
    """A glob field of the file as ``Expectation`` holds it (a list becomes a tuple)."""
    return value if isinstance(value, str) else tuple(value)


def exclusions(value: str | list[str] | None) -> tuple[str, ...]:
    """An ``except_tokenizer`` / ``except_case`` field as ``Expectation`` holds it (a tuple, empty when absent)."""
    return (value,) if isinstance(value, str) else tuple(value or ())


def find(expectations: list[Expectation], rule: str, tokenizer: str, path: str, case: str,
         versions: dict, modifier: str = "", facts: Facts = NO_FACTS, status: str = "") -> Expectation | None:
    """The first entry (file order) that covers this verdict, or None; ``facts``: the record's own
    (without them, an entry with a ``signature`` covers nothing); ``status``: the verdict's, where a
    ``"pass"`` is not covered by an entry with ``strict: false`` (it stays a PASS, not an XPASS)."""
    if isinstance(expectations, Expectations):
        candidates = expectations.applying_to(rule, versions, modifier, tokenizer, path)
    else:
        candidates = [e for e in expectations if e.applies(rule, versions, modifier) and e.covers_pair(tokenizer, path)]
    return next((e for e in candidates if (e.strict or status != "pass") and e.covers_case(case, modifier, facts)),
                None)
