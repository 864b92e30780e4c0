"""Synthetic tokenizers built in code for edge cases no single real tokenizer isolates.

Each one is a small byte-level BPE trained in memory on a fixed corpus (deterministic, a few
milliseconds) and differs from the ``synthetic-chatml`` baseline in exactly one quirk: no chat
template, no pad token, pad == eos, BOS emitted by both template and tokenizer, an
end-of-turn token that differs from EOS (Gemma style), or a preamble rendered only with a generation prompt.
"""

from __future__ import annotations

from dataclasses import dataclass

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

CHATML_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\n' }}{% generation %}{{ m['content'] }}{{ '<|im_end|>' }}{% endgeneration %}{{ '\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

BOS_CHATML_TEMPLATE = "{{ bos_token }}" + CHATML_TEMPLATE

# A preamble turn rendered only for inference (with a generation prompt), as templates do that print a date
# line or a default system turn only then: the prompt rendered alone is not a prefix of the same prompt inside
# the full conversation; the two renders diverge before the join, at the first message.
INFERENCE_PREAMBLE_TEMPLATE = (
    "{% if add_generation_prompt %}{{ '<|im_start|>system\nToday is Monday.<|im_end|>\n' }}{% endif %}"
    + CHATML_TEMPLATE
)

TURN_TEMPLATE = (
    "{% for m in messages %}"
    "{% set role = 'model' if m['role'] == 'assistant' else m['role'] %}"
    "{% if m['role'] == 'assistant' %}"
    "{{ '<start_of_turn>model\n' }}{% generation %}{{ m['content'] }}{{ '<end_of_turn>' }}{% endgeneration %}{{ '\n' }}"
    "{% else %}"
    "{{ '<start_of_turn>' + role + '\n' + m['content'] + '<end_of_turn>\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "What is the capital of France? The capital of France is Paris.",
    "You are a helpful assistant. Answer the question in one word.",
    "Translate to French: cheese fromage. Count one two three four five six seven eight nine ten.",
    "### Instruction: List two fruits. ### Response: Apple and banana.",
    "system user assistant model question answer hello world",
]

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<s>", "</s>", "<pad>",
            "<start_of_turn>", "<end_of_turn>", "<eos>"]


@dataclass(frozen=True)
class SyntheticSpec:
    id: str
    description: str
    chat_template: str | None
    bos: str | None
    eos: str
    pad: str | None
    adds_bos: bool = False


SPECS = {
    s.id: s
    for s in [
        SyntheticSpec("synthetic-chatml", "ChatML baseline: EOT == EOS, distinct pad, no BOS",
                      CHATML_TEMPLATE, None, "<|im_end|>", "<|endoftext|>"),
        SyntheticSpec("synthetic-no-template", "no chat template (plain LM tokenizer)",
                      None, None, "<|endoftext|>", "<pad>"),
        SyntheticSpec("synthetic-no-pad", "ChatML without a pad token",
                      CHATML_TEMPLATE, None, "<|im_end|>", None),
        SyntheticSpec("synthetic-pad-eq-eos", "ChatML with pad_token == eos_token",
                      CHATML_TEMPLATE, None, "<|im_end|>", "<|im_end|>"),
        SyntheticSpec("synthetic-double-bos", "template emits BOS and the tokenizer adds BOS too",
                      BOS_CHATML_TEMPLATE, "<s>", "<|im_end|>", "<pad>", adds_bos=True),
        SyntheticSpec("synthetic-eot-ne-eos", "Gemma-style turns: EOT <end_of_turn> differs from EOS <eos>",
                      TURN_TEMPLATE, None, "<eos>", "<pad>"),
        SyntheticSpec("synthetic-inference-preamble",
                      "ChatML whose template adds a system turn only with a generation prompt: the prompt "
                      "rendered alone is not a prefix of the full conversation",
                      INFERENCE_PREAMBLE_TEMPLATE, None, "<|im_end|>", "<|endoftext|>"),
    ]
}


def _train_backend(spec: SyntheticSpec) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=420, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer=trainer)
    if spec.adds_bos:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{spec.bos} $A", pair=f"{spec.bos} $A $B", special_tokens=[(spec.bos, tok.token_to_id(spec.bos))]
        )
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def build(tokenizer_id: str):
    """A fresh ``PreTrainedTokenizerFast`` for one synthetic id."""
    from transformers import PreTrainedTokenizerFast

    spec = SPECS[tokenizer_id]
    kwargs = {"eos_token": spec.eos}
    if spec.bos:
        kwargs["bos_token"] = spec.bos
    if spec.pad:
        kwargs["pad_token"] = spec.pad
    tok = PreTrainedTokenizerFast(tokenizer_object=_train_backend(spec), model_max_length=4096, **kwargs)
    tok.chat_template = spec.chat_template
    return tok
