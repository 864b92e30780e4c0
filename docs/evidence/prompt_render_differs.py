"""Conversational prompt/completion with a chat template that renders the prompt alone (with the generation prompt)
differently from the same prompt inside the full conversation: here a system turn only for inference, as templates
do that print a date line or a default system turn only then. The qwen2.5 vocabulary with a ChatML template.
Expected labels: the assistant answer and its <|im_end|> trained, nothing of the user turn.
Exit 3 where TRL refuses the template with an error. Exit 2 where the release trains prompt/completion rows in full. Exit 1 when a user-turn token is trained or an answer token is masked (argv[1] == "chatml_collator" checks
DataCollatorForChatML instead of SFTTrainer)."""
import sys; sys.path.insert(0, __import__("os").path.dirname(__file__))
from _common import first_batch, load_tok, make_trainer, report, report_answer_labels

tok = load_tok("qwen2.5")
tok.chat_template = (
    "{% if add_generation_prompt %}{{ '<|im_start|>system\\nToday is Monday.<|im_end|>\\n' }}{% endif %}"
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
prompt = [{"role": "user", "content": "What colour is the sky?"}]
completion = [{"role": "assistant", "content": "Blue, on a clear day."}]
full = tok.apply_chat_template(prompt + completion, tokenize=False)
if len(sys.argv) > 1 and sys.argv[1] == "chatml_collator":
    try:  # trl.experimental.utils from 0.27 (PR #4668), trl.trainer.utils from 0.11
        from trl.experimental.utils import DataCollatorForChatML
    except ImportError:
        from trl.trainer.utils import DataCollatorForChatML
    coll = DataCollatorForChatML(tokenizer=tok, max_length=256)
    batch = coll([{"messages": prompt + completion}])
    ids = batch["input_ids"][0].tolist(); labels = batch["labels"][0].tolist()
    att = batch["attention_mask"][0].tolist()
    ids = [i for i, a in zip(ids, att) if a]; labels = [l for l, a in zip(labels, att) if a]
else:
    try:
        tr = make_trainer(tok, [{"prompt": prompt, "completion": completion}] * 2)
    except ValueError as exc:  # releases that check the prompt render is a prefix refuse the template: not silent
        print(f"TRL refused: {str(exc).splitlines()[0]}")
        sys.exit(3)
    if not getattr(tr, "completion_only_loss", False):  # releases before the switch train prompt/completion in full
        print("this release trains prompt/completion rows in full (no completion-only loss): nothing to judge")
        sys.exit(2)
    if len(tr.train_dataset) == 0:  # every row had nothing trained left and was filtered out, without a word
        report(True, "both rows were removed from the train dataset (the answer was masked, nothing trained left)")
    ids, labels, _ = first_batch(tr)
text = tok.decode(ids)
answer = tok("Blue, on a clear day.<|im_end|>", add_special_tokens=False)["input_ids"]
start = next(k for k in range(len(ids)) if ids[k:k + len(answer)] == answer)
report_answer_labels(tok, ids, labels, start, len(answer), before="prompt tokens")
