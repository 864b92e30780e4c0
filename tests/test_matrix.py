"""The merged matrix: rows per TRL line, cells counted with the current expectations, first bad/good."""

from __future__ import annotations

import json

from harness.views import matrix


def _rep(trl, status):
    return {"schema_version": 1, "run_info": {"libraries": {"trl": trl, "transformers": "5.23.0"}},
            "records": [{"rule": "EOS-001", "tokenizer": "t", "path": "text", "case": "pc_x", "status": status},
                        {"rule": "EOS-002", "tokenizer": "t", "path": "text", "case": "pc_x",
                         "status": "not_applicable"}]}


def test_matrix_rows_cells_and_first_bad_first_good(tmp_path):
    for trl, st in (("0.8.6", "fail"), ("0.19.1", "fail"), ("1.0.0", "pass")):
        (tmp_path / f"trl-{trl}.json").write_text(json.dumps(_rep(trl, st)))
    empty = tmp_path / "exp.yaml"
    empty.write_text("expectations: []\n")
    data = matrix.build(matrix.load_reports([str(tmp_path / "trl-*.json")]), str(empty))
    assert data["rows"][0].startswith("trl 0.8.6") and data["rows"][-1].startswith("trl 1.0.0")
    assert data["columns"] == [("text", "EOS")]
    (f,) = data["findings"]
    assert (f["first_bad"], f["first_good"]) == ("0.8.6", "1.0.0")
    md = matrix.markdown(data)
    assert "| trl 0.8.6 (transformers 5.23.0) | 1✗ |" in md and "| trl 1.0.0 (transformers 5.23.0) | 1✓ |" in md
    page = matrix.html_page(data)
    assert 'id="matrix"' in page and "<script" not in page and "http" not in page


def test_matrix_applies_current_expectations(tmp_path):
    (tmp_path / "trl-0.8.6.json").write_text(json.dumps(_rep("0.8.6", "fail")))
    exp = tmp_path / "exp.yaml"
    exp.write_text("expectations:\n- {rule: EOS-001, path: text, trl: '<0.16', issue: 1623}\n")
    data = matrix.build(matrix.load_reports([str(tmp_path / "trl-0.8.6.json")]), str(exp))
    assert "1x" in matrix.markdown(data)


def test_matrix_judges_a_renamed_copy_as_the_run_did(tmp_path):
    """A report of a copied tokenizer folder says which catalog tokenizer it was judged as (``judged_as``); the
    matrix matches expectations by that id too, so the copy's known FAIL stays known there."""
    rep = _rep("0.8.6", "fail")
    rep["records"][0]["tokenizer"] = "/data/our-copy"
    rep["run_info"]["tokenizers"] = {"/data/our-copy": {"judged_as": "t"}}
    (tmp_path / "trl-0.8.6.json").write_text(json.dumps(rep))
    exp = tmp_path / "exp.yaml"
    exp.write_text("expectations:\n- {rule: EOS-001, tokenizer: t, path: text, issue: 1623}\n")
    data = matrix.build(matrix.load_reports([str(tmp_path / "trl-0.8.6.json")]), str(exp))
    assert "1x" in matrix.markdown(data)


def test_a_bug_that_comes_back_is_listed_twice():
    from harness.views.matrix import bad_intervals

    timeline = [("0.8.6", "fail"), ("0.9.6", "pass"), ("0.13.0", "pass"), ("0.15.2", "fail"), ("0.16.1", "fail"),
                ("0.17.0", "pass"), ("1.16.0", "fail")]
    assert bad_intervals(timeline) == [("0.8.6", "0.9.6"), ("0.15.2", "0.17.0"), ("1.16.0", None)]
    assert bad_intervals([("0.8.6", "pass")]) == []
