"""Source code that repro scripts use to run one path of whatever TRL is installed.

``sft-conformance repro`` writes a standalone script (no harness import); the part that
drives TRL lives here, beside the adapters, because it is version knowledge: the same
feature detection (``SFTConfig`` fields, the ``processing_class``/``tokenizer`` keyword,
collator modules) in a form a maintainer can paste into an upstream issue. Every snippet
defines ``build(tok) -> (input_ids, labels, attention_mask, loss_scope)`` for row 0 of a
collated batch of ``ROWS`` (the case, then one longer neighbour row), and raises
``NotApplicable`` when the installed TRL has no such path.
"""

from __future__ import annotations

COMMON = '''
class NotApplicable(Exception):
    """The installed TRL does not offer this path."""


def row_of(batch):
    ids = batch["input_ids"][0].tolist()
    labels = batch["labels"][0].tolist() if "labels" in batch else list(ids)
    att = batch["attention_mask"][0].tolist() if "attention_mask" in batch else [1] * len(ids)
    return ids, labels, att
'''

SFT_TRAINER = '''
MODEL_COLUMNS = ("input_ids", "labels", "attention_mask", "seq_lengths", "completion_mask", "assistant_masks")


def build(tok):
    """SFTTrainer's own dataset preparation, then its own data collator on [case, neighbour]."""
    import dataclasses
    import inspect
    import tempfile

    from datasets import Dataset
    from transformers import LlamaConfig, LlamaForCausalLM, TrainingArguments
    from trl import SFTTrainer

    try:
        from trl import SFTConfig
        fields = {f.name for f in dataclasses.fields(SFTConfig)}
    except ImportError:  # TRL 0.8: TrainingArguments plus SFTTrainer keyword arguments
        SFTConfig, fields = None, set()
    missing = [f for f in REQUIRED_FIELDS if f not in fields]
    if missing:
        raise NotApplicable(f"SFTConfig of this TRL has no {', '.join(missing)}")
    init = set(inspect.signature(SFTTrainer.__init__).parameters)
    if "pad_token" not in fields and tok.pad_token is None:
        tok.pad_token = tok.eos_token  # what releases without SFTConfig.pad_token tell users to do
    config = LlamaConfig(vocab_size=max(len(tok), tok.vocab_size), hidden_size=16, intermediate_size=32,
                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2)
    model = LlamaForCausalLM(config)  # random weights: only the data path matters
    options = {"shuffle_dataset": False, "packing": False, **OPTIONS}
    if MAX_LENGTH is not None:
        options["max_length" if "max_length" in fields else "max_seq_length"] = MAX_LENGTH
    arg_fields = {f.name for f in dataclasses.fields(TrainingArguments)}
    with tempfile.TemporaryDirectory() as out:
        kw = {"output_dir": out, "report_to": "none", "save_strategy": "no", "per_device_train_batch_size": 2,
              "seed": 0, "bf16": False, "fp16": False}
        if SFTConfig is not None:
            kw.update({k: v for k, v in options.items() if k in fields})
            args, extra = SFTConfig(**{k: v for k, v in kw.items() if k in fields or k in arg_fields}), {}
        else:
            args, extra = TrainingArguments(**kw), {k: v for k, v in options.items() if k in init}
        tok_kw = "processing_class" if "processing_class" in init else "tokenizer"
        trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(ROWS), **extra, **{tok_kw: tok})
    data = trainer.train_dataset
    if len(data) != len(ROWS):
        raise SystemExit(f"SFTTrainer kept {len(data)} of {len(ROWS)} rows; the example was dropped")
    data = data.select_columns([c for c in data.column_names if c in MODEL_COLUMNS])
    batch = trainer.data_collator([data[0], data[1]])
    scope = SCOPE if SCOPE != "completion?" else ("completion" if getattr(trainer, "completion_only_loss", False)
                                                  else "full")
    return (*row_of(batch), scope)
'''

CHATML_COLLATOR = '''
def build(tok):
    """DataCollatorForChatML (trl.trainer.utils from 0.11; trl.experimental.utils from 0.27) on [case, neighbour]."""
    import importlib

    cls = None
    for module in ("trl.experimental.utils", "trl.trainer.utils", "trl"):
        try:
            cls = getattr(importlib.import_module(module), "DataCollatorForChatML", None)
        except Exception:
            cls = None
        if cls is not None:
            break
    if cls is None:
        raise NotApplicable("this TRL has no DataCollatorForChatML (added in 0.11.0)")
    kwargs = {"tokenizer": tok} | ({"max_length": MAX_LENGTH} if MAX_LENGTH is not None else {})
    batch = cls(**kwargs)(ROWS)
    return (*row_of(batch), "last_assistant")
'''

COMPLETION_ONLY_COLLATOR = '''
def build(tok):
    """DataCollatorForCompletionOnlyLM(response_template) on the tokenized texts (TRL < 0.20)."""
    try:
        from trl import DataCollatorForCompletionOnlyLM
    except ImportError:
        raise NotApplicable("this TRL has no DataCollatorForCompletionOnlyLM (removed in 0.20.0, PR #3704)") from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token  # what every DataCollatorForCompletionOnlyLM tutorial does
    rows = [tok(r["text"], add_special_tokens=ADD_SPECIAL_TOKENS, truncation=MAX_LENGTH is not None,
                max_length=MAX_LENGTH) for r in ROWS]
    collator = DataCollatorForCompletionOnlyLM(response_template=ROWS[0]["response_template"], tokenizer=tok,
                                               mlm=False)
    batch = collator([{k: r[k] for k in ("input_ids", "attention_mask")} for r in rows])
    return (*row_of(batch), "completion")
'''


def snippet(path: str) -> str:
    """The ``build`` source for a path id."""
    if path == "chatml_collator":
        return COMMON + CHATML_COLLATOR
    if path == "completion_only_collator":
        return COMMON + COMPLETION_ONLY_COLLATOR
    return COMMON + SFT_TRAINER


# The loss scope each SFTTrainer path trains; "completion?" is decided by the trainer at run time
# (``trainer.completion_only_loss`` in 0.19+; older releases train prompt/completion rows in full).
SCOPES = {"text": "full", "messages": "full", "prompt_completion": "completion?",
          "conversational_prompt_completion": "completion?", "completion_only_loss": "completion",
          "assistant_only_loss": "assistant", "chatml_collator": "last_assistant",
          "completion_only_collator": "completion"}
