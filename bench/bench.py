"""Benchmark: the harness against the raw tokenization floor, on the same machine, in one run.

    .venv/bin/python bench/bench.py [--tokenizer ID ...] [--no-pytest] [--json reports/bench.json]

Measures
  1. raw: the Rust ``tokenizers`` backend encoding exactly the texts the golden suite renders
     (per tokenizer x path x case: the chat-template render, or prompt + completion, plus the
     prompt alone where a path masks it, and the neighbour row collated beside it);
  2. the harness producing every Encoding (all tokenizers x paths x cases) on the installed TRL,
     split into tokenizer loading, TRL dataset preparation (trainer construction), collation,
     Encoding assembly, oracle and rules;
  3. the whole ``pytest conformance/`` wall time (a subprocess).
Ratios (harness / raw) are printed so the figures survive a noisy machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def rendered_texts(session, tid: str) -> list[str]:
    """The texts TRL tokenizes for this tokenizer over every applicable (path, case)."""
    from harness import adapters
    from harness.adapters.neighbours import neighbour_case
    from harness.pipeline.clock import frozen_clock

    lt = session.tokenizer(tid)
    tok = lt.tokenizer
    texts = []
    with frozen_clock():
        for path in adapters.PATHS:
            adapter = adapters.get(path)
            if adapter.available() is not None:
                continue
            for case in session.cases:
                if adapter.accepts(case, lt) is not None:
                    continue
                for variant in (case, None):
                    if variant is None:
                        n = neighbour_case(case)
                        conv, prompt, completion = n.get("messages"), n.get("prompt"), n.get("completion")
                    else:
                        conv, prompt, completion = case.conversation, case.prompt, case.completion
                    if conv is not None:
                        try:
                            texts.append(tok.apply_chat_template(conv, tokenize=False))
                            if conv[-1]["role"] == "assistant":
                                texts.append(tok.apply_chat_template(conv[:-1], tokenize=False,
                                                                     add_generation_prompt=True))
                        except Exception:  # noqa: BLE001, S112 - templates that refuse a case (TRL refuses it too)
                            continue
                    else:
                        texts.extend([prompt + completion, prompt])
    return texts


def raw_floor(session, tids: list[str], repeats: int = 3) -> tuple[float, int]:
    """Best-of-``repeats`` seconds for the Rust backend to encode every rendered text once."""
    best, n = float("inf"), 0
    batches = {tid: rendered_texts(session, tid) for tid in tids}
    for _ in range(repeats):
        start = time.perf_counter()
        n = 0
        for tid, texts in batches.items():
            backend = session.tokenizer(tid).tokenizer.backend_tokenizer
            for text in texts:
                backend.encode(text, add_special_tokens=True)
                n += 1
        best = min(best, time.perf_counter() - start)
    return best, n


def harness_split(tids: list[str]) -> dict:
    from conformance.rules import RULES
    from harness import adapters
    from harness.pipeline import timing
    from harness.pipeline.runner import Session

    timing.reset()
    session = Session()
    out = {"load": 0.0, "oracle": 0.0, "rules": 0.0}
    for tid in tids:
        start = time.perf_counter()
        session.tokenizer(tid)
        out["load"] += time.perf_counter() - start
    start = time.perf_counter()
    for tid in tids:
        for path in adapters.PATHS:
            session.encodings(tid, path)
    out["encodings_total"] = time.perf_counter() - start
    start = time.perf_counter()
    for tid in tids:
        for case in session.cases:
            session.oracle(tid, case)
    out["oracle"] = time.perf_counter() - start
    start = time.perf_counter()
    n = 0
    for tid in tids:
        for path in adapters.PATHS:
            for case in session.cases:
                for rule in RULES.values():
                    session.judge(tid, path, case, rule)
                    n += 1
    out["rules"] = time.perf_counter() - start
    out["verdicts"] = n
    out.update({k: v for k, v in timing.TOTALS.items()})
    out["trl_prepare_count"] = timing.COUNTS.get("trl_prepare", 0)
    out["collate_count"] = timing.COUNTS.get("collate", 0)
    return out, session


def pytest_wall() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pytest", "conformance", "-q", "-p", "no:cacheprovider"],
                   cwd=ROOT, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    from harness.tokenizers import registry as tokenizer_registry

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", action="append", help="default: every catalog + synthetic tokenizer")
    ap.add_argument("--no-pytest", action="store_true", help="skip measuring `pytest conformance`")
    ap.add_argument("--json", default=str(ROOT / "reports" / "bench.json"))
    args = ap.parse_args()
    tids = args.tokenizer or tokenizer_registry.default_ids()

    split, session = harness_split(tids)
    raw, n_texts = raw_floor(session, tids)
    produced = split.get("collate", 0.0) + split.get("assemble", 0.0)
    result = {
        "tokenizers": len(tids), "raw_texts": n_texts, "raw_floor_s": round(raw, 4),
        **{k: round(v, 4) if isinstance(v, float) else v for k, v in split.items()},
        "ratio_encodings_total_over_raw": round(split["encodings_total"] / raw, 1),
        "ratio_after_trl_built_over_raw": round(produced / raw, 2),
    }
    if not args.no_pytest:
        result["pytest_conformance_s"] = round(pytest_wall(), 1)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    width = max(len(k) for k in result)
    for k, v in result.items():
        print(f"{k:<{width}}  {v}")
    print("\nratio_after_trl_built_over_raw = (collation + Encoding assembly) / raw floor: the harness's own")
    print("per-case cost once tokenizers are loaded and TRL objects built (target <= 3).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
