"""Where one release's ``sft-conformance run`` spends its time: inside TRL, transformers and datasets, or in
the harness's own code, and the shortest ``run --jobs N`` that this split allows.

    .venv/bin/python bench/run_floor.py [--json reports/run-floor.json] [--jobs N]

Runs the default sweep once in this process (``run --jobs 1``) with timers around the upstream entry points
the harness calls. Only the outermost timed call counts, so nothing is counted twice:

- ``trainer``: ``SFTTrainer.__init__`` (TRL builds the trainer and prepares the dataset, ``Dataset.map``
  calls included);
- ``reprepare``: ``SFTTrainer._prepare_dataset`` called outside ``__init__`` (a kept trainer preparing a later
  group, ``harness/adapters/trainer_reuse.py``);
- ``collate``: the data collators (``DataCollatorMixin.__call__``, and TRL's ``DataCollatorForChatML`` /
  ``DataCollatorForCompletionOnlyLM`` where a release has them);
- ``tokenizer_load``: ``AutoTokenizer.from_pretrained``;
- ``tokenizer_calls``: ``apply_chat_template`` and ``__call__`` of a tokenizer outside the above (the oracle
  and the harness's own renders);
- ``datasets``: ``Dataset.from_list`` outside the above (the rows a path's data starts from).

Everything else in the run counts as the harness's own code (rules, oracle logic, records, report, and the few
tokenizer calls it makes that are not wrapped: ``decode``, ``encode``, ``len``). It then times
importing torch, transformers, datasets and TRL's trainer in a new interpreter (best of three), which each
worker of ``run --jobs N`` pays once.

The floor for ``--jobs N`` with N the core count: even if the harness's own code took no time and the work
divided perfectly, a run cannot end before ``import + upstream / N``. Upstream time the wrappers miss counts as
the harness's, and each worker's own first calls are counted once, both of which make the floor lower; the
bookkeeping the harness does inside ``SFTTrainer.__init__`` (``trainer_reuse``'s watch, the warning capture)
counts as upstream, microseconds per call. Process CPU time (all threads) is used throughout; the machine's
speed is recorded as the time of a fixed pure-Python loop. The machine's speed drifts within minutes, so
the bench then times ``run --jobs N`` in a new interpreter right away, for a wall time to set the floor against.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

IMPORTS = ("import torch, transformers, datasets, trl; from trl import SFTTrainer; "
           "from transformers import AutoTokenizer, LlamaForCausalLM")


class Timers:
    """CPU seconds per category, counting only the outermost timed call."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._depth = 0

    def wrap(self, category: str, fn):
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            if self._depth:
                return fn(*args, **kwargs)
            self._depth += 1
            t0 = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self._depth -= 1
                self.seconds[category] = self.seconds.get(category, 0.0) + time.process_time() - t0
                self.calls[category] = self.calls.get(category, 0) + 1
        return timed


def upstream_targets() -> list[tuple[type, str, str]]:
    """(class, attribute, category) of every upstream entry point the installed releases have: TRL's own
    collators (``trl_driver`` finds them where each release keeps them) as well as transformers' base."""
    from datasets import Dataset
    from transformers import AutoTokenizer, PreTrainedTokenizerBase
    from transformers.data.data_collator import DataCollatorMixin
    from trl import SFTTrainer

    from harness.adapters import trl_driver

    targets = [(SFTTrainer, "__init__", "trainer"), (SFTTrainer, "_prepare_dataset", "reprepare"),
               (DataCollatorMixin, "__call__", "collate"),
               (PreTrainedTokenizerBase, "apply_chat_template", "tokenizer_calls"),
               (PreTrainedTokenizerBase, "__call__", "tokenizer_calls"),
               (AutoTokenizer, "from_pretrained", "tokenizer_load"), (Dataset, "from_list", "datasets")]
    for cls in (trl_driver.chatml_collator_class(), trl_driver.completion_only_collator_class()):
        if isinstance(cls, type):
            targets += [(cls, name, "collate") for name in ("__call__", "torch_call") if name in cls.__dict__]
    return [(owner, name, category) for owner, name, category in targets if name in owner.__dict__]


@contextlib.contextmanager
def timed_upstream(timers: Timers):
    """Wrap the upstream entry points (class attributes; a classmethod stays one), restored afterwards."""
    replaced = []
    for owner, name, category in upstream_targets():
        raw = owner.__dict__[name]
        if isinstance(raw, classmethod):
            replaced.append((owner, name, raw, classmethod(timers.wrap(category, raw.__func__))))
        else:
            replaced.append((owner, name, raw, timers.wrap(category, raw)))
    try:
        for owner, name, _, timed in replaced:
            setattr(owner, name, timed)
        yield
    finally:
        for owner, name, original, _ in reversed(replaced):
            setattr(owner, name, original)


def import_seconds(python: str = sys.executable, repeat: int = 3) -> float:
    """CPU seconds of importing the stack in a new interpreter (best of ``repeat``)."""
    best = None
    for _ in range(repeat):
        code = f"import time; t = time.process_time(); {IMPORTS}; print(time.process_time() - t)"
        out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True,
                             env={**os.environ, "HF_HUB_OFFLINE": "1"}).stdout.split()[-1]
        best = float(out) if best is None else min(best, float(out))
    return best


def loop_seconds() -> float:
    """The machine's speed now: one fixed pure-Python loop (lower is faster)."""
    t0 = time.perf_counter()
    for _ in range(20_000_000):
        pass
    return time.perf_counter() - t0


def main() -> int:
    from run_wall import timed_run  # bench/ is this script's own folder, first on sys.path

    from harness.pipeline.fanout import available_cores

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", default=str(ROOT / "reports" / "run-floor.json"))
    ap.add_argument("--jobs", type=int, default=available_cores(), help="worker count the floor is computed for")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    loop_before = loop_seconds()
    imports = import_seconds()

    import transformers
    import trl

    from harness.cli import main as cli_main

    timers = Timers()
    with tempfile.TemporaryDirectory() as tmp, timed_upstream(timers):
        cpu0 = time.process_time()
        code = cli_main(["run", "--jobs", "1", "--report", str(Path(tmp) / "report.json")])
        total = time.process_time() - cpu0
        verdicts = len(json.loads((Path(tmp) / "report.json").read_text())["records"])
    if code not in (0, 1):
        raise SystemExit(f"run exited {code}")
    upstream = sum(timers.seconds.values())
    floor = imports + upstream / args.jobs
    with tempfile.TemporaryDirectory() as tmp:  # right after, so that the floor and the run see the same machine speed
        actual = timed_run(sys.executable, args.jobs, Path(tmp) / "report.json")
    result = {
        "trl": trl.__version__, "transformers": transformers.__version__, "verdicts": verdicts,
        "run_cpu_seconds": round(total, 1), "upstream_cpu_seconds": round(upstream, 1),
        "harness_cpu_seconds": round(total - upstream, 1),
        "by_category": {k: {"cpu_seconds": round(v, 1), "calls": timers.calls[k]}
                        for k, v in sorted(timers.seconds.items(), key=lambda kv: -kv[1])},
        "import_cpu_seconds": round(imports, 1), "jobs": args.jobs, "floor_seconds": round(floor, 1),
        "run_jobs_seconds": actual["seconds"], "run_jobs_cpu_seconds": actual["cpu_seconds"],
        "loop_seconds": round(min(loop_before, loop_seconds()), 2),
        "measured": time.strftime("%Y-%m-%d"),
    }
    print(f"run --jobs 1 in this process: {total:.1f} CPU s ({verdicts} verdicts), of which upstream {upstream:.1f} s:")
    for k, v in result["by_category"].items():
        print(f"  {k:16s} {v['cpu_seconds']:6.1f} s  {v['calls']:6d} calls")
    print(f"  harness's own  {total - upstream:6.1f} s")
    print(f"importing the stack in a new interpreter: {imports:.1f} s")
    print(f"floor for --jobs {args.jobs}: {imports:.1f} + {upstream:.1f} / {args.jobs} = {floor:.1f} s "
          f"(loop {result['loop_seconds']} s)")
    print(f"run --jobs {args.jobs} right after, in a new interpreter: {actual['seconds']} s wall, "
          f"{actual['cpu_seconds']} CPU s")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
