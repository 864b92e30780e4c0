"""The README's findings table is generated from the expectations: one row per reference, for the pinned releases."""

from __future__ import annotations

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


def _loaded(path):
    from harness.schemas.base import read_yaml, validate
    from harness.schemas.expectations import ExpectationsFile

    return validate(ExpectationsFile, read_yaml(path)[0], str(path))[0].expectations


def test_the_table_replaces_only_the_text_between_the_markers():
    readme = f"intro\n{ft.BEGIN}\nold table\n{ft.END}\noutro\n"
    assert ft.with_table(readme, f"{ft.BEGIN}\nnew\n{ft.END}") == f"intro\n{ft.BEGIN}\nnew\n{ft.END}\noutro\n"
    with pytest.raises(ValueError, match="README.md: the findings table markers are missing"):
        ft.with_table("no markers", "x")
