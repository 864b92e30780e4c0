"""A kept SFTTrainer preparing a later group gives exactly what a new trainer gives (``trainer_reuse``)."""

from __future__ import annotations

import copy
import logging

import pytest

from harness import adapters
from harness.adapters import trainer_reuse
from harness.adapters.trainer_reuse import TrainerReuse
from harness.pipeline.cases import load_cases
from harness.pipeline.encoding import Encoding
from harness.tokenizers import registry

pytestmark = pytest.mark.skipif(not trainer_reuse.supported(),
                                reason="this TRL has no SFTTrainer._prepare_dataset with the 0.15+ parameters")


def _encode(path: str, tid: str, reuse: bool, monkeypatch) -> tuple[dict, int]:
    adapter = copy.copy(adapters.get(path))
    adapter._reuse = TrainerReuse()
    with monkeypatch.context() as m:
        if not reuse:
            m.setattr(TrainerReuse, "prepare", lambda self, *a, **k: None)
        out = adapter.encode(registry.load(tid), load_cases())
    table = {k: (v.input_ids, v.labels, v.attention_mask, v.refused, v.dropped, v.warnings, v.signs, v.provenance)
             if isinstance(v, Encoding) else v.reason for k, v in out.items()}
    return table, adapter._reuse.reused


@pytest.mark.parametrize(("path", "tid"), [("messages", "mistral-v3"), ("prompt_completion", "qwen2.5"),
                                           ("completion_only_loss", "synthetic-no-pad")])
def test_a_kept_trainer_prepares_later_groups_as_a_new_trainer_would(path, tid, monkeypatch):
    """Tokenizers without a pad token (TRL sets one at construction), truncation groups, tool columns:
    every encoding, warning and signature is the same with and without reuse, and reuse did happen."""
    fresh, none = _encode(path, tid, False, monkeypatch)
    reused, count = _encode(path, tid, True, monkeypatch)
    assert none == 0
    assert count > 0
    assert reused == fresh


def test_a_construction_that_warns_outside_dataset_preparation_is_not_reused(monkeypatch):
    """A warning of the construction belongs to every group's rows; a reused group would not see it, so a
    trainer whose construction warned is never kept (here ``Trainer.__init__`` made to warn)."""
    import transformers

    real_init = transformers.Trainer.__init__

    def warning_init(self, *args, **kwargs):
        logging.getLogger("transformers").warning("a warning of the construction itself")
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(transformers.Trainer, "__init__", warning_init)
    table, count = _encode("messages", "qwen2.5", True, monkeypatch)
    assert count == 0
    assert all("a warning of the construction itself" in v[5] for v in table.values()
               if isinstance(v, tuple) and v[0] is not None)


def test_a_trainer_that_changes_the_prepared_rows_after_preparing_is_not_reused(monkeypatch):
    """If the construction changed the dataset after ``_prepare_dataset`` returned it (a step a later group
    would miss), its trainer is not kept."""
    import transformers

    real_init = transformers.Trainer.__init__

    def changing_init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        self.train_dataset = self.train_dataset.select(range(len(self.train_dataset)))

    monkeypatch.setattr(transformers.Trainer, "__init__", changing_init)
    _, count = _encode("messages", "qwen2.5", True, monkeypatch)
    assert count == 0
