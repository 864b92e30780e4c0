"""Speed without a changed verdict: worker processes per tokenizer, refused groups parted by the
template's own refusal, and the cheap vocabulary-growth marker."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
import script_runs

from harness.pipeline import fanout

ROOT = Path(__file__).resolve().parent.parent
TOKENIZERS = ["synthetic-chatml", "synthetic-no-pad", "synthetic-double-bos", "gpt2"]


def _run_args(jobs: int, report) -> list[str]:
    return ["run", *(a for t in TOKENIZERS for a in ("--tokenizer", t)), "--path", "messages,prompt_completion",
            "--jobs", str(jobs), "--report", str(report)]


def _two_workers() -> script_runs.Command:
    """``run --jobs 2`` as a command line (a ``script_runs.Command``), started at collection in the background
    at low priority, in a new interpreter: the spawned workers' imports and work do not keep this process waiting."""
    report = script_runs.workdir("fanout") / "jobs2.json"
    return script_runs.Command((sys.executable, "-m", "harness.cli", *_run_args(2, report)), str(ROOT))


def background_commands(names: set[str]) -> list:
    return [_two_workers()] if "test_the_report_is_the_same_for_any_number_of_workers" in names else []


def test_the_report_is_the_same_for_any_number_of_workers(tmp_path):
    from harness.cli import main

    assert main(_run_args(1, tmp_path / "jobs1.json")) in (0, 1)
    one = json.loads((tmp_path / "jobs1.json").read_text())
    command = _two_workers()
    res = script_runs.outcome(command)
    assert res.returncode in (0, 1), res.stderr[-3000:]
    two = json.loads(Path(command.argv[-1]).read_text())
    assert one["records"] and one["records"] == two["records"]
    assert one["evidence"] == two["evidence"] and one["run_info"]["tokenizers"] == two["run_info"]["tokenizers"]
    assert {r["tokenizer"] for r in one["records"]} == set(TOKENIZERS)


def test_a_judged_tokenizer_is_let_go_and_judged_the_same_again():
    """``run`` drops what it held for a tokenizer once its records are out (encodings, oracles, kept
    trainers, the loaded tokenizer); judging it again loads it afresh and gives the same records."""
    from harness.pipeline import runner
    from harness.pipeline.cases import load_cases
    from harness.tokenizers import registry

    cases = [c for c in load_cases() if c.id in ("chat_single_turn", "pc_plain")]
    runner.start_run(cases, ["messages", "prompt_completion", "text"], ["BOS-001", "EOS-001"], False)
    session = runner._RUN["session"]
    first: dict = {}
    runner.judge_tokenizer("synthetic-chatml", first)
    held = [k for c in (session._encodings, session._oracles, session._contexts, session._batches) for k in c]
    assert first["records"] and not held
    assert all(not a.__dict__.get("_reuse") for a in session._adapters.values())
    assert "synthetic-chatml" not in registry._LOADED
    again: dict = {}
    runner.judge_tokenizer("synthetic-chatml", again)
    assert again["records"] == first["records"]  # encoded the same, byte for byte


def _sleepy(tid: str, out: dict) -> None:
    if tid == "slow":
        time.sleep(60)
    out["done"] = tid


def test_ctrl_c_stops_the_workers_and_keeps_the_finished_tokenizers():
    """SIGINT reaches the parent (workers ignore it): it stops waiting, the workers are stopped at once,
    and the tokenizers that came back are kept for the partial report."""
    results: dict = {}
    # a process started in the background by a non-interactive shell inherits SIGINT ignored, and Python then
    # installs no KeyboardInterrupt handler: give this test the handler an interactive run has
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(3.0, os.kill, (os.getpid(), signal.SIGINT))
    t0 = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            fanout.fill(results, ["fast", "slow"], _sleepy, jobs=2)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert results == {"fast": {"done": "fast"}}
    assert time.perf_counter() - t0 < 20, "the sleeping worker was waited for instead of stopped"


HOLDING_A_LOCK = """
import sys, time
from harness.pipeline import fanout

def hold_a_lock(key, out):
    import multiprocessing
    lock = multiprocessing.get_context("spawn").Lock()  # a semaphore the resource tracker is told of
    if key == "slow":
        time.sleep(60)
    out["done"] = key

if __name__ == "__main__":
    ahead = fanout.Ahead(["quick", "slow"], hold_a_lock, jobs=1)  # closed with "slow" under way
    assert ahead.take("quick") == {"done": "quick"}
    while "slow" not in ahead.owned_by_workers():
        time.sleep(0.01)
    time.sleep(1.0)
    t0 = time.monotonic()
    ahead.close()
    assert time.monotonic() - t0 < 20, "the sleeping worker was waited for instead of stopped"
    ahead = fanout.Ahead(["quick"], hold_a_lock, jobs=1)  # closed with nothing under way
    assert ahead.take("quick") == {"done": "quick"}
    ahead.close()
    print("closed both")
"""


def test_closing_ahead_leaves_no_semaphore_to_the_resource_tracker(tmp_path):
    """A worker stopped in the middle of a unit, and one let go when idle, both leave by their finalizers: the
    resource tracker has no leaked semaphore to warn of when the process ends."""
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "holding_a_lock.py"
    script.write_text(HOLDING_A_LOCK)
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, str(script)], cwd=root, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(root)}, check=False)
    assert proc.returncode == 0 and "closed both" in proc.stdout, proc.stderr[-2000:]
    assert "leaked" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-2000:]


def test_one_job_runs_in_this_process_and_keeps_a_partly_filled_result():
    results: dict = {}

    def work(tid, out):
        out["started"] = tid
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fanout.fill(results, ["a", "b"], work, jobs=1)
    assert results == {"a": {"started": "a"}}


def test_jobs_from_the_environment(monkeypatch):
    monkeypatch.setenv("SFT_CONFORMANCE_JOBS", "3")
    assert fanout.default_jobs() == 3
    monkeypatch.setenv("SFT_CONFORMANCE_JOBS", "zero")
    assert fanout.default_jobs() == fanout.available_cores()


def test_a_refused_group_is_parted_by_the_templates_refusal_with_the_same_verdicts(monkeypatch):
    """Gemma 3's template raises on a tool turn (roles must alternate): the refused group is parted by that
    is bisected. Fewer trainer builds, and every case gets exactly what bisecting alone gives it."""
    import copy

    from harness import adapters
    from harness.adapters import base, trl_driver
    from harness.adapters.trainer_reuse import TrainerReuse
    from harness.pipeline.cases import load_cases
    from harness.pipeline.encoding import Encoding
    from harness.tokenizers import registry

    lt = registry.load("gemma3")
    cases = load_cases()
    builds = {"n": 0}  # TRL preparations: trainers built, and kept trainers preparing again (trainer_reuse)
    real, real_again = trl_driver.make_trainer, TrainerReuse.prepare

    def counting(*args, **kwargs):
        builds["n"] += 1
        return real(*args, **kwargs)

    def counting_again(*args, **kwargs):
        prepared = real_again(*args, **kwargs)
        builds["n"] += prepared is not None
        return prepared

    monkeypatch.setattr(trl_driver, "make_trainer", counting)
    monkeypatch.setattr(TrainerReuse, "prepare", counting_again)

    def encode():
        builds["n"] = 0
        adapter = copy.copy(adapters.get("messages"))  # no trainers kept from an earlier encode
        adapter._reuse = TrainerReuse()
        out = adapter.encode(lt, cases)
        return {k: (v.input_ids, v.labels, v.refused, v.dropped) if isinstance(v, Encoding) else v.reason
                for k, v in out.items()}, builds["n"]

    parted, parted_builds = encode()
    monkeypatch.setattr(base, "template_refusal_parts", lambda lt, cases, guess=None: [])
    bisected, bisected_builds = encode()
    assert parted == bisected
    assert any(isinstance(v, tuple) and v[2] and "roles must alternate" in v[2] for v in parted.values())
    assert parted_builds < bisected_builds, (parted_builds, bisected_builds)


def test_prompts_ending_in_a_tool_turn_are_parted_before_halving_with_the_same_verdicts(monkeypatch):
    """TRL 0.17-0.18's chat-template helper raises on every prompt that ends in a tool message; the
    prompt/completion paths guess that (``refusal_guess``), so a refused group is parted by it and costs
    fewer preparations than halving, with every case getting what halving gives it. A stand-in for TRL
    raises as those releases do (the installed TRL may not)."""
    from harness import adapters
    from harness.adapters.sft_trainer import prompt_last_role_guess
    from harness.pipeline.cases import load_cases

    cases = [c for c in load_cases() if c.shape == "conversation"]
    tool_last = {c.id for c in cases if prompt_last_role_guess(c)}
    assert len(tool_last) >= 2 and len(cases) - len(tool_last) >= 10
    assert not {prompt_last_role_guess(c) for c in cases if c.id not in tool_last} - {""}
    calls = {"n": 0}

    class Lt:  # only what the isolation reads: no chat template to render, so only the guess parts
        id, has_chat_template, memo = "stand-in", False, {}

    def encode_group(self, lt, group, max_length):
        calls["n"] += 1
        refused = [c.id for c in group if c.id in tool_last]
        if refused:
            raise ValueError("Invalid role in the last message: tool")
        return {c.id: ("encoded", c.id) for c in group}

    adapter = adapters.get("conversational_prompt_completion")
    monkeypatch.setattr(type(adapter), "encode_group", encode_group)
    monkeypatch.setattr(type(adapter), "refused", lambda self, lt, case, exc: ("refused", str(exc)))

    def isolate():
        calls["n"] = 0
        Lt.memo = {}
        return adapter._encode_isolating_errors(Lt, cases, None), calls["n"]

    parted, parted_calls = isolate()
    monkeypatch.setattr(type(adapter), "refusal_guess", lambda self, case: "")
    halved, halved_calls = isolate()
    assert parted == halved
    assert {k for k, v in parted.items() if v[0] == "refused"} == tool_last
    assert parted_calls < halved_calls, (parted_calls, halved_calls)


def test_vocabulary_growth_is_seen_and_the_shared_tokenizer_replaced():
    from harness.adapters.lending import lent_tokenizer, vocabulary_marker
    from harness.tokenizers import registry

    lt = registry.load("gpt2")
    before, shared = vocabulary_marker(lt.tokenizer), lt.tokenizer
    assert before == lt.tokenizer.backend_tokenizer.get_vocab_size(with_added_tokens=True)
    with lent_tokenizer(lt) as tok:
        tok.add_tokens(["<sft_conformance_new_a>", "<sft_conformance_new_b>"])
        assert vocabulary_marker(tok) == before + 2
    assert lt.tokenizer is not shared and vocabulary_marker(lt.tokenizer) == before
    with lent_tokenizer(lt) as tok:
        tok.pad_token = tok.eos_token  # Python-side state only: restored, the tokenizer kept
    assert vocabulary_marker(lt.tokenizer) == before and lt.tokenizer.pad_token is None


def _double(key: str, out: dict) -> None:
    if key == "boom":
        raise RuntimeError("boom")
    time.sleep(0.2)
    out.update(value=key * 2, pid=os.getpid())


def test_ahead_hands_over_what_workers_computed_and_leaves_the_rest_to_the_caller():
    """Each unit is computed once: by a worker (handed over once, waited for while under way) or, when the
    caller reaches it first or its worker raised, by the caller."""
    keys = ["boom", "k0", "k1", "k2", "k3", "k4"]
    ahead = fanout.Ahead(keys, _double, jobs=1)

    def started(key):
        deadline = time.monotonic() + 60
        while key not in ahead.owned_by_workers():
            assert time.monotonic() < deadline, f"{key} was never given to the worker"
            time.sleep(0.01)

    try:
        assert ahead.take("k4") is None  # not started yet: the caller's own
        started("boom")
        assert ahead.take("boom") is None  # its worker raised: the caller's again
        started("k0")
        got = ahead.take("k0")  # started by the worker: waited for and handed over
        assert got["value"] == "k0k0" and got["pid"] != os.getpid()
        assert ahead.take("k0") is None  # handed over once
        assert ahead.take("k4") is None
        assert ahead.handed_over == 1
    finally:
        ahead.close()
    assert ahead.take("k3") is None  # after close nothing is waited for


def test_a_session_computed_ahead_gives_the_same_encodings_batches_and_computed_units():
    from harness.pipeline import runner

    tids = ["synthetic-chatml", "synthetic-no-pad", "synthetic-double-bos", "gpt2"]
    paths = ("messages", "prompt_completion")
    needs = [("encodings", t, p) for t in tids for p in paths] + [("batches", t, "text", "padding_free") for t in tids]
    scaled = ("at_scale", "gpt2", "text", "packing_wrapped", 30)  # a COMPUTED unit: taken on after the others
    ahead = runner.ahead_of([*needs, scaled], jobs=1)
    assert ahead is not None
    try:
        ahead_session, own = runner.Session(ahead=ahead), runner.Session()
        for t in tids:  # the worker goes from the last tokenizer back, this process from the first on
            for p in paths:
                assert ({c: e.__dict__ for c, e in ahead_session.encodings(t, p).items()}
                        == {c: e.__dict__ for c, e in own.encodings(t, p).items()}), (t, p)
            cases, _plain, batches = ahead_session.modifier_batches(t, "text", "padding_free")
            want = own.modifier_batches(t, "text", "padding_free")
            assert [c.id for c in cases] == [c.id for c in want[0]] and batches == want[2], t
        handed = ahead.handed_over
        assert handed >= 1, "no encodings came from the worker"
        want = own.at_scale(*scaled[1:])
        deadline = time.monotonic() + 300
        while scaled not in ahead.owned_by_workers():  # the worker takes it on after the others
            assert time.monotonic() < deadline
            time.sleep(0.05)
        many, alone, batches = ahead_session.at_scale(*scaled[1:])
        assert ahead.handed_over == handed + 1, "the batches at scale did not come from the worker"
        assert [c.id for c in many] == [c.id for c in want[0]] and len(many) > 30
        assert {k: e.__dict__ for k, e in alone.items()} == {k: e.__dict__ for k, e in want[1].items()}
        assert batches == want[2]
    finally:
        ahead.close()
    assert runner.ahead_of(needs[:2], jobs=1) is None  # one tokenizer: not worth a worker


def _hang(key: str, out: dict) -> None:
    time.sleep(60)


def test_a_unit_whose_worker_never_answers_is_computed_by_the_caller():
    """A worker killed without a word sends no result and no error: ``take`` stops waiting after ``patience``."""
    ahead = fanout.Ahead(["stuck"], _hang, jobs=1)
    ahead.patience = 2.0
    try:
        deadline = time.monotonic() + 60
        while "stuck" not in ahead.owned_by_workers():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        t0 = time.monotonic()
        assert ahead.take("stuck") is None
        assert time.monotonic() - t0 < 30
    finally:
        ahead.close()
