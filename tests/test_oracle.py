"""The oracle attributes roles from the rendered text, independently of TRL."""

from __future__ import annotations

import pytest

from harness.pipeline.cases import load_cases
from harness.pipeline.oracle import MIXED, chat_oracle, oracle_for, string_oracle
from harness.tokenizers import registry as tokenizer_registry

CASES = {c.id: c for c in load_cases()}


def _roles(orc, lt):
    return [(lt.tokenizer.decode([t.id]), t.role, t.message) for t in orc.tokens]


def test_chat_roles_and_terminators():
    lt = tokenizer_registry.load("synthetic-eot-ne-eos")
    orc = chat_oracle(CASES["chat_two_assistant_turns"], lt)
    assert lt.eot_token == "<end_of_turn>" and lt.tokenizer.eos_token == "<eos>"
    assert sorted(orc.terminators) == [1, 3]
    for m, idx in orc.terminators.items():
        assert orc.tokens[idx].id == lt.tokenizer.convert_tokens_to_ids("<end_of_turn>")
        assert orc.tokens[idx].message == m and orc.tokens[idx].role == "eot"
    content = "".join(lt.tokenizer.decode([t.id]) for t in orc.tokens if t.role == "content" and t.message == 3)
    assert content == "I can answer questions."
    assert orc.generation_prompt == "<start_of_turn>model\n"
    header = "".join(lt.tokenizer.decode([t.id]) for t in orc.tokens if t.role == "header" and t.message == 3)
    assert header == "<start_of_turn>model\n"


def test_injected_marker_stays_user_content():
    lt = tokenizer_registry.load("synthetic-chatml")
    orc = oracle_for(CASES["chat_injected_chatml_marker"], lt)
    user = "".join(lt.tokenizer.decode([t.id]) for t in orc.tokens if t.message == 0 and t.role == "content")
    assert "<|im_start|>assistant" in user
    assert orc.final_message == 1


def test_boundary_merge_is_undecidable_not_guessed():
    lt = tokenizer_registry.load("synthetic-chatml")
    case = CASES["pc_midword_completion"]
    merged = [t for t in string_oracle(case, lt).tokens if t.role == MIXED]
    # whether the merge happens depends on the vocabulary; when it does, it must be reported
    orc = string_oracle(case, lt)
    assert all(len(t.parts) == 2 for t in merged)
    assert bool(merged) == any("undecidable" in n for n in orc.notes)


def test_string_oracle_ends_with_eos_and_keeps_prompt_prefix():
    lt = tokenizer_registry.load("synthetic-double-bos")
    orc = string_oracle(CASES["pc_plain"], lt)
    assert orc.tokens[0].role == "bos" and orc.tokens[-1].role == "eos"
    assert orc.ids[:len(orc.prompt_ids)] == orc.prompt_ids


def test_empty_completion_has_only_the_terminator():
    lt = tokenizer_registry.load("synthetic-chatml")
    orc = oracle_for(CASES["chat_empty_completion"], lt)
    assert not [t for t in orc.tokens if t.message == 1 and t.role == "content"]
    assert orc.terminators[1] == max(i for i, t in enumerate(orc.tokens) if t.role == "eot")


def _text(orc, lt, **match):
    return "".join(lt.tokenizer.decode([t.id]) for t in orc.tokens
                   if all(getattr(t, k) == v for k, v in match.items()))


def test_reasoning_the_template_keeps_is_trained_and_what_it_drops_is_absent():
    """Qwen3 keeps the thinking of the last assistant turn and drops that of earlier ones."""
    lt = tokenizer_registry.load("qwen3")
    orc = chat_oracle(CASES["chat_reasoning_field_two_turns"], lt)
    assert "After two comes three" in _text(orc, lt, message=3, role="reasoning")
    assert "Two is the smallest prime" not in orc.text  # dropped by the template, so not in the reference
    assert _text(orc, lt, message=3, role="content") == "Three."
    assert not [t for t in orc.tokens if t.message == 1 and t.role == "reasoning"]


def test_tool_calls_are_assistant_content_and_tool_results_are_their_own_speaker():
    lt = tokenizer_registry.load("qwen2.5")
    orc = chat_oracle(CASES["chat_tool_call_then_answer"], lt)
    call = _text(orc, lt, message=1, role="content")
    assert call.startswith("<tool_call>") and '"Paris"' in call and call.endswith("</tool_call>")
    assert orc.tokens[orc.terminators[1]].id == lt.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert '"temperature_c": 18' in _text(orc, lt, message=2, speaker="tool")
    assert "get_weather" in _text(orc, lt, message=0, role="header")  # definitions: scaffolding of the prompt


def test_harmony_tool_call_ends_with_call_token():
    lt = tokenizer_registry.load("gpt-oss")
    orc = chat_oracle(CASES["chat_tool_call_then_answer"], lt)
    assert lt.tokenizer.decode([orc.tokens[orc.terminators[1]].id]) == "<|call|>"
    assert lt.tokenizer.decode([orc.tokens[orc.terminators[3]].id]) == "<|return|>"
    assert '"Paris"' in _text(orc, lt, message=1, role="content")


def test_template_that_drops_tool_calls_is_undecidable_not_guessed():
    import pytest

    from harness.pipeline.oracle import OracleUndecidable

    lt = tokenizer_registry.load("synthetic-chatml")  # its template writes content only
    with pytest.raises(OracleUndecidable, match="not in the render"):
        chat_oracle(CASES["chat_tool_call_then_answer"], lt)


def test_thinking_kept_only_in_the_last_turn_does_not_hide_the_turn_ends():
    """gpt-oss renders a thinking turn's analysis only while it is the last assistant turn: the render of the
    conversation up to that turn is then no prefix of the full render. Compared without the thinking it is, so
    the tool call before the result is found and ends with <|call|> (it was UNDECIDABLE)."""
    lt = tokenizer_registry.load("gpt-oss")
    orc = chat_oracle(CASES["chat_reasoning_then_tool_call"], lt)
    assert '"Bern"' in _text(orc, lt, message=1, role="content")
    assert lt.tokenizer.decode([orc.tokens[orc.terminators[1]].id]) == "<|call|>"
    assert "I need the temperature" not in orc.text  # dropped by the template in the full render


def test_prompt_rendered_alone_that_differs_from_the_conversation_is_judged_on_the_conversation():
    """synthetic-inference-preamble writes a system turn only with a generation prompt: the reference is the
    conversation's own render, and TOK-001 compares the prompt only as far as the two renders agree."""
    lt = tokenizer_registry.load("synthetic-inference-preamble")
    orc = chat_oracle(CASES["conv_pc_single"], lt)
    assert "Today is Monday" not in orc.text
    assert lt.tokenizer.decode(orc.prompt_ids).startswith("<|im_start|>system\nToday is Monday.")


def test_an_oracle_is_built_with_named_fields():
    """Thirteen fields, several of one type (ids, lists, dicts): a positional call could swap two silently."""
    import dataclasses

    from harness.pipeline.oracle import Oracle

    fields = [f.name for f in dataclasses.fields(Oracle)]
    with pytest.raises(TypeError):
        Oracle(*(None for _ in fields))
    assert Oracle(**{name: None for name in fields}).case_id is None


def _with_template(name: str, template: str):
    import copy
    import dataclasses

    base = tokenizer_registry.load(name)
    tok = copy.deepcopy(base.tokenizer)
    tok.chat_template = template
    return dataclasses.replace(base, tokenizer=tok, memo={})


def test_generation_prompt_ending_inside_the_content_is_header():
    """QwQ / Qwen3.5 end the generation prompt with '<think>\\n'; content written as '<think>\\n...</think>...'
    starts with those characters. The model is given them at inference, so they are header, not content that
    must be trained (MASK-003 failed where TRL masked them)."""
    lt = _with_template("synthetic-chatml",
                        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
                        "{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}")
    orc = chat_oracle(CASES["chat_reasoning_inline_think"], lt)
    assert orc.generation_prompt == "<|im_start|>assistant\n<think>\n"
    assert _text(orc, lt, message=1, role="header") == "<|im_start|>assistant\n<think>\n"
    assert _text(orc, lt, message=1, role="content").startswith("9 divided by 2")
    assert not any("generation prompt of message 1" in n for n in orc.notes)


def test_answer_kept_after_think_cut_keeps_its_leading_newlines_as_content():
    """DeepSeek-R1 renders content.split('</think>')[-1], leading '\\n\\n' included: those characters are the
    message's text, not scaffolding (GEN-002 failed where TRL trained them as the answer's first token)."""
    lt = _with_template("synthetic-chatml",
                        "{% for m in messages %}{% if m.role == 'user' %}<|im_start|>user\n{{ m.content }}<|im_end|>\n"
                        "{% else %}<|im_start|>assistant{{ m.content.split('</think>')[-1] }}<|im_end|>\n{% endif %}"
                        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant<think>\n{% endif %}")
    orc = chat_oracle(CASES["chat_reasoning_inline_think"], lt)
    assert _text(orc, lt, message=1, role="header") == "<|im_start|>assistant"
    assert _text(orc, lt, message=1, role="content") == "\n\nNo, 9 is odd."
