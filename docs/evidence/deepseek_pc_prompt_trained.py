"""transformers #45488 (string prompt/completion, deepseek-v3; MASK-002, TOK-002, TOK-001): AutoTokenizer loads the
DeepSeek-V3 tokenizer (tokenizer_config: LlamaTokenizerFast; tokenizer.json: ByteLevel BPE) as LlamaTokenizer, which
installs a Metaspace pre-tokenizer, so spaces vanish ("Translate to French: cheese" -> 'Trans', 'lat', 'eto', 'French',
':', 'che', 'ese'), the prompt tokenized alone is no prefix of prompt + completion, and SFTTrainer's completion mask
starts inside the prompt. Exit 1 when a trained position lies before the end of the tokenized prompt.

Which class AutoTokenizer picks depends on whether the folder has a config.json naming model_type deepseek_v3 (a Hub
checkout of the model has one; a folder written by tokenizer.save_pretrained, like the catalog's, has none).
`--with-config` runs on a copy of the folder with that config.json added."""
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import _common
from _common import first_batch, load_tok, make_trainer, report

if "--with-config" in sys.argv:
    copy = os.path.join(tempfile.mkdtemp(prefix="deepseek-v3-"), "deepseek-v3")
    shutil.copytree(_common.CACHE / "deepseek-v3", copy)
    with open(os.path.join(copy, "config.json"), "w", encoding="utf-8") as f:
        json.dump({"model_type": "deepseek_v3", "architectures": ["DeepseekV3ForCausalLM"]}, f)
    _common.CACHE = _common.Path(os.path.dirname(copy))
tok = load_tok("deepseek-v3")
prompt, completion = "Translate to French: cheese", " fromage"
tr = make_trainer(tok, [{"prompt": prompt, "completion": completion}] * 2, {"completion_only_loss": True})
ids, labels, _ = first_batch(tr)
p = tok(prompt)["input_ids"]
first = next(k for k, label in enumerate(labels) if label != -100)
trained = tok.convert_ids_to_tokens([i for i, label in zip(ids, labels) if label != -100])
report(first < len(p), f"{type(tok).__name__}, pre-tokenizer {type(tok.backend_tokenizer.pre_tokenizer).__name__}"
       f"{' (with config.json)' if '--with-config' in sys.argv else ''}; "
       f"prompt={tok.convert_ids_to_tokens(p)} trained={trained}")
