"""``sft-conformance check``: a user's rows, tokenizer and settings through the same rules, known upstream
mechanisms recognised on any input, bad input as one line and exit 2."""

from __future__ import annotations

import json
import shutil

import pytest

from harness import check
from harness.cli import main
from harness.tokenizers import provision

CHAT = [
    {"messages": [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4."}]},
    {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"},
                  {"role": "assistant", "content": "Paris."}, {"role": "user", "content": "And Spain?"},
                  {"role": "assistant", "content": "Madrid."}]},
]


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _report(tmp_path, argv):
    out = tmp_path / "report.json"
    code = main(["check", *argv, "--plain", "--report", str(out)])
    return code, json.loads(out.read_text())


def test_conversations_are_judged_with_every_rule(tmp_path, capsys):
    code, rep = _report(tmp_path, [str(_jsonl(tmp_path / "chat.jsonl", CHAT)), "--tokenizer", "qwen2.5"])
    assert code == 0
    assert rep["check"]["path"] == "messages" and rep["check"]["judged"] == 2
    cases = {r["case"] for r in rep["records"]}
    assert cases == {"chat_row-0", "chat_row-1"}
    assert {r["status"] for r in rep["records"] if r["rule"] == "EOS-001"} == {"pass"}
    assert "2 of 2 row(s) judged on path messages: no unexpected FAIL" in capsys.readouterr().out


QUOTED = [  # the prompt's closing quote and the completion's opening quote merge into one token ('""')
    {"prompt": 'Translate to French: "How are you?"', "completion": '"Comment allez-vous?"'},
    {"prompt": "What is 2+2?", "completion": " 4."},
]


def test_a_merge_at_the_join_is_known_upstream_on_the_row_that_has_it(tmp_path, capsys):
    """A prompt token trained through a merge at the join (TRL starts the completion where the tokenized prompt
    and prompt + completion diverge): the expectation holds for any prompt/completion row whose own tokenization
    diverges on a prompt-only token (signature divergence_in_prompt), so row 0 is known upstream and the run
    exits 0; row 1, in the same dataset and so under the same TRL warning, carries no signature."""
    code, rep = _report(tmp_path, [str(_jsonl(tmp_path / "pc.jsonl", QUOTED)), "--tokenizer", "qwen2.5"])
    assert code == 0 and rep["check"]["path"] == "prompt_completion"
    (mask,) = [r for r in rep["records"] if r["status"] == "fail"]
    assert (mask["case"], mask["rule"], mask["signs"]) == ("pc_row-0", "MASK-002", ["divergence_in_prompt"])
    assert mask["expected_failure"].startswith("reason: documented TRL behaviour")
    assert any("not a prefix of the tokenized prompt+completion" in w for w in mask["warnings"])
    assert not any(r.get("signs") for r in rep["records"] if r["case"] == "pc_row-1")
    assert "no unexpected FAIL" in capsys.readouterr().out


def test_an_unknown_mechanism_fails_with_exit_1_and_shows_the_row(tmp_path, capsys, monkeypatch):
    """A seeded TRL that starts every completion one token early: TRL warns for the dataset as it does for a
    merge, but no row's own tokenization diverges inside its prompt, so the expectation for that mechanism does
    not cover it: a FAIL, exit 1, printed with its tokens."""
    import trl.trainer.sft_trainer as sft_module

    real = getattr(sft_module, "common_prefix_length", None)
    if real is None:
        pytest.skip("this TRL does not start the completion at a common prefix")
    monkeypatch.setattr(sft_module, "common_prefix_length", lambda ids, other: max(real(ids, other) - 1, 0))
    code, rep = _report(tmp_path, [str(_jsonl(tmp_path / "pc.jsonl", QUOTED[1:])), "--tokenizer", "qwen2.5"])
    out = capsys.readouterr().out
    assert code == 1 and rep["check"]["path"] == "prompt_completion"
    assert "MASK-002" in out and "pc_row-0" in out and "loss scope: completion" in out
    fails = [r for r in rep["records"] if r["status"] == "fail"]
    assert "MASK-002" in {r["rule"] for r in fails} and not any(r["expected_failure"] or r.get("signs") for r in fails)


def test_a_known_mechanism_on_a_users_rows_is_known_upstream(tmp_path, capsys):
    """qwen2.5 + assistant_only_loss trains the '\\n' of every assistant header (PR #5522): the expectation is
    written for the conversation shapes, so a user's rows are recognised and the run exits 0."""
    code, rep = _report(tmp_path, [str(_jsonl(tmp_path / "chat.jsonl", CHAT)), "--tokenizer", "qwen2.5",
                                   "--set", "assistant_only_loss=true"])
    assert code == 0 and rep["check"]["path"] == "assistant_only_loss"
    gen = [r for r in rep["records"] if r["rule"] == "GEN-002"]
    assert {r["status"] for r in gen} == {"fail"} and all(r["expected_failure"] for r in gen)
    assert "5522" in capsys.readouterr().out


SYSTEM_PROMPT_ROWS = [  # Mistral-Nemo writes the system message into the last user turn only when that turn is last
    {"prompt": [{"role": "system", "content": "Answer in one word."}, {"role": "user", "content": "Capital of Italy?"}],
     "completion": [{"role": "assistant", "content": "Rome."}]},
    {"prompt": [{"role": "user", "content": "Capital of Spain?"}], "completion": [{"role": "assistant", "content": "Madrid."}]},
]


def _render_not_prefix_rows(tmp_path, tokenizer, rows=SYSTEM_PROMPT_ROWS):
    """Conversational prompt/completion rows (not golden cases) through check; the report and the printed text."""
    from harness.adapters.sft_trainer import _prompt_render_kwargs

    if _prompt_render_kwargs() != {"add_generation_prompt": True}:
        pytest.skip("this TRL does not render the prompt alone with the generation prompt")
    return _report(tmp_path, [str(_jsonl(tmp_path / "conv.jsonl", rows)), "--tokenizer", str(tokenizer)])


def test_a_prompt_rendered_apart_is_known_upstream_on_a_users_conversational_rows(tmp_path, capsys):
    """Issue #5213 on a user's rows: Mistral-Nemo's template renders the prompt (system + user) alone with the
    system message and the whole conversation without it, so the prompt's ids are no prefix of the
    conversation's and SFTTrainer (1.14.2+: at the common prefix) trains prompt tokens. Row 0 carries the
    signature prompt_render_not_prefix and its FAILs are known upstream; row 1 (no system message) carries none."""
    if provision.tokenizer_dir("mistral-nemo") is None:
        pytest.skip("mistral-nemo is not provisioned")
    code, rep = _render_not_prefix_rows(tmp_path, "mistral-nemo")
    assert rep["check"]["path"] == "conversational_prompt_completion"
    fails = [r for r in rep["records"] if r["status"] == "fail"]
    assert {r["case"] for r in fails} == {"conv_pc_row-0"} and "MASK-002" in {r["rule"] for r in fails}
    assert all("prompt_render_not_prefix" in r["signs"] and r["expected_failure"] == "issue 5213" for r in fails)
    assert not any("prompt_render_not_prefix" in r.get("signs", ()) for r in rep["records"]
                   if r["case"] == "conv_pc_row-1")
    out = capsys.readouterr().out
    assert code == 0 and "known upstream: issue 5213" in out and "no unexpected FAIL" in out


def test_another_mechanism_on_conversational_rows_still_fails(tmp_path, capsys, monkeypatch):
    """A seeded TRL that starts every completion one token early, on the row without a system message: its
    prompt render is a prefix of the conversation's (no signature), so the #5213 entry does not cover the
    MASK-002 FAIL: exit 1."""
    import trl.trainer.sft_trainer as sft_module

    if provision.tokenizer_dir("mistral-nemo") is None:
        pytest.skip("mistral-nemo is not provisioned")
    real = getattr(sft_module, "common_prefix_length", None)
    if real is None:
        pytest.skip("this TRL does not start the completion at a common prefix")
    monkeypatch.setattr(sft_module, "common_prefix_length", lambda ids, other: max(real(ids, other) - 1, 0))
    code, rep = _render_not_prefix_rows(tmp_path, "mistral-nemo", SYSTEM_PROMPT_ROWS[1:])
    fails = [r for r in rep["records"] if r["status"] == "fail"]
    assert "MASK-002" in {r["rule"] for r in fails}
    assert not any(r["expected_failure"] or "prompt_render_not_prefix" in r.get("signs", ()) for r in fails)
    assert code == 1 and "conv_pc_row-0" in capsys.readouterr().out


def test_a_renamed_copy_gets_the_known_upstream_verdicts_on_conversational_rows(tmp_path, capsys):
    """The same rows with a copy of Mistral-Nemo's folder under another name: judged as mistral-nemo (content
    hash), the signature computed from the row itself, the same verdicts and references."""
    src = provision.tokenizer_dir("mistral-nemo")
    if src is None:
        pytest.skip("mistral-nemo is not provisioned")
    copy = shutil.copytree(src, tmp_path / "my-company-tokenizer")
    (tmp_path / "catalog").mkdir()
    code, rep = _render_not_prefix_rows(tmp_path / "catalog", copy)
    assert rep["run_info"]["tokenizers"][str(copy)]["judged_as"] == "mistral-nemo"
    code_cat, rep_cat = _render_not_prefix_rows(tmp_path, "mistral-nemo")
    verdicts = [{(r["case"], r["rule"]): (r["status"], r["expected_failure"], r.get("signs")) for r in x["records"]}
                for x in (rep, rep_cat)]
    assert verdicts[0] == verdicts[1] and code == code_cat == 0


def _forked_template(tmp_path, tokenizer_id: str):
    """A copy of a catalog tokenizer whose chat template a user edited (a Jinja comment added: the same renders,
    another content hash), so the expectations cannot know it by the catalog's id."""
    src = provision.tokenizer_dir(tokenizer_id)
    if src is None:
        pytest.skip(f"{tokenizer_id} is not provisioned")
    fork = shutil.copytree(src, tmp_path / "our-fork")
    jinja = fork / "chat_template.jinja"
    if jinja.exists():
        jinja.write_text("{#- our fork -#}\n" + jinja.read_text(encoding="utf-8"), encoding="utf-8")
    else:
        config = json.loads((fork / "tokenizer_config.json").read_text(encoding="utf-8"))
        config["chat_template"] = "{#- our fork -#}\n" + config["chat_template"]
        (fork / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return fork


def test_the_mechanism_is_known_upstream_on_a_template_the_catalog_does_not_have(tmp_path, capsys):
    """Issue #5213 recognised by its mechanism alone: Mistral-Nemo's template forked (another content hash, so
    no catalog entry names it). Row 0's FAILs carry the signature and TRL's warning, so the entry for any
    tokenizer covers them (exit 0); its passing rules stay PASS (``strict: false``), not XPASS."""
    fork = _forked_template(tmp_path, "mistral-nemo")
    (tmp_path / "run").mkdir()
    code, rep = _render_not_prefix_rows(tmp_path / "run", fork)
    assert rep["run_info"]["tokenizers"][str(fork)].get("judged_as") in (None, str(fork))
    fails = [r for r in rep["records"] if r["status"] == "fail"]
    assert {r["case"] for r in fails} == {"conv_pc_row-0"} and "MASK-002" in {r["rule"] for r in fails}
    assert all(r["expected_failure"] == "issue 5213" for r in fails)
    passes = [r for r in rep["records"] if r["case"] == "conv_pc_row-0" and r["status"] == "pass"]
    assert passes and not any(r["expected_failure"] for r in passes)
    assert code == 0 and "known upstream: issue 5213" in capsys.readouterr().out


TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city.",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
AGENT = [
    {"tools": json.dumps(TOOLS), "messages": [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}]},
        {"role": "tool", "content": "{\"temperature_c\": 9}"},
        {"role": "assistant", "content": "It is 9 degrees in Oslo."}]},
    {"messages": [{"role": "user", "content": "2+2?"},
                  {"role": "assistant", "reasoning_content": "Two and two make four.", "content": "4."}]},
]


def test_tool_calling_and_reasoning_rows_are_judged(tmp_path):
    """A user's agentic rows: the tools column (here as JSON text) reaches the template, the tool call is
    trained, the tool result is not; the row ids carry their kind for the expectations."""
    code, rep = _report(tmp_path, [str(_jsonl(tmp_path / "agent.jsonl", AGENT)), "--tokenizer", "qwen3",
                                   "--all"])
    by = {(r["case"], r["rule"]): r for r in rep["records"]}
    assert {r["case"] for r in rep["records"]} == {"chat_tool_row-0", "chat_reasoning_row-1"}
    for case in ("chat_tool_row-0", "chat_reasoning_row-1"):
        assert by[(case, "TOK-003")]["status"] == "pass", by[(case, "TOK-003")]
        assert by[(case, "MASK-003")]["status"] == "pass", by[(case, "MASK-003")]
    assert code == 0


def _rendered_text_rows(tok_dir, tmp_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tok_dir))
    return _jsonl(tmp_path / "text.jsonl", [{"text": tok.apply_chat_template(r["messages"], tokenize=False)}
                                            for r in CHAT])


def test_a_renamed_copy_of_a_catalog_tokenizer_gets_the_known_upstream_verdicts(tmp_path, capsys):
    """Chat-rendered text through the text path: BOS doubled (#1400). The copy has another name and
    folder; its content hash makes it llama3 for the expectations."""
    src = provision.tokenizer_dir("llama3")
    if src is None:
        pytest.skip("llama3 is not provisioned")
    copy = shutil.copytree(src, tmp_path / "my-company-tokenizer")
    data = _rendered_text_rows(copy, tmp_path)
    code, rep = _report(tmp_path, [str(data), "--tokenizer", str(copy)])
    assert rep["run_info"]["tokenizers"][str(copy)]["judged_as"] == "llama3"
    bos = [r for r in rep["records"] if r["rule"] == "BOS-001"]
    assert {r["status"] for r in bos} == {"fail"} and all(r["expected_failure"] == "issue 1400" for r in bos)
    assert all(r["case"].startswith("chat_text_row-") for r in bos)
    assert code == 0 and "known upstream: issue 1400" in capsys.readouterr().out


def test_text_rows_of_a_template_the_catalog_does_not_have_get_the_known_upstream_verdicts(tmp_path, capsys):
    """The same chat-rendered text rows with Llama 3's template forked (another content hash): the BOS that
    SFTTrainer's special tokens put before the template's own (#1400) and the EOS that add_eos appends after
    '<|eot_id|>' (#3318, 0.17+) are recognised by the rows' signatures, not by a catalog id."""
    from harness.adapters.sft_trainer import _text_signs

    fork = _forked_template(tmp_path, "llama3")
    data = _rendered_text_rows(fork, tmp_path)
    code, rep = _report(tmp_path, [str(data), "--tokenizer", str(fork)])
    assert rep["run_info"]["tokenizers"][str(fork)].get("judged_as") in (None, str(fork))
    fails = [r for r in rep["records"] if r["status"] == "fail"]
    assert {"BOS-001", "TOK-003"} <= {r["rule"] for r in fails}
    assert all(r["expected_failure"] in ("issue 1400", "issue 3318") and "text_bos_prepended" in r["signs"]
               for r in fails)
    assert code == 0 and "known upstream: issue 1400" in capsys.readouterr().out
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(fork))
    assert _text_signs("Hello", tok) == ["text_bos_prepended", "text_without_eos"]
    assert _text_signs(tok.bos_token + "Hello" + tok.eos_token, tok) == ["text_bos_prepended"]


def test_packing_settings_add_the_batch_rules(tmp_path):
    code, rep = _report(tmp_path, [str(_jsonl(tmp_path / "chat.jsonl", CHAT)), "--tokenizer", "qwen2.5",
                                   "--set", "packing=true", "--set", "packing_strategy=wrapped"])
    mods = {r["rule"]: r for r in rep["records"] if r.get("modifier") == "packing_wrapped" and r["case"] == "*"}
    assert mods["MOD-002"]["status"] == "fail" and mods["MOD-002"]["expected_failure"]  # PR #3009 / #4170
    assert code == 0


@pytest.mark.parametrize("fmt", ["parquet", "csv", "disk"])
def test_every_dataset_format_is_read(tmp_path, fmt):
    import datasets

    ds = datasets.Dataset.from_list([{"prompt": "2+2=", "completion": " 4"}, {"prompt": "Hi", "completion": " there"}])
    target = tmp_path / f"data.{fmt}"
    {"parquet": lambda: ds.to_parquet(str(target)), "csv": lambda: ds.to_csv(str(target), index=False),
     "disk": lambda: datasets.DatasetDict({"validation": ds}).save_to_disk(str(target))}[fmt]()
    argv = [str(target), "--tokenizer", "synthetic-chatml"] + (["--split", "validation"] if fmt == "disk" else [])
    code, rep = _report(tmp_path, argv)
    assert code == 0 and rep["check"]["data_type"] == "prompt_completion" and rep["check"]["judged"] == 2


def test_sampling_is_seeded():
    assert check.sample_indices(1000, 5, 0) == check.sample_indices(1000, 5, 0)
    assert check.sample_indices(1000, 5, 0) != check.sample_indices(1000, 5, 1)
    assert check.sample_indices(3, 200, 0) == [0, 1, 2]


@pytest.mark.parametrize("rows, argv, message", [
    ([{"messages": [{"role": "user", "content": 5}]}], [], "row 0.messages[0].content: expected a string"),
    ([{"foo": 1}], [], "columns foo: not an SFT dataset"),
    (CHAT, ["--set", "learning_rat=1"], "learning_rat: not an SFTConfig field"),
    (CHAT, ["--set", "max_length"], "expected KEY=VALUE"),
    (CHAT, ["--config", "/nonexistent/sft.yaml"], "--config /nonexistent/sft.yaml: cannot read"),
    (CHAT, ["--set", "packing=true", "--set", "packing_strategy=zigzag"], "packing_strategy 'zigzag'"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, rows, argv, message):
    data = _jsonl(tmp_path / "d.jsonl", rows)
    assert main(["check", str(data), "--tokenizer", "synthetic-chatml", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and err[0].startswith("error: ")


@pytest.mark.parametrize("name, content", [("missing.jsonl", None), ("data.txt", "x"), ("broken.jsonl", "not json")])
def test_unreadable_data_is_one_line_and_exit_2(tmp_path, capsys, name, content):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    assert main(["check", str(path), "--tokenizer", "synthetic-chatml"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0]
