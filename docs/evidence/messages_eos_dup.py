"""Group C (messages/conversational_prompt_completion/text TOK-003 on ChatML templates): PR #3091 (0.16.0) appends
eos_token after a chat render that already ends with '<|im_end|>\n', so Qwen2.5 rows get an extra <|im_end|> the
template never writes; PR #3328 (0.17.0) fixes it. Exit 1 when input_ids differ from the template's own tokens."""
import sys; sys.path.insert(0, __import__("os").path.dirname(__file__))
from _common import first_batch, load_tok, make_trainer, report

tok = load_tok("qwen2.5")
msgs = [{"role": "user", "content": "What colour is the sky?"}, {"role": "assistant", "content": "Blue."}]
ref = tok(tok.apply_chat_template(msgs, tokenize=False), add_special_tokens=False)["input_ids"]
tr = make_trainer(tok, [{"messages": msgs}] * 2)
ids, labels, _ = first_batch(tr)
report(ids != ref, f"len {len(ids)} vs template {len(ref)}; tail={tok.convert_ids_to_tokens(ids[-3:])}")
