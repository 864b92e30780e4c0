"""Groups B/C (prompt_completion EOS-001/TOK-003): string prompt/completion with Mistral v0.1: 0.8-0.14 render it
through the chat template ('... [/INST] completion</s>'), 0.15.x (PR #2405) concatenates prompt+completion with no
EOS, 0.16.0 (PR #3091) appends EOS. Exit 1 when the trained sequence does not end with EOS."""
import sys; sys.path.insert(0, __import__("os").path.dirname(__file__))
from _common import first_batch, load_tok, make_trainer, report

tok = load_tok("mistral-v1")
rows = [{"prompt": "The capital of France is", "completion": " Paris."}] * 2
tr = make_trainer(tok, rows)
ids, labels, _ = first_batch(tr)
report(ids[-1] != tok.eos_token_id, f"last id {ids[-1]} (eos {tok.eos_token_id}); tail={tok.convert_ids_to_tokens(ids[-4:])}")
