#!/usr/bin/env bash
# Screenshot of the label report for docs/suite.md: two TRL lines side by side on one seed bug
# (DataCollatorForChatML's trailing generation prompt, 0.12 vs the newest). Needs the trl-0.12 tox env
# and chromium (apt-get install chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/label-report.png}
tmp=$(mktemp -d)
args=(--tokenizer synthetic-chatml --path chatml_collator --case chat_single_turn,chat_with_system)
.tox/trl-0.12/bin/sft-conformance run "${args[@]}" --report "$tmp/trl-0.12.json" >/dev/null || true
.venv/bin/sft-conformance run "${args[@]}" --report "$tmp/trl-latest.json" >/dev/null || true
.venv/bin/sft-conformance html "$tmp"/trl-*.json --out "$tmp/labels.html"
mkdir -p "$(dirname "$out")"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,1000 \
  --user-data-dir="$tmp/profile" --screenshot="$out" "file://$tmp/labels.html" 2>/dev/null
echo "$out"
