"""One SFTTrainer per tokenizer, path and column set, whose dataset preparation runs again for each group.

A path's cases go through TRL in groups: one per ``max_length`` and data shape, one per set of extra
columns (``tools``, ``chat_template_kwargs``), and the halves of a group TRL refused. Building an
``SFTTrainer`` for each group spent a third of a run outside dataset preparation (``Trainer.__init__``,
the model copy). From 0.15, ``SFTTrainer.__init__`` prepares its dataset with one call,
``self._prepare_dataset(dataset, processing_class, args, packing, formatting_func, dataset_name)``; a later
group of the same kind is prepared by making that same call on the trainer built for an earlier one, with
the later group's rows and the arguments ``__init__`` passed, its ``max_length`` changed. That is TRL's own
preparation code, called as ``__init__`` calls it; the collator is the trainer's own.

A built trainer is kept for reuse only when nothing else in its construction could depend on the group
(each condition is checked on the build, not assumed from a release number):

- the installed ``SFTTrainer`` defines ``_prepare_dataset`` with exactly those parameters (0.15 on), and
  its ``__init__`` called it once, with ``args`` carrying the length the options asked for, and kept what it
  returned as ``train_dataset`` (no step after it changes the prepared rows);
- the later group has the same tokenizer object, in the same state (special tokens, chat template, sides)
  as when the trainer was built, the same options and the same columns: ``__init__`` decides completion-only
  loss, conversational and vision data from the first row's columns;
- packing and padding-free are off (1.x warns at construction when padding-free meets a ``max_length``);
- the construction logged or warned nothing outside ``_prepare_dataset`` (such a warning would belong to
  every group, and a reused group would not see it), and what it set on the tokenizer (special tokens, sides,
  template; 1.x sets ``pad_token = eos_token`` on a tokenizer without one) can be set again: a reused group's
  tokenizer is given the state the construction's had when it prepared, and the state it left after;
- the trainer's collator holds no ``max_length`` other than the later group's (1.0-1.7 give it
  ``args.max_length``).

Anything else (older releases, refusals, a user's configuration that changes the tokenizer) builds a new
trainer, as before.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import itertools
import json

from harness.adapters import trl_driver

PREPARE_PARAMETERS = ("self", "dataset", "processing_class", "args", "packing", "formatting_func", "dataset_name")
_NO_LENGTH = object()


@functools.lru_cache(maxsize=1)
def supported() -> bool:
    """Whether the installed SFTTrainer prepares its dataset in ``_prepare_dataset`` with the 0.15+ parameters."""
    try:
        from trl import SFTTrainer
    except ImportError:
        return False
    method = SFTTrainer.__dict__.get("_prepare_dataset")
    if method is None:
        return False
    try:
        return tuple(inspect.signature(method).parameters) == PREPARE_PARAMETERS
    except (TypeError, ValueError):
        return False


STATE_FIELDS = ("bos_token", "eos_token", "pad_token", "unk_token", "padding_side", "truncation_side", "chat_template")


def tokenizer_state(tok) -> tuple:
    """What of the tokenizer's Python state dataset preparation reads and a construction might set
    (``STATE_FIELDS``; a chat template that is not a string is kept as its JSON)."""
    values = [getattr(tok, name, None) for name in STATE_FIELDS]
    values[-1] = values[-1] if values[-1] is None or isinstance(values[-1], str) else json.dumps(values[-1])
    return tuple(values)


def settable(before: tuple, after: tuple) -> bool:
    """Whether ``set_state`` can take a tokenizer from ``before`` to ``after``: only to values, not back to
    None, and a chat template only as a string."""
    changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
    return all(after[i] is not None and (STATE_FIELDS[i] != "chat_template" or isinstance(after[i], str))
               for i in changed)


def set_state(tok, state: tuple) -> None:
    """Set what differs from ``state`` the way TRL sets it (``tok.pad_token = tok.eos_token``)."""
    for name, value in zip(STATE_FIELDS, state):
        if getattr(tok, name, None) != value and value is not None:
            setattr(tok, name, value)


class Reprepared:
    """A trainer built for an earlier group, holding this group's dataset as prepared by its ``_prepare_dataset``."""

    def __init__(self, trainer, train_dataset):
        self._trainer = trainer
        self.train_dataset = train_dataset

    def __getattr__(self, name):
        return getattr(self._trainer, name)


class _Kept:
    """A trainer and the tokenizer states of its construction: before it, when it called ``_prepare_dataset``,
    and after it."""

    def __init__(self, trainer, call: inspect.BoundArguments, states: tuple[tuple, tuple, tuple]):
        self.trainer, self.call = trainer, call
        self.before, self.preparing, self.after = states


class TrainerReuse:
    """The trainers a path adapter keeps for reuse, for the tokenizer object it last saw."""

    def __init__(self):
        self._tok = None
        self._kept: dict[tuple, _Kept] = {}
        self.reused = 0

    @staticmethod
    def _rows_key(rows: list[dict]) -> tuple:
        return tuple(sorted(rows[0])) if rows else ()

    @staticmethod
    def _options_key(options: dict) -> str:
        return json.dumps(options, sort_keys=True, default=repr)

    def prepare(self, tok, rows: list[dict], options: dict, max_length: int | None, out_dir: str):
        """A ``Reprepared`` trainer for ``rows``, or None when no kept trainer may prepare them."""
        if tok is not self._tok or not rows:
            return None
        kept = self._kept.get((self._rows_key(rows), self._options_key(options)))
        if kept is None or tokenizer_state(tok) != kept.before:
            return None
        args, _ = trl_driver.build_config(out_dir, options, max_length)
        field = trl_driver.length_field()
        length = getattr(args, field, _NO_LENGTH)
        held = getattr(kept.trainer.data_collator, "max_length", None)
        if length is _NO_LENGTH or (held is not None and held != length):
            return None
        from datasets import Dataset

        call_args = copy.copy(kept.call.arguments["args"])
        setattr(call_args, field, length)
        arguments = {**kept.call.arguments, "dataset": Dataset.from_list(rows), "args": call_args}
        arguments.pop("self", None)
        set_state(tok, kept.preparing)  # what the construction had set when it prepared (e.g. pad = eos)
        prepared = type(kept.trainer)._prepare_dataset(kept.trainer, **arguments)
        set_state(tok, kept.after)
        self.reused += 1
        return Reprepared(kept.trainer, prepared)

    @contextlib.contextmanager
    def watch(self, seen):
        """Around one construction: records ``_prepare_dataset``'s calls, what they returned and the warnings
        before and after each; yields the list of records (``keep`` reads it)."""
        calls: list[dict] = []
        if seen is None or not supported():
            yield calls
            return
        from trl import SFTTrainer

        original = SFTTrainer.__dict__["_prepare_dataset"]
        signature = inspect.signature(original)

        @functools.wraps(original)
        def watched(*args, **kwargs):
            call = signature.bind(*args, **kwargs)
            record = {"call": call, "before": seen.mark(), "state": tokenizer_state(call.arguments["processing_class"])}
            calls.append(record)
            record["result"] = original(*args, **kwargs)
            record["after"] = seen.mark()
            return record["result"]

        SFTTrainer._prepare_dataset = watched
        try:
            yield calls
        finally:
            SFTTrainer._prepare_dataset = original

    def keep(self, trainer, calls: list[dict], seen, tok, state_before: tuple, rows: list[dict], options: dict,
             max_length: int | None, out_dir: str, mark_before: tuple) -> None:
        """Keep ``trainer`` for later groups of the same kind if its construction passed every check."""
        if tok is not self._tok:
            self._tok, self._kept = tok, {}
        key = (self._rows_key(rows), self._options_key(options))
        self._kept.pop(key, None)
        if (len(calls) != 1 or "result" not in calls[0] or options.get("packing") or options.get("padding_free")
                or trainer.train_dataset is not calls[0]["result"]):
            return
        call = calls[0]["call"]
        states = (state_before, calls[0]["state"], tokenizer_state(tok))
        if call.arguments.get("processing_class") is not tok or not all(
                settable(*p) for p in itertools.pairwise(states)):
            return
        field = trl_driver.length_field()
        args, _ = trl_driver.build_config(out_dir, options, max_length)
        if getattr(call.arguments.get("args"), field, _NO_LENGTH) != getattr(args, field, _NO_LENGTH):
            return  # __init__ changed the length before preparing: a later length could not be set the same way
        before, after, end = calls[0]["before"], calls[0]["after"], seen.mark()
        outside = seen.since(mark_before, before) + seen.since(after, end)  # the construction's own
        if outside:
            return
        self._kept[key] = _Kept(trainer, call, states)

