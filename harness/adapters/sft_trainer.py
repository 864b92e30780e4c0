"""Paths driven through ``SFTTrainer``'s own dataset preparation and default data collator.

For each (tokenizer, path, max_length) group one trainer is built over a dataset holding
every case plus one longer neighbour row; each case's processed row is then collated with
the neighbour by ``trainer.data_collator``, exactly what a training step would receive.

TRL functions driven (newest line, 1.x): ``SFTTrainer.__init__`` -> ``SFTTrainer._prepare_dataset``
(add EOS, tokenize, build labels from ``completion_mask``/``assistant_masks``, truncate) and
``trl.trainer.sft_trainer.DataCollatorForLanguageModeling``. Options are set only when the
installed ``SFTConfig`` has the field (feature detection).
"""

from __future__ import annotations

import dataclasses
import functools
import tempfile
from typing import ClassVar

from conformance.rules.drop import trainable_within
from harness.adapters import trl_driver
from harness.adapters.base import PathAdapter, error_text
from harness.adapters.datasets_patch import without_dataset_fingerprints
from harness.adapters.lending import lent_tokenizer
from harness.adapters.neighbours import neighbour_case
from harness.adapters.tiny_model import tiny_model
from harness.adapters.trainer_reuse import TrainerReuse, tokenizer_state
from harness.adapters.trl_driver import (
    completion_scope,
    model_inputs,
    pad_with_eos_where_needed,
    row_of_batch,
    sft_config_fields,
    trainer_init_params,
)
from harness.pipeline.cases import Case
from harness.pipeline.clock import frozen_clock
from harness.pipeline.encoding import NotApplicable
from harness.pipeline.invariance import PackedBatch
from harness.pipeline.timing import phase
from harness.pipeline.warnings_capture import captured_warnings, quiet_transformers
from harness.tokenizers.registry import LoadedTokenizer

CASE_COLUMN = "sft_conformance_case_index"
REMOVED = "SFTTrainer removed the example during dataset preparation"


class RowsRemoved(RuntimeError):
    """TRL removed rows of a group and keeps no index column: the cases are prepared one by one."""

class SFTTrainerPath(PathAdapter):
    """Shared driver; subclasses say how a case becomes a dataset row and which options to set."""

    config: ClassVar[dict] = {}
    required_fields: tuple[str, ...] = ()
    # Whether this TRL keeps an extra index column through dataset preparation: learned on the first
    # successful build, so later builds (and refusals) are not tried both ways. Per adapter instance;
    # the runner's Session holds its own instances.
    index_column_kept: bool | None = None

    def available(self) -> NotApplicable | None:
        fields = sft_config_fields()
        if not fields and "dataset_text_field" not in trainer_init_params():
            return NotApplicable("this TRL has neither SFTConfig nor SFTTrainer dataset options")
        missing = [f for f in self.required_fields if f not in fields]
        if missing:
            return NotApplicable(f"SFTConfig of this TRL has no {', '.join(missing)}"
                                 if fields else f"this TRL has no SFTConfig (so no {', '.join(missing)})")
        return None

    def row(self, case: Case, lt: LoadedTokenizer) -> dict:
        raise NotImplementedError

    def neighbour_row(self, case: Case, lt: LoadedTokenizer) -> dict:
        fields = _as_case_fields(neighbour_case(case))
        return self.row(dataclasses.replace(case, id="neighbour", paths=None, **fields), lt)

    def scope(self, trainer) -> str:
        return "full"

    def columns(self, case: Case) -> dict:
        """The row's ``tools`` / ``chat_template_kwargs`` columns, which TRL passes to the chat template."""
        return case.extra_columns

    def options(self, modifier: dict | None = None) -> dict:
        """The SFTConfig fields this path sets (plus a modifier's)."""
        return {**self.config, **(modifier or {})}

    def make_trainer(self, model, tok, rows: list[dict], out_dir: str, max_length: int | None,
                     modifier: dict | None = None, **training_args):
        """The SFTTrainer a user would build for this path, on ``rows`` (dataset dicts from ``row``)."""
        return trl_driver.make_trainer(model, tok, rows, out_dir, self.options(modifier), max_length, **training_args)

    def encode_group(self, lt, cases, max_length):
        kinds = {}  # cases whose rows have different columns go into different datasets: `Dataset.from_list`
        for case in cases:  # takes its columns from the first row, so a later row's `tools` would vanish
            kinds.setdefault(tuple(sorted(self.columns(case))), []).append(case)
        if len(kinds) > 1:
            return {k: v for group in kinds.values() for k, v in self.encode_group(lt, group, max_length).items()}
        rows = []
        for i, case in enumerate(cases):  # each case, then its neighbour under index -(i + 1)
            rows.append({**self.row(case, lt), **self.columns(case), CASE_COLUMN: i})
            if not self.without_neighbour:
                rows.append({**self.neighbour_row(case, lt), **self.columns(case), CASE_COLUMN: -(i + 1)})
        with (lent_tokenizer(lt) as tok, tempfile.TemporaryDirectory() as tmp, captured_warnings() as seen,
              frozen_clock()):
            trainer, index = self._prepare(tok, rows, tmp, max_length, seen)
            prepared = model_inputs(trainer.train_dataset)
            scope = self.scope(trainer)
            out = {}
            for i, case in enumerate(cases):
                if i not in index:
                    out[case.id] = self.dropped(lt, case, scope, seen, tok)
                    continue
                with phase("collate"):
                    batch_rows = [prepared[index[j]] for j in (i, -(i + 1)) if j in index]
                    ids, labels, att = row_of_batch(trainer.data_collator(batch_rows), 0)
                out[case.id] = self.make_encoding(lt, case, scope, ids, labels, att, seen, tok)
                if -(i + 1) not in index and not self.without_neighbour:
                    out[case.id].neighbour_dropped = REMOVED
                    ref = self.neighbour_reference(lt, case)
                    out[case.id].neighbour_trainable = None if ref is None else len(trainable_within(ref, scope))
        return out

    def neighbour_reference(self, lt, case):
        """The oracle's reference for the case's longer neighbour row (what DROP-001/DROP-002 judge a removed
        neighbour by, through ``trainable_within``); None when the oracle cannot render it."""
        from harness.pipeline.oracle import OracleError, oracle_for, reference_case

        fields = _as_case_fields(neighbour_case(case))
        neighbour = reference_case(dataclasses.replace(case, id=f"{case.id}~neighbour", paths=None, **fields),
                                   self.reference_view(lt, case))
        try:
            return oracle_for(neighbour, lt).reference(case.max_length)
        except OracleError:
            return None

    def batch_collator(self, lt, tok, case, neighbours):
        rows = [{**self.row(case, lt), **self.columns(case), CASE_COLUMN: 0}]
        for k, n in enumerate(neighbours, start=1):
            rows.append({**self.row(dataclasses.replace(case, id=f"n{k}", paths=None, **_as_case_fields(n)), lt),
                         **self.columns(case), CASE_COLUMN: k})
        with tempfile.TemporaryDirectory() as tmp, frozen_clock():
            trainer, index = self._prepare(tok, rows, tmp, case.max_length)
        if len(index) != len(rows):
            return NotApplicable("SFTTrainer dropped the case or a neighbour during preparation")
        prepared = model_inputs(trainer.train_dataset)
        items = [prepared[index[k]] for k in range(len(rows))]
        return lambda order: trainer.data_collator([items[k] for k in order])

    def modifier_available(self, modifier: str) -> NotApplicable | None:
        options = self.modifier_options(modifier)
        return options if isinstance(options, NotApplicable) else None

    def modifier_options(self, modifier: str) -> dict | NotApplicable:
        """The ``SFTConfig`` options that turn ``modifier`` on in the installed TRL, or why it has none."""
        missing = self.available()
        if missing:
            return missing
        mod = MODIFIERS[modifier]
        if mod.paths and self.path not in mod.paths:
            return NotApplicable(f"{modifier} applies to path(s) {', '.join(mod.paths)} only")
        known = sft_config_fields() or trainer_init_params()
        absent = [k for k in mod.options if k not in known]
        if absent:
            return NotApplicable(f"SFTConfig of this TRL has no {', '.join(absent)}")
        options = dict(mod.options)
        if mod.strategies:
            offered = packing_strategies()
            name = next((n for n in mod.strategies if n in offered), None)
            if name is None:
                return NotApplicable(f"this TRL packs with {', '.join(sorted(offered)) or 'nothing'}, "
                                     f"not {' / '.join(mod.strategies)}")
            if "packing_strategy" in known:
                options["packing_strategy"] = name
        return options

    def modifier_batches(self, lt, cases: list[Case], modifier: str) -> list[PackedBatch] | NotApplicable:
        """Every case prepared and collated with a modifier (``MODIFIERS``), one batch per data shape,
        cut back into pieces at the collator's ``position_ids`` restarts (``split_at_position_restarts``).

        All cases of a shape go into one dataset and one batch, as in training. For a modifier that
        keeps examples whole, ``max_length`` is large so that each one can be found whole; one that
        cuts them gets a short ``max_length`` so that every example is cut somewhere.
        """
        options = self.modifier_options(modifier)
        if isinstance(options, NotApplicable):
            return options
        mod = MODIFIERS[modifier]
        max_length = CUT_LENGTH if mod.cuts else 4096
        if not options.get("packing"):  # padding-free without packing cannot cut; 1.x refuses a max_length
            options[trl_driver.length_field()] = None
            max_length = None
        batches = []
        kind = lambda c: (c.shape, tuple(sorted(self.columns(c))))
        for shape in dict.fromkeys(map(kind, cases)):  # a dataset holds one data shape and one column set
            group = [c for c in cases if kind(c) == shape]
            rows = [{**self.row(c, lt), **self.columns(c)} for c in group]
            if "dataset_text_field" in options:  # the user's own column name instead of "text"
                rows = [{options["dataset_text_field"]: r["text"]} for r in rows]
            with (without_dataset_fingerprints(), quiet_transformers(), lent_tokenizer(lt) as tok,
                  tempfile.TemporaryDirectory() as tmp, captured_warnings(), frozen_clock()):
                pad_with_eos_where_needed(tok)
                try:
                    trainer = self.make_trainer(tiny_model(tok), tok, rows, tmp, max_length, options)
                    prepared = model_inputs(trainer.train_dataset)
                    batch = trainer.data_collator([prepared[k] for k in range(len(prepared))])
                except Exception as exc:  # noqa: BLE001 - a refusal of the modifier is reported, not raised
                    return NotApplicable(f"TRL raised {error_text(exc)[:300]}")
                separator = tok.eos_token_id if mod.separates_with_eos else None
            batches.append(PackedBatch([c.id for c in group], split_at_position_restarts(batch), packed_rows(batch),
                                       cuts=mod.cuts, spans=mod.spans, separator=separator))
        return batches

    def _prepare(self, tok, rows, tmp, max_length, seen=None):
        """Build the trainer; map prepared rows back to cases.

        Newer TRL keeps extra columns, so an index column says which row is which (and which
        were dropped). Older releases detect the data format from the exact column set or
        drop unknown columns; there the rows go in without the index column and are mapped by
        position, which TRL preserves (no shuffling, packing off) when none is dropped.
        See ``pad_with_eos_where_needed`` for tokenizers without a pad token.
        """
        pad_with_eos_where_needed(tok)
        plain = [{k: v for k, v in r.items() if k != CASE_COLUMN} for r in rows]
        modes = {True: (rows,), False: (plain,), None: (rows, plain)}[self.index_column_kept]
        error = None
        for data in modes:
            try:
                with phase("trl_prepare"):
                    trainer = self._trainer_for(tok, data, tmp, max_length, seen)
            except Exception as exc:  # noqa: BLE001 - try the next way a user of this release would do it
                error = exc
                continue
            prepared = trainer.train_dataset
            if CASE_COLUMN in prepared.column_names:
                self.index_column_kept = True
                return trainer, {int(v): k for k, v in enumerate(prepared[CASE_COLUMN])}
            if data is rows:  # the index column was dropped: retry without it to map by position
                continue
            self.index_column_kept = False
            if len(prepared) == len(rows):
                return trainer, {int(r[CASE_COLUMN]): k for k, r in enumerate(rows)}
            if len(rows) == 2:  # one case and its neighbour: prepare the case alone to see which was removed
                return self._prepare(tok, rows[:1], tmp, max_length, seen)
            if len(rows) == 1:
                return trainer, {}
            raise RowsRemoved(f"this TRL removed {len(rows) - len(prepared)} of {len(rows)} rows and keeps "
                              "no index column, so each case is prepared alone to see which")
        raise error

    def _trainer_for(self, tok, rows, tmp, max_length, seen):
        """The trainer for ``rows``: a kept one preparing them again (``trainer_reuse``, with the warnings
        ``seen`` of this group), else a new one, kept for later groups when its construction allows it."""
        reuse = self.__dict__.get("_reuse")
        if reuse is None:
            reuse = self._reuse = TrainerReuse()
        options = self.options()
        if seen is not None:
            trainer = reuse.prepare(tok, rows, options, max_length, tmp)
            if trainer is not None:
                return trainer
        state, mark = tokenizer_state(tok), seen.mark() if seen is not None else None
        with reuse.watch(seen) as calls:
            trainer = self.make_trainer(tiny_model(tok), tok, rows, tmp, max_length)
        if seen is not None:
            reuse.keep(trainer, calls, seen, tok, state, rows, options, max_length, tmp, mark)
        return trainer

    def release(self) -> None:
        self.__dict__.pop("_reuse", None)

    def make_encoding(self, lt, case, scope, input_ids, labels, attention_mask, warnings_seen, tok):
        enc = super().make_encoding(lt, case, scope, input_ids, labels, attention_mask, warnings_seen, tok)
        enc.signs = [*enc.signs, *row_signs({**self.row(case, lt), **self.columns(case)}, tok)]
        return enc

    def dropped(self, lt, case, scope, seen, tok=None):
        """The Encoding of a row TRL removed; it keeps the row's own signatures (a fact of the row, whatever
        TRL did with it), so the expectations cover its verdicts as they do a kept row's."""
        from harness.adapters.versions import provenance
        from harness.pipeline.encoding import Encoding

        enc = Encoding(lt.id, self.path, case.id, scope, warnings=list(seen), provenance=provenance(lt),
                       dropped=REMOVED)
        enc.signs = row_signs({**self.row(case, lt), **self.columns(case)}, tok if tok is not None else lt.tokenizer)
        return enc


def row_signs(row: dict, tok) -> list[str]:
    """The signatures (``harness/schemas/expectations.py`` ``SIGNATURES``) of one dataset row (with its
    ``tools`` / ``chat_template_kwargs`` columns), from the row itself: ``divergence_in_prompt`` for string
    prompt/completion rows, ``prompt_render_not_prefix`` for message-list ones, ``text_bos_prepended`` and
    ``text_without_eos`` for ``text`` rows."""
    prompt, completion = row.get("prompt"), row.get("completion")
    if isinstance(prompt, str) and isinstance(completion, str):
        return _string_signs(prompt, completion, tok)
    if isinstance(prompt, (list, tuple)) and isinstance(completion, (list, tuple)):
        return _conversational_signs(row, tok)
    if isinstance(row.get("text"), str):
        return _text_signs(row["text"], tok)
    return []


def _text_signs(text: str, tok) -> list[str]:
    """What SFTTrainer adds to a ``text`` row on its own: ``text_bos_prepended`` when the tokenizer, called as
    TRL calls it (``tokenizer(text=...)``, special tokens on), puts its BOS before the text's own tokens (a
    second one when a chat template already wrote it); ``text_without_eos`` when the text does not end with
    ``eos_token`` (from 0.17 ``add_eos`` appends it, also after a template's own end of turn; before 0.16 plain
    text stays without one)."""
    signs = []
    plain = list(tok(text=text, add_special_tokens=False)["input_ids"])
    special = list(tok(text=text)["input_ids"])
    if tok.bos_token_id is not None and special[:1] == [tok.bos_token_id] and special[1:len(plain) + 1] == plain:
        signs.append("text_bos_prepended")
    if tok.eos_token and not text.endswith(tok.eos_token):
        signs.append("text_without_eos")
    return signs


def _string_signs(prompt: str, completion: str, tok) -> list[str]:
    """``divergence_in_prompt``: SFTTrainer (1.14.2+) tokenizes ``prompt`` and ``prompt + completion``
    (``tokenizer(text=...)``) and starts the completion at their common prefix; when a merge across the join
    makes them diverge on a token made of prompt characters only (its character offsets end inside the
    prompt), that prompt token is trained. A tokenizer without offsets gives no sign (the FAIL stays shown)."""
    prompt_ids = list(tok(text=prompt)["input_ids"])
    try:
        joined = tok(text=prompt + completion, return_offsets_mapping=True)
    except (NotImplementedError, ValueError, TypeError):  # slow tokenizers have no offsets
        return []
    joined_ids, offsets = list(joined["input_ids"]), joined.get("offset_mapping")
    start = 0  # TRL's common_prefix_length
    while start < min(len(prompt_ids), len(joined_ids)) and prompt_ids[start] == joined_ids[start]:
        start += 1
    if start >= len(prompt_ids) or start >= len(joined_ids) or offsets is None:
        return []  # the prompt's tokens are a prefix: the completion starts after the prompt
    begin, end = offsets[start]
    return ["divergence_in_prompt"] if begin < end <= len(prompt) else []


def _conversational_signs(row: dict, tok) -> list[str]:
    """``prompt_render_not_prefix``: SFTTrainer (0.19-1.x) renders a message-list row twice with the chat
    template, the prompt messages alone (with ``add_generation_prompt=True`` from 0.24, PR #4201) and the
    prompt + completion messages, with the row's ``tools`` and ``chat_template_kwargs``, and takes the first
    render's length (to 1.14.1) or the two token lists' common prefix (1.14.2+) as where the completion
    starts. The sign holds when the prompt's ids are not a prefix of the whole conversation's, as a template
    makes them when it renders the prompt alone differently (a generation prompt the conversation lacks, a
    system message or tool-turn end that depends on what follows). None where this TRL does not tokenize
    message lists itself (``_prompt_render_kwargs``) or the template refuses the row."""
    import json

    how = _prompt_render_kwargs()
    if how is None or not getattr(tok, "chat_template", None):
        return []
    tools = row.get("tools")
    kwargs = {"tools": json.loads(tools) if isinstance(tools, str) else tools, **(row.get("chat_template_kwargs") or {})}
    prompt, conversation = list(row["prompt"]), list(row["prompt"]) + list(row["completion"])
    return ["prompt_render_not_prefix"] if prompt_render_not_prefix(tok, prompt, conversation, how, **kwargs) else []


def prompt_render_not_prefix(tok, prompt: list, conversation: list, prompt_kwargs: dict, **kwargs) -> bool:
    """Whether the ids of ``prompt`` rendered with ``prompt_kwargs`` (and ``kwargs``) are no prefix of the ids of
    ``conversation`` rendered with ``kwargs``; False where the template refuses either render (TRL then refuses
    the row too, and there is no sign)."""
    try:
        prompt_ids = _chat_ids(tok, prompt, **prompt_kwargs, **kwargs)
        full_ids = _chat_ids(tok, conversation, **kwargs)
    except Exception:  # noqa: BLE001 - a template that refuses the render
        return False
    return full_ids[:len(prompt_ids)] != prompt_ids


def _chat_ids(tok, messages: list, **kwargs) -> list[int]:
    """The token ids of ``messages`` rendered by the chat template as SFTTrainer asks for them
    (``tokenize=True``; the ``input_ids`` of a dict, one row of a batch)."""
    out = tok.apply_chat_template(messages, tokenize=True, return_dict=True, **kwargs)
    ids = out["input_ids"] if hasattr(out, "keys") else out
    ids = list(ids)
    return list(ids[0]) if ids and isinstance(ids[0], list) else ids


@functools.lru_cache(maxsize=1)
def _prompt_render_kwargs() -> dict | None:
    """How the installed SFTTrainer renders a conversational row's prompt alone, found in its own source
    (feature detection): ``{"add_generation_prompt": True}`` from 0.24 (PR #4201), ``{}`` on 0.19-0.23 (the
    prompt rendered as a closed conversation); None where it does not tokenize message lists itself (to 0.18
    the rows are rendered to text first and the prompt cut at the common character prefix)."""
    import inspect

    try:
        import trl.trainer.sft_trainer as sft_module

        source = inspect.getsource(sft_module)
    except (ImportError, OSError, TypeError):
        return None
    return prompt_render_kwargs_in(source)


def prompt_render_kwargs_in(source: str) -> dict | None:
    """``_prompt_render_kwargs`` for the text of an ``sft_trainer`` module."""
    import re

    # the prompt's own call (apply_chat_template, or TRL's tokenize / _tokenize helper) on example["prompt"] (0.19-0.24,
    # 1.x) or on a local `prompt` taken from it (0.25-0.29);
    # its arguments run to the next render call (they contain calls of their own: tools=example.get("tools"))
    call = re.search(r'(?:apply_chat_template|\b_?tokenize)\(\s*(?:processing_class,\s*)?(?:example\["prompt"\]|prompt),',
                     source)
    if call is None:
        return None
    following = re.search(r"(?:apply_chat_template|\b_?tokenize)\(", source[call.end():])
    args = source[call.end():call.end() + (following.start() if following else 2000)]
    return {"add_generation_prompt": True} if "add_generation_prompt=True" in args else {}


def _formats_prompt_completion_as_chat(tok) -> bool:
    try:
        import trl.trainer.sft_trainer as sft_module
        from datasets import Dataset
    except ImportError:
        return False
    detect = getattr(sft_module, "get_formatting_func_from_dataset", None)
    if detect is None or not tok.chat_template:
        return False
    try:
        return detect(Dataset.from_list([{"prompt": "a", "completion": "b"}]), tok) is not None
    except Exception:  # noqa: BLE001 - a detector that fails means "not formatted as chat"
        return False


def _as_case_fields(row: dict) -> dict:
    """Neighbour rows come as dataset dicts; turn them into Case fields of the same shape."""
    if "messages" in row:
        return {"messages": tuple(row["messages"]), "prompt": None, "completion": None}
    return {"messages": None, "prompt": row["prompt"], "completion": row["completion"]}


def _render_chat(lt: LoadedTokenizer, case: Case) -> str:
    """The conversation as a user renders it into a ``text`` column: their template, tools and switches."""
    with frozen_clock():
        return lt.tokenizer.apply_chat_template(case.conversation, tokenize=False, **case.render_kwargs)


class TextPath(SFTTrainerPath):
    path = "text"
    shapes = ("string_pc", "conversation")
    config: ClassVar[dict] = {"dataset_text_field": "text"}  # only here: set on other paths it disables format detection (<= 0.11)
    description = "SFTTrainer on a `text` column (conversations are rendered by the user with the chat template first)"

    def row(self, case, lt):
        if case.shape == "string_pc":
            return {"text": case.prompt + case.completion}
        return {"text": _render_chat(lt, case)}

    def columns(self, case):
        return {}  # already rendered into the text


class PromptCompletionPath(SFTTrainerPath):
    path = "prompt_completion"
    shapes = ("string_pc",)
    description = "SFTTrainer on string `prompt`/`completion` columns with default options"

    def row(self, case, lt):
        return {"prompt": case.prompt, "completion": case.completion}

    def reference_view(self, lt, case):
        """Releases whose SFTTrainer calls ``get_formatting_func_from_dataset`` (0.8-0.15) turn a
        ``{prompt, completion}`` dataset into a user/assistant chat when the tokenizer has a template
        (``instructions_formatting_function``, PR #1208); later ones concatenate the strings."""
        if "pc_as_chat" not in lt.memo:  # asked once per tokenizer, not per case
            lt.memo["pc_as_chat"] = _formats_prompt_completion_as_chat(lt.tokenizer)
        return "chat" if lt.memo["pc_as_chat"] else "native"

    def scope(self, trainer):
        return completion_scope(trainer)


def prompt_last_role_guess(case: Case) -> str:
    """Message-list prompts that end in another role than user or assistant: SFTTrainer 0.17.0-0.18.2 renders
    them with TRL's ``apply_chat_template`` (``trl/data_utils.py``), which raises ``Invalid role in the last
    message`` on each such row (782 records on each; none on 0.19.1, 0.20.0, 1.14.0 or 1.16.0), and halving a
    group around them took about eight preparations per tokenizer and path."""
    prompt = case.prompt_messages if case.shape == "conversation" else None
    role = prompt[-1].get("role") if prompt else None
    return f"prompt ends with a {role} message" if role not in (None, "user", "assistant") else ""


class ConversationalPromptCompletionPath(SFTTrainerPath):
    path = "conversational_prompt_completion"
    shapes = ("conversation",)
    needs_final_assistant = True
    description = "SFTTrainer on `prompt`/`completion` message lists with default options"

    def row(self, case, lt):
        return {"prompt": case.prompt_messages, "completion": case.completion_messages}

    def refusal_guess(self, case):
        return prompt_last_role_guess(case)

    def scope(self, trainer):
        return completion_scope(trainer)


class MessagesPath(SFTTrainerPath):
    path = "messages"
    shapes = ("conversation",)
    description = "SFTTrainer on a `messages` column (chat template), default options"

    def row(self, case, lt):
        return {"messages": case.conversation}


class CompletionOnlyLossPath(SFTTrainerPath):
    path = "completion_only_loss"
    shapes = ("string_pc", "conversation")
    needs_final_assistant = True
    required_fields = ("completion_only_loss",)
    config: ClassVar[dict] = {"completion_only_loss": True}
    description = "SFTConfig(completion_only_loss=True) on prompt/completion (strings or message lists)"

    def row(self, case, lt):
        if case.shape == "string_pc":
            return {"prompt": case.prompt, "completion": case.completion}
        return {"prompt": case.prompt_messages, "completion": case.completion_messages}

    def refusal_guess(self, case):
        return prompt_last_role_guess(case)

    def scope(self, trainer):
        return "completion"


class AssistantOnlyLossPath(SFTTrainerPath):
    path = "assistant_only_loss"
    shapes = ("conversation",)
    required_fields = ("assistant_only_loss",)
    config: ClassVar[dict] = {"assistant_only_loss": True}
    description = "SFTConfig(assistant_only_loss=True) on a `messages` column"

    def row(self, case, lt):
        return {"messages": case.conversation}

    def scope(self, trainer):
        return "assistant"


@dataclasses.dataclass(frozen=True)
class Modifier:
    """A way of laying examples out in a batch that users combine with every path; masks must survive it.

    ``strategies``: the names releases gave this packing strategy (the first one the installed TRL
    offers is used, see ``packing_strategies``). ``cuts``: examples are cut into ``max_length``
    pieces; ``spans``: a piece may run across examples, which then attend to each other (wrapped,
    ``ConstantLengthDataset``; bfd_split keeps each example's pieces apart). ``separates_with_eos``: what
    ``ConstantLengthDataset`` does (an EOS after every example; the last chunk shorter than
    ``max_length`` that it does not yield is data lost, judged by MOD-001, not allowed).
    """

    options: dict
    strategies: tuple[str, ...] = ()
    cuts: bool = False
    spans: bool = False
    separates_with_eos: bool = False
    paths: tuple[str, ...] = ()


MODIFIERS: dict[str, Modifier] = {
    "padding_free": Modifier({"padding_free": True}),
    "packing_bfd": Modifier({"packing": True}, strategies=("bfd",)),
    "packing_ffd": Modifier({"packing": True}, strategies=("ffd",)),
    "packing_bfd_split": Modifier({"packing": True}, strategies=("bfd_split", "bfd-requeue"), cuts=True),
    "packing_wrapped": Modifier({"packing": True}, strategies=("wrapped",), cuts=True, spans=True),
    "packing_constant_length": Modifier({"packing": True}, strategies=("constant_length",), cuts=True, spans=True,
                                        separates_with_eos=True),
    "custom_text_field": Modifier({"dataset_text_field": "body"}, paths=("text",)),
}
CUT_LENGTH = 32  # max_length for the modifiers that cut: shorter than almost every golden case


@functools.lru_cache(maxsize=1)
def packing_strategies() -> frozenset[str]:
    """How ``packing=True`` lays examples out in the installed TRL.

    Releases with ``SFTConfig.packing_strategy`` (0.19 on) list their choices in the field's
    metadata or help text. Before it, ``SFTTrainer._prepare_packed_dataloader`` (to 0.13) packs
    through ``ConstantLengthDataset``; otherwise (0.15-0.18) the tokenized dataset is concatenated
    and cut into ``max_length`` chunks, which 0.19 named ``wrapped``.
    """
    import re

    try:
        from trl import SFTTrainer
    except ImportError:
        return frozenset()
    if "packing_strategy" in sft_config_fields():
        from trl import SFTConfig

        meta = next(f for f in dataclasses.fields(SFTConfig) if f.name == "packing_strategy").metadata
        return frozenset(meta.get("choices") or re.findall(r"`'([\w-]+)'`", meta.get("help", "")))
    if hasattr(SFTTrainer, "_prepare_packed_dataloader"):
        return frozenset({"constant_length"})
    if "packing" in sft_config_fields() or "packing" in trainer_init_params():
        return frozenset({"wrapped"})
    return frozenset()


def split_at_position_restarts(batch) -> list[tuple[list[int], list[int]]]:
    """Examples of a padding-free / packed batch: a new one starts where ``position_ids`` is 0."""
    out = []
    positions = batch.get("position_ids")
    for r in range(len(batch["input_ids"])):
        ids, labels, att = row_of_batch(batch, r)
        pos = positions[r].tolist() if positions is not None else list(range(len(ids)))
        current: tuple[list[int], list[int]] | None = None
        for i, lab, a, p in zip(ids, labels, att, pos):
            if not a:
                continue
            if p == 0 or current is None:
                current = ([], [])
                out.append(current)
            current[0].append(i)
            current[1].append(lab)
    return out


def packed_rows(batch) -> list:
    """Each row of a collated batch with what separates its documents: ``position_ids`` and, where
    the collator returns them (1.16: ``cu_seq_lens_q`` for a one-row padding-free batch), the
    explicit sequence boundaries."""
    from conformance.rules import PackedRow

    positions = batch.get("position_ids")
    cu = batch.get("cu_seq_lens_q")
    rows = []
    for r in range(len(batch["input_ids"])):
        ids, labels, att = row_of_batch(batch, r)
        bounds = [int(x) for x in cu.tolist()] if cu is not None and len(batch["input_ids"]) == 1 else None
        rows.append(PackedRow(ids, labels, att, positions[r].tolist() if positions is not None else None, bounds))
    return rows
