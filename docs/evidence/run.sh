#!/bin/bash
# usage: docs/evidence/run.sh SCRIPT.py "0.18.2 0.19.0 ..."  -> one line per TRL release: the script's exit code
# (1: the behaviour is present, 0: absent, other: the script could not run) and its verdict line.
# The release environments are those `sft-conformance releases` / `bisect` build under .release-envs/.
S=$1; VERS=$2; shift 2
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
for v in $VERS; do
  out=$(HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 timeout 600 "$ROOT/.release-envs/trl-$v/bin/python" "$ROOT/docs/evidence/$S" "$@" 2>&1); rc=$?
  echo "$S @ $v: rc=$rc | $(echo "$out" | grep -E "^\[trl|tools rendered|nothing to judge|TRL refused" | tail -1 | cut -c1-220)"
done
