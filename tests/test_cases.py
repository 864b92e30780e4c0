"""Case files: the golden set loads, and a malformed file fails naming the file and the field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.pipeline.cases import CaseError, load_case_file, load_cases

REQUIRED_TAGS = {"single-turn", "system", "multi-turn", "empty", "whitespace", "unicode", "rtl", "truncation",
                 "boundary-merge", "injection", "tutorial", "reasoning", "tools", "template-kwargs", "placeholder"}


def test_golden_cases_load_and_cover_the_issue_list():
    cases = load_cases()
    assert len(cases) >= 25
    tags = {t for c in cases for t in c.tags}
    assert REQUIRED_TAGS <= tags, REQUIRED_TAGS - tags
    assert any(c.shape == "string_pc" for c in cases) and any(c.shape == "conversation" for c in cases)
    assert any(sum(m["role"] == "assistant" for m in (c.conversation or [])) == 3 for c in cases)


def _write(tmp_path: Path, body: str) -> Path:
    f = tmp_path / "bad.yaml"
    f.write_text(textwrap.dedent(body), encoding="utf-8")
    return f


@pytest.mark.parametrize("body,field", [
    ("""
     cases:
       - id: x
         description: d
         messages:
           - {role: asistant, content: hi}
     """, "cases[0] (id x).messages[0].role"),
    ("""
     cases:
       - id: x
         descripton: typo
         messages: [{role: user, content: hi}]
     """, "cases[0] (id x).descripton"),
    ("""
     cases:
       - id: x
         description: d
         prompt: "a"
     """, "cases[0] (id x).completion"),
    ("""
     cases:
       - id: x
         description: d
         prompt: "a"
         completion: [{role: assistant, content: b}]
     """, "cases[0] (id x).completion"),
    ("""
     cases:
       - id: x
         description: d
         max_length: two
         messages: [{role: user, content: hi}]
     """, "cases[0] (id x).max_length"),
    ("""
     cases:
       - id: x
         description: d
         response_template: "### Response:"
         prompt: "no template here"
         completion: "b"
     """, "cases[0] (id x).response_template"),
    ("""
     cases:
       - id: x
         description: d
         messages:
           - {role: user, content: hi}
           - {role: assistant, content: "", tool_calls: [{type: function, function: {arguments: {}}}]}
     """, "cases[0] (id x).messages[1].tool_calls[0]"),
    ("""
     cases:
       - id: x
         description: d
         messages:
           - {role: user, content: hi, tool_calls: []}
     """, "cases[0] (id x).messages[0].tool_calls"),
    ("""
     cases:
       - id: x
         description: d
         tools: [{type: function, function: {name: f}}]
         prompt: "a"
         completion: "b"
     """, "cases[0] (id x).tools"),
    ("""
     cases:
       - id: x
         description: d
         chat_template_kwargs: [enable_thinking]
         messages: [{role: user, content: hi}]
     """, "cases[0] (id x).chat_template_kwargs"),
    *[(f"""
     cases:
       - id: x
         description: d
         tools: [{{type: function, function: {{name: get_weather, parameters: {{type: object,
                  properties: {{city: {{type: string}}}}, required: [city], additionalProperties: false}}}}}}]
         messages:
           - {{role: user, content: hi}}
           - {{role: assistant, content: "", tool_calls: [{{id: c1, type: function, function: {call}}}]}}
           - {{role: tool, tool_call_id: {answers}, content: "18"}}
     """, field) for call, answers, field in [
        ("{name: get_wether, arguments: {city: Paris}}", "c1",
         "messages[1].tool_calls[0] (id c1).function.name: 'get_wether' is not one of the case's tools"),
        ("{name: get_weather, arguments: {}}", "c1",
         "messages[1].tool_calls[0] (id c1).function.arguments: missing required argument(s) city"),
        ("{name: get_weather, arguments: {city: 3}}", "c1",
         "messages[1].tool_calls[0] (id c1).function.arguments: argument 'city': expected string, got int"),
        ("{name: get_weather, arguments: {city: Paris, units: C}}", "c1",
         "messages[1].tool_calls[0] (id c1).function.arguments: unknown argument 'units'"),
        ("{name: get_weather, arguments: '{\"city\": '}", "c1",
         "messages[1].tool_calls[0] (id c1).function.arguments: not valid JSON"),
        ("{name: get_weather, arguments: {city: Paris}}", "c9", "messages[2].tool_call_id: 'c9' answers no earlier"),
    ]],
    ("""
     cases:
       - id: x
         description: d
         messages:
           - {role: user, content: hi}
           - {role: assistant, content: "", tool_calls: [{type: function, function: {name: f, arguments: {}}}]}
     """, "cases[0] (id x).messages[1].tool_calls[0]: a tool call needs the case's `tools`"),
    ("cases: {}\n", "cases: expected a top-level"),
    ("cases: [\n", "not valid YAML"),
])
def test_malformed_case_names_file_and_field(tmp_path, body, field):
    f = _write(tmp_path, body)
    with pytest.raises(CaseError) as err:
        load_case_file(f)
    msg = str(err.value)
    assert str(f) in msg and field in msg, msg


def test_duplicate_ids_across_files(tmp_path):
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text("cases:\n  - {id: same, description: d, messages: [{role: user, content: x}]}\n")
    with pytest.raises(CaseError, match="already defined"):
        load_cases(tmp_path)


def test_placeholders_become_each_tokenizers_own_special_strings(tmp_path):
    from harness.pipeline.cases import with_specials

    f = _write(tmp_path, """
        cases:
          - id: pc_user_typed_own_eos
            description: the user typed this tokenizer's EOS
            prompt: "Q: capital of France?"
            completion: " Paris.{eos}"
        """)
    case = load_case_file(f)[0]
    assert case.placeholders == ("eos",)
    assert with_specials(case, "<s>", "</s>", "</s>").completion == " Paris.</s>"
    assert with_specials(case, None, "<|im_end|>", "<|im_end|>").completion == " Paris.<|im_end|>"
    assert "has no eos token" in with_specials(case, "<s>", None, None)


# --------------------------------------------------------------------------- targets and expected outcomes

# Tokenizers a case's targets are tried on: two core BPE tokenizers (provisioned) and a synthetic ChatML one.
TARGET_TOKENIZERS = ("llama3", "qwen3", "synthetic-chatml")


def _reference_verdicts(case, rule_ids, paths=None):
    """{(tokenizer, path, rule): status} of ``rule_ids`` on the oracle's reference encoding of ``case`` (what a
    correct pipeline produces), for every path the case runs on (or ``paths``, globs) in the path's loss scope.
    No TRL run. An oracle that declines gives every rule UNDECIDABLE or NOT_APPLICABLE, as a run does."""
    import fnmatch

    from conformance.rules import BATCH_RULES, RULES, Context
    from harness import adapters
    from harness.adapters.repro_snippets import SCOPES
    from harness.pipeline import seeding
    from harness.pipeline.cases import for_tokenizer
    from harness.pipeline.clock import frozen_clock
    from harness.pipeline.oracle import OracleError, OracleUndecidable, oracle_for
    from harness.tokenizers import registry

    run_paths = [p for p in adapters.PATHS if adapters.fits(p, case)
                 and (paths is None or any(fnmatch.fnmatchcase(p, g) for g in paths))]
    out = {}
    for tid in TARGET_TOKENIZERS:
        try:
            lt = registry.load(tid)
        except registry.TokenizerUnavailable:
            continue
        resolved = for_tokenizer(case, lt)
        try:
            if isinstance(resolved, str):
                raise OracleError(resolved)
            with frozen_clock():
                orc = oracle_for(resolved, lt)
        except OracleError as exc:
            status = "undecidable" if isinstance(exc, OracleUndecidable) else "not_applicable"
            out.update({(tid, p, r): status for p in run_paths for r in rule_ids})
            continue
        tok = lt.tokenizer
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        for path in run_paths:
            scopes = ("completion", "full") if SCOPES[path] == "completion?" else (SCOPES[path],)
            for scope in scopes:
                if scope in ("completion", "last_assistant") and orc.final_message is None:
                    continue
                enc = seeding.reference_encoding(orc, scope, path=path, pad_id=pad, decode=tok.decode)
                ctx = Context(enc.row(), orc.reference(resolved.max_length), decode=tok.decode)
                for rid in rule_ids:
                    if rid in BATCH_RULES:
                        continue  # judged on packed batches (conformance/test_modifiers.py)
                    status = RULES[rid](ctx).status
                    if out.get((tid, path, rid), "not_applicable") == "not_applicable":
                        out[tid, path, rid] = status
    return out


TARGETED = [c for c in load_cases() if c.targets]


def test_golden_cases_declare_targets():
    assert len(TARGETED) >= 20


@pytest.mark.parametrize("case", TARGETED, ids=lambda c: c.id)
def test_every_target_is_judged_on_the_reference_encoding(case):
    """Each rule a case targets gives a verdict other than NOT_APPLICABLE on the case's reference encoding
    (for at least one of TARGET_TOKENIZERS, on a path the case runs on): the case can exercise it."""
    verdicts = _reference_verdicts(case, case.targets)
    if not verdicts:
        pytest.skip(f"none of {', '.join(TARGET_TOKENIZERS)} is provisioned (sft-conformance provision)")
    idle = [r for r in case.targets if all(s == "not_applicable" for (_, _, rid), s in verdicts.items() if rid == r)]
    assert not idle, f"{case.id} targets {idle}, which no tokenizer and path judges on its reference encoding"


EXPECTING = [c for c in load_cases() if c.expect and c.expect["outcome"] != "refused"]


@pytest.mark.parametrize("case", EXPECTING, ids=lambda c: c.id)
def test_an_expected_outcome_occurs_on_the_reference_encoding(case):
    """``expect`` (undecidable, not_applicable) holds for at least one tokenizer on one of its paths, without a
    TRL run; ``refused`` needs TRL and is seen in a run only."""
    import fnmatch

    want = case.expect
    rules = want["rules"] or list(case.targets) or None
    if rules is None:
        from conformance.rules import RULES

        rules = list(RULES)
    verdicts = _reference_verdicts(case, rules, want["paths"])
    if not verdicts:
        pytest.skip(f"none of {', '.join(TARGET_TOKENIZERS)} is provisioned (sft-conformance provision)")
    hits = [k for k, s in verdicts.items() if s == want["outcome"]
            and (want["tokenizers"] is None or any(fnmatch.fnmatchcase(k[0], g) for g in want["tokenizers"]))]
    assert hits, f"{case.id}: no {want['outcome']} verdict on its reference encodings: {verdicts}"
