"""Paths whose labels are built by a stand-alone TRL data collator.

- ``chatml_collator``: ``DataCollatorForChatML`` (``trl.trainer.utils`` from 0.11, moved to
  ``trl.experimental.utils`` in 0.27, PR #4668). It renders the conversation itself and
  trains the final assistant message only. Called on ``[{"messages": case}, {"messages":
  neighbour}]``.
- ``completion_only_collator``: ``DataCollatorForCompletionOnlyLM`` (0.x, removed in 0.20.0,
  PR #3704). Rows are ``tokenizer(text)`` as SFTTrainer's text path produced them; the
  collator searches the token ids of ``response_template`` and masks everything before.
"""

from __future__ import annotations

from harness.adapters import trl_driver
from harness.adapters.base import PathAdapter
from harness.adapters.lending import lent_tokenizer
from harness.adapters.neighbours import neighbour_case
from harness.adapters.trl_driver import row_of_batch
from harness.pipeline.clock import frozen_clock
from harness.pipeline.encoding import NotApplicable
from harness.pipeline.oracle import terminated
from harness.pipeline.timing import phase
from harness.pipeline.warnings_capture import captured_warnings


class _OnlyModelInputs:
    """Wrap a collator so extra keys it returns for other trainers (GKD's ``prompts``,
    ``byte_offsets``) do not reach the model's forward; labels are untouched."""

    def __init__(self, collator):
        self.collator = collator

    def __call__(self, examples):
        batch = self.collator(examples)
        return {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "labels")}


def _collator_trainer(model, tok, rows, out_dir, collator, **training_args):
    """SFTTrainer with dataset preparation skipped and the given collator building labels."""
    from datasets import Dataset
    from trl import SFTTrainer

    fields, init = trl_driver.sft_config_fields(), trl_driver.trainer_init_params()
    skip = {"dataset_kwargs": {"skip_prepare_dataset": True}} if "dataset_kwargs" in fields | init else {}
    if not fields and "dataset_text_field" in init:  # 0.8 refuses packing=False without one, even when skipping
        skip["dataset_text_field"] = "text"
    args, options = trl_driver.build_config(out_dir, skip, None, remove_unused_columns=False, **training_args)
    return SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), data_collator=collator,
                      **options, **{trl_driver.tokenizer_kwarg(): tok})


class ChatMLCollatorPath(PathAdapter):
    path = "chatml_collator"
    shapes = ("conversation",)
    needs_final_assistant = True
    description = "DataCollatorForChatML on a `messages` row (trains the final assistant message)"

    @staticmethod
    def collator_class():
        return trl_driver.chatml_collator_class()

    def available(self):
        if self.collator_class() is None:
            return NotApplicable("this TRL has no DataCollatorForChatML (added in 0.11.0)")
        return None

    def row(self, case, lt):
        return {"messages": case.conversation}

    def make_trainer(self, model, tok, rows, out_dir, max_length, **training_args):
        """SFTTrainer training through this collator (used by the training check)."""
        kwargs = {"tokenizer": tok} | ({"max_length": max_length} if max_length else {})
        return _collator_trainer(model, tok, rows, out_dir, _OnlyModelInputs(self.collator_class()(**kwargs)),
                                 **training_args)

    def encode_group(self, lt, cases, max_length):
        cls = self.collator_class()
        out = {}
        with lent_tokenizer(lt) as tok, captured_warnings() as seen, frozen_clock():
            kwargs = {"tokenizer": tok}
            if max_length is not None:
                kwargs["max_length"] = max_length
            collator = cls(**kwargs)
            for case in cases:
                mark = seen.mark()
                with phase("collate"):
                    items = [{"messages": case.conversation}]
                    batch = collator(items if self.without_neighbour else [*items, neighbour_case(case)])
                    ids, labels, att = row_of_batch(batch, 0)
                out[case.id] = self.make_encoding(lt, case, "last_assistant", ids, labels, att, seen.since(mark),
                                                  tok)
                out[case.id].signs += chatml_collator_signs(tok, case.conversation)
        return out

    def batch_collator(self, lt, tok, case, neighbours):
        cls = self.collator_class()
        items = [{"messages": list(case.conversation)}, *neighbours]
        kwargs = {"max_length": case.max_length} if case.max_length is not None else {}

        def collate(order):
            with frozen_clock():  # built per call: it reads the tokenizer's padding side when created
                return cls(tokenizer=tok, **kwargs)([items[k] for k in order])
        return collate


class CompletionOnlyCollatorPath(PathAdapter):
    path = "completion_only_collator"
    shapes = ("string_pc", "conversation")
    needs_final_assistant = True
    description = "DataCollatorForCompletionOnlyLM(response_template) on tokenized text"

    @staticmethod
    def collator_class():
        return trl_driver.completion_only_collator_class()

    def available(self):
        if self.collator_class() is None:
            return NotApplicable("this TRL has no DataCollatorForCompletionOnlyLM (removed in 0.20.0, PR #3704)")
        return None

    def accepts(self, case, lt):
        reason = super().accepts(case, lt)
        if reason is None and case.shape == "string_pc" and not case.response_template:
            return NotApplicable(f"case {case.id} gives no response_template for string data")
        return reason

    def row(self, case, lt):
        text, template = self.texts_and_template(case, lt)
        return {"text": text, "response_template": template}

    def make_trainer(self, model, tok, rows, out_dir, max_length, **training_args):
        """SFTTrainer on the text column with this collator masking everything before the response template."""
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        collator = self.collator_class()(response_template=rows[0]["response_template"], tokenizer=tok, mlm=False)
        tokenized = [dict(tok(r["text"], add_special_tokens=False)) for r in rows]
        return _collator_trainer(model, tok, tokenized, out_dir, _OnlyModelInputs(collator), **training_args)

    @staticmethod
    def texts_and_template(case, lt) -> tuple[str, str]:
        """The rendered text and the response template a user would pass for this case."""
        tok = lt.tokenizer
        if case.shape == "string_pc":
            return case.prompt + terminated(case.completion, tok.eos_token or ""), case.response_template
        with frozen_clock():
            full = tok.apply_chat_template(case.conversation, tokenize=False)
            before = tok.apply_chat_template(case.prompt_messages, tokenize=False)
            with_gen = tok.apply_chat_template(case.prompt_messages, tokenize=False, add_generation_prompt=True)
        template = with_gen[len(before):] if with_gen.startswith(before) else ""
        if not template.strip():
            raise ValueError(f"chat template of {lt.id} has no generation prompt to use as response_template")
        return full, template

    @staticmethod
    def neighbour_text(tok, case, neighbour: dict) -> str:
        """A neighbour row rendered as the case is: chat template, or prompt + completion + EOS."""
        if case.shape == "conversation":
            with frozen_clock():
                return tok.apply_chat_template(neighbour["messages"], tokenize=False)
        return neighbour["prompt"] + terminated(neighbour["completion"], tok.eos_token or "")

    @staticmethod
    def tokenized(tok, case, texts: list[str], max_length: int | None) -> list[dict]:
        """The collator's input rows: each text tokenized as SFTTrainer's text path did (special tokens
        only for plain text; a rendered chat has its own), cut at ``max_length``."""
        encoded = [tok(t, add_special_tokens=case.shape != "conversation", truncation=max_length is not None,
                       max_length=max_length) for t in texts]
        return [{k: e[k] for k in ("input_ids", "attention_mask")} for e in encoded]

    def encode_group(self, lt, cases, max_length):
        cls = self.collator_class()
        out = {}
        with lent_tokenizer(lt) as tok, captured_warnings() as seen, frozen_clock():
            if tok.pad_token is None:  # what every DataCollatorForCompletionOnlyLM tutorial does
                tok.pad_token = tok.eos_token
            for case in cases:
                text, template = self.texts_and_template(case, lt)
                texts = [text] + ([] if self.without_neighbour else [self.neighbour_text(tok, case, neighbour_case(case))])
                items = self.tokenized(tok, case, texts, max_length)
                mark = seen.mark()
                with phase("collate"):
                    collator = cls(response_template=template, tokenizer=tok, mlm=False)
                    ids, labels, att = row_of_batch(collator(items), 0)
                out[case.id] = self.make_encoding(lt, case, "completion", ids, labels, att, seen.since(mark), tok)
                out[case.id].signs += response_template_signs(ids, template, tok)
        return out

    def batch_collator(self, lt, tok, case, neighbours):
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        text, template = self.texts_and_template(case, lt)
        texts = [text] + [self.neighbour_text(tok, case, n) for n in neighbours]
        items = self.tokenized(tok, case, texts, case.max_length)
        cls = self.collator_class()
        return lambda order: cls(response_template=template, tokenizer=tok, mlm=False)([items[k] for k in order])


def response_template_signs(ids: list[int], template: str, tok) -> list[str]:
    """``response_template_not_in_row``: the ids of ``template`` encoded alone, as DataCollatorForCompletionOnlyLM
    encodes a string response template (no special tokens, no left context), are no contiguous run of the row's
    ids, so the collator cannot find where the answer starts (#598)."""
    wanted = list(tok.encode(template, add_special_tokens=False))
    ids = [int(i) for i in ids]
    found = any(ids[k:k + len(wanted)] == wanted for k in range(len(ids) - len(wanted) + 1))
    return [] if found or not wanted else ["response_template_not_in_row"]


def chatml_collator_signs(tok, messages: list) -> list[str]:
    """``prompt_render_not_prefix`` for DataCollatorForChatML, which finds where the answer starts from
    ``messages[:-1]`` rendered with ``add_generation_prompt=True``: the sign holds when those ids are no prefix of
    the whole conversation's (a generation prompt the conversation lacks, such as ``<think>\\n``, or a preamble
    written only with it). None where the template refuses either render."""
    from harness.adapters.sft_trainer import prompt_render_not_prefix

    split = prompt_render_not_prefix(tok, list(messages[:-1]), list(messages), {"add_generation_prompt": True})
    return ["prompt_render_not_prefix"] if split else []
