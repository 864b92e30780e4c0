"""Group H (assistant_only_loss MASK-005): Llama 3 with assistant_only_loss=True and max_length=16, user turn longer
than 16 tokens. 1.0.0 refuses the template (no {% generation %}); 1.1.0 swaps in TRL's llama3 training template
(PR #5493) and keeps the truncated row with every label -100, silently; 1.9.0 (PR #6320) drops it.
Exit 1 when the prepared row is kept with all labels -100."""
import sys; sys.path.insert(0, __import__("os").path.dirname(__file__))
from _common import first_batch, load_tok, make_trainer, report

tid = sys.argv[1] if len(sys.argv) > 1 else "llama3"
tok = load_tok(tid)
long_q = ("Please read this long question carefully, think about every word of it, and then answer it in one word: "
          "what colour is the sky on a clear day?")
rows = [{"messages": [{"role": "user", "content": long_q}, {"role": "assistant", "content": "Blue."}]},
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]}]
try:
    tr = make_trainer(tok, rows, {"assistant_only_loss": True}, max_length=16)
    n = len(tr.train_dataset)
    ids, labels, _ = first_batch(tr, n)
except RuntimeError as exc:
    report(False, f"TRL refused: {str(exc)[:90]}")
if n < 2:
    report(False, f"row removed during preparation ({n} of 2 left)")
report(all(l == -100 for l in labels), f"{tid}: row kept, {sum(l != -100 for l in labels)} trained labels of {len(labels)}")
