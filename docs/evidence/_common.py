"""Shared helpers for the TRL-only repro scripts (no harness import).

Each script: `<release env python> script.py` -> exit 1 when the behaviour is present, 0 when absent.
Only TRL / transformers / datasets / torch are used; tokenizers come from ~/.cache/sft-conformance/<id>/.
"""
import dataclasses
import inspect
import os
import sys
import tempfile
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
warnings.filterwarnings("ignore")
CACHE = Path(os.environ.get("SFT_CONFORMANCE_CACHE", Path.home() / ".cache" / "sft-conformance"))


def versions():
    import transformers
    import trl
    real = os.path.realpath(trl.__file__)
    where = "" if f"/trl-{trl.__version__}/" in real else f" [code from {real.split('/lib/python')[0].split('/')[-1]}]"
    return f"trl {trl.__version__}{where} transformers {transformers.__version__}"


def load_tok(tid):
    from transformers import AutoTokenizer
    folder = CACHE / tid
    tok = AutoTokenizer.from_pretrained(str(folder))
    jinja = folder / "chat_template.jinja"
    if not tok.chat_template and jinja.is_file():
        tok.chat_template = jinja.read_text(encoding="utf-8")
    return tok


def tiny_model(tok):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=max(len(tok), tok.vocab_size), hidden_size=16, intermediate_size=32,
                      num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                      max_position_embeddings=4096, tie_word_embeddings=True)
    return LlamaForCausalLM(cfg)


def sft_config_fields():
    try:
        from trl import SFTConfig
    except ImportError:
        return set()
    return {f.name for f in dataclasses.fields(SFTConfig)}


def make_trainer(tok, rows, options=None, max_length=None):
    """SFTTrainer(model, args, train_dataset) with options set where this release has the field."""
    from datasets import Dataset
    from transformers import TrainingArguments
    from trl import SFTTrainer
    fields = sft_config_fields()
    init = set(inspect.signature(SFTTrainer.__init__).parameters)
    arg_fields = {f.name for f in dataclasses.fields(TrainingArguments)}
    out = tempfile.mkdtemp(prefix="triage-")
    kw = {"output_dir": out, "report_to": "none", "save_strategy": "no", "disable_tqdm": True,
          "per_device_train_batch_size": 2, "bf16": False, "fp16": False, "seed": 0}
    options = {"packing": False, **(options or {})}
    if "shuffle_dataset" in fields:
        options["shuffle_dataset"] = False
    if max_length is not None:
        options["max_length" if "max_length" in fields else "max_seq_length"] = max_length
    if "pad_token" not in fields and tok.pad_token is None:
        tok.pad_token = tok.eos_token  # what pre-0.16 releases tell users to do
    extra = {}
    if fields:
        from trl import SFTConfig
        kw.update({k: v for k, v in options.items() if k in fields})
        args = SFTConfig(**{k: v for k, v in kw.items() if k in fields or k in arg_fields})
    else:
        args = TrainingArguments(**{k: v for k, v in kw.items() if k in arg_fields})
        extra = {k: v for k, v in options.items() if k in init}
    tk = "processing_class" if "processing_class" in init else "tokenizer"
    return SFTTrainer(model=tiny_model(tok), args=args, train_dataset=Dataset.from_list(rows), **extra, **{tk: tok})


def first_batch(trainer, n=None):
    """input_ids / labels of row 0 of the collated batch of the prepared rows (what a step receives)."""
    ds = trainer.train_dataset
    keep = [c for c in ds.column_names if c in ("input_ids", "labels", "attention_mask", "completion_mask",
                                               "assistant_masks", "position_ids")]
    ds = ds.select_columns(keep)
    items = [ds[i] for i in range(len(ds) if n is None else n)]
    batch = trainer.data_collator(items)
    ids = batch["input_ids"][0].tolist()
    labels = batch["labels"][0].tolist() if "labels" in batch else list(ids)
    att = batch["attention_mask"][0].tolist() if "attention_mask" in batch else [1] * len(ids)
    return [i for i, a in zip(ids, att) if a], [l for l, a in zip(labels, att) if a], len(trainer.train_dataset)


def report_answer_labels(tok, ids, labels, start, length, before="tokens before the answer"):
    """Report the tokens trained before the answer (``ids[start:start + length]``) and the answer tokens masked;
    the bug is present when there is either."""
    trained = [tok.decode([i]) for i, l in zip(ids[:start], labels[:start]) if l != -100]
    masked = [tok.decode([i]) for i, l in zip(ids[start:start + length], labels[start:start + length]) if l == -100]
    report(bool(trained or masked), f"{before} trained: {trained[:6]}{'...' if len(trained) > 6 else ''} "
                                    f"({len(trained)}); answer tokens masked: {masked[:6]} ({len(masked)})")


def chatml_collator_class():
    """TRL's DataCollatorForChatML wherever this release keeps it; a release without one is reported as
    showing no behaviour (exit 0)."""
    import importlib
    for mod in ("trl.experimental.utils", "trl.trainer.utils", "trl"):
        try:
            cls = getattr(importlib.import_module(mod), "DataCollatorForChatML", None)
        except Exception:
            cls = None
        if cls:
            return cls
    report(False, "no DataCollatorForChatML in this TRL")


def report(bad, detail):
    print(f"[{versions()}] {'BUG PRESENT' if bad else 'absent'}: {detail}")
    sys.exit(1 if bad else 0)
