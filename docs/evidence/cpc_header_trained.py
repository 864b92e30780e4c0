"""Group D (completion_only_loss / conversational_prompt_completion GEN-002): conversational prompt/completion with
Llama 3. 0.19.0-0.23.x render the prompt without add_generation_prompt, so '<|start_header_id|>assistant<|end_header_id|>'
lands in the completion (PR #4201, 0.24.0, fixes it); 0.20.0-0.27.0 under transformers 5 take len() of the
BatchEncoding apply_chat_template(tokenize=True) returns (2), so the prompt (header included) is trained (PR #4880,
0.27.1). Exit 1 when a token of the assistant header has a label."""
import sys; sys.path.insert(0, __import__("os").path.dirname(__file__))
from _common import first_batch, load_tok, make_trainer, report

tok = load_tok("llama3")
row = {"prompt": [{"role": "user", "content": "What colour is the sky?"}],
       "completion": [{"role": "assistant", "content": "Blue."}]}
tr = make_trainer(tok, [row] * 2)
ids, labels, _ = first_batch(tr)
hdr = tok.convert_tokens_to_ids("<|start_header_id|>")
trained = [tok.convert_ids_to_tokens(i) for i, l in zip(ids, labels) if l != -100]
report(any(i == hdr and l != -100 for i, l in zip(ids, labels)), f"trained tokens: {trained[:8]}")
