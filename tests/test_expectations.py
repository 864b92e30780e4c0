"""Expectations file: validation with file/field errors, glob lists, and the update command."""

from __future__ import annotations

import json

import pytest
import yaml

from harness.cli import main
from harness.pipeline import expectations as exp
from harness.triage import expectations_update

VERSIONS = {"trl": "1.16.0", "transformers": "5.23.0"}


def _write(tmp_path, entries) -> str:
    p = tmp_path / "trl.yaml"
    p.write_text(yaml.safe_dump({"expectations": entries}))
    return p


def test_entry_without_reference_names_file_and_index(tmp_path):
    p = _write(tmp_path, [{"rule": "EOS-001"}])
    with pytest.raises(exp.ExpectationError, match=r"trl\.yaml: expectations\[0\]: needs an upstream reference"):
        exp.load(p)


def test_unknown_field_is_named(tmp_path):
    p = _write(tmp_path, [{"rule": "EOS-001", "issue": 1, "tokeniser": "x"}])
    with pytest.raises(exp.ExpectationError, match=r"expectations\[0\]\.tokeniser: unknown field"):
        exp.load(p)


def test_bad_version_specifier_is_named(tmp_path):
    p = _write(tmp_path, [{"rule": "EOS-001", "issue": 1, "trl": "newest"}])
    with pytest.raises(exp.ExpectationError, match=r"expectations\[0\]\.trl: not a version specifier"):
        exp.load(p)


def test_glob_lists_and_version_conditions(tmp_path):
    p = _write(tmp_path, [{"rule": "BOS-001", "tokenizer": ["llama3*", "gemma3"], "path": "text",
                           "case": ["chat_*", "conv_*"], "trl": ">=1.0", "pr": 123}])
    (e,) = exp.load(p)
    assert e.matches("BOS-001", "llama3.1", "text", "chat_rtl", VERSIONS)
    assert e.matches("BOS-001", "gemma3", "text", "conv_pc_single", VERSIONS)
    assert not e.matches("BOS-001", "qwen3", "text", "chat_rtl", VERSIONS)
    assert not e.matches("BOS-001", "gemma3", "text", "pc_plain", VERSIONS)
    assert not e.matches("BOS-001", "gemma3", "text", "chat_rtl", {"trl": "0.19.1"})
    assert e.reference == "pr 123"


def test_except_tokenizer_leaves_tokenizers_out_of_a_glob(tmp_path):
    p = _write(tmp_path, [{"rule": "DROP-002", "tokenizer": "*", "except_tokenizer": ["synthetic-*", "qwen3"],
                           "pr": 6320},
                          {"rule": "DROP-002", "tokenizer": "synthetic-chatml", "issue": 7}])
    first, second = expectations = exp.load(p)
    assert first.matches("DROP-002", "llama3", "text", "c", VERSIONS)
    assert not first.covers("qwen3", "text", "c") and not first.covers("synthetic-chatml", "text", "c")
    assert exp.find(expectations, "DROP-002", "synthetic-chatml", "text", "c", VERSIONS) is second
    assert exp.find(expectations, "DROP-002", "synthetic-plain", "text", "c", VERSIONS) is None


def test_except_case_leaves_golden_cases_out_of_a_shape_glob(tmp_path):
    p = _write(tmp_path, [{"rule": "GEN-002", "case": ["chat_*", "conv_pc_*"], "except_case": "chat_whitespace_*",
                           "pr": 5522}])
    (e,) = exp.load(p)
    assert e.covers("qwen2.5", "assistant_only_loss", "chat_single_turn")
    assert e.covers("qwen2.5", "assistant_only_loss", "chat_row-17")  # a user's row of that shape (check)
    assert not e.covers("qwen2.5", "assistant_only_loss", "chat_whitespace_completion")
    assert not e.covers("qwen2.5", "assistant_only_loss", "pc_plain")


def test_update_keeps_exclusions_when_it_judges_an_entry():
    entries = [{"rule": "DROP-002", "tokenizer": "*", "except_tokenizer": "b", "path": "text", "pr": 6320}]
    rep = _report([("DROP-002", "a", "text", "c", "fail"), ("DROP-002", "b", "text", "c", "pass")])
    out, stats = expectations_update.update(entries, [rep])
    assert out == entries and stats == {"kept": 1}  # b's PASS is outside the entry: nothing over-matches


def _report(records):
    return {"schema_version": 1, "run_info": {"libraries": VERSIONS},
            "records": [dict(zip(("rule", "tokenizer", "path", "case", "status"), r)) for r in records]}


def test_update_narrows_keeps_references_drops_fixed_and_adds_untriaged():
    entries = [
        {"rule": "BOS-001", "tokenizer": "*", "path": "text", "case": "*", "issue": 111,    # over-matches
         "summary": "a second BOS"},
        {"rule": "EOS-001", "tokenizer": "a", "path": "text", "case": "*", "pr": 222},      # fixed now
        {"rule": "GEN-001", "tokenizer": "zz", "path": "text", "case": "*", "pr": 333},     # not exercised
    ]
    rep = _report([
        ("BOS-001", "a", "text", "chat_x", "fail"), ("BOS-001", "a", "text", "chat_y", "fail"),
        ("BOS-001", "a", "text", "pc_x", "pass"), ("BOS-001", "b", "text", "chat_x", "pass"),
        ("EOS-001", "a", "text", "chat_x", "pass"),
        ("TOK-003", "a", "text", "chat_x", "fail"),
    ])
    out, stats = expectations_update.update(entries, [rep])
    assert stats == {"narrowed": 1, "dropped (no longer failing)": 1, "kept (not exercised)": 1,
                     "added (untriaged)": 1}
    bos = [e for e in out if e["rule"] == "BOS-001"]
    assert bos == [{"rule": "BOS-001", "path": "text", "tokenizer": "a", "case": "chat_*", "issue": 111,
                    "summary": "a second BOS"}]  # narrowed entries keep their reference and summary
    assert any(e["rule"] == "GEN-001" and e["pr"] == 333 for e in out)
    new = [e for e in out if e["rule"] == "TOK-003"]
    assert new and new[0]["reason"].startswith("untriaged")


def test_update_command_rewrites_a_valid_file(tmp_path, capsys):
    f = _write(tmp_path, [{"rule": "BOS-001", "path": "text", "issue": 7}])
    rep = tmp_path / "r.json"
    rep.write_text(json.dumps(_report([("BOS-001", "a", "text", "chat_x", "fail"),
                                       ("BOS-001", "a", "text", "pc_x", "pass")])))
    before = f.read_text()
    assert main(["expectations", "update", str(rep), "--file", str(f)]) == 0
    out = capsys.readouterr().out
    assert f.read_text() == before, "without --write the file is not touched"
    assert "narrowed" in out and "+  case: chat_*" in out and "add --write" in out
    assert main(["expectations", "update", str(rep), "--file", str(f), "--write"]) == 0
    (e,) = exp.load(f)
    assert e.case == "chat_*" and e.reference == "issue 7"
    assert main(["expectations", "update", str(rep), "--file", str(f)]) == 0
    assert "no change" in capsys.readouterr().out


def test_update_drops_an_entry_only_when_it_passes_inside_its_range():
    entries = [
        {"rule": "EOS-001", "path": "completion_only_collator", "issue": 1},  # path absent: all NOT_APPLICABLE
        {"rule": "EOS-002", "path": "text", "trl": "<0.20", "issue": 2},       # passes, but outside its range
        {"rule": "BOS-001", "path": "text", "tokenizer": "zz", "issue": 3},    # undecidable only
        {"rule": "MOD-002", "path": "text", "modifier": "packing_wrapped", "case": "*", "pr": 4},
        {"rule": "GEN-001", "path": "text", "issue": 5},                       # passes inside: fixed
    ]
    rep = _report([("EOS-001", "a", "completion_only_collator", "c", "not_applicable"),
                   ("EOS-002", "a", "text", "c", "pass"), ("BOS-001", "zz", "text", "c", "undecidable"),
                   ("GEN-001", "a", "text", "c", "pass")])
    rep["records"].append({"rule": "MOD-002", "tokenizer": "a", "path": "text", "case": "*", "status": "pass",
                           "modifier": "packing_wrapped"})
    rep["run_info"] = {"libraries": {"trl": "1.16.0", "transformers": "5.23.0"}}
    out, stats = expectations_update.update(entries, [rep])
    assert [e.get("issue", e.get("pr")) for e in out] == [1, 2, 3, 4]
    assert stats["dropped (no longer failing)"] == 1


def test_update_with_a_missing_report_is_a_clear_error(tmp_path, capsys):
    f = _write(tmp_path, [])
    assert main(["expectations", "update", str(tmp_path / "nope.json"), "--file", str(f)]) == 2
    assert "nope.json: no such report file" in capsys.readouterr().err


def test_update_adds_trl_conditions_from_reports_of_several_lines():
    def rep(trl, status_a, status_b):
        r = _report([("EOS-002", "t", "prompt_completion", "pc_a", status_a),
                     ("MASK-002", "t", "prompt_completion", "pc_b", status_b)])
        r["run_info"] = {"libraries": {"trl": trl, "transformers": "5.23.0"}}
        return r

    reports = [rep("1.0.0", "fail", "pass"), rep("1.9.0", "fail", "pass"), rep("1.16.0", "pass", "fail")]
    out, _ = expectations_update.update([], reports)
    by_rule = {e["rule"]: e for e in out}
    assert by_rule["EOS-002"]["trl"] == "<1.16.0"
    assert by_rule["MASK-002"]["trl"] == ">=1.16.0"
    for e in out:
        exp_entry = expectations_update._key_fields(e)
        assert exp_entry.matches(e["rule"], "t", "prompt_completion", e["case"], {"trl": "1.16.0"}) == \
            (e["rule"] == "MASK-002")


def test_update_adds_the_lines_an_entry_does_not_cover():
    """A key failing on two lines, with an entry for only one of them, gets an untriaged entry for the
    other (an entry covering a key on one line used to mark the key covered on every line)."""
    def rep(trl, status):
        r = _report([("TOK-003", "t", "prompt_completion", "pc_new", status)])
        r["run_info"] = {"libraries": {"trl": trl, "transformers": "5.23.0"}}
        return r

    entries = [{"rule": "TOK-003", "tokenizer": "t", "path": "prompt_completion", "case": "*", "trl": "<0.9",
                "issue": 3083}]
    out, stats = expectations_update.update(entries, [rep("0.8.6", "fail"), rep("0.15.2", "fail"),
                                                      rep("0.17.0", "pass")])
    assert stats == {"kept": 1, "added (untriaged)": 1}
    (new,) = [e for e in out if "reason" in e]
    assert new["trl"] == ">=0.15.2,<0.17.0"


def test_modifier_is_its_own_field(tmp_path):
    """Batch-rule expectations name the modifier in a field; plain rows never match them, and the old
    ``path+modifier`` spelling is rejected with the file and field named."""
    good = tmp_path / "good.yaml"
    good.write_text("expectations:\n- {rule: MOD-002, path: text, modifier: packing_wrapped, pr: 4170}\n")
    (entry,) = exp.load(good)
    assert entry.matches("MOD-002", "t", "text", "*", {}, "packing_wrapped")
    assert not entry.matches("MOD-002", "t", "text", "*", {})
    assert not entry.matches("MOD-002", "t", "text", "*", {}, "padding_free")
    bad = tmp_path / "bad.yaml"
    bad.write_text("expectations:\n- {rule: MOD-002, path: text+packing_wrapped, pr: 4170}\n")
    with pytest.raises(exp.ExpectationError, match=r"bad.yaml: expectations\[0\].path"):
        exp.load(bad)


MERGE = {"rule": "MASK-002", "path": "prompt_completion", "case": "pc_*", "signature": "divergence_in_prompt",
         "when_warned": r"not a prefix of the tokenized prompt\+completion", "reason": "a BPE merge at the join"}
WARNED = ("The tokenized prompt is not a prefix of the tokenized prompt+completion, usually because ...",)


def test_a_signature_holds_per_record_and_fails_without_it(tmp_path):
    """The entry covers a row only when that row carries the signature: the dataset's warning alone (which every
    row of the dataset gets) is not enough, nor is the signature without TRL's warning."""
    (e,) = expectations = exp.load(_write(tmp_path, [MERGE]))
    merged = exp.Facts(("divergence_in_prompt",), WARNED)
    assert e.covers("qwen2.5", "prompt_completion", "pc_row-0", facts=merged)
    assert exp.find(expectations, "MASK-002", "qwen2.5", "prompt_completion", "pc_row-0", VERSIONS, facts=merged) is e
    for facts in (exp.Facts((), WARNED), exp.Facts(("divergence_in_prompt",), ("another warning",)), exp.NO_FACTS):
        assert not e.covers("qwen2.5", "prompt_completion", "pc_row-1", facts=facts), facts
        assert exp.find(expectations, "MASK-002", "qwen2.5", "prompt_completion", "pc_row-1", VERSIONS,
                        facts=facts) is None
    assert not e.covers("qwen2.5", "prompt_completion", "chat_row-0", facts=merged)  # the globs still apply


def test_prompt_render_not_prefix_is_computed_from_the_row_itself():
    """A conversational prompt/completion row carries ``prompt_render_not_prefix`` when the template renders its
    prompt alone (as the installed SFTTrainer asks, with the generation prompt from 0.24) to ids that are no prefix
    of the whole conversation's: synthetic-inference-preamble writes a system turn only with a generation prompt;
    the ChatML baseline renders the prompt as the conversation's start. String rows keep their own signature."""
    from harness.adapters.sft_trainer import _prompt_render_kwargs, row_signs
    from harness.tokenizers import registry

    if _prompt_render_kwargs() != {"add_generation_prompt": True}:
        pytest.skip("this TRL does not render the prompt alone with the generation prompt")
    row = {"prompt": [{"role": "user", "content": "Name a colour."}],
           "completion": [{"role": "assistant", "content": "Red."}]}
    assert row_signs(row, registry.load("synthetic-inference-preamble").tokenizer) == ["prompt_render_not_prefix"]
    assert row_signs(row, registry.load("synthetic-chatml").tokenizer) == []
    assert row_signs(row, registry.load("synthetic-no-template").tokenizer) == []  # TRL refuses: no template
    assert row_signs({"prompt": "Name a colour.", "completion": " Red."},
                     registry.load("synthetic-inference-preamble").tokenizer) == []


def test_facts_of_a_report_record():
    rec = {"rule": "MASK-002", "signs": ["divergence_in_prompt"], "warnings": list(WARNED)}
    assert exp.Facts.of(rec) == exp.Facts(("divergence_in_prompt",), WARNED)
    assert exp.Facts.of({"rule": "MASK-002"}) == exp.NO_FACTS


@pytest.mark.parametrize(("extra", "message"), [
    ({"signature": "tokens_merge"}, (r"expectations\[0\]\.signature: input should be 'divergence_in_prompt', "
                                     r"'prompt_render_not_prefix', .* or 'text_without_eos', got 'tokens_merge'")),
    ({"signature": None, "when_warned": "x"}, r"when_warned needs a signature"),
    ({"when_warned": "("}, r"expectations\[0\]\.when_warned: not a regular expression"),
])
def test_signature_fields_are_validated(tmp_path, extra, message):
    entry = {k: v for k, v in {**MERGE, **extra}.items() if v is not None}
    with pytest.raises(exp.ExpectationError, match=message):
        exp.load(_write(tmp_path, [entry]))


def test_update_matches_signatures_and_keeps_them_when_it_splits():
    """pc_a fails with the signature, pc_b passes without it (outside the entry), pc_c passes with it on
    tokenizer b (an XPASS): the entry is narrowed to tokenizer a, still a shape glob, signature kept."""
    signed = {"signs": ["divergence_in_prompt"], "warnings": list(WARNED)}
    rep = _report([("MASK-002", "a", "prompt_completion", "pc_a", "fail"),
                   ("MASK-002", "a", "prompt_completion", "pc_b", "pass"),
                   ("MASK-002", "b", "prompt_completion", "pc_c", "pass")])
    for r in rep["records"]:
        r.update(signed if r["case"] != "pc_b" else {})
    out, stats = expectations_update.update([MERGE], [rep])
    assert stats == {"narrowed": 1}
    assert out == [{"rule": "MASK-002", "path": "prompt_completion", "tokenizer": "a", "case": "*",
                    "signature": "divergence_in_prompt", "when_warned": MERGE["when_warned"],
                    "reason": "a BPE merge at the join"}]
    rep["records"][0].pop("signs")  # the failing row without the signature: a FAIL no entry covers
    out, stats = expectations_update.update([MERGE], [rep])
    assert stats["dropped (no longer failing)"] == 1 and out[0]["reason"].startswith("untriaged")


# The shapes of SFTTrainer's prompt render in the releases (written here, not copied): 0.19-0.23 renders the prompt
# as a closed conversation; 0.24 and 1.x call apply_chat_template on example["prompt"] with a generation prompt;
# 0.25-0.29 on a local `prompt`, with calls among the arguments; 1.7.1 through its own tokenize helper.
PROMPT_RENDERS = {
    "closed": ('''ids = processing_class.apply_chat_template(example["prompt"], tools=tools, **kw)
full = processing_class.apply_chat_template(example["prompt"] + example["completion"], add_generation_prompt=True)''', {}),
    "generation": ('''ids = processing_class.apply_chat_template(
    example["prompt"], tools=tools, add_generation_prompt=True, tokenize=True)''', {"add_generation_prompt": True}),
    "local prompt": ('''prompt = example["prompt"]
ids = processing_class.apply_chat_template(
    prompt,
    tools=example.get("tools"),
    add_generation_prompt=True,
)
full = processing_class.apply_chat_template(prompt + completion, tools=example.get("tools"))''',
                     {"add_generation_prompt": True}),
    "helper": ('''ids = tokenize(
    processing_class,
    example["prompt"],
    is_vlm,
    tools=tools,
    add_generation_prompt=True,
)["input_ids"]''', {"add_generation_prompt": True}),
    "text first": ('''text = apply_chat_template(example, processing_class)["text"]''', None),
}


@pytest.mark.parametrize("shape", list(PROMPT_RENDERS))
def test_how_the_prompt_is_rendered_is_read_from_every_shape_of_the_source(shape):
    from harness.adapters.sft_trainer import prompt_render_kwargs_in

    source, want = PROMPT_RENDERS[shape]
    assert prompt_render_kwargs_in(source) == want


def test_a_pass_under_an_entry_that_is_not_strict_stays_a_pass(tmp_path):
    """``strict: false`` (a mechanism entry naming several rules): a FAIL it covers is known upstream, a PASS it
    covers is a PASS, not an XPASS; a strict entry (the default) makes that PASS an XPASS. ``expectations update``
    keeps such an entry even where every verdict under it passes."""
    loose = {"rule": ["MASK-002", "GEN-002"], "path": "text", "strict": False, "issue": 7}
    strict = {"rule": ["MASK-002", "GEN-002"], "path": "text", "issue": 8}
    for entry, on_pass in ((loose, None), (strict, "issue 8")):
        known = exp.load(_write(tmp_path, [entry]))
        assert exp.find(known, "MASK-002", "t", "text", "c", VERSIONS, status="fail").reference == f"issue {entry['issue']}"
        hit = exp.find(known, "GEN-002", "t", "text", "c", VERSIONS, status="pass")
        assert (hit.reference if hit else None) == on_pass
    rep = _report([("MASK-002", "a", "text", "c", "pass"), ("GEN-002", "a", "text", "c", "pass")])
    rep["run_info"] = {"libraries": VERSIONS}
    out, stats = expectations_update.update([loose, strict], [rep])
    assert [e["issue"] for e in out] == [7] and stats["dropped (no longer failing)"] == 1


def test_pad_id_inside_row_names_the_rows_a_pad_masking_collator_breaks():
    """``pad_id_inside_row`` holds when a real token (attention 1) has the pad id, as the EOS does with pad_token =
    eos_token; the repository's #976 entries then cover that row's EOS-002 on any tokenizer before 0.16.1 (the
    collator's own line: DataCollatorForCompletionOnlyLM to 0.19), not a row without it, and not on 0.16.1."""
    from harness.adapters.base import pad_signs

    assert pad_signs([1, 5, 2, 2], [1, 1, 1, 0], pad_token_id=2) == ["pad_id_inside_row"]
    assert pad_signs([1, 5, 7, 2], [1, 1, 1, 0], pad_token_id=2) == []  # only padding has the pad id
    assert pad_signs([1, 5, 2], [1, 1, 1], pad_token_id=None) == []
    known = exp.load()
    signed, unsigned = exp.Facts(("pad_id_inside_row",), ()), exp.NO_FACTS
    for path, old, fixed in (("messages", "0.12.2", "0.16.1"), ("completion_only_collator", "0.19.1", "0.20.0")):
        at = {"trl": old, "transformers": "4.57.6"}
        hit = exp.find(known, "EOS-002", "a-users-tokenizer", path, "chat_row-0", at, facts=signed, status="fail")
        assert hit is not None and hit.reference == "issue 976"
        assert exp.find(known, "EOS-002", "a-users-tokenizer", path, "chat_row-0", at, facts=unsigned,
                        status="fail") is None
        assert exp.find(known, "EOS-002", "a-users-tokenizer", path, "chat_row-0", {**at, "trl": fixed},
                        facts=signed, status="fail") is None


def test_response_template_not_in_row_is_read_from_the_row_ids():
    """``response_template_not_in_row``: ChatML's '<|im_start|>assistant\\n' is found in a row whose answer starts
    with a letter, not in one whose answer starts with blank lines (the '\\n' merges with them, #598); the repository's
    #598 entry covers such a row before 0.20 only with the collator's warning."""
    from harness.adapters.collators import response_template_signs
    from harness.tokenizers import registry

    tok = registry.load("qwen2.5").tokenizer
    template = "<|im_start|>assistant\n"
    plain = tok("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n")["input_ids"]
    spaced = tok("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n\n\nHello<|im_end|>\n")["input_ids"]
    assert response_template_signs(plain, template, tok) == []
    assert response_template_signs(spaced, template, tok) == ["response_template_not_in_row"]
    known, at = exp.load(), {"trl": "0.19.1", "transformers": "4.57.6"}
    warned = exp.Facts(("response_template_not_in_row",), ("Could not find response key [...] in the instance",))
    hit = exp.find(known, "MASK-003", "a-users-tokenizer", "completion_only_collator", "chat_x", at, facts=warned,
                   status="fail")
    assert hit is not None and hit.reference == "issue 598"
    silent = exp.Facts(("response_template_not_in_row",), ())
    assert exp.find(known, "MASK-003", "a-users-tokenizer", "completion_only_collator", "chat_x", at, facts=silent,
                    status="fail") is None


def test_mechanism_entries_never_cover_a_catalog_tokenizer():
    """The repository's mechanism entries (``outside_catalog``) carry a bug to tokenizers the catalog lacks; on a
    catalog tokenizer a FAIL with the same signature is covered only by a measured entry, so a new way of
    breaking (here a doubled BOS on qwen2.5, whose tokenizer adds none) still FAILs."""
    known, at = exp.load(), {"trl": "1.16.0", "transformers": "5.23.0"}
    facts = exp.Facts(("text_bos_prepended",), ())
    assert any(e.outside_catalog for e in known)
    unknown = exp.find(known, "BOS-001", "./my-tokenizer", "text", "chat_single_turn", at, facts=facts, status="fail")
    assert unknown is not None and unknown.reference == "issue 1400"
    assert exp.find(known, "BOS-001", "qwen2.5", "text", "chat_single_turn", at, facts=facts, status="fail") is None


def test_chatml_collator_rows_carry_the_sign_where_the_generation_prompt_is_not_in_the_render():
    """DataCollatorForChatML's split (``messages[:-1]`` with the generation prompt): QwQ's generation prompt ends
    with '<think>\\n', which the conversation's render lacks, so its rows carry ``prompt_render_not_prefix``;
    Qwen2.5's rows do not."""
    from harness.adapters.collators import chatml_collator_signs
    from harness.tokenizers import registry

    chat = [{"role": "user", "content": "Capital of France?"}, {"role": "assistant", "content": "Paris."}]
    assert chatml_collator_signs(registry.load("qwq").tokenizer, chat) == ["prompt_render_not_prefix"]
    assert chatml_collator_signs(registry.load("qwen2.5").tokenizer, chat) == []
