"""Training check (docs/interpreting.md, TRAIN-001): loss falls on response tokens and not on prompt tokens.

A tiny random Llama sized to the tokenizer is trained with TRL's real trainer on a dataset
whose prompts and responses are both learnable but use disjoint vocabularies (letters vs
digits), so training on responses cannot lower the prompt loss by accident. The model's own
forward pass measures mean cross-entropy on prompt-content and response positions before and
after; positions come from the oracle, never from TRL's labels. A control run trains the
full sequence (the ``text`` path) and must show the prompt loss falling: the check can fail.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import asdict, dataclass

from harness import adapters
from harness.adapters import lending
from harness.pipeline.cases import Case
from harness.pipeline.encoding import NotApplicable
from harness.pipeline.oracle import chat_oracle
from harness.tokenizers import registry as tokenizer_registry

# PASS thresholds, relative to the loss before training.
RESPONSE_MIN_DROP = 0.5      # response loss must fall by at least 50 %
PROMPT_MAX_DROP = 0.10       # masked training: prompt loss may not fall by more than 10 %
CONTROL_MIN_PROMPT_DROP = 0.3  # control (full-sequence) training: prompt loss must fall by at least 30 %

LETTERS = ["a", "b", "c", "d", "e", "f", "g", "h"]
DIGITS = ["1", "2", "3", "4", "5", "6", "7", "8"]


def training_conversations(n: int = 16) -> list[list[dict]]:
    """Learnable prompts (rotations of a letter pattern) and responses (the matching digit rotation)."""
    convs = []
    for i in range(n):
        k = i % len(LETTERS)
        user = " ".join(LETTERS[k:] + LETTERS[:k])
        answer = " ".join(DIGITS[k:] + DIGITS[:k])
        convs.append([{"role": "user", "content": user}, {"role": "assistant", "content": answer}])
    return convs


@dataclass
class TrainingResult:
    tokenizer: str
    path: str
    control: bool
    prompt_before: float
    prompt_after: float
    response_before: float
    response_after: float
    trl_step0_loss: float
    own_step0_loss: float
    steps: int
    seconds: float
    device: str
    dtype: str
    status: str
    message: str

    def to_dict(self) -> dict:
        return asdict(self)


def _positions(lt, conv) -> tuple[list[int], list[int], list[int]]:
    """(ids, prompt-content positions, response positions) from the oracle of one conversation."""
    case = Case(id="train", description="training example", source="<training>", messages=tuple(conv))
    orc = chat_oracle(case, lt)
    prompt = [i for i, t in enumerate(orc.tokens) if t.role == "content" and t.speaker == "user"]
    final = orc.final_message
    response = [i for i, t in enumerate(orc.tokens) if t.message == final and t.role in ("reasoning", "content", "eot")]
    return orc.ids, prompt, response


def measure(model, lt, convs) -> tuple[float, float]:
    """Mean next-token cross-entropy on prompt-content and on response positions."""
    import torch

    model.eval()
    dev = next(model.parameters()).device
    p_sum = r_sum = 0.0
    p_n = r_n = 0
    with torch.no_grad():
        for conv in convs:
            ids, prompt, response = _positions(lt, conv)
            x = torch.tensor([ids], device=dev)
            logp = torch.log_softmax(model(input_ids=x).logits.float()[0], dim=-1)
            nll = [-logp[i - 1, ids[i]].item() for i in range(1, len(ids))]
            p_sum += sum(nll[i - 1] for i in prompt if i > 0)
            p_n += sum(1 for i in prompt if i > 0)
            r_sum += sum(nll[i - 1] for i in response if i > 0)
            r_n += sum(1 for i in response if i > 0)
    model.train()
    return p_sum / max(p_n, 1), r_sum / max(r_n, 1)


def _own_loss(model, batch) -> float:
    """Mean CE over positions whose (shifted) label is not -100: what TRL's loss should equal."""
    import torch

    inputs = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask")}
    with torch.no_grad():
        logits = model(**inputs).logits.float()
    labels = batch["labels"]
    loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)),
                                             labels[:, 1:].reshape(-1), ignore_index=-100)
    return float(loss)


def run_check(tokenizer_id: str = "synthetic-chatml", path: str = "completion_only_loss", control: bool = False,
              steps: int = 40, seed: int = 0) -> TrainingResult | NotApplicable:
    """Train on ``path`` (or, for the control, full-sequence ``text``) and judge the loss movement."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    lt = tokenizer_registry.load(tokenizer_id)
    adapter = adapters.get("text" if control else path)
    missing = adapter.available()
    if missing:
        return missing
    if not hasattr(adapter, "make_trainer"):
        return NotApplicable(f"path {path} has no trainer builder")
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    tok = lending.working_copy(lt)
    cfg = LlamaConfig(vocab_size=max(len(tok), tok.vocab_size), hidden_size=64, intermediate_size=128,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                      max_position_embeddings=256, tie_word_embeddings=False)
    model = LlamaForCausalLM(cfg)
    convs = training_conversations()
    cases = [Case(id=f"t{i}", description="training", source="<training>", messages=tuple(c))
             for i, c in enumerate(convs)]
    rows = [adapter.row(c, lt) for c in cases]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        trainer = adapter.make_trainer(model, tok, rows, tmp, None, max_steps=steps, learning_rate=3e-3,
                                       per_device_train_batch_size=8, logging_strategy="no", warmup_steps=0,
                                       lr_scheduler_type="constant", bf16=bf16, use_cpu=not cuda,
                                       data_seed=seed, seed=seed)
        model = trainer.model
        prompt_before, response_before = measure(model, lt, convs)
        batch = next(iter(trainer.get_train_dataloader()))
        batch = {k: v.to(model.device) if hasattr(v, "to") else v for k, v in batch.items()}
        with torch.no_grad():
            trl_loss = float(trainer.compute_loss(model, batch))
        own = _own_loss(model, batch)
        trainer.train()
        prompt_after, response_after = measure(model, lt, convs)
    seconds = time.perf_counter() - t0
    r_drop = 1 - response_after / response_before
    p_drop = 1 - prompt_after / prompt_before
    if control:
        ok = p_drop >= CONTROL_MIN_PROMPT_DROP
        msg = (f"control (full sequence): prompt loss fell {p_drop:.0%} "
               f"({'>=' if ok else '<'} {CONTROL_MIN_PROMPT_DROP:.0%} required)")
    else:
        ok = r_drop >= RESPONSE_MIN_DROP and p_drop <= PROMPT_MAX_DROP and math.isclose(trl_loss, own, rel_tol=0.02)
        msg = (f"response loss fell {r_drop:.0%} (need >= {RESPONSE_MIN_DROP:.0%}); prompt loss fell {p_drop:.0%} "
               f"(allowed <= {PROMPT_MAX_DROP:.0%}); step-0 TRL loss {trl_loss:.4f} vs mean over trained "
               f"positions {own:.4f}")
    return TrainingResult(tokenizer_id, "text" if control else path, control, prompt_before, prompt_after,
                          response_before, response_after, trl_loss, own, steps, round(seconds, 2),
                          "cuda" if cuda else "cpu", "bf16" if bf16 else "fp32", "pass" if ok else "fail", msg)
