"""Transformers axis of TRL 0.19.x: conversational prompt/completion under transformers 5. Transformers 5's
apply_chat_template(tokenize=True) returns a BatchEncoding where 4.x returned a list of ids; 0.19.x stores it as the
row's input_ids, so its collator raises 'RuntimeError: Could not infer dtype of dict' on every batch (0.20.0-0.27.0
take len() of it instead and train the prompt: cpc_header_trained.py; PR #4880, 0.28.0, passes return_dict=False).
Exit 1 when the prepared input_ids are not a list of ids or the collator raises that error (a loud refusal, not a
silent mislabel: the suite reports NOT_APPLICABLE "TRL raised" and DROP-001 PASS)."""
import sys; sys.path.insert(0, __import__("os").path.dirname(__file__))
from _common import first_batch, load_tok, make_trainer, report

tok = load_tok("qwen2.5")
row = {"prompt": [{"role": "user", "content": "What colour is the sky?"}],
       "completion": [{"role": "assistant", "content": "Blue."}]}
tr = make_trainer(tok, [row] * 2)
kind = type(tr.train_dataset[0]["input_ids"]).__name__
try:
    ids, labels, _ = first_batch(tr)
except RuntimeError as exc:
    report("Could not infer dtype" in str(exc), f"prepared input_ids is a {kind}; the collator raised: {exc}")
report(False, f"prepared input_ids is a {kind}; collated {len(ids)} tokens")
