"""Group C (text EOS-001/TOK-003 on string text): before 0.16.0 the text path appended no EOS (#1623); PR #3091
(0.16.0) appends it. Exit 1 when a plain `text` row is trained without a final EOS."""
import sys; sys.path.insert(0, __import__("os").path.dirname(__file__))
from _common import first_batch, load_tok, make_trainer, report

tok = load_tok("llama2")
tr = make_trainer(tok, [{"text": "The capital of France is Paris."}] * 2, {"dataset_text_field": "text"})
ids, labels, _ = first_batch(tr)
report(ids[-1] != tok.eos_token_id, f"tail={tok.convert_ids_to_tokens(ids[-3:])}")
