#!/usr/bin/env bash
# Fresh machine -> .venv with CPU torch, the harness (with the test extra: pytest, hypothesis, syrupy),
# and the pinned real tokenizers provisioned.
# Usage: bash scripts/bootstrap.sh            (idempotent; re-running is fast)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
export PIP_DISABLE_PIP_VERSION_CHECK=1
# torch 2.13.0: pip takes the CPU wheel from PIP_FIND_LINKS where the machine has one (no multi-GB CUDA download).
.venv/bin/pip install -q torch==2.13.0
.venv/bin/pip install -q -c constraints/latest.txt -e '.[provision,test,dev]'
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
.venv/bin/sft-conformance provision
