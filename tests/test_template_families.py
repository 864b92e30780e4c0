"""The breadth tier of the catalog (#16): 30+ chat-template families, each entry's claimed quirks, and no false
positives of the oracle's reference encoding on any golden case.

Needs the breadth tokenizers provisioned (`sft-conformance provision`); each test skips with the command otherwise.
No TRL run: the reference encodings are built from the oracle (harness/pipeline/seeding.py).
"""

from __future__ import annotations

import pytest

from conformance.rules import RULES, Context
from harness.pipeline import seeding
from harness.pipeline.cases import load_cases
from harness.pipeline.clock import frozen_clock
from harness.pipeline.encoding import FAIL
from harness.pipeline.oracle import OracleError, oracle_for
from harness.tokenizers import provision as prov
from harness.tokenizers import registry, synthetic

BREADTH = [e for e in prov.catalog() if e.tier == "breadth"]
CASES = load_cases()
SCOPES = ("full", "completion", "assistant", "last_assistant")

# (tokenizer, rule) -> (case ids, or None for every case the rule judges; why). Rules that FAIL on the oracle's own
# reference encoding: the template's inference prompt is not a prefix of any training render, so no pipeline can
# pass. Reported to the integrator as oracle/rule false positives; test_known_false_positives_still_fail says
# when one is gone.
SYSTEM_CASES = ("chat_with_system", "conv_pc_with_system", "chat_three_assistant_turns_system")
KNOWN_FALSE_POSITIVES: dict = {
    # (tokenizer, rule) -> (cases or None for all, why): reference encodings a rule fails, i.e. bugs of ours.
    # Fixed: TOK-001 on qwq / deepseek-r1-distill ('<think>\n' generation prompt) and mistral-nemo (system prompt
    # only in the inference render) now judges the prompt as far as the template itself agrees.
}

U = {"role": "user", "content": "Hi?"}
A = {"role": "assistant", "content": "Yo."}
S = {"role": "system", "content": "SYS"}
THOUGHT = {"role": "assistant", "content": "<think>\nhmm\n</think>\n\nFirst."}
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "the city"}},
                   "required": ["city"]}}}]


def _load(tid):
    if prov.tokenizer_dir(tid) is None:
        pytest.skip(f"{tid} not provisioned: run `sft-conformance provision --only {tid}`")
    return registry.load(tid)


def _render(tok, messages, **kw):
    with frozen_clock():
        return tok.apply_chat_template(messages, tokenize=False, **kw)


def _known(tid, rule_id, case_id):
    known = KNOWN_FALSE_POSITIVES.get((tid, rule_id))
    return known is not None and (known[0] is None or case_id in known[0])


def _reference_failures(tid):
    """(case, scope, rule, message) for every rule FAIL on the reference encoding, and the number of cases judged."""
    lt = _load(tid)
    tok = lt.tokenizer
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    failures, judged = [], 0
    for case in CASES:
        if case.max_length:
            continue  # the reference is untruncated
        try:
            with frozen_clock():
                orc = oracle_for(case, lt)
        except OracleError:
            continue  # the template raises on this case or drops a message: cannot judge
        judged += 1
        for scope in SCOPES:
            if scope in ("completion", "last_assistant") and orc.final_message is None:
                continue
            enc = seeding.reference_encoding(orc, scope, pad_id=pad, decode=tok.decode)
            ctx = Context(enc.row(), orc.reference(case.max_length), decode=tok.decode)
            for rule in RULES.values():
                verdict = rule(ctx)
                if verdict.status == FAIL:
                    failures.append((case.id, scope, rule.id, verdict.message))
    return failures, judged


# --------------------------------------------------------------------------- catalog shape


def test_catalog_covers_30_template_families():
    families = {e.family for e in prov.catalog()} | ({"synthetic"} if synthetic.SPECS else set())
    assert len(families) >= 30 and "falcon3" in families, sorted(families)


def test_breadth_tier_is_out_of_the_default_run():
    core = registry.catalog_ids("core")
    breadth = registry.catalog_ids("breadth")
    assert len(breadth) >= 19 and not set(core) & set(breadth)
    assert registry.default_ids() == core + list(synthetic.SPECS)
    assert registry.expand(["breadth"]) == breadth
    assert registry.expand(["all"]) == registry.catalog_ids() + list(synthetic.SPECS)
    assert registry.expand(["qwq", "breadth"]).count("qwq") == 1
    assert registry.expand(["./some/folder"]) == ["./some/folder"]


def test_borrowed_vocabularies_say_so():
    for entry in BREADTH:
        if entry.tokenizer.get("added_special_tokens"):
            text = " ".join((entry.description, *entry.quirks)).lower()
            assert "borrowed" in text, entry.id


# --------------------------------------------------------------------------- no false positives


@pytest.mark.parametrize("tid", [e.id for e in BREADTH])
def test_reference_encoding_never_fails(tid):
    """Every breadth tokenizer renders golden cases and the correct encoding passes every rule on them."""
    failures, judged = _reference_failures(tid)
    assert judged >= 30, f"{tid} judged only {judged} cases"
    unexpected = [f for f in failures if not _known(tid, f[2], f[0])]
    assert not unexpected, unexpected


@pytest.mark.parametrize("key", sorted(KNOWN_FALSE_POSITIVES), ids=lambda k: f"{k[0]}-{k[1]}")
def test_known_false_positives_still_fail(key):
    """When the oracle or rule is fixed this fails: remove the entry from KNOWN_FALSE_POSITIVES."""
    tid, rule_id = key
    failures, _ = _reference_failures(tid)
    assert any(f[2] == rule_id and _known(tid, rule_id, f[0]) for f in failures), KNOWN_FALSE_POSITIVES[key][1]


# --------------------------------------------------------------------------- claimed quirks


@pytest.mark.parametrize("tid", ["qwq", "deepseek-r1-distill", "qwen3.5-think"])
def test_generation_prompt_opens_a_think_block(tid):
    tok = _load(tid).tokenizer
    assert _render(tok, [U], add_generation_prompt=True).endswith("<think>\n")


@pytest.mark.parametrize("tid", ["qwq", "deepseek-r1-distill", "qwen3.5-think", "deepseek-v3.1"])
def test_reasoning_of_earlier_turns_is_dropped(tid):
    text = _render(_load(tid).tokenizer, [U, THOUGHT, U, A])
    assert "hmm" not in text and "First." in text


def test_qwen3_5_think_prepends_an_empty_think_block_to_the_last_turn():
    text = _render(_load("qwen3.5-think").tokenizer, [U, A])
    assert text.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\nYo.<|im_end|>\n")


def test_deepseek_v3_1_is_non_thinking_by_default():
    tok = _load("deepseek-v3.1").tokenizer
    assert _render(tok, [U, A]).endswith("<｜Assistant｜><think></think>Yo.<｜end▁of▁sentence｜>")
    assert _render(tok, [U], add_generation_prompt=True).endswith("<think></think>")
    assert _render(tok, [U], add_generation_prompt=True, thinking=True).endswith("<｜Assistant｜><think>")


def test_gemma2_raises_on_system_and_eos_is_not_the_turn_end():
    lt = _load("gemma2")
    tok = lt.tokenizer
    with pytest.raises(Exception, match="System role not supported"):
        _render(tok, [S, U, A])
    assert tok.eos_token == "<eos>" and lt.eot_token == "<end_of_turn>"
    assert _render(tok, [U, A]) == "<bos><start_of_turn>user\nHi?<end_of_turn>\n<start_of_turn>model\nYo.<end_of_turn>\n"
    assert tok("Hi")["input_ids"][0] == tok.bos_token_id  # plus the template's: double BOS


@pytest.mark.parametrize(("tid", "default_system"), [
    ("smollm2", "You are a helpful AI assistant named SmolLM, trained by Hugging Face"),
    ("granite3.3", "Today's Date: June 28, 2025. You are Granite, developed by IBM."),
    ("smollm3", "Reasoning Mode: /think"),
    ("command-r7b", "# System Preamble"),
    ("hermes-2-pro", "You are a function calling AI model."),
    ("llama3.2", "Today Date: 28 Jun 2025"),
])
def test_default_system_prompt(tid, default_system):
    assert default_system in _render(_load(tid).tokenizer, [U, A])


def test_exaone_renders_an_empty_system_turn_and_user_turns_without_end():
    text = _render(_load("exaone3.5").tokenizer, [U, A])
    assert text == "[|system|][|endofturn|]\n[|user|]Hi?\n[|assistant|]Yo.[|endofturn|]\n"


def test_bos_equals_eos():
    for tid in ("olmo2", "granite3.3"):
        tok = _load(tid).tokenizer
        assert tok.bos_token == tok.eos_token, tid
    olmo = _load("olmo2").tokenizer
    assert _render(olmo, [U, A]) == "<|endoftext|><|user|>\nHi?\n<|assistant|>\nYo.<|endoftext|>"
    granite = _load("granite3.3").tokenizer
    assert granite.pad_token == granite.eos_token == "<|end_of_text|>"


def test_falcon3_ends_turns_with_eos_and_switches_branch_with_tools():
    lt = _load("falcon3")
    tok = lt.tokenizer
    assert lt.eot_token == tok.eos_token == tok.bos_token == "<|endoftext|>" and tok.pad_token is None
    assert _render(tok, [S, U, A, U, A]) == (
        "<|system|>\nSYS\n<|user|>\nHi?\n<|assistant|>\nYo.<|endoftext|>\n<|user|>\nHi?\n<|assistant|>\nYo.<|endoftext|>")
    assert _render(tok, [U], add_generation_prompt=True) == "<|user|>\nHi?\n<|assistant|>\n"
    with_tools = _render(tok, [S, U, A], tools=TOOLS)
    assert with_tools.startswith("<|system|>\nSYSYou are a Falcon assistant skilled in function calling.")
    assert '"name": "get_weather"' in with_tools and with_tools.endswith("<|assistant|>\nYo.<|endoftext|>\n")
    assert len(tok("<|assistant|>", add_special_tokens=False)["input_ids"]) > 1  # plain text in the borrowed vocabulary


def test_pad_equals_eos():
    for tid in ("smollm2", "phi4-mini", "deepseek-r1-distill", "granite3.3"):
        tok = _load(tid).tokenizer
        assert tok.pad_token is not None and tok.pad_token == tok.eos_token, tid
    assert _load("smollm2").tokenizer.bos_token == "<|im_start|>"


def test_phi4_generation_prompt_is_part_of_the_user_turn():
    tok = _load("phi4").tokenizer
    assert _render(tok, [U], add_generation_prompt=True) == _render(tok, [U], add_generation_prompt=False)
    assert _render(tok, [U]).endswith("<|im_start|>assistant<|im_sep|>")


def test_phi4_mini_appends_eos_after_the_last_turn():
    tok = _load("phi4-mini").tokenizer
    assert _render(tok, [U, A]) == "<|user|>Hi?<|end|><|assistant|>Yo.<|end|><|endoftext|>"


def test_command_r7b_turn_end_differs_from_eos():
    lt = _load("command-r7b")
    assert lt.eot_token == "<|END_RESPONSE|>" and lt.tokenizer.eos_token == "<|END_OF_TURN_TOKEN|>"
    assert _render(lt.tokenizer, [U, A]).endswith("<|START_RESPONSE|>Yo.<|END_RESPONSE|><|END_OF_TURN_TOKEN|>")


def test_mistral_nemo_drops_the_system_message_from_training_renders():
    tok = _load("mistral-nemo").tokenizer
    assert "SYS" not in _render(tok, [S, U, A])
    assert "SYS" in _render(tok, [S, U], add_generation_prompt=True)
    assert "[AVAILABLE_TOOLS]" in _render(tok, [U, A], tools=TOOLS)


@pytest.mark.parametrize(("tid", "marker"), [
    ("llama3.2", "Environment: ipython"),
    ("qwq", "<tools>"),
    ("qwen3.5-think", "<tools>"),
    ("granite3.3", "<|tool_call|>"),
    ("mistral-nemo", "[AVAILABLE_TOOLS]"),
    ("falcon3", "<tools>"),
])
def test_tools_are_rendered(tid, marker):
    tok = _load(tid).tokenizer
    assert marker not in _render(tok, [U, A]) and marker in _render(tok, [U, A], tools=TOOLS)


def test_hermes_renders_tools_in_the_system_turn():
    text = _render(_load("hermes-2-pro").tokenizer, [U, A], tools=TOOLS)
    assert '"name": "get_weather"' in text.split("<|im_end|>")[0]


@pytest.mark.parametrize("entry", [e for e in BREADTH if e.tokenizer.get("added_special_tokens")], ids=lambda e: e.id)
def test_added_tokens_are_single_special_tokens(entry):
    tok = _load(entry.id).tokenizer
    for token in entry.tokenizer["added_special_tokens"]:
        ids = tok(token, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1 and tok.convert_ids_to_tokens(ids[0]) == token, (token, ids)
        assert tok.added_tokens_decoder[ids[0]].special, token
    for role, token in (entry.tokenizer.get("special_tokens") or {}).items():
        assert getattr(tok, role) == token, role


def test_adds_bos_facts():
    """smollm3/llama3.2/hermes-2-pro/openchat/mistral-nemo/gemma2 add BOS; the others do not."""
    def adds_bos(tok) -> bool:
        return tok("Hi")["input_ids"][:1] == [tok.bos_token_id]

    adds = {e.id: adds_bos(_load(e.id).tokenizer) for e in BREADTH}
    assert {k for k, v in adds.items() if v} == {"smollm3", "llama3.2", "hermes-2-pro", "openchat", "mistral-nemo",
                                                 "gemma2"}
