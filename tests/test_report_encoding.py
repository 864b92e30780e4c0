"""Records and evidence encoded where they were judged (``runner.EncodedItems``) give the report file, the
summary table and the exit status that the same records as objects give."""

from __future__ import annotations

import json

from harness.pipeline import runner
from harness.pipeline.runner import EncodedItems, EncodedRecords, Record
from harness.views import report

RECORDS = [
    Record("tok-a", "text", "c1", "EOS-001", "fail", "no EOS", [3], {"tokens": ["é", "<eos>"]}, "issue 1"),
    Record("tok-a", "text", "c1", "BOS-001", "fail", "two BOS", [0, 1]),
    Record("tok-a", "messages", "c2", "BOS-001", "pass", "ok", signs=["text_bos_prepended"]),
    Record("tok-b", "text", "c1", "EOS-001", "pass", "ok", expected_failure="pr 2"),
    Record("tok-b", "packing", "*", "PACK-001", "not_applicable", "n/a", modifier="packing"),
]
EVIDENCE = [{"tokenizer": "tok-a", "input_ids": [1, 2], "tokens": ["ü", "x"]}, {"tokenizer": "tok-b", "labels": [-100]}]


def _written(rep: dict, tmp_path, name: str) -> bytes:
    text = report.write(rep, tmp_path / name).read_bytes()
    head = json.loads(text)
    head["run_info"].pop("created")
    return json.dumps(head).encode()


def test_an_encoded_report_is_the_report_of_the_records_as_objects(tmp_path):
    plain = report.build(RECORDS, {}, 1.0, {"tokenizers": ["tok-a", "tok-b"]}, EVIDENCE)
    parts = [EncodedRecords.of(RECORDS[:2]), [], RECORDS[2:3], EncodedRecords.of(RECORDS[3:])]  # a list: cut short
    encoded = report.build(EncodedRecords.joined(parts), {}, 1.0, {"tokenizers": ["tok-a", "tok-b"]},
                           EncodedItems.joined([EncodedItems.of(EVIDENCE[:1]), [], EVIDENCE[1:]]))
    assert _written(encoded, tmp_path, "encoded.json") == _written(plain, tmp_path, "plain.json")
    raw_plain = (tmp_path / "plain.json").read_bytes()
    raw_encoded = (tmp_path / "encoded.json").read_bytes()
    assert raw_encoded.split(b'"summary"')[1] == raw_plain.split(b'"summary"')[1]  # byte for byte after run_info
    assert report.summary_table(encoded) == report.summary_table(plain)
    assert encoded["summary"] == plain["summary"] == {"xfail": 1, "fail": 1, "pass": 1, "xpass": 1,
                                                      "not_applicable": 1}
    assert report.decoded(encoded)["records"] == plain["records"]
    assert report.decoded(encoded)["evidence"] == EVIDENCE
    assert len(encoded["records"]) == len(RECORDS) and report.tally(encoded) == report.tally(plain)


def test_a_report_without_records_or_evidence_is_written(tmp_path):
    rep = report.build(EncodedRecords.joined([[], []]), {}, 0.0, {}, EncodedItems.joined([]))
    data = report.load(report.write(rep, tmp_path / "empty.json"))
    assert data["records"] == [] and data["evidence"] == [] and data["summary"] == {}


def test_tokenizers_without_a_chat_template_are_judged_last_and_reported_in_order():
    order = runner.judging_order(["gpt2", "synthetic-no-template", "/a/folder", "llama3", "synthetic-chatml", "gpt2"])
    assert order == ["/a/folder", "llama3", "synthetic-chatml", "gpt2", "synthetic-no-template"]
