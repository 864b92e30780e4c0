"""Path adapters, one per SFT data path id (docs/interpreting.md, loss scopes)."""

from __future__ import annotations

from harness.adapters.base import PathAdapter
from harness.adapters.collators import ChatMLCollatorPath, CompletionOnlyCollatorPath
from harness.adapters.sft_trainer import (
    AssistantOnlyLossPath,
    CompletionOnlyLossPath,
    ConversationalPromptCompletionPath,
    MessagesPath,
    PromptCompletionPath,
    TextPath,
)
from harness.schemas.path_ids import PATH_IDS

ADAPTERS: dict[str, PathAdapter] = {
    a.path: a
    for a in (
        TextPath(), PromptCompletionPath(), ConversationalPromptCompletionPath(), MessagesPath(),
        CompletionOnlyCollatorPath(), ChatMLCollatorPath(), CompletionOnlyLossPath(), AssistantOnlyLossPath(),
    )
}
PATHS = tuple(ADAPTERS)
assert PATHS == PATH_IDS, "harness/schemas/path_ids.py and the adapters disagree"


def fits(path: str, case) -> bool:
    """Whether the suite runs ``case`` on ``path`` at all, by data alone: the path takes the case's shape and
    the case does not restrict itself to other paths (conformance/conftest.py collects these combinations,
    and they are the snapshots ``sft-conformance lint`` expects)."""
    return case.shape in get(path).shapes and case.allows_path(path)


def get(path: str) -> PathAdapter:
    try:
        return ADAPTERS[path]
    except KeyError:
        raise KeyError(f"unknown path {path!r}; known paths: {', '.join(PATHS)}") from None
