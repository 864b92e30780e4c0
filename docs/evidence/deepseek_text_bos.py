"""Group T (text BOS-001/TOK-003, deepseek-v3): the user renders the chat into `text` (the template writes
<｜begin▁of▁sentence｜>) and SFTTrainer tokenizes it with add_special_tokens=True. Under transformers 4.x the DeepSeek-V3
tokenizer loads as LlamaTokenizerFast with add_bos_token=True and adds a second BOS; transformers 5 does not.
Exit 1 when input_ids start with two BOS."""
import sys; sys.path.insert(0, __import__("os").path.dirname(__file__))
from _common import first_batch, load_tok, make_trainer, report

tok = load_tok("deepseek-v3")
msgs = [{"role": "user", "content": "What colour is the sky?"}, {"role": "assistant", "content": "Blue."}]
text = tok.apply_chat_template(msgs, tokenize=False)
tr = make_trainer(tok, [{"text": text}] * 2, {"dataset_text_field": "text"})
ids, labels, _ = first_batch(tr)
bos = tok.bos_token_id
report(ids[:2] == [bos, bos], f"{type(tok).__name__} add_bos_token={getattr(tok, 'add_bos_token', None)}; ids[:3]={ids[:3]}")
