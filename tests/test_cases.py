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
