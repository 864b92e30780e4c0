"""Tensor snapshots: one readable text file per (tokenizer, path, case) under ``snapshots/``.

``pytest --snapshot-update`` regenerates them; unused ones are reported by syrupy. Taken
with the newest TRL; older lines compare against the same files, so any behaviour change
is a diff to explain (an expectation with a reference, or a finding).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from harness.pipeline.encoding import NotApplicable
from harness.tokenizers.registry import TokenizerUnavailable
from harness.views.snapshot_format import SNAPSHOT_DIR, serialize, target_line


class EncodingSnapshot(SingleFileSnapshotExtension):
    """``snapshots/<tokenizer>/<path>/<case>.txt``: directories mirror the key, not the test file."""

    _write_mode = WriteMode.TEXT
    file_extension = "txt"

    @classmethod
    def _key(cls, test_location) -> list[str]:
        m = re.search(r"\[(.+)\]$", test_location.snapshot_name)
        return m.group(1).split("~") if m else [test_location.snapshot_name]

    @classmethod
    def dirname(cls, *, test_location) -> str:
        return str(SNAPSHOT_DIR.joinpath(*cls._key(test_location)[:-1]))

    @classmethod
    def discovery_dirname(cls, *, test_location) -> str:
        return str(SNAPSHOT_DIR)

    @classmethod
    def get_file_basename(cls, *, test_location, index) -> str:
        return cls._key(test_location)[-1]

    @classmethod
    def get_snapshot_name(cls, *, test_location, index=0) -> str:
        """The case id: the same name discovery reads back from the file, so used files are not
        reported (or deleted) as unused."""
        return cls._key(test_location)[-1]

    # the tokenizers this session selected: syrupy reports (and ``--snapshot-update`` deletes) only unused files
    # of these, so a default run leaves the breadth tier's snapshots alone and a breadth run the core tier's
    selected: frozenset[str] | None = None

    def owns_snapshot_collection(self, *, filepath, test_location) -> bool:
        path = Path(filepath)
        if not (self.is_snapshot_location(location=filepath) and path.is_relative_to(SNAPSHOT_DIR)):
            return False
        return self.selected is None or path.relative_to(SNAPSHOT_DIR).parts[0] in self.selected


@pytest.fixture
def encoding_snapshot(snapshot, request):
    from conformance.conftest import selected_combinations

    if EncodingSnapshot.selected is None:
        EncodingSnapshot.selected = frozenset(tid for tid, _path, _case in selected_combinations(request.config))
    return snapshot.use_extension(EncodingSnapshot)


def test_encoding_snapshot(snapshot_key, conformance_session, encoding_snapshot, request):
    """Parametrized by conftest over the selected (tokenizer, path, case) triples.

    On the line the snapshots were taken with, a difference fails. On other TRL lines a
    difference is a behaviour change between releases: reported as xfail naming both versions
    (the JSON report and the matrix say which rule it breaks), never silently passed.
    """
    tid, path, case_id = snapshot_key
    try:
        lt = conformance_session.tokenizer(tid)
    except TokenizerUnavailable as exc:
        pytest.skip(f"NOT_EVALUATED: {exc}")
    enc = conformance_session.encoding(tid, path, case_id)
    if isinstance(enc, NotApplicable):
        pytest.skip(f"NOT_APPLICABLE: {enc.reason}")
    from harness.adapters.versions import library_versions

    installed = library_versions().get("trl")
    line = target_line()
    update = request.config.getoption("--snapshot-update", default=False)
    if line and installed != line and not update:
        if serialize(enc, lt.content_hash) != encoding_snapshot:
            pytest.xfail(f"trl {installed} differs from the trl {line} snapshot (a behaviour change between "
                         "releases; see the report / matrix for the rule it breaks)")
        return
    assert serialize(enc, lt.content_hash) == encoding_snapshot


def session_needs(name: str, params: dict) -> list[tuple]:
    """What an item asks the shared session for (computed ahead on a spare core: the root conftest)."""
    if "snapshot_key" not in params:
        return []
    tid, path, _case = params["snapshot_key"]
    return [("encodings", tid, path)]
