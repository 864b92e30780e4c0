"""Group F (chatml_collator BOS-002 / MASK-005): DataCollatorForChatML with Llama 3.1 and max_length=16 on a user turn
longer than 16 tokens. 0.11.3-0.24.0 truncate on the right: the row keeps its BOS but every label is -100 (MASK-005);
0.25.0 (PR #4349) keeps the completion and cuts the prompt from the left, so the row no longer starts with BOS
(BOS-002). 0.11.0-0.11.2 (PR #1814's split tokenization, fixed by PR #2172) produce neither.
argv[1] = 'bos' (default): exit 1 when the row does not start with BOS; 'mask': exit 1 when every label is -100."""
import sys; sys.path.insert(0, __import__("os").path.dirname(__file__))
from _common import chatml_collator_class, load_tok, report

mode = sys.argv[1] if len(sys.argv) > 1 else "bos"
tid = sys.argv[2] if len(sys.argv) > 2 else "llama3.1"
tok = load_tok(tid)
if tok.pad_token is None:
    tok.pad_token = tok.eos_token
cls = chatml_collator_class()
long_q = ("Please read this long question carefully, think about every word of it, and then answer it in one word: "
          "what colour is the sky on a clear day?")
ex = {"messages": [{"role": "user", "content": long_q}, {"role": "assistant", "content": "Blue."}]}
try:
    batch = cls(tokenizer=tok, max_length=16)([ex])
except Exception as exc:
    report(False, f"collator raised {type(exc).__name__}: {str(exc)[:80]}")
att = batch["attention_mask"][0].tolist()
ids = [i for i, a in zip(batch["input_ids"][0].tolist(), att) if a]
labels = [l for l, a in zip(batch["labels"][0].tolist(), att) if a]
detail = f"ids[:2]={tok.convert_ids_to_tokens(ids[:2])} trained={sum(l != -100 for l in labels)}/{len(labels)}"
report(ids[0] != tok.bos_token_id if mode == "bos" else all(l == -100 for l in labels), detail)
