"""Groups A/B (messages BOS-001/BOS-002/TOK-003): SFTTrainer on a `messages` column with Llama 3 re-tokenizes the
rendered chat with add_special_tokens=True, so the template's own <|begin_of_text|> is preceded by a second one.
Exit 1 when input_ids start with two BOS (0.8.x; again 0.15.0-0.16.1), 0 otherwise."""
import sys; sys.path.insert(0, __import__("os").path.dirname(__file__))
from _common import first_batch, load_tok, make_trainer, report

tok = load_tok("llama3")
msgs = [{"role": "user", "content": "What colour is the sky?"}, {"role": "assistant", "content": "Blue."}]
tr = make_trainer(tok, [{"messages": msgs}, {"messages": msgs}])
ids, labels, _ = first_batch(tr)
bos = tok.bos_token_id
n = next((i for i, t in enumerate(ids) if t != bos), len(ids))
report(n >= 2, f"{n} leading BOS; ids[:4]={ids[:4]}")
