"""Group G (prompt_completion / completion_only_loss MASK-002, DROP-001, EOS-002 on merged prompt/completion): prompt
"the" + completion "the" with Qwen3 tokenizes to 'th' + 'ethe'. From 1.14.2 SFTTrainer starts the completion at
common_prefix_length(prompt_ids, prompt_completion_ids) = 0, so the prompt-only token is trained (MASK-002); up to
1.14.1 the mask is [0]*len(prompt_ids)+..., which masks the merged token (and in 1.9-1.14.1 the all -100 row is dropped).
Exit 1 when a label falls on a position before the end of the tokenized prompt (prompt text trained)."""
import sys; sys.path.insert(0, __import__("os").path.dirname(__file__))
from _common import first_batch, load_tok, make_trainer, report

tok = load_tok(sys.argv[1] if len(sys.argv) > 1 else "qwen3")
rows = [{"prompt": "the", "completion": "the"}, {"prompt": "Say hi:", "completion": " hi"}]
tr = make_trainer(tok, rows, {"completion_only_loss": True})
n = len(tr.train_dataset)
if n < 2:
    report(False, "merged row removed during preparation")
ids, labels, _ = first_batch(tr, n)
p = tok("the", add_special_tokens=False)["input_ids"]
trained = [tok.convert_ids_to_tokens(i) for i, l in zip(ids, labels) if l != -100]
report(ids[:len(p)] != p and labels[0] != -100, f"ids={tok.convert_ids_to_tokens(ids)} prompt={tok.convert_ids_to_tokens(p)} trained={trained}")
