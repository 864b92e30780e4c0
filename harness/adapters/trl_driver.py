"""How to drive the installed TRL: configuration, trainer, model inputs, collators, by feature detection.

The one place that turns "this path with these options" into TRL calls. The path adapters use
it, and ``sft-conformance repro`` embeds this module verbatim in every script it writes, so a
repro script builds its trainer and collator with exactly the code the suite used. Imports only
the standard library at module level (TRL, transformers, datasets and torch inside functions),
and nothing from the harness.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect

IGNORE_INDEX = -100
# Columns a training step hands to the collator (Trainer drops the rest: remove_unused_columns).
MODEL_COLUMNS = ("input_ids", "labels", "attention_mask", "position_ids", "seq_lengths", "completion_mask",
                 "assistant_masks")


@functools.lru_cache(maxsize=1)
def sft_config_fields() -> frozenset[str]:
    """SFTConfig's fields; empty before SFTConfig existed (0.8: TrainingArguments + trainer keywords)."""
    try:
        from trl import SFTConfig
    except ImportError:
        return frozenset()
    return frozenset(f.name for f in dataclasses.fields(SFTConfig))


def sft_config_default(field_name: str):
    """The installed SFTConfig's default for ``field_name``; None without SFTConfig, the field or a default."""
    if field_name not in sft_config_fields():
        return None
    from trl import SFTConfig

    f = next(f for f in dataclasses.fields(SFTConfig) if f.name == field_name)
    return None if f.default is dataclasses.MISSING else f.default


@functools.lru_cache(maxsize=1)
def trainer_init_params() -> frozenset[str]:
    try:
        from trl import SFTTrainer
    except ImportError:
        return frozenset()
    return frozenset(inspect.signature(SFTTrainer.__init__).parameters)


@functools.lru_cache(maxsize=1)
def training_argument_fields() -> frozenset[str]:
    from transformers import TrainingArguments

    return frozenset(f.name for f in dataclasses.fields(TrainingArguments))


def tokenizer_kwarg() -> str:
    """``processing_class`` (0.12+) or ``tokenizer``: the keyword SFTTrainer takes the tokenizer by."""
    return "processing_class" if "processing_class" in trainer_init_params() else "tokenizer"


def length_field() -> str:
    return "max_length" if "max_length" in sft_config_fields() else "max_seq_length"


def build_config(out_dir: str, options: dict, max_length: int | None, **training_args):
    """(training arguments, extra SFTTrainer keyword arguments) for ``options`` (SFTConfig fields).

    Options go into ``SFTConfig`` when the installed TRL has the field; releases before SFTConfig
    (0.8) take ``dataset_text_field``/``max_seq_length``/``packing`` as ``SFTTrainer`` arguments
    next to plain ``TrainingArguments``.
    """
    from transformers import TrainingArguments

    fields, init, arg_fields = sft_config_fields(), trainer_init_params(), training_argument_fields()
    kw = {"output_dir": out_dir, "report_to": "none", "save_strategy": "no", "disable_tqdm": True,
          "per_device_train_batch_size": 2, "bf16": False, "fp16": False, "seed": 0, **training_args}
    options = {"shuffle_dataset": False, "packing": False, **options}
    if max_length is not None:
        options[length_field()] = max_length
    if fields:
        from trl import SFTConfig

        kw.update({k: v for k, v in options.items() if k in fields})
        return SFTConfig(**{k: v for k, v in kw.items() if k in fields or k in arg_fields}), {}
    args = TrainingArguments(**{k: v for k, v in kw.items() if k in arg_fields})
    return args, {k: v for k, v in options.items() if k in init}


def pad_with_eos_where_needed(tok) -> None:
    """Releases whose SFTConfig has no ``pad_token`` (before 0.16) cannot pad with a tokenizer that
    has none; there the tokenizer gets ``pad_token = eos_token``, the step those releases'
    documentation tells users to take."""
    if "pad_token" not in sft_config_fields() and tok.pad_token is None and tok.eos_token is not None:
        tok.pad_token = tok.eos_token


def tiny_model_config(vocab_size: int):
    """A random one-layer Llama sized to the tokenizer: SFTTrainer needs a model, not weights."""
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=vocab_size, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                       num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=4096,
                       tie_word_embeddings=True)


def vocabulary_size(tok) -> int:
    return max(len(tok), tok.vocab_size)


def make_trainer(model, tok, rows: list[dict], out_dir: str, options: dict, max_length: int | None,
                 **training_args):
    """The SFTTrainer a user would build with these options on ``rows`` (dataset dicts)."""
    from datasets import Dataset
    from trl import SFTTrainer

    args, extra = build_config(out_dir, options, max_length, **training_args)
    return SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), **extra,
                      **{tokenizer_kwarg(): tok})


def model_inputs(prepared):
    """The prepared dataset with only the columns a training step hands to the collator."""
    return prepared.select_columns([c for c in prepared.column_names if c in MODEL_COLUMNS])


def completion_scope(trainer) -> str:
    """1.x decides completion-only loss at construction (``trainer.completion_only_loss``); older
    releases had no such switch, so prompt/completion rows are trained in full there."""
    return "completion" if getattr(trainer, "completion_only_loss", False) else "full"


def row_of_batch(batch: dict, row: int) -> tuple[list[int], list[int], list[int]]:
    """Input ids, labels and attention mask of one row of a collated batch."""
    ids = batch["input_ids"][row].tolist()
    labels = batch["labels"][row].tolist() if "labels" in batch else list(ids)
    att = batch["attention_mask"][row].tolist() if "attention_mask" in batch else [1] * len(ids)
    return ids, [IGNORE_INDEX if x == IGNORE_INDEX else x for x in labels], att


def find_class(name: str, modules: tuple[str, ...]):
    for module in modules:
        try:
            cls = getattr(importlib.import_module(module), name, None)
        except Exception:  # noqa: BLE001 - an optional module that fails to import means "not here"
            cls = None
        if cls is not None:
            return cls
    return None


def chatml_collator_class():
    """DataCollatorForChatML: ``trl.trainer.utils`` from 0.11, ``trl.experimental.utils`` from 0.27 (PR #4668)."""
    return find_class("DataCollatorForChatML", ("trl.experimental.utils", "trl.trainer.utils", "trl"))


def completion_only_collator_class():
    """DataCollatorForCompletionOnlyLM (0.x; removed in 0.20.0, PR #3704)."""
    return find_class("DataCollatorForCompletionOnlyLM", ("trl", "trl.trainer.utils"))
