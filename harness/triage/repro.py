"""``sft-conformance repro``: one finding as a standalone script to paste into an upstream issue.

A finding is ``RULE:TOKENIZER:PATH:CASE`` (as a JSON report lists it). The script holds the
example rows, the reference token table the oracle computed without TRL, the path's TRL
driver (``harness/adapters/repro_snippets.py``) and the suite's own rules engine: the modules
of ``conformance/rules`` embedded verbatim (standard library only), so the script's verdict
and message are the suite's. It imports only trl, transformers, datasets, torch and the
tokenizer folder written beside it, so it runs in any environment with a TRL installed:
exit 1 (AssertionError) where the property is violated, 0 where it holds, 2 where the TRL
has no such path or the rule does not apply, 3 where TRL raised an error for the input.
"""

from __future__ import annotations

import importlib
import inspect
import pprint
import re
from dataclasses import dataclass
from pathlib import Path

from conformance.rules.drop import trainable_within
from harness import adapters
from harness.adapters import repro_snippets
from harness.pipeline.cases import Case, for_tokenizer, load_cases
from harness.pipeline.oracle import OracleError, oracle_for, reference_case


class FindingError(ValueError):
    """A finding string that does not name a known rule, path or case."""


@dataclass(frozen=True)
class Finding:
    rule: str
    tokenizer: str
    path: str
    case: str

    @classmethod
    def parse(cls, text: str) -> Finding:
        parts = text.split(":")
        if len(parts) != 4 or not all(parts):
            raise FindingError(f"finding {text!r}: expected RULE:TOKENIZER:PATH:CASE, e.g. "
                               "EOS-001:synthetic-chatml:text:pc_plain")
        return cls(*parts)

    def __str__(self) -> str:
        return f"{self.rule}:{self.tokenizer}:{self.path}:{self.case}"

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"repro_{self.rule}_{self.tokenizer}_{self.path}_{self.case}")


def findings_in(report: dict) -> list[str]:
    """Every unexpected or known failure of a report, as finding strings."""
    return sorted({f"{r['rule']}:{r['tokenizer']}:{r['path']}:{r['case']}" for r in report["records"]
                   if r["status"] == "fail"})


def _case(finding: Finding, cases_dir: Path | None) -> Case:
    case = next((c for c in load_cases(cases_dir) if c.id == finding.case), None)
    if case is None:
        raise FindingError(f"finding {finding}: unknown case {finding.case!r}")
    return case


def resolve(finding: Finding, cases_dir: Path | None = None):
    """(rule, path adapter, loaded tokenizer, case) of a finding; FindingError names what is unknown or refused."""
    from conformance.rules import RULES
    from harness.tokenizers import registry as tokenizer_registry

    if finding.rule not in RULES:
        raise FindingError(f"finding {finding}: unknown rule {finding.rule!r}; known: {', '.join(RULES)}")
    try:
        adapter = adapters.get(finding.path)
    except KeyError as exc:
        raise FindingError(f"finding {finding}: {exc.args[0]}") from None
    lt = tokenizer_registry.load(finding.tokenizer)
    case = for_tokenizer(_case(finding, cases_dir), lt)
    if isinstance(case, str):
        raise FindingError(f"finding {finding}: {case}")
    reason = adapter.accepts(case, lt)
    if reason:
        raise FindingError(f"finding {finding}: {reason.reason}")
    return RULES[finding.rule], adapter, lt, case


def oracle_reference(adapter, case: Case, lt):
    """The oracle's Reference (token table and facts, computed without TRL) for the view this TRL's path renders."""
    view = adapter.reference_view(lt, case) if adapter.available() is None else "native"
    try:
        orc = oracle_for(reference_case(case, view), lt)
    except OracleError as exc:
        raise FindingError(f"no reference for {case.id} with {lt.id}: {exc}") from None
    return orc.reference(case.max_length)


def engine_sources() -> dict[str, str]:
    """Module name -> source of every module a script embeds, in import order, exactly as on disk:
    the TRL driver the adapters use and the rules engine the suite judges with."""
    import conformance.rules as package

    names = ["harness.adapters.trl_driver", *(f"conformance.rules.{name}" for name in package.ENGINE_MODULES)]
    return {name: inspect.getsource(importlib.import_module(name)) for name in names}


ENGINE_LOADER = '''

def install_embedded_modules():
    """Load the embedded modules under their own names, as if sft-conformance were installed."""
    import sys
    import types

    for name, source in EMBEDDED_MODULES.items():
        parts = name.split(".")
        for k in range(1, len(parts)):
            package = ".".join(parts[:k])
            if package not in sys.modules:
                sys.modules[package] = types.ModuleType(package)
                sys.modules[package].__path__ = []
        module = types.ModuleType(name)
        sys.modules[name] = module
        exec(compile(source, f"<embedded {name}>", "exec"), module.__dict__)
        setattr(sys.modules[".".join(parts[:-1])], parts[-1], module)


install_embedded_modules()
import harness.adapters.trl_driver as trl_driver  # noqa: E402  (embedded above)
'''


def _engine_literal() -> str:
    """``EMBEDDED_MODULES = {name: r'''source'''}``: readable, byte-identical sources."""
    parts = ["EMBEDDED_MODULES = {\n"]
    for name, source in engine_sources().items():
        if "'''" in source or source.endswith("\\"):
            raise ValueError(f"{name} cannot be embedded as a raw string literal")
        parts.append(f"    {name!r}: r'''{source}''',\n")
    parts.append("}\n")
    return "".join(parts)


def rows_for(adapter, case: Case, lt) -> list[dict]:
    """[case row, neighbour row] exactly as the adapter gives them to TRL."""
    from harness.adapters.collators import ChatMLCollatorPath, CompletionOnlyCollatorPath
    from harness.adapters.neighbours import neighbour_case

    if isinstance(adapter, ChatMLCollatorPath):
        return [{"messages": list(case.conversation)}, neighbour_case(case)]
    if isinstance(adapter, CompletionOnlyCollatorPath):
        text, template = adapter.texts_and_template(case, lt)
        n_text = adapter.neighbour_text(lt.tokenizer, case, neighbour_case(case))
        return [{"text": text, "response_template": template}, {"text": n_text, "response_template": template}]
    extra = adapter.columns(case) if hasattr(adapter, "columns") else {}
    return [{**adapter.row(case, lt), **extra}, {**adapter.neighbour_row(case, lt), **extra}]


def _plain(obj):
    """Tuples to lists, so the embedded literals read as JSON-like data."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def literal(name: str, value) -> str:
    return f"{name} = {pprint.pformat(_plain(value), width=110, sort_dicts=False)}\n"


FROZEN_CLOCK = '''
def frozen_template_clock():
    """Templates that print today's date render the date the reference was computed with."""
    import datetime
    import importlib

    class Frozen(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.datetime(2025, 6, 28, 12, 0, 0, tzinfo=tz)

    for name in ("transformers.utils.chat_template_utils", "transformers.tokenization_utils_base"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if getattr(module, "datetime", None) is datetime.datetime:
            module.datetime = Frozen
'''

MAIN = '''

def load_tokenizer(where):
    import os

    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(where)
    template = os.path.join(where, "chat_template.jinja")
    if not tok.chat_template and os.path.isfile(template):  # transformers < 4.47 reads only tokenizer_config.json
        with open(template, encoding="utf-8") as fh:
            tok.chat_template = fh.read()
    return tok


def main():
    import importlib.metadata as md
    import logging
    import os
    import warnings

    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    tok = load_tokenizer(TOKENIZER)
    frozen_template_clock()
    seen = []

    class Collect(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    for name in ("trl", "transformers"):
        logging.getLogger(name).addHandler(Collect(logging.WARNING))
    versions = {n: md.version(n) for n in ("trl", "transformers", "datasets", "tokenizers")}
    print(f"{RULE} on {PATH} / {CASE_ID} with", ", ".join(f"{k} {v}" for k, v in versions.items()))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ids, labels, attention, scope, dropped, neighbour_dropped = build(tok)
    except NotApplicable as exc:
        print(f"NOT APPLICABLE: {exc}")
        raise SystemExit(2) from None
    except Exception as exc:  # TRL refused the input: an explicit error is not the silent bug asserted here
        print(f"TRL REFUSED: {type(exc).__name__}: {str(exc).strip()[:300]}")
        raise SystemExit(3) from None
    seen += [str(w.message) for w in caught if not issubclass(w.category, (DeprecationWarning, FutureWarning))]
    print(f"{'pos':>4} {'id':>7} {'label':>7}  token      (label -100: not trained)")
    for p, (i, lab, a) in enumerate(zip(ids, labels, attention)):
        if a:
            print(f"{p:4d} {i:7d} {lab:7d}  {tok.decode([i])!r}")
    pads = [p for p, a in enumerate(attention) if not a]
    if pads:
        trained = [p for p in pads if labels[p] != -100]
        print(f"     {len(pads)} padding position(s) {pads[0]}..{pads[-1]} (pad id {tok.pad_token_id}), "
              f"{len(trained)} of them trained")
    import conformance.rules.base as base
    from conformance.rules.data import PASS, Reference, Row

    row = Row(ids, labels, attention, scope, PATH, seen, tok.pad_token_id, tok.eos_token_id, dropped=dropped,
              neighbour_dropped=neighbour_dropped,
              neighbour_trainable=NEIGHBOUR_TRAINABLE.get(scope) if neighbour_dropped else None)
    context = base.Context(row, Reference.from_plain(REFERENCE), decode=tok.decode)
    verdict = base.RULES[RULE](context)
    print(f"{RULE}: {verdict.status.upper()} - {verdict.message}")
    if verdict.status not in (PASS, "fail"):  # not applicable, undecidable: nothing asserted either way
        raise SystemExit(2)
    assert verdict.status == PASS, f"{RULE} ({RULE_TITLE}) violated: {verdict.message}"


if __name__ == "__main__":
    main()
'''


def generate(finding: Finding, out_dir: Path, cases_dir: Path | None = None, reference: str = "") -> Path:
    """Write ``<out_dir>/<slug>.py`` and the tokenizer folder it loads; return the script path."""
    from harness.adapters.versions import library_versions

    rule, adapter, lt, case = resolve(finding, cases_dir)
    rows = rows_for(adapter, case, lt)
    reference_table = oracle_reference(adapter, case, lt).to_plain()
    neighbour_ref = adapter.neighbour_reference(lt, case) if hasattr(adapter, "neighbour_reference") else None
    neighbour_trainable = ({scope: len(trainable_within(neighbour_ref, scope))
                            for scope in ("full", "completion", "assistant", "last_assistant")}
                           if neighbour_ref is not None else {})
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    folder = write_tokenizer(lt, tokenizer_folder(lt, out_dir))
    versions = library_versions()
    doc = (f'"""Reproduce {finding.rule} ({rule.title}).\n\n'
           f"Finding {finding}: tokenizer {lt.id} (content hash {lt.content_hash}), path {finding.path}, "
           f"case {case.id}.\nWritten by sft-conformance with trl {versions['trl']} / transformers "
           f"{versions['transformers']}.{' Upstream: ' + reference if reference else ''}\n\n"
           "Runs TRL's own code for this path on the example (collated beside one longer neighbour row, as in a\n"
           "training batch), prints every token with its label, and asserts the property against the reference\n"
           "rendering (the chat template / tokenizer, computed without TRL, embedded below).\n"
           "Needs only trl, transformers, datasets, torch and the tokenizer folder beside this file.\n"
           "Exit 0: the property holds. Exit 1 (AssertionError): violated. Exit 2: not applicable to this TRL\n"
           "(no such path or scope). Exit 3: TRL raised an error for this input.\n"
           f'Usage: python {finding.slug}.py [TOKENIZER_FOLDER_OR_HUB_ID]\n"""\n')
    parts = [
        "#!/usr/bin/env python3\n", doc, "import os\nimport sys\n\n",
        (f"TOKENIZER = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "
         f"{folder.name!r})\n"),
        literal("RULE", finding.rule), literal("RULE_TITLE", rule.title), literal("PATH", finding.path), literal("CASE_ID", case.id), literal("SCOPE", repro_snippets.SCOPES[finding.path]),
        literal("OPTIONS", dict(getattr(adapter, "config", {}))),
        literal("REQUIRED_FIELDS", list(getattr(adapter, "required_fields", ()))),
        literal("MAX_LENGTH", case.max_length),
        literal("ADD_SPECIAL_TOKENS", case.shape != "conversation"),
        "# the example, then a longer neighbour row so the example is padded\n", literal("ROWS", rows),
        "# the reference rendering, computed without TRL; tokens are [id, role, message index, speaker, spanned parts]\n",
        literal("REFERENCE", reference_table),
        "# per loss scope: tokens the neighbour row trains within MAX_LENGTH (judged when TRL removes it)\n",
        literal("NEIGHBOUR_TRAINABLE", neighbour_trainable),
        ("\n# --- the suite's TRL driver (harness/adapters/trl_driver.py) and rules engine (conformance/rules), "
         "verbatim ---\n"), _engine_literal(), ENGINE_LOADER,
        "\n# --- this path's use of TRL ---\n", repro_snippets.snippet(finding.path), FROZEN_CLOCK, MAIN,
    ]
    script = out_dir / f"{finding.slug}.py"
    script.write_text("".join(parts), encoding="utf-8")
    return script


def tokenizer_folder(lt, out_dir: Path) -> Path:
    """Where a script's tokenizer files go: ``<out_dir>/tokenizer-<id with unsafe characters replaced>``."""
    return Path(out_dir) / f"tokenizer-{re.sub(r'[^A-Za-z0-9_.-]+', '_', lt.id)}"


def write_tokenizer(lt, folder: Path) -> Path:
    """The tokenizer files beside the script, loadable by transformers 4.x and 5.x alike.

    Catalog and local tokenizers are copied as provisioned; others (synthetic, Hub) are saved,
    with transformers 5's ``TokenizersBackend`` class name replaced by the fast class that
    every release knows.
    """
    import json
    import shutil

    from harness.tokenizers import provision

    source = provision.tokenizer_dir(lt.id) if any(e.id == lt.id for e in provision.catalog()) else None
    if source is None and Path(lt.id).is_dir():
        source = Path(lt.id)
    if folder.exists():
        shutil.rmtree(folder)
    if source is not None:
        shutil.copytree(source, folder)
    else:
        lt.tokenizer.save_pretrained(str(folder))
        config_file = folder / "tokenizer_config.json"
        config = json.loads(config_file.read_text(encoding="utf-8"))
        if config.get("tokenizer_class") == "TokenizersBackend":
            config["tokenizer_class"] = "PreTrainedTokenizerFast"
            config_file.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if isinstance(lt.tokenizer.chat_template, str) and not (folder / "chat_template.jinja").exists():
        (folder / "chat_template.jinja").write_text(lt.tokenizer.chat_template, encoding="utf-8")
    return folder
