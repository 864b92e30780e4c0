"""A repro script judges with the suite's own code: same modules, byte for byte, same verdicts.

``sft-conformance repro`` embeds the TRL driver and the rules engine (``conformance/rules``) in
every script. These tests take that embedded text out of a generated script, run it in a fresh
interpreter (where only the embedded modules exist under those names), and compare its verdicts
and messages with the suite's: on every seeded bug, clean and broken, and on a full sweep of the
installed TRL line (every tokenizer x path x case x rule).
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import test_seeded_bugs as seeded

from conformance.rules import ENGINE_MODULES, RULES
from harness import adapters
from harness.pipeline.encoding import NotApplicable
from harness.tokenizers import registry as tokenizer_registry
from harness.triage import repro

LOADER_END = "import harness.adapters.trl_driver as trl_driver"

JUDGE = r'''
import dataclasses, json, sys
exec(json.loads(sys.stdin.readline()))  # the embedded modules and their loader, as a script runs them
import conformance.rules.base as base
from conformance.rules.data import Reference, Row
from transformers import AutoTokenizer
assert not hasattr(base, "__file__"), "the installed conformance.rules was imported instead of the embedded one"
folders = json.loads(sys.stdin.readline())
tokenizers = {tid: AutoTokenizer.from_pretrained(folder) for tid, folder in folders.items()}
out = []
for line in sys.stdin:
    item = json.loads(line)
    ctx = base.Context(Row(**item["row"]), Reference.from_plain(item["reference"]),
                       decode=tokenizers[item["tokenizer"]].decode)
    out.append([dataclasses.asdict(base.RULES[r](ctx)) for r in item["rules"]])
print(json.dumps(out))
'''


def _embedded_part(tmp_path) -> str:
    """The embedded modules and their loader, cut out of a real generated script."""
    script = repro.generate(repro.Finding.parse("EOS-001:synthetic-chatml:text:pc_plain"), tmp_path)
    text = script.read_text(encoding="utf-8")
    start = text.index("EMBEDDED_MODULES = {")
    return text[start:text.index(LOADER_END) + len(LOADER_END)] + "\n"


def _plain(verdict) -> dict:
    return json.loads(json.dumps(verdict.to_dict()))


def _judge_embedded(tmp_path, items: list[dict]) -> list[list[dict]]:
    """Verdicts of the embedded engine in a fresh interpreter that has no harness on its path."""
    judge = _StreamingJudge(tmp_path, sorted({i["tokenizer"] for i in items}))
    for item in items:
        judge.send(item)
    return judge.verdicts()


class _StreamingJudge:
    """The embedded engine in a fresh interpreter that has no harness on its path, started before the items
    exist and fed as they are made,
    so that it imports and loads its tokenizers on the spare core while this process computes the encodings
    (one writer thread: the pipe never blocks the caller)."""

    def __init__(self, tmp_path, tokenizer_ids: list[str]):
        import queue
        import threading

        folders = {}
        for tid in tokenizer_ids:
            folder = tmp_path / f"tok-{len(folders)}"
            repro.write_tokenizer(tokenizer_registry.load(tid), folder)
            folders[tid] = str(folder)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "PYTHONPATH": ""}
        self.err = (tmp_path / "judge.err").open("w+", encoding="utf-8")
        self.proc = subprocess.Popen([sys.executable, "-I", "-c", JUDGE], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.err, text=True, env=env, cwd=tmp_path)
        self.lines: queue.Queue = queue.Queue()
        self.writer = threading.Thread(target=self._write, daemon=True)
        self.writer.start()
        for x in (_embedded_part(tmp_path), folders):
            self.lines.put(json.dumps(x) + "\n")

    def _write(self) -> None:
        while (line := self.lines.get()) is not None:
            self.proc.stdin.write(line)
        self.proc.stdin.close()

    def send(self, item: dict) -> None:
        self.lines.put(json.dumps(item) + "\n")

    def verdicts(self) -> list[list[dict]]:
        self.lines.put(None)
        self.writer.join(timeout=1200)
        out = self.proc.stdout.read()
        self.proc.wait(timeout=1200)
        self.err.seek(0)
        assert self.proc.returncode == 0, self.err.read()[-3000:]
        return json.loads(out.strip().splitlines()[-1])


def _item(tokenizer_id, ctx, rules) -> dict:
    # the row's fields as they are (ints, strings, lists of them): json.dumps copies them, as asdict did one by one
    return {"tokenizer": tokenizer_id, "row": dict(vars(ctx.row)), "reference": ctx.ref.to_plain(),
            "rules": list(rules)}


def test_embedded_modules_are_the_files_on_disk(tmp_path):
    part = _embedded_part(tmp_path)
    namespace: dict = {}
    exec(part.split("\n\ndef install_embedded_modules")[0], namespace)  # noqa: S102 - only the literal, not the loader
    embedded = namespace["EMBEDDED_MODULES"]
    want = ["harness.adapters.trl_driver", *(f"conformance.rules.{m}" for m in ENGINE_MODULES)]
    assert list(embedded) == want
    for name, source in embedded.items():
        on_disk = Path(inspect.getsourcefile(importlib.import_module(name))).read_text(encoding="utf-8")
        assert source == on_disk, f"{name} is not embedded verbatim"


def test_engine_modules_use_only_the_standard_library():
    allowed = {"__future__", "collections", "dataclasses", "difflib", "functools", "importlib", "inspect",
               "conformance"}
    for name in ["harness.adapters.trl_driver", *(f"conformance.rules.{m}" for m in ENGINE_MODULES)]:
        tree = __import__("ast").parse(inspect.getsource(importlib.import_module(name)))
        for node in tree.body:  # module level only: TRL/transformers are imported inside driver functions
            if node.__class__.__name__ in ("Import", "ImportFrom"):
                mod = (getattr(node, "module", None) or node.names[0].name).split(".")[0]
                assert mod in allowed, f"{name} imports {mod} at module level"


def test_embedded_engine_agrees_on_every_seeded_bug(tmp_path):
    items, want = [], []
    for rule_id, tid, case_id, scope, mutate, kw in seeded.SEEDED:
        for ctx in (seeded._ctx(tid, case_id, scope), seeded._ctx(tid, case_id, scope, mutate, **kw)):
            items.append(_item(tid, ctx, [rule_id]))
            want.append([_plain(RULES[rule_id](ctx))])
    got = _judge_embedded(tmp_path, items)
    assert got == want


@pytest.mark.slow
def test_embedded_engine_agrees_on_a_full_sweep_of_the_installed_line(tmp_path, conformance_session):
    """Every tokenizer x path x case x rule of the installed TRL: identical verdicts and messages."""
    loaded = []
    for tid in tokenizer_registry.default_ids():
        try:
            tokenizer_registry.load(tid)
        except tokenizer_registry.TokenizerUnavailable:
            continue
        loaded.append(tid)
    embedded = _StreamingJudge(tmp_path, loaded)
    items, want, judged = [], [], 0
    for tid in loaded:
        for path in adapters.PATHS:
            for case in conformance_session.cases:
                enc = conformance_session.encoding(tid, path, case.id)
                if isinstance(enc, NotApplicable):
                    continue
                ctx = conformance_session._context(tid, enc, case)
                if not hasattr(ctx, "row"):
                    continue
                items.append(_item(tid, ctx, RULES))
                embedded.send(items[-1])
                want.append([_plain(conformance_session.judge(tid, path, case, r)) for r in RULES.values()])
                judged += len(RULES)
    got = embedded.verdicts()
    diffs = [(i["tokenizer"], w[k]["rule"], w[k], g[k]) for i, w, g in zip(items, want, got)
             for k in range(len(w)) if w[k] != g[k]]
    assert judged > 10_000
    assert not diffs, f"{len(diffs)} of {judged} verdicts differ, first: {diffs[:3]}"
