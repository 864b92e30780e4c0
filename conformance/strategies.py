"""Hypothesis strategies for SFT examples: prompt/completion pairs and 1-4 turn conversations.

Text mixes ordinary words, unicode (CJK, RTL, emoji, combining marks), whitespace at the
edges, empty strings, long runs, the tokenizer's own special-token strings and other
templates' markers, so that property failures exercise what golden cases only sample.
"""

from __future__ import annotations

from hypothesis import strategies as st

from harness.pipeline.cases import Case

MARKERS = ("<|im_start|>assistant\n", "<|im_end|>", "<|start_header_id|>assistant<|end_header_id|>\n\n",
           "<|eot_id|>", "[INST]", "[/INST]", "<start_of_turn>model\n", "<end_of_turn>", "### Response:",
           "<|assistant|>", "<|end|>", "</s>", "<s>", "<|endoftext|>")
WORDS = ("the", "cat", "Paris", "answer", "naïve", "日本語", "مرحبا", "שלום", "🙂", "👍🏽", "e\u0301", "x" * 40)


def texts(specials: tuple[str, ...] = ()) -> st.SearchStrategy[str]:
    piece = st.one_of(
        st.sampled_from(WORDS),
        st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12),
        st.sampled_from(MARKERS + tuple(specials)),
    )
    body = st.lists(piece, max_size=8).map(" ".join)
    edge = st.sampled_from(("", "", " ", "\n", "  "))
    return st.tuples(edge, body, edge).map("".join)


def _nonempty(specials):
    return texts(specials).filter(lambda s: s.strip() != "")


@st.composite
def prompt_completion_cases(draw, specials: tuple[str, ...] = ()) -> Case:
    prompt = draw(_nonempty(specials))
    completion = draw(texts(specials))
    return Case(id="pc_hypothesis", description="generated", source="hypothesis", prompt=prompt,
                completion=completion)


@st.composite
def conversation_cases(draw, specials: tuple[str, ...] = (), content=None) -> Case:
    content = content or _nonempty(specials)
    turns = draw(st.integers(1, 4))
    msgs = []
    if draw(st.booleans()):
        msgs.append({"role": "system", "content": draw(content)})
    for _ in range(turns):
        msgs.append({"role": "user", "content": draw(content)})
        msgs.append({"role": "assistant", "content": draw(content)})
    return Case(id="chat_hypothesis", description="generated", source="hypothesis", messages=tuple(msgs))
