"""The findings tables are generated from the expectations: one row per reference, for the pinned releases; the full
one in docs/findings.md, a compact one (rules, a few words, since which TRL release, reference) in the README."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.schemas import findings_table as ft

TITLES = {"EOS-002": "the final end-of-turn token is trained", "MASK-005": "never entirely -100"}


def _files(tmp_path, entries):
    exp = tmp_path / "trl.yaml"
    exp.write_text(yaml.safe_dump({"expectations": entries}))
    pins = tmp_path / "latest.txt"
    pins.write_text("trl==1.16.0\ntransformers==5.23.0\ndatasets==4.0.0\n")
    return exp, pins


def test_one_row_per_reference_inside_the_pinned_range(tmp_path):
    exp, pins = _files(tmp_path, [
        {"rule": "EOS-002", "path": "text", "tokenizer": ["b", "a"], "issue": 976, "summary": "EOS is masked"},
        {"rule": "MASK-005", "path": "messages", "tokenizer": "c", "issue": 976},
        {"rule": "EOS-002", "path": "text", "tokenizer": "*", "except_tokenizer": "z", "reason": "why"},
        {"rule": "EOS-002", "path": "text", "trl": "<1.0", "pr": 1},                      # outside: not shown
        {"rule": "EOS-002", "path": "text", "transformers": "<5", "pr": 2},               # outside: not shown
    ])
    rows = ft.rows(_loaded(exp), ft.pinned_versions(pins), TITLES)
    assert rows == [
        ["EOS-002", "text", "all but z", "the final end-of-turn token is trained", "written reason (in the entry)"],
        ["EOS-002, MASK-005", "text, messages", "a, b, c", "EOS is masked",
         "[#976](https://github.com/huggingface/trl/issues/976)"],
    ]
    table = ft.markdown(exp, pins, TITLES)
    assert table.startswith(ft.BEGIN) and table.endswith(ft.END) and "TRL 1.16.0 / transformers 5.23.0" in table


def test_the_compact_table_names_rules_a_few_words_the_first_release_and_the_reference(tmp_path):
    exp, pins = _files(tmp_path, [
        {"rule": "EOS-002", "path": "text", "tokenizer": "a", "trl": ">=1.9", "issue": 976, "summary": "long"},
        {"rule": "MASK-005", "path": "messages", "tokenizer": "c", "trl": ">=0.13.0,<2", "issue": 976},
        {"rule": "EOS-002", "path": "text", "tokenizer": "*", "reason": "why"},
        {"rule": "EOS-002", "path": "messages", "tokenizer": "*", "trl": ">=1.0", "reason": "another why"},
        {"rule": "EOS-002", "path": "text", "trl": "<1.0", "pr": 1},                      # outside: not shown
    ])
    rows = ft.compact_rows(_loaded(exp), ft.pinned_versions(pins), TITLES)
    reason = f"[written reason]({ft.FULL_TABLE})"
    assert rows == [
        ["EOS-002", ft.SHORT["EOS-002"], "all", reason],
        ["EOS-002", ft.SHORT["EOS-002"], "≥ 1.0", reason],
        ["EOS-002, MASK-005", f"{ft.SHORT['EOS-002']}; {ft.SHORT['MASK-005']}", "≥ 0.13.0",
         "[#976](https://github.com/huggingface/trl/issues/976)"],
    ]
    table = ft.compact_markdown(exp, pins, TITLES)
    assert table.startswith(ft.BEGIN) and table.endswith(ft.END) and "| rule | what goes wrong | TRL | reference |" in table


def test_rows_that_read_the_same_are_merged(tmp_path):
    exp, pins = _files(tmp_path, [
        {"rule": "EOS-002", "path": "text", "tokenizer": "a", "reason": "one"},
        {"rule": "EOS-002", "path": "messages", "tokenizer": "b", "reason": "two"},
    ])
    assert len(ft.compact_rows(_loaded(exp), ft.pinned_versions(pins), TITLES)) == 1
    assert len(ft.rows(_loaded(exp), ft.pinned_versions(pins), TITLES)) == 2


def test_every_rule_has_a_few_words():
    from conformance.rules import BATCH_RULES, RULES

    assert sorted({*RULES, *BATCH_RULES, "MOD-001"} - set(ft.SHORT)) == []


def test_both_files_carry_a_generated_table():
    from harness.schemas import docs

    generated = docs.generated()
    readme, findings = generated[Path("README.md")], generated[Path("docs/findings.md")]
    assert "| rule | what goes wrong | TRL | reference |" in readme
    assert "| rule | path | tokenizers | what happens | reference |" in findings
    assert len(readme.encode()) <= 7_500  # the README stays a short guide; details go to docs/


def _loaded(path):
    from harness.schemas.base import read_yaml, validate
    from harness.schemas.expectations import ExpectationsFile

    return validate(ExpectationsFile, read_yaml(path)[0], str(path))[0].expectations


def test_the_table_replaces_only_the_text_between_the_markers():
    readme = f"intro\n{ft.BEGIN}\nold table\n{ft.END}\noutro\n"
    assert ft.with_table(readme, f"{ft.BEGIN}\nnew\n{ft.END}") == f"intro\n{ft.BEGIN}\nnew\n{ft.END}\noutro\n"
    with pytest.raises(ValueError, match="README.md: the findings table markers are missing"):
        ft.with_table("no markers", "x")
    with pytest.raises(ValueError, match="docs/findings.md: the findings table markers are missing"):
        ft.with_table("no markers", "x", "docs/findings.md")


def test_a_mechanism_entry_adds_tokenizers_outside_the_catalog_not_its_rules(tmp_path):
    """An ``outside_catalog`` entry with the same reference says the finding also reaches tokenizers the catalog
    lacks; the row's rules and paths stay those measured on the catalog."""
    exp, pins = _files(tmp_path, [
        {"rule": "EOS-002", "path": "text", "tokenizer": "a", "issue": 976, "summary": "EOS is masked"},
        {"rule": ["EOS-002", "MASK-005"], "path": ["text", "messages"], "signature": "pad_id_inside_row",
         "outside_catalog": True, "strict": False, "issue": 976},
        {"rule": "MASK-005", "path": "messages", "outside_catalog": True, "strict": False, "pr": 7},
    ])
    rows = ft.rows(_loaded(exp), ft.pinned_versions(pins), TITLES)
    assert rows[0][:3] == ["EOS-002", "text", "a; tokenizers outside the catalog (by mechanism)"]
    assert rows[1][:3] == ["MASK-005", "messages", "tokenizers outside the catalog (by mechanism)"]
