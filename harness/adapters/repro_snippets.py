"""Source code that repro scripts use to run one path of whatever TRL is installed.

``sft-conformance repro`` writes a standalone script (no harness import). The version
knowledge (``SFTConfig`` fields, the ``processing_class``/``tokenizer`` keyword, collator
modules, model-input columns) is ``trl_driver``, which the adapters use and the script embeds
verbatim; these snippets are only the glue for one example. Every snippet defines
``build(tok) -> (input_ids, labels, attention_mask, loss_scope, dropped, neighbour_dropped)``
for row 0 of a collated batch of ``ROWS`` (the case, then one longer neighbour row), and
raises ``NotApplicable`` when the installed TRL has no such path.
"""

from __future__ import annotations

COMMON = '''
class NotApplicable(Exception):
    """The installed TRL does not offer this path."""
'''

SFT_TRAINER = '''
def prepare(tok, rows):
    """SFTTrainer's own dataset preparation on rows; (trainer, {row number: prepared index}).

    An index column says which prepared row is which; releases that drop or reject extra
    columns get the rows without it, mapped by position, which they keep when nothing is removed.
    """
    import tempfile

    import torch
    from transformers import LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(trl_driver.tiny_model_config(trl_driver.vocabulary_size(tok)))
    indexed = [dict(r, sft_conformance_row=k) for k, r in enumerate(rows)]
    with tempfile.TemporaryDirectory() as out:
        try:
            trainer = trl_driver.make_trainer(model, tok, indexed, out, OPTIONS, MAX_LENGTH)
            if "sft_conformance_row" in trainer.train_dataset.column_names:
                kept = trainer.train_dataset["sft_conformance_row"]
                return trainer, {int(k): n for n, k in enumerate(kept)}
        except Exception:  # noqa: BLE001 - this release takes no extra column: try as its users would
            pass
        trainer = trl_driver.make_trainer(model, tok, rows, out, OPTIONS, MAX_LENGTH)
    kept = len(trainer.train_dataset)
    return trainer, ({k: k for k in range(len(rows))} if kept == len(rows) else None)


def build(tok):
    """SFTTrainer's own preparation and data collator on [case, neighbour]; row 0 of the batch."""
    missing = [f for f in REQUIRED_FIELDS if f not in trl_driver.sft_config_fields()]
    if missing:
        raise NotApplicable(f"SFTConfig of this TRL has no {', '.join(missing)}")
    trl_driver.pad_with_eos_where_needed(tok)
    trainer, index = prepare(tok, ROWS)
    if index is None:  # rows removed and no index column: find out which by preparing the case alone
        trainer, index = prepare(tok, ROWS[:1])
        index = {} if index is None else index
    scope = SCOPE if SCOPE != "completion?" else trl_driver.completion_scope(trainer)
    removed = "SFTTrainer removed the example during dataset preparation"
    if 0 not in index:
        return [], [], [], scope, removed, None
    data = trl_driver.model_inputs(trainer.train_dataset)
    batch = trainer.data_collator([data[index[k]] for k in (0, 1) if k in index])
    return (*trl_driver.row_of_batch(batch, 0), scope, None, None if 1 in index else removed)
'''

CHATML_COLLATOR = '''
def build(tok):
    """DataCollatorForChatML on [case, neighbour] (trains the final assistant message)."""
    cls = trl_driver.chatml_collator_class()
    if cls is None:
        raise NotApplicable("this TRL has no DataCollatorForChatML (added in 0.11.0)")
    kwargs = {"tokenizer": tok} | ({"max_length": MAX_LENGTH} if MAX_LENGTH is not None else {})
    batch = cls(**kwargs)(ROWS)
    return (*trl_driver.row_of_batch(batch, 0), "last_assistant", None, None)
'''

COMPLETION_ONLY_COLLATOR = '''
def build(tok):
    """DataCollatorForCompletionOnlyLM(response_template) on the tokenized texts (TRL < 0.20)."""
    cls = trl_driver.completion_only_collator_class()
    if cls is None:
        raise NotApplicable("this TRL has no DataCollatorForCompletionOnlyLM (removed in 0.20.0, PR #3704)")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token  # what every DataCollatorForCompletionOnlyLM tutorial does
    rows = [tok(r["text"], add_special_tokens=ADD_SPECIAL_TOKENS, truncation=MAX_LENGTH is not None,
                max_length=MAX_LENGTH) for r in ROWS]
    collator = cls(response_template=ROWS[0]["response_template"], tokenizer=tok, mlm=False)
    batch = collator([{k: r[k] for k in ("input_ids", "attention_mask")} for r in rows])
    return (*trl_driver.row_of_batch(batch, 0), "completion", None, None)
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


# --- the short form (``sft-conformance repro --short``) ---------------------------------------------------------
# A script short enough for an upstream issue cannot embed ``trl_driver``; these ``build(tok) -> (batch, scope)``
# (``not_applicable(why)`` exits 2 where this TRL has no such path) call TRL's public API directly, with only the version switches the catalogued bugs' TRL lines need (SFTConfig or
# TrainingArguments, ``processing_class`` or ``tokenizer``, ``max_length`` or ``max_seq_length``). A row TRL removes
# is reported as not applicable: the long form, which tracks rows by an index column, judges removals.

SHORT_SFT_TRAINER = '''
def build(tok):
    """SFTTrainer's own dataset preparation and data collator (what a training step runs) on ROWS."""
    import dataclasses, inspect, tempfile
    from datasets import Dataset
    from transformers import LlamaConfig, LlamaForCausalLM, TrainingArguments
    config = getattr(trl, "SFTConfig", TrainingArguments)  # TRL 0.8: TrainingArguments + SFTTrainer keywords
    fields, params = {f.name for f in dataclasses.fields(config)}, inspect.signature(trl.SFTTrainer).parameters
    if not set(REQUIRED_FIELDS) <= fields:
        not_applicable(f"SFTConfig of this TRL has no {', '.join(set(REQUIRED_FIELDS) - fields)}")
    opts = {"packing": False, "shuffle_dataset": False, "bf16": False, **OPTIONS, **({("max_length" if "max_length" in fields else "max_seq_length"): MAX_LENGTH} if MAX_LENGTH else {})}
    if "pad_token" not in fields and tok.pad_token is None:  # TRL < 0.16 tells users to pad with EOS
        tok.pad_token = tok.eos_token
    model = LlamaForCausalLM(LlamaConfig(vocab_size=max(len(tok), tok.vocab_size), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2))  # SFTTrainer needs a model, not weights
    args = config(output_dir=tempfile.mkdtemp(), report_to="none", per_device_train_batch_size=2, **{k: v for k, v in opts.items() if k in fields})
    trainer = trl.SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(ROWS), **{k: v for k, v in opts.items() if k in params and k not in fields}, **{"processing_class" if "processing_class" in params else "tokenizer": tok})
    if len(trainer.train_dataset) < len(ROWS):
        not_applicable("SFTTrainer removed a row while preparing the dataset (the long form, sft-conformance repro, judges that)")
    scope = SCOPE if SCOPE != "completion?" else ("completion" if getattr(trainer, "completion_only_loss", False) else "full")
    return trainer.data_collator([{c: trainer.train_dataset[k][c] for c in trainer.train_dataset.column_names if c in MODEL_COLUMNS} for k in range(len(ROWS))]), scope
'''

SHORT_CHATML_COLLATOR = '''
def build(tok):
    """DataCollatorForChatML (trains the final assistant message) on ROWS."""
    import importlib
    cls = None
    for module in ("trl.experimental.utils", "trl.trainer.utils"):  # moved to experimental in 0.27 (PR #4668)
        try:
            cls = cls or getattr(importlib.import_module(module), "DataCollatorForChatML", None)
        except Exception:  # noqa: BLE001 - a module that fails to import means "not here"
            pass
    if cls is None:
        not_applicable("this TRL has no DataCollatorForChatML (added in 0.11.0)")
    return cls(tokenizer=tok, **({"max_length": MAX_LENGTH} if MAX_LENGTH else {}))(ROWS), "last_assistant"
'''

SHORT_COMPLETION_ONLY_COLLATOR = '''
def build(tok):
    """DataCollatorForCompletionOnlyLM(response_template) on the tokenized texts (TRL < 0.20)."""
    cls = getattr(trl, "DataCollatorForCompletionOnlyLM", None)
    if cls is None:
        not_applicable("this TRL has no DataCollatorForCompletionOnlyLM (removed in 0.20.0, PR #3704)")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token  # what every DataCollatorForCompletionOnlyLM tutorial does
    rows = [tok(r["text"], add_special_tokens=ADD_SPECIAL_TOKENS, truncation=bool(MAX_LENGTH), max_length=MAX_LENGTH) for r in ROWS]
    collator = cls(response_template=ROWS[0]["response_template"], tokenizer=tok, mlm=False)
    return collator([{k: r[k] for k in ("input_ids", "attention_mask")} for r in rows]), "completion"
'''


def short_snippet(path: str) -> str:
    """The short form's ``build`` source for a path id."""
    return {"chatml_collator": SHORT_CHATML_COLLATOR,
            "completion_only_collator": SHORT_COMPLETION_ONLY_COLLATOR}.get(path, SHORT_SFT_TRAINER)
