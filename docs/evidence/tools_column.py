# TRL-only: does SFTTrainer render a row's `tools` column into the training sequence?
import os
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import trl
from datasets import Dataset
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
from trl import SFTConfig, SFTTrainer

tok = AutoTokenizer.from_pretrained(os.path.expanduser("~/.cache/sft-conformance/qwen2.5"))
tools = [{"type": "function", "function": {"name": "get_weather", "description": "Current weather in a city.",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
msgs = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]
model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                     num_attention_heads=2, num_key_value_heads=2))
with tempfile.TemporaryDirectory() as d:
    kw = {"output_dir": d, "report_to": [], "max_length": 1024, "bf16": False, "use_cpu": True} if "max_length" in SFTConfig.__dataclass_fields__ else {"output_dir": d, "report_to": [], "use_cpu": True}
    t = SFTTrainer(model=model, args=SFTConfig(**kw), train_dataset=Dataset.from_list([{"messages": msgs, "tools": tools}]),
                   processing_class=tok)
    ids = t.train_dataset[0]["input_ids"]
text = tok.decode(ids)
want = tok.apply_chat_template(msgs, tools=tools, tokenize=False)
print(trl.__version__, "tools rendered:", "get_weather" in text, "| equals template render:", text == want)
sys.exit(0 if "get_weather" in text else 1)
